//! Temporal's limits on what a client may send, in one place for the engine's command
//! validation and the server's request validation.

/// Largest payload field (a blob: inputs, results, details, a protocol message body), in bytes.
pub const BLOB_SIZE_LIMIT: usize = 2 * 1024 * 1024;
/// Longest id (workflow, activity, timer, request and update ids, task queue names), in bytes.
pub const MAX_ID_LENGTH: usize = 1000;
/// Most activities a run may have pending at once (`limit.numPendingActivities`).
pub const MAX_PENDING_ACTIVITIES: usize = 2000;

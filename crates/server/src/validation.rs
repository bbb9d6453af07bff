//! Request checks the frontend applies before any run is touched, with Temporal's limits
//! (`temper_engine::limits`) and Temporal's messages: ids, durations, payload sizes, long-poll
//! deadlines, and the server failures that replace activity answers over the blob limit.

use std::time::Duration;

use prost::Message;
use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy};
use temper_api::proto::failure::v1::{Failure, ServerFailureInfo, failure::FailureInfo};
use temper_api::proto::workflowservice::v1::StartWorkflowExecutionRequest;
use temper_engine::limits::{BLOB_SIZE_LIMIT, MAX_ID_LENGTH};
use tonic::{Request, Status};

use crate::errors;

/// Longest a task poll waits before answering empty (Temporal's matching default).
const MAX_POLL_WAIT: Duration = Duration::from_secs(60);
/// Shortest deadline a long poll may have (Temporal's `MinLongPollTimeout`).
const MIN_POLL_DEADLINE: Duration = Duration::from_secs(2);

/// How long a long poll may wait, from the client's `grpc-timeout` (less a second to answer).
/// As Temporal, a poll needs a deadline, and one of at least [`MIN_POLL_DEADLINE`].
pub(crate) fn poll_wait<T>(request: &Request<T>) -> Result<Duration, Status> {
    let deadline = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(grpc_timeout)
        .ok_or_else(|| errors::invalid("Context timeout is not set."))?;
    if deadline < MIN_POLL_DEADLINE {
        return Err(Status::failed_precondition("Context timeout is too short."));
    }
    Ok(deadline
        .saturating_sub(Duration::from_secs(1))
        .min(MAX_POLL_WAIT))
}

/// How long a client long poll (not a worker's) may wait: until a second before the caller's
/// deadline, at most the poll maximum, which is also the wait when the caller set none.
pub(crate) fn client_poll_wait<T>(request: &Request<T>) -> Duration {
    request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(grpc_timeout)
        .map_or(MAX_POLL_WAIT, |deadline| {
            deadline
                .saturating_sub(Duration::from_secs(1))
                .min(MAX_POLL_WAIT)
        })
}

/// A `grpc-timeout` header value: digits and a unit.
pub(crate) fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().saturating_sub(1));
    let value = digits.parse::<u64>().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// The deprecated reuse policy TERMINATE_IF_RUNNING together with a conflict policy, which
/// Temporal refuses (the conflict policy is its replacement).
#[allow(deprecated)]
pub(crate) fn terminates_with_conflict_policy(request: &StartWorkflowExecutionRequest) -> bool {
    request.workflow_id_reuse_policy == WorkflowIdReusePolicy::TerminateIfRunning as i32
        && request.workflow_id_conflict_policy != WorkflowIdConflictPolicy::Unspecified as i32
}

/// An id-like field: set, and at most [`MAX_ID_LENGTH`] bytes, with Temporal's messages.
pub(crate) fn check_id(value: &str, what: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(errors::invalid(format!("{what} is not set on request.")));
    }
    check_length(value, what)
}

/// At most [`MAX_ID_LENGTH`] bytes (an empty value is fine), with Temporal's message.
pub(crate) fn check_length(value: &str, what: &str) -> Result<(), Status> {
    if value.len() <= MAX_ID_LENGTH {
        return Ok(());
    }
    Err(errors::invalid(match what {
        "WorkflowId" => format!(
            "WorkflowId exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            value.len()
        ),
        "TaskQueue" => "taskQueue length exceeds limit".to_string(),
        _ => format!("{what} length exceeds limit."),
    }))
}

/// A duration field of a request, checked as Temporal does ("An invalid
/// WorkflowRunTimeoutSeconds is set on request. cause: negative duration").
pub(crate) fn check_duration(
    duration: Option<&temper_api::Duration>,
    name: &str,
) -> Result<(), Status> {
    match temper_engine::time::duration_problem(duration) {
        Some(problem) => Err(errors::invalid(format!(
            "An invalid {name} is set on request. cause: {problem}"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn check_payloads(payloads: Option<&Payloads>) -> Result<(), Status> {
    if over_blob_limit(payloads) {
        let size = payloads.map_or(0, |p| p.encoded_len());
        return Err(errors::invalid(format!(
            "Blob data size exceeds limit: {size} bytes is more than {BLOB_SIZE_LIMIT}."
        )));
    }
    Ok(())
}

pub(crate) fn over_blob_limit(payloads: Option<&Payloads>) -> bool {
    payloads.map_or(0, |p| p.encoded_len()) > BLOB_SIZE_LIMIT
}

/// What an activity fails with when a worker's answer is over the blob limit: Temporal
/// accepts the answer and fails the activity for good with this server failure.
pub(crate) fn oversized_answer(reason: &str) -> Failure {
    Failure {
        message: reason.to_string(),
        failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
            non_retryable: true,
        })),
        ..Default::default()
    }
}

/// An oversized failure cut down to fit the blob warning size (512 KiB), as the cause of its
/// replacement: its own cause and stack trace dropped, its message shortened.
pub(crate) fn cut_down(mut failure: Failure) -> Failure {
    const KEPT_BYTES: usize = 512 * 1024;
    failure.cause = None;
    failure.stack_trace.clear();
    failure.encoded_attributes = None;
    let room = KEPT_BYTES.saturating_sub(failure.encoded_len() - failure.message.len());
    let mut end = room.min(failure.message.len());
    while !failure.message.is_char_boundary(end) {
        end -= 1;
    }
    failure.message.truncate(end);
    failure
}

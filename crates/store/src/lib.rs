//! `temper-store` owns durable state: one [`Store`] trait that every backend implements, the
//! embedded SQLite backend ([`sqlite::SqliteStore`]) and the PostgreSQL backend
//! ([`postgres::PostgresStore`]); one conformance suite runs against both.
//!
//! The unit of writing is an [`ExecutionWrite`]: a run's new history events, its new state and
//! (optionally) its place as the workflow id's current run, committed in one transaction. The
//! state carries everything that is pending (workflow task, activities, timers), so tasks and
//! timers are written atomically with the events that created them and are rebuilt from open
//! executions after a restart. Each write is conditional on the state's `db_version`, which is
//! the fencing hook for several server nodes sharing one database.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;

pub mod postgres;
mod postgres_connection;
mod postgres_group;
mod postgres_shards;
pub mod postgres_tls;
mod postgres_writer;
pub mod shards;
pub mod sqlite;
mod sqlite_shards;
pub mod visibility;

pub use shards::{NodeRecord, ShardFence, ShardLease};

pub use temper_query::CompiledQuery;

#[cfg(test)]
mod conformance;

/// Errors a backend reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row changed since it was read (another writer won); the caller must reload.
    #[error("concurrent update of {0}: expected version {1}")]
    Conflict(String, i64),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A write delivers a signal whose request id the run has already received: a retried
    /// signal, which must change nothing.
    #[error("run {run_id} already received the signal with request id {request_id}")]
    DuplicateSignal { run_id: String, request_id: String },
    /// The write's shard has changed hands since its node took it (see [`shards`]): the node
    /// must stop serving the shard.
    #[error("shard {0} is no longer owned by this node")]
    ShardOwnershipLost(i32),
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    InvalidPageToken(String),
    /// The backend cannot hold a value of the request (PostgreSQL text cannot hold a NUL
    /// character): the request is at fault, retrying cannot help.
    #[error("the request holds a value the database cannot store: {0}")]
    Unstorable(String),
}

/// PostgreSQL's codes for text it cannot represent (a NUL byte, a `\u0000` in JSON).
const UNSTORABLE_TEXT_CODES: &[&str] = &["22021", "22P05"];

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message is what says what went wrong ("db error" alone does not).
        match e.as_db_error() {
            Some(db) if UNSTORABLE_TEXT_CODES.contains(&db.code().code()) => {
                StoreError::Unstorable(db.message().to_string())
            }
            Some(db) => StoreError::Backend(format!("{}: {}", db.code().code(), db.message())),
            None => StoreError::Backend(with_causes(&e)),
        }
    }
}

/// Execution writes waiting for their commit, at most: past it, writers wait for room, so
/// overload slows callers down instead of growing the queue (and memory) without bound.
pub const MAX_PENDING_WRITES: usize = 4096;

/// The room in a store's write queue: one permit per write waiting for its commit.
#[derive(Clone)]
pub(crate) struct WriteRoom(std::sync::Arc<tokio::sync::Semaphore>);

impl WriteRoom {
    pub(crate) fn new(writes: usize) -> WriteRoom {
        WriteRoom(std::sync::Arc::new(tokio::sync::Semaphore::new(writes)))
    }

    /// Waits for room for one more write; the room is given back when the permit drops.
    pub(crate) async fn wait(&self) -> StoreResult<tokio::sync::OwnedSemaphorePermit> {
        self.0
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))
    }
}

/// An error with the errors that caused it ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"), so a connection failure says why.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// A history event as the store writes it: encoded once by the writer, whose event cache
/// shares the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    pub event_id: i64,
    pub bytes: bytes::Bytes,
}

impl EncodedEvent {
    /// Encodes `event` in linear time (prost's own encoding is quadratic in a failure chain's
    /// depth, and 10,000 levels are allowed).
    pub fn of(event: &HistoryEvent) -> Self {
        EncodedEvent {
            event_id: event.event_id,
            bytes: temper_api::linear::encode_event(event).into(),
        }
    }
}

/// One atomic update of a run.
#[derive(Debug, Clone)]
pub struct ExecutionWrite {
    /// The run's new state; its `db_version` must be `expected_db_version + 1`. Shared: the
    /// writer keeps the same state in its cache, so the store encodes it without a copy.
    pub execution: std::sync::Arc<Execution>,
    /// The version the writer read; 0 creates the run.
    pub expected_db_version: i64,
    /// Events to append, contiguous from the previously stored `next_event_id`.
    pub new_events: Vec<EncodedEvent>,
    /// Make this run the current run of its workflow id.
    pub make_current: bool,
    /// With `make_current`: the workflow id must have no current run at all, running or
    /// closed, else the write fails with [`StoreError::Conflict`]. A start writes so without
    /// reading the id's current run first (Temporal's "brand new" create); on the conflict it
    /// reads the current run, applies the id policies and writes again without the flag.
    pub brand_new: bool,
    /// Request ids of the signals this write delivers. The store keeps every run's ids in
    /// rows of their own (not in the state, which would grow with every signal) and refuses
    /// the whole write with [`StoreError::DuplicateSignal`] if one was delivered before.
    pub signal_request_ids: Vec<String>,
    /// The lease of the run's shard that the writing node holds; the write commits only while
    /// the lease is still the shard's, else it fails with [`StoreError::ShardOwnershipLost`].
    /// `None` for a node that owns every run (one node on its database).
    pub fence: Option<ShardFence>,
    /// The run's shard, kept beside it (`shards::shard_of` its namespace and workflow id) so
    /// that a node reads the runs of its own shards only; `None` outside a cluster. Usually
    /// the fence's shard; a child run created in its parent's write may be of another shard
    /// (its parent's fence guards the write, and the child's owner is told of it afterwards).
    pub shard: Option<i32>,
}

/// A registered namespace, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub owner_email: String,
    #[prost(int64, tag = "5")]
    pub retention_ms: i64,
    /// Custom search attributes: name → `temporal.api.enums.v1.IndexedValueType`.
    #[prost(map = "string, int32", tag = "6")]
    pub search_attributes: std::collections::HashMap<String, i32>,
    #[prost(map = "string, string", tag = "7")]
    pub data: std::collections::HashMap<String, String>,
    /// `DeprecateNamespace` was called: describe reports the DEPRECATED state.
    #[prost(bool, tag = "8")]
    pub deprecated: bool,
}

/// The kinds of server-owned records kept beside runs (one table holds them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Schedule,
    BatchOperation,
    NexusEndpoint,
    /// One run of a standalone activity (id: run id, `/`, activity id).
    ActivityExecution,
    /// A worker deployment (id: its name) with its versions and routing.
    WorkerDeployment,
    /// One task queue type's configuration (id: type number, `/`, queue name).
    TaskQueueConfig,
    /// The secret the nodes of a spread cluster authenticate each other's calls with.
    ClusterSecret,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Schedule => "schedule",
            RecordKind::BatchOperation => "batch_operation",
            RecordKind::NexusEndpoint => "nexus_endpoint",
            RecordKind::ActivityExecution => "activity_execution",
            RecordKind::WorkerDeployment => "worker_deployment",
            RecordKind::TaskQueueConfig => "task_queue_config",
            RecordKind::ClusterSecret => "cluster_secret",
        }
    }
}

/// A server-owned record (a schedule, a batch operation) as stored: its key, its version and
/// the server's encoded state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub namespace: String,
    pub id: String,
    pub version: i64,
    pub state: Vec<u8>,
}

/// A page of a visibility listing.
#[derive(Debug, Default)]
pub struct ExecutionPage {
    pub executions: Vec<Execution>,
    /// Empty on the last page.
    pub next_page_token: Vec<u8>,
}

/// The result of a visibility count.
#[derive(Debug, Default, PartialEq)]
pub struct ExecutionCount {
    pub count: i64,
    /// With GROUP BY ExecutionStatus: (status, count) in status order.
    pub groups: Vec<(i32, i64)>,
}

/// Durable storage of namespaces, executions and histories.
/// What a store's group commit has done: transactions committed and the write requests they
/// carried (their ratio is the mean group size, the measure of how well commits are shared).
#[derive(Debug, Default)]
pub struct GroupCommits {
    groups: AtomicU64,
    requests: AtomicU64,
}

/// A write request to a store's writer task, and where its outcome goes.
pub(crate) type WriteRequest = (
    Vec<ExecutionWrite>,
    tokio::sync::oneshot::Sender<StoreResult<()>>,
);

impl GroupCommits {
    /// Answers each request of `group` with its outcome, `committed` (one per request), and
    /// counts the group; a group that could not commit answers every request with its error.
    pub(crate) fn answer(
        &self,
        group: Vec<WriteRequest>,
        committed: StoreResult<Vec<StoreResult<()>>>,
    ) {
        match committed {
            Ok(results) => {
                self.record(group.len());
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                let message = error.to_string();
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Backend(message.clone())));
                }
            }
        }
    }

    /// Counts one committed group of `requests` write requests.
    pub fn record(&self, requests: usize) {
        debug_assert!(requests > 0, "a group holds at least one request");
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
    }

    /// (groups, requests) so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.groups.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }
}

pub trait Store: Send + Sync + 'static {
    /// Commits run updates (events + state + current-run pointer) atomically: all of them or
    /// none (a run closing and the run it chains to are written together). The future
    /// resolves only once the write is durable.
    fn write(&self, writes: Vec<ExecutionWrite>) -> StoreFuture<'_, ()>;
    /// The current run id of a workflow id, if any run exists.
    fn current_run(&self, namespace: &str, workflow_id: &str) -> StoreFuture<'_, Option<String>>;
    fn load_execution(&self, run_id: &str) -> StoreFuture<'_, Option<Execution>>;
    /// Up to `max_events` events of a run starting at `first_event_id`, in order.
    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> StoreFuture<'_, Vec<HistoryEvent>>;
    /// Up to `limit` runs that are still open, in run-id order, after `after_run_id` (`""`
    /// from the first), of the shards in `shards` (every run's when `None`): start-up
    /// rebuilds task queues and timers from them page by page.
    fn open_executions<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_run_id: &str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Execution>>;
    /// Open runs' next wake-ups (`Execution::next_wakeup`, which every write indexes beside
    /// the run) after `after_ms` and at or before `until_ms`, as (instant, run id) in that
    /// order, at most `limit`, of the shards in `shards` (every run's when `None`): the timer
    /// service holds only the near future's wake-ups in memory and reads the rest from here.
    fn wakeups<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, String)>>;
    fn namespaces(&self) -> StoreFuture<'_, Vec<NamespaceRecord>>;
    /// Registers a namespace; `AlreadyExists` if the name is taken.
    fn create_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()>;
    /// Replaces a namespace's record; `NotFound` if it does not exist.
    fn update_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()>;
    /// Deletes a namespace with all its runs, histories and visibility rows.
    fn delete_namespace(&self, name: &str) -> StoreFuture<'_, ()>;
    /// The SQL dialect visibility filters must be compiled for.
    fn dialect(&self) -> temper_query::Dialect;
    /// Indexes a namespace's custom search attribute, so filters on it use an index
    /// (idempotent).
    fn index_search_attribute(
        &self,
        namespace: &str,
        name: &str,
        ty: temper_query::AttributeType,
    ) -> StoreFuture<'_, ()>;
    /// A page of the namespace's runs (visibility rows) matching `filter`.
    fn list_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
        page_size: usize,
        page_token: &[u8],
    ) -> StoreFuture<'_, ExecutionPage>;
    fn count_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
    ) -> StoreFuture<'_, ExecutionCount>;
    /// Deletes up to `limit` runs of `namespace` that closed before `closed_before_ms`
    /// (state, history, visibility and a current-run pointer to them); returns their ids.
    fn delete_closed_runs(
        &self,
        namespace: &str,
        closed_before_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>>;
    /// Deletes one run of `namespace` whatever its status: state, history, visibility row and
    /// the workflow id's current-run pointer if it points to this run, in one transaction.
    /// False when there was no such run. (`DeleteWorkflowExecution`; the caller terminates a
    /// running run first.)
    fn delete_run(&self, namespace: &str, run_id: &str) -> StoreFuture<'_, bool>;
    /// Every stored record of a kind (loaded once at start-up), by namespace and id.
    fn records(&self, kind: RecordKind) -> StoreFuture<'_, Vec<StoredRecord>>;
    /// Creates a record (`expected_version` 0; `AlreadyExists` if its id is taken) or
    /// replaces one whose stored version is `expected_version` (`Conflict` otherwise).
    fn save_record(&self, record: StoredRecord, expected_version: i64) -> StoreFuture<'_, ()>;
    /// Deletes a record; `NotFound` if there is none.
    fn delete_record(&self, kind: RecordKind, namespace: &str, id: &str) -> StoreFuture<'_, ()>;
    /// The store's group commits so far: (groups, write requests).
    fn group_commits(&self) -> (u64, u64);
    /// Commits a one-row write (`settings.health_probe` = `now_ms`): the health check's proof
    /// that the store still commits.
    fn probe_commit(&self, now_ms: i64) -> StoreFuture<'_, ()>;
    /// How far a time-skipping server's virtual clock is ahead of real time (0 if never set).
    fn load_clock_offset(&self) -> StoreFuture<'_, i64>;
    fn save_clock_offset(&self, offset_ms: i64) -> StoreFuture<'_, ()>;

    // Several nodes on one database (see [`shards`]).

    /// The cluster's shard count: the stored one, or `proposed` stored now if there is none.
    fn shard_count(&self, proposed: i32) -> StoreFuture<'_, i32>;
    /// Records that a node is alive (inserting or replacing its membership row).
    fn heartbeat_node(&self, node: NodeRecord) -> StoreFuture<'_, ()>;
    /// Every membership row, live or not, by node id.
    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>>;
    /// Deletes the membership rows of nodes silent since before `silent_since_ms` (gone for
    /// good: each process is a new member); returns how many.
    fn forget_nodes(&self, silent_since_ms: i64) -> StoreFuture<'_, u64>;
    /// Takes (or keeps) shard `shard_id` for `owner` until `lease_until_ms`, if it was never
    /// taken, its lease ran out at `now_ms`, `owner` holds it already, or `predecessor` (a
    /// node known to be gone) holds it; a change of owner adds one to its `range_id`. `None`
    /// while another node's lease is live.
    fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        predecessor: Option<&str>,
    ) -> StoreFuture<'_, Option<ShardLease>>;
    /// Extends `owner`'s leases to `lease_until_ms` where it still holds them with the same
    /// `range_id`; returns the shards renewed (one missing was taken by another node).
    fn renew_shards(
        &self,
        owner: &str,
        held: Vec<ShardFence>,
        lease_until_ms: i64,
    ) -> StoreFuture<'_, Vec<i32>>;
    /// Gives a held shard up at once (its lease ends), for another node to take.
    fn release_shard(&self, owner: &str, held: ShardFence) -> StoreFuture<'_, ()>;
    /// Every shard's lease row, by shard id.
    fn shard_leases(&self) -> StoreFuture<'_, Vec<ShardLease>>;
}

/// How a record is named in errors: `schedule default/nightly`.
pub(crate) fn record_name(kind: RecordKind, namespace: &str, id: &str) -> String {
    format!("{} {namespace}/{id}", kind.as_str())
}

/// The result of a record write that changed `changed` rows.
pub(crate) fn record_outcome(
    record: &StoredRecord,
    changed: usize,
    expected_version: i64,
) -> StoreResult<()> {
    let name = record_name(record.kind, &record.namespace, &record.id);
    match (changed, expected_version) {
        (0, 0) => Err(StoreError::AlreadyExists(name)),
        (0, _) => Err(StoreError::Conflict(name, expected_version)),
        _ => Ok(()),
    }
}

/// Decodes a stored run state.
pub(crate) fn decode_execution(bytes: &[u8]) -> StoreResult<Execution> {
    prost::Message::decode(bytes).map_err(|e| StoreError::Corrupt(format!("execution state: {e}")))
}

/// Whether some search attribute of the run does not carry its type in its payload (so the
/// namespace's registry must be read to index it).
pub(crate) fn needs_registry(exec: &Execution) -> bool {
    exec.search_attributes.as_ref().is_some_and(|attributes| {
        attributes
            .indexed_fields
            .values()
            .any(|p| !p.metadata.contains_key("type"))
    })
}

#[cfg(test)]
mod write_room_tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_makes_writers_wait_until_room_is_given_back() {
        let room = WriteRoom::new(2);
        let first = room.wait().await.unwrap();
        let _second = room.wait().await.unwrap();
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), room.wait()).await;
        assert!(third.is_err(), "a third write waits while two are pending");
        drop(first);
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), room.wait()).await;
        assert!(third.is_ok(), "room given back lets the next write in");
    }
}

//! The embedded SQLite backend.
//!
//! One writer thread owns the write connection and commits whatever writes are waiting in one
//! transaction (group commit: one fsync for many RPCs); each caller is answered after the
//! commit. Files use WAL with `synchronous=FULL`, so an acknowledged write survives a crash.
//! Reads run on tokio's blocking threads, each on a connection of its own from a small pool, so
//! a read never stalls an async worker and never waits for a group commit (WAL readers see the
//! last committed state). The "in-memory" database of `start-dev` is a private file in a
//! temporary directory, deleted when the store is dropped, with `synchronous=OFF`: nothing is
//! fsynced, and reads run beside the writer as for a file.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;
use tokio::sync::oneshot;

use crate::{
    CompiledQuery, ExecutionCount, ExecutionPage, ExecutionWrite, NamespaceRecord, RecordKind,
    Store, StoreError, StoreFuture, StoreResult, StoredRecord, WriteRequest, decode_execution,
    needs_registry, record_name, record_outcome,
};
use crate::{NodeRecord, ShardFence, ShardLease, sqlite_shards, visibility};

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
    name TEXT PRIMARY KEY,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    run_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    db_version INTEGER NOT NULL,
    state BLOB NOT NULL,
    -- The open run's next wake-up (ms), NULL when none: the timer service's index.
    wake_at INTEGER,
    -- The run's shard, as its first write named it (`sqlite_shards::add_shard_column`).
    shard INTEGER
);
-- Running runs in run-id order, page by page (start-up recovery). Partial, so that a run
-- leaves it when it closes instead of moving to a closed-status part that nothing reads (a
-- page written per close); replaces indexes on (status) and on (status, run_id).
DROP INDEX IF EXISTS executions_open;
DROP INDEX IF EXISTS executions_open_runs;
CREATE INDEX IF NOT EXISTS executions_running ON executions(run_id) WHERE status = 1;
CREATE TABLE IF NOT EXISTS current_executions (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id)
);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (kind, namespace, id)
);
CREATE TABLE IF NOT EXISTS history_events (
    run_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;
-- Request ids of the signals each run received (Temporal's signal-requested set), in rows of
-- their own so that a run's state does not grow with every signal.
CREATE TABLE IF NOT EXISTS signal_requests (
    run_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (run_id, request_id)
) WITHOUT ROWID;
";

/// `WorkflowExecutionStatus::Running`.
const STATUS_RUNNING: i32 = 1;

/// The timer service's reads: open runs' wake-ups in time order.
const WAKEUP_INDEX: &str = "CREATE INDEX IF NOT EXISTS executions_wake_at
    ON executions(wake_at, run_id) WHERE wake_at IS NOT NULL";

/// Idle read connections kept for reuse; more are opened under load and closed after it.
const IDLE_READERS: usize = 8;

pub struct SqliteStore {
    readers: Arc<ReaderPool>,
    writes: mpsc::Sender<WriteRequest>,
    room: crate::WriteRoom,
    commits: Arc<crate::GroupCommits>,
    /// The directory of an in-memory store's private file, deleted with the store.
    _scratch: Option<tempfile::TempDir>,
}

/// Read connections to one database file.
struct ReaderPool {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn open(&self) -> StoreResult<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        visibility::register_functions(&conn)?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one), then keeps it for the next read.
    fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl SqliteStore {
    /// Opens (creating if needed) a database file; `pragmas` are extra `NAME=VALUE` pragmas.
    pub fn open_file(path: &Path, pragmas: &[String]) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", parent.display())))?;
        }
        let writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        apply_pragmas(&writer, pragmas)?;
        visibility::register_functions(&writer)?;
        // One transaction: each schema statement on its own would be a commit with an fsync.
        writer.execute_batch("BEGIN IMMEDIATE")?;
        let prepared = prepare_schema(&writer);
        writer.execute_batch(if prepared.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        })?;
        prepared?;
        Ok(Self::with_writer(writer, path, None))
    }

    /// A database that lives only as long as the process (Temporal's dev-server default).
    pub fn open_in_memory() -> StoreResult<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("temper-memory-")
            .tempdir()
            .map_err(|e| StoreError::Backend(format!("temporary directory: {e}")))?;
        let path = scratch.path().join("temper.db");
        let writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "OFF")?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        writer.execute_batch(SCHEMA)?;
        writer.execute_batch(sqlite_shards::SCHEMA)?;
        sqlite_shards::add_shard_column(&writer)?;
        writer.execute_batch(WAKEUP_INDEX)?;
        writer.execute_batch(visibility::SCHEMA)?;
        writer.execute_batch(visibility::INDEXES)?;
        visibility::register_functions(&writer)?;
        Ok(Self::with_writer(writer, &path, Some(scratch)))
    }

    fn with_writer(writer: Connection, path: &Path, scratch: Option<tempfile::TempDir>) -> Self {
        let writer = Arc::new(Mutex::new(writer));
        let (writes, queue) = mpsc::channel::<WriteRequest>();
        let commits = Arc::new(crate::GroupCommits::default());
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .stack_size(temper_api::codec::THREAD_STACK_BYTES)
            .spawn(move || writer_loop(writer, queue, &counted))
            .expect("spawning the SQLite writer thread");
        let readers = Arc::new(ReaderPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        });
        SqliteStore {
            readers,
            writes,
            room: crate::WriteRoom::new(crate::MAX_PENDING_WRITES),
            commits,
            _scratch: scratch,
        }
    }

    /// Runs `f` on a read connection on a blocking thread.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let readers = self.readers.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || readers.with_connection(f))
                .await
                .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
        })
    }
}

fn apply_pragmas(conn: &Connection, pragmas: &[String]) -> StoreResult<()> {
    for pragma in pragmas {
        let (name, value) = pragma
            .split_once('=')
            .ok_or_else(|| StoreError::Backend(format!("pragma {pragma:?} is not NAME=VALUE")))?;
        conn.pragma_update(None, name.trim(), value.trim())?;
    }
    Ok(())
}

fn writer_loop(
    conn: Arc<Mutex<Connection>>,
    queue: mpsc::Receiver<WriteRequest>,
    commits: &crate::GroupCommits,
) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        // In memory the reader shares this connection; a panic while reading leaves the lock
        // poisoned but the connection sound (see `read`).
        let results = commit_group(&mut conn.lock().unwrap_or_else(|e| e.into_inner()), &group);
        commits.answer(group, results);
    }
}

/// Commits a group in one transaction. Each request is all-or-nothing: its version and
/// current-run conditions are all checked before any of its rows is written, so a request
/// that loses a check is answered with `Conflict` and leaves nothing behind, while the others
/// commit. (Checking first replaces a savepoint per request, whose page copies cost more than
/// the reads; the writer thread is the only writer, so nothing changes between check and write.)
fn commit_group(
    conn: &mut Connection,
    group: &[WriteRequest],
) -> StoreResult<Vec<StoreResult<()>>> {
    // IMMEDIATE: the group's first statements are reads; a deferred transaction would take
    // the write lock only at the first write and fail ("database is locked") if a record or
    // namespace write on a reader connection committed in between.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(group.len());
    for (writes, _) in group {
        let result = match first_conflict(&tx, writes)? {
            Some(conflict) => Err(conflict),
            None => {
                for write in writes {
                    apply_write(&tx, write)?;
                }
                Ok(())
            }
        };
        results.push(result);
    }
    tx.commit()?;
    Ok(results)
}

/// The first condition of a request's writes that the stored rows (as changed by the
/// request's earlier writes) do not meet.
fn first_conflict(conn: &Connection, writes: &[ExecutionWrite]) -> StoreResult<Option<StoreError>> {
    for (index, write) in writes.iter().enumerate() {
        let earlier = &writes[..index];
        let exec = &write.execution;
        if !sqlite_shards::fence_holds(conn, write.fence)? {
            let shard_id = write.fence.map_or(0, |fence| fence.shard_id);
            return Ok(Some(StoreError::ShardOwnershipLost(shard_id)));
        }
        if stored_version(conn, earlier, &exec.run_id)? != write.expected_db_version {
            return Ok(Some(StoreError::Conflict(
                exec.run_id.clone(),
                write.expected_db_version,
            )));
        }
        if write.make_current && write.brand_new && current_run(conn, earlier, exec)?.is_some() {
            return Ok(Some(StoreError::Conflict(
                format!("workflow id {} (it has a current run)", exec.workflow_id),
                write.expected_db_version,
            )));
        }
        if write.make_current && current_is_running_elsewhere(conn, earlier, exec)? {
            return Ok(Some(StoreError::Conflict(
                format!("workflow id {} (it has a running run)", exec.workflow_id),
                write.expected_db_version,
            )));
        }
        if let Some(request_id) = delivered_signal(conn, &exec.run_id, &write.signal_request_ids)? {
            return Ok(Some(StoreError::DuplicateSignal {
                run_id: exec.run_id.clone(),
                request_id,
            }));
        }
    }
    Ok(None)
}

/// The first of `request_ids` that run `run_id` has already received.
fn delivered_signal(
    conn: &Connection,
    run_id: &str,
    request_ids: &[String],
) -> StoreResult<Option<String>> {
    if request_ids.is_empty() {
        return Ok(None);
    }
    let mut query =
        conn.prepare_cached("SELECT 1 FROM signal_requests WHERE run_id = ?1 AND request_id = ?2")?;
    for request_id in request_ids {
        if query.exists(params![run_id, request_id])? {
            return Ok(Some(request_id.clone()));
        }
    }
    Ok(None)
}

/// A run's `db_version` (0 when it does not exist), as written by `earlier` if it was.
fn stored_version(conn: &Connection, earlier: &[ExecutionWrite], run_id: &str) -> StoreResult<i64> {
    if let Some(write) = earlier.iter().rev().find(|w| w.execution.run_id == run_id) {
        return Ok(write.execution.db_version);
    }
    let mut query = conn.prepare_cached("SELECT db_version FROM executions WHERE run_id = ?1")?;
    Ok(query
        .query_row(params![run_id], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The current run of `exec`'s workflow id, as written by `earlier` if it was.
fn current_run(
    conn: &Connection,
    earlier: &[ExecutionWrite],
    exec: &Execution,
) -> StoreResult<Option<String>> {
    let same_workflow = |w: &&ExecutionWrite| {
        w.make_current
            && w.execution.namespace == exec.namespace
            && w.execution.workflow_id == exec.workflow_id
    };
    Ok(match earlier.iter().rev().find(same_workflow) {
        Some(write) => Some(write.execution.run_id.clone()),
        None => conn
            .prepare_cached(
                "SELECT run_id FROM current_executions WHERE namespace = ?1 AND workflow_id = ?2",
            )?
            .query_row(params![exec.namespace, exec.workflow_id], |row| row.get(0))
            .optional()?,
    })
}

/// Whether the workflow id's current run is another run that is still running: a workflow id
/// has at most one running run, so a start racing a continue-as-new or a child start loses.
fn current_is_running_elsewhere(
    conn: &Connection,
    earlier: &[ExecutionWrite],
    exec: &Execution,
) -> StoreResult<bool> {
    let current = current_run(conn, earlier, exec)?;
    let Some(current) = current.filter(|run_id: &String| *run_id != exec.run_id) else {
        return Ok(false);
    };
    let status = match earlier.iter().rev().find(|w| w.execution.run_id == current) {
        Some(write) => Some(write.execution.status),
        None => conn
            .prepare_cached("SELECT status FROM executions WHERE run_id = ?1")?
            .query_row(params![current], |row| row.get(0))
            .optional()?,
    };
    Ok(status == Some(STATUS_RUNNING))
}

/// Writes one run update whose conditions [`first_conflict`] has checked.
fn apply_write(tx: &Connection, write: &ExecutionWrite) -> StoreResult<()> {
    let exec = &write.execution;
    let state = exec.encode_to_vec();
    let wake_at = exec.next_wakeup();
    if write.expected_db_version == 0 {
        tx.prepare_cached(
            "INSERT INTO executions
                 (run_id, namespace, workflow_id, status, db_version, state, wake_at, shard)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            exec.run_id,
            exec.namespace,
            exec.workflow_id,
            exec.status,
            exec.db_version,
            state,
            wake_at,
            write.shard
        ])?;
    } else {
        tx.prepare_cached(
            "UPDATE executions SET status = ?2, db_version = ?3, state = ?4, wake_at = ?5
             WHERE run_id = ?1",
        )?
        .execute(params![
            exec.run_id,
            exec.status,
            exec.db_version,
            state,
            wake_at
        ])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO history_events (run_id, event_id, event) VALUES (?1, ?2, ?3)",
    )?;
    for event in &write.new_events {
        insert.execute(params![exec.run_id, event.event_id, event.bytes.as_ref()])?;
    }
    let mut record_signal = tx.prepare_cached(
        "INSERT OR IGNORE INTO signal_requests (run_id, request_id) VALUES (?1, ?2)",
    )?;
    for request_id in &write.signal_request_ids {
        record_signal.execute(params![exec.run_id, request_id])?;
    }
    let registry = if needs_registry(exec) {
        namespace_search_attributes(tx, &exec.namespace)?
    } else {
        Default::default()
    };
    visibility::upsert(tx, exec, &registry)?;
    if write.make_current {
        tx.prepare_cached(
            "INSERT INTO current_executions (namespace, workflow_id, run_id) VALUES (?1, ?2, ?3)
             ON CONFLICT(namespace, workflow_id) DO UPDATE SET run_id = excluded.run_id",
        )?
        .execute(params![exec.namespace, exec.workflow_id, exec.run_id])?;
    }
    Ok(())
}

fn namespace_search_attributes(
    conn: &Connection,
    namespace: &str,
) -> StoreResult<std::collections::HashMap<String, i32>> {
    let record: Option<Vec<u8>> = conn
        .query_row(
            "SELECT record FROM namespaces WHERE name = ?1",
            params![namespace],
            |row| row.get(0),
        )
        .optional()?;
    Ok(record
        .and_then(|bytes| NamespaceRecord::decode(&*bytes).ok())
        .map(|r| r.search_attributes)
        .unwrap_or_default())
}

/// Creates what is missing of the schema and fills visibility rows and wake-ups older
/// databases lack.
fn prepare_schema(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(sqlite_shards::SCHEMA)?;
    conn.execute_batch(visibility::SCHEMA)?;
    conn.execute_batch(visibility::INDEXES)?;
    index_wakeups(conn)?;
    sqlite_shards::add_shard_column(conn)?;
    backfill_visibility(conn)
}

/// Adds the wake-up column to a database written before it existed, filled from each open
/// run's state (the one scan of the open runs this costs happens once: the column's absence
/// is what says it is needed), and its index.
fn index_wakeups(conn: &Connection) -> StoreResult<()> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('executions') WHERE name = 'wake_at'")?
        .exists([])?;
    if !has_column {
        conn.execute_batch("ALTER TABLE executions ADD COLUMN wake_at INTEGER")?;
        // Only each run's id and wake-up are kept while scanning, not the states.
        let mut query = conn.prepare("SELECT state FROM executions WHERE status = ?1")?;
        let wakeups = query
            .query_map(params![STATUS_RUNNING], |row| row.get::<_, Vec<u8>>(0))?
            .map(|state| {
                let exec = decode_execution(&state?)?;
                Ok((exec.next_wakeup(), exec.run_id))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut update = conn.prepare("UPDATE executions SET wake_at = ?2 WHERE run_id = ?1")?;
        for (wake_at, run_id) in wakeups {
            update.execute(params![run_id, wake_at])?;
        }
    }
    conn.execute_batch(WAKEUP_INDEX)?;
    Ok(())
}

/// Gives runs written before the visibility table existed their rows, once: the scan reads
/// every run, so a database that has been through it says so in `settings` and start-up
/// skips it (a start must not cost time per stored run).
fn backfill_visibility(conn: &Connection) -> StoreResult<()> {
    let done: Option<i64> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'visibility_backfilled'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if done.is_some() {
        return Ok(());
    }
    let mut query = conn.prepare(
        "SELECT state FROM executions WHERE run_id NOT IN (SELECT run_id FROM visibility)",
    )?;
    let states = query
        .query_map([], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for state in states {
        let exec = decode_execution(&state)?;
        let registry = namespace_search_attributes(conn, &exec.namespace)?;
        visibility::upsert(conn, &exec, &registry)?;
    }
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('visibility_backfilled', 1)
         ON CONFLICT(name) DO NOTHING",
        [],
    )?;
    Ok(())
}

impl Store for SqliteStore {
    fn write(&self, writes: Vec<ExecutionWrite>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let _room = self.room.wait().await?;
            let (reply, answer) = oneshot::channel();
            self.writes
                .send((writes, reply))
                .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Backend("writer thread dropped the write".into()))?
        })
    }

    fn current_run(&self, namespace: &str, workflow_id: &str) -> StoreFuture<'_, Option<String>> {
        let namespace = namespace.to_owned();
        let workflow_id = workflow_id.to_owned();
        self.read(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT run_id FROM current_executions WHERE namespace = ?1 AND workflow_id = ?2",
            )?;
            Ok(query
                .query_row(params![namespace, workflow_id], |row| row.get(0))
                .optional()?)
        })
    }

    fn load_execution(&self, run_id: &str) -> StoreFuture<'_, Option<Execution>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut query =
                conn.prepare_cached("SELECT state FROM executions WHERE run_id = ?1")?;
            let bytes: Option<Vec<u8>> = query
                .query_row(params![run_id], |row| row.get(0))
                .optional()?;
            bytes.map(|b| decode_execution(&b)).transpose()
        })
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> StoreFuture<'_, Vec<HistoryEvent>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT event FROM history_events WHERE run_id = ?1 AND event_id >= ?2
                 ORDER BY event_id LIMIT ?3",
            )?;
            let rows = query
                .query_map(params![run_id, first_event_id, max_events as i64], |row| {
                    row.get::<_, Vec<u8>>(0)
                })?;
            let mut events = Vec::new();
            for bytes in rows {
                let event = HistoryEvent::decode(&*bytes?)
                    .map_err(|e| StoreError::Corrupt(format!("history event: {e}")))?;
                events.push(event);
            }
            Ok(events)
        })
    }

    fn open_executions<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_run_id: &str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Execution>> {
        let after_run_id = after_run_id.to_owned();
        let in_shards = sqlite_shards::shard_condition(shards);
        self.read(move |conn| {
            let mut query = conn.prepare_cached(&format!(
                // `status = 1` literally: SQLite uses the partial index `executions_running`
                // only when the query's terms imply its condition, which a parameter does not.
                "SELECT state FROM executions WHERE status = 1 AND run_id > ?1 AND {in_shards}
                 ORDER BY run_id LIMIT ?2"
            ))?;
            let rows = query.query_map(params![after_run_id, limit as i64], |row| {
                row.get::<_, Vec<u8>>(0)
            })?;
            rows.map(|bytes| decode_execution(&bytes?)).collect()
        })
    }

    fn wakeups<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, String)>> {
        let in_shards = sqlite_shards::shard_condition(shards);
        self.read(move |conn| {
            let mut query = conn.prepare_cached(&format!(
                "SELECT wake_at, run_id FROM executions
                 WHERE wake_at > ?1 AND wake_at <= ?2 AND {in_shards}
                 ORDER BY wake_at, run_id LIMIT ?3"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = query.query_map(params![after_ms, until_ms, limit], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn namespaces(&self) -> StoreFuture<'_, Vec<NamespaceRecord>> {
        self.read(move |conn| {
            let mut query = conn.prepare("SELECT record FROM namespaces ORDER BY name")?;
            let rows = query.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
            rows.map(|bytes| {
                NamespaceRecord::decode(&*bytes?)
                    .map_err(|e| StoreError::Corrupt(format!("namespace: {e}")))
            })
            .collect()
        })
    }

    fn create_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        // Namespace registration is rare; it bypasses the group-commit queue.
        self.read(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO namespaces (name, record) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![namespace.name, namespace.encode_to_vec()],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(format!("namespace {}", namespace.name)));
            }
            Ok(())
        })
    }

    fn update_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        self.read(move |conn| {
            let updated = conn.execute(
                "UPDATE namespaces SET record = ?2 WHERE name = ?1",
                params![namespace.name, namespace.encode_to_vec()],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!(
                    "namespace {}",
                    namespace.name
                )));
            }
            Ok(())
        })
    }

    fn delete_namespace(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_owned();
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            for table in ["history_events", "signal_requests"] {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE run_id IN
                             (SELECT run_id FROM executions WHERE namespace = ?1)"
                    ),
                    params![name],
                )?;
            }
            for table in ["executions", "visibility", "current_executions", "records"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE namespace = ?1"),
                    params![name],
                )?;
            }
            let deleted = tx.execute("DELETE FROM namespaces WHERE name = ?1", params![name])?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("namespace {name}")));
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn dialect(&self) -> temper_query::Dialect {
        temper_query::Dialect::Sqlite
    }

    fn index_search_attribute(
        &self,
        _namespace: &str,
        name: &str,
        _ty: temper_query::AttributeType,
    ) -> StoreFuture<'_, ()> {
        // Rare (registering an attribute); it bypasses the group-commit queue.
        let name = name.to_string();
        self.read(move |conn| visibility::index_search_attribute(conn, &name))
    }

    fn list_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
        page_size: usize,
        page_token: &[u8],
    ) -> StoreFuture<'_, ExecutionPage> {
        let namespace = namespace.to_owned();
        let filter = filter.to_owned();
        let page_token = page_token.to_owned();
        self.read(move |conn| {
            let (executions, next_page_token) =
                visibility::list(conn, &namespace, &filter, page_size, &page_token)?;
            Ok(ExecutionPage {
                executions,
                next_page_token,
            })
        })
    }

    fn count_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
    ) -> StoreFuture<'_, ExecutionCount> {
        let namespace = namespace.to_owned();
        let filter = filter.to_owned();
        self.read(move |conn| {
            let (count, groups) = visibility::count(conn, &namespace, &filter)?;
            Ok(ExecutionCount { count, groups })
        })
    }

    fn delete_closed_runs(
        &self,
        namespace: &str,
        closed_before_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        // Rare background work; it bypasses the group-commit queue like namespace changes.
        let namespace = namespace.to_owned();
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let run_ids = {
                let mut query = tx.prepare(
                    "SELECT run_id FROM visibility WHERE namespace = ?1
                     AND close_time IS NOT NULL AND close_time < ?2 LIMIT ?3",
                )?;
                query
                    .query_map(
                        params![
                            namespace,
                            closed_before_ms.saturating_mul(1_000_000),
                            limit as i64
                        ],
                        |row| row.get::<_, String>(0),
                    )?
                    .collect::<Result<Vec<_>, _>>()?
            };
            for run_id in &run_ids {
                for table in [
                    "history_events",
                    "executions",
                    "visibility",
                    "current_executions",
                    "signal_requests",
                ] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE run_id = ?1"),
                        params![run_id],
                    )?;
                }
            }
            tx.commit()?;
            Ok(run_ids)
        })
    }

    fn delete_run(&self, namespace: &str, run_id: &str) -> StoreFuture<'_, bool> {
        // Rare (an operator's request); it bypasses the group-commit queue like retention.
        let (namespace, run_id) = (namespace.to_owned(), run_id.to_owned());
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let deleted = tx.execute(
                "DELETE FROM executions WHERE run_id = ?1 AND namespace = ?2",
                params![run_id, namespace],
            )? > 0;
            if deleted {
                for table in [
                    "history_events",
                    "visibility",
                    "current_executions",
                    "signal_requests",
                ] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE run_id = ?1"),
                        params![run_id],
                    )?;
                }
            }
            tx.commit()?;
            Ok(deleted)
        })
    }

    fn records(&self, kind: RecordKind) -> StoreFuture<'_, Vec<StoredRecord>> {
        self.read(move |conn| {
            let mut query = conn.prepare(
                "SELECT namespace, id, version, state FROM records WHERE kind = ?1
                 ORDER BY namespace, id",
            )?;
            let rows = query.query_map(params![kind.as_str()], |row| {
                Ok(StoredRecord {
                    kind,
                    namespace: row.get(0)?,
                    id: row.get(1)?,
                    version: row.get(2)?,
                    state: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn save_record(&self, record: StoredRecord, expected_version: i64) -> StoreFuture<'_, ()> {
        // A record changes once per action or request; it bypasses the group-commit queue.
        self.read(move |conn| {
            let StoredRecord {
                kind,
                namespace,
                id,
                version,
                state,
            } = &record;
            let changed = if expected_version == 0 {
                conn.execute(
                    "INSERT INTO records (kind, namespace, id, version, state)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![kind.as_str(), namespace, id, version, state],
                )?
            } else {
                conn.execute(
                    "UPDATE records SET version = ?4, state = ?5
                     WHERE kind = ?1 AND namespace = ?2 AND id = ?3 AND version = ?6",
                    params![
                        kind.as_str(),
                        namespace,
                        id,
                        version,
                        state,
                        expected_version
                    ],
                )?
            };
            record_outcome(&record, changed, expected_version)
        })
    }

    fn delete_record(&self, kind: RecordKind, namespace: &str, id: &str) -> StoreFuture<'_, ()> {
        let (namespace, id) = (namespace.to_owned(), id.to_owned());
        self.read(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM records WHERE kind = ?1 AND namespace = ?2 AND id = ?3",
                params![kind.as_str(), namespace, id],
            )?;
            if deleted == 0 {
                return Err(StoreError::NotFound(record_name(kind, &namespace, &id)));
            }
            Ok(())
        })
    }

    fn load_clock_offset(&self) -> StoreFuture<'_, i64> {
        self.read(move |conn| {
            let value: Option<i64> = conn
                .query_row(
                    "SELECT value FROM settings WHERE name = 'clock_offset_ms'",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(value.unwrap_or(0))
        })
    }

    fn group_commits(&self) -> (u64, u64) {
        self.commits.totals()
    }

    fn probe_commit(&self, now_ms: i64) -> StoreFuture<'_, ()> {
        // Health checks are rare next to RPC writes; they bypass the group-commit queue.
        self.read(move |conn| {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES ('health_probe', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![now_ms],
            )?;
            Ok(())
        })
    }

    fn save_clock_offset(&self, offset_ms: i64) -> StoreFuture<'_, ()> {
        // Rare (a time skip); it bypasses the group-commit queue.
        self.read(move |conn| {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES ('clock_offset_ms', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![offset_ms],
            )?;
            Ok(())
        })
    }

    fn shard_count(&self, proposed: i32) -> StoreFuture<'_, i32> {
        self.read(move |conn| sqlite_shards::shard_count(conn, proposed))
    }

    fn heartbeat_node(&self, node: NodeRecord) -> StoreFuture<'_, ()> {
        self.read(move |conn| sqlite_shards::heartbeat_node(conn, &node))
    }

    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>> {
        self.read(sqlite_shards::nodes)
    }

    fn forget_nodes(&self, silent_since_ms: i64) -> StoreFuture<'_, u64> {
        self.read(move |conn| sqlite_shards::forget_nodes(conn, silent_since_ms))
    }

    fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        predecessor: Option<&str>,
    ) -> StoreFuture<'_, Option<ShardLease>> {
        let owner = owner.to_string();
        let predecessor = predecessor.map(str::to_string);
        self.read(move |conn| {
            let predecessor = predecessor.as_deref();
            sqlite_shards::acquire_shard(
                conn,
                shard_id,
                &owner,
                now_ms,
                lease_until_ms,
                predecessor,
            )
        })
    }

    fn renew_shards(
        &self,
        owner: &str,
        held: Vec<ShardFence>,
        lease_until_ms: i64,
    ) -> StoreFuture<'_, Vec<i32>> {
        let owner = owner.to_string();
        self.read(move |conn| sqlite_shards::renew_shards(conn, &owner, &held, lease_until_ms))
    }

    fn release_shard(&self, owner: &str, held: ShardFence) -> StoreFuture<'_, ()> {
        let owner = owner.to_string();
        self.read(move |conn| sqlite_shards::release_shard(conn, &owner, held))
    }

    fn shard_leases(&self) -> StoreFuture<'_, Vec<ShardLease>> {
        self.read(sqlite_shards::shard_leases)
    }
}

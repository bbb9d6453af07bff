//! The PostgreSQL backend.
//!
//! Same tables and the same contract as the SQLite backend: one writer task commits whatever
//! writes are waiting in one transaction and answers each caller after the commit
//! (`postgres_writer.rs`); PostgreSQL's default `synchronous_commit` makes an acknowledged
//! write durable. Reads share a second connection (tokio-postgres pipelines concurrent
//! queries on it); both connections are opened again when they close
//! (`postgres_connection.rs`). Rare administrative writes (namespaces, retention deletes,
//! deleting one run, indexes, the clock offset) take the writer connection between groups.
//! Visibility filters are compiled for the PostgreSQL dialect (`$n` parameters, JSONB
//! search attributes).

use std::sync::Arc;

use prost::Message;
use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;
use temper_query::{AttributeType, Dialect, SqlValue};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use crate::WriteRequest;
use crate::postgres_connection::{Reader, Target, Writer, WriterSlot};
use crate::postgres_tls::PostgresTls;
use crate::postgres_writer::{Statements, writer_loop};

use crate::visibility::{self, PageToken};
use crate::{
    CompiledQuery, ExecutionCount, ExecutionPage, ExecutionWrite, NamespaceRecord, RecordKind,
    Store, StoreError, StoreFuture, StoreResult, StoredRecord, decode_execution, record_name,
    record_outcome,
};
use crate::{NodeRecord, ShardFence, ShardLease, postgres_shards};

/// `WorkflowExecutionStatus::Running`.
pub(crate) const STATUS_RUNNING: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
    name TEXT PRIMARY KEY,
    record BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (kind, namespace, id)
);
CREATE TABLE IF NOT EXISTS executions (
    run_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    status BIGINT NOT NULL,
    db_version BIGINT NOT NULL,
    state BYTEA NOT NULL,
    -- The open run's next wake-up (ms), NULL when none: the timer service's index.
    wake_at BIGINT
);
-- Open runs in run-id order, page by page (start-up recovery); replaces an index on status.
DROP INDEX IF EXISTS executions_open;
CREATE INDEX IF NOT EXISTS executions_open_runs ON executions(status, run_id);
CREATE TABLE IF NOT EXISTS current_executions (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id)
);
CREATE TABLE IF NOT EXISTS history_events (
    run_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    event BYTEA NOT NULL,
    PRIMARY KEY (run_id, event_id)
);
CREATE TABLE IF NOT EXISTS visibility (
    run_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    status BIGINT NOT NULL,
    start_time BIGINT NOT NULL,
    execution_time BIGINT NOT NULL,
    close_time BIGINT,
    execution_duration BIGINT,
    task_queue TEXT NOT NULL,
    history_length BIGINT NOT NULL,
    history_size_bytes BIGINT NOT NULL,
    state_transition_count BIGINT NOT NULL,
    parent_workflow_id TEXT,
    parent_run_id TEXT,
    root_workflow_id TEXT NOT NULL,
    root_run_id TEXT NOT NULL,
    search_attributes JSONB NOT NULL,
    sort_close BIGINT NOT NULL
);
-- Request ids of the signals each run received (see the SQLite backend).
CREATE TABLE IF NOT EXISTS signal_requests (
    run_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (run_id, request_id)
);
";

pub struct PostgresStore {
    reader: Reader,
    writer: Arc<WriterSlot>,
    writes: mpsc::UnboundedSender<WriteRequest>,
    room: crate::WriteRoom,
    commits: Arc<crate::GroupCommits>,
}

/// Opens a connection (over TLS when `tls` says so) whose statements run in `schema`
/// (when given).
pub(crate) async fn connect(
    url: &str,
    schema: Option<&str>,
    tls: &PostgresTls,
) -> StoreResult<Client> {
    let client = match tls.client_config() {
        None => {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
            tokio::spawn(watch(connection));
            client
        }
        Some(config) => {
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(config);
            let (client, connection) = tokio_postgres::connect(url, connector).await?;
            tokio::spawn(watch(connection));
            client
        }
    };
    if !url.contains("application_name") {
        // Names the process in `pg_stat_activity`: several nodes may share the database.
        let name = format!("temper {}", std::process::id());
        client
            .batch_execute(&format!("SET application_name = '{name}'"))
            .await?;
    }
    if let Some(schema) = schema {
        client
            .batch_execute(&format!("SET search_path TO {}", quote_identifier(schema)))
            .await?;
    }
    Ok(client)
}

/// Runs a connection until it closes, logging why.
async fn watch<C>(connection: C)
where
    C: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(error) = connection.await {
        tracing::error!(%error, "PostgreSQL connection closed");
    }
}

/// A stable 64-bit digest (FNV-1a) naming indexes: PostgreSQL identifiers are limited to 63
/// bytes, so a namespace and attribute name cannot be spelled out.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresStore {
    /// Connects to `url` (a libpq-style connection string or URL) and creates the tables if
    /// needed, in `schema` when one is given (it is created too).
    pub async fn connect(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        Self::connect_with(url, schema, None).await
    }

    /// [`PostgresStore::connect`], with the server's certificate checked against the CA file
    /// `ca` (TLS also when the URL says `sslmode=require`; see `postgres_tls.rs`).
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        ca: Option<&std::path::Path>,
    ) -> StoreResult<Self> {
        let tls = PostgresTls::choose(url, ca)?;
        let writer = connect(url, None, &tls).await?;
        if let Some(schema) = schema {
            writer
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {0}; SET search_path TO {0}",
                    quote_identifier(schema)
                ))
                .await?;
        }
        // Concurrent starts against a fresh database may race on CREATE ... IF NOT EXISTS;
        // a transaction-level lock serialises them.
        writer
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7233); {SCHEMA} {} {} {} COMMIT;",
                postgres_shards::SCHEMA,
                visibility::INDEXES,
                temper_query::POSTGRES_SETUP_SQL
            ))
            .await?;
        index_wakeups(&writer).await?;
        writer
            .batch_execute(postgres_shards::WRITER_SESSION_SETTINGS)
            .await?;
        let target = Arc::new(Target {
            url: url.to_string(),
            schema: schema.map(str::to_string),
            tls,
        });
        let reader = Reader::new(target.clone(), target.open().await?);
        let statements = Statements::prepare(&writer).await?;
        let writer = Writer {
            client: writer,
            statements,
        };
        let writer = Arc::new(WriterSlot::new(target, writer));
        let (writes, queue) = mpsc::unbounded_channel();
        let commits = Arc::new(crate::GroupCommits::default());
        tokio::spawn(writer_loop(writer.clone(), queue, commits.clone()));
        Ok(PostgresStore {
            reader,
            writer,
            writes,
            room: crate::WriteRoom::new(crate::MAX_PENDING_WRITES),
            commits,
        })
    }
}

/// Adds the wake-up column to a database written before it existed, filled from each open
/// run's state (once: the column's absence is what says it is needed), and its index; under
/// the same lock as the schema, so concurrent starts do it once.
async fn index_wakeups(client: &Client) -> StoreResult<()> {
    client
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(7233)")
        .await?;
    let has_column = client
        .query_opt(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
             AND table_name = 'executions' AND column_name = 'wake_at'",
            &[],
        )
        .await?
        .is_some();
    if !has_column {
        client
            .batch_execute("ALTER TABLE executions ADD COLUMN wake_at BIGINT")
            .await?;
        // Page by page, so that the states are not all in memory at once.
        let mut after = String::new();
        loop {
            let rows = client
                .query(
                    "SELECT state FROM executions WHERE status = $1 AND run_id > $2
                     ORDER BY run_id LIMIT 1000",
                    &[&STATUS_RUNNING, &after],
                )
                .await?;
            let page = rows
                .iter()
                .map(|row| decode_execution(row.get::<_, &[u8]>(0)))
                .collect::<StoreResult<Vec<_>>>()?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.run_id.clone();
            for exec in &page {
                client
                    .execute(
                        "UPDATE executions SET wake_at = $2 WHERE run_id = $1",
                        &[&exec.run_id, &exec.next_wakeup()],
                    )
                    .await?;
            }
        }
    }
    client
        .batch_execute(&format!("{WAKEUP_INDEX}; COMMIT"))
        .await?;
    Ok(())
}

/// The timer service's reads: open runs' wake-ups in time order.
const WAKEUP_INDEX: &str = "CREATE INDEX IF NOT EXISTS executions_wake_at
    ON executions(wake_at, run_id) WHERE wake_at IS NOT NULL";

/// Bound values of a compiled filter, in placeholder order.
fn filter_params(values: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    values
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                SqlValue::Int(i) => Box::new(*i),
                SqlValue::Real(f) => Box::new(*f),
                SqlValue::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

fn as_refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PostgresStore {
    async fn list(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
        page_size: usize,
        page_token: &[u8],
    ) -> StoreResult<ExecutionPage> {
        let token = visibility::decode_page_token(page_token)?;
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(namespace.to_string())];
        params.extend(filter_params(&filter.params));
        let next = |params: &Vec<Box<dyn ToSql + Sync + Send>>| params.len() + 1;
        let mut sql = format!(
            "SELECT sort_close, start_time, run_id FROM visibility
             WHERE namespace = $1 AND ({})",
            filter.where_sql
        );
        let offset = match (&filter.order_by, &token) {
            (Some(order), token) => {
                let offset = token.as_ref().map_or(0, |t| t.offset);
                sql.push_str(&format!(
                    " ORDER BY {order}, run_id DESC LIMIT ${} OFFSET ${}",
                    next(&params),
                    next(&params) + 1
                ));
                offset
            }
            (None, token) => {
                if let Some(token) = token {
                    let n = next(&params);
                    sql.push_str(&format!(
                        " AND (sort_close, start_time, run_id) < (${}, ${}, ${})",
                        n,
                        n + 1,
                        n + 2
                    ));
                    params.push(Box::new(token.sort_close));
                    params.push(Box::new(token.start_time));
                    params.push(Box::new(token.run_id.clone()));
                }
                sql.push_str(&format!(
                    " ORDER BY sort_close DESC, start_time DESC, run_id DESC LIMIT ${} OFFSET ${}",
                    next(&params),
                    next(&params) + 1
                ));
                0
            }
        };
        params.push(Box::new(page_size as i64 + 1));
        params.push(Box::new(offset));
        let rows = self
            .reader
            .client()
            .await?
            .query(&sql, &as_refs(&params))
            .await?;
        let more = rows.len() > page_size;
        let page: Vec<PageToken> = rows
            .iter()
            .take(page_size)
            .map(|row| PageToken {
                sort_close: row.get(0),
                start_time: row.get(1),
                run_id: row.get(2),
                offset: 0,
            })
            .collect();
        let run_ids: Vec<&str> = page.iter().map(|p| p.run_id.as_str()).collect();
        let mut states: std::collections::HashMap<String, Execution> = self
            .reader
            .client()
            .await?
            .query(
                "SELECT run_id, state FROM executions WHERE run_id = ANY($1)",
                &[&run_ids],
            )
            .await?
            .iter()
            .map(|row| Ok((row.get(0), decode_execution(row.get::<_, &[u8]>(1))?)))
            .collect::<StoreResult<_>>()?;
        let executions = page
            .iter()
            .filter_map(|p| states.remove(&p.run_id))
            .collect();
        let last = page.last().cloned().unwrap_or_default();
        let next_page_token = visibility::next_page_token(more, filter, offset, page_size, last);
        Ok(ExecutionPage {
            executions,
            next_page_token,
        })
    }

    async fn count(&self, namespace: &str, filter: &CompiledQuery) -> StoreResult<ExecutionCount> {
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(namespace.to_string())];
        params.extend(filter_params(&filter.params));
        if filter.group_by_status {
            let sql = format!(
                "SELECT status, count(*) FROM visibility WHERE namespace = $1 AND ({})
                 GROUP BY status ORDER BY status",
                filter.where_sql
            );
            let rows = self
                .reader
                .client()
                .await?
                .query(&sql, &as_refs(&params))
                .await?;
            let groups: Vec<(i32, i64)> = rows
                .iter()
                .map(|row| (row.get::<_, i64>(0) as i32, row.get::<_, i64>(1)))
                .collect();
            return Ok(ExecutionCount {
                count: groups.iter().map(|(_, n)| n).sum(),
                groups,
            });
        }
        let sql = format!(
            "SELECT count(*) FROM visibility WHERE namespace = $1 AND ({})",
            filter.where_sql
        );
        let row = self
            .reader
            .client()
            .await?
            .query_one(&sql, &as_refs(&params))
            .await?;
        Ok(ExecutionCount {
            count: row.get(0),
            groups: Vec::new(),
        })
    }

    async fn delete_closed(
        &self,
        namespace: &str,
        closed_before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let mut client = self.writer.lock().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT run_id FROM visibility WHERE namespace = $1
                 AND close_time IS NOT NULL AND close_time < $2 LIMIT $3",
                &[
                    &namespace,
                    &closed_before_ms.saturating_mul(1_000_000),
                    &(limit as i64),
                ],
            )
            .await?;
        let run_ids: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        for table in [
            "history_events",
            "executions",
            "visibility",
            "current_executions",
            "signal_requests",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE run_id = ANY($1)"),
                &[&run_ids],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(run_ids)
    }

    async fn drop_run(&self, namespace: &str, run_id: &str) -> StoreResult<bool> {
        let mut client = self.writer.lock().await?;
        let tx = client.transaction().await?;
        let deleted = tx
            .execute(
                "DELETE FROM executions WHERE run_id = $1 AND namespace = $2",
                &[&run_id, &namespace],
            )
            .await?
            > 0;
        if deleted {
            for table in [
                "history_events",
                "visibility",
                "current_executions",
                "signal_requests",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE run_id = $1"),
                    &[&run_id],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn drop_namespace(&self, name: &str) -> StoreResult<()> {
        let mut client = self.writer.lock().await?;
        let tx = client.transaction().await?;
        for table in ["history_events", "signal_requests"] {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE run_id IN
                         (SELECT run_id FROM executions WHERE namespace = $1)"
                ),
                &[&name],
            )
            .await?;
        }
        for table in ["executions", "visibility", "current_executions", "records"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE namespace = $1"),
                &[&name],
            )
            .await?;
        }
        let deleted = tx
            .execute("DELETE FROM namespaces WHERE name = $1", &[&name])
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("namespace {name}")));
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn write(&self, writes: Vec<ExecutionWrite>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let _room = self.room.wait().await?;
            let (reply, answer) = oneshot::channel();
            self.writes
                .send((writes, reply))
                .map_err(|_| StoreError::Backend("writer task has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Backend("writer task dropped the write".into()))?
        })
    }

    fn current_run(&self, namespace: &str, workflow_id: &str) -> StoreFuture<'_, Option<String>> {
        let (namespace, workflow_id) = (namespace.to_string(), workflow_id.to_string());
        Box::pin(async move {
            let row = self
                .reader
                .client()
                .await?
                .query_opt(
                    "SELECT run_id FROM current_executions WHERE namespace = $1 AND workflow_id = $2",
                    &[&namespace, &workflow_id],
                )
                .await?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn load_execution(&self, run_id: &str) -> StoreFuture<'_, Option<Execution>> {
        let run_id = run_id.to_string();
        Box::pin(async move {
            let row = self
                .reader
                .client()
                .await?
                .query_opt("SELECT state FROM executions WHERE run_id = $1", &[&run_id])
                .await?;
            row.map(|row| decode_execution(row.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> StoreFuture<'_, Vec<HistoryEvent>> {
        let run_id = run_id.to_string();
        let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
        Box::pin(async move {
            let rows = self
                .reader
                .client()
                .await?
                .query(
                    "SELECT event FROM history_events WHERE run_id = $1 AND event_id >= $2
                     ORDER BY event_id LIMIT $3",
                    &[&run_id, &first_event_id, &limit],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    HistoryEvent::decode(row.get::<_, &[u8]>(0))
                        .map_err(|e| StoreError::Corrupt(format!("history event: {e}")))
                })
                .collect()
        })
    }

    fn open_executions<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_run_id: &str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Execution>> {
        let after_run_id = after_run_id.to_owned();
        Box::pin(async move {
            let rows = self
                .reader
                .client()
                .await?
                .query(
                    "SELECT state FROM executions WHERE status = $1 AND run_id > $2
                         AND ($4::int[] IS NULL OR shard = ANY($4))
                     ORDER BY run_id LIMIT $3",
                    &[&STATUS_RUNNING, &after_run_id, &(limit as i64), &shards],
                )
                .await?;
            rows.iter()
                .map(|row| decode_execution(row.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn wakeups<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, String)>> {
        Box::pin(async move {
            let rows = self
                .reader
                .client()
                .await?
                .query(
                    "SELECT wake_at, run_id FROM executions WHERE wake_at > $1 AND wake_at <= $2
                         AND ($4::int[] IS NULL OR shard = ANY($4))
                     ORDER BY wake_at, run_id LIMIT $3",
                    &[
                        &after_ms,
                        &until_ms,
                        &i64::try_from(limit).unwrap_or(i64::MAX),
                        &shards,
                    ],
                )
                .await?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    fn namespaces(&self) -> StoreFuture<'_, Vec<NamespaceRecord>> {
        Box::pin(async move {
            let rows = self
                .reader
                .client()
                .await?
                .query("SELECT record FROM namespaces ORDER BY name", &[])
                .await?;
            rows.iter()
                .map(|row| {
                    NamespaceRecord::decode(row.get::<_, &[u8]>(0))
                        .map_err(|e| StoreError::Corrupt(format!("namespace: {e}")))
                })
                .collect()
        })
    }

    fn create_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.writer.lock().await?;
            let inserted = client
                .execute(
                    "INSERT INTO namespaces (name, record) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING",
                    &[&namespace.name, &namespace.encode_to_vec()],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(format!(
                    "namespace {}",
                    namespace.name
                )));
            }
            Ok(())
        })
    }

    fn update_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.writer.lock().await?;
            let updated = client
                .execute(
                    "UPDATE namespaces SET record = $2 WHERE name = $1",
                    &[&namespace.name, &namespace.encode_to_vec()],
                )
                .await?;
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
        let name = name.to_string();
        Box::pin(async move { self.drop_namespace(&name).await })
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres { first_parameter: 2 }
    }

    fn index_search_attribute(
        &self,
        namespace: &str,
        name: &str,
        ty: AttributeType,
    ) -> StoreFuture<'_, ()> {
        // One partial index per namespace: the same name may have another type elsewhere,
        // and PostgreSQL computes an index's typed expression only for rows its predicate
        // admits. Text values are matched by a function no index serves (and may be long);
        // KeywordList membership is served by a GIN index.
        let key: Vec<u8> = namespace.bytes().chain([0]).chain(name.bytes()).collect();
        let digest = format!("{:016x}", fnv1a(&key));
        let predicate = format!("namespace = '{}'", namespace.replace('\'', "''"));
        let expression = temper_query::search_attribute_expression_for(name, ty, self.dialect());
        let sql = match ty {
            AttributeType::Text => None,
            AttributeType::KeywordList => Some(format!(
                "CREATE INDEX IF NOT EXISTS visibility_sa_{digest} ON visibility
                 USING gin (({expression})) WHERE {predicate}"
            )),
            _ => Some(format!(
                "CREATE INDEX IF NOT EXISTS visibility_sa_{digest} ON visibility
                 (({expression})) WHERE {predicate}"
            )),
        };
        Box::pin(async move {
            if let Some(sql) = sql {
                let client = self.writer.lock().await?;
                client.batch_execute(&sql).await?;
            }
            Ok(())
        })
    }

    fn list_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
        page_size: usize,
        page_token: &[u8],
    ) -> StoreFuture<'_, ExecutionPage> {
        let (namespace, filter, page_token) =
            (namespace.to_string(), filter.clone(), page_token.to_vec());
        Box::pin(async move { self.list(&namespace, &filter, page_size, &page_token).await })
    }

    fn count_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
    ) -> StoreFuture<'_, ExecutionCount> {
        let (namespace, filter) = (namespace.to_string(), filter.clone());
        Box::pin(async move { self.count(&namespace, &filter).await })
    }

    fn delete_closed_runs(
        &self,
        namespace: &str,
        closed_before_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        let namespace = namespace.to_string();
        Box::pin(async move {
            self.delete_closed(&namespace, closed_before_ms, limit)
                .await
        })
    }

    fn delete_run(&self, namespace: &str, run_id: &str) -> StoreFuture<'_, bool> {
        let (namespace, run_id) = (namespace.to_string(), run_id.to_string());
        Box::pin(async move { self.drop_run(&namespace, &run_id).await })
    }

    fn records(&self, kind: RecordKind) -> StoreFuture<'_, Vec<StoredRecord>> {
        Box::pin(async move {
            let rows = self
                .reader
                .client()
                .await?
                .query(
                    "SELECT namespace, id, version, state FROM records WHERE kind = $1
                     ORDER BY namespace, id",
                    &[&kind.as_str()],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| StoredRecord {
                    kind,
                    namespace: row.get(0),
                    id: row.get(1),
                    version: row.get(2),
                    state: row.get(3),
                })
                .collect())
        })
    }

    fn save_record(&self, record: StoredRecord, expected_version: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.writer.lock().await?;
            let StoredRecord {
                kind,
                namespace,
                id,
                version,
                state,
            } = &record;
            let changed = if expected_version == 0 {
                client
                    .execute(
                        "INSERT INTO records (kind, namespace, id, version, state)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        &[&kind.as_str(), namespace, id, version, state],
                    )
                    .await?
            } else {
                client
                    .execute(
                        "UPDATE records SET version = $4, state = $5
                         WHERE kind = $1 AND namespace = $2 AND id = $3 AND version = $6",
                        &[
                            &kind.as_str(),
                            namespace,
                            id,
                            version,
                            state,
                            &expected_version,
                        ],
                    )
                    .await?
            };
            record_outcome(&record, changed as usize, expected_version)
        })
    }

    fn delete_record(&self, kind: RecordKind, namespace: &str, id: &str) -> StoreFuture<'_, ()> {
        let (namespace, id) = (namespace.to_owned(), id.to_owned());
        Box::pin(async move {
            let client = self.writer.lock().await?;
            let deleted = client
                .execute(
                    "DELETE FROM records WHERE kind = $1 AND namespace = $2 AND id = $3",
                    &[&kind.as_str(), &namespace, &id],
                )
                .await?;
            if deleted == 0 {
                return Err(StoreError::NotFound(record_name(kind, &namespace, &id)));
            }
            Ok(())
        })
    }

    fn load_clock_offset(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            let row = self
                .reader
                .client()
                .await?
                .query_opt(
                    "SELECT value FROM settings WHERE name = 'clock_offset_ms'",
                    &[],
                )
                .await?;
            Ok(row.map_or(0, |row| row.get(0)))
        })
    }

    fn group_commits(&self) -> (u64, u64) {
        self.commits.totals()
    }

    fn probe_commit(&self, now_ms: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.writer.lock().await?;
            client
                .execute(
                    "INSERT INTO settings (name, value) VALUES ('health_probe', $1)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    &[&now_ms],
                )
                .await?;
            Ok(())
        })
    }

    fn save_clock_offset(&self, offset_ms: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.writer.lock().await?;
            client
                .execute(
                    "INSERT INTO settings (name, value) VALUES ('clock_offset_ms', $1)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    &[&offset_ms],
                )
                .await?;
            Ok(())
        })
    }

    fn shard_count(&self, proposed: i32) -> StoreFuture<'_, i32> {
        Box::pin(async move {
            postgres_shards::shard_count(&*self.reader.client().await?, proposed).await
        })
    }

    fn heartbeat_node(&self, node: NodeRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            postgres_shards::heartbeat_node(&*self.reader.client().await?, &node).await
        })
    }

    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>> {
        Box::pin(async move { postgres_shards::nodes(&*self.reader.client().await?).await })
    }

    fn forget_nodes(&self, silent_since_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let reader = self.reader.client().await?;
            postgres_shards::forget_nodes(&reader, silent_since_ms).await
        })
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
        Box::pin(async move {
            let predecessor = predecessor.as_deref();
            let reader = self.reader.client().await?;
            postgres_shards::acquire_shard(
                &reader,
                shard_id,
                &owner,
                now_ms,
                lease_until_ms,
                predecessor,
            )
            .await
        })
    }

    fn renew_shards(
        &self,
        owner: &str,
        held: Vec<ShardFence>,
        lease_until_ms: i64,
    ) -> StoreFuture<'_, Vec<i32>> {
        let owner = owner.to_string();
        Box::pin(async move {
            let reader = self.reader.client().await?;
            postgres_shards::renew_shards(&reader, &owner, &held, lease_until_ms).await
        })
    }

    fn release_shard(&self, owner: &str, held: ShardFence) -> StoreFuture<'_, ()> {
        let owner = owner.to_string();
        Box::pin(async move {
            postgres_shards::release_shard(&*self.reader.client().await?, &owner, held).await
        })
    }

    fn shard_leases(&self) -> StoreFuture<'_, Vec<ShardLease>> {
        Box::pin(async move { postgres_shards::shard_leases(&*self.reader.client().await?).await })
    }
}

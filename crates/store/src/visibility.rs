//! The visibility table: one row per run holding what list and count queries filter on.
//!
//! Rows are written by the same transaction as the run's state and events, so a list never
//! lags behind an acknowledged change. Times are Unix nanoseconds and statuses are
//! `WorkflowExecutionStatus` numbers, the representation `temper-query` compiles filters
//! against. Search attributes are one JSON object per row (Datetime values as nanoseconds),
//! typed by the payload's `type` metadata or, failing that, the namespace's registry.

use std::collections::HashMap;

use prost::Message;
use rusqlite::{Connection, params};
use serde_json::Value as Json;
use temper_api::proto::common::v1::Payload;
use temper_engine::Execution;
use temper_engine::time::duration_ms;
use temper_query::{AttributeType, CompiledQuery, SqlValue};

use crate::{StoreError, StoreResult};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS visibility (
    run_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    status INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    execution_time INTEGER NOT NULL,
    close_time INTEGER,
    execution_duration INTEGER,
    task_queue TEXT NOT NULL,
    history_length INTEGER NOT NULL,
    history_size_bytes INTEGER NOT NULL,
    state_transition_count INTEGER NOT NULL,
    parent_workflow_id TEXT,
    parent_run_id TEXT,
    root_workflow_id TEXT NOT NULL,
    root_run_id TEXT NOT NULL,
    search_attributes TEXT NOT NULL,
    -- close_time, with open runs last-closed-first: the default list order's first key.
    sort_close INTEGER NOT NULL
);
";

/// The visibility table's indexes, the same on every backend.
pub(crate) const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS visibility_order
    ON visibility(namespace, sort_close DESC, start_time DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS visibility_type ON visibility(namespace, workflow_type);
CREATE INDEX IF NOT EXISTS visibility_status ON visibility(namespace, status);
CREATE INDEX IF NOT EXISTS visibility_workflow_id ON visibility(namespace, workflow_id);
CREATE INDEX IF NOT EXISTS visibility_start ON visibility(namespace, start_time);
CREATE INDEX IF NOT EXISTS visibility_close ON visibility(namespace, close_time);
";

/// Open runs sort before every closed one in the default (newest first) order.
const OPEN_SORT_KEY: i64 = i64::MAX;
const NANOS_PER_MS: i64 = 1_000_000;

/// Registers the SQL functions compiled queries call (on every connection).
pub(crate) fn register_functions(conn: &Connection) -> StoreResult<()> {
    conn.create_scalar_function(
        temper_query::TEXT_MATCH_FUNCTION,
        2,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let field: Option<String> = ctx.get(0)?;
            let query: Option<String> = ctx.get(1)?;
            Ok(match (field, query) {
                (Some(field), Some(query)) => temper_query::text_matches(&field, &query),
                _ => false,
            })
        },
    )?;
    Ok(())
}

/// Creates the index over one search attribute's values (per namespace), named after the
/// attribute's bytes so any name is a valid identifier.
pub(crate) fn index_search_attribute(conn: &Connection, name: &str) -> StoreResult<()> {
    let suffix: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS visibility_sa_{suffix} ON visibility(namespace, {})",
        temper_query::search_attribute_expression(name)
    ))?;
    Ok(())
}

/// A run's visibility row, backend-neutral: what both backends write.
pub(crate) struct VisibilityRow {
    pub run_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub status: i64,
    pub start_time: i64,
    pub execution_time: i64,
    pub close_time: Option<i64>,
    pub execution_duration: Option<i64>,
    pub task_queue: String,
    pub history_length: i64,
    pub history_size_bytes: i64,
    pub state_transition_count: i64,
    pub parent_workflow_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_workflow_id: String,
    pub root_run_id: String,
    /// The search attributes as a JSON object (text).
    pub search_attributes: String,
    pub sort_close: i64,
}

/// The row for a run's current state. `registry` gives the types of custom search attributes
/// whose payloads do not say their type.
pub(crate) fn row_of(exec: &Execution, registry: &HashMap<String, i32>) -> VisibilityRow {
    let started = exec.started.clone().unwrap_or_default();
    let start_time = exec.start_time_ms * NANOS_PER_MS;
    let execution_time = (exec.start_time_ms
        + duration_ms(started.first_workflow_task_backoff.as_ref()))
        * NANOS_PER_MS;
    let closed = !exec.is_running() && exec.close_time_ms > 0;
    let close_time = closed.then_some(exec.close_time_ms * NANOS_PER_MS);
    let parent = started.parent_workflow_execution.clone();
    let root = started.root_workflow_execution.clone();
    VisibilityRow {
        run_id: exec.run_id.clone(),
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        workflow_type: exec.workflow_type.clone(),
        status: i64::from(exec.status),
        start_time,
        execution_time,
        close_time,
        execution_duration: close_time.map(|close| (close - execution_time).max(0)),
        task_queue: exec.task_queue.clone(),
        // Like Temporal, the history counters are recorded when the run closes (0 while open).
        history_length: if closed { exec.next_event_id - 1 } else { 0 },
        history_size_bytes: if closed { exec.history_size_bytes } else { 0 },
        state_transition_count: if closed { exec.db_version } else { 0 },
        parent_workflow_id: parent.as_ref().map(|p| p.workflow_id.clone()),
        parent_run_id: parent.as_ref().map(|p| p.run_id.clone()),
        root_workflow_id: root
            .as_ref()
            .map_or(exec.workflow_id.clone(), |r| r.workflow_id.clone()),
        root_run_id: root
            .as_ref()
            .map_or(exec.run_id.clone(), |r| r.run_id.clone()),
        search_attributes: search_attributes_json(exec, registry),
        sort_close: close_time.unwrap_or(OPEN_SORT_KEY),
    }
}

/// The columns a row rewrite updates (everything but the run's identity and start), and only
/// when one of them differs: most writes of an open run change nothing here (its counters are
/// recorded at close), and a rewrite of the same values would still dirty the row's page and
/// a page of each of the table's indexes (five of the seven writes of a one-activity
/// workflow change nothing here).
pub(crate) const UPSERT_SQL_TAIL: &str =
    "ON CONFLICT(run_id) DO UPDATE SET status = excluded.status,
     execution_time = excluded.execution_time, close_time = excluded.close_time,
     execution_duration = excluded.execution_duration,
     history_length = excluded.history_length,
     history_size_bytes = excluded.history_size_bytes,
     state_transition_count = excluded.state_transition_count,
     search_attributes = excluded.search_attributes, sort_close = excluded.sort_close
     WHERE visibility.status IS DISTINCT FROM excluded.status
        OR visibility.execution_time IS DISTINCT FROM excluded.execution_time
        OR visibility.close_time IS DISTINCT FROM excluded.close_time
        OR visibility.execution_duration IS DISTINCT FROM excluded.execution_duration
        OR visibility.history_length IS DISTINCT FROM excluded.history_length
        OR visibility.history_size_bytes IS DISTINCT FROM excluded.history_size_bytes
        OR visibility.state_transition_count IS DISTINCT FROM excluded.state_transition_count
        OR visibility.search_attributes IS DISTINCT FROM excluded.search_attributes
        OR visibility.sort_close IS DISTINCT FROM excluded.sort_close";

/// Writes (or rewrites) a run's visibility row.
pub(crate) fn upsert(
    conn: &Connection,
    exec: &Execution,
    registry: &HashMap<String, i32>,
) -> StoreResult<()> {
    let row = row_of(exec, registry);
    let mut statement = conn.prepare_cached(&format!(
        "INSERT INTO visibility (run_id, namespace, workflow_id, workflow_type, status,
             start_time, execution_time, close_time, execution_duration, task_queue,
             history_length, history_size_bytes, state_transition_count, parent_workflow_id,
             parent_run_id, root_workflow_id, root_run_id, search_attributes, sort_close)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19) {UPSERT_SQL_TAIL}"
    ))?;
    statement.execute(params![
        row.run_id,
        row.namespace,
        row.workflow_id,
        row.workflow_type,
        row.status,
        row.start_time,
        row.execution_time,
        row.close_time,
        row.execution_duration,
        row.task_queue,
        row.history_length,
        row.history_size_bytes,
        row.state_transition_count,
        row.parent_workflow_id,
        row.parent_run_id,
        row.root_workflow_id,
        row.root_run_id,
        row.search_attributes,
        row.sort_close,
    ])?;
    Ok(())
}

/// The run's search attributes as the JSON object the compiled queries read.
fn search_attributes_json(exec: &Execution, registry: &HashMap<String, i32>) -> String {
    let mut object = serde_json::Map::new();
    if let Some(attributes) = &exec.visible_search_attributes() {
        for (name, payload) in &attributes.indexed_fields {
            let declared = payload
                .metadata
                .get("type")
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(AttributeType::from_name)
                .or_else(|| {
                    registry
                        .get(name)
                        .and_then(|t| AttributeType::from_proto(*t))
                });
            if let Some(value) = indexed_value(payload, declared) {
                object.insert(name.clone(), value);
            }
        }
    }
    Json::Object(object).to_string()
}

/// A search attribute payload as the JSON value stored for queries; `None` when it holds no
/// value (an attribute removed by an upsert) or cannot be read.
fn indexed_value(payload: &Payload, declared: Option<AttributeType>) -> Option<Json> {
    let value: Json = serde_json::from_slice(&payload.data).ok()?;
    // Untyped SDK APIs send every value as a list; single values come as a one-element list.
    let value = match (value, declared) {
        (Json::Null, _) => return None,
        (Json::Array(items), Some(t)) if t != AttributeType::KeywordList => {
            match <[Json; 1]>::try_from(items) {
                Ok([single]) => single,
                Err(_) => return None,
            }
        }
        (Json::Array(items), _) if items.is_empty() => return None,
        (value, _) => value,
    };
    match declared {
        Some(AttributeType::Datetime) => {
            let text = value.as_str()?;
            let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
            Some(Json::from(at.timestamp_nanos_opt()?))
        }
        Some(AttributeType::KeywordList) => match value {
            Json::String(single) => Some(Json::Array(vec![Json::String(single)])),
            list => Some(list),
        },
        _ => Some(value),
    }
}

/// Where a list page continues: after this row of the default order, or at an offset for
/// queries with their own ORDER BY.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PageToken {
    #[prost(int64, tag = "1")]
    pub sort_close: i64,
    #[prost(int64, tag = "2")]
    pub start_time: i64,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub offset: i64,
}

/// The token of the page after one that ended with `last` (empty when there is none): a
/// keyset position in the default order, an offset with the query's own ORDER BY.
pub(crate) fn next_page_token(
    more: bool,
    filter: &CompiledQuery,
    offset: i64,
    page_size: usize,
    last: PageToken,
) -> Vec<u8> {
    if !more {
        Vec::new()
    } else if filter.order_by.is_some() {
        PageToken {
            offset: offset + page_size as i64,
            ..Default::default()
        }
        .encode_to_vec()
    } else {
        last.encode_to_vec()
    }
}

/// A client's page token (`None` for the first page).
pub(crate) fn decode_page_token(page_token: &[u8]) -> StoreResult<Option<PageToken>> {
    if page_token.is_empty() {
        return Ok(None);
    }
    PageToken::decode(page_token)
        .map(Some)
        .map_err(|_| StoreError::InvalidPageToken("invalid next page token".into()))
}

fn sql_params(values: &[SqlValue]) -> Vec<rusqlite::types::Value> {
    values
        .iter()
        .map(|v| match v {
            SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
            SqlValue::Real(f) => rusqlite::types::Value::Real(*f),
            SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
        })
        .collect()
}

/// One page of runs matching `filter`, newest first unless the query orders otherwise.
pub(crate) fn list(
    conn: &Connection,
    namespace: &str,
    filter: &CompiledQuery,
    page_size: usize,
    page_token: &[u8],
) -> StoreResult<(Vec<Execution>, Vec<u8>)> {
    let token = decode_page_token(page_token)?;
    let mut params = vec![rusqlite::types::Value::Text(namespace.to_string())];
    params.extend(sql_params(&filter.params));
    let mut sql = format!(
        "SELECT (SELECT state FROM executions e WHERE e.run_id = v.run_id),
                sort_close, start_time, run_id
         FROM visibility v WHERE namespace = ? AND ({})",
        filter.where_sql
    );
    let offset = match (&filter.order_by, &token) {
        (Some(order), token) => {
            sql.push_str(&format!(" ORDER BY {order}, run_id DESC LIMIT ? OFFSET ?"));
            token.as_ref().map_or(0, |t| t.offset)
        }
        (None, token) => {
            if let Some(token) = token {
                sql.push_str(" AND (sort_close, start_time, run_id) < (?, ?, ?)");
                params.push(rusqlite::types::Value::Integer(token.sort_close));
                params.push(rusqlite::types::Value::Integer(token.start_time));
                params.push(rusqlite::types::Value::Text(token.run_id.clone()));
            }
            sql.push_str(
                " ORDER BY sort_close DESC, start_time DESC, run_id DESC LIMIT ? OFFSET ?",
            );
            0
        }
    };
    params.push(rusqlite::types::Value::Integer(page_size as i64 + 1));
    params.push(rusqlite::types::Value::Integer(offset));
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut executions = Vec::new();
    let mut last = PageToken::default();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if executions.len() == page_size {
            more = true;
            break;
        }
        let state: Option<Vec<u8>> = row.get(0)?;
        last = PageToken {
            sort_close: row.get(1)?,
            start_time: row.get(2)?,
            run_id: row.get(3)?,
            offset: 0,
        };
        if let Some(state) = state {
            executions.push(
                Execution::decode(&*state)
                    .map_err(|e| StoreError::Corrupt(format!("execution state: {e}")))?,
            );
        }
    }
    let next = next_page_token(more, filter, offset, page_size, last);
    Ok((executions, next))
}

/// How many runs match `filter`, and with GROUP BY ExecutionStatus the count per status.
pub(crate) fn count(
    conn: &Connection,
    namespace: &str,
    filter: &CompiledQuery,
) -> StoreResult<(i64, Vec<(i32, i64)>)> {
    let mut params = vec![rusqlite::types::Value::Text(namespace.to_string())];
    params.extend(sql_params(&filter.params));
    if filter.group_by_status {
        let sql = format!(
            "SELECT status, count(*) FROM visibility WHERE namespace = ? AND ({})
             GROUP BY status ORDER BY status",
            filter.where_sql
        );
        let mut statement = conn.prepare(&sql)?;
        let groups = statement
            .query_map(rusqlite::params_from_iter(params), |row| {
                Ok((row.get::<_, i32>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let total = groups.iter().map(|(_, n)| n).sum();
        return Ok((total, groups));
    }
    let sql = format!(
        "SELECT count(*) FROM visibility WHERE namespace = ? AND ({})",
        filter.where_sql
    );
    let total = conn.query_row(&sql, rusqlite::params_from_iter(params), |row| row.get(0))?;
    Ok((total, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_on_an_indexed_custom_attribute_use_its_index() {
        let conn = Connection::open_in_memory().expect("memory database");
        conn.execute_batch(SCHEMA).expect("schema");
        register_functions(&conn).expect("functions");
        index_search_attribute(&conn, "Customer \"Tier\"").expect("index");
        let custom = |name: &str| (name == "Customer \"Tier\"").then_some(AttributeType::Keyword);
        let filter = temper_query::parse_and_compile("`Customer \"Tier\"` = 'gold'", &custom)
            .expect("compiles");
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT run_id FROM visibility WHERE namespace = 'default' AND ({})",
                filter.where_sql
            ))
            .expect("plan")
            .query_map(rusqlite::params_from_iter(sql_params(&filter.params)), |row| {
                row.get::<_, String>(3)
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan.iter().any(|step| step.contains("visibility_sa_")),
            "{plan:?}"
        );
    }
}

//! A write group as a handful of statements. Each kind of row the group writes (fences
//! checked, runs inserted, runs updated, history events, visibility rows, current-run
//! pointers, signal request ids) goes to PostgreSQL as arrays in one statement, whatever the
//! group's size, so a group costs PostgreSQL about seven statements to plan and run instead of
//! about six per run; tokio-postgres pipelines them, so the group is one round trip plus the
//! commit. Which write lost a check (a fence, a stale version, a running run holding the
//! workflow id, a retried signal) is read off the rows each statement returns; a group where
//! any did is rolled back by the caller and committed again request by request, which tells
//! each request its own outcome (`postgres.rs`).
//!
//! Statements on arrays cannot touch one row twice (`ON CONFLICT DO UPDATE` refuses it), so
//! only groups whose writes touch distinct runs and distinct current-run pointers are batched
//! ([`batchable`]); the others go request by request.

use std::collections::{HashMap, HashSet};

use prost::Message;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement, Transaction};

use crate::postgres::STATUS_RUNNING;
use crate::visibility::{self, VisibilityRow};
use crate::{ExecutionWrite, StoreResult, needs_registry};

/// The batched statements, prepared once on the writer's connection.
pub(crate) struct GroupStatements {
    fences: Statement,
    insert_runs: Statement,
    update_runs: Statement,
    events: Statement,
    visibility: Statement,
    current: Statement,
    signals: Statement,
}

impl GroupStatements {
    pub(crate) async fn prepare(client: &Client) -> StoreResult<Self> {
        Ok(GroupStatements {
            fences: client
                .prepare(
                    "SELECT shard_id, range_id FROM shards
                     WHERE (shard_id, range_id) IN
                         (SELECT * FROM UNNEST($1::int[], $2::bigint[]))
                     FOR KEY SHARE",
                )
                .await?,
            insert_runs: client
                .prepare(
                    "INSERT INTO executions
                         (run_id, namespace, workflow_id, status, db_version, state, wake_at,
                          shard)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[],
                         $5::bigint[], $6::bytea[], $7::bigint[], $8::int[])
                     ON CONFLICT (run_id) DO NOTHING RETURNING run_id",
                )
                .await?,
            update_runs: client
                .prepare(
                    "UPDATE executions AS e SET status = u.status, db_version = u.db_version,
                         state = u.state, wake_at = u.wake_at
                     FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bytea[],
                         $5::bigint[], $6::bigint[])
                         AS u(run_id, status, db_version, state, expected, wake_at)
                     WHERE e.run_id = u.run_id AND e.db_version = u.expected
                     RETURNING e.run_id",
                )
                .await?,
            // A group that loses a check is rolled back, but its events were sent alongside
            // (pipelined), so they must not fail on existing ids.
            events: client
                .prepare(
                    "INSERT INTO history_events (run_id, event_id, event)
                     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bytea[])
                     ON CONFLICT DO NOTHING",
                )
                .await?,
            visibility: client
                .prepare(&format!(
                    "INSERT INTO visibility (run_id, namespace, workflow_id, workflow_type,
                         status, start_time, execution_time, close_time, execution_duration,
                         task_queue, history_length, history_size_bytes, state_transition_count,
                         parent_workflow_id, parent_run_id, root_workflow_id, root_run_id,
                         search_attributes, sort_close)
                     SELECT run_id, namespace, workflow_id, workflow_type, status, start_time,
                         execution_time, close_time, execution_duration, task_queue,
                         history_length, history_size_bytes, state_transition_count,
                         parent_workflow_id, parent_run_id, root_workflow_id, root_run_id,
                         search_attributes::jsonb, sort_close
                     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[],
                         $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::text[],
                         $16::text[], $17::text[], $18::text[], $19::bigint[])
                         AS v(run_id, namespace, workflow_id, workflow_type, status, start_time,
                         execution_time, close_time, execution_duration, task_queue,
                         history_length, history_size_bytes, state_transition_count,
                         parent_workflow_id, parent_run_id, root_workflow_id, root_run_id,
                         search_attributes, sort_close)
                     {}",
                    visibility::UPSERT_SQL_TAIL
                ))
                .await?,
            // Never displace a running run (see the SQLite backend), nor any run for the
            // brand-new writes ($5, their run ids).
            current: client
                .prepare(
                    "INSERT INTO current_executions AS c (namespace, workflow_id, run_id)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
                     ON CONFLICT (namespace, workflow_id) DO UPDATE SET run_id = EXCLUDED.run_id
                     WHERE (c.run_id = EXCLUDED.run_id OR NOT EXISTS (
                         SELECT 1 FROM executions e WHERE e.run_id = c.run_id AND e.status = $4))
                         AND NOT EXCLUDED.run_id = ANY($5::text[])
                     RETURNING run_id",
                )
                .await?,
            // Returns the ids it recorded: one missing means the run had it already.
            signals: client
                .prepare(
                    "INSERT INTO signal_requests (run_id, request_id)
                     SELECT * FROM UNNEST($1::text[], $2::text[])
                     ON CONFLICT DO NOTHING RETURNING run_id",
                )
                .await?,
        })
    }
}

/// True when no run and no current-run pointer is written twice in `writes` (a group's writes,
/// all requests together).
pub(crate) fn batchable<'a>(writes: impl Iterator<Item = &'a ExecutionWrite>) -> bool {
    let mut runs = HashSet::new();
    let mut pointers = HashSet::new();
    for write in writes {
        let exec = &write.execution;
        if !runs.insert(exec.run_id.as_str()) {
            return false;
        }
        if write.make_current && !pointers.insert((&exec.namespace, &exec.workflow_id)) {
            return false;
        }
    }
    true
}

/// Applies every write of the group in `tx`; true when each passed its checks (else the
/// caller rolls back).
pub(crate) async fn apply_group(
    tx: &Transaction<'_>,
    statements: &GroupStatements,
    writes: &[&ExecutionWrite],
) -> StoreResult<bool> {
    let rows = GroupRows::of(tx, writes).await?;
    let (fences, inserted, updated, (), (), current, signals) = tokio::try_join!(
        rows.check_fences(tx, statements),
        rows.insert_runs(tx, statements),
        rows.update_runs(tx, statements),
        rows.append_events(tx, statements),
        rows.upsert_visibility(tx, statements),
        rows.make_current(tx, statements),
        rows.record_signals(tx, statements),
    )?;
    let written: HashSet<&str> = inserted
        .iter()
        .chain(&updated)
        .map(String::as_str)
        .collect();
    let made_current: HashSet<&str> = current.iter().map(String::as_str).collect();
    let mut signals_recorded: HashMap<&str, usize> = HashMap::new();
    for run_id in &signals {
        *signals_recorded.entry(run_id.as_str()).or_default() += 1;
    }
    Ok(writes.iter().all(|write| {
        let run_id = write.execution.run_id.as_str();
        write
            .fence
            .is_none_or(|f| fences.contains(&(f.shard_id, f.range_id)))
            && written.contains(run_id)
            && (!write.make_current || made_current.contains(run_id))
            && signals_recorded.get(run_id).copied().unwrap_or(0) == write.signal_request_ids.len()
    }))
}

/// The group's writes, with what each statement needs computed once.
struct GroupRows<'a> {
    writes: &'a [&'a ExecutionWrite],
    /// Each run's encoded state.
    states: Vec<Vec<u8>>,
    visibility: Vec<VisibilityRow>,
}

type Params<'p> = Vec<&'p (dyn ToSql + Sync)>;

impl<'a> GroupRows<'a> {
    /// Encodes the states and builds the visibility rows (reading a namespace's search
    /// attribute registry when a run's attributes do not carry their types).
    async fn of(tx: &Transaction<'_>, writes: &'a [&'a ExecutionWrite]) -> StoreResult<Self> {
        let mut registries = HashMap::new();
        let mut visibility = Vec::with_capacity(writes.len());
        for write in writes {
            let exec = &write.execution;
            if needs_registry(exec) && !registries.contains_key(&exec.namespace) {
                let registry =
                    crate::postgres_writer::namespace_search_attributes(tx, &exec.namespace);
                registries.insert(exec.namespace.clone(), registry.await?);
            }
            let registry = registries.get(&exec.namespace).cloned().unwrap_or_default();
            visibility.push(visibility::row_of(exec, &registry));
        }
        Ok(GroupRows {
            writes,
            states: writes.iter().map(|w| w.execution.encode_to_vec()).collect(),
            visibility,
        })
    }

    /// The (shard, range id) pairs still held, of those the writes carry.
    async fn check_fences(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<HashSet<(i32, i64)>> {
        let fences: HashSet<(i32, i64)> = self
            .writes
            .iter()
            .filter_map(|w| w.fence.map(|f| (f.shard_id, f.range_id)))
            .collect();
        if fences.is_empty() {
            return Ok(fences);
        }
        let (shards, ranges): (Vec<i32>, Vec<i64>) = fences.into_iter().unzip();
        let rows = tx.query(&statements.fences, &[&shards, &ranges]).await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Creates the new runs; the run ids created.
    async fn insert_runs(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<Vec<String>> {
        let new = |w: &&ExecutionWrite| w.expected_db_version == 0;
        let (mut run_ids, mut namespaces, mut workflow_ids) = (vec![], vec![], vec![]);
        let (mut statuses, mut versions, mut states, mut wake_ats) =
            (vec![], vec![], vec![], vec![]);
        let mut shards = vec![];
        for (write, state) in self.writes.iter().zip(&self.states).filter(|(w, _)| new(w)) {
            let exec = &write.execution;
            run_ids.push(exec.run_id.as_str());
            namespaces.push(exec.namespace.as_str());
            workflow_ids.push(exec.workflow_id.as_str());
            statuses.push(i64::from(exec.status));
            versions.push(exec.db_version);
            states.push(state.as_slice());
            wake_ats.push(exec.next_wakeup());
            shards.push(write.shard);
        }
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Params = vec![
            &run_ids,
            &namespaces,
            &workflow_ids,
            &statuses,
            &versions,
            &states,
            &wake_ats,
            &shards,
        ];
        returned_ids(tx, &statements.insert_runs, &params).await
    }

    /// Updates the runs whose stored version is the one their writer read; the run ids updated.
    async fn update_runs(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<Vec<String>> {
        let (mut run_ids, mut statuses, mut versions) = (vec![], vec![], vec![]);
        let (mut states, mut expected, mut wake_ats) = (vec![], vec![], vec![]);
        let updates = self.writes.iter().zip(&self.states);
        for (write, state) in updates.filter(|(w, _)| w.expected_db_version != 0) {
            let exec = &write.execution;
            run_ids.push(exec.run_id.as_str());
            statuses.push(i64::from(exec.status));
            versions.push(exec.db_version);
            states.push(state.as_slice());
            expected.push(write.expected_db_version);
            wake_ats.push(exec.next_wakeup());
        }
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Params = vec![
            &run_ids, &statuses, &versions, &states, &expected, &wake_ats,
        ];
        returned_ids(tx, &statements.update_runs, &params).await
    }

    async fn append_events(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<()> {
        let (mut run_ids, mut event_ids, mut events) = (vec![], vec![], vec![]);
        for write in self.writes {
            for event in &write.new_events {
                run_ids.push(write.execution.run_id.as_str());
                event_ids.push(event.event_id);
                events.push(event.bytes.as_ref());
            }
        }
        if run_ids.is_empty() {
            return Ok(());
        }
        tx.execute(&statements.events, &[&run_ids, &event_ids, &events])
            .await?;
        Ok(())
    }

    async fn upsert_visibility(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<()> {
        let rows = &self.visibility;
        let text = |f: fn(&VisibilityRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
        let int = |f: fn(&VisibilityRow) -> i64| rows.iter().map(f).collect::<Vec<_>>();
        let optional_int =
            |f: fn(&VisibilityRow) -> Option<i64>| rows.iter().map(f).collect::<Vec<_>>();
        let optional_text =
            |f: fn(&VisibilityRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        let columns = (
            [
                text(|r| &r.run_id),
                text(|r| &r.namespace),
                text(|r| &r.workflow_id),
                text(|r| &r.workflow_type),
            ],
            [
                int(|r| r.status),
                int(|r| r.start_time),
                int(|r| r.execution_time),
            ],
            [
                optional_int(|r| r.close_time),
                optional_int(|r| r.execution_duration),
            ],
            text(|r| &r.task_queue),
            [
                int(|r| r.history_length),
                int(|r| r.history_size_bytes),
                int(|r| r.state_transition_count),
            ],
            [
                optional_text(|r| r.parent_workflow_id.as_deref()),
                optional_text(|r| r.parent_run_id.as_deref()),
            ],
            [
                text(|r| &r.root_workflow_id),
                text(|r| &r.root_run_id),
                text(|r| &r.search_attributes),
            ],
            int(|r| r.sort_close),
        );
        let (ids, times, closes, queue, sizes, parents, roots, sort_close) = &columns;
        let params: Params = vec![
            &ids[0],
            &ids[1],
            &ids[2],
            &ids[3],
            &times[0],
            &times[1],
            &times[2],
            &closes[0],
            &closes[1],
            queue,
            &sizes[0],
            &sizes[1],
            &sizes[2],
            &parents[0],
            &parents[1],
            &roots[0],
            &roots[1],
            &roots[2],
            sort_close,
        ];
        tx.execute(&statements.visibility, &params).await?;
        Ok(())
    }

    /// Points the workflow ids at the runs written with `make_current`; the run ids pointed at.
    async fn make_current(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<Vec<String>> {
        let (mut namespaces, mut workflow_ids, mut run_ids) = (vec![], vec![], vec![]);
        let mut brand_new = vec![];
        for write in self.writes.iter().filter(|w| w.make_current) {
            let exec = &write.execution;
            namespaces.push(exec.namespace.as_str());
            workflow_ids.push(exec.workflow_id.as_str());
            run_ids.push(exec.run_id.as_str());
            if write.brand_new {
                brand_new.push(exec.run_id.as_str());
            }
        }
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Params = vec![
            &namespaces,
            &workflow_ids,
            &run_ids,
            &STATUS_RUNNING,
            &brand_new,
        ];
        returned_ids(tx, &statements.current, &params).await
    }

    /// Records the signals' request ids; a run id per id recorded.
    async fn record_signals(
        &self,
        tx: &Transaction<'_>,
        statements: &GroupStatements,
    ) -> StoreResult<Vec<String>> {
        let (mut run_ids, mut request_ids) = (vec![], vec![]);
        for write in self.writes {
            for request_id in &write.signal_request_ids {
                run_ids.push(write.execution.run_id.as_str());
                request_ids.push(request_id.as_str());
            }
        }
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        returned_ids(tx, &statements.signals, &[&run_ids, &request_ids]).await
    }
}

/// Runs a statement that returns run ids; those ids.
async fn returned_ids(
    tx: &Transaction<'_>,
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<String>> {
    let rows = tx.query(statement, params).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

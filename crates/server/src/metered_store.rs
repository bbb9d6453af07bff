//! The store as the server uses it: every call timed and counted under Temporal's
//! persistence metric names (`persistence_requests`, `persistence_latency`,
//! `persistence_error_with_type`; visibility reads as `visibility_persistence_*` with the
//! plugin named as Temporal names it), with
//! Temporal's operation names where one exists. A decorator, so the backends stay unaware of
//! metrics.

use std::sync::Arc;
use std::time::Instant;

use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;
use temper_query::{AttributeType, CompiledQuery, Dialect};
use temper_store::{
    ExecutionCount, ExecutionPage, ExecutionWrite, NamespaceRecord, NodeRecord, RecordKind,
    ShardFence, ShardLease, Store, StoreFuture, StoredRecord,
};

use crate::metrics::{self, UNKNOWN_NAMESPACE};

pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(MeteredStore { inner })
    }
}

/// `future`, timed and counted as `operation` on `namespace`.
fn timed<'a, T: 'a>(
    operation: &'static str,
    namespace: &str,
    future: StoreFuture<'a, T>,
) -> StoreFuture<'a, T> {
    let namespace = namespace.to_string();
    Box::pin(async move {
        let started = Instant::now();
        let result = future.await;
        let error = result.as_ref().err();
        metrics::persistence(operation, &namespace, started.elapsed(), error);
        result
    })
}

/// `future`, timed and counted as a visibility read.
fn timed_visibility<'a, T: 'a>(
    operation: &'static str,
    dialect: Dialect,
    future: StoreFuture<'a, T>,
) -> StoreFuture<'a, T> {
    // Temporal's plugin names for the same databases.
    let plugin = match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres { .. } => "postgres12",
    };
    Box::pin(async move {
        let started = Instant::now();
        let result = future.await;
        metrics::visibility(operation, plugin, started.elapsed());
        result
    })
}

impl Store for MeteredStore {
    fn write(&self, writes: Vec<ExecutionWrite>) -> StoreFuture<'_, ()> {
        let creates = writes.iter().any(|w| w.expected_db_version == 0);
        let operation = if creates {
            "CreateWorkflowExecution"
        } else {
            "UpdateWorkflowExecution"
        };
        let namespace = writes.first().map_or(UNKNOWN_NAMESPACE.to_string(), |w| {
            w.execution.namespace.clone()
        });
        timed(operation, &namespace, self.inner.write(writes))
    }

    fn current_run(&self, namespace: &str, workflow_id: &str) -> StoreFuture<'_, Option<String>> {
        let call = self.inner.current_run(namespace, workflow_id);
        timed("GetCurrentExecution", namespace, call)
    }

    fn load_execution(&self, run_id: &str) -> StoreFuture<'_, Option<Execution>> {
        let call = self.inner.load_execution(run_id);
        timed("GetWorkflowExecution", UNKNOWN_NAMESPACE, call)
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> StoreFuture<'_, Vec<HistoryEvent>> {
        let call = self.inner.read_history(run_id, first_event_id, max_events);
        timed("ReadHistoryBranch", UNKNOWN_NAMESPACE, call)
    }

    fn open_executions<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_run_id: &str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Execution>> {
        let call = self.inner.open_executions(shards, after_run_id, limit);
        timed("ListConcreteExecutions", UNKNOWN_NAMESPACE, call)
    }

    fn wakeups<'a>(
        &'a self,
        shards: Option<&'a [i32]>,
        after_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, String)>> {
        // Temporal's name for reading due timer tasks.
        let call = self.inner.wakeups(shards, after_ms, until_ms, limit);
        timed("GetHistoryTasks", UNKNOWN_NAMESPACE, call)
    }

    fn namespaces(&self) -> StoreFuture<'_, Vec<NamespaceRecord>> {
        timed("ListNamespaces", UNKNOWN_NAMESPACE, self.inner.namespaces())
    }

    fn create_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        let name = namespace.name.clone();
        timed(
            "CreateNamespace",
            &name,
            self.inner.create_namespace(namespace),
        )
    }

    fn update_namespace(&self, namespace: NamespaceRecord) -> StoreFuture<'_, ()> {
        let name = namespace.name.clone();
        timed(
            "UpdateNamespace",
            &name,
            self.inner.update_namespace(namespace),
        )
    }

    fn delete_namespace(&self, name: &str) -> StoreFuture<'_, ()> {
        timed("DeleteNamespace", name, self.inner.delete_namespace(name))
    }

    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn index_search_attribute(
        &self,
        namespace: &str,
        name: &str,
        ty: AttributeType,
    ) -> StoreFuture<'_, ()> {
        let call = self.inner.index_search_attribute(namespace, name, ty);
        timed("AddSearchAttributes", namespace, call)
    }

    fn list_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
        page_size: usize,
        page_token: &[u8],
    ) -> StoreFuture<'_, ExecutionPage> {
        let call = self
            .inner
            .list_executions(namespace, filter, page_size, page_token);
        timed_visibility("ListWorkflowExecutions", self.inner.dialect(), call)
    }

    fn count_executions(
        &self,
        namespace: &str,
        filter: &CompiledQuery,
    ) -> StoreFuture<'_, ExecutionCount> {
        let call = self.inner.count_executions(namespace, filter);
        timed_visibility("CountWorkflowExecutions", self.inner.dialect(), call)
    }

    fn delete_closed_runs(
        &self,
        namespace: &str,
        closed_before_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<String>> {
        let call = self
            .inner
            .delete_closed_runs(namespace, closed_before_ms, limit);
        timed("DeleteWorkflowExecutions", namespace, call)
    }

    fn delete_run(&self, namespace: &str, run_id: &str) -> StoreFuture<'_, bool> {
        let call = self.inner.delete_run(namespace, run_id);
        timed("DeleteWorkflowExecution", namespace, call)
    }

    fn records(&self, kind: RecordKind) -> StoreFuture<'_, Vec<StoredRecord>> {
        timed("ListRecords", UNKNOWN_NAMESPACE, self.inner.records(kind))
    }

    fn save_record(&self, record: StoredRecord, expected_version: i64) -> StoreFuture<'_, ()> {
        let namespace = record.namespace.clone();
        let call = self.inner.save_record(record, expected_version);
        timed("SaveRecord", &namespace, call)
    }

    fn delete_record(&self, kind: RecordKind, namespace: &str, id: &str) -> StoreFuture<'_, ()> {
        let call = self.inner.delete_record(kind, namespace, id);
        timed("DeleteRecord", namespace, call)
    }

    fn group_commits(&self) -> (u64, u64) {
        self.inner.group_commits()
    }

    fn probe_commit(&self, now_ms: i64) -> StoreFuture<'_, ()> {
        let call = self.inner.probe_commit(now_ms);
        timed("HealthProbe", UNKNOWN_NAMESPACE, call)
    }

    fn load_clock_offset(&self) -> StoreFuture<'_, i64> {
        timed(
            "GetClockOffset",
            UNKNOWN_NAMESPACE,
            self.inner.load_clock_offset(),
        )
    }

    fn save_clock_offset(&self, offset_ms: i64) -> StoreFuture<'_, ()> {
        let call = self.inner.save_clock_offset(offset_ms);
        timed("SaveClockOffset", UNKNOWN_NAMESPACE, call)
    }

    // Temporal's names for the shard and membership operations.

    fn shard_count(&self, proposed: i32) -> StoreFuture<'_, i32> {
        let call = self.inner.shard_count(proposed);
        timed("GetClusterMetadata", UNKNOWN_NAMESPACE, call)
    }

    fn heartbeat_node(&self, node: NodeRecord) -> StoreFuture<'_, ()> {
        let call = self.inner.heartbeat_node(node);
        timed("UpsertClusterMembership", UNKNOWN_NAMESPACE, call)
    }

    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>> {
        timed("GetClusterMembers", UNKNOWN_NAMESPACE, self.inner.nodes())
    }

    fn forget_nodes(&self, silent_since_ms: i64) -> StoreFuture<'_, u64> {
        let call = self.inner.forget_nodes(silent_since_ms);
        timed("PruneClusterMembership", UNKNOWN_NAMESPACE, call)
    }

    fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        predecessor: Option<&str>,
    ) -> StoreFuture<'_, Option<ShardLease>> {
        let call = self
            .inner
            .acquire_shard(shard_id, owner, now_ms, lease_until_ms, predecessor);
        timed("GetOrCreateShard", UNKNOWN_NAMESPACE, call)
    }

    fn renew_shards(
        &self,
        owner: &str,
        held: Vec<ShardFence>,
        lease_until_ms: i64,
    ) -> StoreFuture<'_, Vec<i32>> {
        let call = self.inner.renew_shards(owner, held, lease_until_ms);
        timed("UpdateShard", UNKNOWN_NAMESPACE, call)
    }

    fn release_shard(&self, owner: &str, held: ShardFence) -> StoreFuture<'_, ()> {
        let call = self.inner.release_shard(owner, held);
        timed("UpdateShard", UNKNOWN_NAMESPACE, call)
    }

    fn shard_leases(&self) -> StoreFuture<'_, Vec<ShardLease>> {
        timed("ListShards", UNKNOWN_NAMESPACE, self.inner.shard_leases())
    }
}

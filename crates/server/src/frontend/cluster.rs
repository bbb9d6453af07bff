//! What the frontend says about the server itself rather than about runs: `GetClusterInfo`
//! (the `temporal operator cluster describe` answer) and `ListTaskQueuePartitions`. Temper is
//! one node with one history shard and one partition per task queue, and answers as
//! Temporal's dev server does for that shape.

use std::net::SocketAddr;

use temper_api::proto::taskqueue::v1::{TaskQueue, TaskQueuePartitionMetadata};
use temper_api::proto::workflowservice::v1::{
    GetClusterInfoResponse, ListTaskQueuePartitionsResponse,
};
use temper_engine::limits::MAX_ID_LENGTH;
use temper_query::Dialect;
use tonic::Status;

use crate::errors;
use crate::namespaces::{CLUSTER_NAME, DEFAULT_NAMESPACE};

use super::{Frontend, SERVER_VERSION};

/// The client versions Temporal's frontend accepts (its `headers.SupportedClients`).
const SUPPORTED_CLIENTS: &[(&str, &str)] = &[
    ("temporal-go", "<2.0.0"),
    ("temporal-java", "<2.0.0"),
    ("temporal-php", "<2.0.0"),
    ("temporal-typescript", "<2.0.0"),
    ("temporal-cli", "<2.0.0"),
    ("temporal-server", "<2.0.0"),
    ("temporal-ui", "<3.0.0"),
    ("Nexus-go-sdk", "<2.0.0"),
];

/// Failover versions of a single-cluster setup, as Temporal's dev server reports them.
const INITIAL_FAILOVER_VERSION: i64 = 1;
const FAILOVER_VERSION_INCREMENT: i64 = 10;

/// Task queue names with this prefix name partitions, which Temporal refuses here.
const RESERVED_TASK_QUEUE_PREFIX: &str = "/_sys/";

/// The store's name as Temporal names its SQL persistence plugins (`sqlite`, `postgres12`),
/// so tools that look at it see a kind they know. Temper's visibility lives in the same
/// database, so it is the visibility store's name too.
fn store_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres { .. } => "postgres12",
    }
}

impl Frontend {
    pub(super) fn cluster_info(&self) -> Result<GetClusterInfoResponse, Status> {
        let store = store_name(self.history.store().dialect());
        Ok(GetClusterInfoResponse {
            supported_clients: SUPPORTED_CLIENTS
                .iter()
                .map(|(client, versions)| (client.to_string(), versions.to_string()))
                .collect(),
            server_version: SERVER_VERSION.to_string(),
            cluster_id: self.cluster_id()?,
            cluster_name: CLUSTER_NAME.to_string(),
            history_shard_count: self.history.shard_count(),
            persistence_store: store.to_string(),
            visibility_store: store.to_string(),
            initial_failover_version: INITIAL_FAILOVER_VERSION,
            failover_version_increment: FAILOVER_VERSION_INCREMENT,
            // Temporal's dev server leaves it unset too (it is filled by a version check
            // against Temporal's servers).
            version_info: None,
        })
    }

    /// Temporal keeps a cluster id in its cluster metadata. Temper derives one from the
    /// `default` namespace's id, which the store keeps, so it is stable for the life of the
    /// database; written as a version-8 UUID, so it is not the namespace id's own string.
    fn cluster_id(&self) -> Result<String, Status> {
        let described = self.namespaces.describe(DEFAULT_NAMESPACE)?;
        let namespace_id = described.namespace_info.map(|info| info.id);
        let bytes = namespace_id
            .and_then(|id| uuid::Uuid::parse_str(&id).ok())
            .map(uuid::Uuid::into_bytes)
            .unwrap_or_default();
        Ok(uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .to_string())
    }

    /// One partition per task-queue type, owned by this node (`local` is the address the
    /// client reached; Temporal names its matching node's host and port).
    pub(super) fn task_queue_partitions(
        &self,
        namespace: &str,
        task_queue: Option<&TaskQueue>,
        local: Option<SocketAddr>,
    ) -> Result<ListTaskQueuePartitionsResponse, Status> {
        self.namespaces.require(namespace)?;
        let name = check_root_task_queue(task_queue)?;
        let partition = TaskQueuePartitionMetadata {
            key: name.to_string(),
            owner_host_name: local.map_or_else(|| "localhost".to_string(), |a| a.to_string()),
        };
        Ok(ListTaskQueuePartitionsResponse {
            activity_task_queue_partitions: vec![partition.clone()],
            workflow_task_queue_partitions: vec![partition],
        })
    }
}

/// Temporal's checks of a task queue named as a whole queue (not a partition), with its
/// messages.
fn check_root_task_queue(task_queue: Option<&TaskQueue>) -> Result<&str, Status> {
    let queue = task_queue.ok_or_else(|| errors::invalid("taskQueue is not set"))?;
    if queue.name.is_empty() {
        return Err(errors::invalid("missing task queue name"));
    }
    if queue.name.len() > MAX_ID_LENGTH {
        return Err(errors::invalid("taskQueue length exceeds limit"));
    }
    if queue.name.starts_with(RESERVED_TASK_QUEUE_PREFIX) {
        return Err(errors::invalid(format!(
            "task queue name cannot start with reserved prefix {RESERVED_TASK_QUEUE_PREFIX}"
        )));
    }
    Ok(&queue.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(name: &str) -> TaskQueue {
        TaskQueue {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn task_queue_names_are_checked_as_temporal_checks_them() {
        let message = |q: Option<&TaskQueue>| {
            check_root_task_queue(q)
                .err()
                .map(|s| s.message().to_string())
        };
        assert_eq!(message(None).as_deref(), Some("taskQueue is not set"));
        assert_eq!(
            message(Some(&queue(""))).as_deref(),
            Some("missing task queue name")
        );
        assert_eq!(
            message(Some(&queue(&"q".repeat(MAX_ID_LENGTH + 1)))).as_deref(),
            Some("taskQueue length exceeds limit")
        );
        assert_eq!(
            message(Some(&queue("/_sys/q/1"))).as_deref(),
            Some("task queue name cannot start with reserved prefix /_sys/")
        );
        assert_eq!(check_root_task_queue(Some(&queue("q"))).ok(), Some("q"));
    }

    #[test]
    fn store_names_are_temporal_plugin_names() {
        assert_eq!(store_name(Dialect::Sqlite), "sqlite");
        assert_eq!(
            store_name(Dialect::Postgres { first_parameter: 2 }),
            "postgres12"
        );
    }
}

//! Registry changes seen at once on every node of a spread cluster. A call that changes the
//! namespaces (and their search attributes), the Nexus endpoints, a worker deployment's
//! routing or a task queue's configuration is answered only after the other serving nodes
//! have read them again (`ClusterService/Refresh`), so a client can use what it just
//! registered through any node, as on one node: after `SetWorkerDeploymentCurrentVersion`
//! every run owner routes its runs' next tasks (and decides whether they leave the old
//! version's sticky queue) by the new version, as Temporal answers it only once the task
//! queues have the new routing. Every node still reads them each second
//! (`Namespaces::keep_refreshed` and kin), for a node this call missed (unreachable at that
//! moment, or joining).

use std::time::Duration;

use temper_api::cluster::RefreshRequest;
use tokio::task::JoinSet;

use super::Forwarder;

/// The calls that change a registry every node keeps in memory.
const REGISTRY_CHANGES: &[&str] = &[
    "/temporal.api.workflowservice.v1.WorkflowService/RegisterNamespace",
    "/temporal.api.workflowservice.v1.WorkflowService/UpdateNamespace",
    "/temporal.api.workflowservice.v1.WorkflowService/DeprecateNamespace",
    "/temporal.api.operatorservice.v1.OperatorService/DeleteNamespace",
    "/temporal.api.operatorservice.v1.OperatorService/AddSearchAttributes",
    "/temporal.api.operatorservice.v1.OperatorService/RemoveSearchAttributes",
    "/temporal.api.operatorservice.v1.OperatorService/CreateNexusEndpoint",
    "/temporal.api.operatorservice.v1.OperatorService/UpdateNexusEndpoint",
    "/temporal.api.operatorservice.v1.OperatorService/DeleteNexusEndpoint",
    "/temporal.api.workflowservice.v1.WorkflowService/SetWorkerDeploymentCurrentVersion",
    "/temporal.api.workflowservice.v1.WorkflowService/SetWorkerDeploymentRampingVersion",
    "/temporal.api.workflowservice.v1.WorkflowService/SetWorkerDeploymentManager",
    "/temporal.api.workflowservice.v1.WorkflowService/CreateWorkerDeployment",
    "/temporal.api.workflowservice.v1.WorkflowService/CreateWorkerDeploymentVersion",
    "/temporal.api.workflowservice.v1.WorkflowService/DeleteWorkerDeployment",
    "/temporal.api.workflowservice.v1.WorkflowService/DeleteWorkerDeploymentVersion",
    "/temporal.api.workflowservice.v1.WorkflowService/UpdateWorkerDeploymentVersionMetadata",
    "/temporal.api.workflowservice.v1.WorkflowService/UpdateTaskQueueConfig",
];

/// How long a node waits for another to read its registries again before it answers anyway.
const REFRESH_WAIT: Duration = Duration::from_secs(2);

/// True when the call `path` may change a registry every node keeps in memory.
pub fn changes_registries(path: &str) -> bool {
    REGISTRY_CHANGES.contains(&path)
}

impl Forwarder {
    /// Has every other serving node read its registries again; one that does not answer in
    /// [`REFRESH_WAIT`] reads them at its next periodic refresh.
    pub async fn refresh_other_nodes(&self) {
        let mut calls = JoinSet::new();
        for address in self.shards.other_owner_addresses() {
            let Ok(channel) = self.channel(&address) else {
                continue;
            };
            let mut client = self.node_client(channel);
            calls.spawn(async move {
                let call = temper_api::request_gate::ungated(client.refresh(RefreshRequest {}));
                match tokio::time::timeout(REFRESH_WAIT, call).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(status)) => {
                        tracing::debug!(address, error = %status.message(), "a node did not refresh");
                    }
                    Err(_) => tracing::debug!(address, "a node did not refresh in time"),
                }
            });
        }
        while calls.join_next().await.is_some() {}
    }
}

//! Tasks across the nodes of a spread cluster (the default on PostgreSQL).
//!
//! Task queues are spread as runs are: a queue lives with the owner of the shard its
//! (namespace, name) hashes to (a sticky queue by its own name), and polls are routed there
//! (`route.rs`). The owner of a run offers each ready task of the run to its queue's owner
//! ([`Peers::offer`], `OfferTask`): a reference, as every queued task is; a node queues only
//! tasks for queues it holds, and refuses the others (`UNAVAILABLE`, so the offer is tried
//! again). When the queue's owner matches one to a poller it asks the run's owner to start
//! it ([`Peers::start`], `StartTask`), which answers with the poll's response, or with
//! nothing when the task is no longer current (the queue's owner drops it and polls on). So
//! a run's state is only ever written by its owner, and a task's start is a write of its run
//! like any other, fenced by the owner's lease. Standalone activities live with the
//! coordinator (the owner of shard 0), which offers their attempts the same way and starts
//! them. A node whose offer fails retries until it succeeds or a shard changes hands; then
//! every node offers every ready task of its runs again (`history/shard_moves.rs`), as the
//! queues of the shards that moved are gone. (After Temporal's history → matching `AddTask`
//! and matching → history `RecordTaskStarted`.)
//! A run's signals and cancel requests to a workflow of another node's shard are delivered
//! by that node ([`Peers::deliver_external`]); the sending run records the outcome. A child
//! that closed on one node has its parent's owner record it ([`Peers::sync_children`]), and
//! a parent that closed has each child's owner apply its parent-close policy
//! ([`Peers::apply_parent_close_policy`]). A child created in its parent's write on another
//! shard than the parent's is published by its own shard's owner ([`Peers::adopt_run`]).
//! A handler workflow's close reaches the Nexus operation's caller's owner
//! ([`Peers::deliver_nexus_callback`]).

use std::sync::Arc;
use std::time::Duration;

use temper_api::cluster::{
    AdoptRunRequest, ApplyParentClosePolicyRequest, DeliverExternalRequest,
    DeliverExternalResponse, DeliverNexusCallbackRequest, OfferTaskRequest, RemoteTask,
    RemoteTaskKind, StartTaskRequest, SyncChildrenRequest,
};
use temper_api::request_gate::ungated;
use tonic::Status;

use super::Forwarder;
use super::Shards;

/// A boxed future, for [`PeerHost`]'s methods.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What answers the calls other nodes make to this one: its queues and its runs.
pub trait PeerHost: Send + Sync {
    /// Queues a task another node offers; false when the queue refused it (a sticky queue
    /// whose worker is gone), `UNAVAILABLE` when the queue's shard is not this node's.
    fn offer(&self, task: RemoteTask) -> Result<bool, Status>;
    /// Starts a task of one of this node's runs for `identity`: the encoded poll response,
    /// empty when the task is no longer current.
    fn start<'a>(
        &'a self,
        task: RemoteTask,
        identity: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, Status>>;
    /// Delivers another node's run's signal or cancel request to one of this node's
    /// workflows: the run it reached, if any.
    fn deliver_external(
        &self,
        request: DeliverExternalRequest,
    ) -> BoxFuture<'_, Result<DeliverExternalResponse, Status>>;
    /// Records in one of this node's runs the results of its children that closed.
    fn sync_children(&self, request: SyncChildrenRequest) -> BoxFuture<'_, Result<(), Status>>;
    /// Applies a closed parent's policy to one of this node's workflows, its child.
    fn apply_parent_close_policy(
        &self,
        request: ApplyParentClosePolicyRequest,
    ) -> BoxFuture<'_, Result<(), Status>>;
    /// Publishes a run of this node's shards that another node's write created.
    fn adopt_run(&self, request: AdoptRunRequest) -> BoxFuture<'_, Result<(), Status>>;
    /// Reads the namespaces and Nexus endpoints again (another node changed them).
    fn refresh(&self) -> BoxFuture<'_, Result<(), Status>>;
    /// Records in one of this node's runs the close of a Nexus operation's handler workflow.
    fn deliver_nexus_callback(
        &self,
        request: DeliverNexusCallbackRequest,
    ) -> BoxFuture<'_, Result<(), Status>>;
}

/// How long a node waits before offering a task again after an offer failed.
const OFFER_RETRY: Duration = Duration::from_secs(1);

/// This node's calls to the other nodes of a spread cluster.
pub struct Peers {
    forwarder: Arc<Forwarder>,
}

impl Peers {
    pub fn new(forwarder: Arc<Forwarder>) -> Arc<Peers> {
        Arc::new(Peers { forwarder })
    }

    pub fn shards(&self) -> &Arc<Shards> {
        &self.forwarder.shards
    }

    /// Offers a task to its queue's owner until it takes it; false when the queue refused it.
    /// An offer made while shards change hands is given up (true): every ready task is
    /// offered again to its queue's owner anyway.
    pub async fn offer(&self, task: RemoteTask) -> bool {
        let ownership = self.shards().ownership_version();
        loop {
            match self.offer_once(&task).await {
                Ok(accepted) => return accepted,
                Err(status) => {
                    tracing::debug!(error = %status.message(), "offering a task failed; retrying");
                }
            }
            tokio::time::sleep(OFFER_RETRY).await;
            if self.shards().ownership_version() != ownership {
                return true;
            }
        }
    }

    async fn offer_once(&self, task: &RemoteTask) -> Result<bool, Status> {
        let shard = self
            .shards()
            .shard_of_queue(&task.namespace, &task.task_queue);
        let mut client = self.client_for(shard)?;
        let request = OfferTaskRequest {
            task: Some(task.clone()),
        };
        Ok(ungated(client.offer_task(request))
            .await?
            .into_inner()
            .accepted)
    }

    /// Asks the owner of the task's run (the coordinator for a standalone activity) to start
    /// it for `identity`: the encoded poll response, empty when the task is no longer
    /// current.
    pub async fn start(&self, task: RemoteTask, identity: &str) -> Result<Vec<u8>, Status> {
        let shard = self.starter_shard(&task);
        let mut client = self.client_for(shard)?;
        let request = StartTaskRequest {
            task: Some(task),
            identity: identity.to_string(),
        };
        Ok(ungated(client.start_task(request))
            .await?
            .into_inner()
            .response)
    }

    /// The shard whose owner starts `task`: its run's, or the coordinator's for a standalone
    /// activity.
    pub fn starter_shard(&self, task: &RemoteTask) -> i32 {
        if task.kind() == RemoteTaskKind::StandaloneActivity {
            return 0;
        }
        self.shards()
            .shard_of(task.run_namespace(), &task.workflow_id)
    }

    /// Has every other serving node read its registries again (`refresh.rs`): after this
    /// node changed one outside a registry-changing call (a worker deployment that a poll
    /// registered).
    pub async fn refresh_other_nodes(&self) {
        self.forwarder.refresh_other_nodes().await;
    }

    /// Asks the owner of the workflow a run's request names to deliver it (`request` is the
    /// encoded request, for `namespace` and `workflow_id`).
    pub async fn deliver_external(
        &self,
        (namespace, workflow_id): (&str, &str),
        request: DeliverExternalRequest,
    ) -> Result<DeliverExternalResponse, Status> {
        let shard = self.shards().shard_of(namespace, workflow_id);
        let mut client = self.client_for(shard)?;
        Ok(ungated(client.deliver_external(request))
            .await?
            .into_inner())
    }

    /// Asks the owner of a parent run to record the results of its closed children.
    pub async fn sync_children(&self, request: SyncChildrenRequest) -> Result<(), Status> {
        let shard = self
            .shards()
            .shard_of(&request.parent_namespace, &request.parent_workflow_id);
        let mut client = self.client_for(shard)?;
        ungated(client.sync_children(request)).await?;
        Ok(())
    }

    /// Asks the owner of a closed parent's child to apply the parent-close policy to it.
    pub async fn apply_parent_close_policy(
        &self,
        request: ApplyParentClosePolicyRequest,
    ) -> Result<(), Status> {
        let shard = self
            .shards()
            .shard_of(&request.child_namespace, &request.child_workflow_id);
        let mut client = self.client_for(shard)?;
        ungated(client.apply_parent_close_policy(request)).await?;
        Ok(())
    }

    /// Asks the owner of a run that this node's write created (a child on another shard) to
    /// publish it.
    pub async fn adopt_run(&self, request: AdoptRunRequest) -> Result<(), Status> {
        let shard = self
            .shards()
            .shard_of(&request.namespace, &request.workflow_id);
        let mut client = self.client_for(shard)?;
        ungated(client.adopt_run(request)).await?;
        Ok(())
    }

    /// Asks the owner of a Nexus operation's caller run (`caller_namespace`,
    /// `caller_workflow_id`) to record the close of the operation's handler workflow.
    pub async fn deliver_nexus_callback(
        &self,
        (caller_namespace, caller_workflow_id): (&str, &str),
        request: DeliverNexusCallbackRequest,
    ) -> Result<(), Status> {
        let shard = self.shards().shard_of(caller_namespace, caller_workflow_id);
        let mut client = self.client_for(shard)?;
        ungated(client.deliver_nexus_callback(request)).await?;
        Ok(())
    }

    /// A client of the node that owns `shard`.
    fn client_for(&self, shard: i32) -> Result<super::secret::NodeClient, Status> {
        let channel = self.channel_for(shard)?;
        Ok(self.forwarder.node_client(channel))
    }

    /// A channel that carries the cluster's secret on each call (`secret.rs`).
    pub(super) fn stamped(
        &self,
        channel: tonic::transport::Channel,
    ) -> tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        super::secret::SecretStamp,
    > {
        self.forwarder.stamped(channel)
    }

    /// A channel to the node that owns `shard`.
    pub(super) fn channel_for(&self, shard: i32) -> Result<tonic::transport::Channel, Status> {
        let address = self.shards().owner_address(shard).ok_or_else(|| {
            Status::unavailable(format!("no other node serves shard {shard} at the moment"))
        })?;
        let channel = self
            .forwarder
            .channel(&address)
            .map_err(|error| Status::unavailable(format!("the node {address}: {error}")))?;
        Ok(channel)
    }
}

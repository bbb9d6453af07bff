//! A spread cluster's calls between nodes on the history side (`cluster/tasks.rs` has the
//! protocol): a node offers its runs' ready tasks for a queue of another node's shard to
//! that node, and queues the tasks other nodes offer it for its own queues; a run's signal
//! or cancel request to a workflow of another node's shard is delivered by that node.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use temper_api::cluster::{
    ApplyParentClosePolicyRequest, DeliverExternalRequest, DeliverExternalResponse, RemoteTask,
    RemoteTaskKind, SyncChildrenRequest,
};
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::query::v1::WorkflowQuery;
use temper_engine::Execution;
use temper_engine::state::ExternalRequest;
use tonic::Status;

use super::{FollowUp, History, route_of};
use crate::cluster::Peers;
use crate::errors;
use crate::matching::{QueueKind, QueuedTask, Route};

/// How long a poll of a queue this node does not hold waits before it ends empty (so that a
/// worker whose polls reach the wrong node does not poll in a tight loop).
const STRAY_POLL_WAIT: Duration = Duration::from_millis(200);

impl History {
    /// This history in a spread cluster: it reaches the other nodes through `peers`.
    pub fn with_peers(mut self, peers: Arc<Peers>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The Nexus endpoint registry this history schedules operations with.
    pub fn nexus_endpoints(&self) -> &Arc<crate::nexus::NexusEndpoints> {
        &self.endpoints
    }

    /// True unless this node is in a spread cluster and does not coordinate it (hold shard
    /// 0): the node that runs schedules and batch operations.
    pub fn coordinates(&self) -> bool {
        self.peers
            .as_ref()
            .is_none_or(|peers| peers.shards().holds(0))
    }

    /// The other nodes, when the workflow id's shard is one of theirs (a spread cluster).
    pub fn owner_elsewhere(&self, namespace: &str, workflow_id: &str) -> Option<&Arc<Peers>> {
        self.peers_for(namespace, workflow_id)
    }

    /// The other nodes of a spread cluster, if this node is in one.
    pub fn peers(&self) -> Option<&Arc<Peers>> {
        self.peers.as_ref()
    }

    /// The other nodes, when the task queue's shard is one of theirs (a spread cluster).
    pub(crate) fn queue_elsewhere(&self, namespace: &str, queue: &str) -> Option<&Arc<Peers>> {
        self.peers
            .as_ref()
            .filter(|peers| !peers.shards().holds_queue(namespace, queue))
    }

    /// Offers a task to its queue's owner, another node, in the background; a sticky task
    /// its queue refused goes back to the run's normal queue.
    pub(crate) fn offer_remotely(&self, peers: &Arc<Peers>, task: RemoteTask) {
        let (peers, follow_ups) = (peers.clone(), self.follow_ups.clone());
        tokio::spawn(async move {
            let (run_id, sticky) = (task.run_id.clone(), task.sticky);
            if !peers.offer(task).await && sticky {
                let _ = follow_ups.send(FollowUp::ResetSticky { run_id });
            }
        });
    }

    /// True, after a moment, for a poll of a queue this node does not hold (a spread
    /// cluster's poll forwarded by an outdated owner table, or waiting while the queue's
    /// shard moved): it ends empty, and the worker's next poll reaches the queue's owner.
    pub(super) async fn stray_poll(&self, namespace: &str, queue: &str, wait: Duration) -> bool {
        if self.queue_elsewhere(namespace, queue).is_none() {
            return false;
        }
        tokio::time::sleep(wait.min(STRAY_POLL_WAIT)).await;
        true
    }

    /// Queues `task` where its queue lives: here, or offered to the node holding the queue.
    /// (A task a poll could not start, or moved off a closed sticky queue.)
    pub fn place_remote(&self, task: RemoteTask) {
        match self.queue_elsewhere(&task.namespace, &task.task_queue) {
            Some(peers) => self.offer_remotely(peers, task),
            None => {
                let _ = self.queue_remote(task);
            }
        }
    }

    /// Queues a task another node offered this one; false when its queue refused it (a
    /// sticky queue whose worker is gone), `UNAVAILABLE` when the queue is not this node's
    /// (its shard moved: the offering node learns the new owner and offers it there).
    pub fn queue_remote(&self, task: RemoteTask) -> Result<bool, Status> {
        if let Some(peers) = self.queue_elsewhere(&task.namespace, &task.task_queue) {
            let shard = peers
                .shards()
                .shard_of_queue(&task.namespace, &task.task_queue);
            return Err(errors::shard_elsewhere(shard));
        }
        let kind = match task.kind() {
            RemoteTaskKind::Activity | RemoteTaskKind::StandaloneActivity => QueueKind::Activity,
            RemoteTaskKind::Nexus => QueueKind::Nexus,
            _ => QueueKind::Workflow,
        };
        let (namespace, queue) = (task.namespace.clone(), task.task_queue.clone());
        let queued = QueuedTask::Remote(Box::new(task.clone()));
        if kind == QueueKind::Nexus || task.kind() == RemoteTaskKind::StandaloneActivity {
            // Nexus queues and standalone activities are not routed by version.
            return Ok(self.matching.offer(&namespace, &queue, kind, queued));
        }
        if task.sticky {
            return Ok(self.matching.offer_sticky(&namespace, &queue, queued));
        }
        let route = if task.pinned_build.is_empty() {
            Route::following(&task.workflow_id)
        } else {
            Route::Pinned(task.pinned_build.clone())
        };
        Ok(self
            .matching
            .offer_routed(&namespace, &queue, kind, queued, route))
    }
}

impl History {
    /// The other nodes, when the workflow id's shard is one of theirs.
    pub(super) fn peers_for(&self, namespace: &str, workflow_id: &str) -> Option<&Arc<Peers>> {
        self.peers
            .as_ref()
            .filter(|peers| !peers.shards().holds_run(namespace, workflow_id))
    }

    /// Has the owner of the workflow `request` names deliver it: the run it reached, if any.
    pub(super) async fn deliver_remotely(
        &self,
        peers: &Peers,
        source: &Execution,
        request: &ExternalRequest,
    ) -> Result<Option<WorkflowExecution>, Status> {
        let call = DeliverExternalRequest {
            source_workflow_id: source.workflow_id.clone(),
            source_run_id: source.run_id.clone(),
            request: request.encode_to_vec(),
        };
        let target = (request.namespace.as_str(), request.workflow_id.as_str());
        let delivered = peers.deliver_external(target, call).await?;
        Ok((!delivered.run_id.is_empty()).then_some(WorkflowExecution {
            workflow_id: delivered.workflow_id,
            run_id: delivered.run_id,
        }))
    }

    /// Delivers another node's run's signal or cancel request to one of this node's
    /// workflows (`deliver_one`); refused when the workflow's shard moved on.
    pub async fn deliver_for_peer(
        &self,
        call: DeliverExternalRequest,
    ) -> Result<DeliverExternalResponse, Status> {
        let request = ExternalRequest::decode(call.request.as_slice())
            .map_err(|_| errors::invalid("the request does not decode"))?;
        self.check_shard_held(&request.namespace, &request.workflow_id)?;
        let source = Execution {
            workflow_id: call.source_workflow_id,
            run_id: call.source_run_id,
            ..Default::default()
        };
        let delivered = self.deliver_one(&source, &request).await?;
        Ok(
            delivered.map_or_else(Default::default, |run| DeliverExternalResponse {
                workflow_id: run.workflow_id,
                run_id: run.run_id,
            }),
        )
    }
}

impl History {
    /// Has the owner of `parent` (another node) record the results of its closed children.
    pub(super) async fn sync_children_remotely(
        &self,
        peers: &Peers,
        parent: &Execution,
    ) -> Result<(), Status> {
        let request = SyncChildrenRequest {
            parent_namespace: parent.namespace.clone(),
            parent_workflow_id: parent.workflow_id.clone(),
            parent_run_id: parent.run_id.clone(),
        };
        peers.sync_children(request).await
    }

    /// Records in one of this node's runs the results of its closed children (another node
    /// saw a child close); refused when the run's shard moved on.
    pub async fn sync_children_for_peer(&self, request: SyncChildrenRequest) -> Result<(), Status> {
        self.check_shard_held(&request.parent_namespace, &request.parent_workflow_id)?;
        self.sync_children(&request.parent_run_id).await
    }

    /// Applies a parent-close policy to one of this node's workflows, the child of a parent
    /// that closed on another node; refused when the child's shard moved on.
    pub async fn apply_policy_for_peer(
        &self,
        request: ApplyParentClosePolicyRequest,
    ) -> Result<(), Status> {
        self.check_shard_held(&request.child_namespace, &request.child_workflow_id)?;
        self.apply_policy_to_child(&request).await
    }
}

/// A task of `exec` on `queue`, as offered to the queue's owner.
pub(super) fn remote_task(exec: &Execution, kind: RemoteTaskKind, queue: &str) -> RemoteTask {
    let pinned_build = match route_of(exec) {
        Route::Pinned(build) => build,
        Route::Any | Route::Follow { .. } => String::new(),
    };
    RemoteTask {
        namespace: exec.namespace.clone(),
        task_queue: queue.to_string(),
        kind: kind as i32,
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        // Only workflow tasks go to sticky queues; an activity's queue is its own.
        sticky: kind == RemoteTaskKind::Workflow && queue != exec.task_queue,
        normal_task_queue: exec.task_queue.clone(),
        pinned_build,
        ..Default::default()
    }
}

/// A query task of `exec`, as offered to its queue's owner.
pub(super) fn remote_query(exec: &Execution, query_id: &str, query: &WorkflowQuery) -> RemoteTask {
    let view = super::queries::query_view(exec);
    RemoteTask {
        query_id: query_id.to_string(),
        query: query.encode_to_vec(),
        query_last_event_id: view.last_event_id,
        query_previous_started_event_id: view.previous_started_event_id,
        ..remote_task(exec, RemoteTaskKind::Query, &exec.task_queue)
    }
}

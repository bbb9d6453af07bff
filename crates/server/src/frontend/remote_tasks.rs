//! A spread cluster's tasks on the frontend side (`cluster/tasks.rs` has the protocol): a
//! queue owner's polls start the tasks of other nodes' runs on those nodes, and a run's owner
//! starts them and builds the poll's response, which passes back through the queue's owner
//! unchanged (standalone activities: the coordinator). Other nodes' runs' signals and cancel
//! requests to this node's workflows are delivered by History (`deliver_for_peer`).

use prost::Message;
use temper_api::cluster::{
    AdoptRunRequest, ApplyParentClosePolicyRequest, DeliverExternalRequest,
    DeliverExternalResponse, DeliverNexusCallbackRequest, RemoteTask, RemoteTaskKind,
    SyncChildrenRequest,
};
use temper_api::proto::query::v1::WorkflowQuery;
use temper_api::proto::workflowservice::v1::{
    PollActivityTaskQueueResponse, PollNexusTaskQueueResponse, PollWorkflowTaskQueueResponse,
};
use tonic::Status;

use crate::cluster::PeerHost;
use crate::cluster::tasks::BoxFuture;
use crate::errors;
use crate::history::{HandedActivityTask, HandedWorkflowTask};
use crate::matching::QueryView;

use super::Frontend;
use super::responses::{activity_task_response, standalone_task_response};

/// How long a task whose run's owner did not answer waits before it is queued again: about
/// the lease loop's pass, which learns the shards' new owners.
const REQUEUE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

impl PeerHost for Frontend {
    fn offer(&self, task: RemoteTask) -> Result<bool, Status> {
        self.history.queue_remote(task)
    }

    fn start<'a>(
        &'a self,
        task: RemoteTask,
        identity: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, Status>> {
        Box::pin(self.start_for_queue_owner(task, identity))
    }

    fn deliver_external(
        &self,
        request: DeliverExternalRequest,
    ) -> BoxFuture<'_, Result<DeliverExternalResponse, Status>> {
        Box::pin(self.history.deliver_for_peer(request))
    }

    fn sync_children(&self, request: SyncChildrenRequest) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.history.sync_children_for_peer(request))
    }

    fn apply_parent_close_policy(
        &self,
        request: ApplyParentClosePolicyRequest,
    ) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.history.apply_policy_for_peer(request))
    }

    fn adopt_run(&self, request: AdoptRunRequest) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.history.adopt_for_peer(request))
    }

    fn deliver_nexus_callback(
        &self,
        request: DeliverNexusCallbackRequest,
    ) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(self.history.nexus_callback_for_peer(request))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<(), Status>> {
        Box::pin(async move {
            self.namespaces.refresh().await.map_err(errors::storage)?;
            let endpoints = self.history.nexus_endpoints();
            endpoints.refresh().await.map_err(errors::storage)?;
            self.deployments.refresh().await.map_err(errors::storage)?;
            let configs = self.task_queue_configs.refresh().await;
            configs.map_err(errors::storage)
        })
    }
}

impl Frontend {
    /// Starts a task of one of this node's runs (or, on the coordinator, of a standalone
    /// activity) that a queue's owner matched: the encoded poll response, empty when the task
    /// is no longer current.
    async fn start_for_queue_owner(
        &self,
        task: RemoteTask,
        identity: &str,
    ) -> Result<Vec<u8>, Status> {
        if task.kind() == RemoteTaskKind::StandaloneActivity {
            return self.start_standalone_for_queue_owner(&task, identity).await;
        }
        let namespace = task.run_namespace();
        let (run_id, scheduled) = (&task.run_id, task.scheduled_event_id);
        // Not "no longer current": the queue's owner keeps a task whose shard moved on, as
        // it may be the new owner's offer, reaching this node by an outdated owner table.
        self.history
            .check_shard_held(namespace, &task.workflow_id)?;
        match task.kind() {
            RemoteTaskKind::Workflow => {
                let started = self
                    .history
                    .start_workflow_task(run_id, scheduled, identity)
                    .await;
                let Some(HandedWorkflowTask::Workflow { exec, grant }) = started else {
                    return Ok(Vec::new());
                };
                let response = self
                    .workflow_task_response(namespace, &exec, &grant, task.sticky)
                    .await?;
                Ok(response.encode_to_vec())
            }
            RemoteTaskKind::Activity => {
                let started = self
                    .history
                    .start_activity_task(run_id, scheduled, task.attempt, identity)
                    .await;
                let Some(HandedActivityTask::Workflow { exec, grant }) = started else {
                    return Ok(Vec::new());
                };
                let response = activity_task_response(namespace, &exec, &grant.activity);
                Ok(response.encode_to_vec())
            }
            RemoteTaskKind::Query => {
                let query = WorkflowQuery::decode(task.query.as_slice())
                    .map_err(|_| errors::invalid("the query does not decode"))?;
                let view = QueryView {
                    last_event_id: task.query_last_event_id,
                    previous_started_event_id: task.query_previous_started_event_id,
                };
                let response = self
                    .query_task_response(namespace, run_id, task.query_id.clone(), query, view)
                    .await?;
                Ok(response.map(|r| r.encode_to_vec()).unwrap_or_default())
            }
            RemoteTaskKind::Nexus => {
                let started = self
                    .history
                    .start_nexus_attempt(run_id, scheduled, task.attempt, task.nexus_cancel)
                    .await;
                let response = started.map(|handed| self.nexus_task_response(handed));
                Ok(response.map(|r| r.encode_to_vec()).unwrap_or_default())
            }
            RemoteTaskKind::Unspecified | RemoteTaskKind::StandaloneActivity => {
                Err(errors::invalid("the task names no run's task"))
            }
        }
    }

    /// Grants an attempt of a standalone activity (this node coordinates) that a queue's
    /// owner matched.
    async fn start_standalone_for_queue_owner(
        &self,
        task: &RemoteTask,
        identity: &str,
    ) -> Result<Vec<u8>, Status> {
        if !self.history.coordinates() {
            return Err(errors::shard_elsewhere(0));
        }
        let granted = self
            .activity_executions
            .grant(
                &task.namespace,
                &task.activity_id,
                &task.run_id,
                task.attempt,
                identity,
            )
            .await;
        let response = granted.map(|run| standalone_task_response(&run));
        Ok(response.map(|r| r.encode_to_vec()).unwrap_or_default())
    }

    /// Has the owner of a queued task's run start it for the poller (this node holds the
    /// task's queue); `None` when the task is no longer current or its owner cannot be
    /// reached (see [`Frontend::start_remotely`]).
    pub(super) async fn start_remote_workflow_task(
        &self,
        task: RemoteTask,
        identity: &str,
    ) -> Option<PollWorkflowTaskQueueResponse> {
        let bytes = self.start_remotely(task, identity).await?;
        PollWorkflowTaskQueueResponse::decode(bytes.as_slice()).ok()
    }

    /// [`Frontend::start_remote_workflow_task`] for an activity task.
    pub(super) async fn start_remote_activity_task(
        &self,
        task: RemoteTask,
        identity: &str,
    ) -> Option<PollActivityTaskQueueResponse> {
        let bytes = self.start_remotely(task, identity).await?;
        PollActivityTaskQueueResponse::decode(bytes.as_slice()).ok()
    }

    /// [`Frontend::start_remote_workflow_task`] for a Nexus task.
    pub(super) async fn start_remote_nexus_task(
        &self,
        task: RemoteTask,
        identity: &str,
    ) -> Option<PollNexusTaskQueueResponse> {
        let bytes = self.start_remotely(task, identity).await?;
        PollNexusTaskQueueResponse::decode(bytes.as_slice()).ok()
    }

    /// The owner's answer to the start of `task`. A task the owner no longer has (stale) is
    /// dropped; one whose owner did not answer (none known yet, unreachable, or no longer the
    /// owner: a shard changing hands) is queued again a moment later, when the lease loop
    /// knows the new owner. (Dropping it would lose it when it is the new owner's offer.)
    async fn start_remotely(&self, task: RemoteTask, identity: &str) -> Option<Vec<u8>> {
        let peers = self.history.peers()?;
        // The run's shard may have come here since the task was offered.
        let started = if peers.shards().holds(peers.starter_shard(&task)) {
            self.start_for_queue_owner(task.clone(), identity).await
        } else {
            peers.start(task.clone(), identity).await
        };
        match started {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            Ok(_) => None,
            Err(status) => {
                tracing::debug!(run_id = task.run_id, error = %status.message(), "queuing a task again: its run's owner did not answer");
                let history = self.history.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(REQUEUE_AFTER).await;
                    history.place_remote(task);
                });
                None
            }
        }
    }
}

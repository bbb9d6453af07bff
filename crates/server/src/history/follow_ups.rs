//! Work on other runs that a committed change implies: a parent learning a child's result,
//! the parent close policy, signals and cancel requests to other workflows, a sticky queue
//! whose worker left, an activity attempt whose poller left before it was handed over. It
//! runs after the commit, never under the run's lock, and is idempotent; start-up recovery
//! re-derives it from state (a lost release only lets its attempt time out).

use std::sync::Arc;

use temper_api::cluster::ApplyParentClosePolicyRequest;
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::enums::v1::ParentClosePolicy;
use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;
use temper_engine::state::ExternalRequest;
use tonic::Status;

use super::History;
use crate::errors;
use crate::matching::{QueueKind, QueuedTask};

/// Work on other runs that follows a committed change. It runs after the commit (never under
/// the run's lock) and is idempotent; start-up recovery re-derives all of it from state, so a
/// crash in between loses nothing.
#[derive(Debug)]
pub(super) enum FollowUp {
    /// A child run closed: its parent collects the results of finished children.
    SyncChildren { parent_run_id: String },
    /// A parent closed: apply each open child's parent close policy.
    ApplyParentClosePolicy { parent_run_id: String },
    /// A run asked to signal or cancel other workflows.
    DeliverExternal { source_run_id: String },
    /// A run's sticky worker is gone.
    ResetSticky { run_id: String },
    /// An activity attempt was started for a poller that left before the hand-over
    /// (`handover.rs`). Lost in a crash, the attempt times out instead.
    ReleaseActivity {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        request_id: String,
    },
    /// A run with asynchronous Nexus operations backed by linked runs: finish those whose
    /// run has closed.
    SyncNexus { caller_run_id: String },
    /// A run this node created on another node's shard (a child in a spread cluster): its
    /// owner publishes it (`adopt.rs`).
    AdoptRun {
        namespace: String,
        workflow_id: String,
        run_id: String,
    },
    /// A recovered parent's children on other nodes' shards: their owners publish them, in
    /// case a crash came between the parent's write and [`FollowUp::AdoptRun`].
    AdoptChildren { parent_run_id: String },
    /// A Nexus handler's workflow closed with a completion callback to `caller`.
    NexusCallback {
        caller: crate::tokens::NexusCallbackToken,
        operation_token: String,
        handler: temper_engine::execution::HandlerRun,
    },
}

impl History {
    /// Terminates or cancels (per `request.policy`) the child's current run, if it is still
    /// open and still the closed parent's child.
    pub(super) async fn apply_policy_to_child(
        &self,
        request: &ApplyParentClosePolicyRequest,
    ) -> Result<(), Status> {
        let policy =
            ParentClosePolicy::try_from(request.policy).unwrap_or(ParentClosePolicy::Terminate);
        let Some(current) = self
            .store
            .current_run(&request.child_namespace, &request.child_workflow_id)
            .await
            .map_err(errors::storage)?
        else {
            return Ok(());
        };
        let reason = format!(
            "by parent close policy: parent {} closed",
            request.parent_workflow_id
        );
        self.transact(&current, |t| {
            let exec = t.execution();
            let is_our_child = exec.is_running()
                && exec
                    .started
                    .as_ref()
                    .and_then(|s| s.parent_workflow_execution.as_ref())
                    .is_some_and(|p| p.run_id == request.parent_run_id);
            if !is_our_child {
                return;
            }
            if policy == ParentClosePolicy::RequestCancel {
                t.request_cancel(&reason, "temper");
            } else {
                t.terminate(&reason, None, "temper");
            }
        })
        .await?;
        Ok(())
    }
}

/// How long follow-up work that another node of a spread cluster did not answer waits before
/// it is tried again.
const FOLLOW_UP_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The run a close event chains to (continue-as-new, retry, cron), if any.
pub(super) fn next_run_of(close: &HistoryEvent) -> Option<String> {
    use temper_api::proto::history::v1::history_event::Attributes;
    let next = match close.attributes.as_ref()? {
        Attributes::WorkflowExecutionCompletedEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionFailedEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionTimedOutEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a) => &a.new_execution_run_id,
        _ => return None,
    };
    (!next.is_empty()).then(|| next.clone())
}

impl History {
    pub(super) fn follow_up(&self, work: FollowUp) {
        // The receiver lives as long as the server; a send can only fail during shutdown.
        let _ = self.follow_ups.send(work);
    }

    /// What a run's close implies for its parent, its children and whoever waits on closes.
    pub(super) fn after_close(&self, exec: &Execution) {
        crate::metrics::workflow_closed(exec);
        // No subscriber is not an error: nothing is waiting for a close.
        let _ = self.closed_runs.send(super::ClosedRun {
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
        });
        if let Some(parent) = exec
            .started
            .as_ref()
            .and_then(|s| s.parent_workflow_execution.as_ref())
        {
            self.follow_up(FollowUp::SyncChildren {
                parent_run_id: parent.run_id.clone(),
            });
        }
        if !exec.children.is_empty() {
            self.follow_up(FollowUp::ApplyParentClosePolicy {
                parent_run_id: exec.run_id.clone(),
            });
        }
        self.follow_up_nexus_callbacks(exec);
    }

    /// Processes follow-up work until the server stops.
    pub fn spawn_follow_ups(self: &Arc<Self>) {
        let Some(mut queue) = self
            .follow_up_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let history = self.clone();
        tokio::spawn(async move {
            while let Some(work) = queue.recv().await {
                let result = match &work {
                    FollowUp::SyncChildren { parent_run_id } => {
                        history.sync_children(parent_run_id).await
                    }
                    FollowUp::ApplyParentClosePolicy { parent_run_id } => {
                        history.apply_parent_close_policy(parent_run_id).await
                    }
                    FollowUp::ResetSticky { run_id } => history.reset_sticky(run_id).await,
                    FollowUp::ReleaseActivity {
                        run_id,
                        scheduled_event_id,
                        attempt,
                        request_id,
                    } => {
                        history
                            .release_activity(run_id, *scheduled_event_id, *attempt, request_id)
                            .await
                    }
                    FollowUp::DeliverExternal { source_run_id } => {
                        history.deliver_external(source_run_id).await
                    }
                    FollowUp::AdoptRun {
                        namespace,
                        workflow_id,
                        run_id,
                    } => history.adopt(namespace, workflow_id, run_id).await,
                    FollowUp::AdoptChildren { parent_run_id } => {
                        history.adopt_children(parent_run_id).await
                    }
                    FollowUp::SyncNexus { caller_run_id } => {
                        history.sync_nexus_operations(caller_run_id).await
                    }
                    FollowUp::NexusCallback {
                        caller,
                        operation_token,
                        handler,
                    } => {
                        history
                            .deliver_nexus_callback(caller, operation_token, handler)
                            .await
                    }
                };
                match result {
                    Ok(()) => {}
                    // In a spread cluster, another node did not answer (a shard changing
                    // hands): the work is tried again a moment later.
                    Err(status)
                        if history.peers.is_some() && status.code() == tonic::Code::Unavailable =>
                    {
                        history.follow_up_later(work);
                    }
                    Err(status) => {
                        tracing::warn!(?work, error = %status.message(), "follow-up failed");
                    }
                }
            }
        });
    }

    /// Queues follow-up work again after [`FOLLOW_UP_RETRY`].
    fn follow_up_later(&self, work: FollowUp) {
        let queue = self.follow_ups.clone();
        tokio::spawn(async move {
            tokio::time::sleep(FOLLOW_UP_RETRY).await;
            // The receiver lives as long as the server.
            let _ = queue.send(work);
        });
    }

    /// The close event ending a child's chain of runs, if the chain has ended.
    pub(super) async fn final_close_event(
        &self,
        first_run_id: &str,
    ) -> Result<Option<HistoryEvent>, Status> {
        let mut run_id = first_run_id.to_string();
        loop {
            let Some(exec) = self.snapshot(&run_id).await? else {
                return Ok(None);
            };
            if exec.is_running() {
                return Ok(None);
            }
            let Some(close) = self
                .read_history(&run_id, exec.next_event_id - 1, 1)
                .await?
                .pop()
            else {
                return Ok(None);
            };
            match next_run_of(&close) {
                Some(next) => run_id = next,
                None => return Ok(Some(close)),
            }
        }
    }

    /// Gives a parent the results of its children whose chains have ended.
    pub(super) async fn sync_children(&self, parent_run_id: &str) -> Result<(), Status> {
        let Some(parent) = self.snapshot(parent_run_id).await? else {
            return Ok(());
        };
        if !parent.is_running() {
            return Ok(());
        }
        if let Some(peers) = self.peers_for(&parent.namespace, &parent.workflow_id) {
            return self.sync_children_remotely(peers, &parent).await;
        }
        for child in parent.children.values() {
            if let Some(close) = self.final_close_event(&child.run_id).await? {
                let initiated = child.initiated_event_id;
                self.transact(parent_run_id, |t| t.child_closed(initiated, &close))
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends a run's next workflow task to its normal queue from now on.
    pub async fn reset_sticky(&self, run_id: &str) -> Result<(), Status> {
        self.transact(run_id, |t| t.reset_stickiness())
            .await
            .map(|_| ())
    }

    /// Closes a sticky queue whose worker shut down; its waiting tasks go to normal queues.
    pub async fn close_sticky_queue(&self, namespace: &str, queue: &str) -> Result<(), Status> {
        for task in self.matching.close(namespace, queue, QueueKind::Workflow) {
            match task {
                QueuedTask::Workflow { run_id, .. } => self.reset_sticky(&run_id).await?,
                // Another node's run (a spread cluster): its task moves to the normal queue,
                // wherever that lives; the run learns that its sticky queue is gone when its
                // next task's offer is refused.
                QueuedTask::Remote(task) => {
                    let normal = temper_api::cluster::RemoteTask {
                        task_queue: task.normal_task_queue.clone(),
                        sticky: false,
                        ..*task
                    };
                    self.place_remote(normal);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Delivers a run's pending signals and cancel requests to other workflows and records the
    /// outcome in the run. Signals are deduplicated by a request id derived from the sender,
    /// so delivering twice (after a crash) signals once.
    pub(super) async fn deliver_external(&self, source_run_id: &str) -> Result<(), Status> {
        let Some(source) = self.snapshot(source_run_id).await? else {
            return Ok(());
        };
        if !source.is_running() {
            return Ok(());
        }
        for request in source.external_requests.values() {
            let delivered_to = self.deliver_one(&source, request).await?;
            let initiated = request.initiated_event_id;
            self.transact(source_run_id, |t| {
                t.external_request_done(initiated, delivered_to)
            })
            .await?;
        }
        Ok(())
    }

    pub(super) async fn deliver_one(
        &self,
        source: &Execution,
        request: &ExternalRequest,
    ) -> Result<Option<WorkflowExecution>, Status> {
        if let Some(peers) = self.peers_for(&request.namespace, &request.workflow_id) {
            return self.deliver_remotely(peers, source, request).await;
        }
        let run_id = if request.run_id.is_empty() {
            match self
                .store
                .current_run(&request.namespace, &request.workflow_id)
                .await
                .map_err(errors::storage)?
            {
                Some(run_id) => run_id,
                None => return Ok(None),
            }
        } else {
            request.run_id.clone()
        };
        let signal_request_id =
            format!("external:{}:{}", source.run_id, request.initiated_event_id);
        let sender = WorkflowExecution {
            workflow_id: source.workflow_id.clone(),
            run_id: source.run_id.clone(),
        };
        let applied = self
            .transact(&run_id, |t| {
                let target = t.execution();
                let parent_run = target
                    .started
                    .as_ref()
                    .and_then(|s| s.parent_workflow_execution.as_ref())
                    .map(|p| p.run_id.as_str());
                let is_target = target.is_running()
                    && target.namespace == request.namespace
                    && target.workflow_id == request.workflow_id
                    && (!request.child_workflow_only || parent_run == Some(source.run_id.as_str()));
                if !is_target {
                    return None;
                }
                let run = WorkflowExecution {
                    workflow_id: target.workflow_id.clone(),
                    run_id: target.run_id.clone(),
                };
                if request.signal_name.is_empty() {
                    t.request_cancel_from(
                        &request.reason,
                        "",
                        request.initiated_event_id,
                        Some(sender.clone()),
                    );
                } else {
                    t.signal(
                        &request.signal_name,
                        request.input.clone(),
                        "",
                        request.header.clone(),
                        &signal_request_id,
                    );
                }
                Some(run)
            })
            .await;
        match applied {
            Ok(applied) => Ok(applied.value),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Terminates or cancels the open children of a closed parent, per their policy.
    pub(super) async fn apply_parent_close_policy(
        &self,
        parent_run_id: &str,
    ) -> Result<(), Status> {
        let Some(parent) = self.snapshot(parent_run_id).await? else {
            return Ok(());
        };
        if parent.is_running() {
            return Ok(());
        }
        for child in parent.children.values() {
            let policy = ParentClosePolicy::try_from(child.parent_close_policy)
                .unwrap_or(ParentClosePolicy::Terminate);
            if policy == ParentClosePolicy::Abandon {
                continue;
            }
            let request = ApplyParentClosePolicyRequest {
                child_namespace: child.namespace.clone(),
                child_workflow_id: child.workflow_id.clone(),
                parent_workflow_id: parent.workflow_id.clone(),
                parent_run_id: parent.run_id.clone(),
                policy: policy as i32,
            };
            match self.peers_for(&child.namespace, &child.workflow_id) {
                Some(peers) => peers.apply_parent_close_policy(request).await?,
                None => self.apply_policy_to_child(&request).await?,
            }
        }
        Ok(())
    }
}

//! `PollWorkflowTaskQueue` and `PollActivityTaskQueue`: take a task from matching and start it
//! on its run. A queued entry is only a reference; the run decides whether it is still
//! current, so stale or duplicated entries are skipped here. A task that became ready while
//! the poller waited arrives started already (`handover.rs`). The frontend builds the
//! response.

use std::time::Duration;

use temper_api::cluster::RemoteTask;
use temper_api::proto::query::v1::WorkflowQuery;
use temper_engine::Execution;
use temper_engine::execution::{ActivityTaskGrant, WorkflowTaskGrant};

use super::History;
pub use crate::matching::Poller;
use crate::matching::{ClaimedTask, Handoff, QueueKind, QueuedTask, SyncStarted};
use temper_engine::StartedTask;

/// What a workflow-task poll hands out.
pub enum HandedWorkflowTask {
    /// A workflow task, started for the poller.
    Workflow {
        exec: std::sync::Arc<Execution>,
        grant: WorkflowTaskGrant,
    },
    /// A query for the poller to answer.
    Query {
        run_id: String,
        query_id: String,
        query: WorkflowQuery,
        view: crate::matching::QueryView,
    },
    /// A task of a run another node owns, for that node to start (`cluster/tasks.rs`).
    Remote(Box<RemoteTask>),
}

/// What an activity-task poll takes from the queue.
pub enum HandedActivityTask {
    /// A workflow's activity attempt, started for the poller.
    Workflow {
        exec: std::sync::Arc<Execution>,
        grant: Box<ActivityTaskGrant>,
    },
    /// A standalone activity's attempt, not yet started (its service starts it).
    Standalone {
        activity_id: String,
        run_id: String,
        attempt: i32,
    },
    /// A task of a run another node owns, for that node to start (`cluster/tasks.rs`).
    Remote(Box<RemoteTask>),
}

impl History {
    /// Waits up to `wait` for a workflow or query task on the queue; `None` when none came.
    pub async fn next_workflow_task(
        &self,
        namespace: &str,
        queue: &str,
        poller: &Poller<'_>,
        wait: Duration,
    ) -> Option<HandedWorkflowTask> {
        if self.stray_poll(namespace, queue, wait).await {
            return None;
        }
        let identity = poller.identity;
        self.matching()
            .record_poller(namespace, queue, QueueKind::Workflow, identity);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let claimed = match self
                .matching()
                .poll_as(namespace, queue, QueueKind::Workflow, poller, remaining)
                .await?
            {
                Handoff::Task(claimed) => claimed,
                Handoff::Started(SyncStarted {
                    exec,
                    task: StartedTask::Workflow(grant),
                }) => return Some(HandedWorkflowTask::Workflow { exec, grant }),
                Handoff::Started(_) => continue,
            };
            if let Some(handed) = self.hand_out_workflow_entry(claimed, identity).await {
                return Some(handed);
            }
        }
    }

    /// What an entry of a workflow queue gives the poller: its workflow task started, or its
    /// query; `None` for a stale entry. The entry is spent either way.
    async fn hand_out_workflow_entry(
        &self,
        claimed: ClaimedTask<'_>,
        identity: &str,
    ) -> Option<HandedWorkflowTask> {
        if let QueuedTask::Workflow {
            run_id,
            scheduled_event_id,
        } = claimed.task()
        {
            let (run_id, scheduled_event_id) = (run_id.clone(), *scheduled_event_id);
            let handed = self
                .start_workflow_task(&run_id, scheduled_event_id, identity)
                .await;
            claimed.settle();
            return handed;
        }
        match claimed.settle() {
            QueuedTask::Query {
                run_id,
                query_id,
                query,
                view,
            } => Some(HandedWorkflowTask::Query {
                run_id,
                query_id,
                query,
                view,
            }),
            QueuedTask::Remote(task) => Some(HandedWorkflowTask::Remote(task)),
            QueuedTask::Workflow { .. }
            | QueuedTask::Activity { .. }
            | QueuedTask::StandaloneActivity { .. }
            | QueuedTask::Nexus { .. } => None,
        }
    }

    /// Starts a queued workflow task; `None` when the entry is stale.
    pub(crate) async fn start_workflow_task(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        identity: &str,
    ) -> Option<HandedWorkflowTask> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let applied = self
            .transact(run_id, |t| {
                t.start_workflow_task(scheduled_event_id, identity, &request_id)
            })
            .await;
        match applied {
            Ok(applied) => applied
                .value
                .ok()
                .map(|grant| HandedWorkflowTask::Workflow {
                    exec: applied.execution,
                    grant,
                }),
            Err(status) => {
                tracing::warn!(run_id, error = %status.message(), "dropping workflow task");
                None
            }
        }
    }

    /// Waits up to `wait` for an activity task on the queue. A workflow's attempt is started
    /// here; a standalone activity's entry is handed back for its service to start.
    pub async fn next_activity_task(
        &self,
        namespace: &str,
        queue: &str,
        poller: &Poller<'_>,
        wait: Duration,
    ) -> Option<HandedActivityTask> {
        if self.stray_poll(namespace, queue, wait).await {
            return None;
        }
        let identity = poller.identity;
        self.matching()
            .record_poller(namespace, queue, QueueKind::Activity, identity);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let claimed = match self
                .matching()
                .poll_as(namespace, queue, QueueKind::Activity, poller, remaining)
                .await?
            {
                Handoff::Task(claimed) => claimed,
                Handoff::Started(SyncStarted {
                    exec,
                    task: StartedTask::Activity(grant),
                }) => return Some(HandedActivityTask::Workflow { exec, grant }),
                Handoff::Started(_) => continue,
            };
            let (run_id, scheduled_event_id, attempt) = match claimed.task() {
                QueuedTask::Activity {
                    run_id,
                    scheduled_event_id,
                    attempt,
                } => (run_id.clone(), *scheduled_event_id, *attempt),
                _ => match claimed.settle() {
                    QueuedTask::StandaloneActivity {
                        activity_id,
                        run_id,
                        attempt,
                    } => {
                        return Some(HandedActivityTask::Standalone {
                            activity_id,
                            run_id,
                            attempt,
                        });
                    }
                    QueuedTask::Remote(task) => return Some(HandedActivityTask::Remote(task)),
                    _ => continue,
                },
            };
            let started = self
                .start_activity_task(&run_id, scheduled_event_id, attempt, identity)
                .await;
            // Started, or stale: either way the entry is spent.
            claimed.settle();
            if started.is_some() {
                return started;
            }
        }
    }

    /// Starts an attempt of a workflow's activity; `None` when the entry is stale.
    pub(crate) async fn start_activity_task(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        identity: &str,
    ) -> Option<HandedActivityTask> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let applied = self
            .transact(run_id, |t| {
                t.start_activity_task(scheduled_event_id, attempt, identity, &request_id)
            })
            .await;
        match applied {
            Ok(applied) => applied
                .value
                .ok()
                .map(|grant| HandedActivityTask::Workflow {
                    exec: applied.execution,
                    grant: Box::new(grant),
                }),
            Err(status) => {
                tracing::warn!(run_id, error = %status.message(), "dropping activity task");
                None
            }
        }
    }
}

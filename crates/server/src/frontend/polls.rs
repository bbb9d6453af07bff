//! Long polls for workflow and activity tasks (`PollWorkflowTaskQueue`,
//! `PollActivityTaskQueue`), and eager workflow start: the history side hands out a started
//! task, this module builds the worker's response (and polls again when it cannot).

use std::time::Duration;

use temper_api::proto::deployment::v1::WorkerDeploymentOptions;
use temper_api::proto::enums::v1::{TaskQueueKind, TaskQueueType};
use temper_api::proto::taskqueue::v1::TaskQueue;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use crate::deployments::versioned_build;
use crate::errors;
use crate::history::{HandedActivityTask, HandedWorkflowTask, Poller};
use crate::validation::check_id;

use super::responses::{activity_task_response, standalone_task_response};

use super::Frontend;

/// A poll request that may come from a versioned worker.
pub(super) trait PollRequest {
    fn namespace(&self) -> &str;
    fn deployment_options(&self) -> Option<&WorkerDeploymentOptions>;
}

impl PollRequest for PollWorkflowTaskQueueRequest {
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn deployment_options(&self) -> Option<&WorkerDeploymentOptions> {
        self.deployment_options.as_ref()
    }
}

impl PollRequest for PollActivityTaskQueueRequest {
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn deployment_options(&self) -> Option<&WorkerDeploymentOptions> {
        self.deployment_options.as_ref()
    }
}

/// The queue a poll names, which it must name.
pub(super) fn polled_queue(task_queue: Option<TaskQueue>) -> Result<TaskQueue, Status> {
    let queue = task_queue.ok_or_else(|| errors::invalid("TaskQueue is not set on request."))?;
    check_id(&queue.name, "TaskQueue")?;
    Ok(queue)
}

impl Frontend {
    pub(super) async fn poll_workflow_task_queue_op(
        &self,
        request: PollWorkflowTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollWorkflowTaskQueueResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let queue = polled_queue(request.task_queue.clone())?;
        // A task taken from a sticky queue goes to the worker that has the run cached, so it
        // carries only the events after the last task that worker completed.
        let sticky = queue.kind == TaskQueueKind::Sticky as i32;
        let build = self
            .register_poller(&request, &queue, TaskQueueType::Workflow)
            .await?;
        let poller = Poller {
            identity: &request.identity,
            build: &build,
        };
        let response = self
            .next_workflow_task(&request.namespace, &queue.name, &poller, wait, sticky)
            .await?;
        let waited = (!response.task_token.is_empty())
            .then(|| self.waited_since(response.scheduled_time.as_ref()));
        crate::metrics::poll(
            "PollWorkflowTaskQueue",
            &request.namespace,
            &queue.name,
            waited,
        );
        Ok(response)
    }

    pub(super) async fn poll_activity_task_queue_op(
        &self,
        request: PollActivityTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollActivityTaskQueueResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let queue = polled_queue(request.task_queue.clone())?;
        let build = self
            .register_poller(&request, &queue, TaskQueueType::Activity)
            .await?;
        let poller = Poller {
            identity: &request.identity,
            build: &build,
        };
        let response = self
            .next_activity_task(&request.namespace, &queue.name, &poller, wait)
            .await?;
        let waited = (!response.task_token.is_empty())
            .then(|| self.waited_since(response.current_attempt_scheduled_time.as_ref()));
        crate::metrics::poll(
            "PollActivityTaskQueue",
            &request.namespace,
            &queue.name,
            waited,
        );
        Ok(response)
    }

    /// How long ago (on the server's clock) a task was scheduled.
    fn waited_since(&self, scheduled: Option<&temper_api::Timestamp>) -> Duration {
        let scheduled_ms = temper_engine::time::timestamp_ms(scheduled);
        let waited_ms = self.history.now_ms().saturating_sub(scheduled_ms).max(0);
        Duration::from_millis(waited_ms as u64)
    }
}

impl Frontend {
    /// A versioned worker's poll registers its deployment version on the (normal) queue;
    /// the build id its poll takes tasks for (empty: unversioned).
    pub(super) async fn register_poller(
        &self,
        request: &impl PollRequest,
        queue: &TaskQueue,
        queue_type: TaskQueueType,
    ) -> Result<String, Status> {
        let Some(options) = versioned_build(request.deployment_options()) else {
            return Ok(String::new());
        };
        let normal = if queue.kind == TaskQueueKind::Sticky as i32 {
            &queue.normal_name
        } else {
            &queue.name
        };
        if !normal.is_empty() {
            self.deployments
                .register_poller(request.namespace(), options, normal, queue_type)
                .await?;
        }
        Ok(options.build_id.clone())
    }

    /// Eager workflow start: the first workflow task of a run the worker just started.
    pub(super) async fn eager_workflow_task(
        &self,
        namespace: &str,
        run_id: &str,
        identity: &str,
    ) -> Result<Option<PollWorkflowTaskQueueResponse>, Status> {
        let Some((grant, exec)) = self
            .history
            .start_first_workflow_task(run_id, identity)
            .await?
        else {
            return Ok(None);
        };
        self.workflow_task_response(namespace, &exec, &grant, false)
            .await
            .map(Some)
    }

    /// Waits for a workflow task (or query task) on a queue and hands it out. A task whose
    /// response cannot be built (its history does not read) is skipped: it times out and is
    /// retried, and one bad run does not fail every poll of its queue.
    pub(super) async fn next_workflow_task(
        &self,
        namespace: &str,
        queue: &str,
        poller: &Poller<'_>,
        wait: Duration,
        sticky: bool,
    ) -> Result<PollWorkflowTaskQueueResponse, Status> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let handed = self
                .history
                .next_workflow_task(namespace, queue, poller, remaining)
                .await;
            let response = match handed {
                None => return Ok(PollWorkflowTaskQueueResponse::default()),
                Some(HandedWorkflowTask::Workflow { exec, grant }) => self
                    .workflow_task_response(namespace, &exec, &grant, sticky)
                    .await
                    .map(Some),
                Some(HandedWorkflowTask::Query {
                    run_id,
                    query_id,
                    query,
                    view,
                }) => {
                    self.query_task_response(namespace, &run_id, query_id, query, view)
                        .await
                }
                Some(HandedWorkflowTask::Remote(task)) => Ok(self
                    .start_remote_workflow_task(*task, poller.identity)
                    .await),
            };
            match response {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => continue,
                Err(status) => {
                    tracing::error!(error = %status.message(), "workflow task not served");
                    continue;
                }
            }
        }
    }

    /// Waits for an activity task on a queue and hands it out (a workflow's or a standalone
    /// activity's; a stale standalone entry is skipped and the poll goes on).
    pub(super) async fn next_activity_task(
        &self,
        namespace: &str,
        queue: &str,
        poller: &Poller<'_>,
        wait: Duration,
    ) -> Result<PollActivityTaskQueueResponse, Status> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let handed = self
                .history
                .next_activity_task(namespace, queue, poller, remaining)
                .await;
            match handed {
                None => return Ok(PollActivityTaskQueueResponse::default()),
                Some(HandedActivityTask::Workflow { exec, grant }) => {
                    return Ok(activity_task_response(namespace, &exec, &grant.activity));
                }
                Some(HandedActivityTask::Standalone {
                    activity_id,
                    run_id,
                    attempt,
                }) => {
                    let granted = self
                        .activity_executions
                        .grant(namespace, &activity_id, &run_id, attempt, poller.identity)
                        .await;
                    if let Some(run) = granted {
                        return Ok(standalone_task_response(&run));
                    }
                }
                Some(HandedActivityTask::Remote(task)) => {
                    let started = self
                        .start_remote_activity_task(*task, poller.identity)
                        .await;
                    if let Some(response) = started {
                        return Ok(response);
                    }
                }
            }
        }
    }
}

//! `StartWorkflowExecution` (and the start half of signal-with-start and update-with-start):
//! the workflow id's reuse and conflict policies, and the new run's first write.

use std::sync::Arc;
use temper_api::proto::common::v1::WorkflowType;
use temper_api::proto::enums::v1::{
    WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
};
use temper_api::proto::history::v1::WorkflowExecutionStartedEventAttributes;
use temper_api::proto::workflowservice::v1::StartWorkflowExecutionRequest;
use temper_engine::Execution;
use temper_engine::execution::InitialSignal;
use temper_engine::time::{duration_ms, ms_timestamp};
use temper_store::{ExecutionWrite, StoreError};
use tonic::Status;

use super::History;
use super::new_run_id;
use crate::errors;

/// How often a start reruns the id policies after losing the id to a concurrent run.
pub(super) const START_ATTEMPTS: usize = 3;

/// Stripes of the lock that serialises starts of the same workflow id.
pub(super) const ID_LOCK_STRIPES: usize = 64;

/// What becomes of a new run's first workflow task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FirstTask {
    /// Started in the run's first write when a worker is polling for it (`handover.rs`).
    StartForWaitingPoller,
    /// Queued: an eager start keeps it for the worker that asked; an update-with-start
    /// admits its update before the task starts, so that the task carries it (as in
    /// Temporal).
    Queue,
}

/// How one start attempt learns about the workflow id's current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdCheck {
    /// It reads nothing and writes the new run on condition that the id has no current run
    /// at all (Temporal's "brand new" create): a new id, the common case, costs no read.
    BrandNew,
    /// It reads the current run and applies the request id and the id policies to it.
    ReadCurrent,
}

/// Why one start attempt did not start.
pub(super) enum StartError {
    /// Another run became the id's running run between the check and the write, or (for a
    /// [`IdCheck::BrandNew`] attempt) the id has a current run.
    LostRace,
    Status(Status),
}

impl From<Status> for StartError {
    fn from(status: Status) -> Self {
        StartError::Status(status)
    }
}

pub(super) fn stripe_of(namespace: &str, workflow_id: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (namespace, workflow_id).hash(&mut hasher);
    (hasher.finish() % ID_LOCK_STRIPES as u64) as usize
}

pub(super) fn started_attributes(
    request: &StartWorkflowExecutionRequest,
    now: i64,
) -> WorkflowExecutionStartedEventAttributes {
    let execution_timeout = duration_ms(request.workflow_execution_timeout.as_ref());
    WorkflowExecutionStartedEventAttributes {
        workflow_id: request.workflow_id.clone(),
        workflow_type: request
            .workflow_type
            .clone()
            .or(Some(WorkflowType::default())),
        task_queue: request.task_queue.clone(),
        input: request.input.clone(),
        workflow_execution_timeout: request.workflow_execution_timeout,
        workflow_run_timeout: request
            .workflow_run_timeout
            .or(request.workflow_execution_timeout),
        workflow_task_timeout: request.workflow_task_timeout,
        identity: request.identity.clone(),
        header: request.header.clone(),
        memo: request.memo.clone(),
        search_attributes: request.search_attributes.clone(),
        retry_policy: request.retry_policy.clone(),
        cron_schedule: request.cron_schedule.clone(),
        priority: request.priority.clone(),
        versioning_override: request.versioning_override.clone(),
        first_workflow_task_backoff: request.workflow_start_delay,
        // Set by clients that chain runs themselves (Temporal's scheduler does).
        continued_failure: request.continued_failure.clone(),
        last_completion_result: request.last_completion_result.clone(),
        // A Nexus handler's workflow: its close completes the caller's operation.
        completion_callbacks: request.completion_callbacks.clone(),
        attempt: 1,
        workflow_execution_expiration_time: if execution_timeout > 0 {
            ms_timestamp(now + execution_timeout)
        } else {
            None
        },
        ..Default::default()
    }
}

impl History {
    /// Starts a workflow, applying request-id idempotency and the id reuse/conflict policies.
    /// With `signal` (signal-with-start) the signal goes to the run that is used, new or
    /// existing. Returns the run id and whether a new run was started.
    pub async fn start_workflow(
        &self,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        signal: Option<&InitialSignal>,
    ) -> Result<(String, bool), Status> {
        // An eager start's first task is kept for the worker that asked for it.
        let first_task = if request.request_eager_execution {
            FirstTask::Queue
        } else {
            FirstTask::StartForWaitingPoller
        };
        self.start_workflow_with(namespace, request, signal, first_task)
            .await
    }

    /// [`History::start_workflow`], saying what becomes of the new run's first task.
    pub(super) async fn start_workflow_with(
        &self,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        signal: Option<&InitialSignal>,
        first_task: FirstTask,
    ) -> Result<(String, bool), Status> {
        let stripe = stripe_of(namespace, &request.workflow_id);
        let _id_guard = self.id_locks[stripe].lock().await;
        // The first attempt assumes a new id. A run chained by continue-as-new or started as a
        // child can take the id between the policy check and the write; the store refuses the
        // write then, and the check reruns.
        let mut id_check = IdCheck::BrandNew;
        let mut attempts = 0;
        loop {
            let attempt = self.try_start_workflow(namespace, request, signal, first_task, id_check);
            match attempt.await {
                Err(StartError::LostRace) if id_check == IdCheck::BrandNew => {
                    id_check = IdCheck::ReadCurrent;
                }
                Err(StartError::LostRace) if attempts + 1 < START_ATTEMPTS => attempts += 1,
                Err(StartError::LostRace) => {
                    return Err(Status::aborted(
                        "the workflow id kept changing during the start; try again",
                    ));
                }
                Err(StartError::Status(status)) => return Err(status),
                Ok(started) => return Ok(started),
            }
        }
    }

    pub(super) async fn try_start_workflow(
        &self,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        signal: Option<&InitialSignal>,
        first_task: FirstTask,
        id_check: IdCheck,
    ) -> Result<(String, bool), StartError> {
        let current_run = match id_check {
            IdCheck::BrandNew => None,
            IdCheck::ReadCurrent => self
                .store
                .current_run(namespace, &request.workflow_id)
                .await
                .map_err(errors::storage)?,
        };
        if let Some(current_run) = current_run
            && let Some(current) = self.snapshot(&current_run).await?
        {
            if !request.request_id.is_empty() && current.start_request_id == request.request_id {
                return Ok((current.run_id, true));
            }
            if let Some(existing) = self.check_id_policies(request, &current).await? {
                if let Some(signal) = signal {
                    let applied = self
                        .transact(&existing, |t| {
                            let running = t.execution().is_running();
                            if running {
                                t.deliver_signal(signal);
                            }
                            running
                        })
                        .await?;
                    if !applied.value {
                        return Err(errors::already_completed().into());
                    }
                }
                return Ok((existing, false));
            }
        }
        let now = self.clock.now_ms();
        let run_id = new_run_id(now);
        let started = started_attributes(request, now);
        let (mut exec, mut events, tasks) = Execution::start(
            namespace,
            &run_id,
            &request.request_id,
            started,
            signal,
            request.user_metadata.as_ref(),
            now,
        );
        let (tasks, handovers) = match first_task {
            FirstTask::Queue => (tasks, Vec::new()),
            FirstTask::StartForWaitingPoller => {
                self.start_new_run_for_waiting_pollers(&mut exec, &mut events, tasks, now)
            }
        };
        exec.db_version = 1;
        let signal_request_ids = std::mem::take(&mut exec.signal_request_ids);
        let exec = Arc::new(exec);
        let write = ExecutionWrite {
            signal_request_ids,
            execution: exec.clone(),
            expected_db_version: 0,
            new_events: super::encoded(&events),
            make_current: true,
            brand_new: id_check == IdCheck::BrandNew,
            fence: None,
            shard: None,
        };
        match self.commit(vec![write]).await {
            Ok(()) => {}
            Err(StoreError::Conflict(..)) => return Err(StartError::LostRace),
            Err(error) => return Err(errors::storage(error).into()),
        }
        self.cache(exec.clone()).await;
        self.hand_over(&exec, handovers);
        self.publish(&exec, tasks);
        Ok((run_id, true))
    }

    /// Applies the id policies against the current run. `Ok(Some(run))` means "use the
    /// existing run", `Ok(None)` means "start a new run".
    pub(super) async fn check_id_policies(
        &self,
        request: &StartWorkflowExecutionRequest,
        current: &Execution,
    ) -> Result<Option<String>, Status> {
        let mut conflict = WorkflowIdConflictPolicy::try_from(request.workflow_id_conflict_policy)
            .unwrap_or(WorkflowIdConflictPolicy::Fail);
        let mut reuse = WorkflowIdReusePolicy::try_from(request.workflow_id_reuse_policy)
            .unwrap_or(WorkflowIdReusePolicy::AllowDuplicate);
        // The deprecated TERMINATE_IF_RUNNING means "terminate the running one, then start".
        #[allow(deprecated)]
        let terminate_if_running = reuse == WorkflowIdReusePolicy::TerminateIfRunning;
        if terminate_if_running {
            conflict = WorkflowIdConflictPolicy::TerminateExisting;
            reuse = WorkflowIdReusePolicy::AllowDuplicate;
        }
        let already_started = || {
            errors::already_started(
                &request.workflow_id,
                &current.start_request_id,
                &current.run_id,
                &current.first_execution_run_id,
            )
        };
        if current.is_running() {
            return match conflict {
                WorkflowIdConflictPolicy::UseExisting => Ok(Some(current.run_id.clone())),
                WorkflowIdConflictPolicy::TerminateExisting => {
                    let identity = request.identity.clone();
                    self.transact(&current.run_id, |t| {
                        if t.execution().is_running() {
                            t.terminate(
                                "terminated by a new start (TerminateExisting)",
                                None,
                                &identity,
                            );
                        }
                    })
                    .await?;
                    Ok(None)
                }
                _ => Err(already_started()),
            };
        }
        let failed = matches!(
            WorkflowExecutionStatus::try_from(current.status),
            Ok(WorkflowExecutionStatus::Failed
                | WorkflowExecutionStatus::Canceled
                | WorkflowExecutionStatus::Terminated
                | WorkflowExecutionStatus::TimedOut)
        );
        match reuse {
            WorkflowIdReusePolicy::RejectDuplicate => Err(errors::already_started(
                &request.workflow_id,
                &current.start_request_id,
                &current.run_id,
                &current.first_execution_run_id,
            )),
            WorkflowIdReusePolicy::AllowDuplicateFailedOnly if !failed => Err(already_started()),
            _ => Ok(None),
        }
    }
}

//! Reset (`ResetWorkflowExecution`): a new run that keeps a prefix of an old run's history.
//!
//! The new run's history is the base run's events up to (not including) the chosen
//! workflow-task finish event, copied unchanged, followed by:
//! 1. `WorkflowTaskStarted` if the kept history ends with the task only scheduled;
//! 2. `WorkflowTaskFailed` with cause `RESET_WORKFLOW`, naming the base and the new run (the
//!    SDKs take the new run id from it);
//! 3. the base run's signals from after the reset point, reapplied as new
//!    `WorkflowExecutionSignaled` events (unless excluded);
//! 4. a fresh `WorkflowTaskScheduled` (attempt 1).
//!
//! The new run's state is rebuilt from the kept events alone, so activities and timers that
//! were pending at the reset point are pending again (activities start a fresh attempt; a
//! timer keeps its original fire time), and everything that happened after the point is
//! forgotten except the reapplied signals. Like Temporal, a reset point with a pending child
//! workflow is refused.

use temper_api::proto::enums::v1::WorkflowTaskFailedCause;
use temper_api::proto::failure::v1::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

use super::apply::RebuildError;
use super::events::started_event;
use super::{ReadyTask, Transition};
use crate::state::Execution;

/// The identity Temporal's history service writes on the events it adds during a reset.
const HISTORY_SERVICE_IDENTITY: &str = "history-service";

/// What a reset starts from.
pub struct ResetPoint<'a> {
    /// The run being reset.
    pub base: &'a Execution,
    /// The base run's events `1..workflow_task_finish_event_id`.
    pub kept: Vec<HistoryEvent>,
    /// The base run's events from the finish event on; signals among them are reapplied.
    pub after: &'a [HistoryEvent],
    pub new_run_id: String,
    pub request_id: String,
    pub reason: String,
    pub reapply_signals: bool,
}

/// The run a reset creates: its state, its whole history and the tasks to dispatch.
pub struct ResetRun {
    pub execution: Execution,
    pub events: Vec<HistoryEvent>,
    pub tasks: Vec<ReadyTask>,
}

/// Why a reset point was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetError {
    /// The finish event does not follow a scheduled or started workflow task.
    #[error("event {finish_event_id} does not finish a workflow task")]
    NotAfterWorkflowTask { finish_event_id: i64 },
    /// Children were pending at the reset point (older Temporal servers refuse these too).
    #[error("child workflows were pending at the reset point")]
    PendingChildren,
    /// The kept history does not replay.
    #[error(transparent)]
    History(#[from] RebuildError),
}

impl Execution {
    /// Builds the run that resets `point.base` to the end of `point.kept`.
    pub fn reset(point: ResetPoint<'_>, now: i64) -> Result<ResetRun, ResetError> {
        let finish_event_id = point.kept.len() as i64 + 1;
        let identity = Execution {
            namespace: point.base.namespace.clone(),
            run_id: point.new_run_id.clone(),
            start_request_id: point.request_id.clone(),
            ..Default::default()
        };
        let mut exec = identity.rebuild_from(&point.kept, &[])?;
        if exec.workflow_task.is_none() {
            return Err(ResetError::NotAfterWorkflowTask { finish_event_id });
        }
        if !exec.children.is_empty() {
            return Err(ResetError::PendingChildren);
        }
        let mut transition = Transition::new(&mut exec, now);
        transition.fail_workflow_task_for_reset(
            &point.base.run_id,
            &point.new_run_id,
            &point.reason,
        );
        if point.reapply_signals {
            for event in point.after {
                if let Some(Attributes::WorkflowExecutionSignaledEventAttributes(signal)) =
                    &event.attributes
                {
                    transition.append(Attributes::WorkflowExecutionSignaledEventAttributes(
                        signal.clone(),
                    ));
                }
            }
        }
        transition.schedule_workflow_task();
        let output = transition.finish();
        let mut events = point.kept;
        events.extend(output.events);
        let tasks = exec.ready_tasks();
        Ok(ResetRun {
            execution: exec,
            events,
            tasks,
        })
    }
}

impl Transition<'_> {
    /// Closes the rebuilt run's pending workflow task with `RESET_WORKFLOW`. Unlike other
    /// failures this does not count as an attempt: the next task is a normal one.
    fn fail_workflow_task_for_reset(&mut self, base_run_id: &str, new_run_id: &str, reason: &str) {
        let Some(mut wft) = self.exec.workflow_task.take() else {
            return;
        };
        if wft.started_event_id == 0 {
            wft.started_time_ms = self.now;
            wft.started_identity = HISTORY_SERVICE_IDENTITY.to_string();
            wft.started_event_id =
                self.push_event(started_event(&wft, self.exec.history_size_bytes));
        }
        self.append(Attributes::WorkflowTaskFailedEventAttributes(
            history::WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                started_event_id: wft.started_event_id,
                cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
                failure: Some(Failure {
                    message: reason.to_string(),
                    failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                        ResetWorkflowFailureInfo::default(),
                    )),
                    ..Default::default()
                }),
                identity: HISTORY_SERVICE_IDENTITY.to_string(),
                base_run_id: base_run_id.to_string(),
                new_run_id: new_run_id.to_string(),
                ..Default::default()
            },
        ));
        self.exec.workflow_task_attempt = 1;
    }
}

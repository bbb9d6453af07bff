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

use temper_api::proto::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
};
use temper_api::proto::failure::v1::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};
use temper_api::proto::update::v1 as update;

use super::{ReadyTask, Transition, cancel_request, signal_request, started_event};
use crate::state::{
    ActivityInfo, ChildInfo, Execution, ExternalRequest, TimerInfo, UpdateInfo, WorkflowTaskInfo,
};
use crate::time::{duration_ms, timestamp_ms};

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

impl Execution {
    /// Builds the run that resets `point.base` to the end of `point.kept`. An `Err` is the
    /// reason the point is not a valid reset point (Temporal's wording).
    pub fn reset(point: ResetPoint<'_>, now: i64) -> Result<ResetRun, String> {
        let finish_event_id = point.kept.len() as i64 + 1;
        let mut exec = rebuild(point.base, &point.kept, &point.new_run_id, now)?;
        exec.start_request_id = point.request_id.clone();
        if exec.workflow_task.is_none() {
            return Err(format!(
                "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: {finish_event_id}"
            ));
        }
        if !exec.children.is_empty() {
            return Err("WorkflowResetter encountered pending child workflows.".into());
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

/// The state of a new run whose history is `kept` (a prefix of `base`'s history).
fn rebuild(
    base: &Execution,
    kept: &[HistoryEvent],
    run_id: &str,
    now: i64,
) -> Result<Execution, String> {
    let started = base.started.clone().unwrap_or_default();
    let own_deadline = if base.run_timeout_ms > 0 {
        now + base.run_timeout_ms
    } else {
        0
    };
    let run_deadline_ms = match (own_deadline, base.execution_deadline_ms) {
        (0, e) => e,
        (r, 0) => r,
        (r, e) => r.min(e),
    };
    let mut exec = Execution {
        namespace: base.namespace.clone(),
        workflow_id: base.workflow_id.clone(),
        run_id: run_id.to_string(),
        first_execution_run_id: base.first_execution_run_id.clone(),
        workflow_type: base.workflow_type.clone(),
        task_queue: base.task_queue.clone(),
        status: WorkflowExecutionStatus::Running as i32,
        next_event_id: 1,
        start_time_ms: now,
        workflow_task_timeout_ms: base.workflow_task_timeout_ms,
        run_timeout_ms: base.run_timeout_ms,
        execution_timeout_ms: base.execution_timeout_ms,
        run_deadline_ms,
        execution_deadline_ms: base.execution_deadline_ms,
        memo: started.memo.clone(),
        search_attributes: started.search_attributes.clone(),
        workflow_task_attempt: 1,
        started: Some(started),
        ..Default::default()
    };
    for event in kept {
        if event.event_id != exec.next_event_id {
            return Err(format!(
                "history of run {} is not contiguous at event {}",
                base.run_id, exec.next_event_id
            ));
        }
        exec.next_event_id += 1;
        exec.history_size_bytes += prost::Message::encoded_len(event) as i64;
        if let Some(attributes) = &event.attributes {
            apply_event(&mut exec, event, attributes);
        }
    }
    Ok(exec)
}

/// What one kept event means for the rebuilt state. Activity `Started` events are ignored:
/// Temper writes them only together with the activity's result, so a kept history never
/// ends with an activity running, and a pending activity restarts with a fresh attempt.
fn apply_event(exec: &mut Execution, event: &HistoryEvent, attributes: &Attributes) {
    let event_time_ms = timestamp_ms(event.event_time.as_ref());
    let id = event.event_id;
    match closed_item(attributes) {
        Some(Closed::Activity(scheduled_event_id)) => {
            exec.activities.remove(&scheduled_event_id);
            return;
        }
        Some(Closed::Child(initiated_event_id)) => {
            exec.children.remove(&initiated_event_id);
            return;
        }
        Some(Closed::External(initiated_event_id)) => {
            exec.external_requests.remove(&initiated_event_id);
            return;
        }
        None => {}
    }
    match attributes {
        Attributes::WorkflowTaskScheduledEventAttributes(a) => {
            exec.workflow_task = Some(WorkflowTaskInfo {
                scheduled_event_id: id,
                attempt: a.attempt.max(1),
                scheduled_time_ms: event_time_ms,
                start_to_close_timeout_ms: duration_ms(a.start_to_close_timeout.as_ref()),
                task_queue: exec.task_queue.clone(),
                ..Default::default()
            });
        }
        Attributes::WorkflowTaskStartedEventAttributes(a) => {
            if let Some(wft) = exec.workflow_task.as_mut() {
                wft.started_event_id = id;
                wft.started_time_ms = event_time_ms;
                wft.started_identity = a.identity.clone();
                wft.started_request_id = a.request_id.clone();
            }
        }
        Attributes::WorkflowTaskCompletedEventAttributes(a) => {
            exec.workflow_task = None;
            exec.last_completed_workflow_task_started_id = a.started_event_id;
        }
        Attributes::WorkflowTaskFailedEventAttributes(_)
        | Attributes::WorkflowTaskTimedOutEventAttributes(_) => exec.workflow_task = None,
        Attributes::ActivityTaskScheduledEventAttributes(a) => {
            exec.activities.insert(
                id,
                ActivityInfo {
                    scheduled_event_id: id,
                    activity_id: a.activity_id.clone(),
                    activity_type: a
                        .activity_type
                        .as_ref()
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    task_queue: a
                        .task_queue
                        .as_ref()
                        .map(|q| q.name.clone())
                        .unwrap_or_default(),
                    input: a.input.clone(),
                    header: a.header.clone(),
                    attempt: 1,
                    scheduled_time_ms: event_time_ms,
                    current_attempt_scheduled_time_ms: event_time_ms,
                    retry_policy: a.retry_policy.clone(),
                    schedule_to_close_timeout_ms: duration_ms(a.schedule_to_close_timeout.as_ref()),
                    schedule_to_start_timeout_ms: duration_ms(a.schedule_to_start_timeout.as_ref()),
                    start_to_close_timeout_ms: duration_ms(a.start_to_close_timeout.as_ref()),
                    heartbeat_timeout_ms: duration_ms(a.heartbeat_timeout.as_ref()),
                    ..Default::default()
                },
            );
        }
        Attributes::ActivityTaskCancelRequestedEventAttributes(a) => {
            if let Some(activity) = exec.activities.get_mut(&a.scheduled_event_id) {
                activity.cancel_requested = true;
                activity.cancel_requested_event_id = id;
            }
        }
        Attributes::TimerStartedEventAttributes(a) => {
            exec.timers.insert(
                a.timer_id.clone(),
                TimerInfo {
                    timer_id: a.timer_id.clone(),
                    started_event_id: id,
                    fire_time_ms: event_time_ms + duration_ms(a.start_to_fire_timeout.as_ref()),
                },
            );
        }
        Attributes::TimerFiredEventAttributes(a) => {
            exec.timers.remove(&a.timer_id);
        }
        Attributes::TimerCanceledEventAttributes(a) => {
            exec.timers.remove(&a.timer_id);
        }
        Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
            exec.children.insert(
                id,
                ChildInfo {
                    initiated_event_id: id,
                    namespace: a.namespace.clone(),
                    workflow_id: a.workflow_id.clone(),
                    workflow_type: a
                        .workflow_type
                        .as_ref()
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    parent_close_policy: a.parent_close_policy,
                    ..Default::default()
                },
            );
        }
        Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => {
            if let Some(child) = exec.children.get_mut(&a.initiated_event_id) {
                child.started_event_id = id;
                child.run_id = a
                    .workflow_execution
                    .as_ref()
                    .map(|e| e.run_id.clone())
                    .unwrap_or_default();
            }
        }
        Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let request = ExternalRequest {
                initiated_event_id: id,
                ..signal_request(a)
            };
            exec.external_requests.insert(id, request);
        }
        Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let request = ExternalRequest {
                initiated_event_id: id,
                ..cancel_request(a)
            };
            exec.external_requests.insert(id, request);
        }
        Attributes::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            exec.cancel_requested = true;
        }
        Attributes::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            exec.upsert_search_attributes(a.search_attributes.as_ref());
        }
        Attributes::WorkflowPropertiesModifiedEventAttributes(a) => {
            exec.upsert_memo(a.upserted_memo.as_ref());
        }
        Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(a) => {
            exec.updates_admitted += 1;
            exec.updates.insert(
                a.protocol_instance_id.clone(),
                UpdateInfo {
                    request: a.accepted_request.clone(),
                    stage: Stage::Accepted as i32,
                    accepted_event_id: id,
                    admission: exec.updates_admitted,
                    ..Default::default()
                },
            );
        }
        Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
            let update_id = a
                .meta
                .as_ref()
                .map(|m| m.update_id.clone())
                .unwrap_or_default();
            if let Some(info) = exec.updates.get_mut(&update_id) {
                info.stage = Stage::Completed as i32;
                info.outcome = a.outcome.clone().or(Some(update::Outcome::default()));
            }
        }
        _ => {}
    }
}

/// Something pending that an event ends, by the id of the event that started it.
enum Closed {
    Activity(i64),
    Child(i64),
    External(i64),
}

fn closed_item(attributes: &Attributes) -> Option<Closed> {
    use Attributes as A;
    Some(match attributes {
        A::ActivityTaskCompletedEventAttributes(a) => Closed::Activity(a.scheduled_event_id),
        A::ActivityTaskFailedEventAttributes(a) => Closed::Activity(a.scheduled_event_id),
        A::ActivityTaskTimedOutEventAttributes(a) => Closed::Activity(a.scheduled_event_id),
        A::ActivityTaskCanceledEventAttributes(a) => Closed::Activity(a.scheduled_event_id),
        A::StartChildWorkflowExecutionFailedEventAttributes(a) => {
            Closed::Child(a.initiated_event_id)
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => Closed::Child(a.initiated_event_id),
        A::ChildWorkflowExecutionFailedEventAttributes(a) => Closed::Child(a.initiated_event_id),
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => Closed::Child(a.initiated_event_id),
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => Closed::Child(a.initiated_event_id),
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            Closed::Child(a.initiated_event_id)
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
            Closed::External(a.initiated_event_id)
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(a) => {
            Closed::External(a.initiated_event_id)
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
            Closed::External(a.initiated_event_id)
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => {
            Closed::External(a.initiated_event_id)
        }
        _ => return None,
    })
}

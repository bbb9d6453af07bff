//! The one path from event to state: [`Execution::apply_event`] is the only code that changes
//! a run's state because of a history event.
//!
//! A live transition builds an event, applies it here and writes it (or buffers it while a
//! workflow task is in flight); a rebuild ([`Execution::rebuild_from`], used by reset and by
//! the consistency check) replays the same function over stored history. What is *not*
//! derived from events is state of attempts that Temporal also keeps outside history:
//! retried activity attempts, retried and speculative workflow tasks (their events are
//! transient), the sticky queue, signal request ids kept for deduplication, and updates that
//! were admitted or rejected without an event. [`Execution::event_sourced`] masks exactly those
//! fields, and a rebuild must equal the persisted state once both are masked.
//!
//! Buffered events are applied when they are buffered (their ids are assigned later, so no
//! apply function may depend on the id of an event that can be buffered) and are replayed
//! from the persisted buffer by a rebuild.

use temper_api::proto::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

use super::events::{cancel_request, signal_request};
use crate::state::{
    ActivityInfo, ChildInfo, Execution, ExternalRequest, NexusOperationInfo, TimerInfo, UpdateInfo,
    WorkflowTaskInfo,
};
use crate::time::{duration_ms, timestamp_ms};

/// Why stored history cannot be replayed into a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("history of run {run_id} is not contiguous at event {expected}")]
    NotContiguous { run_id: String, expected: i64 },
    #[error("history of run {run_id} does not start with WorkflowExecutionStarted")]
    NoStartedEvent { run_id: String },
}

impl Execution {
    /// The state a run with this identity has after `history` (then `buffered`, the events
    /// held back while a workflow task was in flight). Identity fields that no event carries
    /// (namespace, run id, start request id) come from `self`.
    pub fn rebuild_from(
        &self,
        history: &[HistoryEvent],
        buffered: &[HistoryEvent],
    ) -> Result<Execution, RebuildError> {
        let mut exec = Execution {
            namespace: self.namespace.clone(),
            run_id: self.run_id.clone(),
            start_request_id: self.start_request_id.clone(),
            next_event_id: 1,
            workflow_task_attempt: 1,
            ..Default::default()
        };
        let starts_right = matches!(
            history.first().and_then(|e| e.attributes.as_ref()),
            Some(Attributes::WorkflowExecutionStartedEventAttributes(_))
        );
        if !starts_right {
            return Err(RebuildError::NoStartedEvent {
                run_id: self.run_id.clone(),
            });
        }
        for event in history {
            if event.event_id != exec.next_event_id {
                return Err(RebuildError::NotContiguous {
                    run_id: self.run_id.clone(),
                    expected: exec.next_event_id,
                });
            }
            exec.count_written(event);
            exec.apply_event(event);
        }
        for event in buffered {
            exec.apply_event(event);
            exec.buffered_events.push(event.clone());
        }
        Ok(exec)
    }

    /// Checks that replaying `history` (then this state's buffered events) gives this state,
    /// attempt-level state aside; the error shows where the two differ.
    pub fn check_against_history(&self, history: &[HistoryEvent]) -> Result<(), String> {
        let rebuilt = self
            .rebuild_from(history, &self.buffered_events)
            .map_err(|e| e.to_string())?;
        let (persisted, rebuilt) = (self.event_sourced(), rebuilt.event_sourced());
        if persisted == rebuilt {
            return Ok(());
        }
        let (persisted, rebuilt) = (format!("{persisted:#?}"), format!("{rebuilt:#?}"));
        let lines: Vec<(&str, &str)> = persisted.lines().zip(rebuilt.lines()).collect();
        let at = lines
            .iter()
            .position(|(p, r)| p != r)
            .unwrap_or(lines.len().saturating_sub(1));
        let context: Vec<&str> = lines[at.saturating_sub(3)..at]
            .iter()
            .map(|l| l.0.trim())
            .collect();
        Err(format!(
            "run {}: the state rebuilt from history differs after `{}`: persisted `{}`, rebuilt `{}`",
            self.run_id,
            context.join(" "),
            lines.get(at).map_or("", |l| l.0.trim()),
            lines.get(at).map_or("", |l| l.1.trim()),
        ))
    }

    /// Advances the event counters for an event written to history.
    pub(super) fn count_written(&mut self, event: &HistoryEvent) {
        self.next_event_id += 1;
        self.history_size_bytes += prost::Message::encoded_len(event) as i64;
    }

    /// The part of the state that is derived from history events alone: attempt-level state
    /// (see the module documentation) is reset to what a rebuild produces.
    pub fn event_sourced(&self) -> Execution {
        let mut exec = self.clone();
        exec.db_version = 0;
        exec.workflow_task_attempt = 1;
        exec.sticky_task_queue.clear();
        exec.sticky_schedule_to_start_timeout_ms = 0;
        exec.signal_request_ids.clear();
        if exec.workflow_task.as_ref().is_some_and(|w| w.transient) {
            exec.workflow_task = None;
        }
        if let Some(wft) = exec.workflow_task.as_mut() {
            // A sticky offer is moved to the normal queue without an event.
            wft.task_queue.clear();
        }
        for activity in exec.activities.values_mut() {
            if let Some(original) = activity.original_options.take() {
                super::activity_operations::restore_options(activity, &original);
            }
            *activity = activity_as_scheduled(activity);
        }
        for op in exec.nexus_operations.values_mut() {
            *op = NexusOperationInfo {
                attempt: 1,
                dispatched_time_ms: 0,
                dispatch_deadline_ms: 0,
                retry_ready_time_ms: 0,
                last_attempt_failure: None,
                last_attempt_complete_time_ms: 0,
                cancel_attempt: if op.cancel_requested_event_id > 0 {
                    1
                } else {
                    0
                },
                cancel_dispatch_deadline_ms: 0,
                cancel_retry_ready_time_ms: 0,
                ..op.clone()
            };
        }
        exec.updates.retain(|_, u| u.accepted_event_id > 0);
        exec.updates_admitted = 0;
        for update in exec.updates.values_mut() {
            update.admission = 0;
        }
        exec
    }

    /// Applies one event to the state. `event.event_id` is only read for events that are never
    /// buffered (command events and workflow-task events). One arm per event type, so the
    /// whole mapping from events to state reads in one place; it is long for that reason.
    pub(crate) fn apply_event(&mut self, event: &HistoryEvent) {
        let Some(attributes) = &event.attributes else {
            return;
        };
        let at = timestamp_ms(event.event_time.as_ref());
        let id = event.event_id;
        if let Some(status) = close_status(attributes) {
            self.apply_close(status, at);
            return;
        }
        if self.apply_item_closed(attributes) {
            return;
        }
        use Attributes as A;
        match attributes {
            A::WorkflowExecutionStartedEventAttributes(a) => self.apply_started(event, a, at),
            A::WorkflowTaskScheduledEventAttributes(a) => self.apply_task_scheduled(a, id, at),
            A::WorkflowTaskStartedEventAttributes(a) => self.apply_task_started(a, id, at),
            A::WorkflowTaskCompletedEventAttributes(a) => {
                self.workflow_task = None;
                self.workflow_task_attempt = 1;
                self.last_completed_workflow_task_started_id = a.started_event_id;
                self.apply_versioning(a);
            }
            A::WorkflowTaskFailedEventAttributes(a) => {
                self.workflow_task = None;
                if a.cause == WorkflowTaskFailedCause::ResetWorkflow as i32 {
                    // A reset run's own clock starts at the reset.
                    self.start_time_ms = at;
                    self.run_deadline_ms = self.run_deadline_from(at);
                }
            }
            A::WorkflowTaskTimedOutEventAttributes(_) => self.workflow_task = None,
            A::ActivityTaskScheduledEventAttributes(a) => {
                self.activities.insert(id, scheduled_activity(a, id, at));
            }
            A::NexusOperationScheduledEventAttributes(a) => {
                self.nexus_operations.insert(id, scheduled_nexus(a, id, at));
            }
            A::NexusOperationStartedEventAttributes(a) => {
                if let Some(op) = self.nexus_operations.get_mut(&a.scheduled_event_id) {
                    op.operation_token = a.operation_token.clone();
                    op.started_time_ms = at;
                    op.dispatched_time_ms = 0;
                    op.dispatch_deadline_ms = 0;
                    if let Some(handler) = super::nexus::linked_handler_run(event) {
                        op.handler_namespace = handler.namespace;
                        op.handler_run = Some(temper_api::proto::common::v1::WorkflowExecution {
                            workflow_id: handler.workflow_id,
                            run_id: handler.run_id,
                        });
                    }
                }
            }
            A::NexusOperationCancelRequestedEventAttributes(a) => {
                if let Some(op) = self.nexus_operations.get_mut(&a.scheduled_event_id) {
                    op.cancel_requested_event_id = id;
                    op.cancel_attempt = 1;
                }
            }
            A::NexusOperationCancelRequestCompletedEventAttributes(a) => {
                self.nexus_cancel_answered(a.scheduled_event_id);
            }
            A::NexusOperationCancelRequestFailedEventAttributes(a) => {
                self.nexus_cancel_answered(a.scheduled_event_id);
            }
            A::ActivityTaskCancelRequestedEventAttributes(a) => {
                if let Some(activity) = self.activities.get_mut(&a.scheduled_event_id) {
                    activity.cancel_requested = true;
                    activity.cancel_requested_event_id = id;
                }
            }
            A::TimerStartedEventAttributes(a) => {
                let fire_time_ms = at.saturating_add(duration_ms(a.start_to_fire_timeout.as_ref()));
                let timer = TimerInfo {
                    timer_id: a.timer_id.clone(),
                    started_event_id: id,
                    fire_time_ms,
                };
                self.timers.insert(a.timer_id.clone(), timer);
            }
            A::TimerFiredEventAttributes(a) => {
                self.timers.remove(&a.timer_id);
            }
            A::TimerCanceledEventAttributes(a) => {
                self.timers.remove(&a.timer_id);
            }
            A::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
                self.children.insert(id, initiated_child(a, id));
            }
            A::ChildWorkflowExecutionStartedEventAttributes(a) => {
                if let Some(child) = self.children.get_mut(&a.initiated_event_id) {
                    child.started_event_id = id;
                    child.run_id = a
                        .workflow_execution
                        .as_ref()
                        .map(|e| e.run_id.clone())
                        .unwrap_or_default();
                }
            }
            A::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                let request = ExternalRequest {
                    initiated_event_id: id,
                    ..signal_request(a)
                };
                self.external_requests.insert(id, request);
            }
            A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                let request = ExternalRequest {
                    initiated_event_id: id,
                    ..cancel_request(a)
                };
                self.external_requests.insert(id, request);
            }
            A::WorkflowExecutionCancelRequestedEventAttributes(_) => self.cancel_requested = true,
            A::UpsertWorkflowSearchAttributesEventAttributes(a) => {
                self.upsert_search_attributes(a.search_attributes.as_ref());
            }
            A::WorkflowExecutionOptionsUpdatedEventAttributes(a) => {
                if let Some(started) = self.started.as_mut() {
                    started.priority = a.priority.clone();
                    if a.versioning_override.is_some() || a.unset_versioning_override {
                        started.versioning_override = a.versioning_override.clone();
                    }
                }
            }
            A::WorkflowPropertiesModifiedEventAttributes(a) => {
                self.upsert_memo(a.upserted_memo.as_ref());
            }
            A::WorkflowExecutionUpdateAcceptedEventAttributes(a) => self.apply_accepted(a, id),
            A::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
                let update_id = a.meta.as_ref().map(|m| m.update_id.as_str());
                if let Some(info) = update_id.and_then(|u| self.updates.get_mut(u)) {
                    info.stage = Stage::Completed as i32;
                    info.outcome = a.outcome.clone();
                }
            }
            // Signals, markers and activity Started events (written with the activity's
            // result) change nothing that is kept in state.
            _ => {}
        }
    }

    /// The run's identity, timeouts and deadlines from its first event.
    fn apply_started(
        &mut self,
        event: &HistoryEvent,
        started: &history::WorkflowExecutionStartedEventAttributes,
        at: i64,
    ) {
        let backoff_ms = duration_ms(started.first_workflow_task_backoff.as_ref());
        self.workflow_id = started.workflow_id.clone();
        self.first_execution_run_id = started.first_execution_run_id.clone();
        self.workflow_type = started
            .workflow_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        self.task_queue = started
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        self.status = WorkflowExecutionStatus::Running as i32;
        self.start_time_ms = at;
        self.workflow_task_timeout_ms = duration_ms(started.workflow_task_timeout.as_ref());
        self.run_timeout_ms = duration_ms(started.workflow_run_timeout.as_ref());
        self.execution_timeout_ms = duration_ms(started.workflow_execution_timeout.as_ref());
        self.execution_deadline_ms =
            timestamp_ms(started.workflow_execution_expiration_time.as_ref());
        self.run_deadline_ms = self.run_deadline_from(at + backoff_ms);
        self.memo = started.memo.clone();
        self.search_attributes = started.search_attributes.clone();
        self.started = Some(started.clone());
        self.user_metadata = event.user_metadata.clone();
        self.first_workflow_task_time_ms = if backoff_ms > 0 { at + backoff_ms } else { 0 };
    }

    /// The run's deadline when its own timeout counts from `run_start_ms`: the run timeout or
    /// the execution deadline, whichever comes first (0: none).
    pub(super) fn run_deadline_from(&self, run_start_ms: i64) -> i64 {
        let own = if self.run_timeout_ms > 0 {
            run_start_ms + self.run_timeout_ms
        } else {
            0
        };
        match (own, self.execution_deadline_ms) {
            (0, e) => e,
            (r, 0) => r,
            (r, e) => r.min(e),
        }
    }

    fn apply_task_scheduled(
        &mut self,
        scheduled: &history::WorkflowTaskScheduledEventAttributes,
        id: i64,
        at: i64,
    ) {
        self.first_workflow_task_time_ms = 0;
        self.workflow_task = Some(WorkflowTaskInfo {
            scheduled_event_id: id,
            attempt: scheduled.attempt.max(1),
            scheduled_time_ms: at,
            start_to_close_timeout_ms: duration_ms(scheduled.start_to_close_timeout.as_ref()),
            task_queue: scheduled
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            ..Default::default()
        });
    }

    fn apply_task_started(
        &mut self,
        started: &history::WorkflowTaskStartedEventAttributes,
        id: i64,
        at: i64,
    ) {
        if let Some(wft) = self.workflow_task.as_mut() {
            wft.started_event_id = id;
            wft.started_time_ms = at;
            wft.started_identity = started.identity.clone();
            wft.started_request_id = started.request_id.clone();
            wft.suggest_continue_as_new_reasons = started.suggest_continue_as_new_reasons.clone();
        }
    }

    fn apply_accepted(
        &mut self,
        accepted: &history::WorkflowExecutionUpdateAcceptedEventAttributes,
        id: i64,
    ) {
        if !self.updates.contains_key(&accepted.protocol_instance_id) {
            self.updates_admitted += 1;
            let info = UpdateInfo {
                request: accepted.accepted_request.clone(),
                admission: self.updates_admitted,
                ..Default::default()
            };
            self.updates
                .insert(accepted.protocol_instance_id.clone(), info);
        }
        if let Some(info) = self.updates.get_mut(&accepted.protocol_instance_id) {
            info.stage = Stage::Accepted as i32;
            info.accepted_event_id = id;
        }
    }

    /// The run closed: nothing is pending any more except its children (the parent close
    /// policy still applies to them) and updates, which get their final outcome.
    fn apply_close(&mut self, status: WorkflowExecutionStatus, at: i64) {
        self.end_open_updates();
        self.status = status as i32;
        self.close_time_ms = at;
        self.workflow_task = None;
        self.activities.clear();
        self.timers.clear();
        self.buffered_events.clear();
    }

    /// Removes the activity, child or external request an event ends; false if it ends none.
    fn nexus_cancel_answered(&mut self, scheduled_event_id: i64) {
        if let Some(op) = self.nexus_operations.get_mut(&scheduled_event_id) {
            op.cancel_answered = true;
            op.cancel_dispatch_deadline_ms = 0;
            op.cancel_retry_ready_time_ms = 0;
        }
    }

    fn apply_item_closed(&mut self, attributes: &Attributes) -> bool {
        match closed_item(attributes) {
            Some(Closed::Activity(scheduled_event_id)) => {
                self.activities.remove(&scheduled_event_id);
            }
            Some(Closed::Child(initiated_event_id)) => {
                self.children.remove(&initiated_event_id);
            }
            Some(Closed::External(initiated_event_id)) => {
                self.external_requests.remove(&initiated_event_id);
            }
            Some(Closed::Nexus(scheduled_event_id)) => {
                self.nexus_operations.remove(&scheduled_event_id);
            }
            None => return false,
        }
        true
    }
}

/// A new activity as its scheduled event describes it (first attempt, not started).
fn scheduled_activity(
    a: &history::ActivityTaskScheduledEventAttributes,
    id: i64,
    at: i64,
) -> ActivityInfo {
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
        scheduled_time_ms: at,
        current_attempt_scheduled_time_ms: at,
        retry_policy: a.retry_policy.clone(),
        schedule_to_close_timeout_ms: duration_ms(a.schedule_to_close_timeout.as_ref()),
        schedule_to_start_timeout_ms: duration_ms(a.schedule_to_start_timeout.as_ref()),
        start_to_close_timeout_ms: duration_ms(a.start_to_close_timeout.as_ref()),
        heartbeat_timeout_ms: duration_ms(a.heartbeat_timeout.as_ref()),
        ..Default::default()
    }
}

/// A new Nexus operation as its scheduled event describes it (first attempt, not dispatched).
fn scheduled_nexus(
    a: &history::NexusOperationScheduledEventAttributes,
    id: i64,
    at: i64,
) -> NexusOperationInfo {
    NexusOperationInfo {
        scheduled_event_id: id,
        endpoint: a.endpoint.clone(),
        endpoint_id: a.endpoint_id.clone(),
        service: a.service.clone(),
        operation: a.operation.clone(),
        input: a.input.clone(),
        header: a.nexus_header.clone().into_iter().collect(),
        request_id: a.request_id.clone(),
        scheduled_time_ms: at,
        schedule_to_close_timeout_ms: duration_ms(a.schedule_to_close_timeout.as_ref()),
        schedule_to_start_timeout_ms: duration_ms(a.schedule_to_start_timeout.as_ref()),
        start_to_close_timeout_ms: duration_ms(a.start_to_close_timeout.as_ref()),
        attempt: 1,
        ..Default::default()
    }
}

/// An activity with its attempt-level state reset to the first, unstarted attempt.
fn activity_as_scheduled(activity: &ActivityInfo) -> ActivityInfo {
    ActivityInfo {
        attempt: 1,
        current_attempt_scheduled_time_ms: activity.scheduled_time_ms,
        started_time_ms: 0,
        started_identity: String::new(),
        started_request_id: String::new(),
        last_heartbeat_time_ms: 0,
        heartbeat_details: None,
        last_failure: None,
        retry_ready_time_ms: 0,
        last_worker_identity: String::new(),
        paused: false,
        pause_time_ms: 0,
        pause_identity: String::new(),
        pause_reason: String::new(),
        pause_request_id: String::new(),
        reset_requested: false,
        last_attempt_complete_time_ms: 0,
        ..activity.clone()
    }
}

fn initiated_child(
    a: &history::StartChildWorkflowExecutionInitiatedEventAttributes,
    id: i64,
) -> ChildInfo {
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
    }
}

/// The status a run-closing event leaves the run in.
fn close_status(attributes: &Attributes) -> Option<WorkflowExecutionStatus> {
    use Attributes as A;
    use WorkflowExecutionStatus as S;
    Some(match attributes {
        A::WorkflowExecutionCompletedEventAttributes(_) => S::Completed,
        A::WorkflowExecutionFailedEventAttributes(_) => S::Failed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => S::TimedOut,
        A::WorkflowExecutionCanceledEventAttributes(_) => S::Canceled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => S::Terminated,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => S::ContinuedAsNew,
        _ => return None,
    })
}

/// Something pending that an event ends, by the id of the event that started it.
enum Closed {
    Activity(i64),
    Child(i64),
    External(i64),
    Nexus(i64),
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
        A::NexusOperationCompletedEventAttributes(a) => Closed::Nexus(a.scheduled_event_id),
        A::NexusOperationFailedEventAttributes(a) => Closed::Nexus(a.scheduled_event_id),
        A::NexusOperationCanceledEventAttributes(a) => Closed::Nexus(a.scheduled_event_id),
        A::NexusOperationTimedOutEventAttributes(a) => Closed::Nexus(a.scheduled_event_id),
        _ => return None,
    })
}

//! Building history events, and the pieces of them that several transitions share.

use crate::retry::{self};
use crate::state::{ExternalRequest, WorkflowTaskInfo};
use crate::time::{ms_duration, ms_timestamp};
use temper_api::proto::common::v1::{ActivityType, Payloads, WorkflowType};
use temper_api::proto::enums::v1::{EventType, TaskQueueKind, TimeoutType};
use temper_api::proto::failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};
use temper_api::proto::taskqueue::v1::TaskQueue;

pub(super) fn event_type(attributes: &Attributes) -> EventType {
    use Attributes as A;
    match attributes {
        A::WorkflowExecutionStartedEventAttributes(_) => EventType::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => EventType::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => EventType::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => EventType::WorkflowExecutionTimedOut,
        A::WorkflowExecutionCanceledEventAttributes(_) => EventType::WorkflowExecutionCanceled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => EventType::WorkflowExecutionTerminated,
        A::WorkflowExecutionSignaledEventAttributes(_) => EventType::WorkflowExecutionSignaled,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        A::WorkflowTaskScheduledEventAttributes(_) => EventType::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => EventType::WorkflowTaskCompleted,
        A::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        A::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        A::ActivityTaskScheduledEventAttributes(_) => EventType::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => EventType::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        A::ActivityTaskCancelRequestedEventAttributes(_) => EventType::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        A::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        A::TimerFiredEventAttributes(_) => EventType::TimerFired,
        A::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        A::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        A::UpsertWorkflowSearchAttributesEventAttributes(_) => {
            EventType::UpsertWorkflowSearchAttributes
        }
        A::WorkflowPropertiesModifiedEventAttributes(_) => EventType::WorkflowPropertiesModified,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => {
            EventType::WorkflowExecutionContinuedAsNew
        }
        A::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionInitiated
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionStartedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionStarted
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCompleted
        }
        A::ChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionCanceledEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCanceled
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTerminated
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTimedOut
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionInitiated
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionSignaled
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionInitiated
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAccepted
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateCompleted
        }
        A::WorkflowExecutionOptionsUpdatedEventAttributes(_) => {
            EventType::WorkflowExecutionOptionsUpdated
        }
        A::NexusOperationScheduledEventAttributes(_) => EventType::NexusOperationScheduled,
        A::NexusOperationStartedEventAttributes(_) => EventType::NexusOperationStarted,
        A::NexusOperationCompletedEventAttributes(_) => EventType::NexusOperationCompleted,
        A::NexusOperationFailedEventAttributes(_) => EventType::NexusOperationFailed,
        A::NexusOperationCanceledEventAttributes(_) => EventType::NexusOperationCanceled,
        A::NexusOperationTimedOutEventAttributes(_) => EventType::NexusOperationTimedOut,
        A::NexusOperationCancelRequestedEventAttributes(_) => {
            EventType::NexusOperationCancelRequested
        }
        A::NexusOperationCancelRequestCompletedEventAttributes(_) => {
            EventType::NexusOperationCancelRequestCompleted
        }
        A::NexusOperationCancelRequestFailedEventAttributes(_) => {
            EventType::NexusOperationCancelRequestFailed
        }
        _ => EventType::Unspecified,
    }
}

/// The pending request a `SignalExternalWorkflowExecutionInitiated` event stands for (its
/// `initiated_event_id` is set once the event has its id).
pub(super) fn signal_request(
    initiated: &history::SignalExternalWorkflowExecutionInitiatedEventAttributes,
) -> ExternalRequest {
    let target = initiated.workflow_execution.clone().unwrap_or_default();
    ExternalRequest {
        namespace: initiated.namespace.clone(),
        workflow_id: target.workflow_id,
        run_id: target.run_id,
        child_workflow_only: initiated.child_workflow_only,
        signal_name: initiated.signal_name.clone(),
        input: initiated.input.clone(),
        header: initiated.header.clone(),
        ..Default::default()
    }
}

/// The pending request a `RequestCancelExternalWorkflowExecutionInitiated` event stands for.
pub(super) fn cancel_request(
    initiated: &history::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
) -> ExternalRequest {
    let target = initiated.workflow_execution.clone().unwrap_or_default();
    ExternalRequest {
        namespace: initiated.namespace.clone(),
        workflow_id: target.workflow_id,
        run_id: target.run_id,
        child_workflow_only: initiated.child_workflow_only,
        reason: initiated.reason.clone(),
        ..Default::default()
    }
}

/// A task queue of kind NORMAL, as events and responses name one.
pub fn normal_task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

pub(crate) fn timeout_failure(
    kind: TimeoutType,
    details: Option<Payloads>,
    cause: Option<Failure>,
) -> Failure {
    Failure {
        message: format!("activity {} timeout", retry::timeout_type_name(kind)),
        source: "Server".into(),
        cause: cause.map(Box::new),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: kind as i32,
            last_heartbeat_details: details,
        })),
        ..Default::default()
    }
}

pub(super) fn started_event(wft: &WorkflowTaskInfo, history_size_bytes: i64) -> HistoryEvent {
    HistoryEvent {
        event_time: ms_timestamp(wft.started_time_ms),
        event_type: EventType::WorkflowTaskStarted as i32,
        attributes: Some(Attributes::WorkflowTaskStartedEventAttributes(
            history::WorkflowTaskStartedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                identity: wft.started_identity.clone(),
                request_id: wft.started_request_id.clone(),
                history_size_bytes,
                suggest_continue_as_new: !wft.suggest_continue_as_new_reasons.is_empty(),
                suggest_continue_as_new_reasons: wft.suggest_continue_as_new_reasons.clone(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The Scheduled and Started events of a started transient task, numbered where they would
/// be written; workers receive them at the end of the task's history.
pub fn transient_events(wft: &WorkflowTaskInfo, history_size_bytes: i64) -> Vec<HistoryEvent> {
    if !wft.transient || wft.started_event_id == 0 {
        return Vec::new();
    }
    let scheduled = HistoryEvent {
        event_id: wft.scheduled_event_id,
        event_time: ms_timestamp(wft.scheduled_time_ms),
        event_type: EventType::WorkflowTaskScheduled as i32,
        attributes: Some(Attributes::WorkflowTaskScheduledEventAttributes(
            history::WorkflowTaskScheduledEventAttributes {
                task_queue: normal_task_queue(&wft.task_queue),
                start_to_close_timeout: ms_duration(wft.start_to_close_timeout_ms),
                attempt: wft.attempt,
            },
        )),
        ..Default::default()
    };
    let mut started = started_event(wft, history_size_bytes);
    started.event_id = wft.started_event_id;
    vec![scheduled, started]
}

/// Builds `WorkflowExecutionStarted` attributes' workflow type and queue (for callers and tests).
pub fn minimal_started_attributes(
    workflow_id: &str,
    workflow_type: &str,
    queue: &str,
) -> history::WorkflowExecutionStartedEventAttributes {
    history::WorkflowExecutionStartedEventAttributes {
        workflow_id: workflow_id.to_string(),
        workflow_type: Some(WorkflowType {
            name: workflow_type.to_string(),
        }),
        task_queue: normal_task_queue(queue),
        ..Default::default()
    }
}

/// The activity type as a proto message (poll responses).
pub fn activity_type(name: &str) -> Option<ActivityType> {
    Some(ActivityType {
        name: name.to_string(),
    })
}

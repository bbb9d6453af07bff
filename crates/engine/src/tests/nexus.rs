//! Nexus operations: scheduling (no workflow task), attempts handed to handlers, retries
//! after handler errors and unanswered attempts, results and the schedule-to-close timeout.
//! Every transition here is also checked against a rebuild from history.

use std::collections::BTreeMap;

use temper_api::proto::command::v1::{
    ScheduleNexusOperationCommandAttributes, command::Attributes as C,
};
use temper_api::proto::common::v1::Payload;
use temper_api::proto::enums::v1::{EventType, TimeoutType};
use temper_api::proto::failure::v1::{Failure, failure::FailureInfo};
use temper_api::proto::history::v1::history_event::Attributes;

use super::{T0, apply, apply_tasks, completion, started_run, types};
use crate::Execution;
use crate::execution::{NexusEndpointRef, NexusOutcome, ReadyTask};
use crate::time::ms_duration;

/// A run that scheduled one operation (event 5) on endpoint "ep" with this timeout.
fn run_with_operation(schedule_to_close_ms: i64) -> Execution {
    let (mut exec, s, st) = started_run();
    let request = completion(vec![C::ScheduleNexusOperationCommandAttributes(
        ScheduleNexusOperationCommandAttributes {
            endpoint: "ep".into(),
            service: "Svc".into(),
            operation: "echo".into(),
            schedule_to_close_timeout: ms_duration(schedule_to_close_ms),
            ..Default::default()
        },
    )]);
    let (events, tasks) = apply_tasks(&mut exec, T0 + 10, |t| {
        let endpoints =
            BTreeMap::from([("ep".to_string(), NexusEndpointRef { id: "ep-id".into() })]);
        t.set_nexus_endpoints(endpoints);
        t.complete_workflow_task(s, st, 1, &request)
            .expect("completes");
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::NexusOperationScheduled
        ],
        "scheduling needs no workflow task"
    );
    assert_eq!(
        tasks,
        vec![ReadyTask::Nexus {
            endpoint_id: "ep-id".into(),
            scheduled_event_id: 5,
            attempt: 1
        }]
    );
    exec
}

fn handler_error(retryable: bool) -> NexusOutcome {
    NexusOutcome::HandlerError {
        failure: Failure {
            message: "try later".into(),
            ..Default::default()
        },
        retryable,
    }
}

#[test]
fn attempts_retry_with_backoff_until_one_succeeds() {
    let mut exec = run_with_operation(60_000);
    let grant = apply(&mut exec, T0 + 20, |t| t.start_nexus_task(5, 1))
        .0
        .expect("starts");
    assert_eq!(
        (grant.service.as_str(), grant.deadline_ms),
        ("Svc", T0 + 10_020)
    );
    assert!(
        apply(&mut exec, T0 + 21, |t| t.start_nexus_task(5, 1))
            .0
            .is_err(),
        "taken once"
    );
    let (result, events) = apply(&mut exec, T0 + 30, |t| {
        t.complete_nexus_task(5, 1, handler_error(true))
    });
    result.expect("recorded");
    assert!(events.is_empty(), "a retried attempt writes no events");
    assert_eq!(exec.next_wakeup(), Some(T0 + 1_030));
    let (_, tasks) = apply_tasks(&mut exec, T0 + 1_030, |t| t.on_time());
    assert_eq!(
        tasks,
        vec![ReadyTask::Nexus {
            endpoint_id: "ep-id".into(),
            scheduled_event_id: 5,
            attempt: 2
        }]
    );
    // Attempt 2 is never answered: its request deadline passes, attempt 3 waits 2 s.
    apply(&mut exec, T0 + 1_040, |t| t.start_nexus_task(5, 2))
        .0
        .expect("starts");
    apply_tasks(&mut exec, T0 + 11_040, |t| t.on_time());
    assert_eq!(exec.nexus_operations[&5].retry_ready_time_ms, T0 + 13_040);
    assert!(
        apply(&mut exec, T0 + 11_050, |t| t.complete_nexus_task(
            5,
            2,
            handler_error(true)
        ))
        .0
        .is_err()
    );
    apply_tasks(&mut exec, T0 + 13_040, |t| t.on_time());
    apply(&mut exec, T0 + 13_050, |t| t.start_nexus_task(5, 3))
        .0
        .expect("starts");
    let result = Payload {
        data: b"\"done\"".to_vec(),
        ..Default::default()
    };
    let (outcome, events) = apply(&mut exec, T0 + 13_060, |t| {
        t.complete_nexus_task(5, 3, NexusOutcome::Succeeded(Some(result)))
    });
    outcome.expect("completes");
    assert_eq!(
        types(&events),
        vec![
            EventType::NexusOperationCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(exec.nexus_operations.is_empty());
}

#[test]
fn a_final_handler_error_fails_the_operation_with_temporals_wrapper() {
    let mut exec = run_with_operation(60_000);
    apply(&mut exec, T0 + 20, |t| t.start_nexus_task(5, 1))
        .0
        .expect("starts");
    let (_, events) = apply(&mut exec, T0 + 30, |t| {
        t.complete_nexus_task(5, 1, handler_error(false))
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::NexusOperationFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::NexusOperationFailedEventAttributes(failed)) = &events[0].attributes
    else {
        panic!("a failed event")
    };
    let failure = failed.failure.as_ref().expect("a failure");
    assert_eq!(failure.message, "nexus operation completed unsuccessfully");
    assert!(matches!(
        failure.failure_info,
        Some(FailureInfo::NexusOperationExecutionFailureInfo(_))
    ));
    assert_eq!(
        failure.cause.as_ref().map(|c| c.message.as_str()),
        Some("try later")
    );
}

#[test]
fn an_operation_times_out_after_schedule_to_close() {
    let mut exec = run_with_operation(5_000);
    apply(&mut exec, T0 + 20, |t| t.start_nexus_task(5, 1))
        .0
        .expect("starts");
    assert_eq!(
        exec.nexus_operations[&5].dispatch_deadline_ms,
        T0 + 5_010,
        "capped by the timeout"
    );
    let (events, _) = apply_tasks(&mut exec, T0 + 5_010, |t| t.on_time());
    assert_eq!(
        types(&events),
        vec![
            EventType::NexusOperationTimedOut,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::NexusOperationTimedOutEventAttributes(timed_out)) = &events[0].attributes
    else {
        panic!("a timed-out event")
    };
    let cause = timed_out
        .failure
        .as_ref()
        .and_then(|f| f.cause.as_ref())
        .expect("a cause");
    let Some(FailureInfo::TimeoutFailureInfo(info)) = &cause.failure_info else {
        panic!("a timeout")
    };
    assert_eq!(info.timeout_type, TimeoutType::ScheduleToClose as i32);
    assert_eq!(exec.next_wakeup(), None);
}

#[test]
fn cancel_requests_follow_temporals_rules() {
    let mut exec = run_with_operation(60_000);
    apply(&mut exec, T0 + 20, |t| t.start_nexus_task(5, 1))
        .0
        .expect("starts");
    let started = NexusOutcome::Started {
        token: "tok".into(),
        handler: None,
    };
    let (_, events) = apply(&mut exec, T0 + 30, |t| t.complete_nexus_task(5, 1, started));
    assert_eq!(
        types(&events),
        vec![
            EventType::NexusOperationStarted,
            EventType::WorkflowTaskScheduled
        ]
    );
    let (grant, _) = apply(&mut exec, T0 + 40, |t| {
        t.start_workflow_task(7, "worker", "r")
    });
    let grant = grant.expect("task starts");
    let cancel = |id| {
        C::RequestCancelNexusOperationCommandAttributes(
            temper_api::proto::command::v1::RequestCancelNexusOperationCommandAttributes {
                scheduled_event_id: id,
            },
        )
    };
    let request = completion(vec![cancel(5)]);
    let (events, tasks) = apply_tasks(&mut exec, T0 + 50, |t| {
        t.complete_workflow_task(7, grant.started_event_id, 1, &request)
            .expect("completes");
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::NexusOperationCancelRequested
        ],
        "a cancel request needs no workflow task"
    );
    assert_eq!(
        tasks,
        vec![ReadyTask::NexusCancel {
            endpoint_id: "ep-id".into(),
            scheduled_event_id: 5,
            attempt: 1
        }]
    );
    apply(&mut exec, T0 + 60, |t| t.start_nexus_cancel_task(5, 1))
        .0
        .expect("cancel starts");
    let (_, events) = apply(&mut exec, T0 + 70, |t| {
        t.complete_nexus_cancel_task(5, 1, None)
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::NexusOperationCancelRequestCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(events[0].worker_may_ignore);
    let scheduled = exec
        .workflow_task
        .as_ref()
        .map(|w| w.scheduled_event_id)
        .expect("a task");
    let (grant, _) = apply(&mut exec, T0 + 80, |t| {
        t.start_workflow_task(scheduled, "worker", "r")
    });
    let grant = grant.expect("task starts");
    let request = completion(vec![cancel(5)]);
    let (result, _) = apply(&mut exec, T0 + 90, |t| {
        t.complete_workflow_task(scheduled, grant.started_event_id, 1, &request)
    });
    assert_eq!(
        result.expect_err("refused").to_string(),
        "BadRequestCancelNexusOperationAttributes: cancelation was already requested for an operation with scheduled event ID 5"
    );
}

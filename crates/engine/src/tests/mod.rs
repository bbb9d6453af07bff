//! Command → events transitions of the engine, one scenario per behaviour.

use temper_api::proto::command::v1::{self as command, Command, command::Attributes as C};
use temper_api::proto::common::v1::{ActivityType, Payloads, RetryPolicy};
use temper_api::proto::enums::v1::{
    EventType, RetryState, WorkflowExecutionStatus, WorkflowTaskFailedCause,
};
use temper_api::proto::failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use temper_api::proto::history::v1::{HistoryEvent, history_event::Attributes};
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

use crate::Execution;
use crate::execution::{
    Completed, CompletionError, ReadyTask, TaskError, Transition, minimal_started_attributes,
};
use crate::time::{duration_ms, ms_duration};

const T0: i64 = 1_700_000_000_000;

thread_local! {
    /// Every run's written history, so that each transition's state can be checked against
    /// the state rebuilt from that history.
    static HISTORIES: std::cell::RefCell<std::collections::BTreeMap<String, Vec<HistoryEvent>>> =
        Default::default();
}

/// `Execution::start` in namespace "default", keeping the run's history for the rebuild check.
fn start_run(
    run_id: &str,
    request_id: &str,
    started: temper_api::proto::history::v1::WorkflowExecutionStartedEventAttributes,
    signal: Option<&crate::execution::InitialSignal>,
    now: i64,
) -> (Execution, Vec<HistoryEvent>, Vec<ReadyTask>) {
    let (exec, events, tasks) =
        Execution::start("default", run_id, request_id, started, signal, None, now);
    HISTORIES.with(|h| h.borrow_mut().insert(run_id.to_string(), Vec::new()));
    record_and_check(&exec, &events);
    (exec, events, tasks)
}

/// Adds a transition's events to the run's history and checks that replaying the history
/// gives the run's state (the engine's one path from event to state).
fn record_and_check(exec: &Execution, events: &[HistoryEvent]) {
    HISTORIES.with(|h| {
        let mut histories = h.borrow_mut();
        let history = histories
            .get_mut(&exec.run_id)
            .expect("runs in these tests start through start_run");
        history.extend(events.iter().cloned());
        if let Err(difference) = exec.check_against_history(history) {
            panic!("{difference}");
        }
    });
}

fn types(events: &[HistoryEvent]) -> Vec<EventType> {
    events
        .iter()
        .map(|e| EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified))
        .collect()
}

/// A run with its first workflow task started; returns (exec, scheduled id, started id).
fn started_run() -> (Execution, i64, i64) {
    let (mut exec, events, tasks) = start_run(
        "run-1",
        "req-1",
        minimal_started_attributes("wf", "Type", "q"),
        None,
        T0,
    );
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        tasks,
        vec![ReadyTask::Workflow {
            task_queue: "q".into(),
            scheduled_event_id: 2,
            attempt: 1
        }]
    );
    let (grant, events) = apply(&mut exec, T0, |t| t.start_workflow_task(2, "worker", "r"));
    let grant = grant.expect("task starts");
    assert_eq!(types(&events), vec![EventType::WorkflowTaskStarted]);
    assert_eq!(
        (grant.started_event_id, grant.previous_started_event_id),
        (3, 0)
    );
    (exec, 2, 3)
}

fn apply<R>(
    exec: &mut Execution,
    now: i64,
    f: impl FnOnce(&mut Transition<'_>) -> R,
) -> (R, Vec<HistoryEvent>) {
    let mut t = Transition::new(exec, now);
    let value = f(&mut t);
    let events = t.finish().events;
    record_and_check(exec, &events);
    (value, events)
}

fn apply_tasks(
    exec: &mut Execution,
    now: i64,
    f: impl FnOnce(&mut Transition<'_>),
) -> (Vec<HistoryEvent>, Vec<ReadyTask>) {
    let mut t = Transition::new(exec, now);
    f(&mut t);
    let output = t.finish();
    record_and_check(exec, &output.events);
    (output.events, output.tasks)
}

/// A worker's completion carrying `commands`.
fn completion(commands: Vec<C>) -> RespondWorkflowTaskCompletedRequest {
    RespondWorkflowTaskCompletedRequest {
        commands: commands
            .into_iter()
            .map(|a| Command {
                attributes: Some(a),
                ..Default::default()
            })
            .collect(),
        identity: "worker".into(),
        ..Default::default()
    }
}

fn complete(
    exec: &mut Execution,
    now: i64,
    ids: (i64, i64),
    commands: Vec<C>,
) -> (Result<Completed, CompletionError>, Vec<HistoryEvent>) {
    let request = completion(commands);
    // The token of the attempt in flight.
    let attempt = exec.workflow_task.as_ref().map_or(1, |w| w.attempt);
    apply(exec, now, |t| {
        t.complete_workflow_task(ids.0, ids.1, attempt, &request)
    })
}

fn schedule_activity(id: &str, retry: Option<RetryPolicy>) -> C {
    C::ScheduleActivityTaskCommandAttributes(command::ScheduleActivityTaskCommandAttributes {
        activity_id: id.into(),
        activity_type: Some(ActivityType { name: "Act".into() }),
        start_to_close_timeout: ms_duration(10_000),
        retry_policy: retry,
        ..Default::default()
    })
}

fn start_timer(id: &str, ms: i64) -> C {
    C::StartTimerCommandAttributes(command::StartTimerCommandAttributes {
        timer_id: id.into(),
        start_to_fire_timeout: ms_duration(ms),
    })
}

fn complete_workflow() -> C {
    C::CompleteWorkflowExecutionCommandAttributes(
        command::CompleteWorkflowExecutionCommandAttributes::default(),
    )
}

fn app_failure() -> Failure {
    Failure {
        message: "boom".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo::default(),
        )),
        ..Default::default()
    }
}

/// Runs with one activity scheduled (event 5) by the first task; the task is completed.
fn run_with_activity(retry: Option<RetryPolicy>) -> Execution {
    let (mut exec, s, st) = started_run();
    let (result, events) = complete(
        &mut exec,
        T0 + 10,
        (s, st),
        vec![schedule_activity("a1", retry)],
    );
    result.expect("completion applies");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskScheduled
        ]
    );
    exec
}

#[test]
fn schedule_activity_fills_defaults_and_readies_a_task() {
    let (mut exec, s, st) = started_run();
    let request = RespondWorkflowTaskCompletedRequest {
        commands: vec![Command {
            attributes: Some(schedule_activity("a1", None)),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (events, tasks) = apply_tasks(&mut exec, T0 + 10, |t| {
        t.complete_workflow_task(s, st, 1, &request)
            .expect("applies");
    });
    assert_eq!(
        tasks,
        vec![ReadyTask::Activity {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 1
        }]
    );
    let Some(Attributes::ActivityTaskScheduledEventAttributes(a)) = &events[1].attributes else {
        panic!()
    };
    assert_eq!(a.workflow_task_completed_event_id, 4);
    let policy = a.retry_policy.as_ref().expect("policy attached");
    assert_eq!(duration_ms(policy.initial_interval.as_ref()), 1_000);
    assert_eq!(policy.backoff_coefficient, 2.0);
    assert_eq!(a.task_queue.as_ref().map(|q| q.name.as_str()), Some("q"));
    assert_eq!(exec.last_completed_workflow_task_started_id, 3);
    assert!(exec.workflow_task.is_none());
}

#[test]
fn activity_completion_writes_back_dated_started_then_completed() {
    let mut exec = run_with_activity(None);
    let (grant, events) = apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    });
    assert!(
        grant.is_ok() && events.is_empty(),
        "starting an attempt writes no event"
    );
    let (result, events) = apply(&mut exec, T0 + 50, |t| {
        t.complete_activity(5, 1, Some(Payloads::default()), "w")
    });
    result.expect("completes");
    assert_eq!(
        types(&events),
        vec![
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        crate::time::timestamp_ms(events[0].event_time.as_ref()),
        T0 + 20
    );
    let Some(Attributes::ActivityTaskCompletedEventAttributes(c)) = &events[1].attributes else {
        panic!()
    };
    assert_eq!((c.scheduled_event_id, c.started_event_id), (5, 6));
    let (again, _) = apply(&mut exec, T0 + 60, |t| t.complete_activity(5, 1, None, "w"));
    assert!(
        matches!(again, Err(TaskError::ActivityNotRunning)),
        "a second completion is stale"
    );
}

#[test]
fn failed_attempts_retry_after_backoff_without_events() {
    let policy = RetryPolicy {
        maximum_attempts: 2,
        ..Default::default()
    };
    let mut exec = run_with_activity(Some(policy));
    apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    let (result, events) = apply(&mut exec, T0 + 30, |t| {
        t.fail_activity(5, 1, Some(app_failure()), None, "w")
    });
    result.expect("fails");
    assert!(events.is_empty(), "a retried attempt writes no events");
    assert_eq!(exec.activities[&5].retry_ready_time_ms, T0 + 1_030);
    assert_eq!(exec.next_wakeup(), Some(T0 + 1_030));
    let (events, tasks) = apply_tasks(&mut exec, T0 + 1_030, |t| t.on_time());
    assert!(events.is_empty());
    assert_eq!(
        tasks,
        vec![ReadyTask::Activity {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 2
        }]
    );
    apply(&mut exec, T0 + 1_040, |t| {
        t.start_activity_task(5, 2, "w", "r")
    })
    .0
    .expect("attempt 2 starts");
    let (_, events) = apply(&mut exec, T0 + 1_050, |t| {
        t.fail_activity(5, 2, Some(app_failure()), None, "w")
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::ActivityTaskFailedEventAttributes(f)) = &events[1].attributes else {
        panic!()
    };
    assert_eq!(f.retry_state, RetryState::MaximumAttemptsReached as i32);
}

#[test]
fn events_during_a_task_are_buffered_and_activity_results_flush_last() {
    let mut exec = run_with_activity(None);
    apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    let (_, events) = apply(&mut exec, T0 + 21, |t| {
        t.signal("first", None, "c", None, "s1")
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    apply(&mut exec, T0 + 22, |t| t.start_workflow_task(7, "w", "r"))
        .0
        .expect("task 2 starts");
    let (_, events) = apply(&mut exec, T0 + 23, |t| t.complete_activity(5, 1, None, "w"));
    assert!(events.is_empty(), "buffered while the task is in flight");
    let (_, events) = apply(&mut exec, T0 + 24, |t| {
        t.signal("second", None, "c", None, "s2")
    });
    assert!(events.is_empty());
    let (_, events) = apply(&mut exec, T0 + 24, |t| {
        t.signal("second", None, "c", None, "s2")
    });
    assert!(
        events.is_empty() && exec.buffered_events.len() == 3,
        "duplicate signal request ignored"
    );
    let (result, events) = complete(&mut exec, T0 + 25, (7, 8), vec![]);
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled,
        ]
    );
    let ids: Vec<i64> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, vec![9, 10, 11, 12, 13]);
    let Some(Attributes::ActivityTaskCompletedEventAttributes(c)) = &events[3].attributes else {
        panic!()
    };
    assert_eq!(c.started_event_id, 10, "started id wired at flush");
}

#[test]
fn timers_fire_and_cancel() {
    let (mut exec, s, st) = started_run();
    let (result, events) = complete(
        &mut exec,
        T0,
        (s, st),
        vec![start_timer("1", 5_000), start_timer("2", 9_000)],
    );
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::TimerStarted,
            EventType::TimerStarted
        ]
    );
    assert_eq!(exec.next_wakeup(), Some(T0 + 5_000));
    let (events, _) = apply_tasks(&mut exec, T0 + 5_000, |t| t.on_time());
    assert_eq!(
        types(&events),
        vec![EventType::TimerFired, EventType::WorkflowTaskScheduled]
    );
    let Some(Attributes::TimerFiredEventAttributes(fired)) = &events[0].attributes else {
        panic!()
    };
    assert_eq!((fired.timer_id.as_str(), fired.started_event_id), ("1", 5));
    apply(&mut exec, T0 + 5_001, |t| {
        t.start_workflow_task(8, "w", "r")
    })
    .0
    .expect("starts");
    let cancel = C::CancelTimerCommandAttributes(command::CancelTimerCommandAttributes {
        timer_id: "2".into(),
    });
    let (result, events) = complete(&mut exec, T0 + 5_002, (8, 9), vec![cancel]);
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![EventType::WorkflowTaskCompleted, EventType::TimerCanceled]
    );
    assert!(exec.timers.is_empty() && exec.next_wakeup().is_none());
}

#[test]
fn cancelling_a_timer_whose_firing_is_buffered_drops_the_firing() {
    let (mut exec, s, st) = started_run();
    complete(
        &mut exec,
        T0,
        (s, st),
        vec![start_timer("1", 1_000), start_timer("2", 1_000_000)],
    )
    .0
    .expect("applies");
    apply_tasks(&mut exec, T0 + 10, |t| {
        t.signal("wake", None, "c", None, "")
    });
    apply(&mut exec, T0 + 20, |t| t.start_workflow_task(8, "w", "r"))
        .0
        .expect("starts");
    let (events, _) = apply_tasks(&mut exec, T0 + 1_000, |t| t.on_time());
    assert!(events.is_empty(), "TimerFired is buffered");
    let cancel = C::CancelTimerCommandAttributes(command::CancelTimerCommandAttributes {
        timer_id: "1".into(),
    });
    let (result, events) = complete(&mut exec, T0 + 1_001, (8, 9), vec![cancel]);
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![EventType::WorkflowTaskCompleted, EventType::TimerCanceled]
    );
    let Some(Attributes::TimerCanceledEventAttributes(c)) = &events[1].attributes else {
        panic!()
    };
    assert_eq!(c.started_event_id, 5);
}

#[test]
fn close_commands_close_the_run() {
    for (command, status, event) in [
        (
            complete_workflow(),
            WorkflowExecutionStatus::Completed,
            EventType::WorkflowExecutionCompleted,
        ),
        (
            C::FailWorkflowExecutionCommandAttributes(
                command::FailWorkflowExecutionCommandAttributes {
                    failure: Some(app_failure()),
                },
            ),
            WorkflowExecutionStatus::Failed,
            EventType::WorkflowExecutionFailed,
        ),
        (
            C::CancelWorkflowExecutionCommandAttributes(
                command::CancelWorkflowExecutionCommandAttributes::default(),
            ),
            WorkflowExecutionStatus::Canceled,
            EventType::WorkflowExecutionCanceled,
        ),
    ] {
        let (mut exec, s, st) = started_run();
        let (result, events) = complete(&mut exec, T0 + 1, (s, st), vec![command]);
        result.expect("applies");
        assert_eq!(
            types(&events),
            vec![EventType::WorkflowTaskCompleted, event]
        );
        assert_eq!(exec.status, status as i32);
        assert_eq!(exec.close_time_ms, T0 + 1);
        assert!(exec.next_wakeup().is_none() && exec.ready_tasks().is_empty());
    }
}

#[test]
fn close_with_buffered_events_is_an_unhandled_command() {
    let (mut exec, s, st) = started_run();
    apply_tasks(&mut exec, T0 + 1, |t| t.signal("late", None, "c", None, ""));
    let (result, events) = complete(&mut exec, T0 + 2, (s, st), vec![complete_workflow()]);
    assert!(matches!(
        result,
        Err(CompletionError::TaskFailed {
            cause: WorkflowTaskFailedCause::UnhandledCommand,
            ..
        })
    ));
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(exec.is_running());
}

#[test]
fn markers_keep_their_details() {
    let (mut exec, s, st) = started_run();
    let mut details = command::RecordMarkerCommandAttributes::default().details;
    details.insert("data".to_string(), Payloads::default());
    let marker = C::RecordMarkerCommandAttributes(command::RecordMarkerCommandAttributes {
        marker_name: "core_patch".into(),
        details: details.clone(),
        ..Default::default()
    });
    let (result, events) = complete(&mut exec, T0, (s, st), vec![marker]);
    result.expect("applies");
    let Some(Attributes::MarkerRecordedEventAttributes(m)) = &events[1].attributes else {
        panic!()
    };
    assert_eq!(
        (m.marker_name.as_str(), &m.details),
        ("core_patch", &details)
    );
}

#[test]
fn cancel_activity_before_and_after_start() {
    let cancel = || {
        C::RequestCancelActivityTaskCommandAttributes(
            command::RequestCancelActivityTaskCommandAttributes {
                scheduled_event_id: 5,
            },
        )
    };
    // Not started: CancelRequested + Canceled at once, and a new workflow task.
    let mut exec = run_with_activity(None);
    apply_tasks(&mut exec, T0 + 20, |t| t.signal("go", None, "c", None, ""));
    apply(&mut exec, T0 + 21, |t| t.start_workflow_task(7, "w", "r"))
        .0
        .expect("starts");
    let (result, events) = complete(&mut exec, T0 + 22, (7, 8), vec![cancel()]);
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskCancelRequested,
            EventType::ActivityTaskCanceled,
            EventType::WorkflowTaskScheduled,
        ]
    );
    // Started: only CancelRequested; the worker learns it from its heartbeat.
    let mut exec = run_with_activity(None);
    apply(&mut exec, T0 + 19, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    apply_tasks(&mut exec, T0 + 20, |t| t.signal("go", None, "c", None, ""));
    apply(&mut exec, T0 + 21, |t| t.start_workflow_task(7, "w", "r"))
        .0
        .expect("starts");
    let (result, events) = complete(&mut exec, T0 + 22, (7, 8), vec![cancel()]);
    result.expect("applies");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskCancelRequested
        ]
    );
    assert_eq!(
        apply(&mut exec, T0 + 23, |t| t.heartbeat_activity(5, 1, None))
            .0
            .map(|answer| answer.cancel_requested),
        Ok(true)
    );
    let (result, events) = apply(&mut exec, T0 + 24, |t| t.cancel_activity(5, 1, None, "w"));
    result.expect("cancels");
    assert_eq!(
        types(&events),
        vec![
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCanceled,
            EventType::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn unsupported_and_invalid_commands_fail_the_task() {
    let (mut exec, s, st) = started_run();
    // No endpoint is registered under this name (the server declares the ones that are).
    let nexus = C::ScheduleNexusOperationCommandAttributes(
        temper_api::proto::command::v1::ScheduleNexusOperationCommandAttributes {
            endpoint: "nowhere".into(),
            ..Default::default()
        },
    );
    let (result, events) = complete(&mut exec, T0, (s, st), vec![nexus]);
    let Err(error) = result else {
        panic!("must fail")
    };
    assert_eq!(
        error.to_string(),
        "BadScheduleNexusOperationAttributes: endpoint \"nowhere\" not found"
    );
    assert_eq!(
        types(&events),
        vec![EventType::WorkflowTaskFailed],
        "attempt 2 is transient"
    );
    assert_eq!(
        exec.workflow_task
            .as_ref()
            .map(|w| (w.attempt, w.transient)),
        Some((2, true))
    );

    let (mut exec, s, st) = started_run();
    let (result, events) = complete(
        &mut exec,
        T0,
        (s, st),
        vec![start_timer("1", 10), start_timer("1", 10)],
    );
    assert!(matches!(
        result,
        Err(CompletionError::TaskFailed {
            cause: WorkflowTaskFailedCause::StartTimerDuplicateId,
            ..
        })
    ));
    assert_eq!(types(&events), vec![EventType::WorkflowTaskFailed]);

    let (mut exec, s, st) = started_run();
    let no_timeout =
        C::ScheduleActivityTaskCommandAttributes(command::ScheduleActivityTaskCommandAttributes {
            activity_id: "a".into(),
            activity_type: Some(ActivityType { name: "A".into() }),
            ..Default::default()
        });
    let (result, _) = complete(&mut exec, T0, (s, st), vec![no_timeout]);
    assert!(matches!(
        result,
        Err(CompletionError::TaskFailed {
            cause: WorkflowTaskFailedCause::BadScheduleActivityAttributes,
            ..
        })
    ));
}

#[test]
fn commands_after_a_close_command_are_rejected_without_writing() {
    let (mut exec, s, st) = started_run();
    let (result, events) = complete(
        &mut exec,
        T0,
        (s, st),
        vec![complete_workflow(), start_timer("1", 10)],
    );
    assert!(matches!(
        result,
        Err(CompletionError::CommandAfterClose { close_index: 0, .. })
    ));
    assert!(events.is_empty());
}

#[test]
fn retried_workflow_tasks_are_transient_until_they_complete() {
    let (mut exec, _, _) = started_run();
    assert_eq!(exec.next_wakeup(), Some(T0 + 10_000));
    let (events, tasks) = apply_tasks(&mut exec, T0 + 10_000, |t| t.on_time());
    assert_eq!(types(&events), vec![EventType::WorkflowTaskTimedOut]);
    assert_eq!(
        tasks,
        vec![ReadyTask::Workflow {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 2
        }]
    );
    // Attempt 2 starts and times out: nothing is written.
    let (grant, events) = apply(&mut exec, T0 + 10_001, |t| {
        t.start_workflow_task(5, "w", "r")
    });
    assert_eq!(grant.map(|g| (g.started_event_id, g.attempt)), Ok((6, 2)));
    assert!(events.is_empty());
    let wft = exec.workflow_task.clone().expect("in flight");
    assert_eq!(
        types(&crate::execution::transient_events(&wft, 0)),
        vec![
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted
        ]
    );
    let (events, _) = apply_tasks(&mut exec, T0 + 20_001, |t| t.on_time());
    assert!(events.is_empty());
    assert_eq!(exec.next_event_id, 5);
    // Attempt 3 completes: its Scheduled and Started are written, then the completion.
    apply(&mut exec, T0 + 20_002, |t| {
        t.start_workflow_task(5, "w", "r")
    })
    .0
    .expect("attempt 3 starts");
    // Attempt 2's token names the same events, but not the attempt in flight.
    let stale = RespondWorkflowTaskCompletedRequest::default();
    let (refused, _) = apply(&mut exec, T0 + 20_003, |t| {
        t.complete_workflow_task(5, 6, 2, &stale)
    });
    assert!(matches!(
        refused,
        Err(CompletionError::Task(TaskError::WorkflowTaskNotCurrent))
    ));
    let (result, events) = complete(&mut exec, T0 + 20_003, (5, 6), vec![complete_workflow()]);
    result.expect("completes");
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionCompleted,
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
}

#[test]
fn signal_with_start_writes_the_signal_before_the_first_task() {
    let signal = crate::execution::InitialSignal {
        name: "go".into(),
        ..Default::default()
    };
    let (_, events, _) = start_run(
        "run-1",
        "req",
        minimal_started_attributes("wf", "T", "q"),
        Some(&signal),
        T0,
    );
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn a_signal_turns_a_waiting_transient_task_into_a_fresh_one() {
    let (mut exec, _, _) = started_run();
    apply_tasks(&mut exec, T0 + 10_000, |t| t.on_time());
    let (events, tasks) = apply_tasks(&mut exec, T0 + 10_001, |t| {
        t.signal("s", None, "c", None, "")
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        tasks,
        vec![ReadyTask::Workflow {
            task_queue: "q".into(),
            scheduled_event_id: 6,
            attempt: 1
        }]
    );
}

#[test]
fn activity_timeouts() {
    // Start-to-close is retried (no events), schedule-to-close is final.
    let mut exec = run_with_activity(None);
    apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    let (events, _) = apply_tasks(&mut exec, T0 + 10_020, |t| t.on_time());
    assert!(events.is_empty());
    assert_eq!(exec.activities[&5].attempt, 2);
    let last = exec.activities[&5]
        .last_failure
        .clone()
        .expect("timeout recorded");
    assert_eq!(last.message, "activity StartToClose timeout");

    let (mut exec, s, st) = started_run();
    let with_deadline =
        C::ScheduleActivityTaskCommandAttributes(command::ScheduleActivityTaskCommandAttributes {
            activity_id: "a".into(),
            activity_type: Some(ActivityType { name: "A".into() }),
            schedule_to_close_timeout: ms_duration(3_000),
            heartbeat_timeout: ms_duration(1_000),
            ..Default::default()
        });
    complete(&mut exec, T0, (s, st), vec![with_deadline])
        .0
        .expect("applies");
    apply(&mut exec, T0 + 100, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    apply(&mut exec, T0 + 900, |t| t.heartbeat_activity(5, 1, None))
        .0
        .expect("heartbeat");
    assert_eq!(
        exec.next_wakeup(),
        Some(T0 + 1_900),
        "heartbeat deadline moves with heartbeats"
    );
    let (events, _) = apply_tasks(&mut exec, T0 + 3_000, |t| t.on_time());
    assert_eq!(
        types(&events),
        vec![
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskTimedOut,
            EventType::WorkflowTaskScheduled
        ]
    );
}

#[test]
fn run_timeout_and_termination_close_the_run() {
    let mut attributes = minimal_started_attributes("wf", "Type", "q");
    attributes.workflow_run_timeout = ms_duration(60_000);
    let (mut exec, _, _) = start_run("run-1", "req", attributes, None, T0);
    assert_eq!(exec.next_wakeup(), Some(T0 + 60_000));
    let (events, _) = apply_tasks(&mut exec, T0 + 60_000, |t| t.on_time());
    assert_eq!(types(&events), vec![EventType::WorkflowExecutionTimedOut]);
    assert_eq!(exec.status, WorkflowExecutionStatus::TimedOut as i32);

    let (mut exec, _, _) = started_run();
    apply_tasks(&mut exec, T0 + 1, |t| t.signal("late", None, "c", None, ""));
    let (events, _) = apply_tasks(&mut exec, T0 + 2, |t| t.terminate("stop", None, "op"));
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowExecutionTerminated
        ]
    );
    assert_eq!(exec.status, WorkflowExecutionStatus::Terminated as i32);
}

#[test]
fn ready_tasks_are_rebuilt_from_state() {
    let policy = RetryPolicy {
        initial_interval: ms_duration(5_000),
        ..Default::default()
    };
    let mut exec = run_with_activity(Some(policy));
    assert_eq!(
        exec.ready_tasks(),
        vec![ReadyTask::Activity {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 1
        }]
    );
    apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    assert!(
        exec.ready_tasks().is_empty(),
        "a running attempt is not dispatchable"
    );
    apply(&mut exec, T0 + 30, |t| {
        t.fail_activity(5, 1, Some(app_failure()), None, "w")
    })
    .0
    .expect("fails");
    assert!(exec.ready_tasks().is_empty(), "waiting for its backoff");
    assert_eq!(exec.next_wakeup(), Some(T0 + 5_030));
}

fn complete_chaining(
    exec: &mut Execution,
    now: i64,
    ids: (i64, i64),
    command: C,
) -> crate::TransitionOutput {
    let request = completion(vec![command]);
    let mut t = Transition::new(exec, now).with_run_ids(|| "run-2".to_string());
    t.complete_workflow_task(ids.0, ids.1, 1, &request)
        .expect("applies");
    let output = t.finish();
    record_and_check(exec, &output.events);
    output
}

#[test]
fn continue_as_new_closes_the_run_and_describes_the_next() {
    let (mut exec, s, st) = started_run();
    let can = C::ContinueAsNewWorkflowExecutionCommandAttributes(
        command::ContinueAsNewWorkflowExecutionCommandAttributes {
            input: Some(Payloads::default()),
            ..Default::default()
        },
    );
    let output = complete_chaining(&mut exec, T0 + 5, (s, st), can);
    assert_eq!(
        types(&output.events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionContinuedAsNew
        ]
    );
    let Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(e)) =
        &output.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(e.new_execution_run_id, "run-2");
    let next = output.new_runs.into_iter().next().expect("a new run");
    assert_eq!(next.run_id, "run-2");
    assert_eq!(next.started.continued_execution_run_id, "run-1");
    assert_eq!(next.started.first_execution_run_id, "run-1");
    assert_eq!(next.started.original_execution_run_id, "run-2");
    assert_eq!(
        next.started.workflow_type.map(|t| t.name),
        Some("Type".to_string())
    );
    assert_eq!(
        next.started.task_queue.map(|q| q.name),
        Some("q".to_string())
    );
    assert_eq!(exec.status, WorkflowExecutionStatus::ContinuedAsNew as i32);
}

#[test]
fn failed_runs_with_a_retry_policy_are_retried_after_backoff() {
    let mut attributes = minimal_started_attributes("wf", "Type", "q");
    attributes.retry_policy = Some(RetryPolicy {
        initial_interval: ms_duration(2_000),
        maximum_attempts: 2,
        ..Default::default()
    });
    let (mut exec, _, _) = start_run("run-1", "req", attributes, None, T0);
    apply(&mut exec, T0, |t| t.start_workflow_task(2, "w", "r"))
        .0
        .expect("starts");
    let fail = || {
        C::FailWorkflowExecutionCommandAttributes(command::FailWorkflowExecutionCommandAttributes {
            failure: Some(app_failure()),
        })
    };
    let output = complete_chaining(&mut exec, T0 + 10, (2, 3), fail());
    let Some(Attributes::WorkflowExecutionFailedEventAttributes(f)) = &output.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(
        (f.retry_state, f.new_execution_run_id.as_str()),
        (RetryState::InProgress as i32, "run-2")
    );
    let next = output.new_runs.into_iter().next().expect("a retry run");
    assert_eq!(next.started.attempt, 2);
    assert_eq!(
        duration_ms(next.started.first_workflow_task_backoff.as_ref()),
        2_000
    );
    assert_eq!(
        next.started
            .continued_failure
            .as_ref()
            .map(|f| f.message.as_str()),
        Some("boom")
    );

    // The retry run waits out its backoff before its first workflow task.
    let (mut retry, events, tasks) = start_run("run-2", "", next.started, None, T0 + 10);
    assert_eq!(types(&events), vec![EventType::WorkflowExecutionStarted]);
    assert!(tasks.is_empty());
    assert_eq!(retry.next_wakeup(), Some(T0 + 2_010));
    let (events, tasks) = apply_tasks(&mut retry, T0 + 2_010, |t| t.on_time());
    assert_eq!(types(&events), vec![EventType::WorkflowTaskScheduled]);
    assert_eq!(tasks.len(), 1);

    // The last attempt gives up.
    apply(&mut retry, T0 + 2_011, |t| {
        t.start_workflow_task(2, "w", "r")
    })
    .0
    .expect("starts");
    let output = complete_chaining(&mut retry, T0 + 2_012, (2, 3), fail());
    let Some(Attributes::WorkflowExecutionFailedEventAttributes(f)) = &output.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(f.retry_state, RetryState::MaximumAttemptsReached as i32);
    assert!(output.new_runs.is_empty());
}

#[test]
fn sticky_tasks_fall_back_to_the_normal_queue() {
    use temper_api::proto::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
    let (mut exec, s, st) = started_run();
    let request = RespondWorkflowTaskCompletedRequest {
        sticky_attributes: Some(StickyExecutionAttributes {
            worker_task_queue: Some(TaskQueue {
                name: "sticky-1".into(),
                ..Default::default()
            }),
            schedule_to_start_timeout: ms_duration(5_000),
        }),
        ..Default::default()
    };
    apply(&mut exec, T0, |t| {
        t.complete_workflow_task(s, st, 1, &request)
    })
    .0
    .expect("completes");
    let (_, tasks) = apply_tasks(&mut exec, T0 + 10, |t| t.signal("s", None, "c", None, ""));
    assert_eq!(
        tasks,
        vec![ReadyTask::Workflow {
            task_queue: "sticky-1".into(),
            scheduled_event_id: 6,
            attempt: 1
        }]
    );
    assert_eq!(exec.next_wakeup(), Some(T0 + 5_010));
    let (events, tasks) = apply_tasks(&mut exec, T0 + 5_010, |t| t.on_time());
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskTimedOut,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        tasks,
        vec![ReadyTask::Workflow {
            task_queue: "q".into(),
            scheduled_event_id: 8,
            attempt: 1
        }]
    );
    assert!(exec.sticky_task_queue.is_empty());
}

#[test]
fn a_rejected_update_on_a_speculative_task_leaves_no_events() {
    use prost::Message as _;
    use temper_api::proto::protocol::v1::Message;
    use temper_api::proto::update::v1 as update;
    let (mut exec, s, st) = started_run();
    let (result, _) = complete(&mut exec, T0 + 10, (s, st), vec![]);
    result.expect("first task completes");
    let next_event_id = exec.next_event_id;
    let request = update::Request {
        meta: Some(update::Meta {
            update_id: "u1".into(),
            identity: "client".into(),
        }),
        input: Some(update::Input {
            name: "add".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (admitted, events) = apply(&mut exec, T0 + 20, |t| t.admit_update(request));
    admitted.expect("admitted");
    assert!(
        events.is_empty(),
        "a speculative task writes no Scheduled event"
    );
    let scheduled = exec
        .workflow_task
        .clone()
        .expect("a task delivers the update");
    assert!(scheduled.speculative && scheduled.transient);
    let (grant, events) = apply(&mut exec, T0 + 30, |t| {
        t.start_workflow_task(scheduled.scheduled_event_id, "worker", "r")
    });
    let grant = grant.expect("starts");
    assert!(events.is_empty());
    let rejection = Message {
        id: "u1/reject".into(),
        protocol_instance_id: "u1".into(),
        body: Some(prost_wkt_types::Any {
            type_url: "type.googleapis.com/temporal.api.update.v1.Rejection".into(),
            value: update::Rejection {
                rejected_request_message_id: "u1/request".into(),
                failure: Some(app_failure()),
                ..Default::default()
            }
            .encode_to_vec(),
        }),
        ..Default::default()
    };
    let request = RespondWorkflowTaskCompletedRequest {
        messages: vec![rejection],
        identity: "worker".into(),
        ..Default::default()
    };
    let (completed, events) = apply(&mut exec, T0 + 40, |t| {
        t.complete_workflow_task(
            grant.scheduled_event_id,
            grant.started_event_id,
            1,
            &request,
        )
    });
    assert_eq!(
        completed.expect("completes"),
        Completed::Discarded {
            reset_history_event_id: st
        }
    );
    assert!(events.is_empty());
    assert_eq!(exec.next_event_id, next_event_id);
    assert!(exec.workflow_task.is_none());
    assert!(exec.updates["u1"].outcome.is_some());
}

#[test]
fn the_rebuild_check_catches_state_that_history_does_not_explain() {
    let (mut exec, s, st) = started_run();
    let (result, events) = complete(&mut exec, T0 + 10, (s, st), vec![start_timer("t1", 1_000)]);
    result.expect("completion applies");
    let history: Vec<HistoryEvent> = HISTORIES.with(|h| h.borrow()["run-1"].clone());
    assert_eq!(types(&events)[1], EventType::TimerStarted);
    exec.timers.clear();
    let difference = exec
        .check_against_history(&history)
        .expect_err("a timer lost without an event is a difference");
    assert!(difference.contains("timers"), "{difference}");
}

mod families;
mod handover;
mod nexus;
mod reset;
mod simulation;

#[test]
fn a_paused_activity_waits_without_timeouts_until_unpaused() {
    use crate::execution::{ActivitySelector, PauseRequest};
    let policy = RetryPolicy {
        maximum_attempts: 2,
        ..Default::default()
    };
    let mut exec = run_with_activity(Some(policy));
    let selector = ActivitySelector::Id("a1".into());
    apply(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r")
    })
    .0
    .expect("starts");
    apply(&mut exec, T0 + 25, |t| {
        t.pause_activities(&selector, &PauseRequest::default())
    })
    .0
    .expect("pauses");
    let heartbeat = apply(&mut exec, T0 + 26, |t| t.heartbeat_activity(5, 1, None)).0;
    assert!(
        heartbeat.expect("beats").paused,
        "the running attempt is told"
    );
    // The attempt fails while paused: counted, not retried — even past the maximum.
    let (result, events) = apply(&mut exec, T0 + 30, |t| {
        t.fail_activity(5, 1, Some(app_failure()), None, "w")
    });
    result.expect("fails");
    assert!(events.is_empty());
    assert_eq!(exec.activities[&5].attempt, 2);
    assert_eq!(exec.next_wakeup(), None, "no timeout or retry while paused");
    assert!(
        apply(&mut exec, T0 + 40, |t| t
            .start_activity_task(5, 2, "w", "r"))
        .0
        .is_err()
    );
    let (_, tasks) = apply_tasks(&mut exec, T0 + 50, |t| {
        t.unpause_activities(&selector, true, false)
            .expect("unpauses");
    });
    assert_eq!(
        tasks,
        vec![ReadyTask::Activity {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 1
        }],
        "dispatched at once, from attempt 1"
    );
}

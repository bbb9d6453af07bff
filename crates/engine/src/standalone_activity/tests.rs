use temper_api::proto::common::v1::{ActivityType, RetryPolicy};
use temper_api::proto::enums::v1::{
    ActivityExecutionStatus, PendingActivityState, RetryState, TimeoutType,
};
use temper_api::proto::failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use temper_api::proto::taskqueue::v1::TaskQueue;

use super::*;
use crate::time::ms_duration;

fn request(start_to_close_ms: i64, maximum_attempts: i32) -> StartRequest {
    StartRequest {
        activity_id: "a1".into(),
        activity_type: Some(ActivityType { name: "act".into() }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        start_to_close_timeout: ms_duration(start_to_close_ms),
        retry_policy: Some(RetryPolicy {
            maximum_attempts,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn failure(message: &str) -> Failure {
    Failure {
        message: message.into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo::default(),
        )),
        ..Default::default()
    }
}

fn outcome_failure(run: &ActivityRun) -> Failure {
    match run.outcome.as_ref().and_then(|o| o.value.clone()) {
        Some(OutcomeValue::Failure(failure)) => failure,
        other => panic!("expected a failure outcome, got {other:?}"),
    }
}

#[test]
fn start_dispatches_the_first_attempt() {
    let (run, effects) = ActivityRun::start("ns", "r1", request(1_000, 0), 100).unwrap();
    assert_eq!(effects.dispatch, Some(1));
    assert_eq!(run.run_state(), PendingActivityState::Scheduled);
    assert_eq!(
        run.next_wakeup(),
        None,
        "no schedule-to-start without a limit"
    );
}

#[test]
fn start_needs_a_timeout() {
    let error = ActivityRun::start("ns", "r1", request(0, 0), 100).unwrap_err();
    assert!(error.0.contains("StartToClose"), "{error}");
}

#[test]
fn failures_are_retried_with_backoff_then_fail() {
    let (mut run, _) = ActivityRun::start("ns", "r1", request(10_000, 2), 0).unwrap();
    run.grant(1, "w", "req", 10).unwrap();
    assert_eq!(run.run_state(), PendingActivityState::Started);
    let effects = run.fail(1, Some(failure("boom")), None, "w", 20).unwrap();
    assert_eq!(effects.dispatch, None, "the retry waits for its backoff");
    assert_eq!(run.next_wakeup(), Some(1_020));
    assert_eq!(run.grant(2, "w", "req", 30), Err(AttemptError::NotWaiting));
    assert_eq!(run.on_time(1_020).dispatch, Some(2));
    run.grant(2, "w", "req", 1_030).unwrap();
    run.fail(2, Some(failure("again")), None, "w", 1_040)
        .unwrap();
    assert_eq!(run.status(), ActivityExecutionStatus::Failed);
    assert_eq!(outcome_failure(&run).message, "again");
    let retry_state = run.outcome.as_ref().map(|o| o.retry_state);
    assert_eq!(retry_state, Some(RetryState::MaximumAttemptsReached as i32));
    assert_eq!(run.next_wakeup(), None);
}

#[test]
fn start_to_close_timeouts_retry_then_time_out() {
    let (mut run, _) = ActivityRun::start("ns", "r1", request(1_000, 2), 0).unwrap();
    run.grant(1, "w", "req", 1).unwrap();
    assert_eq!(run.next_wakeup(), Some(1_001));
    run.on_time(1_001);
    assert_eq!(run.activity().attempt, 2);
    run.on_time(2_001);
    run.grant(2, "w", "req", 2_001).unwrap();
    run.on_time(3_001);
    assert_eq!(run.status(), ActivityExecutionStatus::TimedOut);
    let failure = outcome_failure(&run);
    assert!(matches!(
        failure.failure_info,
        Some(FailureInfo::TimeoutFailureInfo(ref info))
            if info.timeout_type == TimeoutType::StartToClose as i32
    ));
    assert_eq!(
        run.complete(2, None, "w", 3_001),
        Err(AttemptError::NotRunning)
    );
}

#[test]
fn cancel_of_a_running_attempt_waits_for_the_worker() {
    let (mut run, _) = ActivityRun::start("ns", "r1", request(10_000, 0), 0).unwrap();
    run.grant(1, "w", "req", 1).unwrap();
    assert_eq!(
        run.canceled(1, None, "w", 5),
        Err(AttemptError::CancelNotRequested)
    );
    run.request_cancel("c1", "enough", "client", 10).unwrap();
    assert_eq!(run.run_state(), PendingActivityState::CancelRequested);
    assert!(run.heartbeat(1, None, 20).unwrap().cancel_requested);
    run.request_cancel("c1", "enough", "client", 21).unwrap();
    assert_eq!(
        run.request_cancel("c2", "", "client", 22),
        Err(RequestError::CancelAlreadyRequested("c1".into()))
    );
    run.canceled(1, None, "w", 30).unwrap();
    assert_eq!(run.status(), ActivityExecutionStatus::Canceled);
    assert_eq!(run.canceled_reason, "enough");
}

#[test]
fn cancel_of_a_waiting_attempt_cancels_at_once() {
    let (mut run, _) = ActivityRun::start("ns", "r1", request(10_000, 0), 0).unwrap();
    run.request_cancel("c1", "", "client", 10).unwrap();
    assert_eq!(run.status(), ActivityExecutionStatus::Canceled);
    assert_eq!(run.grant(1, "w", "req", 20), Err(AttemptError::NotWaiting));
}

#[test]
fn terminate_closes_and_refuses_the_worker() {
    let (mut run, _) = ActivityRun::start("ns", "r1", request(10_000, 0), 0).unwrap();
    run.grant(1, "w", "req", 1).unwrap();
    run.terminate("t1", "stop", "client", 10).unwrap();
    assert_eq!(run.status(), ActivityExecutionStatus::Terminated);
    assert_eq!(outcome_failure(&run).message, "stop");
    assert_eq!(
        run.complete(1, None, "w", 11),
        Err(AttemptError::NotRunning)
    );
    assert_eq!(
        run.terminate("t2", "", "client", 12),
        Err(RequestError::AlreadyTerminated("t1".into()))
    );
}

#[test]
fn schedule_to_close_ends_retries() {
    let mut start = request(1_000, 0);
    start.schedule_to_close_timeout = ms_duration(2_500);
    let (mut run, _) = ActivityRun::start("ns", "r1", start, 0).unwrap();
    run.grant(1, "w", "req", 1).unwrap();
    run.on_time(1_001); // attempt 1 times out; attempt 2 after 1 s
    run.on_time(2_001);
    run.grant(2, "w", "req", 2_001).unwrap();
    assert_eq!(run.next_wakeup(), Some(2_500));
    run.on_time(2_500);
    assert_eq!(run.status(), ActivityExecutionStatus::TimedOut);
    assert!(matches!(
        outcome_failure(&run).failure_info,
        Some(FailureInfo::TimeoutFailureInfo(ref info))
            if info.timeout_type == TimeoutType::ScheduleToClose as i32
    ));
}

#[test]
fn start_delay_holds_the_first_attempt() {
    let mut start = request(1_000, 0);
    start.start_delay = ms_duration(5_000);
    let (mut run, effects) = ActivityRun::start("ns", "r1", start, 0).unwrap();
    assert_eq!(effects.dispatch, None);
    assert_eq!(run.next_wakeup(), Some(5_000));
    assert_eq!(run.on_time(5_000).dispatch, Some(1));
}

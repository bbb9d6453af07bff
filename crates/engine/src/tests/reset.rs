//! Reset: the new run replays the kept history and rebuilds what was pending at the point.

use super::*;

#[test]
fn reset_rebuilds_pending_work_from_the_kept_history() {
    use crate::execution::ResetPoint;
    let mut history = Vec::new();
    let (mut base, events, _) = start_run(
        "run-1",
        "req-1",
        minimal_started_attributes("wf", "Type", "q"),
        None,
        T0,
    );
    history.extend(events);
    let (grant, events) = apply(&mut base, T0, |t| t.start_workflow_task(2, "worker", "r"));
    grant.expect("task starts");
    history.extend(events);
    let commands = vec![schedule_activity("a1", None), start_timer("t1", 60_000)];
    let (result, events) = complete(&mut base, T0 + 10, (2, 3), commands);
    result.expect("completion applies");
    history.extend(events);
    let (_, events) = apply(&mut base, T0 + 20, |t| {
        t.signal("s", None, "client", None, "")
    });
    history.extend(events);
    let (grant, events) = apply(&mut base, T0 + 30, |t| {
        t.start_workflow_task(8, "worker", "r2")
    });
    grant.expect("second task starts");
    history.extend(events);
    let (result, events) = complete(&mut base, T0 + 40, (8, 9), vec![]);
    result.expect("second completion applies");
    history.extend(events);
    assert_eq!(history.len(), 10);

    let reset_to = |finish_event_id: usize| {
        let (kept, after) = history.split_at(finish_event_id - 1);
        Execution::reset(
            ResetPoint {
                base: &base,
                kept: kept.to_vec(),
                after,
                new_run_id: "run-2".into(),
                request_id: "reset-1".into(),
                reason: "why".into(),
                reapply_signals: true,
            },
            T0 + 1_000,
        )
    };

    // Reset to the second task: the activity and the timer are pending again.
    let run = reset_to(10).expect("a workflow task boundary is a valid reset point");
    run.execution
        .check_against_history(&run.events)
        .expect("a reset run's state is its history's");
    assert_eq!(
        types(&run.events[9..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(run.events[..9], history[..9]);
    let activity = &run.execution.activities[&5];
    assert_eq!((activity.attempt, activity.started_time_ms), (1, 0));
    assert_eq!(run.execution.timers["t1"].fire_time_ms, T0 + 10 + 60_000);
    assert_eq!(run.execution.start_request_id, "reset-1");
    assert!(run.tasks.contains(&ReadyTask::Activity {
        task_queue: "q".into(),
        scheduled_event_id: 5,
        attempt: 1
    }));
    let Some(Attributes::WorkflowTaskFailedEventAttributes(failed)) = &run.events[9].attributes
    else {
        panic!("expected WorkflowTaskFailed");
    };
    assert_eq!(failed.cause, WorkflowTaskFailedCause::ResetWorkflow as i32);
    assert_eq!(
        (failed.base_run_id.as_str(), failed.new_run_id.as_str()),
        ("run-1", "run-2")
    );

    // Reset to the first task: nothing pending, and the later signal is reapplied.
    let run = reset_to(4).expect("valid reset point");
    assert_eq!(
        types(&run.events[3..]),
        vec![
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(run.execution.activities.is_empty() && run.execution.timers.is_empty());
    assert_eq!(
        run.execution.workflow_task.as_ref().map(|w| w.attempt),
        Some(1)
    );

    // A point without a pending workflow task is refused.
    let refused = reset_to(6).err();
    assert_eq!(
        refused,
        Some(crate::execution::ResetError::NotAfterWorkflowTask { finish_event_id: 6 })
    );
}

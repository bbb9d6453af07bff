//! Sync start: a task started in the transition that made it ready writes the history a
//! separate start at the same instant would.

use super::*;
use crate::execution::StartedTask;

/// A one-activity workflow, each task started by its own transition. Returns the history.
fn one_activity_run_started_apart() -> Vec<HistoryEvent> {
    let started = minimal_started_attributes("wf", "Type", "q");
    let (mut exec, mut history, _) = start_run("run-1", "req-1", started, None, T0);
    let (grant, events) = apply(&mut exec, T0, |t| t.start_workflow_task(2, "w", "r1"));
    grant.expect("task starts");
    history.extend(events);
    let (result, events) = complete(
        &mut exec,
        T0 + 10,
        (2, 3),
        vec![schedule_activity("a", None)],
    );
    result.expect("completion applies");
    history.extend(events);
    let (grant, events) = apply(&mut exec, T0 + 10, |t| {
        t.start_activity_task(5, 1, "w", "r2")
    });
    grant.expect("activity starts");
    history.extend(events);
    let (result, events) = apply(&mut exec, T0 + 20, |t| t.complete_activity(5, 1, None, "w"));
    result.expect("activity completes");
    history.extend(events);
    let (grant, events) = apply(&mut exec, T0 + 20, |t| t.start_workflow_task(8, "w", "r3"));
    grant.expect("task starts");
    history.extend(events);
    let (result, events) = complete(&mut exec, T0 + 30, (8, 9), vec![complete_workflow()]);
    result.expect("completion applies");
    history.extend(events);
    history
}

/// Starts the transition's only ready task for worker "w".
fn start_the_ready_task(t: &mut Transition<'_>, request_id: &str) -> StartedTask {
    let [task] = t.ready_tasks() else {
        panic!("one ready task expected: {:?}", t.ready_tasks());
    };
    let task = task.clone();
    let started = t.start_ready_task(&task, "w", request_id);
    assert!(
        t.ready_tasks().is_empty(),
        "a started task is no longer ready"
    );
    started.expect("the ready task starts")
}

/// The same workflow, each task started in the transition that made it ready.
fn one_activity_run_started_at_once() -> Vec<HistoryEvent> {
    let started = minimal_started_attributes("wf", "Type", "q");
    let (mut exec, mut history, tasks) = start_run("run-1", "req-1", started, None, T0);
    let mut t = Transition::new(&mut exec, T0).with_ready_tasks(tasks);
    start_the_ready_task(&mut t, "r1");
    let output = t.finish();
    assert!(output.tasks.is_empty());
    record_and_check(&exec, &output.events);
    history.extend(output.events);
    let request = completion(vec![schedule_activity("a", None)]);
    let (events, tasks) = apply_tasks(&mut exec, T0 + 10, |t| {
        t.complete_workflow_task(2, 3, 1, &request)
            .expect("completion applies");
        start_the_ready_task(t, "r2");
    });
    assert!(tasks.is_empty());
    history.extend(events);
    let (events, tasks) = apply_tasks(&mut exec, T0 + 20, |t| {
        t.complete_activity(5, 1, None, "w")
            .expect("activity completes");
        let started = start_the_ready_task(t, "r3");
        assert!(matches!(started, StartedTask::Workflow(g) if g.started_event_id == 9));
    });
    assert!(tasks.is_empty());
    history.extend(events);
    let (result, events) = complete(&mut exec, T0 + 30, (8, 9), vec![complete_workflow()]);
    result.expect("completion applies");
    history.extend(events);
    history
}

#[test]
fn a_task_started_where_it_became_ready_writes_the_same_history() {
    let apart = one_activity_run_started_apart();
    let at_once = one_activity_run_started_at_once();
    assert_eq!(types(&apart), types(&at_once));
    assert_eq!(apart, at_once);
}

#[test]
fn a_task_started_already_is_refused_and_stays_started() {
    let started = minimal_started_attributes("wf", "Type", "q");
    let (mut exec, _, tasks) = start_run("run-1", "req-1", started, None, T0);
    let (result, events) = apply(&mut exec, T0, |t| {
        t.start_workflow_task(2, "poller", "r1")
            .expect("task starts");
        t.start_ready_task(&tasks[0], "w", "r2")
    });
    assert_eq!(result, Err(TaskError::WorkflowTaskAlreadyStarted));
    assert_eq!(types(&events), vec![EventType::WorkflowTaskStarted]);
    let wft = exec.workflow_task.as_ref().expect("a task");
    assert_eq!(wft.started_identity, "poller");
}

#[test]
fn an_activity_started_for_a_worker_that_left_waits_again() {
    let mut exec = run_with_activity(None);
    let before = exec.clone();
    let (events, _) = apply_tasks(&mut exec, T0 + 20, |t| {
        t.start_activity_task(5, 1, "w", "r1")
            .expect("activity starts");
    });
    assert!(events.is_empty());
    let (released, events) = apply(&mut exec, T0 + 21, |t| {
        assert!(!t.release_activity_task(5, 1, "another request"));
        let released = t.release_activity_task(5, 1, "r1");
        (released, t.ready_tasks().to_vec())
    });
    assert!(
        events.is_empty(),
        "the start wrote nothing, so nothing is undone"
    );
    assert!(released.0);
    assert_eq!(
        released.1,
        vec![ReadyTask::Activity {
            task_queue: "q".into(),
            scheduled_event_id: 5,
            attempt: 1
        }]
    );
    assert_eq!(exec, before, "the attempt waits as it did before its start");
    let (again, _) = apply(&mut exec, T0 + 22, |t| t.release_activity_task(5, 1, "r1"));
    assert!(!again, "a waiting attempt has nothing to release");
}

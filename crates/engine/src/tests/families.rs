//! Command families that end-to-end tests covered alone before: child workflows, signals and
//! cancellation requests to other workflows, cron chains, and update acceptance and
//! completion. Every transition here is also checked against a rebuild from history.

use temper_api::proto::command::v1::{self as command, Command, command::Attributes as C};
use temper_api::proto::common::v1::{Payloads, WorkflowExecution, WorkflowType};
use temper_api::proto::enums::v1::{
    ContinueAsNewInitiator, EventType, SignalExternalWorkflowExecutionFailedCause,
    StartChildWorkflowExecutionFailedCause, UpdateWorkflowExecutionLifecycleStage as Stage,
    WorkflowExecutionStatus,
};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};
use temper_api::proto::protocol::v1::Message;
use temper_api::proto::update::v1 as update;
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

use super::{T0, apply, complete, completion, record_and_check, start_run, started_run, types};
use crate::Execution;
use crate::execution::{Completed, Transition, minimal_started_attributes};
use crate::time::duration_ms;

fn start_child(workflow_id: &str) -> C {
    C::StartChildWorkflowExecutionCommandAttributes(
        command::StartChildWorkflowExecutionCommandAttributes {
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "Child".into(),
            }),
            ..Default::default()
        },
    )
}

/// Completes the task in flight with `commands`, giving new runs the ids `child-run-N`.
fn complete_with_run_ids(
    exec: &mut Execution,
    now: i64,
    commands: Vec<C>,
    running: &[&str],
) -> crate::TransitionOutput {
    let wft = exec.workflow_task.clone().expect("a task in flight");
    let request = completion(commands);
    let mut next = 0;
    let mut t = Transition::new(exec, now).with_run_ids(move || {
        next += 1;
        format!("child-run-{next}")
    });
    t.set_running_workflow_ids(running.iter().map(|id| id.to_string()).collect());
    t.complete_workflow_task(
        wft.scheduled_event_id,
        wft.started_event_id,
        wft.attempt,
        &request,
    )
    .expect("applies");
    let output = t.finish();
    record_and_check(exec, &output.events);
    output
}

fn close_event(attributes: Attributes) -> HistoryEvent {
    HistoryEvent {
        attributes: Some(attributes),
        ..Default::default()
    }
}

#[test]
fn children_start_after_every_command_event_and_report_their_close() {
    let (mut exec, _, _) = started_run();
    let output = complete_with_run_ids(
        &mut exec,
        T0 + 10,
        vec![
            start_child("kid-1"),
            start_child("taken"),
            start_child("kid-2"),
        ],
        &["taken"],
    );
    assert_eq!(
        types(&output.events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::StartChildWorkflowExecutionInitiated,
            EventType::StartChildWorkflowExecutionInitiated,
            EventType::StartChildWorkflowExecutionInitiated,
            EventType::ChildWorkflowExecutionStarted,
            EventType::StartChildWorkflowExecutionFailed,
            EventType::ChildWorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
        ]
    );
    let Some(Attributes::StartChildWorkflowExecutionFailedEventAttributes(failed)) =
        &output.events[5].attributes
    else {
        panic!("the taken id is refused");
    };
    assert_eq!(
        failed.cause,
        StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32
    );
    let runs: Vec<&str> = output.new_runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(runs, ["child-run-1", "child-run-2"]);
    let child = &output.new_runs[0].started;
    assert_eq!(
        (
            child.parent_initiated_event_id,
            child.parent_workflow_namespace.as_str()
        ),
        (5, "default")
    );
    // Two children are pending, by initiated event id, with their runs.
    let pending: Vec<(i64, &str)> = exec
        .children
        .values()
        .map(|c| (c.initiated_event_id, c.run_id.as_str()))
        .collect();
    assert_eq!(pending, [(5, "child-run-1"), (7, "child-run-2")]);

    // The second child completes while no task is in flight: the parent hears of it.
    let completed = close_event(Attributes::WorkflowExecutionCompletedEventAttributes(
        history::WorkflowExecutionCompletedEventAttributes {
            result: Some(Payloads::default()),
            ..Default::default()
        },
    ));
    let (_, events) = apply(&mut exec, T0 + 20, |t| t.child_closed(7, &completed));
    assert_eq!(
        types(&events),
        vec![EventType::ChildWorkflowExecutionCompleted]
    );
    let Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(closed)) =
        &events[0].attributes
    else {
        panic!("a child completion");
    };
    assert_eq!(
        (closed.initiated_event_id, closed.started_event_id),
        (7, 10)
    );
    assert_eq!(exec.children.keys().copied().collect::<Vec<_>>(), [5]);
    // A second report of the same close changes nothing.
    let (_, events) = apply(&mut exec, T0 + 21, |t| t.child_closed(7, &completed));
    assert!(events.is_empty());
}

#[test]
fn a_child_whose_parent_closes_in_the_same_task_is_not_started() {
    let (mut exec, _, _) = started_run();
    let complete_run = C::CompleteWorkflowExecutionCommandAttributes(
        command::CompleteWorkflowExecutionCommandAttributes::default(),
    );
    let output = complete_with_run_ids(
        &mut exec,
        T0 + 10,
        vec![start_child("kid"), complete_run],
        &[],
    );
    assert_eq!(
        types(&output.events),
        vec![
            EventType::WorkflowTaskCompleted,
            EventType::StartChildWorkflowExecutionInitiated,
            EventType::WorkflowExecutionCompleted,
        ]
    );
    assert!(output.new_runs.is_empty());
    assert_eq!(exec.status, WorkflowExecutionStatus::Completed as i32);
}

#[test]
fn signals_and_cancel_requests_to_other_workflows_record_their_delivery() {
    let (mut exec, s, st) = started_run();
    let signal = |id: &str| {
        C::SignalExternalWorkflowExecutionCommandAttributes(
            command::SignalExternalWorkflowExecutionCommandAttributes {
                execution: Some(WorkflowExecution {
                    workflow_id: id.into(),
                    run_id: String::new(),
                }),
                signal_name: "poke".into(),
                ..Default::default()
            },
        )
    };
    let cancel = C::RequestCancelExternalWorkflowExecutionCommandAttributes(
        command::RequestCancelExternalWorkflowExecutionCommandAttributes {
            workflow_id: "other".into(),
            ..Default::default()
        },
    );
    let (result, events) = complete(
        &mut exec,
        T0 + 10,
        (s, st),
        vec![signal("there"), signal("gone"), cancel],
    );
    result.expect("applies");
    assert_eq!(
        types(&events[1..]),
        vec![
            EventType::SignalExternalWorkflowExecutionInitiated,
            EventType::SignalExternalWorkflowExecutionInitiated,
            EventType::RequestCancelExternalWorkflowExecutionInitiated,
        ]
    );
    assert_eq!(
        exec.external_requests.keys().copied().collect::<Vec<_>>(),
        [5, 6, 7]
    );
    let delivered = |id: &str| {
        Some(WorkflowExecution {
            workflow_id: id.into(),
            run_id: "their-run".into(),
        })
    };
    let (_, events) = apply(&mut exec, T0 + 20, |t| {
        t.external_request_done(5, delivered("there"));
        t.external_request_done(6, None);
        t.external_request_done(7, delivered("other"));
    });
    assert_eq!(
        types(&events),
        vec![
            EventType::ExternalWorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled,
            EventType::SignalExternalWorkflowExecutionFailed,
            EventType::ExternalWorkflowExecutionCancelRequested,
        ]
    );
    let Some(Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(failed)) =
        &events[2].attributes
    else {
        panic!("the missing workflow's signal fails");
    };
    assert_eq!(
        failed.cause,
        SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound as i32
    );
    assert!(exec.external_requests.is_empty());
}

#[test]
fn a_cron_run_chains_its_next_run_at_the_next_scheduled_time() {
    let mut attributes = minimal_started_attributes("wf", "Type", "q");
    attributes.cron_schedule = "*/10 * * * *".into();
    // T0 is 2023-11-14T22:13:20Z: the first run waits for 22:20.
    let (mut exec, events, tasks) = start_run("run-1", "req", attributes, None, T0);
    assert_eq!(types(&events), vec![EventType::WorkflowExecutionStarted]);
    assert!(tasks.is_empty());
    let first_due = T0 + 400_000;
    assert_eq!(exec.next_wakeup(), Some(first_due));
    apply(&mut exec, first_due, |t| t.on_time());
    apply(&mut exec, first_due, |t| t.start_workflow_task(2, "w", "r"))
        .0
        .expect("starts");
    let result = C::CompleteWorkflowExecutionCommandAttributes(
        command::CompleteWorkflowExecutionCommandAttributes {
            result: Some(Payloads::default()),
        },
    );
    let output = complete_with_run_ids(&mut exec, first_due + 1_000, vec![result], &[]);
    let Some(Attributes::WorkflowExecutionCompletedEventAttributes(completed)) =
        &output.events[1].attributes
    else {
        panic!("the run completes");
    };
    assert_eq!(completed.new_execution_run_id, "child-run-1");
    let next = &output.new_runs[0].started;
    assert_eq!(next.initiator, ContinueAsNewInitiator::CronSchedule as i32);
    assert_eq!(next.continued_execution_run_id, "run-1");
    assert!(next.last_completion_result.is_some());
    // Due at 22:30, counted from the completion.
    assert_eq!(
        duration_ms(next.first_workflow_task_backoff.as_ref()),
        first_due + 600_000 - (first_due + 1_000)
    );
}

fn update_message(id: &str, body: impl prost::Message, type_name: &str) -> Message {
    Message {
        id: id.into(),
        protocol_instance_id: "u1".into(),
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
            value: body.encode_to_vec(),
        }),
        ..Default::default()
    }
}

/// A run whose task in flight carries update "u1"; returns the task's ids.
fn run_with_update(exec: &mut Execution) -> (i64, i64) {
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
    apply(exec, T0 + 20, |t| t.admit_update(request))
        .0
        .expect("admitted");
    let wft = exec
        .workflow_task
        .clone()
        .expect("a task delivers the update");
    let grant = apply(exec, T0 + 30, |t| {
        t.start_workflow_task(wft.scheduled_event_id, "worker", "r")
    })
    .0
    .expect("starts");
    (grant.scheduled_event_id, grant.started_event_id)
}

#[test]
fn accepted_and_completed_updates_are_recorded_where_their_commands_place_them() {
    let (mut exec, s, st) = started_run();
    complete(&mut exec, T0 + 10, (s, st), vec![])
        .0
        .expect("first task");
    let ids = run_with_update(&mut exec);
    let accept = update_message("u1/accept", update::Acceptance::default(), "Acceptance");
    let respond = update_message(
        "u1/complete",
        update::Response {
            meta: Some(update::Meta {
                update_id: "u1".into(),
                identity: "worker".into(),
            }),
            outcome: Some(update::Outcome::default()),
        },
        "Response",
    );
    let place = |id: &str| Command {
        attributes: Some(C::ProtocolMessageCommandAttributes(
            command::ProtocolMessageCommandAttributes {
                message_id: id.into(),
            },
        )),
        ..Default::default()
    };
    let request = RespondWorkflowTaskCompletedRequest {
        commands: vec![place("u1/accept"), place("u1/complete")],
        messages: vec![accept, respond],
        ..Default::default()
    };
    let (completed, events) = apply(&mut exec, T0 + 40, |t| {
        t.complete_workflow_task(ids.0, ids.1, 1, &request)
    });
    assert_eq!(completed.expect("applies"), Completed::Recorded);
    assert_eq!(
        types(&events),
        vec![
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionUpdateAccepted,
            EventType::WorkflowExecutionUpdateCompleted,
        ]
    );
    let info = &exec.updates["u1"];
    assert_eq!(
        (info.stage, info.accepted_event_id),
        (Stage::Completed as i32, events[3].event_id)
    );
}

#[test]
fn an_accepted_update_open_when_the_run_closes_fails_with_the_run() {
    let (mut exec, s, st) = started_run();
    complete(&mut exec, T0 + 10, (s, st), vec![])
        .0
        .expect("first task");
    let ids = run_with_update(&mut exec);
    let request = RespondWorkflowTaskCompletedRequest {
        messages: vec![update_message(
            "u1/accept",
            update::Acceptance::default(),
            "Acceptance",
        )],
        ..Default::default()
    };
    apply(&mut exec, T0 + 40, |t| {
        t.complete_workflow_task(ids.0, ids.1, 1, &request)
    })
    .0
    .expect("accepted");
    assert_eq!(exec.updates["u1"].stage, Stage::Accepted as i32);
    apply(&mut exec, T0 + 50, |t| {
        t.terminate("stop", None, "operator")
    });
    let info = &exec.updates["u1"];
    assert_eq!(info.stage, Stage::Completed as i32);
    let failure = match info.outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(update::outcome::Value::Failure(failure)) => failure,
        other => panic!("a failure outcome, got {other:?}"),
    };
    assert!(
        failure
            .message
            .contains("Workflow completed before the Update completed")
    );
}

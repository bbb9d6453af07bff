//! A seeded simulation of one run: random workers, clients, other workflows and the clock act
//! on it in random order, and after every step the run's state must equal the state rebuilt
//! from its history (the one path from event to state) and keep its invariants (checked by
//! `Transition::finish`). `TEMPER_SIM_SEEDS` (default 64) and `TEMPER_SIM_STEPS` (default
//! 300) make a long run; a failure names its seed.

use temper_api::proto::command::v1::{self as command, command::Attributes as C};
use temper_api::proto::common::v1::{
    ActivityType, Payloads, RetryPolicy, WorkflowExecution, WorkflowType,
};
use temper_api::proto::enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage;
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};
use temper_api::proto::protocol::v1::Message;
use temper_api::proto::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temper_api::proto::update::v1 as update;
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

use super::{T0, completion, record_and_check, start_run};
use crate::Execution;
use crate::execution::{Transition, minimal_started_attributes};
use crate::time::ms_duration;

/// A workflow id that some other run holds, so starting a child with it fails.
const TAKEN_ID: &str = "taken";

/// xorshift64*: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize].clone())
    }
}

fn env_count(name: &str, default: u64) -> u64 {
    #[allow(clippy::disallowed_methods)] // test configuration, not engine behaviour
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One simulated run and the world around it.
struct World {
    rng: Rng,
    exec: Execution,
    now: i64,
    next_id: u64,
}

impl World {
    fn step(&mut self) {
        let now = self.now;
        let (commands, roll) = (self.random_commands(), self.rng.below(100));
        let mut next_run = 0;
        let mut t = Transition::new(&mut self.exec, now).with_run_ids(move || {
            next_run += 1;
            format!("sim-run-{next_run}")
        });
        t.set_running_workflow_ids([TAKEN_ID.to_string()].into());
        act(&mut t, &mut self.rng, roll, commands);
        let output = t.finish();
        record_and_check(&self.exec, &output.events);
        self.now += self.rng.below(3_000) as i64;
    }

    fn random_commands(&mut self) -> Vec<C> {
        let count = self.rng.below(4);
        (0..count).map(|_| self.random_command()).collect()
    }

    fn random_command(&mut self) -> C {
        self.next_id += 1;
        let id = format!("x{}", self.next_id);
        let timers: Vec<String> = self.exec.timers.keys().cloned().collect();
        let activities: Vec<i64> = self.exec.activities.keys().copied().collect();
        match self.rng.below(12) {
            0..=2 => C::ScheduleActivityTaskCommandAttributes(
                command::ScheduleActivityTaskCommandAttributes {
                    activity_id: id,
                    activity_type: Some(ActivityType { name: "A".into() }),
                    start_to_close_timeout: ms_duration(1 + self.rng.below(8_000) as i64),
                    heartbeat_timeout: ms_duration(self.rng.below(3) as i64 * 2_000),
                    retry_policy: self.rng.chance(50).then(|| RetryPolicy {
                        maximum_attempts: 1 + self.rng.below(3) as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            3..=4 => C::StartTimerCommandAttributes(command::StartTimerCommandAttributes {
                timer_id: id,
                start_to_fire_timeout: ms_duration(self.rng.below(6_000) as i64),
            }),
            5 => match self.rng.pick(&timers) {
                Some(timer_id) => {
                    C::CancelTimerCommandAttributes(command::CancelTimerCommandAttributes {
                        timer_id,
                    })
                }
                None => marker(),
            },
            6 => match self.rng.pick(&activities) {
                Some(scheduled_event_id) => C::RequestCancelActivityTaskCommandAttributes(
                    command::RequestCancelActivityTaskCommandAttributes { scheduled_event_id },
                ),
                None => marker(),
            },
            7 => C::StartChildWorkflowExecutionCommandAttributes(
                command::StartChildWorkflowExecutionCommandAttributes {
                    // Some children take an id another run already holds.
                    workflow_id: if self.rng.chance(25) {
                        TAKEN_ID.into()
                    } else {
                        id
                    },
                    workflow_type: Some(WorkflowType { name: "K".into() }),
                    ..Default::default()
                },
            ),
            8 => C::SignalExternalWorkflowExecutionCommandAttributes(
                command::SignalExternalWorkflowExecutionCommandAttributes {
                    execution: Some(WorkflowExecution {
                        workflow_id: id,
                        run_id: String::new(),
                    }),
                    signal_name: "s".into(),
                    ..Default::default()
                },
            ),
            9 => C::RequestCancelExternalWorkflowExecutionCommandAttributes(
                command::RequestCancelExternalWorkflowExecutionCommandAttributes {
                    workflow_id: id,
                    ..Default::default()
                },
            ),
            10 => marker(),
            _ if self.rng.chance(30) => C::ContinueAsNewWorkflowExecutionCommandAttributes(
                command::ContinueAsNewWorkflowExecutionCommandAttributes::default(),
            ),
            _ => C::CompleteWorkflowExecutionCommandAttributes(
                command::CompleteWorkflowExecutionCommandAttributes::default(),
            ),
        }
    }
}

fn marker() -> C {
    C::RecordMarkerCommandAttributes(command::RecordMarkerCommandAttributes {
        marker_name: "m".into(),
        ..Default::default()
    })
}

/// One random action on the run: a worker, a client, another workflow or the clock.
fn act(t: &mut Transition<'_>, rng: &mut Rng, roll: u64, commands: Vec<C>) {
    let exec = t.execution().clone();
    match roll {
        0..=29 => work_on_workflow_task(t, rng, &exec, commands),
        30..=49 => work_on_activity(t, rng, &exec),
        50..=64 => t.on_time(),
        65..=74 => t.signal("go", None, "client", None, ""),
        75..=82 => resolve_child_or_request(t, rng, &exec),
        83..=85 => t.request_cancel("why", "client"),
        90..=94 => {
            let update_id = format!("u{}", rng.below(6));
            let _ = t.admit_update(update_request(&update_id));
        }
        86..=88 => t.reset_stickiness(),
        89 if rng.chance(20) => t.terminate("enough", None, "client"),
        _ => t.on_time(),
    }
}

fn work_on_workflow_task(
    t: &mut Transition<'_>,
    rng: &mut Rng,
    exec: &Execution,
    commands: Vec<C>,
) {
    let Some(wft) = exec.workflow_task.clone() else {
        return;
    };
    if wft.started_event_id == 0 {
        let _ = t.start_workflow_task(wft.scheduled_event_id, "worker", "r");
        return;
    }
    let ids = (wft.scheduled_event_id, wft.started_event_id, wft.attempt);
    if rng.chance(10) {
        let failure = Some(Failure {
            message: "worker failed".into(),
            ..Default::default()
        });
        let _ = t.workflow_task_failed_by_worker(ids.0, ids.1, ids.2, 0, failure, "worker");
        return;
    }
    let sticky = rng.chance(40).then(|| StickyExecutionAttributes {
        worker_task_queue: Some(TaskQueue {
            name: "sticky".into(),
            ..Default::default()
        }),
        schedule_to_start_timeout: ms_duration(2_000),
    });
    let request = RespondWorkflowTaskCompletedRequest {
        messages: update_answers(rng, exec),
        sticky_attributes: sticky,
        ..completion(commands)
    };
    let _ = t.complete_workflow_task(ids.0, ids.1, ids.2, &request);
}

fn update_request(update_id: &str) -> update::Request {
    update::Request {
        meta: Some(update::Meta {
            update_id: update_id.into(),
            identity: "client".into(),
        }),
        input: Some(update::Input {
            name: "u".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The worker's answers to the run's open updates: accept, reject, complete, or nothing.
fn update_answers(rng: &mut Rng, exec: &Execution) -> Vec<Message> {
    let mut messages = Vec::new();
    for (update_id, info) in &exec.updates {
        let admitted = info.stage == Stage::Admitted as i32;
        let accepted = info.stage == Stage::Accepted as i32;
        let response = || update::Response {
            meta: Some(update::Meta {
                update_id: update_id.clone(),
                identity: "worker".into(),
            }),
            outcome: Some(update::Outcome::default()),
        };
        match rng.below(4) {
            0 if admitted => {
                messages.push(message(
                    update_id,
                    "accept",
                    "Acceptance",
                    update::Acceptance::default(),
                ));
            }
            1 if admitted => {
                let rejection = update::Rejection {
                    failure: Some(Failure::default()),
                    ..Default::default()
                };
                messages.push(message(update_id, "reject", "Rejection", rejection));
            }
            2 if admitted || accepted => {
                if admitted {
                    messages.push(message(
                        update_id,
                        "accept",
                        "Acceptance",
                        update::Acceptance::default(),
                    ));
                }
                messages.push(message(update_id, "complete", "Response", response()));
            }
            _ => {}
        }
    }
    messages
}

fn message(update_id: &str, suffix: &str, type_name: &str, body: impl prost::Message) -> Message {
    Message {
        id: format!("{update_id}/{suffix}"),
        protocol_instance_id: update_id.into(),
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
            value: body.encode_to_vec(),
        }),
        ..Default::default()
    }
}

fn work_on_activity(t: &mut Transition<'_>, rng: &mut Rng, exec: &Execution) {
    let activities: Vec<_> = exec.activities.values().cloned().collect();
    let Some(activity) = rng.pick(&activities) else {
        return;
    };
    let (id, attempt) = (activity.scheduled_event_id, activity.attempt);
    if activity.started_time_ms == 0 {
        let _ = t.start_activity_task(id, attempt, "worker", "r");
        return;
    }
    let details = Some(Payloads::default());
    let _ = match rng.below(4) {
        0 => t.complete_activity(id, attempt, details, "worker"),
        1 => t.fail_activity(id, attempt, Some(Failure::default()), None, "worker"),
        2 if activity.cancel_requested => t.cancel_activity(id, attempt, None, "worker"),
        _ => t.heartbeat_activity(id, attempt, details).map(drop),
    };
}

/// Another workflow answers: a child closes, or a signal/cancel request is delivered.
fn resolve_child_or_request(t: &mut Transition<'_>, rng: &mut Rng, exec: &Execution) {
    let children: Vec<i64> = exec.children.keys().copied().collect();
    let requests: Vec<i64> = exec.external_requests.keys().copied().collect();
    if let Some(initiated) = rng.pick(&children).filter(|_| rng.chance(50)) {
        let close = HistoryEvent {
            attributes: Some(match rng.below(3) {
                0 => Attributes::WorkflowExecutionCompletedEventAttributes(Default::default()),
                1 => Attributes::WorkflowExecutionFailedEventAttributes(
                    history::WorkflowExecutionFailedEventAttributes::default(),
                ),
                _ => Attributes::WorkflowExecutionTerminatedEventAttributes(Default::default()),
            }),
            ..Default::default()
        };
        t.child_closed(initiated, &close);
    } else if let Some(initiated) = rng.pick(&requests) {
        let delivered = rng.chance(60).then(|| WorkflowExecution {
            workflow_id: "other".into(),
            run_id: "other-run".into(),
        });
        t.external_request_done(initiated, delivered);
    }
}

#[test]
fn random_runs_always_match_their_history() {
    let seeds = env_count("TEMPER_SIM_SEEDS", 64);
    let steps = env_count("TEMPER_SIM_STEPS", 300);
    for seed in 1..=seeds {
        let run_id = format!("sim-{seed}");
        let mut attributes = minimal_started_attributes("wf", "Sim", "q");
        attributes.workflow_run_timeout = ms_duration(if seed % 3 == 0 { 400_000 } else { 0 });
        // Some runs start after a delay: signals may arrive before their first task.
        attributes.first_workflow_task_backoff = ms_duration(if seed % 4 == 0 { 5_000 } else { 0 });
        let (exec, _, _) = start_run(&run_id, "req", attributes, None, T0);
        let mut world = World {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            exec,
            now: T0,
            next_id: 0,
        };
        for step in 0..steps {
            if !world.exec.is_running() {
                break;
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.step()));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("seed {seed}, step {step}: {message}");
            }
        }
    }
    assert_explored(seeds);
}

/// The simulation reaches every family of events (a change that stops it from exploring,
/// say by making every completion invalid, fails here rather than passing vacuously).
fn assert_explored(seeds: u64) {
    use temper_api::proto::enums::v1::EventType as E;
    let seen: std::collections::BTreeSet<i32> = (1..=seeds)
        .flat_map(|seed| super::HISTORIES.with(|h| h.borrow()[&format!("sim-{seed}")].clone()))
        .map(|e| e.event_type)
        .collect();
    for wanted in [
        E::ActivityTaskCompleted,
        E::ActivityTaskFailed,
        E::ActivityTaskTimedOut,
        E::ActivityTaskCanceled,
        E::TimerFired,
        E::TimerCanceled,
        E::ChildWorkflowExecutionStarted,
        E::ChildWorkflowExecutionCompleted,
        E::StartChildWorkflowExecutionFailed,
        E::ExternalWorkflowExecutionSignaled,
        E::RequestCancelExternalWorkflowExecutionFailed,
        E::WorkflowExecutionUpdateAccepted,
        E::WorkflowExecutionUpdateCompleted,
        E::WorkflowTaskFailed,
        E::WorkflowTaskTimedOut,
        E::WorkflowExecutionSignaled,
        E::WorkflowExecutionCancelRequested,
        E::WorkflowExecutionCompleted,
        E::WorkflowExecutionContinuedAsNew,
        E::WorkflowExecutionTerminated,
        E::WorkflowExecutionTimedOut,
    ] {
        assert!(
            seen.contains(&(wanted as i32)),
            "the simulation never produced {wanted:?}"
        );
    }
}

//! Sync start: a task that becomes ready while a worker polls its queue is started for that
//! worker in the same write that made it ready, and handed to it once the write is durable
//! (matching's `handoff.rs` says how the poller is reserved and let go). A one-activity
//! workflow takes four writes instead of seven: the first workflow task starts with the run,
//! the activity with the completion that scheduled it, the next workflow task with the
//! activity's result.

use std::sync::Arc;

use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::execution::ReadyTask;
use temper_engine::{Execution, StartedTask, Transition};

use super::follow_ups::FollowUp;
use super::{History, route_of};
use crate::matching::{QueueKind, ReservedPoller, SyncStarted};
use tonic::Status;

/// A task started in a transition for a reserved poller, to hand over after the commit.
/// Dropped instead (the commit failed), it lets the poller go back to polling.
pub(super) struct Handover {
    poller: ReservedPoller,
    task: StartedTask,
}

impl History {
    /// Starts, within the transition, each of its ready tasks that a poller is waiting for.
    pub(super) fn start_for_waiting_pollers(&self, t: &mut Transition<'_>) -> Vec<Handover> {
        if t.ready_tasks().is_empty() {
            return Vec::new();
        }
        let mut handovers = Vec::new();
        for task in t.ready_tasks().to_vec() {
            let Some(poller) = self.reserve_poller_for(t.execution(), &task) else {
                continue;
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            // A task that cannot start (superseded in this transition) drops its poller,
            // which polls again.
            if let Ok(started) = t.start_ready_task(&task, poller.identity(), &request_id) {
                handovers.push(Handover {
                    poller,
                    task: started,
                });
            }
        }
        handovers
    }

    /// [`History::start_for_waiting_pollers`] for a run just started: its events and ready
    /// tasks are extended and trimmed in place.
    pub(super) fn start_new_run_for_waiting_pollers(
        &self,
        exec: &mut Execution,
        events: &mut Vec<HistoryEvent>,
        tasks: Vec<ReadyTask>,
        now: i64,
    ) -> (Vec<ReadyTask>, Vec<Handover>) {
        let mut transition = Transition::new(exec, now)
            .with_limits(self.limits)
            .with_ready_tasks(tasks);
        let handovers = self.start_for_waiting_pollers(&mut transition);
        let output = transition.finish();
        events.extend(output.events);
        (output.tasks, handovers)
    }

    /// A poller waiting on the queue the task goes to, if one may take it.
    fn reserve_poller_for(&self, exec: &Execution, task: &ReadyTask) -> Option<ReservedPoller> {
        match task {
            ReadyTask::Workflow { task_queue, .. } => {
                // Not on a sticky queue: a sticky task its worker never got must stay movable
                // to the normal queue (`ResetStickyTaskQueue`, the sticky schedule-to-start
                // timeout), and a poll cancelled a moment ago can still look like it waits.
                let queue = self.workflow_queue_for(exec, task_queue);
                if queue != exec.task_queue {
                    return None;
                }
                self.matching.reserve_poller(
                    &exec.namespace,
                    queue,
                    QueueKind::Workflow,
                    &route_of(exec),
                )
            }
            ReadyTask::Activity { task_queue, .. } => self.matching.reserve_poller(
                &exec.namespace,
                task_queue,
                QueueKind::Activity,
                &route_of(exec),
            ),
            ReadyTask::Nexus { .. } | ReadyTask::NexusCancel { .. } => None,
        }
    }

    /// Hands each task started in a committed write to its poller. An activity attempt whose
    /// poller left meanwhile is released to wait for another worker; a workflow task times out
    /// and is retried, as in Temporal when a poll response is lost.
    pub(super) fn hand_over(&self, exec: &Arc<Execution>, handovers: Vec<Handover>) {
        for Handover { poller, task } in handovers {
            let release = match &task {
                StartedTask::Activity(grant) => Some(FollowUp::ReleaseActivity {
                    run_id: exec.run_id.clone(),
                    scheduled_event_id: grant.activity.scheduled_event_id,
                    attempt: grant.activity.attempt,
                    request_id: grant.activity.started_request_id.clone(),
                }),
                StartedTask::Workflow(_) => None,
            };
            let started = SyncStarted {
                exec: exec.clone(),
                task,
            };
            if poller.deliver(started) {
                continue;
            }
            tracing::debug!(run_id = %exec.run_id, "poller left before its task was handed over");
            if let Some(release) = release {
                self.follow_up(release);
            }
        }
    }

    /// Releases an activity attempt started for a poller that left before the hand-over.
    pub(super) async fn release_activity(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        request_id: &str,
    ) -> Result<(), Status> {
        self.transact(run_id, |t| {
            t.release_activity_task(scheduled_event_id, attempt, request_id)
        })
        .await
        .map(|_| ())
    }
}

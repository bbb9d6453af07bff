//! Sync start: a ready task started in the very transition that made it ready, for a worker
//! already waiting for it. The server finds the waiting worker; starting the task here folds
//! Temporal's separate "record task started" write into the write that scheduled the task.
//! The events are the ones a later start would write (only their times differ).
//!
//! An activity attempt started for a worker that left before the hand-over can be released:
//! its start wrote no event (Started is written when the activity closes), so it simply waits
//! for a worker again. A workflow task's start wrote its event; one whose worker left times
//! out instead, as in Temporal.

use super::{ActivityTaskGrant, ReadyTask, TaskError, Transition, WorkflowTaskGrant};

/// A ready task started for a waiting worker.
#[derive(Debug, Clone, PartialEq)]
pub enum StartedTask {
    Workflow(WorkflowTaskGrant),
    Activity(Box<ActivityTaskGrant>),
}

impl Transition<'_> {
    /// Continues from tasks made ready before this transition (a run just started by
    /// [`crate::Execution::start`]), so that they can be started here.
    pub fn with_ready_tasks(mut self, tasks: Vec<ReadyTask>) -> Self {
        self.tasks = tasks;
        self
    }

    /// The tasks this transition has made ready so far.
    pub fn ready_tasks(&self) -> &[ReadyTask] {
        &self.tasks
    }

    /// Starts one of this transition's ready tasks for the worker `identity`; it is no longer
    /// ready. A Nexus task is never started here (its handler's poll starts it).
    pub fn start_ready_task(
        &mut self,
        task: &ReadyTask,
        identity: &str,
        request_id: &str,
    ) -> Result<StartedTask, TaskError> {
        let started = match task {
            ReadyTask::Workflow {
                scheduled_event_id, ..
            } => StartedTask::Workflow(self.start_workflow_task(
                *scheduled_event_id,
                identity,
                request_id,
            )?),
            ReadyTask::Activity {
                scheduled_event_id,
                attempt,
                ..
            } => StartedTask::Activity(Box::new(self.start_activity_task(
                *scheduled_event_id,
                *attempt,
                identity,
                request_id,
            )?)),
            ReadyTask::Nexus { .. } | ReadyTask::NexusCancel { .. } => {
                return Err(TaskError::NexusTaskNotFound);
            }
        };
        self.tasks.retain(|ready| ready != task);
        Ok(started)
    }
}

impl Transition<'_> {
    /// Undoes the start of activity attempt `attempt` by request `request_id` when its worker
    /// never received it, so that the attempt waits for a worker again. False, changing
    /// nothing, when the attempt has moved on since (heartbeat, cancel request, pause, close,
    /// retry).
    pub fn release_activity_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        request_id: &str,
    ) -> bool {
        let running = self.exec.is_running();
        let Some(activity) = self
            .exec
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| {
                running
                    && a.attempt == attempt
                    && a.started_time_ms > 0
                    && a.started_request_id == request_id
                    && a.last_heartbeat_time_ms == 0
                    && !a.cancel_requested
                    && !a.paused
            })
        else {
            return false;
        };
        activity.started_time_ms = 0;
        activity.started_identity.clear();
        activity.started_request_id.clear();
        self.tasks.push(ReadyTask::Activity {
            task_queue: activity.task_queue.clone(),
            scheduled_event_id,
            attempt,
        });
        true
    }
}

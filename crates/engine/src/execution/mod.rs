//! Transitions of one workflow run: each takes the current time, mutates an [`Execution`] and
//! records the history events and ready tasks it produced in a [`Transition`].
//!
//! The contract, in one place:
//! - Event ids are contiguous from 1. Events that arrive while a workflow task is *started*
//!   (signals, timer firings, activity results, cancel requests) are buffered and written at the
//!   next flush, completion-type events last; command events and workflow-task events are never
//!   buffered.
//! - At most one workflow task exists per run. Anything that needs the workflow's attention
//!   schedules one if none is scheduled or started; a task completed while events were buffered
//!   is followed by a new one.
//! - Activities carry a retry policy (Temporal's defaults fill the gaps). Failed or timed-out
//!   attempts that are retried write no events; `ActivityTaskStarted` is written only when the
//!   activity closes, back-dated to the last attempt's start.
//! - Deadlines (timers, workflow-task and activity timeouts, retry backoffs, workflow
//!   timeouts) are plain instants in the state; [`Execution::next_wakeup`] says when
//!   [`Transition::on_time`] must next run.
//! - Every event changes the state through `Execution::apply_event` (`apply.rs`), whether a
//!   transition writes it now, buffers it, or a rebuild replays it; `invariants.rs` says what
//!   must hold after every transition, and [`Transition::finish`] checks it in debug builds.
//!
//! Where things are: `commands.rs` sends each command of a completion to its family's module
//! (`activities`, `timers`, `children`, `external`, `close`, `properties`, `updates`);
//! `workflow_task.rs` is the workflow-task lifecycle, `validate.rs` the command checks,
//! `chaining.rs` retries, cron and continue-as-new, `timeouts.rs` everything driven by time,
//! `signals.rs` what clients send a running run, `start.rs` and `reset.rs` new runs,
//! `handover.rs` ready tasks started in the transition that made them ready (sync start).

pub(crate) use self::activities::activity_deadlines;
use self::events::event_type;
use crate::state::{ActivityInfo, Execution, WorkflowTaskInfo};
use crate::time::ms_timestamp;
use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::WorkflowExecutionStatus;
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

mod activities;
mod activity_operations;
mod apply;
mod chaining;
mod children;
mod close;
mod commands;
mod errors;
mod events;
mod external;
mod handover;
mod invariants;
mod nexus;
mod options;
mod properties;
mod reset;
mod signals;
mod start;
mod system_attributes;
mod timeouts;
mod timers;
mod updates;
mod validate;
mod versioning;
mod workflow_task;

pub use activities::HeartbeatAnswer;
pub(crate) use activities::retried_failure;
pub use activity_operations::{
    ActivityOperationError, ActivitySelector, OptionsUpdate, PauseRequest,
};
pub use apply::RebuildError;
pub use errors::{CompletionError, TaskError};
pub(crate) use events::timeout_failure;
pub use events::{activity_type, minimal_started_attributes, normal_task_queue, transient_events};
pub use handover::StartedTask;
pub use nexus::{HandlerRun, NexusCancelGrant, NexusEndpointRef, NexusOutcome, NexusTaskGrant};
pub use reset::{ResetError, ResetPoint, ResetRun};
pub use versioning::stored_override;

/// How long a task waits on a sticky queue before it goes to the normal queue (the SDKs'
/// default when they send none).
const DEFAULT_STICKY_SCHEDULE_TO_START_TIMEOUT_MS: i64 = 10_000;
/// Temporal's default workflow task start-to-close timeout.
pub const DEFAULT_WORKFLOW_TASK_TIMEOUT_MS: i64 = 10_000;
/// Placeholder `started_event_id` of a buffered activity close event whose Started event gets
/// its id at flush time.
const STARTED_ID_AT_FLUSH: i64 = -1;

/// What became of a completed workflow task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    /// Its events were written.
    Recorded,
    /// A speculative task that only rejected updates: nothing was written, and the worker
    /// must roll its history back to `reset_history_event_id`.
    Discarded { reset_history_event_id: i64 },
}

/// A task that a worker can now be given; the server queues it after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyTask {
    Workflow {
        task_queue: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    Activity {
        task_queue: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// A Nexus operation's attempt, for the queue its endpoint targets (the server looks the
    /// endpoint up when it queues the task).
    Nexus {
        endpoint_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// A request to cancel a started Nexus operation, for the same queue.
    NexusCancel {
        endpoint_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
}

/// A signal delivered together with the start (`SignalWithStartWorkflowExecution`): it is
/// written right after `WorkflowExecutionStarted`, before the first workflow task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitialSignal {
    pub name: String,
    pub input: Option<Payloads>,
    pub header: Option<temper_api::proto::common::v1::Header>,
    pub identity: String,
    pub request_id: String,
}

/// What a worker receives when it is handed a workflow task.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowTaskGrant {
    pub scheduled_event_id: i64,
    pub started_event_id: i64,
    pub attempt: i32,
    pub previous_started_event_id: i64,
    pub scheduled_time_ms: i64,
    pub started_time_ms: i64,
}

/// What a worker receives when it is handed an activity task.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTaskGrant {
    pub activity: ActivityInfo,
}

/// History length and size thresholds (Temporal's `limit.history*` dynamic config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Workflow tasks suggest continue-as-new from this many events on.
    pub suggest_continue_as_new_count: i64,
    pub suggest_continue_as_new_size: i64,
    /// A run whose history grows past these is terminated.
    pub max_count: i64,
    pub max_size: i64,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            suggest_continue_as_new_count: 4 * 1024,
            suggest_continue_as_new_size: 4 * 1024 * 1024,
            max_count: 50 * 1024,
            max_size: 50 * 1024 * 1024,
        }
    }
}

/// One transition in progress on an execution.
pub struct Transition<'a> {
    exec: &'a mut Execution,
    now: i64,
    /// Gives ids to runs this transition starts (continue-as-new, retry, children).
    run_ids: Option<Box<dyn FnMut() -> String + Send + 'a>>,
    events: Vec<HistoryEvent>,
    tasks: Vec<ReadyTask>,
    new_runs: Vec<NewRun>,
    /// Non-command events produced while applying commands (a child's start), written after
    /// every command event so workers see them in a later activation.
    after_commands: Vec<HistoryEvent>,
    /// Workflow ids (of this namespace) that have a running run: a child with one of these
    /// ids cannot start. The server looks them up before the transition.
    running_workflow_ids: std::collections::BTreeSet<String>,
    limits: HistoryLimits,
    /// Activities scheduled by this completion whose worker asked to run them at once.
    eager_activities: Vec<i64>,
    /// The registered Nexus endpoints that the completion's commands name, by name. The
    /// server looks them up before the transition.
    nexus_endpoints: std::collections::BTreeMap<String, NexusEndpointRef>,
}

/// A run that a transition chains to the current one (continue-as-new or workflow retry).
/// The server creates it in the same atomic write as the closing run's update.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    pub started: history::WorkflowExecutionStartedEventAttributes,
    /// A child's summary and details, from its start command.
    pub user_metadata: Option<temper_api::proto::sdk::v1::UserMetadata>,
}

/// Everything a transition produced.
#[derive(Debug, Default)]
pub struct TransitionOutput {
    /// Events to append, in order.
    pub events: Vec<HistoryEvent>,
    /// Tasks to dispatch once the events are committed.
    pub tasks: Vec<ReadyTask>,
    /// Runs to create in the same atomic write (each becomes its workflow id's current run).
    pub new_runs: Vec<NewRun>,
}

/// Activity and child close events, which a flush moves after every other buffered event (as
/// Temporal does, so a workflow sees a result after the events that preceded it).
fn flushes_last(event: &HistoryEvent) -> bool {
    matches!(
        event.attributes,
        Some(
            Attributes::ActivityTaskCompletedEventAttributes(_)
                | Attributes::ActivityTaskFailedEventAttributes(_)
                | Attributes::ActivityTaskTimedOutEventAttributes(_)
                | Attributes::ActivityTaskCanceledEventAttributes(_)
                | Attributes::ChildWorkflowExecutionCompletedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionFailedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionCanceledEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTerminatedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTimedOutEventAttributes(_)
                | Attributes::NexusOperationCompletedEventAttributes(_)
                | Attributes::NexusOperationFailedEventAttributes(_)
                | Attributes::NexusOperationCanceledEventAttributes(_)
                | Attributes::NexusOperationTimedOutEventAttributes(_)
        )
    )
}

fn activity_close_ids(event: &mut HistoryEvent) -> Option<(i64, &mut i64)> {
    match event.attributes.as_mut()? {
        Attributes::ActivityTaskCompletedEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskFailedEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskTimedOutEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskCanceledEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        _ => None,
    }
}

impl Execution {
    /// The run's workflow id and run id, as the API names a run.
    pub fn workflow_execution(&self) -> temper_api::proto::common::v1::WorkflowExecution {
        temper_api::proto::common::v1::WorkflowExecution {
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }

    pub fn is_running(&self) -> bool {
        self.status == WorkflowExecutionStatus::Running as i32
    }

    /// The tasks a worker could be given now; used to rebuild task queues after a restart.
    pub fn ready_tasks(&self) -> Vec<ReadyTask> {
        let mut tasks = Vec::new();
        if !self.is_running() {
            return tasks;
        }
        if let Some(wft) = &self.workflow_task
            && wft.started_event_id == 0
        {
            tasks.push(ReadyTask::Workflow {
                task_queue: wft.task_queue.clone(),
                scheduled_event_id: wft.scheduled_event_id,
                attempt: wft.attempt,
            });
        }
        let mut activities: Vec<&ActivityInfo> = self.activities.values().collect();
        activities.sort_by_key(|a| a.scheduled_event_id);
        for activity in activities {
            if activity.started_time_ms == 0
                && activity.retry_ready_time_ms == 0
                && !activity.paused
            {
                tasks.push(ReadyTask::Activity {
                    task_queue: activity.task_queue.clone(),
                    scheduled_event_id: activity.scheduled_event_id,
                    attempt: activity.attempt,
                });
            }
        }
        for op in self.nexus_operations.values() {
            if nexus::waits_for_handler(op) {
                tasks.push(ReadyTask::Nexus {
                    endpoint_id: op.endpoint_id.clone(),
                    scheduled_event_id: op.scheduled_event_id,
                    attempt: op.attempt,
                });
            }
            if nexus::cancel_waits_for_handler(op) {
                tasks.push(ReadyTask::NexusCancel {
                    endpoint_id: op.endpoint_id.clone(),
                    scheduled_event_id: op.scheduled_event_id,
                    attempt: op.cancel_attempt,
                });
            }
        }
        tasks
    }

    /// Whether a worker has (or could pick up) a workflow or activity task of this run. A
    /// time-skipping server does not skip time while any run has one.
    pub fn has_outstanding_tasks(&self) -> bool {
        self.is_running()
            && (self.workflow_task.is_some()
                || self
                    .activities
                    .values()
                    .any(|a| a.retry_ready_time_ms == 0 && (a.started_time_ms > 0 || !a.paused))
                || self
                    .nexus_operations
                    .values()
                    .any(|op| op.operation_token.is_empty() && op.retry_ready_time_ms == 0))
    }

    /// Whether a workflow task was offered on the sticky queue.
    pub fn is_sticky(&self, wft: &WorkflowTaskInfo) -> bool {
        wft.task_queue != self.task_queue
    }

    /// The earliest instant at which [`Transition::on_time`] has work to do.
    pub fn next_wakeup(&self) -> Option<i64> {
        if !self.is_running() {
            return None;
        }
        let mut deadlines = vec![self.run_deadline_ms, self.first_workflow_task_time_ms];
        if let Some(wft) = &self.workflow_task {
            if wft.started_event_id > 0 {
                deadlines.push(wft.started_time_ms + wft.start_to_close_timeout_ms);
            } else if self.is_sticky(wft) {
                deadlines.push(wft.scheduled_time_ms + self.sticky_schedule_to_start_timeout_ms);
            }
        }
        deadlines.extend(self.timers.values().map(|t| t.fire_time_ms));
        for activity in self.activities.values() {
            deadlines.extend(activity_deadlines(activity).into_iter().map(|(at, _)| at));
            if !activity.paused {
                deadlines.push(activity.retry_ready_time_ms);
            }
        }
        for op in self.nexus_operations.values() {
            deadlines.extend(nexus::nexus_deadlines(op));
        }
        deadlines.into_iter().filter(|at| *at > 0).min()
    }
}

impl<'a> Transition<'a> {
    pub fn new(exec: &'a mut Execution, now: i64) -> Self {
        Transition {
            exec,
            now,
            run_ids: None,
            events: Vec::new(),
            tasks: Vec::new(),
            new_runs: Vec::new(),
            after_commands: Vec::new(),
            running_workflow_ids: Default::default(),
            limits: HistoryLimits::default(),
            eager_activities: Vec::new(),
            nexus_endpoints: Default::default(),
        }
    }

    /// Where ids of runs this transition starts come from. Without it, a transition that
    /// would start a run (continue-as-new, retry, child) cannot, and says so in its events.
    pub fn with_run_ids(mut self, ids: impl FnMut() -> String + Send + 'a) -> Self {
        self.run_ids = Some(Box::new(ids));
        self
    }

    pub fn with_limits(mut self, limits: HistoryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Declares which workflow ids already have a running run (for child starts).
    pub fn set_running_workflow_ids(&mut self, ids: std::collections::BTreeSet<String>) {
        self.running_workflow_ids = ids;
    }

    pub(super) fn next_run_id(&mut self) -> Option<String> {
        self.run_ids.as_mut().map(|ids| ids())
    }

    pub fn finish(self) -> TransitionOutput {
        if cfg!(debug_assertions) {
            let checked = invariants::check_contiguous(&self.events, self.exec.next_event_id)
                .and_then(|()| self.exec.check_invariants());
            if let Err(broken) = checked {
                panic!("run {}: invariant broken: {broken}", self.exec.run_id);
            }
        }
        TransitionOutput {
            events: self.events,
            tasks: self.tasks,
            new_runs: self.new_runs,
        }
    }

    pub fn execution(&self) -> &Execution {
        self.exec
    }

    pub(super) fn new_event(&self, attributes: Attributes, event_time_ms: i64) -> HistoryEvent {
        HistoryEvent {
            event_id: 0,
            event_time: ms_timestamp(event_time_ms),
            event_type: event_type(&attributes) as i32,
            attributes: Some(attributes),
            ..Default::default()
        }
    }

    /// Gives an event its id and adds it to the output, without applying it: for events that
    /// were applied when they were buffered, or as a transient task's.
    pub(super) fn push_event(&mut self, mut event: HistoryEvent) -> i64 {
        event.event_id = self.exec.next_event_id;
        self.exec.count_written(&event);
        let id = event.event_id;
        self.events.push(event);
        id
    }

    /// Applies an event to the state and writes it now; returns its id.
    pub(super) fn write(&mut self, mut event: HistoryEvent) -> i64 {
        event.event_id = self.exec.next_event_id;
        self.exec.apply_event(&event);
        self.push_event(event)
    }

    /// Applies an event that is not written (a transient task's) under the id it would get.
    pub(super) fn apply_unwritten(&mut self, mut event: HistoryEvent, event_id: i64) {
        event.event_id = event_id;
        self.exec.apply_event(&event);
    }

    /// Writes an event with these attributes now and returns its id.
    pub(super) fn append(&mut self, attributes: Attributes) -> i64 {
        let event = self.new_event(attributes, self.now);
        self.write(event)
    }

    pub(super) fn workflow_task_in_flight(&self) -> bool {
        self.exec
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.started_event_id > 0)
    }

    /// Writes an event now, or buffers it while a workflow task is in flight.
    /// A buffered event is applied at once; it gets its id when the buffer is flushed.
    pub(super) fn append_or_buffer(&mut self, event: HistoryEvent) {
        if self.workflow_task_in_flight() {
            self.exec.apply_event(&event);
            self.exec.buffered_events.push(event);
        } else {
            self.demote_waiting_transient_task();
            self.write(event);
        }
    }

    /// Writes the buffered events: activity results last, Started events wired to their results.
    pub(super) fn flush_buffer(&mut self) -> bool {
        let buffered = std::mem::take(&mut self.exec.buffered_events);
        if buffered.is_empty() {
            return false;
        }
        let (closes, others): (Vec<_>, Vec<_>) = buffered.into_iter().partition(flushes_last);
        let mut started_ids = std::collections::BTreeMap::new();
        for mut event in others.into_iter().chain(closes) {
            let is_started = matches!(
                event.attributes,
                Some(Attributes::ActivityTaskStartedEventAttributes(_))
            );
            let scheduled = match &event.attributes {
                Some(Attributes::ActivityTaskStartedEventAttributes(a)) => a.scheduled_event_id,
                _ => 0,
            };
            if let Some((scheduled_id, started_id)) = activity_close_ids(&mut event)
                && *started_id == STARTED_ID_AT_FLUSH
            {
                *started_id = started_ids.get(&scheduled_id).copied().unwrap_or(0);
            }
            let id = self.push_event(event);
            if is_started {
                started_ids.insert(scheduled, id);
            }
        }
        true
    }
}

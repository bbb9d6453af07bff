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

use temper_api::proto::command::v1::{
    self as command, Command, command::Attributes as CommandAttributes,
};
use temper_api::proto::common::v1::{
    ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType,
};
use temper_api::proto::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, ContinueAsNewInitiator, EventType,
    ParentClosePolicy, RetryState, SignalExternalWorkflowExecutionFailedCause,
    StartChildWorkflowExecutionFailedCause, SuggestContinueAsNewReason, TaskQueueKind, TimeoutType,
    WorkflowExecutionStatus, WorkflowTaskFailedCause,
};
use temper_api::proto::failure::v1::{
    Failure, ServerFailureInfo, TimeoutFailureInfo, failure::FailureInfo,
};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};
use temper_api::proto::taskqueue::v1::TaskQueue;
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

mod apply;
mod invariants;
mod reset;
mod updates;
mod validate;

use validate::{CommandProblem, validate_schedule_activity, validate_start_timer};

use updates::only_rejections;

pub use apply::RebuildError;
pub use reset::{ResetPoint, ResetRun};

use crate::retry::{self, RetryDecision};
use crate::state::{ActivityInfo, Execution, ExternalRequest, TimerInfo, WorkflowTaskInfo};
use crate::time::{
    capped_duration, duration_ms, duration_problem, ms_duration, ms_timestamp, timestamp_ms,
};

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

/// Why a workflow-task completion was not applied as asked.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionError {
    /// The token names a task that is no longer current.
    NotFound(String),
    /// The request itself is malformed; nothing was written.
    Invalid(String),
    /// The commands were rejected: the task was failed with this cause (the events are in the
    /// transition and must be committed) and a new task scheduled.
    TaskFailed {
        cause: WorkflowTaskFailedCause,
        message: String,
    },
}

impl CompletionError {
    /// The message Temporal returns with INVALID_ARGUMENT: `"<Cause>: <detail>"`.
    pub fn status_message(&self) -> String {
        match self {
            CompletionError::NotFound(m) | CompletionError::Invalid(m) => m.clone(),
            CompletionError::TaskFailed { cause, message } => {
                format!("{}: {message}", cause_name(*cause))
            }
        }
    }
}

fn cause_name(cause: WorkflowTaskFailedCause) -> String {
    format!("{cause:?}")
}

/// Why an activity or workflow-task token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Stale: the task is no longer current (NOT_FOUND).
    NotFound(String),
    /// The request is not acceptable in the current state (INVALID_ARGUMENT).
    Invalid(String),
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

fn event_type(attributes: &Attributes) -> EventType {
    use Attributes as A;
    match attributes {
        A::WorkflowExecutionStartedEventAttributes(_) => EventType::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => EventType::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => EventType::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => EventType::WorkflowExecutionTimedOut,
        A::WorkflowExecutionCanceledEventAttributes(_) => EventType::WorkflowExecutionCanceled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => EventType::WorkflowExecutionTerminated,
        A::WorkflowExecutionSignaledEventAttributes(_) => EventType::WorkflowExecutionSignaled,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        A::WorkflowTaskScheduledEventAttributes(_) => EventType::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => EventType::WorkflowTaskCompleted,
        A::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        A::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        A::ActivityTaskScheduledEventAttributes(_) => EventType::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => EventType::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        A::ActivityTaskCancelRequestedEventAttributes(_) => EventType::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        A::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        A::TimerFiredEventAttributes(_) => EventType::TimerFired,
        A::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        A::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        A::UpsertWorkflowSearchAttributesEventAttributes(_) => {
            EventType::UpsertWorkflowSearchAttributes
        }
        A::WorkflowPropertiesModifiedEventAttributes(_) => EventType::WorkflowPropertiesModified,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => {
            EventType::WorkflowExecutionContinuedAsNew
        }
        A::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionInitiated
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionStartedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionStarted
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCompleted
        }
        A::ChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionCanceledEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCanceled
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTerminated
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTimedOut
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionInitiated
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionSignaled
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionInitiated
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAccepted
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateCompleted
        }
        _ => EventType::Unspecified,
    }
}

/// Activity and child close events, which a flush moves after every other buffered event.
fn is_activity_close(event: &HistoryEvent) -> bool {
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

/// The pending request a `SignalExternalWorkflowExecutionInitiated` event stands for (its
/// `initiated_event_id` is set once the event has its id).
fn signal_request(
    initiated: &history::SignalExternalWorkflowExecutionInitiatedEventAttributes,
) -> ExternalRequest {
    let target = initiated.workflow_execution.clone().unwrap_or_default();
    ExternalRequest {
        namespace: initiated.namespace.clone(),
        workflow_id: target.workflow_id,
        run_id: target.run_id,
        child_workflow_only: initiated.child_workflow_only,
        signal_name: initiated.signal_name.clone(),
        input: initiated.input.clone(),
        header: initiated.header.clone(),
        ..Default::default()
    }
}

/// The pending request a `RequestCancelExternalWorkflowExecutionInitiated` event stands for.
fn cancel_request(
    initiated: &history::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
) -> ExternalRequest {
    let target = initiated.workflow_execution.clone().unwrap_or_default();
    ExternalRequest {
        namespace: initiated.namespace.clone(),
        workflow_id: target.workflow_id,
        run_id: target.run_id,
        child_workflow_only: initiated.child_workflow_only,
        reason: initiated.reason.clone(),
        ..Default::default()
    }
}

fn task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

fn timeout_failure(
    kind: TimeoutType,
    details: Option<Payloads>,
    cause: Option<Failure>,
) -> Failure {
    Failure {
        message: format!("activity {} timeout", retry::timeout_type_name(kind)),
        source: "Server".into(),
        cause: cause.map(Box::new),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: kind as i32,
            last_heartbeat_details: details,
        })),
        ..Default::default()
    }
}

/// Upserts named payloads: a value that is empty, `null` or `[]` (whatever its encoding)
/// removes the name, as Temporal does for memo fields and search attributes.
// The maps are the protobuf types' own; merging does not depend on their order.
#[allow(clippy::disallowed_types)]
fn merge_upserted(
    current: &mut std::collections::HashMap<String, Payload>,
    upserted: &std::collections::HashMap<String, Payload>,
) {
    for (name, value) in upserted {
        if matches!(value.data.as_slice(), b"" | b"null" | b"[]") {
            current.remove(name);
        } else {
            current.insert(name.clone(), value.clone());
        }
    }
}

/// What an attempt that will be retried leaves as the activity's last failure. A timeout's
/// failure wraps the previous attempt's failure as its cause; kept as is, every timed-out
/// attempt would nest the chain one level deeper, without bound. As Temporal does, the retried
/// timeout is kept bare; the final timeout event still carries the last failure as its cause.
fn retried_failure(mut failure: Failure, timeout: Option<TimeoutType>) -> Failure {
    if timeout.is_some() {
        failure.cause = None;
    }
    failure
}

/// Temporal's defaults for a new run's started event: the task timeout, the chain's run ids,
/// the first attempt, a cron run's first backoff and the execution deadline.
fn with_start_defaults(
    mut started: history::WorkflowExecutionStartedEventAttributes,
    run_id: &str,
    now: i64,
) -> history::WorkflowExecutionStartedEventAttributes {
    if started.workflow_task_timeout.is_none() {
        started.workflow_task_timeout = ms_duration(DEFAULT_WORKFLOW_TASK_TIMEOUT_MS);
    }
    if started.original_execution_run_id.is_empty() {
        started.original_execution_run_id = run_id.to_string();
    }
    if started.first_execution_run_id.is_empty() {
        started.first_execution_run_id = run_id.to_string();
    }
    if started.attempt == 0 {
        started.attempt = 1;
    }
    // A cron workflow's first run waits for the schedule's first time.
    if !started.cron_schedule.is_empty()
        && started.first_workflow_task_backoff.is_none()
        && started.continued_execution_run_id.is_empty()
    {
        started.first_workflow_task_backoff =
            ms_duration(crate::cron::backoff_ms(&started.cron_schedule, now).unwrap_or(0));
    }
    // The execution timeout spans a whole chain of runs, from the first one's first task.
    let backoff_ms = duration_ms(started.first_workflow_task_backoff.as_ref());
    let execution_timeout_ms = duration_ms(started.workflow_execution_timeout.as_ref());
    if timestamp_ms(started.workflow_execution_expiration_time.as_ref()) == 0
        && execution_timeout_ms > 0
    {
        started.workflow_execution_expiration_time =
            ms_timestamp(now + backoff_ms + execution_timeout_ms);
    }
    started
}

impl Execution {
    /// A new run from its `WorkflowExecutionStarted` attributes (and the start request's
    /// summary and details, which describe shows and the started event carries). The
    /// transition holds the first events (Started, and WorkflowTaskScheduled) and the first
    /// task.
    pub fn start(
        namespace: &str,
        run_id: &str,
        request_id: &str,
        started: history::WorkflowExecutionStartedEventAttributes,
        initial_signal: Option<&InitialSignal>,
        user_metadata: Option<&temper_api::proto::sdk::v1::UserMetadata>,
        now: i64,
    ) -> (Execution, Vec<HistoryEvent>, Vec<ReadyTask>) {
        let started = with_start_defaults(started, run_id, now);
        let mut exec = Execution {
            namespace: namespace.to_string(),
            run_id: run_id.to_string(),
            next_event_id: 1,
            start_request_id: request_id.to_string(),
            workflow_task_attempt: 1,
            ..Default::default()
        };
        let mut t = Transition::new(&mut exec, now);
        let mut event = t.new_event(
            Attributes::WorkflowExecutionStartedEventAttributes(started),
            now,
        );
        event.user_metadata = user_metadata.cloned();
        t.write(event);
        if let Some(signal) = initial_signal {
            t.deliver_signal(signal);
        }
        if t.exec.first_workflow_task_time_ms == 0 {
            t.schedule_workflow_task();
        }
        let output = t.finish();
        (exec, output.events, output.tasks)
    }

    /// Merges upserted search attributes into the run's.
    pub fn upsert_search_attributes(
        &mut self,
        upserted: Option<&temper_api::proto::common::v1::SearchAttributes>,
    ) {
        if let Some(upserted) = upserted {
            let current = self.search_attributes.get_or_insert_default();
            merge_upserted(&mut current.indexed_fields, &upserted.indexed_fields);
        }
    }

    /// Merges upserted memo fields into the run's memo.
    pub fn upsert_memo(&mut self, upserted: Option<&temper_api::proto::common::v1::Memo>) {
        if let Some(upserted) = upserted {
            let memo = self.memo.get_or_insert_default();
            merge_upserted(&mut memo.fields, &upserted.fields);
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
            if activity.started_time_ms == 0 && activity.retry_ready_time_ms == 0 {
                tasks.push(ReadyTask::Activity {
                    task_queue: activity.task_queue.clone(),
                    scheduled_event_id: activity.scheduled_event_id,
                    attempt: activity.attempt,
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
                || self.activities.values().any(|a| a.retry_ready_time_ms == 0))
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
            deadlines.push(activity.retry_ready_time_ms);
        }
        deadlines.into_iter().filter(|at| *at > 0).min()
    }
}

/// The timeouts that apply to an activity now, as (instant, kind).
fn activity_deadlines(activity: &ActivityInfo) -> Vec<(i64, TimeoutType)> {
    let mut deadlines = Vec::new();
    if activity.schedule_to_close_timeout_ms > 0 {
        deadlines.push((
            activity.scheduled_time_ms + activity.schedule_to_close_timeout_ms,
            TimeoutType::ScheduleToClose,
        ));
    }
    if activity.started_time_ms == 0 {
        if activity.retry_ready_time_ms == 0 && activity.schedule_to_start_timeout_ms > 0 {
            deadlines.push((
                activity.current_attempt_scheduled_time_ms + activity.schedule_to_start_timeout_ms,
                TimeoutType::ScheduleToStart,
            ));
        }
    } else {
        if activity.start_to_close_timeout_ms > 0 {
            deadlines.push((
                activity.started_time_ms + activity.start_to_close_timeout_ms,
                TimeoutType::StartToClose,
            ));
        }
        if activity.heartbeat_timeout_ms > 0 {
            let last = activity
                .last_heartbeat_time_ms
                .max(activity.started_time_ms);
            deadlines.push((last + activity.heartbeat_timeout_ms, TimeoutType::Heartbeat));
        }
    }
    deadlines
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

    fn next_run_id(&mut self) -> Option<String> {
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

    fn new_event(&self, attributes: Attributes, event_time_ms: i64) -> HistoryEvent {
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
    fn push_event(&mut self, mut event: HistoryEvent) -> i64 {
        event.event_id = self.exec.next_event_id;
        self.exec.count_written(&event);
        let id = event.event_id;
        self.events.push(event);
        id
    }

    /// Applies an event to the state and writes it now; returns its id.
    fn write(&mut self, mut event: HistoryEvent) -> i64 {
        event.event_id = self.exec.next_event_id;
        self.exec.apply_event(&event);
        self.push_event(event)
    }

    /// Applies an event that is not written (a transient task's) under the id it would get.
    fn apply_unwritten(&mut self, mut event: HistoryEvent, event_id: i64) {
        event.event_id = event_id;
        self.exec.apply_event(&event);
    }

    /// Writes an event with these attributes now and returns its id.
    fn append(&mut self, attributes: Attributes) -> i64 {
        let event = self.new_event(attributes, self.now);
        self.write(event)
    }

    fn workflow_task_in_flight(&self) -> bool {
        self.exec
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.started_event_id > 0)
    }

    /// Writes an event now, or buffers it while a workflow task is in flight.
    /// A buffered event is applied at once; it gets its id when the buffer is flushed.
    fn append_or_buffer(&mut self, event: HistoryEvent) {
        if self.workflow_task_in_flight() {
            self.exec.apply_event(&event);
            self.exec.buffered_events.push(event);
        } else {
            self.demote_waiting_transient_task();
            self.write(event);
        }
    }

    /// Writes the buffered events: activity results last, Started events wired to their results.
    fn flush_buffer(&mut self) -> bool {
        let buffered = std::mem::take(&mut self.exec.buffered_events);
        if buffered.is_empty() {
            return false;
        }
        let (closes, others): (Vec<_>, Vec<_>) = buffered.into_iter().partition(is_activity_close);
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

    /// Schedules a workflow task unless one is already scheduled or started.
    fn schedule_workflow_task(&mut self) {
        self.schedule_workflow_task_of_kind(false);
    }

    /// Schedules a workflow task to deliver updates: speculative (no events) when nothing else
    /// is waiting for the workflow, a normal one otherwise.
    fn schedule_speculative_workflow_task(&mut self) {
        let speculative =
            self.exec.buffered_events.is_empty() && self.exec.workflow_task_attempt <= 1;
        self.schedule_workflow_task_of_kind(speculative);
    }

    fn schedule_workflow_task_of_kind(&mut self, speculative: bool) {
        if !self.exec.is_running()
            || self.exec.workflow_task.is_some()
            || self.exec.first_workflow_task_time_ms > 0
        {
            return;
        }
        if self.flush_buffer() {
            // New events make this a fresh task the worker must see, not a retry.
            self.exec.workflow_task_attempt = 1;
        }
        let attempt = self.exec.workflow_task_attempt.max(1);
        let timeout = self.exec.workflow_task_timeout_ms;
        let sticky = !self.exec.sticky_task_queue.is_empty();
        let queue = if sticky {
            self.exec.sticky_task_queue.clone()
        } else {
            self.exec.task_queue.clone()
        };
        let event_queue = if sticky {
            Some(TaskQueue {
                name: queue.clone(),
                kind: TaskQueueKind::Sticky as i32,
                normal_name: self.exec.task_queue.clone(),
            })
        } else {
            task_queue(&queue)
        };
        let transient = attempt > 1 || speculative;
        let scheduled = self.new_event(
            Attributes::WorkflowTaskScheduledEventAttributes(
                history::WorkflowTaskScheduledEventAttributes {
                    task_queue: event_queue,
                    start_to_close_timeout: ms_duration(timeout),
                    attempt,
                },
            ),
            self.now,
        );
        // A retry or speculative task's events are transient: applied, not written.
        let scheduled_event_id = self.exec.next_event_id;
        if transient {
            self.apply_unwritten(scheduled, scheduled_event_id);
        } else {
            self.write(scheduled);
        }
        if let Some(wft) = self.exec.workflow_task.as_mut() {
            wft.transient = transient;
            wft.speculative = speculative;
        }
        self.tasks.push(ReadyTask::Workflow {
            task_queue: queue,
            scheduled_event_id,
            attempt,
        });
    }

    /// Hands the scheduled workflow task to a worker (writes WorkflowTaskStarted).
    pub fn start_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        identity: &str,
        request_id: &str,
    ) -> Result<WorkflowTaskGrant, TaskError> {
        let current = self
            .exec
            .workflow_task
            .clone()
            .filter(|w| self.exec.is_running() && w.scheduled_event_id == scheduled_event_id);
        let Some(mut wft) = current else {
            return Err(TaskError::NotFound("Workflow task not found.".into()));
        };
        if wft.started_event_id != 0 {
            return Err(TaskError::NotFound("Workflow task already started.".into()));
        }
        wft.started_time_ms = self.now;
        wft.started_identity = identity.to_string();
        wft.started_request_id = request_id.to_string();
        let mut reasons = Vec::new();
        if self.exec.history_size_bytes >= self.limits.suggest_continue_as_new_size {
            reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
        }
        if self.exec.next_event_id >= self.limits.suggest_continue_as_new_count {
            reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
        }
        wft.suggest_continue_as_new_reasons = reasons;
        let started = started_event(&wft, self.exec.history_size_bytes);
        let started_event_id = if wft.transient {
            self.apply_unwritten(started, scheduled_event_id + 1);
            scheduled_event_id + 1
        } else {
            self.write(started)
        };
        let grant = WorkflowTaskGrant {
            scheduled_event_id,
            started_event_id,
            attempt: wft.attempt,
            previous_started_event_id: self.exec.last_completed_workflow_task_started_id,
            scheduled_time_ms: wft.scheduled_time_ms,
            started_time_ms: self.now,
        };
        Ok(grant)
    }

    /// Writes a transient task's Scheduled and Started events for real (when it completes).
    fn materialize_transient_task(&mut self, wft: &mut WorkflowTaskInfo) {
        if !wft.transient {
            return;
        }
        for event in transient_events(wft, self.exec.history_size_bytes) {
            self.push_event(event);
        }
        wft.transient = false;
    }

    /// A transient task that has not started yet cannot keep its place once other events are
    /// written: it is replaced by a normal task (attempt 1) after them.
    fn demote_waiting_transient_task(&mut self) {
        if self
            .exec
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.transient && w.started_event_id == 0)
        {
            self.exec.workflow_task = None;
            self.exec.workflow_task_attempt = 1;
        }
    }

    /// The started workflow task a worker's token names. The attempt counts: retry attempts
    /// are transient, so a timed-out attempt and the next one share their event ids.
    fn current_started_task(
        &self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
    ) -> Option<WorkflowTaskInfo> {
        self.exec.workflow_task.clone().filter(|w| {
            self.exec.is_running()
                && w.scheduled_event_id == scheduled_event_id
                && w.started_event_id == started_event_id
                && w.attempt == attempt
                && started_event_id > 0
        })
    }

    /// Fails the in-flight workflow task and schedules the next attempt.
    fn fail_workflow_task(
        &mut self,
        wft: &WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
    ) {
        let mut wft = wft.clone();
        // A failing retry attempt leaves no trace, except when the worker must see new events.
        // A failing speculative task is recorded: the failure must be visible.
        if !wft.transient || wft.speculative || cause == WorkflowTaskFailedCause::UnhandledCommand {
            self.materialize_transient_task(&mut wft);
            self.append(Attributes::WorkflowTaskFailedEventAttributes(
                history::WorkflowTaskFailedEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: wft.started_event_id,
                    cause: cause as i32,
                    failure,
                    identity: identity.to_string(),
                    ..Default::default()
                },
            ));
        }
        self.exec.workflow_task = None;
        self.exec.workflow_task_attempt = wft.attempt + 1;
        self.exec.sticky_task_queue.clear();
        self.schedule_workflow_task();
    }

    /// Forgets the run's sticky queue; a task waiting there is offered on the normal queue
    /// (`ResetStickyTaskQueue`, or the sticky worker shut down).
    pub fn reset_stickiness(&mut self) {
        self.exec.sticky_task_queue.clear();
        let normal = self.exec.task_queue.clone();
        if let Some(wft) = self.exec.workflow_task.as_mut()
            && wft.started_event_id == 0
            && wft.task_queue != normal
        {
            wft.task_queue = normal.clone();
            self.tasks.push(ReadyTask::Workflow {
                task_queue: normal,
                scheduled_event_id: wft.scheduled_event_id,
                attempt: wft.attempt,
            });
        }
    }

    /// The server refused a workflow-task completion (a bad command, a bad search attribute).
    /// The first attempt's refusal is recorded and the task retried at once. As Temporal does,
    /// a later attempt's refused completion changes nothing: the task is left to time out, so a
    /// worker that keeps sending the same bad commands retries once per workflow-task timeout
    /// instead of in a tight loop. `UnhandledCommand` is the exception: new events must reach
    /// the worker now.
    fn refuse_completion(
        &mut self,
        wft: &WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        message: &str,
        identity: &str,
    ) {
        if wft.attempt > 1 && cause != WorkflowTaskFailedCause::UnhandledCommand {
            return;
        }
        // The recorded message is the one the caller gets: the cause's name, then the text.
        let failure = Failure {
            message: format!("{}: {message}", cause_name(cause)),
            failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo::default())),
            ..Default::default()
        };
        self.fail_workflow_task(wft, cause, Some(failure), identity);
    }

    /// The frontend refused a completion for a reason it checks itself (search attributes
    /// against the namespace's registry); see [`Self::refuse_completion`].
    pub fn refuse_workflow_task_completion(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        cause: WorkflowTaskFailedCause,
        message: &str,
        identity: &str,
    ) -> Result<(), TaskError> {
        let Some(wft) = self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(TaskError::NotFound("Workflow task not found.".into()));
        };
        self.refuse_completion(&wft, cause, message, identity);
        Ok(())
    }

    /// A worker reported that it could not process the workflow task.
    pub fn workflow_task_failed_by_worker(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        cause: i32,
        failure: Option<Failure>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let Some(wft) = self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(TaskError::NotFound("Workflow task not found.".into()));
        };
        let cause = WorkflowTaskFailedCause::try_from(cause)
            .unwrap_or(WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure);
        self.fail_workflow_task(&wft, cause, failure, identity);
        Ok(())
    }

    /// Applies a workflow-task completion: WorkflowTaskCompleted, the commands' events in order,
    /// the buffered events, and a new workflow task when one is needed.
    pub fn complete_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        attempt: i32,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> Result<Completed, CompletionError> {
        let Some(mut wft) =
            self.current_started_task(scheduled_event_id, started_event_id, attempt)
        else {
            return Err(CompletionError::NotFound("Workflow task not found.".into()));
        };
        validate_command_sequence(&request.commands)?;
        let validation = self
            .validate_commands(&request.commands)
            .and_then(|()| self.validate_messages(&request.commands, &request.messages));
        if let Err((cause, message)) = validation {
            self.refuse_completion(&wft, cause, &message, &request.identity);
            if updates::has_oversized_message(&request.messages) {
                // As Temporal: a message over the size limit ends the run.
                self.fail_delivered_updates();
                let reason = format!("{}: {message}", cause_name(cause));
                self.terminate(&reason, None, "history-service");
            }
            return Err(CompletionError::TaskFailed { cause, message });
        }
        if wft.speculative
            && request.commands.is_empty()
            && !request.force_create_new_workflow_task
            && self.exec.buffered_events.is_empty()
            && only_rejections(&request.messages)
        {
            // Nothing to record: the task and its rejections leave no trace in history.
            for message in &request.messages {
                self.apply_message(message);
            }
            self.exec.workflow_task = None;
            self.exec.workflow_task_attempt = 1;
            self.apply_sticky_attributes(request);
            if self.exec.has_admitted_updates() {
                self.schedule_speculative_workflow_task();
            }
            return Ok(Completed::Discarded {
                reset_history_event_id: self.exec.last_completed_workflow_task_started_id,
            });
        }
        self.materialize_transient_task(&mut wft);
        let completed_id = self.append(Attributes::WorkflowTaskCompletedEventAttributes(
            history::WorkflowTaskCompletedEventAttributes {
                scheduled_event_id,
                started_event_id,
                identity: request.identity.clone(),
                sdk_metadata: request.sdk_metadata.clone(),
                metering_metadata: request.metering_metadata,
                ..Default::default()
            },
        ));
        self.apply_sticky_attributes(request);
        let mut needs_new_task = request.force_create_new_workflow_task;
        let mut placed_messages = std::collections::BTreeSet::new();
        for command in &request.commands {
            if let Some(CommandAttributes::ProtocolMessageCommandAttributes(a)) =
                &command.attributes
            {
                if let Some(message) = request.messages.iter().find(|m| m.id == a.message_id) {
                    self.apply_message(message);
                    placed_messages.insert(a.message_id.clone());
                }
            } else if let Some(attributes) = &command.attributes {
                needs_new_task |= self.apply_command(command, attributes, completed_id);
            }
        }
        for message in &request.messages {
            if !placed_messages.contains(&message.id) && self.exec.is_running() {
                self.apply_message(message);
            }
        }
        // Updates admitted meanwhile (or left unanswered) need another task.
        needs_new_task |= self.exec.has_admitted_updates();
        let after_commands = std::mem::take(&mut self.after_commands);
        if self.exec.is_running() {
            for event in after_commands {
                self.write(event);
            }
        } else {
            // As Temporal: a child whose parent closed in the same task is not started.
            let run_id = self.exec.run_id.clone();
            self.new_runs.retain(|run| {
                run.started
                    .parent_workflow_execution
                    .as_ref()
                    .is_none_or(|parent| parent.run_id != run_id)
            });
        }
        if self.exec.is_running() {
            needs_new_task |= self.flush_buffer();
            if needs_new_task {
                self.schedule_workflow_task();
            }
        }
        self.enforce_history_limits();
        Ok(Completed::Recorded)
    }

    /// The worker's sticky queue from a completion (none: the run is not sticky any more).
    fn apply_sticky_attributes(&mut self, request: &RespondWorkflowTaskCompletedRequest) {
        match request
            .sticky_attributes
            .as_ref()
            .and_then(|a| a.worker_task_queue.as_ref().map(|q| (q, a)))
        {
            Some((queue, attributes)) if !queue.name.is_empty() => {
                self.exec.sticky_task_queue = queue.name.clone();
                self.exec.sticky_schedule_to_start_timeout_ms =
                    match duration_ms(attributes.schedule_to_start_timeout.as_ref()) {
                        0 => DEFAULT_STICKY_SCHEDULE_TO_START_TIMEOUT_MS,
                        ms => ms,
                    };
            }
            _ => self.exec.sticky_task_queue.clear(),
        }
    }

    /// Terminates a run whose history outgrew the hard limits, as Temporal does.
    fn enforce_history_limits(&mut self) {
        if !self.exec.is_running() {
            return;
        }
        let reason = if self.exec.history_size_bytes > self.limits.max_size {
            "Workflow history size exceeds limit."
        } else if self.exec.next_event_id - 1 > self.limits.max_count {
            "Workflow history count exceeds limit."
        } else {
            return;
        };
        self.terminate(reason, None, "temper");
    }

    /// Checks every command before any is applied, so a rejected completion writes nothing but
    /// the task failure.
    fn validate_commands(
        &self,
        commands: &[Command],
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        use WorkflowTaskFailedCause as Cause;
        let mut timers: std::collections::BTreeSet<String> =
            self.exec.timers.keys().cloned().collect();
        for event in &self.exec.buffered_events {
            if let Some(Attributes::TimerFiredEventAttributes(a)) = &event.attributes {
                timers.insert(a.timer_id.clone());
            }
        }
        let mut activity_ids: std::collections::BTreeSet<String> = self
            .exec
            .activities
            .values()
            .map(|a| a.activity_id.clone())
            .collect();
        for command in commands {
            let Some(attributes) = &command.attributes else {
                return Err((Cause::UnhandledCommand, "command has no attributes".into()));
            };
            match attributes {
                CommandAttributes::ScheduleActivityTaskCommandAttributes(a) => {
                    validate_schedule_activity(a, &mut activity_ids)?;
                }
                CommandAttributes::RequestCancelActivityTaskCommandAttributes(a) => {
                    if !self.exec.activities.contains_key(&a.scheduled_event_id) {
                        return Err((
                            Cause::BadRequestCancelActivityAttributes,
                            format!(
                                "Activity with scheduled event id {} is not pending.",
                                a.scheduled_event_id
                            ),
                        ));
                    }
                }
                CommandAttributes::StartTimerCommandAttributes(a) => {
                    validate_start_timer(a, &mut timers)?;
                }
                CommandAttributes::CancelTimerCommandAttributes(a) => {
                    if !timers.remove(&a.timer_id) {
                        return Err((
                            Cause::BadCancelTimerAttributes,
                            format!("Timer with ID {} is not pending.", a.timer_id),
                        ));
                    }
                }
                CommandAttributes::CompleteWorkflowExecutionCommandAttributes(_)
                | CommandAttributes::FailWorkflowExecutionCommandAttributes(_)
                | CommandAttributes::CancelWorkflowExecutionCommandAttributes(_)
                | CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(_) => {
                    if let CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(a) =
                        attributes
                    {
                        self.validate_continue_as_new(a)?;
                    }
                    if !self.exec.buffered_events.is_empty() {
                        return Err((
                            Cause::UnhandledCommand,
                            "new events arrived while the workflow task was running".into(),
                        ));
                    }
                }
                CommandAttributes::RecordMarkerCommandAttributes(a) => {
                    if a.marker_name.is_empty() {
                        return Err((
                            Cause::BadRecordMarkerAttributes,
                            "MarkerName is not set.".into(),
                        ));
                    }
                }
                CommandAttributes::StartChildWorkflowExecutionCommandAttributes(a) => {
                    let bad =
                        |m: &str| Err((Cause::BadStartChildExecutionAttributes, m.to_string()));
                    if a.workflow_id.is_empty() {
                        return bad("Required field WorkflowId is not set.");
                    }
                    if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                        return bad("Required field WorkflowType is not set.");
                    }
                    if let Some(policy) = &a.retry_policy
                        && let Err(m) = retry::validate(policy)
                    {
                        return bad(&m);
                    }
                }
                CommandAttributes::SignalExternalWorkflowExecutionCommandAttributes(a) => {
                    let bad =
                        |m: &str| Err((Cause::BadSignalWorkflowExecutionAttributes, m.to_string()));
                    if a.execution
                        .as_ref()
                        .is_none_or(|e| e.workflow_id.is_empty())
                    {
                        return bad("Required field WorkflowId is not set.");
                    }
                    if a.signal_name.is_empty() {
                        return bad("Required field SignalName is not set.");
                    }
                }
                CommandAttributes::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
                    if a.workflow_id.is_empty() {
                        return Err((
                            Cause::BadRequestCancelExternalWorkflowExecutionAttributes,
                            "Required field WorkflowId is not set.".into(),
                        ));
                    }
                }
                CommandAttributes::UpsertWorkflowSearchAttributesCommandAttributes(_)
                | CommandAttributes::ModifyWorkflowPropertiesCommandAttributes(_)
                | CommandAttributes::ProtocolMessageCommandAttributes(_) => {}
                other => {
                    let (cause, name) = unsupported_command(other);
                    return Err((cause, format!("{name} is not supported by Temper yet")));
                }
            }
        }
        Ok(())
    }

    /// Checks a ContinueAsNew command's timeouts and retry policy, with Temporal's messages
    /// (which name the new run's type and task queue, defaulted from this run).
    fn validate_continue_as_new(
        &self,
        a: &command::ContinueAsNewWorkflowExecutionCommandAttributes,
    ) -> Result<(), CommandProblem> {
        let workflow_type = a
            .workflow_type
            .as_ref()
            .map_or(self.exec.workflow_type.as_str(), |t| t.name.as_str());
        let queue = a
            .task_queue
            .as_ref()
            .map_or(self.exec.task_queue.as_str(), |q| q.name.as_str());
        let queue = if queue.is_empty() {
            &self.exec.task_queue
        } else {
            queue
        };
        let named = format!(
            "WorkflowType={workflow_type} TaskQueue=name:\"{queue}\" kind:TASK_QUEUE_KIND_NORMAL"
        );
        let bad = |m: String| Err((WorkflowTaskFailedCause::BadContinueAsNewAttributes, m));
        for (name, duration) in [
            ("WorkflowRunTimeout", &a.workflow_run_timeout),
            ("WorkflowTaskTimeout", &a.workflow_task_timeout),
            ("BackoffStartInterval", &a.backoff_start_interval),
        ] {
            if let Some(problem) = duration_problem(duration.as_ref()) {
                return bad(format!(
                    "Invalid {name} on ContinueAsNewWorkflowExecutionCommand: {problem}. {named}"
                ));
            }
        }
        if let Some(policy) = &a.retry_policy
            && let Err(m) = retry::validate(policy)
        {
            return bad(format!(
                "invalid WorkflowRetryPolicy on ContinueAsNewWorkflowExecutionCommand: {m}. {named}"
            ));
        }
        Ok(())
    }

    /// Applies one validated command; returns true when it requires a new workflow task.
    fn apply_command(
        &mut self,
        command: &Command,
        attributes: &CommandAttributes,
        completed_id: i64,
    ) -> bool {
        let metadata = command.user_metadata.clone();
        let append = |t: &mut Self, attributes: Attributes| {
            let mut event = t.new_event(attributes, t.now);
            event.user_metadata = metadata.clone();
            t.write(event)
        };
        match attributes {
            CommandAttributes::ScheduleActivityTaskCommandAttributes(a) => {
                let mut a = a.clone();
                self.normalize_activity(&mut a);
                let queue = a
                    .task_queue
                    .as_ref()
                    .map(|q| q.name.clone())
                    .unwrap_or_default();
                let id = append(
                    self,
                    Attributes::ActivityTaskScheduledEventAttributes(
                        history::ActivityTaskScheduledEventAttributes {
                            activity_id: a.activity_id.clone(),
                            activity_type: a.activity_type.clone(),
                            task_queue: a.task_queue.clone(),
                            header: a.header.clone(),
                            input: a.input.clone(),
                            schedule_to_close_timeout: a.schedule_to_close_timeout,
                            schedule_to_start_timeout: a.schedule_to_start_timeout,
                            start_to_close_timeout: a.start_to_close_timeout,
                            heartbeat_timeout: a.heartbeat_timeout,
                            workflow_task_completed_event_id: completed_id,
                            retry_policy: a.retry_policy.clone(),
                            priority: a.priority,
                            ..Default::default()
                        },
                    ),
                );
                if a.request_eager_execution {
                    self.eager_activities.push(id);
                }
                self.tasks.push(ReadyTask::Activity {
                    task_queue: queue,
                    scheduled_event_id: id,
                    attempt: 1,
                });
                false
            }
            CommandAttributes::RequestCancelActivityTaskCommandAttributes(a) => {
                let requested_id = append(
                    self,
                    Attributes::ActivityTaskCancelRequestedEventAttributes(
                        history::ActivityTaskCancelRequestedEventAttributes {
                            scheduled_event_id: a.scheduled_event_id,
                            workflow_task_completed_event_id: completed_id,
                        },
                    ),
                );
                // An activity no worker holds is canceled at once; a running one is told at
                // its next heartbeat.
                let waiting = self
                    .exec
                    .activities
                    .get(&a.scheduled_event_id)
                    .is_some_and(|activity| activity.started_time_ms == 0);
                if waiting {
                    self.append(Attributes::ActivityTaskCanceledEventAttributes(
                        history::ActivityTaskCanceledEventAttributes {
                            latest_cancel_requested_event_id: requested_id,
                            scheduled_event_id: a.scheduled_event_id,
                            ..Default::default()
                        },
                    ));
                }
                waiting
            }
            CommandAttributes::StartTimerCommandAttributes(a) => {
                append(
                    self,
                    Attributes::TimerStartedEventAttributes(history::TimerStartedEventAttributes {
                        timer_id: a.timer_id.clone(),
                        start_to_fire_timeout: capped_duration(a.start_to_fire_timeout),
                        workflow_task_completed_event_id: completed_id,
                    }),
                );
                false
            }
            CommandAttributes::CancelTimerCommandAttributes(a) => {
                let started_event_id = match self.exec.timers.get(&a.timer_id) {
                    Some(timer) => timer.started_event_id,
                    None => self.take_buffered_timer_fired(&a.timer_id),
                };
                append(
                    self,
                    Attributes::TimerCanceledEventAttributes(
                        history::TimerCanceledEventAttributes {
                            timer_id: a.timer_id.clone(),
                            started_event_id,
                            workflow_task_completed_event_id: completed_id,
                            identity: String::new(),
                        },
                    ),
                );
                false
            }
            CommandAttributes::CompleteWorkflowExecutionCommandAttributes(a) => {
                let new_execution_run_id = self.cron_run(a.result.clone(), None);
                append(
                    self,
                    Attributes::WorkflowExecutionCompletedEventAttributes(
                        history::WorkflowExecutionCompletedEventAttributes {
                            result: a.result.clone(),
                            workflow_task_completed_event_id: completed_id,
                            new_execution_run_id,
                        },
                    ),
                );
                false
            }
            CommandAttributes::FailWorkflowExecutionCommandAttributes(a) => {
                let failure = a.failure.clone().unwrap_or_default();
                let (retry_state, new_execution_run_id) = self.retry_run(&failure);
                append(
                    self,
                    Attributes::WorkflowExecutionFailedEventAttributes(
                        history::WorkflowExecutionFailedEventAttributes {
                            failure: a.failure.clone(),
                            retry_state: retry_state as i32,
                            workflow_task_completed_event_id: completed_id,
                            new_execution_run_id,
                        },
                    ),
                );
                false
            }
            CommandAttributes::CancelWorkflowExecutionCommandAttributes(a) => {
                append(
                    self,
                    Attributes::WorkflowExecutionCanceledEventAttributes(
                        history::WorkflowExecutionCanceledEventAttributes {
                            details: a.details.clone(),
                            workflow_task_completed_event_id: completed_id,
                        },
                    ),
                );
                false
            }
            CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
                let new_run = self
                    .next_run_id()
                    .map(|run_id| self.continued_run(a, run_id));
                let new_execution_run_id = new_run
                    .as_ref()
                    .map(|r| r.run_id.clone())
                    .unwrap_or_default();
                append(
                    self,
                    Attributes::WorkflowExecutionContinuedAsNewEventAttributes(
                        history::WorkflowExecutionContinuedAsNewEventAttributes {
                            new_execution_run_id,
                            workflow_type: new_run
                                .as_ref()
                                .and_then(|r| r.started.workflow_type.clone()),
                            task_queue: new_run.as_ref().and_then(|r| r.started.task_queue.clone()),
                            input: a.input.clone(),
                            workflow_run_timeout: new_run
                                .as_ref()
                                .and_then(|r| r.started.workflow_run_timeout),
                            workflow_task_timeout: new_run
                                .as_ref()
                                .and_then(|r| r.started.workflow_task_timeout),
                            workflow_task_completed_event_id: completed_id,
                            backoff_start_interval: a.backoff_start_interval,
                            initiator: new_run
                                .as_ref()
                                .map_or(a.initiator, |r| r.started.initiator),
                            last_completion_result: a.last_completion_result.clone(),
                            header: a.header.clone(),
                            memo: new_run.as_ref().and_then(|r| r.started.memo.clone()),
                            search_attributes: new_run
                                .as_ref()
                                .and_then(|r| r.started.search_attributes.clone()),
                            ..Default::default()
                        },
                    ),
                );
                self.new_runs.extend(new_run);
                false
            }
            CommandAttributes::StartChildWorkflowExecutionCommandAttributes(a) => {
                let mut a = a.clone();
                if a.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
                    a.task_queue = task_queue(&self.exec.task_queue);
                }
                if a.parent_close_policy == ParentClosePolicy::Unspecified as i32 {
                    a.parent_close_policy = ParentClosePolicy::Terminate as i32;
                }
                let initiated_event_id = append(
                    self,
                    Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(
                        history::StartChildWorkflowExecutionInitiatedEventAttributes {
                            namespace: self.exec.namespace.clone(),
                            workflow_id: a.workflow_id.clone(),
                            workflow_type: a.workflow_type.clone(),
                            task_queue: a.task_queue.clone(),
                            input: a.input.clone(),
                            workflow_execution_timeout: a.workflow_execution_timeout,
                            workflow_run_timeout: a.workflow_run_timeout,
                            workflow_task_timeout: a.workflow_task_timeout,
                            parent_close_policy: a.parent_close_policy,
                            workflow_task_completed_event_id: completed_id,
                            workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                            retry_policy: a.retry_policy.clone(),
                            cron_schedule: a.cron_schedule.clone(),
                            header: a.header.clone(),
                            memo: a.memo.clone(),
                            search_attributes: a.search_attributes.clone(),
                            priority: a.priority.clone(),
                            ..Default::default()
                        },
                    ),
                );
                self.start_child(&a, initiated_event_id, completed_id, metadata.clone());
                true
            }
            CommandAttributes::SignalExternalWorkflowExecutionCommandAttributes(a) => {
                let initiated = history::SignalExternalWorkflowExecutionInitiatedEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    namespace: self.exec.namespace.clone(),
                    workflow_execution: Some(a.execution.clone().unwrap_or_default()),
                    signal_name: a.signal_name.clone(),
                    input: a.input.clone(),
                    child_workflow_only: a.child_workflow_only,
                    header: a.header.clone(),
                    ..Default::default()
                };
                append(
                    self,
                    Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(initiated),
                );
                false
            }
            CommandAttributes::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
                let initiated =
                    history::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        namespace: self.exec.namespace.clone(),
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: a.workflow_id.clone(),
                            run_id: a.run_id.clone(),
                        }),
                        child_workflow_only: a.child_workflow_only,
                        reason: a.reason.clone(),
                        ..Default::default()
                    };
                append(
                    self,
                    Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
                        initiated,
                    ),
                );
                false
            }
            CommandAttributes::RecordMarkerCommandAttributes(a) => {
                append(
                    self,
                    Attributes::MarkerRecordedEventAttributes(
                        history::MarkerRecordedEventAttributes {
                            marker_name: a.marker_name.clone(),
                            details: a.details.clone(),
                            workflow_task_completed_event_id: completed_id,
                            header: a.header.clone(),
                            failure: a.failure.clone(),
                        },
                    ),
                );
                false
            }
            CommandAttributes::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
                append(
                    self,
                    Attributes::UpsertWorkflowSearchAttributesEventAttributes(
                        history::UpsertWorkflowSearchAttributesEventAttributes {
                            workflow_task_completed_event_id: completed_id,
                            search_attributes: a.search_attributes.clone(),
                        },
                    ),
                );
                false
            }
            CommandAttributes::ModifyWorkflowPropertiesCommandAttributes(a) => {
                append(
                    self,
                    Attributes::WorkflowPropertiesModifiedEventAttributes(
                        history::WorkflowPropertiesModifiedEventAttributes {
                            workflow_task_completed_event_id: completed_id,
                            upserted_memo: a.upserted_memo.clone(),
                        },
                    ),
                );
                false
            }
            _ => false,
        }
    }

    /// Removes a TimerFired that is still buffered and returns its timer's started event id.
    fn take_buffered_timer_fired(&mut self, timer_id: &str) -> i64 {
        let position = self.exec.buffered_events.iter().position(|e| {
            matches!(&e.attributes, Some(Attributes::TimerFiredEventAttributes(a)) if a.timer_id == timer_id)
        });
        match position.map(|p| self.exec.buffered_events.remove(p)) {
            Some(HistoryEvent {
                attributes: Some(Attributes::TimerFiredEventAttributes(a)),
                ..
            }) => a.started_event_id,
            _ => 0,
        }
    }

    /// Temporal's timeout normalisation and retry-policy defaults for a new activity.
    fn normalize_activity(
        &self,
        a: &mut temper_api::proto::command::v1::ScheduleActivityTaskCommandAttributes,
    ) {
        if a.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
            a.task_queue = task_queue(&self.exec.task_queue);
        }
        let run_timeout = self.exec.run_timeout_ms;
        let mut schedule_to_close = duration_ms(a.schedule_to_close_timeout.as_ref());
        let mut schedule_to_start = duration_ms(a.schedule_to_start_timeout.as_ref());
        let mut start_to_close = duration_ms(a.start_to_close_timeout.as_ref());
        let mut heartbeat = duration_ms(a.heartbeat_timeout.as_ref());
        let min_set = |value: i64, cap: i64| if value == 0 { cap } else { value.min(cap) };
        if schedule_to_close > 0 {
            schedule_to_start = min_set(schedule_to_start, schedule_to_close);
            start_to_close = min_set(start_to_close, schedule_to_close);
        } else {
            schedule_to_close = run_timeout;
            if schedule_to_start == 0 {
                schedule_to_start = run_timeout;
            }
        }
        if run_timeout > 0 {
            schedule_to_close = min_set(schedule_to_close, run_timeout);
            schedule_to_start = min_set(schedule_to_start, run_timeout);
            start_to_close = min_set(start_to_close, run_timeout);
        }
        if heartbeat > start_to_close && start_to_close > 0 {
            heartbeat = start_to_close;
        }
        a.schedule_to_close_timeout = ms_duration(schedule_to_close);
        a.schedule_to_start_timeout = ms_duration(schedule_to_start);
        a.start_to_close_timeout = ms_duration(start_to_close);
        a.heartbeat_timeout = ms_duration(heartbeat);
        a.retry_policy = Some(retry::with_defaults(a.retry_policy.take()));
    }

    /// Decides whether a failed or timed-out run is retried per its retry policy (or, when it
    /// is not, runs again on its cron schedule); prepares the next run. Returns the retry
    /// state and the new run's id ("" if none).
    fn retry_run(&mut self, failure: &Failure) -> (RetryState, String) {
        let (state, run_id) = self.retry_per_policy(failure);
        if run_id.is_empty() {
            let cron_run = self.cron_run(None, Some(failure.clone()));
            if !cron_run.is_empty() {
                return (state, cron_run);
            }
        }
        (state, run_id)
    }

    /// The next run of a cron workflow that just closed, due at the schedule's next time.
    /// `result` is the closing run's result (a failed run passes on the previous one).
    fn cron_run(&mut self, result: Option<Payloads>, failure: Option<Failure>) -> String {
        let Some(started) = self
            .exec
            .started
            .clone()
            .filter(|s| !s.cron_schedule.is_empty())
        else {
            return String::new();
        };
        let Ok(backoff) = crate::cron::backoff_ms(&started.cron_schedule, self.now) else {
            return String::new();
        };
        let Some(run_id) = self.next_run_id() else {
            return String::new();
        };
        let last_completion_result = if failure.is_some() {
            started.last_completion_result.clone()
        } else {
            result
        };
        let next = history::WorkflowExecutionStartedEventAttributes {
            attempt: 1,
            first_workflow_task_backoff: ms_duration(backoff.max(1)),
            initiator: ContinueAsNewInitiator::CronSchedule as i32,
            continued_failure: failure,
            last_completion_result,
            continued_execution_run_id: self.exec.run_id.clone(),
            original_execution_run_id: run_id.clone(),
            memo: self.exec.memo.clone(),
            search_attributes: self.exec.search_attributes.clone(),
            workflow_execution_expiration_time: started.workflow_execution_expiration_time,
            ..started
        };
        self.new_runs.push(NewRun {
            run_id: run_id.clone(),
            started: next,
            user_metadata: None,
        });
        run_id
    }

    fn retry_per_policy(&mut self, failure: &Failure) -> (RetryState, String) {
        let Some(started) = self.exec.started.clone() else {
            return (RetryState::RetryPolicyNotSet, String::new());
        };
        let Some(policy) = started.retry_policy.clone() else {
            return (RetryState::RetryPolicyNotSet, String::new());
        };
        let policy = retry::with_defaults(Some(policy));
        match retry::decide(
            &policy,
            started.attempt,
            failure,
            self.now,
            self.exec.execution_deadline_ms,
        ) {
            RetryDecision::GiveUp(state) => (state, String::new()),
            RetryDecision::RetryAfter(delay) => {
                let Some(run_id) = self.next_run_id() else {
                    return (RetryState::InternalServerError, String::new());
                };
                let next = history::WorkflowExecutionStartedEventAttributes {
                    attempt: started.attempt + 1,
                    first_workflow_task_backoff: ms_duration(delay),
                    initiator: ContinueAsNewInitiator::Retry as i32,
                    continued_failure: Some(failure.clone()),
                    continued_execution_run_id: self.exec.run_id.clone(),
                    original_execution_run_id: run_id.clone(),
                    memo: self.exec.memo.clone(),
                    search_attributes: self.exec.search_attributes.clone(),
                    ..started
                };
                self.new_runs.push(NewRun {
                    run_id: run_id.clone(),
                    started: next,
                    user_metadata: None,
                });
                (RetryState::InProgress, run_id)
            }
        }
    }

    /// The run a ContinueAsNew command starts: the command's values, the old run's otherwise.
    fn continued_run(
        &self,
        a: &temper_api::proto::command::v1::ContinueAsNewWorkflowExecutionCommandAttributes,
        run_id: String,
    ) -> NewRun {
        let old = self.exec.started.clone().unwrap_or_default();
        let initiator = if a.initiator == ContinueAsNewInitiator::Unspecified as i32 {
            ContinueAsNewInitiator::Workflow as i32
        } else {
            a.initiator
        };
        let started = history::WorkflowExecutionStartedEventAttributes {
            workflow_id: self.exec.workflow_id.clone(),
            workflow_type: a
                .workflow_type
                .clone()
                .filter(|t| !t.name.is_empty())
                .or(old.workflow_type),
            task_queue: a
                .task_queue
                .clone()
                .filter(|q| !q.name.is_empty())
                .or(old.task_queue),
            input: a.input.clone(),
            workflow_execution_timeout: old.workflow_execution_timeout,
            workflow_run_timeout: a.workflow_run_timeout.or(old.workflow_run_timeout),
            workflow_task_timeout: a.workflow_task_timeout.or(old.workflow_task_timeout),
            continued_execution_run_id: self.exec.run_id.clone(),
            initiator,
            continued_failure: a.failure.clone(),
            last_completion_result: a.last_completion_result.clone(),
            original_execution_run_id: run_id.clone(),
            identity: old.identity,
            first_execution_run_id: self.exec.first_execution_run_id.clone(),
            retry_policy: a.retry_policy.clone().or(old.retry_policy),
            attempt: 1,
            workflow_execution_expiration_time: old.workflow_execution_expiration_time,
            cron_schedule: a.cron_schedule.clone(),
            first_workflow_task_backoff: a.backoff_start_interval,
            memo: a.memo.clone().or_else(|| self.exec.memo.clone()),
            search_attributes: a
                .search_attributes
                .clone()
                .or_else(|| self.exec.search_attributes.clone()),
            header: a.header.clone(),
            priority: old.priority,
            parent_workflow_namespace: old.parent_workflow_namespace,
            parent_workflow_execution: old.parent_workflow_execution,
            parent_initiated_event_id: old.parent_initiated_event_id,
            root_workflow_execution: old.root_workflow_execution,
            ..Default::default()
        };
        NewRun {
            run_id,
            started,
            user_metadata: None,
        }
    }

    /// Starts a child run (created by the server with this transition's write) or, when its
    /// workflow id is taken, records the failure. Either event reaches the workflow after all
    /// command events.
    fn start_child(
        &mut self,
        a: &temper_api::proto::command::v1::StartChildWorkflowExecutionCommandAttributes,
        initiated_event_id: i64,
        completed_id: i64,
        user_metadata: Option<temper_api::proto::sdk::v1::UserMetadata>,
    ) {
        let taken = !self.running_workflow_ids.insert(a.workflow_id.clone());
        let run_id = if taken { None } else { self.next_run_id() };
        let Some(run_id) = run_id else {
            let failed = self.new_event(
                Attributes::StartChildWorkflowExecutionFailedEventAttributes(
                    history::StartChildWorkflowExecutionFailedEventAttributes {
                        namespace: self.exec.namespace.clone(),
                        workflow_id: a.workflow_id.clone(),
                        workflow_type: a.workflow_type.clone(),
                        cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32,
                        initiated_event_id,
                        workflow_task_completed_event_id: completed_id,
                        ..Default::default()
                    },
                ),
                self.now,
            );
            self.after_commands.push(failed);
            return;
        };
        let parent = WorkflowExecution {
            workflow_id: self.exec.workflow_id.clone(),
            run_id: self.exec.run_id.clone(),
        };
        let root = self
            .exec
            .started
            .as_ref()
            .and_then(|s| s.root_workflow_execution.clone())
            .unwrap_or_else(|| parent.clone());
        let started = history::WorkflowExecutionStartedEventAttributes {
            workflow_id: a.workflow_id.clone(),
            workflow_type: a.workflow_type.clone(),
            parent_workflow_namespace: self.exec.namespace.clone(),
            parent_workflow_execution: Some(parent),
            parent_initiated_event_id: initiated_event_id,
            task_queue: a.task_queue.clone(),
            input: a.input.clone(),
            workflow_execution_timeout: a.workflow_execution_timeout,
            workflow_run_timeout: a.workflow_run_timeout,
            workflow_task_timeout: a.workflow_task_timeout,
            retry_policy: a.retry_policy.clone(),
            cron_schedule: a.cron_schedule.clone(),
            memo: a.memo.clone(),
            search_attributes: a.search_attributes.clone(),
            header: a.header.clone(),
            root_workflow_execution: Some(root),
            priority: a.priority.clone(),
            attempt: 1,
            ..Default::default()
        };
        self.new_runs.push(NewRun {
            run_id: run_id.clone(),
            started,
            user_metadata,
        });
        let child_started = self.new_event(
            Attributes::ChildWorkflowExecutionStartedEventAttributes(
                history::ChildWorkflowExecutionStartedEventAttributes {
                    namespace: self.exec.namespace.clone(),
                    initiated_event_id,
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: a.workflow_id.clone(),
                        run_id: run_id.clone(),
                    }),
                    workflow_type: a.workflow_type.clone(),
                    header: a.header.clone(),
                    ..Default::default()
                },
            ),
            self.now,
        );
        self.after_commands.push(child_started);
    }

    /// A child's chain of runs ended with `close` (its last run's close event): the parent
    /// records the matching Child…{Completed,Failed,Canceled,Terminated,TimedOut} event.
    pub fn child_closed(&mut self, initiated_event_id: i64, close: &HistoryEvent) {
        if !self.exec.is_running() {
            return;
        }
        let Some(child) = self.exec.children.get(&initiated_event_id).cloned() else {
            return;
        };
        let namespace = child.namespace.clone();
        let workflow_execution = Some(WorkflowExecution {
            workflow_id: child.workflow_id.clone(),
            run_id: child.run_id.clone(),
        });
        let workflow_type = Some(WorkflowType {
            name: child.workflow_type.clone(),
        });
        let started_event_id = child.started_event_id;
        let attributes = match &close.attributes {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionCompletedEventAttributes(
                    history::ChildWorkflowExecutionCompletedEventAttributes {
                        result: c.result.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionFailedEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionFailedEventAttributes(
                    history::ChildWorkflowExecutionFailedEventAttributes {
                        failure: c.failure.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: c.retry_state,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionCanceledEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionCanceledEventAttributes(
                    history::ChildWorkflowExecutionCanceledEventAttributes {
                        details: c.details.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => {
                Attributes::ChildWorkflowExecutionTerminatedEventAttributes(
                    history::ChildWorkflowExecutionTerminatedEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                )
            }
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(c)) => {
                Attributes::ChildWorkflowExecutionTimedOutEventAttributes(
                    history::ChildWorkflowExecutionTimedOutEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: c.retry_state,
                        ..Default::default()
                    },
                )
            }
            _ => return,
        };
        let event = self.new_event(attributes, self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// The outcome of delivering an external signal or cancel request: `delivered_to` is the
    /// run that received it, or `None` when no such workflow was open.
    pub fn external_request_done(
        &mut self,
        initiated_event_id: i64,
        delivered_to: Option<WorkflowExecution>,
    ) {
        if !self.exec.is_running() {
            return;
        }
        let Some(request) = self
            .exec
            .external_requests
            .get(&initiated_event_id)
            .cloned()
        else {
            return;
        };
        let namespace = request.namespace.clone();
        let target = WorkflowExecution {
            workflow_id: request.workflow_id.clone(),
            run_id: request.run_id.clone(),
        };
        let is_signal = !request.signal_name.is_empty();
        let attributes = match (is_signal, delivered_to) {
            (true, Some(run)) => Attributes::ExternalWorkflowExecutionSignaledEventAttributes(
                history::ExternalWorkflowExecutionSignaledEventAttributes {
                    initiated_event_id,
                    namespace,
                    workflow_execution: Some(run),
                    ..Default::default()
                },
            ),
            (false, Some(run)) => Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(
                history::ExternalWorkflowExecutionCancelRequestedEventAttributes {
                    initiated_event_id,
                    namespace,
                    workflow_execution: Some(run),
                    ..Default::default()
                },
            ),
            (true, None) => Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(
                history::SignalExternalWorkflowExecutionFailedEventAttributes {
                    cause: SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound as i32,
                    namespace,
                    workflow_execution: Some(target),
                    initiated_event_id,
                    ..Default::default()
                },
            ),
            (false, None) => Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(
                history::RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                    cause: CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound as i32,
                    namespace,
                    workflow_execution: Some(target),
                    initiated_event_id,
                    ..Default::default()
                },
            ),
        };
        let event = self.new_event(attributes, self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// Starts, for the completing worker itself, the activities it asked to run eagerly
    /// (returned in the completion response instead of going through matching).
    pub fn start_eager_activities(
        &mut self,
        identity: &str,
        request_id: &str,
    ) -> Vec<ActivityTaskGrant> {
        let eager = std::mem::take(&mut self.eager_activities);
        let mut grants = Vec::new();
        for scheduled_event_id in eager {
            if let Ok(grant) = self.start_activity_task(scheduled_event_id, 1, identity, request_id)
            {
                self.tasks.retain(|t| {
                    !matches!(t, ReadyTask::Activity { scheduled_event_id: id, .. } if *id == scheduled_event_id)
                });
                grants.push(grant);
            }
        }
        grants
    }

    /// Hands an activity attempt to a worker. No event is written (Started is written lazily).
    pub fn start_activity_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        identity: &str,
        request_id: &str,
    ) -> Result<ActivityTaskGrant, TaskError> {
        let now = self.now;
        let running = self.exec.is_running();
        let Some(activity) = self
            .exec
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| running && a.attempt == attempt && a.started_time_ms == 0)
        else {
            return Err(TaskError::NotFound("Activity task not found.".into()));
        };
        if activity.retry_ready_time_ms != 0 {
            return Err(TaskError::NotFound(
                "Activity task is waiting for its retry.".into(),
            ));
        }
        activity.started_time_ms = now;
        activity.started_identity = identity.to_string();
        activity.started_request_id = request_id.to_string();
        activity.last_heartbeat_time_ms = 0;
        Ok(ActivityTaskGrant {
            activity: activity.clone(),
        })
    }

    fn running_activity(
        &self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<ActivityInfo, TaskError> {
        self.exec
            .activities
            .get(&scheduled_event_id)
            .filter(|a| self.exec.is_running() && a.attempt == attempt && a.started_time_ms > 0)
            .cloned()
            .ok_or_else(|| {
                TaskError::NotFound(
                    "invalid activityID or activity already timed out or invoking workflow is completed".into(),
                )
            })
    }

    /// Records a heartbeat; returns whether cancellation was requested.
    pub fn heartbeat_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
    ) -> Result<bool, TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        let now = self.now;
        let entry = self
            .exec
            .activities
            .entry(scheduled_event_id)
            .or_insert(activity);
        entry.last_heartbeat_time_ms = now;
        if details.is_some() {
            entry.heartbeat_details = details;
        }
        Ok(entry.cancel_requested)
    }

    /// Writes the lazy Started event and a close event built from the Started event's id.
    fn record_activity_close(
        &mut self,
        activity: &ActivityInfo,
        close: impl FnOnce(i64) -> Attributes,
    ) {
        let buffered = self.workflow_task_in_flight();
        let started_event_id = if activity.started_time_ms > 0 {
            let started = self.new_event(
                Attributes::ActivityTaskStartedEventAttributes(
                    history::ActivityTaskStartedEventAttributes {
                        scheduled_event_id: activity.scheduled_event_id,
                        identity: activity.started_identity.clone(),
                        request_id: activity.started_request_id.clone(),
                        attempt: activity.attempt,
                        last_failure: activity.last_failure.clone(),
                        ..Default::default()
                    },
                ),
                activity.started_time_ms,
            );
            if buffered {
                self.exec.buffered_events.push(started);
                STARTED_ID_AT_FLUSH
            } else {
                self.demote_waiting_transient_task();
                self.write(started)
            }
        } else {
            0
        };
        let event = self.new_event(close(started_event_id), self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    pub fn complete_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        let identity = identity.to_string();
        self.record_activity_close(&activity, |started_event_id| {
            Attributes::ActivityTaskCompletedEventAttributes(
                history::ActivityTaskCompletedEventAttributes {
                    result,
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    ..Default::default()
                },
            )
        });
        Ok(())
    }

    /// A worker reported a failed attempt: retried per policy, or the activity fails.
    pub fn fail_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        failure: Option<Failure>,
        last_heartbeat_details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let mut activity = self.running_activity(scheduled_event_id, attempt)?;
        if last_heartbeat_details.is_some() {
            activity.heartbeat_details = last_heartbeat_details;
        }
        activity.last_worker_identity = identity.to_string();
        self.end_attempt(activity, failure, None);
        Ok(())
    }

    /// The worker acknowledged a cancellation request.
    pub fn cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        if !activity.cancel_requested {
            return Err(TaskError::Invalid(
                "Activity task was not requested to be canceled.".into(),
            ));
        }
        let identity = identity.to_string();
        let requested_id = activity.cancel_requested_event_id;
        self.record_activity_close(&activity, |started_event_id| {
            Attributes::ActivityTaskCanceledEventAttributes(
                history::ActivityTaskCanceledEventAttributes {
                    details,
                    latest_cancel_requested_event_id: requested_id,
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    ..Default::default()
                },
            )
        });
        Ok(())
    }

    /// Ends the running (or, for a schedule timeout, waiting) attempt with `failure`: either
    /// another attempt after the backoff, or the activity's final Failed/TimedOut event.
    /// Ends an activity attempt that failed (`failure` is `None` when the worker sent none:
    /// retried as an unknown failure, recorded without one, as Temporal does).
    fn end_attempt(
        &mut self,
        mut activity: ActivityInfo,
        failure: Option<Failure>,
        timeout: Option<TimeoutType>,
    ) {
        let policy = retry::with_defaults(activity.retry_policy.clone());
        let expiration = if activity.schedule_to_close_timeout_ms > 0 {
            activity.scheduled_time_ms + activity.schedule_to_close_timeout_ms
        } else {
            0
        };
        let decision = if activity.cancel_requested {
            RetryDecision::GiveUp(RetryState::CancelRequested)
        } else {
            let judged = failure.clone().unwrap_or_default();
            retry::decide(&policy, activity.attempt, &judged, self.now, expiration)
        };
        match decision {
            RetryDecision::RetryAfter(delay) => {
                activity.attempt += 1;
                activity.started_time_ms = 0;
                activity.last_failure = failure.map(|f| retried_failure(f, timeout));
                activity.current_attempt_scheduled_time_ms = self.now + delay;
                activity.retry_ready_time_ms = if delay > 0 { self.now + delay } else { 0 };
                if delay == 0 {
                    self.tasks.push(ReadyTask::Activity {
                        task_queue: activity.task_queue.clone(),
                        scheduled_event_id: activity.scheduled_event_id,
                        attempt: activity.attempt,
                    });
                }
                self.exec
                    .activities
                    .insert(activity.scheduled_event_id, activity);
            }
            RetryDecision::GiveUp(retry_state) => {
                let scheduled_event_id = activity.scheduled_event_id;
                let identity = activity.last_worker_identity.clone();
                match timeout {
                    None => self.record_activity_close(&activity, |started_event_id| {
                        Attributes::ActivityTaskFailedEventAttributes(
                            history::ActivityTaskFailedEventAttributes {
                                failure,
                                scheduled_event_id,
                                started_event_id,
                                identity,
                                retry_state: retry_state as i32,
                                ..Default::default()
                            },
                        )
                    }),
                    Some(_) => self.record_activity_close(&activity, |started_event_id| {
                        Attributes::ActivityTaskTimedOutEventAttributes(
                            history::ActivityTaskTimedOutEventAttributes {
                                failure,
                                scheduled_event_id,
                                started_event_id,
                                retry_state: retry_state as i32,
                            },
                        )
                    }),
                }
            }
        }
    }

    /// Delivers a signal (deduplicated by request id) and asks for a workflow task.
    pub fn signal(
        &mut self,
        signal_name: &str,
        input: Option<Payloads>,
        identity: &str,
        header: Option<temper_api::proto::common::v1::Header>,
        request_id: &str,
    ) {
        if !request_id.is_empty() {
            if self.exec.signal_request_ids.iter().any(|r| r == request_id) {
                return;
            }
            self.exec.signal_request_ids.push(request_id.to_string());
        }
        let event = self.new_event(
            Attributes::WorkflowExecutionSignaledEventAttributes(
                history::WorkflowExecutionSignaledEventAttributes {
                    signal_name: signal_name.to_string(),
                    input,
                    identity: identity.to_string(),
                    header,
                    ..Default::default()
                },
            ),
            self.now,
        );
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// [`Transition::signal`] for a signal given as one value.
    pub fn deliver_signal(&mut self, signal: &InitialSignal) {
        self.signal(
            &signal.name,
            signal.input.clone(),
            &signal.identity,
            signal.header.clone(),
            &signal.request_id,
        );
    }

    /// Records a cancellation request (idempotent) and asks for a workflow task.
    pub fn request_cancel(&mut self, reason: &str, identity: &str) {
        self.request_cancel_from(reason, identity, 0, None);
    }

    /// A cancellation request sent by another workflow (its initiated event and run).
    pub fn request_cancel_from(
        &mut self,
        reason: &str,
        identity: &str,
        external_initiated_event_id: i64,
        external_workflow_execution: Option<WorkflowExecution>,
    ) {
        if self.exec.cancel_requested {
            return;
        }
        let event = self.new_event(
            Attributes::WorkflowExecutionCancelRequestedEventAttributes(
                history::WorkflowExecutionCancelRequestedEventAttributes {
                    cause: reason.to_string(),
                    identity: identity.to_string(),
                    external_initiated_event_id,
                    external_workflow_execution,
                },
            ),
            self.now,
        );
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// Terminates the run: an in-flight workflow task is failed first, as Temporal does.
    pub fn terminate(&mut self, reason: &str, details: Option<Payloads>, identity: &str) {
        if let Some(wft) = self
            .exec
            .workflow_task
            .clone()
            .filter(|w| w.started_event_id > 0 && !w.transient)
        {
            self.append(Attributes::WorkflowTaskFailedEventAttributes(
                history::WorkflowTaskFailedEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: wft.started_event_id,
                    cause: WorkflowTaskFailedCause::ForceCloseCommand as i32,
                    identity: identity.to_string(),
                    ..Default::default()
                },
            ));
            self.exec.workflow_task = None;
        }
        self.flush_buffer();
        self.append(Attributes::WorkflowExecutionTerminatedEventAttributes(
            history::WorkflowExecutionTerminatedEventAttributes {
                reason: reason.to_string(),
                details,
                identity: identity.to_string(),
            },
        ));
    }

    /// Processes everything due at the transition's time: workflow timeouts, workflow-task
    /// timeouts, timers, retry backoffs and activity timeouts.
    pub fn on_time(&mut self) {
        if !self.exec.is_running() {
            return;
        }
        let now = self.now;
        if self.exec.run_deadline_ms > 0 && self.exec.run_deadline_ms <= now {
            let failure = Failure {
                message: "workflow timeout".into(),
                source: "Server".into(),
                failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                    timeout_type: TimeoutType::StartToClose as i32,
                    last_heartbeat_details: None,
                })),
                ..Default::default()
            };
            let (retry_state, new_execution_run_id) = self.retry_run(&failure);
            self.append(Attributes::WorkflowExecutionTimedOutEventAttributes(
                history::WorkflowExecutionTimedOutEventAttributes {
                    retry_state: retry_state as i32,
                    new_execution_run_id,
                },
            ));
            return;
        }
        if self.exec.first_workflow_task_time_ms > 0 && self.exec.first_workflow_task_time_ms <= now
        {
            self.exec.first_workflow_task_time_ms = 0;
            self.schedule_workflow_task();
        }
        if let Some(wft) = self.exec.workflow_task.clone()
            && wft.started_event_id == 0
            && self.exec.is_sticky(&wft)
            && wft.scheduled_time_ms + self.exec.sticky_schedule_to_start_timeout_ms <= now
        {
            // The sticky worker did not take the task in time: offer it on the normal queue.
            if !wft.transient {
                self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                    history::WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wft.scheduled_event_id,
                        started_event_id: 0,
                        timeout_type: TimeoutType::ScheduleToStart as i32,
                    },
                ));
            }
            self.exec.workflow_task = None;
            self.exec.sticky_task_queue.clear();
            self.schedule_workflow_task();
        }
        if let Some(mut wft) = self.exec.workflow_task.clone()
            && wft.started_event_id > 0
            && wft.started_time_ms + wft.start_to_close_timeout_ms <= now
        {
            if wft.speculative {
                self.materialize_transient_task(&mut wft);
            }
            if !wft.transient {
                self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                    history::WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wft.scheduled_event_id,
                        started_event_id: wft.started_event_id,
                        timeout_type: TimeoutType::StartToClose as i32,
                    },
                ));
            }
            self.exec.workflow_task = None;
            self.exec.workflow_task_attempt = wft.attempt + 1;
            self.exec.sticky_task_queue.clear();
            self.schedule_workflow_task();
        }
        let mut due_timers: Vec<TimerInfo> = self
            .exec
            .timers
            .values()
            .filter(|t| t.fire_time_ms <= now)
            .cloned()
            .collect();
        due_timers.sort_by_key(|t| (t.fire_time_ms, t.started_event_id));
        for timer in due_timers {
            let event = self.new_event(
                Attributes::TimerFiredEventAttributes(history::TimerFiredEventAttributes {
                    timer_id: timer.timer_id,
                    started_event_id: timer.started_event_id,
                }),
                now,
            );
            self.append_or_buffer(event);
            self.schedule_workflow_task();
        }
        let mut scheduled_ids: Vec<i64> = self.exec.activities.keys().copied().collect();
        scheduled_ids.sort();
        for scheduled_event_id in scheduled_ids {
            self.activity_on_time(scheduled_event_id);
        }
    }

    fn activity_on_time(&mut self, scheduled_event_id: i64) {
        let now = self.now;
        let Some(activity) = self.exec.activities.get_mut(&scheduled_event_id) else {
            return;
        };
        if activity.retry_ready_time_ms > 0 && activity.retry_ready_time_ms <= now {
            activity.retry_ready_time_ms = 0;
            let task = ReadyTask::Activity {
                task_queue: activity.task_queue.clone(),
                scheduled_event_id,
                attempt: activity.attempt,
            };
            self.tasks.push(task);
        }
        let activity = activity.clone();
        let Some((_, kind)) = activity_deadlines(&activity)
            .into_iter()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
        else {
            return;
        };
        let failure = timeout_failure(
            kind,
            activity.heartbeat_details.clone(),
            activity.last_failure.clone(),
        );
        match kind {
            TimeoutType::StartToClose | TimeoutType::Heartbeat => {
                self.end_attempt(activity, Some(failure), Some(kind));
            }
            _ => {
                let retry_state = RetryState::Timeout as i32;
                self.record_activity_close(&activity, |started_event_id| {
                    Attributes::ActivityTaskTimedOutEventAttributes(
                        history::ActivityTaskTimedOutEventAttributes {
                            failure: Some(failure),
                            scheduled_event_id,
                            started_event_id,
                            retry_state,
                        },
                    )
                });
            }
        }
    }
}

fn started_event(wft: &WorkflowTaskInfo, history_size_bytes: i64) -> HistoryEvent {
    HistoryEvent {
        event_time: ms_timestamp(wft.started_time_ms),
        event_type: EventType::WorkflowTaskStarted as i32,
        attributes: Some(Attributes::WorkflowTaskStartedEventAttributes(
            history::WorkflowTaskStartedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                identity: wft.started_identity.clone(),
                request_id: wft.started_request_id.clone(),
                history_size_bytes,
                suggest_continue_as_new: !wft.suggest_continue_as_new_reasons.is_empty(),
                suggest_continue_as_new_reasons: wft.suggest_continue_as_new_reasons.clone(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The Scheduled and Started events of a started transient task, numbered where they would
/// be written; workers receive them at the end of the task's history.
pub fn transient_events(wft: &WorkflowTaskInfo, history_size_bytes: i64) -> Vec<HistoryEvent> {
    if !wft.transient || wft.started_event_id == 0 {
        return Vec::new();
    }
    let scheduled = HistoryEvent {
        event_id: wft.scheduled_event_id,
        event_time: ms_timestamp(wft.scheduled_time_ms),
        event_type: EventType::WorkflowTaskScheduled as i32,
        attributes: Some(Attributes::WorkflowTaskScheduledEventAttributes(
            history::WorkflowTaskScheduledEventAttributes {
                task_queue: task_queue(&wft.task_queue),
                start_to_close_timeout: ms_duration(wft.start_to_close_timeout_ms),
                attempt: wft.attempt,
            },
        )),
        ..Default::default()
    };
    let mut started = started_event(wft, history_size_bytes);
    started.event_id = wft.started_event_id;
    vec![scheduled, started]
}

/// Temporal rejects a completion whose close command is followed by other commands.
fn validate_command_sequence(commands: &[Command]) -> Result<(), CompletionError> {
    let is_close = |c: &Command| {
        matches!(
            c.attributes,
            Some(
                CommandAttributes::CompleteWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::FailWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::CancelWorkflowExecutionCommandAttributes(_)
                    | CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(_)
            )
        )
    };
    match commands.iter().position(is_close) {
        Some(index) if index + 1 < commands.len() => Err(CompletionError::Invalid(format!(
            "invalid command sequence: [{}], command {} must be the last command.",
            commands
                .iter()
                .map(|c| format!("{:?}", c.command_type()))
                .collect::<Vec<_>>()
                .join(", "),
            index
        ))),
        _ => Ok(()),
    }
}

fn unsupported_command(attributes: &CommandAttributes) -> (WorkflowTaskFailedCause, &'static str) {
    use WorkflowTaskFailedCause as Cause;
    match attributes {
        CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(_) => (
            Cause::BadContinueAsNewAttributes,
            "ContinueAsNewWorkflowExecution",
        ),
        CommandAttributes::ScheduleNexusOperationCommandAttributes(_) => (
            Cause::BadScheduleNexusOperationAttributes,
            "ScheduleNexusOperation",
        ),
        CommandAttributes::RequestCancelNexusOperationCommandAttributes(_) => (
            Cause::BadRequestCancelNexusOperationAttributes,
            "RequestCancelNexusOperation",
        ),
        _ => (Cause::UnhandledCommand, "this command"),
    }
}

/// Builds `WorkflowExecutionStarted` attributes' workflow type and queue (for callers and tests).
pub fn started_attributes(
    workflow_id: &str,
    workflow_type: &str,
    queue: &str,
) -> history::WorkflowExecutionStartedEventAttributes {
    history::WorkflowExecutionStartedEventAttributes {
        workflow_id: workflow_id.to_string(),
        workflow_type: Some(WorkflowType {
            name: workflow_type.to_string(),
        }),
        task_queue: task_queue(queue),
        ..Default::default()
    }
}

/// The activity type as a proto message (poll responses).
pub fn activity_type(name: &str) -> Option<ActivityType> {
    Some(ActivityType {
        name: name.to_string(),
    })
}

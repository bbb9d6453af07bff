//! Starting a run: Temporal's defaults for the started event, and the run's first events.

use super::{DEFAULT_WORKFLOW_TASK_TIMEOUT_MS, InitialSignal, ReadyTask, Transition};
use crate::state::Execution;
use crate::time::{duration_ms, ms_duration, ms_timestamp, timestamp_ms};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

/// Temporal's defaults for a new run's started event: the task timeout, the chain's run ids,
/// the first attempt, a cron run's first backoff and the execution deadline.
pub(super) fn with_start_defaults(
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
}

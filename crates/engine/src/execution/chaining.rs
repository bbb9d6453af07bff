//! Runs that follow a closing run: workflow retries, the next cron run and continue-as-new.

use super::{NewRun, Transition};
use crate::retry::{self, RetryDecision};
use crate::time::ms_duration;
use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::{ContinueAsNewInitiator, RetryState};
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::history::v1::{self as history};

impl Transition<'_> {
    /// Decides whether a failed or timed-out run is retried per its retry policy (or, when it
    /// is not, runs again on its cron schedule); prepares the next run. Returns the retry
    /// state and the new run's id ("" if none).
    pub(super) fn retry_run(&mut self, failure: &Failure) -> (RetryState, String) {
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
    pub(super) fn cron_run(
        &mut self,
        result: Option<Payloads>,
        failure: Option<Failure>,
    ) -> String {
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

    pub(super) fn retry_per_policy(&mut self, failure: &Failure) -> (RetryState, String) {
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
    pub(super) fn continued_run(
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
            // A Nexus operation backed by this workflow completes when the chain ends.
            completion_callbacks: old.completion_callbacks,
            ..Default::default()
        };
        NewRun {
            run_id,
            started,
            user_metadata: None,
        }
    }
}

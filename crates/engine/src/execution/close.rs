//! Closing the run: the complete, fail, cancel and continue-as-new commands, and termination.

use super::Transition;
use super::commands::CommandContext;
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::WorkflowTaskFailedCause;
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

impl Transition<'_> {
    /// Terminates the run: an in-flight workflow task is failed first, as Temporal does.
    pub fn terminate(&mut self, reason: &str, details: Option<Payloads>, identity: &str) {
        self.end_workflow_task_for_close(identity);
        self.append(Attributes::WorkflowExecutionTerminatedEventAttributes(
            history::WorkflowExecutionTerminatedEventAttributes {
                reason: reason.to_string(),
                details,
                identity: identity.to_string(),
            },
        ));
    }

    /// Before the server closes a run (termination, a workflow timeout): a workflow task a
    /// worker holds fails with FORCE_CLOSE_COMMAND, and the events buffered meanwhile are
    /// written, so none is lost with the close (Temporal does the same).
    pub(super) fn end_workflow_task_for_close(&mut self, identity: &str) {
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
        }
        self.exec.workflow_task = None;
        self.flush_buffer();
    }

    /// A CompleteWorkflowExecution command (a cron workflow chains its next run).
    pub(super) fn complete_workflow(
        &mut self,
        a: &command::CompleteWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let new_execution_run_id = self.cron_run(a.result.clone(), None);
        self.append_for(
            command,
            Attributes::WorkflowExecutionCompletedEventAttributes(
                history::WorkflowExecutionCompletedEventAttributes {
                    result: a.result.clone(),
                    workflow_task_completed_event_id: command.completed_id,
                    new_execution_run_id,
                },
            ),
        );
        false
    }

    /// A FailWorkflowExecution command (retried per the run's retry policy, or chained to the next cron run).
    pub(super) fn fail_workflow(
        &mut self,
        a: &command::FailWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let failure = a.failure.clone().unwrap_or_default();
        let (retry_state, new_execution_run_id) = self.retry_run(&failure);
        self.append_for(
            command,
            Attributes::WorkflowExecutionFailedEventAttributes(
                history::WorkflowExecutionFailedEventAttributes {
                    failure: a.failure.clone(),
                    retry_state: retry_state as i32,
                    workflow_task_completed_event_id: command.completed_id,
                    new_execution_run_id,
                },
            ),
        );
        false
    }

    /// A CancelWorkflowExecution command.
    pub(super) fn cancel_workflow(
        &mut self,
        a: &command::CancelWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        self.append_for(
            command,
            Attributes::WorkflowExecutionCanceledEventAttributes(
                history::WorkflowExecutionCanceledEventAttributes {
                    details: a.details.clone(),
                    workflow_task_completed_event_id: command.completed_id,
                },
            ),
        );
        false
    }

    /// A ContinueAsNewWorkflowExecution command: the run closes and names the run that continues it.
    pub(super) fn continue_as_new(
        &mut self,
        a: &command::ContinueAsNewWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let new_run = self
            .next_run_id()
            .map(|run_id| self.continued_run(a, run_id));
        let new_execution_run_id = new_run
            .as_ref()
            .map(|r| r.run_id.clone())
            .unwrap_or_default();
        self.append_for(
            command,
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
                    workflow_task_completed_event_id: command.completed_id,
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
}

//! Signals and cancellation requests this run sends to other workflows: the commands, and the
//! record of their delivery.

use super::Transition;
use super::commands::CommandContext;
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, SignalExternalWorkflowExecutionFailedCause,
};
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

impl Transition<'_> {
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

    /// A SignalExternalWorkflowExecution command; the server delivers it after the commit.
    pub(super) fn signal_external(
        &mut self,
        a: &command::SignalExternalWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let initiated = history::SignalExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: command.completed_id,
            namespace: self.exec.namespace.clone(),
            workflow_execution: Some(a.execution.clone().unwrap_or_default()),
            signal_name: a.signal_name.clone(),
            input: a.input.clone(),
            child_workflow_only: a.child_workflow_only,
            header: a.header.clone(),
            ..Default::default()
        };
        self.append_for(
            command,
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(initiated),
        );
        false
    }

    /// A RequestCancelExternalWorkflowExecution command; the server delivers it after the commit.
    pub(super) fn cancel_external(
        &mut self,
        a: &command::RequestCancelExternalWorkflowExecutionCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let initiated = history::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: command.completed_id,
            namespace: self.exec.namespace.clone(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: a.workflow_id.clone(),
                run_id: a.run_id.clone(),
            }),
            child_workflow_only: a.child_workflow_only,
            reason: a.reason.clone(),
            ..Default::default()
        };
        self.append_for(
            command,
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(initiated),
        );
        false
    }
}

//! What clients send a running workflow: signals and cancellation requests.

use super::{InitialSignal, Transition};
use temper_api::proto::common::v1::{Payloads, WorkflowExecution};
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

impl Transition<'_> {
    /// Delivers a signal and asks for a workflow task. A request id among the ids delivered
    /// since the last write is ignored here; the store refuses the write of one delivered
    /// before that (see `Execution::signal_request_ids`).
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
                    // Temporal records the caller's request id on the event.
                    request_id: request_id.to_string(),
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
}

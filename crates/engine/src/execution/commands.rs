//! A workflow-task completion's commands: [`Transition::apply_command`] sends each command to
//! its family's module (activities, timers, children, external, close, properties; protocol
//! messages are in `updates`).

use super::Transition;
use temper_api::proto::command::v1::{Command, command::Attributes as CommandAttributes};
use temper_api::proto::history::v1::history_event::Attributes;

/// What the events of one command share: the completion they belong to and the command's
/// user metadata (its summary, shown by the UI on the event).
pub(super) struct CommandContext {
    pub completed_id: i64,
    pub metadata: Option<temper_api::proto::sdk::v1::UserMetadata>,
}

impl Transition<'_> {
    /// Writes a command's event, carrying the command's metadata; returns its id.
    pub(super) fn append_for(&mut self, command: &CommandContext, attributes: Attributes) -> i64 {
        let mut event = self.new_event(attributes, self.now);
        event.user_metadata = command.metadata.clone();
        self.write(event)
    }

    /// Applies one validated command; returns true when it requires a new workflow task.
    pub(super) fn apply_command(
        &mut self,
        command: &Command,
        attributes: &CommandAttributes,
        completed_id: i64,
    ) -> bool {
        let context = CommandContext {
            completed_id,
            metadata: command.user_metadata.clone(),
        };
        use CommandAttributes as C;
        match attributes {
            C::ScheduleActivityTaskCommandAttributes(a) => self.schedule_activity(a, &context),
            C::RequestCancelActivityTaskCommandAttributes(a) => {
                self.request_cancel_activity(a, &context)
            }
            C::StartTimerCommandAttributes(a) => self.start_timer(a, &context),
            C::CancelTimerCommandAttributes(a) => self.cancel_timer(a, &context),
            C::CompleteWorkflowExecutionCommandAttributes(a) => self.complete_workflow(a, &context),
            C::FailWorkflowExecutionCommandAttributes(a) => self.fail_workflow(a, &context),
            C::CancelWorkflowExecutionCommandAttributes(a) => self.cancel_workflow(a, &context),
            C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
                self.continue_as_new(a, &context)
            }
            C::StartChildWorkflowExecutionCommandAttributes(a) => {
                self.start_child_workflow(a, &context)
            }
            C::SignalExternalWorkflowExecutionCommandAttributes(a) => {
                self.signal_external(a, &context)
            }
            C::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
                self.cancel_external(a, &context)
            }
            C::RecordMarkerCommandAttributes(a) => self.record_marker(a, &context),
            C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
                self.upsert_search_attributes(a, &context)
            }
            C::ModifyWorkflowPropertiesCommandAttributes(a) => self.modify_properties(a, &context),
            C::ScheduleNexusOperationCommandAttributes(a) => {
                self.schedule_nexus_operation(a, &context)
            }
            C::RequestCancelNexusOperationCommandAttributes(a) => {
                self.request_cancel_nexus_operation(a.scheduled_event_id, &context)
            }
            // Protocol messages are placed by the completion itself; validation refused the rest.
            _ => false,
        }
    }
}

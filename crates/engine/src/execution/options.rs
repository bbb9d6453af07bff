//! `UpdateWorkflowExecutionOptions` on the engine side: a changed priority is recorded in a
//! `WorkflowExecutionOptionsUpdated` event (which workers may ignore and which needs no
//! workflow task); an unchanged one writes nothing, as Temporal.

use super::Transition;
use temper_api::proto::common::v1::Priority;
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

impl Transition<'_> {
    /// Records the run's new priority; returns whether anything changed.
    pub fn update_priority(&mut self, priority: Option<Priority>, identity: &str) -> bool {
        let current = self.exec.started.as_ref().and_then(|s| s.priority.clone());
        if current == priority || !self.exec.is_running() {
            return false;
        }
        let attributes = Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(
            history::WorkflowExecutionOptionsUpdatedEventAttributes {
                // Temper has no versioning overrides: the merged override is always none.
                unset_versioning_override: true,
                identity: identity.to_string(),
                priority,
                ..Default::default()
            },
        );
        let mut event = self.new_event(attributes, self.now);
        event.worker_may_ignore = true;
        self.append_or_buffer(event);
        true
    }

    /// The run's priority as its start and later option updates set it.
    pub fn priority(&self) -> Option<Priority> {
        self.exec.started.as_ref().and_then(|s| s.priority.clone())
    }
}

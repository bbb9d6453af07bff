//! `UpdateWorkflowExecutionOptions` on the engine side: changed options (priority, versioning
//! override) are recorded in a `WorkflowExecutionOptionsUpdated` event carrying the merged
//! options (which workers may ignore and which needs no workflow task); unchanged ones write
//! nothing, as Temporal.

use super::Transition;
use temper_api::proto::common::v1::Priority;
use temper_api::proto::history::v1::{self as history, history_event::Attributes};
use temper_api::proto::workflow::v1::VersioningOverride;

impl Transition<'_> {
    /// Records the run's new options; returns whether anything changed.
    pub fn update_options(
        &mut self,
        priority: Option<Priority>,
        versioning_override: Option<VersioningOverride>,
        identity: &str,
    ) -> bool {
        let unchanged = self.priority() == priority
            && self.exec.versioning_override() == versioning_override.as_ref();
        if unchanged || !self.exec.is_running() {
            return false;
        }
        let attributes = Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(
            history::WorkflowExecutionOptionsUpdatedEventAttributes {
                unset_versioning_override: versioning_override.is_none(),
                versioning_override,
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

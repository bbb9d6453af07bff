//! Markers, search attributes and memo: commands that only record.

use super::Transition;
use super::commands::CommandContext;
use crate::state::Execution;
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::common::v1::Payload;
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

/// Upserts named payloads: a value that is empty, `null` or `[]` (whatever its encoding)
/// removes the name, as Temporal does for memo fields and search attributes.
// The maps are the protobuf types' own; merging does not depend on their order.
#[allow(clippy::disallowed_types)]
pub(super) fn merge_upserted(
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

impl Execution {
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
}

impl Transition<'_> {
    /// A RecordMarker command.
    pub(super) fn record_marker(
        &mut self,
        a: &command::RecordMarkerCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        self.append_for(
            command,
            Attributes::MarkerRecordedEventAttributes(history::MarkerRecordedEventAttributes {
                marker_name: a.marker_name.clone(),
                details: a.details.clone(),
                workflow_task_completed_event_id: command.completed_id,
                header: a.header.clone(),
                failure: a.failure.clone(),
            }),
        );
        false
    }

    /// An UpsertWorkflowSearchAttributes command.
    pub(super) fn upsert_search_attributes(
        &mut self,
        a: &command::UpsertWorkflowSearchAttributesCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        self.append_for(
            command,
            Attributes::UpsertWorkflowSearchAttributesEventAttributes(
                history::UpsertWorkflowSearchAttributesEventAttributes {
                    workflow_task_completed_event_id: command.completed_id,
                    search_attributes: a.search_attributes.clone(),
                },
            ),
        );
        false
    }

    /// A ModifyWorkflowProperties command (memo).
    pub(super) fn modify_properties(
        &mut self,
        a: &command::ModifyWorkflowPropertiesCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        self.append_for(
            command,
            Attributes::WorkflowPropertiesModifiedEventAttributes(
                history::WorkflowPropertiesModifiedEventAttributes {
                    workflow_task_completed_event_id: command.completed_id,
                    upserted_memo: a.upserted_memo.clone(),
                },
            ),
        );
        false
    }
}

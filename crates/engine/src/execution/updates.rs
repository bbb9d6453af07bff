//! Workflow updates: admission, the protocol messages exchanged on workflow tasks, and the
//! `WorkflowExecutionUpdateAccepted` / `…Completed` events.
//!
//! An admitted update rides on every workflow task as a `Request` message until the worker
//! accepts or rejects it. Acceptance and completion are command events, written where the
//! completion's `ProtocolMessage` command places them (messages no command references are
//! processed after all commands). A rejection writes no event; its failure is the outcome.

use prost::Message as _;
use prost_wkt_types::Any;
use temper_api::proto::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowTaskFailedCause,
};
use temper_api::proto::failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, history_event::Attributes};
use temper_api::proto::protocol::v1::{Message, message::SequencingId};
use temper_api::proto::update::v1 as update;

use super::{TaskError, Transition};
use crate::state::{Execution, UpdateInfo};

const TYPE_PREFIX: &str = "type.googleapis.com/";

/// What a worker answered for an update.
enum Answer {
    Accepted(update::Acceptance),
    Rejected(update::Rejection),
    Completed(update::Response),
}

fn decode(message: &Message) -> Result<Answer, String> {
    let body = message
        .body
        .as_ref()
        .ok_or_else(|| format!("message {} has no body", message.id))?;
    let kind = body
        .type_url
        .strip_prefix(TYPE_PREFIX)
        .unwrap_or(&body.type_url);
    let bad = |e: prost::DecodeError| format!("message {}: {e}", message.id);
    match kind {
        "temporal.api.update.v1.Acceptance" => update::Acceptance::decode(&*body.value)
            .map(Answer::Accepted)
            .map_err(bad),
        "temporal.api.update.v1.Rejection" => update::Rejection::decode(&*body.value)
            .map(Answer::Rejected)
            .map_err(bad),
        "temporal.api.update.v1.Response" => update::Response::decode(&*body.value)
            .map(Answer::Completed)
            .map_err(bad),
        other => Err(format!(
            "message {} has unsupported body type {other}",
            message.id
        )),
    }
}

/// The outcome of an accepted update whose run closed before the update completed.
fn accepted_update_completed_workflow() -> Failure {
    Failure {
        message:
            "Workflow Update failed because the Workflow completed before the Update completed."
                .into(),
        source: "Server".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "AcceptedUpdateCompletedWorkflow".into(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The type of a message whose body is over the blob limit.
fn oversized_body(message: &Message) -> Option<&str> {
    let body = message.body.as_ref()?;
    (body.value.len() > crate::limits::BLOB_SIZE_LIMIT).then(|| {
        body.type_url
            .strip_prefix(TYPE_PREFIX)
            .unwrap_or(&body.type_url)
    })
}

/// Whether a completion carries a protocol message over the blob limit: Temporal terminates
/// the run for it.
pub(super) fn has_oversized_message(messages: &[Message]) -> bool {
    messages.iter().any(|m| oversized_body(m).is_some())
}

/// Whether a completion's messages only reject updates (nothing that writes an event).
pub(super) fn only_rejections(messages: &[Message]) -> bool {
    messages
        .iter()
        .all(|m| matches!(decode(m), Ok(Answer::Rejected(_))))
}

impl Execution {
    /// The `Request` messages of admitted updates, for a workflow task whose started event
    /// is `started_event_id`.
    pub fn update_request_messages(&self, started_event_id: i64) -> Vec<Message> {
        let mut admitted: Vec<&UpdateInfo> = self
            .updates
            .values()
            .filter(|u| u.stage == Stage::Admitted as i32)
            .collect();
        admitted.sort_by_key(|u| u.admission);
        admitted
            .into_iter()
            .filter_map(|u| {
                let request = u.request.as_ref()?;
                let update_id = request.meta.as_ref()?.update_id.clone();
                Some(Message {
                    id: format!("{update_id}/request"),
                    protocol_instance_id: update_id,
                    sequencing_id: Some(SequencingId::EventId(started_event_id - 1)),
                    body: Some(Any {
                        type_url: format!("{TYPE_PREFIX}temporal.api.update.v1.Request"),
                        value: request.encode_to_vec(),
                    }),
                })
            })
            .collect()
    }

    /// The run closed with updates still open. As Temporal does, an accepted update completes
    /// with a non-retryable `AcceptedUpdateCompletedWorkflow` failure (no event is written),
    /// and one not yet accepted is aborted.
    pub(super) fn end_open_updates(&mut self) {
        for info in self.updates.values_mut() {
            if info.stage == Stage::Accepted as i32 {
                info.stage = Stage::Completed as i32;
                info.outcome = Some(update::Outcome {
                    value: Some(update::outcome::Value::Failure(
                        accepted_update_completed_workflow(),
                    )),
                });
            } else if info.stage == Stage::Admitted as i32 {
                info.aborted = true;
            }
        }
    }

    pub fn has_admitted_updates(&self) -> bool {
        self.updates
            .values()
            .any(|u| u.stage == Stage::Admitted as i32)
    }
}

impl Transition<'_> {
    /// Admits an update and asks for a workflow task. A known update id is left as it is,
    /// even on a closed run: its caller gets its outcome.
    pub fn admit_update(&mut self, request: update::Request) -> Result<(), TaskError> {
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        if self.exec.updates.contains_key(&update_id) {
            return Ok(());
        }
        if !self.exec.is_running() {
            return Err(TaskError::RunClosed);
        }
        self.exec.updates_admitted += 1;
        let info = UpdateInfo {
            request: Some(request),
            stage: Stage::Admitted as i32,
            admission: self.exec.updates_admitted,
            ..Default::default()
        };
        self.exec.updates.insert(update_id, info);
        self.schedule_speculative_workflow_task();
        Ok(())
    }

    /// The task that delivered the admitted updates failed for good: their callers are told
    /// so instead of waiting for the run's end.
    pub(super) fn fail_delivered_updates(&mut self) {
        for info in self.exec.updates.values_mut() {
            if info.stage == Stage::Admitted as i32 {
                info.task_failed = true;
            }
        }
    }

    /// Checks a completion's messages and the commands that place them.
    pub(super) fn validate_messages(
        &self,
        commands: &[temper_api::proto::command::v1::Command],
        messages: &[Message],
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        let bad = |m: String| {
            Err((
                WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage,
                m,
            ))
        };
        for command in commands {
            if let Some(temper_api::proto::command::v1::command::Attributes::ProtocolMessageCommandAttributes(a)) =
                &command.attributes
                && !messages.iter().any(|m| m.id == a.message_id)
            {
                return bad(format!("ProtocolMessageCommand refers to message {} that is not in the request", a.message_id));
            }
        }
        for message in messages {
            if let Err(problem) = decode(message) {
                return bad(problem);
            }
            if let Some(kind) = oversized_body(message) {
                return bad(format!("Message type {kind} exceeds size limit."));
            }
            if !self
                .exec
                .updates
                .contains_key(&message.protocol_instance_id)
            {
                return bad(format!(
                    "update {} is not known",
                    message.protocol_instance_id
                ));
            }
        }
        Ok(())
    }

    /// Applies a worker's answer to an update, writing its event if it has one.
    pub(super) fn apply_message(&mut self, message: &Message) {
        let Ok(answer) = decode(message) else { return };
        let Some(info) = self
            .exec
            .updates
            .get(&message.protocol_instance_id)
            .cloned()
        else {
            return;
        };
        match answer {
            Answer::Accepted(acceptance) => {
                if info.stage != Stage::Admitted as i32 {
                    return;
                }
                self.append(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                    history::WorkflowExecutionUpdateAcceptedEventAttributes {
                        protocol_instance_id: message.protocol_instance_id.clone(),
                        accepted_request_message_id: acceptance.accepted_request_message_id,
                        accepted_request_sequencing_event_id: acceptance
                            .accepted_request_sequencing_event_id,
                        accepted_request: acceptance.accepted_request.or(info.request),
                    },
                ));
            }
            Answer::Rejected(rejection) => {
                if let Some(entry) = self.exec.updates.get_mut(&message.protocol_instance_id)
                    && entry.stage == Stage::Admitted as i32
                {
                    entry.stage = Stage::Completed as i32;
                    entry.outcome = Some(update::Outcome {
                        value: rejection.failure.map(update::outcome::Value::Failure),
                    });
                }
            }
            Answer::Completed(response) => {
                if info.stage == Stage::Completed as i32 {
                    return;
                }
                self.append(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(
                    history::WorkflowExecutionUpdateCompletedEventAttributes {
                        meta: response.meta,
                        accepted_event_id: info.accepted_event_id,
                        outcome: response.outcome,
                    },
                ));
            }
        }
    }
}

//! Task tokens: what a worker sends back to name the task it is answering.
//!
//! A token is an encoded [`TaskToken`]. It carries enough to find the run and to reject a
//! stale answer (a superseded attempt or a task that is no longer current); bytes that do not
//! decode, or that name no task kind, are INVALID_ARGUMENT.

use prost::Message;
use tonic::Status;

#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskToken {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub scheduled_event_id: i64,
    /// Workflow tasks: the started event id. 0 for other kinds.
    #[prost(int64, tag = "5")]
    pub started_event_id: i64,
    /// Activity attempt.
    #[prost(int32, tag = "6")]
    pub attempt: i32,
    #[prost(enumeration = "TokenKind", tag = "7")]
    pub kind: i32,
    /// Query tasks: the server's id of the waiting query.
    #[prost(string, tag = "8")]
    pub query_id: String,
    /// A Nexus task that asks to cancel the operation (not to start it).
    #[prost(bool, tag = "9")]
    pub cancel: bool,
    /// An attempt of a standalone activity (no workflow): `run_id` is the activity's run.
    #[prost(bool, tag = "10")]
    pub standalone: bool,
    /// Standalone activities: the activity id.
    #[prost(string, tag = "11")]
    pub activity_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum TokenKind {
    Unspecified = 0,
    WorkflowTask = 1,
    ActivityTask = 2,
    QueryTask = 3,
    NexusTask = 4,
}

impl TaskToken {
    pub fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Decodes a token of the expected kind. Bytes that are no token are INVALID_ARGUMENT; a
    /// token of another kind names no such task: NOT_FOUND, in Temporal's words.
    pub fn decode_as(bytes: &[u8], kind: TokenKind) -> Result<TaskToken, Status> {
        if bytes.is_empty() {
            return Err(Status::invalid_argument("Task token not set on request."));
        }
        let token = TaskToken::decode(bytes)
            .map_err(|_| Status::invalid_argument("Error deserializing task token."))?;
        if token.kind == TokenKind::Unspecified as i32
            || (kind != TokenKind::QueryTask && token.run_id.is_empty())
        {
            return Err(Status::invalid_argument("Error deserializing task token."));
        }
        if token.kind != kind as i32 {
            return Err(crate::errors::not_found(match kind {
                TokenKind::ActivityTask => ACTIVITY_NOT_FOUND,
                TokenKind::QueryTask => "query not found or already answered",
                TokenKind::NexusTask => "Nexus task not found or already expired",
                _ => "Workflow task not found.",
            }));
        }
        Ok(token)
    }
}

/// Temporal's answer to a token of an activity that is no longer running.
/// What a Nexus handler's workflow hands back when it closes (in the
/// `temporal-callback-token` header of its completion callback): the caller's operation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NexusCallbackToken {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub run_id: String,
    #[prost(int64, tag = "3")]
    pub scheduled_event_id: i64,
    #[prost(string, tag = "4")]
    pub request_id: String,
    /// The caller's workflow id: where a spread cluster delivers the callback (empty in
    /// tokens from before it was added).
    #[prost(string, tag = "5")]
    pub workflow_id: String,
}

impl NexusCallbackToken {
    /// The token as header text (hex).
    pub fn to_header(&self) -> String {
        self.encode_to_vec()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A token read back from header text; `None` when it is not one of ours.
    pub fn from_header(text: &str) -> Option<Self> {
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let token = NexusCallbackToken::decode(bytes?.as_slice()).ok()?;
        (!token.run_id.is_empty()).then_some(token)
    }
}

pub const ACTIVITY_NOT_FOUND: &str =
    "invalid activityID or activity already timed out or invoking workflow is completed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let token = TaskToken {
            run_id: "r".into(),
            kind: TokenKind::ActivityTask as i32,
            attempt: 2,
            ..Default::default()
        };
        let decoded = TaskToken::decode_as(&token.encode(), TokenKind::ActivityTask).unwrap();
        assert_eq!(decoded, token);
        assert!(TaskToken::decode_as(&token.encode(), TokenKind::WorkflowTask).is_err());
        assert!(TaskToken::decode_as(b"\xff\xff\xff", TokenKind::ActivityTask).is_err());
        assert!(TaskToken::decode_as(b"", TokenKind::ActivityTask).is_err());
    }
}

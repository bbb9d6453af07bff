//! Why a transition refused a request: the errors the engine hands back to the server.

use temper_api::proto::enums::v1::WorkflowTaskFailedCause;

/// Why a workflow-task completion was not applied as asked.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionError {
    /// The token names a task that is no longer current.
    NotFound(String),
    /// The request itself is malformed; nothing was written.
    Invalid(String),
    /// The commands were rejected: the task was failed with this cause (the events are in the
    /// transition and must be committed) and a new task scheduled.
    TaskFailed {
        cause: WorkflowTaskFailedCause,
        message: String,
    },
}

impl CompletionError {
    /// The message Temporal returns with INVALID_ARGUMENT: `"<Cause>: <detail>"`.
    pub fn status_message(&self) -> String {
        match self {
            CompletionError::NotFound(m) | CompletionError::Invalid(m) => m.clone(),
            CompletionError::TaskFailed { cause, message } => {
                format!("{}: {message}", cause_name(*cause))
            }
        }
    }
}

pub(super) fn cause_name(cause: WorkflowTaskFailedCause) -> String {
    format!("{cause:?}")
}

/// Why an activity or workflow-task token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Stale: the task is no longer current (NOT_FOUND).
    NotFound(String),
    /// The request is not acceptable in the current state (INVALID_ARGUMENT).
    Invalid(String),
}

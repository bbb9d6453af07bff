//! Why a transition refused a request: typed errors carrying what went wrong, not the words a
//! client sees. The server maps each to its gRPC status and Temporal's message in one place
//! (`temper_server::errors`).

use temper_api::proto::enums::v1::WorkflowTaskFailedCause;

/// Why a workflow-task completion was not applied as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompletionError {
    /// The token names a task that is no longer current.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A command closes the run but is not the last one; nothing was written.
    #[error("command {close_index} of {command_types:?} closes the run but is not the last")]
    CommandAfterClose {
        command_types: Vec<String>,
        close_index: usize,
    },
    /// The commands were refused: the task was failed with this cause (the events are in the
    /// transition and must be committed) and a new task scheduled. `message` is also the
    /// failure recorded in history.
    #[error("{}: {message}", cause_name(*cause))]
    TaskFailed {
        cause: WorkflowTaskFailedCause,
        message: String,
    },
}

/// A cause as Temporal names it in messages (`BadScheduleActivityAttributes`).
pub fn cause_name(cause: WorkflowTaskFailedCause) -> String {
    format!("{cause:?}")
}

/// Why a task token or a request on a run was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The workflow task the token names is no longer current (stale token, run closed).
    #[error("the workflow task is not current")]
    WorkflowTaskNotCurrent,
    /// The workflow task was already handed to a worker.
    #[error("the workflow task was already started")]
    WorkflowTaskAlreadyStarted,
    /// No attempt of the activity is waiting for a worker.
    #[error("no attempt of the activity is waiting for a worker")]
    ActivityNotWaiting,
    /// The activity's next attempt is in its retry backoff.
    #[error("the activity is waiting for its retry")]
    ActivityInBackoff,
    /// The activity attempt the token names is not running (timed out, closed, run closed).
    #[error("the activity attempt is not running")]
    ActivityNotRunning,
    /// A worker reported a cancellation the workflow never requested.
    #[error("the activity was not asked to cancel")]
    CancelNotRequested,
    /// The run is closed.
    #[error("the run is closed")]
    RunClosed,
    /// The Nexus attempt the token names is not waiting for (or held by) a handler.
    #[error("the Nexus task is not current")]
    NexusTaskNotFound,
}

//! gRPC statuses with Temporal's `errordetails` attached the way the SDKs read them
//! (`google.rpc.Status.details[0]`, type `temporal.api.errordetails.v1.*`).

use prost::{Message, Name};
use temper_api::proto::errordetails::v1 as details;
use temper_engine::execution::{CompletionError, ResetError, TaskError};
use temper_store::StoreError;
use tonic::{Code, Status};

pub(crate) fn with_detail<M: Message + Name>(code: Code, message: String, detail: M) -> Status {
    let any = prost_wkt_types::Any {
        type_url: format!("type.googleapis.com/{}", M::full_name()),
        value: detail.encode_to_vec(),
    };
    let status = temporalio_protos::google::rpc::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![any],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// A failure that says nothing about the request: trying again later may succeed (a node of
/// the cluster down, a shard changing hands, the store briefly unavailable).
pub fn is_passing(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::ResourceExhausted
    )
}

pub fn namespace_not_found(namespace: &str) -> Status {
    with_detail(
        Code::NotFound,
        format!("Namespace {namespace} is not found."),
        details::NamespaceNotFoundFailure {
            namespace: namespace.to_string(),
        },
    )
}

pub fn namespace_already_exists(namespace: &str) -> Status {
    with_detail(
        Code::AlreadyExists,
        format!("Namespace \"{namespace}\" already exists"),
        details::NamespaceAlreadyExistsFailure {},
    )
}

pub fn already_started(
    workflow_id: &str,
    request_id: &str,
    run_id: &str,
    first_run_id: &str,
) -> Status {
    with_detail(
        Code::AlreadyExists,
        format!(
            "Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {run_id}."
        ),
        details::WorkflowExecutionAlreadyStartedFailure {
            start_request_id: request_id.to_string(),
            run_id: run_id.to_string(),
            first_execution_run_id: first_run_id.to_string(),
        },
    )
}

/// A schedule id that is taken: Temporal reports it as its scheduler workflow already
/// running, with the detail the SDKs turn into "schedule already running".
pub fn schedule_already_running() -> Status {
    with_detail(
        Code::AlreadyExists,
        "schedule with this ID is already registered".to_string(),
        details::WorkflowExecutionAlreadyStartedFailure {
            start_request_id: String::new(),
            run_id: String::new(),
            first_execution_run_id: String::new(),
        },
    )
}

pub fn query_failed(
    message: String,
    failure: Option<temper_api::proto::failure::v1::Failure>,
) -> Status {
    with_detail(
        Code::InvalidArgument,
        message,
        details::QueryFailedFailure { failure },
    )
}

pub fn workflow_not_ready(message: &str) -> Status {
    with_detail(
        Code::FailedPrecondition,
        message.to_string(),
        details::WorkflowNotReadyFailure {},
    )
}

/// NOT_FOUND with Temporal's (empty) `NotFoundFailure` detail, which the SDKs look for.
pub fn not_found(message: impl Into<String>) -> Status {
    with_detail(
        Code::NotFound,
        message.into(),
        details::NotFoundFailure::default(),
    )
}

pub fn workflow_not_found(workflow_id: &str, run_id: &str) -> Status {
    if run_id.is_empty() {
        not_found(format!("workflow not found for ID: {workflow_id}"))
    } else {
        not_found(format!(
            "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
        ))
    }
}

pub fn already_completed() -> Status {
    not_found("workflow execution already completed")
}

pub fn update_not_found(update_id: &str) -> Status {
    not_found(format!("update \"{update_id}\" not found"))
}

/// An update that was admitted but never accepted when its run closed.
pub fn update_aborted() -> Status {
    not_found("workflow update was aborted by closing workflow")
}

pub fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message.into())
}

/// The metadata key that marks [`shard_elsewhere`].
const SHARD_ELSEWHERE: &str = "temper-shard-elsewhere";

/// A run whose shard another node of a spread cluster serves (it moved while the call was
/// on its way): `UNAVAILABLE`, which clients retry, and which reaches the new owner.
pub fn shard_elsewhere(shard: i32) -> Status {
    let mut status = Status::unavailable(format!(
        "the run's shard {shard} is served by another node now; retry"
    ));
    status
        .metadata_mut()
        .insert(SHARD_ELSEWHERE, tonic::metadata::MetadataValue::from(shard));
    status
}

/// True for [`shard_elsewhere`]'s answer.
pub fn is_shard_elsewhere(status: &Status) -> bool {
    status.metadata().contains_key(SHARD_ELSEWHERE)
}

/// Storage failures are transient from the client's point of view (it may retry).
pub fn storage(error: StoreError) -> Status {
    match error {
        StoreError::AlreadyExists(what) => Status::already_exists(format!("{what} already exists")),
        StoreError::Conflict(..) => Status::aborted(error.to_string()),
        StoreError::NotFound(_) => Status::not_found(error.to_string()),
        StoreError::InvalidPageToken(message) => Status::invalid_argument(message),
        StoreError::Unstorable(_) => Status::invalid_argument(error.to_string()),
        other => Status::unavailable(other.to_string()),
    }
}

/// A failed operation of `ExecuteMultiOperation`: its status at `failed` among `count`
/// operations, the others aborted, as Temporal reports them.
pub fn multi_operation_failed(failed: usize, count: usize, status: Status) -> Status {
    use details::multi_operation_execution_failure::OperationStatus;
    let inner_details = temporalio_protos::google::rpc::Status::decode(status.details())
        .map(|s| s.details)
        .unwrap_or_default();
    let statuses = (0..count)
        .map(|index| {
            if index == failed {
                OperationStatus {
                    code: status.code() as i32,
                    message: status.message().to_string(),
                    details: inner_details.clone(),
                }
            } else {
                OperationStatus {
                    code: Code::Aborted as i32,
                    message: "Operation was aborted.".into(),
                    details: vec![],
                }
            }
        })
        .collect();
    with_detail(
        status.code(),
        format!(
            "Update-with-Start could not be executed: {}",
            status.message()
        ),
        details::MultiOperationExecutionFailure { statuses },
    )
}

/// The status of an engine refusal, with Temporal's code and message: NOT_FOUND for a task
/// or run that is no longer current, INVALID_ARGUMENT for a request the state does not allow.
pub fn task_error(error: TaskError) -> Status {
    match error {
        TaskError::WorkflowTaskNotCurrent => not_found("Workflow task not found."),
        TaskError::WorkflowTaskAlreadyStarted => not_found("Workflow task already started."),
        TaskError::ActivityNotWaiting => not_found("Activity task not found."),
        TaskError::ActivityInBackoff => not_found("Activity task is waiting for its retry."),
        TaskError::ActivityNotRunning => not_found(crate::tokens::ACTIVITY_NOT_FOUND),
        TaskError::CancelNotRequested => invalid("Activity task was not requested to be canceled."),
        TaskError::RunClosed => not_found("workflow execution already completed"),
        TaskError::NexusTaskNotFound => not_found("Nexus task not found or already expired"),
    }
}

/// The status of a refused workflow-task completion. A refusal that failed the task answers
/// INVALID_ARGUMENT with `"<Cause>: <detail>"`, as Temporal does.
pub fn completion_error(error: CompletionError) -> Status {
    match error {
        CompletionError::Task(error) => task_error(error),
        CompletionError::CommandAfterClose {
            command_types,
            close_index,
        } => invalid(format!(
            "invalid command sequence: [{}], command {close_index} must be the last command.",
            command_types.join(", ")
        )),
        failed @ CompletionError::TaskFailed { .. } => invalid(failed.to_string()),
    }
}

/// The status of a refused reset point, in Temporal's words.
pub fn reset_error(error: ResetError) -> Status {
    match error {
        ResetError::NotAfterWorkflowTask { finish_event_id } => invalid(format!(
            "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: {finish_event_id}"
        )),
        ResetError::PendingChildren => {
            invalid("WorkflowResetter encountered pending child workflows.")
        }
        ResetError::History(error) => invalid(error.to_string()),
    }
}

/// PERMISSION_DENIED with Temporal's `PermissionDeniedFailure` detail.
pub fn permission_denied(message: &str) -> Status {
    with_detail(
        Code::PermissionDenied,
        message.to_string(),
        details::PermissionDeniedFailure::default(),
    )
}

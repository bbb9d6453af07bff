//! The handler side of Nexus: `PollNexusTaskQueue` hands an operation's attempt to a handler
//! worker as a Nexus `StartOperation` request (Temporal failures asked for, the request
//! deadline in `request-timeout`), and `RespondNexusTaskCompleted`/`Failed` turn the
//! handler's answer — in the current form or the deprecated one — into the caller's outcome.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use temper_api::proto::enums::v1::NexusHandlerErrorRetryBehavior;
use temper_api::proto::failure::v1::{
    CanceledFailureInfo, Failure, NexusHandlerFailureInfo, failure::FailureInfo,
};
use temper_api::proto::nexus::v1::{
    self as nexus, CancelOperationRequest, Link, StartOperationRequest, request, response,
    start_operation_response,
};
use temper_api::proto::workflowservice::v1::{
    PollNexusTaskQueueRequest, PollNexusTaskQueueResponse, RespondNexusTaskCompletedRequest,
    RespondNexusTaskFailedRequest,
};
use temper_engine::Execution;
use temper_engine::execution::{HandlerRun, NexusCancelGrant, NexusOutcome, NexusTaskGrant};
use temper_engine::time::ms_timestamp;
use tonic::Status;

use super::Frontend;
use super::polls::polled_queue;
use crate::errors;
use crate::history::{HandedNexusTask, NexusGrant, PolledNexusTask};
use crate::tokens::{NexusCallbackToken, TaskToken, TokenKind};

/// Handler error types a retry cannot fix (the Nexus specification's).
const NON_RETRYABLE_HANDLER_ERRORS: &[&str] = &[
    "BAD_REQUEST",
    "UNAUTHENTICATED",
    "UNAUTHORIZED",
    "NOT_FOUND",
    "CONFLICT",
    "NOT_IMPLEMENTED",
];

impl Frontend {
    pub(super) async fn poll_nexus_task_queue_op(
        &self,
        request: PollNexusTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollNexusTaskQueueResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let queue = polled_queue(request.task_queue.clone())?;
        Ok(self
            .next_nexus_task(&request.namespace, &queue.name, &request.identity, wait)
            .await)
    }

    async fn next_nexus_task(
        &self,
        namespace: &str,
        queue: &str,
        identity: &str,
        wait: Duration,
    ) -> PollNexusTaskQueueResponse {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let polled = self
                .history
                .next_nexus_task(namespace, queue, identity, remaining)
                .await;
            match polled {
                None => return PollNexusTaskQueueResponse::default(),
                Some(PolledNexusTask::Started(handed)) => {
                    return self.nexus_task_response(*handed);
                }
                Some(PolledNexusTask::Remote(task)) => {
                    if let Some(response) = self.start_remote_nexus_task(*task, identity).await {
                        return response;
                    }
                }
            }
        }
    }

    /// The poll response that hands `handed` to a handler.
    pub(super) fn nexus_task_response(
        &self,
        handed: HandedNexusTask,
    ) -> PollNexusTaskQueueResponse {
        let exec = &handed.caller;
        let token = TaskToken {
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            scheduled_event_id: handed.scheduled_event_id,
            attempt: handed.attempt,
            kind: TokenKind::NexusTask as i32,
            cancel: matches!(handed.grant, NexusGrant::Cancel(_)),
            ..Default::default()
        };
        let now_ms = self.history.now_ms();
        let request = match handed.grant {
            NexusGrant::Start(grant) => {
                start_request(exec, handed.scheduled_event_id, grant, now_ms)
            }
            NexusGrant::Cancel(grant) => cancel_request(grant, now_ms),
        };
        PollNexusTaskQueueResponse {
            task_token: token.encode(),
            request: Some(request),
            ..Default::default()
        }
    }

    pub(super) async fn complete_nexus_task(
        &self,
        request: RespondNexusTaskCompletedRequest,
    ) -> Result<(), Status> {
        let token = TaskToken::decode_as(&request.task_token, TokenKind::NexusTask)?;
        if token.cancel {
            return self
                .history
                .complete_nexus_cancel_task(
                    &token.run_id,
                    token.scheduled_event_id,
                    token.attempt,
                    None,
                )
                .await;
        }
        let outcome = completed_outcome(request.response)?;
        self.history
            .complete_nexus_task(
                &token.run_id,
                token.scheduled_event_id,
                token.attempt,
                outcome,
            )
            .await
    }

    pub(super) async fn fail_nexus_task(
        &self,
        request: RespondNexusTaskFailedRequest,
    ) -> Result<(), Status> {
        let token = TaskToken::decode_as(&request.task_token, TokenKind::NexusTask)?;
        #[allow(deprecated)]
        let failure = match (request.failure, request.error) {
            (Some(failure), _) => failure,
            (None, Some(error)) => legacy_handler_failure(error),
            (None, None) => return Err(errors::invalid("Failure is not set on request.")),
        };
        let retryable = handler_error_retryable(&failure);
        if token.cancel {
            let refusal = Some((failure, retryable));
            return self
                .history
                .complete_nexus_cancel_task(
                    &token.run_id,
                    token.scheduled_event_id,
                    token.attempt,
                    refusal,
                )
                .await;
        }
        let outcome = NexusOutcome::HandlerError { failure, retryable };
        self.history
            .complete_nexus_task(
                &token.run_id,
                token.scheduled_event_id,
                token.attempt,
                outcome,
            )
            .await
    }
}

/// The Nexus request a handler receives for one attempt.
fn start_request(
    exec: &Execution,
    scheduled_event_id: i64,
    grant: NexusTaskGrant,
    now_ms: i64,
) -> nexus::Request {
    let header = request_header(grant.header, grant.deadline_ms, now_ms);
    nexus::Request {
        header,
        scheduled_time: ms_timestamp(now_ms),
        capabilities: Some(request::Capabilities {
            temporal_failure_responses: true,
        }),
        endpoint: grant.endpoint,
        variant: Some(request::Variant::StartOperation(StartOperationRequest {
            service: grant.service,
            operation: grant.operation,
            // An asynchronous handler's workflow calls this back when it closes.
            callback: crate::history::SYSTEM_CALLBACK_URL.into(),
            callback_header: [(
                crate::history::CALLBACK_TOKEN_HEADER.to_string(),
                callback_token(exec, scheduled_event_id, &grant.request_id),
            )]
            .into(),
            request_id: grant.request_id,
            payload: grant.input,
            links: vec![caller_link(exec, scheduled_event_id)],
        })),
    }
}

/// The operation's headers plus `request-timeout`: the time the handler has left.
fn request_header(
    header: std::collections::BTreeMap<String, String>,
    deadline_ms: i64,
    now_ms: i64,
) -> std::collections::HashMap<String, String> {
    let mut header: std::collections::HashMap<String, String> = header.into_iter().collect();
    let remaining_ms = (deadline_ms - now_ms).max(0);
    header.insert("request-timeout".into(), format!("{remaining_ms}ms"));
    header
}

/// The Nexus request that asks a handler to cancel a started operation.
fn cancel_request(grant: NexusCancelGrant, now_ms: i64) -> nexus::Request {
    let header = request_header(grant.header, grant.deadline_ms, now_ms);
    #[allow(deprecated)] // `operation_id` is deprecated but still sent, as Temporal does
    let cancel = CancelOperationRequest {
        service: grant.service,
        operation: grant.operation,
        operation_id: grant.operation_token.clone(),
        operation_token: grant.operation_token,
    };
    nexus::Request {
        header,
        scheduled_time: ms_timestamp(now_ms),
        capabilities: Some(request::Capabilities {
            temporal_failure_responses: true,
        }),
        endpoint: grant.endpoint,
        variant: Some(request::Variant::CancelOperation(cancel)),
    }
}

/// The token a handler's workflow returns with its completion: the caller's operation.
fn callback_token(exec: &Execution, scheduled_event_id: i64, request_id: &str) -> String {
    NexusCallbackToken {
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        scheduled_event_id,
        request_id: request_id.to_string(),
    }
    .to_header()
}

/// The link to the caller's `NexusOperationScheduled` event, as Temporal sends it.
fn caller_link(exec: &Execution, scheduled_event_id: i64) -> Link {
    let segment = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    Link {
        url: format!(
            "temporal:///namespaces/{}/workflows/{}/{}/history?eventID={scheduled_event_id}&eventType=NexusOperationScheduled&referenceType=EventReference",
            segment(&exec.namespace),
            segment(&exec.workflow_id),
            segment(&exec.run_id),
        ),
        r#type: "temporal.api.common.v1.Link.WorkflowEvent".into(),
    }
}

/// The workflow run a handler's link names
/// (`temporal:///namespaces/{ns}/workflows/{id}/{run}/history?…`).
fn linked_run(url: &str) -> Option<HandlerRun> {
    let path = url.strip_prefix("temporal:///namespaces/")?;
    let path = path.split('?').next()?;
    let decode = |segment: &str| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [namespace, "workflows", workflow_id, run_id, ..] if !run_id.is_empty() => {
            Some(HandlerRun {
                namespace: decode(namespace)?,
                workflow_id: decode(workflow_id)?,
                run_id: decode(run_id)?,
            })
        }
        _ => None,
    }
}

/// What a completed start means for the operation.
fn completed_outcome(response: Option<nexus::Response>) -> Result<NexusOutcome, Status> {
    let start = match response.and_then(|r| r.variant) {
        Some(response::Variant::StartOperation(start)) => start,
        Some(response::Variant::CancelOperation(_)) => {
            return Err(errors::not_found("Nexus task not found or already expired"));
        }
        None => return Err(errors::invalid("Response is not set on request.")),
    };
    use start_operation_response::Variant;
    #[allow(deprecated)]
    Ok(match start.variant {
        Some(Variant::SyncSuccess(sync)) => NexusOutcome::Succeeded(sync.payload),
        Some(Variant::AsyncSuccess(started)) => NexusOutcome::Started {
            handler: started.links.iter().find_map(|l| linked_run(&l.url)),
            token: if started.operation_token.is_empty() {
                started.operation_id
            } else {
                started.operation_token
            },
        },
        Some(Variant::Failure(failure)) => {
            if matches!(
                failure.failure_info,
                Some(FailureInfo::CanceledFailureInfo(_))
            ) {
                NexusOutcome::Canceled(failure)
            } else {
                NexusOutcome::Failed(failure)
            }
        }
        Some(Variant::OperationError(error)) => {
            let failure = from_nexus_failure(error.failure.unwrap_or_default());
            if error.operation_state == "canceled" {
                NexusOutcome::Canceled(Failure {
                    failure_info: Some(FailureInfo::CanceledFailureInfo(
                        CanceledFailureInfo::default(),
                    )),
                    ..failure
                })
            } else {
                NexusOutcome::Failed(failure)
            }
        }
        None => return Err(errors::invalid("Response is not set on request.")),
    })
}

/// Whether the caller should try again after a handler error: the handler's say first,
/// else what the Nexus specification says of its type.
fn handler_error_retryable(failure: &Failure) -> bool {
    let Some(FailureInfo::NexusHandlerFailureInfo(info)) = &failure.failure_info else {
        return true;
    };
    match NexusHandlerErrorRetryBehavior::try_from(info.retry_behavior) {
        Ok(NexusHandlerErrorRetryBehavior::Retryable) => true,
        Ok(NexusHandlerErrorRetryBehavior::NonRetryable) => false,
        _ => !NON_RETRYABLE_HANDLER_ERRORS.contains(&info.r#type.as_str()),
    }
}

/// A handler error in the deprecated form, as a Temporal failure.
#[allow(deprecated)]
fn legacy_handler_failure(error: nexus::HandlerError) -> Failure {
    Failure {
        failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
            NexusHandlerFailureInfo {
                r#type: error.error_type,
                retry_behavior: error.retry_behavior,
            },
        )),
        ..from_nexus_failure(error.failure.unwrap_or_default())
    }
}

/// A Nexus failure's message as a Temporal failure (its details are the handler's own).
fn from_nexus_failure(failure: nexus::Failure) -> Failure {
    Failure {
        message: failure.message,
        ..Default::default()
    }
}

//! Nexus operations, as Temporal's `nexusoperations` component runs them: the schedule
//! command (its endpoint must be registered; the server passes the registry's answer in),
//! attempts handed to a handler worker, and what the handler answers — a result
//! (`NexusOperationCompleted`), an asynchronous start (`NexusOperationStarted`), an operation
//! that failed or was canceled, or a handler error that is retried with backoff or is final —
//! and the schedule-to-close timeout. Every outcome the caller sees wraps the handler's
//! failure as the cause of Temporal's "nexus operation completed unsuccessfully".

use std::collections::BTreeMap;

use super::commands::CommandContext;
use super::errors::TaskError;
use super::{ReadyTask, Transition};
use crate::state::NexusOperationInfo;
use crate::time::{duration_ms, ms_duration};
use temper_api::proto::command::v1::ScheduleNexusOperationCommandAttributes;
use temper_api::proto::common::v1::{Link, Payload, link};
use temper_api::proto::enums::v1::{EventType, TimeoutType, WorkflowTaskFailedCause};
use temper_api::proto::failure::v1::{
    ApplicationFailureInfo, CanceledFailureInfo, Failure, NexusOperationFailureInfo,
    TimeoutFailureInfo, failure::FailureInfo,
};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

/// How long a handler has to answer one attempt (Temporal's default request timeout).
const REQUEST_TIMEOUT_MS: i64 = 10_000;
/// Retry backoff: one second, doubling, at most an hour. (Temporal also jitters it by up to
/// 20 %; the engine is deterministic, so it does not.)
const FIRST_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// Most operations a run may have pending at once (Temporal's default).
const MAX_PENDING: usize = 30;
/// Longest service or operation name.
const MAX_NAME_BYTES: usize = 1000;

/// An endpoint a schedule command may name: the registry's id for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexusEndpointRef {
    pub id: String,
}

/// What a handler worker is given for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct NexusTaskGrant {
    pub endpoint: String,
    pub service: String,
    pub operation: String,
    pub input: Option<Payload>,
    pub header: BTreeMap<String, String>,
    pub request_id: String,
    pub scheduled_time_ms: i64,
    /// When the attempt times out (the handler's request deadline).
    pub deadline_ms: i64,
}

/// The workflow run that backs an asynchronous operation (the handler's link to it).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerRun {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
}

/// What the handler answered for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NexusOutcome {
    /// The operation finished within the call.
    Succeeded(Option<Payload>),
    /// The operation continues asynchronously under this token, backed by this run when the
    /// handler linked one.
    Started {
        token: String,
        handler: Option<HandlerRun>,
    },
    /// The operation failed (`application_failure_info`) or was canceled
    /// (`canceled_failure_info`); the failure is the handler's.
    Failed(Failure),
    Canceled(Failure),
    /// The handler could not process the request: retried when `retryable`.
    HandlerError {
        failure: Failure,
        retryable: bool,
    },
}

impl Transition<'_> {
    /// Declares the registered endpoints the completion's schedule commands name.
    pub fn set_nexus_endpoints(&mut self, endpoints: BTreeMap<String, NexusEndpointRef>) {
        self.nexus_endpoints = endpoints;
    }

    /// Checks a `ScheduleNexusOperation` command with Temporal's messages.
    pub(super) fn validate_schedule_nexus(
        &self,
        a: &ScheduleNexusOperationCommandAttributes,
        scheduled_in_completion: &mut usize,
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        let bad = |message: String| {
            Err((
                WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes,
                message,
            ))
        };
        if !self.nexus_endpoints.contains_key(&a.endpoint) {
            return bad(format!("endpoint \"{}\" not found", a.endpoint));
        }
        for (field, value) in [("Service", &a.service), ("Operation", &a.operation)] {
            if value.len() > MAX_NAME_BYTES {
                return bad(format!(
                    "ScheduleNexusOperationCommandAttributes.{field} exceeds length limit of {MAX_NAME_BYTES}"
                ));
            }
        }
        *scheduled_in_completion += 1;
        if self.exec.nexus_operations.len() + *scheduled_in_completion > MAX_PENDING {
            return Err((
                WorkflowTaskFailedCause::PendingNexusOperationsLimitExceeded,
                format!(
                    "workflow has reached the pending nexus operation limit of {MAX_PENDING} for this namespace"
                ),
            ));
        }
        Ok(())
    }

    /// Writes `NexusOperationScheduled` and offers the first attempt. Needs no workflow task.
    pub(super) fn schedule_nexus_operation(
        &mut self,
        a: &ScheduleNexusOperationCommandAttributes,
        context: &CommandContext,
    ) -> bool {
        let endpoint_id = self
            .nexus_endpoints
            .get(&a.endpoint)
            .map(|e| e.id.clone())
            .unwrap_or_default();
        debug_assert!(!endpoint_id.is_empty(), "validation found the endpoint");
        let request_id = self.next_run_id().unwrap_or_default();
        let run_timeout = self.exec.run_timeout_ms;
        let mut schedule_to_close = duration_ms(a.schedule_to_close_timeout.as_ref());
        if run_timeout > 0 && (schedule_to_close == 0 || schedule_to_close > run_timeout) {
            schedule_to_close = run_timeout;
        }
        // The other two never outlast schedule-to-close.
        let capped = |timeout: Option<&prost_wkt_types::Duration>| {
            let ms = duration_ms(timeout);
            if schedule_to_close > 0 && ms > schedule_to_close {
                schedule_to_close
            } else {
                ms
            }
        };
        let schedule_to_start = capped(a.schedule_to_start_timeout.as_ref());
        let start_to_close = capped(a.start_to_close_timeout.as_ref());
        let header = a
            .nexus_header
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        let attributes = history::NexusOperationScheduledEventAttributes {
            endpoint: a.endpoint.clone(),
            service: a.service.clone(),
            operation: a.operation.clone(),
            input: a.input.clone(),
            schedule_to_close_timeout: ms_duration(schedule_to_close),
            schedule_to_start_timeout: ms_duration(schedule_to_start),
            start_to_close_timeout: ms_duration(start_to_close),
            nexus_header: header,
            workflow_task_completed_event_id: context.completed_id,
            request_id,
            endpoint_id: endpoint_id.clone(),
        };
        let scheduled_event_id = self.append_for(
            context,
            Attributes::NexusOperationScheduledEventAttributes(attributes),
        );
        self.tasks.push(ReadyTask::Nexus {
            endpoint_id,
            scheduled_event_id,
            attempt: 1,
        });
        false
    }

    /// Hands an attempt to a handler worker. No event is written.
    pub fn start_nexus_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<NexusTaskGrant, TaskError> {
        let now = self.now;
        let running = self.exec.is_running();
        let Some(op) = self
            .exec
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .filter(|op| running && op.attempt == attempt && waits_for_handler(op))
        else {
            return Err(TaskError::NexusTaskNotFound);
        };
        let mut deadline = now + REQUEST_TIMEOUT_MS;
        for (at, _) in timeout_deadlines(op) {
            deadline = deadline.min(at);
        }
        op.dispatched_time_ms = now;
        op.dispatch_deadline_ms = deadline;
        Ok(NexusTaskGrant {
            endpoint: op.endpoint.clone(),
            service: op.service.clone(),
            operation: op.operation.clone(),
            input: op.input.clone(),
            header: op.header.clone(),
            request_id: op.request_id.clone(),
            scheduled_time_ms: op.scheduled_time_ms,
            deadline_ms: deadline,
        })
    }

    /// Records what the handler answered for an attempt in flight.
    pub fn complete_nexus_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        outcome: NexusOutcome,
    ) -> Result<(), TaskError> {
        let running = self.exec.is_running();
        let op = self
            .exec
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|op| running && op.attempt == attempt && op.dispatched_time_ms > 0)
            .cloned()
            .ok_or(TaskError::NexusTaskNotFound)?;
        let close = match outcome {
            NexusOutcome::HandlerError {
                failure,
                retryable: true,
            } => {
                self.retry_nexus_attempt(scheduled_event_id, failure);
                return Ok(());
            }
            NexusOutcome::Started { token, handler } => {
                self.write_nexus_started(&op, token, handler);
                return Ok(());
            }
            NexusOutcome::Succeeded(result) => NexusClose::Completed(result),
            NexusOutcome::Failed(cause) | NexusOutcome::HandlerError { failure: cause, .. } => {
                NexusClose::Failed(cause)
            }
            NexusOutcome::Canceled(cause) => NexusClose::Canceled(cause),
        };
        self.close_nexus_operation(&op, close);
        Ok(())
    }

    /// The run backing an asynchronous operation closed (`close` ends its chain): the
    /// operation ends as the run did. A callback may come before the handler's start
    /// response: the operation is then marked started first, with the callback's token and
    /// the closed run's link, as Temporal does.
    pub fn nexus_handler_closed(
        &mut self,
        scheduled_event_id: i64,
        request_id: &str,
        started: Option<(String, HandlerRun)>,
        close: &HistoryEvent,
    ) -> Result<(), TaskError> {
        let running = self.exec.is_running();
        let mut op = self
            .exec
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|op| running && (request_id.is_empty() || op.request_id == request_id))
            .cloned()
            .ok_or(TaskError::NexusTaskNotFound)?;
        let Some(ending) = handler_close(close) else {
            return Ok(()); // the chain goes on in a new run
        };
        if op.operation_token.is_empty() {
            let Some((token, handler)) = started else {
                return Err(TaskError::NexusTaskNotFound);
            };
            self.write_nexus_started(&op, token, Some(handler));
            if let Some(now_started) = self.exec.nexus_operations.get(&scheduled_event_id) {
                op = now_started.clone();
            }
        }
        self.close_nexus_operation(&op, ending);
        Ok(())
    }

    /// Writes `NexusOperationStarted`, linking the run that backs the operation.
    fn write_nexus_started(
        &mut self,
        op: &NexusOperationInfo,
        token: String,
        handler: Option<HandlerRun>,
    ) {
        let attributes = Attributes::NexusOperationStartedEventAttributes(
            history::NexusOperationStartedEventAttributes {
                scheduled_event_id: op.scheduled_event_id,
                #[allow(deprecated)]
                operation_id: token.clone(),
                operation_token: token,
                request_id: op.request_id.clone(),
            },
        );
        let mut event = self.new_event(attributes, self.now);
        event.links = handler.map(handler_link).into_iter().collect();
        self.append_or_buffer(event);
        self.schedule_workflow_task();
        // A cancel asked for before the start goes out now.
        self.offer_nexus_cancel(op.scheduled_event_id);
    }

    /// Writes the event that ends an operation and wakes the workflow.
    fn close_nexus_operation(&mut self, op: &NexusOperationInfo, close: NexusClose) {
        let scheduled_event_id = op.scheduled_event_id;
        let request_id = op.request_id.clone();
        let wrapped = |cause| Some(unsuccessful(op, scheduled_event_id, cause));
        let attributes = match close {
            NexusClose::Completed(result) => Attributes::NexusOperationCompletedEventAttributes(
                history::NexusOperationCompletedEventAttributes {
                    scheduled_event_id,
                    result,
                    request_id,
                },
            ),
            NexusClose::Failed(cause) => Attributes::NexusOperationFailedEventAttributes(
                history::NexusOperationFailedEventAttributes {
                    scheduled_event_id,
                    failure: wrapped(cause),
                    request_id,
                },
            ),
            NexusClose::Canceled(cause) => Attributes::NexusOperationCanceledEventAttributes(
                history::NexusOperationCanceledEventAttributes {
                    scheduled_event_id,
                    failure: wrapped(cause),
                    request_id,
                },
            ),
            NexusClose::TimedOut(cause) => Attributes::NexusOperationTimedOutEventAttributes(
                history::NexusOperationTimedOutEventAttributes {
                    scheduled_event_id,
                    failure: wrapped(cause),
                    request_id,
                },
            ),
        };
        let event = self.new_event(attributes, self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    /// An attempt failed in a way worth retrying: the next one waits out its backoff.
    fn retry_nexus_attempt(&mut self, scheduled_event_id: i64, failure: Failure) {
        let now = self.now;
        let Some(op) = self.exec.nexus_operations.get_mut(&scheduled_event_id) else {
            return;
        };
        let backoff = backoff_after(op.attempt);
        op.attempt += 1;
        op.dispatched_time_ms = 0;
        op.dispatch_deadline_ms = 0;
        op.last_attempt_failure = Some(failure);
        op.last_attempt_complete_time_ms = now;
        op.retry_ready_time_ms = now + backoff;
    }

    /// Time-driven work for one operation: its schedule-to-close timeout, an attempt the
    /// handler did not answer in time, the end of a retry backoff, and the same for its
    /// cancel request.
    pub(super) fn nexus_on_time(&mut self, scheduled_event_id: i64) {
        self.nexus_cancel_on_time(scheduled_event_id);
        let now = self.now;
        let Some(op) = self.exec.nexus_operations.get(&scheduled_event_id).cloned() else {
            return;
        };
        if let Some(timeout) = passed_timeout(&op, now) {
            self.time_out_nexus_operation(&op, timeout);
        } else if op.dispatched_time_ms > 0 && op.dispatch_deadline_ms <= now {
            let failure = Failure {
                message: "upstream timeout".into(),
                failure_info: Some(FailureInfo::ApplicationFailureInfo(
                    ApplicationFailureInfo {
                        r#type: "CallError".into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            };
            self.retry_nexus_attempt(scheduled_event_id, failure);
        } else if op.retry_ready_time_ms > 0 && op.retry_ready_time_ms <= now {
            // The backoff is over: the next attempt waits for a handler.
            if let Some(op) = self.exec.nexus_operations.get_mut(&scheduled_event_id) {
                op.retry_ready_time_ms = 0;
            }
            self.tasks.push(ReadyTask::Nexus {
                endpoint_id: op.endpoint_id.clone(),
                scheduled_event_id,
                attempt: op.attempt,
            });
        }
    }

    fn time_out_nexus_operation(&mut self, op: &NexusOperationInfo, timeout: TimeoutType) {
        let cause = Failure {
            message: "operation timed out".into(),
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: timeout as i32,
                last_heartbeat_details: None,
            })),
            ..Default::default()
        };
        self.close_nexus_operation(op, NexusClose::TimedOut(cause));
    }
}

/// How an operation ends.
enum NexusClose {
    Completed(Option<Payload>),
    Failed(Failure),
    Canceled(Failure),
    TimedOut(Failure),
}

/// How an operation ends when the run backing it ended with `close` (None: the run chained
/// to a new one), in Temporal's words.
fn handler_close(close: &HistoryEvent) -> Option<NexusClose> {
    let failure = |message: &str, info: FailureInfo| Failure {
        message: message.into(),
        failure_info: Some(info),
        ..Default::default()
    };
    Some(match close.attributes.as_ref()? {
        Attributes::WorkflowExecutionCompletedEventAttributes(a) => {
            NexusClose::Completed(a.result.as_ref().and_then(|r| r.payloads.first().cloned()))
        }
        Attributes::WorkflowExecutionFailedEventAttributes(a) => {
            NexusClose::Failed(a.failure.clone().unwrap_or_default())
        }
        Attributes::WorkflowExecutionCanceledEventAttributes(a) => NexusClose::Canceled(failure(
            "operation canceled",
            FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                details: a.details.clone(),
                ..Default::default()
            }),
        )),
        Attributes::WorkflowExecutionTerminatedEventAttributes(_) => NexusClose::Failed(failure(
            "operation terminated",
            FailureInfo::TerminatedFailureInfo(Default::default()),
        )),
        Attributes::WorkflowExecutionTimedOutEventAttributes(_) => NexusClose::Failed(failure(
            "operation exceeded internal timeout",
            FailureInfo::TimeoutFailureInfo(Default::default()),
        )),
        _ => return None,
    })
}

/// The link a `NexusOperationStarted` event carries to the run backing the operation.
fn handler_link(handler: HandlerRun) -> Link {
    Link {
        variant: Some(link::Variant::WorkflowEvent(link::WorkflowEvent {
            namespace: handler.namespace,
            workflow_id: handler.workflow_id,
            run_id: handler.run_id,
            reference: Some(link::workflow_event::Reference::EventRef(
                link::workflow_event::EventReference {
                    event_id: 1,
                    event_type: EventType::WorkflowExecutionStarted as i32,
                },
            )),
        })),
    }
}

/// The run a `NexusOperationStarted` event links, if any.
pub(super) fn linked_handler_run(event: &HistoryEvent) -> Option<HandlerRun> {
    event.links.iter().find_map(|l| match &l.variant {
        Some(link::Variant::WorkflowEvent(w)) => Some(HandlerRun {
            namespace: w.namespace.clone(),
            workflow_id: w.workflow_id.clone(),
            run_id: w.run_id.clone(),
        }),
        _ => None,
    })
}

/// The wait before the attempt after `attempt` (start or cancel alike): 1 s, doubling.
fn backoff_after(attempt: i32) -> i64 {
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << (attempt - 1).clamp(0, 30))
        .min(MAX_BACKOFF_MS)
}

/// Whether an operation waits for a handler to take its current attempt.
pub(super) fn waits_for_handler(op: &NexusOperationInfo) -> bool {
    op.operation_token.is_empty() && op.dispatched_time_ms == 0 && op.retry_ready_time_ms == 0
}

/// The operation's timeouts that apply now, as (instant, kind).
fn timeout_deadlines(op: &NexusOperationInfo) -> Vec<(i64, TimeoutType)> {
    let mut deadlines = Vec::new();
    if op.schedule_to_close_timeout_ms > 0 {
        let at = op.scheduled_time_ms + op.schedule_to_close_timeout_ms;
        deadlines.push((at, TimeoutType::ScheduleToClose));
    }
    if op.started_time_ms == 0 && op.schedule_to_start_timeout_ms > 0 {
        let at = op.scheduled_time_ms + op.schedule_to_start_timeout_ms;
        deadlines.push((at, TimeoutType::ScheduleToStart));
    }
    if op.started_time_ms > 0 && op.start_to_close_timeout_ms > 0 {
        let at = op.started_time_ms + op.start_to_close_timeout_ms;
        deadlines.push((at, TimeoutType::StartToClose));
    }
    deadlines
}

/// The timeout that has passed, if any (the earliest).
fn passed_timeout(op: &NexusOperationInfo, now: i64) -> Option<TimeoutType> {
    timeout_deadlines(op)
        .into_iter()
        .filter(|(at, _)| *at <= now)
        .min_by_key(|(at, _)| *at)
        .map(|(_, kind)| kind)
}

/// The instants at which an operation has time-driven work.
pub(super) fn nexus_deadlines(op: &NexusOperationInfo) -> Vec<i64> {
    let timeouts = timeout_deadlines(op).into_iter().map(|(at, _)| at);
    timeouts
        .chain([
            op.dispatch_deadline_ms,
            op.retry_ready_time_ms,
            op.cancel_dispatch_deadline_ms,
            op.cancel_retry_ready_time_ms,
        ])
        .collect()
}

/// Temporal's failure for an operation that did not succeed: the handler's failure (or the
/// timeout) as the cause, the operation named in `nexus_operation_execution_failure_info`.
fn unsuccessful(op: &NexusOperationInfo, scheduled_event_id: i64, cause: Failure) -> Failure {
    #[allow(deprecated)]
    let info = NexusOperationFailureInfo {
        scheduled_event_id,
        endpoint: op.endpoint.clone(),
        service: op.service.clone(),
        operation: op.operation.clone(),
        operation_id: op.operation_token.clone(),
        operation_token: op.operation_token.clone(),
    };
    Failure {
        message: "nexus operation completed unsuccessfully".into(),
        failure_info: Some(FailureInfo::NexusOperationExecutionFailureInfo(info)),
        cause: Some(Box::new(cause)),
        ..Default::default()
    }
}

/// Whether a started operation's cancel request waits for a handler to take it.
pub(super) fn cancel_waits_for_handler(op: &NexusOperationInfo) -> bool {
    !op.operation_token.is_empty()
        && op.cancel_requested_event_id > 0
        && !op.cancel_answered
        && op.cancel_dispatch_deadline_ms == 0
        && op.cancel_retry_ready_time_ms == 0
}

/// What a handler worker is given to cancel a started operation.
#[derive(Debug, Clone, PartialEq)]
pub struct NexusCancelGrant {
    pub endpoint: String,
    pub service: String,
    pub operation: String,
    pub operation_token: String,
    pub header: BTreeMap<String, String>,
    pub deadline_ms: i64,
}

impl Transition<'_> {
    /// Checks a `RequestCancelNexusOperation` command with Temporal's messages. An operation
    /// whose end is buffered (it ended while the task ran) may still be asked.
    pub(super) fn validate_cancel_nexus(
        &self,
        scheduled_event_id: i64,
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        let bad = |message: String| {
            Err((
                WorkflowTaskFailedCause::BadRequestCancelNexusOperationAttributes,
                message,
            ))
        };
        match self.exec.nexus_operations.get(&scheduled_event_id) {
            Some(op) if op.cancel_requested_event_id > 0 => bad(format!(
                "cancelation was already requested for an operation with scheduled event ID {scheduled_event_id}"
            )),
            Some(_) => Ok(()),
            None if self.nexus_end_is_buffered(scheduled_event_id) => Ok(()),
            None => bad(format!(
                "requested cancelation for a non-existing or already completed operation with scheduled event ID of {scheduled_event_id}"
            )),
        }
    }

    fn nexus_end_is_buffered(&self, scheduled_event_id: i64) -> bool {
        self.exec.buffered_events.iter().any(|event| {
            let id = match &event.attributes {
                Some(Attributes::NexusOperationCompletedEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationFailedEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationCanceledEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationTimedOutEventAttributes(a)) => a.scheduled_event_id,
                _ => 0,
            };
            id == scheduled_event_id
        })
    }

    /// Writes `NexusOperationCancelRequested` (no workflow task) and, once the operation has
    /// started, offers the cancel request to its handler.
    pub(super) fn request_cancel_nexus_operation(
        &mut self,
        scheduled_event_id: i64,
        context: &CommandContext,
    ) -> bool {
        let attributes = Attributes::NexusOperationCancelRequestedEventAttributes(
            history::NexusOperationCancelRequestedEventAttributes {
                scheduled_event_id,
                workflow_task_completed_event_id: context.completed_id,
            },
        );
        self.append_for(context, attributes);
        self.offer_nexus_cancel(scheduled_event_id);
        false
    }

    /// Queues the cancel request of an operation if it waits for a handler.
    fn offer_nexus_cancel(&mut self, scheduled_event_id: i64) {
        if let Some(op) = self
            .exec
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|op| cancel_waits_for_handler(op))
        {
            self.tasks.push(ReadyTask::NexusCancel {
                endpoint_id: op.endpoint_id.clone(),
                scheduled_event_id,
                attempt: op.cancel_attempt,
            });
        }
    }

    /// Hands a cancel request to a handler worker. No event is written.
    pub fn start_nexus_cancel_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<NexusCancelGrant, TaskError> {
        let now = self.now;
        let running = self.exec.is_running();
        let Some(op) = self
            .exec
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .filter(|op| running && op.cancel_attempt == attempt && cancel_waits_for_handler(op))
        else {
            return Err(TaskError::NexusTaskNotFound);
        };
        op.cancel_dispatch_deadline_ms = now + REQUEST_TIMEOUT_MS;
        Ok(NexusCancelGrant {
            endpoint: op.endpoint.clone(),
            service: op.service.clone(),
            operation: op.operation.clone(),
            operation_token: op.operation_token.clone(),
            header: op.header.clone(),
            deadline_ms: op.cancel_dispatch_deadline_ms,
        })
    }

    /// Records the handler's answer to a cancel request: done, refused for good, or to be
    /// retried. The operation itself ends when its run does.
    pub fn complete_nexus_cancel_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        refusal: Option<(Failure, bool)>,
    ) -> Result<(), TaskError> {
        let running = self.exec.is_running();
        let op = self
            .exec
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|op| {
                running && op.cancel_attempt == attempt && op.cancel_dispatch_deadline_ms > 0
            })
            .cloned()
            .ok_or(TaskError::NexusTaskNotFound)?;
        let attributes = match refusal {
            Some((failure, true)) => {
                self.retry_nexus_cancel(scheduled_event_id, Some(failure));
                return Ok(());
            }
            None => Attributes::NexusOperationCancelRequestCompletedEventAttributes(
                history::NexusOperationCancelRequestCompletedEventAttributes {
                    requested_event_id: op.cancel_requested_event_id,
                    scheduled_event_id,
                    ..Default::default()
                },
            ),
            Some((failure, false)) => Attributes::NexusOperationCancelRequestFailedEventAttributes(
                history::NexusOperationCancelRequestFailedEventAttributes {
                    requested_event_id: op.cancel_requested_event_id,
                    failure: Some(failure),
                    scheduled_event_id,
                    ..Default::default()
                },
            ),
        };
        let mut event = self.new_event(attributes, self.now);
        // Workers that do not know these events may skip them (Temporal marks them so).
        event.worker_may_ignore = true;
        self.append_or_buffer(event);
        self.schedule_workflow_task();
        Ok(())
    }

    /// A cancel attempt failed or went unanswered: the next waits out its backoff.
    fn retry_nexus_cancel(&mut self, scheduled_event_id: i64, failure: Option<Failure>) {
        let now = self.now;
        if let Some(op) = self.exec.nexus_operations.get_mut(&scheduled_event_id) {
            let backoff = backoff_after(op.cancel_attempt);
            op.cancel_attempt += 1;
            op.cancel_dispatch_deadline_ms = 0;
            op.cancel_retry_ready_time_ms = now + backoff;
            if failure.is_some() {
                op.last_attempt_failure = failure;
            }
        }
    }

    /// Time-driven work of a cancel request: an unanswered attempt, the end of a backoff.
    fn nexus_cancel_on_time(&mut self, scheduled_event_id: i64) {
        let now = self.now;
        let Some(op) = self.exec.nexus_operations.get(&scheduled_event_id).cloned() else {
            return;
        };
        if op.cancel_dispatch_deadline_ms > 0 && op.cancel_dispatch_deadline_ms <= now {
            self.retry_nexus_cancel(scheduled_event_id, None);
        } else if op.cancel_retry_ready_time_ms > 0 && op.cancel_retry_ready_time_ms <= now {
            if let Some(op) = self.exec.nexus_operations.get_mut(&scheduled_event_id) {
                op.cancel_retry_ready_time_ms = 0;
            }
            self.offer_nexus_cancel(scheduled_event_id);
        }
    }
}

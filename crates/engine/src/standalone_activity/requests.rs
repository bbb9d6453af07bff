//! What a client asks of a running standalone activity: cancellation (cooperative: the
//! worker learns of it on its next heartbeat) and termination (immediate).

use temper_api::proto::common::v1::{Payload, Payloads};
use temper_api::proto::enums::v1::{ActivityExecutionStatus, RetryState};
use temper_api::proto::failure::v1::{Failure, TerminatedFailureInfo, failure::FailureInfo};

use super::attempts::canceled_failure;
use super::{ActivityRun, OutcomeValue};

/// One JSON string payload (what the SDKs' default converter writes for a string).
fn json_payloads(text: &str) -> Payloads {
    let data = serde_json::to_vec(text).unwrap_or_default();
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data,
            ..Default::default()
        }],
    }
}

/// Why a client's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The run already closed with this status.
    #[error("activity is in terminal state {0:?}")]
    Closed(ActivityExecutionStatus),
    /// Termination of a run that closed otherwise (with this status).
    #[error("invalid transition from {0:?}")]
    InvalidTransition(ActivityExecutionStatus),
    /// The run was already terminated by another request (this one).
    #[error("already terminated with request ID {0}")]
    AlreadyTerminated(String),
    /// A cancellation with another request id (this one) is already recorded.
    #[error("cancellation already requested with request ID {0}")]
    CancelAlreadyRequested(String),
}

impl ActivityRun {
    /// Records a cancellation request. A run with no attempt running is canceled at once;
    /// a running attempt is told on its next heartbeat. A repeated request id is a no-op.
    pub fn request_cancel(
        &mut self,
        request_id: &str,
        reason: &str,
        identity: &str,
        now: i64,
    ) -> Result<(), RequestError> {
        if !self.is_running() {
            return match self.status() {
                ActivityExecutionStatus::Canceled
                    if !request_id.is_empty() && self.cancel_request_id == request_id =>
                {
                    Ok(())
                }
                _ => Err(RequestError::Closed(self.status())),
            };
        }
        if self.activity().cancel_requested {
            return match self.cancel_request_id == request_id {
                true => Ok(()),
                false => Err(RequestError::CancelAlreadyRequested(
                    self.cancel_request_id.clone(),
                )),
            };
        }
        self.cancel_request_id = request_id.to_string();
        self.canceled_reason = reason.to_string();
        self.cancel_identity = identity.to_string();
        self.activity_mut().cancel_requested = true;
        if self.activity().started_time_ms == 0 {
            // No worker to report details: the reason is the detail, as Temporal records it.
            let failure = canceled_failure(Some(json_payloads(reason)), identity);
            self.close(
                ActivityExecutionStatus::Canceled,
                OutcomeValue::Failure(failure),
                RetryState::CancelRequested,
                now,
            );
        }
        self.transitioned();
        Ok(())
    }

    /// Terminates the run: it closes now; a running attempt's answers are refused.
    pub fn terminate(
        &mut self,
        request_id: &str,
        reason: &str,
        identity: &str,
        now: i64,
    ) -> Result<(), RequestError> {
        if !self.is_running() {
            return match self.status() {
                ActivityExecutionStatus::Terminated if self.terminate_request_id == request_id => {
                    Ok(())
                }
                ActivityExecutionStatus::Terminated => Err(RequestError::AlreadyTerminated(
                    self.terminate_request_id.clone(),
                )),
                status => Err(RequestError::InvalidTransition(status)),
            };
        }
        self.terminate_request_id = request_id.to_string();
        let failure = Failure {
            message: reason.to_string(),
            source: String::new(),
            failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
                identity: identity.to_string(),
            })),
            ..Default::default()
        };
        self.close(
            ActivityExecutionStatus::Terminated,
            OutcomeValue::Failure(failure),
            RetryState::Unspecified,
            now,
        );
        self.transitioned();
        Ok(())
    }
}

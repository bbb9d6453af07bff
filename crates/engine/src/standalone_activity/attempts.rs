//! Attempts of a standalone activity: handing one to a worker, what the worker reports
//! (heartbeat, result, failure, cancellation) and the timeouts, with the retry rules workflow
//! activities follow.

use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::{ActivityExecutionStatus, RetryState, TimeoutType};
use temper_api::proto::failure::v1::{CanceledFailureInfo, Failure, failure::FailureInfo};

use super::{ActivityRun, Effects, OutcomeValue};
use crate::execution::{HeartbeatAnswer, activity_deadlines, retried_failure, timeout_failure};
use crate::retry::{self, RetryDecision};
use crate::state::ActivityInfo;

/// Why a worker's request on an attempt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// The attempt is not waiting for a worker (taken, superseded, in backoff, or closed).
    #[error("no attempt of the activity is waiting for a worker")]
    NotWaiting,
    /// The attempt the token names is not running (timed out, superseded, closed).
    #[error("the activity attempt is not running")]
    NotRunning,
    /// The worker reported a cancellation nobody requested.
    #[error("the activity was not asked to cancel")]
    CancelNotRequested,
}

impl ActivityRun {
    /// Hands attempt `attempt` to a worker.
    pub fn grant(
        &mut self,
        attempt: i32,
        identity: &str,
        request_id: &str,
        now: i64,
    ) -> Result<ActivityInfo, AttemptError> {
        if self.dispatchable_attempt() != Some(attempt) {
            return Err(AttemptError::NotWaiting);
        }
        let activity = self.activity_mut();
        activity.started_time_ms = now;
        activity.started_identity = identity.to_string();
        activity.started_request_id = request_id.to_string();
        activity.last_worker_identity = identity.to_string();
        activity.last_heartbeat_time_ms = 0;
        let granted = activity.clone();
        self.transitioned();
        Ok(granted)
    }

    fn running_attempt(&self, attempt: i32) -> Result<(), AttemptError> {
        let activity = self.activity();
        let running =
            self.is_running() && activity.attempt == attempt && activity.started_time_ms > 0;
        running.then_some(()).ok_or(AttemptError::NotRunning)
    }

    pub fn heartbeat(
        &mut self,
        attempt: i32,
        details: Option<Payloads>,
        now: i64,
    ) -> Result<HeartbeatAnswer, AttemptError> {
        self.running_attempt(attempt)?;
        self.total_heartbeat_count += 1;
        let activity = self.activity_mut();
        activity.last_heartbeat_time_ms = now;
        if details.is_some() {
            activity.heartbeat_details = details;
        }
        Ok(HeartbeatAnswer {
            cancel_requested: activity.cancel_requested,
            paused: activity.paused,
            reset: activity.reset_requested,
        })
    }

    pub fn complete(
        &mut self,
        attempt: i32,
        result: Option<Payloads>,
        identity: &str,
        now: i64,
    ) -> Result<(), AttemptError> {
        self.running_attempt(attempt)?;
        let activity = self.activity_mut();
        activity.last_worker_identity = identity.to_string();
        activity.last_attempt_complete_time_ms = now;
        self.close(
            ActivityExecutionStatus::Completed,
            OutcomeValue::Result(result.unwrap_or_default()),
            RetryState::Unspecified,
            now,
        );
        self.transitioned();
        Ok(())
    }

    /// A worker reported a failed attempt: retried per policy, or the run fails.
    pub fn fail(
        &mut self,
        attempt: i32,
        failure: Option<Failure>,
        details: Option<Payloads>,
        identity: &str,
        now: i64,
    ) -> Result<Effects, AttemptError> {
        self.running_attempt(attempt)?;
        let activity = self.activity_mut();
        activity.last_worker_identity = identity.to_string();
        if details.is_some() {
            activity.heartbeat_details = details;
        }
        let effects = self.end_attempt(failure.unwrap_or_default(), None, now);
        self.transitioned();
        Ok(effects)
    }

    /// The worker acknowledged a cancellation request: the run is canceled.
    pub fn canceled(
        &mut self,
        attempt: i32,
        details: Option<Payloads>,
        identity: &str,
        now: i64,
    ) -> Result<(), AttemptError> {
        self.running_attempt(attempt)?;
        if !self.activity().cancel_requested {
            return Err(AttemptError::CancelNotRequested);
        }
        let activity = self.activity_mut();
        activity.last_worker_identity = identity.to_string();
        activity.last_attempt_complete_time_ms = now;
        let failure = canceled_failure(details, &self.cancel_identity);
        self.close(
            ActivityExecutionStatus::Canceled,
            OutcomeValue::Failure(failure),
            RetryState::CancelRequested,
            now,
        );
        self.transitioned();
        Ok(())
    }

    /// Does what is due at `now`: dispatches an attempt whose backoff ended, and times out.
    pub fn on_time(&mut self, now: i64) -> Effects {
        if !self.is_running() || self.activity().paused {
            return Effects::default();
        }
        let mut effects = Effects::default();
        let activity = self.activity_mut();
        if activity.retry_ready_time_ms > 0 && activity.retry_ready_time_ms <= now {
            activity.retry_ready_time_ms = 0;
            effects = Effects::dispatch(activity.attempt);
        }
        let due = activity_deadlines(self.activity())
            .into_iter()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at);
        let Some((_, kind)) = due else {
            return effects;
        };
        let activity = self.activity();
        let failure = timeout_failure(
            kind,
            activity.heartbeat_details.clone(),
            activity.last_failure.clone(),
        );
        self.transitioned();
        match kind {
            TimeoutType::StartToClose | TimeoutType::Heartbeat => {
                self.end_attempt(failure, Some(kind), now)
            }
            _ => {
                self.close(
                    ActivityExecutionStatus::TimedOut,
                    OutcomeValue::Failure(failure),
                    RetryState::Timeout,
                    now,
                );
                Effects::default()
            }
        }
    }

    /// Ends the current attempt with `failure`: another attempt after the backoff, or the
    /// run's failure (timed out when the attempt timed out).
    fn end_attempt(&mut self, failure: Failure, timeout: Option<TimeoutType>, now: i64) -> Effects {
        let activity = self.activity_mut();
        if std::mem::take(&mut activity.reset_requested) {
            activity.attempt = 1; // a reset attempt's retry counts from the first
        }
        let policy = retry::with_defaults(activity.retry_policy.clone());
        let expiration = match activity.schedule_to_close_timeout_ms {
            0 => 0,
            timeout => activity.scheduled_time_ms + timeout,
        };
        let decision = if activity.cancel_requested {
            RetryDecision::GiveUp(RetryState::CancelRequested)
        } else {
            retry::decide(&policy, activity.attempt, &failure, now, expiration)
        };
        match decision {
            RetryDecision::RetryAfter(delay) => {
                activity.attempt += 1;
                activity.last_attempt_complete_time_ms = now;
                activity.started_time_ms = 0;
                activity.last_failure = Some(retried_failure(failure, timeout));
                activity.current_attempt_scheduled_time_ms = now + delay;
                activity.retry_ready_time_ms = if delay > 0 { now + delay } else { 0 };
                match delay {
                    0 => Effects::dispatch(activity.attempt),
                    _ => Effects::default(),
                }
            }
            RetryDecision::GiveUp(retry_state) => {
                activity.last_attempt_complete_time_ms = now;
                activity.last_failure = Some(failure.clone());
                let status = match timeout {
                    Some(_) => ActivityExecutionStatus::TimedOut,
                    None => ActivityExecutionStatus::Failed,
                };
                self.close(status, OutcomeValue::Failure(failure), retry_state, now);
                Effects::default()
            }
        }
    }
}

/// The failure a canceled activity's outcome carries.
pub(super) fn canceled_failure(details: Option<Payloads>, identity: &str) -> Failure {
    Failure {
        message: "Activity canceled".into(),
        failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
            details,
            identity: identity.to_string(),
        })),
        ..Default::default()
    }
}

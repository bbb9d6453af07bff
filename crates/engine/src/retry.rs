//! Retry policy defaults, validation and the backoff decision, as Temporal defines them.
//!
//! Defaults: initial interval 1 s, backoff coefficient 2.0, maximum interval 100 × initial,
//! maximum attempts 0 (unlimited). The delay before attempt `n + 1` is
//! `initial × coefficient^(n − 1)`, capped at the maximum interval; an application failure's
//! `next_retry_delay` replaces the computed delay.

use temper_api::proto::common::v1::RetryPolicy;
use temper_api::proto::enums::v1::{RetryState, TimeoutType};
use temper_api::proto::failure::v1::{Failure, failure::FailureInfo};

use crate::time::{duration_ms, ms_duration};

const DEFAULT_INITIAL_INTERVAL_MS: i64 = 1_000;
const DEFAULT_BACKOFF_COEFFICIENT: f64 = 2.0;
const DEFAULT_MAXIMUM_INTERVAL_FACTOR: i64 = 100;

/// Fills a policy's unset fields with Temporal's defaults (a missing policy becomes `{}` first).
pub fn with_defaults(policy: Option<RetryPolicy>) -> RetryPolicy {
    let mut policy = policy.unwrap_or_default();
    let initial = match duration_ms(policy.initial_interval.as_ref()) {
        0 => DEFAULT_INITIAL_INTERVAL_MS,
        ms => ms,
    };
    policy.initial_interval = ms_duration(initial);
    if policy.backoff_coefficient == 0.0 {
        policy.backoff_coefficient = DEFAULT_BACKOFF_COEFFICIENT;
    }
    if duration_ms(policy.maximum_interval.as_ref()) == 0 {
        policy.maximum_interval = ms_duration(initial * DEFAULT_MAXIMUM_INTERVAL_FACTOR);
    }
    policy
}

/// Checks a policy the way Temporal's frontend does; the error names the bad field.
pub fn validate(policy: &RetryPolicy) -> Result<(), String> {
    for (name, interval) in [
        ("InitialInterval", policy.initial_interval.as_ref()),
        ("MaximumInterval", policy.maximum_interval.as_ref()),
    ] {
        if let Some(problem) = crate::time::duration_problem(interval) {
            return Err(format!("invalid {name} set on retry policy: {problem}"));
        }
    }
    if policy.backoff_coefficient != 0.0 && policy.backoff_coefficient < 1.0 {
        return Err("BackoffCoefficient cannot be less than 1 on retry policy.".into());
    }
    let initial = duration_ms(policy.initial_interval.as_ref());
    let maximum = duration_ms(policy.maximum_interval.as_ref());
    if maximum > 0 && maximum < initial {
        return Err("MaximumInterval cannot be less than InitialInterval on retry policy.".into());
    }
    if policy.maximum_attempts < 0 {
        return Err("MaximumAttempts cannot be negative on retry policy.".into());
    }
    Ok(())
}

/// The delay before the attempt after `attempt` (1-based), ignoring limits.
pub fn backoff_ms(policy: &RetryPolicy, attempt: i32) -> i64 {
    let initial = duration_ms(policy.initial_interval.as_ref()) as f64;
    let maximum = duration_ms(policy.maximum_interval.as_ref());
    let exponent = (attempt.max(1) - 1) as f64;
    let delay = initial * policy.backoff_coefficient.max(1.0).powf(exponent);
    let delay = if delay.is_finite() && delay < i64::MAX as f64 {
        delay as i64
    } else {
        i64::MAX
    };
    if maximum > 0 {
        delay.min(maximum)
    } else {
        delay
    }
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Run another attempt after this many milliseconds.
    RetryAfter(i64),
    /// Give up; the final event carries this retry state.
    GiveUp(RetryState),
}

/// Decides whether attempt `attempt` (1-based), which failed with `failure` at `now_ms`, is
/// retried. `expiration_ms` is the absolute deadline of all attempts (0 = none).
pub fn decide(
    policy: &RetryPolicy,
    attempt: i32,
    failure: &Failure,
    now_ms: i64,
    expiration_ms: i64,
) -> RetryDecision {
    if is_non_retryable(policy, failure) {
        return RetryDecision::GiveUp(RetryState::NonRetryableFailure);
    }
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return RetryDecision::GiveUp(RetryState::MaximumAttemptsReached);
    }
    let delay = match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) if info.next_retry_delay.is_some() => {
            duration_ms(info.next_retry_delay.as_ref())
        }
        _ => backoff_ms(policy, attempt),
    };
    if expiration_ms > 0 && now_ms.saturating_add(delay) >= expiration_ms {
        return RetryDecision::GiveUp(RetryState::Timeout);
    }
    RetryDecision::RetryAfter(delay)
}

fn is_non_retryable(policy: &RetryPolicy, failure: &Failure) -> bool {
    let failure_type = match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            if info.non_retryable {
                return true;
            }
            info.r#type.clone()
        }
        Some(FailureInfo::CanceledFailureInfo(_)) | Some(FailureInfo::TerminatedFailureInfo(_)) => {
            return true;
        }
        Some(FailureInfo::ServerFailureInfo(info)) => return info.non_retryable,
        Some(FailureInfo::TimeoutFailureInfo(info)) => {
            let kind = TimeoutType::try_from(info.timeout_type).unwrap_or(TimeoutType::Unspecified);
            if matches!(
                kind,
                TimeoutType::ScheduleToStart | TimeoutType::ScheduleToClose
            ) {
                return true;
            }
            format!("TemporalTimeout:{}", timeout_type_name(kind))
        }
        _ => return false,
    };
    policy.non_retryable_error_types.contains(&failure_type)
}

/// The short name Temporal uses for a timeout type in messages and error types.
pub fn timeout_type_name(kind: TimeoutType) -> &'static str {
    match kind {
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temper_api::proto::failure::v1::{ApplicationFailureInfo, TimeoutFailureInfo};

    fn app_failure(kind: &str, non_retryable: bool) -> Failure {
        Failure {
            message: "boom".into(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: kind.into(),
                    non_retryable,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_match_temporal() {
        let policy = with_defaults(None);
        assert_eq!(duration_ms(policy.initial_interval.as_ref()), 1_000);
        assert_eq!(policy.backoff_coefficient, 2.0);
        assert_eq!(duration_ms(policy.maximum_interval.as_ref()), 100_000);
        assert_eq!(policy.maximum_attempts, 0);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let policy = with_defaults(Some(RetryPolicy {
            initial_interval: ms_duration(1_000),
            maximum_interval: ms_duration(5_000),
            ..Default::default()
        }));
        let delays: Vec<i64> = (1..=5).map(|a| backoff_ms(&policy, a)).collect();
        assert_eq!(delays, vec![1_000, 2_000, 4_000, 5_000, 5_000]);
    }

    #[test]
    fn maximum_attempts_stop_retries() {
        let policy = with_defaults(Some(RetryPolicy {
            maximum_attempts: 3,
            ..Default::default()
        }));
        let failure = app_failure("PaymentError", false);
        assert_eq!(
            decide(&policy, 1, &failure, 0, 0),
            RetryDecision::RetryAfter(1_000)
        );
        assert_eq!(
            decide(&policy, 2, &failure, 0, 0),
            RetryDecision::RetryAfter(2_000)
        );
        assert_eq!(
            decide(&policy, 3, &failure, 0, 0),
            RetryDecision::GiveUp(RetryState::MaximumAttemptsReached)
        );
    }

    #[test]
    fn non_retryable_failures_stop_retries() {
        let mut policy = with_defaults(None);
        policy.non_retryable_error_types = vec!["Fatal".into()];
        let give_up = RetryDecision::GiveUp(RetryState::NonRetryableFailure);
        assert_eq!(
            decide(&policy, 1, &app_failure("Fatal", false), 0, 0),
            give_up
        );
        assert_eq!(
            decide(&policy, 1, &app_failure("Other", true), 0, 0),
            give_up
        );
        let schedule_to_start = Failure {
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: TimeoutType::ScheduleToStart as i32,
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(decide(&policy, 1, &schedule_to_start, 0, 0), give_up);
    }

    #[test]
    fn timeout_types_can_be_listed_as_non_retryable() {
        let mut policy = with_defaults(None);
        policy.non_retryable_error_types = vec!["TemporalTimeout:StartToClose".into()];
        let failure = Failure {
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: TimeoutType::StartToClose as i32,
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            decide(&policy, 1, &failure, 0, 0),
            RetryDecision::GiveUp(RetryState::NonRetryableFailure)
        );
    }

    #[test]
    fn next_retry_delay_overrides_and_expiration_applies() {
        let policy = with_defaults(None);
        let mut failure = app_failure("Slow", false);
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &mut failure.failure_info {
            info.next_retry_delay = ms_duration(7_000);
        }
        assert_eq!(
            decide(&policy, 1, &failure, 0, 0),
            RetryDecision::RetryAfter(7_000)
        );
        assert_eq!(
            decide(&policy, 1, &failure, 0, 5_000),
            RetryDecision::GiveUp(RetryState::Timeout)
        );
    }

    #[test]
    fn validation_names_the_problem() {
        let bad = RetryPolicy {
            backoff_coefficient: 0.5,
            ..Default::default()
        };
        assert!(validate(&bad).unwrap_err().contains("BackoffCoefficient"));
        let bad = RetryPolicy {
            initial_interval: ms_duration(10_000),
            maximum_interval: ms_duration(1_000),
            ..Default::default()
        };
        assert!(validate(&bad).unwrap_err().contains("MaximumInterval"));
    }
}

//! Starting a standalone activity: Temporal's validation of the request, its timeout
//! normalisation and retry-policy defaults, and the new run with its first attempt.

use temper_api::proto::enums::v1::{
    ActivityExecutionStatus, ActivityIdConflictPolicy, ActivityIdReusePolicy,
};
pub use temper_api::proto::workflowservice::v1::StartActivityExecutionRequest as StartRequest;

use super::{ActivityRun, Effects};
use crate::retry;
use crate::state::ActivityInfo;
use crate::time::{duration_ms, duration_problem};

/// Why a start was refused (INVALID_ARGUMENT, with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

fn invalid(message: impl Into<String>) -> StartError {
    StartError(message.into())
}

/// The four timeouts after Temporal's normalisation, in milliseconds.
struct Timeouts {
    schedule_to_close: i64,
    schedule_to_start: i64,
    start_to_close: i64,
    heartbeat: i64,
}

fn timeouts_of(request: &StartRequest) -> Result<Timeouts, StartError> {
    for (name, duration) in [
        (
            "ScheduleToCloseTimeout",
            request.schedule_to_close_timeout.as_ref(),
        ),
        (
            "ScheduleToStartTimeout",
            request.schedule_to_start_timeout.as_ref(),
        ),
        (
            "StartToCloseTimeout",
            request.start_to_close_timeout.as_ref(),
        ),
        ("HeartbeatTimeout", request.heartbeat_timeout.as_ref()),
        ("StartDelay", request.start_delay.as_ref()),
    ] {
        if let Some(problem) = duration_problem(duration) {
            return Err(invalid(format!("invalid {name}: {problem}")));
        }
    }
    let mut schedule_to_close = duration_ms(request.schedule_to_close_timeout.as_ref());
    let mut schedule_to_start = duration_ms(request.schedule_to_start_timeout.as_ref());
    let mut start_to_close = duration_ms(request.start_to_close_timeout.as_ref());
    let mut heartbeat = duration_ms(request.heartbeat_timeout.as_ref());
    if schedule_to_close == 0 && start_to_close == 0 {
        return Err(invalid(format!(
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={}",
            request.activity_id,
            request
                .activity_type
                .as_ref()
                .map_or("", |t| t.name.as_str()),
        )));
    }
    let min_set = |value: i64, cap: i64| if value == 0 { cap } else { value.min(cap) };
    if schedule_to_close > 0 {
        schedule_to_start = min_set(schedule_to_start, schedule_to_close);
        start_to_close = min_set(start_to_close, schedule_to_close);
    } else {
        schedule_to_close = 0;
    }
    if start_to_close > 0 && heartbeat > start_to_close {
        heartbeat = start_to_close;
    }
    Ok(Timeouts {
        schedule_to_close,
        schedule_to_start,
        start_to_close,
        heartbeat,
    })
}

/// Checks what Temporal's frontend checks before anything is stored.
fn validate(request: &StartRequest) -> Result<(), StartError> {
    if request.activity_id.is_empty() {
        return Err(invalid("activityId is not set"));
    }
    if request
        .activity_type
        .as_ref()
        .is_none_or(|t| t.name.is_empty())
    {
        return Err(invalid("activityType is not set"));
    }
    if request
        .task_queue
        .as_ref()
        .is_none_or(|q| q.name.is_empty())
    {
        return Err(invalid("taskQueue is not set"));
    }
    if ActivityIdReusePolicy::try_from(request.id_reuse_policy).is_err() {
        return Err(invalid(format!(
            "unsupported ID reuse policy: {}",
            request.id_reuse_policy
        )));
    }
    if ActivityIdConflictPolicy::try_from(request.id_conflict_policy).is_err() {
        return Err(invalid(format!(
            "unsupported ID conflict policy: {}",
            request.id_conflict_policy
        )));
    }
    if let Some(policy) = &request.retry_policy {
        retry::validate(policy).map_err(invalid)?;
    }
    Ok(())
}

impl ActivityRun {
    /// A new run for `request`, its first attempt scheduled at `now` (dispatched after the
    /// start delay, if any).
    pub fn start(
        namespace: &str,
        run_id: &str,
        request: StartRequest,
        now: i64,
    ) -> Result<(ActivityRun, Effects), StartError> {
        validate(&request)?;
        let timeouts = timeouts_of(&request)?;
        let start_delay_ms = duration_ms(request.start_delay.as_ref());
        let activity = ActivityInfo {
            activity_id: request.activity_id.clone(),
            activity_type: request.activity_type.map(|t| t.name).unwrap_or_default(),
            task_queue: request.task_queue.map(|q| q.name).unwrap_or_default(),
            input: request.input,
            header: request.header,
            attempt: 1,
            scheduled_time_ms: now,
            current_attempt_scheduled_time_ms: now + start_delay_ms,
            retry_policy: Some(retry::with_defaults(request.retry_policy)),
            schedule_to_close_timeout_ms: timeouts.schedule_to_close,
            schedule_to_start_timeout_ms: timeouts.schedule_to_start,
            start_to_close_timeout_ms: timeouts.start_to_close,
            heartbeat_timeout_ms: timeouts.heartbeat,
            // The start delay is a backoff before the first attempt.
            retry_ready_time_ms: if start_delay_ms > 0 {
                now + start_delay_ms
            } else {
                0
            },
            ..Default::default()
        };
        let run = ActivityRun {
            namespace: namespace.to_string(),
            activity_id: request.activity_id,
            run_id: run_id.to_string(),
            activity: Some(activity),
            status: ActivityExecutionStatus::Running as i32,
            request_id: request.request_id,
            search_attributes: request.search_attributes,
            user_metadata: request.user_metadata,
            priority: request.priority,
            links: request.links,
            start_delay_ms,
            identity: request.identity,
            state_transition_count: 1,
            ..Default::default()
        };
        let effects = match run.dispatchable_attempt() {
            Some(attempt) => Effects::dispatch(attempt),
            None => Effects::default(),
        };
        Ok((run, effects))
    }
}

//! Checks of single workflow commands, with Temporal's causes and messages; the completion's
//! whole validation (`Transition::validate_commands`) calls them.

use temper_api::proto::command::v1 as command;
use temper_api::proto::enums::v1::WorkflowTaskFailedCause;

use crate::limits::{MAX_ID_LENGTH, MAX_PENDING_ACTIVITIES};
use crate::retry;
use crate::time::{duration_ms, duration_problem};

pub(super) type CommandProblem = (WorkflowTaskFailedCause, String);

/// Checks a ScheduleActivityTask command: ids, timeouts, retry policy and the pending limit.
/// `activity_ids` holds the ids pending or scheduled earlier in the same completion, so its
/// size is the number of pending activities.
pub(super) fn validate_schedule_activity(
    a: &command::ScheduleActivityTaskCommandAttributes,
    activity_ids: &mut std::collections::BTreeSet<String>,
) -> Result<(), CommandProblem> {
    use WorkflowTaskFailedCause as Cause;
    let bad = |m: String| Err((Cause::BadScheduleActivityAttributes, m));
    if a.activity_id.is_empty() {
        return bad("activityId is not set".into());
    }
    if a.activity_id.len() > MAX_ID_LENGTH {
        return bad(format!(
            "activityId exceeds length limit. Length={} Limit={MAX_ID_LENGTH}",
            a.activity_id.len()
        ));
    }
    if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
        return bad("ActivityType is not set.".into());
    }
    for (name, timeout) in [
        ("ScheduleToCloseTimeout", &a.schedule_to_close_timeout),
        ("ScheduleToStartTimeout", &a.schedule_to_start_timeout),
        ("StartToCloseTimeout", &a.start_to_close_timeout),
        ("HeartbeatTimeout", &a.heartbeat_timeout),
    ] {
        if let Some(problem) = duration_problem(timeout.as_ref()) {
            return bad(format!("invalid {name}: {problem}"));
        }
    }
    if duration_ms(a.schedule_to_close_timeout.as_ref()) == 0
        && duration_ms(a.start_to_close_timeout.as_ref()) == 0
    {
        return bad(
            "A valid StartToCloseTimeout or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand.".into(),
        );
    }
    if let Some(policy) = &a.retry_policy
        && let Err(m) = retry::validate(policy)
    {
        return bad(m);
    }
    let count = activity_ids.len();
    if count >= MAX_PENDING_ACTIVITIES {
        return Err((
            Cause::PendingActivitiesLimitExceeded,
            format!(
                "the number of pending activities, {count}, has reached the per-workflow limit of {MAX_PENDING_ACTIVITIES}"
            ),
        ));
    }
    if !activity_ids.insert(a.activity_id.clone()) {
        return Err((
            Cause::ScheduleActivityDuplicateId,
            format!("Activity with ID {} already exists.", a.activity_id),
        ));
    }
    Ok(())
}

/// Checks a StartTimer command. `timers` holds the ids pending or started earlier in the same
/// completion. A zero or absent duration is a valid timer that fires at once.
pub(super) fn validate_start_timer(
    a: &command::StartTimerCommandAttributes,
    timers: &mut std::collections::BTreeSet<String>,
) -> Result<(), CommandProblem> {
    use WorkflowTaskFailedCause as Cause;
    let bad = |m: String| Err((Cause::BadStartTimerAttributes, m));
    if a.timer_id.is_empty() {
        return bad("TimerId is not set.".into());
    }
    if a.timer_id.len() > MAX_ID_LENGTH {
        return bad(format!(
            "TimerId on StartTimerCommand exceeds length limit. TimerId={} Length={} Limit={MAX_ID_LENGTH}",
            a.timer_id,
            a.timer_id.len()
        ));
    }
    if let Some(problem) = duration_problem(a.start_to_fire_timeout.as_ref()) {
        return bad(format!(
            "An invalid StartToFireTimeout is set on StartTimerCommand: {problem}. TimerId={}",
            a.timer_id
        ));
    }
    if !timers.insert(a.timer_id.clone()) {
        return Err((
            Cause::StartTimerDuplicateId,
            format!("Timer with ID {} already exists.", a.timer_id),
        ));
    }
    Ok(())
}

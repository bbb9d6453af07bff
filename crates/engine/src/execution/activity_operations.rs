//! What an operator does to a workflow's pending activities (`PauseActivity`,
//! `UnpauseActivity`, `ResetActivity`), as Temporal does it: no history events; a paused
//! activity is not dispatched and its timeouts do not run; unpausing dispatches it at once
//! (ignoring what was left of a retry backoff); a reset starts it over from attempt 1. A
//! running attempt is never interrupted — its heartbeats say it was paused or reset.

use super::{ReadyTask, Transition};
use crate::state::ActivityInfo;
use temper_api::proto::activity::v1::ActivityOptions;

/// Which pending activities an operation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivitySelector {
    Id(String),
    Type(String),
    All,
}

impl ActivitySelector {
    fn selects(&self, activity: &ActivityInfo) -> bool {
        match self {
            ActivitySelector::Id(id) => &activity.activity_id == id,
            ActivitySelector::Type(name) => &activity.activity_type == name,
            ActivitySelector::All => true,
        }
    }
}

/// Why an activity operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityOperationError {
    #[error("workflow execution already completed")]
    RunClosed,
    #[error(
        "Can't find pending activity with such ID. Invalid activityID or activity already completed"
    )]
    NotFound,
    #[error("activity is already paused")]
    AlreadyPaused,
    /// Options that Temporal would refuse, in its words.
    #[error("{0}")]
    Invalid(String),
}

/// How an operator's pause is recorded.
#[derive(Debug, Clone, Default)]
pub struct PauseRequest {
    pub identity: String,
    pub reason: String,
    pub request_id: String,
}

impl Transition<'_> {
    /// The scheduled event ids of the pending activities `selector` picks.
    fn selected_activities(
        &self,
        selector: &ActivitySelector,
    ) -> Result<Vec<i64>, ActivityOperationError> {
        if !self.exec.is_running() {
            return Err(ActivityOperationError::RunClosed);
        }
        let ids: Vec<i64> = self
            .exec
            .activities
            .values()
            .filter(|a| selector.selects(a))
            .map(|a| a.scheduled_event_id)
            .collect();
        if ids.is_empty() {
            return Err(ActivityOperationError::NotFound);
        }
        Ok(ids)
    }

    /// Pauses the selected activities. Pausing again under the same request id is accepted.
    pub fn pause_activities(
        &mut self,
        selector: &ActivitySelector,
        request: &PauseRequest,
    ) -> Result<(), ActivityOperationError> {
        let ids = self.selected_activities(selector)?;
        let now = self.now;
        for id in ids {
            let Some(activity) = self.exec.activities.get_mut(&id) else {
                continue;
            };
            if activity.paused {
                if activity.pause_request_id == request.request_id {
                    continue;
                }
                return Err(ActivityOperationError::AlreadyPaused);
            }
            activity.paused = true;
            activity.pause_time_ms = now;
            activity.pause_identity = request.identity.clone();
            activity.pause_reason = request.reason.clone();
            activity.pause_request_id = request.request_id.clone();
            if activity.started_time_ms == 0 {
                // A waiting retry is dropped: unpausing dispatches the attempt at once.
                activity.retry_ready_time_ms = 0;
            }
        }
        Ok(())
    }

    /// Unpauses the selected activities that are paused (others are left as they are).
    pub fn unpause_activities(
        &mut self,
        selector: &ActivitySelector,
        reset_attempts: bool,
        reset_heartbeat: bool,
    ) -> Result<(), ActivityOperationError> {
        let ids = self.selected_activities(selector)?;
        for id in ids {
            let paused = self.exec.activities.get(&id).is_some_and(|a| a.paused);
            if paused {
                self.unpause(id, reset_attempts, reset_heartbeat);
            }
        }
        Ok(())
    }

    fn unpause(&mut self, id: i64, reset_attempts: bool, reset_heartbeat: bool) {
        let Some(activity) = self.exec.activities.get_mut(&id) else {
            return;
        };
        activity.paused = false;
        activity.pause_time_ms = 0;
        activity.pause_identity.clear();
        activity.pause_reason.clear();
        activity.pause_request_id.clear();
        if reset_attempts {
            activity.attempt = 1;
        }
        if reset_heartbeat {
            activity.heartbeat_details = None;
            activity.last_heartbeat_time_ms = 0;
        }
        if activity.started_time_ms == 0 {
            activity.last_failure = None;
            self.dispatch_now(id);
        }
    }

    /// Starts the selected activities over from attempt 1; a paused one is unpaused unless
    /// `keep_paused`. A running attempt is told through its heartbeats and its retry counts
    /// from 1.
    pub fn reset_activities(
        &mut self,
        selector: &ActivitySelector,
        reset_heartbeat: bool,
        keep_paused: bool,
    ) -> Result<(), ActivityOperationError> {
        let ids = self.selected_activities(selector)?;
        for id in ids {
            let Some(activity) = self.exec.activities.get_mut(&id) else {
                continue;
            };
            let (running, paused) = (activity.started_time_ms > 0, activity.paused);
            if running {
                activity.reset_requested = true;
            } else {
                activity.attempt = 1;
            }
            if reset_heartbeat {
                activity.heartbeat_details = None;
            }
            if paused && !keep_paused {
                self.unpause(id, false, false);
            } else if !running && !paused {
                self.dispatch_now(id);
            }
        }
        Ok(())
    }

    /// Offers a waiting activity's current attempt now, whatever backoff was left.
    fn dispatch_now(&mut self, id: i64) {
        let now = self.now;
        let Some(activity) = self.exec.activities.get_mut(&id) else {
            return;
        };
        debug_assert!(activity.started_time_ms == 0 && !activity.paused);
        activity.retry_ready_time_ms = 0;
        activity.current_attempt_scheduled_time_ms = now;
        self.tasks.push(ReadyTask::Activity {
            task_queue: activity.task_queue.clone(),
            scheduled_event_id: id,
            attempt: activity.attempt,
        });
    }
}

/// An operator's change to activities' options: the fields the mask names (as Temporal's
/// paths, camelCase per segment), or back to what they were scheduled with.
#[derive(Debug, Clone, Default)]
pub struct OptionsUpdate {
    pub options: Option<ActivityOptions>,
    pub paths: Vec<String>,
    pub restore_original: bool,
}

impl Transition<'_> {
    /// Changes the selected activities' options; answers the last one's options after the
    /// change, as Temporal does. A waiting retry is rescheduled by the new policy.
    pub fn update_activity_options(
        &mut self,
        selector: &ActivitySelector,
        update: &OptionsUpdate,
    ) -> Result<ActivityOptions, ActivityOperationError> {
        let ids = self.selected_activities(selector)?;
        let mut answer = ActivityOptions::default();
        for id in ids {
            let Some(before) = self.exec.activities.get(&id).cloned() else {
                continue;
            };
            let mut activity = before.clone();
            if update.restore_original {
                if let Some(original) = activity.original_options.take() {
                    restore_options(&mut activity, &original);
                }
            } else {
                apply_paths(&mut activity, update)?;
                check_options(&activity)?;
                if activity.original_options.is_none() {
                    activity.original_options = Some(options_of(&before));
                }
            }
            answer = options_of(&activity);
            self.exec.activities.insert(id, activity);
            self.reschedule_waiting_attempt(id);
        }
        Ok(answer)
    }

    /// After new options: a waiting attempt goes to its (maybe new) queue, at the time its
    /// (maybe new) retry policy says.
    fn reschedule_waiting_attempt(&mut self, id: i64) {
        let now = self.now;
        let Some(activity) = self.exec.activities.get_mut(&id) else {
            return;
        };
        if activity.started_time_ms > 0 || activity.paused {
            return;
        }
        if activity.retry_ready_time_ms > 0 && activity.attempt > 1 {
            let policy = crate::retry::with_defaults(activity.retry_policy.clone());
            let delay = crate::retry::backoff_ms(&policy, activity.attempt - 1);
            activity.retry_ready_time_ms = activity.last_attempt_complete_time_ms + delay;
            if activity.retry_ready_time_ms > now {
                return;
            }
        }
        self.dispatch_now(id);
    }
}

/// The options an activity runs with, as `UpdateActivityOptions` answers them.
fn options_of(activity: &ActivityInfo) -> ActivityOptions {
    let duration = |ms: i64| Some(crate::time::ms_duration(ms).unwrap_or_default());
    ActivityOptions {
        task_queue: Some(temper_api::proto::taskqueue::v1::TaskQueue {
            name: activity.task_queue.clone(),
            kind: temper_api::proto::enums::v1::TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        schedule_to_close_timeout: duration(activity.schedule_to_close_timeout_ms),
        schedule_to_start_timeout: duration(activity.schedule_to_start_timeout_ms),
        start_to_close_timeout: duration(activity.start_to_close_timeout_ms),
        heartbeat_timeout: duration(activity.heartbeat_timeout_ms),
        retry_policy: Some(activity.retry_policy.clone().unwrap_or_default()),
        priority: Some(Default::default()),
        start_delay: None,
    }
}

/// Puts options back as `original` has them.
pub(super) fn restore_options(activity: &mut ActivityInfo, original: &ActivityOptions) {
    let ms = |d: &Option<prost_wkt_types::Duration>| crate::time::duration_ms(d.as_ref());
    activity.task_queue = original
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .unwrap_or_default();
    activity.schedule_to_close_timeout_ms = ms(&original.schedule_to_close_timeout);
    activity.schedule_to_start_timeout_ms = ms(&original.schedule_to_start_timeout);
    activity.start_to_close_timeout_ms = ms(&original.start_to_close_timeout);
    activity.heartbeat_timeout_ms = ms(&original.heartbeat_timeout);
    activity.retry_policy = original.retry_policy.clone();
}

/// Sets the fields the mask names from `update.options`, with Temporal's messages for a
/// path whose parent message was not given. Paths Temper has nothing for (priorities) and
/// unknown paths are ignored, as Temporal's older RPC ignores them.
fn apply_paths(
    activity: &mut ActivityInfo,
    update: &OptionsUpdate,
) -> Result<(), ActivityOperationError> {
    let options = update.options.clone().unwrap_or_default();
    let ms = |d: &Option<prost_wkt_types::Duration>| crate::time::duration_ms(d.as_ref());
    let missing = |what: &str| ActivityOperationError::Invalid(format!("{what} is not provided"));
    for path in &update.paths {
        match path.as_str() {
            "taskQueue.name" => {
                let queue = options
                    .task_queue
                    .as_ref()
                    .ok_or_else(|| missing("TaskQueue"))?;
                activity.task_queue = queue.name.clone();
            }
            "scheduleToCloseTimeout" => {
                activity.schedule_to_close_timeout_ms = ms(&options.schedule_to_close_timeout)
            }
            "scheduleToStartTimeout" => {
                activity.schedule_to_start_timeout_ms = ms(&options.schedule_to_start_timeout)
            }
            "startToCloseTimeout" => {
                activity.start_to_close_timeout_ms = ms(&options.start_to_close_timeout)
            }
            "heartbeatTimeout" => activity.heartbeat_timeout_ms = ms(&options.heartbeat_timeout),
            "retryPolicy" => activity.retry_policy = options.retry_policy.clone(),
            sub if sub.starts_with("retryPolicy.") => {
                let given = options
                    .retry_policy
                    .as_ref()
                    .ok_or_else(|| missing("RetryPolicy"))?;
                let policy = activity.retry_policy.get_or_insert_with(Default::default);
                match sub {
                    "retryPolicy.initialInterval" => {
                        policy.initial_interval = given.initial_interval
                    }
                    "retryPolicy.backoffCoefficient" => {
                        policy.backoff_coefficient = given.backoff_coefficient
                    }
                    "retryPolicy.maximumInterval" => {
                        policy.maximum_interval = given.maximum_interval
                    }
                    "retryPolicy.maximumAttempts" => {
                        policy.maximum_attempts = given.maximum_attempts
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Temporal's checks of an activity's options after a change, and its normalisation
/// (schedule-to-start and start-to-close never longer than schedule-to-close).
fn check_options(activity: &ActivityInfo) -> Result<(), ActivityOperationError> {
    if let Some(policy) = &activity.retry_policy {
        crate::retry::validate(policy).map_err(ActivityOperationError::Invalid)?;
    }
    if activity.start_to_close_timeout_ms <= 0 && activity.schedule_to_close_timeout_ms <= 0 {
        return Err(ActivityOperationError::Invalid(format!(
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={}",
            activity.activity_id, activity.activity_type
        )));
    }
    Ok(())
}

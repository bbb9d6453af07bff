//! What an operator does to a workflow's pending activities (`PauseActivity`,
//! `UnpauseActivity`, `ResetActivity`), as Temporal does it: no history events; a paused
//! activity is not dispatched and its timeouts do not run; unpausing dispatches it at once
//! (ignoring what was left of a retry backoff); a reset starts it over from attempt 1. A
//! running attempt is never interrupted — its heartbeats say it was paused or reset.

use super::{ReadyTask, Transition};
use crate::state::ActivityInfo;

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

//! Activities: the schedule and cancel commands, attempts handed to workers, heartbeats,
//! results, server-side retries and the four activity timeouts.

use super::commands::CommandContext;
use super::errors::TaskError;
use super::events::{normal_task_queue, timeout_failure};
use super::{ActivityTaskGrant, ReadyTask, STARTED_ID_AT_FLUSH, Transition};
use crate::retry::{self, RetryDecision};
use crate::state::ActivityInfo;
use crate::time::{duration_ms, ms_duration};
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::common::v1::Payloads;
use temper_api::proto::enums::v1::{RetryState, TimeoutType};
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

/// The timeouts that apply to an activity now, as (instant, kind).
pub(crate) fn activity_deadlines(activity: &ActivityInfo) -> Vec<(i64, TimeoutType)> {
    let mut deadlines = Vec::new();
    if activity.paused {
        return deadlines; // no timeout fires while paused, as in Temporal
    }
    if activity.schedule_to_close_timeout_ms > 0 {
        deadlines.push((
            activity.scheduled_time_ms + activity.schedule_to_close_timeout_ms,
            TimeoutType::ScheduleToClose,
        ));
    }
    if activity.started_time_ms == 0 {
        if activity.retry_ready_time_ms == 0 && activity.schedule_to_start_timeout_ms > 0 {
            deadlines.push((
                activity.current_attempt_scheduled_time_ms + activity.schedule_to_start_timeout_ms,
                TimeoutType::ScheduleToStart,
            ));
        }
    } else {
        if activity.start_to_close_timeout_ms > 0 {
            deadlines.push((
                activity.started_time_ms + activity.start_to_close_timeout_ms,
                TimeoutType::StartToClose,
            ));
        }
        if activity.heartbeat_timeout_ms > 0 {
            let last = activity
                .last_heartbeat_time_ms
                .max(activity.started_time_ms);
            deadlines.push((last + activity.heartbeat_timeout_ms, TimeoutType::Heartbeat));
        }
    }
    deadlines
}

/// What an attempt that will be retried leaves as the activity's last failure. A timeout's
/// failure wraps the previous attempt's failure as its cause; kept as is, every timed-out
/// attempt would nest the chain one level deeper, without bound. As Temporal does, the retried
/// timeout is kept bare; the final timeout event still carries the last failure as its cause.
pub(crate) fn retried_failure(mut failure: Failure, timeout: Option<TimeoutType>) -> Failure {
    if timeout.is_some() {
        failure.cause = None;
    }
    failure
}

/// What a heartbeat tells the running attempt: stop (cancel requested), or that an operator
/// paused or reset the activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub cancel_requested: bool,
    pub paused: bool,
    pub reset: bool,
}

impl Transition<'_> {
    /// Temporal's timeout normalisation and retry-policy defaults for a new activity.
    pub(super) fn normalize_activity(
        &self,
        a: &mut temper_api::proto::command::v1::ScheduleActivityTaskCommandAttributes,
    ) {
        if a.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
            a.task_queue = normal_task_queue(&self.exec.task_queue);
        }
        let run_timeout = self.exec.run_timeout_ms;
        let mut schedule_to_close = duration_ms(a.schedule_to_close_timeout.as_ref());
        let mut schedule_to_start = duration_ms(a.schedule_to_start_timeout.as_ref());
        let mut start_to_close = duration_ms(a.start_to_close_timeout.as_ref());
        let mut heartbeat = duration_ms(a.heartbeat_timeout.as_ref());
        let min_set = |value: i64, cap: i64| if value == 0 { cap } else { value.min(cap) };
        if schedule_to_close > 0 {
            schedule_to_start = min_set(schedule_to_start, schedule_to_close);
            start_to_close = min_set(start_to_close, schedule_to_close);
        } else {
            schedule_to_close = run_timeout;
            if schedule_to_start == 0 {
                schedule_to_start = run_timeout;
            }
        }
        if run_timeout > 0 {
            schedule_to_close = min_set(schedule_to_close, run_timeout);
            schedule_to_start = min_set(schedule_to_start, run_timeout);
            start_to_close = min_set(start_to_close, run_timeout);
        }
        if heartbeat > start_to_close && start_to_close > 0 {
            heartbeat = start_to_close;
        }
        a.schedule_to_close_timeout = ms_duration(schedule_to_close);
        a.schedule_to_start_timeout = ms_duration(schedule_to_start);
        a.start_to_close_timeout = ms_duration(start_to_close);
        a.heartbeat_timeout = ms_duration(heartbeat);
        a.retry_policy = Some(retry::with_defaults(a.retry_policy.take()));
    }

    /// Starts, for the completing worker itself, the activities it asked to run eagerly
    /// (returned in the completion response instead of going through matching).
    pub fn start_eager_activities(
        &mut self,
        identity: &str,
        request_id: &str,
    ) -> Vec<ActivityTaskGrant> {
        let eager = std::mem::take(&mut self.eager_activities);
        let mut grants = Vec::new();
        for scheduled_event_id in eager {
            if let Ok(grant) = self.start_activity_task(scheduled_event_id, 1, identity, request_id)
            {
                self.tasks.retain(|t| {
                    !matches!(t, ReadyTask::Activity { scheduled_event_id: id, .. } if *id == scheduled_event_id)
                });
                grants.push(grant);
            }
        }
        grants
    }

    /// Hands an activity attempt to a worker. No event is written (Started is written lazily).
    pub fn start_activity_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        identity: &str,
        request_id: &str,
    ) -> Result<ActivityTaskGrant, TaskError> {
        let now = self.now;
        let running = self.exec.is_running();
        let Some(activity) = self
            .exec
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| running && a.attempt == attempt && a.started_time_ms == 0 && !a.paused)
        else {
            return Err(TaskError::ActivityNotWaiting);
        };
        if activity.retry_ready_time_ms != 0 {
            return Err(TaskError::ActivityInBackoff);
        }
        activity.started_time_ms = now;
        activity.started_identity = identity.to_string();
        activity.started_request_id = request_id.to_string();
        activity.last_heartbeat_time_ms = 0;
        Ok(ActivityTaskGrant {
            activity: activity.clone(),
        })
    }

    pub(super) fn running_activity(
        &self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<ActivityInfo, TaskError> {
        self.exec
            .activities
            .get(&scheduled_event_id)
            .filter(|a| self.exec.is_running() && a.attempt == attempt && a.started_time_ms > 0)
            .cloned()
            .ok_or(TaskError::ActivityNotRunning)
    }

    /// Records a heartbeat; returns whether cancellation was requested.
    pub fn heartbeat_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
    ) -> Result<HeartbeatAnswer, TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        let now = self.now;
        let entry = self
            .exec
            .activities
            .entry(scheduled_event_id)
            .or_insert(activity);
        entry.last_heartbeat_time_ms = now;
        if details.is_some() {
            entry.heartbeat_details = details;
        }
        Ok(HeartbeatAnswer {
            cancel_requested: entry.cancel_requested,
            paused: entry.paused,
            reset: entry.reset_requested,
        })
    }

    /// Writes the lazy Started event and a close event built from the Started event's id.
    pub(super) fn record_activity_close(
        &mut self,
        activity: &ActivityInfo,
        close: impl FnOnce(i64) -> Attributes,
    ) {
        let buffered = self.workflow_task_in_flight();
        let started_event_id = if activity.started_time_ms > 0 {
            let started = self.new_event(
                Attributes::ActivityTaskStartedEventAttributes(
                    history::ActivityTaskStartedEventAttributes {
                        scheduled_event_id: activity.scheduled_event_id,
                        identity: activity.started_identity.clone(),
                        request_id: activity.started_request_id.clone(),
                        attempt: activity.attempt,
                        last_failure: activity.last_failure.clone(),
                        ..Default::default()
                    },
                ),
                activity.started_time_ms,
            );
            if buffered {
                self.exec.buffered_events.push(started);
                STARTED_ID_AT_FLUSH
            } else {
                self.demote_waiting_transient_task();
                self.write(started)
            }
        } else {
            0
        };
        let event = self.new_event(close(started_event_id), self.now);
        self.append_or_buffer(event);
        self.schedule_workflow_task();
    }

    pub fn complete_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        let identity = identity.to_string();
        self.record_activity_close(&activity, |started_event_id| {
            Attributes::ActivityTaskCompletedEventAttributes(
                history::ActivityTaskCompletedEventAttributes {
                    result,
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    ..Default::default()
                },
            )
        });
        Ok(())
    }

    /// A worker reported a failed attempt: retried per policy, or the activity fails.
    pub fn fail_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        failure: Option<Failure>,
        last_heartbeat_details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let mut activity = self.running_activity(scheduled_event_id, attempt)?;
        if last_heartbeat_details.is_some() {
            activity.heartbeat_details = last_heartbeat_details;
        }
        activity.last_worker_identity = identity.to_string();
        self.end_attempt(activity, failure, None);
        Ok(())
    }

    /// The worker acknowledged a cancellation request.
    pub fn cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), TaskError> {
        let activity = self.running_activity(scheduled_event_id, attempt)?;
        if !activity.cancel_requested {
            return Err(TaskError::CancelNotRequested);
        }
        let identity = identity.to_string();
        let requested_id = activity.cancel_requested_event_id;
        self.record_activity_close(&activity, |started_event_id| {
            Attributes::ActivityTaskCanceledEventAttributes(
                history::ActivityTaskCanceledEventAttributes {
                    details,
                    latest_cancel_requested_event_id: requested_id,
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    ..Default::default()
                },
            )
        });
        Ok(())
    }

    /// Ends the running (or, for a schedule timeout, waiting) attempt with `failure`: either
    /// another attempt after the backoff, or the activity's final Failed/TimedOut event.
    /// Ends an activity attempt that failed (`failure` is `None` when the worker sent none:
    /// retried as an unknown failure, recorded without one, as Temporal does).
    pub(super) fn end_attempt(
        &mut self,
        mut activity: ActivityInfo,
        failure: Option<Failure>,
        timeout: Option<TimeoutType>,
    ) {
        let policy = retry::with_defaults(activity.retry_policy.clone());
        let expiration = if activity.schedule_to_close_timeout_ms > 0 {
            activity.scheduled_time_ms + activity.schedule_to_close_timeout_ms
        } else {
            0
        };
        if std::mem::take(&mut activity.reset_requested) {
            activity.attempt = 1; // a reset attempt's retry counts from the first
        }
        let decision = if activity.cancel_requested {
            RetryDecision::GiveUp(RetryState::CancelRequested)
        } else {
            let judged = failure.clone().unwrap_or_default();
            retry::decide(&policy, activity.attempt, &judged, self.now, expiration)
        };
        // Paused: the attempt is counted but nothing is dispatched (even past the maximum
        // attempts, as Temporal); unpausing dispatches the next.
        let decision = match decision {
            RetryDecision::RetryAfter(_)
            | RetryDecision::GiveUp(RetryState::MaximumAttemptsReached)
                if activity.paused =>
            {
                RetryDecision::RetryAfter(0)
            }
            other => other,
        };
        match decision {
            RetryDecision::RetryAfter(delay) => {
                activity.attempt += 1;
                activity.last_attempt_complete_time_ms = self.now;
                activity.started_time_ms = 0;
                activity.last_failure = failure.map(|f| retried_failure(f, timeout));
                activity.current_attempt_scheduled_time_ms = self.now + delay;
                activity.retry_ready_time_ms = if delay > 0 { self.now + delay } else { 0 };
                if delay == 0 && !activity.paused {
                    self.tasks.push(ReadyTask::Activity {
                        task_queue: activity.task_queue.clone(),
                        scheduled_event_id: activity.scheduled_event_id,
                        attempt: activity.attempt,
                    });
                }
                self.exec
                    .activities
                    .insert(activity.scheduled_event_id, activity);
            }
            RetryDecision::GiveUp(retry_state) => {
                let scheduled_event_id = activity.scheduled_event_id;
                let identity = activity.last_worker_identity.clone();
                match timeout {
                    None => self.record_activity_close(&activity, |started_event_id| {
                        Attributes::ActivityTaskFailedEventAttributes(
                            history::ActivityTaskFailedEventAttributes {
                                failure,
                                scheduled_event_id,
                                started_event_id,
                                identity,
                                retry_state: retry_state as i32,
                                ..Default::default()
                            },
                        )
                    }),
                    Some(_) => self.record_activity_close(&activity, |started_event_id| {
                        Attributes::ActivityTaskTimedOutEventAttributes(
                            history::ActivityTaskTimedOutEventAttributes {
                                failure,
                                scheduled_event_id,
                                started_event_id,
                                retry_state: retry_state as i32,
                            },
                        )
                    }),
                }
            }
        }
    }

    pub(super) fn activity_on_time(&mut self, scheduled_event_id: i64) {
        let now = self.now;
        let Some(activity) = self.exec.activities.get_mut(&scheduled_event_id) else {
            return;
        };
        if activity.paused {
            return;
        }
        if activity.retry_ready_time_ms > 0 && activity.retry_ready_time_ms <= now {
            activity.retry_ready_time_ms = 0;
            let task = ReadyTask::Activity {
                task_queue: activity.task_queue.clone(),
                scheduled_event_id,
                attempt: activity.attempt,
            };
            self.tasks.push(task);
        }
        let activity = activity.clone();
        let Some((_, kind)) = activity_deadlines(&activity)
            .into_iter()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
        else {
            return;
        };
        let failure = timeout_failure(
            kind,
            activity.heartbeat_details.clone(),
            activity.last_failure.clone(),
        );
        match kind {
            TimeoutType::StartToClose | TimeoutType::Heartbeat => {
                self.end_attempt(activity, Some(failure), Some(kind));
            }
            _ => {
                let retry_state = RetryState::Timeout as i32;
                self.record_activity_close(&activity, |started_event_id| {
                    Attributes::ActivityTaskTimedOutEventAttributes(
                        history::ActivityTaskTimedOutEventAttributes {
                            failure: Some(failure),
                            scheduled_event_id,
                            started_event_id,
                            retry_state,
                        },
                    )
                });
            }
        }
    }

    /// A ScheduleActivityTask command: the activity is scheduled and its first attempt queued (or kept for the completing worker when it asked to run it eagerly).
    pub(super) fn schedule_activity(
        &mut self,
        a: &command::ScheduleActivityTaskCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let mut a = a.clone();
        self.normalize_activity(&mut a);
        let queue = a
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        let id = self.append_for(
            command,
            Attributes::ActivityTaskScheduledEventAttributes(
                history::ActivityTaskScheduledEventAttributes {
                    activity_id: a.activity_id.clone(),
                    activity_type: a.activity_type.clone(),
                    task_queue: a.task_queue.clone(),
                    header: a.header.clone(),
                    input: a.input.clone(),
                    schedule_to_close_timeout: a.schedule_to_close_timeout,
                    schedule_to_start_timeout: a.schedule_to_start_timeout,
                    start_to_close_timeout: a.start_to_close_timeout,
                    heartbeat_timeout: a.heartbeat_timeout,
                    workflow_task_completed_event_id: command.completed_id,
                    retry_policy: a.retry_policy.clone(),
                    priority: a.priority,
                    ..Default::default()
                },
            ),
        );
        if a.request_eager_execution {
            self.eager_activities.push(id);
        }
        self.tasks.push(ReadyTask::Activity {
            task_queue: queue,
            scheduled_event_id: id,
            attempt: 1,
        });
        false
    }

    /// A RequestCancelActivityTask command; true when the activity was canceled at once (the workflow must hear of it).
    pub(super) fn request_cancel_activity(
        &mut self,
        a: &command::RequestCancelActivityTaskCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let requested_id = self.append_for(
            command,
            Attributes::ActivityTaskCancelRequestedEventAttributes(
                history::ActivityTaskCancelRequestedEventAttributes {
                    scheduled_event_id: a.scheduled_event_id,
                    workflow_task_completed_event_id: command.completed_id,
                },
            ),
        );
        // An activity no worker holds is canceled at once; a running one is told at
        // its next heartbeat.
        let waiting = self
            .exec
            .activities
            .get(&a.scheduled_event_id)
            .is_some_and(|activity| activity.started_time_ms == 0);
        if waiting {
            self.append(Attributes::ActivityTaskCanceledEventAttributes(
                history::ActivityTaskCanceledEventAttributes {
                    latest_cancel_requested_event_id: requested_id,
                    scheduled_event_id: a.scheduled_event_id,
                    ..Default::default()
                },
            ));
        }
        waiting
    }
}

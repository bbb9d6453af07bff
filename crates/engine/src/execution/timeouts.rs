//! Time-driven transitions: workflow timeouts, the first task after a backoff, sticky and
//! workflow-task timeouts, timers firing, retry backoffs ending and activity timeouts.

use temper_api::proto::enums::v1::TimeoutType;
use temper_api::proto::failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo};
use temper_api::proto::history::v1::{self as history, history_event::Attributes};

use super::Transition;
use crate::state::TimerInfo;

impl Transition<'_> {
    /// Processes everything due at the transition's time: workflow timeouts, workflow-task
    /// timeouts, timers, retry backoffs and activity timeouts. Afterwards nothing in the state
    /// is overdue: the run's next wake-up is in the future.
    pub fn on_time(&mut self) {
        if !self.exec.is_running() {
            return;
        }
        if self.exec.run_deadline_ms > 0 && self.exec.run_deadline_ms <= self.now {
            self.time_out_workflow();
            return;
        }
        // The first task after a start delay or backoff, once due (its Scheduled event clears
        // the time).
        if self.exec.first_workflow_task_time_ms > 0 {
            self.schedule_workflow_task();
        }
        self.time_out_sticky_offer();
        self.time_out_started_task();
        self.fire_due_timers();
        let scheduled_ids: Vec<i64> = self.exec.activities.keys().copied().collect();
        for scheduled_event_id in scheduled_ids {
            self.activity_on_time(scheduled_event_id);
        }
        let nexus_ids: Vec<i64> = self.exec.nexus_operations.keys().copied().collect();
        for scheduled_event_id in nexus_ids {
            self.nexus_on_time(scheduled_event_id);
        }
        if cfg!(debug_assertions)
            && let Some(at) = self.exec.next_wakeup().filter(|at| *at <= self.now)
        {
            panic!(
                "run {}: invariant broken: wake-up at {at} is still due after on_time at {}",
                self.exec.run_id, self.now
            );
        }
    }

    /// The run (or execution) timeout passed: the run times out, and is retried or continued
    /// on its cron schedule when it has one.
    fn time_out_workflow(&mut self) {
        let failure = Failure {
            message: "workflow timeout".into(),
            source: "Server".into(),
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: TimeoutType::StartToClose as i32,
                last_heartbeat_details: None,
            })),
            ..Default::default()
        };
        let (retry_state, new_execution_run_id) = self.retry_run(&failure);
        self.end_workflow_task_for_close("");
        self.append(Attributes::WorkflowExecutionTimedOutEventAttributes(
            history::WorkflowExecutionTimedOutEventAttributes {
                retry_state: retry_state as i32,
                new_execution_run_id,
            },
        ));
    }

    /// The sticky worker did not take its task in time: offer it on the normal queue.
    fn time_out_sticky_offer(&mut self) {
        let Some(wft) = self.exec.workflow_task.clone() else {
            return;
        };
        let deadline = wft.scheduled_time_ms + self.exec.sticky_schedule_to_start_timeout_ms;
        if wft.started_event_id != 0 || !self.exec.is_sticky(&wft) || deadline > self.now {
            return;
        }
        if !wft.transient {
            self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                history::WorkflowTaskTimedOutEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: 0,
                    timeout_type: TimeoutType::ScheduleToStart as i32,
                },
            ));
        }
        self.exec.workflow_task = None;
        self.exec.sticky_task_queue.clear();
        self.schedule_workflow_task();
    }

    /// The worker holding the workflow task did not answer in time: the next attempt goes to
    /// the normal queue (a timed-out retry attempt leaves no event).
    fn time_out_started_task(&mut self) {
        let Some(mut wft) = self.exec.workflow_task.clone() else {
            return;
        };
        if wft.started_event_id == 0
            || wft.started_time_ms + wft.start_to_close_timeout_ms > self.now
        {
            return;
        }
        if wft.speculative {
            self.materialize_transient_task(&mut wft);
        }
        if !wft.transient {
            self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                history::WorkflowTaskTimedOutEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: wft.started_event_id,
                    timeout_type: TimeoutType::StartToClose as i32,
                },
            ));
        }
        self.exec.workflow_task = None;
        self.exec.workflow_task_attempt = wft.attempt + 1;
        self.exec.sticky_task_queue.clear();
        self.schedule_workflow_task();
    }

    /// Fires every due timer, earliest first (then in the order they were started).
    fn fire_due_timers(&mut self) {
        let mut due: Vec<TimerInfo> = self
            .exec
            .timers
            .values()
            .filter(|t| t.fire_time_ms <= self.now)
            .cloned()
            .collect();
        due.sort_by_key(|t| (t.fire_time_ms, t.started_event_id));
        for timer in due {
            let event = self.new_event(
                Attributes::TimerFiredEventAttributes(history::TimerFiredEventAttributes {
                    timer_id: timer.timer_id,
                    started_event_id: timer.started_event_id,
                }),
                self.now,
            );
            self.append_or_buffer(event);
            self.schedule_workflow_task();
        }
    }
}

//! Timers: the start and cancel commands (firing is in `timeouts`).

use super::Transition;
use super::commands::CommandContext;
use crate::time::capped_duration;
use temper_api::proto::command::v1::{self as command};
use temper_api::proto::history::v1::{self as history, HistoryEvent, history_event::Attributes};

impl Transition<'_> {
    /// Removes a TimerFired that is still buffered and returns its timer's started event id.
    pub(super) fn take_buffered_timer_fired(&mut self, timer_id: &str) -> i64 {
        let position = self.exec.buffered_events.iter().position(|e| {
            matches!(&e.attributes, Some(Attributes::TimerFiredEventAttributes(a)) if a.timer_id == timer_id)
        });
        match position.map(|p| self.exec.buffered_events.remove(p)) {
            Some(HistoryEvent {
                attributes: Some(Attributes::TimerFiredEventAttributes(a)),
                ..
            }) => a.started_event_id,
            _ => 0,
        }
    }

    /// A StartTimer command.
    pub(super) fn start_timer(
        &mut self,
        a: &command::StartTimerCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        self.append_for(
            command,
            Attributes::TimerStartedEventAttributes(history::TimerStartedEventAttributes {
                timer_id: a.timer_id.clone(),
                start_to_fire_timeout: capped_duration(a.start_to_fire_timeout),
                workflow_task_completed_event_id: command.completed_id,
            }),
        );
        false
    }

    /// A CancelTimer command; a timer whose firing is still buffered is canceled instead of fired.
    pub(super) fn cancel_timer(
        &mut self,
        a: &command::CancelTimerCommandAttributes,
        command: &CommandContext,
    ) -> bool {
        let started_event_id = match self.exec.timers.get(&a.timer_id) {
            Some(timer) => timer.started_event_id,
            None => self.take_buffered_timer_fired(&a.timer_id),
        };
        self.append_for(
            command,
            Attributes::TimerCanceledEventAttributes(history::TimerCanceledEventAttributes {
                timer_id: a.timer_id.clone(),
                started_event_id,
                workflow_task_completed_event_id: command.completed_id,
                identity: String::new(),
            }),
        );
        false
    }
}

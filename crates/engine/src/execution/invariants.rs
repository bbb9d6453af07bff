//! What must hold of a run's state after every transition. [`Transition::finish`] checks it
//! in debug and test builds (the end-to-end suites run a debug binary), so a transition that
//! breaks one fails loudly where it happens instead of corrupting a run later.

use temper_api::proto::history::v1::HistoryEvent;

use crate::state::Execution;

impl Execution {
    /// Checks the state's invariants; the error names the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let written = 1..self.next_event_id;
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        check(self.next_event_id >= 1, "next event id is at least 1")?;
        if let Some(wft) = &self.workflow_task {
            if wft.transient {
                check(
                    wft.scheduled_event_id == self.next_event_id,
                    "a transient workflow task takes the next event id",
                )?;
            } else {
                check(
                    written.contains(&wft.scheduled_event_id),
                    "the workflow task's scheduled event is written",
                )?;
            }
            // Events may be written between a task's Scheduled and Started events (a signal
            // while no worker holds it); a transient task's are numbered back to back.
            let started_in_order = match (wft.started_event_id, wft.transient) {
                (0, _) => true,
                (started, true) => started == wft.scheduled_event_id + 1,
                (started, false) => {
                    started > wft.scheduled_event_id && started < self.next_event_id
                }
            };
            check(
                started_in_order,
                "a workflow task starts after it is scheduled",
            )?;
        }
        let in_flight = self
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.started_event_id > 0);
        check(
            self.buffered_events.is_empty() || in_flight,
            "events are buffered only while a workflow task is in flight",
        )?;
        check(
            self.buffered_events.iter().all(|e| e.event_id == 0),
            "buffered events have no id yet",
        )?;
        self.check_pending_items(&written)?;
        if !self.is_running() {
            check(
                self.workflow_task.is_none()
                    && self.activities.is_empty()
                    && self.timers.is_empty()
                    && self.buffered_events.is_empty(),
                "a closed run has no workflow task, activity, timer or buffered event",
            )?;
        }
        Ok(())
    }

    /// Every pending activity, timer, child, external request and accepted update has its
    /// scheduling event in history.
    fn check_pending_items(&self, written: &std::ops::Range<i64>) -> Result<(), String> {
        let missing = |kind: &str, id: i64| Err(format!("{kind} {id} has no scheduling event"));
        for (id, activity) in &self.activities {
            if !written.contains(id) || activity.scheduled_event_id != *id {
                return missing("activity", *id);
            }
            if activity.attempt < 1
                || (activity.started_time_ms > 0 && activity.retry_ready_time_ms > 0)
            {
                return Err(format!(
                    "activity {id} is both running and waiting for a retry"
                ));
            }
        }
        for timer in self.timers.values() {
            if !written.contains(&timer.started_event_id) {
                return missing("timer", timer.started_event_id);
            }
        }
        for (id, child) in &self.children {
            if !written.contains(id) || child.started_event_id >= self.next_event_id {
                return missing("child", *id);
            }
        }
        for id in self.external_requests.keys() {
            if !written.contains(id) {
                return missing("external request", *id);
            }
        }
        for update in self.updates.values() {
            if update.accepted_event_id != 0 && !written.contains(&update.accepted_event_id) {
                return missing("update", update.accepted_event_id);
            }
        }
        Ok(())
    }
}

/// The events of one transition continue the run's history without gaps.
pub(super) fn check_contiguous(events: &[HistoryEvent], next_event_id: i64) -> Result<(), String> {
    let first = next_event_id - events.len() as i64;
    for (offset, event) in events.iter().enumerate() {
        if event.event_id != first + offset as i64 {
            return Err(format!(
                "event {} written where {} was due",
                event.event_id,
                first + offset as i64
            ));
        }
    }
    Ok(())
}

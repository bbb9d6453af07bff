//! The timer service: one ordered set of (instant, run id) wake-ups for every open run.
//!
//! After each committed transition the history side registers the run's next deadline
//! (`Execution::next_wakeup`). A single task sleeps until the earliest entry and asks the
//! history side to process the run's due work. Entries that turn out to be stale are harmless:
//! processing a run with nothing due changes nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct TimerQueue {
    entries: Mutex<BTreeSet<(i64, String)>>,
    changed: Notify,
    /// Wake-ups taken from the queue whose processing has not finished yet.
    in_flight: Arc<AtomicUsize>,
}

impl TimerQueue {
    pub fn schedule(&self, at_ms: i64, run_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let is_earliest = entries.first().is_none_or(|(first, _)| at_ms < *first);
        entries.insert((at_ms, run_id.to_string()));
        drop(entries);
        if is_earliest {
            self.changed.notify_one();
        }
    }

    /// The instant of the earliest entry.
    pub fn next_at(&self) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.first().map(|(at, _)| *at)
    }

    /// True when no taken wake-up is still being processed.
    pub fn is_quiet(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Makes the run loop re-read the clock (after the clock jumped).
    pub fn wake(&self) {
        self.changed.notify_one();
    }

    /// Removes and returns every run due at `now_ms` (start-up catches up on them first).
    pub fn take_overdue(&self, now_ms: i64) -> Vec<String> {
        self.take_due(now_ms).unwrap_or_default()
    }

    /// Removes and returns the runs due at `now_ms`, or the instant of the next entry.
    fn take_due(&self, now_ms: i64) -> Result<Vec<String>, Option<i64>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        while let Some((at, _)) = entries.first() {
            if *at > now_ms {
                break;
            }
            if let Some((_, run_id)) = entries.pop_first() {
                due.push(run_id);
            }
        }
        if due.is_empty() {
            Err(entries.first().map(|(at, _)| *at))
        } else {
            Ok(due)
        }
    }

    /// Runs forever: calls `fire` for each run whose wake-up is due.
    pub async fn run<F, Fut>(self: Arc<Self>, now_ms: impl Fn() -> i64, fire: F)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        loop {
            match self.take_due(now_ms()) {
                Ok(due) => {
                    for run_id in due {
                        self.in_flight.fetch_add(1, Ordering::SeqCst);
                        let in_flight = self.in_flight.clone();
                        let processing = fire(run_id);
                        tokio::spawn(async move {
                            processing.await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                }
                Err(next) => {
                    let wait = next.map_or(std::time::Duration::from_secs(3600), |at| {
                        std::time::Duration::from_millis((at - now_ms()).max(1) as u64)
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

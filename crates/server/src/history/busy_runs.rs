//! The runs with a workflow or activity task outstanding: what a time-skipping clock waits
//! for before it jumps ([`History::is_idle`](super::History::is_idle)). Only a server whose
//! clock skips keeps the set; elsewhere it would cost memory per waiting run for nothing.

use std::collections::HashSet;
use std::sync::Mutex;

pub(super) struct BusyRuns {
    /// `None` when the clock never skips.
    runs: Option<Mutex<HashSet<String>>>,
}

impl BusyRuns {
    pub(super) fn new(tracked: bool) -> Self {
        BusyRuns {
            runs: tracked.then(Mutex::default),
        }
    }

    /// Records whether the run has tasks outstanding.
    pub(super) fn note(&self, run_id: &str, busy: bool) {
        let Some(runs) = &self.runs else {
            return;
        };
        let mut runs = runs.lock().unwrap_or_else(|e| e.into_inner());
        if busy {
            runs.insert(run_id.to_string());
        } else {
            runs.remove(run_id);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.runs
            .as_ref()
            .is_none_or(|runs| runs.lock().unwrap_or_else(|e| e.into_inner()).is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tracking_set_holds_runs() {
        let tracked = BusyRuns::new(true);
        tracked.note("r", true);
        assert!(!tracked.is_empty());
        tracked.note("r", false);
        assert!(tracked.is_empty());
        let untracked = BusyRuns::new(false);
        untracked.note("r", true);
        assert!(
            untracked.is_empty(),
            "nothing held where no clock waits for it"
        );
    }
}

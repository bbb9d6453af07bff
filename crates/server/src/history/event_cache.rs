//! Recent runs' histories in memory, bounded in bytes.
//!
//! A worker without a sticky cache receives a run's whole history with every workflow task,
//! so without this each such poll read the history back from the store (a blocking-pool hop
//! and a query) right after the same server wrote it. Committed events are appended here
//! after their write is durable and before the new state is published, so whoever sees a
//! state also finds its events here (or nothing, and reads the store). A run whose appends
//! would leave a gap (a write whose outcome is unknown, a cache eviction) is dropped and read
//! from the store again. Eviction is oldest-inserted first: new runs are the ones polled next.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use prost::Message;
use temper_api::proto::history::v1::HistoryEvent;
use temper_store::EncodedEvent;

/// Bytes of encoded events the cache holds at most.
pub(crate) const HISTORY_CACHE_BYTES: usize = 32 << 20;

/// What an event costs besides its encoding (its `Bytes` handle, shared allocation header and
/// rounding).
const EVENT_OVERHEAD_BYTES: usize = 64;

/// One run's events from event 1 on, encoded: a decoded event takes several times its encoded
/// size in memory, and the capacity is meant in resident bytes. The encodings are the ones the
/// store wrote (shared, not copied).
struct CachedHistory {
    events: Vec<Bytes>,
    bytes: usize,
}

#[derive(Default)]
struct Cached {
    runs: HashMap<String, CachedHistory>,
    /// Run ids in insertion order (ids of runs dropped since are skipped on eviction).
    order: VecDeque<String>,
    bytes: usize,
}

pub(crate) struct EventCache {
    cached: Mutex<Cached>,
    capacity_bytes: usize,
}

impl EventCache {
    pub(crate) fn new(capacity_bytes: usize) -> EventCache {
        EventCache {
            cached: Mutex::new(Cached::default()),
            capacity_bytes,
        }
    }

    /// Records events a committed write appended to a run (contiguous from `events[0]`).
    pub(crate) fn appended(&self, run_id: &str, events: &[EncodedEvent]) {
        let Some(first) = events.first() else {
            return;
        };
        let encoded: Vec<Bytes> = events.iter().map(|e| e.bytes.clone()).collect();
        let bytes: usize = encoded.iter().map(|e| e.len() + EVENT_OVERHEAD_BYTES).sum();
        let mut cached = self.lock();
        let next_event_id = cached
            .runs
            .get(run_id)
            .map(|run| run.events.len() as i64 + 1);
        match next_event_id {
            Some(next) if next == first.event_id => {
                if let Some(run) = cached.runs.get_mut(run_id) {
                    run.events.extend(encoded);
                    run.bytes += bytes;
                }
                cached.bytes += bytes;
            }
            None if first.event_id == 1 => {
                let run = CachedHistory {
                    events: encoded,
                    bytes,
                };
                cached.runs.insert(run_id.to_string(), run);
                cached.order.push_back(run_id.to_string());
                cached.bytes += bytes;
            }
            // A gap: what is cached no longer matches the store.
            _ => cached.remove(run_id),
        }
        cached.evict_to(self.capacity_bytes);
    }

    /// Up to `max_events` events of a run from `first_event_id` on, if the run is cached.
    pub(crate) fn read(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Option<Vec<HistoryEvent>> {
        let encoded: Vec<Bytes> = {
            let cached = self.lock();
            let run = cached.runs.get(run_id)?;
            let start = usize::try_from(first_event_id.max(1) - 1).ok()?;
            let end = start.saturating_add(max_events).min(run.events.len());
            run.events.get(start..end).unwrap_or_default().to_vec()
        };
        // Decoded outside the lock (other polls and commits use it meanwhile). Events the
        // store wrote; one that does not decode is a bug, and the store still has it.
        encoded
            .iter()
            .map(|bytes| HistoryEvent::decode(bytes.as_ref()).ok())
            .collect()
    }

    /// Drops a run (deleted, or its cached history can no longer be trusted).
    pub(crate) fn forget(&self, run_id: &str) {
        self.lock().remove(run_id);
    }

    /// Drops every run (shards moved away: their runs may grow on another node, and the
    /// cache holds no shard of a run to drop only theirs).
    pub(crate) fn forget_all(&self) {
        *self.lock() = Cached::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Cached {
    fn remove(&mut self, run_id: &str) {
        if let Some(run) = self.runs.remove(run_id) {
            self.bytes -= run.bytes;
        }
    }

    fn evict_to(&mut self, capacity_bytes: usize) {
        while self.bytes > capacity_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.remove(&oldest);
        }
        // Ids of runs dropped by `forget` or a gap stay in `order` until reached; keep the
        // queue from growing past the runs it describes.
        if self.order.len() > 2 * self.runs.len() + 1024 {
            let runs = &self.runs;
            self.order.retain(|id| runs.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(ids: std::ops::Range<i64>) -> Vec<EncodedEvent> {
        ids.map(|event_id| {
            EncodedEvent::of(&HistoryEvent {
                event_id,
                ..Default::default()
            })
        })
        .collect()
    }

    fn ids(events: &[HistoryEvent]) -> Vec<i64> {
        events.iter().map(|e| e.event_id).collect()
    }

    #[test]
    fn contiguous_appends_are_read_back_from_any_event() {
        let cache = EventCache::new(HISTORY_CACHE_BYTES);
        cache.appended("run", &events(1..3));
        cache.appended("run", &events(3..6));
        let read = cache.read("run", 1, usize::MAX).expect("cached");
        assert_eq!(ids(&read), vec![1, 2, 3, 4, 5]);
        let read = cache.read("run", 4, 1).expect("cached");
        assert_eq!(ids(&read), vec![4]);
        assert_eq!(cache.read("run", 9, 10).map(|e| e.len()), Some(0));
    }

    #[test]
    fn a_gap_or_a_run_not_seen_from_its_start_is_not_cached() {
        let cache = EventCache::new(HISTORY_CACHE_BYTES);
        cache.appended("late", &events(4..6));
        assert!(cache.read("late", 1, 10).is_none());
        cache.appended("gap", &events(1..3));
        cache.appended("gap", &events(5..6));
        assert!(cache.read("gap", 1, 10).is_none(), "a gap drops the run");
    }

    #[test]
    fn the_oldest_runs_are_evicted_past_the_byte_capacity() {
        let one_run: usize = events(1..4)
            .iter()
            .map(|e| e.bytes.len() + EVENT_OVERHEAD_BYTES)
            .sum();
        let cache = EventCache::new(2 * one_run);
        for run in ["a", "b", "c"] {
            cache.appended(run, &events(1..4));
        }
        assert!(cache.read("a", 1, 10).is_none());
        assert!(cache.read("b", 1, 10).is_some());
        assert!(cache.read("c", 1, 10).is_some());
        cache.forget("c");
        assert!(cache.read("c", 1, 10).is_none());
    }
}

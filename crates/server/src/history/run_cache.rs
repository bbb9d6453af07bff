//! The run cache: the states of recently used runs, bounded in bytes.
//!
//! Every operation on a run goes through its [`RunEntry`]: the entry's lock serialises the
//! run's transitions and its watch channel wakes long polls. The store holds every run, so
//! any entry nobody is using can be dropped and loaded again on its next use; when the
//! cached states' estimated size passes the budget, the least recently used idle entries
//! (open runs as well as closed ones) are dropped until it is back under three quarters of
//! it. Nothing else in memory holds a run's state: timers, task queues and the busy set name
//! runs by id and load them through here, so memory follows the budget, not the number of
//! open runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use temper_engine::Execution;
use tokio::sync::watch;

/// What an entry costs besides its state: the entry itself, its watch channel's shared state
/// (about 400 bytes), the map's slot and the run id (measured: 100,000 entries without a
/// state took 50 MB).
const ENTRY_OVERHEAD: usize = std::mem::size_of::<RunEntry>() + 448;

/// Decoded messages take about this many times their encoded size in memory (strings and
/// byte vectors on the heap, maps' nodes), measured on workflow states.
const DECODED_PER_ENCODED: usize = 3;

pub(super) struct RunEntry {
    /// `None` until loaded from the store; set it with [`RunCache::put`]. Boxed: an
    /// `Execution` is 2.7 KB before any of its heap parts, which an entry without a state
    /// (one recovery or a long poll just looked up) should not pay.
    pub(super) state: tokio::sync::Mutex<Option<Arc<Execution>>>,
    /// Bumped after every committed change; long polls wait on it.
    pub(super) changed: watch::Sender<i64>,
    /// The cache's use counter when the entry was last handed out.
    last_used: AtomicU64,
    /// The estimated size of the state held (0 when none).
    state_bytes: AtomicUsize,
}

pub(super) struct RunCache {
    runs: Mutex<HashMap<String, Arc<RunEntry>>>,
    /// Estimated bytes of every entry and its state.
    bytes: AtomicUsize,
    budget: usize,
    /// Size at which to evict next: the budget, or more when the last eviction could not
    /// get under it (entries in use), so that a put does not scan the cache every time.
    evict_above: AtomicUsize,
    uses: AtomicU64,
    /// While above zero, nothing is evicted (see [`RunCache::hold_evictions`]).
    holds: AtomicUsize,
}

/// Keeps the cache from evicting until dropped.
pub(super) struct EvictionHold<'a>(&'a RunCache);

impl Drop for EvictionHold<'_> {
    fn drop(&mut self) {
        let cache = self.0;
        if cache.holds.fetch_sub(1, Ordering::AcqRel) == 1 && cache.is_over_budget() {
            cache.evict();
        }
    }
}

impl RunCache {
    pub(super) fn new(budget: usize) -> Self {
        RunCache {
            runs: Mutex::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            budget,
            evict_above: AtomicUsize::new(budget),
            uses: AtomicU64::new(0),
            holds: AtomicUsize::new(0),
        }
    }

    /// The run's entry, created (empty) if it is not cached.
    pub(super) fn entry(&self, run_id: &str) -> Arc<RunEntry> {
        let used = self.uses.fetch_add(1, Ordering::Relaxed);
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let entry = runs.entry(run_id.to_string()).or_insert_with(|| {
            self.bytes.fetch_add(ENTRY_OVERHEAD, Ordering::Relaxed);
            Arc::new(RunEntry {
                state: tokio::sync::Mutex::new(None),
                changed: watch::channel(0).0,
                last_used: AtomicU64::new(used),
                state_bytes: AtomicUsize::new(0),
            })
        });
        entry.last_used.store(used, Ordering::Relaxed);
        entry.clone()
    }

    /// Replaces the state held in `slot` (the locked state of `entry`), then evicts if the
    /// cache is over its budget.
    pub(super) fn put(
        &self,
        entry: &RunEntry,
        slot: &mut Option<Arc<Execution>>,
        state: Option<Arc<Execution>>,
    ) {
        let bytes = state.as_deref().map_or(0, estimated_size);
        let before = entry.state_bytes.swap(bytes, Ordering::Relaxed);
        *slot = state;
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.bytes.fetch_sub(before, Ordering::Relaxed);
        if self.is_over_budget() {
            self.evict();
        }
    }

    fn is_over_budget(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) > self.evict_above.load(Ordering::Relaxed)
    }

    /// Stops evictions until the hold is dropped: start-up recovery takes one while it
    /// publishes a page of runs read from the store, so a run a request changed after the
    /// page was read is still cached (and its newer state used) when recovery reaches it.
    pub(super) fn hold_evictions(&self) -> EvictionHold<'_> {
        self.holds.fetch_add(1, Ordering::AcqRel);
        EvictionHold(self)
    }

    /// Drops the run's entry if it holds no state and is idle: one that was only looked up
    /// (recovery publishing a run from its page) need not take room until the next eviction.
    pub(super) fn release(&self, run_id: &str) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = runs.get(run_id) else {
            return;
        };
        if is_idle(entry) && entry.state_bytes.load(Ordering::Relaxed) == 0 {
            runs.remove(run_id);
            self.bytes.fetch_sub(ENTRY_OVERHEAD, Ordering::Relaxed);
        }
    }

    /// How many runs have an entry.
    pub(super) fn len(&self) -> usize {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The estimated bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Every cached entry.
    pub(super) fn entries(&self) -> Vec<(String, Arc<RunEntry>)> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.iter().map(|(id, e)| (id.clone(), e.clone())).collect()
    }

    /// Drops the least recently used idle entries until the cache holds at most three
    /// quarters of its budget.
    fn evict(&self) {
        if self.holds.load(Ordering::Acquire) > 0 {
            return;
        }
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let mut idle: Vec<(u64, String)> = runs
            .iter()
            .filter(|(_, entry)| is_idle(entry))
            .map(|(id, entry)| (entry.last_used.load(Ordering::Relaxed), id.clone()))
            .collect();
        idle.sort_unstable();
        let target = self.budget / 4 * 3;
        for (_, run_id) in idle {
            if self.bytes.load(Ordering::Relaxed) <= target {
                break;
            }
            if let Some(entry) = runs.remove(&run_id) {
                let freed = ENTRY_OVERHEAD + entry.state_bytes.load(Ordering::Relaxed);
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
            }
        }
        let left = self.bytes.load(Ordering::Relaxed);
        self.evict_above
            .store(self.budget.max(left + self.budget / 8), Ordering::Relaxed);
    }
}

/// Nobody holds the entry (so nobody holds its lock) and no long poll waits on its channel:
/// dropping it loses nothing. Called with the map locked, so no new holder can appear.
fn is_idle(entry: &Arc<RunEntry>) -> bool {
    Arc::strong_count(entry) == 1 && entry.changed.receiver_count() == 0
}

/// The memory a decoded state takes: its inline part, and its heap parts estimated from its
/// encoded size.
fn estimated_size(exec: &Execution) -> usize {
    std::mem::size_of::<Execution>() + prost::Message::encoded_len(exec) * DECODED_PER_ENCODED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(run_id: &str) -> Option<Execution> {
        Some(Execution {
            run_id: run_id.into(),
            workflow_type: "x".repeat(1000),
            ..Default::default()
        })
    }

    async fn load(cache: &RunCache, run_id: &str) {
        let entry = cache.entry(run_id);
        let mut slot = entry.state.lock().await;
        cache.put(&entry, &mut slot, state(run_id).map(Arc::new));
    }

    #[tokio::test]
    async fn least_recently_used_idle_runs_go_first_and_the_budget_holds() {
        let per_run = ENTRY_OVERHEAD + estimated_size(&state("r0").unwrap());
        let cache = RunCache::new(per_run * 10);
        for n in 0..10 {
            load(&cache, &format!("r{n}")).await;
        }
        assert_eq!(cache.len(), 10);
        cache.entry("r0"); // used again: now the most recent
        load(&cache, "r10").await;
        assert!(cache.bytes() <= per_run * 10 / 4 * 3 + per_run);
        let kept: Vec<String> = cache.entries().into_iter().map(|(id, _)| id).collect();
        assert!(kept.contains(&"r0".to_string()) && kept.contains(&"r10".to_string()));
        assert!(
            !kept.contains(&"r1".to_string()),
            "r1 was the least recently used"
        );
    }

    #[tokio::test]
    async fn runs_in_use_or_watched_and_held_caches_are_never_evicted() {
        let per_run = ENTRY_OVERHEAD + estimated_size(&state("r0").unwrap());
        let cache = RunCache::new(per_run * 2);
        let in_use = cache.entry("in-use");
        let watched = cache.entry("watched").changed.subscribe();
        {
            let _hold = cache.hold_evictions();
            for n in 0..5 {
                load(&cache, &format!("r{n}")).await;
            }
            assert_eq!(cache.len(), 7, "nothing evicted while held");
        }
        load(&cache, "last").await;
        let kept: Vec<String> = cache.entries().into_iter().map(|(id, _)| id).collect();
        assert!(kept.contains(&"in-use".to_string()) && kept.contains(&"watched".to_string()));
        assert!(cache.len() < 7);
        drop((in_use, watched));
    }

    #[tokio::test]
    async fn an_entry_only_looked_up_is_released_and_one_with_a_state_is_kept() {
        let cache = RunCache::new(1 << 20);
        drop(cache.entry("looked-up"));
        cache.release("looked-up");
        load(&cache, "loaded").await;
        cache.release("loaded");
        let kept: Vec<String> = cache.entries().into_iter().map(|(id, _)| id).collect();
        assert_eq!(kept, vec!["loaded".to_string()]);
        assert_eq!(
            cache.bytes(),
            ENTRY_OVERHEAD + estimated_size(&state("loaded").unwrap())
        );
    }
}

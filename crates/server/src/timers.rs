//! The timer service: an ordered set of (instant, key) wake-ups, where a key is a run id, a
//! schedule's or a standalone activity's.
//!
//! After each committed transition the history side registers the run's next deadline
//! (`Execution::next_wakeup`). A single task sleeps until the earliest entry and asks the
//! history side to process the run's due work. Entries that turn out to be stale are harmless:
//! processing a run with nothing due changes nothing.
//!
//! Runs' wake-ups are also indexed by the store (every write records the run's next one), so
//! memory holds only the near future's: those up to `loaded_until`, read from the store
//! [`LOOKAHEAD_MS`] ahead, at most [`LOAD_LIMIT`] at a time. A run's wake-up registered past
//! `loaded_until` is left to the store (it was committed before it was registered, so a read
//! that covers its instant finds it); only the earliest such instant is remembered, for a
//! time-skipping clock that must know where to jump. Other keys are always held in memory
//! (there are few: one per schedule or standalone activity). Without a store (unit tests)
//! everything is held in memory.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use temper_store::{Store, StoreError};
use tokio::sync::Notify;

use crate::cluster::{Shards, held_scope};

/// How far ahead runs' wake-ups are read from the store (and read again when half of it has
/// passed).
const LOOKAHEAD_MS: i64 = 60_000;

/// Most wake-ups read from the store at a time; more are read once fewer than half of them
/// are left in memory.
const LOAD_LIMIT: usize = 10_000;

/// How long the service waits before reading the store again after a read failed.
const RETRY_MS: i64 = 1_000;

pub struct TimerQueue {
    state: Mutex<Wakeups>,
    changed: Notify,
    /// Wake-ups taken from the queue whose processing has not finished yet.
    in_flight: Arc<AtomicUsize>,
    /// Where runs' wake-ups are indexed; `None`: all of them are held in memory.
    store: Option<Arc<dyn Store>>,
    /// The shard leases of a node sharing its database: only its shards' wake-ups are read.
    shards: Option<Arc<Shards>>,
}

struct Wakeups {
    entries: BTreeSet<(i64, String)>,
    /// Runs' wake-ups up to this instant are in `entries`; later ones only in the store.
    loaded_until: i64,
    /// The earliest run wake-up known to be past `loaded_until`, if any.
    beyond: Option<i64>,
    /// No read of the store before this instant (the last one failed).
    retry_at: i64,
    /// How many times the wake-ups were read again from the earliest ([`TimerQueue::reload`]):
    /// a read that began before one must not mark its range loaded.
    reloads: u64,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue::with_store(None)
    }
}

impl TimerQueue {
    /// A queue reading runs' wake-ups from `store` (nothing is loaded until the service runs
    /// or [`TimerQueue::take_overdue`] is called).
    pub fn with_store(store: Option<Arc<dyn Store>>) -> Self {
        TimerQueue {
            state: Mutex::new(Wakeups {
                entries: BTreeSet::new(),
                loaded_until: if store.is_some() { i64::MIN } else { i64::MAX },
                beyond: None,
                retry_at: i64::MIN,
                reloads: 0,
            }),
            changed: Notify::new(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            store,
            shards: None,
        }
    }

    /// The same queue on a node that shares its database: it reads only the wake-ups of the
    /// shards the node holds.
    pub fn in_cluster(mut self, shards: Option<Arc<Shards>>) -> Self {
        self.shards = shards;
        self
    }

    /// Reads runs' wake-ups from the store again from the earliest (this node took shards
    /// whose wake-ups it does not hold); those already held are kept.
    pub fn reload(&self) {
        if self.store.is_none() {
            return;
        }
        let mut state = self.lock();
        state.loaded_until = i64::MIN;
        state.reloads += 1;
        drop(state);
        self.changed.notify_one();
    }

    /// Registers a wake-up of a schedule or standalone activity (always held in memory).
    pub fn schedule(&self, at_ms: i64, key: &str) {
        let mut state = self.lock();
        let is_earliest = state
            .entries
            .first()
            .is_none_or(|(first, _)| at_ms < *first);
        state.entries.insert((at_ms, key.to_string()));
        drop(state);
        if is_earliest {
            self.changed.notify_one();
        }
    }

    /// Registers a run's next wake-up, which its committed state (and so the store's index)
    /// already holds: kept in memory only if it falls within what is loaded.
    pub fn schedule_run(&self, at_ms: i64, run_id: &str) {
        let mut state = self.lock();
        if at_ms > state.loaded_until {
            state.beyond = Some(state.beyond.map_or(at_ms, |b| b.min(at_ms)));
            return;
        }
        drop(state);
        self.schedule(at_ms, run_id);
    }

    /// The instant of the earliest wake-up, in memory or in the store.
    pub fn next_at(&self) -> Option<i64> {
        let state = self.lock();
        let first = state.entries.first().map(|(at, _)| *at);
        match (first, state.beyond) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when no taken wake-up is still being processed.
    pub fn is_quiet(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Makes the run loop re-read the clock (after the clock jumped).
    pub fn wake(&self) {
        self.changed.notify_one();
    }

    /// Removes and returns what is due at `now_ms` (start-up catches up on it first), after
    /// reading the store's wake-ups up to then.
    pub async fn take_overdue(&self, now_ms: i64) -> Vec<String> {
        if self.wants_load(now_ms) {
            self.load(now_ms).await;
        }
        self.take_due(now_ms).unwrap_or_default()
    }

    /// Removes and returns the keys due at `now_ms`, or the instant of the next entry.
    fn take_due(&self, now_ms: i64) -> Result<Vec<String>, Option<i64>> {
        let mut state = self.lock();
        let mut due = Vec::new();
        while let Some((at, _)) = state.entries.first() {
            if *at > now_ms {
                break;
            }
            if let Some((_, key)) = state.entries.pop_first() {
                due.push(key);
            }
        }
        if due.is_empty() {
            Err(state.entries.first().map(|(at, _)| *at))
        } else {
            Ok(due)
        }
    }

    /// Whether to read more wake-ups from the store: half the lookahead has passed and memory
    /// is not full of earlier ones.
    fn wants_load(&self, now_ms: i64) -> bool {
        let state = self.lock();
        self.store.is_some()
            && state.loaded_until < now_ms.saturating_add(LOOKAHEAD_MS / 2)
            && state.entries.len() < LOAD_LIMIT / 2
            && now_ms >= state.retry_at
    }

    /// Reads runs' wake-ups from `loaded_until` to `now_ms` + [`LOOKAHEAD_MS`] (fewer if
    /// there are more than [`LOAD_LIMIT`]) and the earliest instant after them.
    async fn load(&self, now_ms: i64) {
        let Some(store) = &self.store else {
            return;
        };
        let until = now_ms.saturating_add(LOOKAHEAD_MS);
        // Raised before the read: a wake-up registered meanwhile at or before `until` is kept
        // in memory, and one registered before this was committed before the read.
        let (after, reloads) = {
            let mut state = self.lock();
            (
                std::mem::replace(&mut state.loaded_until, until),
                state.reloads,
            )
        };
        let scope = held_scope(self.shards.as_deref());
        match read_wakeups(store.as_ref(), scope.as_deref(), after, until).await {
            Ok(read) => {
                let mut state = self.lock();
                state.entries.extend(read.wakeups);
                // Read for shards held before a reload: the reload's read is still to come.
                if state.reloads == reloads {
                    state.loaded_until = read.loaded_until;
                    state.beyond = read.next;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading timers from the store failed; retrying");
                // What was known past `after` still holds; try again a little later.
                let mut state = self.lock();
                if state.reloads == reloads {
                    state.loaded_until = after;
                }
                state.retry_at = now_ms + RETRY_MS;
            }
        }
    }

    /// Runs forever: calls `fire` for each key whose wake-up is due.
    pub async fn run<F, Fut>(self: Arc<Self>, now_ms: impl Fn() -> i64, fire: F)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        loop {
            if self.wants_load(now_ms()) {
                self.load(now_ms()).await;
            }
            match self.take_due(now_ms()) {
                Ok(due) => {
                    for key in due {
                        self.in_flight.fetch_add(1, Ordering::SeqCst);
                        let in_flight = self.in_flight.clone();
                        let processing = fire(key);
                        tokio::spawn(async move {
                            processing.await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                }
                Err(next) => {
                    let until = self.wait_target(next);
                    let wait = until.map_or(std::time::Duration::from_secs(3600), |at| {
                        std::time::Duration::from_millis(at.saturating_sub(now_ms()).max(1) as u64)
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.changed.notified() => {}
                    }
                }
            }
        }
    }

    /// When the loop must look again: at the next entry, or when it is time to read more
    /// from the store (unless memory is full of earlier wake-ups).
    fn wait_target(&self, next: Option<i64>) -> Option<i64> {
        let state = self.lock();
        if self.store.is_none() || state.entries.len() >= LOAD_LIMIT / 2 {
            return next;
        }
        let reload = state
            .loaded_until
            .saturating_sub(LOOKAHEAD_MS / 2)
            .max(state.retry_at);
        Some(next.map_or(reload, |at| at.min(reload)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wakeups> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What one read of the store's wake-ups found.
struct Read {
    wakeups: Vec<(i64, String)>,
    /// Every wake-up up to this instant is in `wakeups`.
    loaded_until: i64,
    /// The earliest wake-up after `loaded_until`.
    next: Option<i64>,
}

/// Runs' wake-ups after `after` up to `until`; past [`LOAD_LIMIT`], only up to the instant of
/// the last one read (all of that instant's, so that the next read can start after it).
async fn read_wakeups(
    store: &dyn Store,
    shards: Option<&[i32]>,
    after: i64,
    until: i64,
) -> Result<Read, StoreError> {
    let mut wakeups = store.wakeups(shards, after, until, LOAD_LIMIT).await?;
    let mut loaded_until = until;
    if let Some(&(last, _)) = wakeups.last().filter(|_| wakeups.len() == LOAD_LIMIT) {
        wakeups.extend(store.wakeups(shards, last - 1, last, usize::MAX).await?);
        loaded_until = last;
    }
    let next = store.wakeups(shards, loaded_until, i64::MAX, 1).await?;
    Ok(Read {
        wakeups,
        loaded_until,
        next: next.first().map(|(at, _)| *at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use temper_store::sqlite::SqliteStore;
    use temper_store::{EncodedEvent, ExecutionWrite};

    /// Writes open runs `run-N`, each with one timer at `at`.
    async fn runs_with_timers(store: &dyn Store, fire_times: &[i64]) {
        let writes = fire_times
            .iter()
            .enumerate()
            .map(|(n, at)| {
                let mut exec = temper_engine::Execution {
                    namespace: "default".into(),
                    workflow_id: format!("wf-{n}"),
                    run_id: format!("run-{n}"),
                    status: 1,
                    db_version: 1,
                    next_event_id: 2,
                    ..Default::default()
                };
                let timer = temper_engine::state::TimerInfo {
                    timer_id: "t".into(),
                    started_event_id: 1,
                    fire_time_ms: *at,
                };
                exec.timers.insert("t".into(), timer);
                let started = temper_api::proto::history::v1::HistoryEvent {
                    event_id: 1,
                    ..Default::default()
                };
                ExecutionWrite {
                    execution: exec.into(),
                    expected_db_version: 0,
                    new_events: vec![EncodedEvent::of(&started)],
                    make_current: true,
                    brand_new: false,
                    signal_request_ids: Vec::new(),
                    fence: None,
                    shard: None,
                }
            })
            .collect();
        store.write(writes).await.expect("written");
    }

    #[tokio::test]
    async fn only_the_near_future_is_held_and_the_rest_is_read_when_due() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("store"));
        let far = 10 * LOOKAHEAD_MS;
        runs_with_timers(&*store, &[1_000, 2_000, far]).await;
        let timers = TimerQueue::with_store(Some(store));
        assert_eq!(timers.take_overdue(1_500).await, vec!["run-0".to_string()]);
        assert_eq!(
            timers.lock().entries.len(),
            1,
            "run-1 only; the far one stays in the store"
        );
        assert_eq!(timers.next_at(), Some(2_000));
        // Registered past what is loaded: left to the store, but known as the next instant
        // once nothing nearer is left.
        timers.schedule_run(far - 1, "run-9");
        assert_eq!(timers.lock().entries.len(), 1);
        assert_eq!(timers.take_due(2_000), Ok(vec!["run-1".to_string()]));
        assert_eq!(timers.next_at(), Some(far - 1));
        // Time passes (a skipping clock jumps): the far wake-up is read when it is near.
        assert_eq!(timers.take_overdue(far).await, vec!["run-2".to_string()]);
        // Schedules' and activities' keys are always held.
        timers.schedule(100 * far, "schedule");
        assert_eq!(timers.next_at(), Some(100 * far));
    }

    #[tokio::test]
    async fn a_reload_reads_wake_ups_again_and_the_running_queue_fires_them() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("store"));
        let now = crate::clock::real_now_ms();
        let timers = Arc::new(TimerQueue::with_store(Some(store.clone())));
        assert!(timers.take_overdue(now).await.is_empty());
        // Written without being registered (a shard this node just took), then reloaded.
        runs_with_timers(&*store, &[now + 50]).await;
        timers.reload();
        assert_eq!(
            timers.wait_target(None),
            Some(i64::MIN),
            "the read is due at once"
        );
        let (fired, mut fires) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(timers.clone().run(crate::clock::real_now_ms, move |key| {
            let _ = fired.send(key);
            async {}
        }));
        let key = tokio::time::timeout(std::time::Duration::from_secs(5), fires.recv()).await;
        assert_eq!(key.expect("fired"), Some("run-0".to_string()));
    }

    #[tokio::test]
    async fn more_wake_ups_than_the_limit_are_read_in_turns() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().expect("store"));
        let fire_times: Vec<i64> = (0..LOAD_LIMIT as i64 + 10).map(|n| 1_000 + n).collect();
        runs_with_timers(&*store, &fire_times).await;
        let timers = TimerQueue::with_store(Some(store));
        let now = 1_000 + LOAD_LIMIT as i64 + 10;
        let first = timers.take_overdue(now).await;
        assert_eq!(first.len(), LOAD_LIMIT);
        let rest = timers.take_overdue(now).await;
        assert_eq!(rest.len(), 10, "the rest, each once");
    }
}

//! Standalone activities: Temporal's `*ActivityExecution*` RPCs (an activity a client starts
//! without a workflow) and the worker side of their attempts.
//!
//! Each run is one [`ActivityRun`] record in the store (kind `activity_execution`, id
//! `<run id>/<activity id>`), written whole after every change, held in memory once loaded
//! behind one lock per run. What a transition means — validation, attempts, retries, timeouts,
//! cancellation — is `temper_engine::standalone_activity`'s; this module stores, dispatches
//! attempts through matching (as [`QueuedTask::StandaloneActivity`]) and wakes runs through the
//! server's [`TimerQueue`] under keys that cannot be run ids, so timeouts and retries follow
//! the virtual clock in time-skipping mode as workflow activities do. A change is committed
//! before its attempt is offered, so a crash can only re-offer (start-up offers every waiting
//! attempt again; a stale offer is refused when a poller takes it).
//!
//! One file per RPC family: `start.rs`, `describe.rs` (describe and poll, both long polls),
//! `list.rs` (list and count), `requests.rs` (cancel, terminate, delete) and `attempts.rs`
//! (what workers call: poll grants, heartbeats, results).

mod attempts;
mod describe;
mod list;
mod requests;
mod start;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use temper_api::cluster::{RemoteTask, RemoteTaskKind};
use temper_engine::standalone_activity::{ActivityRun, Effects};
use temper_store::{RecordKind, Store};
use tokio::sync::watch;
use tonic::Status;

use crate::cluster::Shards;
use crate::errors;
use crate::history::History;
use crate::matching::{QueueKind, QueuedTask};
use crate::namespaces::Namespaces;
use crate::records::{self, Locked, RecordMap};
use crate::timers::TimerQueue;

pub use attempts::StandaloneAttempt;

/// Timer keys of standalone activities start with this; run ids are UUIDs, so they never do.
const WAKE_PREFIX: &str = "activity\u{0}";

pub struct ActivityExecutions {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    timers: Arc<TimerQueue>,
    /// (namespace, record id) → the run; `None` inside once deleted.
    runs: RecordMap<Option<ActivityRun>>,
    /// (namespace, activity id) → the run id of its latest run.
    latest: Mutex<BTreeMap<(String, String), String>>,
    /// Bumped after every committed change, for long polls.
    changes: watch::Sender<u64>,
    /// Held while a start checks the id and writes its run.
    starting: tokio::sync::Mutex<()>,
}

impl records::StoredState for ActivityRun {
    const KIND: RecordKind = RecordKind::ActivityExecution;

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn id(&self) -> String {
        record_id(&self.activity_id, &self.run_id)
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}

/// A run's record id: its run id (a UUID, so never holding a `/`), then the activity id.
/// (No NUL separator: PostgreSQL text cannot hold one.)
fn record_id(activity_id: &str, run_id: &str) -> String {
    format!("{run_id}/{activity_id}")
}

fn wake_key(namespace: &str, activity_id: &str, run_id: &str) -> String {
    format!("{WAKE_PREFIX}{namespace}\u{0}{activity_id}\u{0}{run_id}")
}

/// The (namespace, activity id, run id) of a timer key, if it is a standalone activity's.
pub fn parse_wake_key(key: &str) -> Option<(&str, &str, &str)> {
    let rest = key.strip_prefix(WAKE_PREFIX)?;
    let (namespace, rest) = rest.split_once('\u{0}')?;
    let (activity_id, run_id) = rest.rsplit_once('\u{0}')?;
    Some((namespace, activity_id, run_id))
}

/// Temporal's answer for an activity (or run) that does not exist.
fn not_found(activity_id: &str) -> Status {
    errors::not_found(format!("activity not found for ID: {activity_id}"))
}

/// How long after shards changed hands the waiting attempts are offered again.
const QUEUES_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

type Guard = tokio::sync::OwnedMappedMutexGuard<Option<ActivityRun>, ActivityRun>;

impl ActivityExecutions {
    /// Reads every stored run (replacing what is in memory: the store is never behind it),
    /// re-offers waiting attempts and arms the runs' wake-ups.
    async fn read_all(&self) -> Result<(), temper_store::StoreError> {
        let rows = self.store.records(RecordKind::ActivityExecution).await?;
        let mut runs: Vec<ActivityRun> = Vec::with_capacity(rows.len());
        for row in rows {
            let run: ActivityRun = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("activity: {e}")))?;
            runs.push(run);
        }
        let kept = runs
            .iter()
            .map(|run| {
                (
                    run.namespace.clone(),
                    record_id(&run.activity_id, &run.run_id),
                )
            })
            .collect();
        self.runs.keep_only(&kept);
        // Oldest first, so the latest run of each activity id is the last one noted.
        runs.sort_by_key(|run| run.activity().scheduled_time_ms);
        for run in runs {
            let effects = Effects {
                dispatch: run.dispatchable_attempt(),
            };
            self.after_commit(&run, effects);
            self.insert(run);
        }
        Ok(())
    }

    /// A spread cluster's node that became the coordinator (the previous one died, or gave
    /// shard 0 up) takes the standalone activities over as the previous one left them: reads
    /// them again, offers their waiting attempts and arms their wake-ups.
    pub async fn take_over(&self) -> Result<(), temper_store::StoreError> {
        self.read_all().await
    }

    /// Loads every stored run, re-offers waiting attempts and arms the runs' wake-ups.
    pub async fn load(
        store: Arc<dyn Store>,
        history: Arc<History>,
        namespaces: Arc<Namespaces>,
        timers: Arc<TimerQueue>,
    ) -> Result<Arc<ActivityExecutions>, temper_store::StoreError> {
        let executions = Arc::new(ActivityExecutions {
            store,
            history,
            namespaces,
            timers,
            runs: RecordMap::default(),
            latest: Mutex::new(BTreeMap::new()),
            changes: watch::channel(0).0,
            starting: tokio::sync::Mutex::new(()),
        });
        executions.read_all().await?;
        Ok(executions)
    }

    fn insert(&self, run: ActivityRun) {
        let key = (run.namespace.clone(), run.activity_id.clone());
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, run.run_id.clone());
        let id = record_id(&run.activity_id, &run.run_id);
        let namespace = run.namespace.clone();
        self.runs.insert(&namespace, &id, Some(run));
    }

    /// The run id a request names: its own, or the activity's latest run.
    fn resolve_run_id(&self, namespace: &str, activity_id: &str, run_id: &str) -> Option<String> {
        if !run_id.is_empty() {
            return Some(run_id.to_string());
        }
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest
            .get(&(namespace.to_string(), activity_id.to_string()))
            .cloned()
    }

    fn entry(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> Option<Locked<Option<ActivityRun>>> {
        let run_id = self.resolve_run_id(namespace, activity_id, run_id)?;
        self.runs.get(namespace, &record_id(activity_id, &run_id))
    }

    /// The run, locked; NOT_FOUND (in Temporal's words) if there is none.
    async fn locked(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> Result<Guard, Status> {
        if activity_id.is_empty() {
            return Err(errors::invalid("activity ID is required"));
        }
        if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
            return Err(errors::invalid("invalid run id: must be a valid UUID"));
        }
        let entry = self
            .entry(namespace, activity_id, run_id)
            .ok_or_else(|| not_found(activity_id))?;
        tokio::sync::OwnedMutexGuard::try_map(entry.lock_owned().await, Option::as_mut)
            .map_err(|_| not_found(activity_id))
    }

    fn now_ms(&self) -> i64 {
        self.history.now_ms()
    }

    /// Commits a changed run (its copy in memory is only replaced once the write succeeded),
    /// then does what the change asks for.
    async fn commit(
        &self,
        guard: &mut Guard,
        changed: ActivityRun,
        effects: Effects,
    ) -> Result<(), Status> {
        let mut changed = changed;
        records::save(self.store.as_ref(), &mut changed).await?;
        self.after_commit(&changed, effects);
        **guard = changed;
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Offers the attempt the change made ready and arms the run's next wake-up.
    fn after_commit(&self, run: &ActivityRun, effects: Effects) {
        if let Some(attempt) = effects.dispatch {
            self.offer_attempt(run, attempt);
        }
        if let Some(at) = run.next_wakeup() {
            let key = wake_key(&run.namespace, &run.activity_id, &run.run_id);
            self.timers.schedule(at, &key);
        }
    }

    /// Offers an attempt to its task queue: here, or at the queue's owner (a spread cluster).
    fn offer_attempt(&self, run: &ActivityRun, attempt: i32) {
        let queue = &run.activity().task_queue;
        if let Some(peers) = self.history.queue_elsewhere(&run.namespace, queue) {
            let task = RemoteTask {
                namespace: run.namespace.clone(),
                task_queue: queue.clone(),
                kind: RemoteTaskKind::StandaloneActivity as i32,
                activity_id: run.activity_id.clone(),
                run_id: run.run_id.clone(),
                attempt,
                ..Default::default()
            };
            return self.history.offer_remotely(peers, task);
        }
        let task = QueuedTask::StandaloneActivity {
            activity_id: run.activity_id.clone(),
            run_id: run.run_id.clone(),
            attempt,
        };
        self.history
            .matching()
            .offer(&run.namespace, queue, QueueKind::Activity, task);
    }

    /// Runs until the process ends on a node of a spread cluster: whenever shards change
    /// hands (and task queues with them), offers every waiting attempt again.
    pub async fn offer_attempts_when_queues_move(self: Arc<Self>, shards: Arc<Shards>) {
        let mut ownership = shards.ownership_changes();
        while ownership.changed().await.is_ok() {
            // After the queues' new owners have taken them (`history/shard_moves.rs`).
            tokio::time::sleep(QUEUES_SETTLE).await;
            ownership.borrow_and_update();
            self.offer_waiting_attempts().await;
        }
    }

    /// Offers every waiting attempt again, when this node keeps the standalone activities
    /// (coordinates).
    async fn offer_waiting_attempts(&self) {
        if !self.history.coordinates() {
            return;
        }
        for entry in self.runs.all() {
            let slot = entry.lock().await;
            let Some(run) = slot.as_ref() else { continue };
            if let Some(attempt) = run.dispatchable_attempt() {
                self.offer_attempt(run, attempt);
            }
        }
    }

    /// Timer callback: does whatever is due on the run.
    pub async fn on_timer(&self, namespace: &str, activity_id: &str, run_id: &str) {
        // In a spread cluster only the coordinator changes standalone activities (a node
        // that becomes it arms their wake-ups again: `take_over`).
        if !self.history.coordinates() {
            return;
        }
        let Ok(mut guard) = self.locked(namespace, activity_id, run_id).await else {
            return;
        };
        let mut changed = guard.clone();
        let before = changed.clone();
        let effects = changed.on_time(self.now_ms());
        if changed == before {
            self.after_commit(&changed, Effects::default());
            return;
        }
        if let Err(status) = self.commit(&mut guard, changed, effects).await {
            tracing::warn!(namespace, activity_id, %status, "activity wake-up failed");
            let retry_ms = self.now_ms() + 1_000;
            self.timers
                .schedule(retry_ms, &wake_key(namespace, activity_id, run_id));
        }
    }

    /// Forgets a deleted namespace's runs (the store deletes their rows with it).
    pub fn forget_namespace(&self, namespace: &str) {
        self.runs.forget_namespace(namespace);
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(ns, _), _| ns != namespace);
    }
}

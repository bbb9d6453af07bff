//! Schedules: Temporal's `*Schedule*` RPCs and the scheduler that takes their actions.
//!
//! A schedule is one [`ScheduleRecord`] in the store (a record of kind `schedule`, written
//! whole after every change), held in memory once loaded; one lock per schedule serialises its RPCs and
//! wake-ups. What a spec means — canonical form, next times, jitter, overlap decisions — is
//! `temper-schedule`'s; this module stores, wakes and acts. Wake-ups go through the server's
//! [`TimerQueue`] under a key that cannot be a run id, so schedules fire on the virtual clock
//! in time-skipping mode exactly like timers. Starting a workflow is idempotent (its request
//! id is derived from the schedule and the action's nominal time), so a crash between the
//! start and the record's write neither loses nor doubles an action: the restarted server
//! computes the same action and the start returns the run already started.
//!
//! One file per RPC (`create.rs`, `describe.rs`, `update.rs`, `patch.rs`, `delete.rs`,
//! `list.rs`, `matching_times.rs`); `actions.rs` is the scheduler's wake-up.

mod actions;
mod create;
mod delete;
mod describe;
mod list;
mod matching_times;
mod patch;
mod record;
mod update;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use temper_store::{RecordKind, Store};
use tokio::sync::{OwnedMappedMutexGuard, OwnedMutexGuard, broadcast};
use tonic::Status;

use crate::errors;
use crate::history::{ClosedRun, History};
use crate::namespaces::Namespaces;
use crate::records::{self, Locked, RecordMap};
use crate::timers::TimerQueue;

pub(crate) use list::attribute_value;
pub use record::ScheduleRecord;

/// Timer keys of schedules start with this; run ids are UUIDs, so they never do.
const WAKE_PREFIX: &str = "schedule\u{0}";
pub const NANOS_PER_MS: i64 = 1_000_000;

type Entry = Locked<Option<ScheduleRecord>>;

pub struct Schedules {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    timers: Arc<TimerQueue>,
    /// (namespace, schedule id) → the schedule; `None` inside once deleted.
    entries: RecordMap<Option<ScheduleRecord>>,
    /// (namespace, workflow id) of a running workflow → the schedule whose buffered starts
    /// wait for it to close (woken by [`Schedules::watch_closes`]).
    waiting: Mutex<BTreeMap<(String, String), String>>,
}

/// The timer key of a schedule.
fn wake_key(namespace: &str, schedule_id: &str) -> String {
    format!("{WAKE_PREFIX}{namespace}\u{0}{schedule_id}")
}

/// The (namespace, schedule id) of a timer key, if it is a schedule's.
pub fn parse_wake_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(WAKE_PREFIX)?.split_once('\u{0}')
}

/// Temporal's answer for a missing schedule names its scheduler workflow.
fn not_found(schedule_id: &str) -> Status {
    errors::not_found(format!(
        "workflow not found for ID: temporal-sys-scheduler:{schedule_id}"
    ))
}

impl Schedules {
    /// Loads every stored schedule and wakes each once, so actions missed while the server
    /// was down are taken (or counted as missed, per the catch-up window).
    pub async fn load(
        store: Arc<dyn Store>,
        history: Arc<History>,
        namespaces: Arc<Namespaces>,
        timers: Arc<TimerQueue>,
    ) -> Result<Arc<Schedules>, temper_store::StoreError> {
        let rows = store.records(RecordKind::Schedule).await?;
        let schedules = Arc::new(Schedules {
            store,
            history,
            namespaces,
            timers,
            entries: RecordMap::default(),
            waiting: Mutex::new(BTreeMap::new()),
        });
        let closes = schedules.history.subscribe_closed_runs();
        tokio::spawn(schedules.clone().watch_closes(closes));
        let now_ms = schedules.history.now_ms();
        for row in rows {
            let record: ScheduleRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("schedule: {e}")))?;
            schedules
                .timers
                .schedule(now_ms, &wake_key(&record.namespace, &record.schedule_id));
            schedules.insert(record);
        }
        Ok(schedules)
    }

    /// This node became a spread cluster's coordinator: the schedules as the previous one
    /// left them are read again and each is woken once (missed actions are taken or counted
    /// as missed, as after a restart).
    pub async fn take_over(&self) -> Result<(), temper_store::StoreError> {
        let now_ms = self.history.now_ms();
        let rows = self.store.records(RecordKind::Schedule).await?;
        let stored = rows.iter().map(|r| (r.namespace.clone(), r.id.clone()));
        self.entries.keep_only(&stored.collect());
        for row in rows {
            let record: ScheduleRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("schedule: {e}")))?;
            let key = wake_key(&record.namespace, &record.schedule_id);
            match self.entries.get(&record.namespace, &record.schedule_id) {
                Some(entry) => *entry.lock().await = Some(record),
                None => {
                    self.insert(record);
                }
            }
            self.timers.schedule(now_ms, &key);
        }
        Ok(())
    }

    fn insert(&self, record: ScheduleRecord) -> Entry {
        let (namespace, id) = (record.namespace.clone(), record.schedule_id.clone());
        self.entries.insert(&namespace, &id, Some(record))
    }

    /// The schedule, locked; NOT_FOUND (in Temporal's words) if there is none.
    async fn locked(
        &self,
        namespace: &str,
        schedule_id: &str,
    ) -> Result<OwnedMappedMutexGuard<Option<ScheduleRecord>, ScheduleRecord>, Status> {
        let entry = self
            .entries
            .get(namespace, schedule_id)
            .ok_or_else(|| not_found(schedule_id))?;
        OwnedMutexGuard::try_map(entry.lock_owned().await, Option::as_mut)
            .map_err(|_| not_found(schedule_id))
    }

    fn now_ns(&self) -> i64 {
        self.history.now_ms().saturating_mul(NANOS_PER_MS)
    }

    async fn save(&self, record: &mut ScheduleRecord) -> Result<(), Status> {
        records::save(self.store.as_ref(), record).await
    }

    /// Timer callback: takes whatever actions are due on the schedule.
    pub async fn on_timer(&self, namespace: &str, schedule_id: &str) {
        // In a spread cluster the coordinator runs the schedules (`Schedules::take_over`).
        if !self.history.coordinates() {
            return;
        }
        let Some(entry) = self.entries.get(namespace, schedule_id) else {
            return;
        };
        let mut guard = entry.lock().await;
        let Some(record) = guard.as_mut() else {
            return;
        };
        if let Err(status) = self.run(record).await {
            tracing::warn!(namespace, schedule_id, %status, "schedule wake-up failed");
            // Try again shortly rather than never.
            let retry_ms = self.history.now_ms() + 1_000;
            self.timers
                .schedule(retry_ms, &wake_key(namespace, schedule_id));
        }
    }

    /// Wakes a schedule when a workflow its buffered starts wait for closes (all waiting
    /// schedules if closes were missed), as Temporal's scheduler watches its running workflow.
    async fn watch_closes(self: Arc<Self>, mut closes: broadcast::Receiver<ClosedRun>) {
        loop {
            let closed = match closes.recv().await {
                Ok(closed) => Some(closed),
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let woken: Vec<(String, String)> = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                match closed {
                    Some(run) => waiting
                        .remove(&(run.namespace.clone(), run.workflow_id))
                        .map(|schedule_id| (run.namespace, schedule_id))
                        .into_iter()
                        .collect(),
                    None => std::mem::take(&mut *waiting)
                        .into_iter()
                        .map(|((namespace, _), schedule_id)| (namespace, schedule_id))
                        .collect(),
                }
            };
            let now_ms = self.history.now_ms();
            for (namespace, schedule_id) in woken {
                self.timers
                    .schedule(now_ms, &wake_key(&namespace, &schedule_id));
            }
        }
    }

    /// Notes that the schedule's buffered starts wait for these workflows to close.
    fn wait_for_closes(&self, record: &ScheduleRecord) {
        let running = record
            .info
            .as_ref()
            .map_or(&[][..], |i| &i.running_workflows[..]);
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for execution in running {
            let key = (record.namespace.clone(), execution.workflow_id.clone());
            waiting.insert(key, record.schedule_id.clone());
        }
    }

    /// Forgets a deleted namespace's schedules (the store deletes their rows with it).
    pub fn forget_namespace(&self, namespace: &str) {
        self.entries.forget_namespace(namespace);
    }
}

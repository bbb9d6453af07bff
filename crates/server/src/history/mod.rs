//! The history side: owns every run's state while the server runs (the store holds them all;
//! memory holds the recently used ones, within the run cache's budget: `run_cache.rs`).
//!
//! Each operation on a run takes the run's lock, applies one engine [`Transition`] to a copy of
//! its state, commits events + state in one store write, and only then publishes the new state,
//! queues the ready tasks with matching, registers the run's next wake-up with the timer
//! service and wakes anyone long-polling the run. Operations on different runs proceed in
//! parallel; the store's group commit batches their writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use temper_api::cluster::{RemoteTask, RemoteTaskKind};
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::execution::{ReadyTask, ResetRun, Transition};
use temper_engine::{Execution, HistoryLimits};
use temper_store::{EncodedEvent, ExecutionWrite, Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tonic::Status;

use crate::clock::Clock;
use crate::errors;
use crate::matching::{Matching, QueueKind, QueuedTask, Route};
use crate::timers::TimerQueue;

mod activities;
mod adopt;
mod busy_runs;
mod delete;
mod event_cache;
mod follow_ups;
mod handover;
mod nexus;
pub use nexus::{
    CALLBACK_TOKEN_HEADER, HandedNexusTask, NexusGrant, PolledNexusTask, SYSTEM_CALLBACK_URL,
};
mod polls;
mod queries;
mod recovery;
mod refill;
mod remote;
mod reset;
mod run_cache;
mod shard_moves;
mod signals;
mod start;
mod updates;
mod workflow_tasks;

use follow_ups::FollowUp;
pub use polls::{HandedActivityTask, HandedWorkflowTask, Poller};
pub use queries::{QueryAnswer, QueryRegistration, query_view};
use run_cache::{RunCache, RunEntry};
use start::ID_LOCK_STRIPES;

/// Which workers may take a run's tasks: a pinned run's version, else its queue's routing.
pub(crate) fn route_of(exec: &Execution) -> Route {
    match exec.pinned_version() {
        Some((_, build)) => Route::Pinned(build.to_string()),
        None => Route::following(&exec.workflow_id),
    }
}

pub struct History {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    matching: Arc<Matching>,
    timers: Arc<TimerQueue>,
    runs: RunCache,
    id_locks: Vec<tokio::sync::Mutex<()>>,
    queries: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
    /// Runs with a workflow or activity task a worker could be working on.
    busy_runs: busy_runs::BusyRuns,
    /// Work on other runs that a committed change implies (see [`FollowUp`]).
    follow_ups: mpsc::UnboundedSender<FollowUp>,
    follow_up_queue: Mutex<Option<mpsc::UnboundedReceiver<FollowUp>>>,
    /// Every run that closes, for services waiting on one (schedules with buffered starts).
    closed_runs: broadcast::Sender<ClosedRun>,
    limits: HistoryLimits,
    /// The Nexus endpoint registry: where operations' tasks go.
    endpoints: Arc<crate::nexus::NexusEndpoints>,
    /// Recently written histories, so polls need not read them back from the store.
    events: event_cache::EventCache,
    /// True until [`History::recover`] has published every open run of the store.
    recovering: std::sync::atomic::AtomicBool,
    /// The shard leases this node holds, when it shares its database with other nodes: every
    /// write carries its shard's fence.
    shards: Option<Arc<crate::cluster::Shards>>,
    /// The other nodes, when the cluster's shards are spread (`remote.rs`).
    peers: Option<Arc<crate::cluster::Peers>>,
}

/// A run that just closed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedRun {
    pub namespace: String,
    pub workflow_id: String,
}

/// A run a transition chained to its run, created in the same write.
struct ChainedRun {
    execution: Arc<Execution>,
    /// Its ready tasks not started for a waiting poller.
    tasks: Vec<ReadyTask>,
    handovers: Vec<handover::Handover>,
    /// A child of another node's shard (a spread cluster): that node publishes it.
    elsewhere: bool,
}

/// Closes a lagging subscriber may miss before it is told it lagged.
const CLOSED_RUNS_BUFFER: usize = 1024;

/// The result of an operation on a run: the closure's value and the state after it.
pub struct Applied<R> {
    pub value: R,
    pub execution: Arc<Execution>,
}

impl History {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        matching: Arc<Matching>,
        timers: Arc<TimerQueue>,
        limits: HistoryLimits,
        endpoints: Arc<crate::nexus::NexusEndpoints>,
        run_cache_bytes: usize,
    ) -> Self {
        let (follow_ups, follow_up_queue) = mpsc::unbounded_channel();
        let busy_runs = busy_runs::BusyRuns::new(clock.skips());
        History {
            store,
            clock,
            matching,
            timers,
            runs: RunCache::new(run_cache_bytes),
            id_locks: (0..ID_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            queries: Mutex::new(HashMap::new()),
            busy_runs,
            follow_ups,
            follow_up_queue: Mutex::new(Some(follow_up_queue)),
            closed_runs: broadcast::channel(CLOSED_RUNS_BUFFER).0,
            limits,
            endpoints,
            events: event_cache::EventCache::new(event_cache::HISTORY_CACHE_BYTES),
            recovering: std::sync::atomic::AtomicBool::new(true),
            shards: None,
            peers: None,
        }
    }

    /// The cluster's shard count (1 for a server that is not in a cluster).
    pub fn shard_count(&self) -> i32 {
        self.shards.as_ref().map_or(1, |shards| shards.count())
    }

    /// This history in a cluster: it writes only runs of the shards `shards` holds.
    pub fn in_cluster(mut self, shards: Arc<crate::cluster::Shards>) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The shards whose open runs this node reads from the store (`None`: every run's).
    fn shard_scope(&self) -> Option<Vec<i32>> {
        crate::cluster::held_scope(self.shards.as_deref())
    }

    /// Runs that close from now on.
    pub fn subscribe_closed_runs(&self) -> broadcast::Receiver<ClosedRun> {
        self.closed_runs.subscribe()
    }

    /// How many runs are held in memory.
    pub fn cached_runs(&self) -> usize {
        self.runs.len()
    }

    /// The estimated memory the cached runs take.
    pub fn cached_run_bytes(&self) -> usize {
        self.runs.bytes()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn entry(&self, run_id: &str) -> Arc<RunEntry> {
        self.runs.entry(run_id)
    }

    /// True when a versioned run must move to another version (its queue's routing or an
    /// override changed): its next task skips the old version's sticky queue.
    fn upgrades(&self, exec: &Execution) -> bool {
        if exec.deployment_build_id.is_empty() {
            return false;
        }
        let target = match exec.pinned_version() {
            Some((_, build)) => build.to_string(),
            None => {
                self.matching
                    .routed_build(&exec.namespace, &exec.task_queue, &exec.workflow_id)
            }
        };
        target != exec.deployment_build_id
    }

    /// Queues the ready tasks and registers the next wake-up of a committed state.
    fn publish(&self, exec: &Execution, tasks: Vec<ReadyTask>) {
        for task in tasks {
            self.offer_ready_task(exec, task);
        }
        self.busy_runs
            .note(&exec.run_id, exec.has_outstanding_tasks());
        if let Some(at) = exec.next_wakeup() {
            self.timers.schedule_run(at, &exec.run_id);
        }
    }

    /// Hands one of a committed run's ready tasks to matching.
    fn offer_ready_task(&self, exec: &Execution, task: ReadyTask) {
        match task {
            ReadyTask::Workflow {
                task_queue,
                scheduled_event_id,
                ..
            } => self.offer_workflow_task(exec, &task_queue, scheduled_event_id),
            ReadyTask::Nexus {
                endpoint_id,
                scheduled_event_id,
                attempt,
            } => self.offer_nexus_task(exec, &endpoint_id, scheduled_event_id, attempt, false),
            ReadyTask::NexusCancel {
                endpoint_id,
                scheduled_event_id,
                attempt,
            } => self.offer_nexus_task(exec, &endpoint_id, scheduled_event_id, attempt, true),
            ReadyTask::Activity {
                task_queue,
                scheduled_event_id,
                attempt,
            } => self.offer_activity_task(exec, &task_queue, scheduled_event_id, attempt),
        }
    }

    /// The queue a workflow task scheduled on `task_queue` goes to: the run's normal queue,
    /// unless it is on a sticky queue (and the run is not moving to another version).
    fn workflow_queue_for<'a>(&self, exec: &'a Execution, task_queue: &'a str) -> &'a str {
        if task_queue == exec.task_queue || self.upgrades(exec) {
            &exec.task_queue
        } else {
            task_queue
        }
    }

    fn offer_workflow_task(&self, exec: &Execution, task_queue: &str, scheduled_event_id: i64) {
        let queue = self.workflow_queue_for(exec, task_queue);
        if let Some(peers) = self.queue_elsewhere(&exec.namespace, queue) {
            let task = remote::remote_task(exec, RemoteTaskKind::Workflow, queue);
            let task = RemoteTask {
                scheduled_event_id,
                ..task
            };
            return self.offer_remotely(peers, task);
        }
        let task = QueuedTask::Workflow {
            run_id: exec.run_id.clone(),
            scheduled_event_id,
        };
        let offered = if queue == exec.task_queue {
            self.matching.offer_routed(
                &exec.namespace,
                queue,
                QueueKind::Workflow,
                task,
                route_of(exec),
            )
        } else {
            self.matching.offer_sticky(&exec.namespace, queue, task)
        };
        if !offered {
            // Its sticky worker is gone (shut down, or not polling any more) or its sticky
            // queue is full: offer the task on the normal queue.
            self.follow_up(FollowUp::ResetSticky {
                run_id: exec.run_id.clone(),
            });
        }
    }

    fn offer_activity_task(
        &self,
        exec: &Execution,
        task_queue: &str,
        scheduled_event_id: i64,
        attempt: i32,
    ) {
        if let Some(peers) = self.queue_elsewhere(&exec.namespace, task_queue) {
            let task = remote::remote_task(exec, RemoteTaskKind::Activity, task_queue);
            let task = RemoteTask {
                scheduled_event_id,
                attempt,
                ..task
            };
            return self.offer_remotely(peers, task);
        }
        // Activity queues are never closed.
        self.matching.offer_routed(
            &exec.namespace,
            task_queue,
            QueueKind::Activity,
            QueuedTask::Activity {
                run_id: exec.run_id.clone(),
                scheduled_event_id,
                attempt,
            },
            route_of(exec),
        );
    }

    /// True when no run has a workflow or activity task outstanding (time may be skipped);
    /// never while start-up recovery has runs left to publish.
    pub fn is_idle(&self) -> bool {
        !self.recovering.load(std::sync::atomic::Ordering::Acquire) && self.busy_runs.is_empty()
    }

    /// Applies `operation` to a run and commits the result if it changed anything.
    pub async fn transact<R>(
        &self,
        run_id: &str,
        operation: impl FnOnce(&mut Transition<'_>) -> R,
    ) -> Result<Applied<R>, Status> {
        self.transact_creating(run_id, |t| (operation(t), None))
            .await
    }

    /// [`History::transact`] whose operation may also hand back a run to create in the same
    /// atomic write, as the workflow id's new current run (a reset).
    async fn transact_creating<R>(
        &self,
        run_id: &str,
        operation: impl FnOnce(&mut Transition<'_>) -> (R, Option<ResetRun>),
    ) -> Result<Applied<R>, Status> {
        let entry = self.entry(run_id);
        let mut guard = entry.state.lock().await;
        self.load_into(&entry, &mut guard, run_id).await?;
        let Some(before) = guard.clone() else {
            return Err(Status::not_found(format!(
                "workflow execution not found for RunId: {run_id}"
            )));
        };
        if let Err(elsewhere) = self.check_owned(&before) {
            self.runs.put(&entry, &mut guard, None);
            return Err(elsewhere);
        }
        let mut exec = (*before).clone();
        let now = self.clock.now_ms();
        let mut transition = Transition::new(&mut exec, now)
            .with_run_ids(|| new_run_id(now))
            .with_limits(self.limits);
        let (value, created) = operation(&mut transition);
        let handovers = self.start_for_waiting_pollers(&mut transition);
        let output = transition.finish();
        let changed = exec != *before;
        if !changed && created.is_none() {
            return Ok(Applied {
                value,
                execution: before,
            });
        }
        let mut writes = Vec::new();
        let mut signal_request_ids = Vec::new();
        if changed {
            exec.db_version = before.db_version + 1;
            signal_request_ids = std::mem::take(&mut exec.signal_request_ids);
        }
        // One state, shared by the write, the cache and the caller.
        let exec = Arc::new(exec);
        if changed {
            writes.push(ExecutionWrite {
                signal_request_ids,
                execution: exec.clone(),
                expected_db_version: before.db_version,
                new_events: encoded(&output.events),
                make_current: false,
                brand_new: false,
                fence: None,
                shard: None,
            });
        }
        let created = created.map(|mut run| {
            run.execution.db_version = 1;
            writes.push(ExecutionWrite {
                signal_request_ids: std::mem::take(&mut run.execution.signal_request_ids),
                execution: Arc::new(run.execution.clone()),
                expected_db_version: 0,
                new_events: encoded(&run.events),
                make_current: true,
                brand_new: false,
                fence: None,
                shard: None,
            });
            run
        });
        // Runs this one starts (continue-as-new, retry, children) are created in the same
        // atomic write, children of another node's shard too (`adopt.rs`).
        let started_runs = self.chained_runs(&exec, output.new_runs, now, &mut writes);
        let closed_now = before.is_running() && !exec.is_running();
        let new_external_requests = exec
            .external_requests
            .keys()
            .any(|id| !before.external_requests.contains_key(id));
        match self.commit(writes).await {
            Ok(()) => {}
            // A retried signal: nothing was written, the cached state is still the stored one.
            Err(StoreError::DuplicateSignal { .. }) => {
                return Ok(Applied {
                    value,
                    execution: before,
                });
            }
            Err(error) => {
                // The cached state may be behind the store now; reload it next time.
                self.runs.put(&entry, &mut guard, None);
                return Err(errors::storage(error));
            }
        }
        self.runs.put(&entry, &mut guard, Some(exec.clone()));
        drop(guard);
        self.hand_over(&exec, handovers);
        self.publish(&exec, output.tasks);
        entry.changed.send_modify(|version| *version += 1);
        self.publish_created_runs(started_runs, created).await;
        if closed_now {
            self.after_close(&exec);
        }
        if new_external_requests {
            self.follow_up(FollowUp::DeliverExternal {
                source_run_id: exec.run_id.clone(),
            });
        }
        Ok(Applied {
            value,
            execution: exec,
        })
    }

    /// Writes run updates to the store and, once they are durable, their events to the event
    /// cache (before the caller publishes the new states). A failed write's outcome is
    /// unknown, so its runs' cached events are dropped.
    ///
    /// In a cluster every write of the group carries the fence of the first one's shard: the
    /// run the operation is on. The runs it creates have its workflow id, or are its children,
    /// whose shard another node may hold (`adopt.rs`).
    async fn commit(&self, mut writes: Vec<ExecutionWrite>) -> Result<(), StoreError> {
        if let (Some(shards), Some(first)) = (&self.shards, writes.first()) {
            let lead = &first.execution;
            let fence = shards.fence_for(&lead.namespace, &lead.workflow_id)?;
            for write in &mut writes {
                let exec = &write.execution;
                write.fence = Some(fence);
                write.shard = Some(shards.shard_of(&exec.namespace, &exec.workflow_id));
            }
        }
        // A child created for another node's shard grows there: its events are not kept here.
        let appended: Vec<(String, Vec<EncodedEvent>)> = writes
            .iter()
            .filter(|w| self.check_owned(&w.execution).is_ok())
            .map(|w| (w.execution.run_id.clone(), w.new_events.clone()))
            .collect();
        let result = self.store.write(writes).await;
        if let (Err(StoreError::ShardOwnershipLost(shard)), Some(shards)) = (&result, &self.shards)
        {
            tracing::warn!(
                shard,
                "write refused: another node holds the shard's lease now"
            );
            shards.note_lost(*shard);
        }
        for (run_id, events) in appended {
            match &result {
                Ok(()) => self.events.appended(&run_id, &events),
                Err(_) => self.events.forget(&run_id),
            }
        }
        result
    }

    /// Caches and publishes the runs a committed transition created (chained runs, or the run
    /// a reset built).
    async fn publish_created_runs(&self, started_runs: Vec<ChainedRun>, created: Option<ResetRun>) {
        for run in started_runs {
            if run.elsewhere {
                self.follow_up(FollowUp::AdoptRun {
                    namespace: run.execution.namespace.clone(),
                    workflow_id: run.execution.workflow_id.clone(),
                    run_id: run.execution.run_id.clone(),
                });
                continue;
            }
            self.cache(run.execution.clone()).await;
            self.hand_over(&run.execution, run.handovers);
            self.publish(&run.execution, run.tasks);
        }
        if let Some(run) = created {
            let next = run.execution;
            self.cache(Arc::new(next.clone())).await;
            self.publish(&next, run.tasks);
            if !next.external_requests.is_empty() {
                self.follow_up(FollowUp::DeliverExternal {
                    source_run_id: next.run_id.clone(),
                });
            }
        }
    }

    /// The runs a transition chains to `exec` (continue-as-new, retry, cron, children), started
    /// and added to the same atomic write; their first tasks are started for waiting pollers.
    fn chained_runs(
        &self,
        exec: &Execution,
        new_runs: Vec<temper_engine::NewRun>,
        now: i64,
        writes: &mut Vec<ExecutionWrite>,
    ) -> Vec<ChainedRun> {
        let mut started_runs = Vec::new();
        for run in new_runs {
            let (mut next, mut events, tasks) = Execution::start(
                &exec.namespace,
                &run.run_id,
                "",
                run.started,
                None,
                run.user_metadata.as_ref(),
                now,
            );
            let elsewhere = self.peers_for(&next.namespace, &next.workflow_id).is_some();
            let (tasks, handovers) = if elsewhere {
                (tasks, Vec::new())
            } else {
                self.start_new_run_for_waiting_pollers(&mut next, &mut events, tasks, now)
            };
            next.db_version = 1;
            let signal_request_ids = std::mem::take(&mut next.signal_request_ids);
            let execution = Arc::new(next);
            writes.push(ExecutionWrite {
                signal_request_ids,
                execution: execution.clone(),
                expected_db_version: 0,
                new_events: encoded(&events),
                make_current: true,
                brand_new: false,
                fence: None,
                shard: None,
            });
            started_runs.push(ChainedRun {
                execution,
                tasks,
                handovers,
                elsewhere,
            });
        }
        started_runs
    }

    /// Drops cached state of runs the store deleted, so they read as not found.
    pub async fn forget_runs(&self, run_ids: &[String]) {
        for run_id in run_ids {
            let entry = self.entry(run_id);
            self.runs.put(&entry, &mut *entry.state.lock().await, None);
            self.events.forget(run_id);
            self.busy_runs.note(run_id, false);
        }
    }

    /// [`History::forget_runs`] for every cached run of a deleted namespace.
    pub async fn forget_namespace(&self, namespace: &str) {
        let mut deleted = Vec::new();
        for (run_id, entry) in self.runs.entries() {
            let state = entry.state.lock().await;
            if state.as_ref().is_some_and(|e| e.namespace == namespace) {
                deleted.push(run_id);
            }
        }
        self.forget_runs(&deleted).await;
    }

    /// The current state of a run, loading it if needed.
    pub async fn snapshot(&self, run_id: &str) -> Result<Option<Execution>, Status> {
        let entry = self.entry(run_id);
        let mut guard = entry.state.lock().await;
        self.load_into(&entry, &mut guard, run_id).await?;
        let exec = guard.as_deref().cloned();
        // Another node's run (a spread cluster) is read, never kept: it may change there.
        if exec
            .as_ref()
            .is_some_and(|exec| self.check_owned(exec).is_err())
        {
            self.runs.put(&entry, &mut guard, None);
        }
        Ok(exec)
    }

    /// Loads a run into its locked, empty cache slot (left empty if the store has no such
    /// run).
    async fn load_into(
        &self,
        entry: &RunEntry,
        slot: &mut Option<Arc<Execution>>,
        run_id: &str,
    ) -> Result<(), Status> {
        if slot.is_none() {
            let loaded = self
                .store
                .load_execution(run_id)
                .await
                .map_err(errors::storage)?;
            self.runs.put(entry, slot, loaded.map(Arc::new));
        }
        Ok(())
    }

    /// Caches the state of a run just written.
    async fn cache(&self, exec: Arc<Execution>) {
        let entry = self.entry(&exec.run_id);
        let mut slot = entry.state.lock().await;
        self.runs.put(&entry, &mut slot, Some(exec));
    }

    /// Resolves an execution (an empty run id means the current run) to its state.
    pub async fn resolve(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
    ) -> Result<Execution, Status> {
        let execution =
            execution.ok_or_else(|| errors::invalid("Execution is not set on request."))?;
        if execution.workflow_id.is_empty() {
            return Err(errors::invalid("WorkflowId is not set on request."));
        }
        let run_id = if execution.run_id.is_empty() {
            self.store
                .current_run(namespace, &execution.workflow_id)
                .await
                .map_err(errors::storage)?
                .ok_or_else(|| errors::workflow_not_found(&execution.workflow_id, ""))?
        } else {
            if uuid::Uuid::parse_str(&execution.run_id).is_err() {
                return Err(errors::invalid("Invalid RunId."));
            }
            execution.run_id.clone()
        };
        match self.snapshot(&run_id).await? {
            Some(exec)
                if exec.namespace == namespace && exec.workflow_id == execution.workflow_id =>
            {
                Ok(exec)
            }
            _ => Err(errors::workflow_not_found(
                &execution.workflow_id,
                &execution.run_id,
            )),
        }
    }

    /// Waits until the run changes after `seen`, or `wait` passes. Returns the new version.
    pub async fn wait_for_change(&self, run_id: &str, seen: i64, wait: Duration) -> i64 {
        let mut receiver = self.entry(run_id).changed.subscribe();
        let _ = tokio::time::timeout(wait, receiver.wait_for(|v| *v != seen)).await;
        *receiver.borrow()
    }

    pub fn change_version(&self, run_id: &str) -> i64 {
        *self.entry(run_id).changed.borrow()
    }

    pub async fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, Status> {
        if let Some(events) = self.events.read(run_id, first_event_id, max_events) {
            return Ok(events);
        }
        self.store
            .read_history(run_id, first_event_id, max_events)
            .await
            .map_err(errors::storage)
    }

    pub fn matching(&self) -> &Matching {
        &self.matching
    }

    /// Timer-service callback: processes whatever is due on the run.
    pub async fn on_timer(&self, run_id: &str) {
        let result = self.transact(run_id, |t| t.on_time()).await;
        match result {
            Ok(applied) => {
                if let Some(at) = applied.execution.next_wakeup() {
                    self.timers.schedule_run(at, run_id);
                }
            }
            // The run was deleted (DeleteWorkflowExecution, retention) after this wake-up was
            // registered: nothing is due any more. Or its shard moved to another node, which
            // read its wake-up when it took the shard.
            Err(status)
                if status.code() == tonic::Code::NotFound
                    || errors::is_shard_elsewhere(&status) => {}
            Err(status) => {
                tracing::warn!(run_id, error = %status.message(), "timer processing failed; retrying");
                self.timers.schedule(self.clock.now_ms() + 1_000, run_id);
            }
        }
    }
}

/// Events as the store writes them (and the event cache keeps them): encoded once.
fn encoded(events: &[HistoryEvent]) -> Vec<EncodedEvent> {
    events.iter().map(EncodedEvent::of).collect()
}

/// A new run id: a UUIDv7 (time-ordered, as Temporal 1.32 issues them) of the server's clock,
/// so runs sort by start time on a virtual clock too.
fn new_run_id(now_ms: i64) -> String {
    let millis = u64::try_from(now_ms).unwrap_or(0);
    let timestamp = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        (millis % 1000) as u32 * 1_000_000,
    );
    uuid::Uuid::new_v7(timestamp).to_string()
}

//! The history side: owns every run's state while the server runs.
//!
//! Each operation on a run takes the run's lock, applies one engine [`Transition`] to a copy of
//! its state, commits events + state in one store write, and only then publishes the new state,
//! queues the ready tasks with matching, registers the run's next wake-up with the timer
//! service and wakes anyone long-polling the run. Operations on different runs proceed in
//! parallel; the store's group commit batches their writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use temper_api::proto::common::v1::{WorkflowExecution, WorkflowType};
use temper_api::proto::enums::v1::{
    ParentClosePolicy, ResetReapplyExcludeType, ResetReapplyType, WorkflowExecutionStatus,
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
};
use temper_api::proto::history::v1::{HistoryEvent, WorkflowExecutionStartedEventAttributes};
use temper_api::proto::query::v1::WorkflowQuery;
use temper_api::proto::workflowservice::v1::{
    ResetWorkflowExecutionRequest, StartWorkflowExecutionRequest,
};
use temper_engine::execution::{InitialSignal, ReadyTask, ResetPoint, ResetRun, Transition};
use temper_engine::state::ExternalRequest;
use temper_engine::time::{duration_ms, ms_timestamp};
use temper_engine::{Execution, HistoryLimits};
use temper_store::{ExecutionWrite, Store, StoreError};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

use crate::clock::Clock;
use crate::errors;
use crate::matching::{Matching, QueueKind, QueuedTask};
use crate::timers::TimerQueue;

/// The run cache is swept for closed runs once it holds this many entries (and then whenever
/// it has doubled since the last sweep), so memory follows the open runs, not all runs ever.
const RUN_CACHE_MIN_EVICTION: usize = 10_000;
/// How often a start reruns the id policies after losing the id to a concurrent run.
const START_ATTEMPTS: usize = 3;
/// How often a reset starts over when the run it resets keeps changing.
const RESET_ATTEMPTS: usize = 5;
/// The identity on the termination of a run replaced by a reset (Temporal's).
const RESETTER_IDENTITY: &str = "history-resetter";
/// Stripes of the lock that serialises starts of the same workflow id.
const ID_LOCK_STRIPES: usize = 64;

struct RunEntry {
    /// `None` until loaded from the store.
    state: tokio::sync::Mutex<Option<Execution>>,
    /// Bumped after every committed change; long polls wait on it.
    changed: watch::Sender<i64>,
}

/// A worker's answer to a query task.
pub enum QueryAnswer {
    Answered(Option<temper_api::proto::common::v1::Payloads>),
    Failed(String, Box<Option<temper_api::proto::failure::v1::Failure>>),
}

pub struct History {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    matching: Arc<Matching>,
    timers: Arc<TimerQueue>,
    runs: Mutex<HashMap<String, Arc<RunEntry>>>,
    /// Cache size at which closed runs are next evicted (see [`evict_closed_runs`]).
    evict_at: std::sync::atomic::AtomicUsize,
    id_locks: Vec<tokio::sync::Mutex<()>>,
    queries: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
    /// Runs with a workflow or activity task a worker could be working on.
    busy_runs: Mutex<std::collections::HashSet<String>>,
    /// Work on other runs that a committed change implies (see [`FollowUp`]).
    follow_ups: mpsc::UnboundedSender<FollowUp>,
    follow_up_queue: Mutex<Option<mpsc::UnboundedReceiver<FollowUp>>>,
    limits: HistoryLimits,
}

/// Work on other runs that follows a committed change. It runs after the commit (never under
/// the run's lock) and is idempotent; start-up recovery re-derives all of it from state, so a
/// crash in between loses nothing.
#[derive(Debug)]
enum FollowUp {
    /// A child run closed: its parent collects the results of finished children.
    SyncChildren { parent_run_id: String },
    /// A parent closed: apply each open child's parent close policy.
    ApplyParentClosePolicy { parent_run_id: String },
    /// A run asked to signal or cancel other workflows.
    DeliverExternal { source_run_id: String },
    /// A run's sticky worker is gone.
    ResetSticky { run_id: String },
}

/// Why one start attempt did not start.
enum StartError {
    /// Another run became the id's running run between the check and the write.
    LostRace,
    Status(Status),
}

impl From<Status> for StartError {
    fn from(status: Status) -> Self {
        StartError::Status(status)
    }
}

/// The result of an operation on a run: the closure's value and the state after it.
pub struct Applied<R> {
    pub value: R,
    pub execution: Execution,
}

impl History {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        matching: Arc<Matching>,
        timers: Arc<TimerQueue>,
        limits: HistoryLimits,
    ) -> Self {
        let (follow_ups, follow_up_queue) = mpsc::unbounded_channel();
        History {
            store,
            clock,
            matching,
            timers,
            runs: Mutex::new(HashMap::new()),
            evict_at: std::sync::atomic::AtomicUsize::new(RUN_CACHE_MIN_EVICTION),
            id_locks: (0..ID_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            queries: Mutex::new(HashMap::new()),
            busy_runs: Mutex::new(std::collections::HashSet::new()),
            follow_ups,
            follow_up_queue: Mutex::new(Some(follow_up_queue)),
            limits,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Rebuilds task queues and timers from the open runs in the store.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let open = self.store.open_executions().await?;
        let count = open.len();
        for exec in open {
            let entry = self.entry(&exec.run_id);
            let tasks = exec.ready_tasks();
            self.publish(&exec, tasks);
            if !exec.children.is_empty() {
                self.follow_up(FollowUp::SyncChildren {
                    parent_run_id: exec.run_id.clone(),
                });
            }
            if !exec.external_requests.is_empty() {
                self.follow_up(FollowUp::DeliverExternal {
                    source_run_id: exec.run_id.clone(),
                });
            }
            if let Some(parent) = exec
                .started
                .as_ref()
                .and_then(|s| s.parent_workflow_execution.as_ref())
            {
                self.follow_up(FollowUp::ApplyParentClosePolicy {
                    parent_run_id: parent.run_id.clone(),
                });
            }
            *entry.state.lock().await = Some(exec);
        }
        Ok(count)
    }

    fn entry(&self, run_id: &str) -> Arc<RunEntry> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let evict_at = self.evict_at.load(std::sync::atomic::Ordering::Relaxed);
        if runs.len() >= evict_at {
            evict_closed_runs(&mut runs);
            self.evict_at.store(
                (runs.len() * 2).max(RUN_CACHE_MIN_EVICTION),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        runs.entry(run_id.to_string())
            .or_insert_with(|| {
                Arc::new(RunEntry {
                    state: tokio::sync::Mutex::new(None),
                    changed: watch::channel(0).0,
                })
            })
            .clone()
    }

    /// Queues the ready tasks and registers the next wake-up of a committed state.
    fn publish(&self, exec: &Execution, tasks: Vec<ReadyTask>) {
        for task in tasks {
            match task {
                ReadyTask::Workflow {
                    task_queue,
                    scheduled_event_id,
                    ..
                } => {
                    let task = QueuedTask::Workflow {
                        run_id: exec.run_id.clone(),
                        scheduled_event_id,
                    };
                    let offered = if task_queue == exec.task_queue {
                        self.matching
                            .offer(&exec.namespace, &task_queue, QueueKind::Workflow, task)
                    } else {
                        self.matching
                            .offer_sticky(&exec.namespace, &task_queue, task)
                    };
                    if !offered {
                        // Its sticky worker is gone (shut down, or not polling any more):
                        // offer the task on the normal queue.
                        self.follow_up(FollowUp::ResetSticky {
                            run_id: exec.run_id.clone(),
                        });
                    }
                }
                ReadyTask::Activity {
                    task_queue,
                    scheduled_event_id,
                    attempt,
                } => {
                    // Activity queues are never closed.
                    self.matching.offer(
                        &exec.namespace,
                        &task_queue,
                        QueueKind::Activity,
                        QueuedTask::Activity {
                            run_id: exec.run_id.clone(),
                            scheduled_event_id,
                            attempt,
                        },
                    );
                }
            }
        }
        {
            let mut busy = self.busy_runs.lock().unwrap_or_else(|e| e.into_inner());
            if exec.has_outstanding_tasks() {
                busy.insert(exec.run_id.clone());
            } else {
                busy.remove(&exec.run_id);
            }
        }
        if let Some(at) = exec.next_wakeup() {
            self.timers.schedule(at, &exec.run_id);
        }
    }

    fn follow_up(&self, work: FollowUp) {
        // The receiver lives as long as the server; a send can only fail during shutdown.
        let _ = self.follow_ups.send(work);
    }

    /// What a run's close implies for its parent and its children.
    fn after_close(&self, exec: &Execution) {
        if let Some(parent) = exec
            .started
            .as_ref()
            .and_then(|s| s.parent_workflow_execution.as_ref())
        {
            self.follow_up(FollowUp::SyncChildren {
                parent_run_id: parent.run_id.clone(),
            });
        }
        if !exec.children.is_empty() {
            self.follow_up(FollowUp::ApplyParentClosePolicy {
                parent_run_id: exec.run_id.clone(),
            });
        }
    }

    /// Processes follow-up work until the server stops.
    pub fn spawn_follow_ups(self: &Arc<Self>) {
        let Some(mut queue) = self
            .follow_up_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let history = self.clone();
        tokio::spawn(async move {
            while let Some(work) = queue.recv().await {
                let result = match &work {
                    FollowUp::SyncChildren { parent_run_id } => {
                        history.sync_children(parent_run_id).await
                    }
                    FollowUp::ApplyParentClosePolicy { parent_run_id } => {
                        history.apply_parent_close_policy(parent_run_id).await
                    }
                    FollowUp::ResetSticky { run_id } => history.reset_sticky(run_id).await,
                    FollowUp::DeliverExternal { source_run_id } => {
                        history.deliver_external(source_run_id).await
                    }
                };
                if let Err(status) = result {
                    tracing::warn!(?work, error = %status.message(), "follow-up failed");
                }
            }
        });
    }

    /// The close event ending a child's chain of runs, if the chain has ended.
    async fn final_close_event(&self, first_run_id: &str) -> Result<Option<HistoryEvent>, Status> {
        let mut run_id = first_run_id.to_string();
        loop {
            let Some(exec) = self.snapshot(&run_id).await? else {
                return Ok(None);
            };
            if exec.is_running() {
                return Ok(None);
            }
            let Some(close) = self
                .read_history(&run_id, exec.next_event_id - 1, 1)
                .await?
                .pop()
            else {
                return Ok(None);
            };
            match next_run_of(&close) {
                Some(next) => run_id = next,
                None => return Ok(Some(close)),
            }
        }
    }

    /// Gives a parent the results of its children whose chains have ended.
    async fn sync_children(&self, parent_run_id: &str) -> Result<(), Status> {
        let Some(parent) = self.snapshot(parent_run_id).await? else {
            return Ok(());
        };
        if !parent.is_running() {
            return Ok(());
        }
        for child in parent.children.values() {
            if let Some(close) = self.final_close_event(&child.run_id).await? {
                let initiated = child.initiated_event_id;
                self.update(parent_run_id, |t| t.child_closed(initiated, &close))
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends a run's next workflow task to its normal queue from now on.
    pub async fn reset_sticky(&self, run_id: &str) -> Result<(), Status> {
        self.update(run_id, |t| t.reset_stickiness())
            .await
            .map(|_| ())
    }

    /// Closes a sticky queue whose worker shut down; its waiting tasks go to normal queues.
    pub async fn close_sticky_queue(&self, namespace: &str, queue: &str) -> Result<(), Status> {
        for task in self.matching.close(namespace, queue, QueueKind::Workflow) {
            if let QueuedTask::Workflow { run_id, .. } = task {
                self.reset_sticky(&run_id).await?;
            }
        }
        Ok(())
    }

    /// Delivers a run's pending signals and cancel requests to other workflows and records the
    /// outcome in the run. Signals are deduplicated by a request id derived from the sender,
    /// so delivering twice (after a crash) signals once.
    async fn deliver_external(&self, source_run_id: &str) -> Result<(), Status> {
        let Some(source) = self.snapshot(source_run_id).await? else {
            return Ok(());
        };
        if !source.is_running() {
            return Ok(());
        }
        for request in source.external_requests.values() {
            let delivered_to = self.deliver_one(&source, request).await?;
            let initiated = request.initiated_event_id;
            self.update(source_run_id, |t| {
                t.external_request_done(initiated, delivered_to)
            })
            .await?;
        }
        Ok(())
    }

    async fn deliver_one(
        &self,
        source: &Execution,
        request: &ExternalRequest,
    ) -> Result<Option<WorkflowExecution>, Status> {
        let run_id = if request.run_id.is_empty() {
            match self
                .store
                .current_run(&request.namespace, &request.workflow_id)
                .await
                .map_err(errors::storage)?
            {
                Some(run_id) => run_id,
                None => return Ok(None),
            }
        } else {
            request.run_id.clone()
        };
        let signal_request_id =
            format!("external:{}:{}", source.run_id, request.initiated_event_id);
        let sender = WorkflowExecution {
            workflow_id: source.workflow_id.clone(),
            run_id: source.run_id.clone(),
        };
        let applied = self
            .update(&run_id, |t| {
                let target = t.execution();
                let parent_run = target
                    .started
                    .as_ref()
                    .and_then(|s| s.parent_workflow_execution.as_ref())
                    .map(|p| p.run_id.as_str());
                let is_target = target.is_running()
                    && target.namespace == request.namespace
                    && target.workflow_id == request.workflow_id
                    && (!request.child_workflow_only || parent_run == Some(source.run_id.as_str()));
                if !is_target {
                    return None;
                }
                let run = WorkflowExecution {
                    workflow_id: target.workflow_id.clone(),
                    run_id: target.run_id.clone(),
                };
                if request.signal_name.is_empty() {
                    t.request_cancel_from(
                        &request.reason,
                        "",
                        request.initiated_event_id,
                        Some(sender.clone()),
                    );
                } else {
                    t.signal(
                        &request.signal_name,
                        request.input.clone(),
                        "",
                        request.header.clone(),
                        &signal_request_id,
                    );
                }
                Some(run)
            })
            .await;
        match applied {
            Ok(applied) => Ok(applied.value),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Terminates or cancels the open children of a closed parent, per their policy.
    async fn apply_parent_close_policy(&self, parent_run_id: &str) -> Result<(), Status> {
        let Some(parent) = self.snapshot(parent_run_id).await? else {
            return Ok(());
        };
        if parent.is_running() {
            return Ok(());
        }
        for child in parent.children.values() {
            let policy = ParentClosePolicy::try_from(child.parent_close_policy)
                .unwrap_or(ParentClosePolicy::Terminate);
            if policy == ParentClosePolicy::Abandon {
                continue;
            }
            let Some(current) = self
                .store
                .current_run(&child.namespace, &child.workflow_id)
                .await
                .map_err(errors::storage)?
            else {
                continue;
            };
            let reason = format!(
                "by parent close policy: parent {} closed",
                parent.workflow_id
            );
            self.update(&current, |t| {
                let exec = t.execution();
                let is_our_child = exec.is_running()
                    && exec
                        .started
                        .as_ref()
                        .and_then(|s| s.parent_workflow_execution.as_ref())
                        .is_some_and(|p| p.run_id == parent.run_id);
                if !is_our_child {
                    return;
                }
                if policy == ParentClosePolicy::RequestCancel {
                    t.request_cancel(&reason, "temper");
                } else {
                    t.terminate(&reason, None, "temper");
                }
            })
            .await?;
        }
        Ok(())
    }

    /// True when no run has a workflow or activity task outstanding (time may be skipped).
    pub fn is_idle(&self) -> bool {
        self.busy_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Applies `operation` to a run and commits the result if it changed anything.
    pub async fn update<R>(
        &self,
        run_id: &str,
        operation: impl FnOnce(&mut Transition<'_>) -> R,
    ) -> Result<Applied<R>, Status> {
        self.update_creating(run_id, |t| (operation(t), None)).await
    }

    /// [`History::update`] whose operation may also hand back a run to create in the same
    /// atomic write, as the workflow id's new current run (a reset).
    async fn update_creating<R>(
        &self,
        run_id: &str,
        operation: impl FnOnce(&mut Transition<'_>) -> (R, Option<ResetRun>),
    ) -> Result<Applied<R>, Status> {
        let entry = self.entry(run_id);
        let mut guard = entry.state.lock().await;
        if guard.is_none() {
            *guard = self
                .store
                .load_execution(run_id)
                .await
                .map_err(errors::storage)?;
        }
        let Some(before) = guard.as_ref() else {
            return Err(Status::not_found(format!(
                "workflow execution not found for RunId: {run_id}"
            )));
        };
        let mut exec = before.clone();
        let now = self.clock.now_ms();
        let mut transition = Transition::new(&mut exec, now)
            .with_run_ids(|| new_run_id(now))
            .with_limits(self.limits);
        let (value, created) = operation(&mut transition);
        let output = transition.finish();
        let changed = exec != *before;
        if !changed && created.is_none() {
            return Ok(Applied {
                value,
                execution: exec,
            });
        }
        let mut writes = Vec::new();
        if changed {
            exec.db_version = before.db_version + 1;
            writes.push(ExecutionWrite {
                execution: exec.clone(),
                expected_db_version: before.db_version,
                new_events: output.events,
                make_current: false,
            });
        }
        let created = created.map(|mut run| {
            run.execution.db_version = 1;
            writes.push(ExecutionWrite {
                execution: run.execution.clone(),
                expected_db_version: 0,
                new_events: std::mem::take(&mut run.events),
                make_current: true,
            });
            run
        });
        // Runs this one starts (continue-as-new, retry, children) are created in the same
        // atomic write.
        let mut started_runs = Vec::new();
        for run in output.new_runs {
            let (mut next, events, tasks) = Execution::start(
                &exec.namespace,
                &run.run_id,
                "",
                run.started,
                None,
                run.user_metadata.as_ref(),
                now,
            );
            next.db_version = 1;
            writes.push(ExecutionWrite {
                execution: next.clone(),
                expected_db_version: 0,
                new_events: events,
                make_current: true,
            });
            started_runs.push((next, tasks));
        }
        let closed_now = before.is_running() && !exec.is_running();
        let new_external_requests = exec
            .external_requests
            .keys()
            .any(|id| !before.external_requests.contains_key(id));
        if let Err(error) = self.store.write(writes).await {
            // The cached state may be behind the store now; reload it next time.
            *guard = None;
            return Err(errors::storage(error));
        }
        *guard = Some(exec.clone());
        drop(guard);
        self.publish(&exec, output.tasks);
        entry.changed.send_modify(|version| *version += 1);
        for (next, tasks) in started_runs {
            *self.entry(&next.run_id).state.lock().await = Some(next.clone());
            self.publish(&next, tasks);
        }
        if let Some(run) = created {
            let next = run.execution;
            *self.entry(&next.run_id).state.lock().await = Some(next.clone());
            self.publish(&next, run.tasks);
            if !next.external_requests.is_empty() {
                self.follow_up(FollowUp::DeliverExternal {
                    source_run_id: next.run_id.clone(),
                });
            }
        }
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

    /// Drops cached state of runs the store deleted, so they read as not found.
    pub async fn forget_runs(&self, run_ids: &[String]) {
        for run_id in run_ids {
            let entry = self.entry(run_id);
            *entry.state.lock().await = None;
            self.busy_runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(run_id);
        }
    }

    /// [`History::forget_runs`] for every cached run of a deleted namespace.
    pub async fn forget_namespace(&self, namespace: &str) {
        let entries: Vec<(String, Arc<RunEntry>)> = {
            let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            runs.iter().map(|(id, e)| (id.clone(), e.clone())).collect()
        };
        let mut deleted = Vec::new();
        for (run_id, entry) in entries {
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
        if guard.is_none() {
            *guard = self
                .store
                .load_execution(run_id)
                .await
                .map_err(errors::storage)?;
        }
        Ok(guard.clone())
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
        self.store
            .read_history(run_id, first_event_id, max_events)
            .await
            .map_err(errors::storage)
    }

    /// Starts a workflow, applying request-id idempotency and the id reuse/conflict policies.
    /// With `signal` (signal-with-start) the signal goes to the run that is used, new or
    /// existing. Returns the run id and whether a new run was started.
    pub async fn start_workflow(
        &self,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        signal: Option<&InitialSignal>,
    ) -> Result<(String, bool), Status> {
        let stripe = stripe_of(namespace, &request.workflow_id);
        let _id_guard = self.id_locks[stripe].lock().await;
        // A run chained by continue-as-new or started as a child can take the id between the
        // policy check and the write; the store refuses the write then, and the check reruns.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_start_workflow(namespace, request, signal).await {
                Err(StartError::LostRace) if attempts < START_ATTEMPTS => continue,
                Err(StartError::LostRace) => {
                    return Err(Status::aborted(
                        "the workflow id kept changing during the start; try again",
                    ));
                }
                Err(StartError::Status(status)) => return Err(status),
                Ok(started) => return Ok(started),
            }
        }
    }

    async fn try_start_workflow(
        &self,
        namespace: &str,
        request: &StartWorkflowExecutionRequest,
        signal: Option<&InitialSignal>,
    ) -> Result<(String, bool), StartError> {
        let current_run = self
            .store
            .current_run(namespace, &request.workflow_id)
            .await
            .map_err(errors::storage)?;
        if let Some(current_run) = current_run
            && let Some(current) = self.snapshot(&current_run).await?
        {
            if !request.request_id.is_empty() && current.start_request_id == request.request_id {
                return Ok((current.run_id, true));
            }
            if let Some(existing) = self.check_id_policies(request, &current).await? {
                if let Some(signal) = signal {
                    let applied = self
                        .update(&existing, |t| {
                            let running = t.execution().is_running();
                            if running {
                                t.deliver_signal(signal);
                            }
                            running
                        })
                        .await?;
                    if !applied.value {
                        return Err(errors::already_completed().into());
                    }
                }
                return Ok((existing, false));
            }
        }
        let now = self.clock.now_ms();
        let run_id = new_run_id(now);
        let started = started_attributes(request, now);
        let (mut exec, events, tasks) = Execution::start(
            namespace,
            &run_id,
            &request.request_id,
            started,
            signal,
            request.user_metadata.as_ref(),
            now,
        );
        exec.db_version = 1;
        let write = ExecutionWrite {
            execution: exec.clone(),
            expected_db_version: 0,
            new_events: events,
            make_current: true,
        };
        match self.store.write(vec![write]).await {
            Ok(()) => {}
            Err(StoreError::Conflict(..)) => return Err(StartError::LostRace),
            Err(error) => return Err(errors::storage(error).into()),
        }
        let entry = self.entry(&run_id);
        *entry.state.lock().await = Some(exec.clone());
        self.publish(&exec, tasks);
        Ok((run_id, true))
    }

    /// Resets a workflow (`ResetWorkflowExecution`): creates a run that keeps the base run's
    /// history up to the workflow-task finish event, and terminates the current run if it is
    /// still running, in one atomic write. Returns the new run's id.
    pub async fn reset_workflow(
        &self,
        namespace: &str,
        request: &ResetWorkflowExecutionRequest,
    ) -> Result<String, Status> {
        let workflow_id = request
            .workflow_execution
            .as_ref()
            .map(|e| e.workflow_id.clone())
            .unwrap_or_default();
        let stripe = stripe_of(namespace, &workflow_id);
        let _id_guard = self.id_locks[stripe].lock().await;
        let reapply_signals = reapplies_signals(request);
        // A signal can reach a running base run between reading its history and terminating
        // it; the operation notices (the run moved on) and the reset starts over.
        for _ in 0..RESET_ATTEMPTS {
            let base = self
                .resolve(namespace, request.workflow_execution.as_ref())
                .await?;
            let finish_event_id = request.workflow_task_finish_event_id;
            if finish_event_id <= 1 || finish_event_id >= base.next_event_id {
                return Err(errors::invalid(
                    "Workflow task finish ID must be > 1 && <= workflow last event ID.",
                ));
            }
            let current_run_id = self
                .store
                .current_run(namespace, &workflow_id)
                .await
                .map_err(errors::storage)?
                .ok_or_else(|| errors::workflow_not_found(&workflow_id, ""))?;
            let current = self
                .snapshot(&current_run_id)
                .await?
                .ok_or_else(|| errors::workflow_not_found(&workflow_id, &current_run_id))?;
            if !request.request_id.is_empty() && current.start_request_id == request.request_id {
                return Ok(current_run_id);
            }
            let mut history = self.read_history(&base.run_id, 1, usize::MAX).await?;
            let after = history.split_off((finish_event_id - 1) as usize);
            let new_run_id = new_run_id(self.now_ms());
            let reset = Execution::reset(
                ResetPoint {
                    base: &base,
                    kept: history,
                    after: &after,
                    new_run_id: new_run_id.clone(),
                    request_id: request.request_id.clone(),
                    reason: request.reason.clone(),
                    reapply_signals,
                },
                self.clock.now_ms(),
            )
            .map_err(errors::invalid)?;
            let base_next_event_id = base.next_event_id;
            let base_is_current = base.run_id == current_run_id;
            let applied = self
                .update_creating(&current_run_id, |t| {
                    if base_is_current && t.execution().next_event_id != base_next_event_id {
                        return (false, None);
                    }
                    if t.execution().is_running() {
                        t.terminate(&request.reason, None, RESETTER_IDENTITY);
                    }
                    (true, Some(reset))
                })
                .await?;
            if applied.value {
                return Ok(new_run_id);
            }
        }
        Err(Status::aborted(
            "the workflow kept changing during the reset; try again",
        ))
    }

    /// Applies the id policies against the current run. `Ok(Some(run))` means "use the
    /// existing run", `Ok(None)` means "start a new run".
    async fn check_id_policies(
        &self,
        request: &StartWorkflowExecutionRequest,
        current: &Execution,
    ) -> Result<Option<String>, Status> {
        let mut conflict = WorkflowIdConflictPolicy::try_from(request.workflow_id_conflict_policy)
            .unwrap_or(WorkflowIdConflictPolicy::Fail);
        let mut reuse = WorkflowIdReusePolicy::try_from(request.workflow_id_reuse_policy)
            .unwrap_or(WorkflowIdReusePolicy::AllowDuplicate);
        // The deprecated TERMINATE_IF_RUNNING means "terminate the running one, then start".
        #[allow(deprecated)]
        let terminate_if_running = reuse == WorkflowIdReusePolicy::TerminateIfRunning;
        if terminate_if_running {
            conflict = WorkflowIdConflictPolicy::TerminateExisting;
            reuse = WorkflowIdReusePolicy::AllowDuplicate;
        }
        let already_started = || {
            errors::already_started(
                &request.workflow_id,
                &current.start_request_id,
                &current.run_id,
                &current.first_execution_run_id,
            )
        };
        if current.is_running() {
            return match conflict {
                WorkflowIdConflictPolicy::UseExisting => Ok(Some(current.run_id.clone())),
                WorkflowIdConflictPolicy::TerminateExisting => {
                    let identity = request.identity.clone();
                    self.update(&current.run_id, |t| {
                        if t.execution().is_running() {
                            t.terminate(
                                "terminated by a new start (TerminateExisting)",
                                None,
                                &identity,
                            );
                        }
                    })
                    .await?;
                    Ok(None)
                }
                _ => Err(already_started()),
            };
        }
        let failed = matches!(
            WorkflowExecutionStatus::try_from(current.status),
            Ok(WorkflowExecutionStatus::Failed
                | WorkflowExecutionStatus::Canceled
                | WorkflowExecutionStatus::Terminated
                | WorkflowExecutionStatus::TimedOut)
        );
        match reuse {
            WorkflowIdReusePolicy::RejectDuplicate => Err(errors::already_started(
                &request.workflow_id,
                &current.start_request_id,
                &current.run_id,
                &current.first_execution_run_id,
            )),
            WorkflowIdReusePolicy::AllowDuplicateFailedOnly if !failed => Err(already_started()),
            _ => Ok(None),
        }
    }

    /// Registers a query waiting for a worker's answer; the guard unregisters it when dropped.
    pub fn register_query(
        &self,
    ) -> (
        String,
        oneshot::Receiver<QueryAnswer>,
        QueryRegistration<'_>,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), sender);
        (
            id.clone(),
            receiver,
            QueryRegistration { history: self, id },
        )
    }

    /// Delivers a worker's answer; false if nobody waits for this query any more.
    pub fn answer_query(&self, query_id: &str, answer: QueryAnswer) -> bool {
        let sender = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(query_id);
        sender.is_some_and(|s| s.send(answer).is_ok())
    }

    pub fn offer_query(&self, exec: &Execution, query_id: &str, query: WorkflowQuery) {
        self.matching.offer(
            &exec.namespace,
            &exec.task_queue,
            QueueKind::Workflow,
            QueuedTask::Query {
                run_id: exec.run_id.clone(),
                query_id: query_id.to_string(),
                query,
            },
        );
    }

    pub fn matching(&self) -> &Matching {
        &self.matching
    }

    /// Timer-service callback: processes whatever is due on the run.
    pub async fn on_timer(&self, run_id: &str) {
        let result = self.update(run_id, |t| t.on_time()).await;
        match result {
            Ok(applied) => {
                if let Some(at) = applied.execution.next_wakeup() {
                    self.timers.schedule(at, run_id);
                }
            }
            Err(status) => {
                tracing::warn!(run_id, error = %status.message(), "timer processing failed; retrying");
                self.timers.schedule(self.clock.now_ms() + 1_000, run_id);
            }
        }
    }
}

/// Unregisters a pending query when the waiting RPC ends.
pub struct QueryRegistration<'a> {
    history: &'a History,
    id: String,
}

impl Drop for QueryRegistration<'_> {
    fn drop(&mut self) {
        self.history
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// The run a close event chains to (continue-as-new, retry, cron), if any.
fn next_run_of(close: &HistoryEvent) -> Option<String> {
    use temper_api::proto::history::v1::history_event::Attributes;
    let next = match close.attributes.as_ref()? {
        Attributes::WorkflowExecutionCompletedEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionFailedEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionTimedOutEventAttributes(a) => &a.new_execution_run_id,
        Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a) => &a.new_execution_run_id,
        _ => return None,
    };
    (!next.is_empty()).then(|| next.clone())
}

/// Drops cached runs that are closed (or were never loaded) and that nobody is using: the
/// store has them, and the next access loads them again.
fn evict_closed_runs(runs: &mut HashMap<String, Arc<RunEntry>>) {
    runs.retain(|_, entry| {
        if Arc::strong_count(entry) > 1 {
            return true;
        }
        match entry.state.try_lock() {
            Ok(state) => state.as_ref().is_some_and(Execution::is_running),
            Err(_) => true,
        }
    });
}

/// Whether a reset request reapplies the base run's later signals (Temporal's default).
#[allow(deprecated)] // clients still send the deprecated `reset_reapply_type`
fn reapplies_signals(request: &ResetWorkflowExecutionRequest) -> bool {
    let excluded = request
        .reset_reapply_exclude_types
        .contains(&(ResetReapplyExcludeType::Signal as i32));
    !excluded && request.reset_reapply_type != ResetReapplyType::None as i32
}

fn stripe_of(namespace: &str, workflow_id: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (namespace, workflow_id).hash(&mut hasher);
    (hasher.finish() % ID_LOCK_STRIPES as u64) as usize
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

fn started_attributes(
    request: &StartWorkflowExecutionRequest,
    now: i64,
) -> WorkflowExecutionStartedEventAttributes {
    let execution_timeout = duration_ms(request.workflow_execution_timeout.as_ref());
    WorkflowExecutionStartedEventAttributes {
        workflow_id: request.workflow_id.clone(),
        workflow_type: request
            .workflow_type
            .clone()
            .or(Some(WorkflowType::default())),
        task_queue: request.task_queue.clone(),
        input: request.input.clone(),
        workflow_execution_timeout: request.workflow_execution_timeout,
        workflow_run_timeout: request
            .workflow_run_timeout
            .or(request.workflow_execution_timeout),
        workflow_task_timeout: request.workflow_task_timeout,
        identity: request.identity.clone(),
        header: request.header.clone(),
        memo: request.memo.clone(),
        search_attributes: request.search_attributes.clone(),
        retry_policy: request.retry_policy.clone(),
        cron_schedule: request.cron_schedule.clone(),
        priority: request.priority.clone(),
        first_workflow_task_backoff: request.workflow_start_delay,
        // Set by clients that chain runs themselves (Temporal's scheduler does).
        continued_failure: request.continued_failure.clone(),
        last_completion_result: request.last_completion_result.clone(),
        attempt: 1,
        workflow_execution_expiration_time: if execution_timeout > 0 {
            ms_timestamp(now + execution_timeout)
        } else {
            None
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: Option<WorkflowExecutionStatus>) -> Arc<RunEntry> {
        Arc::new(RunEntry {
            state: tokio::sync::Mutex::new(status.map(|s| Execution {
                status: s as i32,
                ..Default::default()
            })),
            changed: watch::channel(0).0,
        })
    }

    #[test]
    fn eviction_keeps_open_and_in_use_runs_only() {
        let in_use = entry(Some(WorkflowExecutionStatus::Completed));
        let mut runs = HashMap::from([
            (
                "open".to_string(),
                entry(Some(WorkflowExecutionStatus::Running)),
            ),
            (
                "closed".to_string(),
                entry(Some(WorkflowExecutionStatus::Completed)),
            ),
            ("unloaded".to_string(), entry(None)),
            ("in-use".to_string(), in_use.clone()),
        ]);
        evict_closed_runs(&mut runs);
        let mut kept: Vec<&str> = runs.keys().map(String::as_str).collect();
        kept.sort();
        assert_eq!(kept, vec!["in-use", "open"]);
        drop(in_use);
    }
}

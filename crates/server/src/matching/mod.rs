//! Matching: in-memory task queues with long polling.
//!
//! A queue is keyed by namespace, name and kind (workflow or activity). Offering a task hands
//! it straight to a waiting poller when there is one (no storage round trip); otherwise it is
//! kept until a poll arrives. Queued entries are only references (run id, scheduled event id,
//! attempt): the history side re-checks them when a poller takes one, so a stale or duplicate
//! entry is simply skipped. Queues are rebuilt from open executions at start-up.
//!
//! A queue holds at most [`Matching::capacity`] tasks of runs (workflow and activity tasks).
//! Past that it *spills*: further run tasks are not kept (each is still in its run's state in
//! the store) and the queue counts them, so memory is bounded by the capacity rather than by
//! the number of waiting runs. Once a spilled queue has drained to half its capacity, History
//! scans the open runs and offers their tasks for it again (`history/refill.rs`) until a whole
//! scan passes without a task spilled; while spilled, a queue keeps the keys of the run tasks
//! it holds so that the refill does not queue one twice. Other tasks (queries, Nexus and
//! standalone-activity tasks) live only here and are always kept.
//!
//! A waiting poller may also be reserved for a task that is about to start for it in the
//! write that makes it ready (`handoff.rs`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use temper_api::cluster::RemoteTask;
use temper_api::proto::query::v1::WorkflowQuery;
use tokio::sync::{Notify, oneshot};

use crate::token_bucket::RateLimit;

mod handoff;
pub use handoff::{ClaimedTask, Handoff, ReservedPoller, SyncStarted};
use handoff::{PollerInbox, PollerMessage};

/// Who polls: the worker's identity and the build id of its deployment version (empty for an
/// unversioned worker).
pub struct Poller<'a> {
    pub identity: &'a str,
    pub build: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    Workflow,
    Activity,
    /// Nexus tasks for a handler worker (on the queue an endpoint targets).
    Nexus,
}

/// The run as a query found it queryable (no workflow task scheduled or running): its query
/// task shows the history up to `last_event_id`, so events that arrive before a worker takes
/// the task (an activity's completion and the workflow task it schedules) reach the worker
/// in that workflow task, not in the query's history. (A worker that applied them while
/// answering the query would see nothing new in the workflow task and answer it without
/// the workflow's versioning behaviour.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryView {
    pub last_event_id: i64,
    pub previous_started_event_id: i64,
}

/// A reference to a task; the history side validates it when it is taken.
#[derive(Debug, Clone)]
pub enum QueuedTask {
    Workflow {
        run_id: String,
        scheduled_event_id: i64,
    },
    Activity {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// An attempt of a standalone activity (one a client started without a workflow).
    StandaloneActivity {
        activity_id: String,
        run_id: String,
        attempt: i32,
    },
    /// An attempt of a Nexus operation of the (caller) run `run_id`, or of its cancel request.
    Nexus {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        cancel: bool,
    },
    /// A query for a worker to answer from its cached workflow state.
    Query {
        run_id: String,
        query_id: String,
        query: WorkflowQuery,
        view: QueryView,
    },
    /// A task of a run another node owns, queued here because this node coordinates a
    /// spread cluster (`cluster/tasks.rs`): started by that node. Always kept (its owner
    /// cannot refill it), like queries.
    Remote(Box<RemoteTask>),
}

type QueueKey = (String, String, QueueKind);

/// Which of a queue's worker versions may take a task (worker versioning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Any poller (a sticky queue has one worker).
    Any,
    /// Only pollers of this build id (a pinned run).
    Pinned(String),
    /// The queue's current version, or its ramping one when the workflow id's hash
    /// ([`ramp_hash`]; kept instead of the id, which a queued task need not carry) falls in
    /// the ramp; unversioned pollers while the queue has no current version.
    Follow { workflow_hash: u32 },
}

impl Route {
    /// A task with no workflow to hash (Nexus, standalone activities, queries).
    pub fn follow() -> Route {
        Route::following("")
    }

    /// A task of workflow `workflow_id` following its queue's routing.
    pub fn following(workflow_id: &str) -> Route {
        Route::Follow {
            workflow_hash: ramp_hash(workflow_id),
        }
    }
}

/// What Temporal's ramp rule hashes a workflow id to: its 32-bit farmhash fingerprint.
pub fn ramp_hash(workflow_id: &str) -> u32 {
    farmhash::fingerprint32(workflow_id.as_bytes())
}

/// A task queue's routing among its deployment's versions (an empty build id: unversioned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueRouting {
    pub current: String,
    /// The ramping version and the percentage of workflows it takes.
    pub ramping: Option<(String, f32)>,
}

impl QueueRouting {
    /// The build id a following task goes to: Temporal's ramp rule, by the workflow id's
    /// [`ramp_hash`] as a percentage.
    pub fn build_for(&self, workflow_hash: u32) -> &str {
        let Some((ramping, percentage)) = &self.ramping else {
            return &self.current;
        };
        let in_ramp = if *percentage <= 0.0 {
            false
        } else if *percentage >= 100.0 {
            true
        } else {
            100.0 * f64::from(workflow_hash) / 4_294_967_296.0 <= f64::from(*percentage)
        };
        if in_ramp { ramping } else { &self.current }
    }
}

/// The build a task may go to (`None`: any poller).
fn target_build<'a>(routing: Option<&'a QueueRouting>, route: &'a Route) -> Option<&'a str> {
    match route {
        Route::Any => None,
        Route::Pinned(build) => Some(build),
        Route::Follow { workflow_hash } => {
            Some(routing.map_or("", |r| r.build_for(*workflow_hash)))
        }
    }
}

/// A poller waiting for a task, with the build id it runs (empty: unversioned).
struct WaitingPoller {
    build: String,
    identity: String,
    sender: oneshot::Sender<PollerMessage>,
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<(Route, QueuedTask)>,
    pollers: VecDeque<WaitingPoller>,
    /// A dispatch rate limit: its tasks are never handed over at offer time, and its pollers
    /// wait for a token (see [`Matching::poll_limited`]).
    limit: Option<RateLimit>,
    /// Woken when a task arrives on a rate-limited queue or its limit changes.
    arrived: Arc<Notify>,
    /// Run tasks refused since the queue last had everything in memory (see the module
    /// doc); `None` while nothing is spilled.
    spilled: Option<u64>,
    /// While spilled, the run tasks held, so that a refill does not queue a task twice.
    held: Option<HashSet<RunTaskKey>>,
}

/// What tells two run tasks apart: equal keys are the same task, which a poll would start
/// once and skip the second time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RunTaskKey {
    Workflow(String, i64),
    Activity(String, i64, i32),
}

impl RunTaskKey {
    /// The key of a run's task; `None` for tasks that live only in matching.
    fn of(task: &QueuedTask) -> Option<RunTaskKey> {
        match task {
            QueuedTask::Workflow {
                run_id,
                scheduled_event_id,
            } => Some(RunTaskKey::Workflow(run_id.clone(), *scheduled_event_id)),
            QueuedTask::Activity {
                run_id,
                scheduled_event_id,
                attempt,
            } => Some(RunTaskKey::Activity(
                run_id.clone(),
                *scheduled_event_id,
                *attempt,
            )),
            _ => None,
        }
    }
}

/// A queue that refused run tasks and has room for them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpilledQueue {
    pub namespace: String,
    pub queue: String,
    pub kind: QueueKind,
    /// How many tasks it has refused so far; a refill pass that starts and ends at the same
    /// count has seen every one of them.
    pub spilled: u64,
}

impl Queue {
    /// Hands `task` to the first waiting poller it may go to; gives it back if there is none.
    fn hand_to_poller(
        &mut self,
        routing: Option<&QueueRouting>,
        route: &Route,
        task: QueuedTask,
    ) -> Option<QueuedTask> {
        let mut task = task;
        while let Some(poller) = self.take_poller(routing, route) {
            match poller.sender.send(PollerMessage::Task(route.clone(), task)) {
                Ok(()) => return None,
                Err(PollerMessage::Task(_, returned)) => task = returned,
                // Only the task sent comes back.
                Err(_) => return None,
            }
        }
        Some(task)
    }

    /// Takes the first waiting poller a task on `route` may go to.
    fn take_poller(
        &mut self,
        routing: Option<&QueueRouting>,
        route: &Route,
    ) -> Option<WaitingPoller> {
        let target = target_build(routing, route);
        let index = self
            .pollers
            .iter()
            .position(|p| target.is_none_or(|build| build == p.build))?;
        self.pollers.remove(index)
    }

    /// Queues a task for later, unless it is a run's task and the queue is full: that one is
    /// counted as spilled instead. True when it was kept.
    fn keep(&mut self, capacity: usize, route: Route, task: QueuedTask) -> bool {
        let from_a_run = matches!(
            task,
            QueuedTask::Workflow { .. } | QueuedTask::Activity { .. }
        );
        if from_a_run && self.tasks.len() >= capacity {
            *self.spilled.get_or_insert(0) += 1;
            if self.held.is_none() {
                self.held = Some(self.keys_queued());
            }
            return false;
        }
        // Keys are kept only while spilled: the common path builds none.
        if let (Some(held), Some(key)) = (&mut self.held, RunTaskKey::of(&task))
            && !held.insert(key)
        {
            return true;
        }
        self.tasks.push_back((route, task));
        true
    }

    /// The keys of the run tasks queued now.
    fn keys_queued(&self) -> HashSet<RunTaskKey> {
        self.tasks
            .iter()
            .filter_map(|(_, task)| RunTaskKey::of(task))
            .collect()
    }

    /// Forgets a task that left the queue (only a spilled queue keeps keys).
    fn forget(&mut self, task: &QueuedTask) {
        if let Some(held) = &mut self.held
            && let Some(key) = RunTaskKey::of(task)
        {
            held.remove(&key);
        }
    }

    /// True when the queue spilled and has drained to half its capacity.
    fn wants_refill(&self, capacity: usize) -> bool {
        self.spilled.is_some() && self.tasks.len() <= capacity / 2
    }

    /// Takes the first queued task a poller of `build` may take, with its route.
    fn take_for(
        &mut self,
        routing: Option<&QueueRouting>,
        build: &str,
    ) -> Option<(Route, QueuedTask)> {
        let index = self
            .tasks
            .iter()
            .position(|(route, _)| target_build(routing, route).is_none_or(|b| b == build))?;
        let (route, task) = self.tasks.remove(index)?;
        self.forget(&task);
        Some((route, task))
    }
}

pub struct Matching {
    queues: Mutex<HashMap<QueueKey, Queue>>,
    /// The most run tasks a queue holds in memory (see the module doc).
    capacity: usize,
    /// Woken when a spilled queue may take tasks again.
    refill_wanted: Notify,
    /// Sticky queues whose worker shut down: offers to them are refused.
    closed: Mutex<std::collections::HashSet<QueueKey>>,
    /// When each queue was last polled.
    last_polled: Mutex<HashMap<QueueKey, std::time::Instant>>,
    /// Who polled each queue and when (wall-clock time), for `DescribeTaskQueue`.
    pollers_seen: Mutex<HashMap<QueueKey, HashMap<String, std::time::SystemTime>>>,
    /// (namespace, queue) → its routing among worker deployment versions, when it has one.
    routing: Mutex<HashMap<(String, String), QueueRouting>>,
}

/// Run tasks a queue holds in memory unless configured otherwise (≈1.5 MiB per full queue).
pub const QUEUED_TASKS_PER_QUEUE: usize = 10_000;

impl Default for Matching {
    fn default() -> Self {
        Matching::with_capacity(QUEUED_TASKS_PER_QUEUE)
    }
}

/// A worker that polled a queue recently.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerSeen {
    pub identity: String,
    pub last_access: std::time::SystemTime,
}

/// Pollers are reported for this long after their last poll (Temporal's matching default).
const POLLER_REPORTED_FOR: Duration = Duration::from_secs(300);

/// A sticky queue nobody polled for this long is taken to have lost its worker.
const STICKY_POLLER_GONE_AFTER: Duration = Duration::from_secs(10);

impl Matching {
    /// Matching whose queues hold at most `capacity` run tasks each (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Matching {
            queues: Mutex::default(),
            capacity: capacity.max(1),
            refill_wanted: Notify::new(),
            closed: Mutex::default(),
            last_polled: Mutex::default(),
            pollers_seen: Mutex::default(),
            routing: Mutex::default(),
        }
    }

    /// Queues a task (or hands it to a waiting poller). Returns false, keeping nothing, when
    /// the queue was closed.
    pub fn offer(&self, namespace: &str, queue: &str, kind: QueueKind, task: QueuedTask) -> bool {
        self.offer_routed(namespace, queue, kind, task, Route::follow())
    }

    /// Queues a task for the workers `route` allows (or hands it to one waiting).
    pub fn offer_routed(
        &self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        task: QueuedTask,
        route: Route,
    ) -> bool {
        let key = (namespace.to_string(), queue.to_string(), kind);
        if self
            .closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return false;
        }
        let routing = self.routing_of(namespace, queue);
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let entry = queues
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default();
        if entry.limit.is_some() {
            entry.keep(self.capacity, route, task);
            entry.arrived.notify_waiters();
            return true;
        }
        if let Some(task) = entry.hand_to_poller(routing.as_ref(), &route, task) {
            entry.keep(self.capacity, route, task);
        }
        true
    }

    /// Takes a poller waiting on the queue that a task on `route` may go to, for a task about
    /// to start for it (see `handoff.rs`). `None` when no live poller waits, or the queue is
    /// closed or rate-limited (its tasks are never handed over at once).
    pub fn reserve_poller(
        &self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        route: &Route,
    ) -> Option<ReservedPoller> {
        let key = (namespace.to_string(), queue.to_string(), kind);
        if self
            .closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return None;
        }
        let routing = self.routing_of(namespace, queue);
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let entry = queues.get_mut(&key).filter(|q| q.limit.is_none())?;
        entry.pollers.retain(|p| !p.sender.is_closed());
        let poller = entry.take_poller(routing.as_ref(), route)?;
        Some(ReservedPoller::new(poller.identity, poller.sender))
    }

    /// Queues that spilled and have room again, each with its spill count.
    pub fn spilled_with_room(&self) -> Vec<SpilledQueue> {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .iter()
            .filter(|(_, queue)| queue.wants_refill(self.capacity))
            .filter_map(|((namespace, name, kind), queue)| {
                Some(SpilledQueue {
                    namespace: namespace.clone(),
                    queue: name.clone(),
                    kind: *kind,
                    spilled: queue.spilled?,
                })
            })
            .collect()
    }

    /// True while the queue has run tasks that are not in memory.
    pub fn is_spilled(&self, key: &(String, String, QueueKind)) -> bool {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.get(key).is_some_and(|q| q.spilled.is_some())
    }

    /// Ends a refill pass over every open run that began when `spilled.spilled` tasks had
    /// spilled: if none spilled since, every task is in memory again and the queue is no
    /// longer spilled (true); else a new pass is due (false).
    pub fn end_refill_pass(&self, spilled: &SpilledQueue) -> bool {
        let key = (
            spilled.namespace.clone(),
            spilled.queue.clone(),
            spilled.kind,
        );
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = queues.get_mut(&key) else {
            return true;
        };
        if queue.spilled.is_some_and(|count| count != spilled.spilled) {
            return false;
        }
        queue.spilled = None;
        queue.held = None;
        true
    }

    /// Waits until a spilled queue may have room again (or a while has passed).
    pub async fn refill_wanted(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.refill_wanted.notified()).await;
    }

    /// Nudges the refill when the queue just taken from wants one.
    fn note_taken(&self, queue: &Queue) {
        if queue.wants_refill(self.capacity) {
            self.refill_wanted.notify_one();
        }
    }

    /// Sets (or, with `None`, lifts) a queue's dispatch rate limit, in tasks per second.
    pub fn set_rate_limit(&self, namespace: &str, queue: &str, kind: QueueKind, rate: Option<f64>) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let entry = queues
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default();
        entry.limit = match (entry.limit.take(), rate) {
            (_, None) => None,
            (Some(mut limit), Some(rate)) => {
                limit.set_rate(rate);
                Some(limit)
            }
            (None, Some(rate)) => Some(RateLimit::new(rate)),
        };
        entry.arrived.notify_waiters();
    }

    /// A poll of a rate-limited queue: takes a task when one may go to this poller and a
    /// token is there, else waits for a task or a token. `None` when the queue is not limited
    /// (the caller polls normally) or the wait ends empty.
    async fn poll_limited(
        &self,
        key: &QueueKey,
        build: &str,
        deadline: tokio::time::Instant,
    ) -> Option<Option<(Route, QueuedTask)>> {
        const RECHECK: Duration = Duration::from_millis(100);
        loop {
            let routing = self.routing_of(&key.0, &key.1);
            let (wait, arrived) = {
                let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let entry = queues.entry(key.clone()).or_default();
                let limit = entry.limit.as_mut()?;
                let ready = limit.has_token();
                let next = limit.until_next_token().unwrap_or(RECHECK);
                if ready && let Some(task) = entry.take_for(routing.as_ref(), build) {
                    entry.limit.as_mut()?.take();
                    self.note_taken(entry);
                    return Some(Some(task));
                }
                let wait = if ready { RECHECK } else { next.min(RECHECK) };
                (wait, entry.arrived.clone())
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Some(None);
            }
            let wait = wait.min(deadline - now);
            tokio::select! {
                _ = arrived.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn routing_of(&self, namespace: &str, queue: &str) -> Option<QueueRouting> {
        let routing = self.routing.lock().unwrap_or_else(|e| e.into_inner());
        routing
            .get(&(namespace.to_string(), queue.to_string()))
            .cloned()
    }

    /// The build id a task following the queue's routing goes to (empty: unversioned).
    pub fn routed_build(&self, namespace: &str, queue: &str, workflow_id: &str) -> String {
        self.routing_of(namespace, queue)
            .map(|r| r.build_for(ramp_hash(workflow_id)).to_string())
            .unwrap_or_default()
    }

    /// Sets (or, with `None`, clears) a queue's routing, and hands queued tasks that may now
    /// go to a waiting poller to it.
    pub fn set_routing(&self, namespace: &str, queue: &str, routing: Option<QueueRouting>) {
        {
            let mut table = self.routing.lock().unwrap_or_else(|e| e.into_inner());
            let key = (namespace.to_string(), queue.to_string());
            match routing.clone() {
                Some(routing) => table.insert(key, routing),
                None => table.remove(&key),
            };
        }
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for kind in [QueueKind::Workflow, QueueKind::Activity] {
            let key = (namespace.to_string(), queue.to_string(), kind);
            let Some(entry) = queues.get_mut(&key) else {
                continue;
            };
            let waiting: Vec<(Route, QueuedTask)> = entry.tasks.drain(..).collect();
            // Rebuilt below from what stays queued, if the queue is spilled.
            let spilled = entry.held.take().is_some();
            for (route, task) in waiting {
                if let Some(task) = entry.hand_to_poller(routing.as_ref(), &route, task) {
                    entry.tasks.push_back((route, task));
                }
            }
            if spilled {
                entry.held = Some(entry.keys_queued());
            }
        }
    }

    /// Offers a task to a sticky queue, if its worker seems alive (it polls now or did so
    /// recently) and the queue is not full. Returns false, keeping nothing, otherwise.
    pub fn offer_sticky(&self, namespace: &str, queue: &str, task: QueuedTask) -> bool {
        let key = (
            namespace.to_string(),
            queue.to_string(),
            QueueKind::Workflow,
        );
        let polled_recently = self
            .last_polled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|at| at.elapsed() < STICKY_POLLER_GONE_AFTER);
        let (polling_now, full) = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map_or((false, false), |q| {
                let polling = q.pollers.iter().any(|p| !p.sender.is_closed());
                (polling, q.tasks.len() >= self.capacity)
            });
        // A full sticky queue is refused too: the caller moves the task to the normal queue.
        (polled_recently || polling_now)
            && !full
            && self.offer_routed(namespace, queue, QueueKind::Workflow, task, Route::Any)
    }

    /// Empties the queues for which `held` is false (their shards moved to another node of a
    /// spread cluster): their tasks are dropped (each run's owner offers its ready tasks to
    /// the queue's new owner) and their waiting polls end empty, so that the workers poll
    /// again and reach the new owner. A queue keeps its rate limit, should it come back.
    pub fn release_queues(&self, held: impl Fn(&str, &str) -> bool) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for ((namespace, name, _), queue) in queues.iter_mut() {
            if held(namespace, name) {
                continue;
            }
            queue.tasks.clear();
            // A dropped sender ends its poll with nothing.
            queue.pollers.clear();
            queue.spilled = None;
            queue.held = None;
            queue.arrived.notify_waiters();
        }
    }

    /// Closes a queue (a sticky queue whose worker shut down) and returns what was waiting.
    pub fn close(&self, namespace: &str, queue: &str, kind: QueueKind) -> Vec<QueuedTask> {
        let key = (namespace.to_string(), queue.to_string(), kind);
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .remove(&key)
            .map(|q| q.tasks.into_iter().map(|(_, task)| task).collect())
            .unwrap_or_default()
    }

    /// Waits up to `wait` for a task for an anonymous unversioned poller of a queue whose tasks
    /// are never started for a waiting poller (Nexus; tests); `None` when the wait ends empty.
    pub async fn poll(
        &self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        wait: Duration,
    ) -> Option<ClaimedTask<'_>> {
        let anonymous = Poller {
            identity: "",
            build: "",
        };
        match self
            .poll_as(namespace, queue, kind, &anonymous, wait)
            .await?
        {
            Handoff::Task(claimed) => Some(claimed),
            // Only workflow and activity queues' pollers are reserved, by History.
            Handoff::Started(_) => None,
        }
    }

    /// Waits up to `wait` for a task `poller` may take; `None` when the wait ends empty.
    pub async fn poll_as(
        &self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        poller: &Poller<'_>,
        wait: Duration,
    ) -> Option<Handoff<'_>> {
        let key = (namespace.to_string(), queue.to_string(), kind);
        self.last_polled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), std::time::Instant::now());
        let deadline = tokio::time::Instant::now() + wait;
        if let Some(taken) = self.poll_limited(&key, poller.build, deadline).await {
            let (route, task) = taken?;
            return Some(Handoff::Task(ClaimedTask::new(self, key, route, task)));
        }
        loop {
            let mut inbox = match self.take_or_wait(&key, poller) {
                Ok((route, task)) => {
                    return Some(Handoff::Task(ClaimedTask::new(self, key, route, task)));
                }
                Err(receiver) => PollerInbox::new(self, key.clone(), receiver),
            };
            match inbox.receive(deadline).await? {
                PollerMessage::Task(route, task) => {
                    return Some(Handoff::Task(ClaimedTask::new(self, key, route, task)));
                }
                PollerMessage::Started(started) => return Some(Handoff::Started(started)),
                PollerMessage::PollAgain => continue,
            }
        }
    }

    /// Puts a task a poll took but did not settle back on its queue.
    fn put_back(&self, key: &QueueKey, route: Route, task: QueuedTask) {
        if !self.offer_routed(&key.0, &key.1, key.2, task, route) {
            tracing::warn!(queue = %key.1, "a task put back found its queue closed");
        }
    }

    /// Takes a queued task `poller` may take, or registers it as waiting.
    fn take_or_wait(
        &self,
        key: &QueueKey,
        poller: &Poller<'_>,
    ) -> Result<(Route, QueuedTask), oneshot::Receiver<PollerMessage>> {
        let routing = self.routing_of(&key.0, &key.1);
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let entry = queues.entry(key.clone()).or_default();
        if let Some(task) = entry.take_for(routing.as_ref(), poller.build) {
            self.note_taken(entry);
            return Ok(task);
        }
        let (sender, receiver) = oneshot::channel();
        entry.pollers.retain(|p| !p.sender.is_closed());
        entry.pollers.push_back(WaitingPoller {
            build: poller.build.to_string(),
            identity: poller.identity.to_string(),
            sender,
        });
        Err(receiver)
    }

    /// Notes that `identity` is polling a queue.
    pub fn record_poller(&self, namespace: &str, queue: &str, kind: QueueKind, identity: &str) {
        let now = std::time::SystemTime::now();
        let mut seen = self.pollers_seen.lock().unwrap_or_else(|e| e.into_inner());
        let pollers = seen
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default();
        pollers.retain(|_, at| now.duration_since(*at).unwrap_or_default() < POLLER_REPORTED_FOR);
        pollers.insert(identity.to_string(), now);
    }

    /// The workers that polled a queue in the last five minutes, most recent first.
    pub fn recent_pollers(&self, namespace: &str, queue: &str, kind: QueueKind) -> Vec<PollerSeen> {
        let now = std::time::SystemTime::now();
        let seen = self.pollers_seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut pollers: Vec<PollerSeen> = seen
            .get(&(namespace.to_string(), queue.to_string(), kind))
            .into_iter()
            .flatten()
            .filter(|(_, at)| now.duration_since(**at).unwrap_or_default() < POLLER_REPORTED_FOR)
            .map(|(identity, at)| PollerSeen {
                identity: identity.clone(),
                last_access: *at,
            })
            .collect();
        pollers.sort_by_key(|p| std::cmp::Reverse(p.last_access));
        pollers
    }

    /// Number of tasks waiting in a queue (for tests and diagnostics).
    /// Every queue with tasks waiting: (namespace, queue, kind, tasks).
    pub fn backlogs(&self) -> Vec<(String, String, QueueKind, usize)> {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .iter()
            .filter(|(_, queue)| !queue.tasks.is_empty())
            .map(|((namespace, name, kind), queue)| {
                (namespace.clone(), name.clone(), *kind, queue.tasks.len())
            })
            .collect()
    }

    pub fn backlog(&self, namespace: &str, queue: &str, kind: QueueKind) -> usize {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .get(&(namespace.to_string(), queue.to_string(), kind))
            .map_or(0, |q| q.tasks.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_released_queue_drops_its_tasks_and_ends_its_polls() {
        let matching = Matching::default();
        matching.offer("ns", "kept", QueueKind::Activity, activity(1));
        matching.offer("ns", "moved", QueueKind::Activity, activity(2));
        let anyone = Poller {
            identity: "w",
            build: "",
        };
        let waiting = matching.poll_as(
            "ns",
            "empty-moved",
            QueueKind::Activity,
            &anyone,
            Duration::from_secs(30),
        );
        let release = async {
            tokio::task::yield_now().await;
            matching.release_queues(|_, queue| queue == "kept");
        };
        let (polled, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), waiting),
            release
        );
        assert!(matches!(polled, Ok(None)), "the poll ends empty at once");
        assert_eq!(matching.backlog("ns", "moved", QueueKind::Activity), 0);
        assert_eq!(matching.backlog("ns", "kept", QueueKind::Activity), 1);
    }

    fn activity(id: i64) -> QueuedTask {
        QueuedTask::Activity {
            run_id: "r".into(),
            scheduled_event_id: id,
            attempt: 1,
        }
    }

    #[tokio::test]
    async fn waiting_poller_gets_task_directly() {
        let matching = std::sync::Arc::new(Matching::default());
        let poller = {
            let matching = matching.clone();
            tokio::spawn(async move {
                let wait = Duration::from_secs(5);
                settled(matching.poll("ns", "q", QueueKind::Activity, wait).await)
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        matching.offer("ns", "q", QueueKind::Activity, activity(5));
        let task = poller.await.unwrap();
        assert!(matches!(
            task,
            Some(QueuedTask::Activity {
                scheduled_event_id: 5,
                ..
            })
        ));
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 0);
    }

    #[tokio::test]
    async fn queued_tasks_are_fifo_and_polls_time_out_empty() {
        let matching = Matching::default();
        matching.offer("ns", "q", QueueKind::Activity, activity(1));
        matching.offer("ns", "q", QueueKind::Activity, activity(2));
        let wait = Duration::from_millis(10);
        let first = settled(matching.poll("ns", "q", QueueKind::Activity, wait).await);
        assert!(matches!(
            first,
            Some(QueuedTask::Activity {
                scheduled_event_id: 1,
                ..
            })
        ));
        let second = settled(matching.poll("ns", "q", QueueKind::Activity, wait).await);
        assert!(matches!(
            second,
            Some(QueuedTask::Activity {
                scheduled_event_id: 2,
                ..
            })
        ));
        assert!(
            matching
                .poll("ns", "q", QueueKind::Workflow, wait)
                .await
                .is_none()
        );
    }

    fn scheduled(task: Option<QueuedTask>) -> Option<i64> {
        match task {
            Some(QueuedTask::Activity {
                scheduled_event_id, ..
            }) => Some(scheduled_event_id),
            _ => None,
        }
    }

    /// A poller of build `build`.
    fn built(build: &str) -> Poller<'_> {
        Poller {
            identity: "worker",
            build,
        }
    }

    /// What a poll took, spent.
    fn settled(claimed: Option<ClaimedTask<'_>>) -> Option<QueuedTask> {
        claimed.map(ClaimedTask::settle)
    }

    fn queued(handoff: Option<Handoff>) -> Option<QueuedTask> {
        match handoff? {
            Handoff::Task(claimed) => Some(claimed.settle()),
            Handoff::Started(_) => None,
        }
    }

    /// A handoff taken out of its poll: the queued task spent, or the started one.
    type Handed = Option<Result<QueuedTask, SyncStarted>>;

    fn handed(handoff: Option<Handoff>) -> Handed {
        match handoff? {
            Handoff::Task(claimed) => Some(Ok(claimed.settle())),
            Handoff::Started(started) => Some(Err(started)),
        }
    }

    #[tokio::test]
    async fn versioned_pollers_take_only_their_builds_tasks() {
        let matching = Matching::default();
        let wait = Duration::from_millis(10);
        let follow = || Route::following("w");
        let offer =
            |id, route| matching.offer_routed("ns", "q", QueueKind::Activity, activity(id), route);
        offer(1, follow());
        offer(2, Route::Pinned("v1".into()));
        // No current version: following tasks go to unversioned pollers only.
        let (v1_poller, v2_poller) = (built("v1"), built("v2"));
        let v1 = || matching.poll_as("ns", "q", QueueKind::Activity, &v1_poller, wait);
        assert_eq!(scheduled(queued(v1().await)), Some(2));
        assert_eq!(scheduled(queued(v1().await)), None);
        offer(3, follow());
        matching.set_routing(
            "ns",
            "q",
            Some(QueueRouting {
                current: "v2".into(),
                ramping: None,
            }),
        );
        let v2 = matching.poll_as("ns", "q", QueueKind::Activity, &v2_poller, wait);
        assert_eq!(
            scheduled(queued(v2.await)),
            Some(1),
            "the backlog follows the new current"
        );
        assert_eq!(
            scheduled(settled(
                matching.poll("ns", "q", QueueKind::Activity, wait).await
            )),
            None
        );
    }

    #[tokio::test]
    async fn a_full_queue_spills_run_tasks_and_asks_for_them_back_once_half_empty() {
        let matching = Matching::with_capacity(4);
        let wait = Duration::from_millis(10);
        for id in 1..=6 {
            assert!(matching.offer("ns", "q", QueueKind::Activity, activity(id)));
        }
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 4);
        let query = QueuedTask::Query {
            run_id: "r".into(),
            query_id: "q1".into(),
            query: WorkflowQuery::default(),
            view: QueryView::default(),
        };
        matching.offer("ns", "q", QueueKind::Activity, query);
        assert_eq!(
            matching.backlog("ns", "q", QueueKind::Activity),
            5,
            "a query lives only here: never spilled"
        );
        assert!(matching.spilled_with_room().is_empty(), "full: no room yet");
        for _ in 0..3 {
            settled(matching.poll("ns", "q", QueueKind::Activity, wait).await);
        }
        let spilled = matching.spilled_with_room();
        assert_eq!(spilled.len(), 1);
        assert_eq!((spilled[0].queue.as_str(), spilled[0].spilled), ("q", 2));
        // A task spilled during a refill pass means another pass.
        for id in 7..=9 {
            matching.offer("ns", "q", QueueKind::Activity, activity(id));
        }
        assert!(!matching.end_refill_pass(&spilled[0]));
        let again = SpilledQueue {
            spilled: 3,
            ..spilled[0].clone()
        };
        assert!(matching.end_refill_pass(&again));
        assert!(!matching.is_spilled(&("ns".into(), "q".into(), QueueKind::Activity)));
    }

    #[tokio::test]
    async fn a_spilled_queue_holds_a_refilled_task_once() {
        let matching = Matching::with_capacity(2);
        let wait = Duration::from_millis(10);
        for id in 1..=3 {
            matching.offer("ns", "q", QueueKind::Activity, activity(id));
        }
        settled(matching.poll("ns", "q", QueueKind::Activity, wait).await);
        // A refill offers what its runs still have: task 2 is held, task 3 spilled.
        matching.offer("ns", "q", QueueKind::Activity, activity(2));
        matching.offer("ns", "q", QueueKind::Activity, activity(3));
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 2);
        let taken = [
            scheduled(settled(
                matching.poll("ns", "q", QueueKind::Activity, wait).await,
            )),
            scheduled(settled(
                matching.poll("ns", "q", QueueKind::Activity, wait).await,
            )),
        ];
        assert_eq!(taken, [Some(2), Some(3)]);
        // Taken tasks are no longer held: a later offer of one queues it again.
        matching.offer("ns", "q", QueueKind::Activity, activity(2));
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 1);
    }

    fn started() -> SyncStarted {
        let grant = temper_engine::WorkflowTaskGrant {
            scheduled_event_id: 2,
            started_event_id: 3,
            attempt: 1,
            previous_started_event_id: 0,
            scheduled_time_ms: 0,
            started_time_ms: 0,
        };
        SyncStarted {
            exec: std::sync::Arc::new(temper_engine::Execution::default()),
            task: temper_engine::StartedTask::Workflow(grant),
        }
    }

    /// Polls the workflow queue "q" as "worker" for up to a second, in a task of its own.
    fn waiting_poller(matching: &std::sync::Arc<Matching>) -> tokio::task::JoinHandle<Handed> {
        let matching = matching.clone();
        tokio::spawn(async move {
            let poller = built("");
            let wait = Duration::from_secs(1);
            handed(
                matching
                    .poll_as("ns", "q", QueueKind::Workflow, &poller, wait)
                    .await,
            )
        })
    }

    #[tokio::test]
    async fn a_reserved_poller_gets_the_task_started_for_it() {
        let matching = std::sync::Arc::new(Matching::default());
        let poll = waiting_poller(&matching);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reserved = matching
            .reserve_poller("ns", "q", QueueKind::Workflow, &Route::follow())
            .expect("a poller waits");
        assert_eq!(reserved.identity(), "worker");
        assert!(
            matching
                .reserve_poller("ns", "q", QueueKind::Workflow, &Route::follow())
                .is_none(),
            "a reserved poller is off the queue"
        );
        assert!(reserved.deliver(started()));
        let handed = poll.await.expect("poll ends");
        assert!(matches!(handed, Some(Err(_))));
    }

    #[tokio::test]
    async fn a_poller_that_left_is_not_handed_its_task() {
        let matching = std::sync::Arc::new(Matching::default());
        let poll = waiting_poller(&matching);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reserved = matching.reserve_poller("ns", "q", QueueKind::Workflow, &Route::follow());
        poll.abort();
        let _ = poll.await;
        assert!(!reserved.expect("a poller waited").deliver(started()));
    }

    #[tokio::test]
    async fn a_poller_let_go_polls_again() {
        let matching = std::sync::Arc::new(Matching::default());
        let poll = waiting_poller(&matching);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reserved = matching.reserve_poller("ns", "q", QueueKind::Workflow, &Route::follow());
        drop(reserved.expect("a poller waits"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let task = QueuedTask::Workflow {
            run_id: "r".into(),
            scheduled_event_id: 2,
        };
        matching.offer("ns", "q", QueueKind::Workflow, task);
        let handed = poll.await.expect("poll ends");
        assert!(matches!(handed, Some(Ok(QueuedTask::Workflow { .. }))));
    }

    #[tokio::test]
    async fn rate_limited_and_closed_queues_reserve_no_poller() {
        let matching = std::sync::Arc::new(Matching::default());
        let _poll = waiting_poller(&matching);
        tokio::time::sleep(Duration::from_millis(50)).await;
        matching.set_rate_limit("ns", "q", QueueKind::Workflow, Some(10.0));
        let reserve = || matching.reserve_poller("ns", "q", QueueKind::Workflow, &Route::Any);
        assert!(reserve().is_none(), "rate-limited");
        matching.set_rate_limit("ns", "q", QueueKind::Workflow, None);
        matching.close("ns", "q", QueueKind::Workflow);
        assert!(reserve().is_none(), "closed");
    }

    #[tokio::test]
    async fn a_task_sent_to_a_poll_dropped_unread_goes_back_on_its_queue() {
        let matching = std::sync::Arc::new(Matching::default());
        let poll = waiting_poller(&matching);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let task = QueuedTask::Workflow {
            run_id: "r".into(),
            scheduled_event_id: 2,
        };
        matching.offer("ns", "q", QueueKind::Workflow, task);
        assert_eq!(matching.backlog("ns", "q", QueueKind::Workflow), 0);
        // The poll's client went away before the poll read its task (this test's runtime
        // runs one task at a time: the poll has not run since the offer).
        poll.abort();
        assert!(poll.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(matching.backlog("ns", "q", QueueKind::Workflow), 1);
    }

    #[tokio::test]
    async fn a_claimed_task_dropped_unsettled_goes_back_with_its_route() {
        let matching = Matching::default();
        let wait = Duration::from_millis(10);
        let pinned = Route::Pinned("v1".into());
        matching.offer_routed("ns", "q", QueueKind::Activity, activity(7), pinned);
        let v1 = built("v1");
        let poll_v1 = || matching.poll_as("ns", "q", QueueKind::Activity, &v1, wait);
        let claimed = poll_v1().await;
        assert!(matches!(claimed, Some(Handoff::Task(_))));
        drop(claimed);
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 1);
        let unversioned = matching.poll("ns", "q", QueueKind::Activity, wait).await;
        assert!(unversioned.is_none(), "still pinned to v1");
        assert_eq!(scheduled(queued(poll_v1().await)), Some(7));
        assert_eq!(matching.backlog("ns", "q", QueueKind::Activity), 0);
    }

    #[test]
    fn ramps_by_the_workflow_ids_hash() {
        let routing = |percentage| QueueRouting {
            current: "v1".into(),
            ramping: Some(("v2".into(), percentage)),
        };
        assert_eq!(routing(0.0).build_for(ramp_hash("any")), "v1");
        assert_eq!(routing(100.0).build_for(ramp_hash("any")), "v2");
        // Temporal puts ids whose fingerprint falls in the first `percentage` percent in the ramp.
        let ids: Vec<String> = (0..200).map(|i| format!("wf-{i}")).collect();
        let ramped = ids
            .iter()
            .filter(|id| routing(25.0).build_for(ramp_hash(id)) == "v2")
            .count();
        assert!((30..=70).contains(&ramped), "{ramped} of 200 ramped at 25%");
    }
}

//! Matching: in-memory task queues with long polling.
//!
//! A queue is keyed by namespace, name and kind (workflow or activity). Offering a task hands
//! it straight to a waiting poller when there is one (no storage round trip); otherwise it is
//! kept until a poll arrives. Queued entries are only references (run id, scheduled event id,
//! attempt): the history side re-checks them when a poller takes one, so a stale or duplicate
//! entry is simply skipped. Queues are rebuilt from open executions at start-up.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use temper_api::proto::query::v1::WorkflowQuery;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    Workflow,
    Activity,
    /// Nexus tasks for a handler worker (on the queue an endpoint targets).
    Nexus,
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
    },
}

type QueueKey = (String, String, QueueKind);

#[derive(Default)]
struct Queue {
    tasks: VecDeque<QueuedTask>,
    pollers: VecDeque<oneshot::Sender<QueuedTask>>,
}

#[derive(Default)]
pub struct Matching {
    queues: Mutex<HashMap<QueueKey, Queue>>,
    /// Sticky queues whose worker shut down: offers to them are refused.
    closed: Mutex<std::collections::HashSet<QueueKey>>,
    /// When each queue was last polled.
    last_polled: Mutex<HashMap<QueueKey, std::time::Instant>>,
    /// Who polled each queue and when (wall-clock time), for `DescribeTaskQueue`.
    pollers_seen: Mutex<HashMap<QueueKey, HashMap<String, std::time::SystemTime>>>,
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
    /// Queues a task (or hands it to a waiting poller). Returns false, keeping nothing, when
    /// the queue was closed.
    pub fn offer(&self, namespace: &str, queue: &str, kind: QueueKind, task: QueuedTask) -> bool {
        let key = (namespace.to_string(), queue.to_string(), kind);
        if self
            .closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return false;
        }
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let entry = queues
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default();
        let mut task = task;
        while let Some(poller) = entry.pollers.pop_front() {
            match poller.send(task) {
                Ok(()) => return true,
                Err(returned) => task = returned,
            }
        }
        entry.tasks.push_back(task);
        true
    }

    /// Offers a task to a sticky queue, if its worker seems alive (it polls now or did so
    /// recently). Returns false, keeping nothing, otherwise.
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
        let polling_now = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|q| q.pollers.iter().any(|p| !p.is_closed()));
        (polled_recently || polling_now) && self.offer(namespace, queue, QueueKind::Workflow, task)
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
            .map(|q| q.tasks.into_iter().collect())
            .unwrap_or_default()
    }

    /// Waits up to `wait` for a task; `None` when the wait ends empty.
    pub async fn poll(
        &self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        wait: Duration,
    ) -> Option<QueuedTask> {
        self.last_polled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (namespace.to_string(), queue.to_string(), kind),
                std::time::Instant::now(),
            );
        let mut receiver = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let entry = queues
                .entry((namespace.to_string(), queue.to_string(), kind))
                .or_default();
            if let Some(task) = entry.tasks.pop_front() {
                return Some(task);
            }
            let (sender, receiver) = oneshot::channel();
            entry.pollers.retain(|p| !p.is_closed());
            entry.pollers.push_back(sender);
            receiver
        };
        match tokio::time::timeout(wait, &mut receiver).await {
            Ok(Ok(task)) => Some(task),
            Ok(Err(_)) => None,
            Err(_) => {
                // A task sent between the timeout and now must not be lost.
                receiver.close();
                receiver.try_recv().ok()
            }
        }
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
                matching
                    .poll("ns", "q", QueueKind::Activity, Duration::from_secs(5))
                    .await
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
        let first = matching.poll("ns", "q", QueueKind::Activity, wait).await;
        assert!(matches!(
            first,
            Some(QueuedTask::Activity {
                scheduled_event_id: 1,
                ..
            })
        ));
        let second = matching.poll("ns", "q", QueueKind::Activity, wait).await;
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
}

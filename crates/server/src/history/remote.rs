//! A spread cluster's tasks on the history side (`cluster/tasks.rs` has the protocol): a node
//! that does not coordinate offers its runs' ready tasks to the coordinator's queues instead
//! of its own, and the coordinator queues the tasks other nodes offer it.

use std::sync::Arc;

use prost::Message;
use temper_api::cluster::{RemoteTask, RemoteTaskKind};
use temper_api::proto::query::v1::WorkflowQuery;
use temper_engine::Execution;

use super::{FollowUp, History, route_of};
use crate::cluster::Peers;
use crate::matching::{QueueKind, QueuedTask, Route};

impl History {
    /// This history in a spread cluster: it reaches the other nodes through `peers`.
    pub fn with_peers(mut self, peers: Arc<Peers>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// The other nodes of a spread cluster, if this node is in one.
    pub fn peers(&self) -> Option<&Arc<Peers>> {
        self.peers.as_ref()
    }

    /// The coordinator's queues, when they are another node's (this node does not hold
    /// shard 0 of a spread cluster).
    pub(super) fn remote_queues(&self) -> Option<&Arc<Peers>> {
        self.peers.as_ref().filter(|peers| !peers.shards().holds(0))
    }

    /// Offers the coordinator a task of one of this node's runs, in the background; a sticky
    /// task its queue refused goes back to the run's normal queue.
    pub(super) fn offer_remotely(&self, peers: &Arc<Peers>, task: RemoteTask) {
        let (peers, follow_ups) = (peers.clone(), self.follow_ups.clone());
        tokio::spawn(async move {
            let (run_id, sticky) = (task.run_id.clone(), task.sticky);
            if !peers.offer(task).await && sticky {
                let _ = follow_ups.send(FollowUp::ResetSticky { run_id });
            }
        });
    }

    /// Queues a task another node offered this one (the coordinator); false when its queue
    /// refused it (a sticky queue whose worker is gone).
    pub fn queue_remote(&self, task: RemoteTask) -> bool {
        let kind = match task.kind() {
            RemoteTaskKind::Activity => QueueKind::Activity,
            _ => QueueKind::Workflow,
        };
        let (namespace, queue) = (task.namespace.clone(), task.task_queue.clone());
        let queued = QueuedTask::Remote(Box::new(task.clone()));
        if task.sticky {
            return self.matching.offer_sticky(&namespace, &queue, queued);
        }
        let route = if task.pinned_build.is_empty() {
            Route::following(&task.workflow_id)
        } else {
            Route::Pinned(task.pinned_build.clone())
        };
        self.matching
            .offer_routed(&namespace, &queue, kind, queued, route)
    }
}

/// A task of `exec` on `queue`, as offered to the coordinator.
pub(super) fn remote_task(exec: &Execution, kind: RemoteTaskKind, queue: &str) -> RemoteTask {
    let pinned_build = match route_of(exec) {
        Route::Pinned(build) => build,
        Route::Any | Route::Follow { .. } => String::new(),
    };
    RemoteTask {
        namespace: exec.namespace.clone(),
        task_queue: queue.to_string(),
        kind: kind as i32,
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        sticky: queue != exec.task_queue,
        pinned_build,
        ..Default::default()
    }
}

/// A query task of `exec`, as offered to the coordinator.
pub(super) fn remote_query(exec: &Execution, query_id: &str, query: &WorkflowQuery) -> RemoteTask {
    RemoteTask {
        query_id: query_id.to_string(),
        query: query.encode_to_vec(),
        ..remote_task(exec, RemoteTaskKind::Query, &exec.task_queue)
    }
}

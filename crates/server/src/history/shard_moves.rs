//! Shards moving between the nodes of a spread cluster, on the history side.
//!
//! A node works only on runs of the shards it holds: a run of another shard (one that moved
//! away, or that a call reached this node for while it moved) is refused with
//! `UNAVAILABLE` (`errors::shard_elsewhere`), which clients retry and which reaches the new
//! owner, and is never kept in the run cache, so a shard that comes back is read afresh. When
//! this node gives a shard up it drops the shard's cached runs; when it takes one it recovers
//! the shard's open runs, as a restarted server recovers all of them (`recovery.rs`), and
//! reads its wake-ups. Task queues move with their shards: when any shard changes hands, the
//! queues of the shards that moved are gone (or begin empty), so every node offers every
//! ready task of its runs again, to each queue's owner.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use temper_engine::Execution;
use tonic::Status;

use super::History;
use crate::errors;

/// How long a node waits after shards changed hands before it acts on it, so that one
/// recovery covers a burst of moves.
const MOVES_SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

impl History {
    /// Refuses work on `exec` when its shard is another node's (a spread cluster).
    pub(super) fn check_owned(&self, exec: &Execution) -> Result<(), Status> {
        self.check_shard_held(&exec.namespace, &exec.workflow_id)
    }

    /// Refuses work on the workflow id's runs when their shard is another node's (a spread
    /// cluster).
    pub fn check_shard_held(&self, namespace: &str, workflow_id: &str) -> Result<(), Status> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        let shard = peers.shards().shard_of(namespace, workflow_id);
        if peers.shards().holds(shard) {
            Ok(())
        } else {
            Err(errors::shard_elsewhere(shard))
        }
    }

    /// What runs until the process ends in a spread cluster (`None` otherwise): whenever
    /// shards change hands (this node took or gave some up, or another node's moved), it
    /// unloads the shards given up, empties the task queues of shards no longer held, and
    /// recovers the open runs of every shard held: that loads the shards taken, and offers
    /// every ready task again to its queue's owner, as the queues of the shards that moved
    /// are gone (or begin empty). It notes the shards held now, before it is spawned:
    /// recovery, which reads them later, misses none taken meanwhile.
    pub fn follow_shard_moves(self: Arc<Self>) -> Option<impl Future<Output = ()> + use<>> {
        let shards = self.peers.as_ref()?.shards().clone();
        let mut ownership = shards.ownership_changes();
        let mut loaded: BTreeSet<i32> = shards.held_ids().into_iter().collect();
        Some(async move {
            loop {
                if ownership.changed().await.is_err() {
                    return;
                }
                // Shards move in bursts (a settling node takes several within a few passes):
                // one recovery covers a burst.
                tokio::time::sleep(MOVES_SETTLE).await;
                ownership.borrow_and_update();
                let held: BTreeSet<i32> = shards.held_ids().into_iter().collect();
                self.move_shards(&loaded, &held).await;
                loaded = held;
            }
        })
    }

    /// Unloads the shards of `loaded` not `held` any more and empties the queues of shards
    /// not held, then recovers every held shard's runs.
    async fn move_shards(&self, loaded: &BTreeSet<i32>, held: &BTreeSet<i32>) {
        let gone: Vec<i32> = loaded.difference(held).copied().collect();
        let taken: Vec<i32> = held.difference(loaded).copied().collect();
        if !gone.is_empty() {
            tracing::info!(?gone, "unloading shards handed over");
            self.unload_shards(&gone).await;
        }
        if let Some(peers) = &self.peers {
            let shards = peers.shards();
            self.matching
                .release_queues(|namespace, queue| shards.holds_queue(namespace, queue));
        }
        if taken.is_empty() {
            tracing::info!("shards changed hands; offering every ready task again");
        } else {
            tracing::info!(
                ?taken,
                "loading shards taken; offering every ready task again"
            );
        }
        self.recover_shards(held.iter().copied().collect()).await;
        if !taken.is_empty() {
            self.timers.reload();
        }
    }

    /// Drops the cached runs of `gone`, shards this node no longer holds.
    async fn unload_shards(&self, gone: &[i32]) {
        let Some(peers) = &self.peers else {
            return;
        };
        let mut unloaded = Vec::new();
        for (run_id, entry) in self.runs.entries() {
            let state = entry.state.lock().await;
            let shard = state
                .as_ref()
                .map(|exec| peers.shards().shard_of(&exec.namespace, &exec.workflow_id));
            if shard.is_some_and(|shard| gone.contains(&shard)) {
                unloaded.push(run_id);
            }
        }
        self.forget_runs(&unloaded).await;
        // Runs evicted from the run cache may still have events cached.
        self.events.forget_all();
    }
}

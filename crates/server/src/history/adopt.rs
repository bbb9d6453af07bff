//! Runs created across shards (a spread cluster): a child is written in its parent's
//! transaction, under the parent's fence, even when its workflow id's shard is another
//! node's — so a parent's command and its child's first events commit together or not at
//! all, as on one node. The store keeps the child's own shard beside it, so the child's owner
//! finds it whenever it recovers that shard; until then the owner is told: after the commit
//! the parent's node asks it to *adopt* the run (`AdoptRun`: queue its tasks, register its
//! wake-up), retried until a holder of the shard answers. A crash between the commit and that
//! call is covered at recovery: a recovered parent has the owners of its open children on
//! other shards adopt them again (adopting is idempotent; a queued task is a reference).
//!
//! Creating a run of a shard this node does not hold is safe under fencing: the run is new
//! (no node has it cached or can have written it), and "one running run per workflow id" is
//! checked by the store in the same transaction, whoever writes.

use temper_api::cluster::AdoptRunRequest;
use tonic::Status;

use super::History;
use super::recovery::recovery_follow_ups;

impl History {
    /// Has the owner of a run this node created publish it: another node, or this one if
    /// the run's shard came here since.
    pub(super) async fn adopt(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<(), Status> {
        let request = AdoptRunRequest {
            namespace: namespace.to_string(),
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
        };
        match self.peers_for(namespace, workflow_id) {
            Some(peers) => peers.adopt_run(request).await,
            None => self.adopt_for_peer(request).await,
        }
    }

    /// Publishes a run of this node's shards that a write elsewhere created: its ready tasks,
    /// its wake-up and the follow-ups its state implies; a closed or absent run is left
    /// alone. Refused when the run's shard is not this node's.
    pub async fn adopt_for_peer(&self, request: AdoptRunRequest) -> Result<(), Status> {
        self.check_shard_held(&request.namespace, &request.workflow_id)?;
        let Some(exec) = self.snapshot(&request.run_id).await? else {
            return Ok(());
        };
        let is_named_run =
            exec.namespace == request.namespace && exec.workflow_id == request.workflow_id;
        if is_named_run && exec.is_running() {
            self.publish(&exec, exec.ready_tasks());
            for follow_up in recovery_follow_ups(&exec) {
                self.follow_up(follow_up);
            }
        }
        Ok(())
    }

    /// Has the owners of a parent's open children on other nodes' shards adopt them (a
    /// recovered parent: its node may have stopped before it told them).
    pub(super) async fn adopt_children(&self, parent_run_id: &str) -> Result<(), Status> {
        if self.peers.is_none() {
            return Ok(());
        }
        let Some(parent) = self.snapshot(parent_run_id).await? else {
            return Ok(());
        };
        for child in parent.children.values() {
            if self
                .peers_for(&child.namespace, &child.workflow_id)
                .is_some()
            {
                self.adopt(&child.namespace, &child.workflow_id, &child.run_id)
                    .await?;
            }
        }
        Ok(())
    }
}

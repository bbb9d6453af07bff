//! `DeleteWorkflowExecution`: removes one run for good (history, state, visibility row and the
//! workflow id's current-run pointer when it points to the run).
//!
//! As in Temporal, a running run is terminated first, with the reason and identity Temporal's
//! history service records, and what its close implies for its relatives (the parent learning
//! of the close, the children's parent close policies) is done before the run is deleted:
//! those follow-ups read the run, which is about to disappear. Temporal deletes in the
//! background; Temper deletes before answering, so a describe right after reads NOT_FOUND.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_engine::Execution;
use tonic::Status;

use super::History;
use crate::errors;

/// The termination Temporal records for a run deleted while running.
const DELETE_REASON: &str = "Delete workflow execution";
const DELETE_IDENTITY: &str = "history-service";

impl History {
    /// Deletes the run `execution` names (an empty run id means the current run).
    pub async fn delete_workflow(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
    ) -> Result<(), Status> {
        let exec = self.resolve(namespace, execution).await?;
        let exec = if exec.is_running() {
            self.terminate_for_delete(&exec.run_id).await?
        } else {
            exec
        };
        self.settle_relatives(&exec).await?;
        self.remove_run(&exec).await
    }

    async fn terminate_for_delete(&self, run_id: &str) -> Result<Execution, Status> {
        let applied = self
            .transact(run_id, |t| {
                if t.execution().is_running() {
                    t.terminate(DELETE_REASON, None, DELETE_IDENTITY);
                }
            })
            .await?;
        Ok(std::sync::Arc::unwrap_or_clone(applied.execution))
    }

    /// The follow-ups of the run's close, done now rather than queued (both are idempotent, so
    /// the queued ones that may still come find nothing left to do).
    async fn settle_relatives(&self, exec: &Execution) -> Result<(), Status> {
        if let Some(parent) = exec
            .started
            .as_ref()
            .and_then(|s| s.parent_workflow_execution.as_ref())
        {
            self.sync_children(&parent.run_id).await?;
        }
        if !exec.children.is_empty() {
            self.apply_parent_close_policy(&exec.run_id).await?;
        }
        Ok(())
    }

    /// Deletes a closed run from the store and the cache, under the run's lock so no
    /// transition on it is in flight; long polls on the run wake up and find it gone.
    async fn remove_run(&self, exec: &Execution) -> Result<(), Status> {
        let entry = self.entry(&exec.run_id);
        let mut state = entry.state.lock().await;
        let deleted = self
            .store
            .delete_run(&exec.namespace, &exec.run_id)
            .await
            .map_err(errors::storage)?;
        self.runs.put(&entry, &mut state, None);
        self.events.forget(&exec.run_id);
        drop(state);
        self.busy_runs.note(&exec.run_id, false);
        entry.changed.send_modify(|version| *version += 1);
        if !deleted {
            // A concurrent delete of the same run won.
            return Err(errors::workflow_not_found(&exec.workflow_id, &exec.run_id));
        }
        Ok(())
    }
}

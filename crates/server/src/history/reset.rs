//! `ResetWorkflowExecution`: the new run built from a prefix of the base run's history, and
//! the termination of the run it replaces, in one write.

use temper_api::proto::enums::v1::{ResetReapplyExcludeType, ResetReapplyType};
use temper_api::proto::workflowservice::v1::ResetWorkflowExecutionRequest;
use temper_engine::Execution;
use temper_engine::execution::ResetPoint;
use tonic::Status;

use crate::errors;

use super::History;
use super::new_run_id;
use super::start::stripe_of;

/// How often a reset starts over when the run it resets keeps changing.
pub(super) const RESET_ATTEMPTS: usize = 5;

/// The identity on the termination of a run replaced by a reset (Temporal's).
pub(super) const RESETTER_IDENTITY: &str = "history-resetter";

/// Whether a reset request reapplies the base run's later signals (Temporal's default).
#[allow(deprecated)] // clients still send the deprecated `reset_reapply_type`
pub(super) fn reapplies_signals(request: &ResetWorkflowExecutionRequest) -> bool {
    let excluded = request
        .reset_reapply_exclude_types
        .contains(&(ResetReapplyExcludeType::Signal as i32));
    !excluded && request.reset_reapply_type != ResetReapplyType::None as i32
}

impl History {
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
            .map_err(errors::reset_error)?;
            let base_next_event_id = base.next_event_id;
            let base_is_current = base.run_id == current_run_id;
            let applied = self
                .transact_creating(&current_run_id, |t| {
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
}

//! Workflow updates (`UpdateWorkflowExecution`, update-with-start, polling an update): admitting
//! an update to a run and waiting for the stage its caller asked for.

use std::time::Duration;

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::enums::v1::{
    UpdateWorkflowExecutionLifecycleStage, WorkflowIdConflictPolicy,
};
use temper_api::proto::update::v1::UpdateRef;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::Execution;
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::history::start::FirstTask;
use crate::validation::check_length;

/// Longest an update request waits for the stage it asked for before answering with the
/// stage reached.
const UPDATE_LONG_POLL_WAIT: Duration = Duration::from_secs(20);

impl History {
    /// Admits an update to a run and waits for the stage the request asks for.
    pub async fn run_update(
        &self,
        exec: &Execution,
        request: UpdateWorkflowExecutionRequest,
    ) -> Result<UpdateWorkflowExecutionResponse, Status> {
        let mut update = request
            .request
            .ok_or_else(|| errors::invalid("Request is not set on request."))?;
        let meta = update.meta.get_or_insert_default();
        if meta.update_id.is_empty() {
            // As Temporal: the server names an update sent without an id.
            meta.update_id = uuid::Uuid::new_v4().to_string();
        }
        let update_id = meta.update_id.clone();
        check_length(&update_id, "UpdateId")?;
        if update.input.as_ref().is_none_or(|i| i.name.is_empty()) {
            return Err(errors::invalid("Update name is not set on request."));
        }
        // Arguments are not held to the blob limit here, as Temporal: the worker's acceptance,
        // which echoes them, is (see the engine's update messages).
        let applied = self
            .transact(&exec.run_id, |t| t.admit_update(update))
            .await?;
        applied.value.map_err(errors::task_error)?;
        let wanted = request.wait_policy.map_or(0, |p| p.lifecycle_stage);
        let (stage, outcome) = self
            .wait_for_update(&exec.run_id, &update_id, wanted)
            .await?;
        Ok(UpdateWorkflowExecutionResponse {
            update_ref: Some(UpdateRef {
                workflow_execution: Some(exec.workflow_execution()),
                update_id,
            }),
            outcome,
            stage,
            ..Default::default()
        })
    }

    /// The workflow id's current run, if it already knows the update of an update-with-start
    /// (open or closed, as Temporal attaches to it).
    pub(super) async fn run_with_update(
        &self,
        start: &StartWorkflowExecutionRequest,
        update: &UpdateWorkflowExecutionRequest,
    ) -> Result<Option<Execution>, Status> {
        let update_id = update
            .request
            .as_ref()
            .and_then(|r| r.meta.as_ref())
            .map_or("", |m| m.update_id.as_str());
        let current = WorkflowExecution {
            workflow_id: start.workflow_id.clone(),
            run_id: String::new(),
        };
        match self.resolve(&start.namespace, Some(&current)).await {
            Ok(exec) if !update_id.is_empty() && exec.updates.contains_key(update_id) => {
                Ok(Some(exec))
            }
            Ok(_) => Ok(None),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Waits (up to the update long-poll interval) until an update reaches `wanted`; returns
    /// its stage and outcome then, or where it stands when the wait ends.
    pub async fn wait_for_update(
        &self,
        run_id: &str,
        update_id: &str,
        wanted: i32,
    ) -> Result<(i32, Option<temper_api::proto::update::v1::Outcome>), Status> {
        let deadline = tokio::time::Instant::now() + UPDATE_LONG_POLL_WAIT;
        loop {
            let seen = self.change_version(run_id);
            let exec = self
                .snapshot(run_id)
                .await?
                .ok_or_else(|| errors::not_found("workflow execution not found"))?;
            let Some(update) = exec.updates.get(update_id) else {
                return Err(errors::update_not_found(update_id));
            };
            if update.task_failed {
                return Err(errors::workflow_not_ready(
                    "Unable to perform workflow execution update due to unexpected workflow task failure.",
                ));
            }
            if update.aborted {
                return Err(errors::update_aborted());
            }
            let completed = update.stage == UpdateWorkflowExecutionLifecycleStage::Completed as i32;
            if completed || update.stage >= wanted {
                return Ok((update.stage, update.outcome.clone()));
            }
            if !exec.is_running() {
                return Err(errors::already_completed());
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Ok((update.stage, None));
            }
            self.wait_for_change(run_id, seen, remaining).await;
        }
    }

    /// Update-with-start: starts the workflow (or uses the running one, per the conflict
    /// policy), then runs the update on that run. The frontend has checked the start request. Errors name the operation that failed in a
    /// `MultiOperationExecutionFailure`, the other one reported as aborted.
    pub async fn update_with_start(
        &self,
        start: StartWorkflowExecutionRequest,
        update: UpdateWorkflowExecutionRequest,
    ) -> Result<
        (
            StartWorkflowExecutionResponse,
            UpdateWorkflowExecutionResponse,
        ),
        Status,
    > {
        let start_failed = |status: Status| errors::multi_operation_failed(0, 2, status);
        if start.workflow_id_conflict_policy == WorkflowIdConflictPolicy::Unspecified as i32 {
            return Err(start_failed(errors::invalid(
                "WorkflowIdConflictPolicy must be set for Update-with-Start.",
            )));
        }
        if update
            .workflow_execution
            .as_ref()
            .is_some_and(|e| e.workflow_id != start.workflow_id)
        {
            return Err(errors::multi_operation_failed(
                1,
                2,
                errors::invalid("WorkflowId of the update does not match the start."),
            ));
        }
        let (exec, started) = match self.run_with_update(&start, &update).await? {
            // The update already exists: attach to it, whatever the id policies say.
            Some(exec) => (exec, false),
            None => {
                let (run_id, started) = self
                    .start_workflow_with(&start.namespace, &start, None, FirstTask::Queue)
                    .await
                    .map_err(start_failed)?;
                let exec = self
                    .snapshot(&run_id)
                    .await?
                    .ok_or_else(|| errors::not_found("workflow execution not found"))?;
                (exec, started)
            }
        };
        let updated = self
            .run_update(&exec, update)
            .await
            .map_err(|s| errors::multi_operation_failed(1, 2, s))?;
        Ok((
            StartWorkflowExecutionResponse {
                run_id: exec.run_id.clone(),
                started,
                status: exec.status,
                ..Default::default()
            },
            updated,
        ))
    }
}

//! `UpdateWorkflowExecutionOptions`: a running workflow's priority, changed through a field
//! mask, with Temporal's checks and messages. Versioning overrides need worker deployments,
//! which Temper does not serve yet, and are refused as such.

use temper_api::proto::common::v1::Priority;
use temper_api::proto::workflow::v1::WorkflowExecutionOptions;
use temper_api::proto::workflowservice::v1::{
    UpdateWorkflowExecutionOptionsRequest, UpdateWorkflowExecutionOptionsResponse,
};
use tonic::Status;

use super::Frontend;
use crate::errors;

const PRIORITY_PATHS: &[&str] = &[
    "priority",
    "priority.priority_key",
    "priority.fairness_key",
    "priority.fairness_weight",
];

impl Frontend {
    pub(super) async fn update_workflow_options_op(
        &self,
        request: UpdateWorkflowExecutionOptionsRequest,
    ) -> Result<UpdateWorkflowExecutionOptionsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let execution = request.workflow_execution.clone().unwrap_or_default();
        if execution.workflow_id.is_empty() {
            return Err(errors::invalid("WorkflowId is not set on request."));
        }
        let mask = request
            .update_mask
            .ok_or_else(|| errors::invalid("UpdateMask is required"))?;
        let given = request
            .workflow_execution_options
            .ok_or_else(|| errors::invalid("WorkflowExecutionOptions is required"))?;
        check_paths(&mask.paths)?;
        if given.priority.as_ref().is_some_and(|p| p.priority_key < 0) {
            return Err(errors::invalid("priority key can't be negative"));
        }
        let exec = self
            .history
            .resolve(&request.namespace, Some(&execution))
            .await?;
        let identity = request.identity;
        let applied = self
            .history
            .transact(&exec.run_id, |t| {
                if !t.execution().is_running() {
                    return Err(errors::already_completed());
                }
                let merged = merge_priority(t.priority(), given.priority.as_ref(), &mask.paths);
                let changed = t.update_priority(merged.clone(), &identity);
                Ok((merged, changed))
            })
            .await?;
        let (priority, _changed) = applied.value?;
        // Temporal's dev server answers no update time, changed or not.
        Ok(UpdateWorkflowExecutionOptionsResponse {
            workflow_execution_options: Some(WorkflowExecutionOptions {
                priority,
                ..Default::default()
            }),
            update_time: None,
        })
    }
}

/// Temporal's mask check (its error text includes Go's non-breaking space after `proto:`).
fn check_paths(paths: &[String]) -> Result<(), Status> {
    for path in paths {
        if path == "versioning_override" || path.starts_with("versioning_override.") {
            return Err(errors::invalid(
                "versioning overrides need worker deployments, which Temper does not serve yet",
            ));
        }
        if !PRIORITY_PATHS.contains(&path.as_str()) {
            return Err(errors::invalid(format!(
                "error parsing UpdateMask: proto:\u{a0}invalid path \"{path}\" for message \"temporal.api.workflow.v1.WorkflowExecutionOptions\""
            )));
        }
    }
    Ok(())
}

/// The priority after applying the masked fields of `given` to `current`.
fn merge_priority(
    current: Option<Priority>,
    given: Option<&Priority>,
    paths: &[String],
) -> Option<Priority> {
    let given = given.cloned().unwrap_or_default();
    let mut merged = current.clone().unwrap_or_default();
    for path in paths {
        match path.as_str() {
            "priority" => merged = given.clone(),
            "priority.priority_key" => merged.priority_key = given.priority_key,
            "priority.fairness_key" => merged.fairness_key = given.fairness_key.clone(),
            "priority.fairness_weight" => merged.fairness_weight = given.fairness_weight,
            _ => {}
        }
    }
    if merged == Priority::default() && current.is_none() {
        None
    } else {
        Some(merged)
    }
}

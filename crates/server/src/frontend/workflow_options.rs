//! `UpdateWorkflowExecutionOptions`: a running workflow's priority and versioning override,
//! changed through a field mask, with Temporal's checks and messages.

use temper_api::proto::common::v1::Priority;
use temper_api::proto::enums::v1::VersioningBehavior;
use temper_api::proto::workflow::v1::versioning_override::Override;
use temper_api::proto::workflow::v1::{VersioningOverride, WorkflowExecutionOptions};
use temper_api::proto::workflowservice::v1::{
    UpdateWorkflowExecutionOptionsRequest, UpdateWorkflowExecutionOptionsResponse,
};
use temper_engine::execution::stored_override;
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
        let sets_override = mask
            .paths
            .iter()
            .any(|p| p.starts_with("versioning_override"));
        let new_override = match given.versioning_override.clone() {
            Some(given) if sets_override => {
                self.checked_override(&request.namespace, given, &exec.task_queue)
                    .await?
            }
            _ => None,
        };
        let identity = request.identity;
        let applied = self
            .history
            .transact(&exec.run_id, |t| {
                if !t.execution().is_running() {
                    return Err(errors::already_completed());
                }
                let priority = merge_priority(t.priority(), given.priority.as_ref(), &mask.paths);
                let versioning_override = match sets_override {
                    true => new_override,
                    false => t.execution().versioning_override().cloned(),
                };
                t.update_options(priority.clone(), versioning_override.clone(), &identity);
                Ok((priority, versioning_override))
            })
            .await?;
        let (priority, versioning_override) = applied.value?;
        // Temporal's dev server answers no update time, changed or not.
        Ok(UpdateWorkflowExecutionOptionsResponse {
            workflow_execution_options: Some(WorkflowExecutionOptions {
                versioning_override: versioning_override.as_ref().map(shown_override),
                priority,
                ..Default::default()
            }),
            update_time: None,
        })
    }
}

/// An override as Temporal answers it: the deprecated behaviour filled from the new form.
#[allow(deprecated)]
fn shown_override(stored: &VersioningOverride) -> VersioningOverride {
    let mut shown = stored.clone();
    shown.behavior = match &stored.r#override {
        Some(Override::AutoUpgrade(true)) => VersioningBehavior::AutoUpgrade as i32,
        Some(Override::Pinned(_)) => VersioningBehavior::Pinned as i32,
        _ => 0,
    };
    shown
}

impl Frontend {
    /// A versioning override as stored (new form), once Temporal's checks pass: a pinned
    /// one names a version whose workers poll the run's task queue.
    pub(super) async fn checked_override(
        &self,
        namespace: &str,
        given: VersioningOverride,
        task_queue: &str,
    ) -> Result<Option<VersioningOverride>, Status> {
        if let Some(Override::Pinned(pinned)) = &given.r#override {
            if pinned.version.is_none() {
                return Err(errors::invalid(
                    "must provide version if override is pinned.",
                ));
            }
            if pinned.behavior == 0 {
                return Err(errors::invalid(
                    "must specify pinned override behavior if override is pinned.",
                ));
            }
        }
        let stored = stored_override(given);
        if let Some(Override::Pinned(pinned)) = &stored.r#override {
            let version = pinned
                .version
                .as_ref()
                .filter(|v| !v.build_id.is_empty())
                .ok_or_else(|| errors::invalid("must provide version if override is pinned."))?;
            self.deployments
                .check_pinned(namespace, version, task_queue)
                .await?;
        }
        Ok(stored.r#override.is_some().then_some(stored))
    }
}

/// Temporal's mask check (its error text includes Go's non-breaking space after `proto:`).
fn check_paths(paths: &[String]) -> Result<(), Status> {
    for path in paths {
        if path == "versioning_override" || path.starts_with("versioning_override.") {
            continue;
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

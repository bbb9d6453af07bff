//! The operator's activity RPCs, in both of Temporal's families: the older
//! `PauseActivity`/`UnpauseActivity`/`ResetActivity` (an execution and an activity id, type or
//! "all") and the newer `*ActivityExecution` ones the CLI sends (flat workflow and activity
//! ids). Both map onto the engine's activity operations; a newer request without a workflow
//! id is for a standalone activity, which Temper does not have yet (so: not found).

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::execution::{ActivitySelector, OptionsUpdate, PauseRequest};
use tonic::Status;

use super::Frontend;
use crate::errors;

/// Longest pause reason, as Temporal checks it.
const MAX_REASON_BYTES: usize = 1000;

impl Frontend {
    pub(super) async fn pause_activity_op(
        &self,
        request: PauseActivityRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        use pause_activity_request::Activity;
        let selector = match request.activity {
            Some(Activity::Id(id)) => ActivitySelector::Id(id),
            Some(Activity::Type(name)) => ActivitySelector::Type(name),
            None => return Err(no_selector()),
        };
        let pause = PauseRequest {
            identity: request.identity,
            reason: request.reason,
            request_id: request.request_id,
        };
        let execution = execution_of(request.execution)?;
        self.history
            .operate_on_activities(&request.namespace, &execution, |t| {
                t.pause_activities(&selector, &pause)
            })
            .await
    }

    pub(super) async fn unpause_activity_op(
        &self,
        request: UnpauseActivityRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        use unpause_activity_request::Activity;
        let selector = match request.activity {
            Some(Activity::Id(id)) => ActivitySelector::Id(id),
            Some(Activity::Type(name)) => ActivitySelector::Type(name),
            Some(Activity::UnpauseAll(true)) => ActivitySelector::All,
            Some(Activity::UnpauseAll(false)) | None => return Err(no_selector()),
        };
        let execution = execution_of(request.execution)?;
        let (reset_attempts, reset_heartbeat) = (request.reset_attempts, request.reset_heartbeat);
        self.history
            .operate_on_activities(&request.namespace, &execution, |t| {
                t.unpause_activities(&selector, reset_attempts, reset_heartbeat)
            })
            .await
    }

    pub(super) async fn reset_activity_op(
        &self,
        request: ResetActivityRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        use reset_activity_request::Activity;
        let selector = match request.activity {
            Some(Activity::Id(id)) => ActivitySelector::Id(id),
            Some(Activity::Type(name)) => ActivitySelector::Type(name),
            Some(Activity::MatchAll(true)) => ActivitySelector::All,
            Some(Activity::MatchAll(false)) | None => return Err(no_selector()),
        };
        let execution = execution_of(request.execution)?;
        let (reset_heartbeat, keep_paused) = (request.reset_heartbeat, request.keep_paused);
        self.history
            .operate_on_activities(&request.namespace, &execution, |t| {
                t.reset_activities(&selector, reset_heartbeat, keep_paused)
            })
            .await
    }

    pub(super) async fn pause_activity_execution_op(
        &self,
        request: PauseActivityExecutionRequest,
    ) -> Result<(), Status> {
        check_flat(&request.workflow_id, &request.activity_id, &request.run_id)?;
        if request.reason.len() > MAX_REASON_BYTES {
            return Err(errors::invalid("reason exceeds length limit"));
        }
        // The newer RPC gives every request its own id when the caller sets none.
        let request_id = if request.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request.request_id
        };
        self.pause_activity_op(PauseActivityRequest {
            namespace: request.namespace,
            execution: Some(flat_execution(request.workflow_id, request.run_id)),
            identity: request.identity,
            reason: request.reason,
            request_id,
            activity: Some(pause_activity_request::Activity::Id(request.activity_id)),
        })
        .await
    }

    pub(super) async fn unpause_activity_execution_op(
        &self,
        request: UnpauseActivityExecutionRequest,
    ) -> Result<(), Status> {
        check_flat(&request.workflow_id, &request.activity_id, &request.run_id)?;
        self.unpause_activity_op(UnpauseActivityRequest {
            namespace: request.namespace,
            execution: Some(flat_execution(request.workflow_id, request.run_id)),
            identity: request.identity,
            activity: Some(unpause_activity_request::Activity::Id(request.activity_id)),
            ..Default::default()
        })
        .await
    }

    pub(super) async fn reset_activity_execution_op(
        &self,
        request: ResetActivityExecutionRequest,
    ) -> Result<(), Status> {
        check_flat(&request.workflow_id, &request.activity_id, &request.run_id)?;
        self.reset_activity_op(ResetActivityRequest {
            namespace: request.namespace,
            execution: Some(flat_execution(request.workflow_id, request.run_id)),
            identity: request.identity,
            reset_heartbeat: request.reset_heartbeat,
            keep_paused: request.keep_paused,
            activity: Some(reset_activity_request::Activity::Id(request.activity_id)),
            ..Default::default()
        })
        .await
    }
}

fn no_selector() -> Status {
    errors::invalid("Either Activity.Id or Activity.Type should be set on request.")
}

/// The older family's execution, checked as Temporal's frontend checks it.
fn execution_of(execution: Option<WorkflowExecution>) -> Result<WorkflowExecution, Status> {
    let execution = execution.unwrap_or_default();
    if execution.workflow_id.is_empty() {
        return Err(errors::invalid("WorkflowId is not set on request."));
    }
    if !execution.run_id.is_empty() && uuid::Uuid::parse_str(&execution.run_id).is_err() {
        return Err(errors::invalid("RunId is not valid UUID."));
    }
    Ok(execution)
}

/// The newer family's ids: an activity id always; no workflow id means a standalone
/// activity, of which Temper has none.
fn check_flat(workflow_id: &str, activity_id: &str, run_id: &str) -> Result<(), Status> {
    if activity_id.is_empty() {
        return Err(errors::invalid("activity ID is required"));
    }
    if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
        return Err(errors::invalid("invalid run id: must be a valid UUID"));
    }
    if workflow_id.is_empty() {
        return Err(errors::not_found(format!(
            "activity not found for ID: {activity_id}"
        )));
    }
    Ok(())
}

fn flat_execution(workflow_id: String, run_id: String) -> WorkflowExecution {
    WorkflowExecution {
        workflow_id,
        run_id,
    }
}

/// Mask paths Temporal's newer RPC takes (its older one ignores any other path).
const OPTION_PATHS: &[&str] = &[
    "taskQueue.name",
    "scheduleToCloseTimeout",
    "scheduleToStartTimeout",
    "startToCloseTimeout",
    "heartbeatTimeout",
    "priority",
    "priority.priorityKey",
    "priority.fairnessKey",
    "priority.fairnessWeight",
    "retryPolicy",
    "retryPolicy.initialInterval",
    "retryPolicy.backoffCoefficient",
    "retryPolicy.maximumInterval",
    "retryPolicy.maximumAttempts",
    "startDelay",
];

impl Frontend {
    pub(super) async fn update_activity_options_op(
        &self,
        request: UpdateActivityOptionsRequest,
    ) -> Result<temper_api::proto::activity::v1::ActivityOptions, Status> {
        use update_activity_options_request::Activity;
        self.namespaces.require(&request.namespace)?;
        let paths: Vec<String> = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.iter().map(|p| camel_path(p)).collect())
            .unwrap_or_default();
        if request.restore_original && !paths.is_empty() {
            return Err(errors::invalid(
                "Both UpdateMask and RestoreOriginal are provided",
            ));
        }
        if !request.restore_original && request.activity_options.is_none() {
            return Err(errors::invalid("ActivityOptions are not provided"));
        }
        let selector = match request.activity {
            Some(Activity::Id(id)) => ActivitySelector::Id(id),
            Some(Activity::Type(name)) => ActivitySelector::Type(name),
            Some(Activity::MatchAll(true)) => ActivitySelector::All,
            Some(Activity::MatchAll(false)) | None => return Err(no_selector()),
        };
        if !request.restore_original && request.update_mask.is_none() {
            return Err(errors::invalid("UpdateMask is not provided"));
        }
        let update = OptionsUpdate {
            options: request.activity_options,
            paths,
            restore_original: request.restore_original,
        };
        let execution = execution_of(request.execution)?;
        self.history
            .operate_on_activities(&request.namespace, &execution, |t| {
                t.update_activity_options(&selector, &update)
            })
            .await
    }

    pub(super) async fn update_activity_execution_options_op(
        &self,
        request: UpdateActivityExecutionOptionsRequest,
    ) -> Result<temper_api::proto::activity::v1::ActivityOptions, Status> {
        check_flat(&request.workflow_id, &request.activity_id, &request.run_id)?;
        if let Some(mask) = &request.update_mask {
            if !request.restore_original && mask.paths.is_empty() {
                return Err(errors::invalid("UpdateMask must specify at least one path"));
            }
            if let Some(unknown) = mask
                .paths
                .iter()
                .find(|p| !OPTION_PATHS.contains(&camel_path(p).as_str()))
            {
                return Err(errors::invalid(format!(
                    "unsupported update_mask path: \"{unknown}\""
                )));
            }
        }
        self.update_activity_options_op(UpdateActivityOptionsRequest {
            namespace: request.namespace,
            execution: Some(flat_execution(request.workflow_id, request.run_id)),
            identity: request.identity,
            activity_options: request.activity_options,
            update_mask: request.update_mask,
            restore_original: request.restore_original,
            activity: Some(update_activity_options_request::Activity::Id(
                request.activity_id,
            )),
        })
        .await
    }
}

/// A mask path in camelCase, segment by segment (Temporal takes both spellings).
fn camel_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let mut out = String::new();
            let mut upper = false;
            for c in segment.chars() {
                match (c, upper) {
                    ('_', _) => upper = true,
                    (c, true) => {
                        out.extend(c.to_uppercase());
                        upper = false;
                    }
                    (c, false) => out.push(c),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

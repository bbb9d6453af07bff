//! Worker versioning on a run: what a versioned worker reports when it completes a workflow
//! task (its deployment version and the behaviour the workflow declared) is written on the
//! WorkflowTaskCompleted event, and applying that event is the only way the run's versioning
//! state changes. A PINNED run stays on the version that last completed its task; any other
//! run follows its task queue's current (or ramping) version.

use temper_api::proto::common::v1::WorkerVersionStamp;
use temper_api::proto::deployment::v1::WorkerDeploymentVersion;
use temper_api::proto::enums::v1::{VersioningBehavior, WorkerVersioningMode};
use temper_api::proto::history::v1::WorkflowTaskCompletedEventAttributes;
use temper_api::proto::workflow::v1::WorkflowExecutionVersioningInfo;
use temper_api::proto::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

use crate::state::Execution;

/// The versioning attributes of the WorkflowTaskCompleted event a completion writes (none
/// for an unversioned worker). The deprecated build-id stamp is still filled, as Temporal does.
#[allow(deprecated)]
pub(super) fn completed_versioning(
    request: &RespondWorkflowTaskCompletedRequest,
    attributes: &mut WorkflowTaskCompletedEventAttributes,
) {
    let Some(options) = request
        .deployment_options
        .as_ref()
        .filter(|o| o.worker_versioning_mode == WorkerVersioningMode::Versioned as i32)
    else {
        return;
    };
    attributes.versioning_behavior = request.versioning_behavior;
    attributes.worker_deployment_name = options.deployment_name.clone();
    attributes.deployment_version = Some(WorkerDeploymentVersion {
        build_id: options.build_id.clone(),
        deployment_name: options.deployment_name.clone(),
    });
    attributes.worker_version = Some(WorkerVersionStamp {
        build_id: options.build_id.clone(),
        ..Default::default()
    });
}

impl Execution {
    /// A completed workflow task sets the run's versioning (cleared by an unversioned worker).
    pub(super) fn apply_versioning(&mut self, a: &WorkflowTaskCompletedEventAttributes) {
        let version = a.deployment_version.clone().unwrap_or_default();
        self.versioning_behavior = a.versioning_behavior;
        self.deployment_name = version.deployment_name;
        self.deployment_build_id = version.build_id;
    }

    /// The deployment version a PINNED run must stay on: (deployment, build id).
    pub fn pinned_version(&self) -> Option<(&str, &str)> {
        let pinned = self.versioning_behavior == VersioningBehavior::Pinned as i32
            && !self.deployment_build_id.is_empty();
        pinned.then_some((&self.deployment_name, &self.deployment_build_id))
    }

    /// Describe's versioning info; `None` for a run no versioned worker completed a task of.
    /// The deprecated `version` string is still filled, as Temporal does (the CLI shows it).
    #[allow(deprecated)]
    pub fn versioning_info(&self) -> Option<WorkflowExecutionVersioningInfo> {
        if self.deployment_build_id.is_empty() {
            return None;
        }
        Some(WorkflowExecutionVersioningInfo {
            behavior: self.versioning_behavior,
            version: format!("{}.{}", self.deployment_name, self.deployment_build_id),
            deployment_version: Some(WorkerDeploymentVersion {
                build_id: self.deployment_build_id.clone(),
                deployment_name: self.deployment_name.clone(),
            }),
            ..Default::default()
        })
    }
}

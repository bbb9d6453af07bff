//! Worker versioning on a run: what a versioned worker reports when it completes a workflow
//! task (its deployment version and the behaviour the workflow declared) is written on the
//! WorkflowTaskCompleted event, and applying that event is the only way the run's versioning
//! state changes. A PINNED run stays on the version that last completed its task; any other
//! run follows its task queue's current (or ramping) version.

use temper_api::proto::common::v1::WorkerVersionStamp;
use temper_api::proto::deployment::v1::WorkerDeploymentVersion;
use temper_api::proto::enums::v1::{VersioningBehavior, WorkerVersioningMode};
use temper_api::proto::history::v1::WorkflowTaskCompletedEventAttributes;
use temper_api::proto::workflow::v1::versioning_override::{
    Override, PinnedOverride, PinnedOverrideBehavior,
};
use temper_api::proto::workflow::v1::{VersioningOverride, WorkflowExecutionVersioningInfo};
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
        if !version.build_id.is_empty() {
            let used = format!("{}:{}", version.deployment_name, version.build_id);
            if !self.used_deployment_versions.contains(&used) {
                self.used_deployment_versions.push(used);
            }
        }
        self.versioning_behavior = a.versioning_behavior;
        self.deployment_name = version.deployment_name;
        self.deployment_build_id = version.build_id;
    }

    /// The operator's versioning override (from the start or an options update).
    pub fn versioning_override(&self) -> Option<&VersioningOverride> {
        self.started.as_ref()?.versioning_override.as_ref()
    }

    /// The deployment version a run must stay on: (deployment, build id). A pinned override
    /// wins; an auto-upgrade override unpins a PINNED run.
    pub fn pinned_version(&self) -> Option<(&str, &str)> {
        match self
            .versioning_override()
            .and_then(|o| o.r#override.as_ref())
        {
            Some(Override::Pinned(pinned)) => {
                let version = pinned.version.as_ref()?;
                return Some((&version.deployment_name, &version.build_id));
            }
            Some(Override::AutoUpgrade(true)) => return None,
            _ => {}
        }
        let pinned = self.versioning_behavior == VersioningBehavior::Pinned as i32
            && !self.deployment_build_id.is_empty();
        pinned.then_some((&self.deployment_name, &self.deployment_build_id))
    }

    /// Describe's versioning info; `None` for a run no versioned worker completed a task of.
    /// The deprecated `version` string is still filled, as Temporal does (the CLI shows it).
    #[allow(deprecated)]
    pub fn versioning_info(&self) -> Option<WorkflowExecutionVersioningInfo> {
        let versioning_override = self.versioning_override().map(with_deprecated_fields);
        if self.deployment_build_id.is_empty() && versioning_override.is_none() {
            return None;
        }
        let (deployment, build) = match self.pinned_version() {
            Some((deployment, build)) => (deployment, build),
            None => (
                self.deployment_name.as_str(),
                self.deployment_build_id.as_str(),
            ),
        };
        Some(WorkflowExecutionVersioningInfo {
            behavior: self.versioning_behavior,
            version: if build.is_empty() {
                String::new()
            } else {
                format!("{deployment}.{build}")
            },
            deployment_version: (!build.is_empty()).then(|| WorkerDeploymentVersion {
                build_id: build.to_string(),
                deployment_name: deployment.to_string(),
            }),
            versioning_override,
            ..Default::default()
        })
    }
}

/// An override as describe shows it: the deprecated behaviour and version string filled
/// from the new form, as Temporal does for older clients.
#[allow(deprecated)]
fn with_deprecated_fields(given: &VersioningOverride) -> VersioningOverride {
    let mut shown = given.clone();
    match &given.r#override {
        Some(Override::Pinned(pinned)) => {
            shown.behavior = VersioningBehavior::Pinned as i32;
            if let Some(version) = &pinned.version {
                shown.pinned_version = format!("{}.{}", version.deployment_name, version.build_id);
            }
        }
        Some(Override::AutoUpgrade(true)) => {
            shown.behavior = VersioningBehavior::AutoUpgrade as i32
        }
        _ => {}
    }
    shown
}

/// An override as the started event and option updates store it: the new form only (a
/// deprecated `behavior` + `pinned_version` is converted).
#[allow(deprecated)]
pub fn stored_override(given: VersioningOverride) -> VersioningOverride {
    let r#override = match given.r#override {
        Some(Override::Pinned(mut pinned)) => {
            pinned.behavior = PinnedOverrideBehavior::Pinned as i32;
            Some(Override::Pinned(pinned))
        }
        Some(chosen) => Some(chosen),
        None if given.behavior == VersioningBehavior::AutoUpgrade as i32 => {
            Some(Override::AutoUpgrade(true))
        }
        None if given.behavior == VersioningBehavior::Pinned as i32 => {
            let version = given
                .pinned_version
                .split_once(['.', ':'])
                .map(|(deployment, build)| WorkerDeploymentVersion {
                    build_id: build.to_string(),
                    deployment_name: deployment.to_string(),
                });
            Some(Override::Pinned(PinnedOverride {
                behavior: PinnedOverrideBehavior::Pinned as i32,
                version,
            }))
        }
        None => None,
    };
    VersioningOverride {
        r#override,
        ..Default::default()
    }
}

//! The search attributes Temporal derives from a run's state rather than from what the
//! workflow set: `TemporalPauseInfo` while activities are paused, and the worker-versioning
//! attributes (`TemporalWorkerDeployment`, `TemporalWorkerDeploymentVersion`,
//! `TemporalWorkflowVersioningBehavior`) once a versioned worker completed a task or an
//! override applies, with `TemporalUsedWorkerDeploymentVersions` (every version a task
//! completed on). Visibility rows and describe both show them, as on Temporal; a version's
//! drainage is counted from them (`deployments/describe.rs`), so it is the same on every node.

use temper_api::proto::common::v1::{Payload, SearchAttributes};
use temper_api::proto::enums::v1::VersioningBehavior;
use temper_api::proto::workflow::v1::versioning_override::Override;

use crate::state::Execution;

/// One `property:activityType=<type>` entry per type with a paused activity. Not
/// event-sourced (pausing writes no event), so it is computed from the pending activities.
const PAUSE_INFO: &str = "TemporalPauseInfo";
const DEPLOYMENT: &str = "TemporalWorkerDeployment";
/// `<deployment>:<build id>`, Temporal's version string in visibility.
const DEPLOYMENT_VERSION: &str = "TemporalWorkerDeploymentVersion";
/// `Pinned` or `AutoUpgrade`.
const VERSIONING_BEHAVIOR: &str = "TemporalWorkflowVersioningBehavior";
/// Every version a workflow task of the run completed on.
const USED_VERSIONS: &str = "TemporalUsedWorkerDeploymentVersions";

/// A run's effective versioning: the version it is on and how it behaves, an override winning
/// over what the last versioned worker reported.
struct EffectiveVersioning<'a> {
    deployment: &'a str,
    build_id: &'a str,
    behavior: VersioningBehavior,
}

impl Execution {
    /// The run's search attributes as visibility and describe show them: what the workflow
    /// set, plus the attributes Temporal derives from the run's state.
    pub fn visible_search_attributes(&self) -> Option<SearchAttributes> {
        let derived = self.derived_attributes();
        if derived.is_empty() {
            return self.search_attributes.clone();
        }
        let mut attributes = self.search_attributes.clone().unwrap_or_default();
        attributes.indexed_fields.extend(derived);
        Some(attributes)
    }

    fn derived_attributes(&self) -> Vec<(String, Payload)> {
        let mut derived = Vec::new();
        let paused = self.paused_activity_types();
        if !paused.is_empty() {
            derived.push((PAUSE_INFO.to_string(), keyword_list(&paused)));
        }
        if let Some(versioning) = self.effective_versioning() {
            let version = format!("{}:{}", versioning.deployment, versioning.build_id);
            derived.push((DEPLOYMENT.to_string(), keyword(versioning.deployment)));
            derived.push((DEPLOYMENT_VERSION.to_string(), keyword(&version)));
            if let Some(name) = behavior_name(versioning.behavior) {
                derived.push((VERSIONING_BEHAVIOR.to_string(), keyword(name)));
            }
        }
        if !self.used_deployment_versions.is_empty() {
            let used = keyword_list(&self.used_deployment_versions);
            derived.push((USED_VERSIONS.to_string(), used));
        }
        derived
    }

    fn paused_activity_types(&self) -> Vec<String> {
        let types: std::collections::BTreeSet<&str> = self
            .activities
            .values()
            .filter(|a| a.paused)
            .map(|a| a.activity_type.as_str())
            .collect();
        types
            .into_iter()
            .map(|t| format!("property:activityType={t}"))
            .collect()
    }

    fn effective_versioning(&self) -> Option<EffectiveVersioning<'_>> {
        let reported = EffectiveVersioning {
            deployment: &self.deployment_name,
            build_id: &self.deployment_build_id,
            behavior: VersioningBehavior::try_from(self.versioning_behavior).unwrap_or_default(),
        };
        let chosen = match self
            .versioning_override()
            .and_then(|o| o.r#override.as_ref())
        {
            Some(Override::Pinned(pinned)) => {
                let version = pinned.version.as_ref()?;
                EffectiveVersioning {
                    deployment: &version.deployment_name,
                    build_id: &version.build_id,
                    behavior: VersioningBehavior::Pinned,
                }
            }
            Some(Override::AutoUpgrade(true)) => EffectiveVersioning {
                behavior: VersioningBehavior::AutoUpgrade,
                ..reported
            },
            _ => reported,
        };
        (!chosen.build_id.is_empty()).then_some(chosen)
    }
}

fn behavior_name(behavior: VersioningBehavior) -> Option<&'static str> {
    match behavior {
        VersioningBehavior::Pinned => Some("Pinned"),
        VersioningBehavior::AutoUpgrade => Some("AutoUpgrade"),
        _ => None,
    }
}

fn keyword(value: &str) -> Payload {
    typed_json("Keyword", serde_json::to_vec(value).unwrap_or_default())
}

fn keyword_list(values: &[String]) -> Payload {
    typed_json(
        "KeywordList",
        serde_json::to_vec(values).unwrap_or_default(),
    )
}

fn typed_json(attribute_type: &str, data: Vec<u8>) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), attribute_type.as_bytes().to_vec()),
        ]
        .into(),
        data,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use temper_api::proto::deployment::v1::WorkerDeploymentVersion;
    use temper_api::proto::history::v1::WorkflowExecutionStartedEventAttributes;
    use temper_api::proto::workflow::v1::VersioningOverride;
    use temper_api::proto::workflow::v1::versioning_override::PinnedOverride;

    use super::*;

    fn shown(exec: &Execution) -> Vec<(String, String)> {
        let attributes = exec.visible_search_attributes().unwrap_or_default();
        let mut shown: Vec<(String, String)> = attributes
            .indexed_fields
            .into_iter()
            .map(|(name, payload)| (name, String::from_utf8_lossy(&payload.data).into_owned()))
            .collect();
        shown.sort();
        shown
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn an_unversioned_run_shows_no_versioning_attributes() {
        assert!(shown(&Execution::default()).is_empty());
    }

    #[test]
    fn a_versioned_run_shows_its_version_and_behaviour() {
        let exec = Execution {
            deployment_name: "orders".into(),
            deployment_build_id: "v1".into(),
            versioning_behavior: VersioningBehavior::AutoUpgrade as i32,
            used_deployment_versions: vec!["orders:v0".into(), "orders:v1".into()],
            ..Default::default()
        };
        let expected = [
            (
                "TemporalUsedWorkerDeploymentVersions",
                "[\"orders:v0\",\"orders:v1\"]",
            ),
            ("TemporalWorkerDeployment", "\"orders\""),
            ("TemporalWorkerDeploymentVersion", "\"orders:v1\""),
            ("TemporalWorkflowVersioningBehavior", "\"AutoUpgrade\""),
        ];
        assert_eq!(shown(&exec), pairs(&expected));
    }

    #[test]
    fn a_pinned_override_wins_over_what_the_worker_reported() {
        let pinned = PinnedOverride {
            version: Some(WorkerDeploymentVersion {
                deployment_name: "orders".into(),
                build_id: "v0".into(),
            }),
            ..Default::default()
        };
        let exec = Execution {
            deployment_name: "orders".into(),
            deployment_build_id: "v1".into(),
            versioning_behavior: VersioningBehavior::AutoUpgrade as i32,
            started: Some(WorkflowExecutionStartedEventAttributes {
                versioning_override: Some(VersioningOverride {
                    r#override: Some(Override::Pinned(pinned)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let expected = [
            ("TemporalWorkerDeployment", "\"orders\""),
            ("TemporalWorkerDeploymentVersion", "\"orders:v0\""),
            ("TemporalWorkflowVersioningBehavior", "\"Pinned\""),
        ];
        assert_eq!(shown(&exec), pairs(&expected));
    }
}

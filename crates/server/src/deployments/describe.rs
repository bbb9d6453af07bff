//! `DescribeWorkerDeployment`, `DescribeWorkerDeploymentVersion` and `ListWorkerDeployments`.

use temper_api::proto::deployment::v1::worker_deployment_info::WorkerDeploymentVersionSummary;
use temper_api::proto::deployment::v1::worker_deployment_version_info::VersionTaskQueueInfo;
use temper_api::proto::deployment::v1::{
    RoutingConfig, VersionDrainageInfo, VersionMetadata, WorkerDeploymentInfo,
    WorkerDeploymentVersion, WorkerDeploymentVersionInfo,
};
use temper_api::proto::enums::v1::{
    RoutingConfigUpdateState, VersionDrainageStatus, WorkerDeploymentVersionStatus,
};
use temper_api::proto::taskqueue::v1::TaskQueueVersioningInfo;
use temper_api::proto::workflowservice::v1::describe_worker_deployment_version_response::VersionTaskQueue;
use temper_api::proto::workflowservice::v1::list_worker_deployments_response::WorkerDeploymentSummary;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::time::ms_timestamp;
use tonic::Status;

use super::{DeploymentRecord, Deployments, UNVERSIONED, VersionRecord, conflict_token};
use crate::errors;

/// A version as a pair and as Temporal's (deprecated) `<deployment>.<build>` string.
pub(super) fn version_of(deployment: &str, build_id: &str) -> Option<WorkerDeploymentVersion> {
    (!build_id.is_empty()).then(|| WorkerDeploymentVersion {
        build_id: build_id.to_string(),
        deployment_name: deployment.to_string(),
    })
}

pub(super) fn version_string(deployment: &str, build_id: &str) -> String {
    if build_id.is_empty() {
        UNVERSIONED.to_string()
    } else {
        format!("{deployment}.{build_id}")
    }
}

fn version_not_found() -> Status {
    errors::not_found("Worker Deployment Version not found")
}

/// A version's status and, once it left the routing, its drainage.
struct Standing {
    status: WorkerDeploymentVersionStatus,
    drainage: Option<VersionDrainageInfo>,
}

/// Open runs pinned to each draining version of a deployment, by build id.
type PinnedCounts = std::collections::HashMap<String, i64>;

impl Deployments {
    /// Where a version stands: routed, or draining while open runs are pinned to it
    /// (`pinned`: from `pinned_counts`).
    fn standing(
        &self,
        record: &DeploymentRecord,
        version: &VersionRecord,
        pinned: &PinnedCounts,
    ) -> Standing {
        let status = record.status_of(version);
        if status != WorkerDeploymentVersionStatus::Draining {
            return Standing {
                status,
                drainage: None,
            };
        }
        let (status, drainage) = match pinned.get(&version.build_id).copied().unwrap_or(0) {
            0 => (
                WorkerDeploymentVersionStatus::Drained,
                VersionDrainageStatus::Drained,
            ),
            _ => (
                WorkerDeploymentVersionStatus::Draining,
                VersionDrainageStatus::Draining,
            ),
        };
        Standing {
            status,
            drainage: Some(VersionDrainageInfo {
                status: drainage as i32,
                last_changed_time: ms_timestamp(version.last_deactivation_ms),
                last_checked_time: ms_timestamp(self.now_ms()),
            }),
        }
    }

    /// How many open runs are pinned to each of `shown`, the versions of `record` an answer
    /// shows, that left its routing (one count each: only those an answer shows are
    /// counted), from visibility (as Temporal does): the rows are written in the runs' own
    /// transactions and read from the database, so every node of a cluster counts the same.
    async fn pinned_counts<'a>(
        &self,
        record: &DeploymentRecord,
        shown: impl Iterator<Item = &'a VersionRecord>,
    ) -> Result<PinnedCounts, Status> {
        let mut counts = PinnedCounts::new();
        let draining =
            shown.filter(|v| record.status_of(v) == WorkerDeploymentVersionStatus::Draining);
        for version in draining {
            let count = self.open_pinned_runs(record, &version.build_id).await?;
            counts.insert(version.build_id.clone(), count);
        }
        Ok(counts)
    }

    async fn open_pinned_runs(
        &self,
        record: &DeploymentRecord,
        build: &str,
    ) -> Result<i64, Status> {
        use crate::visibility::{compile, quoted};
        let version = quoted(&format!("{}:{build}", record.name));
        let query = format!(
            "TemporalWorkerDeploymentVersion = {version} AND \
             TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'"
        );
        let custom = self.namespaces.search_attributes(&record.namespace)?;
        let filter = compile(&query, &custom, self.store.dialect())?;
        let count = self
            .store
            .count_executions(&record.namespace, &filter)
            .await;
        Ok(count.map_err(errors::storage)?.count)
    }

    /// Whether a version that left the routing still has open runs pinned to it.
    pub(super) async fn is_draining(
        &self,
        record: &DeploymentRecord,
        version: &VersionRecord,
    ) -> Result<bool, Status> {
        Ok(self.open_pinned_runs(record, &version.build_id).await? > 0)
    }
}

#[allow(deprecated)] // Temporal still fills the deprecated version strings; the CLI reads them.
fn summary(
    record: &DeploymentRecord,
    version: &VersionRecord,
    standing: Standing,
) -> WorkerDeploymentVersionSummary {
    let drainage_info = standing.drainage;
    WorkerDeploymentVersionSummary {
        version: version_string(&record.name, &version.build_id),
        status: standing.status as i32,
        deployment_version: version_of(&record.name, &version.build_id),
        create_time: ms_timestamp(version.create_time_ms),
        drainage_status: drainage_info.as_ref().map_or(0, |d| d.status),
        drainage_info,
        current_since_time: ms_timestamp(version.current_since_ms),
        ramping_since_time: ms_timestamp(version.ramping_since_ms),
        routing_update_time: ms_timestamp(version.routing_changed_ms),
        first_activation_time: ms_timestamp(version.first_activation_ms),
        last_current_time: ms_timestamp(version.last_current_ms),
        last_deactivation_time: ms_timestamp(version.last_deactivation_ms),
        ..Default::default()
    }
}

#[allow(deprecated)]
pub(super) fn routing_config(record: &DeploymentRecord) -> RoutingConfig {
    RoutingConfig {
        current_deployment_version: version_of(&record.name, &record.current_build),
        current_version: version_string(&record.name, &record.current_build),
        ramping_deployment_version: version_of(&record.name, &record.ramping_build)
            .filter(|_| record.ramping_set),
        ramping_version: if record.ramping_set {
            version_string(&record.name, &record.ramping_build)
        } else {
            String::new()
        },
        ramping_version_percentage: if record.ramping_set {
            record.ramping_percentage
        } else {
            0.0
        },
        current_version_changed_time: ms_timestamp(record.current_changed_ms),
        ramping_version_changed_time: ms_timestamp(record.ramping_changed_ms),
        ramping_version_percentage_changed_time: ms_timestamp(record.ramping_percentage_changed_ms),
        revision_number: record.revision_number,
    }
}

fn deployment_info(
    record: &DeploymentRecord,
    summary_of: impl Fn(&VersionRecord) -> WorkerDeploymentVersionSummary,
) -> WorkerDeploymentInfo {
    WorkerDeploymentInfo {
        name: record.name.clone(),
        version_summaries: record.versions.iter().rev().map(summary_of).collect(),
        create_time: ms_timestamp(record.create_time_ms),
        routing_config: Some(routing_config(record)),
        last_modifier_identity: record.last_modifier_identity.clone(),
        manager_identity: record.manager_identity.clone(),
        routing_config_update_state: RoutingConfigUpdateState::Completed as i32,
    }
}

/// The (deployment, build id) a request names, by pair or by deprecated string.
pub(super) fn requested_version(
    pair: Option<&WorkerDeploymentVersion>,
    string: &str,
) -> Result<(String, String), Status> {
    if let Some(pair) = pair {
        return Ok((pair.deployment_name.clone(), pair.build_id.clone()));
    }
    let split = string.split_once(':').or_else(|| string.split_once('.'));
    let (deployment, build) = split.ok_or_else(|| {
        errors::invalid(format!(
            "invalid version string: expected delimiter ':' or '.' not found in version string {string}"
        ))
    })?;
    Ok((deployment.to_string(), build.to_string()))
}

impl Deployments {
    pub async fn describe(
        &self,
        request: DescribeWorkerDeploymentRequest,
    ) -> Result<DescribeWorkerDeploymentResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let record = self
            .locked(&request.namespace, &request.deployment_name)
            .await?;
        let pinned = self.pinned_counts(&record, record.versions.iter()).await?;
        Ok(DescribeWorkerDeploymentResponse {
            conflict_token: conflict_token(record.changed_ms),
            worker_deployment_info: Some(deployment_info(&record, |v| {
                summary(&record, v, self.standing(&record, v, &pinned))
            })),
        })
    }

    #[allow(deprecated)]
    pub async fn describe_version(
        &self,
        request: DescribeWorkerDeploymentVersionRequest,
    ) -> Result<DescribeWorkerDeploymentVersionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let (deployment, build_id) =
            requested_version(request.deployment_version.as_ref(), &request.version)?;
        let record = self
            .locked(&request.namespace, &deployment)
            .await
            .map_err(|_| version_not_found())?;
        let version = record
            .find_version(&build_id)
            .ok_or_else(version_not_found)?;
        let queues: Vec<VersionTaskQueueInfo> = version
            .task_queues
            .iter()
            .map(|q| VersionTaskQueueInfo {
                name: q.name.clone(),
                r#type: q.r#type,
            })
            .collect();
        let pinned = self
            .pinned_counts(&record, std::iter::once(version))
            .await?;
        let standing = self.standing(&record, version, &pinned);
        let status = standing.status;
        let info = WorkerDeploymentVersionInfo {
            version: version_string(&record.name, &build_id),
            status: status as i32,
            deployment_version: version_of(&record.name, &build_id),
            deployment_name: record.name.clone(),
            create_time: ms_timestamp(version.create_time_ms),
            routing_changed_time: ms_timestamp(version.routing_changed_ms),
            current_since_time: ms_timestamp(version.current_since_ms),
            ramping_since_time: ms_timestamp(version.ramping_since_ms),
            first_activation_time: ms_timestamp(version.first_activation_ms),
            last_current_time: ms_timestamp(version.last_current_ms),
            last_deactivation_time: ms_timestamp(version.last_deactivation_ms),
            ramp_percentage: if status == WorkerDeploymentVersionStatus::Ramping {
                record.ramping_percentage
            } else {
                0.0
            },
            task_queue_infos: queues.clone(),
            last_modifier_identity: version.last_modifier_identity.clone(),
            drainage_info: standing.drainage,
            metadata: (!version.metadata.is_empty()).then(|| VersionMetadata {
                entries: version.metadata.clone().into_iter().collect(),
            }),
            ..Default::default()
        };
        Ok(DescribeWorkerDeploymentVersionResponse {
            worker_deployment_version_info: Some(info),
            version_task_queues: queues
                .into_iter()
                .map(|q| VersionTaskQueue {
                    name: q.name,
                    r#type: q.r#type,
                    ..Default::default()
                })
                .collect(),
        })
    }

    /// The routing of the deployment whose workers poll `queue`, as `DescribeTaskQueue`
    /// reports it; `None` for a queue no versioned worker polled.
    #[allow(deprecated)]
    pub async fn queue_versioning(
        &self,
        namespace: &str,
        queue: &str,
    ) -> Option<TaskQueueVersioningInfo> {
        for entry in self.entries.of_namespace(namespace) {
            let guard = entry.lock().await;
            let Some(record) = guard.as_ref() else {
                continue;
            };
            let polled = record
                .versions
                .iter()
                .any(|v| v.task_queues.iter().any(|q| q.name == queue));
            if !polled {
                continue;
            }
            let routing = routing_config(record);
            let changed = record.current_changed_ms.max(record.ramping_changed_ms);
            return Some(TaskQueueVersioningInfo {
                current_deployment_version: routing.current_deployment_version,
                current_version: routing.current_version,
                ramping_deployment_version: routing.ramping_deployment_version,
                ramping_version: routing.ramping_version,
                ramping_version_percentage: routing.ramping_version_percentage,
                update_time: Some(ms_timestamp(changed).unwrap_or_default()),
            });
        }
        None
    }

    pub async fn list(
        &self,
        request: ListWorkerDeploymentsRequest,
    ) -> Result<ListWorkerDeploymentsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let mut worker_deployments = Vec::new();
        for entry in self.entries.of_namespace(&request.namespace) {
            let guard = entry.lock().await;
            let Some(record) = guard.as_ref() else {
                continue;
            };
            let latest = record.versions.last();
            let shown = [&record.current_build, &record.ramping_build]
                .into_iter()
                .filter_map(|build| record.find_version(build))
                .chain(latest);
            let pinned = self.pinned_counts(record, shown).await?;
            let summary_of = |build: &str| {
                let version = record.find_version(build)?;
                Some(summary(
                    record,
                    version,
                    self.standing(record, version, &pinned),
                ))
            };
            worker_deployments.push(WorkerDeploymentSummary {
                name: record.name.clone(),
                create_time: ms_timestamp(record.create_time_ms),
                routing_config: Some(routing_config(record)),
                latest_version_summary: latest.and_then(|v| summary_of(&v.build_id)),
                current_version_summary: summary_of(&record.current_build),
                ramping_version_summary: summary_of(&record.ramping_build)
                    .filter(|_| record.ramping_set),
            });
        }
        Ok(ListWorkerDeploymentsResponse {
            next_page_token: Vec::new(),
            worker_deployments,
        })
    }
}

//! `CreateWorkerDeployment`, `DeleteWorkerDeployment`, `DeleteWorkerDeploymentVersion` and
//! `UpdateWorkerDeploymentVersionMetadata`.

use temper_api::proto::deployment::v1::VersionMetadata;
use temper_api::proto::enums::v1::WorkerDeploymentVersionStatus;
use temper_api::proto::workflowservice::v1::*;
use temper_store::RecordKind;
use tonic::{Code, Status};

use super::describe::requested_version;
use super::{DeploymentRecord, Deployments, conflict_token};
use crate::errors;
use crate::records;

impl Deployments {
    pub async fn create(
        &self,
        request: CreateWorkerDeploymentRequest,
    ) -> Result<CreateWorkerDeploymentResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        if request.deployment_name.is_empty() {
            return Err(errors::invalid("deployment name cannot be empty"));
        }
        let _registering = self.registering.lock().await;
        let now = self.now_ms();
        let mut record = DeploymentRecord::new(&request.namespace, &request.deployment_name, now);
        record.last_modifier_identity = request.identity;
        let entry = match self
            .entries
            .claim(&request.namespace, &request.deployment_name, None)
        {
            Some(entry) => entry,
            None => match self
                .entries
                .get(&request.namespace, &request.deployment_name)
            {
                Some(entry) if entry.lock().await.is_none() => entry,
                _ => {
                    return Err(Status::new(
                        Code::AlreadyExists,
                        format!(
                            "Worker Deployment with name \"{}\" already exists",
                            request.deployment_name
                        ),
                    ));
                }
            },
        };
        records::save(self.store.as_ref(), &mut record).await?;
        *entry.lock().await = Some(record);
        Ok(CreateWorkerDeploymentResponse {
            conflict_token: conflict_token(now),
        })
    }

    /// `CreateWorkerDeploymentVersion`: a version of an existing deployment before any worker
    /// polls it.
    pub async fn create_version(
        &self,
        request: CreateWorkerDeploymentVersionRequest,
    ) -> Result<CreateWorkerDeploymentVersionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let (deployment, build) = requested_version(request.deployment_version.as_ref(), "")?;
        let mut guard = self.locked(&request.namespace, &deployment).await?;
        if guard.find_version(&build).is_some() {
            return Err(Status::already_exists(format!(
                "Worker Deployment Version \"{deployment}.{build}\" already exists"
            )));
        }
        let now = self.now_ms();
        let mut changed = guard.clone();
        changed.versions.push(super::VersionRecord {
            build_id: build,
            create_time_ms: now,
            last_modifier_identity: request.identity,
            created_unpolled: true,
            ..Default::default()
        });
        self.commit(&mut guard, changed).await?;
        Ok(CreateWorkerDeploymentVersionResponse::default())
    }

    /// Deletes a deployment without versions; an unknown one is fine, as in Temporal.
    pub async fn delete(&self, request: DeleteWorkerDeploymentRequest) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        let Ok(guard) = self
            .locked(&request.namespace, &request.deployment_name)
            .await
        else {
            return Ok(());
        };
        if !guard.versions.is_empty() {
            return Err(Status::failed_precondition(
                "deployment has versions, can't be deleted",
            ));
        }
        self.store
            .delete_record(
                RecordKind::WorkerDeployment,
                &request.namespace,
                &request.deployment_name,
            )
            .await
            .map_err(errors::storage)?;
        drop(guard);
        self.entries
            .remove(&request.namespace, &request.deployment_name);
        Ok(())
    }

    /// Deletes a version that is neither routed to nor draining; an unknown one is fine.
    #[allow(deprecated)]
    pub async fn delete_version(
        &self,
        request: DeleteWorkerDeploymentVersionRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        let (deployment, build) =
            requested_version(request.deployment_version.as_ref(), &request.version)?;
        let Ok(mut guard) = self.locked(&request.namespace, &deployment).await else {
            return Ok(());
        };
        let Some(version) = guard.find_version(&build) else {
            return Ok(());
        };
        let name = format!("{deployment}:{build}");
        match guard.status_of(version) {
            WorkerDeploymentVersionStatus::Current | WorkerDeploymentVersionStatus::Ramping => {
                return Err(Status::failed_precondition(format!(
                    "version '{name}' cannot be deleted since it is current or ramping"
                )));
            }
            WorkerDeploymentVersionStatus::Draining
                if !request.skip_drainage && self.is_draining(&guard, version).await? =>
            {
                return Err(Status::failed_precondition(format!(
                    "version '{name}' cannot be deleted since it is draining"
                )));
            }
            _ => {}
        }
        let mut changed = guard.clone();
        changed.versions.retain(|v| v.build_id != build);
        changed.changed_ms = self.now_ms();
        changed.last_modifier_identity = request.identity;
        self.commit(&mut guard, changed).await
    }

    #[allow(deprecated)]
    pub async fn update_version_metadata(
        &self,
        request: UpdateWorkerDeploymentVersionMetadataRequest,
    ) -> Result<UpdateWorkerDeploymentVersionMetadataResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let (deployment, build) =
            requested_version(request.deployment_version.as_ref(), &request.version)?;
        let missing = || {
            errors::not_found(format!(
                "workflow not found for ID: temporal-sys-worker-deployment-version:{deployment}:{build}"
            ))
        };
        let mut guard = self
            .locked(&request.namespace, &deployment)
            .await
            .map_err(|_| missing())?;
        let mut changed = guard.clone();
        let version = changed.find_version_mut(&build).ok_or_else(missing)?;
        version.metadata.extend(request.upsert_entries);
        for key in &request.remove_entries {
            version.metadata.remove(key);
        }
        let entries = version.metadata.clone().into_iter().collect();
        self.commit(&mut guard, changed).await?;
        Ok(UpdateWorkerDeploymentVersionMetadataResponse {
            metadata: Some(VersionMetadata { entries }),
        })
    }
}

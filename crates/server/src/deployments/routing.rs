//! `SetWorkerDeploymentCurrentVersion`, `SetWorkerDeploymentRampingVersion` and
//! `SetWorkerDeploymentManager`: routing changes, each checked against the deployment's
//! conflict token and manager identity, in Temporal's words.

use temper_api::proto::workflowservice::v1::set_worker_deployment_manager_request::NewManagerIdentity;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::describe::{version_of, version_string};
use super::{DeploymentRecord, Deployments, Guard, UNVERSIONED, conflict_token};
use crate::errors;

/// What every routing change checks first: the token the caller saw and the manager.
fn check_change(record: &DeploymentRecord, token: &[u8], identity: &str) -> Result<(), Status> {
    if !record.manager_identity.is_empty() && record.manager_identity != identity {
        return Err(Status::failed_precondition(format!(
            "ManagerIdentity '{}' is set and does not match user identity '{identity}'; to proceed, set your own identity as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
            record.manager_identity
        )));
    }
    if !token.is_empty() && token != conflict_token(record.changed_ms) {
        return Err(Status::failed_precondition("conflict token mismatch"));
    }
    Ok(())
}

/// The build id a request names (empty: unversioned), by field or deprecated string.
fn requested_build(deployment: &str, build_id: &str, version: &str) -> Result<String, Status> {
    if !build_id.is_empty() || version.is_empty() || version == UNVERSIONED {
        return Ok(build_id.to_string());
    }
    let (named, build) = super::describe::requested_version(None, version)?;
    if named != deployment {
        return Err(errors::invalid(format!(
            "version {version} does not belong to Worker Deployment {deployment}"
        )));
    }
    Ok(build)
}

/// A build must be a version of the deployment, unless the caller allows one nobody polled.
fn check_build(
    record: &mut DeploymentRecord,
    build: &str,
    allow_unpolled: bool,
    now: i64,
) -> Result<(), Status> {
    if build.is_empty() || record.find_version(build).is_some() {
        return Ok(());
    }
    if allow_unpolled {
        record.versions.push(super::VersionRecord {
            build_id: build.to_string(),
            create_time_ms: now,
            ..Default::default()
        });
        return Ok(());
    }
    Err(errors::not_found(format!(
        "build ID '{build}' not found in Worker Deployment '{}'",
        record.name
    )))
}

/// The version leaving the routing at `now`.
fn deactivate(record: &mut DeploymentRecord, build: &str, now: i64) {
    if let Some(version) = record.find_version_mut(build) {
        version.routing_changed_ms = now;
        version.current_since_ms = 0;
        version.ramping_since_ms = 0;
        version.last_deactivation_ms = now;
    }
}

/// The version entering the routing at `now`.
fn activate(record: &mut DeploymentRecord, build: &str, current: bool, now: i64) {
    if let Some(version) = record.find_version_mut(build) {
        version.routing_changed_ms = now;
        if version.first_activation_ms == 0 {
            version.first_activation_ms = now;
        }
        if current {
            version.current_since_ms = now;
            version.last_current_ms = now;
            version.ramping_since_ms = 0;
        } else {
            version.ramping_since_ms = now;
        }
    }
}

impl Deployments {
    async fn for_change(&self, namespace: &str, name: &str) -> Result<Guard, Status> {
        self.namespaces.require(namespace)?;
        if name.is_empty() {
            return Err(errors::invalid("deployment name cannot be empty"));
        }
        self.locked(namespace, name).await
    }

    #[allow(deprecated)] // the deprecated version strings are what Temporal still answers with
    pub async fn set_current(
        &self,
        request: SetWorkerDeploymentCurrentVersionRequest,
    ) -> Result<SetWorkerDeploymentCurrentVersionResponse, Status> {
        let mut guard = self
            .for_change(&request.namespace, &request.deployment_name)
            .await?;
        let build = requested_build(&guard.name, &request.build_id, &request.version)?;
        let previous = guard.current_build.clone();
        let previous_version = version_string(&guard.name, &previous);
        let previous_deployment_version = version_of(&guard.name, &previous);
        if build == previous && guard.last_modifier_identity == request.identity {
            return Ok(SetWorkerDeploymentCurrentVersionResponse {
                conflict_token: conflict_token(guard.changed_ms),
                previous_version,
                previous_deployment_version,
            });
        }
        check_change(&guard, &request.conflict_token, &request.identity)?;
        let now = self.now_ms();
        let mut changed = guard.clone();
        let allow = request.allow_no_pollers && request.ignore_missing_task_queues;
        check_build(&mut changed, &build, allow, now)?;
        deactivate(&mut changed, &previous, now);
        if changed.ramping_set && changed.ramping_build == build {
            changed.ramping_set = false;
            changed.ramping_build.clear();
            changed.ramping_percentage = 0.0;
            changed.ramping_changed_ms = now;
        }
        activate(&mut changed, &build, true, now);
        changed.current_build = build;
        changed.current_changed_ms = now;
        self.record_change(&mut changed, &request.identity, now);
        self.commit(&mut guard, changed).await?;
        Ok(SetWorkerDeploymentCurrentVersionResponse {
            conflict_token: conflict_token(now),
            previous_version,
            previous_deployment_version,
        })
    }

    fn record_change(&self, record: &mut DeploymentRecord, identity: &str, now: i64) {
        record.revision_number += 1;
        record.changed_ms = now;
        record.last_modifier_identity = identity.to_string();
    }

    #[allow(deprecated)]
    pub async fn set_ramping(
        &self,
        request: SetWorkerDeploymentRampingVersionRequest,
    ) -> Result<SetWorkerDeploymentRampingVersionResponse, Status> {
        let mut guard = self
            .for_change(&request.namespace, &request.deployment_name)
            .await?;
        if !(0.0..=100.0).contains(&request.percentage) {
            return Err(errors::invalid(
                "Percentage must be between 0 and 100 (inclusive)",
            ));
        }
        let build = requested_build(&guard.name, &request.build_id, &request.version)?;
        let unset = build.is_empty() && request.percentage == 0.0 && request.version.is_empty();
        let response = SetWorkerDeploymentRampingVersionResponse {
            conflict_token: Vec::new(),
            previous_version: if guard.ramping_set {
                version_string(&guard.name, &guard.ramping_build)
            } else {
                String::new()
            },
            previous_deployment_version: version_of(&guard.name, &guard.ramping_build)
                .filter(|_| guard.ramping_set),
            previous_percentage: guard.ramping_percentage,
        };
        if !unset && build == guard.current_build {
            return Err(Status::failed_precondition(format!(
                "requested ramping version {} is already current",
                version_string(&guard.name, &build)
            )));
        }
        check_change(&guard, &request.conflict_token, &request.identity)?;
        let now = self.now_ms();
        let mut changed = guard.clone();
        let allow = request.allow_no_pollers && request.ignore_missing_task_queues;
        check_build(&mut changed, &build, allow, now)?;
        let previous = changed.ramping_set.then(|| changed.ramping_build.clone());
        if previous.as_deref() != Some(build.as_str()) || unset {
            if let Some(previous) = &previous {
                deactivate(&mut changed, previous, now);
            }
            if !unset {
                activate(&mut changed, &build, false, now);
            }
            changed.ramping_changed_ms = now;
        }
        changed.ramping_set = !unset;
        changed.ramping_build = if unset { String::new() } else { build };
        changed.ramping_percentage = request.percentage;
        changed.ramping_percentage_changed_ms = now;
        self.record_change(&mut changed, &request.identity, now);
        self.commit(&mut guard, changed).await?;
        Ok(SetWorkerDeploymentRampingVersionResponse {
            conflict_token: conflict_token(now),
            ..response
        })
    }

    #[allow(deprecated)]
    pub async fn set_manager(
        &self,
        request: SetWorkerDeploymentManagerRequest,
    ) -> Result<SetWorkerDeploymentManagerResponse, Status> {
        let mut guard = self
            .for_change(&request.namespace, &request.deployment_name)
            .await?;
        if !request.conflict_token.is_empty()
            && request.conflict_token != conflict_token(guard.changed_ms)
        {
            return Err(Status::failed_precondition("conflict token mismatch"));
        }
        let manager = match request.new_manager_identity {
            Some(NewManagerIdentity::Self_(true)) => request.identity.clone(),
            Some(NewManagerIdentity::ManagerIdentity(manager)) => manager,
            _ => String::new(),
        };
        let previous = guard.manager_identity.clone();
        let now = self.now_ms();
        let mut changed = guard.clone();
        changed.manager_identity = manager;
        changed.changed_ms = now;
        changed.last_modifier_identity = request.identity;
        self.commit(&mut guard, changed).await?;
        Ok(SetWorkerDeploymentManagerResponse {
            conflict_token: conflict_token(now),
            previous_manager_identity: previous,
        })
    }
}

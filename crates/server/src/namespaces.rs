//! The namespace registry: kept in memory, persisted in the store. `default` always exists.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use temper_api::proto::enums::v1::NamespaceState;
use temper_api::proto::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info::Capabilities,
};
use temper_api::proto::replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig};
use temper_api::proto::workflowservice::v1::DescribeNamespaceResponse;
use temper_engine::time::ms_duration;
use temper_store::{NamespaceRecord, Store, StoreError};
use tonic::Status;

use crate::errors;

pub const DEFAULT_NAMESPACE: &str = "default";
/// Retention of a namespace registered without one (one day, as Temporal's dev server).
const DEFAULT_RETENTION_MS: i64 = 24 * 3600 * 1000;
pub const CLUSTER_NAME: &str = "active";

pub struct Namespaces {
    store: Arc<dyn Store>,
    known: RwLock<BTreeMap<String, NamespaceRecord>>,
}

impl Namespaces {
    /// Loads the registry and registers `default` plus `extra` names that do not exist yet.
    pub async fn load(store: Arc<dyn Store>, extra: &[String]) -> Result<Self, StoreError> {
        let mut known: BTreeMap<String, NamespaceRecord> = store
            .namespaces()
            .await?
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect();
        let wanted = std::iter::once(DEFAULT_NAMESPACE.to_string()).chain(extra.iter().cloned());
        for name in wanted {
            if known.contains_key(&name) {
                continue;
            }
            let record = new_record(&name, "", "", DEFAULT_RETENTION_MS);
            store.create_namespace(record.clone()).await?;
            known.insert(name, record);
        }
        Ok(Namespaces {
            store,
            known: RwLock::new(known),
        })
    }

    /// Checks that a namespace exists (NOT_FOUND with `NamespaceNotFoundFailure` otherwise).
    pub fn require(&self, name: &str) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace is not set on request."));
        }
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        if known.contains_key(name) {
            Ok(())
        } else {
            Err(errors::namespace_not_found(name))
        }
    }

    pub fn describe(&self, name: &str) -> Result<DescribeNamespaceResponse, Status> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let record = known
            .get(name)
            .ok_or_else(|| errors::namespace_not_found(name))?;
        Ok(describe_record(record))
    }

    pub fn list(&self) -> Vec<DescribeNamespaceResponse> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known.values().map(describe_record).collect()
    }

    pub async fn register(
        &self,
        name: &str,
        description: &str,
        owner_email: &str,
        retention_ms: i64,
    ) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace is not set on request."));
        }
        let retention = if retention_ms > 0 {
            retention_ms
        } else {
            DEFAULT_RETENTION_MS
        };
        let record = new_record(name, description, owner_email, retention);
        match self.store.create_namespace(record.clone()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists(_)) => {
                return Err(Status::already_exists("Namespace already exists."));
            }
            Err(e) => return Err(errors::storage(e)),
        }
        self.known
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), record);
        Ok(())
    }
}

fn new_record(
    name: &str,
    description: &str,
    owner_email: &str,
    retention_ms: i64,
) -> NamespaceRecord {
    NamespaceRecord {
        name: name.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        description: description.to_string(),
        owner_email: owner_email.to_string(),
        retention_ms,
    }
}

fn describe_record(record: &NamespaceRecord) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: record.name.clone(),
            state: NamespaceState::Registered as i32,
            description: record.description.clone(),
            owner_email: record.owner_email.clone(),
            id: record.id.clone(),
            capabilities: Some(Capabilities {
                eager_workflow_start: false,
                sync_update: false,
                async_update: false,
                ..Default::default()
            }),
            ..Default::default()
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: ms_duration(record.retention_ms),
            ..Default::default()
        }),
        replication_config: Some(NamespaceReplicationConfig {
            active_cluster_name: CLUSTER_NAME.to_string(),
            clusters: vec![ClusterReplicationConfig {
                cluster_name: CLUSTER_NAME.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

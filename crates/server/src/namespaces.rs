//! The namespace registry: kept in memory, persisted in the store. `default` always exists.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use temper_api::proto::enums::v1::{ArchivalState, IndexedValueType, NamespaceState};
use temper_api::proto::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info, namespace_info::Capabilities,
};
use temper_api::proto::replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig};
use temper_api::proto::workflowservice::v1::{
    DescribeNamespaceResponse, RegisterNamespaceRequest, UpdateNamespaceRequest,
};
use temper_engine::limits::BLOB_SIZE_LIMIT;
use temper_engine::time::{duration_ms, ms_duration};
use temper_query::AttributeType;
use temper_store::{NamespaceRecord, Store, StoreError};
use tonic::Status;

use crate::errors;

pub const DEFAULT_NAMESPACE: &str = "default";
/// Retention of a namespace registered without one (one day, as Temporal's dev server).
const DEFAULT_RETENTION_MS: i64 = 24 * 3600 * 1000;
pub const CLUSTER_NAME: &str = "active";
/// Largest workflow-task completion the SDKs may send (Temporal's advertised default).
const COMPLETION_SIZE_LIMIT_BYTES: i64 = 40 * 1024 * 1024;

/// What Temporal's frontend refuses in a registration: no positive retention (Temper takes
/// any positive one, so tests can use seconds; Temporal wants at least an hour), a cluster
/// other than this one, a global namespace.
pub fn check_registration(request: &RegisterNamespaceRequest) -> Result<(), Status> {
    if request.namespace.is_empty() {
        return Err(errors::invalid("Namespace not set on request."));
    }
    let retention = request.workflow_execution_retention_period.as_ref();
    if temper_engine::time::duration_ms(retention) <= 0 {
        return Err(errors::invalid(
            "A valid retention period is not set on request.",
        ));
    }
    let clusters = request.clusters.iter().map(|c| c.cluster_name.as_str());
    let active = Some(request.active_cluster_name.as_str()).filter(|name| !name.is_empty());
    if let Some(unknown) = clusters.chain(active).find(|name| *name != CLUSTER_NAME) {
        return Err(errors::invalid(format!("Invalid cluster name: {unknown}")));
    }
    if request.is_global_namespace {
        return Err(errors::invalid(
            "Cannot register global namespace when not enabled",
        ));
    }
    Ok(())
}

/// How often a node of a spread cluster reads the namespaces again.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Namespaces {
    store: Arc<dyn Store>,
    known: RwLock<BTreeMap<String, NamespaceRecord>>,
    /// Serialises read-modify-write changes of namespace records.
    changes: tokio::sync::Mutex<()>,
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
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads the registry again from the store: on a node of a spread cluster, which the
    /// other nodes change too (every [`REFRESH_EVERY`]; Temporal's hosts refresh their
    /// namespace caches every 10 s).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _changes = self.changes.lock().await;
        let fresh: BTreeMap<String, NamespaceRecord> = self
            .store
            .namespaces()
            .await?
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect();
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Runs until the process ends: [`Namespaces::refresh`] every [`REFRESH_EVERY`].
    pub async fn keep_refreshed(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REFRESH_EVERY).await;
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "reading the namespaces again failed");
            }
        }
    }

    /// Checks that a namespace exists (NOT_FOUND with `NamespaceNotFoundFailure` otherwise).
    pub fn require(&self, name: &str) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace is empty."));
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

    /// One page of `ListNamespaces`, in name order: up to `page_size` namespaces (all of them
    /// when it is not positive) after the name `page_token` holds. The token is the last name
    /// of the page, and only given when more namespaces follow (Temporal also gives one after
    /// a full last page, then answers an empty page). Temper deletes a namespace at once, so
    /// there are never deleted ones for `include_deleted` to show.
    pub fn list_page(
        &self,
        page_size: i32,
        page_token: &[u8],
    ) -> (Vec<DescribeNamespaceResponse>, Vec<u8>) {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let after = String::from_utf8_lossy(page_token);
        let mut rest = known
            .range::<str, _>((Bound::Excluded(after.as_ref()), Bound::Unbounded))
            .map(|(_, record)| record);
        let limit = usize::try_from(page_size)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(usize::MAX);
        let page: Vec<&NamespaceRecord> = rest.by_ref().take(limit).collect();
        let next_page_token = match (page.last(), rest.next()) {
            (Some(last), Some(_)) => last.name.clone().into_bytes(),
            _ => Vec::new(),
        };
        (
            page.into_iter().map(describe_record).collect(),
            next_page_token,
        )
    }

    /// The custom search attributes of a namespace (name → `IndexedValueType`).
    pub fn search_attributes(&self, name: &str) -> Result<HashMap<String, i32>, Status> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known
            .get(name)
            .map(|r| r.search_attributes.clone())
            .ok_or_else(|| errors::namespace_not_found(name))
    }

    /// Every namespace with its retention (for the retention sweeper).
    pub fn retentions(&self) -> Vec<(String, i64)> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known
            .values()
            .map(|r| (r.name.clone(), r.retention_ms))
            .collect()
    }

    /// The namespace named by `name`, or else by `id`.
    pub fn resolve_name(&self, name: &str, id: &str) -> Result<String, Status> {
        if name.is_empty() && id.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let found = if name.is_empty() {
            known.values().find(|r| r.id == id)
        } else {
            known.get(name)
        };
        found
            .map(|r| r.name.clone())
            .ok_or_else(|| errors::namespace_not_found(if name.is_empty() { id } else { name }))
    }

    /// Applies a change to a namespace's record and persists it.
    async fn modify(
        &self,
        name: &str,
        change: impl FnOnce(&mut NamespaceRecord) -> Result<(), Status>,
    ) -> Result<NamespaceRecord, Status> {
        self.require(name)?;
        // One change at a time, so concurrent changes cannot lose each other's updates.
        let _guard = self.changes.lock().await;
        let mut record = {
            let known = self.known.read().unwrap_or_else(|e| e.into_inner());
            known
                .get(name)
                .cloned()
                .ok_or_else(|| errors::namespace_not_found(name))?
        };
        change(&mut record)?;
        self.store
            .update_namespace(record.clone())
            .await
            .map_err(errors::storage)?;
        self.known
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), record.clone());
        Ok(record)
    }

    /// `AddSearchAttributes`: registering an existing name again is a no-op, as in Temporal.
    pub async fn add_search_attributes(
        &self,
        name: &str,
        attributes: &HashMap<String, i32>,
    ) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        if attributes.is_empty() {
            return Err(errors::invalid("SearchAttributes are not set on request."));
        }
        for (attribute, ty) in attributes {
            if *ty == IndexedValueType::Unspecified as i32 {
                return Err(errors::invalid(
                    "Unable to create search attributes: cannot have more than 0 search attribute of type Unspecified.",
                ));
            }
            if AttributeType::from_proto(*ty).is_none() {
                return Err(errors::invalid(format!(
                    "Unknown search attribute type: {ty}."
                )));
            }
            if temper_query::is_reserved_attribute_name(attribute) {
                return Err(errors::invalid(format!(
                    "Search attribute {attribute} is reserved by system."
                )));
            }
        }
        for (attribute, ty) in attributes {
            if let Some(ty) = AttributeType::from_proto(*ty) {
                self.store
                    .index_search_attribute(name, attribute, ty)
                    .await
                    .map_err(errors::storage)?;
            }
        }
        self.modify(name, |record| {
            for (attribute, ty) in attributes {
                record
                    .search_attributes
                    .entry(attribute.clone())
                    .or_insert(*ty);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// `RemoveSearchAttributes`: unknown names are ignored, built-in ones refused.
    pub async fn remove_search_attributes(
        &self,
        name: &str,
        attributes: &[String],
    ) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        if attributes.is_empty() {
            return Err(errors::invalid("SearchAttributes are not set on request."));
        }
        if let Some(builtin) = attributes
            .iter()
            .find(|a| temper_query::builtin_attribute_type(a).is_some())
        {
            return Err(errors::invalid(format!(
                "Unable to remove non-custom search attributes: {builtin}."
            )));
        }
        self.modify(name, |record| {
            for attribute in attributes {
                record.search_attributes.remove(attribute);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// `UpdateNamespace`: unset fields keep their values; `data` is merged.
    pub async fn update(
        &self,
        request: UpdateNamespaceRequest,
    ) -> Result<DescribeNamespaceResponse, Status> {
        if request.namespace.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        if request
            .update_info
            .as_ref()
            .is_some_and(|info| NamespaceState::try_from(info.state).is_err())
        {
            return Err(errors::invalid("Invalid namespace state update."));
        }
        let record = self
            .modify(&request.namespace, |record| {
                if let Some(info) = &request.update_info {
                    if !info.description.is_empty() {
                        record.description = info.description.clone();
                    }
                    if !info.owner_email.is_empty() {
                        record.owner_email = info.owner_email.clone();
                    }
                    record
                        .data
                        .extend(info.data.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                if let Some(retention) = request
                    .config
                    .as_ref()
                    .and_then(|c| c.workflow_execution_retention_ttl.as_ref())
                {
                    let retention_ms = duration_ms(Some(retention));
                    if retention_ms <= 0 {
                        return Err(errors::invalid(
                            "A valid retention period is not set on request.",
                        ));
                    }
                    record.retention_ms = retention_ms;
                }
                Ok(())
            })
            .await?;
        Ok(describe_record(&record))
    }

    /// `DeprecateNamespace`: the namespace stays, reported as DEPRECATED.
    pub async fn deprecate(&self, name: &str) -> Result<(), Status> {
        self.modify(name, |record| {
            record.deprecated = true;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Deletes a namespace and everything in it.
    pub async fn delete(&self, name: &str) -> Result<(), Status> {
        self.require(name)?;
        let _guard = self.changes.lock().await;
        self.store
            .delete_namespace(name)
            .await
            .map_err(errors::storage)?;
        self.known
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(())
    }

    /// Registers custom search attributes at start-up (`--search-attribute`), in every
    /// namespace the server created or found.
    pub async fn register_startup_attributes(
        &self,
        attributes: &HashMap<String, i32>,
    ) -> Result<(), Status> {
        if attributes.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = {
            let known = self.known.read().unwrap_or_else(|e| e.into_inner());
            known.keys().cloned().collect()
        };
        for name in names {
            self.add_search_attributes(&name, attributes).await?;
        }
        Ok(())
    }

    pub async fn register(
        &self,
        name: &str,
        description: &str,
        owner_email: &str,
        retention_ms: i64,
    ) -> Result<(), Status> {
        if name.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
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
                return Err(errors::namespace_already_exists(name));
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
        ..Default::default()
    }
}

fn describe_record(record: &NamespaceRecord) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: record.name.clone(),
            state: if record.deprecated {
                NamespaceState::Deprecated as i32
            } else {
                NamespaceState::Registered as i32
            },
            description: record.description.clone(),
            owner_email: record.owner_email.clone(),
            id: record.id.clone(),
            data: record.data.clone(),
            // What Temper serves of what Temporal's dev server reports (it also reports
            // reported problems and poller autoscaling, which Temper does not have).
            capabilities: Some(Capabilities {
                eager_workflow_start: true,
                sync_update: true,
                async_update: true,
                // The SDKs heartbeat only when told the server takes heartbeats. (Temper
                // must not claim `worker_commands`: the SDK would poll a system queue.)
                worker_heartbeats: true,
                standalone_activities: true,
                ..Default::default()
            }),
            // The SDKs check payloads against these before sending (Temporal's defaults).
            limits: Some(namespace_info::Limits {
                blob_size_limit_error: BLOB_SIZE_LIMIT as i64,
                memo_size_limit_error: BLOB_SIZE_LIMIT as i64,
                workflow_task_completion_size_limit_error: COMPLETION_SIZE_LIMIT_BYTES,
            }),
            supports_schedules: true,
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: ms_duration(record.retention_ms),
            history_archival_state: ArchivalState::Disabled as i32,
            visibility_archival_state: ArchivalState::Disabled as i32,
            // Temporal always reports the (empty) bad-binaries set.
            bad_binaries: Some(Default::default()),
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

//! Nexus: the endpoint registry that OperatorService's `*NexusEndpoint*` RPCs manage (one
//! file per RPC; `spec.rs` holds the checks every written spec passes). Endpoints belong to
//! the cluster, not to a namespace: they are stored as records of kind `nexus_endpoint`
//! under the empty namespace, and read by name when a workflow schedules an operation.

mod create;
mod delete;
mod get;
mod list;
mod spec;
mod update;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use temper_api::proto::nexus::v1::Endpoint;
use temper_api::proto::nexus::v1::endpoint_target::Variant;
use temper_engine::execution::NexusEndpointRef;
use temper_store::{RecordKind, Store, StoreError};
use tonic::Status;

use crate::clock::Clock;
use crate::errors;
use crate::namespaces::Namespaces;
use crate::records::StoredState;

/// Endpoint records live under this namespace: the cluster's.
const CLUSTER: &str = "";

impl StoredState for Endpoint {
    const KIND: RecordKind = RecordKind::NexusEndpoint;

    fn namespace(&self) -> &str {
        CLUSTER
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}

pub struct NexusEndpoints {
    store: Arc<dyn Store>,
    namespaces: Arc<Namespaces>,
    clock: Arc<dyn Clock>,
    /// Every endpoint by id. Readers (scheduling an operation) take it briefly; writers
    /// also hold `writing` across their store write, so changes apply one at a time.
    by_id: RwLock<BTreeMap<String, Endpoint>>,
    writing: tokio::sync::Mutex<()>,
}

impl NexusEndpoints {
    pub async fn load(
        store: Arc<dyn Store>,
        namespaces: Arc<Namespaces>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, StoreError> {
        let mut by_id = BTreeMap::new();
        for row in store.records(RecordKind::NexusEndpoint).await? {
            let endpoint: Endpoint = prost::Message::decode(row.state.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("nexus endpoint: {e}")))?;
            by_id.insert(endpoint.id.clone(), endpoint);
        }
        Ok(Arc::new(NexusEndpoints {
            store,
            namespaces,
            clock,
            by_id: RwLock::new(by_id),
            writing: tokio::sync::Mutex::new(()),
        }))
    }

    /// Reads the registry again from the store: on a node of a spread cluster, where the
    /// coordinator changes it and every node schedules operations (every
    /// [`crate::namespaces::REFRESH_EVERY`], as namespaces).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let mut by_id = BTreeMap::new();
        for row in self.store.records(RecordKind::NexusEndpoint).await? {
            let endpoint: Endpoint = prost::Message::decode(row.state.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("nexus endpoint: {e}")))?;
            by_id.insert(endpoint.id.clone(), endpoint);
        }
        *self.write() = by_id;
        Ok(())
    }

    /// Runs until the process ends: [`NexusEndpoints::refresh`] every second.
    pub async fn keep_refreshed(self: Arc<Self>) {
        loop {
            tokio::time::sleep(crate::namespaces::REFRESH_EVERY).await;
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "reading the Nexus endpoints again failed");
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Endpoint>> {
        self.by_id.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Endpoint>> {
        self.by_id.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoint named `name`, if there is one.
    pub fn by_name(&self, name: &str) -> Option<Endpoint> {
        let endpoints = self.read();
        endpoints
            .values()
            .find(|e| e.spec.as_ref().is_some_and(|s| s.name == name))
            .cloned()
    }

    fn by_id(&self, id: &str) -> Option<Endpoint> {
        self.read().get(id).cloned()
    }

    /// The (namespace, task queue) a worker-targeted endpoint sends its Nexus tasks to.
    pub fn worker_target(&self, id: &str) -> Option<(String, String)> {
        let endpoint = self.by_id(id)?;
        match endpoint.spec?.target?.variant? {
            Variant::Worker(worker) => Some((worker.namespace, worker.task_queue)),
            Variant::External(_) => None,
        }
    }

    /// The worker-targeted endpoints among `names`, as a workflow task's completion sees
    /// them (Temper cannot call external endpoints, so those are not offered).
    pub fn resolve(&self, names: &[&str]) -> BTreeMap<String, NexusEndpointRef> {
        names
            .iter()
            .filter_map(|name| {
                let endpoint = self.by_name(name)?;
                self.worker_target(&endpoint.id)?;
                Some((name.to_string(), NexusEndpointRef { id: endpoint.id }))
            })
            .collect()
    }
}

/// Temporal's check of an endpoint id: set, and a UUID (the reasons in the words of Go's
/// `uuid.Parse`, which Temporal quotes).
fn check_id(id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(errors::invalid("endpoint ID not set"));
    }
    // Go's parser takes the plain, braced, `urn:uuid:` and unhyphenated forms.
    let reason = if ![36, 38, 45, 32].contains(&id.len()) {
        format!("invalid UUID length: {}", id.len())
    } else if uuid::Uuid::parse_str(id).is_err() {
        "invalid UUID format".to_string()
    } else {
        return Ok(());
    };
    Err(errors::invalid(format!(
        "malformed endpoint ID: \"{reason}\""
    )))
}

/// Where Temporal serves an endpoint's Nexus HTTP API (reported, not served by Temper).
fn url_prefix(id: &str) -> String {
    format!("/nexus/endpoints/{id}/services")
}

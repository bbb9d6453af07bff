//! Worker deployments (worker versioning): Temporal's `*WorkerDeployment*` RPCs and the
//! routing they set for task queues.
//!
//! A deployment is one [`DeploymentRecord`] in the store (kind `worker_deployment`, id: its
//! name), written whole after every change, held in memory behind one lock per deployment.
//! Versioned workers create it implicitly: their first poll registers the deployment, the
//! version (build id) and the task queue. Routing — the current version and an optional
//! ramping one with a percentage — is pushed to matching ([`QueueRouting`] per task queue of
//! the deployment), where it decides which pollers may take a following run's task; a pinned
//! run's tasks go to its own version (see `history::route_of`). Changes carry Temporal's
//! conflict token (the change time, as Go's `time.MarshalBinary` writes it) and respect the
//! deployment's manager identity.
//!
//! One file per RPC family: `describe.rs` (describe, describe version, list), `routing.rs`
//! (set current, set ramping, set manager), `versions.rs` (create, delete, delete version,
//! version metadata).

mod describe;
mod record;
mod routing;
mod versions;

use std::sync::Arc;

use temper_api::proto::deployment::v1::WorkerDeploymentOptions;
use temper_api::proto::enums::v1::{TaskQueueType, WorkerVersioningMode};
use temper_store::{RecordKind, Store};
use tokio::sync::{OwnedMappedMutexGuard, OwnedMutexGuard};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::matching::{Matching, QueueRouting};
use crate::namespaces::Namespaces;
use crate::records::{self, RecordMap};

pub use record::{DeploymentRecord, VersionRecord};

/// The version string Temporal uses for "no version".
pub const UNVERSIONED: &str = "__unversioned__";

pub struct Deployments {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    /// (namespace, deployment name) → the deployment; `None` inside once deleted.
    entries: RecordMap<Option<DeploymentRecord>>,
    /// Serialises implicit registrations and creations (they may add a deployment).
    registering: tokio::sync::Mutex<()>,
}

type Guard = OwnedMappedMutexGuard<Option<DeploymentRecord>, DeploymentRecord>;

/// Temporal's answer for a deployment that does not exist.
fn deployment_not_found(name: &str) -> Status {
    errors::not_found(format!(
        "no Worker Deployment found with name '{name}'; does your Worker Deployment have pollers?"
    ))
}

/// The build id of a versioned worker's deployment options (`None`: unversioned).
pub fn versioned_build(
    options: Option<&WorkerDeploymentOptions>,
) -> Option<&WorkerDeploymentOptions> {
    options.filter(|o| {
        o.worker_versioning_mode == WorkerVersioningMode::Versioned as i32 && !o.build_id.is_empty()
    })
}

impl Deployments {
    /// Loads every stored deployment and pushes its routing to matching.
    pub async fn load(
        store: Arc<dyn Store>,
        history: Arc<History>,
        namespaces: Arc<Namespaces>,
    ) -> Result<Arc<Deployments>, temper_store::StoreError> {
        let rows = store.records(RecordKind::WorkerDeployment).await?;
        let deployments = Arc::new(Deployments {
            store,
            history,
            namespaces,
            entries: RecordMap::default(),
            registering: tokio::sync::Mutex::new(()),
        });
        for row in rows {
            let record: DeploymentRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("deployment: {e}")))?;
            deployments.push_routing(&record);
            let (namespace, name) = (record.namespace.clone(), record.name.clone());
            deployments.entries.insert(&namespace, &name, Some(record));
        }
        Ok(deployments)
    }

    /// Reads the deployments again from the store: on a node of a spread cluster, where the
    /// coordinator (which receives the deployment RPCs) and the owners of the deployments'
    /// task queues (which receive the polls) change them, and run owners check pinned
    /// overrides and versions against them. A record is replaced only by a newer one, so a
    /// change made here meanwhile is never undone.
    pub async fn refresh(&self) -> Result<(), temper_store::StoreError> {
        let rows = self.store.records(RecordKind::WorkerDeployment).await?;
        let _registering = self.registering.lock().await;
        for row in rows {
            let record: DeploymentRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("deployment: {e}")))?;
            let (namespace, name) = (record.namespace.clone(), record.name.clone());
            let Some(entry) = self.entries.get(&namespace, &name) else {
                self.push_routing(&record);
                self.entries.insert(&namespace, &name, Some(record));
                continue;
            };
            let mut slot = entry.lock().await;
            if slot
                .as_ref()
                .is_none_or(|known| known.version < record.version)
            {
                self.push_routing(&record);
                *slot = Some(record);
            }
        }
        Ok(())
    }

    /// Runs until the process ends: [`Deployments::refresh`] every second (a spread
    /// cluster's nodes).
    pub async fn keep_refreshed(self: Arc<Self>) {
        loop {
            tokio::time::sleep(crate::namespaces::REFRESH_EVERY).await;
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "reading the deployments again failed");
            }
        }
    }

    fn matching(&self) -> &Matching {
        self.history.matching()
    }

    fn now_ms(&self) -> i64 {
        self.history.now_ms()
    }

    /// The deployment, locked; NOT_FOUND (in Temporal's words) if there is none.
    async fn locked(&self, namespace: &str, name: &str) -> Result<Guard, Status> {
        let entry = self
            .entries
            .get(namespace, name)
            .ok_or_else(|| deployment_not_found(name))?;
        OwnedMutexGuard::try_map(entry.lock_owned().await, Option::as_mut)
            .map_err(|_| deployment_not_found(name))
    }

    /// Writes a changed deployment, then replaces it in memory and pushes its routing.
    async fn commit(&self, guard: &mut Guard, changed: DeploymentRecord) -> Result<(), Status> {
        let mut changed = changed;
        records::save(self.store.as_ref(), &mut changed).await?;
        self.push_routing(&changed);
        **guard = changed;
        Ok(())
    }

    /// Every task queue of the deployment routes as the deployment says.
    fn push_routing(&self, record: &DeploymentRecord) {
        let routing = record.queue_routing();
        let queues: std::collections::BTreeSet<&str> = record
            .versions
            .iter()
            .flat_map(|v| v.task_queues.iter().map(|q| q.name.as_str()))
            .collect();
        for queue in queues {
            self.matching()
                .set_routing(&record.namespace, queue, routing.clone());
        }
    }

    /// A versioned worker polled `queue`: its deployment, version and queue exist from now
    /// on. Writes only when something is new, so steady polling costs no write. In a spread
    /// cluster the nodes holding the deployment's queues may register at once: a write that
    /// lost to another node's reads the deployments again and is made again, and a write
    /// that won is read by every node before the poll goes on (as a deployment RPC's is).
    pub async fn register_poller(
        &self,
        namespace: &str,
        options: &WorkerDeploymentOptions,
        queue: &str,
        queue_type: TaskQueueType,
    ) -> Result<(), Status> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .register_once(namespace, options, queue, queue_type)
                .await
            {
                Ok(wrote) => {
                    if let Some(peers) = self.history.peers().filter(|_| wrote) {
                        peers.refresh_other_nodes().await;
                    }
                    return Ok(());
                }
                Err(status) if lost_to_another_writer(&status) && attempts < REGISTER_ATTEMPTS => {
                    self.refresh().await.map_err(errors::storage)?;
                }
                Err(status) => return Err(status),
            }
        }
    }

    /// [`Deployments::register_poller`]'s one attempt: true when it wrote.
    async fn register_once(
        &self,
        namespace: &str,
        options: &WorkerDeploymentOptions,
        queue: &str,
        queue_type: TaskQueueType,
    ) -> Result<bool, Status> {
        if let Some(entry) = self.entries.get(namespace, &options.deployment_name)
            && let Some(record) = entry.lock().await.as_ref()
            && record.has_queue(&options.build_id, queue, queue_type)
        {
            return Ok(false);
        }
        let _registering = self.registering.lock().await;
        let now = self.now_ms();
        let entry = match self.entries.get(namespace, &options.deployment_name) {
            Some(entry) => entry,
            None => self
                .entries
                .insert(namespace, &options.deployment_name, None),
        };
        let mut slot = entry.lock_owned().await;
        let mut record = slot
            .clone()
            .unwrap_or_else(|| DeploymentRecord::new(namespace, &options.deployment_name, now));
        if record.has_queue(&options.build_id, queue, queue_type) {
            return Ok(false);
        }
        record.add_queue(&options.build_id, queue, queue_type, now);
        records::save(self.store.as_ref(), &mut record).await?;
        self.push_routing(&record);
        *slot = Some(record);
        Ok(true)
    }

    /// Refuses a pinned override whose version's workers do not poll `task_queue`.
    pub async fn check_pinned(
        &self,
        namespace: &str,
        version: &temper_api::proto::deployment::v1::WorkerDeploymentVersion,
        task_queue: &str,
    ) -> Result<(), Status> {
        if self.is_polled(namespace, version, task_queue).await {
            return Ok(());
        }
        // In a spread cluster the queue's owner records the polls: read what it wrote.
        if self.history.peers().is_some() {
            self.refresh().await.map_err(errors::storage)?;
            if self.is_polled(namespace, version, task_queue).await {
                return Ok(());
            }
        }
        Err(Status::failed_precondition(format!(
            "Pinned version '{}:{}' is not present in task queue '{task_queue}' of type 'Workflow'",
            version.deployment_name, version.build_id
        )))
    }

    /// True when workers of `version` poll `task_queue` for workflow tasks.
    async fn is_polled(
        &self,
        namespace: &str,
        version: &temper_api::proto::deployment::v1::WorkerDeploymentVersion,
        task_queue: &str,
    ) -> bool {
        match self.locked(namespace, &version.deployment_name).await {
            Ok(record) => record.has_queue(&version.build_id, task_queue, TaskQueueType::Workflow),
            Err(_) => false,
        }
    }

    /// Forgets a deleted namespace's deployments (the store deletes their rows with it).
    pub fn forget_namespace(&self, namespace: &str) {
        self.entries.forget_namespace(namespace);
    }
}

/// How many times a poll's registration is made again after losing to another node's write.
const REGISTER_ATTEMPTS: u32 = 5;

/// True when a record's write lost to another writer's (its version moved on, or another
/// node created it first).
fn lost_to_another_writer(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Aborted | tonic::Code::AlreadyExists
    )
}

/// Go's `time.MarshalBinary` of an instant in UTC: Temporal's conflict token.
fn conflict_token(ms: i64) -> Vec<u8> {
    const SECONDS_FROM_YEAR_ONE_TO_UNIX_EPOCH: i64 = 62_135_596_800;
    let seconds = ms.div_euclid(1000) + SECONDS_FROM_YEAR_ONE_TO_UNIX_EPOCH;
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as i32;
    let mut token = vec![1];
    token.extend_from_slice(&seconds.to_be_bytes());
    token.extend_from_slice(&nanos.to_be_bytes());
    token.extend_from_slice(&[0xff, 0xff]);
    token
}

/// A deployment's routing as matching applies it to each of its queues.
impl DeploymentRecord {
    fn queue_routing(&self) -> Option<QueueRouting> {
        if self.current_build.is_empty() && !self.ramping_set {
            return None;
        }
        Some(QueueRouting {
            current: self.current_build.clone(),
            ramping: self
                .ramping_set
                .then(|| (self.ramping_build.clone(), self.ramping_percentage)),
        })
    }
}

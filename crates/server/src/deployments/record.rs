//! A worker deployment as stored: its versions (build ids) with the task queues their
//! workers poll, its routing (current and ramping version), and who changed it last. One
//! record per deployment, written whole after every change. Instants are milliseconds (0:
//! never).

use std::collections::BTreeMap;

use temper_api::proto::common::v1::Payload;
use temper_api::proto::enums::v1::{TaskQueueType, WorkerDeploymentVersionStatus};

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeploymentRecord {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(int64, tag = "3")]
    pub create_time_ms: i64,
    /// Oldest first.
    #[prost(message, repeated, tag = "4")]
    pub versions: Vec<VersionRecord>,
    /// The current version's build id; empty: unversioned workers are current.
    #[prost(string, tag = "5")]
    pub current_build: String,
    /// Whether a ramp is set (`ramping_build` may be empty: ramping to unversioned).
    #[prost(bool, tag = "6")]
    pub ramping_set: bool,
    #[prost(string, tag = "7")]
    pub ramping_build: String,
    #[prost(float, tag = "8")]
    pub ramping_percentage: f32,
    #[prost(int64, tag = "9")]
    pub current_changed_ms: i64,
    #[prost(int64, tag = "10")]
    pub ramping_changed_ms: i64,
    #[prost(int64, tag = "11")]
    pub ramping_percentage_changed_ms: i64,
    /// Routing changes so far.
    #[prost(int64, tag = "12")]
    pub revision_number: i64,
    /// When the deployment last changed: its conflict token.
    #[prost(int64, tag = "13")]
    pub changed_ms: i64,
    #[prost(string, tag = "14")]
    pub last_modifier_identity: String,
    #[prost(string, tag = "15")]
    pub manager_identity: String,
    /// The store's version of this record (optimistic concurrency).
    #[prost(int64, tag = "16")]
    pub version: i64,
}

/// One version (build id) of a deployment.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRecord {
    #[prost(string, tag = "1")]
    pub build_id: String,
    #[prost(int64, tag = "2")]
    pub create_time_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub task_queues: Vec<VersionQueue>,
    #[prost(int64, tag = "4")]
    pub routing_changed_ms: i64,
    #[prost(int64, tag = "5")]
    pub current_since_ms: i64,
    #[prost(int64, tag = "6")]
    pub ramping_since_ms: i64,
    #[prost(int64, tag = "7")]
    pub first_activation_ms: i64,
    #[prost(int64, tag = "8")]
    pub last_current_ms: i64,
    #[prost(int64, tag = "9")]
    pub last_deactivation_ms: i64,
    #[prost(btree_map = "string, message", tag = "10")]
    pub metadata: BTreeMap<String, Payload>,
    /// Who created the version through the API (`CreateWorkerDeploymentVersion`).
    #[prost(string, tag = "11")]
    pub last_modifier_identity: String,
    /// Created through the API and not polled yet (status CREATED).
    #[prost(bool, tag = "12")]
    pub created_unpolled: bool,
}

/// A task queue a version's workers poll.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionQueue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(enumeration = "TaskQueueType", tag = "2")]
    pub r#type: i32,
}

impl DeploymentRecord {
    pub fn new(namespace: &str, name: &str, now_ms: i64) -> DeploymentRecord {
        DeploymentRecord {
            namespace: namespace.to_string(),
            name: name.to_string(),
            create_time_ms: now_ms,
            changed_ms: now_ms,
            ..Default::default()
        }
    }

    pub fn find_version(&self, build_id: &str) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.build_id == build_id)
    }

    pub fn find_version_mut(&mut self, build_id: &str) -> Option<&mut VersionRecord> {
        self.versions.iter_mut().find(|v| v.build_id == build_id)
    }

    pub fn has_queue(&self, build_id: &str, queue: &str, queue_type: TaskQueueType) -> bool {
        self.find_version(build_id).is_some_and(|v| {
            v.task_queues
                .iter()
                .any(|q| q.name == queue && q.r#type == queue_type as i32)
        })
    }

    /// Adds the version (if new) and the queue to it (if new).
    pub fn add_queue(&mut self, build_id: &str, queue: &str, queue_type: TaskQueueType, now: i64) {
        if self.find_version(build_id).is_none() {
            self.versions.push(VersionRecord {
                build_id: build_id.to_string(),
                create_time_ms: now,
                ..Default::default()
            });
        }
        if self.has_queue(build_id, queue, queue_type) {
            return;
        }
        if let Some(version) = self.find_version_mut(build_id) {
            version.created_unpolled = false;
            version.task_queues.push(VersionQueue {
                name: queue.to_string(),
                r#type: queue_type as i32,
            });
            // Listed by name, workflow before activity, whichever worker polled first.
            version
                .task_queues
                .sort_by(|a, b| (&a.name, a.r#type).cmp(&(&b.name, b.r#type)));
        }
    }

    /// Where a version stands in the routing.
    pub fn status_of(&self, version: &VersionRecord) -> WorkerDeploymentVersionStatus {
        if !self.current_build.is_empty() && version.build_id == self.current_build {
            WorkerDeploymentVersionStatus::Current
        } else if self.ramping_set && version.build_id == self.ramping_build {
            WorkerDeploymentVersionStatus::Ramping
        } else if version.first_activation_ms > 0 {
            WorkerDeploymentVersionStatus::Draining
        } else if version.created_unpolled {
            WorkerDeploymentVersionStatus::Created
        } else {
            WorkerDeploymentVersionStatus::Inactive
        }
    }
}

impl crate::records::StoredState for DeploymentRecord {
    const KIND: temper_store::RecordKind = temper_store::RecordKind::WorkerDeployment;

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn id(&self) -> String {
        self.name.clone()
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}

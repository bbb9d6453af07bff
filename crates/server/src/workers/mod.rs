//! Worker heartbeats: what `RecordWorkerHeartbeat` (and the last heartbeat a worker sends
//! with `ShutdownWorker`) report, kept in memory per (namespace, worker instance key) as
//! Temporal's matching service keeps them — a heartbeat replaces the worker's entry, a
//! `SHUTDOWN` status removes it, and an entry unheard of for five minutes is forgotten —
//! and read back by `ListWorkers`/`CountWorkers` (`list.rs`, Temporal's worker query
//! language) and `DescribeWorker` (`describe.rs`). Nothing survives a restart, as in Temporal.

mod describe;
mod list;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use temper_api::proto::enums::v1::WorkerStatus;
use temper_api::proto::worker::v1::WorkerHeartbeat;
use temper_query::AttributeValue;

use crate::clock::Clock;
use crate::namespaces::Namespaces;

/// How long a worker stays listed after its last heartbeat (Temporal's
/// `matching.workerRegistryEntryTTL`).
const ENTRY_TTL_MS: i64 = 5 * 60 * 1000;

struct Entry {
    heartbeat: WorkerHeartbeat,
    last_seen_ms: i64,
}

pub struct Workers {
    namespaces: Arc<Namespaces>,
    clock: Arc<dyn Clock>,
    entries: Mutex<BTreeMap<(String, String), Entry>>,
}

impl Workers {
    pub fn new(namespaces: Arc<Namespaces>, clock: Arc<dyn Clock>) -> Self {
        Workers {
            namespaces,
            clock,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The live entries (expired ones are dropped on the way).
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = self.clock.now_ms() - ENTRY_TTL_MS;
        entries.retain(|_, entry| entry.last_seen_ms >= oldest);
        entries
    }

    /// Records heartbeats: each replaces its worker's entry; `SHUTDOWN` removes it.
    pub fn record(&self, namespace: &str, heartbeats: Vec<WorkerHeartbeat>) {
        let now_ms = self.clock.now_ms();
        let mut entries = self.entries();
        for heartbeat in heartbeats {
            let key = (namespace.to_string(), heartbeat.worker_instance_key.clone());
            if heartbeat.status == WorkerStatus::Shutdown as i32 {
                entries.remove(&key);
            } else {
                let last_seen_ms = now_ms;
                entries.insert(
                    key,
                    Entry {
                        heartbeat,
                        last_seen_ms,
                    },
                );
            }
        }
    }

    /// A namespace's workers, by instance key.
    fn of_namespace(&self, namespace: &str) -> Vec<WorkerHeartbeat> {
        self.entries()
            .range((namespace.to_string(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .map(|(_, entry)| entry.heartbeat.clone())
            .collect()
    }
}

/// A heartbeat's value for a field of Temporal's worker query language (names are
/// case-sensitive, except `Status`, an SQL keyword its parser lowercases).
fn field(heartbeat: &WorkerHeartbeat, name: &str) -> Option<AttributeValue> {
    let keyword = |text: &str| Some(AttributeValue::Keyword(text.to_string()));
    let time = |t: Option<&prost_wkt_types::Timestamp>| {
        t.map(|t| AttributeValue::Datetime(t.seconds * 1_000_000_000 + i64::from(t.nanos)))
    };
    let version = heartbeat.deployment_version.as_ref();
    match name {
        "WorkerInstanceKey" => keyword(&heartbeat.worker_instance_key),
        "WorkerIdentity" => keyword(&heartbeat.worker_identity),
        "HostName" => keyword(heartbeat.host_info.as_ref().map_or("", |h| &h.host_name)),
        "TaskQueue" => keyword(&heartbeat.task_queue),
        "DeploymentName" => keyword(version.map_or("", |v| &v.deployment_name)),
        "BuildId" => keyword(version.map_or("", |v| &v.build_id)),
        "SdkName" => keyword(&heartbeat.sdk_name),
        "SdkVersion" => keyword(&heartbeat.sdk_version),
        "StartTime" => time(heartbeat.start_time.as_ref()),
        "HeartbeatTime" => time(heartbeat.heartbeat_time.as_ref()),
        status if status == "WorkerStatus" || status.eq_ignore_ascii_case("status") => {
            keyword(status_name(heartbeat.status))
        }
        _ => None,
    }
}

/// A status as the worker query language names it (Go's short names).
fn status_name(status: i32) -> &'static str {
    match WorkerStatus::try_from(status) {
        Ok(WorkerStatus::Running) => "Running",
        Ok(WorkerStatus::ShuttingDown) => "ShuttingDown",
        Ok(WorkerStatus::Shutdown) => "Shutdown",
        _ => "Unspecified",
    }
}

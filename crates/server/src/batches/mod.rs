//! Batch operations: Temporal's `StartBatchOperation`, `DescribeBatchOperation`,
//! `ListBatchOperations` and `StopBatchOperation`, and the runner that works through a
//! batch's executions (terminate, cancel, signal, delete, reset — by visibility query or by
//! an explicit list).
//!
//! A batch is one [`BatchRecord`] in the store (a record of kind `batch_operation`), held in
//! memory with one lock per batch. Its runner (`runner.rs`, one task per running batch) acts
//! on one execution at a time at the requested rate and writes the record after each, so a
//! server killed mid-batch resumes at the execution it was on. Every action is idempotent
//! (terminating or deleting a closed run answers NOT_FOUND, which counts as done, as in
//! Temporal; cancel requests are recorded once; signals and resets carry a request id derived
//! from the batch and the execution), so the execution in flight at a crash is not acted on
//! twice. One file per RPC: `start.rs`, `describe.rs` (with list), `stop.rs`.

mod describe;
mod record;
mod runner;
mod start;
mod stop;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use temper_api::proto::enums::v1::BatchOperationState;
use temper_store::{RecordKind, Store, StoreError, StoredRecord};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::namespaces::Namespaces;

pub use record::BatchRecord;

type Entry = Arc<tokio::sync::Mutex<BatchRecord>>;

pub struct Batches {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    /// (namespace, job id) → the batch.
    entries: Mutex<BTreeMap<(String, String), Entry>>,
}

impl Batches {
    /// Loads every stored batch and resumes the running ones.
    pub async fn load(
        store: Arc<dyn Store>,
        history: Arc<History>,
        namespaces: Arc<Namespaces>,
    ) -> Result<Arc<Batches>, StoreError> {
        let rows = store.records(RecordKind::BatchOperation).await?;
        let batches = Arc::new(Batches {
            store,
            history,
            namespaces,
            entries: Mutex::new(BTreeMap::new()),
        });
        for row in rows {
            let record: BatchRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("batch operation: {e}")))?;
            let running = record.state == BatchOperationState::Running as i32;
            let entry = batches.insert(record);
            if running {
                batches.spawn_runner(entry);
            }
        }
        Ok(batches)
    }

    fn insert(&self, record: BatchRecord) -> Entry {
        let key = (record.namespace().to_string(), record.job_id().to_string());
        let entry = Arc::new(tokio::sync::Mutex::new(record));
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key, entry.clone());
        entry
    }

    fn entry(&self, namespace: &str, job_id: &str) -> Option<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(namespace.to_string(), job_id.to_string()))
            .cloned()
    }

    /// The namespace's batches, in job id order.
    fn entries_of(&self, namespace: &str) -> Vec<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .range((namespace.to_string(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Writes the record (its version moves on by one).
    async fn save(&self, record: &mut BatchRecord) -> Result<(), Status> {
        let expected = record.version;
        record.version += 1;
        let row = StoredRecord {
            kind: RecordKind::BatchOperation,
            namespace: record.namespace().to_string(),
            id: record.job_id().to_string(),
            version: record.version,
            state: prost::Message::encode_to_vec(record),
        };
        let saved = self.store.save_record(row, expected).await;
        saved.map_err(|error| {
            record.version = expected;
            errors::storage(error)
        })
    }

    /// Forgets a deleted namespace's batches (the store deletes their records with it).
    pub fn forget_namespace(&self, namespace: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(ns, _), _| ns != namespace);
    }
}

/// Temporal's answer for a missing batch names its batcher workflow's id (the job id).
fn not_found(job_id: &str) -> Status {
    errors::not_found(format!("workflow not found for ID: {job_id}"))
}

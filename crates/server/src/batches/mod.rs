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

use std::sync::Arc;

use temper_api::proto::enums::v1::BatchOperationState;
use temper_store::{RecordKind, Store, StoreError};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::namespaces::Namespaces;
use crate::records::{self, Locked, RecordMap};

pub use record::BatchRecord;

type Entry = Locked<BatchRecord>;

pub struct Batches {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    /// (namespace, job id) → the batch.
    entries: RecordMap<BatchRecord>,
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
            entries: RecordMap::default(),
        });
        for row in rows {
            let record: BatchRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("batch operation: {e}")))?;
            let running = record.state == BatchOperationState::Running as i32;
            let entry = batches.insert(record);
            // In a spread cluster the coordinator runs them (`Batches::take_over`).
            if running && batches.history.coordinates() {
                batches.spawn_runner(entry);
            }
        }
        Ok(batches)
    }

    /// This node became a spread cluster's coordinator: the batches as the previous one left
    /// them are read again and the running ones resumed (each run is acted on once: the
    /// record keeps the progress, and repeated actions carry the same request ids).
    pub async fn take_over(self: &Arc<Self>) -> Result<(), StoreError> {
        let rows = self.store.records(RecordKind::BatchOperation).await?;
        let stored = rows.iter().map(|r| (r.namespace.clone(), r.id.clone()));
        self.entries.keep_only(&stored.collect());
        for row in rows {
            let record: BatchRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("batch operation: {e}")))?;
            let running = record.state == BatchOperationState::Running as i32;
            let entry = self.insert(record);
            if running {
                self.spawn_runner(entry);
            }
        }
        Ok(())
    }

    fn insert(&self, record: BatchRecord) -> Entry {
        let (namespace, job_id) = (record.namespace().to_string(), record.job_id().to_string());
        self.entries.insert(&namespace, &job_id, record)
    }

    async fn save(&self, record: &mut BatchRecord) -> Result<(), Status> {
        records::save(self.store.as_ref(), record).await
    }

    /// Forgets a deleted namespace's batches (the store deletes their records with it).
    pub fn forget_namespace(&self, namespace: &str) {
        self.entries.forget_namespace(namespace);
    }
}

/// Temporal's answer for a missing batch names its batcher workflow's id (the job id).
fn not_found(job_id: &str) -> Status {
    errors::not_found(format!("workflow not found for ID: {job_id}"))
}

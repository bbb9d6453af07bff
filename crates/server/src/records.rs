//! Server-owned records kept beside runs (schedules, batch operations): the in-memory map of
//! them, one lock per record keyed by (namespace, id), and their write to the store's
//! `records` table under an optimistic version. Each service owns its record type; this is
//! what they share.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use temper_store::{RecordKind, Store, StoredRecord};
use tonic::Status;

use crate::errors;

/// One record, behind its own lock.
pub type Locked<T> = Arc<tokio::sync::Mutex<T>>;

/// The records of one kind, by (namespace, id).
pub struct RecordMap<T> {
    entries: Mutex<BTreeMap<(String, String), Locked<T>>>,
}

impl<T> Default for RecordMap<T> {
    fn default() -> Self {
        RecordMap {
            entries: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T> RecordMap<T> {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Locked<T>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or replaces) a record.
    pub fn insert(&self, namespace: &str, id: &str, value: T) -> Locked<T> {
        let entry = Arc::new(tokio::sync::Mutex::new(value));
        let key = (namespace.to_string(), id.to_string());
        self.entries().insert(key, entry.clone());
        entry
    }

    /// Adds a record unless the id is taken (`None` then).
    pub fn claim(&self, namespace: &str, id: &str, value: T) -> Option<Locked<T>> {
        let mut entries = self.entries();
        let key = (namespace.to_string(), id.to_string());
        if entries.contains_key(&key) {
            return None;
        }
        let entry = Arc::new(tokio::sync::Mutex::new(value));
        entries.insert(key, entry.clone());
        Some(entry)
    }

    pub fn get(&self, namespace: &str, id: &str) -> Option<Locked<T>> {
        self.entries()
            .get(&(namespace.to_string(), id.to_string()))
            .cloned()
    }

    pub fn remove(&self, namespace: &str, id: &str) {
        self.entries()
            .remove(&(namespace.to_string(), id.to_string()));
    }

    /// Every record, in (namespace, id) order.
    pub fn all(&self) -> Vec<Locked<T>> {
        self.entries().values().cloned().collect()
    }

    /// A namespace's records, in id order.
    pub fn of_namespace(&self, namespace: &str) -> Vec<Locked<T>> {
        self.entries()
            .range((namespace.to_string(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Forgets every record whose (namespace, id) is not in `kept` (deleted by another node).
    pub fn keep_only(&self, kept: &std::collections::BTreeSet<(String, String)>) {
        self.entries().retain(|key, _| kept.contains(key));
    }

    /// Forgets a deleted namespace's records (the store deletes them with it).
    pub fn forget_namespace(&self, namespace: &str) {
        self.entries().retain(|(ns, _), _| ns != namespace);
    }
}

/// A record type the store keeps whole.
pub trait StoredState: prost::Message + Sized {
    const KIND: RecordKind;
    fn namespace(&self) -> &str;
    fn id(&self) -> String;
    /// The version stored with the record (the store checks it on every write).
    fn version_mut(&mut self) -> &mut i64;
}

/// Writes the record; its version moves on by one (and back if the write fails).
pub async fn save<R: StoredState>(store: &dyn Store, record: &mut R) -> Result<(), Status> {
    let expected = *record.version_mut();
    *record.version_mut() += 1;
    let row = StoredRecord {
        kind: R::KIND,
        namespace: record.namespace().to_string(),
        id: record.id(),
        version: expected + 1,
        state: record.encode_to_vec(),
    };
    store.save_record(row, expected).await.map_err(|error| {
        *record.version_mut() = expected;
        errors::storage(error)
    })
}

//! Several Temper nodes on one PostgreSQL database: membership, shard ownership and fencing.
//!
//! Runs are partitioned into the cluster's fixed number of shards by a hash of (namespace,
//! workflow id). A node serves a shard while it holds the shard's lease in the store
//! (`temper_store::shards`), which it renews well before it runs out; every run write carries
//! the lease's fence, so a node that lost a lease can never commit a write of that shard
//! (History stamps the fences, [`Shards::fence_for`]). Each node heartbeats a membership row
//! with the address it advertises.
//!
//! In active/standby mode (`--cluster-active-standby`) one node serves every shard: the
//! first node takes all of them and the others are standbys until the leases run out, which
//! is how a node that died is replaced. A standby
//! passes every gRPC call it receives on to the owner of the shard the call names
//! ([`forward_until_active`], routed by `route.rs`), so clients and workers may connect to
//! any node. A node that finds a lease it held taken by another node (it stalled past the
//! lease) stops: [`Shards::lost`] resolves and the server exits, so nothing it cached of those
//! runs is served again; so does a node whose leases ran out, by its own clock, before it
//! could renew them (it cannot reach the database, and another node may take them any
//! moment). Restarted, it is a standby.
//!
//! By default (spread shards) every node serves instead: the lease loop
//! gives each live node its share of the shards (`leases.rs`), each node serves the calls for
//! its shards and forwards the others (`spread.rs`), History loads and unloads shards as they
//! move (`history/shard_moves.rs`), and task queues live with their shard's owner too, run
//! owners offering them their tasks (`tasks.rs`).

mod forward;
mod leases;
mod owner_calls;
mod refresh;
mod route;
pub mod secret;
mod service;
mod spread;
pub mod tasks;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Leases and heartbeats compare the nodes' wall clocks (never the virtual clock of time
/// skipping).
use crate::clock::real_now_ms as now_ms;

use temper_store::shards::shard_of;
use temper_store::{NodeRecord, ShardFence, Store, StoreError};
use tokio::sync::watch;

pub use forward::{Forwarder, forward_until_active, http_backend};
pub use leases::{run_leases, take_leases};
pub use service::ClusterRpcs;
pub use spread::ToOwnerLayer;
pub use tasks::{PeerHost, Peers};

/// Shards a new cluster is created with unless told otherwise; stored at the first start.
pub const DEFAULT_SHARDS: i32 = 64;
/// How often a call for a shard that has no known owner looks again (`await_owner`).
const OWNER_RECHECK: Duration = Duration::from_millis(50);

/// How long a lease lasts unless configured otherwise: a dead node's shards are taken over
/// within this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

pub struct ClusterConfig {
    /// The `host:port` this node is reached at.
    pub advertise_address: String,
    /// The shard count proposed if the cluster is new (the stored count wins).
    pub shards: i32,
    pub lease: Duration,
    /// How this node dials the others when the nodes serve TLS (`None`: a standby that
    /// serves TLS keeps its ports closed until it serves, as it cannot pass calls on).
    pub client_tls: Option<Arc<rustls::ClientConfig>>,
    /// Spread the shards over every live node (the default) instead of one node serving
    /// them all (`--cluster-active-standby`).
    pub spread: bool,
}

/// This node's view of shard ownership.
pub struct Shards {
    node_id: String,
    address: String,
    count: i32,
    lease: Duration,
    /// The fence of each shard this node holds, by shard id.
    held: Mutex<Vec<Option<ShardFence>>>,
    /// True once this node holds every shard.
    active: watch::Sender<bool>,
    /// Why this node stopped serving: a lease it held was taken, or ran out.
    lost: watch::Sender<Option<String>>,
    /// When the leases this node holds run out, as of its last renewal (ms since the epoch).
    renewed_until: AtomicI64,
    /// The address of each shard's owner, while it is another live node (by shard id).
    owners: Mutex<Vec<Option<String>>>,
    /// Whether the shards are spread over the live nodes (else one node holds them all).
    spread: bool,
    /// Bumped whenever this node takes or gives up a shard (History loads and unloads them).
    held_changed: watch::Sender<u64>,
    /// Bumped whenever the coordinator (the owner of shard 0) changes, as this node sees it.
    coordinator_changed: watch::Sender<u64>,
    /// Bumped whenever any shard changes hands, as this node sees it (it took or gave one
    /// up, or the lease loop found another owner): task queues move with their shards.
    ownership_changed: watch::Sender<u64>,
    /// True while this node of a spread cluster does not hold its share of the shards.
    settling: std::sync::atomic::AtomicBool,
}

impl Shards {
    /// Joins the cluster on `store`: fixes (or reads) its shard count. Holds no shard yet.
    pub async fn join(
        store: &dyn Store,
        config: &ClusterConfig,
    ) -> Result<Arc<Shards>, StoreError> {
        let count = store.shard_count(config.shards.max(1)).await?;
        if count != config.shards {
            tracing::info!(
                stored = count,
                asked = config.shards,
                "the cluster keeps its shard count"
            );
        }
        let node_id = format!("{}/{}", config.advertise_address, uuid::Uuid::new_v4());
        let size = usize::try_from(count)
            .map_err(|_| StoreError::Corrupt(format!("shard count {count}")))?;
        Ok(Arc::new(Shards {
            node_id,
            address: config.advertise_address.clone(),
            count,
            lease: config.lease,
            held: Mutex::new(vec![None; size]),
            // A node of a spread cluster serves from the start, whatever it holds.
            active: watch::channel(config.spread).0,
            lost: watch::channel(None).0,
            renewed_until: AtomicI64::new(0),
            owners: Mutex::new(vec![None; size]),
            spread: config.spread,
            held_changed: watch::channel(0).0,
            coordinator_changed: watch::channel(0).0,
            ownership_changed: watch::channel(0).0,
            settling: std::sync::atomic::AtomicBool::new(config.spread),
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The cluster's shard count.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// The shard a workflow id's runs live in.
    pub fn shard_of(&self, namespace: &str, workflow_id: &str) -> i32 {
        shard_of(namespace, workflow_id, self.count)
    }

    /// The fence a write of the workflow id's runs must carry; `ShardOwnershipLost` when this
    /// node does not hold its shard.
    pub fn fence_for(&self, namespace: &str, workflow_id: &str) -> Result<ShardFence, StoreError> {
        let shard = self.shard_of(namespace, workflow_id);
        self.held()
            .get(shard as usize)
            .copied()
            .flatten()
            .ok_or(StoreError::ShardOwnershipLost(shard))
    }

    /// The shard a task queue lives in (a spread cluster's queues are spread as its runs
    /// are; a sticky queue by its own name).
    pub fn shard_of_queue(&self, namespace: &str, queue: &str) -> i32 {
        shard_of(namespace, queue, self.count)
    }

    /// True when this node holds the shard of the task queue.
    pub fn holds_queue(&self, namespace: &str, queue: &str) -> bool {
        self.holds(self.shard_of_queue(namespace, queue))
    }

    /// True when this node holds the shard of the workflow id's runs.
    pub fn holds_run(&self, namespace: &str, workflow_id: &str) -> bool {
        self.holds(self.shard_of(namespace, workflow_id))
    }

    /// True when this node holds `shard`.
    pub fn holds(&self, shard: i32) -> bool {
        usize::try_from(shard)
            .ok()
            .and_then(|i| self.held().get(i).copied().flatten())
            .is_some()
    }

    /// True when the shards are spread over the live nodes.
    pub fn is_spread(&self) -> bool {
        self.spread
    }

    /// Changes whenever this node takes or gives up a shard.
    pub fn held_changes(&self) -> watch::Receiver<u64> {
        self.held_changed.subscribe()
    }

    /// True when this node serves (a node of a spread cluster always does; otherwise the
    /// node holding every shard).
    pub fn is_active(&self) -> bool {
        *self.active.borrow()
    }

    /// The address of `shard`'s owner, when it is another live node.
    pub fn owner_address(&self, shard: i32) -> Option<String> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        usize::try_from(shard)
            .ok()
            .and_then(|i| owners.get(i)?.clone())
    }

    /// The addresses of the other live nodes that hold a shard.
    pub fn other_owner_addresses(&self) -> std::collections::BTreeSet<String> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.iter().flatten().cloned().collect()
    }

    /// True when another live node at `address` holds a shard.
    pub fn is_owner_address(&self, address: &str) -> bool {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.iter().flatten().any(|owner| owner == address)
    }

    /// Records which node the lease loop last found holding each shard.
    fn note_owners(&self, addresses: Vec<Option<String>>) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let coordinator_moved = owners.first() != addresses.first();
        let moved = *owners != addresses;
        *owners = addresses;
        drop(owners);
        if coordinator_moved {
            self.coordinator_changed
                .send_modify(|version| *version += 1);
        }
        if moved {
            self.ownership_changed.send_modify(|version| *version += 1);
        }
    }

    /// True while this node of a spread cluster does not hold its share of the shards.
    pub fn is_settling(&self) -> bool {
        self.settling.load(Ordering::Relaxed)
    }

    fn note_settling(&self, settling: bool) {
        self.settling.store(settling, Ordering::Relaxed);
    }

    /// Waits up to `at_most` for the lease loop to find an owner of `shard` other than this
    /// node (a shard changing hands); its address.
    pub async fn await_owner(&self, shard: i32, at_most: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            if let Some(address) = self.owner_address(shard) {
                return Some(address);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(OWNER_RECHECK).await;
        }
    }

    /// Changes whenever the coordinator (the owner of shard 0) changes.
    pub fn coordinator_changes(&self) -> watch::Receiver<u64> {
        self.coordinator_changed.subscribe()
    }

    /// Changes whenever any shard changes hands (see `ownership_changed`).
    pub fn ownership_changes(&self) -> watch::Receiver<u64> {
        self.ownership_changed.subscribe()
    }

    /// How many times shards changed hands, as this node saw it.
    pub fn ownership_version(&self) -> u64 {
        *self.ownership_changed.borrow()
    }

    /// Waits until this node holds every shard.
    pub async fn until_active(&self) {
        let mut active = self.active.subscribe();
        let _ = active.wait_for(|active| *active).await;
    }

    /// Resolves, with the reason, once this node may no longer serve what it holds: another
    /// node took one of its leases, or its leases ran out before it could renew them.
    pub async fn lost(&self) -> String {
        let mut lost = self.lost.subscribe();
        let reason = match lost.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            // The sender lives as long as `self`.
            Err(_) => None,
        };
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// Notes that the store refused a write of a shard this node thought it held (a write
    /// of a shard it gave up meanwhile may be refused too: that one is no news).
    pub fn note_lost(&self, shard: i32) {
        if !self.holds(shard) {
            return;
        }
        tracing::error!(shard, node = %self.node_id, "another node took this node's shard; stopping");
        self.stop_serving(format!("shard {shard}'s lease was taken by another node"));
    }

    /// Records that every held lease lasts until `until` (a renewal or a take succeeded).
    fn note_renewed(&self, until: i64) {
        self.renewed_until.store(until, Ordering::Relaxed);
    }

    /// Stops serving when this node holds leases that ran out by its own clock at `now`
    /// without being renewed (the database unreachable, say): another node may take them at
    /// any moment, and this node's cached runs would go stale unnoticed.
    fn check_lease_end(&self, now: i64) {
        if self.fences().is_empty() || now < self.renewed_until.load(Ordering::Relaxed) {
            return;
        }
        tracing::error!(node = %self.node_id, "the shard leases ran out before they could be renewed; stopping");
        self.stop_serving(
            "the shard leases ran out before this node could renew them (is the database \
             reachable?)"
                .into(),
        );
    }

    fn stop_serving(&self, reason: String) {
        self.lost.send_if_modified(|lost| {
            let first = lost.is_none();
            lost.get_or_insert(reason);
            first
        });
    }

    /// Gives every held lease up (a clean stop), so that a standby takes over at once.
    /// Its membership row says it left (a heartbeat at the epoch), so that the others count
    /// it out of their shares at once.
    pub async fn leave(&self, store: &dyn Store) {
        for fence in self.fences() {
            if let Err(error) = store.release_shard(&self.node_id, fence).await {
                tracing::warn!(%error, shard = fence.shard_id, "could not give a shard lease up");
            }
        }
        let left = NodeRecord {
            node_id: self.node_id.clone(),
            address: self.address.clone(),
            heartbeat_ms: 0,
        };
        if let Err(error) = store.heartbeat_node(left).await {
            tracing::warn!(%error, "could not record that this node left");
        }
    }

    /// True when this node holds every shard.
    pub(super) fn holds_all(&self) -> bool {
        self.held().iter().all(Option::is_some)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Option<ShardFence>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ids of the shards this node holds, in order: what it reads of the store's open
    /// runs and wake-ups.
    pub fn held_ids(&self) -> Vec<i32> {
        self.fences().iter().map(|fence| fence.shard_id).collect()
    }

    /// Stops holding a shard (before its lease is given up in the store): its runs' writes
    /// are refused here from now on.
    fn unhold(&self, shard: i32) {
        if let Some(slot) = self.held().get_mut(shard as usize) {
            *slot = None;
        }
        self.note_held_changed(shard);
    }

    fn note_held_changed(&self, shard: i32) {
        self.held_changed.send_modify(|version| *version += 1);
        self.ownership_changed.send_modify(|version| *version += 1);
        if shard == 0 {
            self.coordinator_changed
                .send_modify(|version| *version += 1);
        }
    }

    /// The fences this node holds.
    fn fences(&self) -> Vec<ShardFence> {
        self.held().iter().flatten().copied().collect()
    }

    /// Records a lease taken, and whether every shard is held now.
    fn hold(&self, fence: ShardFence) {
        if let Some(slot) = self.held().get_mut(fence.shard_id as usize) {
            *slot = Some(fence);
        }
        self.note_held_changed(fence.shard_id);
        if self.holds_all() {
            self.active
                .send_if_modified(|active| !std::mem::replace(active, true));
        }
    }
}

/// The shards whose runs a node reads from the store: those it holds, or every run's (`None`)
/// when it has its database to itself.
pub fn held_scope(shards: Option<&Shards>) -> Option<Vec<i32>> {
    shards.map(Shards::held_ids)
}

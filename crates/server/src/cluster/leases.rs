//! The lease loop: heartbeats this node's membership row, renews the leases it holds a few
//! times per lease period, and takes the shards whose leases ran out (or that a previous
//! process at this node's address held: a restarted node need not wait for its own leases
//! to run out). Two standbys that split the shards between them would both wait forever, so
//! the one whose id sorts later takes none while the other holds some, and gives its part up. A node that does not hold every shard also
//! notes which node holds each shard, for its forwarding port (`forward.rs`).

use std::sync::Arc;

use temper_store::{NodeRecord, ShardLease, Store, StoreResult};

use super::{Shards, now_ms};

/// Renewals per lease period: a node misses a few before its lease runs out.
const RENEWALS_PER_LEASE: u32 = 4;
/// How much more often a node of a spread cluster passes while it does not hold its share.
const SETTLING_SPEED_UP: u32 = 5;
/// A node silent for this many lease periods is gone: its membership row is deleted (it
/// stays listed a while, for `temper cluster status` to show what happened).
const FORGOTTEN_AFTER_LEASES: i64 = 30;

/// One pass of the lease loop, its error logged: what a joining node does first, to know
/// whether it serves or forwards.
pub async fn take_leases(shards: &Shards, store: &dyn Store) {
    if let Err(error) = tend(shards, store).await {
        tracing::warn!(%error, "could not renew or take shard leases; retrying");
    }
}

/// Runs until the process ends, a pass per quarter lease after the first (a lost lease is
/// reported through [`Shards::lost`]). A watch beside the passes stops the node when its
/// leases run out unrenewed, even while a pass hangs on an unreachable database.
pub async fn run_leases(shards: Arc<Shards>, store: Arc<dyn Store>) {
    let every = shards.lease / RENEWALS_PER_LEASE;
    let passes = async {
        loop {
            // While shards change hands, passes come faster: a shard given up is taken at
            // the next pass of the node that wants it, and calls for it wait until then.
            let pause = if shards.is_settling() {
                every / SETTLING_SPEED_UP
            } else {
                every
            };
            tokio::time::sleep(pause).await;
            take_leases(&shards, store.as_ref()).await;
        }
    };
    let watch = async {
        loop {
            tokio::time::sleep(every / 2).await;
            shards.check_lease_end(now_ms());
        }
    };
    tokio::join!(passes, watch);
}

/// One pass: heartbeat, renew, take what is free, give up a split.
async fn tend(shards: &Shards, store: &dyn Store) -> StoreResult<()> {
    let now = now_ms();
    let lease_until = now + i64::try_from(shards.lease.as_millis()).unwrap_or(i64::MAX / 2);
    store
        .heartbeat_node(NodeRecord {
            node_id: shards.node_id.clone(),
            address: shards.address.clone(),
            heartbeat_ms: now,
        })
        .await?;
    renew(shards, store, lease_until).await?;
    let lease_ms = lease_until - now;
    store
        .forget_nodes(now - FORGOTTEN_AFTER_LEASES * lease_ms)
        .await?;
    if shards.holds_all() && !shards.spread {
        return Ok(());
    }
    let nodes = store.nodes().await?;
    let predecessors = predecessors(shards, &nodes);
    let leases = store.shard_leases().await?;
    shards.note_owners(owner_addresses(&leases, &nodes, shards, now, &predecessors));
    if shards.spread {
        let share = fair_share(shards, &nodes, now, lease_ms, &predecessors);
        return balance(
            shards,
            store,
            &leases,
            &predecessors,
            share,
            (now, lease_until),
        )
        .await;
    }
    if defers_to_another(&leases, shards, now, &predecessors) {
        give_up_held(shards, store).await
    } else {
        let every = usize::MAX;
        take_free(
            shards,
            store,
            &leases,
            &predecessors,
            (now, lease_until),
            every,
        )
        .await
    }
}

/// Shards a node of a spread cluster gives up per pass when it holds more than its share, so
/// that a join moves the shards over a few passes rather than all at once.
const HANDED_OVER_PER_PASS: usize = 8;

/// A node's share of the shards in a spread cluster: the shard count over the live nodes
/// (those that heartbeat within a lease, this one among them), rounded up.
fn fair_share(
    shards: &Shards,
    nodes: &[NodeRecord],
    now: i64,
    lease_ms: i64,
    predecessors: &[String],
) -> usize {
    let others = nodes
        .iter()
        .filter(|n| n.node_id != shards.node_id && !predecessors.contains(&n.node_id))
        .filter(|n| n.heartbeat_ms > now - lease_ms)
        .count();
    let count = usize::try_from(shards.count).unwrap_or(1);
    count.div_ceil(others + 1)
}

/// A spread cluster's pass: gives up the shards held beyond `share` (the highest first, a
/// few per pass, never shard 0, whose owner coordinates), or takes free ones up to it.
async fn balance(
    shards: &Shards,
    store: &dyn Store,
    leases: &[ShardLease],
    predecessors: &[String],
    share: usize,
    times: (i64, i64),
) -> StoreResult<()> {
    let held = shards.fences();
    shards.note_settling(held.len() != share);
    if held.len() <= share {
        let wanted = share - held.len();
        return take_free(shards, store, leases, predecessors, times, wanted).await;
    }
    let surplus = held.len() - share;
    let given_up = held.iter().rev().filter(|fence| fence.shard_id != 0);
    for fence in given_up.take(surplus.min(HANDED_OVER_PER_PASS)) {
        tracing::info!(shard = fence.shard_id, node = %shards.node_id, "handing a shard over");
        shards.unhold(fence.shard_id);
        store.release_shard(&shards.node_id, *fence).await?;
    }
    Ok(())
}

/// Takes up to `wanted` shards (the lowest first) whose lease no other live node holds.
async fn take_free(
    shards: &Shards,
    store: &dyn Store,
    leases: &[ShardLease],
    predecessors: &[String],
    (now, lease_until): (i64, i64),
    wanted: usize,
) -> StoreResult<()> {
    let mut taken = 0;
    for shard_id in 0..shards.count {
        if taken == wanted {
            break;
        }
        if shards.holds(shard_id) || held_by_another(leases, shard_id, shards, now, predecessors) {
            continue;
        }
        let predecessor = leases
            .iter()
            .find(|l| l.shard_id == shard_id && predecessors.contains(&l.owner))
            .map(|l| l.owner.as_str());
        if let Some(lease) = store
            .acquire_shard(shard_id, &shards.node_id, now, lease_until, predecessor)
            .await?
        {
            shards.hold(lease.fence());
            shards.note_renewed(lease_until);
            taken += 1;
        }
    }
    Ok(())
}

/// Extends the held leases; a lease that could not be renewed was taken by another node.
async fn renew(shards: &Shards, store: &dyn Store, lease_until: i64) -> StoreResult<()> {
    let fences = shards.fences();
    if fences.is_empty() {
        return Ok(());
    }
    let renewed = store
        .renew_shards(&shards.node_id, fences.clone(), lease_until)
        .await?;
    match fences.iter().find(|f| !renewed.contains(&f.shard_id)) {
        Some(lost) => shards.note_lost(lost.shard_id),
        None => shards.note_renewed(lease_until),
    }
    Ok(())
}

/// Earlier processes that advertised this node's address: they are gone (this one holds the
/// address now), so their leases need not run out first.
fn predecessors(shards: &Shards, nodes: &[NodeRecord]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.address == shards.address && n.node_id != shards.node_id)
        .map(|n| n.node_id.clone())
        .collect()
}

/// The address of each shard's owner while another live node holds it (`None` for the
/// shards this node holds or no live node does).
fn owner_addresses(
    leases: &[ShardLease],
    nodes: &[NodeRecord],
    shards: &Shards,
    now: i64,
    predecessors: &[String],
) -> Vec<Option<String>> {
    (0..shards.count)
        .map(|shard_id| {
            if !held_by_another(leases, shard_id, shards, now, predecessors) {
                return None;
            }
            let owner = &leases.iter().find(|l| l.shard_id == shard_id)?.owner;
            let node = nodes.iter().find(|n| &n.node_id == owner)?;
            Some(node.address.clone())
        })
        .collect()
}

/// True when another live node (not a predecessor) holds the shard's lease.
fn held_by_another(
    leases: &[ShardLease],
    shard_id: i32,
    shards: &Shards,
    now: i64,
    predecessors: &[String],
) -> bool {
    leases.iter().any(|l| {
        l.shard_id == shard_id
            && l.owner != shards.node_id
            && l.lease_until_ms > now
            && !predecessors.contains(&l.owner)
    })
}

/// True when another live node whose id sorts before this one's holds shards (as `leases`
/// read at the start of the pass say): this node then takes none and gives its own back, so
/// that one node ends up with all of them. (Taking free shards and giving them back within
/// one pass could hide them, pass after pass, from the node that should take them.)
fn defers_to_another(
    leases: &[ShardLease],
    shards: &Shards,
    now: i64,
    predecessors: &[String],
) -> bool {
    leases.iter().any(|l| {
        l.owner != shards.node_id
            && l.lease_until_ms > now
            && l.owner < shards.node_id
            && !predecessors.contains(&l.owner)
    })
}

/// Gives every held shard back (this node defers to another), unless it holds them all.
async fn give_up_held(shards: &Shards, store: &dyn Store) -> StoreResult<()> {
    let held = shards.fences();
    if held.is_empty() || shards.holds_all() {
        return Ok(());
    }
    tracing::info!(node = %shards.node_id, "another standby holds shards too; giving ours up");
    for fence in held {
        shards.unhold(fence.shard_id);
        store.release_shard(&shards.node_id, fence).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use temper_store::sqlite::SqliteStore;

    use super::*;
    use crate::cluster::ClusterConfig;

    fn store() -> Arc<dyn Store> {
        Arc::new(SqliteStore::open_in_memory().expect("store"))
    }

    async fn node(store: &Arc<dyn Store>, address: &str) -> Arc<Shards> {
        joined(store, address, false).await
    }

    async fn joined(store: &Arc<dyn Store>, address: &str, spread: bool) -> Arc<Shards> {
        let config = ClusterConfig {
            advertise_address: address.into(),
            shards: 4,
            lease: Duration::from_secs(10),
            client_tls: None,
            spread,
        };
        Shards::join(store.as_ref(), &config).await.expect("joined")
    }

    #[tokio::test]
    async fn a_spread_cluster_hands_a_joining_node_its_share_and_keeps_shard_0() {
        let store = store();
        let first = joined(&store, "a:1", true).await;
        assert!(first.is_active(), "a spread node serves from the start");
        tend(&first, store.as_ref()).await.unwrap();
        assert_eq!(held(&first), [0, 1, 2, 3], "alone, it takes every shard");
        let second = joined(&store, "b:1", true).await;
        tend(&second, store.as_ref()).await.unwrap();
        assert!(held(&second).is_empty(), "nothing is free yet");
        let changes = first.held_changes();
        tend(&first, store.as_ref()).await.unwrap();
        assert_eq!(held(&first), [0, 1], "its share of two live nodes");
        assert!(changes.has_changed().unwrap(), "History hears of it");
        tend(&second, store.as_ref()).await.unwrap();
        assert_eq!(held(&second), [2, 3]);
        tend(&first, store.as_ref()).await.unwrap();
        assert_eq!(held(&first), [0, 1], "balanced: nothing moves");
        second.leave(store.as_ref()).await;
        tend(&first, store.as_ref()).await.unwrap();
        assert_eq!(
            held(&first),
            [0, 1, 2, 3],
            "the shards a node gave up are taken at once"
        );
    }

    fn held(shards: &Shards) -> Vec<i32> {
        shards.fences().iter().map(|f| f.shard_id).collect()
    }

    #[tokio::test]
    async fn the_first_node_takes_every_shard_and_the_next_takes_over_when_it_leaves() {
        let store = store();
        let (first, second) = (node(&store, "a:1").await, node(&store, "b:1").await);
        tend(&first, store.as_ref()).await.unwrap();
        assert_eq!(held(&first), [0, 1, 2, 3]);
        tend(&second, store.as_ref()).await.unwrap();
        assert!(
            held(&second).is_empty(),
            "a standby while the first holds them"
        );
        first.leave(store.as_ref()).await;
        tend(&second, store.as_ref()).await.unwrap();
        assert_eq!(held(&second), [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn of_two_standbys_that_split_the_shards_the_later_id_gives_its_part_back() {
        let store = store();
        let (early, late) = (node(&store, "a:1").await, node(&store, "b:1").await);
        for (node, shard) in [(&late, 2), (&late, 3), (&early, 0), (&early, 1)] {
            let lease = store
                .acquire_shard(shard, node.node_id(), now_ms(), now_ms() + 10_000, None)
                .await
                .unwrap()
                .expect("free");
            node.hold(lease.fence());
        }
        tend(&late, store.as_ref()).await.unwrap();
        assert!(held(&late).is_empty(), "gave 2 and 3 back");
        let leases = store.shard_leases().await.unwrap();
        let owned = |shard: i32| {
            leases
                .iter()
                .any(|l| l.shard_id == shard && l.lease_until_ms > now_ms())
        };
        assert!(!owned(2) && !owned(3), "free for the earlier node");
        tend(&late, store.as_ref()).await.unwrap();
        let leases = store.shard_leases().await.unwrap();
        let owned = |shard: i32| {
            leases
                .iter()
                .any(|l| l.shard_id == shard && l.lease_until_ms > now_ms())
        };
        assert!(
            !owned(2) && !owned(3),
            "a deferring node takes no free shard either"
        );
        tend(&early, store.as_ref()).await.unwrap();
        assert_eq!(held(&early), [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_restarted_node_takes_its_predecessors_leases_and_the_predecessor_stops() {
        let store = store();
        let before = node(&store, "a:1").await;
        tend(&before, store.as_ref()).await.unwrap();
        let after = node(&store, "a:1").await;
        tend(&after, store.as_ref()).await.unwrap();
        assert_eq!(
            held(&after),
            [0, 1, 2, 3],
            "without waiting for the leases to run out"
        );
        tend(&before, store.as_ref()).await.unwrap();
        let lost = tokio::time::timeout(Duration::from_secs(1), before.lost()).await;
        assert!(
            lost.is_ok(),
            "the predecessor learns that it lost its shards"
        );
    }

    #[tokio::test]
    async fn a_node_whose_leases_ran_out_unrenewed_stops() {
        let store = store();
        let shards = node(&store, "a:1").await;
        shards.check_lease_end(now_ms());
        tend(&shards, store.as_ref()).await.unwrap();
        shards.check_lease_end(now_ms());
        let lost = tokio::time::timeout(Duration::from_millis(50), shards.lost()).await;
        assert!(lost.is_err(), "renewed: it serves on");
        shards.check_lease_end(now_ms() + 10_001);
        let lost = tokio::time::timeout(Duration::from_secs(1), shards.lost()).await;
        assert!(lost.expect("stopped").contains("ran out"));
    }
}

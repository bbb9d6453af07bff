//! The shard-lease and fencing contract (`shards.rs`): what lets several nodes share one
//! database without two of them writing the same run.

use super::{backends, events, execution, postgres_store_and_client};
use crate::{ExecutionWrite, NodeRecord, ShardFence, Store, StoreError};

#[tokio::test]
async fn the_shard_count_is_fixed_by_the_first_start() {
    for (name, store, _dir) in backends().await {
        assert_eq!(store.shard_count(64).await.unwrap(), 64, "{name}");
        assert_eq!(store.shard_count(8).await.unwrap(), 64, "{name}");
    }
}

#[tokio::test]
async fn a_lease_is_kept_by_its_owner_until_it_runs_out_then_taken_with_a_new_range() {
    for (name, store, _dir) in backends().await {
        let a = store
            .acquire_shard(3, "a", 1_000, 11_000, None)
            .await
            .unwrap();
        let a = a.unwrap_or_else(|| panic!("{name}: a free shard is taken"));
        assert_eq!((a.owner.as_str(), a.range_id), ("a", 1), "{name}");
        let b = store
            .acquire_shard(3, "b", 2_000, 12_000, None)
            .await
            .unwrap();
        assert!(b.is_none(), "{name}: a live lease is not taken");
        let again = store
            .acquire_shard(3, "a", 3_000, 13_000, None)
            .await
            .unwrap();
        assert_eq!(
            again.map(|l| l.range_id),
            Some(1),
            "{name}: kept, same range"
        );
        let renewed = store.renew_shards("a", vec![a.fence()], 20_000).await;
        assert_eq!(renewed.unwrap(), vec![3], "{name}");
        let b = store
            .acquire_shard(3, "b", 20_000, 30_000, None)
            .await
            .unwrap();
        let b = b.unwrap_or_else(|| panic!("{name}: a lease that ran out is taken"));
        assert_eq!(b.range_id, 2, "{name}: a new owner, a new range");
        let renewed = store.renew_shards("a", vec![a.fence()], 40_000).await;
        assert!(renewed.unwrap().is_empty(), "{name}: a taken shard is lost");
        let leases = store.shard_leases().await.unwrap();
        assert_eq!(leases, vec![b.clone()], "{name}");
        store.release_shard("a", a.fence()).await.unwrap();
        assert_eq!(
            store.shard_leases().await.unwrap(),
            vec![b.clone()],
            "{name}"
        );
        store.release_shard("b", b.fence()).await.unwrap();
        let c = store
            .acquire_shard(3, "c", 21_000, 31_000, None)
            .await
            .unwrap();
        assert_eq!(
            c.map(|l| l.range_id),
            Some(3),
            "{name}: given up, taken at once"
        );
    }
}

/// A write of run `run_id` (workflow id "wf") from version `version - 1`, fenced.
fn fenced_write(run_id: &str, version: i64, fence: ShardFence) -> ExecutionWrite {
    ExecutionWrite {
        execution: execution(run_id, version, version + 1).into(),
        expected_db_version: version - 1,
        new_events: events(version..version + 1),
        make_current: false,
        brand_new: false,
        signal_request_ids: Vec::new(),
        fence: Some(fence),
        shard: Some(fence.shard_id),
    }
}

#[tokio::test]
async fn a_write_whose_lease_was_taken_is_refused_and_leaves_nothing() {
    for (name, store, _dir) in backends().await {
        let a = store
            .acquire_shard(0, "a", 0, 10_000, None)
            .await
            .unwrap()
            .unwrap();
        store
            .write(vec![fenced_write("r1", 1, a.fence())])
            .await
            .unwrap();
        let b = store
            .acquire_shard(0, "b", 10_000, 20_000, None)
            .await
            .unwrap()
            .unwrap();
        let stale = store.write(vec![fenced_write("r1", 2, a.fence())]).await;
        assert!(
            matches!(stale, Err(StoreError::ShardOwnershipLost(0))),
            "{name}: {stale:?}"
        );
        let stored = store.load_execution("r1").await.unwrap().unwrap();
        assert_eq!(stored.db_version, 1, "{name}");
        assert_eq!(store.read_history("r1", 1, 10).await.unwrap().len(), 1);
        store
            .write(vec![fenced_write("r1", 2, b.fence())])
            .await
            .unwrap();
        assert_eq!(store.read_history("r1", 1, 10).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_fenced_write_fails_alone_in_its_group() {
    for (name, store, _dir) in backends().await {
        let old = store
            .acquire_shard(1, "a", 0, 10_000, None)
            .await
            .unwrap()
            .unwrap();
        let new = store
            .acquire_shard(1, "b", 10_000, 20_000, None)
            .await
            .unwrap()
            .unwrap();
        let other = store
            .acquire_shard(2, "a", 0, 10_000, None)
            .await
            .unwrap()
            .unwrap();
        // Sent together, so that a group-committing backend may put them in one group.
        let (stale, held) = tokio::join!(
            store.write(vec![fenced_write("r1", 1, old.fence())]),
            store.write(vec![fenced_write("r2", 1, other.fence())]),
        );
        assert!(
            matches!(stale, Err(StoreError::ShardOwnershipLost(1))),
            "{name}: {stale:?}"
        );
        held.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            store.load_execution("r1").await.unwrap().is_none(),
            "{name}"
        );
        assert!(
            store.load_execution("r2").await.unwrap().is_some(),
            "{name}"
        );
        store
            .write(vec![fenced_write("r1", 1, new.fence())])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_predecessors_live_lease_is_taken_at_once() {
    for (name, store, _dir) in backends().await {
        let old = store
            .acquire_shard(5, "host:1/old", 0, 10_000, None)
            .await
            .unwrap()
            .unwrap();
        let other = store
            .acquire_shard(5, "host:2/x", 1_000, 11_000, Some("host:1/gone"))
            .await;
        assert!(
            other.unwrap().is_none(),
            "{name}: only the named predecessor's lease"
        );
        let new = store
            .acquire_shard(5, "host:1/new", 1_000, 11_000, Some("host:1/old"))
            .await;
        let new = new
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: taken from the predecessor"));
        assert_eq!(new.range_id, old.range_id + 1, "{name}");
    }
}

#[tokio::test]
async fn nodes_heartbeat_into_membership_rows() {
    for (name, store, _dir) in backends().await {
        let node = |id: &str, at| NodeRecord {
            node_id: id.into(),
            address: format!("{id}.local:7233"),
            heartbeat_ms: at,
        };
        store.heartbeat_node(node("b", 1_000)).await.unwrap();
        store.heartbeat_node(node("a", 1_000)).await.unwrap();
        store.heartbeat_node(node("b", 2_000)).await.unwrap();
        let nodes = store.nodes().await.unwrap();
        assert_eq!(nodes, vec![node("a", 1_000), node("b", 2_000)], "{name}");
        assert_eq!(store.forget_nodes(1_500).await.unwrap(), 1, "{name}");
        assert_eq!(
            store.nodes().await.unwrap(),
            vec![node("b", 2_000)],
            "{name}"
        );
    }
}

/// PostgreSQL's row locks (`postgres_shards.rs`): a renewal never waits for a write in
/// flight, and a change of owner never happens under one (it reports the shard not taken).
#[tokio::test]
async fn on_postgresql_only_a_change_of_owner_waits_for_writes_in_flight() {
    let Some((store, mut client)) = postgres_store_and_client().await else {
        return;
    };
    let a = store
        .acquire_shard(0, "a", 0, 10_000, None)
        .await
        .unwrap()
        .unwrap();
    // A write in flight: its transaction checked the fence and has not committed yet.
    let write = client.transaction().await.unwrap();
    write
        .query(
            "SELECT 1 FROM shards WHERE shard_id = 0 AND range_id = $1 FOR KEY SHARE",
            &[&a.range_id],
        )
        .await
        .unwrap();
    let wait = std::time::Duration::from_secs(2);
    let renewal = tokio::time::timeout(wait, store.renew_shards("a", vec![a.fence()], 20_000));
    assert_eq!(renewal.await.expect("not blocked").unwrap(), vec![0]);
    let taking = store.acquire_shard(0, "b", 30_000, 40_000, None);
    let taken = tokio::time::timeout(wait, taking)
        .await
        .expect("not blocked");
    assert_eq!(taken.unwrap(), None, "not under a write in flight");
    write.commit().await.unwrap();
    let b = store
        .acquire_shard(0, "b", 30_000, 40_000, None)
        .await
        .unwrap();
    assert_eq!(b.map(|l| l.range_id), Some(a.range_id + 1));
}

/// Three run ids whose workflow ids (`timer_write`'s "wf-{run id}") lie in three different
/// shards of `count`, with their shards.
fn runs_in_distinct_shards(count: i32) -> Vec<(String, i32)> {
    let mut runs: Vec<(String, i32)> = Vec::new();
    for i in 0.. {
        let run_id = format!("r{i}");
        let shard = crate::shards::shard_of("default", &format!("wf-{run_id}"), count);
        if runs.iter().all(|(_, taken)| *taken != shard) {
            runs.push((run_id, shard));
        }
        if runs.len() == 3 {
            break;
        }
    }
    runs
}

#[tokio::test]
async fn open_runs_and_wake_ups_are_read_by_shard() {
    for (name, store, _dir) in backends().await {
        let runs = runs_in_distinct_shards(8);
        let [(loose, loose_shard), (a, a_shard), (b, b_shard)] = &runs[..] else {
            unreachable!("three runs");
        };
        // Written before the database had a cluster: no fence, so no shard until a node joins.
        store
            .write(vec![super::timer_write(loose, 1, 3_000, true)])
            .await
            .unwrap();
        assert_eq!(store.shard_count(8).await.unwrap(), 8, "{name}");
        for (run_id, shard) in [(a, a_shard), (b, b_shard)] {
            let lease = store.acquire_shard(*shard, "n", 0, 10_000, None).await;
            let mut write = super::timer_write(run_id, 1, 2_000, true);
            write.fence = Some(lease.unwrap().unwrap().fence());
            write.shard = Some(*shard);
            store.write(vec![write]).await.unwrap();
        }
        let open = |shards: Option<Vec<i32>>| {
            let store = &store;
            async move {
                let page = store.open_executions(shards.as_deref(), "", 10).await;
                let mut ids: Vec<String> = page.unwrap().into_iter().map(|e| e.run_id).collect();
                ids.sort();
                ids
            }
        };
        let sorted = |ids: &[&String]| {
            let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(open(Some(vec![*a_shard])).await, sorted(&[a]), "{name}");
        assert_eq!(
            open(Some(vec![*loose_shard, *b_shard])).await,
            sorted(&[loose, b]),
            "{name}: a run written without a fence was given its shard"
        );
        assert!(open(Some(vec![])).await.is_empty(), "{name}");
        assert_eq!(open(None).await, sorted(&[loose, a, b]), "{name}");
        let wakeups = store
            .wakeups(Some(&[*loose_shard, *a_shard]), i64::MIN, i64::MAX, 10)
            .await
            .unwrap();
        assert_eq!(
            wakeups,
            vec![(2_000, a.clone()), (3_000, loose.clone())],
            "{name}"
        );
        let none = store.wakeups(Some(&[]), i64::MIN, i64::MAX, 10).await;
        assert!(none.unwrap().is_empty(), "{name}");
    }
}

/// A child created in its parent's write, of another shard than the parent's: the parent's
/// fence guards the write, and the child is read with its own shard's runs.
#[tokio::test]
async fn a_run_written_under_another_shards_fence_is_read_by_its_own_shard() {
    for (name, store, _dir) in backends().await {
        let runs = runs_in_distinct_shards(8);
        let [(parent, parent_shard), (child, child_shard)] = &runs[..2] else {
            unreachable!("two runs");
        };
        assert_eq!(store.shard_count(8).await.unwrap(), 8, "{name}");
        let lease = store
            .acquire_shard(*parent_shard, "n", 0, 10_000, None)
            .await;
        let fence = lease.unwrap().unwrap().fence();
        let writes = [(parent, parent_shard), (child, child_shard)].map(|(run_id, shard)| {
            let mut write = super::timer_write(run_id, 1, 2_000, true);
            write.fence = Some(fence);
            write.shard = Some(*shard);
            write
        });
        store.write(writes.to_vec()).await.unwrap();
        let page = store.open_executions(Some(&[*child_shard]), "", 10).await;
        let ids: Vec<String> = page.unwrap().into_iter().map(|e| e.run_id).collect();
        assert_eq!(ids, vec![child.clone()], "{name}");
        let wakeups = store
            .wakeups(Some(&[*child_shard]), i64::MIN, i64::MAX, 10)
            .await;
        assert_eq!(wakeups.unwrap(), vec![(2_000, child.clone())], "{name}");
    }
}

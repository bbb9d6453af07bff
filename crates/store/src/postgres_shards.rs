//! The PostgreSQL backend's shard leases and membership rows (the contract is in
//! `shards.rs`). Lease changes are single statements on the read connection, outside the
//! group-commit queue; a run write checks its fence with `FOR SHARE`, so a node taking the
//! shard (an `UPDATE` of the same row) waits for writes in flight and every later write of
//! the old owner sees the new `range_id`.

use tokio_postgres::{Client, Statement};

use crate::{NodeRecord, ShardFence, ShardLease, StoreResult};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shards (
    shard_id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    range_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
";

/// The writer's fence check: one row when the write's lease is still the shard's.
pub(crate) async fn prepare_fence_check(client: &Client) -> StoreResult<Statement> {
    Ok(client
        .prepare("SELECT 1 FROM shards WHERE shard_id = $1 AND range_id = $2 FOR SHARE")
        .await?)
}

pub(crate) async fn shard_count(client: &Client, proposed: i32) -> StoreResult<i32> {
    client
        .execute(
            "INSERT INTO settings (name, value) VALUES ('shard_count', $1)
             ON CONFLICT DO NOTHING",
            &[&i64::from(proposed)],
        )
        .await?;
    let row = client
        .query_one("SELECT value FROM settings WHERE name = 'shard_count'", &[])
        .await?;
    let count: i64 = row.get(0);
    i32::try_from(count)
        .map_err(|_| crate::StoreError::Corrupt(format!("stored shard count {count}")))
}

pub(crate) async fn heartbeat_node(client: &Client, node: &NodeRecord) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO nodes (node_id, address, heartbeat_ms) VALUES ($1, $2, $3)
             ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address,
                 heartbeat_ms = EXCLUDED.heartbeat_ms",
            &[&node.node_id, &node.address, &node.heartbeat_ms],
        )
        .await?;
    Ok(())
}

pub(crate) async fn nodes(client: &Client) -> StoreResult<Vec<NodeRecord>> {
    let rows = client
        .query(
            "SELECT node_id, address, heartbeat_ms FROM nodes ORDER BY node_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| NodeRecord {
            node_id: row.get(0),
            address: row.get(1),
            heartbeat_ms: row.get(2),
        })
        .collect())
}

pub(crate) async fn forget_nodes(client: &Client, silent_since_ms: i64) -> StoreResult<u64> {
    Ok(client
        .execute(
            "DELETE FROM nodes WHERE heartbeat_ms < $1",
            &[&silent_since_ms],
        )
        .await?)
}

pub(crate) async fn acquire_shard(
    client: &Client,
    shard_id: i32,
    owner: &str,
    now_ms: i64,
    lease_until_ms: i64,
    predecessor: Option<&str>,
) -> StoreResult<Option<ShardLease>> {
    let row = client
        .query_opt(
            "INSERT INTO shards AS s (shard_id, owner, lease_until_ms, range_id)
             VALUES ($1, $2, $4, 1)
             ON CONFLICT (shard_id) DO UPDATE SET owner = EXCLUDED.owner,
                 lease_until_ms = EXCLUDED.lease_until_ms,
                 range_id = s.range_id + CASE WHEN s.owner = EXCLUDED.owner THEN 0 ELSE 1 END
             WHERE s.owner = EXCLUDED.owner OR s.lease_until_ms <= $3 OR s.owner = $5
             RETURNING range_id",
            &[&shard_id, &owner, &now_ms, &lease_until_ms, &predecessor],
        )
        .await?;
    Ok(row.map(|row| ShardLease {
        shard_id,
        owner: owner.to_string(),
        lease_until_ms,
        range_id: row.get(0),
    }))
}

pub(crate) async fn renew_shards(
    client: &Client,
    owner: &str,
    held: &[ShardFence],
    lease_until_ms: i64,
) -> StoreResult<Vec<i32>> {
    let shard_ids: Vec<i32> = held.iter().map(|fence| fence.shard_id).collect();
    let range_ids: Vec<i64> = held.iter().map(|fence| fence.range_id).collect();
    let rows = client
        .query(
            "UPDATE shards s SET lease_until_ms = $4
             FROM UNNEST($1::int[], $2::bigint[]) AS held(shard_id, range_id)
             WHERE s.shard_id = held.shard_id AND s.range_id = held.range_id AND s.owner = $3
             RETURNING s.shard_id",
            &[&shard_ids, &range_ids, &owner, &lease_until_ms],
        )
        .await?;
    let mut renewed: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    renewed.sort_unstable();
    Ok(renewed)
}

pub(crate) async fn release_shard(
    client: &Client,
    owner: &str,
    held: ShardFence,
) -> StoreResult<()> {
    client
        .execute(
            "UPDATE shards SET lease_until_ms = 0
             WHERE shard_id = $1 AND range_id = $2 AND owner = $3",
            &[&held.shard_id, &held.range_id, &owner],
        )
        .await?;
    Ok(())
}

pub(crate) async fn shard_leases(client: &Client) -> StoreResult<Vec<ShardLease>> {
    let rows = client
        .query(
            "SELECT shard_id, owner, lease_until_ms, range_id FROM shards ORDER BY shard_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| ShardLease {
            shard_id: row.get(0),
            owner: row.get(1),
            lease_until_ms: row.get(2),
            range_id: row.get(3),
        })
        .collect())
}

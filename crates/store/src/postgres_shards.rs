//! The PostgreSQL backend's shard leases and membership rows (the contract is in
//! `shards.rs`). Lease changes are statements on the read connection, outside the
//! group-commit queue.
//!
//! The row locks are chosen so that only a change of owner waits for writes: a run write
//! checks its fence with `FOR KEY SHARE`, which a plain `UPDATE` of the row (a renewal) does
//! not conflict with, while taking a shard first locks its row `FOR UPDATE`, which waits for
//! every write in flight that checked the old `range_id`; every later write sees the new one.
//! (With `FOR SHARE` a renewal would queue behind writes and writes behind the renewal, and a
//! group of writes holding some shard rows could deadlock with a renewal holding others.)
//! Taking a shard never waits: while a write of the old owner is in flight it reports the
//! shard as not taken (`NOWAIT`), and the lease loop tries again on its next pass. A node that
//! stalls in the middle of a write keeps its locks until the server ends its transaction,
//! which [`WRITER_SESSION_SETTINGS`] bounds.

use tokio_postgres::error::SqlState;

use tokio_postgres::{Client, Statement};

use crate::shards::shard_of;
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
-- Each run's shard (`shards::shard_of`), as its first write named it; NULL for a run written
-- without one (a database used by a single node before it became a cluster), filled in when
-- a node joins ([`shard_count`]).
ALTER TABLE executions ADD COLUMN IF NOT EXISTS shard INTEGER;
CREATE INDEX IF NOT EXISTS executions_unsharded ON executions(run_id) WHERE shard IS NULL;
";

/// The writer connection's settings: a transaction left open this long (its node stalled
/// between statements and commit) is ended by the server, releasing the fence locks that
/// would keep another node from taking the shard.
pub(crate) const WRITER_SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = '5s'";

/// The writer's fence check: one row when the write's lease is still the shard's.
pub(crate) async fn prepare_fence_check(client: &Client) -> StoreResult<Statement> {
    Ok(client
        .prepare("SELECT 1 FROM shards WHERE shard_id = $1 AND range_id = $2 FOR KEY SHARE")
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
    let count = i32::try_from(count)
        .map_err(|_| crate::StoreError::Corrupt(format!("stored shard count {count}")))?;
    fill_shards(client, count).await?;
    Ok(count)
}

/// Gives the runs written without a fence their shard, a page at a time.
async fn fill_shards(client: &Client, count: i32) -> StoreResult<()> {
    loop {
        let rows = client
            .query(
                "SELECT run_id, namespace, workflow_id FROM executions WHERE shard IS NULL
                 ORDER BY run_id LIMIT 1000",
                &[],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let run_ids: Vec<&str> = rows.iter().map(|row| row.get(0)).collect();
        let shards: Vec<i32> = rows
            .iter()
            .map(|row| shard_of(row.get(1), row.get(2), count))
            .collect();
        client
            .execute(
                "UPDATE executions AS e SET shard = u.shard
                 FROM UNNEST($1::text[], $2::int[]) AS u(run_id, shard)
                 WHERE e.run_id = u.run_id",
                &[&run_ids, &shards],
            )
            .await?;
    }
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
    // A shard never taken gets a row first (owner '', range 0), so that taking it is always
    // the locking update below.
    client
        .execute(
            "INSERT INTO shards (shard_id, owner, lease_until_ms, range_id) VALUES ($1, '', 0, 0)
             ON CONFLICT DO NOTHING",
            &[&shard_id],
        )
        .await?;
    let taken = client
        .query_opt(
            "UPDATE shards s SET owner = $2, lease_until_ms = $4,
                 range_id = s.range_id + CASE WHEN s.owner = $2 THEN 0 ELSE 1 END
             FROM (SELECT shard_id FROM shards WHERE shard_id = $1 FOR UPDATE NOWAIT) AS locked
             WHERE s.shard_id = locked.shard_id
                 AND (s.owner = $2 OR s.lease_until_ms <= $3 OR s.owner = $5)
             RETURNING s.range_id",
            &[&shard_id, &owner, &now_ms, &lease_until_ms, &predecessor],
        )
        .await;
    let row = match taken {
        // A write of the current owner is in flight: not taken this time.
        Err(error) if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => return Ok(None),
        other => other?,
    };
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

//! The SQLite backend's shard leases and membership rows (the contract is in `shards.rs`).
//! A SQLite file has one writing process, so these matter little here; they keep one contract
//! for every backend. Each runs on a read connection, outside the group-commit queue.

use rusqlite::{Connection, OptionalExtension, params};

use crate::shards::shard_of;
use crate::{NodeRecord, ShardFence, ShardLease, StoreResult};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shards (
    shard_id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    range_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);
";

/// Adds the shard column to a database written before it existed (see the PostgreSQL
/// backend: runs written without a fence have none until [`shard_count`] fills it in).
///
/// Unlike PostgreSQL's, the column has no index of the runs without a shard: a SQLite file
/// never serves a cluster, so every run is written without one and the index was a page
/// written with every new run for [`fill_shards`], which only the conformance suite calls
/// here (and which scans instead).
pub(crate) fn add_shard_column(conn: &Connection) -> StoreResult<()> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('executions') WHERE name = 'shard'")?
        .exists([])?;
    if !has_column {
        conn.execute_batch("ALTER TABLE executions ADD COLUMN shard INTEGER")?;
    }
    conn.execute_batch("DROP INDEX IF EXISTS executions_unsharded")?;
    Ok(())
}

pub(crate) fn shard_count(conn: &Connection, proposed: i32) -> StoreResult<i32> {
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('shard_count', ?1) ON CONFLICT DO NOTHING",
        params![proposed],
    )?;
    let count = conn.query_row(
        "SELECT value FROM settings WHERE name = 'shard_count'",
        [],
        |row| row.get(0),
    )?;
    fill_shards(conn, count)?;
    Ok(count)
}

/// Gives the runs written without a fence their shard.
fn fill_shards(conn: &Connection, count: i32) -> StoreResult<()> {
    let unsharded = conn
        .prepare("SELECT run_id, namespace, workflow_id FROM executions WHERE shard IS NULL")?
        .query_map([], |row| {
            let (namespace, workflow_id): (String, String) = (row.get(1)?, row.get(2)?);
            Ok((
                row.get::<_, String>(0)?,
                shard_of(&namespace, &workflow_id, count),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = conn.prepare("UPDATE executions SET shard = ?2 WHERE run_id = ?1")?;
    for (run_id, shard) in unsharded {
        update.execute(params![run_id, shard])?;
    }
    Ok(())
}

/// The SQL condition that a run is in one of `shards` (`TRUE` for every shard): the ids are
/// integers, written into the statement.
pub(crate) fn shard_condition(shards: Option<&[i32]>) -> String {
    match shards {
        None => "TRUE".into(),
        Some(ids) => {
            let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
            format!("shard IN ({})", ids.join(", "))
        }
    }
}

pub(crate) fn heartbeat_node(conn: &Connection, node: &NodeRecord) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO nodes (node_id, address, heartbeat_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(node_id) DO UPDATE SET address = excluded.address,
             heartbeat_ms = excluded.heartbeat_ms",
        params![node.node_id, node.address, node.heartbeat_ms],
    )?;
    Ok(())
}

pub(crate) fn nodes(conn: &Connection) -> StoreResult<Vec<NodeRecord>> {
    let mut query =
        conn.prepare("SELECT node_id, address, heartbeat_ms FROM nodes ORDER BY node_id")?;
    let rows = query.query_map([], |row| {
        Ok(NodeRecord {
            node_id: row.get(0)?,
            address: row.get(1)?,
            heartbeat_ms: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn forget_nodes(conn: &Connection, silent_since_ms: i64) -> StoreResult<u64> {
    let deleted = conn.execute(
        "DELETE FROM nodes WHERE heartbeat_ms < ?1",
        params![silent_since_ms],
    )?;
    Ok(deleted as u64)
}

pub(crate) fn acquire_shard(
    conn: &Connection,
    shard_id: i32,
    owner: &str,
    now_ms: i64,
    lease_until_ms: i64,
    predecessor: Option<&str>,
) -> StoreResult<Option<ShardLease>> {
    let range_id: Option<i64> = conn
        .query_row(
            "INSERT INTO shards (shard_id, owner, lease_until_ms, range_id) VALUES (?1, ?2, ?4, 1)
             ON CONFLICT(shard_id) DO UPDATE SET owner = excluded.owner,
                 lease_until_ms = excluded.lease_until_ms,
                 range_id = shards.range_id + (shards.owner != excluded.owner)
             WHERE shards.owner = excluded.owner OR shards.lease_until_ms <= ?3
                 OR shards.owner = ?5
             RETURNING range_id",
            params![shard_id, owner, now_ms, lease_until_ms, predecessor],
            |row| row.get(0),
        )
        .optional()?;
    Ok(range_id.map(|range_id| ShardLease {
        shard_id,
        owner: owner.to_string(),
        lease_until_ms,
        range_id,
    }))
}

pub(crate) fn renew_shards(
    conn: &Connection,
    owner: &str,
    held: &[ShardFence],
    lease_until_ms: i64,
) -> StoreResult<Vec<i32>> {
    let mut renew = conn.prepare_cached(
        "UPDATE shards SET lease_until_ms = ?4
         WHERE shard_id = ?1 AND range_id = ?2 AND owner = ?3",
    )?;
    let mut renewed = Vec::with_capacity(held.len());
    for fence in held {
        if renew.execute(params![
            fence.shard_id,
            fence.range_id,
            owner,
            lease_until_ms
        ])? == 1
        {
            renewed.push(fence.shard_id);
        }
    }
    renewed.sort_unstable();
    Ok(renewed)
}

pub(crate) fn release_shard(conn: &Connection, owner: &str, held: ShardFence) -> StoreResult<()> {
    conn.execute(
        "UPDATE shards SET lease_until_ms = 0
         WHERE shard_id = ?1 AND range_id = ?2 AND owner = ?3",
        params![held.shard_id, held.range_id, owner],
    )?;
    Ok(())
}

pub(crate) fn shard_leases(conn: &Connection) -> StoreResult<Vec<ShardLease>> {
    let mut query = conn.prepare(
        "SELECT shard_id, owner, lease_until_ms, range_id FROM shards ORDER BY shard_id",
    )?;
    let rows = query.query_map([], |row| {
        Ok(ShardLease {
            shard_id: row.get(0)?,
            owner: row.get(1)?,
            lease_until_ms: row.get(2)?,
            range_id: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// True when the write's fence is still its shard's lease (always, for a write without one).
pub(crate) fn fence_holds(conn: &Connection, fence: Option<ShardFence>) -> StoreResult<bool> {
    let Some(fence) = fence else {
        return Ok(true);
    };
    let mut query =
        conn.prepare_cached("SELECT 1 FROM shards WHERE shard_id = ?1 AND range_id = ?2")?;
    Ok(query.exists(params![fence.shard_id, fence.range_id])?)
}

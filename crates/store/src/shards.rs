//! Shard ownership: what lets several Temper nodes share one database without two of them
//! ever writing the same run.
//!
//! Runs are partitioned into a fixed number of shards (chosen at the cluster's first start and
//! stored; see [`crate::Store::shard_count`]). A node serves a shard while it holds the shard's
//! *lease*: a row naming the owner, the instant the lease runs out and a `range_id` that grows
//! by one whenever the shard changes hands. Every run write of a node carries the
//! [`ShardFence`] it holds and commits only if the row still has that `range_id`, checked in the
//! write's own transaction under a row lock that a taking node's update must wait for. So a
//! node that lost its lease (paused, partitioned, too slow to renew) can never commit again,
//! whatever its clock says: safety rests on the `range_id`, and lease times only decide when a
//! shard may be taken (they compare the nodes' wall clocks, which must roughly agree). Nodes
//! also heartbeat a membership row with the address other nodes reach them at.

/// The lease a write must still hold to commit: the shard and the `range_id` its owner took
/// it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardFence {
    pub shard_id: i32,
    pub range_id: i64,
}

/// A shard's lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    pub shard_id: i32,
    /// The owning node's id (empty: never taken).
    pub owner: String,
    /// When the lease runs out, in ms since the epoch (0: given up).
    pub lease_until_ms: i64,
    pub range_id: i64,
}

impl ShardLease {
    /// The fence a write of this lease's owner carries.
    pub fn fence(&self) -> ShardFence {
        ShardFence {
            shard_id: self.shard_id,
            range_id: self.range_id,
        }
    }
}

/// A node's membership row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Unique per process: a restarted node is a new member.
    pub node_id: String,
    /// The `host:port` other nodes and `temper cluster status` reach it at.
    pub address: String,
    /// When it last said it was alive, in ms since the epoch.
    pub heartbeat_ms: i64,
}

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
//!
//! A run's shard is [`shard_of`] its (namespace, workflow id); the store keeps it beside the
//! run (as the run's first write names it), so that a node reads the open runs
//! and wake-ups of its own shards only.

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

/// The shard of (namespace, workflow id) among `count`: a 32-bit farmhash fingerprint of both,
/// so every node computes the same.
pub fn shard_of(namespace: &str, workflow_id: &str, count: i32) -> i32 {
    // Every write computes this: the key is laid out on the stack (Temporal's limits, 255
    // bytes of namespace and 1,000 of workflow id, fit), on the heap only beyond.
    let length = namespace.len() + 1 + workflow_id.len();
    let mut on_stack = [0u8; SHARD_KEY_ON_STACK];
    let mut on_heap = Vec::new();
    let key = if length <= on_stack.len() {
        &mut on_stack[..length]
    } else {
        on_heap.resize(length, 0);
        &mut on_heap[..]
    };
    key[..namespace.len()].copy_from_slice(namespace.as_bytes());
    key[namespace.len() + 1..].copy_from_slice(workflow_id.as_bytes());
    let hash = farmhash::fingerprint32(key);
    (hash % count.max(1) as u32) as i32
}

/// The longest (namespace, workflow id) key [`shard_of`] hashes without allocating.
const SHARD_KEY_ON_STACK: usize = 1_280;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_spread_over_every_shard_and_keep_theirs() {
        let shards: std::collections::HashSet<i32> = (0..2_000)
            .map(|i| shard_of("default", &format!("wf-{i}"), 16))
            .collect();
        assert_eq!(shards.len(), 16);
        assert_eq!(shard_of("ns", "wf", 64), shard_of("ns", "wf", 64));
        let long_id = "x".repeat(SHARD_KEY_ON_STACK);
        assert_eq!(
            shard_of("ns", &long_id, 1 << 20),
            (farmhash::fingerprint32(format!("ns\u{0}{long_id}").as_bytes()) % (1 << 20)) as i32,
            "a key too long for the stack hashes the same bytes"
        );
        assert_eq!(
            shard_of("ns", "wf", 1 << 20),
            (farmhash::fingerprint32(b"ns\0wf") % (1 << 20)) as i32
        );
        assert_ne!(
            shard_of("a", "bc", 1 << 20),
            shard_of("ab", "c", 1 << 20),
            "namespace and id are kept apart"
        );
    }
}

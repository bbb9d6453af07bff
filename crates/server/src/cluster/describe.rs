//! `DescribeCluster`, Temper's own `ClusterService` (`crates/api/proto/temper/cluster/v1`):
//! the membership rows and shard leases as the answering node reads them from the store.
//! Served on every node's gRPC port beside Temporal's services; `temper cluster status`
//! prints it.

use std::sync::Arc;

use temper_api::cluster::cluster_service_server::ClusterService;
use temper_api::cluster::{
    ClusterNode, DescribeClusterRequest, DescribeClusterResponse, ShardLease,
};
use temper_store::Store;
use tonic::{Request, Response, Status};

use super::{Shards, now_ms};
use crate::errors;

pub struct DescribeCluster {
    store: Arc<dyn Store>,
    /// This node's shards; `None` for a server on SQLite (not a cluster).
    shards: Option<Arc<Shards>>,
}

impl DescribeCluster {
    pub fn new(store: Arc<dyn Store>, shards: Option<Arc<Shards>>) -> Self {
        DescribeCluster { store, shards }
    }
}

#[tonic::async_trait]
impl ClusterService for DescribeCluster {
    async fn describe_cluster(
        &self,
        _request: Request<DescribeClusterRequest>,
    ) -> Result<Response<DescribeClusterResponse>, Status> {
        let Some(shards) = &self.shards else {
            return Ok(Response::new(DescribeClusterResponse {
                now_ms: now_ms(),
                ..Default::default()
            }));
        };
        let nodes = self.store.nodes().await.map_err(errors::storage)?;
        let leases = self.store.shard_leases().await.map_err(errors::storage)?;
        Ok(Response::new(DescribeClusterResponse {
            clustered: true,
            node_id: shards.node_id.clone(),
            shard_count: shards.count,
            nodes: nodes
                .into_iter()
                .map(|n| ClusterNode {
                    node_id: n.node_id,
                    address: n.address,
                    heartbeat_ms: n.heartbeat_ms,
                })
                .collect(),
            shards: leases
                .into_iter()
                .map(|l| ShardLease {
                    shard_id: l.shard_id,
                    owner: l.owner,
                    lease_until_ms: l.lease_until_ms,
                    range_id: l.range_id,
                })
                .collect(),
            now_ms: now_ms(),
        }))
    }
}

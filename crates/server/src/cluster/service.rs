//! Temper's own `ClusterService` (`crates/api/proto/temper/cluster/v1`): `DescribeCluster`,
//! the membership rows and shard leases as the answering node reads them from the store
//! (`temper cluster status` prints it), and the calls between the nodes of a spread cluster
//! (`tasks.rs`: tasks, signals and cancels, children, runs created across shards), which this node's [`PeerHost`] answers. Served on every node's gRPC
//! port beside Temporal's services.

use std::sync::Arc;

use temper_api::cluster::cluster_service_server::ClusterService;
use temper_api::cluster::{
    AdoptRunRequest, AdoptRunResponse, ApplyParentClosePolicyRequest,
    ApplyParentClosePolicyResponse, ClusterNode, DeliverExternalRequest, DeliverExternalResponse,
    DeliverNexusCallbackRequest, DeliverNexusCallbackResponse, DescribeClusterRequest,
    DescribeClusterResponse, OfferTaskRequest, OfferTaskResponse, RefreshRequest, RefreshResponse,
    ShardLease, StartTaskRequest, StartTaskResponse, SyncChildrenRequest, SyncChildrenResponse,
};
use temper_store::Store;
use tonic::{Request, Response, Status};

use super::{PeerHost, Shards, now_ms};
use crate::errors;

pub struct ClusterRpcs {
    store: Arc<dyn Store>,
    /// This node's shards; `None` for a server on SQLite (not a cluster).
    shards: Option<Arc<Shards>>,
    /// What answers the calls between nodes: a serving node of a spread cluster's services.
    peer_host: Option<Arc<dyn PeerHost>>,
}

impl ClusterRpcs {
    pub fn new(store: Arc<dyn Store>, shards: Option<Arc<Shards>>) -> Self {
        ClusterRpcs {
            store,
            shards,
            peer_host: None,
        }
    }

    /// The same service answering the calls between the nodes of a spread cluster with
    /// `peer_host`.
    pub fn with_peer_host(mut self, peer_host: Arc<dyn PeerHost>) -> Self {
        self.peer_host = Some(peer_host);
        self
    }

    fn peer_host(&self) -> Result<&Arc<dyn PeerHost>, Status> {
        self.peer_host.as_ref().ok_or_else(|| {
            Status::unavailable("this node does not serve the calls of a spread cluster's nodes")
        })
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterRpcs {
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

    async fn offer_task(
        &self,
        request: Request<OfferTaskRequest>,
    ) -> Result<Response<OfferTaskResponse>, Status> {
        let task = request
            .into_inner()
            .task
            .ok_or_else(|| errors::invalid("no task"))?;
        let accepted = self.peer_host()?.offer(task)?;
        Ok(Response::new(OfferTaskResponse { accepted }))
    }

    async fn start_task(
        &self,
        request: Request<StartTaskRequest>,
    ) -> Result<Response<StartTaskResponse>, Status> {
        let request = request.into_inner();
        let task = request.task.ok_or_else(|| errors::invalid("no task"))?;
        let response = self.peer_host()?.start(task, &request.identity).await?;
        Ok(Response::new(StartTaskResponse { response }))
    }

    async fn deliver_external(
        &self,
        request: Request<DeliverExternalRequest>,
    ) -> Result<Response<DeliverExternalResponse>, Status> {
        let delivered = self
            .peer_host()?
            .deliver_external(request.into_inner())
            .await?;
        Ok(Response::new(delivered))
    }

    async fn sync_children(
        &self,
        request: Request<SyncChildrenRequest>,
    ) -> Result<Response<SyncChildrenResponse>, Status> {
        self.peer_host()?
            .sync_children(request.into_inner())
            .await?;
        Ok(Response::new(SyncChildrenResponse {}))
    }

    async fn apply_parent_close_policy(
        &self,
        request: Request<ApplyParentClosePolicyRequest>,
    ) -> Result<Response<ApplyParentClosePolicyResponse>, Status> {
        let peer_host = self.peer_host()?;
        peer_host
            .apply_parent_close_policy(request.into_inner())
            .await?;
        Ok(Response::new(ApplyParentClosePolicyResponse {}))
    }

    async fn adopt_run(
        &self,
        request: Request<AdoptRunRequest>,
    ) -> Result<Response<AdoptRunResponse>, Status> {
        self.peer_host()?.adopt_run(request.into_inner()).await?;
        Ok(Response::new(AdoptRunResponse {}))
    }

    async fn deliver_nexus_callback(
        &self,
        request: Request<DeliverNexusCallbackRequest>,
    ) -> Result<Response<DeliverNexusCallbackResponse>, Status> {
        self.peer_host()?
            .deliver_nexus_callback(request.into_inner())
            .await?;
        Ok(Response::new(DeliverNexusCallbackResponse {}))
    }

    async fn refresh(
        &self,
        _request: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        self.peer_host()?.refresh().await?;
        Ok(Response::new(RefreshResponse {}))
    }
}

//! How the nodes of a spread cluster know each other's calls when clients need a token.
//!
//! The calls between nodes (`ClusterService`, other than `DescribeCluster`), and the
//! WorkflowService calls a node makes for schedules and batches (`owner_calls.rs`), act for
//! the cluster, not for a client, so they carry no client's token. Instead the first node creates
//! a random secret in the shared database (a record of kind `cluster_secret`), every node reads
//! it when it joins, and each call between nodes carries it as `temper-cluster-secret`
//! metadata. A node with authorization admits a call with it as the cluster's, and
//! `ClusterService` calls only with it; the calls clients
//! make are forwarded with the client's own token and authorized again by the node that
//! serves them. Whoever can read the database can act as a node — as whoever can write it can
//! act as the server.

use temper_api::cluster::cluster_service_client::ClusterServiceClient;
use temper_store::{RecordKind, Store, StoreError, StoredRecord};
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The metadata key a call between nodes carries the secret in.
pub const SECRET_HEADER: &str = "temper-cluster-secret";

/// The record id the secret is stored under (the cluster's, no namespace).
const SECRET_ID: &str = "secret";

/// The cluster's secret: the stored one, or a new one if this node is the first.
pub async fn load_or_create(store: &dyn Store) -> Result<String, StoreError> {
    if let Some(secret) = stored(store).await? {
        return Ok(secret);
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let record = StoredRecord {
        kind: RecordKind::ClusterSecret,
        namespace: String::new(),
        id: SECRET_ID.to_string(),
        version: 1,
        state: secret.clone().into_bytes(),
    };
    match store.save_record(record, 0).await {
        Ok(()) => Ok(secret),
        // Another node created it first: theirs holds.
        Err(StoreError::AlreadyExists(_)) => stored(store)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the cluster secret vanished".into())),
        Err(error) => Err(error),
    }
}

async fn stored(store: &dyn Store) -> Result<Option<String>, StoreError> {
    let records = store.records(RecordKind::ClusterSecret).await?;
    let Some(record) = records.into_iter().find(|r| r.id == SECRET_ID) else {
        return Ok(None);
    };
    String::from_utf8(record.state)
        .map(Some)
        .map_err(|_| StoreError::Corrupt("the cluster secret is not text".into()))
}

/// A `ClusterService` client of another node, whose calls carry the cluster's secret.
pub type NodeClient = ClusterServiceClient<InterceptedService<Channel, SecretStamp>>;

/// Puts the cluster's secret on each call between nodes.
#[derive(Clone)]
pub struct SecretStamp(MetadataValue<Ascii>);

impl SecretStamp {
    /// `None` when `secret` cannot be metadata (it is generated as hex, so never).
    pub fn new(secret: &str) -> Option<SecretStamp> {
        MetadataValue::try_from(secret).ok().map(SecretStamp)
    }
}

impl tonic::service::Interceptor for SecretStamp {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert(SECRET_HEADER, self.0.clone());
        Ok(request)
    }
}

/// True for the calls only the cluster's nodes make (`path`: the gRPC path).
pub fn is_node_call(path: &str) -> bool {
    path.strip_prefix("/temper.cluster.v1.ClusterService/")
        .is_some_and(|method| method != "DescribeCluster")
}

/// True when `presented` is the cluster's secret (compared in constant time).
pub fn admits(presented: Option<&str>, secret: &str) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let (a, b) = (presented.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_itself_is_admitted() {
        assert!(admits(Some("abc"), "abc"));
        assert!(!admits(Some("abd"), "abc"));
        assert!(!admits(Some("ab"), "abc"));
        assert!(!admits(None, "abc"));
    }

    #[test]
    fn describe_cluster_is_a_clients_call() {
        assert!(is_node_call("/temper.cluster.v1.ClusterService/StartTask"));
        assert!(!is_node_call(
            "/temper.cluster.v1.ClusterService/DescribeCluster"
        ));
        assert!(!is_node_call(
            "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"
        ));
    }
}

//! `temper cluster status --address HOST:PORT`: asks a node for the cluster it belongs to
//! (Temper's `DescribeCluster`) and prints the nodes, the shards each owns and the age of
//! their heartbeats and leases. `temper cluster locate` prints which shard (and node) a
//! workflow id's runs or a task queue live in.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use temper_api::cluster::cluster_service_client::ClusterServiceClient;
use temper_api::cluster::{DescribeClusterRequest, DescribeClusterResponse};
use temper_server::tls::client::{self, ClientTlsFiles};
use tonic::transport::{Channel, Endpoint};

/// How `cluster status` reaches a node that serves TLS (as the `temporal` CLI's flags).
#[derive(clap::Args, Default)]
pub struct ClientTls {
    /// Connect over TLS, trusting the server certificates this CA (PEM) signed.
    #[arg(long)]
    tls_ca_path: Option<PathBuf>,
    /// With `--tls-ca-path`: this client's certificate chain (PEM), for mutual TLS.
    #[arg(long, requires_all = ["tls_ca_path", "tls_key_path"])]
    tls_cert_path: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert-path`.
    #[arg(long, requires = "tls_cert_path")]
    tls_key_path: Option<PathBuf>,
    /// The name the server certificate must carry (default: the address's host).
    #[arg(long, requires = "tls_ca_path")]
    tls_server_name: Option<String>,
}

/// Asks the node at `address` (with `api_key` as a bearer token when given) and prints what
/// it answered.
pub async fn print_status(
    address: &str,
    tls: &ClientTls,
    api_key: Option<&str>,
) -> Result<(), String> {
    print!("{}", render(&describe(address, tls, api_key).await?));
    Ok(())
}

/// Prints the shard of `key` in `namespace` (a workflow id, or a task queue's name: both are
/// hashed alike) and the node holding it, as the node at `address` sees them.
pub async fn print_location(
    address: &str,
    tls: &ClientTls,
    api_key: Option<&str>,
    (namespace, key): (&str, &str),
) -> Result<(), String> {
    let cluster = describe(address, tls, api_key).await?;
    if !cluster.clustered {
        return Err("this server is not in a cluster (it keeps its state in SQLite)".into());
    }
    let shard = temper_store::shards::shard_of(namespace, key, cluster.shard_count);
    let lease = cluster
        .shards
        .iter()
        .find(|lease| lease.shard_id == shard && lease.lease_until_ms > 0);
    let address_of = |owner: &str| {
        let node = cluster.nodes.iter().find(|node| node.node_id == owner);
        node.map_or_else(String::new, |node| node.address.clone())
    };
    match lease {
        Some(lease) => println!(
            "shard {shard} held by {} {}",
            lease.owner,
            address_of(&lease.owner)
        ),
        None => println!("shard {shard} held by no node at the moment"),
    }
    Ok(())
}

/// The cluster as the node at `address` describes it.
async fn describe(
    address: &str,
    tls: &ClientTls,
    api_key: Option<&str>,
) -> Result<DescribeClusterResponse, String> {
    let channel = connect(address, tls)
        .await
        .map_err(|e| format!("cannot reach {address}: {e}"))?;
    let mut request = tonic::Request::new(DescribeClusterRequest {});
    if let Some(key) = api_key {
        let bearer = format!("Bearer {key}")
            .parse()
            .map_err(|_| "the API key is not a valid header value".to_string())?;
        request.metadata_mut().insert("authorization", bearer);
    }
    let response = ClusterServiceClient::new(channel)
        .describe_cluster(request)
        .await
        .map_err(|status| format!("{address}: {}{}", status.message(), causes(&status)))?;
    Ok(response.into_inner())
}

/// A channel to `address`, over TLS when `tls` names a CA.
async fn connect(address: &str, tls: &ClientTls) -> Result<Channel, String> {
    let host_port = address.split("://").last().unwrap_or(address);
    let Some(ca) = &tls.tls_ca_path else {
        let endpoint =
            Endpoint::from_shared(format!("http://{host_port}")).map_err(|e| e.to_string())?;
        return endpoint.connect().await.map_err(|e| e.to_string());
    };
    let identity = tls
        .tls_cert_path
        .as_deref()
        .zip(tls.tls_key_path.as_deref());
    let config = client::config(&ClientTlsFiles { ca, identity })?;
    client::lazy_channel(host_port, tls.tls_server_name.as_deref(), config)
}

/// The causes under an error (a TLS failure is one of them), each after a colon.
fn causes(error: &dyn std::error::Error) -> String {
    let mut causes = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(causes, ": {cause}");
        source = cause.source();
    }
    causes
}

/// The report: a line for the cluster, then one per node.
fn render(cluster: &DescribeClusterResponse) -> String {
    if !cluster.clustered {
        return "This server is not in a cluster (it keeps its state in SQLite).\n".into();
    }
    let mut owned: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    let mut lease_ends: BTreeMap<&str, i64> = BTreeMap::new();
    for lease in cluster.shards.iter().filter(|l| l.lease_until_ms > 0) {
        owned.entry(&lease.owner).or_default().push(lease.shard_id);
        let end = lease_ends.entry(&lease.owner).or_insert(i64::MAX);
        *end = (*end).min(lease.lease_until_ms);
    }
    let plural = if cluster.nodes.len() == 1 { "" } else { "s" };
    let mut out = format!(
        "Cluster: {} node{plural}, {} shards (answered by {})\n\n",
        cluster.nodes.len(),
        cluster.shard_count,
        cluster.node_id
    );
    let _ = writeln!(
        out,
        "{:<56} {:<22} {:>10} {:>7} {:<10} LEASE ENDS",
        "NODE", "ADDRESS", "HEARTBEAT", "SHARDS", "IDS"
    );
    for node in &cluster.nodes {
        let shards = owned
            .get(node.node_id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let lease = lease_ends
            .get(node.node_id.as_str())
            .map_or("-".to_string(), |end| lease_end(end - cluster.now_ms));
        let _ = writeln!(
            out,
            "{:<56} {:<22} {:>10} {:>7} {:<10} {lease}",
            node.node_id,
            node.address,
            ago(cluster.now_ms - node.heartbeat_ms),
            shards.len(),
            ranges(shards),
        );
    }
    out
}

/// `2.5s ago`, for `ms` milliseconds in the past.
fn ago(ms: i64) -> String {
    format!("{:.1}s ago", ms as f64 / 1000.0)
}

/// `in 7.1s`, or `ended 3.0s ago` for a lease `ms` milliseconds from now.
fn lease_end(ms: i64) -> String {
    let value = ms.unsigned_abs() as f64 / 1000.0;
    if ms < 0 {
        format!("ended {value:.1}s ago")
    } else {
        format!("in {value:.1}s")
    }
}

/// Shard ids as ranges: `0-31,40`.
fn ranges(sorted: &[i32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut start = None;
    for (index, &shard) in sorted.iter().enumerate() {
        let first = *start.get_or_insert(shard);
        let ends_run = sorted.get(index + 1) != Some(&(shard + 1));
        if ends_run {
            parts.push(if first == shard {
                shard.to_string()
            } else {
                format!("{first}-{shard}")
            });
            start = None;
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_print_as_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(ranges(&[]), "");
    }
}

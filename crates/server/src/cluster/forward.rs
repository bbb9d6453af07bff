//! A standby's gRPC port: while another node serves the shards, every gRPC call a standby
//! receives is passed on to that node unchanged (the raw HTTP/2 request, so any service,
//! streaming or not, and its metadata and deadline go through) and the answer passed back. So
//! clients and workers may connect to any node of the cluster. The serving node is the one
//! the lease loop last found holding shard 0 (`leases.rs`); while none does (a takeover in
//! progress) or it cannot be reached, calls fail with `UNAVAILABLE`, which the SDKs retry;
//! one it does not answer within the call's deadline (`grpc-timeout`) fails with
//! `DEADLINE_EXCEEDED`, so a stalled serving node never holds a long poll past it.
//! A forwarded call carries the `temper-forwarded` header and is never forwarded again: two
//! standbys that each think the other serves answer `UNAVAILABLE` rather than loop. Temper's
//! own `ClusterService` is answered by the standby itself (from the store), so `temper cluster
//! status` works against any live node, even while the serving node is down. When this
//! node takes the shards, [`forward_until_active`] returns the port's listener to the real
//! server and drops the forwarding connections (their clients reconnect to it). A standby's
//! HTTP API and Web UI call the serving node's services the same way ([`http_backend`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tonic::Status;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt;

use temper_api::cluster::cluster_service_server::ClusterServiceServer;
use temper_http::GrpcService;
use temper_store::Store;

use super::{DescribeCluster, Shards};

/// The header a forwarded call carries (the forwarding node's id).
const FORWARDED: &str = "temper-forwarded";
/// The path prefix of the calls a standby answers itself.
const CLUSTER_SERVICE: &str = "/temper.cluster.v1.ClusterService/";

/// Forwards the calls of connections accepted on `listener` until this node holds every shard;
/// then drops those connections and hands the listener back.
pub async fn forward_until_active(
    listener: &TcpListener,
    forwarder: Arc<Forwarder>,
    max_header_list_bytes: u32,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = forwarder.shards.until_active() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let forwarder = forwarder.clone();
                    connections.spawn(forward_connection(stream, forwarder, max_header_list_bytes));
                }
                Err(error) => tracing::warn!(%error, "could not accept a connection to forward"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!(
        connections = connections.len(),
        "serving the shards now; forwarding connections closed"
    );
}

/// What a standby's HTTP API and Web UI call: the serving node's gRPC services, forwarded,
/// until this node serves and `local` holds its own services (then those). Their ports stay
/// open across the takeover.
pub fn http_backend(forwarder: Arc<Forwarder>, local: Arc<OnceLock<GrpcService>>) -> GrpcService {
    GrpcService::new(tower::service_fn(move |request: http::Request<Body>| {
        let (forwarder, local) = (forwarder.clone(), local.clone());
        async move {
            let answer = match local.get() {
                Some(local) => local.clone().oneshot(request).await?,
                None => forwarder.forward(request).await,
            };
            Ok::<_, Infallible>(answer)
        }
    }))
}

/// Serves one HTTP/2 connection, every call forwarded.
async fn forward_connection(stream: TcpStream, forwarder: Arc<Forwarder>, max_header_list: u32) {
    // As the real server: small unary calls must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let forwarder = forwarder.clone();
        async move { Ok::<_, Infallible>(forwarder.forward(request.map(Body::new)).await) }
    });
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .max_header_list_size(max_header_list)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(%error, "forwarding connection ended");
    }
}

/// Passes calls on to the serving node, over one channel per address.
pub struct Forwarder {
    shards: Arc<Shards>,
    channels: Mutex<HashMap<String, Channel>>,
    /// What answers `ClusterService` calls here.
    describe: ClusterServiceServer<DescribeCluster>,
}

impl Forwarder {
    pub fn new(shards: Arc<Shards>, store: Arc<dyn Store>) -> Arc<Forwarder> {
        let describe = DescribeCluster::new(store, Some(shards.clone()));
        Arc::new(Forwarder {
            shards,
            channels: Mutex::default(),
            describe: ClusterServiceServer::new(describe),
        })
    }

    async fn forward(&self, mut request: http::Request<Body>) -> http::Response<Body> {
        if request.uri().path().starts_with(CLUSTER_SERVICE) {
            let answered = self.describe.clone().oneshot(request).await;
            return answered.unwrap_or_else(|never| match never {});
        }
        if request.headers().contains_key(FORWARDED) {
            return unavailable(
                "the call was forwarded to a node that does not serve the shards either; \
                 shard ownership is changing, retry",
            );
        }
        let Some(address) = self.shards.serving_address() else {
            return unavailable("no node serves the cluster's shards at the moment; retry");
        };
        let channel = match self.channel(&address) {
            Ok(channel) => channel,
            Err(error) => {
                return unavailable(&format!("the serving node {address}: {error}"));
            }
        };
        let node = HeaderValue::from_str(self.shards.node_id())
            .unwrap_or(HeaderValue::from_static("standby"));
        request.headers_mut().insert(FORWARDED, node);
        // A stalled serving node must not hold the call past the deadline its client set.
        let deadline = deadline_of(request.headers());
        let forwarded = channel.oneshot(request);
        let answered = match deadline {
            Some(deadline) => match tokio::time::timeout(deadline, forwarded).await {
                Ok(answered) => answered,
                Err(_) => {
                    let message = format!("the serving node {address} did not answer in time");
                    return Status::deadline_exceeded(message).into_http();
                }
            },
            None => forwarded.await,
        };
        match answered {
            Ok(response) => response,
            Err(error) => unavailable(&format!(
                "the serving node {address} could not be reached: {error}"
            )),
        }
    }

    /// The (lazily connecting) channel to `address`.
    fn channel(&self, address: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{address}"))?
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// The call's deadline, from its `grpc-timeout` header (an integer and a unit, `H`, `M`, `S`,
/// `m`, `u` or `n`, per gRPC over HTTP/2); `None` when absent or malformed.
fn deadline_of(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (amount, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A gRPC `UNAVAILABLE` answer (trailers only).
fn unavailable(message: &str) -> http::Response<Body> {
    Status::unavailable(message).into_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(timeout: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "grpc-timeout",
            HeaderValue::from_str(timeout).expect("ascii"),
        );
        headers
    }

    #[test]
    fn a_forwarded_call_keeps_its_clients_deadline() {
        assert_eq!(deadline_of(&headers("70S")), Some(Duration::from_secs(70)));
        assert_eq!(deadline_of(&headers("2M")), Some(Duration::from_secs(120)));
        assert_eq!(
            deadline_of(&headers("1500m")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(deadline_of(&headers("9u")), Some(Duration::from_micros(9)));
        assert_eq!(deadline_of(&http::HeaderMap::new()), None);
        for malformed in ["", "S", "10x", "-1S", "1.5S"] {
            assert_eq!(deadline_of(&headers(malformed)), None, "{malformed:?}");
        }
    }
}

//! A standby's gRPC port: while other nodes hold the shards, every gRPC call a standby
//! receives is passed on unchanged (the raw HTTP/2 request, so any service, streaming or not,
//! and its metadata and deadline go through) to the node holding the shard of the run the
//! call names, or for a call that names none, to the owner of shard 0 (`route.rs`), and the
//! answer passed back. So clients and workers may connect to any node of the cluster. The
//! owners are those the lease loop last found (`leases.rs`); while a shard has none (a
//! takeover in progress) or its owner cannot be reached, calls fail with `UNAVAILABLE`, which
//! the SDKs retry; one the owner does not answer within the call's deadline (`grpc-timeout`)
//! fails with `DEADLINE_EXCEEDED`, so a stalled node never holds a long poll past it. While
//! one node serves every shard, every call goes to it.
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
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tonic::Status;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt;

use temper_api::cluster::cluster_service_server::ClusterServiceServer;
use temper_http::GrpcService;
use temper_store::{Store, StoreError};

use super::route::{self, Destination};
use super::{ClusterRpcs, Shards};
use crate::MAX_MESSAGE_SIZE;
use crate::tls::{self, Protocol, ReloadingTls};

/// A call for a shard with no known owner waits up to this part of a lease for one (about
/// two passes of a settling lease loop).
const OWNER_WAIT_PER_LEASE: u32 = 8;

/// The header a forwarded call carries (the forwarding node's id).
const FORWARDED: &str = "temper-forwarded";
/// The path prefix of the calls a standby answers itself.
const CLUSTER_SERVICE: &str = "/temper.cluster.v1.ClusterService/";

/// Forwards the calls of connections accepted on `listener` (over TLS with `tls`) until this
/// node holds every shard; then drops those connections and hands the listener back.
pub async fn forward_until_active(
    listener: &TcpListener,
    tls: Option<Arc<ReloadingTls>>,
    forwarder: Arc<Forwarder>,
    max_header_list_bytes: u32,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = forwarder.shards.until_active() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let (forwarder, tls) = (forwarder.clone(), tls.clone());
                    connections.spawn(async move {
                        let stream = Accepted { stream, remote, tls };
                        forward_accepted(stream, forwarder, max_header_list_bytes).await;
                    });
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

/// A connection accepted on a standby's port, and the TLS it must speak, if any.
struct Accepted {
    stream: TcpStream,
    remote: std::net::SocketAddr,
    tls: Option<Arc<ReloadingTls>>,
}

/// Serves an accepted connection (after its TLS handshake, when the port speaks TLS), every
/// call forwarded.
async fn forward_accepted(accepted: Accepted, forwarder: Arc<Forwarder>, max_header_list: u32) {
    let Accepted {
        stream,
        remote,
        tls,
    } = accepted;
    // As the real server: small unary calls must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return forward_connection(stream, forwarder, max_header_list).await;
    };
    if let Some(stream) = tls::handshake(stream, remote, &tls, Protocol::Grpc).await {
        forward_connection(stream, forwarder, max_header_list).await;
    }
}

/// Serves one HTTP/2 connection, every call forwarded.
async fn forward_connection<Io>(stream: Io, forwarder: Arc<Forwarder>, max_header_list: u32)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
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

/// Passes calls on to the nodes holding the shards, over one channel per address.
pub struct Forwarder {
    pub(super) shards: Arc<Shards>,
    channels: Mutex<HashMap<String, Channel>>,
    /// How to dial the other nodes when they serve TLS.
    client_tls: Option<Arc<rustls::ClientConfig>>,
    /// What answers `ClusterService` calls here.
    describe: ClusterServiceServer<ClusterRpcs>,
    /// What the calls this node makes to the others carry (`secret.rs`).
    stamp: super::secret::SecretStamp,
    /// The cluster's secret, which the calls of the other nodes carry.
    secret: String,
}

impl Forwarder {
    pub fn new(
        shards: Arc<Shards>,
        store: Arc<dyn Store>,
        client_tls: Option<Arc<rustls::ClientConfig>>,
        secret: String,
    ) -> Result<Arc<Forwarder>, StoreError> {
        let rpcs = ClusterRpcs::new(store, Some(shards.clone()));
        let stamp = super::secret::SecretStamp::new(&secret)
            .ok_or_else(|| StoreError::Corrupt("the cluster secret is no metadata text".into()))?;
        Ok(Arc::new(Forwarder {
            shards,
            channels: Mutex::default(),
            client_tls,
            describe: ClusterServiceServer::new(rpcs),
            stamp,
            secret,
        }))
    }

    /// The cluster's secret (`secret.rs`).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// A `ClusterService` client of the node behind `channel`.
    pub fn node_client(&self, channel: Channel) -> super::secret::NodeClient {
        temper_api::cluster::cluster_service_client::ClusterServiceClient::new(
            self.stamped(channel),
        )
    }

    /// `channel`, each call on it carrying the cluster's secret.
    pub fn stamped(
        &self,
        channel: Channel,
    ) -> tonic::service::interceptor::InterceptedService<Channel, super::secret::SecretStamp> {
        tonic::service::interceptor::InterceptedService::new(channel, self.stamp.clone())
    }

    async fn forward(&self, request: http::Request<Body>) -> http::Response<Body> {
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
        let (request, shard) = match self.shard_of_call(request).await {
            Ok(routed) => routed,
            Err(answer) => return answer,
        };
        self.forward_to_owner(request, shard).await
    }

    /// A serving node of a spread cluster: the call back when this node serves it (it names
    /// a run of a shard held here, or names none and this node coordinates; or it was
    /// forwarded here already, is for `ClusterService` or is about the node itself), else
    /// the owner's answer to it.
    pub(super) async fn here_or_forwarded(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Request<Body>, http::Response<Body>> {
        let path = request.uri().path();
        let local = path.starts_with(CLUSTER_SERVICE) || route::answered_by_every_node(path);
        // A node holding every shard (alone in its cluster) serves every call.
        if local || request.headers().contains_key(FORWARDED) || self.shards.holds_all() {
            return Ok(request);
        }
        let (request, shard) = self.shard_of_call(request).await?;
        if self.shards.holds(shard) {
            return Ok(request);
        }
        Err(self.forward_to_owner(request, shard).await)
    }

    /// Passes the call on to the owner of `shard`.
    async fn forward_to_owner(
        &self,
        mut request: http::Request<Body>,
        shard: i32,
    ) -> http::Response<Body> {
        // A shard changing hands has no known owner until the lease loop's next pass.
        let wait = self.shards.lease / OWNER_WAIT_PER_LEASE;
        let Some(address) = self.shards.await_owner(shard, wait).await else {
            return unavailable(&format!(
                "no node serves shard {shard} at the moment (its ownership is changing); retry"
            ));
        };
        let channel = match self.channel(&address) {
            Ok(channel) => channel,
            Err(error) => {
                return unavailable(&format!("the node {address}: {error}"));
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
                    let message = format!("the node {address} did not answer in time");
                    return Status::deadline_exceeded(message).into_http();
                }
            },
            None => forwarded.await,
        };
        match answered {
            Ok(response) => response,
            Err(error) => unavailable(&format!("the node {address} could not be reached: {error}")),
        }
    }

    /// The call, and the shard whose owner runs it (`route.rs`): the shard of the run or
    /// task queue it names, or shard 0 (the coordinator's). The body of a call that may name
    /// one is read whole to find out (such calls are unary).
    async fn shard_of_call(
        &self,
        request: http::Request<Body>,
    ) -> Result<(http::Request<Body>, i32), http::Response<Body>> {
        if !route::names_a_run(request.uri().path()) {
            return Ok((request, 0));
        }
        let gzip = request
            .headers()
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding == "gzip");
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_MESSAGE_SIZE).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                let message = format!("the request is larger than {MAX_MESSAGE_SIZE} bytes");
                return Err(Status::resource_exhausted(message).into_http());
            }
            Err(error) => {
                let message = format!("the request could not be read: {error}");
                return Err(Status::cancelled(message).into_http());
            }
        };
        let shard = match route::destination_of(parts.uri.path(), &body, gzip) {
            Destination::Run {
                namespace,
                workflow_id,
            } => self.shards.shard_of(&namespace, &workflow_id),
            Destination::Queue { namespace, queue } => {
                self.shards.shard_of_queue(&namespace, &queue)
            }
            Destination::Coordinator => 0,
        };
        Ok((
            http::Request::from_parts(parts, Body::new(Full::new(body))),
            shard,
        ))
    }

    /// The (lazily connecting) channel to `address`, over TLS when the nodes serve it. A new
    /// channel's arrival drops those to nodes that no longer hold a shard (nodes gone).
    pub(super) fn channel(&self, address: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        channels.retain(|known, _| self.shards.is_owner_address(known));
        let channel = match &self.client_tls {
            Some(config) => tls::client::lazy_channel(address, None, config.clone())?,
            None => Endpoint::from_shared(format!("http://{address}"))
                .map_err(|e| e.to_string())?
                .tcp_nodelay(true)
                .connect_lazy(),
        };
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

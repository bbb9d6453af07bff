//! What every request passes before its handler runs: authorization (`auth/`), the audit log
//! and the per-namespace rate limit (`rate_limits.rs`). [`GuardLayer`] wraps the gRPC services, and the
//! HTTP API and Web UI call through the same wrapped services. The bearer token is checked at
//! once; the namespace-dependent checks run as a `temper_api::request_gate` when the codec has
//! read the request's namespace. Concurrent long polls are always bounded per namespace
//! (Temporal's `frontend.namespaceCount`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::auth::{self, Authorizer};
use crate::rate_limits::{LongPollLimits, NamespaceRateLimits, PollPermit};

/// The checks a server applies.
#[derive(Clone)]
pub struct GuardLayer {
    pub authorizer: Option<Arc<dyn Authorizer>>,
    /// A spread cluster's secret: with an authorizer, the calls between nodes are admitted
    /// by it instead of a token (`cluster/secret.rs`).
    pub cluster_secret: Option<Arc<str>>,
    pub rate_limits: Option<Arc<NamespaceRateLimits>>,
    /// Concurrent long polls per namespace and API.
    pub long_polls: Arc<LongPollLimits>,
    /// Log one `temper::audit` line per mutating request.
    pub audit: bool,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: GuardLayer,
}

impl<S, B, ResBody> tower::Service<Request<B>> for GuardService<S>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let GuardLayer {
            authorizer,
            cluster_secret,
            rate_limits,
            long_polls,
            audit,
        } = self.guard.clone();
        let presented = request
            .headers()
            .get(crate::cluster::secret::SECRET_HEADER)
            .and_then(|v| v.to_str().ok());
        // Calls between nodes, and calls a node makes for the cluster (schedules, batches).
        let by_a_node =
            presented.is_some() || crate::cluster::secret::is_node_call(request.uri().path());
        if by_a_node && authorizer.is_some() {
            let admitted = cluster_secret
                .as_deref()
                .is_some_and(|secret| crate::cluster::secret::admits(presented, secret));
            if !admitted {
                let refusal = tonic::Status::unauthenticated(
                    "calls between the nodes of a cluster need the cluster's secret",
                );
                return Box::pin(async move { Ok(refusal.into_http()) });
            }
            return Box::pin(self.inner.call(request));
        }
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let authorizer_for_gate = authorizer.clone();
        let claims = match authorizer.filter(|_| !auth::is_open(&method)) {
            Some(authorizer) => {
                let authorization = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok());
                let peer = request.extensions().get::<crate::tls::PeerInfo>();
                let certificate = peer.and_then(|peer| peer.certificates.first());
                match authorizer.authenticate(authorization, certificate) {
                    Ok(claims) => Some(claims),
                    Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
                }
            }
            None => None,
        };
        let remote = remote_address(&request);
        // The long poll's place, held until its answer is ready.
        let permit: Arc<std::sync::Mutex<Option<PollPermit>>> = Arc::default();
        let held = permit.clone();
        let gate: temper_api::request_gate::Gate = Arc::new(move |facts| {
            let namespace = facts.namespace;
            let allowed = match (&authorizer_for_gate, &claims) {
                (Some(authorizer), Some(claims)) => {
                    authorizer.authorize(claims, &method, namespace)
                }
                _ => Ok(()),
            };
            if audit {
                audit_line(&method, facts, claims.as_ref(), remote, allowed.is_ok());
            }
            allowed?;
            if let Some(limits) = &rate_limits {
                limits.check(&method, namespace)?;
            }
            let place = long_polls.enter(&method, namespace)?;
            *held.lock().unwrap_or_else(|e| e.into_inner()) = place;
            Ok(())
        });
        let call = self.inner.call(request);
        Box::pin(async move {
            let answer = temper_api::request_gate::with_gate(gate, call).await;
            drop(permit);
            answer
        })
    }
}

/// Where a gRPC request came from (plain or TLS connection), when known.
fn remote_address<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
        .or_else(|| {
            extensions
                .get::<crate::tls::PeerInfo>()
                .and_then(|peer| peer.remote)
        })
}

/// One audit line for a mutating request: who (token subject), from where, which RPC on
/// which namespace and target, and whether it was allowed. Reads and long polls are not
/// logged.
fn audit_line(
    method: &str,
    facts: &temper_api::request_gate::RequestFacts<'_>,
    claims: Option<&auth::Claims>,
    remote: Option<std::net::SocketAddr>,
    allowed: bool,
) {
    if !auth::is_mutating(method) {
        return;
    }
    let (target_kind, target) = facts.target.unwrap_or_default();
    tracing::info!(
        target: "temper::audit",
        subject = claims.map_or("", |c| c.subject.as_str()),
        remote = remote.map(|r| r.to_string()).unwrap_or_default(),
        namespace = facts.namespace.unwrap_or_default(),
        rpc = method,
        target_kind,
        target,
        allowed,
        "audit"
    );
}

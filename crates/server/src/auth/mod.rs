//! Authorization: who may call which RPC in which namespace, decided from a bearer token.
//!
//! With `--auth-jwks-path`, every request must carry `authorization: Bearer <JWT>` signed by a
//! key of that JWKS file (`jwt.rs`); the token's `permissions` claim grants roles per
//! namespace, and `roles.rs` says what each RPC requires (Temporal's default authorizer, plus
//! a `worker` role that grants exactly a worker's RPCs). [`AuthLayer`] wraps every service —
//! gRPC, and the HTTP API and Web UI, which call through the same services — so one rule
//! holds everywhere. A missing or invalid token is UNAUTHENTICATED before anything runs; the
//! namespace is checked when the codec has read it from the request (`temper_api::request_gate`),
//! and a refusal is PERMISSION_DENIED in Temporal's words ("Request unauthorized."). Health
//! checks and `GetSystemInfo` need no token, as in Temporal.

mod jwt;
mod roles;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::Status;

pub use jwt::{KeySet, TokenError};
pub use roles::{Claims, Role};

/// Temporal's answer to a caller its authorizer refuses.
const UNAUTHORIZED: &str = "Request unauthorized.";

/// Verifies tokens and decides requests.
pub struct Authorizer {
    keys: KeySet,
}

impl Authorizer {
    pub fn load(jwks: &Path) -> Result<Arc<Authorizer>, String> {
        Ok(Arc::new(Authorizer {
            keys: KeySet::load(jwks)?,
        }))
    }

    /// The claims of the request's bearer token.
    fn claims(&self, authorization: Option<&str>) -> Result<Claims, Status> {
        let token = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or(value.strip_prefix("bearer "))
            })
            .ok_or_else(|| Status::unauthenticated("Request unauthenticated: no bearer token."))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.keys.verify(token.trim(), now).map_err(|error| {
            tracing::info!(%error, "refused a token");
            Status::unauthenticated(format!("Request unauthenticated: {error}."))
        })
    }
}

/// The tower layer that authorizes every request (a pass-through without an authorizer).
#[derive(Clone)]
pub struct AuthLayer {
    authorizer: Option<Arc<Authorizer>>,
}

impl AuthLayer {
    pub fn new(authorizer: Option<Arc<Authorizer>>) -> AuthLayer {
        AuthLayer { authorizer }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            authorizer: self.authorizer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    authorizer: Option<Arc<Authorizer>>,
}

impl<S, B, ResBody> tower::Service<Request<B>> for AuthService<S>
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
        let Some(authorizer) = self.authorizer.clone() else {
            return Box::pin(self.inner.call(request));
        };
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if roles::is_open(&method) {
            return Box::pin(self.inner.call(request));
        }
        let authorization = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let claims = match authorizer.claims(authorization) {
            Ok(claims) => claims,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        let gate: temper_api::request_gate::Gate = Arc::new(move |namespace| {
            if claims.allow(&method, namespace) {
                Ok(())
            } else {
                tracing::info!(subject = %claims.subject, method, ?namespace, "refused a request");
                Err(Status::permission_denied(UNAUTHORIZED))
            }
        });
        let call = self.inner.call(request);
        Box::pin(temper_api::request_gate::with_gate(gate, call))
    }
}

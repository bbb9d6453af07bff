//! Authorization: who may call which RPC in which namespace, decided from a bearer token.
//!
//! With `--auth-jwks-path`, every request must carry `authorization: Bearer <JWT>` signed by a
//! key of that JWKS file (`jwt.rs`); the token's `permissions` claim grants roles per
//! namespace, and `roles.rs` says what each RPC requires (Temporal's default authorizer, plus
//! a `worker` role that grants exactly a worker's RPCs). The request guard (`guard.rs`) applies
//! it to every service — gRPC, and the HTTP API and Web UI, which call through the same
//! services — so one rule holds everywhere. A missing or invalid token is UNAUTHENTICATED
//! before anything runs; the namespace is checked when the codec has read it from the request
//! (`temper_api::request_gate`), and a refusal is PERMISSION_DENIED in Temporal's words
//! ("Request unauthorized."). Health checks and `GetSystemInfo` need no token, as in Temporal.

mod jwt;
mod roles;

use std::path::Path;
use std::sync::Arc;

use tonic::Status;

pub use jwt::{KeySet, TokenError};
pub use roles::{Claims, Role};

/// Temporal's answer to a caller its authorizer refuses.
const UNAUTHORIZED: &str = "Request unauthorized.";

/// Whether `method` needs no token (health checks, `GetSystemInfo`).
pub fn is_open(method: &str) -> bool {
    roles::is_open(method)
}

/// Whether `method` changes something (not a read, not a worker's long poll).
pub fn is_mutating(method: &str) -> bool {
    let needed = roles::requirement(method);
    needed.role != Role::READER
        && !matches!(
            method,
            "PollWorkflowTaskQueue" | "PollActivityTaskQueue" | "PollNexusTaskQueue"
        )
}

/// Refuses `method` on `namespace` unless `claims` allow it.
pub fn check(claims: &Claims, method: &str, namespace: Option<&str>) -> Result<(), Status> {
    if claims.allow(method, namespace) {
        return Ok(());
    }
    tracing::info!(subject = %claims.subject, method, ?namespace, "refused a request");
    Err(Status::permission_denied(UNAUTHORIZED))
}

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
    pub fn claims(&self, authorization: Option<&str>) -> Result<Claims, Status> {
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

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

mod certificates;
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

/// Decides who a caller is and what it may do. The server takes any implementation
/// (`ServerConfig::authorizer`); [`JwtAuthorizer`] is Temper's, following Temporal's JWT
/// conventions.
pub trait Authorizer: Send + Sync {
    /// Who is calling, from its `authorization` header and (under mutual TLS) its verified
    /// certificate; UNAUTHENTICATED when it cannot be told.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        certificate: Option<&rustls_pki_types::CertificateDer<'_>>,
    ) -> Result<Claims, Status>;

    /// Whether `claims` may call `method` on `namespace` (`None`: the request names none);
    /// by default, Temporal's roles (see `roles.rs`).
    fn authorize(
        &self,
        claims: &Claims,
        method: &str,
        namespace: Option<&str>,
    ) -> Result<(), Status> {
        check(claims, method, namespace)
    }

    /// True when a verified client certificate alone may grant roles. A node of a cluster
    /// then does not pass calls on to another under its own certificate (the receiving node
    /// would judge the node, not the caller). Unknown for an authorizer that does not say.
    fn grants_roles_by_certificate(&self) -> bool {
        true
    }
}

/// Temper's authorizer: JWT bearer tokens verified against a JWKS file, and/or roles by
/// client certificate common name.
pub struct JwtAuthorizer {
    keys: Option<KeySet>,
    certificate_roles: Option<certificates::CertificateRoles>,
}

impl JwtAuthorizer {
    /// An authorizer from a JWKS file and/or a file of roles by certificate common name.
    pub fn load(
        jwks: Option<&Path>,
        certificate_roles: Option<&Path>,
    ) -> Result<Arc<JwtAuthorizer>, String> {
        Ok(Arc::new(JwtAuthorizer {
            keys: jwks.map(KeySet::load).transpose()?,
            certificate_roles: certificate_roles
                .map(certificates::CertificateRoles::load)
                .transpose()?,
        }))
    }
}

impl Authorizer for JwtAuthorizer {
    fn grants_roles_by_certificate(&self) -> bool {
        self.certificate_roles.is_some()
    }

    /// The caller's claims: its bearer token's, else (mutual TLS) its certificate's.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        certificate: Option<&rustls_pki_types::CertificateDer<'_>>,
    ) -> Result<Claims, Status> {
        let token = authorization.and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or(value.strip_prefix("bearer "))
        });
        let Some(token) = token else {
            let by_certificate = certificate.and_then(|leaf| {
                let roles = self.certificate_roles.as_ref()?;
                roles.claims(leaf)
            });
            return by_certificate.ok_or_else(|| {
                Status::unauthenticated("Request unauthenticated: no bearer token.")
            });
        };
        let Some(keys) = &self.keys else {
            return Err(Status::unauthenticated(
                "Request unauthenticated: tokens are not accepted here.",
            ));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        keys.verify(token.trim(), now).map_err(|error| {
            tracing::info!(%error, "refused a token");
            Status::unauthenticated(format!("Request unauthenticated: {error}."))
        })
    }
}

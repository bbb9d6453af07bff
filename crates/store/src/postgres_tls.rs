//! TLS to PostgreSQL. A connection string with `sslmode=require` encrypts the connection, as
//! libpq's `require` does (without checking the server's certificate); `--postgres-ca-path`
//! (here: a CA file) also verifies the certificate and the host name, as libpq's
//! `verify-full`. Without either, connections stay plain (`sslmode=prefer`, the default, does
//! not switch TLS on: a server with a self-signed certificate would otherwise refuse Temper).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::{StoreError, StoreResult};

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub enum PostgresTls {
    Plain,
    /// TLS without checking the server's certificate (`sslmode=require`).
    Encrypt,
    /// TLS with the server's certificate checked against these roots.
    Verify(Arc<ClientConfig>),
}

// `ring` builds with a plain C compiler (see the server's TLS module).
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl PostgresTls {
    /// What `url` and the optional CA file ask for.
    pub fn choose(url: &str, ca: Option<&Path>) -> StoreResult<PostgresTls> {
        if let Some(ca) = ca {
            return verifying(ca).map(|config| PostgresTls::Verify(Arc::new(config)));
        }
        let config: tokio_postgres::Config = url.parse()?;
        Ok(match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => PostgresTls::Encrypt,
            _ => PostgresTls::Plain,
        })
    }

    /// The rustls client configuration, when TLS is on.
    pub fn client_config(&self) -> Option<ClientConfig> {
        match self {
            PostgresTls::Plain => None,
            PostgresTls::Verify(config) => Some(config.as_ref().clone()),
            PostgresTls::Encrypt => {
                let config = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .ok()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                    .with_no_client_auth();
                Some(config)
            }
        }
    }
}

fn verifying(ca: &Path) -> StoreResult<ClientConfig> {
    let bad = |e: String| StoreError::Backend(format!("{}: {e}", ca.display()));
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))? {
        roots
            .add(certificate.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// libpq's `sslmode=require`: any certificate, but the handshake's signatures still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

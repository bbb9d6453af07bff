//! TLS as a client: how a node passes calls on to another node of its cluster over TLS, and
//! how `temper cluster status` reaches a node. The peer's server certificate must chain to a
//! given CA and name the host dialled (or the name given); a client certificate is presented
//! when the peer requires one (mutual TLS).

use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::transport::{Channel, Endpoint};

use super::read_certificates;

/// What a client needs to dial over TLS: the CA that signed the servers' certificates and,
/// for mutual TLS, its own certificate chain and key (PEM files).
pub struct ClientTlsFiles<'a> {
    pub ca: &'a Path,
    pub identity: Option<(&'a Path, &'a Path)>,
}

/// rustls's client configuration for `files`, speaking HTTP/2. An error names the file and
/// what is wrong with it.
// `ring`, as the server side (see `server_config`).
#[allow(deprecated)]
pub fn config(files: &ClientTlsFiles<'_>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in read_certificates(files.ca)? {
        roots
            .add(certificate)
            .map_err(|e| format!("{}: {e}", files.ca.display()))?;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
    let mut config = match files.identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = read_certificates(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{}: {e}", cert.display()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A lazily connecting channel to `host:port` over TLS with `config`; the server certificate
/// must name `server_name` (the host when `None`).
pub fn lazy_channel(
    host_port: &str,
    server_name: Option<&str>,
    config: Arc<ClientConfig>,
) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{host_port}"))
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true);
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    let name = server_name.unwrap_or(host);
    let name =
        ServerName::try_from(name.to_owned()).map_err(|e| format!("server name {name:?}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let host_port = host_port.to_owned();
    let connect = tower::service_fn(move |_uri| {
        let (connector, name, host_port) = (connector.clone(), name.clone(), host_port.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&host_port).await?;
            tcp.set_nodelay(true)?;
            let stream = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connect))
}

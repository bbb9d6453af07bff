//! TLS and mutual TLS for every port the server opens (gRPC, HTTP API, Web UI, metrics).
//!
//! [`ReloadingTls`] holds the server certificate chain, its key and, for mTLS, the CA that
//! client certificates must chain to; it re-reads the files when one of them changes (checked
//! at most once a second, on new connections), so certificates rotate without a restart — a
//! file that does not parse keeps the previous configuration and is logged. [`accept`] turns a
//! TCP listener into a stream of handshaken connections (handshakes run concurrently, so a slow
//! client delays nobody); each connection carries the peer's certificates for authorization.
//! The client side, for calls a node passes on to another, is in [`client`]. Everything is
//! rustls with the `ring` provider; no OpenSSL.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

pub mod client;

/// How often the certificate files are looked at for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPTED_BACKLOG: usize = 128;

/// Where the server's TLS material lives (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// The protocol a port speaks, announced through ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC: HTTP/2 (gRPC clients require it to be negotiated).
    Grpc,
    /// The HTTP API, Web UI and metrics: HTTP/1.1.
    Http,
}

struct Loaded {
    grpc: Arc<ServerConfig>,
    http: Arc<ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

/// The server's TLS configuration, re-read when its files change.
pub struct ReloadingTls {
    files: TlsFiles,
    loaded: Mutex<Loaded>,
}

impl ReloadingTls {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<ReloadingTls>, String> {
        let loaded = load(&files)?;
        Ok(Arc::new(ReloadingTls {
            files,
            loaded: Mutex::new(loaded),
        }))
    }

    /// The configuration for a new connection, re-read first if a file changed.
    fn current(&self, protocol: Protocol) -> Arc<ServerConfig> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            loaded.checked = Instant::now();
            if stamps(&self.files) != loaded.stamps {
                match load(&self.files) {
                    Ok(fresh) => {
                        tracing::info!("TLS certificates reloaded");
                        *loaded = fresh;
                    }
                    Err(error) => tracing::warn!(%error, "TLS files changed but do not load"),
                }
            }
        }
        match protocol {
            Protocol::Grpc => loaded.grpc.clone(),
            Protocol::Http => loaded.http.clone(),
        }
    }
}

fn stamps(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
    .collect()
}

fn load(files: &TlsFiles) -> Result<Loaded, String> {
    let stamps = stamps(files);
    let grpc = server_config(files, b"h2")?;
    let http = server_config(files, b"http/1.1")?;
    Ok(Loaded {
        grpc: Arc::new(grpc),
        http: Arc::new(http),
        stamps,
        checked: Instant::now(),
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certificates)
}

// `ring` builds with a plain C compiler; rustls' post-quantum default (aws-lc-rs) would add
// cmake and minutes to a clean build. Classical key exchange is what Temporal's Go server offers.
#[allow(deprecated)]
fn server_config(files: &TlsFiles, alpn: &[u8]) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates = read_certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(ca)? {
                roots
                    .add(certificate)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    pub remote: Option<SocketAddr>,
    /// The client's certificate chain (leaf first) under mutual TLS; empty otherwise.
    pub certificates: Arc<Vec<CertificateDer<'static>>>,
}

/// A connection whose TLS handshake completed.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    peer: PeerInfo,
}

impl TlsConnection {
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }
}

/// Accepts TCP connections on `listener` and hands out those whose handshake succeeds.
pub fn accept(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    protocol: Protocol,
) -> mpsc::Receiver<TlsConnection> {
    let (sender, receiver) = mpsc::channel(ACCEPTED_BACKLOG);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if sender.is_closed() {
                return;
            }
            let (sender, tls) = (sender.clone(), tls.clone());
            tokio::spawn(async move {
                if let Some(connection) = handshake(tcp, remote, &tls, protocol).await {
                    let _ = sender.send(connection).await;
                }
            });
        }
    });
    receiver
}

/// The TLS handshake of a connection accepted on a port speaking `protocol`; `None` (logged)
/// when it fails or takes longer than [`HANDSHAKE_TIMEOUT`].
pub async fn handshake(
    tcp: TcpStream,
    remote: SocketAddr,
    tls: &ReloadingTls,
    protocol: Protocol,
) -> Option<TlsConnection> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current(protocol));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let certificates = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            let peer = PeerInfo {
                remote: Some(remote),
                certificates: Arc::new(certificates),
            };
            Some(TlsConnection { stream, peer })
        }
        Ok(Err(error)) => {
            tracing::debug!(%remote, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            None
        }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

/// The handshaken connections of a port, as the HTTP servers (axum) take them.
pub struct TlsListener {
    connections: mpsc::Receiver<TlsConnection>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<ReloadingTls>) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        Ok(TlsListener {
            connections: accept(listener, tls, Protocol::Http),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TlsConnection, SocketAddr) {
        loop {
            match self.connections.recv().await {
                Some(connection) => {
                    let remote = connection.peer.remote.unwrap_or(self.local);
                    return (connection, remote);
                }
                // The accept loop only stops when this listener is gone; never here.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

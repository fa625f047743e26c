//! HTTPS for the console: a TCP listener whose connections are TLS
//! (rustls, the configured PEM certificate chain and key) before axum sees
//! them. A handshake gets 10 s; a failed one is logged and dropped.
//!
//! Layer: transport edge.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// The server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("console certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("console certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "console certificate {}: no certificate in it",
            cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("console key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the console certificate and key do not match")?;
    Ok(Arc::new(cfg))
}

/// A client's address, as the handlers see it (`ConnectInfo<Peer>`) over
/// HTTP and HTTPS alike.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// A plain TCP listener (loopback only: the configuration refuses others).
pub struct PlainListener(pub TcpListener);

impl axum::serve::Listener for PlainListener {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (io, Peer(addr))
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr().map(Peer)
    }
}

impl Connected<IncomingStream<'_, PlainListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, PlainListener>) -> Self {
        *s.remote_addr()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Self {
        *s.remote_addr()
    }
}

/// A TCP listener that hands axum TLS streams.
pub struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    debug!(%e, "console accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, Peer(addr)),
                Ok(Err(e)) => debug!(%addr, %e, "console TLS handshake failed"),
                Err(_) => debug!(%addr, "console TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr().map(Peer)
    }
}

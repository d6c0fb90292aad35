//! Serving the API over TLS (`cairn server --tls-cert F --tls-key K`):
//! rustls with PEM files, HTTP/1.1 on each accepted connection. Without
//! them the API is plain HTTP (behind a terminating proxy, or on loopback).

use super::{ApiState, router};
use crate::error::{Error, Result, codes};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

fn bad_pem(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        codes::INVALID_ARGUMENT,
        format!("{} holds no usable {what}: {e}", path.display()),
        "pass PEM files: --tls-cert with the certificate chain, --tls-key with its private key",
    )
}

/// A TLS acceptor for the certificate chain and key in these PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad_pem(cert, "certificate", e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad_pem(cert, "certificate", e))?;
    if chain.is_empty() {
        return Err(bad_pem(cert, "certificate", "no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad_pem(key, "private key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| bad_pem(cert, "certificate and key pair", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the API over TLS on `listener` until `shutdown` resolves (a
/// handshake that fails only drops its connection).
pub async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let (acceptor, service) = (acceptor.clone(), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => return tracing::debug!("TLS handshake failed: {e}"),
            };
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}

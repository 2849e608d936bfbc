//! HTTPS from the ALB: the certificate store, its resolver, and the reload task.
//!
//! The resolver hands out the `CertifiedKey` in force (one `ArcSwap` load, no I/O). The
//! reload task re-reads the PEM files every refresh interval; a changed, valid pair is
//! parsed and checked (key matches certificate) off the request path and swapped in; an
//! invalid one keeps the pair in force (counted, logged). ALB → target HTTPS does not
//! verify the target's certificate, so an in-memory self-signed one is also possible.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Where a listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSpec {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// A certificate pair that could not be used. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no usable PEM private key", path.display())]
    NoKey { path: PathBuf },
    #[error("the key does not fit the certificate, or is of an unsupported kind: {0}")]
    Mismatch(#[source] rustls::Error),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Parses and checks a PEM pair as it stands on disk.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|source| TlsError::Read {
        path: cert.into(),
        source,
    })?;
    let key_pem = std::fs::read(key).map_err(|source| TlsError::Read {
        path: key.into(),
        source,
    })?;
    parse_pair(&cert_pem, &key_pem, cert, key)
}

fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.into() });
    }
    let private =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey { path: key.into() })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(TlsError::Mismatch)
}

/// A certificate for `localhost` generated in memory (a fresh key at every start).
pub fn self_signed() -> Result<CertifiedKey, TlsError> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = generated.cert.der().clone();
    let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    CertifiedKey::from_der(vec![cert], key, &provider()).map_err(TlsError::Mismatch)
}

/// The certificate in force for one listener.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(key),
        })
    }

    /// The rustls configuration of a listener: TLS 1.2 and 1.3, ALPN h2 then http/1.1.
    #[expect(
        clippy::expect_used,
        reason = "the aws-lc-rs provider always supports TLS 1.2 and 1.3"
    )]
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Re-reads `cert` and `key` every `interval` until `shutdown`; swaps a changed valid pair.
/// `metrics`: whatever holds the proxy's metrics (only the reload counters are touched).
pub async fn reload<M: AsRef<Metrics> + Send + Sync + 'static>(
    store: Arc<CertStore>,
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    metrics: Arc<M>,
    shutdown: CancellationToken,
) {
    let mut last = read_both(&cert, &key).ok();
    let mut last_warn: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
        let (cert_c, key_c) = (cert.clone(), key.clone());
        // Reading and parsing are blocking work: keep them off the runtime's workers.
        let outcome = tokio::task::spawn_blocking(move || {
            let bytes = read_both(&cert_c, &key_c)?;
            Ok::<_, TlsError>(bytes)
        })
        .await;
        let bytes = match outcome {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => {
                failed((*metrics).as_ref(), &mut last_warn, &error);
                continue;
            }
            Err(_) => continue,
        };
        if last.as_ref() == Some(&bytes) {
            continue;
        }
        match parse_pair(&bytes.0, &bytes.1, &cert, &key) {
            Ok(pair) => {
                store.current.store(Arc::new(pair));
                (*metrics).as_ref().tls_reloaded(true);
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                last = Some(bytes);
                last_warn = None;
            }
            Err(error) => {
                failed((*metrics).as_ref(), &mut last_warn, &error);
                // Remember the bad bytes: report once per change, not every interval.
                last = Some(bytes);
            }
        }
    }
}

fn read_both(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let c = std::fs::read(cert).map_err(|source| TlsError::Read {
        path: cert.into(),
        source,
    })?;
    let k = std::fs::read(key).map_err(|source| TlsError::Read {
        path: key.into(),
        source,
    })?;
    Ok((c, k))
}

fn failed(metrics: &Metrics, last_warn: &mut Option<Instant>, error: &TlsError) {
    metrics.tls_reloaded(false);
    if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        *last_warn = Some(Instant::now());
        tracing::warn!(%error, "TLS certificate reload failed; keeping the certificate in force");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_pair(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_loads_and_a_mismatched_one_does_not() {
        let (cert_a, key_a) = pem_pair("a.example");
        let (_, key_b) = pem_pair("b.example");
        let p = Path::new("x");
        assert!(parse_pair(cert_a.as_bytes(), key_a.as_bytes(), p, p).is_ok());
        assert!(matches!(
            parse_pair(cert_a.as_bytes(), key_b.as_bytes(), p, p),
            Err(TlsError::Mismatch(_))
        ));
        assert!(matches!(
            parse_pair(b"", key_a.as_bytes(), p, p),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(
            parse_pair(cert_a.as_bytes(), b"junk", p, p),
            Err(TlsError::NoKey { .. })
        ));
    }

    #[test]
    fn errors_never_print_key_material() {
        let (cert_a, key_a) = pem_pair("a.example");
        let (_, key_b) = pem_pair("b.example");
        let p = Path::new("x");
        let err = parse_pair(cert_a.as_bytes(), key_b.as_bytes(), p, p).unwrap_err();
        let text = format!("{err} {err:?}");
        let body: String = key_b.lines().nth(1).unwrap().to_owned();
        assert!(!text.contains(&body) && !text.contains(key_a.lines().nth(1).unwrap()));
    }

    #[test]
    fn a_self_signed_certificate_is_generated_in_memory() {
        assert!(self_signed().is_ok());
    }
}

//! TLS and HTTP/2 helpers: certificates made at test time, clients that trust them, and
//! one request over HTTP/1.1 or HTTP/2 on any stream.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost`, as PEM and DER.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

pub fn generate() -> CertPair {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    CertPair {
        cert_pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
        der: c.cert.der().clone(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// A client that trusts `trust` (or, with `None`, any certificate: the ALB's own stance
/// towards its targets), offering the given ALPN protocols.
pub fn client_config(trust: Option<&CertificateDer<'static>>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = match trust {
        Some(cert) => {
            let mut roots = RootCertStore::empty();
            roots.add(cert.clone()).unwrap();
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Only TLS 1.2 (the ALB's default policies still offer it).
pub fn client_config_tls12(trust: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

pub async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The certificate the server presented.
pub fn peer_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

pub fn negotiated_h2(stream: &TlsStream<TcpStream>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice())
}

fn request(uri: &str, fields: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut req = Request::get(uri);
    for (n, v) in fields {
        req = req.header(*n, *v);
    }
    req.body(Empty::new()).unwrap()
}

/// One HTTP/1.1 GET on `io`; the status.
pub async fn h1_get<I>(io: I, path: &str, fields: &[(&str, &str)]) -> Result<u16, hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    let mut fields = fields.to_vec();
    fields.push(("host", "localhost"));
    let response = sender.send_request(request(path, &fields)).await?;
    Ok(response.status().as_u16())
}

/// GETs over one HTTP/2 connection on `io` (TLS with ALPN h2, or h2c with prior
/// knowledge); the statuses in order.
/// An HTTP/2 client connection (h2c with prior knowledge, or TLS with ALPN `h2`); its
/// clones send streams on it at once. It closes when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>);

impl H2 {
    pub async fn handshake<I>(io: I) -> Result<Self, hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
        tokio::spawn(conn);
        Ok(Self(sender))
    }

    /// One GET, its body read to the end; the status.
    pub async fn get(&self, path: &str, fields: &[(&str, &str)]) -> Result<u16, hyper::Error> {
        let mut sender = self.0.clone();
        sender.ready().await?;
        let uri = format!("https://localhost{path}");
        let response = sender.send_request(request(&uri, fields)).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

pub async fn h2_gets<I>(
    io: I,
    requests: &[(&str, Vec<(&str, &str)>)],
) -> Result<Vec<u16>, hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    tokio::spawn(conn);
    let mut statuses = Vec::new();
    for (path, fields) in requests {
        sender.ready().await?;
        let uri = format!("https://localhost{path}");
        let response = sender.send_request(request(&uri, fields)).await?;
        statuses.push(response.status().as_u16());
    }
    Ok(statuses)
}

/// Accepts any certificate (signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

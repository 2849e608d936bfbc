//! The test step's probes: a request through the edge (expects 2xx, or the configured
//! status) and, for `direct` probes, one straight to the ALB without the header (expects
//! 403). Plain HTTP or HTTPS (the platform's roots).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config;
use crate::error::SyncError;

/// The client probes and the drill's traffic use: HTTP or HTTPS (webpki roots), pooled.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub fn http_client() -> HttpClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

#[async_trait]
pub trait Probe: Send + Sync {
    fn url(&self) -> &str;
    /// Ok when the answer is the expected one.
    async fn run(&self) -> Result<(), SyncError>;
}

#[derive(Debug, Clone)]
pub struct HttpProbe {
    probe: config::Probe,
    timeout: Duration,
}

impl HttpProbe {
    pub fn new(probe: config::Probe) -> Self {
        Self {
            probe,
            timeout: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl Probe for HttpProbe {
    fn url(&self) -> &str {
        &self.probe.url
    }

    async fn run(&self) -> Result<(), SyncError> {
        let fail = |problem: String| SyncError::Probe {
            url: self.probe.url.clone(),
            problem,
        };
        let client = http_client();
        let uri: http::Uri = self
            .probe
            .url
            .parse()
            .map_err(|_| fail("not a URL".into()))?;
        let answer = tokio::time::timeout(self.timeout, client.get(uri))
            .await
            .map_err(|_| fail(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| fail(format!("request failed: {e}")))?;
        let status = answer.status().as_u16();
        let ok = match (self.probe.expect, self.probe.direct) {
            (Some(want), _) => status == want,
            (None, true) => status == 403,
            (None, false) => (200..300).contains(&status),
        };
        if ok {
            Ok(())
        } else {
            let want = match (self.probe.expect, self.probe.direct) {
                (Some(w), _) => w.to_string(),
                (None, true) => "403 (a direct request without the header must be rejected)".into(),
                (None, false) => "2xx".into(),
            };
            Err(fail(format!("answered {status}, expected {want}")))
        }
    }
}

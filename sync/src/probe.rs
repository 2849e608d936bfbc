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
use crate::value::Secret;

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
    /// Straight to the ALB, bypassing the edge: it proves what the acceptors accept.
    fn is_direct(&self) -> bool;
    /// Ok when the answer (without the header) is the expected one.
    async fn run(&self) -> Result<(), SyncError>;
    /// Direct probes: Ok when a request carrying `value` in the header is let through
    /// (2xx, or `expect_accepted`): every acceptor on the way accepts it.
    async fn accepts(&self, value: &Secret) -> Result<(), SyncError>;
}

#[derive(Debug, Clone)]
pub struct HttpProbe {
    probe: config::Probe,
    header: String,
    timeout: Duration,
}

impl HttpProbe {
    /// `header` has passed the shared header rule (the configuration checks it).
    pub fn new(probe: config::Probe, header: &str) -> Self {
        Self {
            probe,
            header: header.to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    fn fail(&self, problem: String) -> SyncError {
        SyncError::Probe {
            url: self.probe.url.clone(),
            problem,
        }
    }

    /// The status of a GET of the probe's URL, with `value` in the header if given.
    async fn status(&self, value: Option<&Secret>) -> Result<u16, SyncError> {
        let mut request = http::Request::get(self.probe.url.as_str());
        if let Some(v) = value {
            let mut field = http::HeaderValue::from_bytes(v.expose())
                .map_err(|_| self.fail("the value is not a header value".into()))?;
            field.set_sensitive(true);
            request = request.header(self.header.as_str(), field);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|_| self.fail("not a URL, or the header name is not one".into()))?;
        let answer = tokio::time::timeout(self.timeout, http_client().request(request))
            .await
            .map_err(|_| self.fail(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| self.fail(format!("request failed: {e}")))?;
        Ok(answer.status().as_u16())
    }
}

#[async_trait]
impl Probe for HttpProbe {
    fn url(&self) -> &str {
        &self.probe.url
    }

    fn is_direct(&self) -> bool {
        self.probe.direct
    }

    async fn run(&self) -> Result<(), SyncError> {
        let status = self.status(None).await?;
        let (ok, want) = match (self.probe.expect, self.probe.direct) {
            (Some(want), _) => (status == want, want.to_string()),
            (None, true) => (
                status == 403,
                "403 (a direct request without the header must be rejected)".into(),
            ),
            (None, false) => ((200..300).contains(&status), "2xx".into()),
        };
        if ok {
            Ok(())
        } else {
            Err(self.fail(format!("answered {status}, expected {want}")))
        }
    }

    async fn accepts(&self, value: &Secret) -> Result<(), SyncError> {
        let status = self.status(Some(value)).await?;
        let ok = match self.probe.expect_accepted {
            Some(want) => status == want,
            None => (200..300).contains(&status),
        };
        if ok {
            Ok(())
        } else {
            let want = self
                .probe
                .expect_accepted
                .map_or("2xx".to_owned(), |w| w.to_string());
            Err(self.fail(format!(
                "with the value in the header it answered {status}, expected {want}: an acceptor (WAF or proxy) does not accept it yet"
            )))
        }
    }
}

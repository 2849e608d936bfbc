//! An STS endpoint that refuses every call as STS refuses an AssumeRole the role's trust
//! policy does not allow: HTTP 403 with the Query protocol's error document, code
//! `AccessDenied` ("AssumeRole", AWS STS API Reference, Errors; the message is the one STS
//! gives: "User: … is not authorized to perform: sts:AssumeRole on resource: …").
//! The emulator assumes any role for anyone, so the refusal needs a stand-in; a process
//! is pointed at it with `AWS_ENDPOINT_URL_STS`, the SDK's service-specific endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug)]
pub struct StsDenied {
    pub addr: SocketAddr,
    /// The `Action` of each call received (`AssumeRole`, `GetCallerIdentity`).
    pub actions: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StsDenied {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let actions: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = actions.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| refuse(req, seen.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            actions,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().unwrap().clone()
    }
}

impl Drop for StsDenied {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn refuse(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form = String::from_utf8_lossy(&body);
    let action = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("")
        .to_owned();
    let resource = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("RoleArn="))
        .map(|arn| arn.replace("%3A", ":").replace("%2F", "/"))
        .unwrap_or_else(|| "*".into());
    seen.lock().unwrap().push(action.clone());
    let document = format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::123456789012:user/edgeguard-tests is not authorized to perform: sts:{action} on resource: {resource}</Message>
  </Error>
  <RequestId>00000000-0000-4000-8000-000000000403</RequestId>
</ErrorResponse>
"#
    );
    Ok(Response::builder()
        .status(403)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(document)))
        .unwrap())
}

//! A Lambda Runtime API emulator on loopback, to drive the real rotation Lambda binary as
//! Lambda does ("AWS Lambda runtime API", Lambda developer guide): the function polls
//! `GET /2018-06-01/runtime/invocation/next` and gets the event with its request id and
//! `Lambda-Runtime-Deadline-Ms`; it answers with `POST …/invocation/{id}/response` or
//! `…/{id}/error` (`{"errorType","errorMessage"}`). An answer after the deadline is what
//! Lambda would never see: the function would have been killed.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(serde_json::Value),
    Error { error_type: String, message: String },
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, serde_json::Value, u128)>,
    done: HashMap<String, (Outcome, Instant)>,
    next_id: u64,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
            queued: Arc::default(),
            answered: Arc::default(),
        };
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        api
    }

    /// Invokes the function with `event` and `timeout` (the function's configured
    /// timeout); waits for its answer, at most `timeout` + 10 s. Returns the outcome and
    /// whether it came before the deadline.
    pub async fn invoke(&self, event: serde_json::Value, timeout: Duration) -> (Outcome, bool) {
        let deadline_wall = SystemTime::now() + timeout;
        let deadline = Instant::now() + timeout;
        let ms = deadline_wall
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let id = {
            let mut s = self.state.lock().unwrap();
            s.next_id += 1;
            let id = format!("req-{}", s.next_id);
            s.queue.push_back((id.clone(), event, ms));
            id
        };
        self.queued.notify_waiters();
        let limit = deadline + Duration::from_secs(10);
        loop {
            let answered = self.answered.notified();
            if let Some((outcome, at)) = self.state.lock().unwrap().done.remove(&id) {
                return (outcome, at <= deadline);
            }
            assert!(
                Instant::now() < limit,
                "no answer to {id} within its timeout"
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), answered).await;
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let (method, body) = (req.method().clone(), req.into_body().collect().await);
        let body = body.map(|b| b.to_bytes()).unwrap_or_default();
        let reply = |status: StatusCode, body: &str| {
            Response::builder()
                .status(status)
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap()
        };
        if method == http::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            // Long poll, bounded: the function asks again.
            for _ in 0..600 {
                let queued = self.queued.notified();
                if let Some((id, event, ms)) = self.state.lock().unwrap().queue.pop_front() {
                    return Response::builder()
                        .header("Lambda-Runtime-Aws-Request-Id", id)
                        .header("Lambda-Runtime-Deadline-Ms", ms.to_string())
                        .header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:edgeguard-rotation",
                        )
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000",
                        )
                        .body(Full::new(Bytes::from(event.to_string())))
                        .unwrap();
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), queued).await;
            }
            return reply(StatusCode::GATEWAY_TIMEOUT, "no invocation");
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["2018-06-01", "runtime", "invocation", id, kind] = parts.as_slice() {
            let outcome = match *kind {
                "response" => Outcome::Response(serde_json::from_slice(&body).unwrap_or_default()),
                "error" => {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    Outcome::Error {
                        error_type: v["errorType"].as_str().unwrap_or_default().to_owned(),
                        message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
                    }
                }
                _ => return reply(StatusCode::NOT_FOUND, "unknown"),
            };
            self.state
                .lock()
                .unwrap()
                .done
                .insert((*id).to_owned(), (outcome, Instant::now()));
            self.answered.notify_waiters();
            return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#);
        }
        reply(StatusCode::NOT_FOUND, "unknown path")
    }
}

/// The environment Lambda gives a function, pointed at `api`.
pub fn lambda_env(api: &RuntimeApi) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "edgeguard-rotation".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/edgeguard-rotation".into(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]0".into()),
    ]
}

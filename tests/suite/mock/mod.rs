//! A model server on loopback that speaks the real wire protocols (OpenAI chat completions and Anthropic
//! messages, both with SSE), replays scripted replies, and records every request it receives.

pub mod sse;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// One scripted reply.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with these SSE frames, then the end of the body.
    Sse(Vec<String>),
    /// 200 with these SSE frames, then the connection is cut.
    SseCut(Vec<String>),
    /// A status with headers and a body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// No answer for this long (the client should time out first).
    Stall(Duration),
    /// 200 with these SSE frames, then silence for this long before the body ends.
    SseStall(Vec<String>, Duration),
    /// This reply, after a pause.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// A status with a JSON error body.
    pub fn error(status: u16, headers: &[(&str, &str)], message: &str) -> Reply {
        Reply::Status {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: serde_json::json!({"error": {"message": message, "type": "mock_error"}})
                .to_string(),
        }
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
}

impl Recorded {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Responder = Box<dyn Fn(&Recorded, usize) -> Reply + Send>;

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    responder: Option<Responder>,
    requests: Vec<Recorded>,
}

/// The server; it stops when dropped.
pub struct MockServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on its own thread and runtime (usable from sync and async tests and by child processes).
    pub fn start() -> MockServer {
        let state: Arc<Mutex<State>> = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                        let state = shared.clone();
                        async move { handle(state, uri.path().to_string(), headers, body).await }
                    },
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        MockServer {
            url: format!("http://{addr}"),
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// Queues replies, answered in order.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers requests the script does not cover with `f(request, index of the request)`.
    pub fn respond_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + 'static) {
        self.state.lock().unwrap().responder = Some(Box::new(f));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    path: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        path,
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = {
        let mut s = state.lock().unwrap();
        let index = s.requests.len();
        s.requests.push(recorded.clone());
        match s.script.pop_front() {
            Some(r) => r,
            None => match &s.responder {
                Some(f) => f(&recorded, index),
                None => Reply::error(
                    500,
                    &[],
                    "the mock server has no reply scripted for this request",
                ),
            },
        }
    };
    let reply = match reply {
        Reply::Delayed(pause, inner) => {
            tokio::time::sleep(pause).await;
            *inner
        }
        other => other,
    };
    match reply {
        Reply::Delayed(_, _) => Response::builder()
            .status(500)
            .body(Body::from("nested delay"))
            .unwrap(),
        Reply::Sse(frames) => sse_response(served(frames, &recorded), End::Close),
        Reply::SseCut(frames) => sse_response(served(frames, &recorded), End::Cut),
        Reply::SseStall(frames, pause) => {
            sse_response(served(frames, &recorded), End::Stall(pause))
        }
        Reply::Status {
            status,
            headers,
            body,
        } => {
            let mut r = Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/json");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            Response::builder().status(504).body(Body::empty()).unwrap()
        }
    }
}

/// The frames with the builders' placeholder model replaced by the model the request asked for, as real servers
/// name the model they serve (frames built with another name keep it).
fn served(frames: Vec<String>, request: &Recorded) -> Vec<String> {
    let Some(model) = request.json()["model"].as_str().map(str::to_string) else {
        return frames;
    };
    let placeholder = format!("\"model\":\"{}\"", sse::MOCK_MODEL);
    let named = serde_json::json!({ "model": model }).to_string();
    let named = &named[1..named.len() - 1];
    frames
        .into_iter()
        .map(|f| f.replace(&placeholder, named))
        .collect()
}

/// How an SSE body ends after its frames.
enum End {
    Close,
    Cut,
    Stall(Duration),
}

fn sse_response(frames: Vec<String>, end: End) -> Response {
    let mut items: Vec<(Duration, Result<Bytes, std::io::Error>)> = frames
        .into_iter()
        .map(|f| (Duration::from_millis(2), Ok(Bytes::from(f))))
        .collect();
    match end {
        End::Close => {}
        End::Cut => items.push((
            Duration::from_millis(2),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "cut by the mock server",
            )),
        )),
        End::Stall(pause) => items.push((pause, Ok(Bytes::new()))),
    }
    // Frames go out one by one, a little apart, as a real server streams them.
    let stream = futures::stream::iter(items).then(|(pause, item)| async move {
        tokio::time::sleep(pause).await;
        item
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures::StreamExt as _;

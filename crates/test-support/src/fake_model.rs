//! A fake OpenAI-compatible model server on 127.0.0.1 (`POST /v1/chat/completions`), for the
//! inference tests and, later, the SDK suite. What it does follows the request's `model`:
//!
//! - `echo` (or anything else): answers `echo: <last user message>` (each `<` written `‹`); streamed, in three
//!   content deltas written in pieces cut mid-line, with a comment line, an event whose data
//!   spans two `data:` lines, the finish reason, a usage chunk and `[DONE]`;
//! - `malformed`: a chunk that is not JSON; `truncated`: one delta, then the connection ends;
//!   `stall`: one delta, then only comments for 30 s;
//! - `flaky`: 429 (`Retry-After: 0`), then 503, then the echo, counted per server;
//! - `down`: always 503; `bad-key`: 401 with a body that echoes the key; `refuse`: 400;
//! - `slow`: the echo after 2 s;
//! - `thinker`: `<thinking>` then an `<answer>` (`42`);
//! - `writer`: an agent that asks for Write to File (`note.txt`), then, once a message holds
//!   a command's output (`<output>` and a line break), answers that it wrote it;
//! - `tool`: calls the client's `get_weather` tool for Paris;
//! - `fast`: the echo streamed a word per event, with no pause (the benchmarks' model).
//!
//! Every request's `Authorization` header and body are recorded.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

#[derive(Default)]
struct State {
    requests: Vec<(Option<String>, Value)>,
    flaky_calls: u32,
    /// Streams being written (a stream's guard counts it down when actix drops the body,
    /// as it does when the client goes away).
    open: Arc<std::sync::atomic::AtomicUsize>,
}

struct Open(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The running fake; stopped when dropped.
pub struct FakeModel {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

impl FakeModel {
    /// Start the fake on a free port of 127.0.0.1 (inside a tokio runtime).
    pub fn start() -> FakeModel {
        FakeModel::start_on(TcpListener::bind("127.0.0.1:0").expect("bind the fake model"))
    }

    /// Start the fake on `listener` (inside a tokio runtime).
    pub fn start_on(listener: TcpListener) -> FakeModel {
        let url = format!(
            "http://{}/v1",
            listener.local_addr().expect("the fake's address")
        );
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(state.clone());
        let server = crate::serve_fake(listener, move |app| {
            app.app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(complete));
        });
        FakeModel { url, state, server }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Authorization` header of each request so far.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state()
            .requests
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Whether every stream it wrote has ended (waiting up to `patience`).
    pub async fn wait_idle(&self, patience: Duration) -> bool {
        let open = Arc::clone(&self.state().open);
        let deadline = std::time::Instant::now() + patience;
        while open.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if std::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The body of each request so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.state()
            .requests
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn answer_to(model: &str, body: &Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let has_output = messages.iter().any(|m| {
        m["content"]
            .as_str()
            .is_some_and(|c| c.contains("<output>\n"))
    });
    match model {
        "thinker" => "<thinking>pondering the question</thinking>\n<answer>42</answer>".into(),
        "writer" if has_output => "<answer>Done: I wrote note.txt.</answer>".into(),
        "writer" => "<thinking>I should write the note.</thinking>\
                     <execute><name>Write to File</name><filename>note.txt</filename>\
                     <text>hello from the model</text></execute>"
            .into(),
        "tool" => {
            "Let me check.<execute><name>get_weather</name><city>Paris</city></execute>".into()
        }
        // Tags are echoed defanged: the default prompt's own instructions name them, and
        // an echo must not read as a model asking to run a command.
        _ => format!("echo: {}", last.replace('<', "‹")),
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

async fn complete(
    state: web::Data<Mutex<State>>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let flaky_call = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push((authorization.clone(), body.clone()));
        if model == "flaky" {
            state.flaky_calls += 1;
        }
        state.flaky_calls
    };
    match model.as_str() {
        "down" => return HttpResponse::ServiceUnavailable().body("down"),
        "bad-key" => {
            let key = authorization.unwrap_or_default();
            return HttpResponse::Unauthorized()
                .json(json!({"error": {"message": format!("Incorrect API key provided: {key}")}}));
        }
        "refuse" => {
            return HttpResponse::BadRequest()
                .json(json!({"error": {"message": "max_tokens is too large"}}));
        }
        "flaky" if flaky_call == 1 => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "0"))
                .body("slow down");
        }
        "flaky" if flaky_call == 2 => return HttpResponse::ServiceUnavailable().body("busy"),
        "slow" => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }
    let answer = answer_to(&model, &body);
    if body["stream"] != true {
        return HttpResponse::Ok().json(json!({
            "id": "fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }));
    }
    let pieces: Vec<web::Bytes> = match model.as_str() {
        "malformed" => vec![web::Bytes::from("data: {not json\n\n")],
        "fast" => {
            let mut text = chunk(json!({"role": "assistant", "content": ""}), None);
            for word in answer.split_inclusive(' ') {
                text.push_str(&chunk(json!({"content": word}), None));
            }
            text.push_str(&chunk(json!({}), Some("stop")));
            text.push_str("data: [DONE]\n\n");
            vec![web::Bytes::from(text)]
        }
        "truncated" | "stall" => vec![web::Bytes::from(chunk(json!({"content": "partial"}), None))],
        _ => {
            let third = answer.len() / 3;
            let (a, rest) = answer.split_at(answer.floor_char_boundary(third));
            let (b, c) = rest.split_at(rest.floor_char_boundary(third));
            let mut text = chunk(json!({"role": "assistant", "content": ""}), None);
            text.push_str(": keepalive\n\n");
            text.push_str(&chunk(json!({"content": a}), None));
            // One event over two `data:` lines (joined with a newline: still JSON).
            let second = chunk(json!({"content": b}), None);
            let (head, tail) = second.split_at(second.find("\"choices\"").unwrap_or(6));
            text.push_str(&format!("{}\ndata: {}", head, tail));
            text.push_str(&chunk(json!({"content": c}), None));
            text.push_str(&chunk(json!({}), Some("stop")));
            text.push_str(&format!(
                "data: {}\n\n",
                json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
            ));
            text.push_str("data: [DONE]\n\n");
            // Written in pieces of 7 bytes: every line is cut somewhere.
            text.as_bytes()
                .chunks(7)
                .map(web::Bytes::copy_from_slice)
                .collect()
        }
    };
    let stall = model == "stall";
    let open = {
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Open(Arc::clone(&state.open))
    };
    let pause = model != "fast";
    let stream = futures_util::stream::iter(pieces)
        .then(move |piece| async move {
            if pause {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<_, actix_web::Error>(piece)
        })
        // A stalled stream sends only comments (every 50 ms for 30 s): no event, but a
        // client that went away shows as a failed write, and the body is dropped.
        .chain(
            futures_util::stream::iter(0..if stall { 600 } else { 0 }).then(|_| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(web::Bytes::from_static(b": waiting\n\n"))
            }),
        )
        .chain(futures_util::stream::once(async move {
            drop(open);
            Ok(web::Bytes::new())
        }));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}

use futures_util::StreamExt;

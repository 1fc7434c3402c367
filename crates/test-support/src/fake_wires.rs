//! Fake Anthropic, Gemini and Azure OpenAI servers on 127.0.0.1, for the inference tests of
//! those wire formats. Each records every request (its path and query, its key header, its
//! body) and answers as the request's model (Azure: its deployment) says:
//!
//! - `echo` (or anything else): answers `echo: <last user message>` with 7 prompt and 3
//!   answer tokens; streamed, in three text pieces, the whole written 7 bytes at a time so
//!   every line is cut somewhere;
//! - `truncated`: streamed, one piece (`partial`), then the stream ends without finishing;
//! - `malformed`: streamed, an event whose data is not JSON;
//! - `bad-key`: the provider's answer to a wrong key (Gemini's is a 400);
//! - Anthropic `overloaded`: 529 with an `overloaded_error`; `overloaded-mid-stream`: one
//!   piece, then an `error` event with an `overloaded_error`;
//! - Gemini and Azure `down`: 503.
//!
//! Anthropic refuses (400) a request without `max_tokens` or whose messages do not
//! alternate starting with the user's; Gemini one whose roles are not `user` and `model`, or
//! a stream not asked for with `alt=sse`; Azure one without an `api-version`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// One request as a fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path and query.
    pub uri: String,
    /// The key header the provider reads: `x-api-key`, `x-goog-api-key` or `api-key`.
    pub key: Option<String>,
    /// The `Authorization` header (none of these providers reads one).
    pub authorization: Option<String>,
    /// The `anthropic-version` header.
    pub version: Option<String>,
    pub body: Value,
}

type Log = Mutex<Vec<Recorded>>;

/// A running fake's log and server; the server stops when dropped.
struct Running {
    log: Arc<Log>,
    server: actix_web::dev::ServerHandle,
}

impl Running {
    /// Bind a free port of 127.0.0.1 and serve `route` (with the log as app data) there;
    /// returns `http://127.0.0.1:<port>`.
    fn start<F>(route: F) -> (String, Running)
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake provider");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the fake's address")
        );
        let log: Arc<Log> = Arc::default();
        let data = web::Data::from(Arc::clone(&log));
        let server = crate::serve_fake(listener, move |app| {
            app.app_data(data.clone());
            route(app);
        });
        (url, Running { log, server })
    }

    fn log(&self) -> MutexGuard<'_, Vec<Recorded>> {
        lock(&self.log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn lock(log: &Log) -> MutexGuard<'_, Vec<Recorded>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn record(log: &Log, request: &HttpRequest, key_header: &str, body: &Value) {
    lock(log).push(Recorded {
        uri: request.uri().to_string(),
        key: header(request, key_header),
        authorization: header(request, "authorization"),
        version: header(request, "anthropic-version"),
        body: body.clone(),
    });
}

/// The accessors every fake has.
macro_rules! recorded_accessors {
    ($fake:ty) => {
        impl $fake {
            /// Every request so far.
            pub fn requests(&self) -> Vec<Recorded> {
                self.running.log().to_vec()
            }

            /// The key header of each request so far.
            pub fn keys(&self) -> Vec<Option<String>> {
                self.running.log().iter().map(|r| r.key.clone()).collect()
            }

            /// The body of each request so far.
            pub fn bodies(&self) -> Vec<Value> {
                self.running.log().iter().map(|r| r.body.clone()).collect()
            }
        }
    };
}

/// `text` as a server-sent event stream written 7 bytes at a time, a millisecond apart.
fn sse(text: String) -> HttpResponse {
    let pieces: Vec<web::Bytes> = text
        .as_bytes()
        .chunks(7)
        .map(web::Bytes::copy_from_slice)
        .collect();
    let stream = futures_util::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, actix_web::Error>(piece)
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}

/// `text` in three pieces (cut at character boundaries).
fn thirds(text: &str) -> [&str; 3] {
    let third = text.len() / 3;
    let (a, rest) = text.split_at(text.floor_char_boundary(third));
    let (b, c) = rest.split_at(rest.floor_char_boundary(third));
    [a, b, c]
}

/// The text of a message's `content`: a string, or blocks with `text`.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// The echo of the last message with role `user` of `messages` (whose text `text` reads).
fn echo(messages: &Value, text: impl Fn(&Value) -> String) -> String {
    let last = messages
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(text)
        .unwrap_or_default();
    format!("echo: {last}")
}

// --- Anthropic ---------------------------------------------------------------------------

/// A fake Anthropic Messages API (`POST /v1/messages`); stopped when dropped.
pub struct FakeAnthropic {
    /// The base URL, ending in `/v1`.
    pub url: String,
    running: Running,
}

impl FakeAnthropic {
    /// Start the fake on a free port of 127.0.0.1 (inside a tokio runtime).
    pub fn start() -> FakeAnthropic {
        let (base, running) = Running::start(|app| {
            app.route("/v1/messages", web::post().to(anthropic));
        });
        FakeAnthropic {
            url: format!("{base}/v1"),
            running,
        }
    }

    /// The `anthropic-version` header of each request so far.
    pub fn versions(&self) -> Vec<Option<String>> {
        self.running
            .log()
            .iter()
            .map(|r| r.version.clone())
            .collect()
    }
}

recorded_accessors!(FakeAnthropic);

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({"type": "error", "error": {"type": kind, "message": message}}))
}

/// What Anthropic would refuse in `body`, if anything.
fn anthropic_problem(body: &Value) -> Option<&'static str> {
    if !body["max_tokens"].is_u64() {
        return Some("max_tokens: Field required");
    }
    let Some(messages) = body["messages"].as_array() else {
        return Some("messages: Field required");
    };
    if messages.is_empty() {
        return Some("messages: at least one message is required");
    }
    if messages[0]["role"] != "user" {
        return Some("messages: first message must use the \"user\" role");
    }
    let alternate = messages
        .windows(2)
        .all(|pair| pair[0]["role"] != pair[1]["role"]);
    let known = messages
        .iter()
        .all(|m| m["role"] == "user" || m["role"] == "assistant");
    if !alternate || !known {
        return Some("messages: roles must alternate between \"user\" and \"assistant\"");
    }
    None
}

fn anthropic_event(kind: &str, data: Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

async fn anthropic(
    log: web::Data<Log>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    record(&log, &request, "x-api-key", &body);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let overloaded = StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    match model.as_str() {
        "overloaded" => return anthropic_error(overloaded, "overloaded_error", "Overloaded"),
        "bad-key" => {
            return anthropic_error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            );
        }
        _ => {}
    }
    if let Some(problem) = anthropic_problem(&body) {
        return anthropic_error(StatusCode::BAD_REQUEST, "invalid_request_error", problem);
    }
    let answer = echo(&body["messages"], |m| text_of(&m["content"]));
    if body["stream"] != true {
        return HttpResponse::Ok().json(json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 3},
        }));
    }
    let delta = |text: &str| {
        anthropic_event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": text}}),
        )
    };
    let mut text = anthropic_event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 1},
        }}),
    );
    text.push_str(&anthropic_event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}),
    ));
    match model.as_str() {
        "malformed" => text.push_str("event: content_block_delta\ndata: {not json\n\n"),
        "truncated" => text.push_str(&delta("partial")),
        "overloaded-mid-stream" => {
            text.push_str(&delta("partial"));
            text.push_str(&anthropic_event(
                "error",
                json!({"type": "error",
                       "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
        }
        _ => {
            text.push_str(&anthropic_event("ping", json!({"type": "ping"})));
            for piece in thirds(&answer) {
                text.push_str(&delta(piece));
            }
            text.push_str(&anthropic_event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ));
            text.push_str(&anthropic_event(
                "message_delta",
                json!({"type": "message_delta",
                       "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                       "usage": {"output_tokens": 3}}),
            ));
            text.push_str(&anthropic_event(
                "message_stop",
                json!({"type": "message_stop"}),
            ));
        }
    }
    sse(text)
}

// --- Gemini ------------------------------------------------------------------------------

/// A fake Gemini API (`POST /v1beta/models/{model}:generateContent` and
/// `:streamGenerateContent?alt=sse`); stopped when dropped.
pub struct FakeGemini {
    /// The base URL, ending in `/v1beta`.
    pub url: String,
    running: Running,
}

impl FakeGemini {
    /// Start the fake on a free port of 127.0.0.1 (inside a tokio runtime).
    pub fn start() -> FakeGemini {
        let (base, running) = Running::start(|app| {
            app.route("/v1beta/models/{target}", web::post().to(gemini));
        });
        FakeGemini {
            url: format!("{base}/v1beta"),
            running,
        }
    }

    /// The path and query of each request so far.
    pub fn uris(&self) -> Vec<String> {
        self.running.log().iter().map(|r| r.uri.clone()).collect()
    }
}

recorded_accessors!(FakeGemini);

fn gemini_error(status: StatusCode, name: &str, message: &str, details: Value) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {
        "code": status.as_u16(), "message": message, "status": name, "details": details,
    }}))
}

/// One answer (or streamed piece) of Gemini's: `text`, and `finish` when it is the last.
fn gemini_answer(model: &str, text: &str, finish: Option<&str>, tokens: u64) -> Value {
    let mut candidate =
        json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = Value::from(finish);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": tokens,
                          "totalTokenCount": 7 + tokens},
        "modelVersion": model,
    })
}

async fn gemini(
    log: web::Data<Log>,
    request: HttpRequest,
    target: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    record(&log, &request, "x-goog-api-key", &body);
    let none = Value::Array(Vec::new());
    let Some((model, method)) = target.split_once(':') else {
        return gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no method", none);
    };
    let streaming = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method", none),
    };
    match model {
        "down" => {
            return gemini_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                none,
            );
        }
        "bad-key" => {
            return gemini_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]),
            );
        }
        _ => {}
    }
    let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    if streaming && query.get("alt").map(String::as_str) != Some("sse") {
        let message = "this fake streams only with alt=sse";
        return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message, none);
    }
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let roles_valid = contents
        .iter()
        .all(|c| c["role"] == "user" || c["role"] == "model");
    if contents.is_empty() || !roles_valid {
        let message = "Please use a valid role: user, model.";
        return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message, none);
    }
    let answer = echo(&body["contents"], |c| text_of(&c["parts"]));
    if !streaming {
        return HttpResponse::Ok().json(gemini_answer(model, &answer, Some("STOP"), 3));
    }
    let event = |piece: Value| format!("data: {piece}\r\n\r\n");
    let text = match model {
        "malformed" => "data: {not json\r\n\r\n".to_owned(),
        "truncated" => event(gemini_answer(model, "partial", None, 1)),
        _ => {
            let [a, b, c] = thirds(&answer);
            let mut text = event(gemini_answer(model, a, None, 1));
            text.push_str(&event(gemini_answer(model, b, None, 2)));
            text.push_str(&event(gemini_answer(model, c, Some("STOP"), 3)));
            text
        }
    };
    sse(text)
}

// --- Azure OpenAI ------------------------------------------------------------------------

/// A fake Azure OpenAI resource (`POST /openai/deployments/{deployment}/chat/completions
/// ?api-version=...`, the key in `api-key`); stopped when dropped.
pub struct FakeAzure {
    /// The resource's base URL (no path).
    pub url: String,
    running: Running,
}

impl FakeAzure {
    /// Start the fake on a free port of 127.0.0.1 (inside a tokio runtime).
    pub fn start() -> FakeAzure {
        let (url, running) = Running::start(|app| {
            app.route(
                "/openai/deployments/{deployment}/chat/completions",
                web::post().to(azure),
            );
        });
        FakeAzure { url, running }
    }

    /// The path and query of each request so far.
    pub fn uris(&self) -> Vec<String> {
        self.running.log().iter().map(|r| r.uri.clone()).collect()
    }

    /// The `Authorization` header of each request so far.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.running
            .log()
            .iter()
            .map(|r| r.authorization.clone())
            .collect()
    }
}

recorded_accessors!(FakeAzure);

fn azure_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

fn openai_chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
        "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

async fn azure(
    log: web::Data<Log>,
    request: HttpRequest,
    deployment: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    record(&log, &request, "api-key", &body);
    let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Missing or empty api-version query parameter.",
        );
    }
    match deployment.as_str() {
        "bad-key" => {
            return azure_error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint.",
            );
        }
        "down" => return azure_error(StatusCode::SERVICE_UNAVAILABLE, "503", "Unavailable"),
        _ => {}
    }
    let answer = echo(&body["messages"], |m| text_of(&m["content"]));
    if body["stream"] != true {
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }));
    }
    // Azure's first chunk has no choice, only its prompt filter's results.
    let mut text = format!(
        "data: {}\n\n",
        json!({"id": "", "object": "", "created": 0, "model": "", "choices": [],
               "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
    );
    text.push_str(&openai_chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    ));
    for piece in thirds(&answer) {
        text.push_str(&openai_chunk(json!({"content": piece}), None));
    }
    text.push_str(&openai_chunk(json!({}), Some("stop")));
    text.push_str(&format!(
        "data: {}\n\n",
        json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    ));
    text.push_str("data: [DONE]\n\n");
    sse(text)
}

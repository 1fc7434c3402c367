//! The OpenAI-compatible wire format: `POST {base}/chat/completions`, bearer key, JSON
//! answer or server-sent events (`data: {chunk}` ... `data: [DONE]`). Azure OpenAI speaks
//! the same format at another path with another key header ([`crate::azure`]).

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::retry::{self, RetryPolicy};
use crate::{
    ChatModel, ChatRequest, Chunk, ChunkStream, Completion, Endpoint, ProviderError, Timeouts,
    Usage,
};

/// Bytes of an error body kept for its message.
const ERROR_BODY_BYTES: usize = 4096;

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI and most of its family).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// A provider speaking OpenAI's chat completions API.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    name: String,
    endpoint: Endpoint,
    api_key: Option<String>,
    model: String,
    timeouts: Timeouts,
    retry: RetryPolicy,
    auth: Auth,
    /// The chat completions path under the base (with its query, if any).
    path: String,
}

impl OpenAiCompatible {
    /// `name` is the provider's (in errors); `model` the default model; an empty key sends
    /// no `Authorization` header (local servers need none).
    pub fn new(name: &str, endpoint: Endpoint, api_key: &str, model: &str) -> Self {
        OpenAiCompatible {
            name: name.to_owned(),
            endpoint,
            api_key: Some(api_key.trim().to_owned()).filter(|key| !key.is_empty()),
            model: model.to_owned(),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            auth: Auth::Bearer,
            path: "chat/completions".to_owned(),
        }
    }

    /// The same client sending its key as `auth` says, to `path` under the base (for
    /// providers that only differ in their URL scheme and key header, such as Azure).
    pub(crate) fn with_wire(mut self, auth: Auth, path: String) -> Self {
        self.auth = auth;
        self.path = path;
        self
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut body = json!({
            "model": request.model.as_deref().unwrap_or(&self.model),
            "messages": request.messages,
            "stream": stream,
        });
        let options = [
            ("temperature", request.temperature.map(Value::from)),
            ("top_p", request.top_p.map(Value::from)),
            ("max_tokens", request.max_tokens.map(Value::from)),
        ];
        for (name, value) in options {
            if let Some(value) = value {
                body[name] = value;
            }
        }
        body
    }

    /// The response to `body` once its status is a success, retrying what is transient.
    async fn send(&self, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let mut attempt = 0;
        loop {
            match self.send_once(body).await {
                Ok(response) => return Ok(response),
                Err((error, retry_after))
                    if error.is_transient() && attempt < self.retry.retries =>
                {
                    attempt += 1;
                    let wait = self.retry.wait(attempt, retry_after);
                    tracing::debug!(provider = %self.name, %error, ?wait, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    async fn send_once(
        &self,
        body: &Value,
    ) -> Result<reqwest::Response, (ProviderError, Option<Duration>)> {
        let mut request = self
            .endpoint
            .client()
            .post(self.endpoint.url(&self.path))
            .json(body);
        if let Some(key) = &self.api_key {
            request = match self.auth {
                Auth::Bearer => request.bearer_auth(key),
                Auth::ApiKeyHeader => request.header("api-key", sensitive(key)),
            };
        }
        let response = tokio::time::timeout(self.timeouts.response, request.send())
            .await
            .map_err(|_| (self.timeout(self.timeouts.response), None))?
            .map_err(|error| (self.transport(&error), None))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry::retry_after(response.headers());
        let message = self.error_message(response).await;
        let (provider, status) = (self.name.clone(), status.as_u16());
        let error = match status {
            401 | 403 => ProviderError::Unauthorized { provider, status },
            429 => ProviderError::RateLimited { provider },
            500..=599 => ProviderError::Unavailable { provider, status },
            _ => ProviderError::BadRequest {
                provider,
                status,
                message,
            },
        };
        Err((error, retry_after))
    }

    /// The provider's message from an error body (`error.message`, or the text), cut short
    /// and with the key masked should the provider echo it.
    async fn error_message(&self, response: reqwest::Response) -> String {
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while bytes.len() < ERROR_BODY_BYTES {
            match tokio::time::timeout(self.timeouts.idle, body.next()).await {
                Ok(Some(Ok(piece))) => bytes.extend_from_slice(&piece),
                _ => break,
            }
        }
        bytes.truncate(ERROR_BODY_BYTES);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        self.masked(&message)
    }

    /// A provider's message as errors show it: cut short, the key (if echoed) masked.
    fn masked(&self, message: &str) -> String {
        let mut message: String = message.trim().chars().take(300).collect();
        if let Some(key) = &self.api_key {
            message = message.replace(key.as_str(), "***");
        }
        message
    }

    fn timeout(&self, after: Duration) -> ProviderError {
        ProviderError::Timeout {
            provider: self.name.clone(),
            after,
        }
    }

    fn transport(&self, error: &reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            return self.timeout(self.timeouts.connect);
        }
        // The innermost cause says why (refused, DNS, an address the rules refuse).
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        ProviderError::Unreachable {
            provider: self.name.clone(),
            reason,
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.clone(),
            reason: reason.into(),
        }
    }
}

/// `key` as a header value kept out of debug output; a key that cannot be one (a control
/// character) is sent empty, so the provider refuses it as it would a wrong key.
pub(crate) fn sensitive(key: &str) -> reqwest::header::HeaderValue {
    match reqwest::header::HeaderValue::from_str(key) {
        Ok(mut value) => {
            value.set_sensitive(true);
            value
        }
        Err(_) => reqwest::header::HeaderValue::from_static(""),
    }
}

/// One event of a stream, as OpenAI-compatible servers send it.
#[derive(Deserialize)]
struct StreamChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<StreamChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct StreamChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<StreamDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StreamDelta<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<AnswerChoice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct AnswerChoice {
    message: AnswerMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

#[async_trait::async_trait]
impl ChatModel for OpenAiCompatible {
    fn provider(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        let body = self.body(request, false);
        let response = self.send(&body).await?;
        let bytes = tokio::time::timeout(self.timeouts.response, crate::body_capped(response))
            .await
            .map_err(|_| self.timeout(self.timeouts.response))?
            .map_err(|error| self.transport(&error))?
            .ok_or_else(|| {
                self.malformed(format!(
                    "the answer is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ))
            })?;
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|error| self.malformed(format!("not a chat completion: {error}")))?;
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| self.malformed("no choices"))?;
        Ok(Completion {
            content: choice.message.content.unwrap_or_default(),
            finish_reason: choice.finish_reason.unwrap_or_else(|| "stop".to_owned()),
            usage: answer.usage,
        })
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, ProviderError> {
        let body = self.body(request, true);
        let response = self.send(&body).await?;
        let state = StreamState {
            events: crate::stream_capped(response).eventsource().boxed(),
            model: self.clone(),
            pending: VecDeque::new(),
            finished: false,
            over: false,
        };
        Ok(futures_util::stream::unfold(state, StreamState::next).boxed())
    }
}

type Events = futures_util::stream::BoxStream<
    'static,
    Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
>;

/// A stream being read: the provider's events, the chunks read but not yet handed out.
struct StreamState {
    events: Events,
    model: OpenAiCompatible,
    pending: VecDeque<Chunk>,
    /// A `finish_reason` was seen.
    finished: bool,
    /// Nothing more is handed out (the end, or an error was).
    over: bool,
}

impl StreamState {
    async fn next(mut self) -> Option<(Result<Chunk, ProviderError>, StreamState)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some((Ok(chunk), self));
            }
            if self.over {
                return None;
            }
            let idle = self.model.timeouts.idle;
            let failure = match tokio::time::timeout(idle, self.events.next()).await {
                Err(_) => self.model.timeout(idle),
                Ok(None) if self.finished => return None,
                Ok(None) => ProviderError::Truncated {
                    provider: self.model.name.clone(),
                },
                Ok(Some(Err(eventsource_stream::EventStreamError::Transport(error)))) => {
                    self.model.transport(&error)
                }
                Ok(Some(Err(error))) => self.model.malformed(error.to_string()),
                Ok(Some(Ok(event))) => match self.read(&event.data) {
                    Ok(()) => continue,
                    Err(error) => error,
                },
            };
            self.over = true;
            return Some((Err(failure), self));
        }
    }

    /// Queue the chunks of one event's data.
    fn read(&mut self, data: &str) -> Result<(), ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            if !self.finished {
                // Some servers end without a reason: the answer is complete all the same.
                self.pending.push_back(Chunk::Finished {
                    reason: "stop".to_owned(),
                });
                self.finished = true;
            }
            self.over = true;
            return Ok(());
        }
        // Read in place (strings borrowed unless escaped): one chunk per token.
        let chunk: StreamChunk<'_> = serde_json::from_str(data).map_err(|error| {
            self.model
                .malformed(format!("a chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            let message = self
                .model
                .masked(error["message"].as_str().unwrap_or("an error"));
            return Err(self
                .model
                .malformed(format!("the stream reported: {message}")));
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(content) = choice.delta.and_then(|d| d.content)
                && !content.is_empty()
            {
                self.pending.push_back(Chunk::Content(content.into_owned()));
            }
            if let Some(reason) = choice.finish_reason {
                self.pending.push_back(Chunk::Finished {
                    reason: reason.into_owned(),
                });
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.usage {
            self.pending.push_back(Chunk::Usage(usage));
        }
        Ok(())
    }
}

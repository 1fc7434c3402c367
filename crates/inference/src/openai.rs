//! The OpenAI-compatible wire format: `POST {base}/chat/completions`, bearer key, JSON
//! answer or server-sent events (`data: {chunk}` ... `data: [DONE]`). Azure OpenAI speaks
//! the same format at another path with another key header ([`crate::azure`]).

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::retry::RetryPolicy;
use crate::wire::Wire;
use crate::{
    ChatModel, ChatRequest, Chunk, ChunkStream, Completion, Endpoint, ProviderError, Timeouts,
    Usage,
};

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

    /// What every client shares ([`crate::wire`]), for one call.
    fn wire(&self) -> Wire<'_> {
        Wire {
            name: &self.name,
            api_key: self.api_key.as_deref(),
            timeouts: self.timeouts,
            retry: self.retry,
        }
    }

    /// The response to `body` once its status is a success, retrying what is transient.
    async fn send(&self, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let build = || {
            let request = self
                .endpoint
                .client()
                .post(self.endpoint.url(&self.path))
                .json(body);
            match (&self.api_key, self.auth) {
                (None, _) => request,
                (Some(key), Auth::Bearer) => request.bearer_auth(key),
                (Some(key), Auth::ApiKeyHeader) => request.header("api-key", sensitive(key)),
            }
        };
        self.wire().send(build, |_, _| false).await
    }

    fn masked(&self, message: &str) -> String {
        self.wire().masked(message)
    }

    fn timeout(&self, after: Duration) -> ProviderError {
        self.wire().timeout(after)
    }

    fn transport(&self, error: &reqwest::Error) -> ProviderError {
        self.wire().transport(error)
    }

    fn malformed(&self, reason: impl Into<String>) -> ProviderError {
        self.wire().malformed(reason)
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

//! Anthropic's Messages API: `POST {base}/messages` (base [`DEFAULT_BASE_URL`]), the key in
//! `x-api-key` with `anthropic-version` [`API_VERSION`]; a JSON answer, or server-sent events
//! (`message_start`, `content_block_delta`..., `message_delta`, `message_stop`). System
//! messages go in the `system` field; the others alternate user and assistant turns as
//! Anthropic requires.

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::openai::sensitive;
use crate::retry::RetryPolicy;
use crate::wire::Wire;
use crate::{
    ChatMessage, ChatModel, ChatRequest, Chunk, ChunkStream, Completion, Endpoint, ProviderError,
    Role, Timeouts, Usage,
};

/// Anthropic's own base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";

/// The `anthropic-version` header sent.
pub const API_VERSION: &str = "2023-06-01";

/// `max_tokens` when the request sets none (Anthropic requires one).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The user turn put before a conversation that starts with the assistant (Anthropic
/// requires the first turn to be the user's).
const OPENING: &str = "(The conversation begins.)";

/// A model behind Anthropic's Messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    name: String,
    endpoint: Endpoint,
    api_key: Option<String>,
    model: String,
    timeouts: Timeouts,
    retry: RetryPolicy,
}

impl Anthropic {
    /// `name` is the provider's (in errors); `model` the default model; an empty key sends
    /// no `x-api-key` header (for a proxy that adds its own).
    pub fn new(name: &str, endpoint: Endpoint, api_key: &str, model: &str) -> Self {
        Anthropic {
            name: name.to_owned(),
            endpoint,
            api_key: Some(api_key.trim().to_owned()).filter(|key| !key.is_empty()),
            model: model.to_owned(),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        }
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
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": turns(&request.messages),
            "stream": stream,
        });
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System && !m.content.trim().is_empty())
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body["system"] = Value::from(system.join("\n\n"));
        }
        let options = [
            ("temperature", request.temperature.map(Value::from)),
            ("top_p", request.top_p.map(Value::from)),
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
                .post(self.endpoint.url("messages"))
                .header("anthropic-version", API_VERSION)
                .json(body);
            match &self.api_key {
                Some(key) => request.header("x-api-key", sensitive(key)),
                None => request,
            }
        };
        self.wire().send(build, |_, _| false).await
    }

    fn masked(&self, message: &str) -> String {
        self.wire().masked(message)
    }

    /// The error an `error` event of a stream reports.
    fn stream_error(&self, error: &Value) -> ProviderError {
        let provider = self.name.clone();
        let kind = error["type"].as_str().unwrap_or("error");
        match kind {
            "overloaded_error" => ProviderError::Unavailable {
                provider,
                status: 529,
            },
            "api_error" => ProviderError::Unavailable {
                provider,
                status: 500,
            },
            "rate_limit_error" => ProviderError::RateLimited { provider },
            _ => {
                let message = self.masked(error["message"].as_str().unwrap_or("no message"));
                self.malformed(format!("the stream reported {kind}: {message}"))
            }
        }
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

/// The conversation as Anthropic takes it: no system messages (they go in `system`), no
/// empty ones, consecutive messages of one role joined by a blank line, a user turn first
/// ([`OPENING`] when the assistant spoke first), and a last assistant turn (a prefill)
/// without trailing whitespace, which Anthropic refuses.
fn turns(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, String)> = Vec::new();
    for message in messages {
        let role = match message.role {
            Role::System => continue,
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        if message.content.trim().is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, text)) if *last == role => {
                text.push_str("\n\n");
                text.push_str(&message.content);
            }
            _ => turns.push((role, message.content.clone())),
        }
    }
    if turns.first().is_some_and(|(role, _)| *role == "assistant") {
        turns.insert(0, ("user", OPENING.to_owned()));
    }
    if let Some((role, text)) = turns.last_mut()
        && *role == "assistant"
    {
        text.truncate(text.trim_end().len());
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

/// `end_turn` and `stop_sequence` (or none) are `stop`, `max_tokens` is `length`; any other
/// reason (`tool_use`, `refusal`...) is kept as Anthropic said it.
fn finish_reason(stop_reason: Option<&str>) -> String {
    match stop_reason {
        None | Some("end_turn" | "stop_sequence") => "stop".to_owned(),
        Some("max_tokens") => "length".to_owned(),
        Some(other) => other.to_owned(),
    }
}

/// Token counts as Anthropic reports them; input counts the cached tokens too.
#[derive(Debug, Clone, Copy, Default)]
struct Tokens {
    input: Option<u64>,
    output: Option<u64>,
}

impl Tokens {
    /// Take the counts an answer's (or an event's) `usage` object gives.
    fn note(&mut self, usage: &Value) {
        let input: Vec<u64> = [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ]
        .iter()
        .filter_map(|field| usage[*field].as_u64())
        .collect();
        if !input.is_empty() {
            self.input = Some(input.iter().fold(0, |total, n| total.saturating_add(*n)));
        }
        if let Some(output) = usage["output_tokens"].as_u64() {
            self.output = Some(output);
        }
    }

    fn usage(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        Some(Usage {
            prompt_tokens: self.input.unwrap_or_default(),
            completion_tokens: self.output.unwrap_or_default(),
        })
    }
}

#[async_trait::async_trait]
impl ChatModel for Anthropic {
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
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|error| self.malformed(format!("not a message: {error}")))?;
        let blocks = answer["content"]
            .as_array()
            .ok_or_else(|| self.malformed("a message without content"))?;
        let content: String = blocks
            .iter()
            .filter(|block| block["type"] == "text")
            .filter_map(|block| block["text"].as_str())
            .collect();
        let mut tokens = Tokens::default();
        tokens.note(&answer["usage"]);
        Ok(Completion {
            content,
            finish_reason: finish_reason(answer["stop_reason"].as_str()),
            usage: tokens.usage(),
        })
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, ProviderError> {
        let body = self.body(request, true);
        let response = self.send(&body).await?;
        let state = StreamState {
            events: crate::stream_capped(response).eventsource().boxed(),
            model: self.clone(),
            pending: VecDeque::new(),
            stop_reason: None,
            tokens: Tokens::default(),
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
    model: Anthropic,
    pending: VecDeque<Chunk>,
    /// The `stop_reason` of `message_delta`.
    stop_reason: Option<String>,
    tokens: Tokens,
    /// `message_stop` was seen.
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
                Ok(Some(Ok(event))) => match self.read(&event) {
                    Ok(()) => continue,
                    Err(error) => error,
                },
            };
            self.over = true;
            return Some((Err(failure), self));
        }
    }

    /// Queue the chunks of one event. Its kind is its data's `type` (the `event:` line
    /// when the data has none); kinds it does not know (`ping`, `content_block_stop`, new
    /// ones) are skipped, as Anthropic asks of clients.
    fn read(&mut self, event: &eventsource_stream::Event) -> Result<(), ProviderError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            self.model
                .malformed(format!("an event is not JSON: {error}"))
        })?;
        let kind = value["type"].as_str().unwrap_or(event.event.as_str());
        match kind {
            "message_start" => self.tokens.note(&value["message"]["usage"]),
            "content_block_start" => {
                let block = &value["content_block"];
                if block["type"] == "text"
                    && let Some(text) = block["text"].as_str()
                    && !text.is_empty()
                {
                    self.pending.push_back(Chunk::Content(text.to_owned()));
                }
            }
            "content_block_delta" => {
                let delta = &value["delta"];
                if delta["type"] == "text_delta"
                    && let Some(text) = delta["text"].as_str()
                    && !text.is_empty()
                {
                    self.pending.push_back(Chunk::Content(text.to_owned()));
                }
            }
            "message_delta" => {
                if let Some(reason) = value["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.tokens.note(&value["usage"]);
            }
            "message_stop" => {
                self.pending.push_back(Chunk::Finished {
                    reason: finish_reason(self.stop_reason.as_deref()),
                });
                if let Some(usage) = self.tokens.usage() {
                    self.pending.push_back(Chunk::Usage(usage));
                }
                self.finished = true;
                self.over = true;
            }
            "error" => return Err(self.model.stream_error(&value["error"])),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_alternate_and_start_with_the_user() {
        let messages = [
            ChatMessage::system("be brief"),
            ChatMessage {
                role: Role::Assistant,
                content: "Hello!".into(),
            },
            ChatMessage::user("one"),
            ChatMessage::user(" "),
            ChatMessage::user("two"),
            ChatMessage {
                role: Role::Assistant,
                content: "Sure: ".into(),
            },
        ];
        assert_eq!(
            turns(&messages),
            vec![
                json!({"role": "user", "content": OPENING}),
                json!({"role": "assistant", "content": "Hello!"}),
                json!({"role": "user", "content": "one\n\ntwo"}),
                json!({"role": "assistant", "content": "Sure:"}),
            ]
        );
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("stop_sequence")), "stop");
        assert_eq!(finish_reason(None), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("tool_use")), "tool_use");
    }
}

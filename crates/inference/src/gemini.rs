//! Google's Gemini API: `POST {base}/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` for server-sent events each holding a partial answer
//! (base [`DEFAULT_BASE_URL`]). The key goes in the `x-goog-api-key` header, never in the
//! URL, so it cannot reach a log or an error. System messages go in `systemInstruction`;
//! the assistant's turns are the `model`'s.

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::azure::encode;
use crate::openai::sensitive;
use crate::retry::RetryPolicy;
use crate::wire::{ErrorBody, Wire};
use crate::{
    ChatMessage, ChatModel, ChatRequest, Chunk, ChunkStream, Completion, Endpoint, ProviderError,
    Role, Timeouts, Usage,
};

/// Google's own base URL.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// A model behind the Gemini API.
#[derive(Debug, Clone)]
pub struct Gemini {
    name: String,
    endpoint: Endpoint,
    api_key: Option<String>,
    model: String,
    timeouts: Timeouts,
    retry: RetryPolicy,
}

impl Gemini {
    /// `name` is the provider's (in errors); `model` the default model (`gemini-2.5-flash`,
    /// with or without the `models/` prefix); an empty key sends no `x-goog-api-key` header
    /// (for a proxy that adds its own).
    pub fn new(name: &str, endpoint: Endpoint, api_key: &str, model: &str) -> Self {
        Gemini {
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

    /// The URL of the request's model's `method` (with its query, if any).
    fn url(&self, request: &ChatRequest, method: &str) -> String {
        let model = request.model.as_deref().unwrap_or(&self.model).trim();
        let model = model.strip_prefix("models/").unwrap_or(model);
        self.endpoint
            .url(&format!("models/{}:{method}", encode(model)))
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let mut body = json!({ "contents": contents(&request.messages) });
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System && !m.content.trim().is_empty())
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body["systemInstruction"] = json!({ "parts": [{ "text": system.join("\n\n") }] });
        }
        let options = [
            ("temperature", request.temperature.map(Value::from)),
            ("topP", request.top_p.map(Value::from)),
            ("maxOutputTokens", request.max_tokens.map(Value::from)),
        ];
        let config: serde_json::Map<String, Value> = options
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
        if !config.is_empty() {
            body["generationConfig"] = Value::Object(config);
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

    /// The response to `body` at `url` once its status is a success, retrying what is
    /// transient. Gemini answers a wrong key with a 400 whose body says so
    /// (`INVALID_ARGUMENT` about the API key, or the reason `API_KEY_INVALID`).
    async fn send(&self, url: &str, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let build = || {
            let request = self.endpoint.client().post(url).json(body);
            match &self.api_key {
                Some(key) => request.header("x-goog-api-key", sensitive(key)),
                None => request,
            }
        };
        let key_refused = |status: u16, body: &ErrorBody| {
            let Some(error) = body.json.as_ref().map(|json| &json["error"]) else {
                return false;
            };
            status == 400
                && ((error["status"] == "INVALID_ARGUMENT" && body.message.contains("API key"))
                    || error["details"].as_array().is_some_and(|details| {
                        details
                            .iter()
                            .any(|detail| detail["reason"] == "API_KEY_INVALID")
                    }))
        };
        self.wire().send(build, key_refused).await
    }

    fn masked(&self, message: &str) -> String {
        self.wire().masked(message)
    }

    /// The error an event of a stream reports (`{"error": {code, message, status}}`).
    fn stream_error(&self, error: &Value) -> ProviderError {
        let provider = self.name.clone();
        match error["code"]
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())
        {
            Some(429) => ProviderError::RateLimited { provider },
            Some(status @ 500..=599) => ProviderError::Unavailable { provider, status },
            _ => {
                let message = self.masked(error["message"].as_str().unwrap_or("no message"));
                self.malformed(format!("the stream reported: {message}"))
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

/// The conversation as Gemini takes it: no system messages (they go in
/// `systemInstruction`), no empty ones, the assistant as `model`, consecutive messages of
/// one role joined by a blank line (Gemini expects the roles to alternate).
fn contents(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, String)> = Vec::new();
    for message in messages {
        let role = match message.role {
            Role::System => continue,
            Role::User => "user",
            Role::Assistant => "model",
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
    turns
        .into_iter()
        .map(|(role, text)| json!({"role": role, "parts": [{"text": text}]}))
        .collect()
}

/// `STOP` is `stop`, `MAX_TOKENS` is `length`; every other reason (`SAFETY`, `RECITATION`,
/// `BLOCKLIST`...) means the answer was cut for its content: `content_filter`.
fn finish_reason(reason: &str) -> String {
    match reason {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        _ => "content_filter",
    }
    .to_owned()
}

/// The finish reason an answer (or a streamed piece) gives, if any: its first candidate's,
/// or `content_filter` when the prompt itself was blocked (no candidate, a `blockReason`).
/// `FINISH_REASON_UNSPECIFIED` is no reason.
fn finish_of(answer: &Value) -> Option<String> {
    match answer["candidates"][0]["finishReason"].as_str() {
        Some("FINISH_REASON_UNSPECIFIED") | None => answer["promptFeedback"]["blockReason"]
            .as_str()
            .map(|_| "content_filter".to_owned()),
        Some(reason) => Some(finish_reason(reason)),
    }
}

/// The text of an answer's (or a streamed piece's) first candidate, thoughts left out.
fn text_of(answer: &Value) -> String {
    answer["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter(|part| part["thought"] != true)
                .filter_map(|part| part["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// The token counts of `usageMetadata` (the model's thoughts count as its output).
fn usage_of(answer: &Value) -> Option<Usage> {
    let metadata = answer.get("usageMetadata").filter(|m| m.is_object())?;
    let count = |field: &str| metadata[field].as_u64().unwrap_or_default();
    Some(Usage {
        prompt_tokens: count("promptTokenCount"),
        completion_tokens: count("candidatesTokenCount")
            .saturating_add(count("thoughtsTokenCount")),
    })
}

#[async_trait::async_trait]
impl ChatModel for Gemini {
    fn provider(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        let url = self.url(request, "generateContent");
        let response = self.send(&url, &self.body(request)).await?;
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
            .map_err(|error| self.malformed(format!("not an answer: {error}")))?;
        if !answer.is_object() {
            return Err(self.malformed("not an answer: not a JSON object"));
        }
        let finish = finish_of(&answer);
        if answer["candidates"][0].is_null() && finish.is_none() {
            return Err(self.malformed("no candidates"));
        }
        Ok(Completion {
            content: text_of(&answer),
            finish_reason: finish.unwrap_or_else(|| "stop".to_owned()),
            usage: usage_of(&answer),
        })
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, ProviderError> {
        let url = self.url(request, "streamGenerateContent?alt=sse");
        let response = self.send(&url, &self.body(request)).await?;
        let state = StreamState {
            events: crate::stream_capped(response).eventsource().boxed(),
            model: self.clone(),
            pending: VecDeque::new(),
            finish: None,
            usage: None,
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
    model: Gemini,
    pending: VecDeque<Chunk>,
    /// The finish reason, once a piece gave one; handed out when the stream ends.
    finish: Option<String>,
    /// The latest token counts (a piece may repeat them as they grow).
    usage: Option<Usage>,
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
                // Gemini ends its stream without a marker: finished if a reason was given.
                Ok(None) => match self.finish.take() {
                    Some(reason) => {
                        self.pending.push_back(Chunk::Finished { reason });
                        if let Some(usage) = self.usage.take() {
                            self.pending.push_back(Chunk::Usage(usage));
                        }
                        self.over = true;
                        continue;
                    }
                    None => ProviderError::Truncated {
                        provider: self.model.name.clone(),
                    },
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

    /// Queue the text of one event's data, and note its finish reason and token counts.
    fn read(&mut self, data: &str) -> Result<(), ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let piece: Value = serde_json::from_str(data).map_err(|error| {
            self.model
                .malformed(format!("a piece is not JSON: {error}"))
        })?;
        if !piece.is_object() {
            return Err(self.model.malformed("a piece is not a JSON object"));
        }
        if let Some(error) = piece.get("error") {
            return Err(self.model.stream_error(error));
        }
        let text = text_of(&piece);
        if !text.is_empty() {
            self.pending.push_back(Chunk::Content(text));
        }
        if let Some(reason) = finish_of(&piece) {
            self.finish = Some(reason);
        }
        if let Some(usage) = usage_of(&piece) {
            self.usage = Some(usage);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_alternate_with_the_model_for_the_assistant() {
        let messages = [
            ChatMessage::system("be brief"),
            ChatMessage::user("one"),
            ChatMessage::user("two"),
            ChatMessage {
                role: Role::Assistant,
                content: "three".into(),
            },
        ];
        assert_eq!(
            contents(&messages),
            vec![
                json!({"role": "user", "parts": [{"text": "one\n\ntwo"}]}),
                json!({"role": "model", "parts": [{"text": "three"}]}),
            ]
        );
    }

    #[test]
    fn finish_reasons_and_blocked_prompts() {
        assert_eq!(finish_reason("STOP"), "stop");
        assert_eq!(finish_reason("MAX_TOKENS"), "length");
        assert_eq!(finish_reason("SAFETY"), "content_filter");
        assert_eq!(finish_reason("RECITATION"), "content_filter");
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert_eq!(finish_of(&blocked), Some("content_filter".to_owned()));
        assert_eq!(finish_of(&json!({"candidates": [{"content": {}}]})), None);
    }
}

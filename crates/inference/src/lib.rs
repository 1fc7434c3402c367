//! Model clients behind one port, [`ChatModel`]: a chat request in, a completion or a stream
//! of chunks out, whatever the provider's wire format. Today: the OpenAI-compatible family
//! ([`openai::OpenAiCompatible`]: OpenAI, OpenRouter, DeepSeek, xAI, DeepInfra, Chutes,
//! Hugging Face's router, ezLocalai, or any base URL such as a local Ollama, vLLM or
//! llama.cpp server); Azure OpenAI, the same format at its own URL scheme with an `api-key`
//! header ([`azure::azure`]); Anthropic's Messages API ([`anthropic::Anthropic`]); and
//! Google's Gemini API ([`gemini::Gemini`]). Which provider answers is
//! [`select::choose`]'s.
//!
//! Every call has timeouts and retries 429, 5xx and transport failures with exponential
//! backoff and jitter, honouring `Retry-After` ([`retry`]); a stream is retried only until
//! its first byte. Dropping a call's future or stream drops the provider's connection: when
//! the HTTP client goes away, so does the provider call. A base URL that comes from an
//! agent's or a company's settings is user input and goes through the address rules of
//! `agentry_extensions::http` ([`Endpoint::user_supplied`]); one from the server's own
//! configuration is trusted ([`Endpoint::configured`]).

pub mod anthropic;
pub mod azure;
pub mod gemini;
pub mod openai;
pub mod retry;
pub mod select;
pub mod tokens;
mod wire;

use std::time::Duration;

use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }
}

/// A chat request as every provider takes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// The provider's model; its client's default when `None`.
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// Tokens as the provider counted them (when it says).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    /// `stop`, `length`... as the provider said (`stop` when it said nothing).
    pub finish_reason: String,
    pub usage: Option<Usage>,
}

/// One piece of a streamed answer, in the order the provider sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Text to append to the answer.
    Content(String),
    /// The answer is complete.
    Finished { reason: String },
    /// The provider's token counts (some send them last, after `Finished`).
    Usage(Usage),
}

/// A streamed answer: chunks until the provider's end, or an error (a stream that breaks or
/// ends without finishing yields [`ProviderError::Truncated`] last).
pub type ChunkStream = BoxStream<'static, Result<Chunk, ProviderError>>;

/// Why a provider call failed; its text names the provider and never echoes a key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The base URL is refused (not http(s), or an address that is not public).
    #[error("{provider}: the base URL is refused: {reason}")]
    Refused { provider: String, reason: String },
    /// 401 or 403: the key is missing, wrong or lacks access.
    #[error("{provider} refused the API key (HTTP {status}); check the provider's key setting")]
    Unauthorized { provider: String, status: u16 },
    /// 429 after every retry.
    #[error("{provider} is rate limiting requests (HTTP 429)")]
    RateLimited { provider: String },
    /// Another 4xx: the request was refused; `message` is the provider's, cut short.
    #[error("{provider} refused the request (HTTP {status}): {message}")]
    BadRequest {
        provider: String,
        status: u16,
        message: String,
    },
    /// 5xx after every retry.
    #[error("{provider} failed (HTTP {status})")]
    Unavailable { provider: String, status: u16 },
    /// No answer in time (connecting, the first byte, or between chunks).
    #[error("{provider} did not answer within {after:?}")]
    Timeout { provider: String, after: Duration },
    /// Connecting or reading failed.
    #[error("{provider} could not be reached: {reason}")]
    Unreachable { provider: String, reason: String },
    /// The answer is not in the provider's format.
    #[error("{provider} sent a malformed answer: {reason}")]
    Malformed { provider: String, reason: String },
    /// The stream ended before the answer did.
    #[error("{provider}'s stream ended before the answer was complete")]
    Truncated { provider: String },
}

impl ProviderError {
    /// Whether another try may succeed (rate limits, server failures, the network). A
    /// provider that did not answer in time is not tried again: its timeout already is the
    /// longest a caller should wait for it (the next provider is tried instead).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Unavailable { .. }
                | ProviderError::Unreachable { .. }
        )
    }
}

/// A model behind a provider's API.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// The provider's name (in errors and logs).
    fn provider(&self) -> &str;

    /// The whole answer at once.
    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError>;

    /// The answer as the provider produces it. Fails before the first chunk when the call
    /// cannot start (retried as [`ChatModel::complete`] is).
    async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, ProviderError>;
}

/// The largest answer body read from a provider; a larger one is refused as malformed
/// (a provider, or a base URL a user set, cannot make the server hold any amount).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A response's body, at most [`MAX_BODY_BYTES`]; `Ok(None)` when it is larger.
pub(crate) async fn body_capped(
    response: reqwest::Response,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    let mut pieces = response.bytes_stream();
    while let Some(piece) = pieces.next().await {
        let piece = piece?;
        if body.len().saturating_add(piece.len()) > MAX_BODY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&piece);
    }
    Ok(Some(body))
}

/// The bytes of a streamed answer, ending (as if the connection did) once they pass
/// [`MAX_BODY_BYTES`]: the stream then reads as truncated. Bounds what the event parser
/// buffers too (a line that never ends).
pub(crate) fn stream_capped(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<impl AsRef<[u8]>, reqwest::Error>> {
    use futures_util::StreamExt;
    response.bytes_stream().scan(0usize, |read, piece| {
        if let Ok(bytes) = &piece {
            *read = read.saturating_add(bytes.len());
        }
        std::future::ready((*read <= MAX_BODY_BYTES).then_some(piece))
    })
}

/// How long a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response's headers (and, not streaming, its whole body).
    pub response: Duration,
    /// Between two chunks of a stream.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(300),
            idle: Duration::from_secs(120),
        }
    }
}

/// The HTTP clients provider calls go through, built once and shared (a client holds its
/// connection pool and TLS roots; building one per call would cost more than the call's
/// own overhead): one for trusted base URLs, one that applies the address rules.
#[derive(Debug, Clone)]
pub struct Clients {
    trusted: reqwest::Client,
    guarded: reqwest::Client,
    allow_private: bool,
}

impl Clients {
    /// Clients that give up connecting after `connect`; `allow_private` lets user-supplied
    /// base URLs reach loopback and private addresses (`AGENTRY_ALLOW_PRIVATE_HTTP`).
    pub fn new(connect: Duration, allow_private: bool) -> Result<Clients, String> {
        let failed = |error: reqwest::Error| format!("the HTTP client could not start: {error}");
        // No redirects: a provider's API does not need them, and a key sent in a header of
        // its own (`api-key`, `x-goog-api-key`) would follow one to another host.
        let trusted = reqwest::Client::builder()
            .user_agent(concat!("Agentry/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(failed)?;
        let guarded = agentry_extensions::http::guarded_builder(allow_private)
            .connect_timeout(connect)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(failed)?;
        Ok(Clients {
            trusted,
            guarded,
            allow_private,
        })
    }
}

/// Where a provider is, and whether its address may be trusted.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base_url: String,
    client: reqwest::Client,
}

impl Endpoint {
    /// A base URL from the server's own configuration (environment, file): trusted, so a
    /// model server on this machine or the private network works.
    pub fn configured(base_url: &str, clients: &Clients) -> Endpoint {
        Endpoint {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            client: clients.trusted.clone(),
        }
    }

    /// A base URL from an agent's or a company's settings: user input. Refused when it names
    /// an address that is not public, and every address its host resolves to is checked at
    /// connect time (DNS can change), unless the clients allow private addresses
    /// (`AGENTRY_ALLOW_PRIVATE_HTTP`).
    pub fn user_supplied(
        base_url: &str,
        clients: &Clients,
    ) -> Result<Endpoint, agentry_extensions::HttpError> {
        let url = agentry_extensions::http::checked_url(base_url, clients.allow_private)?;
        Ok(Endpoint {
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            client: clients.guarded.clone(),
        })
    }

    /// The URL of `path` under the base.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

//! What every provider client shares, whatever its wire format: sending a request with its
//! timeout and retrying what is transient (honouring `Retry-After`), mapping a refusal's
//! status to a [`ProviderError`], reading the provider's message from an error body (cut
//! short, the key masked should it be echoed), and naming the provider in every error.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::retry::{self, RetryPolicy};
use crate::{ProviderError, Timeouts};

/// Bytes of an error body kept for its message.
const ERROR_BODY_BYTES: usize = 4096;

/// A client's name, key, timeouts and retry policy, borrowed for one call.
pub(crate) struct Wire<'a> {
    pub name: &'a str,
    pub api_key: Option<&'a str>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

/// A refusal's body: the provider's message (`error.message`, or the text; cut short, the
/// key masked) and the JSON, when it is JSON.
pub(crate) struct ErrorBody {
    pub message: String,
    pub json: Option<Value>,
}

impl Wire<'_> {
    /// The response to the request `build` makes, once its status is a success; 429, 5xx and
    /// transport failures are tried again. `key_refused` says whether a refusal of another
    /// status means a wrong key (Gemini answers one with a 400).
    pub(crate) async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        key_refused: impl Fn(u16, &ErrorBody) -> bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut attempt = 0;
        loop {
            match self.send_once(build(), &key_refused).await {
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
        request: reqwest::RequestBuilder,
        key_refused: &impl Fn(u16, &ErrorBody) -> bool,
    ) -> Result<reqwest::Response, (ProviderError, Option<Duration>)> {
        let response = tokio::time::timeout(self.timeouts.response, request.send())
            .await
            .map_err(|_| (self.timeout(self.timeouts.response), None))?
            .map_err(|error| (self.transport(&error), None))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry::retry_after(response.headers());
        let body = self.error_body(response).await;
        let (provider, status) = (self.name.to_owned(), status.as_u16());
        // 529 (Anthropic's "overloaded") is a server failure like the other 5xx.
        let error = match status {
            401 | 403 => ProviderError::Unauthorized { provider, status },
            status if key_refused(status, &body) => {
                ProviderError::Unauthorized { provider, status }
            }
            429 => ProviderError::RateLimited { provider },
            500..=599 => ProviderError::Unavailable { provider, status },
            _ => ProviderError::BadRequest {
                provider,
                status,
                message: body.message,
            },
        };
        Err((error, retry_after))
    }

    /// A refusal's body, read up to [`ERROR_BODY_BYTES`].
    async fn error_body(&self, response: reqwest::Response) -> ErrorBody {
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
        let json = serde_json::from_str::<Value>(&text).ok();
        let message = json
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str())
            .unwrap_or(&text);
        ErrorBody {
            message: self.masked(message),
            json,
        }
    }

    /// `message` cut short, with the key masked.
    pub(crate) fn masked(&self, message: &str) -> String {
        let mut message: String = message.trim().chars().take(300).collect();
        if let Some(key) = self.api_key {
            message = message.replace(key, "***");
        }
        message
    }

    pub(crate) fn timeout(&self, after: Duration) -> ProviderError {
        ProviderError::Timeout {
            provider: self.name.to_owned(),
            after,
        }
    }

    /// A transport failure, said by its innermost cause (refused, DNS, an address the rules
    /// refuse).
    pub(crate) fn transport(&self, error: &reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            return self.timeout(self.timeouts.connect);
        }
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        ProviderError::Unreachable {
            provider: self.name.to_owned(),
            reason,
        }
    }

    pub(crate) fn malformed(&self, reason: impl Into<String>) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.to_owned(),
            reason: reason.into(),
        }
    }
}

//! Azure OpenAI: OpenAI's chat completions format ([`OpenAiCompatible`]) at
//! `POST {base}/openai/deployments/{deployment}/chat/completions?api-version={version}`, the
//! key in an `api-key` header. The base is the resource's, such as
//! `https://my-resource.openai.azure.com`; the deployment names the model.

use crate::Endpoint;
use crate::openai::{Auth, OpenAiCompatible};

/// A client for `deployment` of an Azure OpenAI resource, speaking API version
/// `api_version` (such as `2024-10-21`); `name` is the provider's (in errors). Timeouts and
/// retries are set as for any [`OpenAiCompatible`].
pub fn azure(
    name: &str,
    endpoint: Endpoint,
    api_key: &str,
    deployment: &str,
    api_version: &str,
) -> OpenAiCompatible {
    let path = format!(
        "openai/deployments/{}/chat/completions?api-version={}",
        encode(deployment.trim()),
        encode(api_version.trim()),
    );
    OpenAiCompatible::new(name, endpoint, api_key, deployment.trim())
        .with_wire(Auth::ApiKeyHeader, path)
}

/// `text` percent-encoded but for RFC 3986's unreserved characters (safe in a path segment
/// and a query value).
pub(crate) fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn names_are_encoded_for_the_path_and_query() {
        assert_eq!(encode("gpt-4o_mini.2"), "gpt-4o_mini.2");
        assert_eq!(encode("a/b?c&d e"), "a%2Fb%3Fc%26d%20e");
    }
}

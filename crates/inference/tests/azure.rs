//! The Azure OpenAI client against the fake Azure resource on 127.0.0.1: the deployment's
//! path with its `api-version`, the key in `api-key` (no bearer), OpenAI's answers and
//! streams, a missing version, a wrong key, server failures.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_inference::azure::azure;
use agentry_inference::openai::OpenAiCompatible;
use agentry_inference::retry::RetryPolicy;
use agentry_inference::{
    ChatMessage, ChatModel, ChatRequest, Chunk, ProviderError, Timeouts, Usage,
};
use agentry_test_support::fake_wires::FakeAzure;
use futures_util::StreamExt;

const KEY: &str = "azure-test-0123456789";
const VERSION: &str = "2024-10-21";

fn client(fake: &FakeAzure, deployment: &str, version: &str) -> OpenAiCompatible {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
        idle: Duration::from_secs(1),
    };
    let endpoint = agentry_inference::Endpoint::configured(
        &fake.url,
        &agentry_inference::Clients::new(std::time::Duration::from_secs(2), false)
            .expect("clients"),
    );
    azure("azure", endpoint, KEY, deployment, version)
        .with_timeouts(timeouts)
        .with_retry(RetryPolicy {
            retries: 2,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50),
        })
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::system("be brief"), ChatMessage::user(text)],
        temperature: Some(0.5),
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn a_completion_at_the_deployments_path_with_the_api_key_header() {
    let fake = FakeAzure::start();
    let answer = client(&fake, "echo", VERSION)
        .complete(&ask("hello"))
        .await
        .expect("an answer");
    assert_eq!(answer.content, "echo: hello");
    assert_eq!(answer.finish_reason, "stop");
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 7,
            completion_tokens: 3
        })
    );
    assert_eq!(
        fake.uris(),
        vec![format!(
            "/openai/deployments/echo/chat/completions?api-version={VERSION}"
        )]
    );
    assert_eq!(fake.keys(), vec![Some(KEY.to_owned())]);
    assert_eq!(fake.authorizations(), vec![None::<String>], "no bearer key");
    let body = &fake.bodies()[0];
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stream"], false);
}

#[tokio::test]
async fn a_stream_reads_as_the_whole_answer() {
    let fake = FakeAzure::start();
    let model = client(&fake, "echo", VERSION);
    let whole = model
        .complete(&ask("a longer question"))
        .await
        .expect("an answer");
    let chunks: Vec<Chunk> = model
        .stream(&ask("a longer question"))
        .await
        .expect("the stream starts")
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|c| c.expect("no error"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, whole.content);
    assert_eq!(
        chunks[chunks.len() - 2..],
        [
            Chunk::Finished {
                reason: "stop".into()
            },
            Chunk::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 3
            })
        ]
    );
    assert_eq!(fake.bodies()[1]["stream"], true);
}

#[tokio::test]
async fn the_deployment_and_version_are_encoded_and_a_missing_version_is_refused() {
    let fake = FakeAzure::start();
    let answer = client(&fake, "my model", VERSION)
        .complete(&ask("hi"))
        .await
        .expect("an answer");
    assert_eq!(answer.content, "echo: hi");
    assert_eq!(
        fake.uris()[0],
        format!("/openai/deployments/my%20model/chat/completions?api-version={VERSION}")
    );
    let refused = client(&fake, "echo", "").complete(&ask("x")).await;
    assert!(
        matches!(&refused, Err(ProviderError::BadRequest { status: 400, message, .. }) if message.contains("api-version")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_a_failing_resource_retried() {
    let fake = FakeAzure::start();
    let refused = client(&fake, "bad-key", VERSION)
        .complete(&ask("x"))
        .await
        .expect_err("401");
    assert_eq!(
        refused,
        ProviderError::Unauthorized {
            provider: "azure".into(),
            status: 401
        }
    );
    assert!(!refused.to_string().contains(KEY), "{refused}");
    assert_eq!(fake.bodies().len(), 1, "not retried");
    let down = client(&fake, "down", VERSION).complete(&ask("x")).await;
    assert_eq!(
        down,
        Err(ProviderError::Unavailable {
            provider: "azure".into(),
            status: 503
        })
    );
    assert_eq!(fake.bodies().len(), 4, "tried three times");
}

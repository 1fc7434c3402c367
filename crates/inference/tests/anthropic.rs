//! The Anthropic client against the fake Messages API on 127.0.0.1: the request's shape
//! (key and version headers, `system`, alternating turns, `max_tokens`), answers, streams
//! cut anywhere, malformed and truncated streams, overload retries, a wrong key.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_inference::anthropic::Anthropic;
use agentry_inference::retry::RetryPolicy;
use agentry_inference::{
    ChatMessage, ChatModel, ChatRequest, Chunk, ProviderError, Role, Timeouts, Usage,
};
use agentry_test_support::fake_wires::FakeAnthropic;
use futures_util::StreamExt;
use serde_json::json;

const KEY: &str = "sk-ant-test-0123456789";

fn client(fake: &FakeAnthropic, model: &str) -> Anthropic {
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
    Anthropic::new("anthropic", endpoint, KEY, model)
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

/// Every chunk of a stream, the error that ended it last.
async fn drain(model: &Anthropic, text: &str) -> Vec<Result<Chunk, ProviderError>> {
    model
        .stream(&ask(text))
        .await
        .expect("the stream starts")
        .collect()
        .await
}

fn text_of(chunks: &[Chunk]) -> String {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_completion_with_its_usage_and_the_key_and_version_sent() {
    let fake = FakeAnthropic::start();
    let answer = client(&fake, "echo")
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
    assert_eq!(fake.keys(), vec![Some(KEY.to_owned())]);
    assert_eq!(fake.versions(), vec![Some("2023-06-01".to_owned())]);
    assert_eq!(fake.requests()[0].authorization, None, "no bearer key");
    let body = &fake.bodies()[0];
    assert_eq!(body["model"], "echo");
    assert_eq!(body["max_tokens"], 4096, "required: a default is sent");
    assert_eq!(body["system"], "be brief");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "hello"}])
    );
    assert_eq!(body["temperature"], 0.5);
    assert!(body.get("top_p").is_none(), "{body}");
    assert_eq!(body["stream"], false);
}

#[tokio::test]
async fn system_messages_are_joined_and_turns_alternate() {
    let fake = FakeAnthropic::start();
    let request = ChatRequest {
        messages: vec![
            ChatMessage::system("be brief"),
            ChatMessage::system("be kind"),
            ChatMessage::user("one"),
            ChatMessage::user("two"),
            ChatMessage {
                role: Role::Assistant,
                content: "a reply".into(),
            },
            ChatMessage::user("three"),
        ],
        max_tokens: Some(100),
        top_p: Some(0.9),
        ..ChatRequest::default()
    };
    // The fake refuses turns that do not alternate, as Anthropic does.
    let answer = client(&fake, "echo")
        .complete(&request)
        .await
        .expect("an answer");
    assert_eq!(answer.content, "echo: three");
    let body = &fake.bodies()[0];
    assert_eq!(body["system"], "be brief\n\nbe kind");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "one\n\ntwo"},
            {"role": "assistant", "content": "a reply"},
            {"role": "user", "content": "three"},
        ])
    );
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["top_p"], 0.9);
}

#[tokio::test]
async fn a_stream_cut_mid_line_reads_as_the_whole_answer() {
    let fake = FakeAnthropic::start();
    let model = client(&fake, "echo");
    let whole = model
        .complete(&ask("a longer question"))
        .await
        .expect("an answer");
    let chunks: Vec<Chunk> = drain(&model, "a longer question")
        .await
        .into_iter()
        .map(|c| c.expect("no error"))
        .collect();
    assert_eq!(text_of(&chunks), whole.content);
    let deltas = chunks
        .iter()
        .filter(|c| matches!(c, Chunk::Content(_)))
        .count();
    assert_eq!(deltas, 3, "forwarded as the provider sent them: {chunks:?}");
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
async fn malformed_truncated_and_failing_streams_end_with_an_error() {
    let fake = FakeAnthropic::start();
    let malformed = drain(&client(&fake, "malformed"), "x").await;
    assert!(
        matches!(malformed.last(), Some(Err(ProviderError::Malformed { .. }))),
        "{malformed:?}"
    );
    let truncated = drain(&client(&fake, "truncated"), "x").await;
    assert_eq!(
        truncated.first(),
        Some(&Ok(Chunk::Content("partial".into())))
    );
    assert!(
        matches!(truncated.last(), Some(Err(ProviderError::Truncated { .. }))),
        "{truncated:?}"
    );
    let overloaded = drain(&client(&fake, "overloaded-mid-stream"), "x").await;
    assert_eq!(
        overloaded,
        vec![
            Ok(Chunk::Content("partial".into())),
            Err(ProviderError::Unavailable {
                provider: "anthropic".into(),
                status: 529
            })
        ]
    );
}

#[tokio::test]
async fn an_overloaded_provider_is_retried_then_reported() {
    let fake = FakeAnthropic::start();
    let overloaded = client(&fake, "overloaded").complete(&ask("x")).await;
    assert_eq!(
        overloaded,
        Err(ProviderError::Unavailable {
            provider: "anthropic".into(),
            status: 529
        })
    );
    assert_eq!(fake.bodies().len(), 3, "tried three times");
}

#[tokio::test]
async fn a_wrong_key_is_refused_once_and_never_echoed() {
    let fake = FakeAnthropic::start();
    let refused = client(&fake, "bad-key")
        .complete(&ask("x"))
        .await
        .expect_err("401");
    assert_eq!(
        refused,
        ProviderError::Unauthorized {
            provider: "anthropic".into(),
            status: 401
        }
    );
    assert!(!refused.to_string().contains(KEY), "{refused}");
    let streamed = client(&fake, "bad-key")
        .stream(&ask("x"))
        .await
        .err()
        .expect("401");
    assert!(
        matches!(streamed, ProviderError::Unauthorized { status: 401, .. }),
        "{streamed:?}"
    );
    assert_eq!(fake.bodies().len(), 2, "one call each");
}

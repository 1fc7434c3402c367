//! The OpenAI-compatible client against the fake model server on 127.0.0.1: answers,
//! streams cut anywhere, malformed and truncated streams, retries, refusals, timeouts.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_inference::openai::OpenAiCompatible;
use agentry_inference::retry::RetryPolicy;
use agentry_inference::{
    ChatMessage, ChatModel, ChatRequest, Chunk, Clients, Endpoint, ProviderError, Timeouts, Usage,
};
use agentry_test_support::fake_model::FakeModel;
use futures_util::StreamExt;

const KEY: &str = "sk-test-0123456789";

fn client(fake: &FakeModel, model: &str) -> OpenAiCompatible {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_millis(500),
        idle: Duration::from_millis(300),
    };
    let clients = Clients::new(timeouts.connect, false).expect("clients");
    let endpoint = Endpoint::configured(&fake.url, &clients);
    OpenAiCompatible::new("openai", endpoint, KEY, model)
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
async fn drain(model: &OpenAiCompatible, text: &str) -> Vec<Result<Chunk, ProviderError>> {
    model
        .stream(&ask(text))
        .await
        .expect("the stream starts")
        .collect()
        .await
}

#[tokio::test]
async fn a_completion_with_its_usage_and_the_key_sent() {
    let fake = FakeModel::start();
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
    assert_eq!(fake.authorizations(), vec![Some(format!("Bearer {KEY}"))]);
    let body = &fake.bodies()[0];
    assert_eq!(body["model"], "echo");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["stream"], false);
}

#[tokio::test]
async fn a_stream_cut_mid_line_with_comments_and_multi_line_data_reads_whole() {
    let fake = FakeModel::start();
    let chunks = drain(&client(&fake, "echo"), "a longer question").await;
    let chunks: Vec<Chunk> = chunks.into_iter().map(|c| c.expect("no error")).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Content(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "echo: a longer question");
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
    assert_eq!(fake.bodies()[0]["stream"], true);
}

#[tokio::test]
async fn malformed_truncated_and_stalled_streams_end_with_an_error() {
    let fake = FakeModel::start();
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
    let stalled = drain(&client(&fake, "stall"), "x").await;
    assert!(
        matches!(stalled.last(), Some(Err(ProviderError::Timeout { .. }))),
        "{stalled:?}"
    );
    assert_eq!(stalled.len(), 2, "one delta, then the idle timeout");
}

#[tokio::test]
async fn rate_limits_and_server_failures_are_retried_then_reported() {
    let fake = FakeModel::start();
    // 429 (Retry-After: 0), 503, then the answer: three calls.
    let answer = client(&fake, "flaky")
        .complete(&ask("again"))
        .await
        .expect("answered on the third try");
    assert_eq!(answer.content, "echo: again");
    assert_eq!(fake.bodies().len(), 3);
    let down = client(&fake, "down").complete(&ask("x")).await;
    assert_eq!(
        down,
        Err(ProviderError::Unavailable {
            provider: "openai".into(),
            status: 503
        })
    );
    assert_eq!(fake.bodies().len(), 6, "tried three times");
}

#[tokio::test]
async fn refusals_are_not_retried_and_never_echo_the_key() {
    let fake = FakeModel::start();
    let refused = client(&fake, "bad-key")
        .complete(&ask("x"))
        .await
        .expect_err("401");
    assert_eq!(
        refused,
        ProviderError::Unauthorized {
            provider: "openai".into(),
            status: 401
        }
    );
    assert!(!refused.to_string().contains(KEY), "{refused}");
    let bad = client(&fake, "refuse")
        .stream(&ask("x"))
        .await
        .err()
        .expect("400");
    assert!(
        matches!(&bad, ProviderError::BadRequest { status: 400, message, .. } if message == "max_tokens is too large"),
        "{bad:?}"
    );
    assert_eq!(fake.bodies().len(), 2, "one call each");
}

#[tokio::test]
async fn a_slow_provider_times_out_and_a_refused_base_url_is_never_called() {
    let fake = FakeModel::start();
    let slow = client(&fake, "slow")
        .with_retry(RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        })
        .complete(&ask("x"))
        .await;
    assert!(
        matches!(slow, Err(ProviderError::Timeout { .. })),
        "{slow:?}"
    );
    // From an agent's settings: loopback is refused unless the server allows private HTTP.
    let strict = Clients::new(Duration::from_secs(2), false).expect("clients");
    let refused = Endpoint::user_supplied(&fake.url, &strict);
    assert!(
        matches!(refused, Err(agentry_extensions::HttpError::Forbidden(_))),
        "{refused:?}"
    );
    let open = Clients::new(Duration::from_secs(2), true).expect("clients");
    let allowed = Endpoint::user_supplied(&fake.url, &open).expect("allowed");
    let answer = OpenAiCompatible::new("local", allowed, "", "echo")
        .complete(&ask("hi"))
        .await;
    assert_eq!(answer.map(|a| a.content), Ok("echo: hi".to_owned()));
    assert_eq!(
        fake.authorizations().last(),
        Some(&None),
        "no key, no header"
    );
}

#[tokio::test]
async fn dropping_a_stream_closes_the_provider_call() {
    let fake = FakeModel::start();
    let model = client(&fake, "stall").with_timeouts(Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
        idle: Duration::from_secs(20),
    });
    let mut stream = model.stream(&ask("x")).await.expect("started");
    assert_eq!(
        stream.next().await,
        Some(Ok(Chunk::Content("partial".into())))
    );
    drop(stream);
    // The fake's handler sees its client gone: its connection count drops back to zero.
    assert!(
        fake.wait_idle(Duration::from_secs(2)).await,
        "the provider's connection was closed"
    );
}

//! The Gemini client against the fake Gemini API on 127.0.0.1: the request's shape (the key
//! in its header and never in the URL, `systemInstruction`, `model` turns,
//! `generationConfig`), answers, streams cut anywhere, malformed and truncated streams,
//! server failures, Gemini's 400 for a wrong key.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_inference::gemini::Gemini;
use agentry_inference::retry::RetryPolicy;
use agentry_inference::{
    ChatMessage, ChatModel, ChatRequest, Chunk, ProviderError, Role, Timeouts, Usage,
};
use agentry_test_support::fake_wires::FakeGemini;
use futures_util::StreamExt;
use serde_json::json;

const KEY: &str = "AIza-test-0123456789";

fn client(fake: &FakeGemini, model: &str) -> Gemini {
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
    Gemini::new("gemini", endpoint, KEY, model)
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
async fn drain(model: &Gemini, text: &str) -> Vec<Result<Chunk, ProviderError>> {
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
async fn a_completion_with_its_usage_and_the_key_in_its_header_only() {
    let fake = FakeGemini::start();
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
    assert_eq!(fake.uris(), vec!["/v1beta/models/echo:generateContent"]);
    assert!(!fake.uris()[0].contains(KEY), "the key is not in the URL");
    assert_eq!(fake.requests()[0].authorization, None);
    let body = &fake.bodies()[0];
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(body["generationConfig"], json!({"temperature": 0.5}));
    assert!(body.get("model").is_none(), "the model is in the URL");
}

#[tokio::test]
async fn the_assistant_speaks_as_the_model_and_options_are_named_as_gemini_names_them() {
    let fake = FakeGemini::start();
    let request = ChatRequest {
        messages: vec![
            ChatMessage::user("one"),
            ChatMessage {
                role: Role::Assistant,
                content: "a reply".into(),
            },
            ChatMessage::user("two"),
            ChatMessage::user("three"),
        ],
        model: Some("models/echo".into()),
        top_p: Some(0.9),
        max_tokens: Some(100),
        ..ChatRequest::default()
    };
    // The fake refuses roles other than `user` and `model`, as Gemini does.
    let answer = client(&fake, "other")
        .complete(&request)
        .await
        .expect("an answer");
    assert_eq!(answer.content, "echo: two\n\nthree");
    assert_eq!(fake.uris(), vec!["/v1beta/models/echo:generateContent"]);
    let body = &fake.bodies()[0];
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "one"}]},
            {"role": "model", "parts": [{"text": "a reply"}]},
            {"role": "user", "parts": [{"text": "two\n\nthree"}]},
        ])
    );
    assert!(body.get("systemInstruction").is_none(), "{body}");
    assert_eq!(
        body["generationConfig"],
        json!({"topP": 0.9, "maxOutputTokens": 100})
    );
}

#[tokio::test]
async fn a_stream_cut_mid_line_reads_as_the_whole_answer() {
    let fake = FakeGemini::start();
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
    let uri = &fake.uris()[1];
    assert_eq!(uri, "/v1beta/models/echo:streamGenerateContent?alt=sse");
    assert!(!uri.contains(KEY), "the key is not in the URL");
}

#[tokio::test]
async fn malformed_and_truncated_streams_end_with_an_error() {
    let fake = FakeGemini::start();
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
    assert_eq!(truncated.len(), 2, "no Finished without a finish reason");
}

#[tokio::test]
async fn a_failing_provider_is_retried_then_reported() {
    let fake = FakeGemini::start();
    let down = client(&fake, "down").complete(&ask("x")).await;
    assert_eq!(
        down,
        Err(ProviderError::Unavailable {
            provider: "gemini".into(),
            status: 503
        })
    );
    assert_eq!(fake.bodies().len(), 3, "tried three times");
}

#[tokio::test]
async fn geminis_400_for_a_wrong_key_is_unauthorized_and_never_echoes_it() {
    let fake = FakeGemini::start();
    let refused = client(&fake, "bad-key")
        .complete(&ask("x"))
        .await
        .expect_err("400");
    assert_eq!(
        refused,
        ProviderError::Unauthorized {
            provider: "gemini".into(),
            status: 400
        }
    );
    assert!(!refused.to_string().contains(KEY), "{refused}");
    let streamed = client(&fake, "bad-key")
        .stream(&ask("x"))
        .await
        .err()
        .expect("400");
    assert!(
        matches!(streamed, ProviderError::Unauthorized { status: 400, .. }),
        "{streamed:?}"
    );
    assert_eq!(fake.bodies().len(), 2, "one call each, not retried");
}

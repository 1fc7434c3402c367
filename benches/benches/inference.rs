//! Inference-layer benchmarks: cl100k token counts of a rendered prompt, provider selection
//! over merged settings, and the OpenAI-compatible client reading a whole streamed answer
//! from the fake model on 127.0.0.1 (SSE parsed incrementally).
#![expect(
    clippy::expect_used,
    reason = "a benchmark harness: a failed setup should stop it"
)]

use std::hint::black_box;
use std::time::Duration;

use agentry_inference::openai::OpenAiCompatible;
use agentry_inference::select::{Layer, Setting, Settings, choose};
use agentry_inference::{ChatMessage, ChatModel, ChatRequest, Clients, Endpoint, tokens};
use agentry_test_support::fake_model::FakeModel;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;

fn prompt() -> String {
    let line = "You are a helpful agent. The user asks about the weather in Lisbon in May, \
                and what to pack for a week of walking, museums and a day at the beach.\n";
    line.repeat(20)
}

fn bench(c: &mut Criterion) {
    let text = prompt();
    tokens::warm();
    c.bench_function("tokens::count, a 3 KB prompt", |b| {
        b.iter(|| tokens::count(black_box(&text)))
    });

    let settings: Settings = [
        ("provider", "rotation", false),
        ("OPENAI_API_KEY", "sk-o", true),
        ("DEEPSEEK_API_KEY", "sk-d", true),
        ("ANTHROPIC_API_KEY", "sk-a", false),
        ("EZLOCALAI_API_URI", "http://127.0.0.1:8091/v1", true),
    ]
    .iter()
    .map(|(k, v, server)| {
        let setting = Setting {
            value: (*v).to_owned(),
            layer: if *server { Layer::Server } else { Layer::Agent },
        };
        ((*k).to_owned(), setting)
    })
    .collect();
    c.bench_function("select::choose, 4 configured providers", |b| {
        b.iter(|| choose(black_box(&settings), 1_000))
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = runtime.block_on(async { FakeModel::start() });
    let clients = Clients::new(Duration::from_secs(2), false).expect("clients");
    let model = OpenAiCompatible::new(
        "ezlocalai",
        Endpoint::configured(&fake.url, &clients),
        "",
        "fast",
    );
    let request = ChatRequest {
        messages: vec![ChatMessage::user(text.clone())],
        ..ChatRequest::default()
    };
    c.bench_function("openai client, a streamed 3 KB answer from the fake", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let stream = model.stream(&request).await.expect("a stream");
                stream.count().await
            })
        })
    });
    drop(fake);
}

criterion_group!(benches, bench);
criterion_main!(benches);

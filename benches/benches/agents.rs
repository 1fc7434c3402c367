//! Agent benchmarks: the read model behind `GET /v1/agent` and `GET /v1/agent/{id}` (held,
//! and filled again after an invalidation), secret masking of a full settings map, and scope
//! matching. SQLite (a seeded user with 10 agents).
#![expect(
    clippy::expect_used,
    reason = "a benchmark harness: a failed setup should stop it"
)]

use std::hint::black_box;
use std::sync::Arc;

use agentry_app::agents::NewAgentBody;
use agentry_app::{App, Caller, Settings};
use agentry_domain::agent::{is_secret, mask_hidden};
use agentry_domain::catalog::Catalog;
use agentry_domain::{RoleId, ScopeSet};
use agentry_store::{Connector, PoolOptions, Uow, build_pool};
use agentry_test_support::{TestDb, seed_member};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn app_with_agents(db: &TestDb) -> (App, Caller, String) {
    let (user, _) = seed_member(db, "bench@example.com", RoleId::COMPANY_ADMIN);
    let pool = build_pool(Connector::new(db.url().clone()), &PoolOptions::default());
    let app = App::new(pool, Settings::for_tests());
    let caller = Caller {
        user,
        email: "bench@example.com".into(),
        issued_at: 0.0,
        token: None,
    };
    let mut first = String::new();
    for i in 0..10 {
        let body: NewAgentBody = serde_json::from_value(json!({
            "agent_name": format!("Agent {i}"),
            "settings": {"OPENAI_API_KEY": "sk-bench-1234", "persona": "helpful", "OPENAI_MAX_TOKENS": 128000},
        }))
        .expect("body");
        let id = app
            .agents()
            .create_agent(&mut Uow::new(app.pool()), &caller, body)
            .expect("agent");
        if i == 0 {
            first = id.to_string();
        }
    }
    (app, caller, first)
}

fn read_model(c: &mut Criterion) {
    let db = TestDb::sqlite();
    let (app, caller, first) = app_with_agents(&db);
    let mut group = c.benchmark_group("agent read model (sqlite, 10 agents)");
    let mut uow = Uow::new(app.pool());
    app.agents().list_agents(&mut uow, &caller).expect("list");
    group.bench_function("GET /v1/agent held", |b| {
        b.iter(|| black_box(app.agents().cached_agent_list(&caller).expect("held")))
    });
    group.bench_function("GET /v1/agent/{id} held", |b| {
        b.iter(|| {
            black_box(
                app.agents()
                    .agent_config(&mut uow, &caller, &first)
                    .expect("config"),
            )
        })
    });
    let invalidation = format!("bench-origin agents:{}", caller.user);
    group.bench_function("GET /v1/agent after an invalidation (fill)", |b| {
        b.iter(|| {
            app.receive_invalidation(&invalidation);
            black_box(app.agents().list_agents(&mut uow, &caller).expect("list"))
        })
    });
    group.finish();
}

fn masking(c: &mut Criterion) {
    let settings: Vec<(String, String)> = (0..25)
        .map(|i| match i % 5 {
            0 => (format!("PROVIDER{i}_API_KEY"), "sk-0123456789".to_owned()),
            1 => (format!("PROVIDER{i}_MAX_TOKENS"), "128000".to_owned()),
            _ => (format!("setting_{i}"), "some value".to_owned()),
        })
        .collect();
    c.bench_function("mask a 25-setting agent config", |b| {
        b.iter(|| {
            let masked: Vec<String> = settings
                .iter()
                .map(|(name, value)| mask_hidden(name, value))
                .collect();
            black_box(masked)
        })
    });
    c.bench_function("is_secret", |b| {
        b.iter(|| black_box(is_secret(black_box("OPENAI_MAX_TOKENS"))))
    });
}

fn scopes(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let role = RoleId::USER;
    let mut held: Vec<String> = catalog.scopes_of(role).map(str::to_owned).collect();
    held.extend(
        role.role()
            .expect("role")
            .wildcard_patterns()
            .map(str::to_owned),
    );
    let set = Arc::new(ScopeSet::new(held));
    c.bench_function("scope match (role 3, agents:write)", |b| {
        b.iter(|| black_box(set.allows(black_box("agents:write"))))
    });
    c.bench_function(
        "scope match (role 3, ext:essential_abilities:write_to_file)",
        |b| b.iter(|| black_box(set.allows(black_box("ext:essential_abilities:write_to_file")))),
    );
}

criterion_group!(benches, read_model, masking, scopes);
criterion_main!(benches);

//! The prompt and chain lists cost the same statements at 10 and at 500 entries: each is one
//! read model keyed by the user, read in one statement (prompts) or two (chains and their
//! steps) on a new instance, and none once held.

use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Statements of `path` on a new instance (nothing held), then again (held).
async fn cold_and_warm(app: &TestApp, token: &str, path: &str) -> (u64, u64) {
    let fresh = TestApp::spawn_shared(app).await;
    // Let a late wake-up for the writes just made pass before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ((status, _), cold) = fresh
        .counting(call(&fresh, Method::GET, path, token, None))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, warm) = fresh
        .counting(call(&fresh, Method::GET, path, token, None))
        .await;
    (cold, warm)
}

app_tests! {
    async fn list_statements_do_not_grow_with_the_entries(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let mut counts = Vec::new();
        let mut made = 0;
        for target in [10, 500] {
            while made < target {
                let prompt = json!({"prompt_name": format!("P{made}"), "prompt": "{x}"});
                assert_eq!(call(&app, Method::POST, "/v1/prompt", &token, Some(prompt)).await.0, StatusCode::OK);
                let chain = json!({"chain_name": format!("C{made}")});
                assert_eq!(call(&app, Method::POST, "/v1/chain", &token, Some(chain)).await.0, StatusCode::OK);
                made += 1;
            }
            counts.push((
                target,
                cold_and_warm(&app, &token, "/v1/prompts").await,
                cold_and_warm(&app, &token, "/v1/chains").await,
            ));
        }
        eprintln!("LIST STATEMENTS {counts:?}");
        assert_eq!(counts[0].1, counts[1].1, "prompts: {counts:?}");
        assert_eq!(counts[0].2, counts[1].2, "chains: {counts:?}");
        assert_eq!((counts[1].1).1, 0, "held prompts cost nothing");
        assert_eq!((counts[1].2).1, 0, "held chains cost nothing");
    }
}

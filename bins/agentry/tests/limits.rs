//! The per-address limit on unauthenticated account routes, and X-Forwarded-For only from
//! trusted proxies.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry::config::Settings;
use agentry_test_support::{TestApp, app_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login(app: &TestApp, forwarded_for: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/login"))
        .json(&json!({"username": "nobody@example.com", "password": "Wr0ngPassword"}));
    if let Some(hop) = forwarded_for {
        request = request.header("X-Forwarded-For", hop);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

app_tests! {
    async fn login_attempts_are_limited_per_address(db) {
        let settings = Settings { auth_rate_limit: Some(3), ..Settings::default() };
        let app = TestApp::spawn_with(db, settings).await;
        for _ in 0..3 {
            assert_eq!(login(&app, None).await.0, StatusCode::UNAUTHORIZED);
        }
        let (status, body) = login(&app, None).await;
        assert_eq!((status, body), (StatusCode::TOO_MANY_REQUESTS, json!({"detail": "Too many requests. Please try again later."})));
        // Without a trusted proxy, a forged header changes nothing.
        assert_eq!(login(&app, Some("203.0.113.9")).await.0, StatusCode::TOO_MANY_REQUESTS);
        // Authenticated routes are not limited by it.
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    }

    async fn behind_a_trusted_proxy_each_client_has_its_own_budget(db) {
        let settings = Settings {
            auth_rate_limit: Some(2),
            trusted_proxies: Some("127.0.0.1".into()),
            ..Settings::default()
        };
        let app = TestApp::spawn_with(db, settings).await;
        for _ in 0..2 {
            assert_eq!(login(&app, Some("203.0.113.1")).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&app, Some("203.0.113.1")).await.0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login(&app, Some("203.0.113.2")).await.0, StatusCode::UNAUTHORIZED, "another client");
    }
}

//! The server over HTTP: the real application on port 0, on SQLite and PostgreSQL.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::collections::HashSet;

use agentry_test_support::{TestApp, app_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json",
        "every answer is JSON"
    );
    response.json().await.unwrap()
}

app_tests! {
    async fn health_and_ready_answer(db) {
        let app = TestApp::spawn(db).await;
        let health = app.get("/health").await;
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(json(health).await, json!({"status": "ok"}));

        // On PostgreSQL the bus connects in the background just after start: degraded (still
        // 200) until then.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let (ready, statements) = app.counting(app.get("/ready")).await;
            assert_eq!(ready.status(), StatusCode::OK);
            assert_eq!(statements, 1, "readiness costs one trivial statement");
            let body = json(ready).await;
            if body == json!({"status": "ready"}) {
                break;
            }
            assert_eq!(body["status"], "degraded", "{body}");
            assert!(std::time::Instant::now() < deadline, "the bus never connected");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn every_response_carries_a_request_id(db) {
        let app = TestApp::spawn(db).await;
        let mut seen = HashSet::new();
        for path in ["/health", "/ready", "/nowhere", "/health"] {
            let response = app.get(path).await;
            let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(id.len(), 32, "{id}");
            assert!(seen.insert(id), "ids are unique");
        }
        let echoed = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", "trace-42.a")
            .send()
            .await
            .unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "trace-42.a");
        let replaced = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", "no spaces or <html> allowed")
            .send()
            .await
            .unwrap();
        assert_ne!(replaced.headers()["x-request-id"], "no spaces or <html> allowed");
    }

    async fn unknown_routes_and_wrong_methods_answer_json(db) {
        let app = TestApp::spawn(db).await;
        let (missing, statements) = app.counting(app.get("/v1/nothing-here")).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(json(missing).await, json!({"detail": "Not Found"}));
        assert_eq!(statements, 0);

        let wrong = app.client.post(app.url("/health")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(json(wrong).await, json!({"detail": "Method Not Allowed"}));

        let wrong = app.client.delete(app.url("/ready")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    async fn large_bodies_to_unknown_routes_get_a_json_404(db) {
        let app = TestApp::spawn(db).await;
        let body = vec![b'x'; app.config.max_body_bytes + 1];
        let response = app
            .client
            .post(app.url("/v1/anything"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        // No route takes a body yet: the unknown route answers first, as JSON.
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(json(response).await["detail"].is_string());
    }

    async fn graceful_stop_closes_the_listener(db) {
        let app = TestApp::spawn(db).await;
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        app.stop().await;
        let after = reqwest::Client::new().get(app.url("/health")).send().await;
        assert!(after.is_err(), "nothing listens after a stop");
    }
}

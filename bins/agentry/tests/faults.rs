//! The database drops every connection under a running server (a restart, a failover,
//! `pg_terminate_backend`): the pool replaces them, and requests go on succeeding without a
//! restart of the server. PostgreSQL only (SQLite has no server to drop them).

use agentry_test_support::{TestApp, TestDb};
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn statuses(app: &TestApp, token: &str, round: usize) -> Vec<StatusCode> {
    let requests = (0..12).map(|i| async move {
        if i % 2 == 0 {
            app.get("/ready").await.status()
        } else {
            let body = json!({"first_name": format!("Round{round}x{i}")});
            app.call(Method::PUT, "/v1/user", Some(token), Some(body))
                .await
                .0
        }
    });
    join_all(requests).await
}

#[tokio::test]
async fn requests_succeed_after_the_database_drops_every_connection() {
    let Some(db) = TestDb::postgres() else { return };
    let app = TestApp::spawn(db).await;
    let (token, _) = app.register("faults@example.com", None).await;
    // Concurrent requests leave several pooled connections open.
    assert!(
        statuses(&app, &token, 0)
            .await
            .iter()
            .all(|s| *s == StatusCode::OK)
    );

    let mut admin = app.db.connect();
    let terminated: Terminated = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .get_result(&mut admin)
    .unwrap();
    assert!(terminated.count > 0, "the server held connections to drop");

    for round in 1..=3 {
        let answers = statuses(&app, &token, round).await;
        assert!(
            answers.iter().all(|s| *s == StatusCode::OK),
            "round {round} after the drop: {answers:?}"
        );
    }
}

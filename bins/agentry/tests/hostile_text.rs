//! Text the databases cannot both store, and numbers that overflow: a clear 422 on both
//! backends, never a 500 and never a write.

use agentry_test_support::{TEST_PASSWORD, TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NUL_DETAIL: &str = "Text must not contain NUL characters (\\u0000)";

fn refused_for_nul(answer: &(StatusCode, Value), location: &str) {
    assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.1);
    assert_eq!(
        answer.1["detail"][0]["loc"],
        json!([location]),
        "{}",
        answer.1
    );
    assert_eq!(answer.1["detail"][0]["msg"], NUL_DETAIL);
}

app_tests! {
    async fn nul_characters_are_refused_everywhere_with_422(db) {
        // Found: 49 answers were 500 on 20 routes on PostgreSQL, three of them without a
        // token, while SQLite stored such emails.
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("text@example.com", None).await;
        let login = app.call(Method::POST, "/v1/login", None, Some(json!({"username": "a\u{0}b", "password": TEST_PASSWORD}))).await;
        refused_for_nul(&login, "body");
        let register = app.call(Method::POST, "/v1/user", None, Some(json!({
            "email": "nul\u{0}@example.com", "password": TEST_PASSWORD, "confirm_password": TEST_PASSWORD
        }))).await;
        refused_for_nul(&register, "body");
        refused_for_nul(&app.call(Method::GET, "/v1/user/exists?email=a%00b@example.com", None, None).await, "query");
        refused_for_nul(&app.call(Method::PUT, "/v1/user", Some(&token), Some(json!({"first_name": "A\u{0}"}))).await, "body");
        refused_for_nul(&app.call(Method::PUT, "/v1/user", Some(&token), Some(json!({"pref\u{0}": "x"}))).await, "body");
        refused_for_nul(&app.call(Method::POST, "/v1/agent", Some(&token), Some(json!({"agent_name": "Nul\u{0}Agent", "settings": {}}))).await, "body");
        refused_for_nul(&app.call(Method::GET, "/v1/agent/a%00b", Some(&token), None).await, "path");
        // Nothing was written: the name and the agents are as they were.
        let (_, user) = app.call(Method::GET, "/v1/user", Some(&token), None).await;
        assert_eq!(user["first_name"], "Test");
        let (status, exists) = app.call(Method::GET, "/v1/user/exists?email=text@example.com", None, None).await;
        assert_eq!((status, exists), (StatusCode::OK, json!(true)));
        // A backslash and "u0000" are ordinary text.
        let (status, _) = app.call(Method::PUT, "/v1/user", Some(&token), Some(json!({"first_name": "A\\u0000"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (_, user) = app.call(Method::GET, "/v1/user", Some(&token), None).await;
        assert_eq!(user["first_name"], "A\\u0000");
    }

    async fn absurd_pages_are_422_not_500(db) {
        // Found: page=9223372036854775807 answered 500 on PostgreSQL (the offset overflowed).
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("pages@example.com", None).await;
        for page in ["9223372036854775807", "4611686018427387904"] {
            let (status, body) = app.call(Method::GET, &format!("/v1/conversation/-?page={page}"), Some(&token), None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "page {page}: {body}");
            assert_eq!(body["detail"][0]["loc"], json!(["query", "page"]));
        }
        let (status, body) = app.call(Method::GET, "/v1/conversation/-?page=0", Some(&token), None).await;
        assert_eq!((status, body["page"].clone()), (StatusCode::OK, json!(1)), "below 1 is page 1");
        let (status, body) = app.call(Method::GET, "/v1/conversation/-?page=2&limit=50", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["conversation_history"], json!([]));
        let (status, _) = app.call(Method::GET, "/v1/conversations?offset=9223372036854775807", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
    }
}

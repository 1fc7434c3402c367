//! Personal access tokens over HTTP on both backends.

use agentry_test_support::{TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(app: &TestApp, session: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/v1/api-keys", Some(session), Some(body))
        .await
}

app_tests! {
    async fn a_token_grants_exactly_its_scopes(db) {
        let app = TestApp::spawn(db).await;
        let admin = app.register("admin@example.com", None).await.0;
        let (status, created) = create(&app, &admin, json!({"name": "ci", "scopes": ["users:read"], "expiration": "30_days"})).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("agixt_") && token.len() == 70);
        assert_eq!(created["token_prefix"].as_str().unwrap(), &token[..16]);
        assert!(created["expires_at"].is_string());

        let (_, listed) = app.call(Method::GET, "/v1/api-keys", Some(&admin), None).await;
        assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
        assert!(listed["tokens"][0].get("token").is_none(), "the value is shown once");

        let (status, user) = app.call(Method::GET, "/v1/user", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(user["email"], "admin@example.com");
        assert_eq!(app.call(Method::GET, "/v1/invitations", Some(&token), None).await.0, StatusCode::OK, "users:read is granted");
        let (status, body) = app.call(Method::POST, "/v1/invitations", Some(&token), Some(json!({"email": "x@example.com", "role_id": 3}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "users:write is not granted: {body}");
        let (status, body) = app.call(Method::GET, "/v1/roles", Some(&token), None).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: roles:read"})));
        let (_, scopes) = app.call(Method::GET, "/v1/user/scopes", Some(&token), None).await;
        assert_eq!(scopes["scopes"], json!(["users:read"]));

        // Once read, a token costs no statement to authenticate and authorize.
        let ((status, _), statements) = app.counting(app.call(Method::GET, "/v1/user/scopes", Some(&token), None)).await;
        assert_eq!((status, statements), (StatusCode::OK, 0));

        let (status, valid) = app.call(Method::POST, &format!("/v1/api-keys/validate?token={token}"), None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((valid["valid"].as_bool(), valid["scopes"].clone()), (Some(true), json!(["users:read"])));
    }

    async fn revoked_regenerated_and_foreign_tokens(db) {
        let app = TestApp::spawn(db).await;
        let admin = app.register("admin@example.com", None).await.0;
        let other = app.register("other@example.com", None).await.0;
        let (_, created) = create(&app, &admin, json!({"name": "bot", "scopes": ["agents:read"]})).await;
        let (id, token) = (created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned());
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::OK);

        let (status, renewed) = app.call(Method::POST, &format!("/v1/api-keys/{id}/regenerate"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK);
        let renewed = renewed["token"].as_str().unwrap().to_owned();
        assert_ne!(renewed, token);
        let (status, body) = app.call(Method::GET, "/v1/user", Some(&token), None).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Token not found"})), "the old value died");
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&renewed), None).await.0, StatusCode::OK);

        for path in [format!("/v1/api-keys/{id}"), format!("/v1/api-keys/{id}/regenerate")] {
            let method = if path.ends_with("regenerate") { Method::POST } else { Method::GET };
            assert_eq!(app.call(method, &path, Some(&other), None).await.0, StatusCode::NOT_FOUND, "another user's token");
        }
        assert_eq!(app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&other), None).await.0, StatusCode::NOT_FOUND);
        let (status, body) = app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&admin), None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"detail": "Token 'bot' has been revoked"})));
        let (status, body) = app.call(Method::GET, "/v1/user", Some(&renewed), None).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Token has been revoked"})));
        let (status, _) = app.call(Method::POST, &format!("/v1/api-keys/validate?token={renewed}"), None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        for garbage in ["agixt_123", &format!("agixt_{}", "0".repeat(64))] {
            assert_eq!(app.call(Method::GET, "/v1/user", Some(garbage), None).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.call(Method::GET, "/v1/api-keys/not-a-uuid", Some(&admin), None).await.0, StatusCode::NOT_FOUND);
    }

    async fn nobody_grants_more_than_they_hold(db) {
        let app = TestApp::spawn(db).await;
        let admin = app.register("admin@example.com", None).await.0;
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&admin), None).await;
        let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
        let mut members = Vec::new();
        for (email, role) in [("user@example.com", 3), ("reader@example.com", 6)] {
            let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": email, "role_id": role}))).await;
            members.push(app.register(email, invitation["id"].as_str()).await.0);
        }
        let (user, reader) = (&members[0], &members[1]);
        let (status, body) = create(&app, user, json!({"name": "x", "scopes": ["users:write"]})).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Cannot grant scope 'users:write' - you don't have this permission"})));
        assert_eq!(create(&app, user, json!({"name": "x", "scopes": ["agents:read"]})).await.0, StatusCode::OK);
        let (status, body) = create(&app, reader, json!({"name": "x", "scopes": []})).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: apikeys:write"})));
        assert_eq!(create(&app, &admin, json!({"name": "x", "expiration": "someday"})).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(create(&app, &admin, json!({"name": "x", "expiration": "2001-01-01"})).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(create(&app, &admin, json!({"name": " "})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(create(&app, &admin, json!({"name": "x", "company_ids": [uuid::Uuid::new_v4()]})).await.0, StatusCode::NOT_FOUND);
        let (status, limited) = create(&app, &admin, json!({"name": "x", "scopes": ["company:read"], "company_ids": [company]})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(limited["company_ids"], json!([company]));
        assert_eq!(app.call(Method::POST, "/v1/api-keys", None, Some(json!({"name": "x"}))).await.0, StatusCode::UNAUTHORIZED);
    }
}

mod limits_of_a_token {
    use super::*;

    app_tests! {
        async fn a_token_never_exceeds_its_owners_role_and_cannot_guard_the_account(db) {
            let app = TestApp::spawn(db).await;
            // Alice administers her own team and is read-only in Bob's.
            let alice = app.register("alice@example.com", None).await.0;
            let bob = app.register("bob@example.com", None).await.0;
            let (_, view) = app.call(Method::GET, "/v1/user", Some(&bob), None).await;
            let bobs = view["companies"][0]["id"].as_str().unwrap().to_owned();
            let (status, _) = app.call(Method::POST, "/v1/invitations", Some(&bob), Some(json!({"email": "alice@example.com", "role_id": 6, "company_id": bobs}))).await;
            assert_eq!(status, StatusCode::OK);

            let (_, created) = create(&app, &alice, json!({"name": "wide", "scopes": ["users:write", "users:read", "company:write"]})).await;
            let token = created["token"].as_str().unwrap().to_owned();
            let (status, _) = app.call(Method::POST, "/v1/invitations", Some(&token), Some(json!({"email": "x@example.com", "role_id": 6, "company_id": bobs}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "read-only in Bob's team, whatever the token says");
            let (status, _) = app.call(Method::PATCH, &format!("/v1/companies/{bobs}"), Some(&token), Some(json!({"name": "Taken"}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            let (status, _) = app.call(Method::POST, "/v1/invitations", Some(&token), Some(json!({"email": "y@example.com", "role_id": 6}))).await;
            assert_eq!(status, StatusCode::OK, "in her own team the role and the token agree");

            // Account security needs a session.
            for (method, path, body) in [
                (Method::GET, "/v1/user/mfa/setup", None),
                (Method::POST, "/v1/user/mfa/reset", None),
                (Method::POST, "/v1/api-keys", Some(json!({"name": "child", "scopes": []}))),
                (Method::DELETE, "/v1/user", None),
            ] {
                let (status, body) = app.call(method.clone(), path, Some(&token), body).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            }
            assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::OK, "still active");

            // A revoked token cannot be brought back by regenerating it.
            let id = created["id"].as_str().unwrap();
            app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&alice), None).await;
            let (status, _) = app.call(Method::POST, &format!("/v1/api-keys/{id}/regenerate"), Some(&alice), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
        }
    }
}

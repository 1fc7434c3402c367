//! Personal access tokens over HTTP on both backends.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

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
        let (status, created) = create(&app, &admin, json!({"name": "ci", "scopes": ["users:read", "account:read"], "expiration": "30_days"})).await;
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
        assert_eq!((valid["valid"].as_bool(), valid["scopes"].clone()), (Some(true), json!(["account:read", "users:read"])));
    }

    async fn revoked_regenerated_and_foreign_tokens(db) {
        let app = TestApp::spawn(db).await;
        let admin = app.register("admin@example.com", None).await.0;
        let other = app.register("other@example.com", None).await.0;
        let (_, created) = create(&app, &admin, json!({"name": "bot", "scopes": ["agents:read", "account:read"]})).await;
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

/// Shares `agent` with `company` (as its owner).
async fn share(app: &TestApp, owner: &str, agent: &str, company: &str) {
    let body = json!({"agent_name": "x", "settings": {"shared": "true", "company_id": company}});
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/agent/{agent}"),
            Some(owner),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn listed(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn company_and_first_agent(app: &TestApp, token: &str) -> (String, String) {
    let (_, view) = app.call(Method::GET, "/v1/user", Some(token), None).await;
    let (_, list) = app.call(Method::GET, "/v1/agent", Some(token), None).await;
    (
        view["companies"][0]["id"].as_str().unwrap().to_owned(),
        list["agents"][0]["id"].as_str().unwrap().to_owned(),
    )
}

app_tests! {
    async fn a_token_limited_to_agents_or_companies_sees_only_those(db) {
        let app = TestApp::spawn(db).await;
        // Ada's company A shares "Second"; Bo's company B shares "Bee"; Cy is in both.
        let ada = app.register("ada@example.com", None).await.0;
        let (company_a, _) = company_and_first_agent(&app, &ada).await;
        let (_, second) = app.call(Method::POST, "/v1/agent", Some(&ada), Some(json!({"agent_name": "Second"}))).await;
        let second = second["id"].as_str().unwrap().to_owned();
        share(&app, &ada, &second, &company_a).await;
        let (_, private) = app.call(Method::POST, "/v1/agent", Some(&ada), Some(json!({"agent_name": "Private"}))).await;
        let private = private["id"].as_str().unwrap().to_owned();
        let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&ada), Some(json!({"email": "cy@example.com", "role_id": 3}))).await;
        let cy = app.register("cy@example.com", invitation["id"].as_str()).await.0;
        let bo = app.register("bo@example.com", None).await.0;
        let (company_b, _) = company_and_first_agent(&app, &bo).await;
        let (_, bee) = app.call(Method::POST, "/v1/agent", Some(&bo), Some(json!({"agent_name": "Bee"}))).await;
        share(&app, &bo, bee["id"].as_str().unwrap(), &company_b).await;
        let (status, invitation) = app.call(Method::POST, "/v1/invitations", Some(&bo), Some(json!({"email": "cy@example.com", "role_id": 3, "company_id": company_b}))).await;
        assert_eq!(status, StatusCode::OK);
        app.accept(&cy, &invitation).await;
        let (_, all) = app.call(Method::GET, "/v1/agent", Some(&cy), None).await;
        assert_eq!(listed(&all), ["AGiXT", "Bee", "Second"], "Cy's own agent and the two shared ones");
        let own = all["agents"].as_array().unwrap().iter().find(|a| a["is_owner"] == true).unwrap()["id"].as_str().unwrap().to_owned();

        // Limited to one agent: the list, reads by id and by name, and what may be granted.
        let (status, created) = create(&app, &cy, json!({"name": "one agent", "scopes": ["agents:read", "agents:execute", "apikeys:read", "account:read"], "agent_ids": [second]})).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        assert_eq!(created["agent_ids"], json!([second]));
        let one = created["token"].as_str().unwrap().to_owned();
        let (_, list) = app.call(Method::GET, "/v1/agent", Some(&one), None).await;
        assert_eq!(listed(&list), ["Second"]);
        assert_eq!(list["agents"][0]["default"], true);
        assert_eq!(app.call(Method::GET, &format!("/v1/agent/{second}"), Some(&one), None).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/v1/agent/Second", Some(&one), None).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, &format!("/v1/agent/{own}"), Some(&one), None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.call(Method::GET, "/v1/agent/AGiXT", Some(&one), None).await.0, StatusCode::NOT_FOUND);
        let (_, available) = app.call(Method::GET, "/v1/api-keys/available/agents", Some(&one), None).await;
        assert_eq!(listed(&available), ["Second"]);
        // Served from memory once held, limited or not.
        let ((status, again), statements) = app.counting(app.call(Method::GET, "/v1/agent", Some(&one), None)).await;
        assert_eq!((status, statements), (StatusCode::OK, 0));
        assert_eq!(again, list);

        // The user view lists the same agents through the token.
        let agents_in_view = |view: &Value| -> Vec<String> {
            let mut names: Vec<String> = view["companies"].as_array().unwrap().iter()
                .flat_map(|c| c["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()))
                .collect();
            names.sort();
            names
        };
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&one), None).await;
        assert_eq!(agents_in_view(&view), ["Second"]);
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&cy), None).await;
        assert_eq!(agents_in_view(&view), ["AGiXT", "Bee", "Second"], "the session's view is whole");

        // Limited to company B: own agents and B's shared ones, not A's.
        let (_, created) = create(&app, &cy, json!({"name": "company b", "scopes": ["agents:read", "account:read"], "company_ids": [company_b]})).await;
        let b_only = created["token"].as_str().unwrap().to_owned();
        let (_, list) = app.call(Method::GET, "/v1/agent", Some(&b_only), None).await;
        assert_eq!(listed(&list), ["AGiXT", "Bee"]);
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&b_only), None).await;
        let companies: Vec<&str> = view["companies"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(companies, [company_b.as_str()], "only the token's companies");
        assert_eq!(agents_in_view(&view), ["Bee"]);
        assert_eq!(app.call(Method::GET, &format!("/v1/agent/{second}"), Some(&b_only), None).await.0, StatusCode::NOT_FOUND);
        // The session still sees all three.
        let (_, list) = app.call(Method::GET, "/v1/agent", Some(&cy), None).await;
        assert_eq!(listed(&list), ["AGiXT", "Bee", "Second"]);

        // Only agents the caller sees may be named; a refusal creates nothing.
        let (_, before) = app.call(Method::GET, "/v1/api-keys", Some(&cy), None).await;
        let unknown = uuid::Uuid::new_v4().to_string();
        for id in [private.as_str(), unknown.as_str(), "not-a-uuid"] {
            let (status, body) = create(&app, &cy, json!({"name": "x", "agent_ids": [id]})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
        }
        let (_, after) = app.call(Method::GET, "/v1/api-keys", Some(&cy), None).await;
        assert_eq!(before["tokens"].as_array().unwrap().len(), after["tokens"].as_array().unwrap().len());
    }

    async fn what_a_token_may_be_given(db) {
        let app = TestApp::spawn(db).await;
        let admin = app.register("admin@example.com", None).await.0;
        let (company, _) = company_and_first_agent(&app, &admin).await;
        let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": "reader@example.com", "role_id": 6}))).await;
        let reader = app.register("reader@example.com", invitation["id"].as_str()).await.0;

        let (status, scopes) = app.call(Method::GET, "/v1/api-keys/available/scopes", Some(&reader), None).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = scopes["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(names.contains(&"agents:read") && names.contains(&"ext:essential_abilities:read"), "{names:?}");
        assert!(!names.contains(&"agents:write") && !names.contains(&"ext:essential_abilities:execute"));
        assert!(scopes["categories"]["Extensions"].as_array().unwrap().iter().any(|s| s == "ext:essential_abilities:read"));
        let (_, admin_scopes) = app.call(Method::GET, "/v1/api-keys/available/scopes", Some(&admin), None).await;
        assert!(admin_scopes["scopes"].as_array().unwrap().len() > names.len());

        let (status, companies) = app.call(Method::GET, "/v1/api-keys/available/companies", Some(&reader), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(companies["companies"].as_array().unwrap().len(), 1);
        assert_eq!(companies["companies"][0]["id"], company.as_str());
        assert_eq!(companies["companies"][0]["role_id"], 6);
        let (status, agents) = app.call(Method::GET, "/v1/api-keys/available/agents", Some(&reader), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed(&agents), ["AGiXT"], "the reader's own first agent; the admin's is not shared");

        for path in ["/v1/api-keys/available/scopes", "/v1/api-keys/available/agents", "/v1/api-keys/available/companies"] {
            assert_eq!(app.call(Method::GET, path, None, None).await.0, StatusCode::UNAUTHORIZED, "{path}");
        }
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
            let (status, invitation) = app.call(Method::POST, "/v1/invitations", Some(&bob), Some(json!({"email": "alice@example.com", "role_id": 6, "company_id": bobs}))).await;
            assert_eq!(status, StatusCode::OK);
            app.accept(&alice, &invitation).await;

            let (_, created) = create(&app, &alice, json!({"name": "wide", "scopes": ["users:write", "users:read", "company:write", "account:read"]})).await;
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

//! The findings of the adversarial review (issue 10), each reproduced as it was observed on
//! the wire and now refused, on both backends.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_domain::RoleId;
use agentry_test_support::{TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The caller's current company.
async fn company_of(app: &TestApp, token: &str) -> String {
    let (_, view) = app.call(Method::GET, "/v1/user", Some(token), None).await;
    view["companies"][0]["id"].as_str().unwrap().to_owned()
}

/// Make the account `(email, session)` a member of `company` with `role`: invited by
/// `admin`, accepted by the account (its own company stays its current one).
async fn join(
    app: &TestApp,
    admin: &str,
    company: &str,
    (email, session): (&str, &str),
    role: RoleId,
) {
    let (status, invitation) = app
        .call(
            Method::POST,
            "/v1/invitations",
            Some(admin),
            Some(json!({"email": email, "role_id": role.0, "company_id": company})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invitation}");
    app.accept(session, &invitation).await;
}

async fn first_agent(app: &TestApp, token: &str) -> String {
    let (_, agents) = app.call(Method::GET, "/v1/agent", Some(token), None).await;
    agents["agents"][0]["id"].as_str().unwrap().to_owned()
}

async fn settings(app: &TestApp, token: &str, agent: &str, settings: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/v1/agent/{agent}"),
        Some(token),
        Some(json!({ "agent_name": "AGiXT", "settings": settings })),
    )
    .await
}

async fn company_of_agent(app: &TestApp, token: &str, agent: &str) -> Value {
    let (status, config) = app
        .call(
            Method::GET,
            &format!("/v1/agent/{agent}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    config["agent"]["settings"]["company_id"].clone()
}

async fn token(app: &TestApp, session: &str, scopes: Value) -> String {
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(session),
            Some(json!({"name": "probe", "scopes": scopes})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

app_tests! {
    // Finding 1: a read-only member of A who administers B moved A's shared agent to B.
    async fn a_member_cannot_take_another_companys_agent(db) {
        let app = TestApp::spawn(db).await;
        let (owner, _) = app.register("owner@example.com", None).await;
        let a = company_of(&app, &owner).await;
        let agent = first_agent(&app, &owner).await;
        assert_eq!(settings(&app, &owner, &agent, json!({"shared": "true", "OPENAI_API_KEY": "sk-secret-of-a"})).await.0, StatusCode::OK);

        let (mallory, _) = app.register("mallory@example.com", None).await;
        let b = company_of(&app, &mallory).await;
        join(&app, &owner, &a, ("mallory@example.com", &mallory), RoleId::READ_ONLY_USER).await;

        // The observed exploit: 200 and the agent moved. Now 403, and it stays in A.
        let (status, body) = settings(&app, &mallory, &agent, json!({"company_id": b, "shared": "true"})).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: agents:write"})));
        assert_eq!(company_of_agent(&app, &owner, &agent).await, json!(a));
        // Every other write the guard let through in the caller's own company is refused in
        // the agent's; reading stays allowed (agents:read in A).
        let writes: Vec<(Method, String, Option<Value>)> = vec![
            (Method::PUT, format!("/v1/agent/{agent}/persona"), Some(json!({"persona": "evil"}))),
            (Method::PATCH, format!("/v1/agent/{agent}/command"), Some(json!({"command_name": "Get Datetime", "enable": false}))),
            (Method::PUT, format!("/v1/agent/{agent}/commands"), Some(json!({"commands": {"Get Datetime": false}}))),
            (Method::PATCH, format!("/v1/agent/{agent}/extension/commands"), Some(json!({"extension_name": "essential_abilities", "enable": false}))),
            (Method::DELETE, format!("/v1/agent/{agent}/provider/openai"), None),
            (Method::POST, format!("/v1/agent/{agent}/command"), Some(json!({"command_name": "Get Datetime", "command_args": {}}))),
            (Method::POST, format!("/v1/agent/{agent}/clone"), Some(json!({"new_name": "Stolen"}))),
        ];
        for (method, path, body) in writes {
            let (status, answer) = app.call(method.clone(), &path, Some(&mallory), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
            assert!(answer["detail"].as_str().unwrap().contains("Insufficient permissions"), "{answer}");
        }
        assert_eq!(company_of_agent(&app, &mallory, &agent).await, json!(a));
        let (_, listed) = app.call(Method::GET, "/v1/agent", Some(&mallory), None).await;
        assert!(listed["agents"].as_array().unwrap().iter().all(|e| e["name"] != "Stolen"), "no clone was made");
        let (_, config) = app.call(Method::GET, &format!("/v1/agent/{agent}"), Some(&owner), None).await;
        assert_eq!(config["agent"]["settings"]["persona"], Value::Null, "{config}");

        // A power user of A (agents:write there, not the owner, not an admin) changes the
        // agent's settings but neither moves nor unshares it.
        let (power, _) = app.register("power@example.com", None).await;
        let p = company_of(&app, &power).await;
        join(&app, &owner, &a, ("power@example.com", &power), RoleId::USER).await;
        assert_eq!(settings(&app, &power, &agent, json!({"persona": "helpful"})).await.0, StatusCode::OK);
        for change in [json!({"company_id": p}), json!({"shared": "false"}), json!({"company_id": ""})] {
            let (status, body) = settings(&app, &power, &agent, change.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{change}: {body}");
        }
        assert_eq!(company_of_agent(&app, &owner, &agent).await, json!(a));

        // The owner moves it only where they may write: read-only in C is not enough.
        let (other, _) = app.register("other@example.com", None).await;
        let c = company_of(&app, &other).await;
        join(&app, &other, &c, ("owner@example.com", &owner), RoleId::READ_ONLY_USER).await;
        let (status, body) = settings(&app, &owner, &agent, json!({"company_id": c})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        // An admin of A who does not own the agent may unshare it (as the reference allows).
        let (admin, _) = app.register("admin@example.com", None).await;
        join(&app, &owner, &a, ("admin@example.com", &admin), RoleId::COMPANY_ADMIN).await;
        assert_eq!(settings(&app, &admin, &agent, json!({"shared": "false"})).await.0, StatusCode::OK);
        let (status, _) = app.call(Method::GET, &format!("/v1/agent/{agent}"), Some(&mallory), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "unshared: gone for the members");
        // And the owner moves it to a company where they write.
        let (_, mine) = app.call(Method::POST, "/v1/companies", Some(&owner), Some(json!({"name": "Owner's second"}))).await;
        let d = mine["id"].as_str().unwrap().to_owned();
        let (status, body) = settings(&app, &owner, &agent, json!({"company_id": d})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(company_of_agent(&app, &owner, &agent).await, json!(d));
    }

    // Finding 2: a token created with no scopes read the wallet's private key, conversations,
    // the profile, company members, settings and balance, and logged its owner out.
    async fn a_token_does_only_what_its_scopes_say(db) {
        let app = TestApp::spawn(db).await;
        let (owner, _) = app.register("owner@example.com", None).await;
        let company = company_of(&app, &owner).await;
        let agent = first_agent(&app, &owner).await;
        let (status, conversation) = app.call(Method::POST, "/v1/conversation", Some(&owner), Some(json!({"conversation_name": "private"}))).await;
        assert_eq!(status, StatusCode::OK, "{conversation}");
        let conversation = conversation["id"].as_str().unwrap().to_owned();

        let bare = token(&app, &owner, json!([])).await;
        let refused: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/v1/agent/{agent}/wallet"), None),
            (Method::GET, "/v1/user".into(), None),
            (Method::PUT, "/v1/user".into(), Some(json!({"first_name": "Owned"}))),
            (Method::GET, "/v1/conversations".into(), None),
            (Method::GET, format!("/v1/conversation/{conversation}"), None),
            (Method::POST, "/v1/conversation".into(), Some(json!({"conversation_name": "x"}))),
            (Method::DELETE, format!("/v1/conversation/{conversation}"), None),
            (Method::GET, format!("/v1/companies/{company}/members"), None),
            (Method::GET, format!("/v1/companies/{company}/settings"), None),
            (Method::GET, format!("/v1/billing/tokens/balance?company_id={company}"), None),
            (Method::GET, "/v1/agent".into(), None),
            (Method::GET, "/v1/providers".into(), None),
            (Method::POST, "/v1/logout".into(), None),
        ];
        for (method, path, body) in refused {
            let (status, answer) = app.call(method.clone(), &path, Some(&bare), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        }
        // The logout was refused: the owner's session still works, the conversation is there.
        assert_eq!(app.call(Method::GET, &format!("/v1/conversation/{conversation}"), Some(&owner), None).await.0, StatusCode::OK);
        let (_, me) = app.call(Method::GET, "/v1/user", Some(&owner), None).await;
        assert_ne!(me["first_name"], "Owned");

        // The wallet needs `wallets:read` by name: no wildcard, not even `agents:*`, covers it.
        let broad = token(&app, &owner, json!(["agents:*", "account:read"])).await;
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&broad), None).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, &format!("/v1/agent/{agent}"), Some(&broad), None).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, &format!("/v1/agent/{agent}/wallet"), Some(&broad), None).await.0, StatusCode::FORBIDDEN);
        let wallet = token(&app, &owner, json!(["wallets:read"])).await;
        let (status, keys) = app.call(Method::GET, &format!("/v1/agent/{agent}/wallet"), Some(&wallet), None).await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        assert!(keys["private_key"].as_str().is_some_and(|k| !k.is_empty()));
        // And a scoped token does what its scope says, no more.
        let reader = token(&app, &owner, json!(["conversations:read"])).await;
        assert_eq!(app.call(Method::GET, &format!("/v1/conversation/{conversation}"), Some(&reader), None).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::DELETE, &format!("/v1/conversation/{conversation}"), Some(&reader), None).await.0, StatusCode::FORBIDDEN);
    }

    // Finding 2, continued: read-only users no longer write conversations.
    async fn read_only_members_read_conversations_and_write_none(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": "reader@example.com", "role_id": 6}))).await;
        let (reader, _) = app.register("reader@example.com", invitation["id"].as_str()).await;
        let (status, body) = app.call(Method::POST, "/v1/conversation", Some(&reader), Some(json!({"conversation_name": "mine"}))).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: conversations:write"})));
        assert_eq!(app.call(Method::GET, "/v1/conversations", Some(&reader), None).await.0, StatusCode::OK);
    }

    // Finding 8 (tokens): scope names with control characters and absurd expirations.
    async fn token_scope_names_and_expirations_are_validated(db) {
        let app = TestApp::spawn(db).await;
        let (owner, _) = app.register("owner@example.com", None).await;
        for scope in ["agents:read\u{0}", "agents:*\n", "agents: read", "", "AGENTS:READ"] {
            let (status, body) = app.call(Method::POST, "/v1/api-keys", Some(&owner), Some(json!({"name": "x", "scopes": [scope]}))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{scope:?}: {body}");
        }
        for expiration in ["+99999-01-01", "2999-01-01", "9999-12-31T00:00:00"] {
            let (status, body) = app.call(Method::POST, "/v1/api-keys", Some(&owner), Some(json!({"name": "x", "scopes": [], "expiration": expiration}))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{expiration}: {body}");
        }
        let (status, body) = app.call(Method::POST, "/v1/api-keys", Some(&owner), Some(json!({"name": "x", "scopes": ["agents:read"], "expiration": "1_year"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, listed) = app.call(Method::GET, "/v1/api-keys", Some(&owner), None).await;
        assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "nothing was created by the refusals");
    }

    // Finding 6: a file a command left in a private conversation was served to every member
    // who sees the agent.
    async fn a_conversations_files_are_its_owners(db) {
        let app = TestApp::spawn(db).await;
        let (owner, _) = app.register("owner@example.com", None).await;
        let agent = first_agent(&app, &owner).await;
        assert_eq!(settings(&app, &owner, &agent, json!({"shared": "true"})).await.0, StatusCode::OK);
        let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&owner), Some(json!({"email": "member@example.com", "role_id": 3}))).await;
        let (member, _) = app.register("member@example.com", invitation["id"].as_str()).await;
        let (status, written) = app.call(Method::POST, &format!("/v1/agent/{agent}/command"), Some(&owner), Some(json!({"command_name": "Write to File", "command_args": {"filename": "secret.txt", "text": "owner only"}, "conversation_name": "private"}))).await;
        assert_eq!(status, StatusCode::OK, "{written}");
        let output = written["response"].as_str().unwrap();
        let link = &output[output.find("/outputs/").unwrap()..];
        let link = link.split_whitespace().next().unwrap().trim_end_matches([')', '.', '"']);
        let path = link.split('?').next().unwrap();

        let (status, _) = app.call(Method::GET, path, Some(&member), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the member sees the agent, not the conversation");
        let served = app.client.get(app.url(path)).header("Authorization", &owner).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.text().await.unwrap(), "owner only");
        // The signed link works without a header (a browser's image or download).
        let linked = app.client.get(app.url(link)).send().await.unwrap();
        assert_eq!(linked.status(), StatusCode::OK, "{link}");
    }

    // Finding 7: inviting an existing account added it at once, and a pending invitation
    // captured that person's ordinary sign-up into the inviter's company.
    async fn membership_needs_the_invitees_consent(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let team = company_of(&app, &admin).await;
        let (carol, _) = app.register("carol@example.com", None).await;
        let carols = company_of(&app, &carol).await;

        let (status, invitation) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": "carol@example.com", "role_id": 3}))).await;
        assert_eq!(status, StatusCode::OK, "{invitation}");
        assert_eq!(invitation["is_accepted"], false, "{invitation}");
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&carol), None).await;
        assert_eq!(view["companies"].as_array().unwrap().len(), 1, "not added by being invited");
        let (status, members) = app.call(Method::GET, &format!("/v1/companies/{team}/members"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(members["members"].as_array().unwrap().iter().all(|m| m["email"] != "carol@example.com"), "{members}");

        // Carol finds it and accepts; nobody else can, and it accepts once.
        let (_, mine) = app.call(Method::GET, "/v1/user/invitations", Some(&carol), None).await;
        assert_eq!(mine["invitations"][0]["id"], invitation["id"], "{mine}");
        let accept = format!("/v1/invitations/{}/accept", invitation["id"].as_str().unwrap());
        assert_eq!(app.call(Method::POST, &accept, Some(&admin), None).await.0, StatusCode::NOT_FOUND, "not the admin's to accept");
        let carol_token = {
            let (_, created) = app.call(Method::POST, "/v1/api-keys", Some(&carol), Some(json!({"name": "t", "scopes": ["account:write", "account:read"]}))).await;
            created["token"].as_str().unwrap().to_owned()
        };
        assert_eq!(app.call(Method::POST, &accept, Some(&carol_token), None).await.0, StatusCode::FORBIDDEN, "a session, not a token");
        assert_eq!(app.call(Method::POST, "/v1/invitations/not-an-id/accept", Some(&carol), None).await.0, StatusCode::NOT_FOUND);
        let (status, accepted) = app.call(Method::POST, &accept, Some(&carol), None).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        assert_eq!((accepted["company_id"].as_str(), accepted["role_id"].as_i64()), (Some(team.as_str()), Some(3)));
        assert_eq!(app.call(Method::POST, &accept, Some(&carol), None).await.0, StatusCode::NOT_FOUND, "accepted once");
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&carol), None).await;
        let ids: Vec<&str> = view["companies"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&team.as_str()) && ids.contains(&carols.as_str()), "{view}");

        // A pending invitation does not capture an ordinary sign-up; naming it joins.
        let (_, pending) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": "dave@example.com", "role_id": 6}))).await;
        let (dave, _) = app.register("dave@example.com", None).await;
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&dave), None).await;
        assert_eq!(view["companies"].as_array().unwrap().len(), 1);
        assert_ne!(view["companies"][0]["id"], json!(team), "Dave's own company, not the inviter's");
        app.accept(&dave, &pending).await;
        let (_, invitation) = app.call(Method::POST, "/v1/invitations", Some(&admin), Some(json!({"email": "erin@example.com", "role_id": 6}))).await;
        let (erin, _) = app.register("erin@example.com", invitation["id"].as_str()).await;
        assert_eq!(company_of(&app, &erin).await, team, "registering with the invitation's id joins (the SDK's flow)");
    }

    // Finding 8: a foreign parent company was silently replaced; tiny credits were accepted.
    async fn foreign_parents_and_tiny_credits_are_refused(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let mine = company_of(&app, &admin).await;
        let (other, _) = app.register("other@example.com", None).await;
        let theirs = company_of(&app, &other).await;
        let (status, body) = app.call(Method::POST, "/v1/companies", Some(&admin), Some(json!({"name": "Child", "parent_company_id": theirs}))).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Company not found"})));
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&admin), None).await;
        assert_eq!(view["companies"].as_array().unwrap().len(), 1, "nothing was created");
        let (status, child) = app.call(Method::POST, "/v1/companies", Some(&admin), Some(json!({"name": "Child", "parent_company_id": mine}))).await;
        assert_eq!(status, StatusCode::OK, "{child}");

        let key = agentry_test_support::TEST_API_KEY;
        for amount in ["1e-300", "0.001", "0", "-5", "NaN"] {
            let (status, body) = app.call(Method::POST, &format!("/v1/credit?company={mine}&amount={amount}"), Some(key), None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}: {body}");
        }
        let (_, balance) = app.call(Method::GET, &format!("/v1/billing/tokens/balance?company_id={mine}"), Some(&admin), None).await;
        assert_eq!(balance["token_balance"], 0, "{balance}");
        let (status, body) = app.call(Method::POST, &format!("/v1/credit?company={mine}&amount=0.01"), Some(key), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Finding 5: preferences and settings took any number of keys and values up to the
    // body limit, and agents per user were unbounded.
    async fn what_one_account_stores_is_bounded(db) {
        let limits = agentry::config::Settings {
            max_keys: Some(64),
            max_value_bytes: Some(1024),
            max_owner_bytes: Some(16 * 1024),
            max_agents_per_user: Some(3),
            ..Default::default()
        };
        let app = TestApp::spawn_with(db, limits).await;
        let (owner, _) = app.register("owner@example.com", None).await;
        let company = company_of(&app, &owner).await;
        let put_user = |body: Value| app.call(Method::PUT, "/v1/user", Some(&owner), Some(body));

        // Preferences: a value too large, too many keys at once or over several updates,
        // too many bytes in all; nothing is written by a refusal.
        assert_eq!(put_user(json!({"theme": "x".repeat(1025)})).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let many: serde_json::Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(put_user(Value::Object(many)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let half: serde_json::Map<String, Value> = (0..40).map(|i| (format!("a{i}"), json!("v"))).collect();
        assert_eq!(put_user(Value::Object(half)).await.0, StatusCode::OK);
        let other: serde_json::Map<String, Value> = (0..30).map(|i| (format!("b{i}"), json!("v"))).collect();
        assert_eq!(put_user(Value::Object(other)).await.0, StatusCode::UNPROCESSABLE_ENTITY, "40 + 30 keys");
        let heavy: serde_json::Map<String, Value> = (0..20).map(|i| (format!("a{i}"), json!("y".repeat(1000)))).collect();
        assert_eq!(put_user(Value::Object(heavy)).await.0, StatusCode::PAYLOAD_TOO_LARGE, "20 KB in all");
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&owner), None).await;
        assert_eq!((view["a0"].as_str(), view.get("b0")), (Some("v"), None));

        // Agent settings: the same limits, counted on what the agent would hold.
        let agent = first_agent(&app, &owner).await;
        assert_eq!(settings(&app, &owner, &agent, json!({"persona": "p".repeat(1025)})).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let many: serde_json::Map<String, Value> = (0..64).map(|i| (format!("s{i}"), json!("v"))).collect();
        assert_eq!(settings(&app, &owner, &agent, Value::Object(many)).await.0, StatusCode::UNPROCESSABLE_ENTITY, "64 more than the defaults");
        assert_eq!(settings(&app, &owner, &agent, json!({"persona": "kind"})).await.0, StatusCode::OK);
        // Company settings too.
        let (status, _) = app.call(Method::PUT, &format!("/v1/companies/{company}/settings"), Some(&owner), Some(json!({"settings": {"motto": "m".repeat(1025)}}))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        // Agents per user: the first agent (from registration), two more, then 422.
        for name in ["Two", "Three"] {
            let (status, body) = app.call(Method::POST, "/v1/agent", Some(&owner), Some(json!({"agent_name": name}))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, body) = app.call(Method::POST, "/v1/agent", Some(&owner), Some(json!({"agent_name": "Four"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = app.call(Method::POST, &format!("/v1/agent/{agent}/clone"), Some(&owner), Some(json!({"new_name": "Copy"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, listed) = app.call(Method::GET, "/v1/agent", Some(&owner), None).await;
        assert_eq!(listed["agents"].as_array().unwrap().len(), 3);
    }

    // Review of the fixes: a token must not mint a wider one; a token limited to one company
    // must not move the agent check into that company; wallet keys are not settings; names
    // are bounded; the agent limit holds under concurrent creations.
    async fn review_findings_on_tokens_wallets_names_and_races(db) {
        let limits = agentry::config::Settings {
            max_agents_per_user: Some(3),
            superadmin_email: Some("root@example.com".into()),
            ..Default::default()
        };
        let app = TestApp::spawn_with(db, limits).await;
        let (root, _) = app.register("root@example.com", None).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let a = company_of(&app, &admin).await;
        let (user, user_id) = app.register("user@example.com", None).await;
        let p = company_of(&app, &user).await;
        join(&app, &admin, &a, ("user@example.com", &user), RoleId::USER).await;
        let (status, created) = app.call(Method::POST, "/v1/agent", Some(&user), Some(json!({"agent_name": "InA", "settings": {"company_id": a, "shared": "true"}}))).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let agent = created["id"].as_str().unwrap().to_owned();
        // Demoted to read-only in A; still admin of P, their current company.
        let (status, body) = app.call(Method::PUT, "/v1/user/role", Some(&root), Some(json!({"user_id": user_id, "company_id": a, "role_id": 6}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, token) = app.call(Method::POST, "/v1/api-keys", Some(&user), Some(json!({"name": "p only", "scopes": ["agents:write", "agents:read", "apikeys:write", "apikeys:read"], "company_ids": [p]}))).await;
        let limited = token["token"].as_str().unwrap().to_owned();
        assert_eq!(settings(&app, &user, &agent, json!({"persona": "x"})).await.0, StatusCode::FORBIDDEN, "read-only in A");
        assert_eq!(settings(&app, &limited, &agent, json!({"persona": "x"})).await.0, StatusCode::FORBIDDEN, "a token of P holds nothing in A");
        assert_eq!(settings(&app, &limited, &agent, json!({"company_id": p})).await.0, StatusCode::FORBIDDEN);
        assert_eq!(company_of_agent(&app, &admin, &agent).await, json!(a));

        // Regenerating needs a session, like creating.
        let (_, wide) = app.call(Method::POST, "/v1/api-keys", Some(&user), Some(json!({"name": "wallet", "scopes": ["wallets:read"]}))).await;
        let (status, _) = app.call(Method::POST, &format!("/v1/api-keys/{}/regenerate", wide["id"].as_str().unwrap()), Some(&limited), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Wallet keys cannot be written through settings, even by the owner.
        let own = first_agent(&app, &admin).await;
        let (status, body) = settings(&app, &admin, &own, json!({"SOLANA_WALLET_ADDRESS": "attacker"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // Names are bounded.
        let (status, _) = app.call(Method::PUT, "/v1/user", Some(&admin), Some(json!({"first_name": "n".repeat(257)}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = app.call(Method::POST, "/v1/user", None, Some(json!({"email": "long@example.com", "password": "Sup3rSecret", "confirm_password": "Sup3rSecret", "first_name": "n".repeat(257)}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Six concurrent creations with room for two: two land, whatever the backend.
        let creations = (0..6).map(|i| {
            let (app, admin) = (&app, &admin);
            async move {
                app.call(Method::POST, "/v1/agent", Some(admin), Some(json!({"agent_name": format!("Racer {i}")}))).await.0
            }
        });
        let statuses = futures_util::future::join_all(creations).await;
        let landed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(landed, 2, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNPROCESSABLE_ENTITY), "{statuses:?}");
        let (_, listed) = app.call(Method::GET, "/v1/agent", Some(&admin), None).await;
        let own_count = listed["agents"].as_array().unwrap().iter().filter(|e| e["is_owner"] == true).count();
        assert_eq!(own_count, 3);
    }
}

//! Agents over HTTP on both backends: creation with the reference's defaults, secrets sealed
//! at rest and masked, wallets, settings merges, sharing with a company and its undoing,
//! rename and delete by the owner only, bad input, and what each read costs in statements
//! (the same at 1 and at 100 agents; nothing once held).
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_auth::wallet::Wallet;
use agentry_domain::AgentId;
use agentry_store::agents as store;
use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn first_agent(app: &TestApp, token: &str) -> String {
    let (_, list) = call(app, Method::GET, "/v1/agent", token, None).await;
    list["agents"][0]["id"].as_str().unwrap().to_owned()
}

async fn company_of(app: &TestApp, token: &str) -> String {
    let (_, view) = call(app, Method::GET, "/v1/user", token, None).await;
    view["companies"][0]["id"].as_str().unwrap().to_owned()
}

/// An admin, and a role-3 user and a role-6 reader invited into the admin's company.
async fn team(app: &TestApp) -> (String, String, String, String) {
    let (admin, _) = app.register("admin@example.com", None).await;
    let company = company_of(app, &admin).await;
    let mut members = Vec::new();
    for (email, role) in [("user@example.com", 3), ("reader@example.com", 6)] {
        let (_, invitation) = call(
            app,
            Method::POST,
            "/v1/invitations",
            &admin,
            Some(json!({"email": email, "role_id": role})),
        )
        .await;
        members.push(app.register(email, invitation["id"].as_str()).await.0);
    }
    let reader = members.pop().unwrap();
    let user = members.pop().unwrap();
    (admin, user, reader, company)
}

fn names(list: &Value) -> Vec<String> {
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Statements each route costs on a new instance over the same database (nothing held).
async fn cold_counts(app: &TestApp, token: &str, routes: &[String]) -> Vec<u64> {
    let fresh = TestApp::spawn_shared(app).await;
    // A late wake-up for the writes just made (their messages can reach the new instance's
    // bus after it started at the head of the log) makes its dispatcher read: let that pass.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let mut counts = Vec::new();
    for route in routes {
        let ((status, _), n) = fresh
            .counting(call(&fresh, Method::GET, route, token, None))
            .await;
        assert_eq!(status, StatusCode::OK, "{route}");
        counts.push(n);
    }
    counts
}

app_tests! {
    async fn agents_are_created_with_defaults_secrets_sealed_and_a_wallet(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let company = company_of(&app, &token).await;
        let (status, list) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        assert_eq!(status, StatusCode::OK);
        let first = &list["agents"][0];
        assert_eq!((first["name"].as_str(), first["default"].as_bool(), first["is_owner"].as_bool()), (Some("AGiXT"), Some(true), Some(true)));
        assert_eq!(first["access_level"], "owner");

        let body = json!({"agent_name": "Helper", "settings": {"OPENAI_API_KEY": "sk-secret-abcd1234", "OPENAI_MAX_TOKENS": 4000, "analyze_user_input": true}, "commands": {"Write to File": false, "No Such Command": true}});
        let (status, created) = call(&app, Method::POST, "/v1/agent", &token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        assert_eq!(created["message"], "Agent added.");
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, again) = call(&app, Method::POST, "/v1/agent", &token, Some(body)).await;
        assert_eq!((status, again["detail"].as_str()), (StatusCode::CONFLICT, Some("Agent Helper already exists.")));
        // The `agent_id` preference picks the default, in the held list at once.
        let default_of = |list: &Value| list["agents"].as_array().unwrap().iter().find(|a| a["default"] == true).map(|a| a["id"].clone());
        let (_, list) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        assert_ne!(default_of(&list), Some(json!(id)));
        let (status, _) = call(&app, Method::PUT, "/v1/user", &token, Some(json!({"agent_id": id}))).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        assert_eq!(default_of(&list), Some(json!(id)), "{list}");

        let (status, config) = call(&app, Method::GET, &format!("/v1/agent/{id}"), &token, None).await;
        assert_eq!(status, StatusCode::OK);
        let settings = &config["agent"]["settings"];
        assert_eq!(settings["mode"], "prompt");
        assert_eq!(settings["provider"], "rotation");
        assert_eq!(settings["prompt_name"], "Think About It");
        assert_eq!(settings["company_id"], company.as_str());
        assert_eq!(settings["analyze_user_input"], "True");
        assert_eq!(settings["OPENAI_API_KEY"], "HIDDEN");
        assert_eq!(settings["OPENAI_MAX_TOKENS"], "4000", "token counts are not secrets");
        assert_eq!(settings["SOLANA_WALLET_API_KEY"], "HIDDEN");
        let address = settings["SOLANA_WALLET_ADDRESS"].as_str().unwrap().to_owned();
        let commands = config["agent"]["commands"].as_object().unwrap();
        assert_eq!(commands["Write to File"], false, "turned off at creation");
        assert_eq!(commands["Read File"], true, "core commands are on");
        assert!(!commands.contains_key("") && !commands.contains_key("No Such Command"));
        assert_eq!(config["agent"].as_object().unwrap().len(), 2, "only settings and commands");
        // By name too.
        assert_eq!(call(&app, Method::GET, "/v1/agent/Helper", &token, None).await.0, StatusCode::OK);

        // At rest the key is sealed; the wallet's seed too.
        let mut conn = app.db.connect();
        let stored = store::settings_of(&mut conn, &[id.parse::<AgentId>().unwrap().into()]).unwrap();
        let key = stored.iter().find(|s| s.name == "OPENAI_API_KEY").unwrap();
        assert!(key.value.starts_with("enc:v1:") && !key.value.contains("sk-secret"), "{}", key.value);
        assert!(stored.iter().find(|s| s.name == "SOLANA_WALLET_API_KEY").unwrap().value.starts_with("enc:v1:"));

        // The wallet: the owner's, a real keypair.
        let (status, wallet) = call(&app, Method::GET, &format!("/v1/agent/{id}/wallet"), &token, None).await;
        assert_eq!(status, StatusCode::OK);
        let secret = wallet["private_key"].as_str().unwrap();
        assert_eq!(Wallet::address_of(secret).as_deref(), Some(address.as_str()));
        assert_eq!(wallet["passphrase"].as_str().unwrap().len(), 32);

        // A clone has a wallet of its own.
        let (status, clone) = call(&app, Method::POST, &format!("/v1/agent/{id}/clone"), &token, Some(json!({"new_name": "Helper 2"}))).await;
        assert_eq!(status, StatusCode::OK, "{clone}");
        let (_, cloned) = call(&app, Method::GET, &format!("/v1/agent/{}", clone["id"].as_str().unwrap()), &token, None).await;
        assert_ne!(cloned["agent"]["settings"]["SOLANA_WALLET_ADDRESS"].as_str().unwrap(), address);
        assert_eq!(cloned["agent"]["settings"]["OPENAI_API_KEY"], "HIDDEN", "settings copied");
        assert_eq!(cloned["agent"]["commands"]["Write to File"], false, "commands copied");

        let (_, list) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        assert_eq!(names(&list), ["AGiXT", "Helper", "Helper 2"]);
        // GET /v1/user lists them under the company.
        let (_, view) = call(&app, Method::GET, "/v1/user", &token, None).await;
        assert_eq!(view["companies"][0]["agents"].as_array().unwrap().len(), 3);
    }

    async fn settings_merge_and_a_failed_update_changes_nothing(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let id = first_agent(&app, &token).await;
        let path = format!("/v1/agent/{id}");
        let put = |settings: Value| json!({"agent_name": "AGiXT", "settings": settings});
        let (status, answer) = call(&app, Method::PUT, &path, &token, Some(put(json!({"persona": "calm", "OPENAI_API_KEY": "sk-1", "websearch": ""})))).await;
        assert_eq!((status, answer["message"].as_str()), (StatusCode::OK, Some("Agent AGiXT configuration updated.")));
        let (_, config) = call(&app, Method::GET, &path, &token, None).await;
        let settings = &config["agent"]["settings"];
        assert_eq!(settings["persona"], "calm");
        assert_eq!(settings["OPENAI_API_KEY"], "HIDDEN");
        assert!(settings.get("websearch").is_none(), "\"\" removes a setting");
        assert_eq!(settings["mode"], "prompt", "untouched keys stay");
        // "" on a secret records an explicit disconnect.
        call(&app, Method::PUT, &path, &token, Some(put(json!({"OPENAI_API_KEY": ""})))).await;
        let (_, config) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(config["agent"]["settings"]["OPENAI_API_KEY"], "");
        assert_eq!(call(&app, Method::GET, &format!("{path}/persona"), &token, None).await.1["message"], "calm");

        // Refusals leave the agent as it was.
        for bad in [json!("not an object"), json!([1, 2]), json!({"": "x"}), json!({"k": "x".repeat(70_000)})] {
            let (status, body) = call(&app, Method::PUT, &path, &token, Some(put(bad.clone()))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
        let many: serde_json::Map<String, Value> = (0..600).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(call(&app, Method::PUT, &path, &token, Some(put(Value::Object(many)))).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        // A company the caller does not belong to: unknown.
        let (status, _) = call(&app, Method::PUT, &path, &token, Some(put(json!({"persona": "changed", "company_id": uuid::Uuid::new_v4().to_string()})))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, after) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(after["agent"]["settings"]["persona"], "calm", "nothing of the failed update landed");

        for bad in [json!({"agent_name": ""}), json!({"agent_name": "a/b"}), json!({"agent_name": 5}), json!({"agent_name": "ok", "settings": 3})] {
            assert_eq!(call(&app, Method::POST, "/v1/agent", &token, Some(bad.clone())).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        let (status, _) = call(&app, Method::PUT, &format!("{path}/commands"), &token, Some(json!({"commands": {"Read File": "yes"}}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "states are booleans");
        let (status, _) = call(&app, Method::PATCH, &format!("{path}/command"), &token, Some(json!({"command_name": "Fly", "enable": true}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(&app, Method::PATCH, &format!("{path}/extension/commands"), &token, Some(json!({"extension_name": "Essential-Abilities", "enable": false}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["message"].as_str().unwrap().starts_with("Successfully disabled"), "{body}");
        let (_, commands) = call(&app, Method::GET, &format!("{path}/command"), &token, None).await;
        assert!(commands["commands"].as_object().unwrap().values().all(|v| v == false));
        assert_eq!(call(&app, Method::PATCH, &format!("{path}/extension/commands"), &token, Some(json!({"extension_name": "nope", "enable": true}))).await.0, StatusCode::NOT_FOUND);
    }

    async fn sharing_reaches_the_company_and_only_the_owner_renames_or_deletes(db) {
        let settings = agentry::config::Settings { superadmin_email: Some("root@example.com".into()), ..Default::default() };
        let app = TestApp::spawn_with(db, settings).await;
        let (root, _) = app.register("root@example.com", None).await;
        let (admin, user, reader, company) = team(&app).await;
        let (outsider, _) = app.register("outsider@example.com", None).await;
        let id = first_agent(&app, &admin).await;
        let path = format!("/v1/agent/{id}");
        // Unshared: only the owner sees it.
        for other in [&user, &reader, &outsider] {
            assert_eq!(call(&app, Method::GET, &path, other, None).await.0, StatusCode::NOT_FOUND);
        }
        let (_, readers) = call(&app, Method::GET, "/v1/agent", &reader, None).await;
        assert_eq!(names(&readers), ["AGiXT"], "the reader's own first agent only");

        let share = json!({"agent_name": "AGiXT", "settings": {"shared": "true", "company_id": company}});
        assert_eq!(call(&app, Method::PUT, &path, &admin, Some(share)).await.0, StatusCode::OK);
        // Seen at once by every member: list, config, commands, extensions.
        let (_, readers) = call(&app, Method::GET, "/v1/agent", &reader, None).await;
        let shared = readers["agents"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).cloned();
        let shared = shared.expect("the shared agent is listed");
        assert_eq!((shared["is_owner"].as_bool(), shared["access_level"].as_str()), (Some(false), Some("viewer")));
        for route in ["", "/command", "/extensions", "/providers", "/persona"] {
            let (status, body) = call(&app, Method::GET, &format!("{path}{route}"), &reader, None).await;
            assert_eq!(status, StatusCode::OK, "{route}: {body}");
        }
        // The reader may not change it (role 6 lacks agents:write); the user may.
        let change = json!({"agent_name": "AGiXT", "settings": {"persona": "team"}});
        assert_eq!(call(&app, Method::PUT, &path, &reader, Some(change.clone())).await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(&app, Method::PUT, &path, &user, Some(change)).await.0, StatusCode::OK);
        let (_, config) = call(&app, Method::GET, &path, &admin, None).await;
        assert_eq!(config["agent"]["settings"]["persona"], "team", "the owner sees the member's change at once");
        // Only the owner renames, deletes, or reads the wallet.
        assert_eq!(call(&app, Method::PATCH, &path, &user, Some(json!({"new_name": "Mine"}))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::DELETE, &path, &user, None).await.0, StatusCode::FORBIDDEN, "role 3 lacks agents:delete");
        assert_eq!(call(&app, Method::GET, &format!("{path}/wallet"), &user, None).await.0, StatusCode::NOT_FOUND);
        // Another company's member sees nothing.
        assert_eq!(call(&app, Method::GET, &path, &outsider, None).await.0, StatusCode::NOT_FOUND);
        let (_, outsiders) = call(&app, Method::GET, "/v1/agent", &outsider, None).await;
        assert!(!outsiders["agents"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str()));

        // A rename shows in the members' lists at once.
        let (status, renamed) = call(&app, Method::PATCH, &path, &admin, Some(json!({"new_name": "Team Bot"}))).await;
        assert_eq!((status, renamed["message"].as_str()), (StatusCode::OK, Some("Agent renamed.")));
        let (_, readers) = call(&app, Method::GET, "/v1/agent", &reader, None).await;
        assert!(names(&readers).contains(&"Team Bot".to_owned()));

        // A member removed from the company no longer sees it.
        let (_, members) = call(&app, Method::GET, &format!("/v1/companies/{company}/members"), &admin, None).await;
        let user_id = members["members"].as_array().unwrap().iter().find(|m| m["email"] == "user@example.com").unwrap()["id"].as_str().unwrap().to_owned();
        // (A company admin lacks users:delete; the super admin removes the member.)
        assert_eq!(call(&app, Method::DELETE, &format!("/v1/companies/{company}/users/{user_id}"), &root, None).await.0, StatusCode::OK);
        assert_ne!(call(&app, Method::GET, &path, &user, None).await.0, StatusCode::OK);
        let (_, users) = call(&app, Method::GET, "/v1/agent", &user, None).await;
        assert!(!users["agents"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str()), "{users}");

        // Unshared again: the reader loses it.
        let unshare = json!({"agent_name": "Team Bot", "settings": {"shared": "false"}});
        assert_eq!(call(&app, Method::PUT, &path, &admin, Some(unshare)).await.0, StatusCode::OK);
        assert_eq!(call(&app, Method::GET, &path, &reader, None).await.0, StatusCode::NOT_FOUND);
        let (_, readers) = call(&app, Method::GET, "/v1/agent", &reader, None).await;
        assert_eq!(names(&readers), ["AGiXT"]);

        // The owner deletes it; it is gone for everyone.
        let (status, deleted) = call(&app, Method::DELETE, &path, &admin, None).await;
        assert_eq!((status, deleted["message"].as_str()), (StatusCode::OK, Some("Agent Team Bot deleted.")));
        assert_eq!(call(&app, Method::GET, &path, &admin, None).await.0, StatusCode::NOT_FOUND);
        let (_, list) = call(&app, Method::GET, "/v1/agent", &admin, None).await;
        assert!(list["agents"].as_array().unwrap().is_empty(), "the last agent may be deleted");
    }

    async fn the_catalogs_answer_unknown_names_as_the_reference_does(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (status, providers) = call(&app, Method::GET, "/v1/providers", &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(providers["providers"].as_object().unwrap().len(), 13);
        assert_eq!(providers["providers"]["openai"]["settings"]["OPENAI_API_URI"], "https://api.openai.com/v1");
        assert_eq!(call(&app, Method::GET, "/api/provider/nope", &token, None).await.1, json!({"settings": {"provider": "nope"}}));
        assert_eq!(call(&app, Method::GET, "/api/provider/openai", &token, None).await.1["settings"]["provider"], "openai");
        assert_eq!(call(&app, Method::GET, "/api/providers/service/teleport", &token, None).await.1, json!({"providers": []}));
        let (_, embedders) = call(&app, Method::GET, "/api/embedders", &token, None).await;
        assert!(embedders["embedders"].as_array().unwrap().contains(&json!("openai")));
        assert_eq!(call(&app, Method::GET, "/v1/extensions/Fly%20Away/args", &token, None).await.1, json!({"command_args": {}}));
        let (_, args) = call(&app, Method::GET, "/v1/extensions/Write%20to%20File/args", &token, None).await;
        assert_eq!(args["command_args"], json!({"filename": "", "text": ""}));
        assert_eq!(call(&app, Method::GET, "/v1/extension/category/nope", &token, None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::GET, "/v1/extension/category/core-abilities", &token, None).await.0, StatusCode::OK);
        assert_eq!(call(&app, Method::GET, "/v1/extensions/category/nope", &token, None).await.1, json!([]));
        let (_, extensions) = call(&app, Method::GET, "/v1/extensions", &token, None).await;
        assert!(extensions.as_array().unwrap().iter().all(|e| !e["commands"].as_array().unwrap().is_empty()));
        // Without a token: 401 with the reference's words.
        let (status, body) = app.call(Method::GET, "/v1/extensions", None, None).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Authorization header is missing"})));
    }

    async fn reads_racing_writes_never_leave_an_old_value_behind(db) {
        let app = TestApp::spawn_with(db, agentry::config::Settings { workers: Some(2), ..Default::default() }).await;
        let (admin, _, reader, company) = team(&app).await;
        let id = first_agent(&app, &admin).await;
        let path = format!("/v1/agent/{id}");
        let share = json!({"agent_name": "AGiXT", "settings": {"shared": "true", "company_id": company}});
        assert_eq!(call(&app, Method::PUT, &path, &admin, Some(share)).await.0, StatusCode::OK);
        for round in 0..25 {
            let write = json!({"agent_name": "AGiXT", "settings": {"persona": format!("round {round}")}});
            // One write and many reads (list, config, by two users) at once.
            let reads = (0..6).map(|i| {
                let (app, path) = (&app, &path);
                let token = if i % 2 == 0 { &admin } else { &reader };
                async move {
                    let route = if i < 2 { "/v1/agent".to_owned() } else { path.clone() };
                    call(app, Method::GET, &route, token, None).await.0
                }
            });
            let (written, statuses) = tokio::join!(
                call(&app, Method::PUT, &path, &admin, Some(write)),
                futures_util::future::join_all(reads)
            );
            assert_eq!(written.0, StatusCode::OK);
            assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
            // Once the write has answered, every reader sees it.
            for token in [&admin, &reader] {
                let (_, config) = call(&app, Method::GET, &path, token, None).await;
                assert_eq!(config["agent"]["settings"]["persona"], format!("round {round}"), "stale after round {round}");
            }
        }
    }

    async fn reads_cost_the_same_statements_at_1_and_100_agents(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let id = first_agent(&app, &token).await;
        let routes = [
            "/v1/agent".to_owned(),
            format!("/v1/agent/{id}"),
            format!("/v1/agent/{id}/command"),
            format!("/v1/agent/{id}/extensions"),
            format!("/v1/agent/{id}/providers"),
            "/v1/extensions".to_owned(),
            "/v1/providers".to_owned(),
        ];
        // Held: nothing is read.
        for route in &routes {
            call(&app, Method::GET, route, &token, None).await;
            let ((status, _), warm) = app.counting(call(&app, Method::GET, route, &token, None)).await;
            assert_eq!((status, warm), (StatusCode::OK, 0), "{route} warm");
        }
        // Cold (a new instance over the same database), at 1 agent and at 100.
        let at_one = cold_counts(&app, &token, &routes).await;
        for i in 0..99 {
            let (status, _) = call(&app, Method::POST, "/v1/agent", &token, Some(json!({"agent_name": format!("Agent {i}"), "settings": {"persona": "p", "OPENAI_API_KEY": "sk-x"}}))).await;
            assert_eq!(status, StatusCode::OK);
        }
        let at_hundred = cold_counts(&app, &token, &routes).await;
        assert_eq!(at_one, at_hundred, "statements per route at 1 agent and at 100: {routes:?}");
        // The list's fill: the token's revocation state, the user's access, the agents with
        // their settings and commands (3), and the user's view for the default agent.
        assert!(at_one[0] <= 11, "{at_one:?}");
        let (_, list) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        assert_eq!(list["agents"].as_array().unwrap().len(), 100);
    }
}

//! The company layer of extension settings and command states, over HTTP on both backends:
//! settings merge server -> company -> agent (`connected`, the config, what a command
//! sees), a company can switch a command off for all its agents, values are sealed at rest
//! and masked, every write is seen by the next read, and the refusals (role, another
//! company, bad bodies) change nothing. Also the explicit provider disconnect of an agent.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_store::company_extensions as store;
use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An admin and a role-3 user and a role-6 reader of the admin's company; the company id
/// and the admin's first agent.
async fn team(app: &TestApp) -> (String, String, String, String, String) {
    let (admin, _) = app.register("admin@example.com", None).await;
    let (_, view) = call(app, Method::GET, "/v1/user", &admin, None).await;
    let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
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
    let (_, list) = call(app, Method::GET, "/v1/agent", &admin, None).await;
    let agent = list["agents"][0]["id"].as_str().unwrap().to_owned();
    let reader = members.pop().unwrap();
    let user = members.pop().unwrap();
    (admin, user, reader, company, agent)
}

/// Which providers the agent reports as connected.
async fn connected(app: &TestApp, token: &str, agent: &str) -> Vec<String> {
    let path = format!("/v1/agent/{agent}/providers");
    let (status, body) = call(app, Method::GET, &path, token, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut keys: Vec<String> = body["providers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["connected"] == true)
        .map(|(key, _)| key.clone())
        .collect();
    keys.sort();
    keys
}

async fn put_company(app: &TestApp, token: &str, company: &str, settings: Value) -> StatusCode {
    let path = format!("/v1/companies/{company}/settings");
    call(
        app,
        Method::PUT,
        &path,
        token,
        Some(json!({ "settings": settings })),
    )
    .await
    .0
}

app_tests! {
    async fn the_company_layer_sits_between_the_server_and_each_agent(db) {
        let providers = [("OPENAI_API_KEY", "sk-server-1111"), ("ANTHROPIC_API_KEY", "sk-ant-server-2222")];
        let app = TestApp::spawn_with_providers(db, Default::default(), &providers).await;
        let (admin, _user, reader, company, agent) = team(&app).await;
        assert_eq!(connected(&app, &admin, &agent).await, ["anthropic", "openai"], "the server's keys");

        // The company adds xAI, removes the server's Anthropic key for its agents, and sets a
        // default the agent does not have.
        let status = put_company(&app, &admin, &company, json!({"XAI_API_KEY": "xai-company-3333", "ANTHROPIC_API_KEY": "", "team_motto": "ship it"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(connected(&app, &admin, &agent).await, ["openai", "xai"], "read right after the write");

        let (_, config) = call(&app, Method::GET, &format!("/v1/agent/{agent}"), &admin, None).await;
        assert_eq!(config["agent"]["settings"]["XAI_API_KEY"], "HIDDEN", "the company fills what the agent lacks");
        assert_eq!(config["agent"]["settings"]["team_motto"], "ship it");
        assert!(!config.to_string().contains("xai-company-3333"));

        // The agent's own value wins over the company's: its explicit disconnect hides xAI.
        let (status, _) = call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &admin, Some(json!({"agent_name": "AGiXT", "settings": {"XAI_API_KEY": "", "team_motto": "own motto"}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(connected(&app, &admin, &agent).await, ["openai"]);
        let (_, config) = call(&app, Method::GET, &format!("/v1/agent/{agent}"), &admin, None).await;
        assert_eq!(config["agent"]["settings"]["team_motto"], "own motto");

        // `null` removes the company's own value (names are read trimmed): the server's
        // Anthropic key is back.
        assert_eq!(put_company(&app, &admin, &company, json!({"ANTHROPIC_API_KEY ": null})).await, StatusCode::OK);
        assert_eq!(connected(&app, &admin, &agent).await, ["anthropic", "openai"]);

        // Members read the layer masked; the secret is sealed at rest.
        let (status, layer) = call(&app, Method::GET, &format!("/v1/companies/{company}/settings"), &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(layer["settings"]["XAI_API_KEY"], "HIDDEN");
        assert_eq!(layer["settings"]["team_motto"], "ship it");
        assert!(layer["settings"].get("ANTHROPIC_API_KEY").is_none(), "removed");
        assert_eq!(layer["commands"]["Write to File"], false, "never set");
        let mut conn = app.db.connect();
        let rows = store::settings_of(&mut conn, company.parse::<agentry_domain::CompanyId>().unwrap().into()).unwrap();
        let sealed = rows.iter().find(|r| r.name == "XAI_API_KEY").unwrap();
        assert!(sealed.value.starts_with("enc:v1:") && !sealed.value.contains("xai-company"), "{}", sealed.value);

        // Held once read: the agent's config and the company's layer cost no statement.
        for path in [format!("/v1/agent/{agent}"), format!("/v1/companies/{company}/settings")] {
            call(&app, Method::GET, &path, &admin, None).await;
            let ((status, _), statements) = app.counting(call(&app, Method::GET, &path, &admin, None)).await;
            assert_eq!((status, statements), (StatusCode::OK, 0), "{path}");
        }

        // The company's extension view: the server's and the company's settings, masked.
        let enabled = |view: &Value| -> Vec<bool> {
            view["extensions"].as_array().unwrap().iter()
                .find(|e| e["extension_name"] == "essential_abilities").unwrap()["commands"]
                .as_array().unwrap().iter().map(|c| c["enabled"].as_bool().unwrap()).collect()
        };
        let path = format!("/v1/companies/{company}/extensions");
        let (status, view) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(enabled(&view).iter().all(|on| !on), "the company set no command");
        let switch = json!({"extension_name": "essential_abilities", "enable": true});
        call(&app, Method::PATCH, &format!("/v1/companies/{company}/extension/commands"), &admin, Some(switch)).await;
        let (_, view) = call(&app, Method::GET, &path, &reader, None).await;
        assert!(enabled(&view).iter().all(|on| *on), "the company's states, read after the write");
    }

    async fn the_layer_leaves_with_the_member(db) {
        let root = "root@example.com";
        let settings = agentry::config::Settings { superadmin_email: Some(root.into()), ..Default::default() };
        let app = TestApp::spawn_with(db, settings).await;
        let (root, _) = app.register(root, None).await;
        let (admin, user, _reader, company, _agent) = team(&app).await;
        let (_, list) = call(&app, Method::GET, "/v1/agent", &user, None).await;
        let own = list["agents"].as_array().unwrap().iter().find(|a| a["is_owner"] == true).unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(put_company(&app, &admin, &company, json!({"XAI_API_KEY": "xai-company-3333"})).await, StatusCode::OK);
        assert_eq!(connected(&app, &user, &own).await, ["xai"], "the member's agent uses the company's key");

        let (_, me) = call(&app, Method::GET, "/v1/user", &user, None).await;
        // The member keeps another company (roles are checked in one), then leaves this one.
        let (_, root_view) = call(&app, Method::GET, "/v1/user", &root, None).await;
        let mut conn = app.db.connect();
        agentry_store::identity::insert_memberships(&mut conn, &[agentry_store::identity::NewMembership::new(
            me["id"].as_str().unwrap().parse().unwrap(),
            root_view["companies"][0]["id"].as_str().unwrap().parse().unwrap(),
            agentry_domain::RoleId::USER,
            chrono::Utc::now().naive_utc(),
        )]).unwrap();
        let remove = format!("/v1/companies/{company}/users/{}", me["id"].as_str().unwrap());
        assert_eq!(call(&app, Method::DELETE, &remove, &root, None).await.0, StatusCode::OK);
        assert!(connected(&app, &user, &own).await.is_empty(), "gone with the membership");
        let (_, config) = call(&app, Method::GET, &format!("/v1/agent/{own}"), &user, None).await;
        assert!(config["agent"]["settings"].get("XAI_API_KEY").is_none());

        // A super admin reaches any company that exists; an unknown one is 404, not a 500.
        let unknown = uuid::Uuid::new_v4();
        assert_eq!(put_company(&app, &root, &unknown.to_string(), json!({"team_motto": "x"})).await, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::PATCH, &format!("/v1/companies/{unknown}/command"), &root, Some(json!({"command_name": "Get Datetime", "enable": false}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::GET, &format!("/v1/companies/{unknown}/settings"), &root, None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(put_company(&app, &root, &company, json!({"team_motto": "from root"})).await, StatusCode::OK);
    }

    async fn a_company_switches_a_command_off_for_all_its_agents(db) {
        let app = TestApp::spawn(db).await;
        let (admin, user, _reader, company, agent) = team(&app).await;
        let run = |token: String| {
            let (app, agent) = (&app, agent.clone());
            async move {
                let body = json!({"command_name": "Get Datetime", "command_args": {}, "conversation_name": "policy"});
                call(app, Method::POST, &format!("/v1/agent/{agent}/command"), &token, Some(body)).await.0
            }
        };
        assert_eq!(run(admin.clone()).await, StatusCode::OK);

        let path = format!("/v1/companies/{company}/command");
        let (status, _) = call(&app, Method::PATCH, &path, &admin, Some(json!({"command_name": "Get Datetime", "enable": false}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(run(admin.clone()).await, StatusCode::FORBIDDEN, "off for the company's agents");
        let (_, commands) = call(&app, Method::GET, &format!("/v1/agent/{agent}/command"), &admin, None).await;
        assert_eq!(commands["commands"]["Get Datetime"], false);
        assert_eq!(commands["commands"]["Write to File"], true, "other commands keep the agent's state");

        // The whole extension back on through the extension switch.
        let path = format!("/v1/companies/{company}/extension/commands");
        let (status, answer) = call(&app, Method::PATCH, &path, &admin, Some(json!({"extension_name": "Essential Abilities", "enable": true}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(run(admin.clone()).await, StatusCode::OK);

        // Refusals change nothing: a role-3 member may not switch, unknown names are 404.
        let path = format!("/v1/companies/{company}/command");
        let (status, denied) = call(&app, Method::PATCH, &path, &user, Some(json!({"command_name": "Get Datetime", "enable": false}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(denied["detail"].as_str().unwrap().contains("company:write"));
        let (status, _) = call(&app, Method::PATCH, &path, &admin, Some(json!({"command_name": "No Such Command", "enable": false}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let path = format!("/v1/companies/{company}/extension/commands");
        let (status, _) = call(&app, Method::PATCH, &path, &admin, Some(json!({"extension_name": "nope", "enable": false}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(run(admin).await, StatusCode::OK);
    }

    async fn company_settings_refusals_change_nothing(db) {
        let app = TestApp::spawn(db).await;
        let (admin, user, reader, company, _agent) = team(&app).await;
        let (stranger, _) = app.register("stranger@example.com", None).await;
        assert_eq!(put_company(&app, &admin, &company, json!({"team_motto": "first"})).await, StatusCode::OK);

        for token in [&user, &reader] {
            assert_eq!(put_company(&app, token, &company, json!({"team_motto": "theirs"})).await, StatusCode::FORBIDDEN);
        }
        // Another company's id, an unknown one and a malformed one: 404, to writers and readers.
        let unknown = uuid::Uuid::new_v4().to_string();
        for id in [company.as_str(), unknown.as_str(), "not-a-uuid"] {
            assert_eq!(put_company(&app, &stranger, id, json!({"team_motto": "theirs"})).await, StatusCode::NOT_FOUND, "{id}");
            let (status, _) = call(&app, Method::GET, &format!("/v1/companies/{id}/settings"), &stranger, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        }
        // Bodies: not an object, an agent-only name, too many settings, a value too long.
        assert_eq!(put_company(&app, &admin, &company, json!(["team_motto"])).await, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(put_company(&app, &admin, &company, json!({"team_motto": "x", "shared": "true"})).await, StatusCode::UNPROCESSABLE_ENTITY);
        let many: serde_json::Map<String, Value> = (0..600).map(|i| (format!("K{i}"), json!("v"))).collect();
        let status = put_company(&app, &admin, &company, Value::Object(many)).await;
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::PAYLOAD_TOO_LARGE, "{status}");
        let status = put_company(&app, &admin, &company, json!({"team_motto": "x".repeat(70_000)})).await;
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::PAYLOAD_TOO_LARGE, "{status}");

        let (_, layer) = call(&app, Method::GET, &format!("/v1/companies/{company}/settings"), &admin, None).await;
        assert_eq!(layer["settings"], json!({"team_motto": "first"}), "nothing written by a refusal");
    }

    async fn an_agent_disconnects_a_provider_explicitly(db) {
        let providers = [("OPENAI_API_KEY", "sk-server-1111")];
        let app = TestApp::spawn_with_providers(db, Default::default(), &providers).await;
        let (admin, _user, reader, _company, agent) = team(&app).await;
        let path = format!("/v1/agent/{agent}");
        call(&app, Method::PUT, &path, &admin, Some(json!({"agent_name": "AGiXT", "settings": {"OPENAI_MAX_TOKENS": "4000"}}))).await;
        assert_eq!(connected(&app, &admin, &agent).await, ["openai"]);

        let disconnect = format!("/v1/agent/{agent}/provider/openai");
        let (status, _) = call(&app, Method::DELETE, &disconnect, &reader, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not shared: the reader does not see it");
        call(&app, Method::PUT, &path, &admin, Some(json!({"agent_name": "AGiXT", "settings": {"shared": "true"}}))).await;
        let (status, _) = call(&app, Method::DELETE, &disconnect, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "agents:write in the agent's company");
        let (status, _) = call(&app, Method::DELETE, &format!("/v1/agent/{agent}/provider/nope"), &admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::DELETE, &format!("/v1/agent/{}/provider/openai", uuid::Uuid::new_v4()), &admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(connected(&app, &admin, &agent).await, ["openai"], "refusals change nothing");

        let (status, answer) = call(&app, Method::DELETE, &disconnect, &admin, None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(connected(&app, &admin, &agent).await.is_empty());
        let (_, config) = call(&app, Method::GET, &path, &admin, None).await;
        assert_eq!(config["agent"]["settings"]["OPENAI_API_KEY"], "");
        assert_eq!(config["agent"]["settings"]["OPENAI_MAX_TOKENS"], "4000", "not a secret: kept");
    }
}

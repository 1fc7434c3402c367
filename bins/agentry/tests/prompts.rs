//! Prompts over HTTP on both backends: the built-in set, each user's own prompts (create,
//! read, change, rename, delete, arguments, categories), a built-in changed into the
//! user's own version and reverted, 409 on duplicates, another user's prompt 404, the
//! read-only role refused writes, and the chat pipeline rendering the user's version.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_test_support::fake_model::FakeModel;
use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn names(app: &TestApp, token: &str, category: &str) -> Vec<(String, String)> {
    let (status, list) = call(
        app,
        Method::GET,
        &format!("/v1/prompts?prompt_category={category}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn id_of(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

app_tests! {
    async fn a_users_prompts_over_the_built_in_set(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let built_in = names(&app, &token, "Default").await;
        assert!(built_in.contains(&("Think About It".into(), "global".into())), "{built_in:?}");

        // Create, with its arguments read from the text (JSON braces are not arguments).
        let body = json!({"prompt_name": "Greeter", "prompt": "Hello {name}, it is {date}. {\"x\": 1}", "prompt_category": "Mine"});
        let (status, created) = call(&app, Method::POST, "/v1/prompt", &token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let id = id_of(&created);
        assert_eq!(created["message"], format!("Prompt 'Greeter' created with ID: {id}"));
        let (status, again) = call(&app, Method::POST, "/v1/prompt", &token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        // The same name in another user's list is theirs.
        assert_eq!(call(&app, Method::POST, "/v1/prompt", &other, Some(body)).await.0, StatusCode::OK);
        assert_eq!(names(&app, &token, "Mine").await, [("Greeter".to_owned(), "user".to_owned())]);
        let (_, args) = call(&app, Method::GET, &format!("/v1/prompt/{id}/args"), &token, None).await;
        assert_eq!(args["prompt_args"], json!(["name", "date"]));
        let (_, got) = call(&app, Method::GET, &format!("/v1/prompt/{id}"), &token, None).await;
        assert_eq!((got["prompt_name"].as_str(), got["prompt_category"].as_str()), (Some("Greeter"), Some("Mine")));
        let (_, categories) = call(&app, Method::GET, "/v1/prompt/categories", &token, None).await;
        let category_names: Vec<&str> = categories["categories"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(category_names, ["Default", "Mine"]);
        let mine = categories["categories"][1]["id"].as_str().unwrap();
        let (_, by_id) = call(&app, Method::GET, &format!("/v1/prompt/category/{mine}"), &token, None).await;
        assert_eq!(by_id["prompts"][0]["id"], id.as_str());

        // Another user's prompt is unknown, on every route.
        for (method, path) in [(Method::GET, format!("/v1/prompt/{id}")), (Method::DELETE, format!("/v1/prompt/{id}")), (Method::GET, format!("/v1/prompt/{id}/args"))] {
            assert_eq!(call(&app, method, &path, &other, None).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(call(&app, Method::PUT, &format!("/v1/prompt/{id}"), &other, Some(json!({"prompt": "x"}))).await.0, StatusCode::NOT_FOUND);

        // Change, rename (the SDK's PATCH), and refusals.
        let (status, _) = call(&app, Method::PUT, &format!("/v1/prompt/{id}"), &token, Some(json!({"prompt": "Hi {name}"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, renamed) = call(&app, Method::PATCH, &format!("/v1/prompt/{id}"), &token, Some(json!({"prompt_name": "Welcomer"}))).await;
        assert_eq!(status, StatusCode::OK, "{renamed}");
        let (_, got) = call(&app, Method::GET, &format!("/v1/prompt/{id}"), &token, None).await;
        assert_eq!((got["prompt_name"].as_str(), got["prompt"].as_str()), (Some("Welcomer"), Some("Hi {name}")));
        let (status, _) = call(&app, Method::POST, "/v1/prompt", &token, Some(json!({"prompt_name": "", "prompt": "x"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = call(&app, Method::POST, "/v1/prompt", &token, Some(json!({"prompt_name": "Big", "prompt": "x".repeat(300 * 1024)}))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(call(&app, Method::GET, "/v1/prompt/not-an-id", &token, None).await.0, StatusCode::NOT_FOUND);

        let (status, deleted) = call(&app, Method::DELETE, &format!("/v1/prompt/{id}"), &token, None).await;
        assert_eq!((status, deleted["message"].as_str()), (StatusCode::OK, Some("Prompt 'Welcomer' deleted.")));
        assert_eq!(call(&app, Method::GET, &format!("/v1/prompt/{id}"), &token, None).await.0, StatusCode::NOT_FOUND);
    }

    async fn a_changed_built_in_is_the_users_own_until_reverted_and_chat_renders_it(db) {
        let fake = FakeModel::start();
        let app = TestApp::spawn_with_providers(db, agentry::config::Settings::default(), &[("EZLOCALAI_API_URI", &fake.url), ("EZLOCALAI_AI_MODEL", "echo")]).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let chat = agentry_app::prompts::builtin_id("Chat");
        let (_, original) = call(&app, Method::GET, &format!("/v1/prompt/{chat}"), &token, None).await;
        let (status, _) = call(&app, Method::PUT, &format!("/v1/prompt/{chat}"), &token, Some(json!({"prompt": "MY CHAT: {user_input}"}))).await;
        assert_eq!(status, StatusCode::OK);
        // The list shows the user's version in place of the built-in one; others keep it.
        let listed = names(&app, &token, "Default").await;
        assert!(listed.contains(&("Chat".into(), "user".into())) && !listed.contains(&("Chat".into(), "global".into())), "{listed:?}");
        assert!(names(&app, &other, "Default").await.contains(&("Chat".into(), "global".into())));
        let (_, all) = call(&app, Method::GET, "/v1/prompt/all", &token, None).await;
        assert_eq!(all["user_prompts"][0]["is_override"], true);
        // The built-in's id now reads, and changes, the user's version.
        let (_, got) = call(&app, Method::GET, &format!("/v1/prompt/{chat}"), &token, None).await;
        assert_eq!(got["prompt"], "MY CHAT: {user_input}");
        let (status, _) = call(&app, Method::PUT, &format!("/v1/prompt/{chat}"), &token, Some(json!({"prompt": "MY CHAT: {user_input}"}))).await;
        assert_eq!(status, StatusCode::OK, "a second change is a change, not a duplicate");

        // The chat pipeline renders the user's version.
        let (_, agents) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        let agent = agents["agents"][0]["id"].as_str().unwrap().to_owned();
        let body = json!({"prompt_name": "Chat", "prompt_args": {"user_input": "hello"}});
        let (_, answer) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(body.clone())).await;
        assert_eq!(answer["response"], "echo: MY CHAT: hello");
        // The built-in's name in another case means the user's version too.
        let lower = json!({"prompt_name": "chat", "prompt_args": {"user_input": "hello"}});
        let (_, answer) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(lower)).await;
        assert_eq!(answer["response"], "echo: MY CHAT: hello");

        // Revert (by the built-in's id), and the built-in applies again.
        let (status, reverted) = call(&app, Method::POST, &format!("/v1/prompt/{chat}/revert"), &token, None).await;
        assert_eq!((status, reverted["message"].as_str()), (StatusCode::OK, Some("Reverted to default")));
        let (_, got) = call(&app, Method::GET, &format!("/v1/prompt/{chat}"), &token, None).await;
        assert_eq!(got["prompt"], original["prompt"]);
        let (_, answer) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(body)).await;
        assert!(answer["response"].as_str().unwrap().contains("Reply to the user's message"), "{answer}");
        assert_eq!(call(&app, Method::POST, &format!("/v1/prompt/{chat}/revert"), &token, None).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(call(&app, Method::DELETE, &format!("/v1/prompt/{chat}"), &token, None).await.0, StatusCode::BAD_REQUEST, "a built-in");
    }

    async fn the_read_only_role_reads_but_does_not_write(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let (_, invitation) = call(&app, Method::POST, "/v1/invitations", &admin, Some(json!({"email": "reader@example.com", "role_id": 6}))).await;
        let reader = app.register("reader@example.com", invitation["id"].as_str()).await.0;
        assert_eq!(call(&app, Method::GET, "/v1/prompts", &reader, None).await.0, StatusCode::OK);
        let (status, body) = call(&app, Method::POST, "/v1/prompt", &reader, Some(json!({"prompt_name": "x", "prompt": "y"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("prompts:write"));
        // Reads of a user's prompts come from memory once held: no statement.
        names(&app, &admin, "Default").await;
        let (_, statements) = app.counting(call(&app, Method::GET, "/v1/prompts", &admin, None)).await;
        assert_eq!(statements, 0, "held");
    }
}

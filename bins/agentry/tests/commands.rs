//! Commands and conversations over HTTP on both backends: Write to File lands in the
//! conversation's workspace and its link serves the file (by header, or by the link's token
//! alone); hostile paths, symlinks and over-long names are refused with nothing written
//! outside; wrong argument types 422, unknown commands 404, disabled ones 403; conversations
//! in the bodies the SDK sends.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_extensions::Workspace;
use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn first_agent(app: &TestApp, token: &str) -> String {
    let (_, list) = call(app, Method::GET, "/v1/agent", token, None).await;
    list["agents"][0]["id"].as_str().unwrap().to_owned()
}

async fn execute(
    app: &TestApp,
    token: &str,
    agent: &str,
    command: &str,
    args: Value,
    conversation: &str,
) -> (StatusCode, Value) {
    let body =
        json!({"command_name": command, "command_args": args, "conversation_name": conversation});
    call(
        app,
        Method::POST,
        &format!("/v1/agent/{agent}/command"),
        token,
        Some(body),
    )
    .await
}

/// The server-relative path of the first `/outputs/...` link in `text`.
fn link(text: &str) -> String {
    let at = text.find("/outputs/").unwrap();
    text[at..].split_whitespace().next().unwrap().to_owned()
}

app_tests! {
    async fn write_to_file_lands_in_the_workspace_and_its_link_serves_it(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let agent = first_agent(&app, &token).await;
        let (status, answer) = execute(&app, &token, &agent, "Write to File", json!({"filename": "test_role.txt", "text": "Test content"}), "").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let output = answer["response"].as_str().unwrap();
        assert!(output.starts_with("File test_role.txt written successfully. The user can access it at "), "{output}");
        let url = link(output);
        assert!(url.contains(&format!("/outputs/{agent}/")) && url.contains("test_role.txt?token="), "{url}");

        // The link alone (a browser, no header) fetches the file.
        let response = app.client.get(app.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.text().await.unwrap(), "Test content");
        // Without the token: the header of someone who sees the agent, else nothing.
        let bare = url.split('?').next().unwrap().to_owned();
        let with_header = app.client.get(app.url(&bare)).header("Authorization", &token).send().await.unwrap();
        assert_eq!(with_header.status(), StatusCode::OK);
        assert_eq!(app.client.get(app.url(&bare)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.client.get(app.url(&bare)).header("Authorization", &other).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let forged = format!("{bare}?token=4102444800.{}", "0".repeat(64));
        assert_eq!(app.client.get(app.url(&forged)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let traversal = format!("{}/..%2F..%2Fagentry.db", bare.rsplit_once('/').unwrap().0);
        let status = app.client.get(app.url(&traversal)).header("Authorization", &token).send().await.unwrap().status();
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND, "{status}");

        // The run is in the conversation: the activity, then the output, as the agent.
        let (_, history) = call(&app, Method::GET, "/v1/conversation/-", &token, None).await;
        let messages = history["conversation_history"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{history}");
        assert!(messages[0]["message"].as_str().unwrap().starts_with("[ACTIVITY] Executing command `Write to File` with args:"));
        assert_eq!(messages[1]["role"], "AGiXT");
        assert!(messages[1]["message"].as_str().unwrap().contains("written successfully"));

        // Reading it back through a command, in the same conversation (by id, as the SDK sends).
        let conversation = url.split('/').nth(3).unwrap().to_owned();
        let (status, read) = execute(&app, &token, &agent, "Read File", json!({"filename": "test_role.txt"}), &conversation).await;
        assert_eq!(status, StatusCode::OK);
        assert!(read["response"].as_str().unwrap().contains("Test content"), "{read}");
        let (status, _) = execute(&app, &other, &agent, "Read File", json!({"filename": "test_role.txt"}), "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another user's agent is unknown");

        // Deleting the conversation removes its files; the link no longer serves them.
        assert_eq!(call(&app, Method::DELETE, &format!("/v1/conversation/{conversation}"), &token, None).await.0, StatusCode::OK);
        assert_eq!(app.client.get(app.url(&url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let workspace = Workspace::for_conversation(&app.config.data_dir, &agent, &conversation);
        assert!(!workspace.root().exists());
    }

    async fn concurrent_runs_in_one_new_conversation_all_succeed(db) {
        let app = TestApp::spawn_with(db, agentry::config::Settings { workers: Some(2), ..Default::default() }).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let agent = first_agent(&app, &token).await;
        for round in 0..4 {
            let (app, token, agent) = (&app, &token, &agent);
            let runs = (0..24).map(|i| {
                let conversation = format!("busy {round} {}", i % 3);
                let args = json!({"filename": format!("f{i}.txt"), "text": "x"});
                async move { execute(app, token, agent, "Write to File", args, &conversation).await }
            });
            for (status, body) in futures_util::future::join_all(runs).await {
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }
        let (_, list) = call(&app, Method::GET, "/v1/conversations", &token, None).await;
        let named = list["conversations_with_ids"].as_array().unwrap().iter().filter(|c| c["name"] == "busy 0 0").count();
        assert!(named >= 1);
    }

    async fn hostile_paths_and_bad_commands_are_refused(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let agent = first_agent(&app, &token).await;
        let (_, first) = execute(&app, &token, &agent, "Write to File", json!({"filename": "ok.txt", "text": "x"}), "work").await;
        let conversation = link(first["response"].as_str().unwrap()).split('/').nth(3).unwrap().to_owned();
        let workspace = Workspace::for_conversation(&app.config.data_dir, &agent, &conversation);
        assert!(workspace.root().join("ok.txt").is_file());

        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), workspace.root().join("escape")).unwrap();
        let long = "n".repeat(300);
        for filename in ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt", "escape/evil.txt", long.as_str()] {
            let (status, body) = execute(&app, &token, &agent, "Write to File", json!({"filename": filename, "text": "evil"}), "work").await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{filename}: {body}");
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing written through the symlink");
        assert!(!workspace.root().parent().unwrap().join("evil.txt").exists());
        // The prefixes models emit are stripped, as the reference does.
        let (status, _) = execute(&app, &token, &agent, "Write to File", json!({"filename": "/workspace/notes/a.txt", "text": "y"}), "work").await;
        assert_eq!(status, StatusCode::OK);
        assert!(workspace.root().join("notes/a.txt").is_file());

        // Wrong argument types, unknown and disabled commands.
        let (status, body) = execute(&app, &token, &agent, "Read File", json!({"filename": "ok.txt", "line_start": "abc"}), "work").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = call(&app, Method::POST, &format!("/v1/agent/{agent}/command"), &token, Some(json!({"command_name": "Read File", "command_args": [1]}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(execute(&app, &token, &agent, "Launch Rocket", json!({}), "work").await.0, StatusCode::NOT_FOUND);
        call(&app, Method::PATCH, &format!("/v1/agent/{agent}/command"), &token, Some(json!({"command_name": "Delete File", "enable": false}))).await;
        let (status, body) = execute(&app, &token, &agent, "Delete File", json!({"filename": "ok.txt"}), "work").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(workspace.root().join("ok.txt").is_file());
        // A command that runs and fails answers 200 with its error text.
        let (status, body) = execute(&app, &token, &agent, "Read File", json!({"filename": "missing.txt"}), "work").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["response"].as_str().unwrap().starts_with("Error"), "{body}");
        // Outbound requests to this machine are refused.
        let target = format!("{}/health", app.address);
        let (status, body) = execute(&app, &token, &agent, "Custom API Endpoint", json!({"method": "GET", "url": target}), "work").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = execute(&app, &token, &agent, "Get Datetime", json!({}), "work").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["response"].as_str().unwrap().contains("UTC"), "{body}");
    }

    async fn conversations_in_the_bodies_the_sdk_sends(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let agent = first_agent(&app, &token).await;
        let content = json!([{"role": "USER", "message": "hello"}, {"role": "AGiXT", "message": "hi"}]);
        let (status, created) = call(&app, Method::POST, "/v1/conversation", &token, Some(json!({"conversation_name": "Chat", "agent_id": agent, "conversation_content": content}))).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["conversation_history"], content);
        // The same name again appends to it.
        let (_, again) = call(&app, Method::POST, "/v1/conversation", &token, Some(json!({"conversation_name": "Chat", "conversation_content": [{"role": "USER", "message": "more"}]}))).await;
        assert_eq!(again["id"], id.as_str());

        let (status, list) = call(&app, Method::GET, "/v1/conversations", &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["conversations"][&id]["name"], "Chat");
        assert_eq!(list["conversations"][&id]["agent_name"], "AGiXT");
        assert_eq!(list["conversations_with_ids"], json!([{"id": id, "name": "Chat"}]));
        assert_eq!(list["total"], 1);

        let path = format!("/v1/conversation/{id}");
        let (_, history) = call(&app, Method::GET, &format!("{path}?limit=2&page=1"), &token, None).await;
        let messages = history["conversation_history"].as_array().unwrap();
        assert_eq!((messages.len(), history["total"].as_i64()), (2, Some(3)));
        assert_eq!(messages[1]["message"], "more", "page 1 is the newest, in order");
        let first = messages[0]["id"].as_str().unwrap().to_owned();

        let (status, added) = call(&app, Method::POST, &format!("{path}/message"), &token, Some(json!({"role": "USER", "message": "new"}))).await;
        assert_eq!(status, StatusCode::OK);
        let message_path = format!("{path}/message/{}", added["message"].as_str().unwrap());
        assert_eq!(call(&app, Method::PUT, &message_path, &token, Some(json!({"new_message": "edited"}))).await.1["message"], "Message updated.");
        let (_, history) = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(history["conversation_history"].as_array().unwrap().last().unwrap()["message"], "edited");
        assert_eq!(call(&app, Method::DELETE, &format!("{path}/message/{first}"), &token, None).await.1["message"], "Message deleted.");
        assert_eq!(call(&app, Method::DELETE, &format!("{path}/message/{first}"), &token, None).await.0, StatusCode::NOT_FOUND);

        let (status, renamed) = call(&app, Method::PUT, &path, &token, Some(json!({"new_conversation_name": "Renamed"}))).await;
        assert_eq!((status, renamed["message"].as_str()), (StatusCode::OK, Some("Conversation renamed to `Renamed`.")));

        // Another user's conversation is unknown to them, whatever they try.
        assert_eq!(call(&app, Method::GET, &path, &other, None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::PUT, &path, &other, Some(json!({"new_conversation_name": "Mine"}))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::POST, &format!("{path}/message"), &other, Some(json!({"role": "USER", "message": "x"}))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::DELETE, &path, &other, None).await.0, StatusCode::NOT_FOUND);
        let (_, theirs) = call(&app, Method::GET, "/v1/conversations", &other, None).await;
        assert_eq!(theirs["total"], 0);

        // Bad bodies.
        for bad in [json!({"conversation_name": ""}), json!({"conversation_name": 5}), json!({"conversation_name": "x", "conversation_content": "no"}), json!({"conversation_name": "x", "conversation_content": [{"role": 1, "message": "m"}]})] {
            assert_eq!(call(&app, Method::POST, "/v1/conversation", &token, Some(bad.clone())).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        assert_eq!(call(&app, Method::POST, "/v1/conversation", &token, Some(json!({"conversation_name": "x", "agent_name": "Nobody"}))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::GET, "/v1/conversation/not-an-id", &token, None).await.0, StatusCode::NOT_FOUND);

        let (status, deleted) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!((status, deleted["message"].as_str()), (StatusCode::OK, Some("Conversation `Renamed` deleted.")));
        assert_eq!(call(&app, Method::GET, &path, &token, None).await.0, StatusCode::NOT_FOUND);
    }
}

//! Chains over HTTP on both backends, against the fake model: create, rename, delete, steps
//! added, moved, updated and deleted (renumbered), import, a run whose steps feed each other
//! (`{STEPn}`), its responses, and the refusals: 409 on a duplicate name, a chain that would
//! call itself, unknown prompt, command, chain or agent 404, step numbers out of range 400,
//! another user's chain 404.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_test_support::fake_model::FakeModel;
use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn spawn(db: agentry_test_support::TestDb, fake: &FakeModel) -> TestApp {
    TestApp::spawn_with_providers(
        db,
        agentry::config::Settings::default(),
        &[
            ("EZLOCALAI_API_URI", &fake.url),
            ("EZLOCALAI_AI_MODEL", "echo"),
        ],
    )
    .await
}

async fn steps(app: &TestApp, token: &str, chain: &str) -> Vec<Value> {
    let (status, got) = call(app, Method::GET, &format!("/v1/chain/{chain}"), token, None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let (_, detail) = got.as_object().unwrap().iter().next().unwrap();
    detail["steps"].as_array().unwrap().clone()
}

app_tests! {
    async fn chains_their_steps_and_a_run(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let (_, agents) = call(&app, Method::GET, "/v1/agent", &token, None).await;
        let agent = agents["agents"][0]["id"].as_str().unwrap().to_owned();

        let (status, created) = call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": "Pipeline"}))).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let chain = created["id"].as_str().unwrap().to_owned();
        assert_eq!(call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": "Pipeline"}))).await.0, StatusCode::CONFLICT);
        assert_eq!(call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": " "}))).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, list) = call(&app, Method::GET, "/v1/chains", &token, None).await;
        assert_eq!(list, json!([{"id": chain, "chainName": "Pipeline", "name": "Pipeline", "description": ""}]));

        // Steps: a prompt, then a command, then a prompt that uses step 1's answer.
        let add = |body: Value| { let (app, token, chain) = (&app, &token, &chain); async move { call(app, Method::POST, &format!("/v1/chain/{chain}/step"), token, Some(body)).await } };
        let (status, added) = add(json!({"agent_id": agent, "prompt_type": "Prompt", "prompt": {"prompt_name": "Chat", "user_input": "first {user_input}"}})).await;
        assert_eq!((status, added["message"].as_str()), (StatusCode::OK, Some("Step 1 added to chain 'Pipeline'.")));
        assert_eq!(add(json!({"agent_id": agent, "prompt_type": "command", "prompt": {"command_name": "Get Datetime"}})).await.0, StatusCode::OK);
        assert_eq!(add(json!({"agent_id": agent, "prompt_type": "Prompt", "prompt": {"prompt_name": "Chat", "user_input": "saw: {STEP1}"}})).await.0, StatusCode::OK);
        // Refusals: unknown targets and agents, a step number out of range, a bad type.
        for (body, want) in [
            (json!({"agent_id": agent, "prompt_type": "Prompt", "prompt": {"prompt_name": "Nope"}}), StatusCode::NOT_FOUND),
            (json!({"agent_id": agent, "prompt_type": "Command", "prompt": {"command_name": "Nope"}}), StatusCode::NOT_FOUND),
            (json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain_name": "Nope"}}), StatusCode::NOT_FOUND),
            (json!({"agent_id": uuid::Uuid::new_v4().to_string(), "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}}), StatusCode::NOT_FOUND),
            (json!({"agent_id": agent, "prompt_type": "Dance", "prompt": {}}), StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"step_number": 9, "agent_id": agent, "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}}), StatusCode::BAD_REQUEST),
            // A chain that calls itself.
            (json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain_name": "Pipeline"}}), StatusCode::BAD_REQUEST),
        ] {
            assert_eq!(add(body.clone()).await.0, want, "{body}");
        }
        assert_eq!(steps(&app, &token, &chain).await.len(), 3, "nothing refused was written");
        let (_, args) = call(&app, Method::GET, &format!("/v1/chain/{chain}/args"), &token, None).await;
        assert_eq!(args, json!(["user_input", "STEP1"]));

        // Another chain calling this one, and then this one calling it back, is refused.
        call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": "Outer"}))).await;
        let (status, _) = call(&app, Method::POST, "/v1/chain/Outer/step", &token, Some(json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain_name": "Pipeline"}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(add(json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain_name": "Outer"}})).await.0, StatusCode::BAD_REQUEST, "a cycle through Outer");
        assert_eq!(add(json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain": "  Outer "}})).await.0, StatusCode::BAD_REQUEST, "the name as it runs (trimmed), under either key");
        // A rename that would close a cycle: Pipeline -> Lone (a step), Outer -> Pipeline;
        // renaming Outer to Lone would make Lone -> Pipeline -> Lone.
        call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": "Lone"}))).await;
        assert_eq!(add(json!({"agent_id": agent, "prompt_type": "Chain", "prompt": {"chain_name": "Lone"}})).await.0, StatusCode::OK);
        assert_eq!(call(&app, Method::DELETE, "/v1/chain/Lone", &token, None).await.0, StatusCode::OK);
        let (status, body) = call(&app, Method::PUT, "/v1/chain/Outer", &token, Some(json!({"new_name": "Lone"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(call(&app, Method::DELETE, &format!("/v1/chain/{chain}/step/4"), &token, None).await.0, StatusCode::OK);

        // Run: step 3 sees step 1's answer; responses are recorded.
        let (status, answer) = call(&app, Method::POST, &format!("/v1/chain/{chain}/run"), &token, Some(json!({"prompt": "hello", "all_responses": true}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let answer = answer.as_str().unwrap();
        assert!(answer.starts_with("Step 1 (Prompt - Chat) Output:\necho: "), "{answer}");
        assert!(answer.contains("first hello") && answer.contains("Step 2 (Command - Get Datetime) Output:"), "{answer}");
        assert!(answer.contains("Step 3 (Prompt - Chat) Output:\necho: ") && answer.contains("saw: echo: "), "{answer}");
        let (_, responses) = call(&app, Method::GET, &format!("/v1/chain/{chain}/responses"), &token, None).await;
        assert_eq!(responses["chain"]["responses"].as_object().unwrap().len(), 3, "{responses}");
        // `chain_args` fill arguments, never a step's target.
        let (status, hijack) = call(&app, Method::POST, &format!("/v1/chain/{chain}/run/step/2"), &token, Some(json!({"prompt": "x", "chain_args": {"command_name": "Delete File"}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(hijack.as_str().unwrap().contains("UTC"), "{hijack}");
        // By name (what the SDK's run_chain(chain_name=...) sends), from a step, and one step.
        let (status, last) = call(&app, Method::POST, "/v1/chain/Pipeline/run", &token, Some(json!({"prompt": "x", "from_step": 2}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(last.as_str().unwrap().contains("saw: "), "{last}");
        let (status, one) = call(&app, Method::POST, &format!("/v1/chain/{chain}/run/step/2"), &token, Some(json!({"prompt": "x"}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(one.as_str().unwrap().contains("UTC"), "{one}");
        assert_eq!(call(&app, Method::POST, &format!("/v1/chain/{chain}/run"), &token, Some(json!({"prompt": "x", "from_step": 7}))).await.0, StatusCode::BAD_REQUEST);
        let outer = call(&app, Method::POST, "/v1/chain/Outer/run", &token, Some(json!({"prompt": "via outer"}))).await;
        assert_eq!(outer.0, StatusCode::OK, "{}", outer.1);
        assert!(outer.1.as_str().unwrap().contains("saw: "), "{}", outer.1);
        // Outer's responses are its own step's, not the nested chain's.
        let (_, responses) = call(&app, Method::GET, "/v1/chain/Outer/responses", &token, None).await;
        assert_eq!(responses["chain"]["responses"].as_object().unwrap().keys().collect::<Vec<_>>(), ["1"], "{responses}");

        // Move, update, delete: numbers stay 1..n.
        let (status, _) = call(&app, Method::PATCH, &format!("/v1/chain/{chain}/step/move"), &token, Some(json!({"old_step_number": 2, "new_step_number": 1}))).await;
        assert_eq!(status, StatusCode::OK);
        let now = steps(&app, &token, &chain).await;
        assert_eq!((now[0]["prompt_type"].as_str(), now[0]["step"].as_i64()), (Some("Command"), Some(1)));
        let (status, _) = call(&app, Method::PUT, &format!("/v1/chain/{chain}/step/1"), &token, Some(json!({"agent_id": agent, "prompt_type": "Prompt", "prompt": {"prompt_name": "Instruct"}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(call(&app, Method::DELETE, &format!("/v1/chain/{chain}/step/4"), &token, None).await.0, StatusCode::BAD_REQUEST);
        let (status, _) = call(&app, Method::DELETE, &format!("/v1/chain/{chain}/step/1"), &token, None).await;
        assert_eq!(status, StatusCode::OK);
        let numbers: Vec<i64> = steps(&app, &token, &chain).await.iter().map(|s| s["step"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [1, 2]);

        // Another user's chain is unknown, by id or name.
        for path in [format!("/v1/chain/{chain}"), "/v1/chain/Pipeline".to_owned(), format!("/v1/chain/{chain}/args")] {
            assert_eq!(call(&app, Method::GET, &path, &other, None).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(call(&app, Method::POST, &format!("/v1/chain/{chain}/run"), &other, Some(json!({"prompt": "x"}))).await.0, StatusCode::NOT_FOUND);

        // A run that fails records where and why: a step whose prompt was deleted since.
        let (_, mine) = call(&app, Method::POST, "/v1/prompt", &token, Some(json!({"prompt_name": "Temp", "prompt": "t {user_input}"}))).await;
        call(&app, Method::POST, "/v1/chain", &token, Some(json!({"chain_name": "Fragile"}))).await;
        let (status, _) = call(&app, Method::POST, "/v1/chain/Fragile/step", &token, Some(json!({"agent_id": agent, "prompt_type": "Prompt", "prompt": {"prompt_name": "Temp"}}))).await;
        assert_eq!(status, StatusCode::OK);
        call(&app, Method::DELETE, &format!("/v1/prompt/{}", mine["id"].as_str().unwrap()), &token, None).await;
        let (status, _) = call(&app, Method::POST, "/v1/chain/Fragile/run", &token, Some(json!({"prompt": "x"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, responses) = call(&app, Method::GET, "/v1/chain/Fragile/responses", &token, None).await;
        assert_eq!(responses["chain"]["responses"]["1"], "Error: Prompt `Temp` not found", "{responses}");

        // Import the reference's chain file, rename, delete.
        let file = json!({"chain_name": "Imported", "steps": [{"step": 1, "agent_name": "AGiXT", "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}}]});
        let (status, imported) = call(&app, Method::POST, "/v1/chain/import", &token, Some(json!({"chain_name": "Imported", "steps": file}))).await;
        assert_eq!((status, imported["message"].as_str()), (StatusCode::OK, Some("Imported chain: Imported")));
        let (status, renamed) = call(&app, Method::PUT, "/v1/chain/Imported", &token, Some(json!({"new_name": "Renamed"}))).await;
        assert_eq!((status, renamed["message"].as_str()), (StatusCode::OK, Some("Chain updated to 'Renamed'.")));
        let (status, deleted) = call(&app, Method::DELETE, "/v1/chain/Renamed", &token, None).await;
        assert_eq!((status, deleted["message"].as_str()), (StatusCode::OK, Some("Chain 'Renamed' deleted.")));
        assert_eq!(call(&app, Method::GET, "/v1/chain/Renamed", &token, None).await.0, StatusCode::NOT_FOUND);
    }
}

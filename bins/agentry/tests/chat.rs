//! Chat completions over HTTP on both backends, against the fake model on 127.0.0.1: the
//! answer and its usage, the conversation it is written to, streaming as OpenAI clients
//! read it, the command loop, client tools, billing, and every refusal (unknown or foreign
//! agents, empty messages, a missing scope, providers that are down, refuse the key, or
//! break mid-stream, a client that goes away).
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry::config::Settings;
use agentry_test_support::fake_model::FakeModel;
use agentry_test_support::{TEST_API_KEY, TestApp, app_tests, call};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The server with the fake model as its (trusted, server-configured) provider.
async fn spawn(db: agentry_test_support::TestDb, fake: &FakeModel, settings: Settings) -> TestApp {
    TestApp::spawn_with_providers(
        db,
        settings,
        &[
            ("EZLOCALAI_API_URI", &fake.url),
            ("EZLOCALAI_AI_MODEL", "echo"),
        ],
    )
    .await
}

async fn first_agent(app: &TestApp, token: &str) -> (String, String) {
    let (_, list) = call(app, Method::GET, "/v1/agent", token, None).await;
    let agent = &list["agents"][0];
    (
        agent["id"].as_str().unwrap().to_owned(),
        agent["name"].as_str().unwrap().to_owned(),
    )
}

/// Point the agent at one of the fake's models.
async fn use_model(app: &TestApp, token: &str, agent: &str, model: &str) {
    let body = json!({"settings": {"EZLOCALAI_AI_MODEL": model}});
    let (status, answer) = call(
        app,
        Method::PUT,
        &format!("/v1/agent/{agent}"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn complete(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, "/v1/chat/completions", token, Some(body)).await
}

async fn history(app: &TestApp, token: &str, conversation: &str) -> Vec<Value> {
    let (_, page) = call(
        app,
        Method::GET,
        &format!("/v1/conversation/{conversation}"),
        token,
        None,
    )
    .await;
    page["conversation_history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn conversation_count(app: &TestApp, token: &str) -> usize {
    let (_, list) = call(app, Method::GET, "/v1/conversations", token, None).await;
    list["conversations"].as_object().map_or(0, |c| c.len())
}

/// A stream's events (the JSON of each `data:` line) and whether it ended with `[DONE]`.
async fn read_stream(response: reqwest::Response) -> (Vec<Value>, bool) {
    let text = response.text().await.unwrap();
    let mut events = Vec::new();
    let mut done = false;
    // Comments (`: keepalive`) are skipped, as clients skip them.
    for block in text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty() && !b.starts_with(':'))
    {
        let data = block
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not an event: {block:?}"));
        if data == "[DONE]" {
            done = true;
        } else {
            assert!(!done, "an event after [DONE]");
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    (events, done)
}

fn content_of(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

async fn stream(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/chat/completions"))
        .header("Authorization", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

app_tests! {
    async fn a_completion_answers_as_openai_and_is_written_to_its_conversation(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;

        // By name, in a named conversation.
        let (status, answer) = complete(&app, &token, json!({
            "model": name, "user": "Trip", "messages": [
                {"role": "system", "content": "ignored without a slash"},
                {"role": "user", "content": "plan a trip to Lisbon"},
            ]})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["model"], name);
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
        assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
        let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(content.starts_with("echo: ") && content.contains("plan a trip to Lisbon"), "{content}");
        assert!(!content.contains("ignored without a slash"), "the reference's system rule");
        // The model got the rendered default prompt, with the agent's name and its commands.
        let sent = fake.bodies().last().cloned().unwrap();
        let prompt = sent["messages"][0]["content"].as_str().unwrap();
        assert!(prompt.contains(&format!("You are {name}.")) && prompt.contains("## Commands you can run"), "{prompt}");
        let usage = &answer["usage"];
        let (input, output) = (usage["prompt_tokens"].as_u64().unwrap(), usage["completion_tokens"].as_u64().unwrap());
        assert!(input > 50 && output > 50, "the rendered prompt and the echo: {usage}");
        assert_eq!(usage["total_tokens"].as_u64().unwrap(), input + output);

        // The conversation `Trip` now holds the user's text and the answer, under the id answered.
        let conversation = answer["id"].as_str().unwrap();
        let messages = history(&app, &token, conversation).await;
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!((messages[0]["role"].as_str(), messages[0]["message"].as_str()), (Some("USER"), Some("plan a trip to Lisbon")));
        assert_eq!((messages[1]["role"].as_str(), messages[1]["message"].as_str()), (Some(name.as_str()), Some(content)));

        // By id, in the same conversation named by its id: the prompt shows the history.
        let (status, again) = complete(&app, &token, json!({
            "model": agent, "user": conversation, "messages": [{"role": "user", "content": "and Porto?"}]})).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["id"], conversation);
        let prompt = fake.bodies().last().unwrap()["messages"][0]["content"].as_str().unwrap().to_owned();
        assert!(prompt.contains("USER: plan a trip to Lisbon"), "{prompt}");
        assert_eq!(history(&app, &token, conversation).await.len(), 4);
        // No model: the caller's default agent.
        let (status, _) = complete(&app, &token, json!({"messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn a_turn_costs_a_fixed_number_of_statements(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (_, name) = first_agent(&app, &token).await;
        let hi = json!([{"role": "user", "content": "hi"}]);
        complete(&app, &token, json!({"model": name, "user": "warm", "messages": hi})).await;
        let (_, new) = app.counting(complete(&app, &token, json!({"model": name, "user": "a new one", "messages": hi}))).await;
        let (_, again) = app.counting(complete(&app, &token, json!({"model": name, "user": "a new one", "messages": hi}))).await;
        // Read: the conversation by name (and, once it exists, its recent messages). Written
        // in one transaction: the conversation when new, the messages and its `updated_at`,
        // the payer, the usage counted and recorded, the events; BEGIN and COMMIT.
        assert_eq!((new, again), (10, 10), "statements of a turn in a new and an existing conversation");
    }

    async fn refusals_are_clear_and_write_nothing(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        let hi = json!([{"role": "user", "content": "hi"}]);

        for model in [json!("no such agent"), json!(uuid::Uuid::new_v4().to_string())] {
            let (status, body) = complete(&app, &token, json!({"model": model, "messages": hi})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        }
        // Another user's agent, by id or name, is unknown.
        let (status, _) = complete(&app, &other, json!({"model": agent, "messages": hi})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Another user's conversation id is not accessible.
        let (_, mine) = complete(&app, &token, json!({"model": name, "messages": hi})).await;
        let (other_agent, _) = first_agent(&app, &other).await;
        let (status, body) = complete(&app, &other, json!({"model": other_agent, "user": mine["id"], "messages": hi})).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Conversation is not accessible.")));

        let (status, body) = complete(&app, &token, json!({"model": name, "messages": []})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["detail"].as_str().unwrap().starts_with("The 'messages' field is required"), "{body}");
        let (status, _) = complete(&app, &token, json!({"model": name, "messages": [{"content": "no role"}]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = complete(&app, &token, json!({"model": name, "messages": "hi"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Command mode runs a command directly: it needs `extensions:execute` too.
        let (_, key) = call(&app, Method::POST, "/v1/api-keys", &token, Some(json!({"name": "x", "scopes": ["agents:read", "agents:execute"], "expiration": "30_days"}))).await;
        let command = json!([{"role": "user", "content": "x", "mode": "command", "command_name": "Get Datetime"}]);
        let (status, body) = complete(&app, key["token"].as_str().unwrap(), json!({"model": name, "messages": command})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("extensions:execute"));
        let (status, body) = complete(&app, &token, json!({"model": name, "messages": command})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["choices"][0]["message"]["content"].as_str().unwrap().contains("UTC"), "{body}");

        // A personal access token without `agents:execute`.
        let (_, key) = call(&app, Method::POST, "/v1/api-keys", &token, Some(json!({"name": "ro", "scopes": ["agents:read"], "expiration": "30_days"}))).await;
        let (status, body) = complete(&app, key["token"].as_str().unwrap(), json!({"model": name, "messages": hi})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("agents:execute"));

        // Providers that fail: 502 naming the provider, never the key; nothing written.
        let before = conversation_count(&app, &token).await;
        use_model(&app, &token, &agent, "down").await;
        let (status, body) = complete(&app, &token, json!({"model": name, "user": "fails", "messages": hi})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("ezlocalai"), "{body}");
        call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &token, Some(json!({"settings": {"EZLOCALAI_API_KEY": "sk-secret-key-1234"}}))).await;
        use_model(&app, &token, &agent, "bad-key").await;
        let (status, body) = complete(&app, &token, json!({"model": name, "user": "fails", "messages": hi})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("API key") && !detail.contains("sk-secret"), "{detail}");
        let status = stream(&app, &token, json!({"model": name, "user": "fails", "stream": true, "messages": hi})).await.status();
        assert_eq!(status, StatusCode::BAD_GATEWAY, "a stream that cannot start is a status");
        assert_eq!(conversation_count(&app, &token).await, before, "no half-written conversation");

        // No provider configured at all: 503.
        let bare = TestApp::spawn_shared(&app).await;
        let (status, body) = complete(&bare, &other, json!({"model": other_agent, "messages": hi})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }

    async fn the_servers_key_is_never_sent_to_a_url_an_agent_set(db) {
        let fake = FakeModel::start();
        let settings = Settings { allow_private_http: Some(true), ..Settings::default() };
        let app = TestApp::spawn_with_providers(db, settings, &[("OPENAI_API_KEY", "sk-server-secret-key")]).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        let body = json!({"settings": {"OPENAI_API_URI": fake.url, "OPENAI_AI_MODEL": "echo"}});
        call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &token, Some(body)).await;
        let hi = json!([{"role": "user", "content": "hi"}]);
        let (status, body) = complete(&app, &token, json!({"model": name, "messages": hi})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("never sent"), "{body}");
        assert!(fake.authorizations().is_empty(), "nothing reached the agent's URL");
        // With the agent's own key, its URL is called (and only its key is sent).
        let body = json!({"settings": {"OPENAI_API_KEY": "sk-agent-own-key"}});
        call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &token, Some(body)).await;
        let (status, body) = complete(&app, &token, json!({"model": name, "messages": hi})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(fake.authorizations(), vec![Some("Bearer sk-agent-own-key".to_owned())]);
    }

    async fn a_stream_is_what_openai_clients_read(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (_, name) = first_agent(&app, &token).await;
        let response = stream(&app, &token, json!({
            "model": name, "stream": true, "stream_options": {"include_usage": true},
            "user": "streamed", "messages": [{"role": "user", "content": "stream me"}]})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["x-accel-buffering"], "no");
        assert!(headers["cache-control"].to_str().unwrap().contains("no-cache"));
        let (events, done) = read_stream(response).await;
        assert!(done, "ends with [DONE]");
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant", "the role delta first");
        assert!(events.iter().all(|e| e["object"] == "chat.completion.chunk"));
        let finish: Vec<&Value> = events.iter().filter(|e| !e["choices"][0]["finish_reason"].is_null()).collect();
        assert_eq!(finish.len(), 1);
        assert_eq!(finish[0]["choices"][0]["finish_reason"], "stop");
        let last = events.last().unwrap();
        assert_eq!(last["choices"], json!([]), "the usage chunk is last");
        assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        let content = content_of(&events);
        assert!(content.starts_with("echo: ") && content.contains("stream me"), "{content}");
        assert!(events.len() > 4, "the provider's deltas are forwarded as they come");
        // What was streamed is what was stored.
        let conversation = events[0]["id"].as_str().unwrap();
        let messages = history(&app, &token, conversation).await;
        assert_eq!(messages.last().unwrap()["message"].as_str().unwrap(), content.trim());
        // Without include_usage there is no usage chunk; activities only when asked.
        let (events, _) = read_stream(stream(&app, &token, json!({"model": name, "stream": true, "messages": [{"role": "user", "content": "x"}]})).await).await;
        assert!(events.iter().all(|e| e.get("usage").is_none() && e["object"] == "chat.completion.chunk"));
    }

    async fn a_broken_stream_ends_with_an_error_chunk_and_is_stored_as_incomplete(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        use_model(&app, &token, &agent, "truncated").await;
        let response = stream(&app, &token, json!({"model": name, "stream": true, "user": "broken", "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let (events, done) = read_stream(response).await;
        assert!(done);
        let content = content_of(&events);
        assert!(content.starts_with("partial") && content.contains("Error: ezlocalai"), "{content}");
        let messages = history(&app, &token, events[0]["id"].as_str().unwrap()).await;
        let stored = messages.last().unwrap()["message"].as_str().unwrap();
        assert!(stored.starts_with("partial") && stored.contains("[Incomplete answer:"), "{stored}");
    }

    async fn a_client_that_goes_away_stops_the_provider_call(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        use_model(&app, &token, &agent, "stall").await;
        let response = stream(&app, &token, json!({"model": name, "stream": true, "user": "left", "messages": [{"role": "user", "content": "hi"}]})).await;
        let mut body = response.bytes_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(std::str::from_utf8(&first).unwrap().contains("assistant"));
        assert!(!fake.wait_idle(Duration::from_millis(200)).await, "the provider's stream is open");
        drop(body);
        // Noticed at the next write to the closed connection (a keepalive within 5 s).
        assert!(fake.wait_idle(Duration::from_secs(15)).await, "the provider's stream was dropped");
        // What the model said before is kept, marked.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, list) = call(&app, Method::GET, "/v1/conversations", &token, None).await;
        let id = list["conversations"].as_object().unwrap().iter().find(|(_, c)| c["name"] == "left").map(|(id, _)| id.clone()).unwrap();
        let stored = history(&app, &token, &id).await.last().unwrap()["message"].as_str().unwrap().to_owned();
        assert!(stored.contains("the client disconnected"), "{stored}");
    }

    async fn the_command_loop_runs_write_to_file_and_logs_it(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        use_model(&app, &token, &agent, "writer").await;
        let (status, _) = call(&app, Method::PATCH, &format!("/v1/agent/{agent}/command"), &token, Some(json!({"command_name": "Write to File", "enable": true}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, answer) = complete(&app, &token, json!({"model": name, "user": "notes", "messages": [{"role": "user", "content": "write me a note"}]})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["choices"][0]["message"]["content"], "Done: I wrote note.txt.");
        assert_eq!(fake.bodies().len(), 2, "two model calls");
        // The second call carried the command's output.
        let second = fake.bodies().last().cloned().unwrap();
        assert!(second["messages"][2]["content"].as_str().unwrap().contains("written successfully"), "{second}");
        let conversation = answer["id"].as_str().unwrap();
        let workspace = agentry_extensions::Workspace::for_conversation(app.config.data_dir.as_path(), &agent, conversation);
        assert_eq!(std::fs::read_to_string(workspace.resolve("note.txt").unwrap()).unwrap(), "hello from the model");
        let messages = history(&app, &token, conversation).await;
        let texts: Vec<&str> = messages.iter().map(|m| m["message"].as_str().unwrap()).collect();
        assert_eq!(texts[0], "write me a note");
        assert_eq!(texts[1], "[ACTIVITY] Completed activities.");
        let activity = messages[1]["id"].as_str().unwrap();
        assert!(texts.iter().any(|t| t.starts_with(&format!("[SUBACTIVITY][{activity}] Thinking: I should write the note."))), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with(&format!("[SUBACTIVITY][{activity}] Executing command `Write to File`")) && t.contains("written successfully")), "{texts:?}");
        assert_eq!(*texts.last().unwrap(), "Done: I wrote note.txt.");

        // A disabled command is not run: the model is told, and nothing is written.
        call(&app, Method::PATCH, &format!("/v1/agent/{agent}/command"), &token, Some(json!({"command_name": "Write to File", "enable": false}))).await;
        std::fs::remove_file(workspace.resolve("note.txt").unwrap()).unwrap();
        let (status, _) = complete(&app, &token, json!({"model": name, "user": "notes", "messages": [{"role": "user", "content": "again"}]})).await;
        assert_eq!(status, StatusCode::OK);
        assert!(fake.bodies().last().unwrap()["messages"][2]["content"].as_str().unwrap().contains("not enabled"));
        assert!(workspace.resolve("note.txt").unwrap().metadata().is_err());
    }

    async fn thoughts_are_hidden_and_client_tools_come_back_as_tool_calls(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        use_model(&app, &token, &agent, "thinker").await;
        let (_, answer) = complete(&app, &token, json!({"model": name, "messages": [{"role": "user", "content": "?"}]})).await;
        assert_eq!(answer["choices"][0]["message"]["content"], "42");
        // Streamed, the thought comes as an activity only to a client that asks.
        let response = app.client.post(app.url("/v1/chat/completions")).header("Authorization", &token)
            .header("X-Agentry-Activity-Stream", "true")
            .json(&json!({"model": name, "stream": true, "messages": [{"role": "user", "content": "?"}]})).send().await.unwrap();
        let (events, _) = read_stream(response).await;
        assert_eq!(content_of(&events), "42");
        let thought: String = events.iter().filter(|e| e["object"] == "activity.stream").filter_map(|e| e["content"].as_str()).collect();
        assert_eq!(thought, "pondering the question");

        use_model(&app, &token, &agent, "tool").await;
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        let (status, answer) = complete(&app, &token, json!({"model": name, "tools": tools, "messages": [{"role": "user", "content": "weather?"}]})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let choice = &answer["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert!(choice["message"]["content"].is_null());
        let call_ = &choice["message"]["tool_calls"][0];
        assert_eq!((call_["type"].as_str(), call_["function"]["name"].as_str()), (Some("function"), Some("get_weather")));
        let args: Value = serde_json::from_str(call_["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "Paris"}));
        let prompt = fake.bodies().last().unwrap()["messages"][0]["content"].as_str().unwrap().to_owned();
        assert!(prompt.contains("`get_weather`: The weather in a city Arguments: <city>"), "{prompt}");
        let (status, _) = complete(&app, &token, json!({"model": name, "tools": [{"type": "function"}], "messages": [{"role": "user", "content": "x"}]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn billing_refuses_before_the_model_runs_and_charges_after(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings { token_price_per_million_usd: Some(2.0), ..Settings::default() }).await;
        let (token, _) = app.register("payer@example.com", None).await;
        let (_, name) = first_agent(&app, &token).await;
        let hi = json!([{"role": "user", "content": "hi"}]);
        let (status, body) = complete(&app, &token, json!({"model": name, "messages": hi})).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert!(fake.bodies().is_empty(), "the model was not called");
        let company = body["detail"]["customer_session"]["company_id"].as_str().unwrap().to_owned();
        let (status, _) = app.call(Method::POST, &format!("/v1/credit?company={company}&amount=10"), Some(TEST_API_KEY), None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, answer) = complete(&app, &token, json!({"model": name, "messages": hi})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let total = answer["usage"]["total_tokens"].as_i64().unwrap();
        let (_, balance) = call(&app, Method::GET, &format!("/v1/billing/tokens/balance?company_id={company}"), &token, None).await;
        assert_eq!(balance["token_balance"].as_i64().unwrap(), 5_000_000 - total, "{balance}");
    }

    async fn models_list_the_agents_and_the_prompt_endpoint_answers(db) {
        let fake = FakeModel::start();
        let app = spawn(db, &fake, Settings::default()).await;
        let (token, _) = app.register("owner@example.com", None).await;
        let (other, _) = app.register("other@example.com", None).await;
        let (agent, name) = first_agent(&app, &token).await;
        let (status, models) = call(&app, Method::GET, "/v1/models", &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(models["object"], "list");
        assert_eq!(models["data"][0]["id"], name);
        assert_eq!(models["data"][0]["object"], "model");

        let body = json!({"prompt_name": "Chat", "prompt_args": {"user_input": "hello there", "conversation_name": "prompted", "context_results": 4}});
        let (status, answer) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let response = answer["response"].as_str().unwrap();
        assert!(response.contains("hello there") && response.contains("Reply to the user's message"), "the Chat prompt: {response}");
        let (status, _) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &other, Some(body)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another user's agent");
        let (status, _) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(json!({"prompt_name": "No Such Prompt", "prompt_args": {}}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(json!({"prompt_args": {}}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // Without a conversation nothing is written.
        let before = conversation_count(&app, &token).await;
        let (status, _) = call(&app, Method::POST, &format!("/v1/agent/{agent}/prompt"), &token, Some(json!({"prompt_name": "instruct", "prompt_args": {"user_input": "x"}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(conversation_count(&app, &token).await, before);
    }
}

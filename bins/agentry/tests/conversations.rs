//! Conversations over HTTP on both backends: forking at a message, and the conversation
//! list's ETag (304 while nothing changed, a new tag after any change), with the refusals.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_test_support::{TestApp, app_tests, call};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A conversation of `token` with messages "one" to "four"; its id and the message ids.
async fn four_messages(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let content: Vec<Value> = ["one", "two", "three", "four"]
        .iter()
        .map(|m| json!({"role": "USER", "message": m}))
        .collect();
    let body = json!({"conversation_name": "Source", "conversation_content": content});
    let (status, created) = call(app, Method::POST, "/v1/conversation", token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, history) = call(
        app,
        Method::GET,
        &format!("/v1/conversation/{id}"),
        token,
        None,
    )
    .await;
    let ids = history["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    (id, ids)
}

fn texts(history: &Value) -> Vec<&str> {
    history["conversation_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect()
}

app_tests! {
    async fn a_fork_copies_the_messages_up_to_the_one_named(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("ada@example.com", None).await;
        let (source, ids) = four_messages(&app, &token).await;
        assert_eq!(ids.len(), 4);

        let (status, fork) = call(&app, Method::POST, &format!("/v1/conversation/fork/{source}/{}", ids[1]), &token, None).await;
        assert_eq!(status, StatusCode::OK, "{fork}");
        assert_eq!(fork["conversation_name"], "Source (fork)");
        assert_eq!(fork["message_count"], 2);
        let forked = fork["id"].as_str().unwrap();
        assert_ne!(forked, source);
        let (_, history) = call(&app, Method::GET, &format!("/v1/conversation/{forked}"), &token, None).await;
        assert_eq!(texts(&history), ["one", "two"]);
        // Copies, not moves: new ids, and the source is untouched.
        assert!(history["conversation_history"].as_array().unwrap().iter().all(|m| !ids.contains(&m["id"].as_str().unwrap().to_owned())));
        let (_, original) = call(&app, Method::GET, &format!("/v1/conversation/{source}"), &token, None).await;
        assert_eq!(texts(&original), ["one", "two", "three", "four"]);
        assert_eq!(history["conversation_history"].as_array().unwrap().len(), 2);
        // Editing the fork leaves the source alone.
        let first = history["conversation_history"][0]["id"].as_str().unwrap();
        call(&app, Method::PUT, &format!("/v1/conversation/{forked}/message/{first}"), &token, Some(json!({"new_message": "edited"}))).await;
        let (_, original) = call(&app, Method::GET, &format!("/v1/conversation/{source}"), &token, None).await;
        assert_eq!(texts(&original)[0], "one");
    }

    async fn fork_refusals_create_nothing(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("ada@example.com", None).await;
        let (other, _) = app.register("bo@example.com", None).await;
        let (source, ids) = four_messages(&app, &token).await;
        let (elsewhere, other_ids) = four_messages(&app, &other).await;
        let unknown = uuid::Uuid::new_v4().to_string();
        for (caller, conversation, message) in [
            (&other, source.as_str(), ids[0].as_str()),          // another user's conversation
            (&token, source.as_str(), other_ids[0].as_str()),    // a message of another conversation
            (&token, elsewhere.as_str(), other_ids[0].as_str()), // both another user's
            (&token, source.as_str(), unknown.as_str()),
            (&token, unknown.as_str(), ids[0].as_str()),
            (&token, "not-a-uuid", ids[0].as_str()),
            (&token, source.as_str(), "not-a-uuid"),
        ] {
            let (status, body) = call(&app, Method::POST, &format!("/v1/conversation/fork/{conversation}/{message}"), caller, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{conversation}/{message}: {body}");
        }
        for caller in [&token, &other] {
            let (_, list) = call(&app, Method::GET, "/v1/conversations", caller, None).await;
            assert_eq!(list["total"], 1, "no fork was made");
        }
        let (status, _) = app.call(Method::POST, &format!("/v1/conversation/fork/{source}/{}", ids[0]), None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn a_fork_keeps_the_agent_only_while_the_caller_sees_it(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let (_, view) = call(&app, Method::GET, "/v1/user", &admin, None).await;
        let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
        let (_, invitation) = call(&app, Method::POST, "/v1/invitations", &admin, Some(json!({"email": "user@example.com", "role_id": 3}))).await;
        let (user, _) = app.register("user@example.com", invitation["id"].as_str()).await;
        let (_, created) = call(&app, Method::POST, "/v1/agent", &admin, Some(json!({"agent_name": "Team", "settings": {"shared": "true", "company_id": company}}))).await;
        let agent = created["id"].as_str().unwrap().to_owned();
        let body = json!({"conversation_name": "With the team agent", "agent_id": agent, "conversation_content": [{"role": "USER", "message": "hi"}]});
        let (status, conversation) = call(&app, Method::POST, "/v1/conversation", &user, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{conversation}");
        let source = conversation["id"].as_str().unwrap().to_owned();
        let (_, history) = call(&app, Method::GET, &format!("/v1/conversation/{source}"), &user, None).await;
        let message = history["conversation_history"][0]["id"].as_str().unwrap().to_owned();
        let agent_of = |list: &Value, id: &str| list["conversations"][id]["agent_id"].clone();

        let path = format!("/v1/conversation/fork/{source}/{message}");
        let fork = || async { call(&app, Method::POST, &path, &user, None).await.1["id"].as_str().unwrap().to_owned() };
        let shared_fork = fork().await;
        let (_, list) = call(&app, Method::GET, "/v1/conversations", &user, None).await;
        assert_eq!(agent_of(&list, &source), json!(agent));
        assert_eq!(agent_of(&list, &shared_fork), json!(agent), "seen: kept");

        call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &admin, Some(json!({"agent_name": "Team", "settings": {"shared": "false"}}))).await;
        let unshared_fork = fork().await;
        let (_, list) = call(&app, Method::GET, "/v1/conversations", &user, None).await;
        assert_eq!(agent_of(&list, &unshared_fork), Value::Null, "no longer seen: dropped");
    }

    async fn the_conversation_list_answers_304_until_it_changes(db) {
        let app = TestApp::spawn(db).await;
        let (token, _) = app.register("ada@example.com", None).await;
        let (source, _) = four_messages(&app, &token).await;
        let get = |tag: Option<String>| {
            let (app, token) = (&app, token.clone());
            async move {
                let mut request = app.client.get(app.url("/v1/conversations")).header("Authorization", token);
                if let Some(tag) = tag {
                    request = request.header("If-None-Match", tag);
                }
                request.send().await.unwrap()
            }
        };
        let first = get(None).await;
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.len() == 66, "{tag}");
        let again = get(Some(tag.clone())).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert_eq!(get(Some("\"something else\"".into())).await.status(), StatusCode::OK);

        // A rename changes the list, so the old tag no longer matches.
        call(&app, Method::PUT, &format!("/v1/conversation/{source}"), &token, Some(json!({"new_conversation_name": "Renamed"}))).await;
        let changed = get(Some(tag.clone())).await;
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(changed.headers()["etag"], tag.as_str());
        let body: Value = changed.json().await.unwrap();
        assert_eq!(body["conversations"][&source]["name"], "Renamed");
    }

    async fn the_conversation_list_is_held_and_follows_every_change(db) {
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("admin@example.com", None).await;
        let (_, view) = call(&app, Method::GET, "/v1/user", &admin, None).await;
        let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
        let (_, invitation) = call(&app, Method::POST, "/v1/invitations", &admin, Some(json!({"email": "user@example.com", "role_id": 3}))).await;
        let (user, _) = app.register("user@example.com", invitation["id"].as_str()).await;
        let (_, created) = call(&app, Method::POST, "/v1/agent", &admin, Some(json!({"agent_name": "Team", "settings": {"shared": "true", "company_id": company}}))).await;
        let agent = created["id"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for name in ["First", "Second", "Third"] {
            let body = json!({"conversation_name": name, "agent_id": agent, "conversation_content": [{"role": "USER", "message": "hi"}]});
            let (status, conversation) = call(&app, Method::POST, "/v1/conversation", &user, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{conversation}");
            ids.push(conversation["id"].as_str().unwrap().to_owned());
        }
        let list = || async { call(&app, Method::GET, "/v1/conversations", &user, None).await.1 };
        let order = |list: &Value| -> Vec<String> {
            list["conversations_with_ids"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(order(&list().await), ["Third", "Second", "First"], "newest first");
        let (listed, statements) = app.counting(list()).await;
        assert_eq!(statements, 0, "held: no statement");
        assert_eq!(listed["total"], 3);
        let (_, page) = call(&app, Method::GET, "/v1/conversations?limit=1&offset=1", &user, None).await;
        assert_eq!((order(&page), page["total"].clone(), page["next_cursor"].clone()), (vec!["Second".to_owned()], json!(3), json!(2)));

        // A message moves its conversation to the top; a rename and a deletion show at once.
        let message = json!({"role": "USER", "message": "again"});
        let (status, _) = call(&app, Method::POST, &format!("/v1/conversation/{}/message", ids[0]), &user, Some(message)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(order(&list().await)[0], "First");
        call(&app, Method::PUT, &format!("/v1/conversation/{}", ids[1]), &user, Some(json!({"new_conversation_name": "Renamed"}))).await;
        assert!(order(&list().await).contains(&"Renamed".to_owned()));
        call(&app, Method::DELETE, &format!("/v1/conversation/{}", ids[2]), &user, None).await;
        let listed = list().await;
        assert_eq!((listed["total"].clone(), listed["conversations"].get(&ids[2]).is_none()), (json!(2), true));

        // The agent's name comes from the agent: a rename reaches the list even when the
        // user no longer sees the agent (unshared), so no event names them.
        assert_eq!(listed["conversations"][&ids[0]]["agent_name"], "Team");
        call(&app, Method::PUT, &format!("/v1/agent/{agent}"), &admin, Some(json!({"agent_name": "Team", "settings": {"shared": "false"}}))).await;
        let (status, body) = call(&app, Method::PATCH, &format!("/v1/agent/{agent}"), &admin, Some(json!({"new_name": "Solo"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(list().await["conversations"][&ids[0]]["agent_name"], "Solo");
        call(&app, Method::DELETE, &format!("/v1/agent/{agent}"), &admin, None).await;
        let listed = list().await;
        assert_eq!((listed["conversations"][&ids[0]]["agent_id"].clone(), listed["conversations"][&ids[0]]["agent_name"].clone()), (Value::Null, Value::Null));
    }

    async fn a_user_with_more_conversations_than_are_kept_is_paged_in_sql(db) {
        let app = TestApp::spawn(db).await;
        let (token, user) = app.register("many@example.com", None).await;
        let user: agentry_domain::UserId = user.parse().unwrap();
        let mut conn = app.db.connect();
        let start = chrono::Utc::now().naive_utc();
        for i in 0..1_001 {
            let at = start + chrono::Duration::seconds(i);
            agentry_store::conversations::insert_conversation(&mut conn, &agentry_store::conversations::ConversationRow {
                id: agentry_domain::ConversationId::new().into(),
                user_id: user.into(),
                agent_id: None,
                name: format!("c{i}"),
                created_at: at,
                updated_at: at,
            }).unwrap();
        }
        for _ in 0..2 {
            let (status, page) = call(&app, Method::GET, "/v1/conversations?limit=2&offset=1", &token, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let names: Vec<&str> = page["conversations_with_ids"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["c999", "c998"]);
            assert_eq!(page["total"], 1_001);
        }
        // Each request pages in SQL (the page and the count), the list is not kept.
        let (_, statements) = app.counting(call(&app, Method::GET, "/v1/conversations?limit=2", &token, None)).await;
        assert_eq!(statements, 2);
    }
}

//! Accounts over HTTP on both backends: registration, login, the user view, updates, logout,
//! MFA, and every refusal.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_auth::token::{Claims, TokenKeys};
use agentry_auth::totp;
use agentry_test_support::{TestApp, app_tests};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Sup3rSecret";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

async fn register(app: &TestApp, first_name: &str) -> (String, Value) {
    let email = format!("{}@example.com", unique("u"));
    let response = app
        .client
        .post(app.url("/v1/user"))
        .json(&json!({
            "email": email, "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": first_name, "last_name": "Lovelace"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    (email, response.json().await.unwrap())
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get_user(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_and_json(send(app, reqwest::Method::GET, "/v1/user", Some(token), None).await).await
}

async fn login(
    app: &TestApp,
    name: &str,
    password: &str,
    code: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"username": name, "password": password});
    if let Some(code) = code {
        body["mfa_token"] = json!(code);
    }
    status_and_json(send(app, reqwest::Method::POST, "/v1/login", None, Some(body)).await).await
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

app_tests! {
    async fn registration_creates_a_company_and_the_view_shows_it(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Ada").await;
        for key in ["otp_uri", "magic_link", "token", "user_id", "username"] {
            assert!(registered[key].is_string(), "{key}: {registered}");
        }
        assert!(registered["otp_uri"].as_str().unwrap().contains("secret="));
        assert!(registered["magic_link"].as_str().unwrap().starts_with("http://localhost:3437?token="));
        let token = registered["token"].as_str().unwrap();

        let response = send(&app, reqwest::Method::GET, "/v1/user", Some(token), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(response.headers()["cache-control"], "private, max-age=0, must-revalidate");
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["id"], registered["user_id"]);
        assert_eq!(user["email"], email);
        assert_eq!((user["first_name"].as_str(), user["last_name"].as_str()), (Some("Ada"), Some("Lovelace")));
        assert_eq!(user["timezone"], "UTC");
        assert_eq!(user["input_tokens"], "0");
        assert_eq!(user["phone_number"], "");
        assert!(user.get("verify_email").is_none());
        let companies = user["companies"].as_array().unwrap();
        assert_eq!(companies.len(), 1);
        let company = &companies[0];
        assert_eq!(company["name"], "Ada's Team");
        assert_eq!(company["role_id"], 2);
        assert_eq!(company["primary"], true);
        // The first agent, made at registration, named as the company names its agents.
        let agents = company["agents"].as_array().unwrap();
        assert_eq!(agents.len(), 1, "{agents:?}");
        assert_eq!((agents[0]["name"].as_str(), agents[0]["default"].as_bool()), (Some("AGiXT"), Some(true)));
        assert_eq!(agents[0]["companyId"], company["id"]);
        let scopes: Vec<&str> = company["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(scopes.contains(&"agents:*") && scopes.contains(&"ext:*") && scopes.contains(&"users:write"));
        assert!(!scopes.contains(&"company:delete"));

        // The same ETag answers 304 with no body.
        let cached = app.client.get(app.url("/v1/user")).header("Authorization", token)
            .header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert!(cached.bytes().await.unwrap().is_empty());

        // Light mode drops scopes unless asked; a filter keeps the covering ones.
        let (_, light) = status_and_json(send(&app, reqwest::Method::GET, "/v1/user?light=true", Some(token), None).await).await;
        assert!(light["companies"][0].get("scopes").is_none());
        let (_, filtered) = status_and_json(send(&app, reqwest::Method::GET,
            "/v1/user?light=true&include_scopes=true&scope_filter=agents:read", Some(token), None).await).await;
        let kept: Vec<&str> = filtered["companies"][0]["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(kept.contains(&"agents:*") && kept.contains(&"agents:read"), "{kept:?}");
        assert!(!kept.contains(&"chains:read"));
    }

    async fn the_user_view_costs_the_same_statements_for_1_or_3_companies(db) {
        let app = TestApp::spawn(db).await;
        let (_, registered) = register(&app, "Grace").await;
        let token = registered["token"].as_str().unwrap();
        let (_, cold_one) = app.counting(get_user(&app, token)).await;
        let ((status, _), warm) = app.counting(get_user(&app, token)).await;
        assert_eq!((status, warm), (StatusCode::OK, 0), "a held view costs no statement");

        // Two more companies, through the API: each write invalidates the caller's view.
        for name in ["Second", "Third"] {
            let (status, body) = status_and_json(send(&app, reqwest::Method::POST, "/v1/companies", Some(token), Some(json!({"name": name}))).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let ((status, view), cold_three) = app.counting(get_user(&app, token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["companies"].as_array().unwrap().len(), 3, "the new companies show at once");
        // The first read also read the caller's revocation state (1 statement), and the
        // caller's own agents (2: the agents, the preferred one) and their companies' shared
        // agents (1), which the view lists.
        assert_eq!(cold_one, 1 + 4 + 2 + 1);
        // Its own agents are held: the new companies' shared agents are read, in one.
        assert_eq!(cold_three, 4 + 1, "user, preferences, memberships, role scopes; shared agents: the same for 3 companies");
        assert_eq!(app.counting(get_user(&app, token)).await.1, 0);

        // A renamed company shows in every member's view at once.
        let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/companies/{company}");
        send(&app, reqwest::Method::PATCH, &path, Some(token), Some(json!({"name": "Renamed"}))).await;
        let (_, view) = get_user(&app, token).await;
        assert!(view["companies"].as_array().unwrap().iter().any(|c| c["name"] == "Renamed"));
    }

    async fn a_login_moves_last_seen_and_reaches_no_view_access_or_agent_list(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Ada").await;
        let token = registered["token"].as_str().unwrap();
        let (_, before) = get_user(&app, token).await;
        assert_eq!(app.counting(get_user(&app, token)).await.1, 0, "held");
        let agents = || send(&app, reqwest::Method::GET, "/v1/agent", Some(token), None);
        let _ = agents().await;
        assert_eq!(app.counting(agents()).await.1, 0, "held");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(login(&app, &email, PASSWORD, None).await.0, StatusCode::OK);
        // The view's last-seen instant moved: its profile alone was read again (one
        // statement); the view itself, the access and the agent list were kept.
        let ((_, after), statements) = app.counting(get_user(&app, token)).await;
        assert_eq!(statements, 1, "the profile, by primary key");
        assert_ne!(after["last_seen"], before["last_seen"], "{after}");
        assert_eq!(app.counting(agents()).await.1, 0, "the agent list is kept");
    }

    async fn login_by_username_or_email_and_refusals(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Linus").await;
        let username = registered["username"].as_str().unwrap();

        let (status, by_name) = login(&app, username, PASSWORD, None).await;
        assert_eq!(status, StatusCode::OK, "{by_name}");
        assert_eq!(by_name["detail"], "Login successful");
        assert_eq!(by_name["email"], email);
        let (status, _) = login(&app, &email.to_uppercase(), PASSWORD, None).await;
        assert_eq!(status, StatusCode::OK, "email is case-insensitive");
        let (status, by_email) = login(&app, &email, PASSWORD, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(get_user(&app, by_email["token"].as_str().unwrap()).await.0, StatusCode::OK);

        for (name, password) in [(email.as_str(), "Wr0ngPassword"), ("nobody@example.com", PASSWORD)] {
            let (status, body) = login(&app, name, password, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body, json!({"detail": "Invalid username or password"}));
        }
        let (status, body) = status_and_json(send(&app, reqwest::Method::POST, "/v1/login", None, Some(json!({"username": email}))).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    async fn tokens_are_checked_and_logout_revokes_them(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Eve").await;
        let token = registered["token"].as_str().unwrap().to_owned();
        assert_eq!(get_user(&app, &format!("Bearer {token}")).await.0, StatusCode::OK);

        let sub = registered["user_id"].as_str().unwrap().to_owned();
        let forged = TokenKeys::new(b"not-the-server-key").issue(&Claims {
            sub: sub.clone(), email: email.clone(), admin: true, exp: 4_102_444_800, iat: 1.0,
        }).unwrap();
        let expired = TokenKeys::new(agentry_test_support::TEST_API_KEY.as_bytes()).issue(&Claims {
            sub, email: email.clone(), admin: false, exp: 1_000, iat: 1.0,
        }).unwrap();
        for bad in [forged.as_str(), expired.as_str(), "garbage", "Bearer ", "None"] {
            let (status, body) = get_user(&app, bad).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
            assert_eq!(body, json!({"detail": "Invalid API Key"}));
        }
        let missing = app.client.get(app.url("/v1/user")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(missing.json::<Value>().await.unwrap(), json!({"detail": "Authorization header is missing"}));

        let (status, body) = status_and_json(send(&app, reqwest::Method::POST, "/v1/logout", Some(&token), None).await).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"detail": "User logged out successfully."})));
        let (status, body) = get_user(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["detail"], "Token has been revoked. Please log in again.");

        // A second server process on the same database reads the revocation from the table.
        let other = TestApp::spawn_shared(&app).await;
        assert_eq!(get_user(&other, &token).await.0, StatusCode::UNAUTHORIZED);
        let (_, fresh) = login(&app, &email, PASSWORD, None).await;
        let fresh = fresh["token"].as_str().unwrap();
        assert_eq!(get_user(&app, fresh).await.0, StatusCode::OK, "a new login works after logout");
        assert_eq!(get_user(&other, fresh).await.0, StatusCode::OK);
    }

    async fn registration_refusals(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Ada").await;
        let post = |body: Value| {
            let app = &app;
            async move { status_and_json(send(app, reqwest::Method::POST, "/v1/user", None, Some(body)).await).await }
        };
        let base = |email: &str| json!({"email": email, "password": PASSWORD, "confirm_password": PASSWORD});

        let (status, body) = post(base(&email.to_uppercase())).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "User with this email already exists."})));
        let mut mismatch = base("m@example.com");
        mismatch["confirm_password"] = json!("Sup3rSecreT");
        assert_eq!(post(mismatch).await, (StatusCode::BAD_REQUEST, json!({"detail": "Passwords do not match"})));
        let mut weak = base("w@example.com");
        weak["password"] = json!("short");
        weak["confirm_password"] = json!("short");
        assert_eq!(post(weak).await, (StatusCode::BAD_REQUEST, json!({"detail": "Password must be at least 8 characters"})));
        let (status, body) = post(json!({"password": PASSWORD, "confirm_password": PASSWORD})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = post(base("not-an-email")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
        let mut taken = base("t@example.com");
        taken["username"] = registered["username"].clone();
        assert_eq!(post(taken).await, (StatusCode::CONFLICT, json!({"detail": "Username already taken"})));
        let mut bad_name = base("b@example.com");
        bad_name["username"] = json!("no spaces allowed");
        assert_eq!(post(bad_name).await.0, StatusCode::BAD_REQUEST);
        let mut invited = base("i@example.com");
        invited["invitation_id"] = json!(uuid::Uuid::new_v4().to_string());
        assert_eq!(post(invited).await, (StatusCode::BAD_REQUEST, json!({"detail": "Invalid invitation"})));

        // Nothing was half-written by the refusals.
        for email in ["m@example.com", "w@example.com", "t@example.com", "b@example.com", "i@example.com"] {
            let response = app.get(&format!("/v1/user/exists?email={email}")).await;
            assert_eq!(response.json::<Value>().await.unwrap(), json!(false), "{email}");
        }
        assert_eq!(app.get(&format!("/v1/user/exists?email={email}")).await.json::<Value>().await.unwrap(), json!(true));
        assert_eq!(app.get("/v1/user/exists").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn updates_write_names_and_preferences_or_nothing(db) {
        let app = TestApp::spawn(db).await;
        let (_, first) = register(&app, "Ada").await;
        let (_, second) = register(&app, "Bob").await;
        let token = first["token"].as_str().unwrap();
        let put = |body: Value| {
            let app = &app;
            async move { status_and_json(send(app, reqwest::Method::PUT, "/v1/user", Some(token), Some(body)).await).await }
        };
        let (status, body) = put(json!({"first_name": "Augusta", "theme": "dark", "id": "shadow",
            "phone_number": "+1 (555) 010-9999", "email": "ignored@example.com", "input_tokens": "999"})).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"detail": "User updated successfully."})));
        let (_, user) = get_user(&app, token).await;
        assert_eq!(user["first_name"], "Augusta");
        assert_eq!(user["theme"], "dark");
        assert_eq!(user["phone_number"], "15550109999");
        assert_eq!(user["id"], first["user_id"], "a preference cannot shadow the id");
        assert_ne!(user["email"], "ignored@example.com");
        assert_eq!(user["input_tokens"], "0");

        // A refused update writes nothing, not even its valid parts.
        let (status, _) = put(json!({"first_name": "Nope", "username": second["username"]})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = put(json!({"first_name": "Nope", "username": "a b"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = put(json!({"first_name": "Nope", "openai_api_key": "sk-123"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = put(json!(["not", "an", "object"])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(get_user(&app, token).await.1["first_name"], "Augusta");

        let (status, _) = status_and_json(send(&app, reqwest::Method::PUT, "/v1/user", None, Some(json!({"first_name": "X"}))).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn mfa_enrolment_login_and_refusals(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Tess").await;
        let token = registered["token"].as_str().unwrap();
        let (status, setup) = status_and_json(send(&app, reqwest::Method::GET, "/v1/user/mfa/setup", Some(token), None).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(setup["mfa_enabled"], false);
        let secret = setup["secret"].as_str().unwrap().to_owned();

        let enable = |code: String| {
            let app = &app;
            async move { status_and_json(send(app, reqwest::Method::POST, "/v1/user/mfa/enable", Some(token), Some(json!({"mfa_token": code}))).await).await }
        };
        // Codes of three consecutive steps around now, used in increasing order: each is
        // inside the accepted window and later than the last one used.
        let t0 = now();
        let code = |offset: i64| totp::code_at(&secret, (t0 as i64 + offset * 30) as u64).unwrap();
        let (first, second, third) = (code(-1), code(0), code(1));
        let wrong = if [&first, &second, &third].contains(&&"000000".to_owned()) { "999999" } else { "000000" };
        assert_eq!(enable(wrong.to_owned()).await, (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid MFA token"})));
        let (status, _) = enable(first).await;
        assert_eq!(status, StatusCode::OK);

        let (status, body) = login(&app, &email, PASSWORD, None).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "MFA token required", "mfa_required": true})));
        // With MFA on, the secret is no longer shown and a reset needs a code.
        let (status, _) = status_and_json(send(&app, reqwest::Method::GET, "/v1/user/mfa/setup", Some(token), None).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = status_and_json(send(&app, reqwest::Method::POST, "/v1/user/mfa/reset", Some(token), None).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = login(&app, &email, PASSWORD, Some(&second)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = login(&app, &email, PASSWORD, Some(&second)).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("Invalid MFA token")), "a used code is refused");

        let disable = |body: Value| {
            let app = &app;
            async move { status_and_json(send(app, reqwest::Method::POST, "/v1/user/mfa/disable", Some(token), Some(body)).await).await }
        };
        assert_eq!(disable(json!({"password": PASSWORD})).await.0, StatusCode::BAD_REQUEST);
        let later = third;
        assert_eq!(disable(json!({"password": "Wr0ngPassword", "mfa_token": later})).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(disable(json!({"password": PASSWORD, "mfa_token": later})).await.0, StatusCode::OK);
        assert_eq!(login(&app, &email, PASSWORD, None).await.0, StatusCode::OK, "MFA is off again");
        assert_eq!(disable(json!({"password": PASSWORD, "mfa_token": later})).await,
            (StatusCode::BAD_REQUEST, json!({"detail": "MFA is not enabled"})));

        let (status, reset) = status_and_json(send(&app, reqwest::Method::POST, "/v1/user/mfa/reset", Some(token), None).await).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!reset["otp_uri"].as_str().unwrap().contains(&secret), "a new secret");
        for path in ["/v1/user/mfa/setup"] {
            assert_eq!(send(&app, reqwest::Method::GET, path, None, None).await.status(), StatusCode::UNAUTHORIZED);
        }
    }

    async fn password_changes_revoke_old_tokens_and_deactivation_locks_out(db) {
        let app = TestApp::spawn(db).await;
        let (email, registered) = register(&app, "Pat").await;
        let old = registered["token"].as_str().unwrap().to_owned();
        let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new, "confirm_password": new});
        let post = |path: &'static str, token: String, body: Value| {
            let app = &app;
            async move { status_and_json(send(app, reqwest::Method::POST, path, Some(&token), Some(body)).await).await }
        };
        let (status, body) = post("/v1/user/password/change", old.clone(), change("Wr0ngPassword", "N3wPassword")).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Current password is incorrect"})));
        let (status, _) = post("/v1/user/password/change", old.clone(), change(PASSWORD, "weak")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = post("/v1/user/password/change", old.clone(), change(PASSWORD, "N3wPassword")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fresh = body["token"].as_str().unwrap().to_owned();
        assert_eq!(get_user(&app, &old).await.0, StatusCode::UNAUTHORIZED, "older tokens are revoked");
        assert_eq!(get_user(&app, &fresh).await.0, StatusCode::OK);
        assert_eq!(login(&app, &email, PASSWORD, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&app, &email, "N3wPassword", None).await.0, StatusCode::OK);
        let set = json!({"new_password": "An0therOne", "confirm_password": "An0therOne"});
        let (status, _) = post("/v1/user/password/set", fresh.clone(), set).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a password is already set");

        let (status, body) = status_and_json(send(&app, reqwest::Method::DELETE, "/v1/user", Some(&fresh), None).await).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"detail": "User deleted successfully."})));
        assert_eq!(get_user(&app, &fresh).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = login(&app, &email, "N3wPassword", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(send(&app, reqwest::Method::DELETE, "/v1/user", None, None).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn the_catalog_and_the_callers_scopes(db) {
        let app = TestApp::spawn(db).await;
        let (_, admin) = register(&app, "Ada").await;
        let admin = admin["token"].as_str().unwrap().to_owned();
        let (status, roles) = status_and_json(send(&app, reqwest::Method::GET, "/v1/roles", Some(&admin), None).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(roles["roles"].as_array().unwrap().len(), 7);
        assert_eq!(roles["roles"][2], json!({"id": 2, "name": "company_admin", "friendly_name": "Company Admin", "display_order": 2}));
        let (status, scopes) = status_and_json(send(&app, reqwest::Method::GET, "/v1/scopes", Some(&admin), None).await).await;
        assert_eq!(status, StatusCode::OK);
        // The 72 static scopes and three per built-in extension (reference 4.3).
        assert_eq!(scopes["scopes"].as_array().unwrap().len(), 75);
        assert_eq!(scopes["categories"]["Billing"], json!(["billing:read", "billing:write", "billing:admin"]));
        let ext = ["ext:essential_abilities:read", "ext:essential_abilities:execute", "ext:essential_abilities:configure"];
        let category = scopes["categories"]["Extensions"].as_array().unwrap();
        assert_eq!(category[category.len() - 3..], ext.map(|s| json!(s)));
        assert!(scopes["scopes"].as_array().unwrap().iter().any(|s| s["name"] == ext[2] && s["description"] == "Configure Essential Abilities extension settings"));

        let (status, mine) = status_and_json(send(&app, reqwest::Method::GET, "/v1/user/scopes", Some(&admin), None).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(mine["role_id"], 2);
        assert!(mine["scopes"].as_array().unwrap().iter().any(|s| s == "users:write"));
        // A company admin's `ext:*` expands to every extension scope.
        for scope in ext {
            assert!(mine["scopes"].as_array().unwrap().iter().any(|s| s == scope), "{scope}");
        }
        let foreign = format!("/v1/user/scopes?company_id={}", uuid::Uuid::new_v4());
        assert_eq!(send(&app, reqwest::Method::GET, &foreign, Some(&admin), None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(send(&app, reqwest::Method::GET, "/v1/user/scopes?company_id=nope", Some(&admin), None).await.status(), StatusCode::NOT_FOUND);
        for path in ["/v1/roles", "/v1/scopes", "/v1/user/scopes"] {
            assert_eq!(send(&app, reqwest::Method::GET, path, None, None).await.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
    }
}

//! Guessing and hashing under attack, on both backends: password hashes run a bounded number
//! at once (503 with `Retry-After` beyond the wait), every password and TOTP check is counted
//! atomically per account and per address, and the throttle slows guessers down instead of
//! locking the owner out.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry::config::Settings;
use agentry_auth::totp;
use agentry_test_support::{TEST_PASSWORD, TestApp, app_tests};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

const WRONG: &str = "Wr0ngPassword";

struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    forwarded_for: Option<&str>,
    body: Value,
) -> Answer {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(hop) = forwarded_for {
        request = request.header("X-Forwarded-For", hop);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    Answer {
        status: response.status(),
        retry_after,
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn login(app: &TestApp, name: &str, password: &str) -> Answer {
    post(
        app,
        "/v1/login",
        None,
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

fn fresh_email() -> String {
    format!(
        "{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A throttle that keeps its gate closed for the whole test once it closes.
fn strict(free_failures: u32) -> Settings {
    Settings {
        login_free_failures: Some(free_failures),
        login_delay: Some("10m".into()),
        login_address_free_failures: Some(1000),
        // However slow the machine, a check waits for its hashing slot rather than get 503.
        hash_wait: Some("1m".into()),
        ..Settings::default()
    }
}

fn assert_slowed(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    assert!(
        answer.retry_after.is_some_and(|seconds| seconds > 500),
        "Retry-After: {:?} {}",
        answer.retry_after,
        answer.body
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Too many failed attempts"),
        "{}",
        answer.body
    );
}

/// Enrol `token`'s account in MFA; returns the secret.
async fn enable_mfa(app: &TestApp, token: &str) -> String {
    let (_, setup) = app
        .call(
            reqwest::Method::GET,
            "/v1/user/mfa/setup",
            Some(token),
            None,
        )
        .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let code = totp::code_at(&secret, now()).unwrap();
    let enabled = post(
        app,
        "/v1/user/mfa/enable",
        Some(token),
        None,
        json!({"mfa_token": code}),
    )
    .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    secret
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A code that is not valid now (nor one step either side).
fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = [-30i64, 0, 30]
        .iter()
        .map(|d| totp::code_at(secret, (now() as i64 + d) as u64).unwrap())
        .collect();
    ["000000", "111111", "222222", "333333"]
        .iter()
        .find(|c| !near.contains(&(**c).to_owned()))
        .unwrap()
        .to_string()
}

app_tests! {
    async fn concurrent_wrong_passwords_are_counted_one_by_one(db) {
        // Found: 40 concurrent wrong passwords were all checked (the lockout counted, then
        // acted). Now each check claims its count first: with 3 free failures, at most 4
        // run before the gate closes, whatever the concurrency.
        // Enough hashing slots that every request reaches the count.
        let settings = Settings { hash_concurrency: Some(64), ..strict(3) };
        let app = TestApp::spawn_with(db, settings).await;
        let email = fresh_email();
        app.register(&email, None).await;
        let answers = join_all((0..40).map(|_| login(&app, &email, WRONG))).await;
        let checked = answers.iter().filter(|a| a.status == StatusCode::UNAUTHORIZED).count();
        assert!((1..=4).contains(&checked), "{checked} wrong passwords were checked");
        for answer in answers.iter().filter(|a| a.status != StatusCode::UNAUTHORIZED) {
            assert_slowed(answer);
        }
        // The gate holds the right password too until it opens.
        assert_slowed(&login(&app, &email, TEST_PASSWORD).await);
    }

    async fn wrong_totp_codes_count_like_wrong_passwords(db) {
        // Found: 15 wrong codes, then the right one logged in. Now a wrong code is a
        // failure of the throttle: after the free ones, the right code waits too.
        let app = TestApp::spawn_with(db, strict(3)).await;
        let email = fresh_email();
        let (token, _) = app.register(&email, None).await;
        let secret = enable_mfa(&app, &token).await;
        let with_code = |code: String| {
            let (app, email) = (&app, &email);
            async move { post(app, "/v1/login", None, None, json!({"username": email, "password": TEST_PASSWORD, "mfa_token": code})).await }
        };
        // Sending the right password without a code asks for it and costs nothing.
        for _ in 0..5 {
            let asked = login(&app, &email, TEST_PASSWORD).await;
            assert_eq!((asked.status, asked.body["mfa_required"].clone()), (StatusCode::UNAUTHORIZED, json!(true)));
        }
        for _ in 0..4 {
            let refused = with_code(wrong_code(&secret)).await;
            assert_eq!((refused.status, refused.body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid MFA token"})));
        }
        assert_slowed(&with_code(totp::code_at(&secret, now()).unwrap()).await);
    }

    async fn password_confirmations_are_counted_too(db) {
        // Found: POST /v1/user/mfa/disable answered "Invalid password" without a count. Now
        // it, the password change and the login share one count per account.
        let app = TestApp::spawn_with(db, strict(2)).await;
        let email = fresh_email();
        let (token, _) = app.register(&email, None).await;
        let secret = enable_mfa(&app, &token).await;
        let disable = |password: &'static str| {
            let (app, token, secret) = (&app, &token, &secret);
            async move {
                let code = totp::code_at(secret, now()).unwrap();
                post(app, "/v1/user/mfa/disable", Some(token), None, json!({"password": password, "mfa_token": code})).await
            }
        };
        for _ in 0..2 {
            let refused = disable(WRONG).await;
            assert_eq!((refused.status, refused.body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid password"})));
        }
        let change = post(&app, "/v1/user/password/change", Some(&token), None, json!({
            "current_password": WRONG, "new_password": "N3wPassword", "confirm_password": "N3wPassword"
        })).await;
        assert_eq!(change.status, StatusCode::UNAUTHORIZED, "{}", change.body);
        assert_slowed(&disable(TEST_PASSWORD).await);
        assert_slowed(&login(&app, &email, TEST_PASSWORD).await);
    }

    async fn a_session_cannot_clear_the_count_with_a_totp_code(db) {
        // Review: a right code alone cleared the count, so a stolen session could guess the
        // password five at a time between MFA resets. A code now only gives its own claim
        // back; only a verified password clears.
        let app = TestApp::spawn_with(db, strict(2)).await;
        let email = fresh_email();
        let (token, _) = app.register(&email, None).await;
        let change = |current: &'static str| {
            let (app, token) = (&app, &token);
            async move {
                post(app, "/v1/user/password/change", Some(token), None, json!({
                    "current_password": current, "new_password": "N3wPassword", "confirm_password": "N3wPassword"
                })).await
            }
        };
        assert_eq!(change(WRONG).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(change(WRONG).await.status, StatusCode::UNAUTHORIZED);
        let secret = enable_mfa(&app, &token).await;
        // The next step's code: the one enabling used is spent.
        let code = totp::code_at(&secret, now() + 30).unwrap();
        let reset = post(&app, "/v1/user/mfa/reset", Some(&token), None, json!({"mfa_token": code})).await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        assert_eq!(change(WRONG).await.status, StatusCode::UNAUTHORIZED, "the third failure closes the gate");
        assert_slowed(&change(TEST_PASSWORD).await);
    }

    async fn a_right_password_without_its_code_costs_nothing(db) {
        // Review: past the free failures, the right password sent without its code closed
        // the gate, so the owner's second step (with the code) was refused.
        let app = TestApp::spawn_with(db, strict(2)).await;
        let email = fresh_email();
        let (token, _) = app.register(&email, None).await;
        let secret = enable_mfa(&app, &token).await;
        for _ in 0..2 {
            assert_eq!(login(&app, &email, WRONG).await.status, StatusCode::UNAUTHORIZED);
        }
        for _ in 0..3 {
            let asked = login(&app, &email, TEST_PASSWORD).await;
            assert_eq!(asked.body["mfa_required"], json!(true), "{}", asked.body);
        }
        let code = totp::code_at(&secret, now() + 30).unwrap();
        let logged_in = post(&app, "/v1/login", None, None, json!({"username": email, "password": TEST_PASSWORD, "mfa_token": code})).await;
        assert_eq!(logged_in.status, StatusCode::OK, "{}", logged_in.body);
    }

    async fn the_throttle_slows_the_owner_down_instead_of_locking_them_out(db) {
        // Found: 10 wrong passwords locked anyone's account for 24 hours, the right password
        // included. Now the gate opens after the delay and a success clears the count.
        let settings = Settings {
            login_free_failures: Some(2),
            login_delay: Some("3s".into()),
            login_max_delay: Some("3s".into()),
            ..Settings::default()
        };
        let app = TestApp::spawn_with(db, settings).await;
        let email = fresh_email();
        app.register(&email, None).await;
        for _ in 0..3 {
            assert_eq!(login(&app, &email, WRONG).await.status, StatusCode::UNAUTHORIZED);
        }
        let slowed = login(&app, &email, TEST_PASSWORD).await;
        assert_eq!(slowed.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(matches!(slowed.retry_after, Some(1..=3)), "{:?}", slowed.retry_after);
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(login(&app, &email, TEST_PASSWORD).await.status, StatusCode::OK);
        // The success cleared the count: the free failures are free again.
        for _ in 0..2 {
            assert_eq!(login(&app, &email, WRONG).await.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&app, &email, TEST_PASSWORD).await.status, StatusCode::OK);
    }

    async fn an_address_that_keeps_failing_is_slowed_whatever_account_it_tries(db) {
        let settings = Settings {
            login_address_free_failures: Some(3),
            login_delay: Some("10m".into()),
            trusted_proxies: Some("127.0.0.1".into()),
            ..Settings::default()
        };
        let app = TestApp::spawn_with(db, settings).await;
        let email = fresh_email();
        app.register(&email, None).await;
        let from = |address: &'static str, name: String, password: &'static str| {
            let app = &app;
            async move { post(app, "/v1/login", None, Some(address), json!({"username": name, "password": password})).await }
        };
        // The address's own good logins do not clear its failures.
        assert_eq!(from("203.0.113.1", email.clone(), TEST_PASSWORD).await.status, StatusCode::OK);
        for _ in 0..4 {
            assert_eq!(from("203.0.113.1", fresh_email(), WRONG).await.status, StatusCode::UNAUTHORIZED);
        }
        assert_slowed(&from("203.0.113.1", email.clone(), TEST_PASSWORD).await);
        assert_eq!(from("203.0.113.2", email.clone(), TEST_PASSWORD).await.status, StatusCode::OK, "another address");
    }

    async fn password_checks_beyond_the_hashing_slots_wait_then_get_503(db) {
        // Found: every concurrent argon2 run held 64 MiB (96 parallel logins: 6.1 GiB). Now
        // one slot here: the checks that find it taken past the wait get 503 and
        // Retry-After.
        let settings = Settings {
            hash_concurrency: Some(1),
            hash_wait: Some("1ms".into()),
            login_free_failures: Some(1),
            login_delay: Some("10m".into()),
            login_address_free_failures: Some(1000),
            ..Settings::default()
        };
        let app = TestApp::spawn_with(db, settings).await;
        let answers = join_all((0..24).map(|i| {
            let app = &app;
            async move { login(app, &format!("nobody{i}@example.com"), WRONG).await }
        })).await;
        let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE).collect();
        assert!(!busy.is_empty(), "24 checks at once on one slot: some must wait past 1 ms");
        assert!(answers.iter().all(|a| [StatusCode::UNAUTHORIZED, StatusCode::SERVICE_UNAVAILABLE].contains(&a.status)));
        for answer in busy {
            assert_eq!(answer.retry_after, Some(1));
            assert_eq!(answer.body, json!({"detail": "The server is busy checking passwords. Please try again shortly."}));
        }
    }

    async fn the_address_bucket_admits_only_a_small_burst(db) {
        // Found: the per-address limit admitted a burst of 600. Now 60 a minute, 5 at once.
        let settings = Settings { auth_rate_limit: Some(60), auth_rate_burst: Some(5), hash_wait: Some("1m".into()), ..Settings::default() };
        let app = TestApp::spawn_with(db, settings).await;
        let answers = join_all((0..12).map(|i| {
            let app = &app;
            async move { login(app, &format!("nobody{i}@example.com"), WRONG).await }
        })).await;
        let admitted = answers.iter().filter(|a| a.status == StatusCode::UNAUTHORIZED).count();
        assert!((5..=6).contains(&admitted), "{admitted} admitted");
        for answer in answers.iter().filter(|a| a.status != StatusCode::UNAUTHORIZED) {
            assert_eq!((answer.status, answer.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(1)));
        }
    }
}

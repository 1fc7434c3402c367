//! kill -9 in the middle of a job, with the real binary: the payment sync job is killed while
//! it waits on Stripe; a new server claims it again once its lease has expired, and the
//! payment is credited exactly once. What ran twice: the job's read of the PaymentIntent.
//! What was lost: nothing. And a top-up killed while Stripe answers its creation: the row
//! and its job were written first, so a new server finds the intent (the same idempotency
//! key gives the same one) and the payment is credited once.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentry_app::payments::PAYMENT_SYNC_JOB;
use agentry_domain::CompanyId;
use agentry_store::{jobs, payments};
use agentry_test_support::fake_stripe::{FakeStripe, SECRET_KEY};
use agentry_test_support::process::Server;
use agentry_test_support::{TEST_API_KEY, TEST_PASSWORD, TestDb};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agentry");

fn agentry(db: &TestDb, data: &std::path::Path, stripe: &FakeStripe) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AGENTRY_DATA_DIR", data)
        .env("AGIXT_PORT", "0")
        .env("AGENTRY_WORKERS", "1")
        .env("DATABASE_URL", db.url_string())
        .env("AGIXT_API_KEY", TEST_API_KEY)
        .env("TOKEN_PRICE_PER_MILLION_USD", "2")
        .env("STRIPE_API_KEY", SECRET_KEY)
        .env("STRIPE_API_BASE", &stripe.url)
        .env("AGENTRY_JOB_LEASE", "2s")
        .env("AGENTRY_JOB_POLL", "50ms")
        .env("AGENTRY_PAYMENT_SYNC_DELAY", "0s")
        .current_dir(data)
        .stdin(Stdio::null());
    command
}

async fn call(
    port: u16,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().request(method, format!("http://127.0.0.1:{port}{path}"));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn job(db: &TestDb, intent: &str) -> Option<jobs::JobRow> {
    jobs::latest_with_key(&mut db.connect(), PAYMENT_SYNC_JOB, intent).unwrap()
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Register `email` on the server at `port`: its token and the company the paywall names.
async fn payer(port: u16, email: &str) -> (String, String) {
    let register = json!({"email": email, "password": TEST_PASSWORD, "confirm_password": TEST_PASSWORD, "first_name": "Pay"});
    let (status, body) = call(
        port,
        reqwest::Method::POST,
        "/v1/user",
        None,
        Some(register),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = call(port, reqwest::Method::GET, "/v1/user", Some(&token), None).await;
    assert_eq!(status, 402, "{body}");
    let company = body["detail"]["customer_session"]["company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, company)
}

async fn a_killed_job_runs_again_and_credits_once(db: TestDb) {
    let stripe = FakeStripe::start();
    let data = tempfile::tempdir().unwrap();
    // Stripe answers the job's read of the payment only after a minute: the job is mid-call
    // when the server dies.
    stripe.set_delay(Duration::from_secs(60));
    let first = Server::start(agentry(&db, data.path(), &stripe));

    let (token, company) = payer(first.port, "payer@example.com").await;
    let (status, topup) = call(
        first.port,
        reqwest::Method::POST,
        "/v1/billing/tokens/topup/stripe",
        Some(&token),
        Some(json!({"token_millions": 10})),
    )
    .await;
    assert_eq!(status, 200, "{topup}");
    let intent = topup["payment_intent_id"].as_str().unwrap().to_owned();
    stripe.set_intent_status(&intent, "succeeded").unwrap();

    let read = format!("GET /v1/payment_intents/{intent}");
    wait_until("the job to be waiting on Stripe", || {
        stripe.requests().contains(&read)
    })
    .await;
    let running = job(&db, &intent).unwrap();
    assert_eq!(
        (running.status.as_str(), running.attempts),
        (jobs::RUNNING, 1)
    );
    let killed_at = Instant::now();
    first.kill9();

    stripe.set_delay(Duration::ZERO);
    let second = Server::start(agentry(&db, data.path(), &stripe));
    let path = format!("/v1/billing/tokens/balance?company_id={company}");
    let mut credited_after = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while credited_after.is_none() {
        assert!(Instant::now() < deadline, "the payment was never credited");
        let (_, balance) = call(second.port, reqwest::Method::GET, &path, Some(&token), None).await;
        if balance["token_balance"] == 10_000_000 {
            credited_after = Some(killed_at.elapsed());
        } else {
            assert_eq!(balance["token_balance"], 0, "{balance}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    wait_until("the job to be recorded done", || {
        job(&db, &intent).is_some_and(|j| j.status == jobs::DONE)
    })
    .await;
    let done = job(&db, &intent).unwrap();
    assert_eq!(done.attempts, 2, "claimed once by each server");
    let reads = stripe.requests().iter().filter(|r| **r == read).count();
    assert_eq!(reads, 2, "the read of the payment ran twice");
    // Nothing more happens: the balance stays credited once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, balance) = call(second.port, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(balance["token_balance"], 10_000_000);
    eprintln!(
        "kill -9 ({:?}): job attempts {}, Stripe reads {reads}, credited {:.2?} after the kill (lease 2 s), balance 10000000 (once)",
        db.backend(),
        done.attempts,
        credited_after.unwrap()
    );
    let (status, _) = second.terminate();
    assert!(status.success());
}

fn top_ups(db: &TestDb, company: &str) -> Vec<payments::TransactionRow> {
    let company: CompanyId = company.parse().unwrap();
    payments::transactions_of(&mut db.connect(), company, None, 10, 0).unwrap()
}

async fn a_top_up_killed_while_stripe_answers_is_recovered(db: TestDb) {
    let stripe = FakeStripe::start();
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(agentry(&db, data.path(), &stripe));
    let (token, company) = payer(first.port, "creator@example.com").await;

    // Stripe makes the intent, then its answer takes a minute: the server dies meanwhile.
    stripe.set_create_delay(Duration::from_secs(60));
    let request = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/v1/billing/tokens/topup/stripe",
            first.port
        ))
        .header("Authorization", &token)
        .json(&json!({"token_millions": 10}));
    let waiting = tokio::spawn(async move { request.send().await.map(|r| r.status()) });
    wait_until("the top-up to wait on Stripe", || {
        stripe
            .requests()
            .iter()
            .any(|r| r == "POST /v1/payment_intents")
    })
    .await;
    first.kill9();
    assert!(
        waiting.await.unwrap().is_err(),
        "the client saw the server die"
    );
    let rows = top_ups(&db, &company);
    assert_eq!(rows.len(), 1, "written before the call");
    assert_eq!(rows[0].status, payments::CREATING);
    let placeholder = rows[0].payment_intent_id.clone();
    assert!(job(&db, &placeholder).is_some(), "with its job");

    stripe.set_create_delay(Duration::ZERO);
    let second = Server::start(agentry(&db, data.path(), &stripe));
    // The recovery runs 30 s after the top-up began (past Stripe's timeout).
    let deadline = Instant::now() + Duration::from_secs(90);
    while top_ups(&db, &company)[0].payment_intent_id == placeholder {
        assert!(Instant::now() < deadline, "the intent was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stripe.intent_count(), 1, "asked twice, one intent");
    let intent = top_ups(&db, &company)[0].payment_intent_id.clone();
    assert!(stripe.intent(&intent).is_some());
    stripe.set_intent_status(&intent, "succeeded").unwrap();
    let path = format!("/v1/billing/tokens/balance?company_id={company}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, balance) = call(second.port, reqwest::Method::GET, &path, Some(&token), None).await;
        if balance["token_balance"] == 10_000_000 {
            break;
        }
        assert_eq!(balance["token_balance"], 0, "{balance}");
        assert!(
            Instant::now() < deadline,
            "the recovered payment was never credited"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_until("the recovered payment's sync to be done", || {
        job(&db, &intent).is_some_and(|j| j.status == jobs::DONE)
    })
    .await;
    let (_, balance) = call(second.port, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(balance["token_balance"], 10_000_000, "credited once");
    let (status, _) = second.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_sqlite() {
    a_top_up_killed_while_stripe_answers_is_recovered(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_postgres() {
    let Some(db) = TestDb::postgres() else { return };
    a_top_up_killed_while_stripe_answers_is_recovered(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    a_killed_job_runs_again_and_credits_once(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(db) = TestDb::postgres() else { return };
    a_killed_job_runs_again_and_credits_once(db).await;
}

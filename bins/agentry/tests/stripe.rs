//! Stripe payments over HTTP on both backends, against the fake Stripe: top-ups confirmed by
//! the client, by the webhook and by the payment sync job, each credited exactly once; the
//! webhook's refusals; Stripe down; the auto top-up subscription, the portal, and the
//! subscription check that GET /v1/user queues.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry::config::Settings;
use agentry_store::jobs;
use agentry_test_support::fake_stripe::{FakeStripe, SECRET_KEY, SignedEvent, WEBHOOK_SECRET};
use agentry_test_support::{TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Billing on at $2 a million tokens, Stripe at the fake; `jobs` runs the job runner fast.
fn settings(stripe: &FakeStripe, jobs: bool) -> Settings {
    Settings {
        token_price_per_million_usd: Some(2.0),
        stripe_api_key: Some(SECRET_KEY.into()),
        stripe_api_base: Some(stripe.url.clone()),
        stripe_webhook_secret: Some(WEBHOOK_SECRET.into()),
        jobs: Some(jobs),
        job_poll: Some("20ms".into()),
        job_backoff: Some("50ms".into()),
        payment_sync_delay: Some("0s".into()),
        subscription_check_interval: Some("0s".into()),
        ..Settings::default()
    }
}

/// A new account and its company (read from the paywall's answer: billing is on and the
/// company holds nothing).
async fn payer(app: &TestApp, email: &str) -> (String, String) {
    let (token, _) = app.register(email, None).await;
    let (status, body) = app.call(Method::GET, "/v1/user", Some(&token), None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let company = body["detail"]["customer_session"]["company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, company)
}

async fn balance(app: &TestApp, token: &str, company: &str) -> i64 {
    let path = format!("/v1/billing/tokens/balance?company_id={company}");
    let (status, body) = app.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token_balance"].as_i64().unwrap()
}

async fn top_up(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/billing/tokens/topup/stripe",
        Some(token),
        Some(body),
    )
    .await
}

async fn deliver(app: &TestApp, event: &SignedEvent) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/v1/webhook"))
        .header("stripe-signature", &event.signature)
        .header("content-type", "application/json")
        .body(event.payload.clone())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn confirm(app: &TestApp, token: &str, intent: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/billing/tokens/topup/stripe/confirm",
        Some(token),
        Some(json!({"payment_intent_id": intent})),
    )
    .await
}

/// Poll `check` (every 25 ms, up to 10 s) until it holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

app_tests! {
    async fn a_top_up_is_credited_once_however_often_it_is_reported(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, false)).await;
        let (token, company) = payer(&app, "payer@example.com").await;

        let (status, quote) = app.call(Method::POST, "/v1/billing/tokens/quote", None, Some(json!({"token_millions": 10}))).await;
        assert_eq!((status, quote["amount_usd"].as_f64(), quote["tokens"].as_i64()), (StatusCode::OK, Some(20.0), Some(10_000_000)));

        let (status, topup) = top_up(&app, &token, json!({"token_millions": 10, "company_id": company})).await;
        assert_eq!(status, StatusCode::OK, "{topup}");
        assert_eq!(topup["amount_usd"], 20.0);
        assert_eq!(topup["token_amount"], 10_000_000);
        assert_eq!(topup["status"], "requires_payment_method");
        let intent = topup["payment_intent_id"].as_str().unwrap().to_owned();
        assert!(topup["client_secret"].as_str().unwrap().starts_with(&intent));
        // Stripe saw the amount in cents and Agentry's reference.
        let at_stripe = stripe.intent(&intent).unwrap();
        assert_eq!(at_stripe["amount"], 2_000);
        assert_eq!(at_stripe["metadata"]["reference_code"], topup["reference_code"]);
        assert_eq!(at_stripe["metadata"]["company_id"], company.as_str());

        // Not paid yet: confirming is refused and nothing is credited.
        let (status, body) = confirm(&app, &token, &intent).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["detail"], "Payment not completed (status: requires_payment_method)");
        assert_eq!(balance(&app, &token, &company).await, 0);

        // Paid: Stripe's event credits it; its redelivery and a confirm change nothing more.
        let event = stripe.set_intent_status(&intent, "succeeded").unwrap();
        let (status, body) = deliver(&app, &event).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"received": true, "duplicate": false})));
        assert_eq!(balance(&app, &token, &company).await, 10_000_000);
        let (status, body) = deliver(&app, &FakeStripe::redeliver(&event)).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"received": true, "duplicate": true})));
        // The same signed bytes again are a replay, not Stripe: refused.
        let (status, body) = deliver(&app, &event).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Replayed Stripe event"})));
        let (status, body) = confirm(&app, &token, &intent).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((body["success"].as_bool(), body["tokens_added"].as_i64()), (Some(true), Some(0)));
        assert_eq!(balance(&app, &token, &company).await, 10_000_000);
        // The paywall opened at once.
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::OK);

        // A second top-up, reported by a confirm, two more confirms and the webhook all at
        // once: credited exactly once.
        let (_, second) = top_up(&app, &token, json!({"token_millions": 5})).await;
        let intent2 = second["payment_intent_id"].as_str().unwrap().to_owned();
        let event = stripe.set_intent_status(&intent2, "succeeded").unwrap();
        let (a, b, c, d) = tokio::join!(
            confirm(&app, &token, &intent2),
            confirm(&app, &token, &intent2),
            deliver(&app, &event),
            confirm(&app, &token, &intent2),
        );
        assert!([a.0, b.0, c.0, d.0].iter().all(|s| *s == StatusCode::OK), "{a:?} {b:?} {c:?} {d:?}");
        let credited: i64 = [&a.1, &b.1, &d.1].iter().map(|c| c["tokens_added"].as_i64().unwrap()).sum();
        assert!(credited == 5_000_000 || (credited == 0 && c.1["duplicate"] == false), "one report credited it");
        assert_eq!(balance(&app, &token, &company).await, 15_000_000);

        let (status, list) = app.call(Method::GET, &format!("/v1/billing/transactions?company_id={company}"), Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|t| t["status"] == "completed"), "{list:?}");
    }

    async fn the_webhook_refuses_what_stripe_did_not_sign(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, false)).await;
        let (token, company) = payer(&app, "payer@example.com").await;
        let (_, topup) = top_up(&app, &token, json!({"token_millions": 10})).await;
        let intent = topup["payment_intent_id"].as_str().unwrap().to_owned();
        let event = stripe.set_intent_status(&intent, "succeeded").unwrap();

        let tampered = SignedEvent { payload: event.payload.replace("2000", "200000"), ..event.clone() };
        let (status, body) = deliver(&app, &tampered).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Invalid Stripe signature"})));
        let unsigned = SignedEvent { signature: String::new(), ..event.clone() };
        assert_eq!(deliver(&app, &unsigned).await.0, StatusCode::BAD_REQUEST);
        let object = stripe.intent(&intent).unwrap();
        let stale = stripe.event("payment_intent.succeeded", object, chrono::Utc::now().timestamp() - 3_600);
        let (status, body) = deliver(&app, &stale).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Stripe signature timestamp outside the tolerance"})));
        let garbage = SignedEvent {
            signature: agentry_billing::webhook::sign("{\"not\": \"an event\"}", WEBHOOK_SECRET, chrono::Utc::now().timestamp()),
            payload: "{\"not\": \"an event\"}".into(),
        };
        assert_eq!(deliver(&app, &garbage).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(balance(&app, &token, &company).await, 0, "nothing was credited");

        // The genuine event still applies (the refusals recorded nothing).
        assert_eq!(deliver(&app, &event).await, (StatusCode::OK, json!({"received": true, "duplicate": false})));
        assert_eq!(balance(&app, &token, &company).await, 10_000_000);

        // Without a webhook secret there is no webhook.
        let quiet = TestApp::spawn_shared_with(&app, Settings { stripe_webhook_secret: None, ..settings(&stripe, false) }).await;
        assert_eq!(deliver(&quiet, &event).await.0, StatusCode::NOT_FOUND);
    }

    async fn bad_top_ups_are_refused_before_stripe_is_called(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, false)).await;
        let (token, _) = payer(&app, "payer@example.com").await;
        let (other, other_company) = payer(&app, "other@example.com").await;
        for bad in [json!(-1), json!(0), json!(1.5), json!("ten"), json!(1_000_000_000), json!(null)] {
            let (status, body) = top_up(&app, &token, json!({"token_millions": bad})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
        // $2 is under the $10 minimum.
        let (status, body) = top_up(&app, &token, json!({"token_millions": 1})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"][0]["msg"].as_str().unwrap().contains("minimum"), "{body}");
        // Another company's id is unknown to this caller.
        let (status, _) = top_up(&app, &token, json!({"token_millions": 10, "company_id": other_company})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = top_up(&app, &token, json!({"token_millions": 10, "company_id": "not-an-id"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(stripe.requests().is_empty(), "{:?}", stripe.requests());

        // Someone else's payment cannot be confirmed (it is unknown to them).
        let (_, topup) = top_up(&app, &other, json!({"token_millions": 10})).await;
        let intent = topup["payment_intent_id"].as_str().unwrap();
        assert_eq!(confirm(&app, &token, intent).await.0, StatusCode::NOT_FOUND);
        assert_eq!(confirm(&app, &token, "pi_unknown").await.0, StatusCode::NOT_FOUND);

        // Billing off, or no Stripe: a clear 400.
        let free = TestApp::spawn_shared_with(&app, Settings { token_price_per_million_usd: Some(0.0), ..settings(&stripe, false) }).await;
        let (status, body) = top_up(&free, &token, json!({"token_millions": 10})).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("Billing is disabled; token purchases are not available")));
        let no_stripe = TestApp::spawn_shared_with(&app, Settings { stripe_api_key: Some("none".into()), ..settings(&stripe, false) }).await;
        let (status, body) = top_up(&no_stripe, &token, json!({"token_millions": 10})).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("Stripe is not configured on this server")));
    }

    async fn stripe_down_is_a_502_and_the_sync_job_credits_once_it_is_back(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, true)).await;
        let (token, company) = payer(&app, "payer@example.com").await;

        stripe.set_down(true);
        let (status, body) = top_up(&app, &token, json!({"token_millions": 10})).await;
        assert_eq!((status, body), (StatusCode::BAD_GATEWAY, json!({"detail": "Stripe is unavailable; please try again later"})));
        let (_, list) = app.call(Method::GET, "/v1/billing/transactions", Some(&token), None).await;
        assert_eq!(list, json!([]), "nothing recorded for a top-up Stripe never made");

        stripe.set_down(false);
        let (status, topup) = top_up(&app, &token, json!({"token_millions": 10})).await;
        assert_eq!(status, StatusCode::OK);
        let intent = topup["payment_intent_id"].as_str().unwrap().to_owned();
        stripe.set_down(true);
        stripe.set_intent_status(&intent, "succeeded").unwrap();
        let (status, _) = confirm(&app, &token, &intent).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(balance(&app, &token, &company).await, 0);

        // The sync job keeps failing while Stripe is down, and retries.
        let job = || {
            let mut conn = app.db.connect();
            jobs::latest_with_key(&mut conn, agentry_app::payments::PAYMENT_SYNC_JOB, &intent).unwrap().unwrap()
        };
        eventually("two failed attempts", || { let row = job(); async move { row.attempts >= 2 } }).await;
        assert_eq!(job().last_error.as_deref().map(|e| e.contains("Stripe is unavailable")), Some(true));
        assert_eq!(balance(&app, &token, &company).await, 0);

        stripe.set_down(false);
        eventually("the job to finish", || { let row = job(); async move { row.status == jobs::DONE } }).await;
        assert_eq!(balance(&app, &token, &company).await, 10_000_000, "credited once");
        let (status, body) = confirm(&app, &token, &intent).await;
        assert_eq!((status, body["tokens_added"].as_i64()), (StatusCode::OK, Some(0)));
        assert_eq!(balance(&app, &token, &company).await, 10_000_000);
    }

    async fn a_sync_credits_payments_no_one_reported(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, false)).await;
        let (token, company) = payer(&app, "payer@example.com").await;
        let (_, first) = top_up(&app, &token, json!({"token_millions": 10})).await;
        let (_, second) = top_up(&app, &token, json!({"token_millions": 6})).await;
        stripe.set_intent_status(first["payment_intent_id"].as_str().unwrap(), "succeeded").unwrap();
        let (status, synced) = app.call(Method::GET, &format!("/v1/billing/tokens/balance?company_id={company}&sync=true"), Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{synced}");
        assert_eq!(synced["sync_result"], json!({"checked": 2, "credited": 1, "tokens_added": 10_000_000}));
        assert_eq!(synced["token_balance"], 10_000_000);
        stripe.set_intent_status(second["payment_intent_id"].as_str().unwrap(), "succeeded").unwrap();
        let (status, synced) = app.call(Method::POST, &format!("/v1/billing/sync?company_id={company}"), Some(&token), None).await;
        assert_eq!((status, synced), (StatusCode::OK, json!({"checked": 1, "credited": 1, "tokens_added": 6_000_000})));
        assert_eq!(balance(&app, &token, &company).await, 16_000_000);
    }

    async fn the_auto_top_up_subscription_opens_the_paywall_until_it_ends(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, false)).await;
        let (token, company) = payer(&app, "payer@example.com").await;
        let (status, body) = app.call(Method::POST, "/v1/billing/auto-topup", Some(&token), Some(json!({"amount_usd": 1}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, link) = app.call(Method::POST, "/v1/billing/auto-topup", Some(&token), Some(json!({"amount_usd": 20}))).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        let session = link["session_id"].as_str().unwrap().to_owned();
        assert!(link["checkout_url"].as_str().unwrap().contains(&session));
        let customers = stripe.customers();
        assert_eq!(customers.len(), 1);
        assert_eq!(customers[0]["metadata"]["company_id"], company.as_str());
        assert_eq!(customers[0]["email"], "payer@example.com");

        let event = stripe.complete_session(&session).unwrap();
        assert_eq!(deliver(&app, &event).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::OK, "a subscriber passes with no tokens");

        // The portal reuses the company's customer.
        let (status, portal) = app.call(Method::POST, "/v1/billing/portal", Some(&token), Some(json!({"company_id": company}))).await;
        assert_eq!(status, StatusCode::OK, "{portal}");
        assert!(portal["url"].as_str().unwrap().starts_with("https://billing.stripe.test/"));
        assert_eq!(stripe.customers().len(), 1);

        let customer = customers[0]["id"].as_str().unwrap();
        let subscription = stripe.subscriptions_of(customer).remove(0);
        let ended = stripe.event("customer.subscription.deleted", subscription, chrono::Utc::now().timestamp());
        assert_eq!(deliver(&app, &ended).await.0, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&token), None).await.0, StatusCode::PAYMENT_REQUIRED);
    }

    async fn the_subscription_check_runs_as_a_job_and_opens_the_paywall(db) {
        let stripe = FakeStripe::start();
        let app = TestApp::spawn_with(db, settings(&stripe, true)).await;
        let (subscriber, _) = payer(&app, "subscriber@example.com").await;
        let (other, _) = payer(&app, "other@example.com").await;
        stripe.add_subscriber("subscriber@example.com");
        eventually("the paywall to open", || async {
            app.call(Method::GET, "/v1/user", Some(&subscriber), None).await.0 == StatusCode::OK
        }).await;
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&other), None).await.0, StatusCode::PAYMENT_REQUIRED);
        assert!(stripe.requests().iter().any(|r| r == "GET /v1/customers"), "{:?}", stripe.requests());
        assert!(stripe.requests().iter().any(|r| r == "GET /v1/subscriptions"));
    }
}

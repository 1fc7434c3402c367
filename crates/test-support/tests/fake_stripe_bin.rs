//! The `fake-stripe` binary the SDK suite runs: it prints its URL, checks the secret key,
//! makes PaymentIntents, and its control route returns events signed as Stripe signs them.
//! (This test also makes `cargo test` build the binary.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use agentry_billing::webhook::{Effect, verify_event};
use agentry_test_support::fake_stripe::{SECRET_KEY, WEBHOOK_SECRET};
use serde_json::Value;

#[tokio::test]
async fn the_binary_serves_the_fake() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-stripe"))
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let client = reqwest::Client::new();
    let form = [
        ("amount", "2000"),
        ("currency", "usd"),
        ("automatic_payment_methods[enabled]", "true"),
    ];
    let refused = client
        .post(format!("{url}/v1/payment_intents"))
        .bearer_auth("sk_test_wrong")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let intent: Value = client
        .post(format!("{url}/v1/payment_intents"))
        .bearer_auth(SECRET_KEY)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = intent["id"].as_str().unwrap();
    assert_eq!(intent["status"], "requires_payment_method");

    let event: Value = client
        .post(format!("{url}/_fake/payment_intents/{id}/succeeded"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified = verify_event(
        event["payload"].as_str().unwrap(),
        event["signature"].as_str().unwrap(),
        WEBHOOK_SECRET,
    )
    .unwrap();
    assert_eq!(
        verified.effect,
        Effect::PaymentSucceeded {
            payment_intent: id.to_owned()
        }
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

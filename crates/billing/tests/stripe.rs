//! The Stripe adapter against the fake Stripe: the real async-stripe client, real HTTP on
//! 127.0.0.1, Stripe's JSON shapes; and webhook signature verification.

use agentry_billing::gateway::{
    GatewayError, NewPaymentIntent, PaymentGateway, SubscriptionCheckout,
};
use agentry_billing::stripe::StripeGateway;
use agentry_billing::webhook::{Effect, EventRefused, verify_event};
use agentry_domain::CompanyId;
use agentry_test_support::fake_stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};

fn top_up(reference: &str) -> NewPaymentIntent {
    NewPaymentIntent {
        amount: 2_500,
        reference_code: reference.into(),
        token_amount: 5_000_000,
        company: CompanyId::new(),
    }
}

#[tokio::test]
async fn payment_intents_are_created_once_and_move_through_their_statuses() {
    let stripe = FakeStripe::start();
    let gateway = StripeGateway::new(SECRET_KEY, &stripe.url).unwrap();
    let created = gateway
        .create_payment_intent(&top_up("ref-1"))
        .await
        .unwrap();
    assert_eq!(created.status, "requires_payment_method");
    assert_eq!(created.amount, 2_500);
    assert!(
        created
            .client_secret
            .as_deref()
            .unwrap()
            .starts_with(&created.id)
    );
    assert_eq!(created.metadata["reference_code"], "ref-1");
    assert_eq!(created.metadata["token_amount"], "5000000");
    assert_eq!(created.metadata["type"], "token_purchase");
    // The reference code is the idempotency key: a retried create returns the same intent.
    let again = gateway
        .create_payment_intent(&top_up("ref-1"))
        .await
        .unwrap();
    assert_eq!(again.id, created.id);
    let other = gateway
        .create_payment_intent(&top_up("ref-2"))
        .await
        .unwrap();
    assert_ne!(other.id, created.id);

    let read = gateway.retrieve_payment_intent(&created.id).await.unwrap();
    assert!(!read.succeeded());
    stripe.set_intent_status(&created.id, "succeeded").unwrap();
    let read = gateway.retrieve_payment_intent(&created.id).await.unwrap();
    assert!(read.succeeded());
    assert_eq!(
        stripe.intent(&created.id).unwrap()["amount_received"],
        2_500
    );

    match gateway.retrieve_payment_intent("pi_unknown").await {
        Err(GatewayError::Refused {
            status: 404,
            message,
        }) => {
            assert!(message.contains("No such payment_intent"), "{message}");
        }
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn refusals_and_outages_are_told_apart() {
    let stripe = FakeStripe::start();
    let wrong_key = StripeGateway::new("sk_test_wrong", &stripe.url).unwrap();
    match wrong_key.create_payment_intent(&top_up("r")).await {
        Err(GatewayError::Refused { status: 401, .. }) => {}
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
    let gateway = StripeGateway::new(SECRET_KEY, &stripe.url).unwrap();
    let mut tiny = top_up("tiny");
    tiny.amount = 10;
    assert!(matches!(
        gateway.create_payment_intent(&tiny).await,
        Err(GatewayError::Refused { status: 400, .. })
    ));
    stripe.set_down(true);
    assert!(matches!(
        gateway.create_payment_intent(&top_up("down")).await,
        Err(GatewayError::Unavailable(_))
    ));
    stripe.set_down(false);
    let unreachable = StripeGateway::new(SECRET_KEY, "http://127.0.0.1:9").unwrap();
    assert!(matches!(
        unreachable.retrieve_payment_intent("pi_x").await,
        Err(GatewayError::Unavailable(_))
    ));
    // Every call reached the fake with its path (the unreachable one did not).
    assert_eq!(stripe.requests().len(), 3);
    assert!(
        stripe
            .requests()
            .iter()
            .all(|r| r == "POST /v1/payment_intents")
    );
}

#[tokio::test]
async fn customers_subscriptions_checkout_and_portal() {
    let stripe = FakeStripe::start();
    let gateway = StripeGateway::new(SECRET_KEY, &stripe.url).unwrap();
    let company = CompanyId::new();
    let customer = gateway
        .create_customer("payer@example.com", company, "Payer's Team")
        .await
        .unwrap();
    assert_eq!(
        stripe.customers()[0]["metadata"]["company_id"],
        company.to_string()
    );
    assert_eq!(
        gateway
            .customers_by_email("payer@example.com")
            .await
            .unwrap(),
        vec![customer.clone()]
    );
    assert!(
        gateway
            .customers_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!gateway.has_active_subscription(&customer).await.unwrap());

    let checkout = gateway
        .create_subscription_checkout(&SubscriptionCheckout {
            customer: customer.clone(),
            company,
            amount: 2_000,
            product_name: "Token auto top-up".into(),
            success_url: "http://app.test/thank-you".into(),
            cancel_url: "http://app.test/billing?subscription=cancelled".into(),
        })
        .await
        .unwrap();
    assert!(checkout.url.unwrap().contains(&checkout.id));
    let event = stripe.complete_session(&checkout.id).unwrap();
    assert!(gateway.has_active_subscription(&customer).await.unwrap());
    let verified = verify_event(&event.payload, &event.signature, WEBHOOK_SECRET).unwrap();
    assert_eq!(
        verified.effect,
        Effect::SubscriptionStarted {
            company: Some(company.to_string()),
            customer: Some(customer.clone()),
        }
    );

    let subscriber = stripe.add_subscriber("elsewhere@example.com");
    assert!(gateway.has_active_subscription(&subscriber).await.unwrap());

    let portal = gateway
        .create_portal_session(&customer, "http://app.test/billing")
        .await
        .unwrap();
    assert!(portal.starts_with("https://billing.stripe.test/"));
    assert!(matches!(
        gateway
            .create_portal_session("cus_unknown", "http://app.test")
            .await,
        Err(GatewayError::Refused { status: 404, .. })
    ));
}

#[tokio::test]
async fn webhook_events_need_a_fresh_valid_signature() {
    let stripe = FakeStripe::start();
    let gateway = StripeGateway::new(SECRET_KEY, &stripe.url).unwrap();
    let intent = gateway.create_payment_intent(&top_up("ref")).await.unwrap();
    let event = stripe.set_intent_status(&intent.id, "succeeded").unwrap();

    let verified = verify_event(&event.payload, &event.signature, WEBHOOK_SECRET).unwrap();
    assert_eq!(verified.kind, "payment_intent.succeeded");
    assert_eq!(
        verified.effect,
        Effect::PaymentSucceeded {
            payment_intent: intent.id.clone()
        }
    );

    let tampered = event.payload.replace("2500", "9900");
    assert_eq!(
        verify_event(&tampered, &event.signature, WEBHOOK_SECRET),
        Err(EventRefused::BadSignature)
    );
    assert_eq!(
        verify_event(&event.payload, &event.signature, "whsec_other"),
        Err(EventRefused::BadSignature)
    );
    assert_eq!(
        verify_event(&event.payload, "", WEBHOOK_SECRET),
        Err(EventRefused::BadSignature)
    );
    let object = stripe.intent(&intent.id).unwrap();
    let stale = stripe.event(
        "payment_intent.succeeded",
        object,
        chrono::Utc::now().timestamp() - 600,
    );
    assert_eq!(
        verify_event(&stale.payload, &stale.signature, WEBHOOK_SECRET),
        Err(EventRefused::Stale)
    );

    let failed = gateway
        .create_payment_intent(&top_up("ref-failed"))
        .await
        .unwrap();
    let event = stripe
        .set_intent_status(&failed.id, "requires_payment_method")
        .unwrap();
    let verified = verify_event(&event.payload, &event.signature, WEBHOOK_SECRET).unwrap();
    assert_eq!(
        verified.effect,
        Effect::PaymentFailed {
            payment_intent: failed.id,
            status: "requires_payment_method".into()
        }
    );
}

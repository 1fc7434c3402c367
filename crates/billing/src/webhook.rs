//! Stripe's webhook events: the signature (HMAC-SHA256 over `timestamp.payload` with the
//! endpoint secret, within 5 minutes of now) is verified by async-stripe's webhook crate, and
//! the event is reduced to what Agentry acts on.

use stripe_webhook::{EventObject, Webhook, WebhookError};

/// A verified event, reduced to what Agentry does with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// Stripe's event id; an event is applied once by this id.
    pub id: String,
    /// `payment_intent.succeeded`, ...
    pub kind: String,
    /// The signature's timestamp (each delivery is signed anew).
    pub signed_at: i64,
    pub effect: Effect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A PaymentIntent succeeded: credit its top-up.
    PaymentSucceeded { payment_intent: String },
    /// A PaymentIntent failed or was canceled: record its status.
    PaymentFailed {
        payment_intent: String,
        status: String,
    },
    /// A subscription checkout completed: the company's customer and its active subscription.
    SubscriptionStarted {
        company: Option<String>,
        customer: Option<String>,
    },
    /// A subscription ended (deleted, or no longer active).
    SubscriptionEnded { customer: String },
    /// Nothing for Agentry to do.
    Ignored,
}

/// Why an event was refused (each is a 400; nothing is applied).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventRefused {
    #[error("Invalid Stripe signature")]
    BadSignature,
    #[error("Stripe signature timestamp outside the tolerance")]
    Stale,
    #[error("Invalid Stripe event payload")]
    BadPayload,
}

/// Verify `payload` against the `Stripe-Signature` header with the endpoint `secret`.
pub fn verify_event(
    payload: &str,
    signature: &str,
    secret: &str,
) -> Result<StripeEvent, EventRefused> {
    let event =
        Webhook::construct_event(payload, signature, secret).map_err(|error| match error {
            WebhookError::BadTimestamp(_) => EventRefused::Stale,
            WebhookError::BadParse(_) => EventRefused::BadPayload,
            _ => EventRefused::BadSignature,
        })?;
    let effect = match event.data.object {
        EventObject::PaymentIntentSucceeded(intent) => Effect::PaymentSucceeded {
            payment_intent: intent.id.as_str().to_owned(),
        },
        EventObject::PaymentIntentPaymentFailed(intent)
        | EventObject::PaymentIntentCanceled(intent) => Effect::PaymentFailed {
            payment_intent: intent.id.as_str().to_owned(),
            status: intent.status.as_str().to_owned(),
        },
        EventObject::CheckoutSessionCompleted(session)
            if session.mode == stripe_shared::CheckoutSessionMode::Subscription =>
        {
            Effect::SubscriptionStarted {
                company: session
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.get("company_id").cloned()),
                customer: session
                    .customer
                    .as_ref()
                    .map(|c| c.id().as_str().to_owned()),
            }
        }
        EventObject::CustomerSubscriptionDeleted(subscription) => Effect::SubscriptionEnded {
            customer: subscription.customer.id().as_str().to_owned(),
        },
        _ => Effect::Ignored,
    };
    // The header verified, so its `t=` is there and numeric.
    let signed_at = signature
        .split(',')
        .find_map(|part| part.trim().strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .ok_or(EventRefused::BadSignature)?;
    Ok(StripeEvent {
        id: event.id.as_str().to_owned(),
        kind: event.type_.as_str().to_owned(),
        signed_at,
        effect,
    })
}

/// A `Stripe-Signature` header for `payload`, as Stripe makes it (for fakes and tests).
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    Webhook::generate_test_header(payload, secret, Some(timestamp))
}

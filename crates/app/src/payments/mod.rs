//! Stripe payments (reference auth-billing.md section 5.5): token top-ups (a PaymentIntent,
//! confirmed by the client, by Stripe's webhook or by the payment sync job, and credited to
//! the root company exactly once), the auto top-up subscription through Checkout, the customer
//! portal, the payment sync, and the subscription check that `GET /v1/user` queues.
//!
//! Stripe is called outside any database transaction; what its answer changes is written in
//! one transaction afterwards, so a Stripe failure leaves nothing half-done (502 to the user,
//! and the job that will look again stays queued).

mod stripe_events;
mod subscriptions;
mod sync;
mod top_up;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_billing::gateway::{
    GatewayError, NewPaymentIntent, PaymentGateway, PaymentIntentView, SubscriptionCheckout,
};
use agentry_billing::webhook::{Effect, EventRefused, verify_event};
use agentry_domain::{CompanyId, UserId};
use agentry_store::Uow;
use agentry_store::companies;
use agentry_store::identity::CompanyRow;
use agentry_store::jobs::{JobRow, NewJob};
use agentry_store::payments::{self, TransactionRow};
use agentry_store::write_transaction;
use agentry_store::{AnyConnection, identity};
use chrono::NaiveDateTime;

use crate::jobs::JobHandler;
use crate::session::Caller;
use crate::{App, AppError};

/// The job that asks Stripe about one payment until it is settled.
pub const PAYMENT_SYNC_JOB: &str = "stripe.payment_sync";
/// The earliest a top-up's recovery job runs: past the Stripe client's 20 s timeout.
const RECOVERY_AFTER: Duration = Duration::from_secs(30);
/// The job that checks a user's Stripe subscriptions.
pub const SUBSCRIPTION_CHECK_JOB: &str = "stripe.subscription_check";

/// The most a single top-up may buy, in millions of tokens (larger is refused as absurd).
const MAX_TOKEN_MILLIONS: i64 = 100_000;
/// The most an auto top-up may charge a month, in USD.
const MAX_AUTO_TOPUP_USD: f64 = 100_000.0;
const MIN_AUTO_TOPUP_USD: f64 = 5.0;
/// Open payments a sync asks Stripe about at once.
const SYNC_BATCH: i64 = 20;

/// The Stripe part of the settings.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `STRIPE_WEBHOOK_SECRET`; the webhook route is 404 without it.
    pub webhook_secret: Option<String>,
    /// `MIN_TOKEN_TOPUP_USD`.
    pub min_topup_usd: f64,
    /// Where Checkout and the portal send the user back (`BILLING_PORTAL_RETURN_URL`, else
    /// `APP_URI`).
    pub return_url: String,
    /// At most one subscription check per user within this interval.
    pub subscription_check_interval: Duration,
    /// First delay before the payment sync job asks Stripe about a new top-up.
    pub payment_sync_delay: Duration,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            min_topup_usd: 10.0,
            return_url: "http://localhost:3437".into(),
            subscription_check_interval: Duration::from_secs(300),
            payment_sync_delay: Duration::from_secs(60),
        }
    }
}

pub use agentry_api::payments::{
    CheckoutLink, Confirmation, Quote, SyncResult, TopUp, TopUpRequest, TransactionView,
    WebhookOutcome,
};

/// A ledger row as the transactions list shows it.
fn transaction_view(row: TransactionRow) -> TransactionView {
    TransactionView {
        reference_code: row.reference_code,
        status: row.status,
        currency: row.currency,
        amount_usd: row.amount_usd,
        token_amount: row.token_amount,
        payment_intent_id: row.payment_intent_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn gateway_error(error: GatewayError) -> AppError {
    match error {
        GatewayError::Refused { message, .. } => {
            AppError::BadGateway(format!("Stripe refused the request: {message}"))
        }
        GatewayError::Unavailable(cause) => {
            tracing::warn!(%cause, "Stripe unavailable");
            AppError::BadGateway("Stripe is unavailable; please try again later".into())
        }
    }
}

use crate::now_naive as now;

/// Stripe: top-ups, their sync and recovery, subscriptions, the portal, the webhook. A view of
/// the application's [`Context`](crate::Context), taken with
/// [`App::payments`](crate::App::payments).
#[derive(Clone, Copy)]
pub struct Payments<'a> {
    pub(crate) app: &'a App,
}

/// A whole number of millions of tokens, 1 to [`MAX_TOKEN_MILLIONS`] (a JSON number or a
/// numeric string, as FastAPI coerces).
fn token_millions(value: &serde_json::Value) -> Result<i64, AppError> {
    let invalid = || AppError::Invalid {
        field: "token_millions".into(),
        message: format!("a whole number of millions from 1 to {MAX_TOKEN_MILLIONS}"),
    };
    let number = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(invalid)?;
    if number.fract() != 0.0 || !(1.0..=MAX_TOKEN_MILLIONS as f64).contains(&number) {
        return Err(invalid());
    }
    Ok(number as i64)
}

/// `company`'s root (itself when it has no parent).
fn root_company(conn: &mut AnyConnection, company: CompanyId) -> Result<CompanyRow, AppError> {
    let row = companies::find_company(conn, company)?
        .ok_or_else(|| AppError::NotFound("Company not found".into()))?;
    crate::companies::root_of(conn, row)
}

impl App {
    /// Use a payment gateway (Stripe); without one the payment routes answer 400.
    pub fn with_gateway(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        std::sync::Arc::make_mut(&mut self.context).gateway = Some(gateway);
        self
    }
}

impl Payments<'_> {
    fn gateway(&self) -> Result<Arc<dyn PaymentGateway>, AppError> {
        self.app
            .gateway
            .clone()
            .ok_or_else(|| AppError::BadRequest("Stripe is not configured on this server".into()))
    }

    /// The company a billing request names (the caller's current company when it names
    /// none); members only (another company's id is unknown).
    /// A personal access token needs `scope` too.
    fn billing_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<&str>,
        scope: &str,
    ) -> Result<CompanyId, AppError> {
        caller.require(scope)?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let company = match company.map(str::trim).filter(|c| !c.is_empty()) {
            Some(id) => crate::forms::parse_id(id, "Company")?,
            None => access.primary().map(|c| c.company).ok_or_else(|| {
                AppError::BadRequest("You are not a member of any company".into())
            })?,
        };
        if !access.is_member(company) {
            return Err(AppError::NotFound("Company not found".into()));
        }
        Ok(company)
    }
}

/// What Stripe is asked to create for a top-up; the reference code is the idempotency key.
fn new_intent(row: &TransactionRow) -> NewPaymentIntent {
    NewPaymentIntent {
        amount: (row.amount_usd * 100.0).round() as i64,
        reference_code: row.reference_code.clone(),
        token_amount: row.token_amount,
        company: row.company_id.into(),
    }
}

/// The payment sync job for one PaymentIntent (at most one pending per intent).
fn payment_sync_job(payment_intent: &str, run_at: NaiveDateTime) -> NewJob {
    NewJob {
        kind: PAYMENT_SYNC_JOB.into(),
        dedupe_key: Some(payment_intent.to_owned()),
        payload: serde_json::json!({ "payment_intent": payment_intent }).to_string(),
        run_at,
        max_attempts: 12,
    }
}

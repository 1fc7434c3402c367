//! Stripe payments (reference auth-billing.md section 5.5): token top-ups (a PaymentIntent,
//! confirmed by the client, by Stripe's webhook or by the payment sync job, and credited to
//! the root company exactly once), the auto top-up subscription through Checkout, the customer
//! portal, the payment sync, and the subscription check that `GET /v1/user` queues.
//!
//! Stripe is called outside any database transaction; what its answer changes is written in
//! one transaction afterwards, so a Stripe failure leaves nothing half-done (502 to the user,
//! and the job that will look again stays queued).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_billing::gateway::{
    GatewayError, NewPaymentIntent, PaymentGateway, PaymentIntentView, SubscriptionCheckout,
};
use agentry_billing::webhook::{Effect, EventRefused, verify_event};
use agentry_domain::events::DomainEvent;
use agentry_domain::{CompanyId, UserId};
use agentry_store::events::Work;
use agentry_store::identity::CompanyRow;
use agentry_store::jobs::{JobRow, NewJob};
use agentry_store::payments::{self, TransactionRow};
use agentry_store::write_transaction;
use agentry_store::{AnyConnection, identity};
use agentry_store::{DbUuid, companies};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::jobs::{JobHandler, JobRunner};
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

#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    pub token_millions: i64,
    pub tokens: i64,
    pub amount_usd: f64,
    pub price_per_million: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopUpRequest {
    pub token_millions: serde_json::Value,
    #[serde(default)]
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopUp {
    pub reference_code: String,
    pub client_secret: Option<String>,
    pub payment_intent_id: String,
    pub amount_usd: f64,
    pub token_amount: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confirmation {
    pub success: bool,
    pub status: String,
    /// Tokens this call credited (0 when the payment was already credited).
    pub tokens_added: i64,
    pub reference_code: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SyncResult {
    pub checked: usize,
    pub credited: usize,
    pub tokens_added: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransactionView {
    pub reference_code: String,
    pub status: String,
    pub currency: String,
    pub amount_usd: f64,
    pub token_amount: i64,
    pub payment_intent_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<TransactionRow> for TransactionView {
    fn from(row: TransactionRow) -> Self {
        Self {
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
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckoutLink {
    pub session_id: String,
    pub checkout_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebhookOutcome {
    pub received: bool,
    /// The event had been applied before (a redelivery); nothing changed.
    pub duplicate: bool,
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
    root_of(conn, row)
}

/// The root of `row`'s parent chain (`row` itself when it has none): one statement per
/// level, at most 8 (chains are short; the bound keeps a corrupt cycle from looping).
pub(crate) fn root_of(
    conn: &mut AnyConnection,
    mut row: CompanyRow,
) -> Result<CompanyRow, AppError> {
    for _ in 0..8 {
        let Some(parent) = row.parent_id else { break };
        match companies::find_company(conn, parent.into())? {
            Some(parent) => row = parent,
            None => break,
        }
    }
    Ok(row)
}

impl App {
    /// Use a payment gateway (Stripe); without one the payment routes answer 400.
    pub fn with_gateway(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        self.gateway = Some(gateway);
        self
    }

    fn gateway(&self) -> Result<Arc<dyn PaymentGateway>, AppError> {
        self.gateway
            .clone()
            .ok_or_else(|| AppError::BadRequest("Stripe is not configured on this server".into()))
    }

    /// Run blocking (database) work off the async workers.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || work(&app))
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?
    }

    /// The company a billing request names (the caller's current company when it names
    /// none); members only (another company's id is unknown).
    /// A personal access token needs `scope` too.
    fn billing_company(
        &self,
        caller: &Caller,
        company: Option<&str>,
        scope: &str,
    ) -> Result<CompanyId, AppError> {
        caller.require(scope)?;
        let access = self.caller_access(caller)?;
        let company = match company.map(str::trim).filter(|c| !c.is_empty()) {
            Some(id) => crate::companies::parse_id(id, "Company")?,
            None => access.primary().map(|c| c.company).ok_or_else(|| {
                AppError::BadRequest("You are not a member of any company".into())
            })?,
        };
        if !access.is_member(company) {
            return Err(AppError::NotFound("Company not found".into()));
        }
        Ok(company)
    }

    /// Record that the billing of each of `companies_` changed (balance or subscription),
    /// naming the members whose views show it and whose paywall reads it: its own and its
    /// child companies' (two statements).
    pub(crate) fn billing_changed(
        work: &mut Work<'_>,
        companies_: &[CompanyId],
    ) -> Result<(), AppError> {
        if companies_.is_empty() {
            return Ok(());
        }
        let conn = work.conn();
        let children = companies::children_of(conn, companies_)?;
        let parent_of: HashMap<DbUuid, CompanyId> = children
            .iter()
            .filter_map(|child| child.parent_id.map(|parent| (child.id, parent.into())))
            .collect();
        let mut company_ids = companies_.to_vec();
        company_ids.extend(children.iter().map(|c| CompanyId::from(c.id)));
        let mut users: BTreeMap<CompanyId, Vec<UserId>> =
            companies_.iter().map(|c| (*c, Vec::new())).collect();
        for (membership, _) in companies::members_of(conn, &company_ids)? {
            let company = parent_of
                .get(&membership.company_id)
                .copied()
                .unwrap_or_else(|| membership.company_id.into());
            users
                .entry(company)
                .or_default()
                .push(membership.user_id.into());
        }
        for (company, users) in users {
            work.record(DomainEvent::BillingChanged { company, users });
        }
        Ok(())
    }

    /// `POST /v1/billing/tokens/quote {token_millions}`: the price of a top-up.
    pub fn quote(&self, token_millions_: &serde_json::Value) -> Result<Quote, AppError> {
        let millions = token_millions(token_millions_)?;
        let price = self.settings.billing.token_price_per_million_usd;
        if !self.settings.billing.enabled() {
            return Err(AppError::BadRequest(
                "Billing is disabled; token purchases are not available".into(),
            ));
        }
        Ok(Quote {
            token_millions: millions,
            tokens: millions * 1_000_000,
            amount_usd: (millions as f64 * price * 100.0).round() / 100.0,
            price_per_million: price,
        })
    }

    /// `POST /v1/billing/tokens/topup/stripe`: the top-up's row and recovery job first, then
    /// a PaymentIntent for the tokens, recorded with its payment sync job in one transaction.
    pub async fn top_up(&self, caller: &Caller, request: TopUpRequest) -> Result<TopUp, AppError> {
        let gateway = self.gateway()?;
        let quote = self.quote(&request.token_millions)?;
        let minimum = self.settings.stripe.min_topup_usd;
        if quote.amount_usd < minimum {
            return Err(AppError::Invalid {
                field: "token_millions".into(),
                message: format!("the minimum top-up is ${minimum:.2}"),
            });
        }
        let (caller_, company) = (caller.clone(), request.company_id.clone());
        let root = self
            .blocking(move |app| {
                let company = app.billing_company(&caller_, company.as_deref(), "billing:write")?;
                let mut conn = app.conn()?;
                root_company(&mut conn, company)
            })
            .await?;
        let reference_code = uuid::Uuid::new_v4().simple().to_string();
        let row = TransactionRow {
            reference_code: reference_code.clone(),
            company_id: root.id,
            user_id: Some(caller.user.into()),
            payment_intent_id: payments::pending_intent(&reference_code),
            status: payments::CREATING.into(),
            currency: "USD".into(),
            amount_usd: quote.amount_usd,
            token_amount: quote.tokens,
            created_at: now(),
            updated_at: now(),
        };
        // The row and its job before the call: whatever becomes of this process during it,
        // the job asks Stripe again under the same idempotency key and finds the intent.
        let pending = row.clone();
        self.blocking(move |app| {
            let mut conn = app.conn()?;
            write_transaction(&mut conn, |conn| {
                payments::insert_transaction(conn, &pending)?;
                App::enqueue(conn, &app.recovery_job(&pending.payment_intent_id))?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
        let intent = match gateway.create_payment_intent(&new_intent(&row)).await {
            Ok(intent) => intent,
            Err(error) => {
                // Refused or unreachable: no client secret left here, so nothing can be
                // paid, and nothing is kept.
                let reference = reference_code.clone();
                self.blocking(move |app| {
                    payments::forget_pending(&mut *app.conn()?, &reference)?;
                    Ok(())
                })
                .await?;
                return Err(gateway_error(error));
            }
        };
        self.record_intent(&reference_code, &intent).await?;
        Ok(TopUp {
            reference_code,
            client_secret: intent.client_secret,
            payment_intent_id: intent.id,
            amount_usd: quote.amount_usd,
            token_amount: quote.tokens,
            status: intent.status,
        })
    }

    /// Apply what Stripe says of a payment: credit it once when it succeeded, else record its
    /// status. `Some(tokens credited now)` when it succeeded.
    fn settle(
        &self,
        intent: &PaymentIntentView,
        row: &TransactionRow,
    ) -> Result<Option<i64>, AppError> {
        let mut conn = self.conn()?;
        if !intent.succeeded() {
            payments::set_status(&mut conn, &intent.id, &intent.status, now())?;
            return Ok(None);
        }
        let company: CompanyId = row.company_id.into();
        let credited = self.write(&mut conn, |work| {
            let credited = payments::complete_and_credit(
                work.conn(),
                company,
                std::slice::from_ref(&intent.id),
                now(),
            )?;
            if !credited.is_empty() {
                Self::billing_changed(work, &[company])?;
            }
            Ok(credited)
        })?;
        let tokens = credited.iter().map(|r| r.token_amount).sum();
        Ok(Some(tokens))
    }

    /// `POST /v1/billing/tokens/topup/stripe/confirm {payment_intent_id}`: ask Stripe, and
    /// credit the tokens if it was paid (once, however often this is called).
    pub async fn confirm_top_up(
        &self,
        caller: &Caller,
        payment_intent: &str,
    ) -> Result<Confirmation, AppError> {
        let gateway = self.gateway()?;
        let (caller_, intent_id) = (caller.clone(), payment_intent.trim().to_owned());
        let row = self
            .blocking(move |app| {
                caller_.require("billing:write")?;
                // Read before the connection is taken: no second connection while one is held.
                let access = app.caller_access(&caller_)?;
                let mut conn = app.conn()?;
                // A placeholder names no PaymentIntent: nothing to confirm.
                let row = payments::pending_reference(&intent_id)
                    .is_none()
                    .then(|| payments::find_by_intent(&mut conn, &intent_id))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| AppError::NotFound("Payment not found".into()))?;
                let own = row.user_id == Some(caller_.user.into());
                if !own && !access.is_member(row.company_id.into()) {
                    return Err(AppError::NotFound("Payment not found".into()));
                }
                Ok(row)
            })
            .await?;
        if row.status == payments::COMPLETED {
            return Ok(Confirmation {
                success: true,
                status: row.status,
                tokens_added: 0,
                reference_code: row.reference_code,
            });
        }
        let intent = gateway
            .retrieve_payment_intent(&row.payment_intent_id)
            .await
            .map_err(gateway_error)?;
        let (intent_, row_) = (intent.clone(), row.clone());
        let credited = self
            .blocking(move |app| app.settle(&intent_, &row_))
            .await?;
        match (credited, intent.status.as_str()) {
            (Some(tokens), _) => Ok(Confirmation {
                success: true,
                status: payments::COMPLETED.into(),
                tokens_added: tokens,
                reference_code: row.reference_code,
            }),
            (None, "processing") => Ok(Confirmation {
                success: false,
                status: intent.status,
                tokens_added: 0,
                reference_code: row.reference_code,
            }),
            (None, status) => Err(AppError::BadRequest(format!(
                "Payment not completed (status: {status})"
            ))),
        }
    }

    /// `POST /v1/billing/sync?company_id=` (and the balance's `sync=true`): credit the
    /// company's payments that Stripe has settled but no webhook or confirm reported.
    pub async fn sync_payments(
        &self,
        caller: &Caller,
        company: &str,
    ) -> Result<SyncResult, AppError> {
        let gateway = self.gateway()?;
        let (caller_, company) = (caller.clone(), company.to_owned());
        let (root, open) = self
            .blocking(move |app| {
                let company = app.billing_company(&caller_, Some(&company), "billing:write")?;
                let mut conn = app.conn()?;
                let root: CompanyId = root_company(&mut conn, company)?.id.into();
                Ok((root, payments::open_payments(&mut conn, root, SYNC_BATCH)?))
            })
            .await?;
        let mut paid = Vec::new();
        for row in &open {
            let intent = gateway
                .retrieve_payment_intent(&row.payment_intent_id)
                .await
                .map_err(gateway_error)?;
            if intent.succeeded() {
                paid.push(intent.id);
            }
        }
        let checked = open.len();
        self.blocking(move |app| {
            let mut conn = app.conn()?;
            let credited = app.write(&mut conn, |work| {
                let credited = payments::complete_and_credit(work.conn(), root, &paid, now())?;
                if !credited.is_empty() {
                    Self::billing_changed(work, &[root])?;
                }
                Ok(credited)
            })?;
            Ok(SyncResult {
                checked,
                credited: credited.len(),
                tokens_added: credited.iter().map(|r| r.token_amount).sum(),
            })
        })
        .await
    }

    /// `GET /v1/billing/tokens/balance?sync=true`: the payment sync, then the balance.
    pub async fn synced_balance(
        &self,
        caller: &Caller,
        company: &str,
    ) -> Result<(crate::billing::BalanceView, SyncResult), AppError> {
        let synced = self.sync_payments(caller, company).await?;
        let (caller_, company) = (caller.clone(), company.to_owned());
        let balance = self
            .blocking(move |app| app.token_balance(&caller_, &company))
            .await?;
        Ok((balance, synced))
    }

    /// `GET /v1/billing/transactions?company_id=&status=&limit=&offset=`.
    pub fn transactions(
        &self,
        caller: &Caller,
        company: Option<&str>,
        status: Option<&str>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<TransactionView>, AppError> {
        let company = self.billing_company(caller, company, "billing:read")?;
        let mut conn = self.conn()?;
        let root: CompanyId = root_company(&mut conn, company)?.id.into();
        let (limit, offset) = (
            limit.unwrap_or(50).clamp(1, 500),
            offset.unwrap_or(0).max(0),
        );
        Ok(
            payments::transactions_of(&mut conn, root, status, limit, offset)?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    /// The company's Stripe customer, created (and remembered) when it has none.
    async fn customer_for(
        &self,
        caller: &Caller,
        company: Option<&str>,
    ) -> Result<(CompanyRow, String), AppError> {
        let gateway = self.gateway()?;
        let (caller_, company) = (caller.clone(), company.map(str::to_owned));
        let root = self
            .blocking(move |app| {
                let company = app.billing_company(&caller_, company.as_deref(), "billing:write")?;
                let mut conn = app.conn()?;
                root_company(&mut conn, company)
            })
            .await?;
        if let Some(customer) = root.stripe_customer_id.clone() {
            return Ok((root, customer));
        }
        let customer = gateway
            .create_customer(&caller.email, root.id.into(), &root.name)
            .await
            .map_err(gateway_error)?;
        let (company, customer_) = (CompanyId::from(root.id), customer.clone());
        self.blocking(move |app| {
            let mut conn = app.conn()?;
            payments::set_customer(&mut conn, company, &customer_)?;
            Ok(())
        })
        .await?;
        Ok((root, customer))
    }

    /// `POST /v1/billing/auto-topup {amount_usd, company_id?}`: a Checkout session for a
    /// monthly top-up subscription; Stripe's `checkout.session.completed` turns it on.
    pub async fn auto_topup_checkout(
        &self,
        caller: &Caller,
        company: Option<&str>,
        amount_usd: f64,
    ) -> Result<CheckoutLink, AppError> {
        let gateway = self.gateway()?;
        if !self.settings.billing.enabled() {
            return Err(AppError::BadRequest(
                "Billing is disabled; token purchases are not available".into(),
            ));
        }
        if !amount_usd.is_finite()
            || !(MIN_AUTO_TOPUP_USD..=MAX_AUTO_TOPUP_USD).contains(&amount_usd)
        {
            return Err(AppError::Invalid {
                field: "amount_usd".into(),
                message: format!(
                    "a monthly amount from ${MIN_AUTO_TOPUP_USD:.2} to ${MAX_AUTO_TOPUP_USD:.0}"
                ),
            });
        }
        let (root, customer) = self.customer_for(caller, company).await?;
        let base = self
            .settings
            .stripe
            .return_url
            .trim_end_matches('/')
            .to_owned();
        let session = gateway
            .create_subscription_checkout(&SubscriptionCheckout {
                customer,
                company: root.id.into(),
                amount: (amount_usd * 100.0).round() as i64,
                product_name: format!("{} token auto top-up", self.settings.app_name),
                success_url: format!("{base}/thank-you?session_id={{CHECKOUT_SESSION_ID}}"),
                cancel_url: format!("{base}/billing?subscription=cancelled"),
            })
            .await
            .map_err(gateway_error)?;
        Ok(CheckoutLink {
            session_id: session.id,
            checkout_url: session.url,
        })
    }

    /// `POST /v1/billing/portal {company_id?}`: a Stripe customer portal session's URL.
    pub async fn portal_session(
        &self,
        caller: &Caller,
        company: Option<&str>,
    ) -> Result<String, AppError> {
        let gateway = self.gateway()?;
        let (_, customer) = self.customer_for(caller, company).await?;
        let return_url = format!(
            "{}/billing",
            self.settings.stripe.return_url.trim_end_matches('/')
        );
        gateway
            .create_portal_session(&customer, &return_url)
            .await
            .map_err(gateway_error)
    }

    /// `POST /v1/webhook`: a Stripe event, verified (signature and timestamp) and applied
    /// once by its id, in one transaction with its effect. Stripe's redelivery (signed anew)
    /// is acknowledged without effect; the same signed bytes sent again are refused (400).
    pub fn apply_stripe_event(
        &self,
        payload: &str,
        signature: &str,
    ) -> Result<WebhookOutcome, AppError> {
        let Some(secret) = self.settings.stripe.webhook_secret.as_deref() else {
            return Err(AppError::NotFound("Not Found".into()));
        };
        let event = verify_event(payload, signature, secret).map_err(|refused| match refused {
            EventRefused::BadSignature | EventRefused::Stale | EventRefused::BadPayload => {
                AppError::BadRequest(refused.to_string())
            }
        })?;
        let mut conn = self.conn()?;
        let fresh = self.write(&mut conn, |work| {
            let conn = work.conn();
            match payments::record_event(conn, &event.id, &event.kind, event.signed_at, now())? {
                payments::EventRecord::New => {}
                payments::EventRecord::Redelivered => return Ok(false),
                payments::EventRecord::Replayed => {
                    return Err(AppError::BadRequest("Replayed Stripe event".into()));
                }
            }
            let touched: Vec<CompanyId> = match &event.effect {
                Effect::PaymentSucceeded { payment_intent } => {
                    match payments::find_by_intent(conn, payment_intent)? {
                        Some(row) => {
                            let company = row.company_id.into();
                            let credited = payments::complete_and_credit(
                                conn,
                                company,
                                std::slice::from_ref(payment_intent),
                                now(),
                            )?;
                            if credited.is_empty() {
                                Vec::new()
                            } else {
                                vec![company]
                            }
                        }
                        None => Vec::new(),
                    }
                }
                Effect::PaymentFailed {
                    payment_intent,
                    status,
                } => {
                    payments::set_status(conn, payment_intent, status, now())?;
                    Vec::new()
                }
                Effect::SubscriptionStarted { company, customer } => {
                    let company: Option<CompanyId> =
                        company.as_deref().and_then(|c| c.parse().ok());
                    match company {
                        Some(company) => {
                            if let Some(customer) = customer {
                                payments::set_customer(conn, company, customer)?;
                            }
                            payments::set_subscription_active(conn, &[company], true)?
                        }
                        None => Vec::new(),
                    }
                }
                Effect::SubscriptionEnded { customer } => {
                    match payments::company_of_customer(conn, customer)? {
                        Some(company) => {
                            payments::set_subscription_active(conn, &[company], false)?
                        }
                        None => Vec::new(),
                    }
                }
                Effect::Ignored => Vec::new(),
            };
            Self::billing_changed(work, &touched)?;
            Ok(true)
        })?;
        Ok(WebhookOutcome {
            received: true,
            duplicate: !fresh,
        })
    }

    /// Queue a check of the caller's Stripe subscriptions (from `GET /v1/user`): at most once
    /// per user per interval on this instance, at most one pending across instances, never
    /// inside the request (the enqueue itself runs on the blocking pool).
    pub fn request_subscription_check(&self, caller: &Caller) {
        if self.gateway.is_none() || !self.settings.billing.enabled() {
            return;
        }
        let interval = self.settings.stripe.subscription_check_interval;
        {
            let mut last = self
                .subscription_checks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            if last
                .get(&caller.user)
                .is_some_and(|at| now.duration_since(*at) < interval)
            {
                return;
            }
            if last.len() >= 100_000 {
                last.retain(|_, at| now.duration_since(*at) < interval);
            }
            last.insert(caller.user, now);
        }
        let (app, user) = (self.clone(), caller.user);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            let job = NewJob {
                kind: SUBSCRIPTION_CHECK_JOB.into(),
                dedupe_key: Some(user.to_string()),
                payload: serde_json::json!({ "user_id": user }).to_string(),
                run_at: now(),
                max_attempts: 5,
            };
            if let Err(error) = app.enqueue_now(&job) {
                tracing::warn!(%error, "could not queue a subscription check");
            }
        });
    }

    /// The subscription check job: if a Stripe customer with the user's email has an active
    /// subscription, the companies the user administers (role 2 or above) hold one.
    async fn check_subscription(&self, user: UserId) -> Result<(), AppError> {
        let gateway = self.gateway()?;
        let (email, admin_of) = self
            .blocking(move |app| {
                let mut conn = app.conn()?;
                let Some(row) = identity::find_user(&mut conn, user)? else {
                    return Ok((None, Vec::new()));
                };
                let admin_of: Vec<CompanyId> = identity::memberships_for(&mut conn, user)?
                    .into_iter()
                    .filter(|m| m.role.id <= 2)
                    .map(|m| CompanyId::from(m.company.id))
                    .collect();
                Ok((Some(row.email), admin_of))
            })
            .await?;
        let Some(email) = email else { return Ok(()) };
        let mut active = false;
        for customer in gateway
            .customers_by_email(&email)
            .await
            .map_err(gateway_error)?
        {
            if gateway
                .has_active_subscription(&customer)
                .await
                .map_err(gateway_error)?
            {
                active = true;
                break;
            }
        }
        if !active || admin_of.is_empty() {
            return Ok(());
        }
        self.blocking(move |app| {
            let mut conn = app.conn()?;
            app.write(&mut conn, |work| {
                let changed = payments::set_subscription_active(work.conn(), &admin_of, true)?;
                Self::billing_changed(work, &changed)
            })
        })
        .await
    }

    /// Record the PaymentIntent Stripe made for a top-up, and queue its sync job, together.
    async fn record_intent(
        &self,
        reference_code: &str,
        intent: &PaymentIntentView,
    ) -> Result<(), AppError> {
        let (reference, id, status) = (
            reference_code.to_owned(),
            intent.id.clone(),
            intent.status.clone(),
        );
        self.blocking(move |app| {
            let mut conn = app.conn()?;
            write_transaction(&mut conn, |conn| {
                if payments::record_intent(conn, &reference, &id, &status, now())? {
                    App::enqueue(conn, &app.payment_sync_job(&id))?;
                }
                Ok::<_, AppError>(())
            })
        })
        .await
    }

    /// The job of a top-up whose intent was never recorded (the process died during the
    /// call): the same request again, under the same idempotency key, gives the same intent.
    async fn recover_intent(&self, reference_code: String) -> Result<(), AppError> {
        let gateway = self.gateway()?;
        let reference = reference_code.clone();
        let row = self
            .blocking(move |app| Ok(payments::find_by_reference(&mut *app.conn()?, &reference)?))
            .await?;
        let Some(row) = row.filter(|row| row.status == payments::CREATING) else {
            // Recorded meanwhile (its own sync job runs), or forgotten (Stripe refused it).
            return Ok(());
        };
        let intent = match gateway.create_payment_intent(&new_intent(&row)).await {
            Ok(intent) => intent,
            // Stripe says no for good: nothing can be paid, so nothing is kept.
            Err(GatewayError::Refused { .. }) => {
                let reference = reference_code.clone();
                return self
                    .blocking(move |app| {
                        payments::forget_pending(&mut *app.conn()?, &reference)?;
                        Ok(())
                    })
                    .await;
            }
            Err(unavailable) => return Err(gateway_error(unavailable)),
        };
        self.record_intent(&reference_code, &intent).await
    }

    /// The job of a top-up not yet known to Stripe's id: it runs only after the top-up's own
    /// call to Stripe has surely ended (Stripe's timeout and a margin), so the two never ask
    /// at once (Stripe answers a key still in use with 409).
    fn recovery_job(&self, placeholder: &str) -> NewJob {
        let delay = self.settings.stripe.payment_sync_delay.max(RECOVERY_AFTER);
        payment_sync_job(
            placeholder,
            now() + chrono::Duration::from_std(delay).unwrap_or_default(),
        )
    }

    /// The payment sync job for one PaymentIntent (at most one pending per intent), after
    /// the configured delay.
    fn payment_sync_job(&self, payment_intent: &str) -> NewJob {
        let delay = self.settings.stripe.payment_sync_delay;
        payment_sync_job(
            payment_intent,
            now() + chrono::Duration::from_std(delay).unwrap_or_default(),
        )
    }

    /// The payment sync job: ask Stripe about one payment; credit it when paid, finish when
    /// it failed for good, and fail (to be retried with backoff) while it is still open. For
    /// a placeholder, recover the top-up's intent instead.
    async fn sync_payment(&self, payment_intent: String) -> Result<(), AppError> {
        if let Some(reference) = payments::pending_reference(&payment_intent) {
            return self.recover_intent(reference.to_owned()).await;
        }
        let gateway = self.gateway()?;
        let intent_id = payment_intent.clone();
        let row = self
            .blocking(move |app| {
                let mut conn = app.conn()?;
                Ok(payments::find_by_intent(&mut conn, &intent_id)?)
            })
            .await?;
        let Some(row) = row.filter(|r| r.status != payments::COMPLETED) else {
            return Ok(());
        };
        let intent = gateway
            .retrieve_payment_intent(&payment_intent)
            .await
            .map_err(gateway_error)?;
        let status = intent.status.clone();
        self.blocking(move |app| app.settle(&intent, &row)).await?;
        match status.as_str() {
            "succeeded" | "canceled" => Ok(()),
            open => Err(AppError::BadRequest(format!("payment still {open}"))),
        }
    }

    /// The job runner with this application's job kinds.
    pub fn job_runner(&self, options: crate::jobs::RunnerOptions) -> JobRunner {
        let (sync_app, check_app) = (self.clone(), self.clone());
        let sync: JobHandler = Arc::new(move |job: JobRow| {
            let app = sync_app.clone();
            Box::pin(async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
                let intent = payload["payment_intent"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                app.sync_payment(intent).await.map_err(|e| e.to_string())
            })
        });
        let check: JobHandler = Arc::new(move |job: JobRow| {
            let app = check_app.clone();
            Box::pin(async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
                let user: UserId = payload["user_id"]
                    .as_str()
                    .and_then(|u| u.parse().ok())
                    .ok_or("a job without its user")?;
                app.check_subscription(user)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        JobRunner::new(self.clone(), options)
            .handle(PAYMENT_SYNC_JOB, sync)
            .handle(SUBSCRIPTION_CHECK_JOB, check)
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

//! Billing: the configuration, a company's token balance and usage, and Stripe payments
//! (top-ups, confirmation, sync, auto top-up checkout, the portal, the webhook).

use actix_web::{HttpRequest, web};
use agentry_api::Detail;
use agentry_api::billing::{
    BalanceView, BillingConfig, Credited, SyncedBalance, Usage, UsageTotals, WarningView,
};
use agentry_api::payments::{
    CheckoutLink, Confirmation, PortalLink, Quote, SyncResult, TopUp, TransactionView,
    WebhookOutcome,
};
use agentry_app::App;
use agentry_app::payments::TopUpRequest;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::Reply;

pub(super) async fn config(app: web::Data<App>) -> Reply<BillingConfig> {
    Reply(app.billing().billing_config())
}

#[derive(Deserialize)]
pub(super) struct BalanceQuery {
    company_id: String,
    /// Run a Stripe payment sync first and add its `sync_result`.
    #[serde(default)]
    sync: bool,
}

pub(super) async fn balance(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<BalanceQuery>,
) -> Result<Reply<Balance>, ApiError> {
    let query = query.into_inner();
    if query.sync {
        let (balance, sync_result) = app
            .payments()
            .synced_balance(&caller, &query.company_id)
            .await?;
        return Ok(Reply(Balance::Synced(SyncedBalance {
            balance,
            sync_result,
        })));
    }
    let balance = app
        .run(move |app, uow| app.billing().token_balance(uow, &caller, &query.company_id))
        .await?;
    Ok(Reply(Balance::Plain(balance)))
}

/// The balance, with what a sync did when one was asked for.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum Balance {
    Plain(BalanceView),
    Synced(SyncedBalance),
}

#[derive(Deserialize)]
pub(super) struct CreditQuery {
    company: String,
    amount: f64,
}

pub(super) async fn credit(
    app: web::Data<App>,
    request: actix_web::HttpRequest,
    query: web::Query<CreditQuery>,
) -> Result<Reply<Credited>, ApiError> {
    let key = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let tokens = app
        .run(move |app, uow| {
            app.billing()
                .credit_company(uow, key.as_deref(), &query.company, query.amount)
        })
        .await?;
    Ok(Reply(Credited {
        detail: "Credits added.",
        tokens,
    }))
}

#[derive(Deserialize)]
pub(super) struct UsageQuery {
    company_id: String,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub(super) async fn usage(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<UsageQuery>,
) -> Result<Reply<Usage>, ApiError> {
    let usage = app
        .run(move |app, uow| {
            app.billing()
                .usage(uow, &caller, &query.company_id, query.limit, query.offset)
        })
        .await?;
    Ok(Reply(Usage { usage }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CompanyBody)]
pub(super) struct CompanyQuery {
    company_id: String,
}

pub(super) async fn usage_totals(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<Reply<UsageTotals>, ApiError> {
    let totals = app
        .run(move |app, uow| app.billing().usage_totals(uow, &caller, &query.company_id))
        .await?;
    Ok(Reply(totals))
}

pub(super) async fn should_warn(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<Reply<WarningView>, ApiError> {
    let warning = app
        .run(move |app, uow| app.billing().should_warn(uow, &caller, &query.company_id))
        .await?;
    Ok(Reply(warning))
}

pub(super) async fn dismiss_warning(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<CompanyQuery>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| {
        app.billing()
            .dismiss_warning(uow, &caller, &form.company_id)
    })
    .await?;
    Ok(Reply(Detail::new("Warning dismissed.")))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct QuoteBody {
    token_millions: serde_json::Value,
}

pub(super) async fn quote(
    app: web::Data<App>,
    body: Json<QuoteBody>,
) -> Result<Reply<Quote>, ApiError> {
    Ok(Reply(app.payments().quote(&body.token_millions)?))
}

pub(super) async fn top_up(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<TopUpRequest>,
) -> Result<Reply<TopUp>, ApiError> {
    Ok(Reply(
        app.payments().top_up(&caller, body.into_inner()).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ConfirmBody {
    payment_intent_id: String,
}

pub(super) async fn confirm(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<ConfirmBody>,
) -> Result<Reply<Confirmation>, ApiError> {
    Ok(Reply(
        app.payments()
            .confirm_top_up(&caller, &body.payment_intent_id)
            .await?,
    ))
}

pub(super) async fn sync(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<Reply<SyncResult>, ApiError> {
    Ok(Reply(
        app.payments()
            .sync_payments(&caller, &query.company_id)
            .await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct TransactionsQuery {
    company_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub(super) async fn transactions(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<TransactionsQuery>,
) -> Result<Reply<Vec<TransactionView>>, ApiError> {
    let q = query.into_inner();
    let list = app
        .run(move |app, uow| {
            app.payments().transactions(
                uow,
                &caller,
                q.company_id.as_deref(),
                q.status.as_deref(),
                q.limit,
                q.offset,
            )
        })
        .await?;
    Ok(Reply(list))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct AutoTopUpBody {
    amount_usd: f64,
    company_id: Option<String>,
}

pub(super) async fn auto_topup(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<AutoTopUpBody>,
) -> Result<Reply<CheckoutLink>, ApiError> {
    let link = app
        .payments()
        .auto_topup_checkout(&caller, body.company_id.as_deref(), body.amount_usd)
        .await?;
    Ok(Reply(link))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PortalBody {
    company_id: Option<String>,
}

pub(super) async fn portal(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Option<Json<PortalBody>>,
) -> Result<Reply<PortalLink>, ApiError> {
    let company = body.and_then(|b| b.into_inner().company_id);
    let url = app
        .payments()
        .portal_session(&caller, company.as_deref())
        .await?;
    Ok(Reply(PortalLink { url }))
}

/// Stripe's webhook: the raw body is what Stripe signed.
pub(super) async fn stripe_webhook(
    app: web::Data<App>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<Reply<WebhookOutcome>, ApiError> {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let payload = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::status(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Invalid Stripe event payload",
        )
    })?;
    let outcome = app
        .run(move |app, uow| app.payments().apply_stripe_event(uow, &payload, &signature))
        .await?;
    Ok(Reply(outcome))
}

//! Billing: the configuration, a company's token balance and usage, and Stripe payments
//! (top-ups, confirmation, sync, auto top-up checkout, the portal, the webhook).

use actix_web::{HttpRequest, HttpResponse, web};
use agentry_app::App;
use agentry_app::payments::TopUpRequest;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Auth, Json};

pub(super) async fn config(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.billing_config())
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
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if query.sync {
        let (balance, synced) = app.synced_balance(&caller, &query.company_id).await?;
        let mut body = serde_json::to_value(balance).map_err(ApiError::internal)?;
        body["sync_result"] = serde_json::to_value(synced).map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok().json(body));
    }
    let balance = app
        .run(move |app, uow| app.token_balance(uow, &caller, &query.company_id))
        .await?;
    Ok(HttpResponse::Ok().json(balance))
}

#[derive(Deserialize)]
pub(super) struct CreditQuery {
    company: String,
    amount: f64,
}

pub(super) async fn credit(
    app: web::Data<App>,
    query: web::Query<CreditQuery>,
) -> Result<HttpResponse, ApiError> {
    let tokens = app
        .run(move |app, uow| app.credit_company(uow, &query.company, query.amount))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"detail": "Credits added.", "tokens": tokens})))
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
) -> Result<HttpResponse, ApiError> {
    let usage = app
        .run(move |app, uow| app.usage(uow, &caller, &query.company_id, query.limit, query.offset))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"usage": usage})))
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
) -> Result<HttpResponse, ApiError> {
    let totals = app
        .run(move |app, uow| app.usage_totals(uow, &caller, &query.company_id))
        .await?;
    Ok(HttpResponse::Ok().json(totals))
}

pub(super) async fn should_warn(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    let warning = app
        .run(move |app, uow| app.should_warn(uow, &caller, &query.company_id))
        .await?;
    Ok(HttpResponse::Ok().json(warning))
}

pub(super) async fn dismiss_warning(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    app.run(move |app, uow| app.dismiss_warning(uow, &caller, &form.company_id))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"detail": "Warning dismissed."})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct QuoteBody {
    token_millions: serde_json::Value,
}

pub(super) async fn quote(
    app: web::Data<App>,
    body: Json<QuoteBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(app.quote(&body.token_millions)?))
}

pub(super) async fn top_up(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<TopUpRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(app.top_up(&caller, body.into_inner()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ConfirmBody {
    payment_intent_id: String,
}

pub(super) async fn confirm(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<ConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(app.confirm_top_up(&caller, &body.payment_intent_id).await?))
}

pub(super) async fn sync(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(app.sync_payments(&caller, &query.company_id).await?))
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
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let list = app
        .run(move |app, uow| {
            app.transactions(
                uow,
                &caller,
                q.company_id.as_deref(),
                q.status.as_deref(),
                q.limit,
                q.offset,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
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
) -> Result<HttpResponse, ApiError> {
    let link = app
        .auto_topup_checkout(&caller, body.company_id.as_deref(), body.amount_usd)
        .await?;
    Ok(HttpResponse::Ok().json(link))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PortalBody {
    company_id: Option<String>,
}

pub(super) async fn portal(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Option<Json<PortalBody>>,
) -> Result<HttpResponse, ApiError> {
    let company = body.and_then(|b| b.into_inner().company_id);
    let url = app.portal_session(&caller, company.as_deref()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "url": url })))
}

/// Stripe's webhook: the raw body is what Stripe signed.
pub(super) async fn stripe_webhook(
    app: web::Data<App>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
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
        .run(move |app, uow| app.apply_stripe_event(uow, &payload, &signature))
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}

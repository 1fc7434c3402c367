//! Billing: the configuration and a company's token balance.

use actix_web::{HttpResponse, web};
use agentry_app::App;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::Auth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/billing/config").route(web::get().to(config)))
        .service(web::resource("/v1/billing/tokens/balance").route(web::get().to(balance)))
        .service(web::resource("/v1/credit").route(web::post().to(credit)))
        .service(web::resource("/v1/billing/usage").route(web::get().to(usage)))
        .service(web::resource("/v1/billing/usage/totals").route(web::get().to(usage_totals)))
        .service(web::resource("/v1/billing/tokens/should_warn").route(web::get().to(should_warn)))
        .service(
            web::resource("/v1/billing/tokens/warning/dismiss")
                .route(web::post().to(dismiss_warning)),
        );
}

async fn config(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.billing_config())
}

#[derive(Deserialize)]
struct BalanceQuery {
    company_id: String,
    /// Stripe payment sync; accepted for compatibility, nothing to sync until Stripe exists.
    #[serde(default)]
    #[expect(dead_code, reason = "read by the Stripe work")]
    sync: bool,
}

async fn balance(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let balance = web::block(move || app.token_balance(&caller, &query.company_id)).await??;
    Ok(HttpResponse::Ok().json(balance))
}

#[derive(Deserialize)]
struct CreditQuery {
    company: String,
    amount: f64,
}

async fn credit(
    app: web::Data<App>,
    query: web::Query<CreditQuery>,
) -> Result<HttpResponse, ApiError> {
    let tokens = web::block(move || app.credit_company(&query.company, query.amount)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"detail": "Credits added.", "tokens": tokens})))
}

#[derive(Deserialize)]
struct UsageQuery {
    company_id: String,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn usage(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let usage =
        web::block(move || app.usage(&caller, &query.company_id, query.limit, query.offset))
            .await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"usage": usage})))
}

#[derive(Deserialize)]
struct CompanyQuery {
    company_id: String,
}

async fn usage_totals(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    let totals = web::block(move || app.usage_totals(&caller, &query.company_id)).await??;
    Ok(HttpResponse::Ok().json(totals))
}

async fn should_warn(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    let warning = web::block(move || app.should_warn(&caller, &query.company_id)).await??;
    Ok(HttpResponse::Ok().json(warning))
}

async fn dismiss_warning(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: web::Json<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    web::block(move || app.dismiss_warning(&caller, &form.company_id)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"detail": "Warning dismissed."})))
}

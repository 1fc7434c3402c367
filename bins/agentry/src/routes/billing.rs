//! Billing: the configuration and a company's token balance.

use actix_web::{HttpResponse, web};
use agentry_app::App;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::Auth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/billing/config").route(web::get().to(config)))
        .service(web::resource("/v1/billing/tokens/balance").route(web::get().to(balance)))
        .service(web::resource("/v1/credit").route(web::post().to(credit)));
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

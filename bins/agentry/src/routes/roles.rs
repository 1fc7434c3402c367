//! The role and scope catalog, and the caller's scopes.

use actix_web::{HttpResponse, web};
use agentry_app::App;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::Auth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/roles").route(web::get().to(roles)))
        .service(web::resource("/v1/scopes").route(web::get().to(scopes)))
        .service(web::resource("/v1/user/scopes").route(web::get().to(user_scopes)));
}

async fn roles(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"roles": app.roles()}))
}

async fn scopes(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.scopes())
}

#[derive(Deserialize)]
struct CompanyQuery {
    company_id: Option<String>,
}

async fn user_scopes(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<HttpResponse, ApiError> {
    let scopes =
        web::block(move || app.user_scopes(&caller, query.company_id.as_deref())).await??;
    Ok(HttpResponse::Ok().json(scopes))
}

//! Personal access tokens (`/v1/api-keys`).

use actix_web::{HttpResponse, web};
use agentry_app::App;
use agentry_app::tokens::NewTokenForm;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Auth, Json};

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<NewTokenForm>,
) -> Result<HttpResponse, ApiError> {
    let token = web::block(move || app.create_token(&caller, form.into_inner())).await??;
    Ok(HttpResponse::Ok().json(token))
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let tokens = web::block(move || app.list_tokens(&caller)).await??;
    Ok(HttpResponse::Ok().json(json!({"tokens": tokens})))
}

pub(super) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = web::block(move || app.get_token(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(token))
}

pub(super) async fn revoke(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = web::block(move || app.revoke_token(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(json!({"detail": format!("Token '{name}' has been revoked")})))
}

pub(super) async fn regenerate(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = web::block(move || app.regenerate_token(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(token))
}

#[derive(Deserialize)]
pub(super) struct ValidateQuery {
    token: String,
}

pub(super) async fn validate(
    app: web::Data<App>,
    query: web::Query<ValidateQuery>,
) -> Result<HttpResponse, ApiError> {
    let result = web::block(move || app.validate_token(&query.token)).await?;
    match result {
        Ok((user, scopes)) => {
            Ok(HttpResponse::Ok().json(json!({"valid": true, "user_id": user, "scopes": scopes})))
        }
        Err(_) => Err(ApiError::status(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "Invalid token",
        )),
    }
}

pub(super) async fn available_scopes(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || app.grantable_scopes(&caller)).await??;
    Ok(HttpResponse::Ok().json(body))
}

pub(super) async fn available_agents(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || app.grantable_agents(&caller)).await??;
    Ok(HttpResponse::Ok().json(body))
}

pub(super) async fn available_companies(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || app.grantable_companies(&caller)).await??;
    Ok(HttpResponse::Ok().json(body))
}

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
    let token = app
        .run(move |app, uow| app.create_token(uow, &caller, form.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let tokens = app
        .run(move |app, uow| app.list_tokens(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"tokens": tokens})))
}

pub(super) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = app
        .run(move |app, uow| app.get_token(uow, &caller, &id))
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

pub(super) async fn revoke(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = app
        .run(move |app, uow| app.revoke_token(uow, &caller, &id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"detail": format!("Token '{name}' has been revoked")})))
}

pub(super) async fn regenerate(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = app
        .run(move |app, uow| app.regenerate_token(uow, &caller, &id))
        .await?;
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
    let result = app
        .run(move |app, uow| Ok(app.validate_token(uow, &query.token)))
        .await?;
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
    let body = app
        .run(move |app, uow| app.grantable_scopes(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub(super) async fn available_agents(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let body = app
        .run(move |app, uow| app.grantable_agents(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub(super) async fn available_companies(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let body = app
        .run(move |app, uow| app.grantable_companies(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

//! Personal access tokens (`/v1/api-keys`).

use actix_web::web;
use agentry_api::Detail;
use agentry_app::tokens::{
    GrantableAgents, GrantableCompanies, GrantableScopes, NewTokenForm, TokenList, TokenView,
    ValidToken,
};
use agentry_app::{App, AppError};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::Reply;

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<NewTokenForm>,
) -> Result<Reply<TokenView>, ApiError> {
    let token = app
        .run(move |app, uow| app.tokens().create_token(uow, &caller, form.into_inner()))
        .await?;
    Ok(Reply(token))
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<TokenList>, ApiError> {
    let tokens = app
        .run(move |app, uow| app.tokens().list_tokens(uow, &caller))
        .await?;
    Ok(Reply(TokenList { tokens }))
}

pub(super) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<TokenView>, ApiError> {
    let token = app
        .run(move |app, uow| app.tokens().get_token(uow, &caller, &id))
        .await?;
    Ok(Reply(token))
}

pub(super) async fn revoke(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Detail>, ApiError> {
    let name = app
        .run(move |app, uow| app.tokens().revoke_token(uow, &caller, &id))
        .await?;
    Ok(Reply(Detail::new(format!(
        "Token '{name}' has been revoked"
    ))))
}

pub(super) async fn regenerate(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<TokenView>, ApiError> {
    let token = app
        .run(move |app, uow| app.tokens().regenerate_token(uow, &caller, &id))
        .await?;
    Ok(Reply(token))
}

#[derive(Deserialize)]
pub(super) struct ValidateQuery {
    token: String,
}

pub(super) async fn validate(
    app: web::Data<App>,
    query: web::Query<ValidateQuery>,
) -> Result<Reply<ValidToken>, ApiError> {
    let result = app
        .run(move |app, uow| Ok(app.tokens().validate_token(uow, &query.token)))
        .await?;
    let (user_id, scopes) = result.map_err(refusal)?;
    Ok(Reply(ValidToken {
        valid: true,
        user_id,
        scopes,
    }))
}

/// Why a token did not validate: one that does not authenticate is invalid (401); anything
/// else (the database is unreachable, say) is the server's failure, not the token's.
fn refusal(error: AppError) -> ApiError {
    match error {
        AppError::Unauthorized(_)
        | AppError::Forbidden(_)
        | AppError::MfaRequired
        | AppError::MfaSetupRequired => {
            ApiError::status(actix_web::http::StatusCode::UNAUTHORIZED, "Invalid token")
        }
        other => other.into(),
    }
}

pub(super) async fn available_scopes(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<GrantableScopes>, ApiError> {
    let body = app
        .run(move |app, uow| app.tokens().grantable_scopes(uow, &caller))
        .await?;
    Ok(Reply(body))
}

pub(super) async fn available_agents(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<GrantableAgents>, ApiError> {
    let body = app
        .run(move |app, uow| app.tokens().grantable_agents(uow, &caller))
        .await?;
    Ok(Reply(body))
}

pub(super) async fn available_companies(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<GrantableCompanies>, ApiError> {
    let body = app
        .run(move |app, uow| app.tokens().grantable_companies(uow, &caller))
        .await?;
    Ok(Reply(body))
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use actix_web::http::StatusCode;
    use agentry_app::AppError;

    use super::refusal;

    #[test]
    fn only_a_token_that_does_not_authenticate_is_invalid() {
        let invalid = refusal(AppError::Unauthorized("Token revoked".into()));
        assert_eq!(invalid.status_code(), StatusCode::UNAUTHORIZED);
        let invalid = refusal(AppError::Forbidden("Account disabled".into()));
        assert_eq!(invalid.status_code(), StatusCode::UNAUTHORIZED);
        // The database being down is not the token's fault.
        let outage = refusal(AppError::Internal("no connection".into()));
        assert_eq!(outage.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let busy = refusal(AppError::Busy { retry_after: 1 });
        assert_eq!(busy.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

//! The role and scope catalog, and the caller's scopes.

use actix_web::{HttpResponse, web};
use agentry_api::catalog::{RoleList, ScopeCatalog, UserScopes};
use agentry_app::App;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::Auth;
use crate::reply::{Documented, Reply};

pub(super) async fn roles(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<RoleList>, ApiError> {
    let roles = app
        .run(move |app, uow| app.sessions().roles(uow, &caller))
        .await?;
    Ok(Reply(RoleList { roles }))
}

pub(super) async fn scopes(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Documented<ScopeCatalog<'static>>, ApiError> {
    // The catalog borrows the application: rendered where it is read.
    let body = app
        .run(move |app, uow| {
            serde_json::to_string(&app.sessions().scopes(uow, &caller)?)
                .map_err(|error| agentry_app::AppError::Internal(error.to_string()))
        })
        .await?;
    Ok(Documented::new(
        HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
    ))
}

#[derive(Deserialize)]
pub(super) struct CompanyQuery {
    company_id: Option<String>,
}

pub(super) async fn user_scopes(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CompanyQuery>,
) -> Result<Reply<UserScopes>, ApiError> {
    let scopes = app
        .run(move |app, uow| {
            app.sessions()
                .user_scopes(uow, &caller, query.company_id.as_deref())
        })
        .await?;
    Ok(Reply(scopes))
}

//! Accounts: `/v1/user` (register, read, update), `/v1/user/exists`, `/v1/login`,
//! `/v1/logout`.

use actix_web::{HttpRequest, web};
use agentry_api::Detail;
use agentry_api::accounts::{
    LoggedIn, MfaReset, MfaSetup, PasswordChanged, PasswordWasSet, Registered, UserView,
};
use agentry_app::App;
use agentry_app::accounts::{
    LoginRequest, MfaDisable, PasswordChange, PasswordSet, Registration, UserViewOptions,
};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Json, client_ip};
use crate::reply::{Documented, Reply};

pub(super) async fn register(
    app: web::Data<App>,
    form: Json<Registration>,
) -> Result<Reply<Registered>, ApiError> {
    let registered = app
        .run(move |app, uow| app.accounts().register(uow, form.into_inner()))
        .await?;
    Ok(Reply(registered))
}

pub(super) async fn login(
    app: web::Data<App>,
    req: HttpRequest,
    form: Json<LoginRequest>,
) -> Result<Reply<LoggedIn>, ApiError> {
    let ip = client_ip(&req);
    let logged_in = app
        .run(move |app, uow| app.accounts().login(uow, form.into_inner(), ip.as_deref()))
        .await?;
    Ok(Reply(logged_in))
}

pub(super) async fn get_user(
    app: web::Data<App>,
    req: HttpRequest,
    Auth(caller): Auth,
    options: web::Query<UserViewOptions>,
) -> Result<Documented<UserView>, ApiError> {
    let options = options.into_inner();
    let light = options.light;
    // Served from memory when this process holds the view; read once otherwise.
    let view = match app.accounts().cached_user_view(&caller, &options) {
        Some(view) => view?,
        None => {
            app.run(move |app, uow| app.accounts().user_view(uow, &caller, &options))
                .await?
        }
    };
    let cache_control = if light {
        "private, max-age=10, stale-while-revalidate=30"
    } else {
        "private, max-age=0, must-revalidate"
    };
    Ok(Documented::new(super::with_etag(
        &req,
        &view.etag,
        view.body.to_string(),
        cache_control,
    )))
}

pub(super) async fn update_user(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<Value>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.accounts().update_user(uow, &caller, &body))
        .await?;
    Ok(Reply(Detail::new("User updated successfully.")))
}

#[derive(Deserialize)]
pub(super) struct ExistsQuery {
    email: String,
}

pub(super) async fn user_exists(
    app: web::Data<App>,
    query: web::Query<ExistsQuery>,
) -> Result<Reply<bool>, ApiError> {
    let exists = app
        .run(move |app, uow| app.accounts().user_exists(uow, &query.email))
        .await?;
    Ok(Reply(exists))
}

pub(super) async fn logout(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.accounts().logout(uow, &caller))
        .await?;
    Ok(Reply(Detail::new("User logged out successfully.")))
}

pub(super) async fn mfa_setup(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<MfaSetup>, ApiError> {
    let setup = app
        .run(move |app, uow| app.accounts().mfa_setup(uow, &caller))
        .await?;
    Ok(Reply(setup))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct MfaCode {
    mfa_token: String,
}

pub(super) async fn mfa_enable(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<MfaCode>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.accounts().mfa_enable(uow, &caller, &form.mfa_token))
        .await?;
    Ok(Reply(Detail::new("MFA enabled successfully")))
}

pub(super) async fn mfa_disable(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<MfaDisable>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.accounts().mfa_disable(uow, &caller, &form))
        .await?;
    Ok(Reply(Detail::new("MFA disabled successfully")))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(super) struct MfaResetBody {
    #[serde(default)]
    mfa_token: Option<String>,
}

/// The body is optional (the reference takes none); with MFA on it must carry the code.
pub(super) async fn mfa_reset(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Option<Json<MfaResetBody>>,
) -> Result<Reply<MfaReset>, ApiError> {
    let code = body.and_then(|b| b.into_inner().mfa_token);
    let otp_uri = app
        .run(move |app, uow| app.accounts().mfa_reset(uow, &caller, code.as_deref()))
        .await?;
    Ok(Reply(MfaReset {
        detail: "MFA has been reset.",
        otp_uri,
    }))
}

pub(super) async fn change_password(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<PasswordChange>,
) -> Result<Reply<PasswordChanged>, ApiError> {
    let token = app
        .run(move |app, uow| app.accounts().change_password(uow, &caller, &form))
        .await?;
    Ok(Reply(PasswordChanged {
        detail: "Password changed successfully",
        token,
    }))
}

pub(super) async fn set_password(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<PasswordSet>,
) -> Result<Reply<PasswordWasSet>, ApiError> {
    let username = app
        .run(move |app, uow| app.accounts().set_password(uow, &caller, &form))
        .await?;
    Ok(Reply(PasswordWasSet {
        detail: "Password set successfully",
        username,
    }))
}

pub(super) async fn delete_user(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.accounts().deactivate(uow, &caller))
        .await?;
    Ok(Reply(Detail::new("User deleted successfully.")))
}

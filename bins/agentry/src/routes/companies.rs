//! Companies, members, roles and invitations.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use agentry_app::App;
use agentry_app::companies::{CompanyForm, InvitationForm, RoleChange, parse_id};
use agentry_domain::{CompanyId, RoleId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{Auth, Json};

fn company(id: &str) -> Result<CompanyId, ApiError> {
    Ok(parse_id(id, "Company")?)
}

pub(super) async fn list_companies(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let companies = app
        .run(move |app, uow| app.list_companies(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(companies))
}

pub(super) async fn create_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<CompanyForm>,
) -> Result<HttpResponse, ApiError> {
    let created = app
        .run(move |app, uow| app.create_company(uow, &caller, form.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(created))
}

pub(super) async fn update_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    form: Json<CompanyForm>,
) -> Result<HttpResponse, ApiError> {
    let id = company(&path)?;
    let updated = app
        .run(move |app, uow| app.update_company(uow, &caller, id, form.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

pub(super) async fn delete_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = company(&path)?;
    app.run(move |app, uow| app.delete_company(uow, &caller, id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"detail": "Company deleted successfully."})))
}

pub(super) async fn members(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = company(&path)?;
    let members = app
        .run(move |app, uow| app.company_members(uow, &caller, id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"members": members})))
}

pub(super) async fn remove_member(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (company_id, user_id) = path.into_inner();
    let id = company(&company_id)?;
    let user: UserId = parse_id(&user_id, "User")?;
    app.run(move |app, uow| app.remove_member(uow, &caller, id, user))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"detail": "User removed from company successfully."})))
}

pub(super) async fn change_role(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    app.run(move |app, uow| app.change_role(uow, &caller, form.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"detail": "User role updated successfully."})))
}

pub(super) async fn invite(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<InvitationForm>,
) -> Result<HttpResponse, ApiError> {
    let invitation = app
        .run(move |app, uow| app.invite(uow, &caller, form.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(invitation))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct RoleNameInvitation {
    email: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /v1/companies/{id}/invitations` names the role; unknown names become `user` (3).
pub(super) async fn invite_by_role_name(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    form: Json<RoleNameInvitation>,
) -> Result<HttpResponse, ApiError> {
    let id = company(&path)?;
    let form = form.into_inner();
    let role = form
        .role
        .as_deref()
        .and_then(|name| agentry_domain::Role::ALL.iter().find(|r| r.name == name))
        .map_or(RoleId::USER, |role| role.id);
    let invitation = InvitationForm {
        email: form.email,
        company_id: Some(id.to_string()),
        role_id: Some(role.0),
        skip_email: false,
    };
    let invitation = app
        .run(move |app, uow| app.invite(uow, &caller, invitation))
        .await?;
    Ok(HttpResponse::Ok().json(invitation))
}

pub(super) async fn invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let invitations = app
        .run(move |app, uow| app.invitations(uow, &caller, None))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"invitations": invitations})))
}

pub(super) async fn company_invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = company(&path)?;
    let invitations = app
        .run(move |app, uow| app.invitations(uow, &caller, Some(id)))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"invitations": invitations})))
}

pub(super) async fn accept_invitation(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let accepted = app
        .run(move |app, uow| app.accept_invitation(uow, &caller, &path))
        .await?;
    Ok(HttpResponse::Ok().json(accepted))
}

pub(super) async fn my_invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let invitations = app
        .run(move |app, uow| app.my_invitations(uow, &caller))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"invitations": invitations})))
}

pub(super) async fn delete_invitation(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app.run(move |app, uow| app.delete_invitation(uow, &caller, &path))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"detail": "Invitation deleted successfully."})))
}

pub(super) async fn company_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let settings = app
        .run(move |app, uow| app.company_settings(uow, &caller, &path))
        .await?;
    Ok(HttpResponse::Ok().json(settings))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct SettingsBody {
    #[serde(default)]
    settings: Option<Value>,
}

pub(super) async fn update_company_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let text = app
        .run(move |app, uow| app.update_company_settings(uow, &caller, &path, &body.settings))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": text })))
}

pub(super) async fn company_extensions(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let listed = app
        .run(move |app, uow| app.company_extensions(uow, &caller, &path))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"))
        .json(listed))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ToggleCommand {
    command_name: String,
    enable: bool,
}

pub(super) async fn toggle_company_command(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: Json<ToggleCommand>,
) -> Result<HttpResponse, ApiError> {
    let text = app
        .run(move |app, uow| {
            app.toggle_company_command(uow, &caller, &path, &body.command_name, body.enable)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": text })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ToggleExtension {
    extension_name: String,
    enable: bool,
}

pub(super) async fn toggle_company_extension(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: Json<ToggleExtension>,
) -> Result<HttpResponse, ApiError> {
    let text = app
        .run(move |app, uow| {
            app.toggle_company_extension(uow, &caller, &path, &body.extension_name, body.enable)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "message": text })))
}

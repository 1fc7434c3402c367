//! Companies, members, roles and invitations.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use agentry_api::companies::{
    AcceptedInvitation, CompanyResponse, CreatedCompany, InvitationView, Invitations, Members,
};
use agentry_api::{Detail, Message};
use agentry_app::App;
use agentry_app::agents::SettingsAndCommands;
use agentry_app::companies::{CompanyForm, InvitationForm, RoleChange, parse_id};
use agentry_app::extensions::ConfiguredExtensions;
use agentry_domain::{CompanyId, RoleId, UserId};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::{Documented, Reply};

fn company(id: &str) -> Result<CompanyId, ApiError> {
    Ok(parse_id(id, "Company")?)
}

pub(super) async fn list_companies(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Vec<CompanyResponse>>, ApiError> {
    let companies = app
        .run(move |app, uow| app.companies().list_companies(uow, &caller))
        .await?;
    Ok(Reply(companies))
}

pub(super) async fn create_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<CompanyForm>,
) -> Result<Reply<CreatedCompany>, ApiError> {
    let created = app
        .run(move |app, uow| {
            app.companies()
                .create_company(uow, &caller, form.into_inner())
        })
        .await?;
    Ok(Reply(created))
}

pub(super) async fn update_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    form: Json<CompanyForm>,
) -> Result<Reply<CompanyResponse>, ApiError> {
    let id = company(&path)?;
    let updated = app
        .run(move |app, uow| {
            app.companies()
                .update_company(uow, &caller, id, form.into_inner())
        })
        .await?;
    Ok(Reply(updated))
}

pub(super) async fn delete_company(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<Detail>, ApiError> {
    let id = company(&path)?;
    app.run(move |app, uow| app.companies().delete_company(uow, &caller, id))
        .await?;
    Ok(Reply(Detail::new("Company deleted successfully.")))
}

pub(super) async fn members(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<Members>, ApiError> {
    let id = company(&path)?;
    let members = app
        .run(move |app, uow| app.companies().company_members(uow, &caller, id))
        .await?;
    Ok(Reply(Members { members }))
}

pub(super) async fn remove_member(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<Reply<Detail>, ApiError> {
    let (company_id, user_id) = path.into_inner();
    let id = company(&company_id)?;
    let user: UserId = parse_id(&user_id, "User")?;
    app.run(move |app, uow| app.companies().remove_member(uow, &caller, id, user))
        .await?;
    Ok(Reply(Detail::new(
        "User removed from company successfully.",
    )))
}

pub(super) async fn change_role(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<RoleChange>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.companies().change_role(uow, &caller, form.into_inner()))
        .await?;
    Ok(Reply(Detail::new("User role updated successfully.")))
}

pub(super) async fn invite(
    app: web::Data<App>,
    Auth(caller): Auth,
    form: Json<InvitationForm>,
) -> Result<Reply<InvitationView>, ApiError> {
    let invitation = app
        .run(move |app, uow| app.companies().invite(uow, &caller, form.into_inner()))
        .await?;
    Ok(Reply(invitation))
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
) -> Result<Reply<InvitationView>, ApiError> {
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
        .run(move |app, uow| app.companies().invite(uow, &caller, invitation))
        .await?;
    Ok(Reply(invitation))
}

pub(super) async fn invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Invitations>, ApiError> {
    let invitations = app
        .run(move |app, uow| app.companies().invitations(uow, &caller, None))
        .await?;
    Ok(Reply(Invitations { invitations }))
}

pub(super) async fn company_invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<Invitations>, ApiError> {
    let id = company(&path)?;
    let invitations = app
        .run(move |app, uow| app.companies().invitations(uow, &caller, Some(id)))
        .await?;
    Ok(Reply(Invitations { invitations }))
}

pub(super) async fn accept_invitation(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<AcceptedInvitation>, ApiError> {
    let accepted = app
        .run(move |app, uow| app.companies().accept_invitation(uow, &caller, &path))
        .await?;
    Ok(Reply(accepted))
}

pub(super) async fn my_invitations(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Invitations>, ApiError> {
    let invitations = app
        .run(move |app, uow| app.companies().my_invitations(uow, &caller))
        .await?;
    Ok(Reply(Invitations { invitations }))
}

pub(super) async fn delete_invitation(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<Detail>, ApiError> {
    app.run(move |app, uow| app.companies().delete_invitation(uow, &caller, &path))
        .await?;
    Ok(Reply(Detail::new("Invitation deleted successfully.")))
}

pub(super) async fn company_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Reply<SettingsAndCommands>, ApiError> {
    let settings = app
        .run(move |app, uow| app.extensions().company_settings(uow, &caller, &path))
        .await?;
    Ok(Reply(settings))
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
) -> Result<Reply<Message>, ApiError> {
    app.run(move |app, uow| {
        app.extensions()
            .update_company_settings(uow, &caller, &path, &body.settings)
    })
    .await?;
    Ok(Reply(Message::new("Company extension settings updated.")))
}

pub(super) async fn company_extensions(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<Documented<ConfiguredExtensions>, ApiError> {
    let listed = app
        .run(move |app, uow| app.extensions().company_extensions(uow, &caller, &path))
        .await?;
    Ok(Documented::new(
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"))
            .json(listed),
    ))
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
) -> Result<Reply<Message>, ApiError> {
    let enable = body.enable;
    let command = app
        .run(move |app, uow| {
            app.extensions().toggle_company_command(
                uow,
                &caller,
                &path,
                &body.command_name,
                body.enable,
            )
        })
        .await?;
    Ok(Reply(Message::new(format!(
        "Command `{command}` {} for the company's agents.",
        if enable { "enabled" } else { "disabled" }
    ))))
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
) -> Result<Reply<Message>, ApiError> {
    let outcome = app
        .run(move |app, uow| {
            app.extensions().toggle_company_extension(
                uow,
                &caller,
                &path,
                &body.extension_name,
                body.enable,
            )
        })
        .await?;
    Ok(Reply(Message::new(outcome.to_string())))
}

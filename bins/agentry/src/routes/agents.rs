//! Agents, their settings and commands; providers and extensions.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use agentry_api::Message;
use agentry_app::App;
use agentry_app::agents::{
    AgentChanged, AgentCommands, AgentConfig, AgentCreated, AgentList, NewAgentBody, WalletKeys,
};
use agentry_app::extensions::{
    Category, CommandArgs, ConfiguredExtensions, Embedders, ExtensionEntry, ExtensionSettings,
    ProviderCatalog, ProviderKeys, ProviderSettings, ProvidersWithSettings, Switched,
};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::{Documented, Reply};

/// "Agent <name> configuration updated.", the reference's answer to a settings write.
fn updated(agent: &AgentChanged) -> Reply<Message> {
    Reply(Message::new(format!(
        "Agent {} configuration updated.",
        agent.name
    )))
}

fn switched(outcome: &Switched) -> Reply<Message> {
    Reply(Message::new(outcome.to_string()))
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Documented<AgentList>, ApiError> {
    // Served from memory when this process holds the caller's list; read once otherwise.
    let body = match app.agents().cached_agent_list(&caller) {
        Some(body) => body?,
        None => {
            app.run(move |app, uow| app.agents().list_agents(uow, &caller))
                .await?
        }
    };
    Ok(Documented::rendered(&body))
}

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewAgentBody>,
) -> Result<Reply<AgentCreated>, ApiError> {
    let id = app
        .run(move |app, uow| app.agents().create_agent(uow, &caller, body.into_inner()))
        .await?;
    Ok(Reply(AgentCreated {
        message: "Agent added.".into(),
        id,
    }))
}

pub(super) async fn import(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewAgentBody>,
) -> Result<Reply<AgentCreated>, ApiError> {
    let body = body.into_inner();
    let name = body
        .agent_name
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let id = app
        .run(move |app, uow| app.agents().create_agent(uow, &caller, body))
        .await?;
    Ok(Reply(AgentCreated {
        message: format!("Agent {name} created."),
        id,
    }))
}

pub(super) async fn config(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<AgentConfig>, ApiError> {
    Ok(Reply(
        app.run(move |app, uow| app.agents().agent_config(uow, &caller, &id))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct SettingsBody {
    #[serde(default)]
    settings: Option<Value>,
}

pub(super) async fn update(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<SettingsBody>,
) -> Result<Reply<Message>, ApiError> {
    let agent = app
        .run(move |app, uow| {
            app.agents()
                .update_agent_settings(uow, &caller, &id, &body.settings)
        })
        .await?;
    Ok(updated(&agent))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AgentRename)]
pub(super) struct RenameBody {
    new_name: Value,
}

pub(super) async fn rename(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenameBody>,
) -> Result<Reply<Message>, ApiError> {
    app.run(move |app, uow| app.agents().rename_agent(uow, &caller, &id, &body.new_name))
        .await?;
    Ok(Reply(Message::new("Agent renamed.")))
}

pub(super) async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    let agent = app
        .run(move |app, uow| app.agents().delete_agent(uow, &caller, &id))
        .await?;
    Ok(Reply(Message::new(format!(
        "Agent {} deleted.",
        agent.name
    ))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct CommandsBody {
    #[serde(default)]
    commands: Option<Value>,
}

pub(super) async fn update_commands(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<CommandsBody>,
) -> Result<Reply<Message>, ApiError> {
    let agent = app
        .run(move |app, uow| {
            app.agents()
                .update_agent_commands(uow, &caller, &id, &body.commands)
        })
        .await?;
    Ok(updated(&agent))
}

pub(super) async fn commands(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<AgentCommands>, ApiError> {
    Ok(Reply(
        app.run(move |app, uow| app.agents().agent_commands(uow, &caller, &id))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ToggleCommand {
    command_name: String,
    enable: bool,
}

pub(super) async fn toggle_command(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<ToggleCommand>,
) -> Result<Reply<Message>, ApiError> {
    let agent = app
        .run(move |app, uow| {
            app.agents()
                .toggle_command(uow, &caller, &id, &body.command_name, body.enable)
        })
        .await?;
    Ok(updated(&agent))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ToggleExtension {
    extension_name: String,
    enable: bool,
}

pub(super) async fn toggle_extension(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<ToggleExtension>,
) -> Result<Reply<Message>, ApiError> {
    let outcome = app
        .run(move |app, uow| {
            app.agents()
                .toggle_extension(uow, &caller, &id, &body.extension_name, body.enable)
        })
        .await?;
    Ok(switched(&outcome))
}

pub(super) async fn disconnect_provider(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<Reply<Message>, ApiError> {
    let (id, provider) = path.into_inner();
    let agent = app
        .run(move |app, uow| {
            app.agents()
                .disconnect_provider(uow, &caller, &id, &provider)
        })
        .await?;
    Ok(updated(&agent))
}

pub(super) async fn persona(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    Ok(Reply(Message::new(
        app.run(move |app, uow| app.agents().persona(uow, &caller, &id))
            .await?,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PersonaBody {
    persona: Value,
}

pub(super) async fn set_persona(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<PersonaBody>,
) -> Result<Reply<Message>, ApiError> {
    let agent = app
        .run(move |app, uow| app.agents().set_persona(uow, &caller, &id, &body.persona))
        .await?;
    Ok(updated(&agent))
}

pub(super) async fn clone(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenameBody>,
) -> Result<Reply<AgentCreated>, ApiError> {
    let new_name = body.new_name.as_str().unwrap_or_default().trim().to_owned();
    let clone = app
        .run(move |app, uow| app.agents().clone_agent(uow, &caller, &id, &body.new_name))
        .await?;
    Ok(Reply(AgentCreated {
        message: format!("Agent cloned as {new_name}."),
        id: clone,
    }))
}

pub(super) async fn wallet(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<WalletKeys>, ApiError> {
    Ok(Reply(
        app.run(move |app, uow| app.agents().wallet(uow, &caller, &id))
            .await?,
    ))
}

pub(super) async fn agent_providers(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<ProviderCatalog>, ApiError> {
    Ok(Reply(
        app.run(move |app, uow| app.agents().agent_providers(uow, &caller, &id))
            .await?,
    ))
}

pub(super) async fn agent_extensions(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Documented<ConfiguredExtensions>, ApiError> {
    let extensions = app
        .run(move |app, uow| app.agents().agent_extensions(uow, &caller, &id))
        .await?;
    Ok(Documented::new(
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"))
            .insert_header((header::PRAGMA, "no-cache"))
            .insert_header((header::EXPIRES, "0"))
            .json(extensions),
    ))
}

pub(super) async fn providers(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ProviderCatalog>, ApiError> {
    Ok(Reply(app.extensions().providers(&caller)?))
}

pub(super) async fn provider_keys(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ProviderKeys>, ApiError> {
    Ok(Reply(app.extensions().provider_keys(&caller)?))
}

pub(super) async fn provider_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
    name: web::Path<String>,
) -> Result<Reply<ProviderSettings>, ApiError> {
    Ok(Reply(app.extensions().provider_settings(&caller, &name)?))
}

pub(super) async fn providers_with_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ProvidersWithSettings>, ApiError> {
    Ok(Reply(app.extensions().providers_with_settings(&caller)?))
}

pub(super) async fn providers_for_service(
    app: web::Data<App>,
    Auth(caller): Auth,
    service: web::Path<String>,
) -> Result<Reply<ProviderKeys>, ApiError> {
    Ok(Reply(
        app.extensions().providers_for_service(&caller, &service)?,
    ))
}

pub(super) async fn embedding_providers(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ProviderKeys>, ApiError> {
    Ok(Reply(app.extensions().embedding_providers(&caller)?))
}

pub(super) async fn embedders(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Embedders>, ApiError> {
    Ok(Reply(app.extensions().embedders(&caller)?))
}

pub(super) async fn extensions(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Vec<ExtensionEntry>>, ApiError> {
    Ok(Reply(app.extensions().extensions(&caller)?))
}

pub(super) async fn extension_settings(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ExtensionSettings>, ApiError> {
    Ok(Reply(app.extensions().extension_settings(&caller)?))
}

pub(super) async fn command_args(
    app: web::Data<App>,
    Auth(caller): Auth,
    name: web::Path<String>,
) -> Result<Reply<CommandArgs>, ApiError> {
    Ok(Reply(app.extensions().command_args(&caller, &name)?))
}

pub(super) async fn categories(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Vec<Category>>, ApiError> {
    Ok(Reply(
        app.extensions().extension_categories(&caller, false)?,
    ))
}

pub(super) async fn categories_summary(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Vec<Category>>, ApiError> {
    Ok(Reply(app.extensions().extension_categories(&caller, true)?))
}

pub(super) async fn category(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Category>, ApiError> {
    Ok(Reply(app.extensions().extension_category(&caller, &id)?))
}

pub(super) async fn extensions_in_category(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Vec<ExtensionEntry>>, ApiError> {
    Ok(Reply(
        app.extensions().extensions_in_category(&caller, &id)?,
    ))
}

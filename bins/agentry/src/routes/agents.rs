//! Agents, their settings and commands; providers and extensions.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use agentry_app::App;
use agentry_app::agents::NewAgentBody;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{Auth, Json};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/agent")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/v1/agent/import").route(web::post().to(import)))
    .service(
        web::resource("/v1/agent/{agent_id}")
            .route(web::get().to(config))
            .route(web::put().to(update))
            .route(web::patch().to(rename))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/v1/agent/{agent_id}/commands").route(web::put().to(update_commands)))
    .service(
        web::resource("/v1/agent/{agent_id}/command")
            .route(web::get().to(commands))
            .route(web::patch().to(toggle_command))
            .route(web::post().to(super::conversations::execute)),
    )
    .service(
        web::resource("/v1/agent/{agent_id}/extension/commands")
            .route(web::patch().to(toggle_extension)),
    )
    .service(
        web::resource("/v1/agent/{agent_id}/persona")
            .route(web::get().to(persona))
            .route(web::put().to(set_persona)),
    )
    .service(web::resource("/v1/agent/{agent_id}/clone").route(web::post().to(clone)))
    .service(web::resource("/v1/agent/{agent_id}/wallet").route(web::get().to(wallet)))
    .service(web::resource("/v1/agent/{agent_id}/providers").route(web::get().to(agent_providers)))
    .service(
        web::resource("/v1/agent/{agent_id}/provider/{provider_name}")
            .route(web::delete().to(disconnect_provider)),
    )
    .service(
        web::resource("/v1/agent/{agent_id}/extensions").route(web::get().to(agent_extensions)),
    )
    .service(web::resource("/v1/providers").route(web::get().to(providers)))
    .service(web::resource("/api/provider").route(web::get().to(provider_keys)))
    .service(web::resource("/api/provider/{name}").route(web::get().to(provider_settings)))
    .service(web::resource("/api/providers").route(web::get().to(providers_with_settings)))
    .service(
        web::resource("/api/providers/service/{service}")
            .route(web::get().to(providers_for_service)),
    )
    .service(web::resource("/api/embedding_providers").route(web::get().to(embedding_providers)))
    .service(web::resource("/api/embedders").route(web::get().to(embedders)))
    .service(web::resource("/v1/extensions").route(web::get().to(extensions)))
    .service(web::resource("/v1/extensions/settings").route(web::get().to(extension_settings)))
    .service(web::resource("/v1/extensions/{command_name}/args").route(web::get().to(command_args)))
    .service(web::resource("/v1/extension/categories").route(web::get().to(categories)))
    .service(
        web::resource("/v1/extension/categories/summary").route(web::get().to(categories_summary)),
    )
    .service(web::resource("/v1/extension/category/{category_id}").route(web::get().to(category)))
    .service(
        web::resource("/v1/extensions/category/{category_id}")
            .route(web::get().to(extensions_in_category)),
    );
}

fn message(text: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": text.into() }))
}

async fn list(app: web::Data<App>, Auth(caller): Auth) -> Result<HttpResponse, ApiError> {
    // Served from memory when this process holds the caller's list; read once otherwise.
    let body = match app.cached_agent_list(&caller) {
        Some(body) => body,
        None => web::block(move || app.list_agents(&caller)).await??,
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string()))
}

async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewAgentBody>,
) -> Result<HttpResponse, ApiError> {
    let id = web::block(move || app.create_agent(&caller, body.into_inner())).await??;
    Ok(HttpResponse::Ok().json(json!({"message": "Agent added.", "id": id})))
}

async fn import(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewAgentBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body
        .agent_name
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let id = web::block(move || app.create_agent(&caller, body)).await??;
    Ok(HttpResponse::Ok().json(json!({"message": format!("Agent {name} created."), "id": id})))
}

async fn config(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let config = web::block(move || app.agent_config(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(config))
}

#[derive(Deserialize)]
struct SettingsBody {
    #[serde(default)]
    settings: Option<Value>,
}

async fn update(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let text =
        web::block(move || app.update_agent_settings(&caller, &id, &body.settings)).await??;
    Ok(message(text))
}

#[derive(Deserialize)]
struct RenameBody {
    new_name: Value,
}

async fn rename(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    web::block(move || app.rename_agent(&caller, &id, &body.new_name)).await??;
    Ok(message("Agent renamed."))
}

async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(message(
        web::block(move || app.delete_agent(&caller, &id)).await??,
    ))
}

#[derive(Deserialize)]
struct CommandsBody {
    #[serde(default)]
    commands: Option<Value>,
}

async fn update_commands(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<CommandsBody>,
) -> Result<HttpResponse, ApiError> {
    let text =
        web::block(move || app.update_agent_commands(&caller, &id, &body.commands)).await??;
    Ok(message(text))
}

async fn commands(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let config = web::block(move || app.agent_config(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(json!({ "commands": config["agent"]["commands"] })))
}

#[derive(Deserialize)]
struct ToggleCommand {
    command_name: String,
    enable: bool,
}

async fn toggle_command(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<ToggleCommand>,
) -> Result<HttpResponse, ApiError> {
    let text =
        web::block(move || app.toggle_command(&caller, &id, &body.command_name, body.enable))
            .await??;
    Ok(message(text))
}

#[derive(Deserialize)]
struct ToggleExtension {
    extension_name: String,
    enable: bool,
}

async fn toggle_extension(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<ToggleExtension>,
) -> Result<HttpResponse, ApiError> {
    let text =
        web::block(move || app.toggle_extension(&caller, &id, &body.extension_name, body.enable))
            .await??;
    Ok(message(text))
}

async fn disconnect_provider(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, provider) = path.into_inner();
    let text = web::block(move || app.disconnect_provider(&caller, &id, &provider)).await??;
    Ok(message(text))
}

async fn persona(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(message(
        web::block(move || app.persona(&caller, &id)).await??,
    ))
}

#[derive(Deserialize)]
struct PersonaBody {
    persona: Value,
}

async fn set_persona(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<PersonaBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(message(
        web::block(move || app.set_persona(&caller, &id, &body.persona)).await??,
    ))
}

async fn clone(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let new_name = body.new_name.as_str().unwrap_or_default().trim().to_owned();
    let clone = web::block(move || app.clone_agent(&caller, &id, &body.new_name)).await??;
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("Agent cloned as {new_name}."),
        "id": clone,
    })))
}

async fn wallet(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(web::block(move || app.wallet(&caller, &id)).await??))
}

async fn agent_providers(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(web::block(move || app.agent_providers(&caller, &id)).await??))
}

async fn agent_extensions(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let extensions = web::block(move || app.agent_extensions(&caller, &id)).await??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::EXPIRES, "0"))
        .json(extensions))
}

async fn providers(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.providers())
}

async fn provider_keys(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.provider_keys())
}

async fn provider_settings(app: web::Data<App>, name: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(app.provider_settings(&name))
}

async fn providers_with_settings(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.providers_with_settings())
}

async fn providers_for_service(app: web::Data<App>, service: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(app.providers_for_service(&service))
}

async fn embedding_providers(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.embedding_providers(false))
}

async fn embedders(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.embedding_providers(true))
}

async fn extensions(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.extensions())
}

async fn extension_settings(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.extension_settings())
}

async fn command_args(app: web::Data<App>, name: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(app.command_args(&name))
}

async fn categories(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.extension_categories(false))
}

async fn categories_summary(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().json(app.extension_categories(true))
}

async fn category(app: web::Data<App>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(app.extension_category(&id)?))
}

async fn extensions_in_category(app: web::Data<App>, id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(app.extensions_in_category(&id))
}

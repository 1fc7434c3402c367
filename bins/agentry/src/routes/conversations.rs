//! Conversations and their messages; running a command; the files commands leave.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use agentry_api::Message;
use agentry_api::conversations::CommandOutput;
use agentry_app::App;
use agentry_app::commands::ExecuteBody;
use agentry_app::conversations::{
    ConversationPage, CreatedConversation, Forked, History, NewConversation,
};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::{Documented, Reply};

fn message(text: impl Into<String>) -> Reply<Message> {
    Reply(Message::new(text))
}

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewConversation>,
) -> Result<Reply<CreatedConversation>, ApiError> {
    let created = app
        .run(move |app, uow| {
            app.conversations()
                .new_conversation(uow, &caller, body.into_inner())
        })
        .await?;
    Ok(Reply(created))
}

#[derive(Deserialize)]
pub(super) struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
    page: Option<i64>,
}

pub(super) async fn list(
    req: HttpRequest,
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<Page>,
) -> Result<Documented<ConversationPage>, ApiError> {
    let list = app
        .run(move |app, uow| {
            app.conversations()
                .conversations(uow, &caller, query.limit, query.offset)
        })
        .await?;
    let body = serde_json::to_string(&list).map_err(ApiError::internal)?;
    let etag = agentry_app::accounts::etag_of(&body);
    Ok(Documented::new(super::with_etag(
        &req,
        &etag,
        body,
        "private, max-age=0, must-revalidate",
    )))
}

pub(super) async fn fork(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<Reply<Forked>, ApiError> {
    let (id, message) = path.into_inner();
    let fork = app
        .run(move |app, uow| {
            app.conversations()
                .fork_conversation(uow, &caller, &id, &message)
        })
        .await?;
    Ok(Reply(fork))
}

pub(super) async fn history(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    query: web::Query<Page>,
) -> Result<Reply<History>, ApiError> {
    let history = app
        .run(move |app, uow| {
            app.conversations()
                .conversation(uow, &caller, &id, query.limit, query.page)
        })
        .await?;
    Ok(Reply(history))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ConversationRename)]
pub(super) struct RenameBody {
    #[serde(default = "dash")]
    new_conversation_name: Value,
}

fn dash() -> Value {
    Value::String("-".into())
}

pub(super) async fn rename(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenameBody>,
) -> Result<Reply<Message>, ApiError> {
    let renamed = app
        .run(move |app, uow| {
            app.conversations()
                .rename_conversation(uow, &caller, &id, &body.new_conversation_name)
        })
        .await?;
    Ok(message(format!(
        "Conversation renamed to `{}`.",
        renamed.name
    )))
}

pub(super) async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    let deleted = app
        .run(move |app, uow| app.conversations().delete_conversation(uow, &caller, &id))
        .await?;
    Ok(message(format!("Conversation `{}` deleted.", deleted.name)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct MessageBody {
    role: Value,
    message: Value,
}

pub(super) async fn add_message(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<MessageBody>,
) -> Result<Reply<Message>, ApiError> {
    let added = app
        .run(move |app, uow| {
            app.conversations()
                .add_message(uow, &caller, &id, &body.role, &body.message)
        })
        .await?;
    Ok(message(added.to_string()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct UpdateBody {
    new_message: Value,
}

pub(super) async fn update_message(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
    body: Json<UpdateBody>,
) -> Result<Reply<Message>, ApiError> {
    let (id, message_id) = path.into_inner();
    app.run(move |app, uow| {
        app.conversations()
            .update_message(uow, &caller, &id, &message_id, &body.new_message)
    })
    .await?;
    Ok(message("Message updated."))
}

pub(super) async fn delete_message(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<Reply<Message>, ApiError> {
    let (id, message_id) = path.into_inner();
    app.run(move |app, uow| {
        app.conversations()
            .delete_message(uow, &caller, &id, &message_id)
    })
    .await?;
    Ok(message("Message deleted."))
}

/// `POST /v1/agent/{id}/command` (mounted with the agent's other command routes).
pub(super) async fn execute(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<ExecuteBody>,
) -> Result<Reply<CommandOutput>, ApiError> {
    let output = app
        .commands()
        .execute_command(&caller, &id, body.into_inner())
        .await?;
    Ok(Reply(CommandOutput { response: output }))
}

#[derive(Deserialize)]
pub(super) struct LinkToken {
    token: Option<String>,
}

/// Inline only for types a browser cannot run; anything else downloads.
fn content_type(file: &str) -> (&'static str, bool) {
    let extension = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt" | "md" | "log" | "py" | "rs" | "csv") => ("text/plain; charset=utf-8", true),
        Some("json") => ("application/json", true),
        Some("png") => ("image/png", true),
        Some("jpg" | "jpeg") => ("image/jpeg", true),
        Some("gif") => ("image/gif", true),
        Some("webp") => ("image/webp", true),
        Some("pdf") => ("application/pdf", true),
        Some("mp3") => ("audio/mpeg", true),
        Some("wav") => ("audio/wav", true),
        _ => ("application/octet-stream", false),
    }
}

pub(super) async fn output(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    query: web::Query<LinkToken>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let caller = match header {
        Some(token) => Some(crate::guard::authenticate(&app, Some(token)).await?),
        None => None,
    };
    let (agent, conversation, file) = path.into_inner();
    let token = query.into_inner().token;
    let found = app
        .run(move |app, uow| {
            app.commands().output_file(
                uow,
                caller.as_ref(),
                &agent,
                &conversation,
                &file,
                token.as_deref(),
            )
        })
        .await?;
    let (kind, inline) = content_type(&found.file_name);
    let disposition = if inline { "inline" } else { "attachment" };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "{disposition}; filename=\"{}\"",
                found.file_name.replace(['"', '\\'], "_")
            ),
        ))
        .body(found.bytes))
}

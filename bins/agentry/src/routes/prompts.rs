//! Prompts: each user's own over the built-in set (the reference's user tier).

use actix_web::web;
use agentry_api::Message;
use agentry_app::App;
use agentry_app::prompts::{
    AllPrompts, CategoryPrompts, NewPrompt, PromptArgs, PromptCategories, PromptCreated,
    PromptList, PromptView, RenamePrompt, UpdatePrompt,
};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::Reply;

#[derive(Deserialize)]
pub(super) struct CategoryQuery {
    prompt_category: Option<String>,
    category: Option<String>,
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
    query: web::Query<CategoryQuery>,
) -> Result<Reply<PromptList>, ApiError> {
    let query = query.into_inner();
    let category = query.prompt_category.or(query.category);
    let list = app
        .run(move |app, uow| app.prompts().list(uow, &caller, category.as_deref()))
        .await?;
    Ok(Reply(list))
}

pub(super) async fn categories(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<PromptCategories>, ApiError> {
    let categories = app
        .run(move |app, uow| app.prompts().categories(uow, &caller))
        .await?;
    Ok(Reply(categories))
}

pub(super) async fn all(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<AllPrompts>, ApiError> {
    let all = app
        .run(move |app, uow| app.prompts().all(uow, &caller))
        .await?;
    Ok(Reply(all))
}

pub(super) async fn by_category(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<CategoryPrompts>, ApiError> {
    let prompts = app
        .run(move |app, uow| app.prompts().by_category(uow, &caller, &id))
        .await?;
    Ok(Reply(prompts))
}

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewPrompt>,
) -> Result<Reply<PromptCreated>, ApiError> {
    let body = body.into_inner();
    let created = app
        .run(move |app, uow| app.prompts().create(uow, &caller, body))
        .await?;
    Ok(Reply(created))
}

pub(super) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<PromptView>, ApiError> {
    let prompt = app
        .run(move |app, uow| app.prompts().get(uow, &caller, &id))
        .await?;
    Ok(Reply(prompt))
}

pub(super) async fn update(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<UpdatePrompt>,
) -> Result<Reply<Message>, ApiError> {
    let body = body.into_inner();
    app.run(move |app, uow| {
        app.prompts().update(
            uow,
            &caller,
            &id,
            body.prompt_name.as_deref(),
            Some(body.prompt),
        )
    })
    .await?;
    Ok(Reply(Message::new("Prompt updated.")))
}

/// `PATCH /v1/prompt/{id}` `{prompt_name}`: what agixtsdk's `rename_prompt` sends (the
/// reference routes no PATCH: 405).
pub(super) async fn rename(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RenamePrompt>,
) -> Result<Reply<Message>, ApiError> {
    let name = body.into_inner().prompt_name;
    let shown = name.trim().to_owned();
    app.run(move |app, uow| app.prompts().update(uow, &caller, &id, Some(&name), None))
        .await?;
    Ok(Reply(Message::new(format!("Prompt renamed to '{shown}'."))))
}

pub(super) async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    let name = app
        .run(move |app, uow| app.prompts().delete(uow, &caller, &id))
        .await?;
    Ok(Reply(Message::new(format!("Prompt '{name}' deleted."))))
}

pub(super) async fn args(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<PromptArgs>, ApiError> {
    let args = app
        .run(move |app, uow| app.prompts().args(uow, &caller, &id))
        .await?;
    Ok(Reply(args))
}

pub(super) async fn revert(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    app.run(move |app, uow| app.prompts().revert(uow, &caller, &id))
        .await?;
    Ok(Reply(Message::new("Reverted to default")))
}

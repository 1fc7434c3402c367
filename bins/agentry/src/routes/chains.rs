//! Chains: each user's own (the reference's user tier), their steps and runs.

use std::collections::BTreeMap;

use actix_web::web;
use agentry_api::Message;
use agentry_app::App;
use agentry_app::chains::{
    ChainCreated, ChainDetail, ChainEntry, ChainResponses, ImportChain, MoveStep, NewChain,
    RunChain, StepBody, UpdateChain,
};

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::Reply;

fn message(text: String) -> Reply<Message> {
    Reply(Message::new(text))
}

pub(super) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<Vec<ChainEntry>>, ApiError> {
    let list = app
        .run(move |app, uow| app.chains().list(uow, &caller))
        .await?;
    Ok(Reply(list))
}

pub(super) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<NewChain>,
) -> Result<Reply<ChainCreated>, ApiError> {
    let body = body.into_inner();
    let created = app
        .run(move |app, uow| app.chains().create(uow, &caller, body))
        .await?;
    Ok(Reply(created))
}

pub(super) async fn import(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: Json<ImportChain>,
) -> Result<Reply<Message>, ApiError> {
    let body = body.into_inner();
    let text = app
        .run(move |app, uow| app.chains().import(uow, &caller, body))
        .await?;
    Ok(message(text))
}

pub(super) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<BTreeMap<String, ChainDetail>>, ApiError> {
    let chain = app
        .run(move |app, uow| app.chains().get(uow, &caller, &id))
        .await?;
    Ok(Reply(chain))
}

pub(super) async fn update(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<UpdateChain>,
) -> Result<Reply<Message>, ApiError> {
    let body = body.into_inner();
    let name = app
        .run(move |app, uow| app.chains().update(uow, &caller, &id, body))
        .await?;
    Ok(message(format!("Chain updated to '{name}'.")))
}

pub(super) async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Message>, ApiError> {
    let name = app
        .run(move |app, uow| app.chains().delete(uow, &caller, &id))
        .await?;
    Ok(message(format!("Chain '{name}' deleted.")))
}

pub(super) async fn args(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<Vec<String>>, ApiError> {
    let args = app
        .run(move |app, uow| app.chains().args(uow, &caller, &id))
        .await?;
    Ok(Reply(args))
}

pub(super) async fn responses(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<Reply<ChainResponses>, ApiError> {
    let responses = app
        .run(move |app, uow| app.chains().responses(uow, &caller, &id))
        .await?;
    Ok(Reply(responses))
}

pub(super) async fn add_step(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<StepBody>,
) -> Result<Reply<Message>, ApiError> {
    let body = body.into_inner();
    let text = app
        .run(move |app, uow| app.chains().add_step(uow, &caller, &id, body))
        .await?;
    Ok(message(text))
}

pub(super) async fn update_step(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, i64)>,
    body: Json<StepBody>,
) -> Result<Reply<Message>, ApiError> {
    let ((id, number), body) = (path.into_inner(), body.into_inner());
    let text = app
        .run(move |app, uow| app.chains().update_step(uow, &caller, &id, number, body))
        .await?;
    Ok(message(text))
}

pub(super) async fn move_step(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<MoveStep>,
) -> Result<Reply<Message>, ApiError> {
    let body = body.into_inner();
    let text = app
        .run(move |app, uow| app.chains().move_step(uow, &caller, &id, body))
        .await?;
    Ok(message(text))
}

pub(super) async fn delete_step(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, i64)>,
) -> Result<Reply<Message>, ApiError> {
    let (id, number) = path.into_inner();
    let text = app
        .run(move |app, uow| app.chains().delete_step(uow, &caller, &id, number))
        .await?;
    Ok(message(text))
}

/// `POST /v1/chain/{id}/run`: the answer as a JSON string, as the reference answers.
pub(super) async fn run(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<RunChain>,
) -> Result<Reply<String>, ApiError> {
    let answer = app.chains().run(&caller, &id, body.into_inner()).await?;
    Ok(Reply(answer))
}

pub(super) async fn run_step(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, i64)>,
    body: Json<RunChain>,
) -> Result<Reply<String>, ApiError> {
    let (id, number) = path.into_inner();
    let answer = app
        .chains()
        .run_step(&caller, &id, number, body.into_inner())
        .await?;
    Ok(Reply(answer))
}

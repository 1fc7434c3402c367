//! `/health` (the process is alive) and `/ready` (the database answers).

use actix_web::web;
use agentry_api::Status;
use agentry_app::App;

use crate::error::ApiError;
use crate::reply::Reply;

pub(super) async fn health() -> Reply<Status> {
    Reply(Status { status: "ok" })
}

pub(super) async fn ready(app: web::Data<App>) -> Result<Reply<Status>, ApiError> {
    let app = app.into_inner();
    app.run(move |app, _| app.ready()).await?;
    Ok(Reply(Status { status: "ready" }))
}

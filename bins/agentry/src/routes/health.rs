//! `/health` (the process is alive) and `/ready` (the database answers; `degraded` while the
//! invalidation bus is down).

use actix_web::web;
use agentry_api::Status;
use agentry_app::App;

use crate::error::ApiError;
use crate::reply::Reply;

pub(super) async fn health() -> Reply<Status> {
    Reply(Status {
        status: "ok",
        detail: None,
    })
}

pub(super) async fn ready(app: web::Data<App>) -> Result<Reply<Status>, ApiError> {
    let app = app.into_inner();
    let bus_connected = app.bus_connected();
    app.run(move |app, _| app.ready()).await?;
    // Without its bus an instance still converges, by the dispatcher's poll: it serves on.
    Ok(Reply(match bus_connected {
        true => Status {
            status: "ready",
            detail: None,
        },
        false => Status {
            status: "degraded",
            detail: Some(
                "the invalidation bus is not connected: other instances' changes arrive by the event log's poll",
            ),
        },
    }))
}

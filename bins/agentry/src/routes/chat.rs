//! Chat completions (OpenAI's shape, streaming as server-sent events), the models list and
//! the prompt endpoint.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use agentry_app::App;
use agentry_app::chat::{
    ChatCompletion, ChatCompletionRequest, ModelList, PromptAnswer, PromptBody, StreamEvent,
};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::{Documented, Reply};

/// How long a stream stays silent before a `: keepalive` comment: it keeps proxies from
/// closing an idle stream, and it is how a client that went away is noticed (a write to its
/// closed connection fails) while the model is thinking.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The header a client sets (`true`) to receive the reference's `activity.stream` objects
/// among the chunks of a stream (thoughts and commands as they happen).
pub const ACTIVITY_HEADER: &str = "X-Agentry-Activity-Stream";

fn event(event: &StreamEvent) -> Bytes {
    match serde_json::to_string(event) {
        Ok(json) => Bytes::from(format!("data: {json}\n\n")),
        // Our own types always serialize; a comment keeps the stream well formed if not.
        Err(_) => Bytes::from_static(b": unserializable event\n\n"),
    }
}

/// `POST /v1/chat/completions`: the completion as JSON, or with `stream` a `text/event-stream`
/// of chunks ended by `data: [DONE]`. Refusals and a provider that cannot start come as
/// statuses before any byte of a stream.
pub(super) async fn completions(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
    body: Json<ChatCompletionRequest>,
) -> Result<Documented<ChatCompletion>, ApiError> {
    let body = body.into_inner();
    if body.stream != Some(true) {
        let completion = app.chat().complete(&caller, body).await?;
        return Ok(Documented::new(HttpResponse::Ok().json(completion)));
    }
    let activities = req
        .headers()
        .get(ACTIVITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let stream = app.chat().stream(&caller, body, activities).await?;
    // When the client goes away actix drops this body, and with it the receiver: the
    // turn's task sees the channel closed and drops the provider's call.
    let events = futures_util::stream::unfold(stream.events, |mut events| async move {
        let bytes = match tokio::time::timeout(KEEPALIVE, events.recv()).await {
            Ok(next) => event(&next?),
            Err(_) => Bytes::from_static(b": keepalive\n\n"),
        };
        Some((Ok::<_, std::convert::Infallible>(bytes), events))
    })
    .chain(futures_util::stream::once(async {
        Ok(Bytes::from_static(b"data: [DONE]\n\n"))
    }));
    Ok(Documented::new(
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache, no-store, must-revalidate"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(events),
    ))
}

/// `GET /v1/models`: the agents the caller can use, as OpenAI lists models.
pub(super) async fn models(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<Reply<ModelList>, ApiError> {
    let list = app
        .run(move |app, uow| app.chat().models(uow, &caller))
        .await?;
    Ok(Reply(list))
}

/// `POST /v1/agent/{id}/prompt`: `{"response": ...}`.
pub(super) async fn prompt(
    app: web::Data<App>,
    Auth(caller): Auth,
    id: web::Path<String>,
    body: Json<PromptBody>,
) -> Result<Reply<PromptAnswer>, ApiError> {
    let answer = app.chat().prompt(&caller, &id, body.into_inner()).await?;
    Ok(Reply(answer))
}

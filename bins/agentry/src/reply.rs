//! What handlers answer, typed so that `/openapi.json` describes each route's response body
//! from the handler's own signature (as it describes request bodies from its extractors).

use std::marker::PhantomData;

use actix_web::body::BoxBody;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Serialize;

/// 200 with `T` as JSON.
pub struct Reply<T>(pub T);

impl<T: Serialize> Responder for Reply<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok().json(self.0)
    }
}

/// A response the handler built itself (a body rendered once and kept, an `ETag`, a 304)
/// whose JSON body, when it has one, is a `T`.
pub struct Documented<T> {
    response: HttpResponse,
    body: PhantomData<fn() -> T>,
}

impl<T> Documented<T> {
    pub fn new(response: HttpResponse) -> Self {
        Self {
            response,
            body: PhantomData,
        }
    }
}

impl<T> Documented<T> {
    /// 200 with a body rendered before (by a read model).
    pub fn rendered(body: &agentry_api::Rendered<T>) -> Self {
        Self::new(
            HttpResponse::Ok()
                .content_type("application/json")
                .body(body.json().to_string()),
        )
    }
}

impl<T> Responder for Documented<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.response
    }
}

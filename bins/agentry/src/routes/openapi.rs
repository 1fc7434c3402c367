//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, built from the one route
//! table ([`ROUTES`]), so it names exactly what the server answers: each operation with its
//! path parameters, whether it needs a token, and the scope its guard asks for
//! (`x-agentry-guard`, `x-agentry-scope`).
//!
//! Each operation's JSON request body is read off its handler's signature (the `Json<T>` or
//! `Option<Json<T>>` it extracts: [`RequestParts`]), so it cannot drift from what the handler
//! accepts. Likewise each 200 response body is read off what the handler returns
//! ([`Reply<T>`](crate::reply::Reply) or [`Documented<T>`](crate::reply::Documented):
//! [`ResponseOf`]); every refusal has the one error shape.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, Ref, Required, ResponseBuilder, Tag,
};

use actix_web::{HttpRequest, web};
use agentry_app::App;
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::{RefOr, schema::Schema};

use super::table::{Guard, ROUTES, RouteSpec, handler_docs};
use crate::error::ApiError;
use crate::extract::{Auth, Json};
use crate::reply::{Documented, Reply};

/// The security scheme every guarded route names: the `Authorization` header, a session
/// token (raw or after `Bearer `) or a personal access token.
const TOKEN: &str = "token";

/// The document, built once per process.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        build()
            .to_json()
            .unwrap_or_else(|error| serde_json::json!({ "error": error.to_string() }).to_string())
    })
}

pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// The OpenAPI document of [`ROUTES`].
pub fn build() -> OpenApi {
    let mut paths = Paths::new();
    let mut tags: Vec<&str> = Vec::new();
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    // A type that refers to itself (`#[schema(no_recursion)]`) does not write its own
    // schema: it is written here.
    {
        use utoipa::{PartialSchema, ToSchema};
        type Company = agentry_api::companies::CompanyResponse;
        schemas.push((Company::name().into_owned(), Company::schema()));
        Company::schemas(&mut schemas);
    }
    for (spec, doc) in ROUTES.iter().zip(handler_docs()) {
        let tag = tag_of(spec);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        let path = openapi_path(spec.path);
        let body = doc.body.map(|body| body(&mut schemas));
        let response = doc.response.map(|response| response(&mut schemas));
        paths.add_path_operation(
            &path,
            vec![method_of(spec.method)],
            operation(spec, tag, body, response),
        );
    }
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "detail",
            // A sentence; FastAPI's list of field errors for a 422; an object for a 402.
            ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        )
        .required("detail");
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .schema("Error", error)
        .security_scheme(
            TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A session token (from /v1/login), raw or after `Bearer `, or a personal \
                 access token",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Agentry")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "An AGiXT-compatible server for AI agents. Generated from the route table.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some(tags.into_iter().map(Tag::new)))
        .build()
}

fn operation(
    spec: &RouteSpec,
    tag: &str,
    body: Option<RequestBody>,
    response: Option<RefOr<Schema>>,
) -> utoipa::openapi::path::Operation {
    let success = match response {
        Some(schema) => ResponseBuilder::new()
            .description("Success")
            .content("application/json", Content::new(Some(schema))),
        None => ResponseBuilder::new().description("Success"),
    };
    let mut builder = OperationBuilder::new()
        .request_body(body)
        .tag(tag)
        .operation_id(Some(operation_id(spec)))
        .response("200", success.build())
        .response(
            "default",
            ResponseBuilder::new()
                .description("A refusal: `{\"detail\": ...}` with a 4xx (or 5xx) status")
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("Error"))),
                )
                .build(),
        );
    for name in path_parameters(spec.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    let mut extensions = ExtensionsBuilder::new().add("x-agentry-guard", guard_name(spec.guard));
    if let Some(scope) = spec.guard.scope() {
        extensions = extensions.add("x-agentry-scope", scope);
    }
    builder = builder.extensions(Some(extensions.build()));
    if !matches!(spec.guard, Guard::Public) {
        builder = builder.securities(Some([SecurityRequirement::new(
            TOKEN,
            Vec::<String>::new(),
        )]));
    }
    builder.build()
}

/// `/outputs/{agent_id}/{conversation_id}/{file*}` -> `.../{file}` (OpenAPI has no
/// multi-segment parameter: the server takes the rest of the path, slashes included).
pub fn openapi_path(template: &str) -> String {
    template.replace("*}", "}")
}

fn path_parameters(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter_map(|segment| {
        segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(|s| s.trim_end_matches('*'))
    })
}

pub fn method_of(method: &str) -> HttpMethod {
    match method {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// The module of the handler (`agents`, `billing`...), else the path's first segment.
fn tag_of(spec: &RouteSpec) -> &'static str {
    match spec.handler.split_once("::") {
        Some((module, _)) => module,
        None => spec.path.trim_start_matches('/'),
    }
}

/// Unique per route: the method and the path, in snake case.
fn operation_id(spec: &RouteSpec) -> String {
    let path: String = spec
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path: Vec<&str> = path.split('_').filter(|s| !s.is_empty()).collect();
    format!("{}_{}", spec.method.to_lowercase(), path.join("_"))
}

fn guard_name(guard: Guard) -> &'static str {
    match guard {
        Guard::Public => "public",
        Guard::Token(_) => "token",
        Guard::Session => "session",
        Guard::Scope(_) => "scope",
        Guard::SuperAdmin => "super_admin",
        Guard::CompanyMember(_) => "company_member",
        Guard::CompanyScope(_) => "company_scope",
        Guard::ServerKey => "server_key",
        Guard::BodyScope(_) => "body_scope",
        Guard::AgentScope(_) => "agent_scope",
    }
}

/// Writes the schemas a request body needs into the document's components and describes
/// the body.
pub type BodyDoc = fn(&mut Vec<(String, RefOr<Schema>)>) -> RequestBody;

/// What one extractor of a handler contributes to its operation: a JSON body, or nothing.
pub trait RequestPart {
    fn body() -> Option<BodyDoc> {
        None
    }
}

impl<T: utoipa::ToSchema> RequestPart for Json<T> {
    fn body() -> Option<BodyDoc> {
        Some(json_body::<T, true>)
    }
}

impl<T: utoipa::ToSchema> RequestPart for Option<Json<T>> {
    fn body() -> Option<BodyDoc> {
        Some(json_body::<T, false>)
    }
}

impl RequestPart for web::Data<App> {}
impl RequestPart for Auth {}
impl RequestPart for HttpRequest {}
impl RequestPart for web::Bytes {}
impl<T> RequestPart for web::Path<T> {}
impl<T> RequestPart for web::Query<T> {}

fn json_body<T: utoipa::ToSchema, const REQUIRED: bool>(
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) -> RequestBody {
    T::schemas(schemas);
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    RequestBodyBuilder::new()
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(name))),
        )
        .required(Some(if REQUIRED {
            Required::True
        } else {
            Required::False
        }))
        .build()
}

/// The extractors of a handler, as actix-web passes them (a tuple).
pub trait RequestParts {
    fn body() -> Option<BodyDoc>;
}

macro_rules! request_parts {
    ($($part:ident),*) => {
        impl<$($part: RequestPart),*> RequestParts for ($($part,)*) {
            fn body() -> Option<BodyDoc> {
                None$(.or_else($part::body))*
            }
        }
    };
}

request_parts!();
request_parts!(A);
request_parts!(A, B);
request_parts!(A, B, C);
request_parts!(A, B, C, D);
request_parts!(A, B, C, D, E);
request_parts!(A, B, C, D, E, F);

/// Writes the schemas a response body needs into the document's components and describes
/// the body.
pub type ResponseDoc = fn(&mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema>;

/// What a handler's answer says about its 200 body: a JSON `T` ([`Reply`], [`Documented`]),
/// or nothing known (a response built by hand: a file, a redirect, the document itself).
pub trait ResponseOf {
    fn response() -> Option<ResponseDoc>;
}

impl<T: utoipa::ToSchema> ResponseOf for Result<Reply<T>, ApiError> {
    fn response() -> Option<ResponseDoc> {
        Some(json_schema::<T>)
    }
}

impl<T: utoipa::ToSchema> ResponseOf for Result<Documented<T>, ApiError> {
    fn response() -> Option<ResponseDoc> {
        Some(json_schema::<T>)
    }
}

impl<T: utoipa::ToSchema> ResponseOf for Documented<T> {
    fn response() -> Option<ResponseDoc> {
        Some(json_schema::<T>)
    }
}

impl<T: utoipa::ToSchema> ResponseOf for Reply<T> {
    fn response() -> Option<ResponseDoc> {
        Some(json_schema::<T>)
    }
}

impl ResponseOf for Result<HttpResponse, ApiError> {
    fn response() -> Option<ResponseDoc> {
        None
    }
}

impl ResponseOf for HttpResponse {
    fn response() -> Option<ResponseDoc> {
        None
    }
}

/// `T`'s schema, inline, with the named schemas it refers to written into `schemas`.
fn json_schema<T: utoipa::ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    T::schemas(schemas);
    T::schema()
}

/// What a handler's signature documents: its JSON request body and its 200 response body.
pub struct HandlerDoc {
    pub body: Option<BodyDoc>,
    pub response: Option<ResponseDoc>,
}

/// The request body `handler` extracts and the response it answers, if known (their types
/// are the handler's own signature).
pub fn doc_of<F, Args>(_handler: F) -> HandlerDoc
where
    F: actix_web::Handler<Args>,
    Args: RequestParts,
    F::Output: ResponseOf,
{
    HandlerDoc {
        body: Args::body(),
        response: <F::Output as ResponseOf>::response(),
    }
}

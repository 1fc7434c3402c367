//! A stateful fake Stripe on 127.0.0.1: the API calls Agentry makes (PaymentIntents, customers,
//! subscriptions, Checkout and portal sessions), answered in Stripe's JSON shapes after
//! checking the secret key and the form parameters; PaymentIntents move through their
//! statuses; events are signed as Stripe signs them. Tests (and the SDK suite, through the
//! `fake-stripe` binary and its `/_fake/...` control routes) drive it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_agentry_fake";
pub const WEBHOOK_SECRET: &str = "whsec_agentry_fake";

/// A signed event, as Stripe would POST it to the webhook.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    pub payload: String,
    /// The `Stripe-Signature` header.
    pub signature: String,
}

#[derive(Default)]
struct State {
    intents: HashMap<String, Value>,
    /// Idempotency keys seen with the intent they created.
    idempotent: HashMap<String, String>,
    customers: Vec<Value>,
    /// (customer, status) per subscription id.
    subscriptions: Vec<Value>,
    sessions: HashMap<String, Value>,
    /// `METHOD /path` of every API call, in order.
    requests: Vec<String>,
    /// Answer every API call with a 503.
    down: bool,
    /// Hold each PaymentIntent read this long before answering (a slow Stripe).
    delay: std::time::Duration,
    /// How long the creation of a PaymentIntent waits, once made, before it answers.
    create_delay: std::time::Duration,
    counter: u64,
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_fake{:08}", self.counter)
    }
}

#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn stripe_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({"error": {"type": kind, "message": message, "code": if status == 404 { Some("resource_missing") } else { None }}}),
    )
}

/// The request's query parameters (none when it has no readable query).
fn query_of(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

fn list(url: &str, data: Vec<Value>) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

type Form = web::Form<Vec<(String, String)>>;

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn metadata(form: &[(String, String)]) -> Value {
    Value::Object(
        form.iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), Value::String(v.clone())))
            })
            .collect(),
    )
}

impl FakeStripe {
    /// Start the fake on a free port of 127.0.0.1.
    pub fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Stripe");
        Self::start_on(listener)
    }

    /// Start the fake on `listener` (the binary picks its port).
    pub fn start_on(listener: TcpListener) -> FakeStripe {
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the fake's address")
        );
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(state.clone());
        let server = crate::serve_fake(listener, move |app| {
            app.app_data(data.clone())
                .route("/v1/payment_intents", web::post().to(create_intent))
                .route("/v1/payment_intents/{id}", web::get().to(retrieve_intent))
                .route("/v1/customers", web::post().to(create_customer))
                .route("/v1/customers", web::get().to(list_customers))
                .route("/v1/subscriptions", web::get().to(list_subscriptions))
                .route("/v1/checkout/sessions", web::post().to(create_session))
                .route("/v1/billing_portal/sessions", web::post().to(create_portal))
                .route(
                    "/_fake/payment_intents/{id}/{status}",
                    web::post().to(control_intent),
                )
                .route("/_fake/down/{down}", web::post().to(control_down))
                .route("/_fake/redeliver", web::post().to(control_redeliver))
                .route(
                    "/_fake/subscribers/{email}",
                    web::post().to(control_subscriber),
                )
                .route("/_fake/requests", web::get().to(control_requests));
        });
        FakeStripe { url, state, server }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Move a PaymentIntent to `status` (as a customer paying would); the event Stripe would
    /// send (`payment_intent.succeeded`, `payment_intent.payment_failed`, ...), signed now.
    pub fn set_intent_status(&self, id: &str, status: &str) -> Option<SignedEvent> {
        let intent = transition(&mut self.state(), id, status)?;
        Some(self.event(&event_type(status), intent, now()))
    }

    /// Answer every API call with a 503 (or again normally).
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// Make each new PaymentIntent, then wait this long before answering (as a Stripe whose
    /// answer is slow or lost would).
    pub fn set_create_delay(&self, delay: std::time::Duration) {
        self.state().create_delay = delay;
    }

    /// Hold each PaymentIntent read this long before answering.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.state().delay = delay;
    }

    /// Give `customer` an active subscription.
    pub fn add_subscription(&self, customer: &str) {
        let mut state = self.state();
        let subscription = subscription(&mut state, customer);
        state.subscriptions.push(subscription);
    }

    /// A customer with `email` and an active subscription (a subscriber who paid elsewhere);
    /// the customer's id.
    pub fn add_subscriber(&self, email: &str) -> String {
        subscriber(&mut self.state(), email)
    }

    /// The same event as Stripe redelivers it: the same payload, signed anew a second later.
    pub fn redeliver(event: &SignedEvent) -> SignedEvent {
        redeliver(&event.payload, &event.signature)
    }

    /// `METHOD /path` of every API call so far.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// How many PaymentIntents were created (an idempotent repeat creates none).
    pub fn intent_count(&self) -> usize {
        self.state().intents.len()
    }

    pub fn intent(&self, id: &str) -> Option<Value> {
        self.state().intents.get(id).cloned()
    }

    /// The subscriptions of `customer`.
    pub fn subscriptions_of(&self, customer: &str) -> Vec<Value> {
        self.state()
            .subscriptions
            .iter()
            .filter(|s| s["customer"] == json!(customer))
            .cloned()
            .collect()
    }

    pub fn customers(&self) -> Vec<Value> {
        self.state().customers.clone()
    }

    /// Complete a Checkout session (the customer paid): its subscription starts; the signed
    /// `checkout.session.completed` event.
    pub fn complete_session(&self, id: &str) -> Option<SignedEvent> {
        let mut state = self.state();
        let mut session = state.sessions.get(id)?.clone();
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        if let Some(customer) = session["customer"].as_str().map(str::to_owned) {
            let subscription = subscription(&mut state, &customer);
            session["subscription"] = subscription["id"].clone();
            state.subscriptions.push(subscription);
        }
        state.sessions.insert(id.to_owned(), session.clone());
        drop(state);
        Some(self.event("checkout.session.completed", session, now()))
    }

    /// An event of `kind` about `object`, signed with [`WEBHOOK_SECRET`] at `timestamp`.
    pub fn event(&self, kind: &str, object: Value, timestamp: i64) -> SignedEvent {
        let id = self.state().next_id("evt");
        let payload = json!({
            "id": id,
            "object": "event",
            "created": timestamp,
            "livemode": false,
            "pending_webhooks": 1,
            "data": {"object": object},
            "type": kind,
        })
        .to_string();
        SignedEvent {
            signature: agentry_billing::webhook::sign(&payload, WEBHOOK_SECRET, timestamp),
            payload,
        }
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}

fn event_type(status: &str) -> String {
    match status {
        "succeeded" => "payment_intent.succeeded",
        "canceled" => "payment_intent.canceled",
        "processing" => "payment_intent.processing",
        _ => "payment_intent.payment_failed",
    }
    .to_owned()
}

fn transition(state: &mut State, id: &str, status: &str) -> Option<Value> {
    let intent = state.intents.get_mut(id)?;
    intent["status"] = json!(status);
    if status == "succeeded" {
        intent["amount_received"] = intent["amount"].clone();
    }
    Some(intent.clone())
}

fn subscription(state: &mut State, customer: &str) -> Value {
    let (id, at) = (state.next_id("sub"), now());
    json!({
        "id": id, "object": "subscription", "automatic_tax": {"enabled": false},
        "billing_cycle_anchor": at, "billing_mode": {"type": "classic"},
        "billing_schedules": [], "cancel_at_period_end": false,
        "collection_method": "charge_automatically", "created": at, "currency": "usd",
        "customer": customer, "discounts": [], "invoice_settings": {"issuer": {"type": "self"}},
        "items": list("/v1/subscription_items", Vec::new()), "livemode": false,
        "metadata": {}, "start_date": at, "status": "active",
    })
}

/// The API's gate: the fake's secret key, and not down; the refusal, if any. Records the
/// call.
fn gate(state: &web::Data<Mutex<State>>, req: &HttpRequest) -> Option<HttpResponse> {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state
        .requests
        .push(format!("{} {}", req.method(), req.path()));
    if state.down {
        return Some(stripe_error(
            503,
            "api_error",
            "The fake Stripe is down (as asked).",
        ));
    }
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if key != Some(SECRET_KEY) {
        return Some(stripe_error(
            401,
            "invalid_request_error",
            "Invalid API Key provided",
        ));
    }
    None
}

async fn create_intent(
    state: web::Data<Mutex<State>>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let amount = param(&form, "amount").and_then(|a| a.parse::<i64>().ok());
    let Some(amount) = amount.filter(|a| *a >= 50) else {
        return stripe_error(
            400,
            "invalid_request_error",
            "amount: an integer of at least 50 cents",
        );
    };
    if param(&form, "currency") != Some("usd") {
        return stripe_error(400, "invalid_request_error", "currency: usd expected");
    }
    if param(&form, "automatic_payment_methods[enabled]") != Some("true") {
        return stripe_error(
            400,
            "invalid_request_error",
            "automatic_payment_methods[enabled] expected",
        );
    }
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (intent, delay) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = key
            .as_ref()
            .and_then(|k| state.idempotent.get(k))
            .and_then(|id| state.intents.get(id))
        {
            return HttpResponse::Ok().json(existing);
        }
        let id = state.next_id("pi");
        let intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "capture_method": "automatic",
            "client_secret": format!("{id}_secret_fake"), "confirmation_method": "automatic",
            "created": now(), "currency": "usd", "livemode": false, "metadata": metadata(&form),
            "payment_method_types": ["card"], "status": "requires_payment_method",
        });
        state.intents.insert(id.clone(), intent.clone());
        if let Some(key) = key {
            state.idempotent.insert(key, id);
        }
        (intent, state.create_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::Ok().json(intent)
}

async fn retrieve_intent(
    state: web::Data<Mutex<State>>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let delay = state.lock().unwrap_or_else(|e| e.into_inner()).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let state = state.lock().unwrap_or_else(|e| e.into_inner());
    match state.intents.get(id.as_str()) {
        Some(intent) => HttpResponse::Ok().json(intent),
        None => stripe_error(
            404,
            "invalid_request_error",
            &format!("No such payment_intent: '{id}'"),
        ),
    }
}

async fn create_customer(
    state: web::Data<Mutex<State>>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let Some(email) = param(&form, "email").filter(|e| e.contains('@')) else {
        return stripe_error(400, "invalid_request_error", "email expected");
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let customer = json!({
        "id": state.next_id("cus"), "object": "customer", "created": now(), "livemode": false,
        "email": email, "name": param(&form, "name"), "metadata": metadata(&form),
    });
    state.customers.push(customer.clone());
    HttpResponse::Ok().json(customer)
}

async fn list_customers(state: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let query = query_of(&req);
    let state = state.lock().unwrap_or_else(|e| e.into_inner());
    let data = state
        .customers
        .iter()
        .filter(|c| query.get("email").is_none_or(|e| c["email"] == json!(e)))
        .cloned()
        .collect();
    HttpResponse::Ok().json(list("/v1/customers", data))
}

async fn list_subscriptions(state: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let query = query_of(&req);
    let state = state.lock().unwrap_or_else(|e| e.into_inner());
    let data = state
        .subscriptions
        .iter()
        .filter(|s| {
            query
                .get("customer")
                .is_none_or(|c| s["customer"] == json!(c))
        })
        .filter(|s| {
            query
                .get("status")
                .is_none_or(|st| s["status"] == json!(st))
        })
        .cloned()
        .collect();
    HttpResponse::Ok().json(list("/v1/subscriptions", data))
}

async fn create_session(
    state: web::Data<Mutex<State>>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let required = [
        "mode",
        "customer",
        "success_url",
        "cancel_url",
        "line_items[0][price_data][currency]",
        "line_items[0][price_data][unit_amount]",
        "line_items[0][price_data][recurring][interval]",
        "line_items[0][price_data][product_data][name]",
    ];
    if let Some(missing) = required.iter().find(|k| param(&form, k).is_none()) {
        return stripe_error(
            400,
            "invalid_request_error",
            &format!("Missing required param: {missing}."),
        );
    }
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let id = state.next_id("cs");
    let at = now();
    let session = json!({
        "id": id, "object": "checkout.session", "automatic_tax": {"enabled": false},
        "created": at, "custom_fields": [], "custom_text": {}, "expires_at": at + 86_400,
        "livemode": false, "mode": param(&form, "mode"), "payment_method_types": ["card"],
        "payment_status": "unpaid", "shipping_options": [], "status": "open",
        "customer": param(&form, "customer"), "metadata": metadata(&form),
        "success_url": param(&form, "success_url"), "cancel_url": param(&form, "cancel_url"),
        "amount_total": param(&form, "line_items[0][price_data][unit_amount]")
            .and_then(|a| a.parse::<i64>().ok()),
        "currency": "usd",
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
    });
    state.sessions.insert(id, session.clone());
    HttpResponse::Ok().json(session)
}

async fn create_portal(
    state: web::Data<Mutex<State>>,
    req: HttpRequest,
    form: Form,
) -> HttpResponse {
    if let Some(refused) = gate(&state, &req) {
        return refused;
    }
    let Some(customer) = param(&form, "customer") else {
        return stripe_error(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
        );
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if !state.customers.iter().any(|c| c["id"] == json!(customer)) {
        return stripe_error(
            404,
            "invalid_request_error",
            &format!("No such customer: '{customer}'"),
        );
    }
    let id = state.next_id("bps");
    HttpResponse::Ok().json(json!({
        "id": id, "object": "billing_portal.session", "configuration": "bpc_fake",
        "created": now(), "customer": customer, "livemode": false,
        "return_url": param(&form, "return_url"),
        "url": format!("https://billing.stripe.test/p/session/{id}"),
    }))
}

/// `POST /_fake/payment_intents/{id}/{status}`: the signed event, as JSON
/// `{payload, signature}` (`?timestamp=` signs at another instant).
async fn control_intent(
    state: web::Data<Mutex<State>>,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, i64>>,
) -> HttpResponse {
    let (id, status) = path.into_inner();
    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
    let Some(intent) = transition(&mut guard, &id, &status) else {
        return stripe_error(404, "invalid_request_error", "no such intent");
    };
    let event_id = guard.next_id("evt");
    drop(guard);
    let timestamp = query.get("timestamp").copied().unwrap_or_else(now);
    let payload = json!({
        "id": event_id, "object": "event", "created": timestamp, "livemode": false,
        "pending_webhooks": 1, "data": {"object": intent}, "type": event_type(&status),
    })
    .to_string();
    HttpResponse::Ok().json(json!({
        "signature": agentry_billing::webhook::sign(&payload, WEBHOOK_SECRET, timestamp),
        "payload": payload,
    }))
}

fn redeliver(payload: &str, signature: &str) -> SignedEvent {
    let signed_at: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(now);
    SignedEvent {
        signature: agentry_billing::webhook::sign(payload, WEBHOOK_SECRET, signed_at + 1),
        payload: payload.to_owned(),
    }
}

/// `POST /_fake/redeliver {payload, signature}`: the event signed anew, as Stripe redelivers.
async fn control_redeliver(event: web::Json<HashMap<String, String>>) -> HttpResponse {
    let (Some(payload), Some(signature)) = (event.get("payload"), event.get("signature")) else {
        return stripe_error(
            400,
            "invalid_request_error",
            "payload and signature expected",
        );
    };
    let again = redeliver(payload, signature);
    HttpResponse::Ok().json(json!({"payload": again.payload, "signature": again.signature}))
}

async fn control_down(state: web::Data<Mutex<State>>, down: web::Path<bool>) -> HttpResponse {
    state.lock().unwrap_or_else(|e| e.into_inner()).down = down.into_inner();
    HttpResponse::NoContent().finish()
}

async fn control_subscriber(
    state: web::Data<Mutex<State>>,
    email: web::Path<String>,
) -> HttpResponse {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(json!({"customer": subscriber(&mut state, &email)}))
}

fn subscriber(state: &mut State, email: &str) -> String {
    let id = state.next_id("cus");
    state.customers.push(json!({
        "id": id, "object": "customer", "created": now(), "livemode": false,
        "email": email, "metadata": {},
    }));
    let subscription = subscription(state, &id);
    state.subscriptions.push(subscription);
    id
}

async fn control_requests(state: web::Data<Mutex<State>>) -> HttpResponse {
    HttpResponse::Ok().json(&state.lock().unwrap_or_else(|e| e.into_inner()).requests)
}

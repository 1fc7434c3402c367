//! Payments: quotes, top-ups, confirmations, syncs, the transactions list, Stripe links.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Quote {
    pub token_millions: i64,
    pub tokens: i64,
    pub amount_usd: f64,
    pub price_per_million: f64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct TopUpRequest {
    pub token_millions: serde_json::Value,
    #[serde(default)]
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopUp {
    pub reference_code: String,
    pub client_secret: Option<String>,
    pub payment_intent_id: String,
    pub amount_usd: f64,
    pub token_amount: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Confirmation {
    pub success: bool,
    pub status: String,
    /// Tokens this call credited (0 when the payment was already credited).
    pub tokens_added: i64,
    pub reference_code: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SyncResult {
    pub checked: usize,
    pub credited: usize,
    pub tokens_added: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransactionView {
    pub reference_code: String,
    pub status: String,
    pub currency: String,
    pub amount_usd: f64,
    pub token_amount: i64,
    pub payment_intent_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CheckoutLink {
    pub session_id: String,
    pub checkout_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WebhookOutcome {
    pub received: bool,
    /// The event had been applied before (a redelivery); nothing changed.
    pub duplicate: bool,
}

/// `POST /v1/billing/portal`: Stripe's customer portal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalLink {
    pub url: String,
}

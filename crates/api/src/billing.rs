//! Billing: the configuration, balances, usage and the low-balance warning.

use agentry_domain::{CompanyId, UserId};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingConfig {
    pub billing_enabled: bool,
    pub token_price_usd: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub token_balance: i64,
    /// An alias of `token_balance`, which the reference's endpoint suite reads.
    pub available_tokens: i64,
    pub token_balance_usd: f64,
    pub tokens_used_total: i64,
    pub low_balance_warning: bool,
    pub is_child_company: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_company_id: Option<CompanyId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_token_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_token_balance_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_tokens_used_total: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub user_id: UserId,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub timestamp: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageTotals {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WarningView {
    pub should_warn: bool,
    pub token_balance: i64,
    pub threshold: i64,
}

/// `GET /v1/billing/tokens/balance?sync=true`: the balance after a Stripe payment sync, and
/// what the sync did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncedBalance {
    #[serde(flatten)]
    pub balance: BalanceView,
    pub sync_result: crate::payments::SyncResult,
}

/// `POST /v1/credit`: the company's balance after the credit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Credited {
    pub detail: &'static str,
    pub tokens: i64,
}

/// `GET /v1/billing/usage`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub usage: Vec<UsageView>,
}

//! Personal access tokens: a new token's form and a token as listed.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewTokenForm {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub agent_ids: Vec<String>,
    #[serde(default)]
    pub company_ids: Vec<String>,
    #[serde(default)]
    pub expiration: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The value, present only when the token is created or regenerated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub token_prefix: String,
    pub scopes: Vec<String>,
    pub agent_ids: Vec<String>,
    pub company_ids: Vec<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub is_revoked: bool,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

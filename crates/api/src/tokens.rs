//! Personal access tokens: a new token's form and a token as listed.

use std::collections::BTreeMap;

use agentry_domain::{AgentId, CompanyId, UserId};
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

/// `GET /v1/api-keys`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// `POST /v1/api-keys/validate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ValidToken {
    pub valid: bool,
    pub user_id: UserId,
    pub scopes: Vec<String>,
}

/// `GET /v1/api-keys/available/scopes`: the scopes the caller may grant, and by category.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantableScopes {
    pub scopes: Vec<String>,
    pub categories: BTreeMap<String, Vec<String>>,
}

/// An agent a token may be limited to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantableAgent {
    pub id: AgentId,
    pub name: String,
    pub is_owner: bool,
    pub company_id: Option<CompanyId>,
}

/// `GET /v1/api-keys/available/agents`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantableAgents {
    pub agents: Vec<GrantableAgent>,
}

/// A company a token may be limited to, with the caller's role there.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantableCompany {
    pub id: CompanyId,
    pub name: String,
    pub role_id: i32,
}

/// `GET /v1/api-keys/available/companies`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantableCompanies {
    pub companies: Vec<GrantableCompany>,
}

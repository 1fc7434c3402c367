//! Accounts: registration, login, MFA, passwords, and the user's own view (with its ETag).

use std::collections::BTreeMap;

use agentry_domain::{CompanyId, RoleId, UserId};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub confirm_password: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub organization_name: Option<String>,
    #[serde(default)]
    pub invitation_id: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub tos_accepted: Option<bool>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub otp_uri: String,
    pub magic_link: String,
    pub token: String,
    pub user_id: UserId,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoggedIn {
    pub detail: &'static str,
    pub token: String,
    pub user_id: UserId,
    pub email: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MfaSetup {
    pub provisioning_uri: String,
    pub secret: String,
    pub mfa_enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct MfaDisable {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
    pub confirm_password: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PasswordSet {
    pub new_password: String,
    pub confirm_password: String,
}

/// `GET /v1/user` query options.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct UserViewOptions {
    #[serde(default)]
    pub light: bool,
    #[serde(default)]
    pub include_scopes: bool,
    #[serde(default)]
    pub scope_filter: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompanyView {
    pub id: CompanyId,
    /// The parent company, if any.
    pub company_id: Option<CompanyId>,
    pub name: String,
    pub agent_name: String,
    pub status: bool,
    pub address: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub country: Option<String>,
    pub notes: Option<String>,
    pub icon_url: Option<String>,
    pub user_limit: i32,
    pub token_balance: i64,
    pub token_balance_usd: f64,
    pub tokens_used_total: i64,
    pub role_id: RoleId,
    pub primary: bool,
    pub agents: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    pub sort_order: Option<i32>,
}

/// The `/v1/user` response: the user, their companies, and every preference spread at the
/// top level (string values, as the reference stores them).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub last_seen: Option<NaiveDateTime>,
    pub status_text: Option<String>,
    pub tos_accepted_at: Option<NaiveDateTime>,
    pub companies: Vec<CompanyView>,
    #[serde(flatten)]
    pub preferences: BTreeMap<String, Value>,
}

impl UserView {
    /// The reference's ETag: SHA-256 of a canonical JSON of the user's identity, companies,
    /// ToS acceptance and preferences.
    pub fn etag(&self) -> String {
        let canonical = serde_json::json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "companies": self.companies,
            "tos_accepted_at": self.tos_accepted_at,
            "preferences": self.preferences,
        });
        format!("\"{}\"", hex::encode(Sha256::digest(canonical.to_string())))
    }
}

/// A strong ETag for a rendered body: the quoted hex SHA-256 of its bytes.
pub fn etag_of(body: &str) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())))
}

/// `POST /v1/user/mfa/reset`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MfaReset {
    pub detail: &'static str,
    /// The new secret's `otpauth://` URI.
    pub otp_uri: String,
}

/// `POST /v1/user/password/change`: a fresh token (every older one is revoked).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PasswordChanged {
    pub detail: &'static str,
    pub token: String,
}

/// `POST /v1/user/password/set`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PasswordWasSet {
    pub detail: &'static str,
    pub username: String,
}

//! Companies, members, roles and invitations.

use agentry_domain::{CompanyId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The role's name ("Inactive" for a deactivated account).
    pub role: String,
    pub role_id: i32,
    pub avatar_url: Option<String>,
    pub last_seen: Option<chrono::NaiveDateTime>,
    pub status_text: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompanyResponse {
    pub id: CompanyId,
    pub name: String,
    pub company_id: Option<CompanyId>,
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
    pub users: Vec<MemberView>,
    /// Child companies, each in this shape (the schema refers to itself).
    #[schema(no_recursion)]
    pub children: Vec<CompanyResponse>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AcceptedInvitation {
    pub detail: &'static str,
    pub company_id: CompanyId,
    pub role_id: i32,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CompanyForm {
    pub name: Option<String>,
    #[serde(default)]
    pub parent_company_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub status: Option<bool>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedCompany {
    pub id: CompanyId,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RoleChange {
    pub role_id: i32,
    pub company_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct InvitationForm {
    pub email: String,
    #[serde(default)]
    pub company_id: Option<String>,
    #[serde(default)]
    pub role_id: Option<i32>,
    #[serde(default)]
    pub skip_email: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    /// The invitation's id, or "none" when the invitee already had an account and was added.
    pub id: String,
    pub invitation_link: String,
    pub email: String,
    pub company_id: CompanyId,
    pub role_id: i32,
    pub inviter_id: Option<UserId>,
    pub created_at: chrono::NaiveDateTime,
    pub is_accepted: bool,
}

/// `GET /v1/companies/{id}/members`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Members {
    pub members: Vec<MemberView>,
}

/// `GET /v1/invitations`, `/v1/invitations/{company_id}`, `/v1/user/invitations`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitations {
    pub invitations: Vec<InvitationView>,
}

//! The role and scope catalog, and a caller's scopes.

use std::collections::BTreeMap;

use agentry_domain::{CompanyId, RoleId};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: RoleId,
    pub name: &'static str,
    pub friendly_name: &'static str,
    pub display_order: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScopeView<'a> {
    pub name: &'a str,
    pub resource: &'a str,
    pub action: &'a str,
    pub description: &'a str,
    pub category: &'a str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScopeCatalog<'a> {
    pub scopes: Vec<ScopeView<'a>>,
    pub categories: BTreeMap<&'a str, Vec<&'a str>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserScopes {
    pub company_id: Option<CompanyId>,
    pub role_id: Option<RoleId>,
    pub scopes: Vec<String>,
}

/// `GET /v1/roles`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleList {
    pub roles: Vec<RoleView>,
}

//! The built-in roles (AGiXT's ids 0-6). A lower id means more privilege.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role id as stored in memberships and sent on the wire (a plain integer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleId(pub i32);

/// In the OpenAPI document: an integer (0 super admin ... 6 read-only user).
impl utoipa::PartialSchema for RoleId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(0))
            .maximum(Some(6))
            .into()
    }
}

impl utoipa::ToSchema for RoleId {}

impl RoleId {
    pub const SUPER_ADMIN: Self = Self(0);
    pub const TENANT_ADMIN: Self = Self(1);
    pub const COMPANY_ADMIN: Self = Self(2);
    pub const USER: Self = Self(3);
    pub const CHILD: Self = Self(4);
    pub const CHAT_USER: Self = Self(5);
    pub const READ_ONLY_USER: Self = Self(6);

    /// The built-in role with this id, if there is one.
    pub fn role(self) -> Option<&'static Role> {
        Role::ALL.iter().find(|role| role.id == self)
    }

    /// Roles 0-2 administer a company (AGiXT's `is_admin`).
    pub fn is_admin(self) -> bool {
        self.0 <= Self::COMPANY_ADMIN.0
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One built-in role and the scope patterns it is granted by default.
#[derive(Debug, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: &'static str,
    pub friendly_name: &'static str,
    pub display_order: i32,
    /// Scope patterns as written in AGiXT's `default_role_scopes` (exact names and wildcards).
    pub scope_patterns: &'static [&'static str],
}

impl Role {
    /// The wildcard patterns of this role's defaults, which effective scope sets carry
    /// literally besides the concrete scopes (reference section 4.4).
    pub fn wildcard_patterns(&self) -> impl Iterator<Item = &'static str> {
        self.scope_patterns
            .iter()
            .copied()
            .filter(|pattern| crate::scope::is_wildcard(pattern))
    }

    /// Every built-in role, in display order.
    pub const ALL: &'static [Role] = &[
        Role {
            id: RoleId::SUPER_ADMIN,
            name: "super_admin",
            friendly_name: "Super Admin",
            display_order: 0,
            scope_patterns: &["*"],
        },
        Role {
            id: RoleId::TENANT_ADMIN,
            name: "tenant_admin",
            friendly_name: "Tenant Admin",
            display_order: 1,
            scope_patterns: &[
                "agents:*",
                "conversations:*",
                "extensions:*",
                "memories:*",
                "chains:*",
                "prompts:*",
                "company:*",
                "users:*",
                "roles:*",
                "webhooks:*",
                "providers:*",
                "apikeys:*",
                "secrets:*",
                "billing:*",
                "assets:*",
                "tickets:*",
                "activity:*",
                "ui:settings",
                "ui:admin_panel",
                "ui:full_chat",
                "ui:developer_mode",
                "ext:*",
            ],
        },
        Role {
            id: RoleId::COMPANY_ADMIN,
            name: "company_admin",
            friendly_name: "Company Admin",
            display_order: 2,
            scope_patterns: &[
                "agents:*",
                "conversations:*",
                "extensions:*",
                "memories:*",
                "chains:*",
                "prompts:*",
                "company:read",
                "company:write",
                "company:prompts",
                "company:chains",
                "users:read",
                "users:write",
                "roles:read",
                "webhooks:*",
                "providers:*",
                "apikeys:*",
                "secrets:read",
                "secrets:write",
                "billing:read",
                "billing:write",
                "assets:*",
                "tickets:*",
                "activity:read",
                "ui:settings",
                "ui:admin_panel",
                "ui:full_chat",
                "ui:developer_mode",
                "ext:*",
            ],
        },
        Role {
            id: RoleId::USER,
            name: "user",
            friendly_name: "Power User",
            display_order: 3,
            scope_patterns: &[
                "agents:read",
                "agents:write",
                "agents:execute",
                "conversations:*",
                "extensions:read",
                "extensions:execute",
                "memories:read",
                "memories:write",
                "chains:read",
                "chains:execute",
                "prompts:read",
                "apikeys:*",
                "assets:read",
                "assets:write",
                "tickets:read",
                "tickets:write",
                "activity:read",
                "ui:settings",
                "ui:full_chat",
                "ext:*:read",
                "ext:*:write",
                "ext:*:execute",
            ],
        },
        Role {
            id: RoleId::READ_ONLY_USER,
            name: "read_only_user",
            friendly_name: "Read Only User",
            display_order: 4,
            scope_patterns: &[
                "agents:read",
                "conversations:read",
                "extensions:read",
                "memories:read",
                "chains:read",
                "prompts:read",
                "assets:read",
                "tickets:read",
                "activity:read",
                "ui:settings",
                "ui:full_chat",
                "ext:*:read",
            ],
        },
        Role {
            id: RoleId::CHAT_USER,
            name: "chat_user",
            friendly_name: "Chat User",
            display_order: 5,
            scope_patterns: &[
                "agents:execute",
                "conversations:read",
                "conversations:write",
                "ui:full_chat",
            ],
        },
        Role {
            id: RoleId::CHILD,
            name: "child",
            friendly_name: "Child",
            display_order: 6,
            scope_patterns: &[
                "agents:execute",
                "conversations:read",
                "conversations:write",
                "ui:voice_only_mode",
            ],
        },
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_resolve() {
        for role in Role::ALL {
            assert_eq!(role.id.role(), Some(role));
        }
        let mut ids: Vec<_> = Role::ALL.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 7);
        assert_eq!(RoleId(7).role(), None);
        assert!(RoleId::COMPANY_ADMIN.is_admin());
        assert!(!RoleId::USER.is_admin());
    }
}

//! The role and scope catalog as data to persist: roles, scopes, and each role's default
//! scopes expanded from its patterns (reference auth-billing.md sections 4.1-4.4).
//!
//! Effective scopes are computed from code; the tables exist for listings, foreign keys and
//! custom roles. The fingerprint lets startup skip the seed when the stored catalog is current.

use sha2::{Digest, Sha256};

use crate::role::{Role, RoleId};
use crate::scope::{STATIC_SCOPES, ScopeDef, pattern_covers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRole {
    pub id: RoleId,
    pub name: String,
    pub friendly_name: String,
    pub display_order: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogScope {
    pub name: String,
    pub resource: String,
    pub action: String,
    pub description: String,
    pub category: String,
}

impl From<&ScopeDef> for CatalogScope {
    fn from(def: &ScopeDef) -> Self {
        Self {
            name: def.name.to_owned(),
            resource: def.resource().to_owned(),
            action: def.action().to_owned(),
            description: def.description.to_owned(),
            category: def.category.to_owned(),
        }
    }
}

/// Everything the seed writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub roles: Vec<CatalogRole>,
    pub scopes: Vec<CatalogScope>,
    /// `(role, scope name)`: each role's patterns expanded over `scopes`.
    pub role_scopes: Vec<(RoleId, String)>,
}

impl Catalog {
    /// The built-in roles and the static scopes (extension scopes join once extensions exist).
    pub fn builtin() -> Self {
        Self::with_scopes(STATIC_SCOPES.iter().map(CatalogScope::from).collect())
    }

    /// The built-in roles over the given scopes.
    pub fn with_scopes(scopes: Vec<CatalogScope>) -> Self {
        let roles = Role::ALL
            .iter()
            .map(|role| CatalogRole {
                id: role.id,
                name: role.name.to_owned(),
                friendly_name: role.friendly_name.to_owned(),
                display_order: role.display_order,
            })
            .collect();
        let role_scopes = Role::ALL
            .iter()
            .flat_map(|role| {
                scopes
                    .iter()
                    .filter(|scope| {
                        role.scope_patterns
                            .iter()
                            .any(|pattern| pattern_covers(pattern, &scope.name))
                    })
                    .map(|scope| (role.id, scope.name.clone()))
            })
            .collect();
        Self {
            roles,
            scopes,
            role_scopes,
        }
    }

    /// The concrete default scopes of one role.
    pub fn scopes_of(&self, role: RoleId) -> impl Iterator<Item = &str> {
        self.role_scopes
            .iter()
            .filter(move |(id, _)| *id == role)
            .map(|(_, name)| name.as_str())
    }

    /// A SHA-256 over every field the seed writes: equal fingerprints mean nothing to write.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        // Field and record separators that cannot occur in names keep the encoding unambiguous.
        let mut field = |value: &str| {
            hash.update(value.as_bytes());
            hash.update([0x1f]);
        };
        for role in &self.roles {
            field(&role.id.to_string());
            field(&role.name);
            field(&role.friendly_name);
            field(&role.display_order.to_string());
        }
        field("\u{1e}scopes");
        for scope in &self.scopes {
            field(&scope.name);
            field(&scope.resource);
            field(&scope.action);
            field(&scope.description);
            field(&scope.category);
        }
        field("\u{1e}role_scopes");
        for (role, name) in &self.role_scopes {
            field(&role.to_string());
            field(name);
        }
        hex::encode(hash.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_role_scope_counts_match_the_reference() {
        let catalog = Catalog::builtin();
        let count = |role| catalog.scopes_of(role).count();
        assert_eq!(count(RoleId::SUPER_ADMIN), 72);
        assert_eq!(count(RoleId::TENANT_ADMIN), 67);
        assert_eq!(count(RoleId::COMPANY_ADMIN), 57);
        assert_eq!(count(RoleId::USER), 24);
        assert_eq!(count(RoleId::READ_ONLY_USER), 11);
        assert_eq!(count(RoleId::CHAT_USER), 4);
        assert_eq!(count(RoleId::CHILD), 4);

        let admin: Vec<_> = catalog.scopes_of(RoleId::COMPANY_ADMIN).collect();
        for lacking in [
            "company:delete",
            "users:roles",
            "billing:admin",
            "server:admin",
        ] {
            assert!(!admin.contains(&lacking), "{lacking}");
        }
        let tenant: Vec<_> = catalog.scopes_of(RoleId::TENANT_ADMIN).collect();
        assert!(tenant.contains(&"users:impersonate"));
        assert!(!tenant.contains(&"ui:voice_only_mode"));
    }

    #[test]
    fn extension_scopes_expand_through_ext_patterns() {
        let mut scopes: Vec<CatalogScope> = STATIC_SCOPES.iter().map(CatalogScope::from).collect();
        for action in ["read", "execute", "configure"] {
            scopes.push(CatalogScope {
                name: format!("ext:github:{action}"),
                resource: "ext".into(),
                action: format!("github:{action}"),
                description: String::new(),
                category: "Extensions".into(),
            });
        }
        let catalog = Catalog::with_scopes(scopes);
        assert_eq!(catalog.scopes_of(RoleId::COMPANY_ADMIN).count(), 60);
        assert_eq!(catalog.scopes_of(RoleId::USER).count(), 26);
        assert_eq!(catalog.scopes_of(RoleId::READ_ONLY_USER).count(), 12);
        assert_ne!(catalog.fingerprint(), Catalog::builtin().fingerprint());
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = Catalog::builtin();
        assert_eq!(a.fingerprint(), Catalog::builtin().fingerprint());
        let mut b = Catalog::builtin();
        b.roles[3].friendly_name.push('!');
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}

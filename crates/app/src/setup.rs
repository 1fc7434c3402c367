//! Bring a database up to date: pending migrations (under a lock), then the catalog seed.

use agentry_domain::catalog::{Catalog, CatalogScope};
use agentry_domain::scope::STATIC_SCOPES;
use agentry_extensions::Registry;
use agentry_store::seed::{SeedOutcome, seed_catalog};
use agentry_store::{AnyConnection, migrate};

use crate::AppError;

/// Apply pending migrations; returns the versions applied.
pub fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, AppError> {
    Ok(migrate::run_pending(conn)?)
}

/// The role and scope catalog this build serves: the static scopes and each built-in
/// extension's `ext:<name>:read|execute|configure`, with the roles' patterns expanded over
/// both (reference auth-billing.md 4.2-4.4).
pub fn catalog() -> Catalog {
    let mut scopes: Vec<CatalogScope> = STATIC_SCOPES.iter().map(CatalogScope::from).collect();
    scopes.extend(Registry::builtin().scopes());
    Catalog::with_scopes(scopes)
}

/// Seed the role and scope catalog (skipped when current).
pub fn seed(conn: &mut AnyConnection) -> Result<SeedOutcome, AppError> {
    Ok(seed_catalog(conn, &catalog())?)
}

#[cfg(test)]
mod tests {
    use agentry_domain::RoleId;

    #[test]
    fn extension_scopes_reach_each_role_through_its_patterns() {
        let catalog = super::catalog();
        let held = |role: RoleId| -> Vec<&str> {
            catalog
                .scopes_of(role)
                .filter(|s| s.starts_with("ext:"))
                .collect()
        };
        let all = [
            "ext:essential_abilities:read",
            "ext:essential_abilities:execute",
            "ext:essential_abilities:configure",
        ];
        assert_eq!(held(RoleId::SUPER_ADMIN), all);
        assert_eq!(held(RoleId::COMPANY_ADMIN), all);
        // ext:*:read, ext:*:write, ext:*:execute
        assert_eq!(held(RoleId::USER), &all[..2]);
        assert_eq!(held(RoleId::READ_ONLY_USER), &all[..1]);
        assert!(held(RoleId::CHAT_USER).is_empty());
    }
}

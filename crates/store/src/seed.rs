//! The idempotent seed of the role and scope catalog: one transaction, batch inserts, skipped
//! when the stored fingerprint says the tables already hold this catalog.

use agentry_domain::catalog::Catalog;
use chrono::Utc;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::{role_scopes, roles, scopes, seed_marks};
use crate::{AnyConnection, StoreError, per_backend};

/// The `seed_marks` row of the role and scope catalog.
pub const CATALOG_MARK: &str = "role_scope_catalog";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// The stored catalog was current: one read, no writes.
    Current,
    /// The catalog was written: rows offered per table (existing rows are updated or kept).
    Applied {
        roles: usize,
        scopes: usize,
        role_scopes: usize,
    },
}

#[derive(Insertable)]
#[diesel(table_name = roles)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
struct NewRole<'a> {
    id: i32,
    name: &'a str,
    friendly_name: &'a str,
    display_order: i32,
}

#[derive(Insertable)]
#[diesel(table_name = scopes)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
struct NewScope<'a> {
    name: &'a str,
    resource: &'a str,
    action: &'a str,
    description: &'a str,
    category: &'a str,
    is_system: bool,
}

#[derive(Insertable)]
#[diesel(table_name = role_scopes)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
struct NewRoleScope<'a> {
    role_id: i32,
    scope_name: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = seed_marks)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
struct NewSeedMark<'a> {
    name: &'a str,
    fingerprint: &'a str,
    applied_at: chrono::NaiveDateTime,
}

/// Write `catalog` unless it is already current. Rows are only added or updated, never
/// removed (as the reference seeds): an operator's additions survive.
pub fn seed_catalog(
    conn: &mut AnyConnection,
    catalog: &Catalog,
) -> Result<SeedOutcome, StoreError> {
    let fingerprint = catalog.fingerprint();
    let stored: Option<String> = seed_marks::table
        .find(CATALOG_MARK)
        .select(seed_marks::fingerprint)
        .first(conn)
        .optional()?;
    if stored.as_deref() == Some(fingerprint.as_str()) {
        return Ok(SeedOutcome::Current);
    }

    let new_roles: Vec<NewRole<'_>> = catalog
        .roles
        .iter()
        .map(|role| NewRole {
            id: role.id.0,
            name: &role.name,
            friendly_name: &role.friendly_name,
            display_order: role.display_order,
        })
        .collect();
    let new_scopes: Vec<NewScope<'_>> = catalog
        .scopes
        .iter()
        .map(|scope| NewScope {
            name: &scope.name,
            resource: &scope.resource,
            action: &scope.action,
            description: &scope.description,
            category: &scope.category,
            is_system: true,
        })
        .collect();
    let new_role_scopes: Vec<NewRoleScope<'_>> = catalog
        .role_scopes
        .iter()
        .map(|(role, scope)| NewRoleScope {
            role_id: role.0,
            scope_name: scope,
        })
        .collect();
    let mark = NewSeedMark {
        name: CATALOG_MARK,
        fingerprint: &fingerprint,
        applied_at: Utc::now().naive_utc(),
    };

    // Multi-row inserts and upserts do not compile on the multi-backend: the same code is
    // compiled once per backend instead.
    per_backend!(conn, |c| c.transaction::<_, StoreError, _>(|c| {
        diesel::insert_into(roles::table)
            .values(&new_roles)
            .on_conflict(roles::id)
            .do_update()
            .set((
                roles::name.eq(excluded(roles::name)),
                roles::friendly_name.eq(excluded(roles::friendly_name)),
                roles::display_order.eq(excluded(roles::display_order)),
            ))
            .execute(c)?;
        diesel::insert_into(scopes::table)
            .values(&new_scopes)
            .on_conflict(scopes::name)
            .do_update()
            .set((
                scopes::resource.eq(excluded(scopes::resource)),
                scopes::action.eq(excluded(scopes::action)),
                scopes::description.eq(excluded(scopes::description)),
                scopes::category.eq(excluded(scopes::category)),
            ))
            .execute(c)?;
        diesel::insert_into(role_scopes::table)
            .values(&new_role_scopes)
            .on_conflict_do_nothing()
            .execute(c)?;
        diesel::insert_into(seed_marks::table)
            .values(&mark)
            .on_conflict(seed_marks::name)
            .do_update()
            .set((
                seed_marks::fingerprint.eq(excluded(seed_marks::fingerprint)),
                seed_marks::applied_at.eq(excluded(seed_marks::applied_at)),
            ))
            .execute(c)?;
        Ok(())
    }))?;

    Ok(SeedOutcome::Applied {
        roles: new_roles.len(),
        scopes: new_scopes.len(),
        role_scopes: new_role_scopes.len(),
    })
}

//! Users, companies and memberships: rows, inserts and set-at-a-time loaders.

use std::collections::HashMap;

use agentry_domain::{CompanyId, MembershipId, RoleId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{companies, memberships, role_scopes, roles, users};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

/// Rows per multi-row INSERT: far below SQLite's 32,766 bound variables for every table here.
const INSERT_CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: DbUuid,
    pub email: String,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub admin: bool,
    pub mfa_secret: Option<String>,
    pub mfa_enabled: bool,
    pub is_active: bool,
    pub tos_accepted_at: Option<NaiveDateTime>,
    pub avatar_url: Option<String>,
    pub last_seen: Option<NaiveDateTime>,
    pub status_text: Option<String>,
    pub status_mode: String,
    pub tokens_valid_after: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub mfa_last_step: Option<i64>,
    /// Password and TOTP checks counted since the last success (the login throttle).
    pub failed_attempts: i32,
    /// No check runs before this instant.
    pub attempt_gate: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
pub struct NewUser {
    pub id: DbUuid,
    pub email: String,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub mfa_secret: Option<String>,
    pub tos_accepted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = companies)]
pub struct CompanyRow {
    pub id: DbUuid,
    pub parent_id: Option<DbUuid>,
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
    pub mfa_required: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub token_balance: i64,
    pub token_balance_usd: f64,
    pub tokens_used_total: i64,
    pub low_balance_dismissed_at: Option<i64>,
    pub stripe_customer_id: Option<String>,
    pub subscription_active: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = companies)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
pub struct NewCompany {
    pub id: DbUuid,
    pub parent_id: Option<DbUuid>,
    pub name: String,
    pub agent_name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: i32,
    pub name: String,
    pub friendly_name: String,
    pub display_order: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = memberships)]
#[diesel(belongs_to(UserRow, foreign_key = user_id))]
#[diesel(belongs_to(CompanyRow, foreign_key = company_id))]
pub struct MembershipRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub company_id: DbUuid,
    pub role_id: i32,
    pub sort_order: Option<i32>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = memberships)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
pub struct NewMembership {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub company_id: DbUuid,
    pub role_id: i32,
    pub sort_order: Option<i32>,
    pub created_at: NaiveDateTime,
}

impl NewMembership {
    pub fn new(user: UserId, company: CompanyId, role: RoleId, at: NaiveDateTime) -> Self {
        Self {
            id: MembershipId::new().into(),
            user_id: user.into(),
            company_id: company.into(),
            role_id: role.0,
            sort_order: None,
            created_at: at,
        }
    }
}

/// One membership with its company, its role and the role's default scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipView {
    pub membership: MembershipRow,
    pub company: CompanyRow,
    pub role: RoleRow,
    pub role_scopes: Vec<String>,
}

pub fn insert_users(conn: &mut AnyConnection, rows: &[NewUser]) -> Result<usize, StoreError> {
    let mut inserted: usize = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        inserted = inserted.saturating_add(per_backend!(&mut *conn, |c| diesel::insert_into(
            users::table
        )
        .values(chunk)
        .execute(c))?);
    }
    Ok(inserted)
}

pub fn insert_companies(
    conn: &mut AnyConnection,
    rows: &[NewCompany],
) -> Result<usize, StoreError> {
    let mut inserted: usize = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        inserted = inserted.saturating_add(per_backend!(&mut *conn, |c| diesel::insert_into(
            companies::table
        )
        .values(chunk)
        .execute(c))?);
    }
    Ok(inserted)
}

pub fn insert_memberships(
    conn: &mut AnyConnection,
    rows: &[NewMembership],
) -> Result<usize, StoreError> {
    let mut inserted: usize = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        inserted = inserted.saturating_add(per_backend!(&mut *conn, |c| diesel::insert_into(
            memberships::table
        )
        .values(chunk)
        .execute(c))?);
    }
    Ok(inserted)
}

/// Insert one membership unless the user already belongs to the company (the unique
/// constraint decides, so two concurrent joins make one membership). Returns whether it was
/// inserted.
pub fn insert_membership_if_absent(
    conn: &mut AnyConnection,
    row: &NewMembership,
) -> Result<bool, StoreError> {
    let inserted = per_backend!(&mut *conn, |c| diesel::insert_into(memberships::table)
        .values(row)
        .on_conflict((memberships::user_id, memberships::company_id))
        .do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

pub fn find_user(conn: &mut AnyConnection, id: UserId) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .find(DbUuid::from(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// The users among `ids` (one statement; those that are gone are absent).
pub fn users_by_ids(conn: &mut AnyConnection, ids: &[UserId]) -> Result<Vec<UserRow>, StoreError> {
    let ids: Vec<DbUuid> = ids.iter().copied().map(Into::into).collect();
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)?)
}

/// The memberships of `user`, with company, role and role scopes, in the reference's order
/// (`sort_order`, nulls last, then company name, case-insensitively). Two statements whatever
/// the number of memberships.
pub fn memberships_for(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<MembershipView>, StoreError> {
    let rows: Vec<(MembershipRow, CompanyRow, RoleRow)> = memberships::table
        .inner_join(companies::table)
        .inner_join(roles::table)
        .filter(memberships::user_id.eq(DbUuid::from(user)))
        .select((
            MembershipRow::as_select(),
            CompanyRow::as_select(),
            RoleRow::as_select(),
        ))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let mut role_ids: Vec<i32> = rows.iter().map(|(_, _, role)| role.id).collect();
    role_ids.sort_unstable();
    role_ids.dedup();
    let mut scopes_by_role: HashMap<i32, Vec<String>> = HashMap::new();
    for (role_id, scope) in role_scopes::table
        .filter(role_scopes::role_id.eq_any(&role_ids))
        .select((role_scopes::role_id, role_scopes::scope_name))
        .order((role_scopes::role_id, role_scopes::scope_name))
        .load::<(i32, String)>(conn)?
    {
        scopes_by_role.entry(role_id).or_default().push(scope);
    }

    let mut views: Vec<MembershipView> = rows
        .into_iter()
        .map(|(membership, company, role)| MembershipView {
            role_scopes: scopes_by_role.get(&role.id).cloned().unwrap_or_default(),
            membership,
            company,
            role,
        })
        .collect();
    views.sort_by_cached_key(|view| {
        (
            view.membership.sort_order.is_none(),
            view.membership.sort_order,
            view.company.name.to_lowercase(),
        )
    });
    Ok(views)
}

//! Companies, their members and invitations: rows, patches and set-at-a-time loaders.

use agentry_domain::{CompanyId, RoleId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::identity::{CompanyRow, MembershipRow, UserRow};
use crate::schema::{companies, invitations, memberships, users};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

/// The rows of `ids` (one statement whatever their number).
pub fn find_companies(
    conn: &mut AnyConnection,
    ids: &[CompanyId],
) -> Result<Vec<CompanyRow>, StoreError> {
    let ids: Vec<DbUuid> = ids.iter().copied().map(DbUuid::from).collect();
    Ok(companies::table
        .filter(companies::id.eq_any(ids))
        .select(CompanyRow::as_select())
        .load(conn)?)
}

pub fn find_company(
    conn: &mut AnyConnection,
    id: CompanyId,
) -> Result<Option<CompanyRow>, StoreError> {
    Ok(companies::table
        .find(DbUuid::from(id))
        .select(CompanyRow::as_select())
        .first(conn)
        .optional()?)
}

/// The companies with these ids (one statement).
pub fn companies_by_ids(
    conn: &mut AnyConnection,
    ids: &[CompanyId],
) -> Result<Vec<CompanyRow>, StoreError> {
    let ids: Vec<DbUuid> = ids.iter().copied().map(Into::into).collect();
    Ok(companies::table
        .filter(companies::id.eq_any(ids))
        .select(CompanyRow::as_select())
        .load(conn)?)
}

/// Companies whose parent is one of `parents` (one statement).
pub fn children_of(
    conn: &mut AnyConnection,
    parents: &[CompanyId],
) -> Result<Vec<CompanyRow>, StoreError> {
    let ids: Vec<DbUuid> = parents.iter().copied().map(Into::into).collect();
    Ok(companies::table
        .filter(companies::parent_id.eq_any(ids))
        .select(CompanyRow::as_select())
        .order(companies::name)
        .load(conn)?)
}

/// How far up or down a parent chain [`ancestors_of`] and [`descendants_of`] go: chains are
/// short, and the bound keeps a corrupt cycle from looping.
pub const MAX_DEPTH: i32 = 8;

/// One step of a company's lineage: `relative` is `depth` levels above (ancestors) or below
/// (descendants) `company`.
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub company: DbUuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub relative: DbUuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub depth: i32,
}

/// Every parent, grandparent... of each of `ids`, up to [`MAX_DEPTH`] levels (one recursive
/// statement).
pub fn ancestors_of(conn: &mut AnyConnection, ids: &[CompanyId]) -> Result<Vec<Link>, StoreError> {
    lineage(
        conn,
        ids,
        "WITH RECURSIVE up(company, relative, depth) AS (\
         SELECT id, parent_id, 1 FROM companies WHERE parent_id IS NOT NULL AND id IN ({ids}) \
         UNION ALL SELECT up.company, c.parent_id, up.depth + 1 FROM up \
         JOIN companies c ON c.id = up.relative \
         WHERE c.parent_id IS NOT NULL AND up.depth < {depth}) \
         SELECT company, relative, depth FROM up",
    )
}

/// Lock the rows of `ids` until the transaction ends (PostgreSQL `FOR UPDATE`): a membership
/// or a child company inserted in them (whose foreign key check takes a share lock on the
/// row) waits for the transaction, so what the transaction reads of their members and children
/// stays true until it commits. SQLite's write transactions already run one at a time.
pub fn lock_companies(conn: &mut AnyConnection, ids: &[CompanyId]) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(pg) = conn
        && !ids.is_empty()
    {
        let ids: Vec<DbUuid> = ids.iter().copied().map(Into::into).collect();
        let _locked: Vec<DbUuid> = companies::table
            .filter(companies::id.eq_any(ids))
            .select(companies::id)
            .for_update()
            .load(pg)?;
    }
    Ok(())
}

/// Every child, grandchild... of each of `ids`, down to [`MAX_DEPTH`] levels (one recursive
/// statement).
pub fn descendants_of(
    conn: &mut AnyConnection,
    ids: &[CompanyId],
) -> Result<Vec<Link>, StoreError> {
    lineage(
        conn,
        ids,
        "WITH RECURSIVE down(company, relative, depth) AS (\
         SELECT parent_id, id, 1 FROM companies WHERE parent_id IN ({ids}) \
         UNION ALL SELECT down.company, c.id, down.depth + 1 FROM down \
         JOIN companies c ON c.parent_id = down.relative WHERE down.depth < {depth}) \
         SELECT company, relative, depth FROM down",
    )
}

/// Run a lineage query, `{ids}` standing for the list of `ids` (passed as one JSON array).
fn lineage(
    conn: &mut AnyConnection,
    ids: &[CompanyId],
    query: &str,
) -> Result<Vec<Link>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Ids are UUIDs: nothing in them needs escaping.
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    let list = format!("[{}]", quoted.join(","));
    let query = query.replace("{depth}", &MAX_DEPTH.to_string());
    Ok(match conn {
        AnyConnection::Postgresql(pg) => {
            diesel::sql_query(query.replace("{ids}", "SELECT json_array_elements_text($1::json)"))
                .bind::<diesel::sql_types::Text, _>(list)
                .load(pg)?
        }
        AnyConnection::Sqlite(lite) => {
            diesel::sql_query(query.replace("{ids}", "SELECT value FROM json_each(?)"))
                .bind::<diesel::sql_types::Text, _>(list)
                .load(lite)?
        }
    })
}

/// Every member of each of `companies`, with their user row (one statement).
pub fn members_of(
    conn: &mut AnyConnection,
    companies: &[CompanyId],
) -> Result<Vec<(MembershipRow, UserRow)>, StoreError> {
    let ids: Vec<DbUuid> = companies.iter().copied().map(Into::into).collect();
    Ok(memberships::table
        .inner_join(users::table)
        .filter(memberships::company_id.eq_any(ids))
        .select((MembershipRow::as_select(), UserRow::as_select()))
        .order((memberships::company_id, users::email))
        .load(conn)?)
}

pub fn find_membership(
    conn: &mut AnyConnection,
    user: UserId,
    company: CompanyId,
) -> Result<Option<MembershipRow>, StoreError> {
    Ok(memberships::table
        .filter(memberships::user_id.eq(DbUuid::from(user)))
        .filter(memberships::company_id.eq(DbUuid::from(company)))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()?)
}

/// Returns whether a membership was removed.
pub fn delete_membership(
    conn: &mut AnyConnection,
    user: UserId,
    company: CompanyId,
) -> Result<bool, StoreError> {
    let removed = diesel::delete(
        memberships::table
            .filter(memberships::user_id.eq(DbUuid::from(user)))
            .filter(memberships::company_id.eq(DbUuid::from(company))),
    )
    .execute(conn)?;
    Ok(removed == 1)
}

/// Returns whether the membership exists.
pub fn set_role(
    conn: &mut AnyConnection,
    user: UserId,
    company: CompanyId,
    role: RoleId,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        memberships::table
            .filter(memberships::user_id.eq(DbUuid::from(user)))
            .filter(memberships::company_id.eq(DbUuid::from(company))),
    )
    .set(memberships::role_id.eq(role.0))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The company fields a company admin may change; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = companies)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub agent_name: Option<String>,
    pub status: Option<bool>,
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
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update_company(
    conn: &mut AnyConnection,
    id: CompanyId,
    patch: &CompanyPatch,
) -> Result<bool, StoreError> {
    Ok(diesel::update(companies::table.find(DbUuid::from(id)))
        .set(patch)
        .execute(conn)?
        == 1)
}

/// Delete a company; memberships and invitations go with it (foreign keys cascade), and its
/// children lose their parent.
pub fn delete_company(conn: &mut AnyConnection, id: CompanyId) -> Result<bool, StoreError> {
    Ok(diesel::delete(companies::table.find(DbUuid::from(id))).execute(conn)? == 1)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = invitations)]
#[diesel(treat_none_as_default_value = false)]
pub struct InvitationRow {
    pub id: DbUuid,
    pub email: String,
    pub company_id: DbUuid,
    pub role_id: i32,
    pub inviter_id: Option<DbUuid>,
    pub is_accepted: bool,
    pub accepted_by: Option<DbUuid>,
    pub created_at: NaiveDateTime,
}

pub fn insert_invitation(conn: &mut AnyConnection, row: &InvitationRow) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(invitations::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn find_invitation(
    conn: &mut AnyConnection,
    id: DbUuid,
) -> Result<Option<InvitationRow>, StoreError> {
    Ok(invitations::table
        .find(id)
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The oldest unaccepted invitation for `email` (into `company`, when given).
pub fn pending_invitation(
    conn: &mut AnyConnection,
    email: &str,
    company: Option<CompanyId>,
) -> Result<Option<InvitationRow>, StoreError> {
    let mut query = invitations::table
        .filter(invitations::email.eq(email))
        .filter(invitations::is_accepted.eq(false))
        .select(InvitationRow::as_select())
        .order(invitations::created_at)
        .into_boxed();
    if let Some(company) = company {
        query = query.filter(invitations::company_id.eq(DbUuid::from(company)));
    }
    Ok(query.first(conn).optional()?)
}

/// Unaccepted invitations into `company`, oldest first.
pub fn pending_invitations_of(
    conn: &mut AnyConnection,
    company: CompanyId,
) -> Result<Vec<InvitationRow>, StoreError> {
    Ok(invitations::table
        .filter(invitations::company_id.eq(DbUuid::from(company)))
        .filter(invitations::is_accepted.eq(false))
        .select(InvitationRow::as_select())
        .order(invitations::created_at)
        .load(conn)?)
}

/// The unaccepted invitations addressed to `email`, oldest first.
pub fn pending_invitations_for(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Vec<InvitationRow>, StoreError> {
    Ok(invitations::table
        .filter(invitations::email.eq(email))
        .filter(invitations::is_accepted.eq(false))
        .select(InvitationRow::as_select())
        .order(invitations::created_at)
        .load(conn)?)
}

/// Mark accepted, unless it already was; returns whether this call accepted it.
pub fn accept_invitation(
    conn: &mut AnyConnection,
    id: DbUuid,
    user: UserId,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::is_accepted.eq(false)),
    )
    .set((
        invitations::is_accepted.eq(true),
        invitations::accepted_by.eq(Some(DbUuid::from(user))),
    ))
    .execute(conn)?
        == 1)
}

pub fn delete_invitation(conn: &mut AnyConnection, id: DbUuid) -> Result<bool, StoreError> {
    Ok(diesel::delete(invitations::table.find(id)).execute(conn)? == 1)
}

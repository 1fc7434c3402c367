//! Personal access tokens: rows and queries (values are never stored, only their SHA-256).

use agentry_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::personal_access_tokens as pat;
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = pat)]
#[diesel(treat_none_as_default_value = false)]
pub struct TokenRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub name: String,
    pub token_prefix: String,
    pub token_hash: String,
    pub scopes_json: String,
    pub agents_json: String,
    pub companies_json: String,
    pub expires_at: Option<NaiveDateTime>,
    pub is_revoked: bool,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_token(conn: &mut AnyConnection, row: &TokenRow) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(pat::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn find_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<TokenRow>, StoreError> {
    Ok(pat::table
        .filter(pat::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// The user's token with this id (another user's id finds nothing).
pub fn find_for_user(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(pat::table
        .find(id)
        .filter(pat::user_id.eq(DbUuid::from(user)))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn tokens_of(conn: &mut AnyConnection, user: UserId) -> Result<Vec<TokenRow>, StoreError> {
    Ok(pat::table
        .filter(pat::user_id.eq(DbUuid::from(user)))
        .select(TokenRow::as_select())
        .order(pat::created_at)
        .load(conn)?)
}

pub fn revoke(conn: &mut AnyConnection, id: DbUuid, at: NaiveDateTime) -> Result<bool, StoreError> {
    Ok(diesel::update(pat::table.find(id))
        .set((pat::is_revoked.eq(true), pat::updated_at.eq(at)))
        .execute(conn)?
        == 1)
}

/// A new value for the same token.
pub fn replace_value(
    conn: &mut AnyConnection,
    id: DbUuid,
    prefix: &str,
    hash: &str,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(pat::table.find(id))
        .filter(pat::is_revoked.eq(false))
        .set((
            pat::token_prefix.eq(prefix),
            pat::token_hash.eq(hash),
            pat::updated_at.eq(at),
        ))
        .execute(conn)?
        == 1)
}

pub fn touch(conn: &mut AnyConnection, id: DbUuid, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(pat::table.find(id))
        .set(pat::last_used_at.eq(at))
        .execute(conn)?;
    Ok(())
}

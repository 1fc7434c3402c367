//! Each user's prompts (the user tier over the built-in set). A user's prompts are read in
//! one statement; every write is one statement.

use agentry_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::prompts;
use crate::{AnyConnection, DbUuid, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = prompts)]
#[diesel(treat_none_as_default_value = false)]
pub struct PromptRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub category: String,
    pub name: String,
    pub description: String,
    pub content: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Every prompt of `user`, by category and name.
pub fn prompts_of(conn: &mut AnyConnection, user: UserId) -> Result<Vec<PromptRow>, StoreError> {
    Ok(prompts::table
        .filter(prompts::user_id.eq(DbUuid::from(user)))
        .select(PromptRow::as_select())
        .order((prompts::category, prompts::name))
        .load(conn)?)
}

/// Insert a prompt; `false` when the user already has one of that name in that category.
pub fn insert_prompt(conn: &mut AnyConnection, row: &PromptRow) -> Result<bool, StoreError> {
    match diesel::insert_into(prompts::table)
        .values(row)
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Replace a prompt's name and content; `Ok(None)` when the user has no such prompt,
/// `Ok(Some(false))` when the new name is taken in its category.
pub fn update_prompt(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
    name: &str,
    content: &str,
    at: NaiveDateTime,
) -> Result<Option<bool>, StoreError> {
    let updated = diesel::update(
        prompts::table
            .find(id)
            .filter(prompts::user_id.eq(DbUuid::from(user))),
    )
    .set((
        prompts::name.eq(name),
        prompts::content.eq(content),
        prompts::updated_at.eq(at),
    ))
    .execute(conn);
    match updated {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(true)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(Some(false)),
        Err(error) => Err(error.into()),
    }
}

/// Delete a prompt of `user`; whether there was one.
pub fn delete_prompt(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        prompts::table
            .find(id)
            .filter(prompts::user_id.eq(DbUuid::from(user))),
    )
    .execute(conn)?
        == 1)
}

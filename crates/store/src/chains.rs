//! Each user's chains, their steps and the responses of their runs. A user's chains and
//! steps are read in two statements; a chain's steps are replaced together (two).

use agentry_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{chain_responses, chain_steps, chains};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = chains)]
#[diesel(treat_none_as_default_value = false)]
pub struct ChainRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = chain_steps)]
#[diesel(treat_none_as_default_value = false)]
pub struct StepRow {
    pub chain_id: DbUuid,
    pub step_number: i32,
    pub agent_name: String,
    pub prompt_type: String,
    /// The step's JSON object.
    pub prompt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = chain_responses)]
#[diesel(treat_none_as_default_value = false)]
pub struct ResponseRow {
    pub id: DbUuid,
    pub chain_id: DbUuid,
    pub run_id: DbUuid,
    pub step_number: i32,
    pub content: String,
    pub created_at: NaiveDateTime,
}

fn unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// `user`'s chains by name, and all their steps in order: two statements.
pub fn chains_of(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<(Vec<ChainRow>, Vec<StepRow>), StoreError> {
    let rows: Vec<ChainRow> = chains::table
        .filter(chains::user_id.eq(DbUuid::from(user)))
        .select(ChainRow::as_select())
        .order(chains::name)
        .load(conn)?;
    let ids: Vec<DbUuid> = rows.iter().map(|row| row.id).collect();
    if ids.is_empty() {
        return Ok((rows, Vec::new()));
    }
    let steps = chain_steps::table
        .filter(chain_steps::chain_id.eq_any(ids))
        .select(StepRow::as_select())
        .order((chain_steps::chain_id, chain_steps::step_number))
        .load(conn)?;
    Ok((rows, steps))
}

/// Insert a chain; `false` when its owner already has one of that name.
pub fn insert_chain(conn: &mut AnyConnection, row: &ChainRow) -> Result<bool, StoreError> {
    match diesel::insert_into(chains::table).values(row).execute(conn) {
        Ok(_) => Ok(true),
        Err(error) if unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Rename and describe a chain of `user`: `None` when there is none, `Some(false)` when the
/// name is taken.
pub fn update_chain(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
    name: &str,
    description: &str,
    at: NaiveDateTime,
) -> Result<Option<bool>, StoreError> {
    let updated = diesel::update(
        chains::table
            .find(id)
            .filter(chains::user_id.eq(DbUuid::from(user))),
    )
    .set((
        chains::name.eq(name),
        chains::description.eq(description),
        chains::updated_at.eq(at),
    ))
    .execute(conn);
    match updated {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(true)),
        Err(error) if unique_violation(&error) => Ok(Some(false)),
        Err(error) => Err(error.into()),
    }
}

/// Mark a chain of `user` changed (and, on PostgreSQL, lock its row until the transaction
/// ends); whether there is one.
pub fn touch_chain(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        chains::table
            .find(id)
            .filter(chains::user_id.eq(DbUuid::from(user))),
    )
    .set(chains::updated_at.eq(at))
    .execute(conn)?
        == 1)
}

/// Delete a chain of `user` (its steps and responses with it); whether there was one.
pub fn delete_chain(
    conn: &mut AnyConnection,
    user: UserId,
    id: DbUuid,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        chains::table
            .find(id)
            .filter(chains::user_id.eq(DbUuid::from(user))),
    )
    .execute(conn)?
        == 1)
}

/// Replace a chain's steps with `steps` (two statements).
pub fn replace_steps(
    conn: &mut AnyConnection,
    chain: DbUuid,
    steps: &[StepRow],
) -> Result<(), StoreError> {
    diesel::delete(chain_steps::table.filter(chain_steps::chain_id.eq(chain))).execute(conn)?;
    if !steps.is_empty() {
        per_backend!(&mut *conn, |c| diesel::insert_into(chain_steps::table)
            .values(steps)
            .execute(c))?;
    }
    Ok(())
}

/// Record a run's responses (one statement per 500).
pub fn insert_responses(conn: &mut AnyConnection, rows: &[ResponseRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(500) {
        per_backend!(&mut *conn, |c| diesel::insert_into(chain_responses::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// The responses of a chain's latest run, by step (two statements; a nested chain's steps,
/// recorded under the same run, are its own chain's).
pub fn latest_responses(
    conn: &mut AnyConnection,
    chain: DbUuid,
) -> Result<Vec<ResponseRow>, StoreError> {
    let latest: Option<DbUuid> = chain_responses::table
        .filter(chain_responses::chain_id.eq(chain))
        .order(chain_responses::created_at.desc())
        .select(chain_responses::run_id)
        .first(conn)
        .optional()?;
    let Some(run) = latest else {
        return Ok(Vec::new());
    };
    Ok(chain_responses::table
        .filter(chain_responses::chain_id.eq(chain))
        .filter(chain_responses::run_id.eq(run))
        .select(ResponseRow::as_select())
        .order(chain_responses::step_number)
        .load(conn)?)
}

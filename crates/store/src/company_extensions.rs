//! A company's extension settings and command states: the layer between the server's
//! settings and each agent's. One statement per loader; values arrive already encrypted
//! where they are secrets.

use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::{company_commands, company_settings};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = company_settings)]
#[diesel(treat_none_as_default_value = false)]
pub struct CompanySettingRow {
    pub company_id: DbUuid,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = company_commands)]
#[diesel(treat_none_as_default_value = false)]
pub struct CompanyCommandRow {
    pub company_id: DbUuid,
    pub command: String,
    pub enabled: bool,
}

/// Rows per multi-row INSERT (far below both backends' bind-parameter limits).
const CHUNK: usize = 500;

/// The settings of `company`, one statement.
pub fn settings_of(
    conn: &mut AnyConnection,
    company: DbUuid,
) -> Result<Vec<CompanySettingRow>, StoreError> {
    Ok(company_settings::table
        .filter(company_settings::company_id.eq(company))
        .select(CompanySettingRow::as_select())
        .order(company_settings::name)
        .load(conn)?)
}

/// The command states of `company`, one statement.
pub fn commands_of(
    conn: &mut AnyConnection,
    company: DbUuid,
) -> Result<Vec<CompanyCommandRow>, StoreError> {
    Ok(company_commands::table
        .filter(company_commands::company_id.eq(company))
        .select(CompanyCommandRow::as_select())
        .order(company_commands::command)
        .load(conn)?)
}

/// Insert or replace settings (one statement per 500).
pub fn upsert_settings(
    conn: &mut AnyConnection,
    rows: &[CompanySettingRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        per_backend!(&mut *conn, |c| diesel::insert_into(company_settings::table)
            .values(chunk)
            .on_conflict((company_settings::company_id, company_settings::name))
            .do_update()
            .set(company_settings::value.eq(excluded(company_settings::value)))
            .execute(c))?;
    }
    Ok(())
}

/// Remove settings of `company` by name (one statement).
pub fn delete_settings(
    conn: &mut AnyConnection,
    company: DbUuid,
    names: &[String],
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    diesel::delete(
        company_settings::table
            .filter(company_settings::company_id.eq(company))
            .filter(company_settings::name.eq_any(names)),
    )
    .execute(conn)?;
    Ok(())
}

/// Insert or replace command states (one statement per 500).
pub fn upsert_commands(
    conn: &mut AnyConnection,
    rows: &[CompanyCommandRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        per_backend!(&mut *conn, |c| diesel::insert_into(company_commands::table)
            .values(chunk)
            .on_conflict((company_commands::company_id, company_commands::command))
            .do_update()
            .set(company_commands::enabled.eq(excluded(company_commands::enabled)))
            .execute(c))?;
    }
    Ok(())
}

//! Agents, their settings and their enabled commands. Loaders are set-at-a-time: a user's own
//! agents are one query, those shared with their companies another, and their settings and commands one query each whatever their
//! number. Setting values arrive already encrypted where they are secrets.

use agentry_domain::{CompanyId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::{agent_commands, agent_settings, agents};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = agents)]
#[diesel(treat_none_as_default_value = false)]
pub struct AgentRow {
    pub id: DbUuid,
    pub name: String,
    /// The owner.
    pub user_id: DbUuid,
    /// The company whose members see the agent when it is shared.
    pub company_id: Option<DbUuid>,
    pub shared: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_settings)]
#[diesel(treat_none_as_default_value = false)]
pub struct SettingRow {
    pub agent_id: DbUuid,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_commands)]
#[diesel(treat_none_as_default_value = false)]
pub struct CommandRow {
    pub agent_id: DbUuid,
    pub command: String,
    pub enabled: bool,
}

/// Rows per multi-row statement (well under SQLite's 32,766 bound parameters).
const CHUNK: usize = 500;

/// A new agent with its settings and commands: three multi-row statements. Run it in a
/// transaction; a second agent of the same owner and name is a unique violation (409).
pub fn insert_agent(
    conn: &mut AnyConnection,
    agent: &AgentRow,
    settings: &[SettingRow],
    commands: &[CommandRow],
) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(agents::table)
        .values(agent)
        .execute(c))?;
    upsert_settings(conn, settings)?;
    upsert_commands(conn, commands)?;
    Ok(())
}

/// How many agents `user` owns.
pub fn count_owned(conn: &mut AnyConnection, user: UserId) -> Result<i64, StoreError> {
    Ok(agents::table
        .filter(agents::user_id.eq(DbUuid::from(user)))
        .count()
        .get_result(conn)?)
}

/// The agents `user` owns, oldest first (one statement on the owner's index).
pub fn owned_agents(conn: &mut AnyConnection, user: UserId) -> Result<Vec<AgentRow>, StoreError> {
    Ok(agents::table
        .filter(agents::user_id.eq(DbUuid::from(user)))
        .select(AgentRow::as_select())
        .order((agents::created_at, agents::id))
        .load(conn)?)
}

/// The agents shared with the members of `companies`, oldest first (one statement on the
/// company index).
pub fn shared_agents(
    conn: &mut AnyConnection,
    companies: &[CompanyId],
) -> Result<Vec<AgentRow>, StoreError> {
    let companies: Vec<DbUuid> = companies.iter().copied().map(Into::into).collect();
    Ok(agents::table
        .filter(agents::shared.eq(true))
        .filter(agents::company_id.eq_any(companies))
        .select(AgentRow::as_select())
        .order((agents::created_at, agents::id))
        .load(conn)?)
}

pub fn find_agent(conn: &mut AnyConnection, id: DbUuid) -> Result<Option<AgentRow>, StoreError> {
    Ok(agents::table
        .find(id)
        .select(AgentRow::as_select())
        .first(conn)
        .optional()?)
}

/// `agent`'s row, locked until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's write
/// transactions run one at a time): what a write reads of its sharing stays true until it
/// commits.
pub fn lock_agent(conn: &mut AnyConnection, agent: DbUuid) -> Result<Option<AgentRow>, StoreError> {
    if let AnyConnection::Postgresql(pg) = conn {
        return Ok(agents::table
            .find(agent)
            .select(AgentRow::as_select())
            .for_update()
            .first(pg)
            .optional()?);
    }
    find_agent(conn, agent)
}

/// The settings of `agents`, one statement.
pub fn settings_of(
    conn: &mut AnyConnection,
    agents_: &[DbUuid],
) -> Result<Vec<SettingRow>, StoreError> {
    Ok(agent_settings::table
        .filter(agent_settings::agent_id.eq_any(agents_))
        .select(SettingRow::as_select())
        .order((agent_settings::agent_id, agent_settings::name))
        .load(conn)?)
}

/// The command states of `agents`, one statement.
pub fn commands_of(
    conn: &mut AnyConnection,
    agents_: &[DbUuid],
) -> Result<Vec<CommandRow>, StoreError> {
    Ok(agent_commands::table
        .filter(agent_commands::agent_id.eq_any(agents_))
        .select(CommandRow::as_select())
        .order((agent_commands::agent_id, agent_commands::command))
        .load(conn)?)
}

/// Insert or replace settings (one statement per 500).
pub fn upsert_settings(conn: &mut AnyConnection, rows: &[SettingRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        per_backend!(&mut *conn, |c| diesel::insert_into(agent_settings::table)
            .values(chunk)
            .on_conflict((agent_settings::agent_id, agent_settings::name))
            .do_update()
            .set(agent_settings::value.eq(excluded(agent_settings::value)))
            .execute(c))?;
    }
    Ok(())
}

/// Remove an agent's settings by name (one statement).
pub fn delete_settings(
    conn: &mut AnyConnection,
    agent: DbUuid,
    names: &[String],
) -> Result<(), StoreError> {
    if names.is_empty() {
        return Ok(());
    }
    diesel::delete(
        agent_settings::table
            .filter(agent_settings::agent_id.eq(agent))
            .filter(agent_settings::name.eq_any(names)),
    )
    .execute(conn)?;
    Ok(())
}

/// Insert or replace command states (one statement per 500).
pub fn upsert_commands(conn: &mut AnyConnection, rows: &[CommandRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        per_backend!(&mut *conn, |c| diesel::insert_into(agent_commands::table)
            .values(chunk)
            .on_conflict((agent_commands::agent_id, agent_commands::command))
            .do_update()
            .set(agent_commands::enabled.eq(excluded(agent_commands::enabled)))
            .execute(c))?;
    }
    Ok(())
}

/// Set the sharing columns (mirrors of the `shared` and `company_id` settings).
pub fn set_sharing(
    conn: &mut AnyConnection,
    agent: DbUuid,
    shared: bool,
    company: Option<DbUuid>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(agents::table.find(agent))
        .set((
            agents::shared.eq(shared),
            agents::company_id.eq(company),
            agents::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Rename; false when the agent is gone. A name the owner already uses is a unique violation.
pub fn rename_agent(
    conn: &mut AnyConnection,
    agent: DbUuid,
    name: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(agents::table.find(agent))
        .set((agents::name.eq(name), agents::updated_at.eq(now)))
        .execute(conn)?
        == 1)
}

/// Delete an agent; its settings and commands go with it (cascade).
pub fn delete_agent(conn: &mut AnyConnection, agent: DbUuid) -> Result<bool, StoreError> {
    Ok(diesel::delete(agents::table.find(agent)).execute(conn)? == 1)
}

/// The owners of the agents shared with `companies` and the members who see them are what a
/// sharing change touches; this lists the agents of `company` (shared or not).
pub fn agents_of_company(
    conn: &mut AnyConnection,
    company: CompanyId,
) -> Result<Vec<AgentRow>, StoreError> {
    Ok(agents::table
        .filter(agents::company_id.eq(DbUuid::from(company)))
        .select(AgentRow::as_select())
        .load(conn)?)
}

/// Agents by id (one statement).
pub fn find_agents(conn: &mut AnyConnection, ids: &[DbUuid]) -> Result<Vec<AgentRow>, StoreError> {
    Ok(agents::table
        .filter(agents::id.eq_any(ids))
        .select(AgentRow::as_select())
        .load(conn)?)
}

/// Many agents at once (one statement per 500; seeding and imports).
pub fn insert_agents(conn: &mut AnyConnection, rows: &[AgentRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        per_backend!(&mut *conn, |c| diesel::insert_into(agents::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

//! Accounts: registration in one transaction, lookups for login, preferences, revocation and
//! failed-login bookkeeping.

use agentry_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::identity::{
    NewCompany, NewMembership, NewUser, UserRow, insert_companies, insert_memberships, insert_users,
};
use crate::schema::{failed_logins, user_preferences, users};
use crate::{AnyConnection, DbUuid, StoreError, per_backend, write_transaction};

/// Everything registration writes, written together or not at all.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user: NewUser,
    pub company: Option<NewCompany>,
    pub membership: NewMembership,
    pub preferences: Vec<(String, Option<String>)>,
}

#[derive(Insertable)]
#[diesel(table_name = user_preferences)]
// One multi-row INSERT on SQLite too (diesel falls back to a statement per row otherwise).
#[diesel(treat_none_as_default_value = false)]
struct NewPreference<'a> {
    user_id: DbUuid,
    pref_key: &'a str,
    pref_value: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = failed_logins)]
#[diesel(treat_none_as_default_value = false)]
struct NewFailedLogin<'a> {
    id: DbUuid,
    user_id: DbUuid,
    ip_address: Option<&'a str>,
    created_at: NaiveDateTime,
}

/// Insert the user, their company (if any), the membership and the preferences in one
/// transaction.
pub fn create_account(conn: &mut AnyConnection, account: &NewAccount) -> Result<(), StoreError> {
    write_transaction(&mut *conn, |conn| {
        insert_users(conn, std::slice::from_ref(&account.user))?;
        if let Some(company) = &account.company {
            insert_companies(conn, std::slice::from_ref(company))?;
        }
        insert_memberships(conn, std::slice::from_ref(&account.membership))?;
        upsert_preferences(conn, account.user.id.into(), &account.preferences)?;
        Ok(())
    })
}

/// The user whose username is `login`, or whose email is `login` lowercased.
pub fn find_user_by_login(
    conn: &mut AnyConnection,
    login: &str,
) -> Result<Option<UserRow>, StoreError> {
    let email = login.trim().to_lowercase();
    Ok(users::table
        .filter(users::username.eq(login.trim()).or(users::email.eq(&email)))
        .select(UserRow::as_select())
        .order(users::created_at)
        .first(conn)
        .optional()?)
}

/// Whether an account, active or not, has this email (lowercased).
pub fn email_exists(conn: &mut AnyConnection, email: &str) -> Result<bool, StoreError> {
    let email = email.trim().to_lowercase();
    Ok(diesel::select(diesel::dsl::exists(
        users::table.filter(users::email.eq(&email)),
    ))
    .get_result(conn)?)
}

/// Usernames equal to `base` or starting with it (to pick a free `base`, `base1`, ...).
pub fn usernames_like(conn: &mut AnyConnection, base: &str) -> Result<Vec<String>, StoreError> {
    let pattern = format!(
        "{}%",
        base.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(users::table
        .filter(users::username.like(pattern).escape('\\'))
        .select(users::username.assume_not_null())
        .load(conn)?)
}

pub fn username_taken(
    conn: &mut AnyConnection,
    username: &str,
    except: Option<UserId>,
) -> Result<bool, StoreError> {
    let except = except.map(DbUuid::from).unwrap_or_default();
    Ok(diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::username.eq(username))
            .filter(users::id.ne(except)),
    ))
    .get_result(conn)?)
}

pub fn preferences_for(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    Ok(user_preferences::table
        .filter(user_preferences::user_id.eq(DbUuid::from(user)))
        .select((user_preferences::pref_key, user_preferences::pref_value))
        .order(user_preferences::pref_key)
        .load(conn)?)
}

/// Insert or replace preferences: one statement whatever their number.
pub fn upsert_preferences(
    conn: &mut AnyConnection,
    user: UserId,
    preferences: &[(String, Option<String>)],
) -> Result<usize, StoreError> {
    if preferences.is_empty() {
        return Ok(0);
    }
    let rows: Vec<NewPreference<'_>> = preferences
        .iter()
        .map(|(key, value)| NewPreference {
            user_id: user.into(),
            pref_key: key,
            pref_value: value.as_deref(),
        })
        .collect();
    Ok(per_backend!(&mut *conn, |c| diesel::insert_into(
        user_preferences::table
    )
    .values(&rows)
    .on_conflict((user_preferences::user_id, user_preferences::pref_key))
    .do_update()
    .set(user_preferences::pref_value.eq(excluded(user_preferences::pref_value)))
    .execute(c))?)
}

/// The columns `PUT /v1/user` may change; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub mfa_secret: Option<String>,
    pub mfa_enabled: Option<bool>,
    pub is_active: Option<bool>,
    pub tokens_valid_after: Option<NaiveDateTime>,
    pub last_seen: Option<NaiveDateTime>,
    /// `Some(None)` clears the recorded step (a new secret starts afresh).
    pub mfa_last_step: Option<Option<i64>>,
    pub updated_at: Option<NaiveDateTime>,
    /// `Some(0)` with `attempt_gate: Some(None)` clears the login throttle (a success).
    pub failed_attempts: Option<i32>,
    pub attempt_gate: Option<Option<NaiveDateTime>>,
}

impl UserPatch {
    /// A patch that clears the login throttle, as a successful check does.
    pub fn attempts_cleared() -> Self {
        Self {
            failed_attempts: Some(0),
            attempt_gate: Some(None),
            ..Self::default()
        }
    }
}

/// Apply a patch; returns whether the user exists.
pub fn update_user(
    conn: &mut AnyConnection,
    user: UserId,
    patch: &UserPatch,
) -> Result<bool, StoreError> {
    let changed = diesel::update(users::table.find(DbUuid::from(user)))
        .set(patch)
        .execute(conn)?;
    Ok(changed == 1)
}

/// Record the TOTP step just accepted, unless a later one is already recorded (two logins
/// racing with the same code: only one wins).
pub fn claim_mfa_step(
    conn: &mut AnyConnection,
    user: UserId,
    step: i64,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        users::table.find(DbUuid::from(user)).filter(
            users::mfa_last_step
                .is_null()
                .or(users::mfa_last_step.lt(step)),
        ),
    )
    .set(users::mfa_last_step.eq(step))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The instant before which this user's tokens are revoked, if any.
pub fn tokens_valid_after(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Option<Option<NaiveDateTime>>, StoreError> {
    Ok(users::table
        .find(DbUuid::from(user))
        .select(users::tokens_valid_after)
        .first(conn)
        .optional()?)
}

/// Claim the next counted check of `user`'s password or TOTP code: the count goes from
/// `seen` to `seen + 1` and the gate to `gate`, only if no other check claimed one since
/// `seen` was read and the current gate has passed at `now`. One statement, so concurrent
/// checks are counted one by one. Returns whether this call claimed it.
pub fn claim_attempt(
    conn: &mut AnyConnection,
    user: UserId,
    seen: i32,
    now: NaiveDateTime,
    gate: Option<NaiveDateTime>,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        users::table
            .find(DbUuid::from(user))
            .filter(users::failed_attempts.eq(seen))
            .filter(
                users::attempt_gate
                    .is_null()
                    .or(users::attempt_gate.le(now)),
            ),
    )
    .set((
        users::failed_attempts.eq(seen.saturating_add(1)),
        users::attempt_gate.eq(gate),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// `user`'s counted checks and gate, as they are now.
pub fn find_attempts(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Option<(i32, Option<NaiveDateTime>)>, StoreError> {
    Ok(users::table
        .find(DbUuid::from(user))
        .select((users::failed_attempts, users::attempt_gate))
        .first(conn)
        .optional()?)
}

/// Give back a claimed check that turned out not to be a guess: the count `claimed` set goes
/// back to `claimed - 1` and the gate to what it was before. When another check claimed
/// since, only the count goes down (the gate that check set stays).
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn give_back_attempt(
    conn: &mut AnyConnection,
    user: UserId,
    claimed: i32,
    previous_gate: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let user = DbUuid::from(user);
    let restored = diesel::update(
        users::table
            .find(user)
            .filter(users::failed_attempts.eq(claimed)),
    )
    .set((
        users::failed_attempts.eq(claimed - 1),
        users::attempt_gate.eq(previous_gate),
    ))
    .execute(conn)?;
    if restored == 0 {
        diesel::update(users::table.find(user).filter(users::failed_attempts.gt(0)))
            .set(users::failed_attempts.eq(users::failed_attempts - 1))
            .execute(conn)?;
    }
    Ok(())
}

/// A failed check, kept for the account's owner and operators: when and from where.
pub fn record_failed_login(
    conn: &mut AnyConnection,
    user: UserId,
    ip: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let row = NewFailedLogin {
        id: DbUuid::new(),
        user_id: user.into(),
        ip_address: ip,
        created_at: at,
    };
    per_backend!(&mut *conn, |c| diesel::insert_into(failed_logins::table)
        .values(&row)
        .execute(c))?;
    Ok(())
}

/// Lock `user`'s row until the transaction ends (PostgreSQL `FOR UPDATE`), so writes that
/// count what the user owns run one after another. SQLite's write transactions already do
/// (they begin IMMEDIATE), so there it reads nothing.
pub fn lock_user(conn: &mut AnyConnection, user: UserId) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(pg) = conn {
        let _locked: Vec<DbUuid> = users::table
            .find(DbUuid::from(user))
            .select(users::id)
            .for_update()
            .load(pg)?;
    }
    Ok(())
}

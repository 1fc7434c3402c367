//! Accounts: registration, login (with TOTP), the `/v1/user` view, profile updates, logout.

mod login;
mod register;
mod security;
mod view;

pub use view::{CachedView, CompanyView, RenderedView, UserView, UserViewOptions, etag_of};

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_auth::{password, totp};
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::AnyConnection;
use agentry_store::account::{self, NewAccount, UserPatch};
use agentry_store::companies;
use agentry_store::identity::{self, MembershipView, NewCompany, NewMembership, NewUser};
use serde_json::Value;

use agentry_domain::events::DomainEvent;

use crate::read_models::Through;
use crate::session::{Caller, naive_of, now_epoch};
use crate::{App, AppError};

/// The longest first or last name (they appear in every member list).
const MAX_NAME: usize = 256;
/// A well-formed hash verified when the login names nobody, so a miss costs what a wrong
/// password costs and timing does not reveal which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=65536,t=2,p=1$l90i/zIEXjzBaFrkDq2cWg$3eLOmYPPOV7GiyH1fJpqy3C0h/bqEaW0idavOrUr/tg";

pub use agentry_api::accounts::{
    LoggedIn, LoginRequest, MfaDisable, MfaSetup, PasswordChange, PasswordSet, Registered,
    Registration,
};

/// Accounts: registration, login, the profile, MFA, passwords, deactivation. A view of the
/// application's [`Context`](crate::Context), taken with
/// [`App::accounts`](crate::App::accounts).
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub(crate) app: &'a App,
}

fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The reference's company name for a new account.
fn company_name(organization: Option<&str>, first_name: &str) -> String {
    match (
        organization.map(str::trim).filter(|o| !o.is_empty()),
        first_name.trim(),
    ) {
        (Some(organization), _) => organization.to_owned(),
        (None, "") => "My Team".to_owned(),
        (None, first) if first.ends_with('s') => format!("{first}' Team"),
        (None, first) => format!("{first}'s Team"),
    }
}

fn digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

/// A free username from the email's local part: `base`, then `base1`, `base2`...
fn pick_username(conn: &mut AnyConnection, email: &str) -> Result<String, AppError> {
    let local = email.split('@').next().unwrap_or_default();
    let mut base: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .take(28)
        .collect();
    while base.chars().count() < 3 {
        base.push('_');
    }
    let taken = account::usernames_like(conn, &base)?;
    let free = std::iter::once(base.clone())
        .chain((1..).map(|n| format!("{base}{n}")))
        .find(|candidate| !taken.contains(candidate));
    free.ok_or_else(|| AppError::Internal("no free username".into()))
}

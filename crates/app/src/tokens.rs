//! Personal access tokens (reference auth-billing.md section 1.9): created with a subset of
//! the creator's scopes, listed without their values, revoked, regenerated, and accepted in
//! `Authorization` in place of a session token.

use agentry_auth::pat;
use agentry_domain::events::DomainEvent;
use agentry_domain::{AgentId, CompanyId, UserId};
use agentry_store::Uow;
use agentry_store::tokens::{self, TokenRow};
use agentry_store::{DbUuid, identity};
use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime};

use crate::session::{Caller, list_of, naive_of, now_epoch};
use crate::{App, AppError};

pub use agentry_api::tokens::{
    GrantableAgent, GrantableAgents, GrantableCompanies, GrantableCompany, GrantableScopes,
    NewTokenForm, TokenList, TokenView, ValidToken,
};

/// Personal access tokens. A view of the application's [`Context`](crate::Context), taken with
/// [`App::tokens`](crate::App::tokens).
#[derive(Clone, Copy)]
pub struct Tokens<'a> {
    pub(crate) app: &'a App,
}

fn view(row: &TokenRow, value: Option<String>) -> TokenView {
    TokenView {
        id: row.id.0.to_string(),
        name: row.name.clone(),
        token: value,
        token_prefix: row.token_prefix.clone(),
        scopes: list_of(&row.scopes_json),
        agent_ids: list_of(&row.agents_json),
        company_ids: list_of(&row.companies_json),
        expires_at: row.expires_at,
        is_revoked: row.is_revoked,
        last_used_at: row.last_used_at,
        created_at: row.created_at,
    }
}

/// The furthest a token's expiry may lie ahead (ten years): beyond it a date is a mistake
/// or a probe, and far dates overflow other systems' date types.
const MAX_EXPIRY_DAYS: i64 = 3_650;

/// `1_day`, `7_days`, `30_days`, `90_days`, `1_year`, `never` or an ISO date or date-time
/// within [`MAX_EXPIRY_DAYS`].
fn expiry(text: Option<&str>, now: NaiveDateTime) -> Result<Option<NaiveDateTime>, AppError> {
    let days = |d| Ok(now.checked_add_signed(ChronoDuration::days(d)));
    match text.map(str::trim) {
        None | Some("never") | Some("") => Ok(None),
        Some("1_day") => days(1),
        Some("7_days") => days(7),
        Some("30_days") => days(30),
        Some("90_days") => days(90),
        Some("1_year") => days(365),
        Some(other) => {
            let parsed = chrono::DateTime::parse_from_rfc3339(other)
                .map(|at| at.naive_utc())
                .or_else(|_| NaiveDateTime::parse_from_str(other, "%Y-%m-%dT%H:%M:%S"))
                .or_else(|_| {
                    NaiveDate::parse_from_str(other, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                });
            match parsed {
                Ok(at)
                    if now
                        .checked_add_signed(ChronoDuration::days(MAX_EXPIRY_DAYS))
                        .is_none_or(|latest| at > latest) =>
                {
                    Err(AppError::BadRequest(format!(
                        "Invalid expiration: {other} (at most {MAX_EXPIRY_DAYS} days ahead, or \"never\")"
                    )))
                }
                Ok(at) if at > now => Ok(Some(at)),
                _ => Err(AppError::BadRequest(format!("Invalid expiration: {other}"))),
            }
        }
    }
}

fn not_found() -> AppError {
    AppError::NotFound("Token not found".into())
}

impl Tokens<'_> {
    /// `POST /v1/api-keys`: a token granting some of the caller's own scopes (in their
    /// current company), limited to some of their companies and agents if asked.
    pub fn create_token(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: NewTokenForm,
    ) -> Result<TokenView, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "apikeys:write")?;
        caller.require_session()?;
        let name = form.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::Invalid {
                field: "name".into(),
                message: "a token name has 1 to 100 characters".into(),
            });
        }
        let access = self.app.sessions().caller_access(uow, caller)?;
        for scope in &form.scopes {
            if !agentry_domain::scope::is_well_formed(scope) {
                return Err(AppError::Invalid {
                    field: "scopes".into(),
                    message: format!("{scope:?} is not a scope name"),
                });
            }
            // Personal scopes are the caller's own to give; any other must be held.
            if !agentry_domain::scope::is_personal(scope) && !access.allows(None, scope) {
                return Err(AppError::Forbidden(format!(
                    "Cannot grant scope '{scope}' - you don't have this permission"
                )));
            }
        }
        let mut companies = Vec::new();
        for id in &form.company_ids {
            let company: CompanyId = crate::forms::parse_id(id, "Company")?;
            if !access.is_member(company) {
                return Err(AppError::NotFound("Company not found".into()));
            }
            companies.push(company.to_string());
        }
        // Only agents the caller sees (an unknown, foreign or unshared one is 404).
        let mut agents: Vec<String> = Vec::new();
        for id in &form.agent_ids {
            let agent: AgentId = id.trim().parse().map_err(|_| crate::agents::not_found())?;
            let view = self
                .app
                .agents()
                .visible_agent(uow, caller, &agent.to_string())?;
            if !agents.contains(&view.id.to_string()) {
                agents.push(view.id.to_string());
            }
        }
        let now = naive_of(now_epoch());
        let expires_at = expiry(form.expiration.as_deref(), now)?;
        let (value, prefix, hash) = pat::generate();
        let row = TokenRow {
            id: DbUuid::new(),
            user_id: caller.user.into(),
            name: name.to_owned(),
            token_prefix: prefix,
            token_hash: hash,
            scopes_json: serde_json::to_string(&form.scopes).unwrap_or_else(|_| "[]".into()),
            agents_json: serde_json::to_string(&agents).unwrap_or_else(|_| "[]".into()),
            companies_json: serde_json::to_string(&companies).unwrap_or_else(|_| "[]".into()),
            expires_at,
            is_revoked: false,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        self.app.write(uow, |work| {
            tokens::insert_token(work.conn(), &row)?;
            work.record(DomainEvent::PersonalTokenCreated {
                user: caller.user,
                token: row.id.0.to_string(),
                token_hash: row.token_hash.clone(),
            });
            Ok(())
        })?;
        Ok(view(&row, Some(value)))
    }

    pub fn list_tokens(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Vec<TokenView>, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "apikeys:read")?;
        let conn = uow.conn()?;
        Ok(tokens::tokens_of(conn, caller.user)?
            .iter()
            .map(|row| view(row, None))
            .collect())
    }

    fn own_token(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<TokenRow, AppError> {
        let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
        let conn = uow.conn()?;
        tokens::find_for_user(conn, caller.user, DbUuid(id))?.ok_or_else(not_found)
    }

    pub fn get_token(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<TokenView, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "apikeys:read")?;
        Ok(view(&self.own_token(uow, caller, id)?, None))
    }

    /// `DELETE /v1/api-keys/{id}`: soft revoke; returns the token's name.
    pub fn revoke_token(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "apikeys:delete")?;
        let row = self.own_token(uow, caller, id)?;
        self.app.write(uow, |work| {
            // Revoking a revoked token changes nothing, and records nothing.
            if tokens::revoke(work.conn(), row.id, naive_of(now_epoch()))? {
                work.record(DomainEvent::PersonalTokenRevoked {
                    user: caller.user,
                    token_hash: row.token_hash,
                });
            }
            Ok(())
        })?;
        Ok(row.name)
    }

    /// `POST /v1/api-keys/{id}/regenerate`: a new value for the same grant; the old one dies.
    /// Like creating one, it needs a session: a token must not mint the value of another,
    /// wider one.
    pub fn regenerate_token(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<TokenView, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "apikeys:write")?;
        caller.require_session()?;
        let mut row = self.own_token(uow, caller, id)?;
        if row.is_revoked {
            // A revoked grant stays revoked; create a new token instead.
            return Err(AppError::BadRequest("Token has been revoked".into()));
        }
        let (value, prefix, hash) = pat::generate();
        let old = std::mem::replace(&mut row.token_hash, hash);
        self.app.write(uow, |work| {
            let replaced = tokens::replace_value(
                work.conn(),
                row.id,
                &prefix,
                &row.token_hash,
                naive_of(now_epoch()),
            )?;
            if !replaced {
                // Revoked meanwhile: the new value is not stored, so it is not handed out.
                return Err(AppError::BadRequest("Token has been revoked".into()));
            }
            work.record(DomainEvent::PersonalTokenRevoked {
                user: caller.user,
                token_hash: old,
            });
            Ok(())
        })?;
        row.token_prefix = prefix;
        row.is_revoked = false;
        Ok(view(&row, Some(value)))
    }

    /// `POST /v1/api-keys/validate?token=`: whether a token is usable, and for whom.
    pub fn validate_token(
        &self,
        uow: &mut Uow<'_>,
        value: &str,
    ) -> Result<(UserId, Vec<String>), AppError> {
        let caller = self.app.sessions().authenticate(uow, Some(value))?;
        let grant = caller
            .token
            .ok_or_else(|| AppError::Unauthorized("Invalid token".into()))?;
        Ok((
            caller.user,
            grant.scopes.iter().map(str::to_owned).collect(),
        ))
    }

    /// `GET /v1/api-keys/available/scopes`: the catalog's scopes the caller may grant (those
    /// they hold in their current company), and their names by category.
    pub fn grantable_scopes(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<GrantableScopes, AppError> {
        caller.require("apikeys:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let mut categories: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut scopes = Vec::new();
        for scope in &self.app.catalog.scopes {
            if access.allows(None, &scope.name) {
                scopes.push(scope.name.clone());
                categories
                    .entry(scope.category.clone())
                    .or_default()
                    .push(scope.name.clone());
            }
        }
        // A session may give its tokens its personal scopes; a token, those it holds.
        for scope in agentry_domain::scope::PERSONAL_SCOPES {
            if caller.may(scope.name) {
                scopes.push(scope.name.to_owned());
                categories
                    .entry(scope.category.to_owned())
                    .or_default()
                    .push(scope.name.to_owned());
            }
        }
        Ok(GrantableScopes { scopes, categories })
    }

    /// `GET /v1/api-keys/available/agents`: the agents a token may be limited to (those the
    /// caller sees), as `{id, name, is_owner, company_id}`.
    pub fn grantable_agents(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<GrantableAgents, AppError> {
        caller.require("apikeys:read")?;
        let agents = self
            .app
            .agents()
            .visible_entries(uow, caller)?
            .into_iter()
            .map(|a| GrantableAgent {
                id: a.id,
                name: a.name,
                is_owner: a.is_owner,
                company_id: a.company_id,
            })
            .collect();
        Ok(GrantableAgents { agents })
    }

    /// `GET /v1/api-keys/available/companies`: the companies a token may be limited to.
    pub fn grantable_companies(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<GrantableCompanies, AppError> {
        caller.require("apikeys:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let conn = uow.conn()?;
        let companies = identity::memberships_for(conn, caller.user)?
            .into_iter()
            .filter(|view| access.is_member(view.company.id.into()))
            .map(|view| GrantableCompany {
                id: view.company.id.into(),
                name: view.company.name,
                role_id: view.role.id,
            })
            .collect();
        Ok(GrantableCompanies { companies })
    }
}

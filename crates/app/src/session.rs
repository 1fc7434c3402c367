//! Who is calling: the token checked in memory, revocation ("tokens issued before T are
//! void", per user) held in memory and read from the database once per user.

use agentry_domain::events::DomainEvent;
use std::time::{SystemTime, UNIX_EPOCH};

use agentry_auth::token::{Claims, TokenError};
use std::sync::Arc;

use agentry_domain::{AgentId, CompanyId, ScopeSet, UserId};
use agentry_store::Uow;
use agentry_store::account;
use agentry_store::tokens;
use agentry_store::{DbUuid, identity};
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::AppError;
use crate::access::Sessions;
use crate::read_models::Through;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user: UserId,
    pub email: String,
    /// The token's `iat` (a personal access token's creation), seconds since the epoch.
    pub issued_at: f64,
    /// Set when the caller used a personal access token: its scopes replace the roles'.
    pub token: Option<std::sync::Arc<TokenGrant>>,
}

impl Caller {
    /// Whether the caller's credential grants `scope` by itself: a session grants every
    /// scope (its roles decide the company scopes), a personal access token what it was
    /// given (personal scopes only by name).
    pub fn may(&self, scope: &str) -> bool {
        self.token.as_ref().is_none_or(|grant| grant.allows(scope))
    }

    /// 403 unless the caller signed in: a personal access token cannot change what guards
    /// the account (MFA, passwords, deactivation, new tokens).
    pub fn require_session(&self) -> Result<(), AppError> {
        if self.token.is_some() {
            return Err(AppError::Forbidden(
                "This needs a signed-in session, not a personal access token".into(),
            ));
        }
        Ok(())
    }

    /// [`Caller::may`], or 403 naming the scope.
    pub fn require(&self, scope: &str) -> Result<(), AppError> {
        if self.may(scope) {
            Ok(())
        } else {
            Err(AppError::insufficient(scope))
        }
    }
}

pub(crate) fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) fn epoch_of(at: NaiveDateTime) -> f64 {
    at.and_utc().timestamp_micros() as f64 / 1e6
}

pub(crate) fn naive_of(epoch: f64) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp_micros((epoch * 1e6) as i64)
        .unwrap_or_default()
        .naive_utc()
}

const INVALID: &str = "Invalid API Key";
const REVOKED: &str = "Token has been revoked. Please log in again.";

/// The outcome of the in-memory check.
pub enum Verified {
    Caller(Caller),
    /// The signature is good but this process has not yet read the user's revocation state.
    NeedsLookup(Claims, UserId),
    /// A personal access token this process has not read yet (by hash).
    NeedsTokenLookup(String),
}

impl Sessions<'_> {
    /// Issue a token for a user, `iat` now.
    pub(crate) fn issue_token(&self, user: UserId, email: &str) -> Result<String, AppError> {
        let now = now_epoch();
        let claims = Claims {
            sub: user.to_string(),
            email: email.to_owned(),
            admin: false,
            exp: (now + self.app.settings.token_ttl.as_secs_f64()) as i64,
            iat: now,
        };
        self.app
            .tokens
            .issue(&claims)
            .map_err(|error| AppError::Internal(format!("cannot sign a token: {error}")))
    }

    /// Check a token without touching the database: the signature, the expiry, and the
    /// revocation instant when this process knows it.
    pub fn verify_token(&self, header: Option<&str>) -> Result<Verified, AppError> {
        let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
            return Err(AppError::Unauthorized(
                "Authorization header is missing".into(),
            ));
        };
        let bare = agentry_auth::token::strip_bearer(header);
        if bare.starts_with(agentry_auth::pat::PREFIX) {
            if !agentry_auth::pat::looks_like_token(bare) {
                return Err(AppError::Unauthorized("Token not found".into()));
            }
            let hash = agentry_auth::pat::hash(bare);
            // Both the token and its owner's revocation instant must be held, or the slow
            // path (on the blocking pool) reads them.
            let held = self.cached_token(&hash).and_then(|entry| {
                let valid_after = match entry.as_ref() {
                    Some(token) => *self.app.revocations.get(&token.user)?,
                    None => f64::NEG_INFINITY,
                };
                Some((entry, valid_after))
            });
            return match held {
                Some((entry, valid_after)) => {
                    self.admit_token(&entry, valid_after).map(Verified::Caller)
                }
                None => Ok(Verified::NeedsTokenLookup(hash)),
            };
        }
        let claims = self
            .app
            .tokens
            .verify(header)
            .map_err(|error| match error {
                TokenError::Expired | TokenError::Invalid => AppError::Unauthorized(INVALID.into()),
            })?;
        let user: UserId = claims
            .sub
            .parse()
            .map_err(|_| AppError::Unauthorized(INVALID.into()))?;
        match self.app.revocations.get(&user) {
            Some(valid_after) => Ok(Verified::Caller(self.admit(&claims, user, *valid_after)?)),
            None => Ok(Verified::NeedsLookup(claims, user)),
        }
    }

    /// The full check: in memory, or with one read of the user's revocation state.
    pub fn authenticate(
        &self,
        uow: &mut Uow<'_>,
        header: Option<&str>,
    ) -> Result<Caller, AppError> {
        let verified = self.verify_token(header)?;
        // Inside a unit of work the held revocation instants and tokens are not trusted (a
        // step before may have revoked them): the slow half reads them through the handle.
        let verified = match verified {
            Verified::Caller(caller) if uow.in_work() => match caller.token.as_deref() {
                Some(_) => Verified::NeedsTokenLookup(agentry_auth::pat::hash(
                    agentry_auth::token::strip_bearer(header.unwrap_or_default()),
                )),
                None => {
                    let claims = self
                        .app
                        .tokens
                        .verify(header.unwrap_or_default())
                        .map_err(|_| AppError::Unauthorized(INVALID.into()))?;
                    Verified::NeedsLookup(claims, caller.user)
                }
            },
            other => other,
        };
        match verified {
            Verified::Caller(caller) => Ok(caller),
            Verified::NeedsLookup(claims, user) => self.lookup_and_admit(uow, &claims, user),
            Verified::NeedsTokenLookup(hash) => self.lookup_token(uow, &hash),
        }
    }

    /// The slow half for personal access tokens: read the token and its owner's revocation
    /// instant when not held, then admit it.
    pub fn lookup_token(&self, uow: &mut Uow<'_>, hash: &str) -> Result<Caller, AppError> {
        let entry = match self.app.personal_tokens.held(uow, &hash.to_owned()) {
            Some(entry) => entry,
            None => self.load_token(uow, hash)?,
        };
        let valid_after = match entry.as_ref() {
            Some(token) => self.valid_after(uow, token.user)?,
            None => f64::NEG_INFINITY,
        };
        self.admit_token(&entry, valid_after)
    }

    /// The user's revocation instant, read (one statement) when not held. The read is
    /// ticketed: if a revocation lands meanwhile, the value serves this request but is not
    /// kept.
    fn valid_after(&self, uow: &mut Uow<'_>, user: UserId) -> Result<f64, AppError> {
        let value = self.app.revocations.load(uow, &user, |uow| {
            let conn = uow.conn()?;
            Ok::<_, AppError>(match account::tokens_valid_after(conn, user)? {
                None => f64::INFINITY,
                Some(None) => f64::NEG_INFINITY,
                Some(Some(at)) => epoch_of(at),
            })
        })?;
        Ok(*value)
    }

    fn admit_token(
        &self,
        entry: &Option<TokenEntry>,
        valid_after: f64,
    ) -> Result<Caller, AppError> {
        let entry = entry
            .as_ref()
            .ok_or_else(|| AppError::Unauthorized("Token not found".into()))?;
        if entry.revoked {
            return Err(AppError::Unauthorized("Token has been revoked".into()));
        }
        if entry.expires_at.is_some_and(|at| at <= now_epoch()) {
            return Err(AppError::Unauthorized("Token has expired".into()));
        }
        // The owner's revocation instant applies too (password change, deactivation).
        if valid_after == f64::INFINITY {
            return Err(AppError::Unauthorized("Token not found".into()));
        }
        if entry.created_at < valid_after {
            return Err(AppError::Unauthorized("Token has been revoked".into()));
        }
        Ok(Caller {
            user: entry.user,
            email: entry.email.clone(),
            issued_at: entry.created_at,
            token: Some(std::sync::Arc::clone(&entry.grant)),
        })
    }

    /// The slow half of [`Sessions::authenticate`], for callers that ran [`Sessions::verify_token`].
    pub fn lookup_and_admit(
        &self,
        uow: &mut Uow<'_>,
        claims: &Claims,
        user: UserId,
    ) -> Result<Caller, AppError> {
        let valid_after = self.valid_after(uow, user)?;
        self.admit(claims, user, valid_after)
    }

    fn admit(&self, claims: &Claims, user: UserId, valid_after: f64) -> Result<Caller, AppError> {
        if valid_after == f64::INFINITY {
            return Err(AppError::Unauthorized(INVALID.into()));
        }
        if claims.iat < valid_after {
            return Err(AppError::Unauthorized(REVOKED.into()));
        }
        Ok(Caller {
            user,
            email: claims.email.clone(),
            issued_at: claims.iat,
            token: None,
        })
    }

    /// Void every token of `user` issued until now (logout, password change, deactivation).
    pub(crate) fn revoke_tokens(&self, uow: &mut Uow<'_>, user: UserId) -> Result<(), AppError> {
        let now = now_epoch();
        let patch = account::UserPatch {
            tokens_valid_after: Some(naive_of(now)),
            updated_at: Some(naive_of(now)),
            ..Default::default()
        };
        self.write_user(uow, user, &patch, Some(now))?;
        Ok(())
    }

    /// Write `patch` to `user` as one unit of work recording `UserUpdated`, and
    /// `TokensRevoked` when the patch moves the revocation instant to `revoked_at` (epoch
    /// seconds; the patch's `tokens_valid_after` in the same statement). False when there is
    /// no such user (nothing recorded).
    pub(crate) fn write_user(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        patch: &account::UserPatch,
        revoked_at: Option<f64>,
    ) -> Result<bool, AppError> {
        self.app.write(uow, |work| {
            if !account::update_user(work.conn(), user, patch)? {
                return Ok(false);
            }
            work.record(DomainEvent::UserUpdated { user });
            if let Some(at) = revoked_at {
                work.record(DomainEvent::TokensRevoked { user, at });
            }
            Ok(true)
        })
    }
}

/// What a token grants, attached to its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    pub id: DbUuid,
    pub scopes: ScopeSet,
    /// The companies it reaches; all of the user's when empty.
    pub companies: Vec<CompanyId>,
    /// The agents it reaches; every agent the user sees when empty.
    pub agents: Vec<AgentId>,
}

impl TokenGrant {
    /// Whether the grant narrows what its user sees (to some companies or agents).
    pub fn is_limited(&self) -> bool {
        !self.companies.is_empty() || !self.agents.is_empty()
    }

    /// Whether the token itself grants `scope`: a personal scope only by name, any other
    /// through the token's patterns. (The owner's role limits it further where a company's
    /// scope is asked: `Access::allows`.)
    pub fn allows(&self, scope: &str) -> bool {
        if agentry_domain::scope::is_personal(scope) {
            self.scopes.iter().any(|held| held == scope)
        } else {
            self.scopes.allows(scope)
        }
    }
}

/// A token as the cache holds it (`None`: no such token).
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub user: UserId,
    pub email: String,
    pub created_at: f64,
    pub expires_at: Option<f64>,
    pub revoked: bool,
    pub grant: Arc<TokenGrant>,
}

impl Sessions<'_> {
    /// The cached entry for a token hash, if this process has it.
    pub(crate) fn cached_token(&self, hash: &str) -> Option<Arc<Option<TokenEntry>>> {
        self.app.personal_tokens.get(&hash.to_owned())
    }

    /// Read a token by hash (and its owner's email), caching the answer, and mark it used.
    pub(crate) fn load_token(
        &self,
        uow: &mut Uow<'_>,
        hash: &str,
    ) -> Result<Arc<Option<TokenEntry>>, AppError> {
        let key = hash.to_owned();
        let ticket = self.app.personal_tokens.ticket();
        let conn = uow.conn()?;
        let entry = match tokens::find_by_hash(conn, hash)? {
            None => None,
            Some(row) => {
                let user: UserId = row.user_id.into();
                let email = identity::find_user(conn, user)?
                    .map(|u| u.email)
                    .unwrap_or_default();
                tokens::touch(conn, row.id, naive_of(now_epoch()))?;
                // A list that does not parse whole must not read as "unlimited".
                let companies: Option<Vec<CompanyId>> = ids_of(&row.companies_json);
                let agents: Option<Vec<AgentId>> = ids_of(&row.agents_json);
                let (Some(companies), Some(agents)) = (companies, agents) else {
                    tracing::warn!(token = %row.id.0, "a token's stored limits do not parse; refused");
                    return Ok(self.app.personal_tokens.keep(uow, key, ticket, None));
                };
                Some(TokenEntry {
                    user,
                    email,
                    created_at: epoch_of(row.created_at),
                    expires_at: row.expires_at.map(epoch_of),
                    revoked: row.is_revoked,
                    grant: Arc::new(TokenGrant {
                        id: row.id,
                        scopes: ScopeSet::new(list_of(&row.scopes_json)),
                        companies,
                        agents,
                    }),
                })
            }
        };
        Ok(self.app.personal_tokens.keep(uow, key, ticket, entry))
    }
}

pub(crate) fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// A stored list of ids, each of which must parse (`None` otherwise).
pub(crate) fn ids_of<T: std::str::FromStr>(json: &str) -> Option<Vec<T>> {
    serde_json::from_str::<Vec<String>>(json)
        .ok()?
        .iter()
        .map(|id| id.parse().ok())
        .collect()
}

//! Accounts: registration, login (with TOTP), the `/v1/user` view, profile updates, logout.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_auth::{password, totp};
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::AnyConnection;
use agentry_store::account::{self, NewAccount, UserPatch};
use agentry_store::companies;
use agentry_store::identity::{self, MembershipView, NewCompany, NewMembership, NewUser};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use agentry_domain::events::DomainEvent;

use crate::session::{Caller, naive_of, now_epoch};
use crate::{App, AppError};

/// The longest first or last name (they appear in every member list).
const MAX_NAME: usize = 256;
/// A well-formed hash verified when the login names nobody, so a miss costs what a wrong
/// password costs and timing does not reveal which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=65536,t=2,p=1$l90i/zIEXjzBaFrkDq2cWg$3eLOmYPPOV7GiyH1fJpqy3C0h/bqEaW0idavOrUr/tg";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub confirm_password: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub organization_name: Option<String>,
    #[serde(default)]
    pub invitation_id: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub tos_accepted: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub otp_uri: String,
    pub magic_link: String,
    pub token: String,
    pub user_id: UserId,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedIn {
    pub detail: &'static str,
    pub token: String,
    pub user_id: UserId,
    pub email: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MfaSetup {
    pub provisioning_uri: String,
    pub secret: String,
    pub mfa_enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MfaDisable {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
    pub confirm_password: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordSet {
    pub new_password: String,
    pub confirm_password: String,
}

/// A response body and its ETag.
#[derive(Debug, Clone)]
pub struct RenderedView {
    pub body: Arc<str>,
    pub etag: Arc<str>,
}

/// The full view of a user (every scope), and its rendering.
#[derive(Debug)]
pub struct CachedView {
    view: UserView,
    full: RenderedView,
    /// Some company of the user, or a parent of one, holds tokens (the paywall's question).
    has_balance: bool,
}

impl CachedView {
    /// Roughly what it holds in memory: the rendering and the view it was made of (about
    /// as large again).
    pub(crate) fn weight(&self) -> usize {
        2 * self.full.body.len() + 256
    }
}

fn rendered(view: &UserView) -> RenderedView {
    RenderedView {
        body: serde_json::to_string(view).unwrap_or_default().into(),
        etag: view.etag().into(),
    }
}

/// The requested variant of a cached view: the full one as kept, or one with scopes dropped
/// (light mode) or filtered.
fn render(
    cached: &CachedView,
    options: &UserViewOptions,
    grant: Option<&crate::tokens::TokenGrant>,
) -> RenderedView {
    let filter: Vec<&str> = options
        .scope_filter
        .as_deref()
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let show_scopes = !options.light || options.include_scopes;
    let limited = grant.filter(|g| g.is_limited());
    if show_scopes && filter.is_empty() && limited.is_none() {
        return cached.full.clone();
    }
    let mut view = cached.view.clone();
    // Through a token limited to some companies or agents: only those.
    if let Some(grant) = limited {
        if !grant.companies.is_empty() {
            view.companies.retain(|c| grant.companies.contains(&c.id));
        }
        if !grant.agents.is_empty() {
            let reached = |agent: &Value| {
                agent["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .is_some_and(|id| grant.agents.contains(&id))
            };
            for company in &mut view.companies {
                company.agents.retain(reached);
            }
        }
    }
    for company in &mut view.companies {
        company.scopes = if show_scopes {
            company
                .scopes
                .take()
                .map(|scopes| filtered(scopes, &filter))
        } else {
            None
        };
    }
    rendered(&view)
}

/// Keep the scopes that cover one of `filter` (`*` and `res:*` count as covering).
fn filtered(scopes: Vec<String>, filter: &[&str]) -> Vec<String> {
    scopes
        .into_iter()
        .filter(|held| {
            let set = agentry_domain::ScopeSet::new([held.as_str()]);
            filter.iter().any(|wanted| set.allows(wanted))
        })
        .collect()
}

/// `GET /v1/user` query options.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserViewOptions {
    #[serde(default)]
    pub light: bool,
    #[serde(default)]
    pub include_scopes: bool,
    #[serde(default)]
    pub scope_filter: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompanyView {
    pub id: CompanyId,
    /// The parent company, if any.
    pub company_id: Option<CompanyId>,
    pub name: String,
    pub agent_name: String,
    pub status: bool,
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
    pub user_limit: i32,
    pub token_balance: i64,
    pub token_balance_usd: f64,
    pub tokens_used_total: i64,
    pub role_id: RoleId,
    pub primary: bool,
    pub agents: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    pub sort_order: Option<i32>,
}

/// The `/v1/user` response: the user, their companies, and every preference spread at the
/// top level (string values, as the reference stores them).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub last_seen: Option<NaiveDateTime>,
    pub status_text: Option<String>,
    pub tos_accepted_at: Option<NaiveDateTime>,
    pub companies: Vec<CompanyView>,
    #[serde(flatten)]
    pub preferences: BTreeMap<String, Value>,
}

impl UserView {
    /// The reference's ETag: SHA-256 of a canonical JSON of the user's identity, companies,
    /// ToS acceptance and preferences.
    pub fn etag(&self) -> String {
        let canonical = serde_json::json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "companies": self.companies,
            "tos_accepted_at": self.tos_accepted_at,
            "preferences": self.preferences,
        });
        format!("\"{}\"", hex::encode(Sha256::digest(canonical.to_string())))
    }
}

/// A strong ETag for a rendered body: the quoted hex SHA-256 of its bytes.
pub fn etag_of(body: &str) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())))
}

/// Keys of the view itself, which a preference may not shadow.
const VIEW_KEYS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "username",
    "avatar_url",
    "last_seen",
    "status_text",
    "tos_accepted_at",
    "companies",
];
/// Preferences the view never shows (reference section 2.1).
const HIDDEN_PREFERENCES: &[&str] = &["verify_email", "email", "first_name", "last_name"];
/// Keys `PUT /v1/user` drops silently (reference section 2.2).
const IGNORED_UPDATE_KEYS: &[&str] = &["subscription", "email", "input_tokens", "output_tokens"];

fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(crate) fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c == ',')
                && email.len() <= 254
        }
        None => false,
    }
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

impl App {
    /// `POST /v1/user`: a new account, its company (role 2, or 0 for `SUPERADMIN_EMAIL`),
    /// a TOTP secret, and a token.
    pub fn register(&self, form: Registration) -> Result<Registered, AppError> {
        let email = form.email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(AppError::Invalid {
                field: "email".into(),
                message: "value is not a valid email address".into(),
            });
        }
        for (field, name) in [
            ("first_name", &form.first_name),
            ("last_name", &form.last_name),
        ] {
            if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
                return Err(AppError::Invalid {
                    field: field.into(),
                    message: format!("at most {MAX_NAME} characters"),
                });
            }
        }
        password::check_new(&form.password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        let mut conn = self.conn()?;
        if account::email_exists(&mut conn, &email)? {
            return Err(AppError::BadRequest(
                "User with this email already exists.".into(),
            ));
        }
        let invalid_invitation = || AppError::BadRequest("Invalid invitation".into());
        // The invitation named in the body must be a pending one for this email.
        let named = form
            .invitation_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let invitation = match named {
            Some(id) => {
                let id = uuid::Uuid::parse_str(id).map_err(|_| invalid_invitation())?;
                let row = companies::find_invitation(&mut conn, agentry_store::DbUuid(id))?
                    .filter(|row| row.email == email && !row.is_accepted)
                    .ok_or_else(invalid_invitation)?;
                Some(row)
            }
            // Without a name, an ordinary sign-up: a pending invitation for the address
            // never captures it (the invitee accepts by naming it, here or later).
            None => None,
        };
        let username = match form
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(name) if !valid_username(name) => {
                return Err(AppError::BadRequest(
                    "Username must be 3-32 characters of letters, digits, '_', '.' or '-'".into(),
                ));
            }
            Some(name) if account::username_taken(&mut conn, name, None)? => {
                return Err(AppError::Conflict("Username already taken".into()));
            }
            Some(name) => name.to_owned(),
            None => pick_username(&mut conn, &email)?,
        };
        // The slow part (argon2, ~0.1 s) holds no connection.
        drop(conn);
        let password_hash = self.hasher.hash(&form.password)?;
        let secret = totp::new_secret();

        let now = naive_of(now_epoch());
        let first_name = form.first_name.unwrap_or_default().trim().to_owned();
        let user_id = UserId::new();
        let company_id = CompanyId::new();
        let role = if self.settings.superadmin_email.as_deref() == Some(email.as_str()) {
            RoleId::SUPER_ADMIN
        } else {
            RoleId::COMPANY_ADMIN
        };
        let (company_id, role) = match &invitation {
            Some(row) => (CompanyId::from(row.company_id), RoleId(row.role_id)),
            None => (company_id, role),
        };
        let mut preferences = vec![
            (
                "timezone".to_owned(),
                Some(form.timezone.unwrap_or_else(|| "UTC".into())),
            ),
            ("input_tokens".to_owned(), Some("0".to_owned())),
            ("output_tokens".to_owned(), Some("0".to_owned())),
            (
                "verify_email".to_owned(),
                Some(invitation.is_some().to_string()),
            ),
            ("onboarding_completed".to_owned(), Some("false".to_owned())),
        ];
        if let Some(phone) = form
            .phone_number
            .as_deref()
            .map(digits)
            .filter(|p| !p.is_empty())
        {
            preferences.push(("phone_number".to_owned(), Some(phone)));
        }
        let new_account = NewAccount {
            user: NewUser {
                id: user_id.into(),
                email: email.clone(),
                username: Some(username.clone()),
                password_hash: Some(password_hash),
                first_name: first_name.clone(),
                last_name: form.last_name.unwrap_or_default().trim().to_owned(),
                mfa_secret: Some(secret.clone()),
                tos_accepted_at: form.tos_accepted.unwrap_or(false).then_some(now),
                created_at: now,
                updated_at: now,
            },
            // An invitee joins the inviting company and gets none of their own.
            company: invitation.is_none().then(|| NewCompany {
                id: company_id.into(),
                parent_id: None,
                name: company_name(form.organization_name.as_deref(), &first_name),
                agent_name: "AGiXT".into(),
                created_at: now,
                updated_at: now,
            }),
            membership: NewMembership::new(user_id, company_id, role, now),
            preferences,
        };
        let first_agent_name = new_account
            .company
            .as_ref()
            .map_or_else(|| "AGiXT".to_owned(), |c| c.agent_name.clone());
        let mut conn = self.conn()?;
        let created = self.write(&mut conn, |work| {
            let conn = work.conn();
            account::create_account(conn, &new_account)?;
            if let Some(row) = &invitation {
                // Another registration may have taken this invitation meanwhile.
                if !companies::accept_invitation(conn, row.id, user_id)? {
                    return Err(invalid_invitation());
                }
            }
            // The user's first agent, named as their company names its agents.
            let mut settings = agentry_domain::agent::default_settings(None);
            work.record(DomainEvent::UserRegistered { user: user_id });
            self.insert_agent_in(
                work,
                user_id,
                &first_agent_name,
                &mut settings,
                Some(company_id),
                &BTreeMap::new(),
            )
        });
        match created {
            // Another registration won the race for this email or username.
            Err(AppError::Store(error)) if error.is_conflict() => {
                return Err(AppError::Conflict(
                    "User with this email or username already exists.".into(),
                ));
            }
            other => {
                other?;
            }
        }

        let token = self.issue_token(user_id, &email)?;
        Ok(Registered {
            otp_uri: totp::provisioning_uri(&secret, &self.settings.app_name, &email)
                .unwrap_or_default(),
            magic_link: format!("{}?token={token}", self.settings.app_uri),
            token,
            user_id,
            username,
        })
    }

    /// `POST /v1/login`: username or email, password, and the TOTP code when MFA is on. Each
    /// check is an attempt of the login throttle, per account and per client address.
    pub fn login(&self, form: LoginRequest, ip: Option<&str>) -> Result<LoggedIn, AppError> {
        if let Some(address) = ip {
            self.addresses.check(address)?;
        }
        let outcome = self.login_checked(form, ip);
        // A wrong name, password or code counts against the address.
        if let (Some(address), Err(AppError::Unauthorized(_))) = (ip, &outcome) {
            self.addresses.failed(&self.settings.throttle, address);
        }
        outcome
    }

    fn login_checked(&self, form: LoginRequest, ip: Option<&str>) -> Result<LoggedIn, AppError> {
        let invalid = || AppError::Unauthorized("Invalid username or password".into());
        // The slot before the claim: a 503 for want of one counts against nobody.
        let slot = self.hash_slot()?;
        let mut conn = self.conn()?;
        let Some(user) = account::find_user_by_login(&mut conn, &form.username)? else {
            drop(conn);
            slot.verify(&form.password, DUMMY_HASH);
            return Err(invalid());
        };
        let user_id: UserId = user.id.into();
        let Some(stored) = user.password_hash.as_deref() else {
            return Err(AppError::Unauthorized(
                "Password login not available. Please use magic link or set a password.".into(),
            ));
        };
        let claim = self.claim_attempt(&mut conn, &user)?;
        drop(conn);
        let matches = slot.verify(&form.password, stored);
        drop(slot);
        let mut conn = self.conn()?;
        let now = now_epoch();
        if !matches {
            account::record_failed_login(&mut conn, user_id, ip, naive_of(now))?;
            return Err(invalid());
        }
        // The password is right: what follows refuses for other reasons than a guess.
        let refund = |conn: &mut AnyConnection, refusal: AppError| {
            self.give_back(conn, claim)?;
            Err(refusal)
        };
        if !user.is_active {
            return refund(
                &mut conn,
                AppError::Forbidden(
                    "Account is not active. Please complete payment or contact support.".into(),
                ),
            );
        }
        if user.mfa_enabled {
            let code = form.mfa_token.as_deref().map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return refund(&mut conn, AppError::MfaRequired);
            }
            if let Err(refusal) = self.accept_code(&mut conn, &user, code) {
                account::record_failed_login(&mut conn, user_id, ip, naive_of(now))?;
                return Err(refusal);
            }
        } else if identity::memberships_for(&mut conn, user_id)?
            .iter()
            .any(|view| view.company.mfa_required)
        {
            return refund(&mut conn, AppError::MfaSetupRequired);
        }
        let patch = UserPatch {
            last_seen: Some(naive_of(now)),
            ..UserPatch::attempts_cleared()
        };
        // The view shows `last_seen`.
        self.write_user(&mut conn, user_id, &patch, None)?;
        Ok(LoggedIn {
            detail: "Login successful",
            token: self.issue_token(user_id, &user.email)?,
            user_id,
            email: user.email,
            username: user.username,
        })
    }

    /// `GET /v1/user`, from the cached full view when this process holds it (no I/O), or
    /// `None` when a read is needed.
    pub fn cached_user_view(
        &self,
        caller: &Caller,
        options: &UserViewOptions,
    ) -> Option<Result<RenderedView, AppError>> {
        if let Err(refused) = caller.require("account:read") {
            return Some(Err(refused));
        }
        let cached = self.user_views.get(&caller.user)?;
        // Before the paywall: a subscriber without tokens passes once the check has run.
        self.request_subscription_check(caller);
        if self.settings.billing.enabled()
            && !cached.has_balance
            && self.cached_access(caller.user).is_none()
        {
            // The paywall needs the caller's access, which this process does not hold yet.
            return None;
        }
        Some(
            self.paywall(caller, cached.has_balance, agentry_billing::Gate::Account)
                .map(|()| render(&cached, options, caller.token.as_deref())),
        )
    }

    /// `GET /v1/user`: the full view is read once (4 statements) and kept until a write that
    /// touches the user, their memberships or their companies invalidates it.
    pub fn user_view(
        &self,
        caller: &Caller,
        options: &UserViewOptions,
    ) -> Result<RenderedView, AppError> {
        caller.require("account:read")?;
        self.request_subscription_check(caller);
        let cached = self
            .user_views
            .get_or_load(&caller.user, || self.load_user_view(caller.user))?;
        self.paywall(caller, cached.has_balance, agentry_billing::Gate::Account)?;
        Ok(render(&cached, options, caller.token.as_deref()))
    }

    /// Whether some company of the caller (or a parent of one) holds tokens, from the
    /// caller's view (read when not held).
    pub(crate) fn user_view_has_balance(&self, caller: &Caller) -> Result<bool, AppError> {
        let cached = self
            .user_views
            .get_or_load(&caller.user, || self.load_user_view(caller.user))?;
        Ok(cached.has_balance)
    }

    /// The caller's preferences as `GET /v1/user` spreads them (from the held view).
    pub(crate) fn user_view_preferences(
        &self,
        caller: &Caller,
    ) -> Result<BTreeMap<String, Value>, AppError> {
        let cached = self
            .user_views
            .get_or_load(&caller.user, || self.load_user_view(caller.user))?;
        Ok(cached.view.preferences.clone())
    }

    fn load_user_view(&self, user_id: UserId) -> Result<CachedView, AppError> {
        let mut conn = self.conn()?;
        let user = identity::find_user(&mut conn, user_id)?
            .ok_or_else(|| AppError::NotFound("User not found".into()))?;
        let preferences = account::preferences_for(&mut conn, user_id)?;
        let memberships = identity::memberships_for(&mut conn, user_id)?;
        // The paywall counts parents' balances too: one statement per level of parents (at
        // most 8).
        // A company with an active auto top-up subscription passes too: its invoices refill it.
        let mut has_balance = memberships
            .iter()
            .any(|m| m.company.token_balance > 0 || m.company.subscription_active);
        let mut parents: Vec<CompanyId> = memberships
            .iter()
            .filter_map(|m| m.company.parent_id.map(Into::into))
            .collect();
        // Only the paywall asks, and only with billing on.
        for _ in 0..8 {
            if !self.settings.billing.enabled() || has_balance || parents.is_empty() {
                break;
            }
            let rows = companies::companies_by_ids(&mut conn, &parents)?;
            has_balance = rows
                .iter()
                .any(|c| c.token_balance > 0 || c.subscription_active);
            parents = rows
                .iter()
                .filter_map(|c| c.parent_id.map(Into::into))
                .collect();
        }
        // The agents each company lists: one statement.
        let company_ids: Vec<CompanyId> = memberships
            .iter()
            .map(|m| CompanyId::from(m.company.id))
            .collect();
        let preferred = preferences
            .iter()
            .find(|(key, _)| key == "agent_id")
            .and_then(|(_, value)| value.clone());
        let mut agents =
            self.agents_for_view(&mut conn, user_id, &company_ids, preferred.as_deref())?;
        drop(conn);

        let primary = crate::access::primary(&memberships);
        let companies = memberships
            .into_iter()
            .map(|view| {
                let scopes = Some(crate::access::effective_scopes(&view));
                let listed = agents
                    .remove(&CompanyId::from(view.company.id))
                    .unwrap_or_default();
                let mut company = company_view(view, primary, scopes);
                company.agents = listed;
                company
            })
            .collect();
        let mut spread: BTreeMap<String, Value> = preferences
            .into_iter()
            .filter(|(key, _)| {
                !HIDDEN_PREFERENCES.contains(&key.as_str()) && !VIEW_KEYS.contains(&key.as_str())
            })
            .map(|(key, value)| (key, value.map_or(Value::Null, Value::String)))
            .collect();
        for key in ["input_tokens", "output_tokens"] {
            spread.entry(key.to_owned()).or_insert(Value::from(0));
        }
        spread
            .entry("phone_number".to_owned())
            .or_insert(Value::String(String::new()));
        let view = UserView {
            id: user_id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            username: user.username,
            avatar_url: user.avatar_url,
            last_seen: user.last_seen,
            status_text: user.status_text,
            tos_accepted_at: user.tos_accepted_at,
            companies,
            preferences: spread,
        };
        Ok(CachedView {
            full: rendered(&view),
            view,
            has_balance,
        })
    }

    /// `PUT /v1/user`: names and username to columns, anything else to preferences.
    pub fn update_user(&self, caller: &Caller, body: &Value) -> Result<(), AppError> {
        caller.require("account:write")?;
        let Some(fields) = body.as_object() else {
            return Err(AppError::Invalid {
                field: "body".into(),
                message: "expected a JSON object".into(),
            });
        };
        let mut patch = UserPatch::default();
        let mut preferences = Vec::new();
        for (key, value) in fields {
            if IGNORED_UPDATE_KEYS.contains(&key.as_str()) {
                continue;
            }
            let text = match value {
                Value::Null => None,
                Value::String(text) => Some(text.clone()),
                other => Some(other.to_string()),
            };
            match key.as_str() {
                "first_name" | "last_name"
                    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_NAME) =>
                {
                    return Err(AppError::Invalid {
                        field: key.clone(),
                        message: format!("at most {MAX_NAME} characters"),
                    });
                }
                "first_name" => patch.first_name = Some(text.unwrap_or_default()),
                "last_name" => patch.last_name = Some(text.unwrap_or_default()),
                "username" => patch.username = text,
                key if key.is_empty() || key.len() > 64 => {
                    return Err(AppError::BadRequest(format!(
                        "Preference names must be 1-64 characters: `{key}`"
                    )));
                }
                key if ["password", "api_key", "_secret"]
                    .iter()
                    .any(|s| key.contains(s)) =>
                {
                    // The reference encrypts these; Agentry has no encrypted preference
                    // store yet, and will not keep them in clear.
                    return Err(AppError::BadRequest(format!(
                        "`{key}` looks like a secret; secret preferences are not supported yet"
                    )));
                }
                "phone_number" => {
                    preferences.push((key.to_owned(), text.as_deref().map(digits)));
                }
                key => preferences.push((key.to_owned(), text)),
            }
        }
        let mut conn = self.conn()?;
        if let Some(username) = patch.username.as_deref() {
            if !valid_username(username) {
                return Err(AppError::BadRequest(
                    "Username must be 3-32 characters of letters, digits, '_', '.' or '-'".into(),
                ));
            }
            if account::username_taken(&mut conn, username, Some(caller.user))? {
                return Err(AppError::Conflict("Username is already taken.".into()));
            }
        }
        // What the user would hold after the change, within the limits.
        let stored: Vec<(String, String)> = account::preferences_for(&mut conn, caller.user)?
            .into_iter()
            .map(|(key, value)| (key, value.unwrap_or_default()))
            .collect();
        let before: std::collections::BTreeMap<&str, &str> = stored
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut after = before.clone();
        for (key, value) in &preferences {
            after.insert(key, value.as_deref().unwrap_or_default());
        }
        self.settings.limits.check("preferences", &before, &after)?;
        patch.updated_at = Some(naive_of(now_epoch()));
        let user = caller.user;
        let result = self.write(&mut conn, |work| {
            let conn = work.conn();
            if !account::update_user(conn, user, &patch)? {
                return Err(AppError::NotFound("User not found".into()));
            }
            account::upsert_preferences(conn, user, &preferences)?;
            work.record(DomainEvent::UserUpdated { user });
            Ok(())
        });
        match result {
            Err(AppError::Store(error)) if error.is_conflict() => {
                Err(AppError::Conflict("Username is already taken.".into()))
            }
            other => other,
        }
    }

    /// Account security (MFA, passwords, deactivation, new tokens) needs a session: a
    /// personal access token cannot change what guards the account.
    pub(crate) fn require_session(caller: &Caller) -> Result<(), AppError> {
        if caller.token.is_some() {
            return Err(AppError::Forbidden(
                "This needs a signed-in session, not a personal access token".into(),
            ));
        }
        Ok(())
    }

    fn load_user(
        &self,
        conn: &mut AnyConnection,
        user: UserId,
    ) -> Result<agentry_store::identity::UserRow, AppError> {
        identity::find_user(conn, user)?.ok_or_else(|| AppError::NotFound("User not found".into()))
    }

    fn provisioning_uri(&self, secret: &str, email: &str) -> String {
        totp::provisioning_uri(secret, &self.settings.app_name, email).unwrap_or_default()
    }

    /// Check a TOTP code for `user` and record its step, so it cannot be used again.
    fn accept_code(
        &self,
        conn: &mut AnyConnection,
        user: &agentry_store::identity::UserRow,
        code: &str,
    ) -> Result<(), AppError> {
        let invalid = || AppError::Unauthorized("Invalid MFA token".into());
        let secret = user.mfa_secret.as_deref().ok_or_else(invalid)?;
        let step = totp::verify(secret, code, now_epoch() as u64, user.mfa_last_step)
            .ok_or_else(invalid)?;
        if account::claim_mfa_step(conn, user.id.into(), step)? {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// `GET /v1/user/mfa/setup`: the secret to enrol (made if the user has none).
    pub fn mfa_setup(&self, caller: &Caller) -> Result<MfaSetup, AppError> {
        Self::require_session(caller)?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        if user.mfa_enabled {
            // The secret is only shown while enrolling.
            return Err(AppError::BadRequest("MFA is already enabled".into()));
        }
        let secret = match user.mfa_secret {
            Some(secret) => secret,
            None => {
                let secret = totp::new_secret();
                let patch = UserPatch {
                    mfa_secret: Some(secret.clone()),
                    mfa_last_step: Some(None),
                    ..Default::default()
                };
                self.write_user(&mut conn, caller.user, &patch, None)?;
                secret
            }
        };
        Ok(MfaSetup {
            provisioning_uri: self.provisioning_uri(&secret, &user.email),
            secret,
            mfa_enabled: user.mfa_enabled,
        })
    }

    /// `POST /v1/user/mfa/enable`: a valid current code turns MFA on.
    pub fn mfa_enable(&self, caller: &Caller, code: &str) -> Result<(), AppError> {
        Self::require_session(caller)?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        if user.mfa_secret.is_none() {
            return Err(AppError::BadRequest(
                "MFA is not set up. Call /v1/user/mfa/setup first.".into(),
            ));
        }
        if user.mfa_enabled {
            return Err(AppError::BadRequest("MFA is already enabled".into()));
        }
        // A right code proves nothing about the password: it only gives its own claim back.
        let claim = self.claim_attempt(&mut conn, &user)?;
        self.accept_code(&mut conn, &user, code)?;
        self.give_back(&mut conn, claim)?;
        let patch = UserPatch {
            mfa_enabled: Some(true),
            ..Default::default()
        };
        self.write_user(&mut conn, caller.user, &patch, None)?;
        Ok(())
    }

    /// `POST /v1/user/mfa/disable`: needs a valid code, and the password when one is set.
    pub fn mfa_disable(&self, caller: &Caller, form: &MfaDisable) -> Result<(), AppError> {
        Self::require_session(caller)?;
        let slot = self.hash_slot()?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        if !user.mfa_enabled {
            return Err(AppError::BadRequest("MFA is not enabled".into()));
        }
        let code = form.mfa_token.as_deref().map(str::trim).unwrap_or_default();
        if code.is_empty() {
            return Err(AppError::BadRequest("MFA token is required".into()));
        }
        let given = form.password.as_deref().unwrap_or_default();
        if user.password_hash.is_some() && given.is_empty() {
            return Err(AppError::BadRequest("Password is required".into()));
        }
        // The password and the code are one attempt of the login throttle.
        let claim = self.claim_attempt(&mut conn, &user)?;
        if let Some(stored) = user.password_hash.as_deref() {
            drop(conn);
            let matches = slot.verify(given, stored);
            conn = self.conn()?;
            if !matches {
                account::record_failed_login(&mut conn, caller.user, None, naive_of(now_epoch()))?;
                return Err(AppError::Unauthorized("Invalid password".into()));
            }
        }
        drop(slot);
        self.accept_code(&mut conn, &user, code)?;
        // A verified password clears the count; a code alone only gives its claim back.
        let patch = if user.password_hash.is_some() {
            UserPatch::attempts_cleared()
        } else {
            self.give_back(&mut conn, claim)?;
            UserPatch::default()
        };
        let patch = UserPatch {
            mfa_enabled: Some(false),
            ..patch
        };
        self.write_user(&mut conn, caller.user, &patch, None)?;
        Ok(())
    }

    /// `POST /v1/user/mfa/reset`: a new secret; returns its `otpauth://` URI. With MFA on, a
    /// valid current code is required, so a stolen session cannot take the account over.
    pub fn mfa_reset(&self, caller: &Caller, code: Option<&str>) -> Result<String, AppError> {
        Self::require_session(caller)?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        if user.mfa_enabled {
            let code = code.map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return Err(AppError::BadRequest(
                    "MFA is enabled: send the current code as mfa_token".into(),
                ));
            }
            let claim = self.claim_attempt(&mut conn, &user)?;
            self.accept_code(&mut conn, &user, code)?;
            self.give_back(&mut conn, claim)?;
        }
        let secret = totp::new_secret();
        let patch = UserPatch {
            mfa_secret: Some(secret.clone()),
            mfa_last_step: Some(None),
            ..Default::default()
        };
        self.write_user(&mut conn, caller.user, &patch, None)?;
        Ok(self.provisioning_uri(&secret, &user.email))
    }

    /// `POST /v1/user/password/change`: every token issued before the change is revoked; the
    /// caller gets a fresh one.
    pub fn change_password(
        &self,
        caller: &Caller,
        form: &PasswordChange,
    ) -> Result<String, AppError> {
        Self::require_session(caller)?;
        password::check_new(&form.new_password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        // One slot for the check and the new hash, taken before anything is counted.
        let slot = self.hash_slot()?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        let Some(stored) = user.password_hash.as_deref() else {
            return Err(AppError::BadRequest(
                "No password is set. Use /v1/user/password/set.".into(),
            ));
        };
        // An attempt of the login throttle, so a session cannot guess the password either.
        self.claim_attempt(&mut conn, &user)?;
        drop(conn);
        if !slot.verify(&form.current_password, stored) {
            let mut conn = self.conn()?;
            account::record_failed_login(&mut conn, caller.user, None, naive_of(now_epoch()))?;
            return Err(AppError::Unauthorized(
                "Current password is incorrect".into(),
            ));
        }
        let hash = slot.hash(&form.new_password)?;
        drop(slot);
        let mut conn = self.conn()?;
        // The new hash and the revocation in one statement: never one without the other.
        let now = now_epoch();
        let patch = UserPatch {
            password_hash: Some(hash),
            tokens_valid_after: Some(naive_of(now)),
            updated_at: Some(naive_of(now)),
            ..UserPatch::attempts_cleared()
        };
        self.write_user(&mut conn, caller.user, &patch, Some(now))?;
        // Issued after the revocation instant, so it survives it.
        self.issue_token(caller.user, &user.email)
    }

    /// `POST /v1/user/password/set`: only for accounts without a password; gives them a
    /// username if they have none. Returns the username.
    pub fn set_password(&self, caller: &Caller, form: &PasswordSet) -> Result<String, AppError> {
        Self::require_session(caller)?;
        password::check_new(&form.new_password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        let mut conn = self.conn()?;
        let user = self.load_user(&mut conn, caller.user)?;
        if user.password_hash.is_some() {
            return Err(AppError::BadRequest(
                "A password is already set. Use /v1/user/password/change.".into(),
            ));
        }
        let username = match user.username {
            Some(name) => name,
            None => pick_username(&mut conn, &user.email)?,
        };
        drop(conn);
        let hash = self.hasher.hash(&form.new_password)?;
        let mut conn = self.conn()?;
        let patch = UserPatch {
            password_hash: Some(hash),
            username: Some(username.clone()),
            updated_at: Some(naive_of(now_epoch())),
            ..Default::default()
        };
        // The view shows the username.
        self.write_user(&mut conn, caller.user, &patch, None)?;
        Ok(username)
    }

    /// `DELETE /v1/user`: deactivate the account (the reference's soft delete) and revoke
    /// every token.
    pub fn deactivate(&self, caller: &Caller) -> Result<(), AppError> {
        Self::require_session(caller)?;
        let mut conn = self.conn()?;
        // Deactivation and revocation in one statement.
        let now = now_epoch();
        let patch = UserPatch {
            is_active: Some(false),
            tokens_valid_after: Some(naive_of(now)),
            updated_at: Some(naive_of(now)),
            ..Default::default()
        };
        if !self.write_user(&mut conn, caller.user, &patch, Some(now))? {
            return Err(AppError::NotFound("User not found".into()));
        }
        Ok(())
    }

    /// `agentry admin promote EMAIL`: role 0 in the user's current company.
    pub fn promote_super_admin(&self, email: &str) -> Result<UserId, AppError> {
        let email = email.trim().to_lowercase();
        let mut conn = self.conn()?;
        let user = account::find_user_by_login(&mut conn, &email)?
            .filter(|user| user.email == email)
            .ok_or_else(|| AppError::NotFound(format!("No account has the email {email}")))?;
        let user_id: UserId = user.id.into();
        let views = identity::memberships_for(&mut conn, user_id)?;
        let company = crate::access::primary(&views)
            .ok_or_else(|| AppError::BadRequest(format!("{email} belongs to no company")))?;
        self.write(&mut conn, |work| {
            if !companies::set_role(work.conn(), user_id, company.into(), RoleId::SUPER_ADMIN)? {
                return Err(AppError::NotFound(format!("{email} belongs to no company")));
            }
            work.record(DomainEvent::AccessChanged {
                user: user_id,
                company: Some(company.into()),
            });
            Ok(())
        })?;
        Ok(user_id)
    }

    /// `GET /v1/user/exists`: whether an account has this email.
    pub fn user_exists(&self, email: &str) -> Result<bool, AppError> {
        let mut conn = self.conn()?;
        Ok(account::email_exists(&mut conn, email)?)
    }

    /// `POST /v1/logout`: void every token of the caller issued until now. That ends every
    /// session and personal access token of the account, so it needs a session.
    pub fn logout(&self, caller: &Caller) -> Result<(), AppError> {
        Self::require_session(caller)?;
        let mut conn = self.conn()?;
        self.revoke_tokens(&mut conn, caller.user)
    }
}

fn company_view(
    view: MembershipView,
    primary: Option<agentry_store::DbUuid>,
    scopes: Option<Vec<String>>,
) -> CompanyView {
    let company = view.company;
    CompanyView {
        primary: primary == Some(company.id),
        id: company.id.into(),
        company_id: company.parent_id.map(Into::into),
        name: company.name,
        agent_name: company.agent_name,
        status: company.status,
        address: company.address,
        phone_number: company.phone_number,
        email: company.email,
        website: company.website,
        city: company.city,
        state: company.state,
        zip_code: company.zip_code,
        country: company.country,
        notes: company.notes,
        icon_url: company.icon_url,
        user_limit: company.user_limit,
        token_balance: company.token_balance,
        token_balance_usd: company.token_balance_usd,
        tokens_used_total: company.tokens_used_total,
        role_id: RoleId(view.role.id),
        agents: Vec::new(),
        scopes,
        sort_order: view.membership.sort_order,
    }
}

//! The user's own view (`GET /v1/user`, cached with its ETag) and its update (`PUT /v1/user`).

use std::sync::PoisonError;

use agentry_store::Uow;

use super::*;
use crate::agents::ListParts;
use crate::billing::{Balance, Balances};
use crate::companies::Profile;

/// A response body and its ETag.
#[derive(Debug, Clone)]
pub struct RenderedView {
    pub body: Arc<str>,
    pub etag: Arc<str>,
}

/// The full view of a user (every scope), balances and agents aside: they change with every
/// charge and with every agent change, and come from their own read models (balances keyed
/// by company, agent lists by owner and company), merged at each request.
#[derive(Debug)]
pub struct CachedView {
    view: UserView,
    /// The view's companies, in its order (whose shared agents it lists).
    companies: Vec<CompanyId>,
    /// The companies whose balance opens the paywall for the user: the roots of theirs
    /// (`companies::payers`), read only with billing on.
    payers: Vec<CompanyId>,
    /// The view's companies and the payers, once each.
    wanted: Vec<CompanyId>,
    /// The full rendering and the balances and agent lists it shows: rendered again only
    /// when one of them was refilled since (the models hand out a new value after each
    /// change).
    full: std::sync::Mutex<Option<Memo>>,
    weight: usize,
}

#[derive(Debug)]
struct Memo {
    balances: Vec<Option<Arc<Balance>>>,
    agents: ListParts,
    profile: Arc<Profile>,
    rendering: RenderedView,
}

impl CachedView {
    /// Roughly what it holds in memory: the rendering and the view it was made of (about
    /// as large again).
    pub(crate) fn weight(&self) -> usize {
        self.weight
    }

    /// The view's companies (whose shared agents it lists).
    pub(crate) fn companies(&self) -> &[CompanyId] {
        &self.companies
    }

    /// The companies whose balances the view shows or the paywall reads.
    pub(crate) fn balances_wanted(&self) -> &[CompanyId] {
        &self.wanted
    }

    /// Whether a company that pays for one of the user's holds tokens (the paywall's
    /// question).
    pub(crate) fn has_balance(&self, balances: &Balances) -> bool {
        self.payers
            .iter()
            .any(|payer| balances.get(payer).is_some_and(|b| b.passes()))
    }

    /// The balances of the view's companies, in its order.
    fn shown(&self, balances: &Balances) -> Vec<Option<Arc<Balance>>> {
        self.view
            .companies
            .iter()
            .map(|c| balances.get(&c.id).cloned())
            .collect()
    }
}

/// `view` showing `balances` (in the order of its companies; a missing one stays as read),
/// the agents `agents` lists in each company and the last-seen instant of `profile`.
fn assembled(
    view: &UserView,
    balances: &[Option<Arc<Balance>>],
    agents: &ListParts,
    profile: &Profile,
) -> UserView {
    let mut view = view.clone();
    view.last_seen = profile.last_seen;
    let mut listed = agents.by_company();
    for (company, balance) in view.companies.iter_mut().zip(balances) {
        if let Some(balance) = balance {
            company.token_balance = balance.token_balance;
            company.token_balance_usd = balance.token_balance_usd;
            company.tokens_used_total = balance.tokens_used_total;
        }
    }
    for company in &mut view.companies {
        company.agents = listed.remove(&company.id).unwrap_or_default();
    }
    view
}

fn same(a: &[Option<Arc<Balance>>], b: &[Option<Arc<Balance>>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        })
}

pub(super) fn rendered(view: &UserView) -> RenderedView {
    RenderedView {
        body: serde_json::to_string(view).unwrap_or_default().into(),
        etag: view.etag().into(),
    }
}

/// The requested variant of a cached view with `balances`, `agents` and the last-seen
/// instant of `profile`: the full one (rendered again only when one of them changed), or one
/// with scopes dropped (light mode) or filtered.
pub(super) fn render(
    cached: &CachedView,
    balances: &Balances,
    agents: &ListParts,
    profile: &Arc<Profile>,
    options: &UserViewOptions,
    grant: Option<&crate::session::TokenGrant>,
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
    let shown = cached.shown(balances);
    if show_scopes && filter.is_empty() && limited.is_none() {
        if let Some(memo) = cached
            .full
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|memo| {
                same(&memo.balances, &shown)
                    && memo.agents.same(agents)
                    && Arc::ptr_eq(&memo.profile, profile)
            })
        {
            return memo.rendering.clone();
        }
        // Rendered outside the lock: readers of the current memo do not wait for it.
        let rendering = rendered(&assembled(&cached.view, &shown, agents, profile));
        *cached.full.lock().unwrap_or_else(PoisonError::into_inner) = Some(Memo {
            balances: shown,
            agents: agents.clone(),
            profile: Arc::clone(profile),
            rendering: rendering.clone(),
        });
        return rendering;
    }
    let mut view = assembled(&cached.view, &shown, agents, profile);
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
pub(super) fn filtered(scopes: Vec<String>, filter: &[&str]) -> Vec<String> {
    scopes
        .into_iter()
        .filter(|held| {
            let set = agentry_domain::ScopeSet::new([held.as_str()]);
            filter.iter().any(|wanted| set.allows(wanted))
        })
        .collect()
}

pub use agentry_api::accounts::{CompanyView, UserView, UserViewOptions, etag_of};

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

impl Accounts<'_> {
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
        let cached = self.app.user_views.get(&caller.user)?;
        let balances = self.app.billing().held_balances(cached.balances_wanted())?;
        let agents = self
            .app
            .agents()
            .held_parts(caller.user, cached.companies())?;
        let profile = self.app.profiles.get(&caller.user)?;
        let has_balance = cached.has_balance(&balances);
        // Before the paywall: a subscriber without tokens passes once the check has run.
        self.app.payments().request_subscription_check(caller);
        let paid =
            if agentry_billing::paywall_blocks(&self.app.settings.billing, false, has_balance) {
                // The paywall needs the caller's access: a read when this process does not hold it.
                let access = self.app.sessions().cached_caller_access(caller)?;
                self.app
                    .billing()
                    .paywall_for(&access, has_balance, agentry_billing::Gate::Account)
            } else {
                Ok(())
            };
        Some(paid.map(|()| {
            render(
                &cached,
                &balances,
                &agents,
                &profile,
                options,
                caller.token.as_deref(),
            )
        }))
    }

    /// `GET /v1/user`: the full view is read once (4 statements) and kept until a write that
    /// touches the user, their memberships or their companies invalidates it; the balances,
    /// agent lists and last-seen instant it shows come from their own read models (keyed by
    /// company, by owner and company, and by user), merged here.
    pub fn user_view(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        options: &UserViewOptions,
    ) -> Result<RenderedView, AppError> {
        caller.require("account:read")?;
        self.app.payments().request_subscription_check(caller);
        let (cached, balances) = self.view_and_balances(uow, caller)?;
        self.app.billing().paywall(
            uow,
            caller,
            cached.has_balance(&balances),
            agentry_billing::Gate::Account,
        )?;
        let agents = self
            .app
            .agents()
            .list_parts(uow, caller.user, cached.companies())?;
        let profile = self
            .app
            .companies()
            .profiles(uow, &[caller.user])?
            .remove(&caller.user)
            .ok_or_else(|| AppError::NotFound("User not found".into()))?;
        Ok(render(
            &cached,
            &balances,
            &agents,
            &profile,
            options,
            caller.token.as_deref(),
        ))
    }

    /// The caller's cached view (read when not held) and the balances it shows or its
    /// paywall reads (read when not held: one statement for all of them).
    fn view_and_balances(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<(Arc<CachedView>, Balances), AppError> {
        let cached = self.app.user_views.load(uow, &caller.user, |uow| {
            self.load_user_view(uow, caller.user)
        })?;
        let balances = self.app.billing().balances(uow, cached.balances_wanted())?;
        Ok((cached, balances))
    }

    /// Whether a company that pays for one of the caller's (its root) holds tokens, from the
    /// caller's view and the balance read model (each read when not held).
    pub(crate) fn user_view_has_balance(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<bool, AppError> {
        let (cached, balances) = self.view_and_balances(uow, caller)?;
        Ok(cached.has_balance(&balances))
    }

    pub(super) fn load_user_view(
        &self,
        uow: &mut Uow<'_>,
        user_id: UserId,
    ) -> Result<CachedView, AppError> {
        // The balances the memberships read come with them: kept in their own model (with a
        // ticket from before the read, so a charge racing it is not undone).
        let ticket = self.app.billing().balance_ticket();
        let profile_ticket = self.app.profiles.ticket();
        let conn = uow.conn()?;
        let user = identity::find_user(conn, user_id)?
            .ok_or_else(|| AppError::NotFound("User not found".into()))?;
        // So is the profile, whose last-seen instant the view shows.
        let _profile = self
            .app
            .profiles
            .keep(uow, user_id, profile_ticket, Profile::of(&user));
        let conn = uow.conn()?;
        let preferences = account::preferences_for(conn, user_id)?;
        let memberships = identity::memberships_for(conn, user_id)?;
        // The paywall tests the companies that pay for the user's (their roots,
        // `companies::payers`): a top-level company pays for itself; a child's root is
        // found in one statement, only with billing on (else the paywall never asks).
        let mut payers: Vec<CompanyId> = memberships
            .iter()
            .filter(|m| m.company.parent_id.is_none())
            .map(|m| CompanyId::from(m.company.id))
            .collect();
        let children: Vec<CompanyId> = memberships
            .iter()
            .filter(|m| m.company.parent_id.is_some())
            .map(|m| CompanyId::from(m.company.id))
            .collect();
        if self.app.settings.billing.enabled() && !children.is_empty() {
            payers.extend(crate::companies::payers(conn, &children)?.into_values());
        }
        payers.sort();
        payers.dedup();
        self.app
            .billing()
            .keep_balances(uow, ticket, memberships.iter().map(|m| &m.company));

        let primary = crate::access::primary(&memberships);
        let companies = memberships
            .into_iter()
            .map(|view| {
                let scopes = Some(crate::access::effective_scopes(&view));
                company_view(view, primary, scopes)
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
        // Its weight without balances and agents; rendered with them at the first request.
        let weight = serde_json::to_string(&view).map_or(0, |body| body.len());
        let mut wanted: Vec<CompanyId> = view.companies.iter().map(|c| c.id).collect();
        let companies = wanted.clone();
        wanted.extend(payers.iter().copied());
        wanted.sort();
        wanted.dedup();
        Ok(CachedView {
            wanted,
            companies,
            weight: weight.saturating_mul(3).saturating_add(256),
            full: std::sync::Mutex::new(None),
            view,
            payers,
        })
    }

    /// `PUT /v1/user`: names and username to columns, anything else to preferences.
    pub fn update_user(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: &Value,
    ) -> Result<(), AppError> {
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
        let conn = uow.conn()?;
        if let Some(username) = patch.username.as_deref() {
            if !valid_username(username) {
                return Err(AppError::BadRequest(
                    "Username must be 3-32 characters of letters, digits, '_', '.' or '-'".into(),
                ));
            }
            if account::username_taken(conn, username, Some(caller.user))? {
                return Err(AppError::Conflict("Username is already taken.".into()));
            }
        }
        // What the user would hold after the change, within the limits.
        let stored: Vec<(String, String)> = account::preferences_for(conn, caller.user)?
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
        self.app
            .settings
            .limits
            .check("preferences", &before, &after)?;
        patch.updated_at = Some(naive_of(now_epoch()));
        let user = caller.user;
        let result = self.app.write(uow, |work| {
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
}

pub(super) fn company_view(
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

impl Accounts<'_> {
    /// The inference pre-check (the hook chat completions call before running a model):
    /// 402 when billing is on and none of the caller's companies holds tokens.
    pub fn check_balance(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<(), AppError> {
        if !self.app.settings.billing.enabled() {
            return Ok(());
        }
        let has_balance = self.user_view_has_balance(uow, caller)?;
        self.app
            .billing()
            .paywall(uow, caller, has_balance, agentry_billing::Gate::Inference)
    }
}

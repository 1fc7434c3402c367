#![doc = include_str!("../README.md")]
#![warn(clippy::arithmetic_side_effects)]

pub mod access;
pub mod accounts;
pub mod agents;
pub mod billing;
pub mod catalog;
pub mod chains;
pub mod chat;
pub mod commands;
pub mod companies;
pub mod company_extensions;
pub mod conversations;
pub mod dispatcher;
mod error;
mod events;
pub mod extensions;
mod forms;
pub mod jobs;
pub mod payments;
pub mod prompts;
mod read_models;
pub mod session;
pub mod setup;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use agentry_auth::token::TokenKeys;
use agentry_domain::invalidation::{Invalidation, InvalidationBus, LocalOnly};
use agentry_store::{Pool, StoreError};
use diesel::connection::SimpleConnection;

pub use error::AppError;
pub use events::stale;
pub use session::Caller;

/// The current instant, as stored (UTC, microseconds).
pub(crate) fn now_naive() -> chrono::NaiveDateTime {
    session::naive_of(session::now_epoch())
}

/// What the use cases need to know about the deployment (from the server's configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The secret that signs tokens (`AGIXT_API_KEY`).
    pub token_secret: Vec<u8>,
    /// How long an issued token lives.
    pub token_ttl: Duration,
    /// The front end's URL, base of magic links (`APP_URI`).
    pub app_uri: String,
    /// The TOTP issuer shown by authenticator apps (`APP_NAME`).
    pub app_name: String,
    /// The account that registers as super admin (`SUPERADMIN_EMAIL`); no default.
    pub superadmin_email: Option<String>,
    /// Token price and warning threshold; billing is off unless the price is above 0.
    pub billing: agentry_billing::BillingSettings,
    /// Stripe's webhook secret, top-up minimum, return URL and job intervals.
    pub stripe: payments::StripeSettings,
    /// Server-level AI provider settings (from the environment, under the reference's
    /// names): the base every agent's settings merge over.
    pub provider_settings: std::collections::BTreeMap<String, String>,
    /// Where agent workspaces live (`DATA_DIR`).
    pub data_dir: std::path::PathBuf,
    /// The public base URL of this server (`AGIXT_URI`), for file links.
    pub public_uri: String,
    /// Let commands reach loopback and private addresses (`AGENTRY_ALLOW_PRIVATE_HTTP`).
    pub allow_private_http: bool,
    /// How long a model provider may take (connecting, answering, between stream chunks).
    pub model_timeouts: agentry_inference::Timeouts,
    /// What one account may store, and what the read models keep.
    pub limits: Limits,
    /// Password hashes at once, and the login throttle.
    pub throttle: throttle::Throttle,
}

/// Bounds on what one account may store, so that no account pins the server's memory
/// (every stored value is also held by a read model), and the bytes the large read models
/// keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Keys of one user's preferences, of one agent's settings, of one company's settings
    /// (`AGENTRY_MAX_KEYS`; 422 beyond).
    pub max_keys: usize,
    /// Bytes of one value (`AGENTRY_MAX_VALUE_BYTES`; 413 beyond).
    pub max_value_bytes: usize,
    /// Bytes of all the values of one owner (`AGENTRY_MAX_OWNER_BYTES`; 413 beyond).
    pub max_owner_bytes: usize,
    /// Agents one user owns (`AGENTRY_MAX_AGENTS_PER_USER`; 422 beyond).
    pub max_agents_per_user: usize,
    /// Bytes each large read model (user views, agent views) keeps before it drops its
    /// least recently used entries (`AGENTRY_READ_MODEL_BYTES`).
    pub read_model_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_keys: 256,
            max_value_bytes: 64 * 1024,
            max_owner_bytes: 1024 * 1024,
            max_agents_per_user: 100,
            read_model_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Whether a write that turns an owner's store from `before` into `after` stays within
    /// the limits: 422 beyond `max_keys`, 413 for a written value or a whole store that is
    /// too large. A store already beyond them (the limits were lowered) may still shrink or
    /// stay the same size, so its owner is never stuck. `what` names the store.
    pub fn check(
        &self,
        what: &str,
        before: &std::collections::BTreeMap<&str, &str>,
        after: &std::collections::BTreeMap<&str, &str>,
    ) -> Result<(), AppError> {
        let total = |store: &std::collections::BTreeMap<&str, &str>| -> usize {
            store
                .iter()
                .map(|(name, value)| name.len().saturating_add(value.len()))
                .fold(0, usize::saturating_add)
        };
        for (name, value) in after {
            if value.len() > self.max_value_bytes && before.get(name) != Some(value) {
                return Err(AppError::TooLarge(format!(
                    "`{name}` is larger than {} bytes",
                    self.max_value_bytes
                )));
            }
        }
        if after.len() > self.max_keys && after.len() > before.len() {
            return Err(AppError::Invalid {
                field: what.into(),
                message: format!("at most {} keys", self.max_keys),
            });
        }
        let (was, will_be) = (total(before), total(after));
        if will_be > self.max_owner_bytes && will_be > was {
            return Err(AppError::TooLarge(format!(
                "{what} would hold more than {} bytes",
                self.max_owner_bytes
            )));
        }
        Ok(())
    }

    /// [`Limits::check`] for a store `current` that loses `removals` and takes `upserts`.
    pub fn check_update(
        &self,
        what: &str,
        current: &std::collections::BTreeMap<String, String>,
        removals: &[String],
        upserts: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), AppError> {
        let before: std::collections::BTreeMap<&str, &str> = current
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut after = before.clone();
        for name in removals {
            after.remove(name.as_str());
        }
        after.extend(upserts.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.check(what, &before, &after)
    }
}

impl Settings {
    pub fn for_tests() -> Self {
        Self {
            token_secret: b"test-secret".to_vec(),
            token_ttl: Duration::from_secs(3600),
            app_uri: "http://localhost:3437".into(),
            app_name: "AGiXT".into(),
            superadmin_email: None,
            billing: agentry_billing::BillingSettings::default(),
            stripe: payments::StripeSettings::default(),
            provider_settings: std::collections::BTreeMap::new(),
            data_dir: std::env::temp_dir(),
            public_uri: "http://localhost:7437".into(),
            allow_private_http: false,
            model_timeouts: agentry_inference::Timeouts::default(),
            limits: Limits::default(),
            throttle: throttle::Throttle::default(),
        }
    }
}

/// The application: the services, each a view of one shared [`Context`]
/// ([`App::accounts`], [`App::agents`]...), and the unit-of-work facade ([`App::run`],
/// [`App::transaction`]). Cheap to clone.
#[derive(Clone)]
pub struct App {
    context: Arc<Context>,
}

impl std::ops::Deref for App {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.context
    }
}

/// Values read from the database by each read model ([`App::read_model_loads`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadModelLoads {
    pub access: u64,
    pub user_views: u64,
    pub balances: u64,
    pub rosters: u64,
    pub conversation_lists: u64,
    pub profiles: u64,
    pub agent_views: u64,
    pub own_agents: u64,
    pub shared_agents: u64,
}

/// What the services share: the pool, the settings, the read models, the gateways (Stripe,
/// outbound HTTP, the invalidation bus) and the static catalogs. Built once by [`App::new`].
#[derive(Clone)]
pub struct Context {
    pool: Pool,
    settings: Arc<Settings>,
    tokens: TokenKeys,
    /// Each user's revocation instant (epoch seconds; `INFINITY` for a user that is gone).
    revocations: agentry_cache::ReadModel<agentry_domain::UserId, f64>,
    access: agentry_cache::ReadModel<agentry_domain::UserId, agentry_domain::access::Access>,
    /// Each user's `/v1/user` view with its ETag, balances aside.
    user_views: agentry_cache::ReadModel<agentry_domain::UserId, accounts::CachedView>,
    /// Each company's row, memberships and children (`companies::Roster`).
    rosters: agentry_cache::ReadModel<agentry_domain::CompanyId, companies::Roster>,
    /// What member lists show of each user.
    profiles: agentry_cache::ReadModel<agentry_domain::UserId, companies::Profile>,
    /// Each agent's name as conversation lists show it (`None`: no such agent).
    agent_names: agentry_cache::ReadModel<agentry_domain::AgentId, Option<String>>,
    /// Each user's conversations (`GET /v1/conversations`).
    conversation_lists:
        agentry_cache::ReadModel<agentry_domain::UserId, conversations::ConversationList>,
    /// Each company's balance, usage and subscription state.
    balances: agentry_cache::ReadModel<agentry_domain::CompanyId, billing::Balance>,
    /// Personal access tokens by the SHA-256 of their value (`None`: no such token).
    personal_tokens: agentry_cache::ReadModel<String, Option<session::TokenEntry>>,
    /// Tells the other instances what a write made stale.
    bus: Arc<dyn InvalidationBus>,
    /// Wakes this instance's dispatcher ([`dispatcher::Dispatcher`]).
    wake: Arc<tokio::sync::Notify>,
    /// This instance's name on the bus (its own messages come back and are skipped).
    origin: Arc<str>,
    /// Each agent's view (`None`: no such agent).
    agent_views: agentry_cache::ReadModel<agentry_domain::AgentId, Option<Arc<agents::AgentView>>>,
    /// Each company's layer of extension settings and command states.
    company_extensions:
        agentry_cache::ReadModel<agentry_domain::CompanyId, company_extensions::CompanyExtensions>,
    /// The agents each user owns, with their preferred one.
    own_agents: agentry_cache::ReadModel<agentry_domain::UserId, agents::OwnAgents>,
    /// The agents shared with each company's members.
    shared_agents: agentry_cache::ReadModel<agentry_domain::CompanyId, agents::SharedAgents>,
    /// Each user's prompts.
    user_prompts: agentry_cache::ReadModel<agentry_domain::UserId, prompts::UserPrompts>,
    /// Each user's chains with their steps.
    user_chains: agentry_cache::ReadModel<agentry_domain::UserId, chains::UserChains>,
    /// The extensions and their commands (built once).
    registry: Arc<agentry_extensions::Registry>,
    /// The role and scope catalog (static and extension scopes; built once).
    catalog: Arc<agentry_domain::catalog::Catalog>,
    /// Seals secret settings at rest.
    secrets: agentry_auth::secrets::SecretBox,
    /// The one outbound HTTP client of commands (internal addresses refused).
    http: agentry_extensions::SafeClient,
    /// The HTTP clients of model providers (built once; user-supplied base URLs go through
    /// the address rules). `None` only when TLS could not start: every model call fails.
    models: Option<agentry_inference::Clients>,
    /// Stripe (or a fake in tests); the payment routes need it.
    gateway: Option<Arc<dyn agentry_billing::gateway::PaymentGateway>>,
    /// Argon2 runs, a bounded number at once.
    hasher: Arc<agentry_auth::password::Hasher>,
    /// Failed logins per client address (this process's own count).
    addresses: Arc<throttle::Addresses>,
    /// When each user's subscription check was last queued by this instance.
    subscription_checks: Arc<
        std::sync::Mutex<std::collections::HashMap<agentry_domain::UserId, std::time::Instant>>,
    >,
}

impl App {
    /// How long `/ready` waits for a connection before calling the database unavailable.
    const READY_TIMEOUT: Duration = Duration::from_secs(2);
    /// Users whose access is kept in memory (least recently used beyond that are re-read).
    const ACCESS_CAPACITY: usize = 100_000;
    /// Agents whose views are kept in memory.
    const AGENT_CAPACITY: usize = 200_000;

    pub fn new(pool: Pool, settings: Settings) -> Self {
        let settings_key = settings.token_secret.clone();
        // The models whose values grow with what accounts store are bounded by bytes too.
        let bytes = settings.limits.read_model_bytes;
        let allow_private_http = settings.allow_private_http;
        let hasher = agentry_auth::password::Hasher::new(
            settings.throttle.hash_concurrency,
            settings.throttle.hash_wait,
        );
        let addresses = throttle::Addresses::new(&settings.throttle);
        // Building a client only fails when TLS cannot start at all; then no provider
        // could be reached either, and every call says so.
        let models =
            agentry_inference::Clients::new(settings.model_timeouts.connect, allow_private_http)
                .inspect_err(|error| {
                    tracing::error!(%error, "the model providers' HTTP client could not start");
                })
                .ok();
        let context = Context {
            hasher: Arc::new(hasher),
            addresses: Arc::new(addresses),
            pool,
            tokens: TokenKeys::new(&settings.token_secret),
            settings: Arc::new(settings),
            revocations: agentry_cache::ReadModel::new(Self::ACCESS_CAPACITY),
            access: agentry_cache::ReadModel::new(Self::ACCESS_CAPACITY),
            personal_tokens: agentry_cache::ReadModel::new(Self::ACCESS_CAPACITY),
            user_views: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                accounts::CachedView::weight,
            ),
            balances: agentry_cache::ReadModel::new(Self::ACCESS_CAPACITY),
            agent_names: agentry_cache::ReadModel::new(Self::AGENT_CAPACITY),
            conversation_lists: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                conversations::ConversationList::weight,
            ),
            rosters: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                companies::Roster::weight,
            ),
            profiles: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                companies::Profile::weight,
            ),
            bus: Arc::new(LocalOnly),
            wake: Arc::new(tokio::sync::Notify::new()),
            origin: uuid::Uuid::new_v4().simple().to_string().into(),
            gateway: None,
            subscription_checks: Arc::default(),
            agent_views: agentry_cache::ReadModel::weighed(
                Self::AGENT_CAPACITY,
                bytes,
                agents::agent_weight,
            ),
            own_agents: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                agents::OwnAgents::weight,
            ),
            shared_agents: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                agents::SharedAgents::weight,
            ),
            user_prompts: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                prompts::UserPrompts::weight,
            ),
            user_chains: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                chains::UserChains::weight,
            ),
            company_extensions: agentry_cache::ReadModel::weighed(
                Self::ACCESS_CAPACITY,
                bytes,
                company_extensions::CompanyExtensions::weight,
            ),
            registry: Arc::new(agentry_extensions::Registry::builtin()),
            catalog: Arc::new(setup::catalog()),
            secrets: agentry_auth::secrets::SecretBox::new(&settings_key),
            http: agentry_extensions::SafeClient::new(allow_private_http),
            models,
        };
        Self {
            context: Arc::new(context),
        }
    }

    /// Who the caller is and what they may do: tokens verified, access read, the role and scope catalog.
    pub fn sessions(&self) -> access::Sessions<'_> {
        access::Sessions { app: self }
    }

    /// Background jobs, queued in the write that needs them.
    pub fn jobs(&self) -> jobs::Jobs<'_> {
        jobs::Jobs { app: self }
    }

    /// Companies, their members, roles and invitations.
    pub fn companies(&self) -> companies::Companies<'_> {
        companies::Companies { app: self }
    }

    /// The provider and extension catalogs, and each company's layer of extension settings and command states.
    pub fn extensions(&self) -> extensions::Extensions<'_> {
        extensions::Extensions { app: self }
    }

    /// Token balances, usage, charges and credits, and the paywall.
    pub fn billing(&self) -> billing::Billing<'_> {
        billing::Billing { app: self }
    }

    /// Stripe: top-ups, their sync and recovery, subscriptions, the portal, the webhook.
    pub fn payments(&self) -> payments::Payments<'_> {
        payments::Payments { app: self }
    }

    /// Agents, their settings and commands, and what they see of providers and extensions.
    pub fn agents(&self) -> agents::Agents<'_> {
        agents::Agents { app: self }
    }

    /// Accounts: registration, login, the profile, MFA, passwords, deactivation.
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts { app: self }
    }

    /// Personal access tokens.
    pub fn tokens(&self) -> tokens::Tokens<'_> {
        tokens::Tokens { app: self }
    }

    /// Conversations and their messages.
    pub fn conversations(&self) -> conversations::Conversations<'_> {
        conversations::Conversations { app: self }
    }

    /// Running an agent's commands, and the files they leave.
    pub fn commands(&self) -> commands::Commands<'_> {
        commands::Commands { app: self }
    }

    /// Each user's prompts over the built-in set.
    pub fn prompts(&self) -> prompts::Prompts<'_> {
        prompts::Prompts { app: self }
    }

    /// Each user's chains: their steps, runs and responses.
    pub fn chains(&self) -> chains::Chains<'_> {
        chains::Chains { app: self }
    }

    /// Chat completions: the agent's turn, the models list, the prompt endpoint.
    pub fn chat(&self) -> chat::Chat<'_> {
        chat::Chat { app: self }
    }

    /// Publish invalidations on `bus` (PostgreSQL or Redis) for the other instances.
    pub fn with_bus(mut self, bus: Arc<dyn InvalidationBus>) -> Self {
        Arc::make_mut(&mut self.context).bus = bus;
        self
    }

    /// Whether the invalidation bus is connected (always, without one).
    pub fn bus_connected(&self) -> bool {
        self.bus.connected()
    }

    /// This instance's name on the invalidation bus.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many values each read model has read from the database since this instance
    /// started (its misses).
    pub fn read_model_loads(&self) -> ReadModelLoads {
        ReadModelLoads {
            access: self.access.loads(),
            user_views: self.user_views.loads(),
            balances: self.balances.loads(),
            rosters: self.rosters.loads(),
            conversation_lists: self.conversation_lists.loads(),
            profiles: self.profiles.loads(),
            agent_views: self.agent_views.loads(),
            own_agents: self.own_agents.loads(),
            shared_agents: self.shared_agents.loads(),
        }
    }

    pub(crate) fn apply_invalidation(&self, event: &Invalidation) {
        match event {
            Invalidation::User(user) => {
                self.access.invalidate(user);
                self.user_views.invalidate(user);
                self.profiles.invalidate(user);
            }
            Invalidation::Profile(user) => {
                self.user_views.invalidate(user);
                self.profiles.invalidate(user);
                // The list's default agent follows the `agent_id` preference.
                self.own_agents.invalidate(user);
            }
            Invalidation::Seen(user) => self.profiles.invalidate(user),
            Invalidation::Roster(company) => self.rosters.invalidate(company),
            Invalidation::Conversations(user) => self.conversation_lists.invalidate(user),
            Invalidation::Prompts(user) => self.user_prompts.invalidate(user),
            Invalidation::Chains(user) => self.user_chains.invalidate(user),
            Invalidation::Balance(company) => self.balances.invalidate(company),
            Invalidation::Agent(agent) => {
                self.agent_views.invalidate(agent);
                self.agent_names.invalidate(agent);
            }
            Invalidation::OwnAgents(user) => self.own_agents.invalidate(user),
            Invalidation::SharedAgents(company) => self.shared_agents.invalidate(company),
            Invalidation::AgentLists => {
                self.own_agents.invalidate_all();
                self.shared_agents.invalidate_all();
            }
            Invalidation::CompanyExtensions(company) => self.company_extensions.invalidate(company),
            Invalidation::Tokens(user) => self.revocations.invalidate(user),
            Invalidation::PersonalToken(hash) => self.personal_tokens.invalidate(hash),
            Invalidation::All => {
                self.access.invalidate_all();
                self.user_views.invalidate_all();
                self.balances.invalidate_all();
                self.rosters.invalidate_all();
                self.conversation_lists.invalidate_all();
                self.profiles.invalidate_all();
                self.personal_tokens.invalidate_all();
                self.revocations.invalidate_all();
                self.agent_views.invalidate_all();
                self.agent_names.invalidate_all();
                self.own_agents.invalidate_all();
                self.shared_agents.invalidate_all();
                self.company_extensions.invalidate_all();
                self.user_prompts.invalidate_all();
                self.user_chains.invalidate_all();
            }
        }
    }

    /// A message from the bus: another instance wrote (this instance's own messages are
    /// skipped), or `"reconnected"` after the transport lost messages. Either way the
    /// dispatcher reads the log; the message itself is only a wake-up.
    pub fn receive_invalidation(&self, message: &str) {
        if message == "reconnected" {
            self.wake();
            return;
        }
        match Invalidation::decode(message) {
            Some((origin, _)) if origin == &*self.origin => {}
            Some(_) => self.wake(),
            None => tracing::warn!(message, "ignored a malformed invalidation"),
        }
    }

    /// Wake this instance's dispatcher: it reads the log now instead of at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn registry(&self) -> &agentry_extensions::Registry {
        &self.registry
    }

    /// The database answers a trivial statement.
    pub fn ready(&self) -> Result<(), AppError> {
        let mut conn = self
            .pool
            .get_timeout(Self::READY_TIMEOUT)
            .map_err(|error| AppError::Unavailable(StoreError::Pool(error)))?;
        conn.batch_execute("SELECT 1")
            .map_err(|error| AppError::Unavailable(StoreError::Query(error)))
    }
}

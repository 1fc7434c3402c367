//! Configuration: built-in defaults, then an optional `agentry.toml`, then environment
//! variables and flags (highest). Validated once, at start, into a [`Config`] that is passed
//! explicitly; there is no global settings static.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentry_store::DatabaseUrl;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

pub const DEFAULT_PORT: u16 = 7437;
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The file in the data directory that keeps a generated `AGIXT_API_KEY` (SQLite only).
pub const GENERATED_KEY_FILE: &str = "agixt_api_key";
const DEFAULT_CONFIG_FILE: &str = "agentry.toml";

/// Agentry: an AGiXT-compatible server for AI agents.
#[derive(Debug, Parser)]
#[command(name = "agentry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and the catalog seed, then exit.
    Migrate,
    /// Administration commands.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Make the account with this email a super admin (role 0 in its current company).
    Promote { email: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Every option. Each may come from a flag, its environment variable, or `agentry.toml`
/// (keys are the long flag names with `_`); unset ones take the defaults shown.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// TOML file of settings [default: ./agentry.toml when it exists]
    #[arg(long, env = "AGENTRY_CONFIG", global = true, value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Directory for the SQLite database, generated secrets and agent workspaces [default: ./data]
    #[arg(long, env = "AGENTRY_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB [default: sqlite://DATA_DIR/agentry.db]
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, env = "AGENTRY_HOST", global = true)]
    pub host: Option<String>,

    /// Port to listen on; 0 picks a free one [default: 7437]
    #[arg(long, env = "AGIXT_PORT", global = true)]
    pub port: Option<u16>,

    /// Public base URL of this server, used in links it returns [default: http://localhost:PORT]
    #[arg(long, env = "AGIXT_URI", global = true, value_name = "URL")]
    pub uri: Option<String>,

    /// Secret that signs tokens; required on PostgreSQL (instances share it); generated once
    /// and kept in DATA_DIR on SQLite when unset
    #[arg(long, env = "AGIXT_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,

    /// Front-end URL that magic links point to [default: http://localhost:3437]
    #[arg(long, env = "APP_URI", global = true, value_name = "URL")]
    pub app_uri: Option<String>,

    /// Product name shown by authenticator apps (the TOTP issuer) [default: AGiXT]
    #[arg(long, env = "APP_NAME", global = true)]
    pub app_name: Option<String>,

    /// Lifetime of issued tokens: seconds, or a number with s, m, h or d [default: 30d]
    #[arg(
        long,
        env = "AGENTRY_TOKEN_TTL",
        global = true,
        value_name = "DURATION"
    )]
    pub token_ttl: Option<String>,

    /// Requests per minute per client address to login, registration and other unauthenticated
    /// account routes; 0 turns the limit off [default: 600]
    #[arg(long, env = "AGENTRY_AUTH_RATE_LIMIT", global = true, value_name = "N")]
    pub auth_rate_limit: Option<u32>,

    /// Of those, how many one address may send at once (the bucket refills at the rate)
    /// [default: 10]
    #[arg(long, env = "AGENTRY_AUTH_RATE_BURST", global = true, value_name = "N")]
    pub auth_rate_burst: Option<u32>,

    /// Password hashes and checks run at once (each holds 64 MiB) [default: the cores]
    #[arg(
        long,
        env = "AGENTRY_HASH_CONCURRENCY",
        global = true,
        value_name = "N"
    )]
    pub hash_concurrency: Option<usize>,

    /// How long a password check waits for a free slot before 503 [default: 2s]
    #[arg(
        long,
        env = "AGENTRY_HASH_WAIT",
        global = true,
        value_name = "DURATION"
    )]
    pub hash_wait: Option<String>,

    /// Failed password or TOTP checks of one account before the login throttle delays the
    /// next one [default: 5]
    #[arg(
        long,
        env = "AGENTRY_LOGIN_FREE_FAILURES",
        global = true,
        value_name = "N"
    )]
    pub login_free_failures: Option<u32>,

    /// The first delay of the login throttle, doubled by each further failure [default: 1s]
    #[arg(
        long,
        env = "AGENTRY_LOGIN_DELAY",
        global = true,
        value_name = "DURATION"
    )]
    pub login_delay: Option<String>,

    /// The longest delay of the login throttle [default: 15m]
    #[arg(
        long,
        env = "AGENTRY_LOGIN_MAX_DELAY",
        global = true,
        value_name = "DURATION"
    )]
    pub login_max_delay: Option<String>,

    /// Failed logins from one client address before the throttle delays its next one
    /// [default: 10]
    #[arg(
        long,
        env = "AGENTRY_LOGIN_ADDRESS_FREE_FAILURES",
        global = true,
        value_name = "N"
    )]
    pub login_address_free_failures: Option<u32>,

    /// Most keys of one user's preferences, one agent's or one company's settings [default: 256]
    #[arg(long, env = "AGENTRY_MAX_KEYS", global = true, value_name = "N")]
    pub max_keys: Option<usize>,

    /// Largest value of one preference or setting, in bytes [default: 65536]
    #[arg(
        long,
        env = "AGENTRY_MAX_VALUE_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub max_value_bytes: Option<usize>,

    /// Most bytes of all of one owner's preferences or settings together [default: 1048576]
    #[arg(
        long,
        env = "AGENTRY_MAX_OWNER_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub max_owner_bytes: Option<usize>,

    /// Most agents one user owns [default: 100]
    #[arg(
        long,
        env = "AGENTRY_MAX_AGENTS_PER_USER",
        global = true,
        value_name = "N"
    )]
    pub max_agents_per_user: Option<usize>,

    /// Bytes each large read model (user views, agent views) keeps in memory [default: 67108864]
    #[arg(
        long,
        env = "AGENTRY_READ_MODEL_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub read_model_bytes: Option<usize>,

    /// Comma-separated proxy addresses whose X-Forwarded-For is believed [default: none]
    #[arg(
        long,
        env = "AGENTRY_TRUSTED_PROXIES",
        global = true,
        value_name = "IPS"
    )]
    pub trusted_proxies: Option<String>,

    /// Price of a million tokens in USD; token billing (balances, the 402 paywall) is on when
    /// above 0 [default: 0]
    #[arg(
        long,
        env = "TOKEN_PRICE_PER_MILLION_USD",
        global = true,
        value_name = "USD"
    )]
    pub token_price_per_million_usd: Option<f64>,

    /// A company's balance at or below this many tokens reports a low-balance warning
    /// [default: 10000000]
    #[arg(
        long,
        env = "LOW_BALANCE_WARNING_THRESHOLD",
        global = true,
        value_name = "TOKENS"
    )]
    pub low_balance_warning_threshold: Option<i64>,

    /// After a dismissed low-balance warning, warn again once the balance has dropped by this
    /// many tokens [default: 1000000]
    #[arg(
        long,
        env = "TOKEN_WARNING_INCREMENT",
        global = true,
        value_name = "TOKENS"
    )]
    pub token_warning_increment: Option<i64>,

    /// Stripe's secret key; top-ups, the auto top-up subscription and the portal need it
    /// ("none" or empty: no Stripe) [default: none]
    #[arg(
        long,
        env = "STRIPE_API_KEY",
        global = true,
        value_name = "KEY",
        hide_env_values = true
    )]
    pub stripe_api_key: Option<String>,

    /// The signing secret of Stripe's webhook (`POST /v1/webhook` answers 404 without it)
    /// [default: none]
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        global = true,
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Option<String>,

    /// Stripe's API base URL (tests point it at a fake) [default: https://api.stripe.com]
    #[arg(long, env = "STRIPE_API_BASE", global = true, value_name = "URL")]
    pub stripe_api_base: Option<String>,

    /// The smallest token top-up, in USD [default: 10]
    #[arg(long, env = "MIN_TOKEN_TOPUP_USD", global = true, value_name = "USD")]
    pub min_token_topup_usd: Option<f64>,

    /// Where Stripe Checkout and the customer portal send users back [default: APP_URI]
    #[arg(
        long,
        env = "BILLING_PORTAL_RETURN_URL",
        global = true,
        value_name = "URL"
    )]
    pub billing_portal_return_url: Option<String>,

    /// At most one Stripe subscription check per user within this interval (ms, s, m, h)
    /// [default: 5m]
    #[arg(
        long,
        env = "AGENTRY_SUBSCRIPTION_CHECK_INTERVAL",
        global = true,
        value_name = "DURATION"
    )]
    pub subscription_check_interval: Option<String>,

    /// How long after a top-up the payment sync job first asks Stripe about it [default: 60s]
    #[arg(
        long,
        env = "AGENTRY_PAYMENT_SYNC_DELAY",
        global = true,
        value_name = "DURATION"
    )]
    pub payment_sync_delay: Option<String>,

    /// Run background jobs (payment sync, subscription checks) in this process [default: true]
    #[arg(long, env = "AGENTRY_JOBS", global = true, value_name = "BOOL")]
    pub jobs: Option<bool>,

    /// How long a claimed job is reserved for its worker; a job whose worker died runs again
    /// after it [default: 5m]
    #[arg(
        long,
        env = "AGENTRY_JOB_LEASE",
        global = true,
        value_name = "DURATION"
    )]
    pub job_lease: Option<String>,

    /// First retry delay of a failed job, doubled per attempt [default: 5s]
    #[arg(
        long,
        env = "AGENTRY_JOB_BACKOFF",
        global = true,
        value_name = "DURATION"
    )]
    pub job_backoff: Option<String>,

    /// How often an idle job runner looks for due jobs [default: 500ms]
    #[arg(long, env = "AGENTRY_JOB_POLL", global = true, value_name = "DURATION")]
    pub job_poll: Option<String>,

    /// How often this instance reads the event log when no wake-up came: the bound on how
    /// long another instance's write can go unseen when the bus loses a message
    /// [default: 250ms]
    #[arg(
        long,
        env = "AGENTRY_EVENT_POLL",
        global = true,
        value_name = "DURATION"
    )]
    pub event_poll: Option<String>,

    /// How long a model provider may take to answer (to its first byte when streaming)
    /// [default: 300s]
    #[arg(
        long,
        env = "AGENTRY_MODEL_TIMEOUT",
        global = true,
        value_name = "DURATION"
    )]
    pub model_timeout: Option<String>,

    /// How long a model's stream may stay silent between two chunks [default: 120s]
    #[arg(
        long,
        env = "AGENTRY_MODEL_IDLE_TIMEOUT",
        global = true,
        value_name = "DURATION"
    )]
    pub model_idle_timeout: Option<String>,

    /// How long the event log keeps an event; an instance that falls further behind drops its
    /// read models and resumes at the head [default: 7d]
    #[arg(
        long,
        env = "AGENTRY_EVENT_RETENTION",
        global = true,
        value_name = "DURATION"
    )]
    pub event_retention: Option<String>,

    /// Let agent commands (the HTTP request command) reach loopback, private and link-local
    /// addresses, e.g. a model server on the same host [default: false]
    #[arg(
        long,
        env = "AGENTRY_ALLOW_PRIVATE_HTTP",
        global = true,
        value_name = "BOOL"
    )]
    pub allow_private_http: Option<bool>,

    /// Redis for cross-instance cache invalidation (redis://HOST:PORT) [default: none]
    #[arg(
        long,
        env = "REDIS_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,

    /// The account made super admin at login; no default
    #[arg(long, env = "SUPERADMIN_EMAIL", global = true, value_name = "EMAIL")]
    pub superadmin_email: Option<String>,

    /// trace, debug, info, warn or error; RUST_LOG overrides it with a full filter [default: info]
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,

    /// Log line format [default: text]
    #[arg(long, env = "AGENTRY_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,

    /// Largest accepted request body, in bytes [default: 16777216]
    #[arg(
        long,
        env = "AGENTRY_MAX_BODY_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub max_body_bytes: Option<usize>,

    /// HTTP worker threads [default: the number of CPUs]
    #[arg(long, env = "AGENTRY_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Database connections in the pool [default: 16 on PostgreSQL, 8 on SQLite]
    #[arg(long, env = "AGENTRY_DB_POOL_SIZE", global = true, value_name = "N")]
    pub db_pool_size: Option<u32>,
}

impl Settings {
    /// Fill every field that `self` leaves unset from `lower`.
    fn or(self, lower: Settings) -> Settings {
        Settings {
            config: self.config.or(lower.config),
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            host: self.host.or(lower.host),
            port: self.port.or(lower.port),
            uri: self.uri.or(lower.uri),
            api_key: self.api_key.or(lower.api_key),
            app_uri: self.app_uri.or(lower.app_uri),
            app_name: self.app_name.or(lower.app_name),
            token_ttl: self.token_ttl.or(lower.token_ttl),
            auth_rate_limit: self.auth_rate_limit.or(lower.auth_rate_limit),
            auth_rate_burst: self.auth_rate_burst.or(lower.auth_rate_burst),
            hash_concurrency: self.hash_concurrency.or(lower.hash_concurrency),
            hash_wait: self.hash_wait.or(lower.hash_wait),
            login_free_failures: self.login_free_failures.or(lower.login_free_failures),
            login_delay: self.login_delay.or(lower.login_delay),
            login_max_delay: self.login_max_delay.or(lower.login_max_delay),
            login_address_free_failures: self
                .login_address_free_failures
                .or(lower.login_address_free_failures),
            max_keys: self.max_keys.or(lower.max_keys),
            max_value_bytes: self.max_value_bytes.or(lower.max_value_bytes),
            max_owner_bytes: self.max_owner_bytes.or(lower.max_owner_bytes),
            max_agents_per_user: self.max_agents_per_user.or(lower.max_agents_per_user),
            read_model_bytes: self.read_model_bytes.or(lower.read_model_bytes),
            token_price_per_million_usd: self
                .token_price_per_million_usd
                .or(lower.token_price_per_million_usd),
            low_balance_warning_threshold: self
                .low_balance_warning_threshold
                .or(lower.low_balance_warning_threshold),
            token_warning_increment: self
                .token_warning_increment
                .or(lower.token_warning_increment),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            stripe_api_key: self.stripe_api_key.or(lower.stripe_api_key),
            stripe_webhook_secret: self.stripe_webhook_secret.or(lower.stripe_webhook_secret),
            stripe_api_base: self.stripe_api_base.or(lower.stripe_api_base),
            min_token_topup_usd: self.min_token_topup_usd.or(lower.min_token_topup_usd),
            billing_portal_return_url: self
                .billing_portal_return_url
                .or(lower.billing_portal_return_url),
            subscription_check_interval: self
                .subscription_check_interval
                .or(lower.subscription_check_interval),
            payment_sync_delay: self.payment_sync_delay.or(lower.payment_sync_delay),
            jobs: self.jobs.or(lower.jobs),
            job_lease: self.job_lease.or(lower.job_lease),
            job_backoff: self.job_backoff.or(lower.job_backoff),
            job_poll: self.job_poll.or(lower.job_poll),
            event_poll: self.event_poll.or(lower.event_poll),
            model_timeout: self.model_timeout.or(lower.model_timeout),
            model_idle_timeout: self.model_idle_timeout.or(lower.model_idle_timeout),
            event_retention: self.event_retention.or(lower.event_retention),
            allow_private_http: self.allow_private_http.or(lower.allow_private_http),
            redis_url: self.redis_url.or(lower.redis_url),
            superadmin_email: self.superadmin_email.or(lower.superadmin_email),
            log_level: self.log_level.or(lower.log_level),
            log_format: self.log_format.or(lower.log_format),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            workers: self.workers.or(lower.workers),
            db_pool_size: self.db_pool_size.or(lower.db_pool_size),
        }
    }
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub host: String,
    pub port: u16,
    pub public_uri: String,
    pub api_key: Secret,
    pub app_uri: String,
    pub app_name: String,
    pub token_ttl: Duration,
    pub auth_rate_limit: u32,
    pub auth_rate_burst: u32,
    /// Password hashes at once and the login throttle.
    pub throttle: agentry_app::throttle::Throttle,
    /// What one account may store, and what the read models keep.
    pub limits: agentry_app::Limits,
    pub trusted_proxies: Vec<IpAddr>,
    pub token_price_per_million_usd: f64,
    pub low_balance_warning_threshold: i64,
    pub token_warning_increment: i64,
    pub stripe: StripeConfig,
    pub jobs: JobsConfig,
    /// How often the dispatcher reads the event log without a wake-up.
    pub event_poll: Duration,
    /// How long a model provider may take to answer, and stay silent within a stream.
    pub model_timeout: Duration,
    pub model_idle_timeout: Duration,
    /// How long the event log keeps an event (the prune job's age).
    pub event_retention: Duration,
    /// Server-level AI provider settings, read from the environment under the reference's
    /// names (`OPENAI_API_KEY`, `EZLOCALAI_API_URI`...): every agent's settings merge over
    /// them. Only `Config::load` reads them; tests resolve without.
    pub provider_settings: std::collections::BTreeMap<String, Secret>,
    pub allow_private_http: bool,
    pub redis_url: Option<Secret>,
    pub superadmin_email: Option<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub db_pool_size: u32,
}

/// Stripe, when configured.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub api_key: Option<Secret>,
    pub webhook_secret: Option<Secret>,
    pub api_base: String,
    pub min_topup_usd: f64,
    pub return_url: String,
    pub subscription_check_interval: Duration,
    pub payment_sync_delay: Duration,
}

/// The background job runner.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub enabled: bool,
    pub lease: Duration,
    pub backoff: Duration,
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot keep the generated AGIXT_API_KEY in {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A one-line message for the operator, logged once logging is up.
pub type Notice = String;

impl Config {
    /// Read the optional file under `settings` and validate the result. May create the data
    /// directory and, on SQLite without `AGIXT_API_KEY`, generate and keep a key there.
    pub fn load(settings: Settings) -> Result<(Config, Vec<Notice>), ConfigError> {
        let file = match &settings.config {
            Some(path) => Some(read_file(path)?),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Some(read_file(Path::new(DEFAULT_CONFIG_FILE))?)
            }
            None => None,
        };
        let merged = match file {
            Some(file) => settings.or(file),
            None => settings,
        };
        let (mut config, notices) = Config::resolve(merged)?;
        config.provider_settings = provider_settings_from_env();
        Ok((config, notices))
    }

    /// Validate settings that are already merged (tests build them directly).
    pub fn resolve(settings: Settings) -> Result<(Config, Vec<Notice>), ConfigError> {
        let mut notices = Vec::new();
        let data_dir = settings.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        fs::create_dir_all(&data_dir).map_err(|source| ConfigError::DataDir {
            path: data_dir.clone(),
            source,
        })?;

        let database = match settings.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => DatabaseUrl::parse(url)
                .map_err(|error| ConfigError::Invalid(format!("DATABASE_URL: {error}")))?,
            _ => DatabaseUrl::sqlite(data_dir.join("agentry.db")),
        };
        // The LISTEN/NOTIFY connection takes the URL's TLS settings: one it cannot honour is
        // refused here rather than leaving the bus down.
        if let DatabaseUrl::Postgres(url) = &database {
            agentry_store::pg_tls::listener(url)
                .map_err(|error| ConfigError::Invalid(format!("DATABASE_URL: {error}")))?;
        }
        if let DatabaseUrl::Sqlite(path) = &database
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            fs::create_dir_all(parent).map_err(|source| ConfigError::DataDir {
                path: parent.to_owned(),
                source,
            })?;
        }

        let host = settings.host.unwrap_or_else(|| "127.0.0.1".to_owned());
        if host != "localhost" && host.parse::<IpAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "AGENTRY_HOST: `{host}` is not an IP address (or localhost)"
            )));
        }
        let port = settings.port.unwrap_or(DEFAULT_PORT);
        let public_uri = settings
            .uri
            .unwrap_or_else(|| format!("http://localhost:{port}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_uri.starts_with("http://") || public_uri.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "AGIXT_URI: `{public_uri}` must start with http:// or https://"
            )));
        }

        let api_key = match settings.api_key.filter(|key| !key.trim().is_empty()) {
            Some(key) => Secret::new(key),
            None => match &database {
                DatabaseUrl::Postgres(_) => {
                    return Err(ConfigError::Invalid(
                        "AGIXT_API_KEY is required with PostgreSQL: every instance must sign \
                         and check tokens with the same key"
                            .to_owned(),
                    ));
                }
                DatabaseUrl::Sqlite(_) => {
                    let (key, notice) = generated_key(&data_dir)?;
                    notices.extend(notice);
                    key
                }
            },
        };

        let app_uri = settings
            .app_uri
            .unwrap_or_else(|| "http://localhost:3437".to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(app_uri.starts_with("http://") || app_uri.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "APP_URI: `{app_uri}` must start with http:// or https://"
            )));
        }
        let app_name = settings
            .app_name
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty() && !name.contains(':'))
            .unwrap_or_else(|| "AGiXT".to_owned());
        let token_ttl = match settings.token_ttl.as_deref() {
            None => Duration::from_secs(30 * 86_400),
            Some(text) => parse_duration(text).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "AGENTRY_TOKEN_TTL: `{text}` is not a duration between 1m and 365d (e.g. 3600, 12h, 30d)"
                ))
            })?,
        };

        let trusted_proxies = settings
            .trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|ip| !ip.is_empty())
            .map(|ip| {
                ip.parse::<IpAddr>().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "AGENTRY_TRUSTED_PROXIES: `{ip}` is not an IP address"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let token_price_per_million_usd = settings.token_price_per_million_usd.unwrap_or(0.0);
        if !token_price_per_million_usd.is_finite()
            || !(0.0..=1_000_000.0).contains(&token_price_per_million_usd)
        {
            return Err(ConfigError::Invalid(
                "TOKEN_PRICE_PER_MILLION_USD must be a number from 0 to 1000000".to_owned(),
            ));
        }
        let low_balance_warning_threshold =
            settings.low_balance_warning_threshold.unwrap_or(10_000_000);
        if low_balance_warning_threshold < 0 {
            return Err(ConfigError::Invalid(
                "LOW_BALANCE_WARNING_THRESHOLD must not be negative".to_owned(),
            ));
        }

        let token_warning_increment = settings.token_warning_increment.unwrap_or(1_000_000);
        if token_warning_increment < 0 {
            return Err(ConfigError::Invalid(
                "TOKEN_WARNING_INCREMENT must not be negative".to_owned(),
            ));
        }

        let secret = |value: Option<String>| {
            value
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"))
                .map(Secret::new)
        };
        let http_url = |name: &str, value: String| {
            let value = value.trim().trim_end_matches('/').to_owned();
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(value)
            } else {
                Err(ConfigError::Invalid(format!(
                    "{name}: `{value}` must start with http:// or https://"
                )))
            }
        };
        let interval = |name: &str, value: Option<&str>, default: Duration, min: Duration| {
            match value {
                None => Ok(default),
                Some(text) => parse_interval(text)
                    .filter(|d| (min..=Duration::from_secs(86_400)).contains(d))
                    .ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "{name}: `{text}` is not a duration from {min:?} to 1d (e.g. 500ms, 30s, 5m)"
                        ))
                    }),
            }
        };
        let min_topup_usd = settings.min_token_topup_usd.unwrap_or(10.0);
        if !min_topup_usd.is_finite() || !(0.0..=1_000_000.0).contains(&min_topup_usd) {
            return Err(ConfigError::Invalid(
                "MIN_TOKEN_TOPUP_USD must be a number from 0 to 1000000".to_owned(),
            ));
        }
        let stripe = StripeConfig {
            api_key: secret(settings.stripe_api_key),
            webhook_secret: secret(settings.stripe_webhook_secret),
            api_base: http_url(
                "STRIPE_API_BASE",
                settings
                    .stripe_api_base
                    .unwrap_or_else(|| "https://api.stripe.com".to_owned()),
            )?,
            min_topup_usd,
            return_url: http_url(
                "BILLING_PORTAL_RETURN_URL",
                settings
                    .billing_portal_return_url
                    .unwrap_or_else(|| app_uri.clone()),
            )?,
            subscription_check_interval: interval(
                "AGENTRY_SUBSCRIPTION_CHECK_INTERVAL",
                settings.subscription_check_interval.as_deref(),
                Duration::from_secs(300),
                Duration::ZERO,
            )?,
            payment_sync_delay: interval(
                "AGENTRY_PAYMENT_SYNC_DELAY",
                settings.payment_sync_delay.as_deref(),
                Duration::from_secs(60),
                Duration::ZERO,
            )?,
        };
        let throttle = {
            let default = agentry_app::throttle::Throttle::default();
            let delay = interval(
                "AGENTRY_LOGIN_DELAY",
                settings.login_delay.as_deref(),
                default.delay,
                Duration::from_millis(1),
            )?;
            agentry_app::throttle::Throttle {
                hash_concurrency: settings
                    .hash_concurrency
                    .unwrap_or(default.hash_concurrency)
                    .max(1),
                hash_wait: interval(
                    "AGENTRY_HASH_WAIT",
                    settings.hash_wait.as_deref(),
                    default.hash_wait,
                    Duration::from_millis(1),
                )?,
                free_failures: settings
                    .login_free_failures
                    .unwrap_or(default.free_failures),
                delay,
                max_delay: interval(
                    "AGENTRY_LOGIN_MAX_DELAY",
                    settings.login_max_delay.as_deref(),
                    default.max_delay,
                    delay,
                )?,
                address_free_failures: settings
                    .login_address_free_failures
                    .unwrap_or(default.address_free_failures),
            }
        };

        let event_poll = interval(
            "AGENTRY_EVENT_POLL",
            settings.event_poll.as_deref(),
            agentry_app::dispatcher::DEFAULT_POLL,
            Duration::from_millis(10),
        )?;
        let model_timeout = interval(
            "AGENTRY_MODEL_TIMEOUT",
            settings.model_timeout.as_deref(),
            Duration::from_secs(300),
            Duration::from_millis(100),
        )?;
        let model_idle_timeout = interval(
            "AGENTRY_MODEL_IDLE_TIMEOUT",
            settings.model_idle_timeout.as_deref(),
            Duration::from_secs(120),
            Duration::from_millis(100),
        )?;
        let event_retention = match settings.event_retention.as_deref() {
            None => agentry_app::dispatcher::DEFAULT_RETENTION,
            Some(text) => parse_duration(text).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "AGENTRY_EVENT_RETENTION: `{text}` is not a duration between 1m and 365d (e.g. 12h, 7d)"
                ))
            })?,
        };

        let jobs = JobsConfig {
            enabled: settings.jobs.unwrap_or(true),
            lease: interval(
                "AGENTRY_JOB_LEASE",
                settings.job_lease.as_deref(),
                Duration::from_secs(300),
                Duration::from_secs(1),
            )?,
            backoff: interval(
                "AGENTRY_JOB_BACKOFF",
                settings.job_backoff.as_deref(),
                Duration::from_secs(5),
                Duration::from_millis(10),
            )?,
            poll: interval(
                "AGENTRY_JOB_POLL",
                settings.job_poll.as_deref(),
                Duration::from_millis(500),
                Duration::from_millis(10),
            )?,
        };

        let redis_url = match settings.redis_url.filter(|url| !url.trim().is_empty()) {
            Some(url)
                if url.starts_with("redis://")
                    || url.starts_with("rediss://")
                    || url.starts_with("unix://") =>
            {
                Some(Secret::new(url))
            }
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "REDIS_URL must start with redis://, rediss:// or unix://".to_owned(),
                ));
            }
            None => None,
        };

        let superadmin_email = match settings.superadmin_email.map(|e| e.trim().to_lowercase()) {
            Some(email) if email.is_empty() => None,
            Some(email) if !email.contains('@') => {
                return Err(ConfigError::Invalid(format!(
                    "SUPERADMIN_EMAIL: `{email}` is not an email address"
                )));
            }
            other => other,
        };

        let log_level = settings
            .log_level
            .unwrap_or_else(|| "info".to_owned())
            .to_lowercase();
        if !["trace", "debug", "info", "warn", "warning", "error"].contains(&log_level.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "LOG_LEVEL: `{log_level}` is not one of trace, debug, info, warn, error"
            )));
        }
        let log_level = if log_level == "warning" {
            "warn".to_owned()
        } else {
            log_level
        };

        let max_body_bytes = settings.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "AGENTRY_MAX_BODY_BYTES must be at least 1024".to_owned(),
            ));
        }
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        if workers == 0 {
            return Err(ConfigError::Invalid(
                "AGENTRY_WORKERS must be at least 1".to_owned(),
            ));
        }
        let db_pool_size = settings.db_pool_size.unwrap_or(match &database {
            DatabaseUrl::Postgres(_) => 16,
            DatabaseUrl::Sqlite(_) => 8,
        });
        if db_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "AGENTRY_DB_POOL_SIZE must be at least 1".to_owned(),
            ));
        }

        Ok((
            Config {
                data_dir,
                database,
                host,
                port,
                public_uri,
                api_key,
                app_uri,
                app_name,
                token_ttl,
                auth_rate_limit: settings.auth_rate_limit.unwrap_or(600),
                auth_rate_burst: settings.auth_rate_burst.unwrap_or(10).max(1),
                throttle,
                limits: {
                    let default = agentry_app::Limits::default();
                    agentry_app::Limits {
                        max_keys: settings.max_keys.unwrap_or(default.max_keys).max(1),
                        max_value_bytes: settings
                            .max_value_bytes
                            .unwrap_or(default.max_value_bytes)
                            .max(1),
                        max_owner_bytes: settings
                            .max_owner_bytes
                            .unwrap_or(default.max_owner_bytes)
                            .max(1),
                        max_agents_per_user: settings
                            .max_agents_per_user
                            .unwrap_or(default.max_agents_per_user)
                            .max(1),
                        read_model_bytes: settings
                            .read_model_bytes
                            .unwrap_or(default.read_model_bytes)
                            .max(1024 * 1024),
                    }
                },
                trusted_proxies,
                token_price_per_million_usd,
                low_balance_warning_threshold,
                token_warning_increment,
                stripe,
                jobs,
                event_poll,
                model_timeout,
                model_idle_timeout,
                event_retention,
                provider_settings: std::collections::BTreeMap::new(),
                allow_private_http: settings.allow_private_http.unwrap_or(false),
                redis_url,
                superadmin_email,
                log_level,
                log_format: settings.log_format.unwrap_or_default(),
                max_body_bytes,
                workers,
                db_pool_size,
            },
            notices,
        ))
    }
}

/// `3600`, `90s`, `15m`, `12h`, `30d`, between one minute and a year.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let factor = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = number.parse::<u64>().ok()?.checked_mul(factor)?;
    (60..=365 * 86_400)
        .contains(&secs)
        .then(|| Duration::from_secs(secs))
}

/// Every setting of the provider catalog that the environment sets (non-empty).
fn provider_settings_from_env() -> std::collections::BTreeMap<String, Secret> {
    agentry_extensions::providers::catalog()
        .iter()
        .flat_map(|p| p.settings.iter().map(|(name, _)| *name))
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_owned(), Secret::new(v)))
        })
        .collect()
}

/// `500ms`, `30s`, `5m`, `1h`, or plain seconds.
fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(at);
    let number = number.parse::<u64>().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(number.checked_mul(3_600)?)),
        "d" => Some(Duration::from_secs(number.checked_mul(86_400)?)),
        _ => None,
    }
}

fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::ParseFile {
        path: path.to_owned(),
        message: error.message().to_owned(),
    })
}

/// The key kept in the data directory, made on first use.
fn generated_key(data_dir: &Path) -> Result<(Secret, Option<Notice>), ConfigError> {
    let path = data_dir.join(GENERATED_KEY_FILE);
    let key_error = |source| ConfigError::KeyFile {
        path: path.clone(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => return Ok((Secret::new(key.trim()), None)),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(key_error(error)),
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(key_error)?;
    file.write_all(key.as_bytes()).map_err(key_error)?;
    let notice = format!(
        "AGIXT_API_KEY is not set: generated one and kept it in {} (set AGIXT_API_KEY to choose your own)",
        path.display()
    );
    Ok((Secret::new(key), Some(notice)))
}

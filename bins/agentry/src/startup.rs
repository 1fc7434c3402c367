//! Startup: config -> pool -> migrations -> seed -> bind, each phase timed for the report, and
//! the actix-web server that tests build the same way on port 0.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App as HttpApp, HttpServer, web};
use agentry_app::jobs::{JobRunner, RunnerOptions};
use agentry_app::{App, AppError, setup};
use agentry_store::seed::SeedOutcome;
use agentry_store::{Connector, PoolOptions, StatementCounter, StoreError, build_pool};

use crate::config::Config;
use crate::error::{self, ensure_json_body};
use crate::routes::table::RouteTable;
use crate::{guard, request_id, routes};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Database(#[from] StoreError),
    #[error("{0}")]
    App(#[from] AppError),
    #[error("Stripe: {0}")]
    Stripe(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// How long each startup phase took.
#[derive(Debug, Clone, Default)]
pub struct StartupReport {
    pub phases: Vec<(&'static str, Duration)>,
    pub migrations_applied: Vec<String>,
    pub seed: Option<SeedOutcome>,
}

impl StartupReport {
    fn time<T>(&mut self, phase: &'static str, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.phases.push((phase, started.elapsed()));
        result
    }

    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, took)| *took).sum()
    }

    /// One info line per phase, then the total.
    pub fn log(&self) {
        for (phase, took) in &self.phases {
            let detail = match *phase {
                "migrations" if self.migrations_applied.is_empty() => "up to date".to_owned(),
                "migrations" => format!("applied {}", self.migrations_applied.join(", ")),
                "seed" => match self.seed {
                    Some(SeedOutcome::Current) => "catalog current".to_owned(),
                    Some(SeedOutcome::Applied {
                        roles,
                        scopes,
                        role_scopes,
                    }) => format!(
                        "catalog written: {roles} roles, {scopes} scopes, {role_scopes} role scopes"
                    ),
                    None => String::new(),
                },
                _ => String::new(),
            };
            tracing::info!(
                "startup {phase}: {:.2} ms{}{detail}",
                took.as_secs_f64() * 1e3,
                if detail.is_empty() { "" } else { ", " }
            );
        }
        tracing::info!("startup total: {:.2} ms", self.total().as_secs_f64() * 1e3);
    }
}

/// Open the database, migrate it and seed it, timing each phase into `report`.
pub fn prepare_database(
    config: &Config,
    report: &mut StartupReport,
    statements: StatementCounter,
) -> Result<App, StartupError> {
    let connector = Connector::new(config.database.clone()).with_statement_counter(statements);
    let options = PoolOptions {
        max_size: config.db_pool_size,
        ..PoolOptions::default()
    };
    // One direct connection first: a bad URL or password fails here with the driver's words.
    let mut conn = report.time("pool", || -> Result<_, StoreError> {
        let conn = connector.connect()?;
        Ok(conn)
    })?;
    let pool = build_pool(connector, &options);
    report.migrations_applied = report.time("migrations", || setup::migrate(&mut conn))?;
    report.seed = Some(report.time("seed", || setup::seed(&mut conn))?);
    Ok(App::new(pool, app_settings(config)))
}

/// What the use cases need from the configuration.
pub fn app_settings(config: &Config) -> agentry_app::Settings {
    agentry_app::Settings {
        model_timeouts: agentry_inference::Timeouts {
            response: config.model_timeout,
            idle: config.model_idle_timeout,
            ..agentry_inference::Timeouts::default()
        },
        token_secret: config.api_key.expose().as_bytes().to_vec(),
        token_ttl: config.token_ttl,
        app_uri: config.app_uri.clone(),
        app_name: config.app_name.clone(),
        superadmin_email: config.superadmin_email.clone(),
        billing: agentry_billing::BillingSettings {
            token_price_per_million_usd: config.token_price_per_million_usd,
            low_balance_threshold: config.low_balance_warning_threshold,
            warning_increment: config.token_warning_increment,
        },
        stripe: agentry_app::payments::StripeSettings {
            webhook_secret: config
                .stripe
                .webhook_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
            min_topup_usd: config.stripe.min_topup_usd,
            return_url: config.stripe.return_url.clone(),
            subscription_check_interval: config.stripe.subscription_check_interval,
            payment_sync_delay: config.stripe.payment_sync_delay,
        },
        provider_settings: config
            .provider_settings
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_owned()))
            .collect(),
        data_dir: config.data_dir.clone(),
        public_uri: config.public_uri.clone(),
        allow_private_http: config.allow_private_http,
        limits: config.limits.clone(),
        throttle: config.throttle.clone(),
    }
}

/// Stripe, when `STRIPE_API_KEY` is set.
fn attach_gateway(app: App, config: &Config) -> Result<App, StartupError> {
    let Some(key) = &config.stripe.api_key else {
        return Ok(app);
    };
    let gateway =
        agentry_billing::stripe::StripeGateway::new(key.expose(), &config.stripe.api_base)
            .map_err(|error| StartupError::Stripe(error.to_string()))?;
    Ok(app.with_gateway(std::sync::Arc::new(gateway)))
}

/// The whole HTTP application: extractor limits and error handlers, every route, the JSON
/// 404, and the middleware (request ids outermost). Tests build the same value.
pub fn http_app(
    app: web::Data<App>,
    max_body_bytes: usize,
) -> HttpApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    HttpApp::new()
        .app_data(app)
        .app_data(web::Data::new(RouteTable::standard()))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::new(max_body_bytes))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .configure(routes::table::configure)
        .wrap(from_fn(guard::middleware))
        .wrap(ErrorHandlers::new().default_handler(ensure_json_body))
        .wrap(from_fn(request_id::middleware))
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    statements: StatementCounter,
    report: StartupReport,
    jobs: Option<JobRunner>,
    dispatcher: agentry_app::dispatcher::Dispatcher,
}

impl Application {
    /// Everything up to a bound socket. `config_took` is added to the report as the first
    /// phase.
    pub fn build(config: &Config, config_took: Duration) -> Result<Application, StartupError> {
        let mut report = StartupReport::default();
        report.phases.push(("config", config_took));
        // The token encoder reads its table once (tens of milliseconds): beside the start,
        // not in the first chat request.
        std::thread::spawn(agentry_inference::tokens::warm);
        let statements = StatementCounter::default();
        let app = prepare_database(config, &mut report, statements.clone())?;
        let app = crate::bus::attach(app, config);
        let app = attach_gateway(app, config)?;
        let dispatcher = report.time("event log", || {
            agentry_app::dispatcher::Dispatcher::at_head(&app, config.event_poll)
        })?;
        let jobs = match config.jobs.enabled {
            true => {
                // The log's retention runs as a job, at most one pending across instances;
                // the first run is due now.
                let mut uow = agentry_store::Uow::new(app.pool());
                agentry_app::dispatcher::schedule_prune(uow.conn()?, Duration::ZERO)?;
                // Each module that owns a kind of job gives its handlers.
                let runner = JobRunner::new(
                    app.clone(),
                    RunnerOptions {
                        lease: config.jobs.lease,
                        idle: config.jobs.poll,
                        backoff: config.jobs.backoff,
                        ..RunnerOptions::default()
                    },
                )
                .handle_all(app.payments().job_handlers())
                .handle_all(agentry_app::dispatcher::job_handlers(
                    &app,
                    config.event_retention,
                ));
                Some(runner)
            }
            false => None,
        };

        let address = format!("{}:{}", config.host, config.port);
        let (server, port) = report.time("bind", || -> Result<_, StartupError> {
            let bind_error = |source| StartupError::Bind {
                address: address.clone(),
                source,
            };
            let listener = TcpListener::bind(&address).map_err(bind_error)?;
            let port = listener.local_addr().map_err(bind_error)?.port();
            let data = web::Data::new(app);
            let limits = web::Data::new(crate::limits::Limits::new(
                config.auth_rate_limit,
                config.auth_rate_burst,
                config.trusted_proxies.clone(),
            ));
            let max_body_bytes = config.max_body_bytes;
            let server = HttpServer::new(move || {
                http_app(data.clone(), max_body_bytes).app_data(limits.clone())
            })
            .workers(config.workers)
            // Streams write small events one after another: without TCP_NODELAY each would
            // wait for the client's delayed ACK of the one before (40 ms on Linux).
            .on_connect(|io, _| {
                if let Some(tcp) = io.downcast_ref::<actix_web::rt::net::TcpStream>()
                    && let Err(error) = tcp.set_nodelay(true)
                {
                    tracing::debug!(%error, "TCP_NODELAY could not be set");
                }
            })
            // In-flight requests get this long to finish after SIGTERM/SIGINT.
            .shutdown_timeout(30)
            .listen(listener)
            .map_err(bind_error)?
            .run();
            Ok((server, port))
        })?;
        Ok(Application {
            server,
            port,
            statements,
            report,
            jobs,
            dispatcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn report(&self) -> &StartupReport {
        &self.report
    }

    /// Statements sent by every pooled connection since start.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped (SIGTERM/SIGINT, or the handle); in-flight requests finish first,
    /// and so do the jobs the runner has claimed (a job it had not finished by a kill runs
    /// again once its lease expires).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runner = self.jobs.map(|jobs| tokio::spawn(jobs.run(stopped)));
        // Holds nothing that must finish: stopped with the server.
        let dispatcher = tokio::spawn(self.dispatcher.run());
        let served = self.server.await;
        dispatcher.abort();
        let _ = stop.send(true);
        if let Some(runner) = runner
            && let Err(error) = runner.await
        {
            tracing::error!(%error, "the job runner stopped abnormally");
        }
        served
    }
}

use std::process::ExitCode;
use std::time::Instant;

use agentry::config::{AdminCommand, Cli, Command, Config};
use agentry::startup::{Application, StartupReport, prepare_database};
use agentry::telemetry;
use agentry_store::StatementCounter;
use clap::Parser;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let (config, notices) = match Config::load(cli.settings) {
        Ok(loaded) => loaded,
        Err(error) => return fail(&error),
    };
    let config_took = started.elapsed();
    telemetry::init(&config.log_level, config.log_format);
    for notice in notices {
        tracing::warn!("{notice}");
    }

    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let mut report = StartupReport::default();
            report.phases.push(("config", config_took));
            match prepare_database(&config, &mut report, StatementCounter::default()) {
                Ok(_) => {
                    report.log();
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
        Command::Serve => serve(&config, config_took),
        Command::Admin(AdminCommand::Promote { email }) => {
            let mut report = StartupReport::default();
            let app = match prepare_database(&config, &mut report, StatementCounter::default()) {
                Ok(app) => app,
                Err(error) => return fail(&error),
            };
            match app
                .accounts()
                .promote_super_admin(&mut agentry_store::Uow::new(app.pool()), &email)
            {
                Ok(user) => {
                    // Running servers hold the user's access: tell them, as their own writes
                    // do (PostgreSQL NOTIFY or Redis). Without the message each server's
                    // dispatcher still reads it from the event log within AGENTRY_EVENT_POLL.
                    if let Err(error) = agentry::bus::announce(&app, &config, user) {
                        tracing::warn!(%error, "running servers were not told; they see the promotion at their next poll of the event log");
                    }
                    println!("{} is now a super admin", email.trim().to_lowercase());
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
    }
}

fn serve(config: &Config, config_took: std::time::Duration) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    runtime.block_on(async {
        let application = match Application::build(config, config_took) {
            Ok(application) => application,
            Err(error) => return fail(&error),
        };
        application.report().log();
        tracing::info!(
            backend = %config.database.backend(),
            database = %config.database,
            "listening on http://{}:{}",
            config.host,
            application.port()
        );
        match application.run_until_stopped().await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        }
    })
}

/// One line naming the cause (with its sources), and a non-zero exit.
fn fail(error: &dyn std::error::Error) -> ExitCode {
    let mut line = format!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    // Drivers (libpq) answer in several lines: the operator gets one.
    eprintln!("{}", line.split_whitespace().collect::<Vec<_>>().join(" "));
    ExitCode::FAILURE
}

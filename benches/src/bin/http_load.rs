//! The HTTP load bench: seeds a realistic tenant population, starts the real server
//! in-process, drives each route with keep-alive connections and then with a new connection
//! per request, and prints requests/s, p50, p90, p99 and statements per request (read from
//! the server's own statement counter).
//!
//! ```text
//! cargo run --release -p agentry-benches --bin http-load -- [SECONDS] [CONNECTIONS] [DATABASE_URL]
//! ```
//! Defaults: 10 s, 16 connections, a fresh SQLite file. A `postgres://` URL must name an
//! empty database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry::config::{Config, Settings};
use agentry::startup::Application;
use agentry_auth::token::{Claims, TokenKeys};
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::identity::{
    NewCompany, NewMembership, NewUser, insert_companies, insert_memberships, insert_users,
};
use agentry_store::{Connector, DatabaseUrl};
use anyhow::Context;

const COMPANIES: usize = 100;
const MEMBERS: usize = 10;
const KEY: &str = "http-load-bench-key";
const PASSWORD: &str = "Sup3rSecret";

struct Seeded {
    tokens: Vec<String>,
    emails: Vec<String>,
    /// Each user's home company.
    homes: Vec<String>,
    /// Each user's first agent.
    agents: Vec<String>,
}

/// Agents per user; every other one is shared with the user's home company.
const AGENTS_PER_USER: usize = 10;

/// 10 agents per user (half shared with their company), each with the reference's default
/// settings, a provider key and a wallet (secrets sealed as the server seals them), and the
/// core commands enabled. Multi-row inserts.
fn seed_agents(
    conn: &mut agentry_store::AnyConnection,
    users: &[(agentry_store::DbUuid, agentry_store::DbUuid)],
    now: chrono::NaiveDateTime,
) -> anyhow::Result<Vec<String>> {
    use agentry_store::agents::{
        AgentRow, CommandRow, SettingRow, insert_agents, upsert_commands, upsert_settings,
    };
    let secrets = agentry_auth::secrets::SecretBox::new(KEY.as_bytes());
    let core = agentry_extensions::Registry::builtin().core_commands();
    let (mut agents, mut settings, mut commands, mut firsts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (n, (user, company)) in users.iter().enumerate() {
        for i in 0..AGENTS_PER_USER {
            let id: agentry_store::DbUuid = agentry_domain::AgentId::new().into();
            if i == 0 {
                firsts.push(agentry_domain::AgentId::from(id).to_string());
            }
            let shared = i % 2 == 1;
            agents.push(AgentRow {
                id,
                name: format!("Agent {i}"),
                user_id: *user,
                company_id: Some(*company),
                shared,
                created_at: now + chrono::Duration::microseconds(i as i64),
                updated_at: now,
            });
            let wallet = agentry_auth::wallet::Wallet::generate();
            let mut values = agentry_domain::agent::default_settings(Some("A helpful agent."));
            values.insert(
                "company_id".into(),
                agentry_domain::CompanyId::from(*company).to_string(),
            );
            values.insert("shared".into(), shared.to_string());
            values.insert("OPENAI_MAX_TOKENS".into(), "128000".into());
            values.insert("SOLANA_WALLET_ADDRESS".into(), wallet.address);
            for (name, value) in [
                ("OPENAI_API_KEY", format!("sk-load-{n}-{i}")),
                ("SOLANA_WALLET_API_KEY", wallet.secret_hex),
                ("SOLANA_WALLET_PASSPHRASE_API_KEY", wallet.passphrase_hex),
            ] {
                values.insert(name.into(), secrets.seal(&value));
            }
            settings.extend(values.into_iter().map(|(name, value)| SettingRow {
                agent_id: id,
                name,
                value,
            }));
            commands.extend(core.iter().map(|c| CommandRow {
                agent_id: id,
                command: (*c).to_owned(),
                enabled: true,
            }));
        }
    }
    insert_agents(conn, &agents)?;
    upsert_settings(conn, &settings)?;
    upsert_commands(conn, &commands)?;
    Ok(firsts)
}

/// 100 companies of 10 members; each user also belongs to two other companies (3 in all).
fn seed(url: &DatabaseUrl) -> anyhow::Result<Seeded> {
    let mut conn = Connector::new(url.clone()).connect()?;
    let now = chrono::Utc::now().naive_utc();
    let hash = agentry_auth::password::hash(PASSWORD)?;
    let companies: Vec<NewCompany> = (0..COMPANIES)
        .map(|i| NewCompany {
            id: CompanyId::new().into(),
            parent_id: None,
            name: format!("Company {i:03}"),
            agent_name: "AGiXT".into(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let users: Vec<NewUser> = (0..COMPANIES * MEMBERS)
        .map(|i| NewUser {
            id: UserId::new().into(),
            email: format!("user{i}@example.com"),
            username: Some(format!("user{i}")),
            password_hash: Some(hash.clone()),
            first_name: "Load".into(),
            last_name: format!("{i}"),
            mfa_secret: None,
            tos_accepted_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let mut memberships = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let home = i / MEMBERS;
        let role = if i % MEMBERS == 0 {
            RoleId::COMPANY_ADMIN
        } else {
            RoleId::USER
        };
        memberships.push(NewMembership::new(
            user.id.into(),
            companies[home].id.into(),
            role,
            now,
        ));
        for extra in [37, 71] {
            let company = &companies[(home + extra) % COMPANIES];
            memberships.push(NewMembership::new(
                user.id.into(),
                company.id.into(),
                RoleId::READ_ONLY_USER,
                // Joined after the home company, which stays each user's current one.
                now + chrono::Duration::seconds(1),
            ));
        }
    }
    insert_companies(&mut conn, &companies)?;
    insert_users(&mut conn, &users)?;
    insert_memberships(&mut conn, &memberships)?;
    let owners: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id, companies[i / MEMBERS].id))
        .collect();
    let agents = seed_agents(&mut conn, &owners, now)?;
    // Each company's layer: a provider key (sealed), a model and a default of its own.
    let secrets = agentry_auth::secrets::SecretBox::new(KEY.as_bytes());
    let layer: Vec<agentry_store::company_extensions::CompanySettingRow> = companies
        .iter()
        .enumerate()
        .flat_map(|(i, company)| {
            [
                (
                    "ANTHROPIC_API_KEY",
                    secrets.seal(&format!("sk-ant-load-{i}")),
                ),
                ("ANTHROPIC_AI_MODEL", "claude-opus-4-6".to_owned()),
                ("team_motto", format!("Company {i} ships")),
            ]
            .map(|(name, value)| {
                agentry_store::company_extensions::CompanySettingRow {
                    company_id: company.id,
                    name: name.to_owned(),
                    value,
                }
            })
        })
        .collect();
    agentry_store::company_extensions::upsert_settings(&mut conn, &layer)?;
    let keys = TokenKeys::new(KEY.as_bytes());
    let iat = (chrono::Utc::now().timestamp_micros() as f64) / 1e6;
    let tokens = users
        .iter()
        .map(|user| {
            keys.issue(&Claims {
                sub: user.id.0.to_string(),
                email: user.email.clone(),
                admin: false,
                exp: 4_102_444_800,
                iat,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let homes = (0..users.len())
        .map(|i| CompanyId::from(companies[i / MEMBERS].id).to_string())
        .collect();
    Ok(Seeded {
        tokens,
        emails: users.into_iter().map(|u| u.email).collect(),
        homes,
        agents,
    })
}

#[derive(Clone, Copy)]
enum Work {
    Get(&'static str),
    /// `GET /v1/billing/tokens/balance?company_id=` of the caller's home company.
    Balance,
    /// `GET /v1/agent/{first agent}{suffix}`.
    Agent(&'static str),
    /// `GET /v1/companies/{home}/settings`.
    CompanySettings,
    /// `POST /v1/agent/{first agent}/command`: Write to File.
    WriteFile,
    Login,
}

impl Work {
    fn label(self) -> &'static str {
        match self {
            Work::Get(path) => path,
            Work::Balance => "/v1/billing/tokens/balance",
            Work::CompanySettings => "/v1/companies/{id}/settings",
            Work::Agent("") => "/v1/agent/{id}",
            Work::Agent("/command") => "/v1/agent/{id}/command",
            Work::Agent("/extensions") => "/v1/agent/{id}/extensions",
            Work::Agent(_) => "/v1/agent/{id}/...",
            Work::WriteFile => "/v1/agent/{id}/command (Write to File)",
            Work::Login => "/v1/login",
        }
    }
}

struct Outcome {
    latencies: Vec<u32>,
    errors: u64,
}

async fn drive(
    base: Arc<str>,
    seeded: Arc<Seeded>,
    work: Work,
    connections: usize,
    keep_alive: bool,
    seconds: f64,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (base, seeded) = (Arc::clone(&base), Arc::clone(&seeded));
        tasks.push(tokio::spawn(async move {
            let mut builder =
                reqwest::Client::builder().pool_max_idle_per_host(if keep_alive { 1 } else { 0 });
            if !keep_alive {
                builder = builder.pool_idle_timeout(Duration::ZERO);
            }
            let Ok(client) = builder.build() else {
                return (Vec::new(), 1);
            };
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = c * 7919;
            while Instant::now() < deadline {
                n = (n + 104_729) % seeded.tokens.len();
                let started = Instant::now();
                let request = match work {
                    Work::Get(path) => client
                        .get(format!("{base}{path}"))
                        .header("Authorization", &seeded.tokens[n]),
                    Work::Balance => client
                        .get(format!(
                            "{base}/v1/billing/tokens/balance?company_id={}",
                            seeded.homes[n]
                        ))
                        .header("Authorization", &seeded.tokens[n]),
                    Work::CompanySettings => client
                        .get(format!("{base}/v1/companies/{}/settings", seeded.homes[n]))
                        .header("Authorization", &seeded.tokens[n]),
                    Work::Agent(suffix) => client
                        .get(format!("{base}/v1/agent/{}{suffix}", seeded.agents[n]))
                        .header("Authorization", &seeded.tokens[n]),
                    Work::WriteFile => client
                        .post(format!("{base}/v1/agent/{}/command", seeded.agents[n]))
                        .header("Authorization", &seeded.tokens[n])
                        .json(&serde_json::json!({
                            "command_name": "Write to File",
                            "command_args": {"filename": format!("load-{c}.txt"), "text": "load test"},
                            "conversation_name": "load",
                        })),
                    Work::Login => client.post(format!("{base}/v1/login")).json(
                        &serde_json::json!({"username": seeded.emails[n], "password": PASSWORD}),
                    ),
                };
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    Ok(response) => {
                        if errors == 0 && c == 0 {
                            let status = response.status();
                            let body = response.text().await.unwrap_or_default();
                            eprintln!("first error on connection 0: {status} {}", body.chars().take(200).collect::<String>());
                        }
                        errors += 1;
                    }
                    Err(error) => {
                        if errors == 0 && c == 0 {
                            eprintln!("first error on connection 0: {error}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
    };
    for task in tasks {
        if let Ok((latencies, errors)) = task.await {
            outcome.latencies.extend(latencies);
            outcome.errors += errors;
        }
    }
    outcome.latencies.sort_unstable();
    outcome
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at] as f64 / 1000.0
}

fn row(label: &str, outcome: &Outcome, seconds: f64, statements: u64) {
    let n = outcome.latencies.len();
    println!(
        "| {label} | {:.0} | {:.3} | {:.3} | {:.3} | {} | {} |",
        n as f64 / seconds,
        percentile(&outcome.latencies, 0.50),
        percentile(&outcome.latencies, 0.90),
        percentile(&outcome.latencies, 0.99),
        if n == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", statements as f64 / n as f64)
        },
        outcome.errors,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10.0);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let database = args.next();
    let dir = tempfile::tempdir()?;
    let url = database.unwrap_or_else(|| format!("sqlite://{}/load.db", dir.path().display()));

    let settings = Settings {
        data_dir: Some(dir.path().join("data")),
        database_url: Some(url.clone()),
        port: Some(0),
        api_key: Some(KEY.into()),
        workers: Some(2),
        auth_rate_limit: Some(0),
        log_level: Some("warn".into()),
        ..Settings::default()
    };
    let (config, _) = Config::resolve(settings).context("configuration")?;
    // Migrate and seed the catalog through the server's own start, then add the population.
    let application = Application::build(&config, Duration::ZERO).context("start")?;
    let seeded_at = Instant::now();
    let seeded = Arc::new(seed(&config.database)?);
    eprintln!(
        "seeded {} users in {COMPANIES} companies in {:.1} s",
        seeded.tokens.len(),
        seeded_at.elapsed().as_secs_f64()
    );
    let base: Arc<str> = format!("http://127.0.0.1:{}", application.port()).into();
    let statements = application.statements();
    tokio::spawn(application.run_until_stopped());

    println!(
        "backend: {} | {connections} connections | {seconds} s per run | server workers: 2",
        config.database.backend()
    );
    println!();
    println!("| route | requests/s | p50 ms | p90 ms | p99 ms | statements/request | errors |");
    println!("|---|---|---|---|---|---|---|");
    let routes = [
        Work::Get("/health"),
        Work::Get("/v1/user"),
        Work::Get("/v1/companies"),
        Work::Get("/v1/user/scopes"),
        Work::Balance,
        Work::Get("/v1/agent"),
        Work::Agent(""),
        Work::Agent("/command"),
        Work::Agent("/extensions"),
        Work::Get("/v1/extensions"),
        Work::Get("/v1/providers"),
        Work::CompanySettings,
        Work::Get("/v1/conversations"),
        Work::WriteFile,
    ];
    for keep_alive in [true, false] {
        for work in routes {
            // Warm every user's cached state first, as a running server would have it.
            drive(
                Arc::clone(&base),
                Arc::clone(&seeded),
                work,
                connections,
                true,
                1.0,
            )
            .await;
            let before = statements.get();
            let outcome = drive(
                Arc::clone(&base),
                Arc::clone(&seeded),
                work,
                connections,
                keep_alive,
                seconds,
            )
            .await;
            let label = format!(
                "{} {}{}",
                if matches!(work, Work::WriteFile) {
                    "POST"
                } else {
                    "GET"
                },
                work.label(),
                if keep_alive {
                    ""
                } else {
                    " (new connection each)"
                }
            );
            row(&label, &outcome, seconds, statements.get() - before);
        }
    }

    // Logins (argon2) alone, then GET /v1/user while logins run beside it.
    let before = statements.get();
    let logins = drive(
        Arc::clone(&base),
        Arc::clone(&seeded),
        Work::Login,
        2,
        true,
        seconds,
    )
    .await;
    row(
        "POST /v1/login (2 connections)",
        &logins,
        seconds,
        statements.get() - before,
    );
    let (reads, during) = tokio::join!(
        drive(
            Arc::clone(&base),
            Arc::clone(&seeded),
            Work::Get("/v1/user"),
            connections,
            true,
            seconds
        ),
        drive(
            Arc::clone(&base),
            Arc::clone(&seeded),
            Work::Login,
            2,
            true,
            seconds
        ),
    );
    row(
        "GET /v1/user while 2 connections log in",
        &reads,
        seconds,
        0,
    );
    row("POST /v1/login beside it", &during, seconds, 0);
    Ok(())
}

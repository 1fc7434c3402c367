//! Two server instances on one PostgreSQL database: sharing an agent, changing its settings
//! and renaming it, a credit to a parent company seen by a child company's member, a logout,
//! a role change and a membership removal made on instance A reach instance B's in-memory
//! state: its dispatcher reads them from the event log when the
//! bus (PostgreSQL LISTEN/NOTIFY, or Redis pub/sub when TEST_REDIS_URL is set) wakes it, or at
//! its next poll when no wake-up comes. Each run prints the measured delays; the test fails if
//! a change has not arrived within 5 s.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::{Duration, Instant};

use agentry::config::Settings;
use agentry_test_support::{TEST_API_KEY, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

const ROOT: &str = "root@example.com";
const PATIENCE: Duration = Duration::from_secs(5);

/// Poll `check` on instance B until it holds; the delay since the write on A.
async fn arrives<F, Fut>(what: &str, written: Instant, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if check().await {
            let delay = written.elapsed();
            eprintln!(
                "{what}: seen on instance B after {:.1} ms",
                delay.as_secs_f64() * 1e3
            );
            return delay;
        }
        assert!(
            written.elapsed() < PATIENCE,
            "{what} did not reach instance B within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Instance B's wake-up: the same bus as A's, or none it can reach.
#[derive(Clone, Copy, PartialEq)]
enum WakeUp {
    Bus,
    Cut,
    /// B's bus connection is killed mid-test, just before each of the last changes.
    Killed,
}

async fn scenario(redis: Option<String>, wake: WakeUp) {
    let Some(db) = TestDb::postgres() else { return };
    // This scenario's database: only its own listeners are killed.
    let database = db
        .url_string()
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .unwrap()
        .to_owned();
    let settings = || Settings {
        superadmin_email: Some(ROOT.into()),
        redis_url: redis.clone(),
        // The server's default (the test harness polls hourly otherwise).
        event_poll: Some("250ms".into()),
        ..Settings::default()
    };
    let a = TestApp::spawn_with(db, settings()).await;
    let b_settings = match wake {
        WakeUp::Bus => settings(),
        // No poll to fall back on: only the reconnected bus's wake-up can bring the changes
        // whose messages the kill lost.
        WakeUp::Killed => Settings {
            event_poll: Some("1h".into()),
            ..settings()
        },
        // A Redis nobody listens on: B's bus never connects, so only its dispatcher's poll
        // (100 ms here) brings A's writes.
        WakeUp::Cut => Settings {
            redis_url: Some("redis://127.0.0.1:1".into()),
            event_poll: Some("100ms".into()),
            ..settings()
        },
    };
    let b = TestApp::spawn_shared_with(&a, b_settings).await;
    // Both buses subscribe in the background right after start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A bus that cannot connect degrades the instance; it does not stop it serving. (Another
    // test may be killing bus connections a moment: a connected bus is waited for.)
    for (instance, connected) in [(&a, true), (&b, wake != WakeUp::Cut)] {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, ready) = instance.call(Method::GET, "/ready", None, None).await;
            assert_eq!(status, StatusCode::OK);
            let expected = if connected { "ready" } else { "degraded" };
            if ready["status"] == expected {
                break;
            }
            assert!(Instant::now() < deadline, "{ready}: expected {expected}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let (root, _) = a.register(ROOT, None).await;
    let (admin, _) = a.register("admin@example.com", None).await;
    let (_, view) = a.call(Method::GET, "/v1/user", Some(&admin), None).await;
    let company = view["companies"][0]["id"].as_str().unwrap().to_owned();
    let (_, invitation) = a
        .call(
            Method::POST,
            "/v1/invitations",
            Some(&admin),
            Some(json!({"email": "reader@example.com", "role_id": 6, "company_id": company})),
        )
        .await;
    let (reader, reader_id) = a
        .register("reader@example.com", invitation["id"].as_str())
        .await;

    // B learns the reader's access and the admin's token state.
    let members = format!("/v1/companies/{company}/members");
    assert_eq!(
        b.call(Method::GET, &members, Some(&reader), None).await.0,
        StatusCode::OK
    );
    let invite = |n: u32| {
        Some(json!({"email": format!("x{n}@example.com"), "role_id": 6, "company_id": company}))
    };
    assert_eq!(
        b.call(Method::POST, "/v1/invitations", Some(&reader), invite(0))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.call(Method::GET, "/v1/user", Some(&admin), None).await.0,
        StatusCode::OK
    );

    // Agents: B holds the admin's agent (unshared, so the reader meets 404) and the
    // reader's list; sharing, a settings change and a rename on A reach B.
    let (_, agents) = a.call(Method::GET, "/v1/agent", Some(&admin), None).await;
    let agent = agents["agents"][0]["id"].as_str().unwrap().to_owned();
    let agent_path = format!("/v1/agent/{agent}");
    assert_eq!(
        b.call(Method::GET, &agent_path, Some(&reader), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.call(Method::GET, &agent_path, Some(&admin), None).await.0,
        StatusCode::OK
    );
    b.call(Method::GET, "/v1/agent", Some(&reader), None).await;
    let settings = |s: serde_json::Value| Some(json!({"agent_name": "AGiXT", "settings": s}));
    let share = settings(json!({"shared": "true", "company_id": company}));
    assert_eq!(
        a.call(Method::PUT, &agent_path, Some(&admin), share)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("agent shared", written, || {
        let (b, reader, path) = (&b, &reader, &agent_path);
        async move { b.call(Method::GET, path, Some(reader), None).await.0 == StatusCode::OK }
    })
    .await;
    let persona = settings(json!({"persona": "set on A"}));
    assert_eq!(
        a.call(Method::PUT, &agent_path, Some(&admin), persona)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("agent settings change", written, || {
        let (b, reader, path) = (&b, &reader, &agent_path);
        async move {
            let (_, config) = b.call(Method::GET, path, Some(reader), None).await;
            config["agent"]["settings"]["persona"] == "set on A"
        }
    })
    .await;
    let rename = Some(json!({"new_name": "Renamed on A"}));
    assert_eq!(
        a.call(Method::PATCH, &agent_path, Some(&admin), rename)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("agent rename in a member's list", written, || {
        let (b, reader) = (&b, &reader);
        async move {
            let (_, list) = b.call(Method::GET, "/v1/agent", Some(reader), None).await;
            list["agents"]
                .as_array()
                .is_some_and(|l| l.iter().any(|a| a["name"] == "Renamed on A"))
        }
    })
    .await;

    // A company setting on A reaches the agent's config on B (B holds the company's layer).
    let company_settings = format!("/v1/companies/{company}/settings");
    let (_, config) = b.call(Method::GET, &agent_path, Some(&reader), None).await;
    assert!(config["agent"]["settings"].get("team_motto").is_none());
    let motto = Some(json!({"settings": {"team_motto": "set on A"}}));
    assert_eq!(
        a.call(Method::PUT, &company_settings, Some(&admin), motto)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("company setting", written, || {
        let (b, reader, path) = (&b, &reader, &agent_path);
        async move {
            let (_, config) = b.call(Method::GET, path, Some(reader), None).await;
            config["agent"]["settings"]["team_motto"] == "set on A"
        }
    })
    .await;

    // A credit to a parent company on A reaches a child company's member on B (the child's
    // balance route shows its root's tokens, held on B by the company that pays).
    let (status, child) = a
        .call(
            Method::POST,
            "/v1/companies",
            Some(&admin),
            Some(json!({"name": "Child", "parent_company_id": company})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{child}");
    let child_balance = format!(
        "/v1/billing/tokens/balance?company_id={}",
        child["id"].as_str().unwrap()
    );
    let written = Instant::now();
    arrives("child company created", written, || {
        let (b, admin, path) = (&b, &admin, &child_balance);
        async move { b.call(Method::GET, path, Some(admin), None).await.0 == StatusCode::OK }
    })
    .await;
    let (_, before) = b
        .call(Method::GET, &child_balance, Some(&admin), None)
        .await;
    let credit = format!("/v1/credit?company={company}&amount=1");
    assert_eq!(
        a.call(Method::POST, &credit, Some(TEST_API_KEY), None)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives(
        "credit to a parent, seen by a child's member",
        written,
        || {
            let (b, admin, path, before) = (&b, &admin, &child_balance, &before);
            async move {
                let (_, balance) = b.call(Method::GET, path, Some(admin), None).await;
                balance["parent_token_balance"].as_i64().unwrap_or(0)
                    > before["parent_token_balance"].as_i64().unwrap_or(0)
            }
        },
    )
    .await;

    // Unsharing on A: the reader loses the agent on B.
    let unshare = settings(json!({"shared": "false"}));
    if wake == WakeUp::Killed {
        kill_bus_connections(&redis, &database, &b).await;
    }
    assert_eq!(
        a.call(Method::PUT, &agent_path, Some(&admin), unshare)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("agent unshared", written, || {
        let (b, reader, path) = (&b, &reader, &agent_path);
        async move { b.call(Method::GET, path, Some(reader), None).await.0 == StatusCode::NOT_FOUND }
    })
    .await;

    // A personal access token B has accepted, revoked on A.
    let (status, created) = a
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "ci", "scopes": ["account:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let pat = created["token"].as_str().unwrap().to_owned();
    assert_eq!(
        b.call(Method::GET, "/v1/user", Some(&pat), None).await.0,
        StatusCode::OK
    );
    if wake == WakeUp::Killed {
        kill_bus_connections(&redis, &database, &b).await;
    }
    let revoke = format!("/v1/api-keys/{}", created["id"].as_str().unwrap());
    assert_eq!(
        a.call(Method::DELETE, &revoke, Some(&admin), None).await.0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("personal token revoked", written, || {
        let (b, pat) = (&b, &pat);
        async move {
            b.call(Method::GET, "/v1/user", Some(pat), None).await.0 == StatusCode::UNAUTHORIZED
        }
    })
    .await;

    // A role change on A.
    if wake == WakeUp::Killed {
        kill_bus_connections(&redis, &database, &b).await;
    }
    let promote = json!({"role_id": 2, "company_id": company, "user_id": reader_id});
    assert_eq!(
        a.call(Method::PUT, "/v1/user/role", Some(&root), Some(promote))
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    let mut n = 0;
    arrives("role change", written, || {
        n += 1;
        let body = invite(n);
        let (b, reader) = (&b, &reader);
        async move {
            b.call(Method::POST, "/v1/invitations", Some(reader), body)
                .await
                .0
                == StatusCode::OK
        }
    })
    .await;

    // A membership removal on A.
    if wake == WakeUp::Killed {
        kill_bus_connections(&redis, &database, &b).await;
    }
    let remove = format!("/v1/companies/{company}/users/{reader_id}");
    assert_eq!(
        a.call(Method::DELETE, &remove, Some(&root), None).await.0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("membership removal", written, || {
        let (b, reader, members) = (&b, &reader, &members);
        async move { b.call(Method::GET, members, Some(reader), None).await.0 == StatusCode::NOT_FOUND }
    }).await;

    // A logout on A.
    if wake == WakeUp::Killed {
        kill_bus_connections(&redis, &database, &b).await;
    }
    assert_eq!(
        a.call(Method::POST, "/v1/logout", Some(&admin), None)
            .await
            .0,
        StatusCode::OK
    );
    let written = Instant::now();
    arrives("logout", written, || {
        let (b, admin) = (&b, &admin);
        async move {
            b.call(Method::GET, "/v1/user", Some(admin), None).await.0 == StatusCode::UNAUTHORIZED
        }
    })
    .await;
}

/// Kill every instance's bus connection (PostgreSQL listeners, or Redis subscribers): the
/// message of the next write is lost; the log still has it.
async fn kill_bus_connections(redis: &Option<String>, database: &str, b: &TestApp) {
    // B's bus is up (again, after the last kill: its reconnect works) before it is cut.
    let deadline = Instant::now() + PATIENCE;
    while b.call(Method::GET, "/ready", None, None).await.1["status"] != "ready" {
        assert!(Instant::now() < deadline, "B's bus never reconnected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match redis {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(killed >= 1, "no subscriber was killed");
        }
        None => {
            use diesel::{Connection, RunQueryDsl};
            let url = agentry_test_support::postgres_admin_url().unwrap();
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            #[derive(diesel::QueryableByName)]
            struct Killed {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                #[expect(dead_code, reason = "only counted")]
                pg_terminate_backend: bool,
            }
            let killed: Vec<Killed> = diesel::sql_query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'agentry-bus'",
            )
            .bind::<diesel::sql_types::Text, _>(database)
            .load(&mut conn)
            .unwrap();
            assert!(!killed.is_empty(), "no listener was killed");
        }
    }
}

/// Each instance's bus connection killed before each of the last changes: they still arrive,
/// by the reconnected bus's wake-up alone (B does not poll), none lost.
#[tokio::test]
async fn changes_arrive_when_the_bus_connection_is_killed_mid_test() {
    scenario(None, WakeUp::Killed).await;
}

#[tokio::test]
async fn changes_arrive_when_the_redis_connection_is_killed_mid_test() {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => scenario(Some(url), WakeUp::Killed).await,
        _ if std::env::var_os("CI").is_some() => panic!("CI is set but TEST_REDIS_URL is not"),
        _ => eprintln!("TEST_REDIS_URL is not set: Redis variant skipped"),
    }
}

#[tokio::test]
async fn changes_on_one_instance_reach_the_other_through_postgres() {
    scenario(None, WakeUp::Bus).await;
}

/// The wake-up lost for good: every change still arrives, by the event log's poll.
#[tokio::test]
async fn changes_reach_an_instance_that_never_hears_the_bus() {
    scenario(None, WakeUp::Cut).await;
}

#[tokio::test]
async fn changes_on_one_instance_reach_the_other_through_redis() {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => scenario(Some(url), WakeUp::Bus).await,
        _ if std::env::var_os("CI").is_some() => panic!("CI is set but TEST_REDIS_URL is not"),
        _ => eprintln!("TEST_REDIS_URL is not set: Redis variant skipped"),
    }
}

//! The built binary, as an operator runs it: first and second start, `migrate`, `--help`,
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]
//! SIGTERM, and one clear error line (no panic) for each bad start.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use agentry_test_support::process::Server;
use agentry_test_support::{TestDb, postgres_admin_url};

const BIN: &str = env!("CARGO_BIN_EXE_agentry");

/// The binary with a clean environment: only what a test sets reaches it.
fn agentry(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AGENTRY_DATA_DIR", data_dir)
        .env("AGIXT_PORT", "0")
        .env("AGENTRY_WORKERS", "1")
        .current_dir(data_dir.ancestors().find(|p| p.is_dir()).unwrap())
        .stdin(Stdio::null());
    command
}

/// A start that must fail: exit code non-zero, one line on stderr naming the cause.
fn fails_with(mut command: Command, cause: &str) {
    let Output { status, stderr, .. } = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(!status.success(), "{cause}: exited with success");
    assert_eq!(status.code(), Some(1), "{cause}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(cause),
        "{cause}: {stderr}"
    );
}

#[test]
fn first_and_second_start_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let first = Server::start(agentry(&data));
    assert!(first.get("/health").ends_with("{\"status\":\"ok\"}"));
    assert!(first.get("/ready").contains("200 OK"));
    let (status, output) = first.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let text = output.join("\n");
    for phase in ["config", "pool", "migrations", "seed", "bind", "total"] {
        assert!(
            text.contains(&format!("startup {phase}: ")),
            "{phase} missing:\n{text}"
        );
    }
    assert!(text.contains("applied 20261128000001"), "{text}");
    assert!(
        text.contains("catalog written: 7 roles, 75 scopes"),
        "{text}"
    );
    assert!(text.contains("generated one and kept it"), "{text}");
    assert!(text.contains("stopped"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes outside a terminal"
    );
    assert!(data.join("agentry.db").is_file());

    let second = Server::start(agentry(&data));
    assert!(second.get("/health").contains("200 OK"));
    let (status, output) = second.terminate();
    assert!(status.success());
    let text = output.join("\n");
    assert!(
        text.contains("startup migrations: ") && text.contains("up to date"),
        "{text}"
    );
    assert!(text.contains("catalog current"), "{text}");
    assert!(!text.contains("generated one"), "the key is reused");
}

#[test]
fn json_logs_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = agentry(&dir.path().join("data"));
    command.env("AGENTRY_LOG_FORMAT", "json");
    let server = Server::start(command);
    let (_, output) = server.terminate();
    let startup = output.iter().find(|l| l.contains("startup total")).unwrap();
    let line: serde_json::Value = serde_json::from_str(startup).unwrap();
    assert_eq!(line["level"], "INFO");
}

#[test]
fn migrate_prepares_the_database_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = agentry(&data).arg("migrate").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("applied 20261128000001") && stdout.contains("catalog written"),
        "{stdout}"
    );
    let output = agentry(&data).arg("migrate").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("up to date") && stdout.contains("catalog current"),
        "{stdout}"
    );
}

#[test]
fn help_lists_every_option_and_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = agentry(&dir.path().join("data"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "AGENTRY_CONFIG",
        "AGENTRY_DATA_DIR",
        "DATABASE_URL",
        "AGENTRY_HOST",
        "AGIXT_PORT",
        "AGIXT_URI",
        "AGIXT_API_KEY",
        "REDIS_URL",
        "SUPERADMIN_EMAIL",
        "LOG_LEVEL",
        "AGENTRY_LOG_FORMAT",
        "AGENTRY_MAX_BODY_BYTES",
        "AGENTRY_WORKERS",
        "AGENTRY_DB_POOL_SIZE",
        "serve",
        "migrate",
    ] {
        assert!(help.contains(name), "{name} missing from --help:\n{help}");
    }
}

#[test]
fn bad_starts_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let mut unparsable = agentry(&data);
    unparsable.env("DATABASE_URL", "mysql://root@localhost/agentry");
    fails_with(unparsable, "unsupported scheme `mysql`");

    let mut unreachable = agentry(&data);
    unreachable
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/agentry")
        .env("AGIXT_API_KEY", "k");
    fails_with(
        unreachable,
        "cannot connect to postgres://postgres@127.0.0.1:1/agentry",
    );

    let mut no_key = agentry(&data);
    no_key.env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentry");
    fails_with(no_key, "AGIXT_API_KEY is required with PostgreSQL");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    fails_with(agentry(&file.join("data")), "cannot create data directory");

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut in_use = agentry(&data);
    in_use.env("AGIXT_PORT", taken.local_addr().unwrap().port().to_string());
    fails_with(in_use, "Address already in use");
}

#[test]
fn postgres_refusals_name_the_server_cause() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Same server, a role that does not exist: the driver's own words reach the operator,
    // never the password.
    let host = admin.split('@').nth(1).unwrap().split('/').next().unwrap();
    let mut wrong_user = agentry(&dir.path().join("data"));
    wrong_user
        .env(
            "DATABASE_URL",
            format!("postgres://no_such_role:pw-secret@{host}/postgres"),
        )
        .env("AGIXT_API_KEY", "k");
    let output = wrong_user.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no_such_role") && !stderr.contains("pw-secret"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn two_servers_started_together_on_postgres_migrate_once() {
    let Some(db) = TestDb::postgres_empty() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let mut command = agentry(&dir.path().join(name));
        command
            .env("DATABASE_URL", db.url_string())
            .env("AGIXT_API_KEY", "shared-key");
        command
    };
    let (a, b) = (start("a"), start("b"));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(a));
        let b = s.spawn(|| Server::start(b));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.get("/ready").contains("200 OK") && b.get("/ready").contains("200 OK"));
    let (status_a, out_a) = a.terminate();
    let (status_b, out_b) = b.terminate();
    assert!(status_a.success() && status_b.success());
    let applied = [&out_a, &out_b]
        .iter()
        .filter(|out| out.iter().any(|l| l.contains("applied 20261128000001")))
        .count();
    assert_eq!(applied, 1, "exactly one instance applied the migration");
    assert!(
        out_a
            .iter()
            .chain(&out_b)
            .any(|l| l.contains("backend=postgres") || l.contains("postgres"))
    );
}

#[test]
fn admin_promote_makes_a_super_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(agentry(&data));
    assert!(!register(server.port, "boss@example.com").is_empty());
    let (status, _) = server.terminate();
    assert!(status.success());

    let output = agentry(&data)
        .args(["admin", "promote", "BOSS@example.com"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("boss@example.com is now a super admin")
    );

    let unknown = agentry(&data)
        .args(["admin", "promote", "nobody@example.com"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("No account has the email nobody@example.com")
    );
}

/// One HTTP/1.1 request (closing the connection); the raw response.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: {t}\r\n"));
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Registers `email`; its token.
fn register(port: u16, email: &str) -> String {
    let body = format!(
        r#"{{"email":"{email}","password":"Sup3rSecret","confirm_password":"Sup3rSecret"}}"#
    );
    let response = http(port, "POST", "/v1/user", None, Some(&body));
    let json = response.split("\r\n\r\n").nth(1).unwrap();
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["token"].as_str().unwrap().to_owned()
}

// Issue 10, finding 8: a client's malformed request was logged at ERROR (clients could fill
// the error log).
#[test]
fn malformed_requests_are_not_logged_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(agentry(&dir.path().join("data")));
    for raw in [
        "GARBAGE\r\n\r\n".as_bytes(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"\x00\x01\x02\x03 HTTP/9.9\r\n\r\n",
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(40_000)
        )
        .as_bytes(),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream.write_all(raw).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    }
    assert!(server.get("/health").ends_with("{\"status\":\"ok\"}"));
    let (status, output) = server.terminate();
    assert!(status.success());
    let errors: Vec<&String> = output.iter().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

// Issue 10, finding 8: `agentry admin promote` was not seen by a running server.
#[test]
fn a_promotion_reaches_the_running_server_on_postgres() {
    let Some(db) = TestDb::postgres_empty() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let with_db = |command: &mut Command| {
        command
            .env("DATABASE_URL", db.url_string())
            .env("AGIXT_API_KEY", "shared-key");
    };
    let mut serve = agentry(&dir.path().join("data"));
    with_db(&mut serve);
    let server = Server::start(serve);
    let boss = register(server.port, "boss@example.com");
    let other = register(server.port, "other@example.com");
    let user = http(server.port, "GET", "/v1/user", Some(&other), None);
    let view: serde_json::Value =
        serde_json::from_str(user.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let foreign = format!(
        "/v1/companies/{}/settings",
        view["companies"][0]["id"].as_str().unwrap()
    );
    // The server holds the boss's access: another company is unknown to them.
    assert!(http(server.port, "GET", &foreign, Some(&boss), None).starts_with("HTTP/1.1 404"));

    let mut promote = agentry(&dir.path().join("data"));
    with_db(&mut promote);
    let output = promote
        .args(["admin", "promote", "boss@example.com"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Without a restart, within a bounded wait: the bus carries the change.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = http(server.port, "GET", &foreign, Some(&boss), None);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never seen: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, _) = server.terminate();
    assert!(status.success());
}

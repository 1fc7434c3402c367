#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]
//! The "Essential Abilities" commands end to end, on a temporary data directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use agentry_extensions::{
    CommandContext, CommandError, EssentialAbilities, Extension, Registry, SafeClient, Workspace,
    args,
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OUTPUT_URL: &str = "http://localhost:7437/outputs/agent-1/conv-1/";

/// A data directory with a workspace, plus a sibling directory that must stay untouched.
struct Fixture {
    _dir: TempDir,
    ctx: CommandContext,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_client(SafeClient::new(false))
    }

    fn with_client(http: SafeClient) -> Fixture {
        let dir = TempDir::new().unwrap();
        let data_dir = dir.path().join("data");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&data_dir).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let ctx = CommandContext {
            agent_id: "agent-1".into(),
            agent_name: "Tester".into(),
            conversation_id: "conv-1".into(),
            conversation_name: "-".into(),
            user_email: "user@example.com".into(),
            settings: BTreeMap::new(),
            workspace: Workspace::for_conversation(&data_dir, "agent-1", "conv-1"),
            output_url: OUTPUT_URL.into(),
            http,
        };
        Fixture {
            _dir: dir,
            ctx,
            outside,
        }
    }

    fn root(&self) -> &Path {
        self.ctx.workspace.root()
    }

    async fn run(&self, command: &str, args: Value) -> Result<String, CommandError> {
        EssentialAbilities
            .execute(command, args.as_object().unwrap(), &self.ctx)
            .await
    }

    async fn ok(&self, command: &str, args: Value) -> String {
        match self.run(command, args).await {
            Ok(out) => out,
            Err(error) => panic!("{command}: {error:?}"),
        }
    }

    async fn write(&self, filename: &str, text: &str) {
        self.ok("Write to File", json!({"filename": filename, "text": text}))
            .await;
    }

    /// Every file under the fixture's temporary directory that is outside the workspace.
    fn files_outside_workspace(&self) -> Vec<PathBuf> {
        let top = self.outside.parent().unwrap();
        walkdir::WalkDir::new(top)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| entry.into_path())
            .filter(|path| !path.starts_with(self.root()))
            .collect()
    }
}

fn failed_with(result: Result<String, CommandError>, text: &str) {
    match result {
        Err(CommandError::Failed(message)) => assert!(message.contains(text), "{message}"),
        other => panic!("expected Failed({text}), got {other:?}"),
    }
}

fn bad_argument(result: Result<String, CommandError>, argument: &str) {
    match result {
        Err(CommandError::BadArgument(name, _)) => assert_eq!(name, argument),
        other => panic!("expected BadArgument({argument}), got {other:?}"),
    }
}

fn bad_path(result: Result<String, CommandError>) {
    assert!(
        matches!(result, Err(CommandError::BadPath(_))),
        "expected BadPath, got {result:?}"
    );
}

#[tokio::test]
async fn write_to_file_answers_the_reference_text() {
    let fx = Fixture::new();
    let out = fx
        .ok(
            "Write to File",
            json!({"filename": "test_user.txt", "text": "Test content"}),
        )
        .await;
    assert_eq!(
        out,
        format!(
            "File test_user.txt written successfully. The user can access it at {OUTPUT_URL}test_user.txt"
        )
    );
    assert_eq!(
        fs::read_to_string(fx.root().join("test_user.txt")).unwrap(),
        "Test content"
    );
    // Overwrites, by function name too.
    fx.ok(
        "write_to_file",
        json!({"filename": "test_user.txt", "text": "new"}),
    )
    .await;
    assert_eq!(
        fs::read_to_string(fx.root().join("test_user.txt")).unwrap(),
        "new"
    );
}

#[tokio::test]
async fn write_creates_directories_and_links_the_relative_path() {
    let fx = Fixture::new();
    let out = fx
        .ok(
            "Write to File",
            json!({"filename": "notes/day 1/plan.md", "text": "# Plan"}),
        )
        .await;
    assert!(
        out.ends_with(&format!("{OUTPUT_URL}notes/day%201/plan.md")),
        "{out}"
    );
    assert!(fx.root().join("notes/day 1/plan.md").is_file());
}

#[tokio::test]
async fn known_prefixes_land_in_the_workspace() {
    let fx = Fixture::new();
    let root = fx.root().to_string_lossy().into_owned();
    for (given, lands) in [
        ("/workspace/a.txt", "a.txt"),
        ("/path/to/b.txt", "b.txt"),
        ("/agixt/c.txt", "c.txt"),
        ("WORKSPACE/agent_1234/conv-1/d.txt", "d.txt"),
    ] {
        let out = fx
            .ok("Write to File", json!({"filename": given, "text": "x"}))
            .await;
        assert!(fx.root().join(lands).is_file(), "{given}");
        assert!(out.ends_with(&format!("{OUTPUT_URL}{lands}")), "{out}");
    }
    fx.write(&format!("{root}/e.txt"), "x").await;
    assert!(fx.root().join("e.txt").is_file());
    assert!(fx.files_outside_workspace().is_empty());
}

#[tokio::test]
async fn oversized_text_is_refused() {
    let fx = Fixture::new();
    let text = "x".repeat(10 * 1024 * 1024 + 1);
    bad_argument(
        fx.run(
            "Write to File",
            json!({"filename": "big.txt", "text": text}),
        )
        .await,
        "text",
    );
    bad_argument(
        fx.run("Write to File", json!({"filename": "a.txt"})).await,
        "text",
    );
    assert!(!fx.root().join("big.txt").exists());
}

#[tokio::test]
async fn paths_that_leave_the_workspace_are_refused() {
    let fx = Fixture::new();
    let long_name = "n".repeat(300);
    let long_path = "d/".repeat(600) + "f.txt";
    for filename in [
        "../x.txt",
        "a/../../x.txt",
        "../../outside/x.txt",
        "/etc/passwd",
        "/tmp/x.txt",
        "",
        "a\0b",
        long_name.as_str(),
        long_path.as_str(),
    ] {
        bad_path(
            fx.run(
                "Write to File",
                json!({"filename": filename, "text": "pwned"}),
            )
            .await,
        );
    }
    bad_path(
        fx.run("Read File", json!({"filename": "/etc/passwd"}))
            .await,
    );
    bad_path(fx.run("Delete File", json!({"filename": "../data"})).await);
    bad_path(fx.run("List Directory", json!({"path": ".."})).await);
    bad_path(
        fx.run(
            "Search File Content",
            json!({"query": "root", "filename": "/etc/passwd"}),
        )
        .await,
    );
    assert!(fx.files_outside_workspace().is_empty());
}

#[tokio::test]
async fn symlinks_are_refused() {
    let fx = Fixture::new();
    fx.write("real.txt", "inside").await;
    let secret = fx.outside.join("secret.txt");
    fs::write(&secret, "secret").unwrap();
    std::os::unix::fs::symlink(&fx.outside, fx.root().join("link")).unwrap();
    std::os::unix::fs::symlink(&secret, fx.root().join("file_link")).unwrap();

    bad_path(
        fx.run(
            "Write to File",
            json!({"filename": "link/x.txt", "text": "pwned"}),
        )
        .await,
    );
    bad_path(
        fx.run(
            "Write to File",
            json!({"filename": "file_link", "text": "pwned"}),
        )
        .await,
    );
    bad_path(fx.run("Read File", json!({"filename": "file_link"})).await);
    bad_path(
        fx.run("Read File", json!({"filename": "link/secret.txt"}))
            .await,
    );
    bad_path(
        fx.run("Delete File", json!({"filename": "file_link"}))
            .await,
    );
    bad_path(fx.run("List Directory", json!({"path": "link"})).await);

    assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
    assert_eq!(fs::read_dir(&fx.outside).unwrap().count(), 1);
    // Searches neither follow nor list links.
    let found = fx.ok("Search Files", json!({"query": "secret"})).await;
    assert!(!found.contains("secret.txt"), "{found}");
    let hits = fx
        .ok("Search File Content", json!({"query": "secret"}))
        .await;
    assert!(hits.starts_with("No matches"), "{hits}");
}

#[tokio::test]
async fn read_file_reads_line_ranges() {
    let fx = Fixture::new();
    let text: String = (1..=700).map(|n| format!("line {n}\r\n")).collect();
    fx.write("long.txt", &text).await;

    let first = fx.ok("Read File", json!({"filename": "long.txt"})).await;
    let (body, note) = first.split_once("\n\n").unwrap();
    assert_eq!(body.lines().count(), 500);
    assert!(body.starts_with("line 1\nline 2\n"));
    assert!(body.ends_with("line 500"));
    assert!(note.contains("line_start=501"), "{note}");

    let range = fx
        .ok(
            "Read File",
            json!({"filename": "long.txt", "line_start": "3", "line_end": 5}),
        )
        .await;
    assert_eq!(range, "line 3\nline 4\nline 5");
    let tail = fx
        .ok(
            "Read File",
            json!({"filename": "long.txt", "line_start": 699}),
        )
        .await;
    assert_eq!(tail, "line 699\nline 700");
    let past = fx
        .ok(
            "Read File",
            json!({"filename": "long.txt", "line_start": 800}),
        )
        .await;
    assert!(past.contains("fewer than 800 lines"), "{past}");

    failed_with(
        fx.run("Read File", json!({"filename": "missing.txt"}))
            .await,
        "Error reading file: file not found",
    );
    bad_argument(
        fx.run(
            "Read File",
            json!({"filename": "long.txt", "line_start": 5, "line_end": 2}),
        )
        .await,
        "line_end",
    );
    bad_argument(
        fx.run(
            "Read File",
            json!({"filename": "long.txt", "line_start": "abc"}),
        )
        .await,
        "line_start",
    );
    bad_argument(
        fx.run(
            "Read File",
            json!({"filename": "long.txt", "line_start": 0}),
        )
        .await,
        "line_start",
    );
}

#[tokio::test]
async fn modify_file_replaces_every_occurrence() {
    let fx = Fixture::new();
    fx.write("a.txt", "cat and cat and dog").await;
    let out = fx
        .ok(
            "Modify File",
            json!({"filename": "a.txt", "old_text": "cat", "new_text": "bird"}),
        )
        .await;
    assert!(out.contains("2 occurrences"), "{out}");
    assert_eq!(
        fs::read_to_string(fx.root().join("a.txt")).unwrap(),
        "bird and bird and dog"
    );
    failed_with(
        fx.run(
            "Modify File",
            json!({"filename": "a.txt", "old_text": "fish", "new_text": "x"}),
        )
        .await,
        "not found",
    );
    failed_with(
        fx.run(
            "Modify File",
            json!({"filename": "nope.txt", "old_text": "a", "new_text": "b"}),
        )
        .await,
        "file not found",
    );
    bad_argument(
        fx.run(
            "Modify File",
            json!({"filename": "a.txt", "old_text": "", "new_text": "b"}),
        )
        .await,
        "old_text",
    );
}

#[tokio::test]
async fn delete_file_deletes_files_only() {
    let fx = Fixture::new();
    fx.write("dir/a.txt", "x").await;
    assert_eq!(
        fx.ok("Delete File", json!({"filename": "dir/a.txt"})).await,
        "File dir/a.txt deleted."
    );
    assert!(!fx.root().join("dir/a.txt").exists());
    failed_with(
        fx.run("Delete File", json!({"filename": "dir"})).await,
        "directory",
    );
    assert!(fx.root().join("dir").is_dir());
    failed_with(
        fx.run("Delete File", json!({"filename": "dir/a.txt"}))
            .await,
        "file not found",
    );
}

#[tokio::test]
async fn list_directory_sorts_and_marks_directories() {
    let fx = Fixture::new();
    assert_eq!(fx.ok("List Directory", json!({})).await, "");
    fx.write("b.txt", "x").await;
    fx.write("a.txt", "x").await;
    fx.write("sub/c.txt", "x").await;
    assert_eq!(
        fx.ok("List Directory", json!({"path": ""})).await,
        "a.txt\nb.txt\nsub/"
    );
    assert_eq!(
        fx.ok("List Directory", json!({"path": "/workspace/sub"}))
            .await,
        "c.txt"
    );
    assert_eq!(
        fx.ok("List Directory", json!({"path": "missing"})).await,
        ""
    );
    failed_with(
        fx.run("List Directory", json!({"path": "a.txt"})).await,
        "not a directory",
    );
}

#[tokio::test]
async fn search_files_by_glob_or_substring() {
    let fx = Fixture::new();
    for name in ["Report.md", "notes/report-2.txt", "notes/todo.txt", "x.csv"] {
        fx.write(name, "x").await;
    }
    assert_eq!(
        fx.ok("Search Files", json!({"query": "REPORT"})).await,
        "Report.md\nnotes/report-2.txt"
    );
    assert_eq!(
        fx.ok("Search Files", json!({"query": "*.txt"})).await,
        "notes/report-2.txt\nnotes/todo.txt"
    );
    assert_eq!(
        fx.ok("Search Files", json!({"query": "notes/t?do.*"}))
            .await,
        "notes/todo.txt"
    );
    assert!(
        fx.ok("Search Files", json!({"query": "*.pdf"}))
            .await
            .starts_with("No files")
    );
    bad_argument(
        fx.run("Search Files", json!({"query": "[a"})).await,
        "query",
    );
    bad_argument(fx.run("Search Files", json!({"query": " "})).await, "query");
}

#[tokio::test]
async fn search_results_are_capped() {
    let fx = Fixture::new();
    for n in 0..210 {
        fx.write(&format!("f{n:03}.txt"), "needle").await;
    }
    let files = fx.ok("Search Files", json!({"query": ".txt"})).await;
    assert_eq!(files.lines().filter(|l| l.starts_with('f')).count(), 200);
    assert!(files.contains("210 results"), "{files}");
    let hits = fx
        .ok("Search File Content", json!({"query": "NEEDLE"}))
        .await;
    assert_eq!(hits.lines().filter(|l| l.starts_with('f')).count(), 200);
    assert!(hits.starts_with("f000.txt:1: needle"), "{hits}");
}

#[tokio::test]
async fn search_file_content_in_one_file_or_all() {
    let fx = Fixture::new();
    fx.write("a.txt", "Alpha\nbeta\nALPHABET").await;
    fx.write("dir/b.txt", "gamma alpha").await;
    assert_eq!(
        fx.ok("Search File Content", json!({"query": "alpha"}))
            .await,
        "a.txt:1: Alpha\na.txt:3: ALPHABET\ndir/b.txt:1: gamma alpha"
    );
    assert_eq!(
        fx.ok(
            "Search File Content",
            json!({"query": "alpha", "filename": "dir/b.txt"})
        )
        .await,
        "dir/b.txt:1: gamma alpha"
    );
    assert!(
        fx.ok("Search File Content", json!({"query": "delta"}))
            .await
            .starts_with("No matches")
    );
    failed_with(
        fx.run(
            "Search File Content",
            json!({"query": "a", "filename": "nope.txt"}),
        )
        .await,
        "file not found",
    );
}

#[tokio::test]
async fn insert_in_file_at_a_line() {
    let fx = Fixture::new();
    fx.write("a.txt", "one\ntwo\nthree\n").await;
    let out = fx
        .ok(
            "Insert in File",
            json!({"file_path": "a.txt", "line_number": "2", "content": "1.5"}),
        )
        .await;
    assert!(out.contains("line 2"), "{out}");
    fx.ok(
        "Insert in File",
        json!({"file_path": "a.txt", "line_number": 99, "content": "four"}),
    )
    .await;
    assert_eq!(
        fs::read_to_string(fx.root().join("a.txt")).unwrap(),
        "one\n1.5\ntwo\nthree\nfour\n"
    );
    bad_argument(
        fx.run(
            "Insert in File",
            json!({"file_path": "a.txt", "content": "x"}),
        )
        .await,
        "line_number",
    );
    bad_argument(
        fx.run(
            "Insert in File",
            json!({"file_path": "a.txt", "line_number": 0, "content": "x"}),
        )
        .await,
        "line_number",
    );
    failed_with(
        fx.run(
            "Insert in File",
            json!({"file_path": "b.txt", "line_number": 1, "content": "x"}),
        )
        .await,
        "file not found",
    );
}

#[tokio::test]
async fn get_datetime_is_utc_now() {
    let fx = Fixture::new();
    let out = fx.ok("Get Datetime", json!({})).await;
    let stamp = out.strip_prefix("Current date and time: ").unwrap();
    let parsed = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S UTC").unwrap();
    let drift = chrono::Utc::now().naive_utc() - parsed;
    assert!(drift.num_seconds().abs() < 60, "{out}");
}

#[tokio::test]
async fn unknown_commands_fail() {
    let fx = Fixture::new();
    failed_with(fx.run("Fly to the Moon", json!({})).await, "not found");
}

#[tokio::test]
async fn custom_api_endpoint_refuses_internal_addresses() {
    let fx = Fixture::new();
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.com/",
    ] {
        bad_argument(
            fx.run("Custom API Endpoint", json!({"url": url})).await,
            "url",
        );
    }
    bad_argument(fx.run("Custom API Endpoint", json!({})).await, "url");
    bad_argument(
        fx.run(
            "Custom API Endpoint",
            json!({"url": "http://127.0.0.1:9/", "method": "NO WAY"}),
        )
        .await,
        "method",
    );
    bad_argument(
        fx.run(
            "Custom API Endpoint",
            json!({"url": "http://127.0.0.1:9/", "headers": "{\"bad name\": \"v\"}"}),
        )
        .await,
        "headers",
    );
}

#[tokio::test]
async fn custom_api_endpoint_calls_the_api() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&request).contains("ping") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early");
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(
                b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong",
            )
            .await
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let fx = Fixture::with_client(SafeClient::new(true));
    let out = fx
        .ok(
            "Custom API Endpoint",
            json!({
                "method": "post",
                "url": format!("http://127.0.0.1:{port}/api"),
                "headers": {"X-Test": "yes", "X-Count": 2},
                "body": "ping",
            }),
        )
        .await;
    assert_eq!(out, "Status: 201\n\npong");
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(request.starts_with("post /api http/1.1"), "{request}");
    assert!(request.contains("x-test: yes"), "{request}");
    assert!(request.contains("x-count: 2"), "{request}");
}

#[tokio::test]
async fn the_registry_path_coerces_then_executes() {
    let fx = Fixture::new();
    let registry = Registry::builtin();
    let (extension, spec) = registry.command("insert_in_file").unwrap();
    fx.write("a.txt", "b\n").await;
    let given = json!({"file_path": "a.txt", "line_number": "1.0", "content": "a", "extra": 1});
    let coerced = args::coerce(spec, given.as_object().unwrap()).unwrap();
    assert_eq!(coerced["line_number"], json!(1));
    extension
        .execute(spec.name, &coerced, &fx.ctx)
        .await
        .unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("a.txt")).unwrap(),
        "a\nb\n"
    );
}

//! The services of `agentry-app` form layers: each may use only those below it, through
//! their accessors (`self.app.companies()`), their paths (`crate::companies::...`) or their
//! types; never one above it, so no two services import each other. And no file of the crate
//! grows past 600 lines.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::path::{Path, PathBuf};

/// The services, lowest first, with the accessor `App` offers and the modules each owns.
const SERVICES: &[(&str, &[&str])] = &[
    ("sessions", &["access", "session", "catalog"]),
    ("jobs", &["jobs"]),
    ("companies", &["companies"]),
    ("extensions", &["extensions", "company_extensions"]),
    ("billing", &["billing"]),
    ("payments", &["payments"]),
    ("agents", &["agents"]),
    ("accounts", &["accounts", "throttle"]),
    ("tokens", &["tokens"]),
    ("conversations", &["conversations"]),
    ("commands", &["commands"]),
    ("prompts", &["prompts"]),
    ("chat", &["chat"]),
    ("chains", &["chains"]),
];

/// Modules that are no service: the context and its unit of work, shared helpers.
const SHARED: &[&str] = &[
    "lib",
    "events",
    "dispatcher",
    "error",
    "forms",
    "read_models",
    "setup",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The index in [`SERVICES`] of the service owning `module`.
fn rank_of_module(module: &str) -> Option<usize> {
    SERVICES
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rank_of_service(accessor: &str) -> Option<usize> {
    SERVICES.iter().position(|(name, _)| *name == accessor)
}

/// Every use of another service in `text`: its rank and how it is named.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Paths: `crate::companies::...`.
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let module: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if let Some(rank) = rank_of_module(&module) {
            found.push((rank, format!("crate::{module}")));
        }
    }
    // Accessors: `app.companies()` (`self.app`, or the `app` a closure gets), lines joined
    // as rustfmt may break them.
    let joined: String = text.split_whitespace().collect();
    for (name, _) in SERVICES {
        let call = format!("app.{name}()");
        if joined.contains(&call) {
            found.push((rank_of_service(name).unwrap(), call));
        }
    }
    found
}

#[test]
fn each_service_uses_only_those_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut seen_services = std::collections::BTreeSet::new();
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let Some(rank) = rank_of_module(&module) else {
            assert!(
                SHARED.contains(&module.as_str()),
                "{module}: a service or shared?"
            );
            continue;
        };
        seen_services.insert(rank);
        for (used, how) in uses(&text) {
            if used > rank {
                violations.push(format!(
                    "{} ({}) uses {how} ({}), above it",
                    relative.display(),
                    SERVICES[rank].0,
                    SERVICES[used].0
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    // The table names every service there is (a new one must be placed).
    assert_eq!(seen_services.len(), SERVICES.len());
}

#[test]
fn no_file_is_longer_than_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 600).then(|| format!("{}: {lines}", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "{long:?}");
}

#[test]
fn the_check_sees_accessors_and_paths_however_they_are_broken() {
    let found =
        uses("let x = self\n            .app\n            .commands()\n            .run();");
    assert_eq!(found, [(10, "app.commands()".to_owned())]);
    let found = uses("use crate::agents::AgentView;\nlet e = ext.commands();");
    assert_eq!(found, [(6, "crate::agents".to_owned())]);
}

//! The layering rule, checked on the resolved dependency graph: `agentry-domain` reaches none
//! of the I/O crates through its normal (non-dev) dependencies, directly or transitively, and
//! every row of docs/architecture.md's layer table uses only the crates before it.

#![expect(clippy::expect_used, reason = "helpers of a test crate")]
use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

const FORBIDDEN: [&str; 7] = [
    "diesel",
    "actix-web",
    "async-stripe",
    "stripe",
    "reqwest",
    "tokio",
    "agentry-store",
];

/// This machine's target triple (`rustc -vV`'s `host:` line).
fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("a host line")
        .trim()
        .to_owned()
}

fn normal_dependencies_of(root: &str) -> HashSet<String> {
    // Resolved for this host only: offline, the crates of other platforms (never built here)
    // need not be in the local registry.
    let host = host_triple();
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");

    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let root_id = names
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .expect("root package");

    let mut seen = HashSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().expect("deps") {
            // `kind` is null for normal dependencies (dev and build ones are named).
            let normal = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().expect("pkg");
            if normal && seen.insert(names[dep_id].to_owned()) {
                stack.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn domain_depends_on_no_io_crate() {
    let deps = normal_dependencies_of("agentry-domain");
    assert!(
        deps.contains("uuid"),
        "the walk sees real dependencies: {deps:?}"
    );
    let bad: Vec<_> = FORBIDDEN
        .iter()
        .filter(|name| deps.contains(**name))
        .collect();
    assert!(bad.is_empty(), "agentry-domain depends on {bad:?}");
}

/// Each crate of the layer table and ours it may use (normal dependencies, transitively):
/// docs/architecture.md's diagram, row by row. `app` and the binary may use every layer
/// listed before them.
const LIBRARIES: [(&str, &[&str]); 8] = [
    ("agentry-domain", &[]),
    ("agentry-api", &["agentry-domain"]),
    ("agentry-store", &["agentry-domain"]),
    ("agentry-cache", &["agentry-domain"]),
    ("agentry-extensions", &["agentry-domain"]),
    ("agentry-auth", &["agentry-domain", "agentry-store"]),
    ("agentry-billing", &["agentry-domain", "agentry-store"]),
    // Model clients: the SSRF rules of extensions' HTTP client, nothing of the database.
    (
        "agentry-inference",
        &["agentry-domain", "agentry-extensions"],
    ),
];

fn layers() -> Vec<(&'static str, Vec<&'static str>)> {
    let libraries: Vec<&str> = LIBRARIES.iter().map(|(name, _)| *name).collect();
    let mut layers: Vec<_> = LIBRARIES
        .iter()
        .map(|(name, allowed)| (*name, allowed.to_vec()))
        .collect();
    layers.push(("agentry-app", libraries.clone()));
    layers.push((
        "agentry",
        libraries.into_iter().chain(["agentry-app"]).collect(),
    ));
    layers
}

#[test]
fn the_api_types_need_neither_the_database_nor_http() {
    let deps = normal_dependencies_of("agentry-api");
    assert!(
        deps.contains("serde"),
        "the walk sees real dependencies: {deps:?}"
    );
    for name in ["diesel", "actix-web", "agentry-store", "tokio"] {
        assert!(!deps.contains(name), "agentry-api depends on {name}");
    }
}

#[test]
fn every_layer_uses_only_the_layers_before_it() {
    let mut wrong = Vec::new();
    for (krate, allowed) in layers() {
        let deps = normal_dependencies_of(krate);
        for ours in deps.iter().filter(|name| name.starts_with("agentry")) {
            if !allowed.contains(&ours.as_str()) {
                wrong.push(format!("{krate} uses {ours}"));
            }
        }
        // HTTP is the binary's: no library crate serves it.
        if krate != "agentry" && deps.contains("actix-web") {
            wrong.push(format!("{krate} uses actix-web"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_check_would_catch_a_violation() {
    // The server binary does depend on these; the same walk must see them there.
    let deps = normal_dependencies_of("agentry");
    for name in [
        "diesel",
        "actix-web",
        "tokio",
        "agentry-domain",
        "agentry-app",
    ] {
        assert!(deps.contains(name), "{name} not seen from agentry");
    }
    // And test-support, a dev-dependency everywhere, is seen from nothing.
    assert!(!deps.contains("agentry-test-support"));
}

//! The chat bench: the real server in-process over SQLite, its model provider the fake model
//! server (model `fast`: an echo streamed a word per event with no pause) on 127.0.0.1. For
//! 1 and 50 concurrent streams it measures, through Agentry and directly against the fake
//! (same body), the time to the first content byte and to the end of the stream, and prints
//! their p50/p99 and the difference (Agentry's overhead); then non-streaming completions at
//! saturation; then the memory each open stream holds (streams of the fake's `stall` model,
//! which answers one word and then nothing).
//!
//! ```text
//! cargo run --release -p agentry-benches --bin chat-load -- [REQUESTS] [DATABASE_URL]
//! ```
//! Defaults: 400 streams per level, a fresh SQLite file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry::config::{Config, Secret, Settings};
use agentry::startup::Application;
use agentry_test_support::fake_model::FakeModel;
use anyhow::Context;
use serde_json::{Value, json};

const KEY: &str = "chat-load-bench-key";

/// Milliseconds at quantile `p` of sorted microseconds.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at] as f64 / 1000.0
}

/// One streamed request: microseconds to the first content byte and to the end.
async fn one_stream(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u64, u64)> {
    let started = Instant::now();
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let mut response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let mut first = None;
    let mut seen = String::new();
    while let Some(bytes) = response.chunk().await? {
        if first.is_none() {
            seen.push_str(&String::from_utf8_lossy(&bytes));
            // A content delta with text (the role delta's content is empty).
            if seen.contains("\"content\":\"")
                && seen
                    .replace("\"content\":\"\"", "")
                    .contains("\"content\":\"")
            {
                first = Some(started.elapsed().as_micros() as u64);
            }
        }
    }
    let total = started.elapsed().as_micros() as u64;
    Ok((first.unwrap_or(total), total))
}

/// `requests` streams over `concurrency` tasks: sorted first-byte and total times.
async fn streams(
    client: &reqwest::Client,
    url: Arc<str>,
    token: Option<Arc<str>>,
    body: Arc<Value>,
    concurrency: usize,
    requests: usize,
    fresh_conversation: bool,
) -> (Vec<u64>, Vec<u64>) {
    let per = requests.div_ceil(concurrency);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token, body) = (
                client.clone(),
                Arc::clone(&url),
                token.clone(),
                Arc::clone(&body),
            );
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per);
                for _ in 0..per {
                    let mut body = (*body).clone();
                    if fresh_conversation {
                        body["user"] = json!(uuid::Uuid::new_v4().to_string());
                    }
                    if let Ok(times) = one_stream(&client, &url, token.as_deref(), &body).await {
                        out.push(times);
                    }
                }
                out
            })
        })
        .collect();
    let (mut firsts, mut totals) = (Vec::new(), Vec::new());
    for task in tasks {
        for (first, total) in task.await.unwrap_or_default() {
            firsts.push(first);
            totals.push(total);
        }
    }
    firsts.sort_unstable();
    totals.sort_unstable();
    (firsts, totals)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let database = args.next();
    let dir = tempfile::tempdir()?;
    let fake = FakeModel::start();
    let url = database.unwrap_or_else(|| format!("sqlite://{}/chat.db", dir.path().display()));
    let settings = Settings {
        data_dir: Some(dir.path().join("data")),
        database_url: Some(url),
        port: Some(0),
        api_key: Some(KEY.into()),
        workers: Some(2),
        auth_rate_limit: Some(0),
        log_level: Some("warn".into()),
        ..Settings::default()
    };
    let (mut config, _) = Config::resolve(settings).context("configuration")?;
    config.provider_settings = [
        ("EZLOCALAI_API_URI", fake.url.as_str()),
        ("EZLOCALAI_AI_MODEL", "fast"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), Secret::new((*v).to_owned())))
    .collect();
    let application = Application::build(&config, Duration::ZERO).context("start")?;
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let registered: Value = client
        .post(format!("{base}/v1/user"))
        .json(&json!({"email": "bench@example.com", "password": "Sup3rSecret", "confirm_password": "Sup3rSecret", "first_name": "B"}))
        .send().await?.json().await?;
    let token: Arc<str> = registered["token"].as_str().context("a token")?.into();
    let agents: Value = client
        .get(format!("{base}/v1/agent"))
        .header("Authorization", &*token)
        .send()
        .await?
        .json()
        .await?;
    let agent = agents["agents"][0]["name"]
        .as_str()
        .context("an agent")?
        .to_owned();

    let ours = json!({"model": agent, "stream": true, "messages": [{"role": "user", "content": "What is the weather like in Lisbon in May, and what should I pack?"}]});
    // Warm up, and take the body Agentry sends the model as the direct baseline's.
    streams(
        &client,
        format!("{base}/v1/chat/completions").into(),
        Some(Arc::clone(&token)),
        Arc::new(ours.clone()),
        4,
        40,
        true,
    )
    .await;
    let mut direct = fake
        .bodies()
        .last()
        .cloned()
        .context("a body sent to the model")?;
    direct["stream"] = json!(true);
    let direct_url: Arc<str> = format!("{}/chat/completions", fake.url).into();
    streams(
        &client,
        Arc::clone(&direct_url),
        None,
        Arc::new(direct.clone()),
        4,
        40,
        false,
    )
    .await;
    println!(
        "prompt: {} bytes rendered; answer: the echo streamed a word per event",
        direct["messages"][0]["content"]
            .as_str()
            .map_or(0, str::len)
    );
    println!();
    println!(
        "| streams at once | path | first content byte p50 / p99 ms | whole stream p50 / p99 ms |"
    );
    println!("|---|---|---|---|");
    for concurrency in [1, 50] {
        let n = if concurrency == 1 {
            requests / 4
        } else {
            requests
        };
        let (df, dt) = streams(
            &client,
            Arc::clone(&direct_url),
            None,
            Arc::new(direct.clone()),
            concurrency,
            n,
            false,
        )
        .await;
        let (of, ot) = streams(
            &client,
            format!("{base}/v1/chat/completions").into(),
            Some(Arc::clone(&token)),
            Arc::new(ours.clone()),
            concurrency,
            n,
            true,
        )
        .await;
        println!(
            "| {concurrency} | the fake model directly | {:.2} / {:.2} | {:.2} / {:.2} |",
            percentile(&df, 0.5),
            percentile(&df, 0.99),
            percentile(&dt, 0.5),
            percentile(&dt, 0.99)
        );
        println!(
            "| {concurrency} | through Agentry | {:.2} / {:.2} | {:.2} / {:.2} |",
            percentile(&of, 0.5),
            percentile(&of, 0.99),
            percentile(&ot, 0.5),
            percentile(&ot, 0.99)
        );
        println!(
            "| {concurrency} | Agentry's overhead (difference) | {:.2} / {:.2} | {:.2} / {:.2} |",
            percentile(&of, 0.5) - percentile(&df, 0.5),
            percentile(&of, 0.99) - percentile(&df, 0.99),
            percentile(&ot, 0.5) - percentile(&dt, 0.5),
            percentile(&ot, 0.99) - percentile(&dt, 0.99)
        );
    }

    // Non-streaming at saturation: 50 at once for `requests` completions.
    let mut plain = ours.clone();
    plain["stream"] = json!(false);
    let mut plain_direct = direct.clone();
    plain_direct["stream"] = json!(false);
    for (label, url, token, body, fresh) in [
        (
            "the fake model directly",
            Arc::clone(&direct_url),
            None,
            plain_direct,
            false,
        ),
        (
            "through Agentry",
            format!("{base}/v1/chat/completions").into(),
            Some(Arc::clone(&token)),
            plain,
            true,
        ),
    ] {
        let started = Instant::now();
        let (_, totals) = streams(&client, url, token, Arc::new(body), 50, requests, fresh).await;
        let rate = totals.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "non-stream, 50 at once, {label}: {rate:.0} completions/s, p50 {:.2} ms, p99 {:.2} ms ({} ok)",
            percentile(&totals, 0.5),
            percentile(&totals, 0.99),
            totals.len()
        );
    }

    // Chains: a chain of 5 prompt steps run one at a time, against 5 direct completions.
    let agent_id = agents["agents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    client
        .post(format!("{base}/v1/chain"))
        .header("Authorization", &*token)
        .json(&json!({"chain_name": "Bench"}))
        .send()
        .await?;
    for _ in 0..5 {
        let step = json!({"agent_id": agent_id, "prompt_type": "Prompt",
                          "prompt": {"prompt_name": "Chat", "user_input": "{user_input}"}});
        let added = client
            .post(format!("{base}/v1/chain/Bench/step"))
            .header("Authorization", &*token)
            .json(&step)
            .send()
            .await?;
        anyhow::ensure!(added.status().is_success(), "add step: {}", added.status());
    }
    let runs = (requests / 8).max(10);
    let mut chain_times = Vec::with_capacity(runs);
    let mut direct_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let ran = client
            .post(format!("{base}/v1/chain/Bench/run"))
            .header("Authorization", &*token)
            .json(&json!({"prompt": "What should I pack for Lisbon?"}))
            .send()
            .await?;
        anyhow::ensure!(ran.status().is_success(), "run: {}", ran.status());
        ran.bytes().await?;
        chain_times.push(started.elapsed().as_micros() as u64);
        let chat_body = fake
            .bodies()
            .last()
            .cloned()
            .context("a chain step's body")?;
        let started = Instant::now();
        client
            .post(&*direct_url)
            .json(&chat_body)
            .send()
            .await?
            .bytes()
            .await?;
        direct_times.push(started.elapsed().as_micros() as u64);
    }
    chain_times.sort_unstable();
    direct_times.sort_unstable();
    let (run, direct) = (
        percentile(&chain_times, 0.5),
        percentile(&direct_times, 0.5),
    );
    println!(
        "chain of 5 prompt steps, one run at a time: p50 {run:.2} ms (p99 {:.2}); one direct completion p50 {direct:.3} ms; overhead per step {:.2} ms",
        percentile(&chain_times, 0.99),
        (run - 5.0 * direct) / 5.0
    );

    // Memory per open stream: 200 streams held open by the stalling model.
    let stall = {
        let mut body = ours.clone();
        body["model"] = json!(agent);
        body
    };
    client
        .put(format!(
            "{base}/v1/agent/{}",
            agents["agents"][0]["id"].as_str().unwrap_or_default()
        ))
        .header("Authorization", &*token)
        .json(&json!({"settings": {"EZLOCALAI_AI_MODEL": "stall"}}))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let mut open = Vec::new();
    for _ in 0..200 {
        let mut body = stall.clone();
        body["user"] = json!(uuid::Uuid::new_v4().to_string());
        let mut response = client
            .post(format!("{base}/v1/chat/completions"))
            .header("Authorization", &*token)
            .json(&body)
            .send()
            .await?;
        let _first = response.chunk().await?;
        open.push(response);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    println!(
        "memory: {} KiB for 200 open streams (server, client and fake in one process): {:.1} KiB per stream",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / 200.0
    );
    drop(open);
    Ok(())
}

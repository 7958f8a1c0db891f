//! One tick over 1,000 policies against the emulators: `GetMetricData`
//! calls (must be `ceil(queries / 500)`), wall time and peak RSS.
//!
//! ```text
//! cargo bench --bench tick_1000            # 1,000 policies (PCSCALE_BENCH_POLICIES to change)
//! ```
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs the same
//! flow with 3 policies as a smoke test, so it stays correct and fast.
//!
//! Set-up (not measured): a table, N functions with alias `live` in
//! LocalStack, N policies (target tracking on true demand, target 0.5), and
//! demand 0.5 four minutes before the tick for every other function (each
//! wants 1). The ticks read CloudWatch through the test proxy, which
//! publishes a minute three minutes after it ends (AWS takes 1-3 minutes),
//! judged at the tick's `now`.
//! Then two ticks run, each in a fresh child process so that its peak RSS
//! is the tick's own (client set-up included), configured only through the
//! environment like the Lambda:
//! 1. the first tick with the production Lambda rate limit (10 requests/s):
//!    N/2 scale-outs;
//! 2. the next minute's tick with the limit lifted (`PCSCALE_LAMBDA_RPS`,
//!    emulators only): every config is READY and holds; the time left is
//!    the tick's own overhead.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use pcscale::aws::AwsPorts;
use pcscale::aws::cloudwatch::{MAX_QUERIES_PER_CALL, minute_start};
use pcscale::env::tick_options_from_env;
use pcscale::tick::{TickSummary, run_tick};
use serde_json::{Value, json};
use support::fault_proxy::FaultProxy;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if std::env::var_os("PCSCALE_BENCH_CHILD").is_some() {
        rt.block_on(child());
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = if full {
        std::env::var("PCSCALE_BENCH_POLICIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000)
    } else {
        3
    };
    rt.block_on(parent(n, full));
}

/// The measured part: one tick, configured from the environment.
async fn child() {
    let started = Instant::now();
    let now: DateTime<Utc> = std::env::var("PCSCALE_BENCH_NOW")
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .expect("PCSCALE_BENCH_NOW");
    let opts = tick_options_from_env().expect("options");
    let ports = AwsPorts::from_env().await.expect("clients");
    let summary = run_tick(ports.ports(), now, &opts).await.expect("tick");
    let wall = started.elapsed();
    let out = json!({
        "wall_ms": wall.as_millis(),
        "tick_ms": summary.duration_ms,
        "peak_rss_kb": peak_rss_kb(),
        "summary": summary,
    });
    println!("{out}");
}

/// `VmHWM` of this process, in kB (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

async fn parent(n: usize, full: bool) {
    let setup = Instant::now();
    let c = support::clients().await;
    let table = support::unique("bench");
    support::create_table(&c.dynamodb, &table).await;
    let prefix = support::unique("b");
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
    let ports = support::ports(&c, &table, None);
    futures::stream::iter(names.iter())
        .map(|f| {
            let c = &c;
            let store = &ports.store;
            async move {
                support::create_function(&c.lambda, f, "live").await;
                store
                    .put_policy_item(&json!({
                        "pk": format!("function:{f}:live"),
                        "MinCapacity": 0,
                        "MaxCapacity": 10,
                        "TargetTracking": {"TargetValue": 0.5, "ScaleInCooldown": 600},
                    }))
                    .await
                    .expect("put policy");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let now = minute_start(Utc::now()) + TimeDelta::seconds(5);
    // Published by `now` (it ended three minutes before): the newest minute
    // a tick in AWS is sure to read.
    let latest = now - TimeDelta::minutes(4) + TimeDelta::seconds(5);
    let proxy = FaultProxy::start(support::emulators()).await;
    let publication = proxy.publication();
    futures::stream::iter(names.iter().step_by(2))
        .map(|f| {
            let c = &c;
            async move {
                support::put_metric(
                    &c.cloudwatch,
                    f,
                    "live",
                    support::Seed::Concurrency,
                    &[(latest, 0.5)],
                )
                .await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "tick_1000: {n} functions, policies and demand set up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    publication.set_now(Some(now));
    // The children block this thread; the proxy serves on the others.
    let first = tokio::task::block_in_place(|| run_child(&table, &proxy.url, now, None));
    let s1 = summary(&first);
    let scaled = n.div_ceil(2);
    assert_eq!(s1.totals.resources, n);
    assert_eq!(s1.totals.changed, scaled, "{:#?}", s1.totals);
    assert_eq!(s1.totals.errors, 0, "{:#?}", first["summary"]["resources"]);
    // Wait until LocalStack reports every new config READY (about 1 s each,
    // in parallel), as a tick a minute later would find them.
    let deadline = Instant::now() + Duration::from_secs(120);
    for f in names.iter().step_by(2) {
        loop {
            match support::pc_config(&c.lambda, f, "live").await {
                Some((1, s)) if s == "READY" => break,
                other if Instant::now() < deadline => {
                    let _ = other;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("{f}: {other:?}"),
            }
        }
    }
    publication.set_now(Some(now + TimeDelta::minutes(1)));
    let second = tokio::task::block_in_place(|| {
        run_child(
            &table,
            &proxy.url,
            now + TimeDelta::minutes(1),
            Some("1000"),
        )
    });
    let s2 = summary(&second);
    assert_eq!(s2.totals.changed, 0, "{:#?}", s2.totals);

    for (label, run, s) in [
        ("first tick, 10 req/s", &first, &s1),
        ("next tick, no rate limit", &second, &s2),
    ] {
        let queries = s.api_calls.metric_queries;
        let expected = queries.div_ceil(MAX_QUERIES_PER_CALL);
        assert_eq!(
            s.api_calls.metric_requests, expected,
            "GetMetricData calls must be ceil({queries} / 500)"
        );
        println!(
            "| {n} | {label} | {queries} | {} | {} | {} | {} | {:.1} s | {:.1} MB |",
            s.api_calls.metric_requests,
            s.api_calls.get_config,
            s.api_calls.put_config,
            s.totals.changed,
            run["wall_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            run["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        );
    }
    if !full {
        eprintln!(
            "tick_1000: smoke run with {n} policies passed (cargo bench --bench tick_1000 for 1,000)"
        );
    }
}

/// Runs one tick in a child process of this binary, CloudWatch through the
/// proxy at `cloudwatch`; returns its JSON report.
fn run_child(table: &str, cloudwatch: &str, now: DateTime<Utc>, lambda_rps: Option<&str>) -> Value {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.env("PCSCALE_BENCH_CHILD", "1")
        .env("PCSCALE_BENCH_NOW", now.to_rfc3339())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("PCSCALE_LAMBDA_RPS")
        .envs(support::cli_env(table))
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch);
    if let Some(r) = lambda_rps {
        cmd.env("PCSCALE_LAMBDA_RPS", r);
    }
    let out = cmd.output().expect("child runs");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("child report")
}

fn summary(run: &Value) -> TickSummary {
    serde_json::from_value(run["summary"].clone()).expect("summary")
}

//! End-to-end: `pcscale simulate --from-cloudwatch` against the emulators
//! (LocalStack for CloudWatch and Lambda, moto for the policy table),
//! through the test proxy that publishes metrics the way CloudWatch does
//! and logs what AWS would bill (tests/support).
//!
//! History is seeded with `PutMetricData` a few days in the past (a rising
//! pattern, the same each day); the binary fetches it and replays it under
//! every policy. Three days only: LocalStack takes tens of seconds over
//! 14 days of 1-minute `GetMetricData`.

mod support;

use std::process::Output;

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::{DateTime, TimeDelta, Utc};
use pcscale::aws::cloudwatch::minute_start;
use serde_json::Value;
use support::fault_proxy::{Fault, Rule, Service};
use support::world::{World, pk, tracking_policy};

/// Invocations in each busy minute.
const PER_MINUTE: f64 = 1200.0;
/// Their average duration, ms: 20 concurrent executions.
const DURATION_MS: f64 = 1000.0;
/// Days seeded.
const DAYS: i64 = 3;
/// Busy minutes a day: 5 on, 10 off (longer than the 300-s keep-alive), for
/// two hours from the same time each day.
fn busy_minutes() -> impl Iterator<Item = i64> {
    (0..120).filter(|m| m % 15 < 5)
}

/// Seeds `metric` = `value` at each instant for `function:live`.
async fn put(
    w: &World,
    function: &str,
    metric: &str,
    unit: StandardUnit,
    at: &[DateTime<Utc>],
    value: f64,
) {
    let points: Vec<(DateTime<Utc>, f64)> = at.iter().map(|t| (*t, value)).collect();
    support::put_lambda_metric(
        &w.direct.cloudwatch,
        function,
        "live",
        metric,
        unit,
        &points,
    )
    .await;
}

/// Seeds the daily pattern over the last [`DAYS`] days (the first busy
/// minute 60 hours ago, well inside `--days 3` and after its warm-up);
/// returns the invocations seeded.
async fn seed_history(w: &World, function: &str) -> u64 {
    let base = minute_start(Utc::now()) - TimeDelta::hours(60);
    let at: Vec<DateTime<Utc>> = (0..DAYS)
        .flat_map(|d| {
            busy_minutes().map(move |m| base + TimeDelta::days(d) + TimeDelta::minutes(m))
        })
        .map(|t| t + TimeDelta::seconds(10))
        .collect();
    put(
        w,
        function,
        "Invocations",
        StandardUnit::Count,
        &at,
        PER_MINUTE,
    )
    .await;
    put(
        w,
        function,
        "Duration",
        StandardUnit::Milliseconds,
        &at,
        DURATION_MS,
    )
    .await;
    at.len() as u64 * PER_MINUTE as u64
}

/// `pcscale simulate <args>` through this world's proxy, on the clock.
async fn simulate(w: &World, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .arg("simulate")
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(w.cli_env_at(None))
        .output()
        .await
        .expect("pcscale runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn row<'a>(json: &'a Value, policy: &str) -> &'a Value {
    json["policies"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["policy"] == policy))
        .unwrap_or_else(|| panic!("no row {policy} in {json:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_own_days_are_replayed_under_every_policy_and_its_stored_one() {
    let w = World::new("simcw").await;
    let f = w.function("simcw").await;
    let seeded = seed_history(&w, &f).await;
    // Its current policy in the table: plain target tracking at 0.5.
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;
    let resource = pk(&f);
    w.proxy().expect("a proxy").reset_log();

    let out = simulate(
        &w,
        &[
            "--from-cloudwatch",
            &resource,
            "--days",
            "3",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["format"], "cloudwatch");
    assert_eq!(json["minutes"], 3 * 1440);
    assert_eq!(json["functions_evaluated"], 1, "{json:#}");

    // What was fetched, and what it cost: two metrics (Invocations and
    // Duration) in one GetMetricData call, as the proxy saw it.
    let cw = &json["cloudwatch"];
    assert_eq!(cw["days"], 3);
    let alias = &cw["aliases"][0];
    assert_eq!(alias["resource"], resource.as_str());
    assert_eq!(alias["invocations"], seeded, "{cw:#}");
    assert_eq!(
        alias["memory_mb"], 128,
        "LocalStack's default memory: {cw:#}"
    );
    assert_eq!(alias["mean_duration_ms"], DURATION_MS);
    assert_eq!(alias["stored_policy"], "stored");
    assert_eq!(cw["metrics_requested"], 2);
    assert_eq!(cw["get_metric_data_calls"], 1);
    assert_eq!(w.proxy().expect("a proxy").count("GetMetricData"), 1);
    assert!(
        (cw["cost_usd"].as_f64().expect("cost") - 2e-5).abs() < 1e-12,
        "{cw:#}"
    );

    // A row for every policy, each on the very invocations seeded.
    for policy in [
        "no-pc",
        "static-p99",
        "aws-tt-avg",
        "aws-tt-max",
        "tencent",
        "alibaba",
        "pcscale",
        "current",
        "oracle",
    ] {
        assert_eq!(
            row(&json, policy)["invocations"],
            seeded,
            "{policy}: {json:#}"
        );
    }
    // The rise repeats every 15 minutes and every day: pcscale holds PC for
    // it and avoids cold starts on-demand has.
    let nopc = row(&json, "no-pc");
    let pcscale = row(&json, "pcscale");
    let cold = |r: &Value| r["cold_starts"].as_u64().expect("cold starts");
    assert!(cold(nopc) > 0, "{nopc:#}");
    assert!(
        pcscale["pc_gb_s"].as_f64().expect("GB-s") > 0.0,
        "{pcscale:#}"
    );
    assert!(pcscale["on_pc"].as_u64().expect("on PC") > 0, "{pcscale:#}");
    assert!(cold(pcscale) < cold(nopc), "{pcscale:#}\n{nopc:#}");
    // The stored target-tracking policy is replayed too, and is not pcscale's.
    let current = row(&json, "current");
    assert!(
        current["pc_gb_s"].as_f64().expect("GB-s") > 0.0,
        "{current:#}"
    );
    assert_ne!(current["cost_total"], pcscale["cost_total"], "{json:#}");

    // The text report says the same, with the fetch's cost.
    let out = simulate(&w, &["--from-cloudwatch", &f, "--days", "3"]).await;
    // `NAME` alone has no alias: refused before any call.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("NAME:ALIAS"),
        "{}",
        text(&out.stderr)
    );
    let short = format!("{f}:live");
    let out = simulate(&w, &["--from-cloudwatch", &short, "--days", "3"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        stdout.contains(&format!(
            "{resource}: 128 MB, {seeded} invocations, mean duration 1000 ms"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("Fetch cost: 2 GetMetricData metric(s) requested in 1 call(s) = $0.000020"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("current ")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_aliases_idle_aliases_too_many_days_and_throttling_are_clear_errors() {
    let w = World::new("simcwerr").await;
    let idle = w.function("simcwidle").await;

    let out = simulate(
        &w,
        &[
            "--from-cloudwatch",
            "function:no-such-fn:live",
            "--days",
            "2",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("function:no-such-fn:live: no such function or alias"),
        "{}",
        text(&out.stderr)
    );

    let out = simulate(&w, &["--from-cloudwatch", &pk(&idle), "--days", "16"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("CloudWatch keeps 1-minute data 15 days"),
        "{}",
        text(&out.stderr)
    );

    let out = simulate(&w, &["--from-cloudwatch", &pk(&idle), "--days", "1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "no Invocations datapoints in the last 1 day(s) for {}",
            pk(&idle)
        )),
        "{}",
        text(&out.stderr)
    );

    let proxy = w.proxy().expect("a proxy");
    proxy.inject(Rule::on(
        "GetMetricData",
        Fault::throttling(Service::CloudWatch),
    ));
    let out = simulate(&w, &["--from-cloudwatch", &pk(&idle), "--days", "1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("ThrottlingException"), "{err}");
    assert!(err.contains("try again in a minute"), "{err}");
}

//! Ticks over 1,000 aliases against the emulators, metered as AWS would
//! bill and refuse them: wall time, Lambda control-plane requests (through
//! the test proxy, which enforces the account's 15 requests/s quota),
//! `GetMetricData` calls, DynamoDB read units (a filtered Scan charged for
//! every item it reads), aliases decided and carried over.
//!
//! ```text
//! cargo bench --bench tick_1000            # 1,000 aliases (PCSCALE_BENCH_POLICIES to change)
//! ```
//!
//! Each row also counts the aliases decided on unknown demand (the metrics
//! did not answer) and the busy aliases at the 1 they want, and each tick
//! prints where its time went: per span (`dynamodb.load`,
//! `CloudWatch.GetMetricData`, `lambda.get_config`, `dynamodb.write_state`,
//! `resource`, ...) how many, in which window of the tick, and their summed
//! time (rate-limiter waits included).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs the same
//! flow with 5 aliases as a smoke test, so it stays correct and fast.
//!
//! Set-up (not measured): a table and its activity table, N functions with
//! alias `live` in LocalStack, N policies (target tracking on true demand,
//! target 0.5), demand 0.5 in every minute of the run for one function in
//! five (each of those wants 1). Every tick runs in a fresh child process
//! configured only through the environment like the deployed Lambda
//! (`PCSCALE_RECONCILE_MINUTES` 15 and `PCSCALE_LAMBDA_BUDGET` 120 by
//! default, `PCSCALE_LAMBDA_RPS` 10), every service through the proxy, one
//! tick a minute of simulated time:
//! 1. the cold first tick (no state: every alias must be read first);
//! 2. ticks until nothing is carried and every step is confirmed (the
//!    converged fleet), then three steady-state ticks;
//! 3. 10,000 activity items written to the activity table (one alias's
//!    30 days of history), and three steady-state ticks again;
//! 4. the same 10,000 items in the policy table, where pcscale before
//!    issue #13 kept them (and an upgraded table keeps them until they
//!    expire or `pcscale activity --migrate` moves them): one tick.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use pcscale::aws::AwsPorts;
use pcscale::aws::cloudwatch::minute_start;
use pcscale::aws::dynamodb::{activity_to_item, default_activity_table};
use pcscale::env::tick_options_from_env;
use pcscale::ports::Activity;
use pcscale::tick::{TickSummary, run_tick};
use serde_json::{Value, json};
use support::fault_proxy::FaultProxy;
use tracing::span;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

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
        5
    };
    rt.block_on(parent(n, full));
}

/// The measured part: one tick, configured from the environment.
async fn child() {
    let profile = Profile::default();
    let steps = profile.steps.clone();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(profile))
        .expect("the child's only subscriber");
    let started = Instant::now();
    let now: DateTime<Utc> = std::env::var("PCSCALE_BENCH_NOW")
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .expect("PCSCALE_BENCH_NOW");
    let opts = tick_options_from_env().expect("options");
    let ports = AwsPorts::from_env().await.expect("clients");
    let summary = run_tick(ports.ports(), now, &opts).await.expect("tick");
    let out = json!({
        "wall_ms": started.elapsed().as_millis(),
        "summary": summary,
        "steps": steps_json(&steps, started),
    });
    println!("{out}");
}

/// Where a tick's time goes, per span name (`dynamodb.load`,
/// `cloudwatch.fetch`, `lambda.get_config`, `dynamodb.write_state`, ...):
/// how many spans, their summed wall time (rate-limiter waits included),
/// and the window from the first one opened to the last one closed.
#[derive(Default)]
struct Profile {
    steps: Arc<Mutex<BTreeMap<&'static str, Step>>>,
}

/// One span name's figures in [`Profile`].
struct Step {
    count: usize,
    total: Duration,
    first: Instant,
    last: Instant,
}

/// When a span was opened (kept in its extensions).
struct Opened(Instant);

impl<S> Layer<S> for Profile
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        // pcscale's spans (`dynamodb.load`, `resource`) and the SDK's
        // operations (`CloudWatch.GetMetricData`), not the SDK's inner steps.
        if !(span.name().contains('.') || span.name() == "resource") {
            return;
        }
        let Some(&Opened(opened)) = span.extensions().get::<Opened>() else {
            return;
        };
        let closed = Instant::now();
        let mut steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
        let step = steps.entry(span.name()).or_insert(Step {
            count: 0,
            total: Duration::ZERO,
            first: opened,
            last: closed,
        });
        step.count += 1;
        step.total += closed - opened;
        step.first = step.first.min(opened);
        step.last = step.last.max(closed);
    }
}

/// [`Profile`]'s figures, times in seconds from `started`.
fn steps_json(steps: &Mutex<BTreeMap<&'static str, Step>>, started: Instant) -> Value {
    let steps = steps.lock().unwrap_or_else(PoisonError::into_inner);
    let since = |t: Instant| t.saturating_duration_since(started).as_secs_f64();
    steps
        .iter()
        .map(|(name, s)| {
            (
                (*name).to_owned(),
                json!({
                    "count": s.count,
                    "total_s": s.total.as_secs_f64(),
                    "from_s": since(s.first),
                    "to_s": since(s.last),
                }),
            )
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// Prints a child's [`Profile`] figures.
fn print_steps(label: &str, steps: &Value) {
    let Some(steps) = steps.as_object() else {
        return;
    };
    for (name, s) in steps {
        eprintln!(
            "tick_1000:   {label}: {name}: {} in {:.1}-{:.1} s, {:.1} s summed",
            s["count"],
            s["from_s"].as_f64().unwrap_or(f64::NAN),
            s["to_s"].as_f64().unwrap_or(f64::NAN),
            s["total_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// One tick's figures.
struct Row {
    label: String,
    wall_s: f64,
    control_plane: usize,
    refused: usize,
    get_metric_data: usize,
    read_units: f64,
    decided: usize,
    carried: usize,
    changed: usize,
    /// Aliases decided on unknown demand (the metrics did not answer).
    demand_unknown: usize,
    /// Busy aliases left at (or taken to) the 1 they want.
    busy_at_one: usize,
}

impl Row {
    fn print(&self, n: usize) {
        println!(
            "| {n} | {} | {:.1} s | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |",
            self.label,
            self.wall_s,
            self.control_plane,
            self.refused,
            self.get_metric_data,
            self.read_units,
            self.decided,
            self.carried,
            self.changed,
            self.demand_unknown,
            self.busy_at_one,
        );
    }
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
    // Simulated minutes: the run starts an hour ago, one tick a minute.
    let t0 = minute_start(Utc::now()) - TimeDelta::minutes(60) + TimeDelta::seconds(5);
    let busy: Vec<&String> = names.iter().step_by(5).collect();
    futures::stream::iter(busy.iter())
        .map(|f| {
            let c = &c;
            let points: Vec<(DateTime<Utc>, f64)> = (-15..60)
                .map(|m| (t0 + TimeDelta::minutes(m), 0.5))
                .collect();
            async move {
                support::put_metric(
                    &c.cloudwatch,
                    f,
                    "live",
                    support::Seed::Concurrency,
                    &points,
                )
                .await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let busy_keys: std::collections::HashSet<String> =
        busy.iter().map(|f| format!("function:{f}:live")).collect();
    let proxy = FaultProxy::start(support::emulators()).await;
    eprintln!(
        "tick_1000: {n} aliases ({} busy), policies and demand set up in {:.1} s",
        busy.len(),
        setup.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    let mut minute = 0;
    let tick = |label: &str, minute: &mut i64| -> (Row, TickSummary) {
        let now = t0 + TimeDelta::minutes(*minute);
        *minute += 1;
        proxy.publication().set_now(Some(now));
        proxy.reset_log();
        // The children block this thread; the proxy serves on the others.
        let run = tokio::task::block_in_place(|| run_child(&table, &proxy.url, now));
        let s: TickSummary = serde_json::from_value(run["summary"].clone()).expect("summary");
        assert_eq!(s.totals.errors, 0, "{label}: {:#?}", s.resources);
        // The wire counts SDK retries too (a 429, a timeout under load).
        assert!(
            proxy.control_plane_requests() >= s.api_calls.control_plane(),
            "{label}: the proxy sees every request the tick sends"
        );
        let row = Row {
            label: label.to_owned(),
            wall_s: run["wall_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            control_plane: proxy.control_plane_requests(),
            refused: proxy.quota_refused(),
            get_metric_data: proxy.count("GetMetricData"),
            read_units: proxy.read_units(),
            decided: s.totals.resources - s.totals.carried - s.totals.skipped,
            carried: s.totals.carried,
            changed: s.totals.changed,
            demand_unknown: s
                .resources
                .iter()
                .filter(|r| r.reason.contains("demand unknown"))
                .count(),
            busy_at_one: s
                .resources
                .iter()
                .filter(|r| busy_keys.contains(&r.resource) && r.to == Some(1))
                .count(),
        };
        eprintln!(
            "tick_1000: {label}: {:.1} s, {} control-plane requests ({} sent by the tick, {} refused), \
             {} GetMetricData, {:.1} read units, {} decided, {} carried, {} changed, \
             {} on unknown demand, {} busy at 1",
            row.wall_s,
            row.control_plane,
            s.api_calls.control_plane(),
            row.refused,
            row.get_metric_data,
            row.read_units,
            row.decided,
            row.carried,
            row.changed,
            row.demand_unknown,
            row.busy_at_one,
        );
        print_steps(label, &run["steps"]);
        (row, s)
    };
    let lambda = &c.lambda;
    let wait_ready = |s: &TickSummary| {
        let applied: Vec<String> = s
            .resources
            .iter()
            .filter(|r| r.applied)
            .map(|r| r.resource.clone())
            .collect();
        async move {
            for key in applied {
                let f = key
                    .trim_start_matches("function:")
                    .trim_end_matches(":live");
                let _ = tokio::time::timeout(
                    Duration::from_secs(60),
                    support::wait_ready(lambda, f, "live"),
                )
                .await;
            }
        }
    };

    let (cold, s) = tick("cold first tick", &mut minute);
    rows.push(cold);
    wait_ready(&s).await;
    // Converge: until a tick carries nothing and changes nothing.
    let mut converging = 1;
    loop {
        let (row, s) = tick("converging", &mut minute);
        let settled = row.carried == 0 && row.changed == 0;
        wait_ready(&s).await;
        converging += 1;
        if settled || converging > 40 {
            rows.push(Row {
                label: format!("tick {converging}: converged"),
                ..row
            });
            break;
        }
    }
    let mut steady = Vec::new();
    for i in 1..=3 {
        let (row, s) = tick(&format!("steady state {i}"), &mut minute);
        wait_ready(&s).await;
        steady.push(row);
    }

    // 10,000 activity items of one alias: the activity table, then the
    // policy table (the layout before issue #13).
    let key = format!("function:{}:live", names[0]);
    let items = if full { 10_000 } else { 100 };
    write_activity(
        &c.dynamodb,
        &default_activity_table(&table),
        &key,
        t0,
        items,
    )
    .await;
    let mut with_history = Vec::new();
    for i in 1..=3 {
        let (row, s) = tick(
            &format!("steady state {i}, {items} activity items in the activity table"),
            &mut minute,
        );
        wait_ready(&s).await;
        with_history.push(row);
    }
    write_activity(&c.dynamodb, &table, &key, t0, items).await;
    let (legacy, _) = tick(
        &format!("{items} activity items in the policy table (before #13)"),
        &mut minute,
    );

    println!(
        "| aliases | tick | wall | Lambda control-plane requests | refused by the 15/s quota | GetMetricData calls | DynamoDB read units | decided | carried | changed | on unknown demand | busy at 1 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows
        .iter()
        .chain(&steady)
        .chain(&with_history)
        .chain([&legacy])
    {
        r.print(n);
    }

    // The acceptance of issue #13, on the steady-state ticks.
    for r in steady.iter().chain(&with_history) {
        assert_eq!(r.carried, 0, "{}: every alias decided", r.label);
        assert_eq!(r.decided, n, "{}: every alias decided", r.label);
        assert!(
            r.control_plane <= 150,
            "{}: {} requests",
            r.label,
            r.control_plane
        );
        assert!(
            r.get_metric_data <= 4,
            "{}: {} GetMetricData",
            r.label,
            r.get_metric_data
        );
        assert_eq!(r.refused, 0, "{}: refused by the quota", r.label);
        // The metrics answered: every busy alias holds the 1 it wants.
        assert_eq!(r.demand_unknown, 0, "{}: demand read as unknown", r.label);
        assert_eq!(r.busy_at_one, busy.len(), "{}: busy aliases at 1", r.label);
        if full {
            assert!(r.wall_s <= 30.0, "{}: {:.1} s", r.label, r.wall_s);
        }
    }
    let mean = |rs: &[Row], f: fn(&Row) -> f64| rs.iter().map(f).sum::<f64>() / rs.len() as f64;
    let (ru0, ru1) = (
        mean(&steady, |r| r.read_units),
        mean(&with_history, |r| r.read_units),
    );
    assert!(
        (ru1 - ru0).abs() <= 0.3 * ru0,
        "read units {ru0:.1} -> {ru1:.1} with {items} activity items"
    );
    let (w0, w1) = (
        mean(&steady, |r| r.wall_s),
        mean(&with_history, |r| r.wall_s),
    );
    eprintln!(
        "tick_1000: steady state {w0:.1} s, {ru0:.1} read units; with {items} activity items \
         {w1:.1} s, {ru1:.1} read units"
    );
    if full {
        assert!((w1 - w0).abs() <= 0.3 * w0, "wall {w0:.1} s -> {w1:.1} s");
    } else {
        eprintln!(
            "tick_1000: smoke run with {n} aliases passed (cargo bench --bench tick_1000 for 1,000)"
        );
    }
}

/// Writes `count` activity items of `resource` into `table`, one a few
/// minutes apart over the 30 days before `t0`, 25 per `BatchWriteItem`.
async fn write_activity(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    resource: &str,
    t0: DateTime<Utc>,
    count: usize,
) {
    let step = (30 * 24 * 60 * 60 / count.max(1)) as i64;
    let requests: Vec<WriteRequest> = (0..count)
        .map(|i| {
            let a = Activity {
                resource: resource.to_owned(),
                at: t0 - TimeDelta::seconds(step * i as i64),
                from: Some(1),
                to: Some(2),
                action: "ScaleOut".to_owned(),
                cause: "scale out: demand 0.9 at target 0.5 wants 2 (bench history)".to_owned(),
                outcome: "applied".to_owned(),
                detail: Some(json!({"rule": "TargetTrackingScaleOut", "demand_latest": 0.9})),
            };
            let item = activity_to_item(&a, u32::try_from(i).unwrap_or(u32::MAX));
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put request"),
                )
                .build()
        })
        .collect();
    futures::stream::iter(requests.chunks(25).map(<[WriteRequest]>::to_vec))
        .map(|chunk| async move {
            ddb.batch_write_item()
                .request_items(table, chunk)
                .send()
                .await
                .expect("BatchWriteItem");
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Runs one tick in a child process of this binary, every service through
/// the proxy at `proxy`; returns its JSON report.
fn run_child(table: &str, proxy: &str, now: DateTime<Utc>) -> Value {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.env("PCSCALE_BENCH_CHILD", "1")
        .env("PCSCALE_BENCH_NOW", now.to_rfc3339())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("PCSCALE_LAMBDA_RPS")
        .envs(support::cli_env(table))
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", proxy)
        .env("AWS_ENDPOINT_URL_LAMBDA", proxy)
        .env("AWS_ENDPOINT_URL_DYNAMODB", proxy);
    let out = cmd.output().expect("child runs");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("child report")
}

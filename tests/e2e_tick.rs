//! End-to-end: the real tick, the real AWS SDK clients and the `pcscale`
//! binary against real emulators (moto for DynamoDB, LocalStack for
//! CloudWatch and the Lambda provisioned-concurrency API; see
//! tests/support). Every scenario asserts on what the emulators hold
//! afterwards: LocalStack's PC configs and the DynamoDB items.
//!
//! Time: each test picks `t0`, the start of a minute half an hour ago, seeds
//! `ConcurrentExecutions` datapoints for minutes after it and runs ticks at
//! chosen `now`s (`run_tick(.., now, ..)` or the hidden `--now` flag), so
//! cooldowns and schedules are exercised without waiting for the clock.

mod support;

use std::process::Output;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, Utc};
use pcscale::aws::dynamodb::Item;
use pcscale::tick::TickOptions;
use serde_json::{Value, json};
use support::fault_proxy::{Fault, Rule};
use support::world::{World, outcome, pk, tracking_policy};

impl World {
    async fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.direct
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Runs `pcscale <args> --output json` with the emulators in the
    /// standard `AWS_ENDPOINT_URL_*` variables.
    async fn cli(&self, args: &[&str]) -> (Output, Value) {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"));
        cmd.args(args)
            .args(["--output", "json"])
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .envs(self.cli_env_for(args));
        let out = cmd.output().await.expect("pcscale runs");
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, json)
    }
}

fn n(item: &Item, attr: &str) -> Option<i64> {
    match item.get(attr) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn s(item: &Item, attr: &str) -> Option<String> {
    match item.get(attr) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn ts(item: &Item, attr: &str) -> Option<DateTime<Utc>> {
    s(item, attr).and_then(|t| {
        DateTime::parse_from_rfc3339(&t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_scales_out_on_the_next_tick_through_the_binary() {
    let w = World::new("burst").await;
    let f = w.function("burst").await;
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;

    // Quiet: nothing to do, no config created.
    let now1 = w.late(1, 5).to_rfc3339();
    let (out, json) = w.cli(&["tick", "--now", &now1]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["resources"][0]["action"], "Hold", "{json:#}");
    assert_eq!(w.pc(&f).await, None);

    // A burst of 10 concurrent executions in minute 1: the tick at minute 2
    // sees it and provisions ceil(10 / 0.5) = 20 at once.
    w.demand(&f, &[1], 10.0).await;
    let now2 = w.late(2, 5);
    let (out, json) = w.cli(&["tick", "--now", &now2.to_rfc3339()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &json["resources"][0];
    assert_eq!(r["resource"], pk(&f));
    assert_eq!(
        (r["action"].as_str(), r["from"].as_u64(), r["to"].as_u64()),
        (Some("ScaleOut"), Some(0), Some(20)),
        "{json:#}"
    );
    assert_eq!(r["applied"], true);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(json["totals"]["changed"], 1);
    assert_eq!(json["api_calls"]["put_config"], 1);
    // One GetMetricData call for the one query.
    assert_eq!(json["api_calls"]["metric_requests"], 1, "{json:#}");

    assert_eq!(w.wait_ready(&f).await, 20);
    let state = w.item(&pk(&f), "state").await.expect("state item written");
    assert_eq!(n(&state, "Capacity"), Some(20));
    assert_eq!(ts(&state, "LastScaleOutAt"), Some(now2));
    // The first tick's read of the (absent) config, then claim and commit;
    // the step is trusted and read back until READY by the next ticks.
    assert_eq!(n(&state, "Version"), Some(3), "observation, claim, commit");
    // Observed by the first tick; the second reads the config again only
    // when minute 2 is this key's reconcile slot (1 in 15, by the hash of
    // the function's random name).
    let first_seen = pcscale::core::state::State {
        observed_at: Some(w.late(1, 5)),
        ..Default::default()
    };
    let reread = pcscale::tick::read_needed(
        pcscale::tick::DEFAULT_RECONCILE_MINUTES,
        &pk(&f),
        &first_seen,
        now2,
    ) == pcscale::tick::Read::Reconcile;
    let observed = if reread { now2 } else { w.late(1, 5) };
    assert_eq!(ts(&state, "ObservedAt"), Some(observed), "reread: {reread}");
    assert_eq!(state.get("Unconfirmed"), Some(&AttributeValue::Bool(true)));
    assert!(!state.contains_key("Pending"), "the claim is cleared");
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    assert_eq!(acts.len(), 1, "{acts:#?}");
    assert_eq!(
        (acts[0].action.as_str(), acts[0].from, acts[0].to),
        ("ScaleOut", Some(0), Some(20))
    );
    assert_eq!(acts[0].outcome, "applied");
    // The user's policy item is untouched.
    let policy = w.item(&pk(&f), "policy").await.expect("policy item");
    assert_eq!(n(&policy, "MaxCapacity"), Some(50));
    assert!(!policy.contains_key("Version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_in_waits_for_the_persisted_cooldown_across_ticks() {
    let w = World::new("cooldown").await;
    let f = w.function("cooldown").await;
    // ScaleInCooldown 600 s: also a 10-minute demand window.
    w.put_policy(tracking_policy(&f, 1, 50, 600)).await;
    w.demand(&f, &[0], 10.0).await;
    w.demand(&f, &(1..=13).collect::<Vec<_>>(), 2.0).await;

    let out = w.tick(w.late(1, 5)).await;
    assert_eq!(outcome(&out, &f).to, Some(20));
    assert_eq!(w.wait_ready(&f).await, 20);

    // 9 min 55 s after the scale-out the window no longer holds the burst
    // (need ceil(2 / 0.5) = 4), but the cooldown, read back from DynamoDB by
    // a tick that remembers nothing, still holds.
    let held = w.tick(w.late(11, 0)).await;
    let r = outcome(&held, &f);
    assert_eq!(r.action.as_str(), "Hold", "{r:#?}");
    let d = r.decision.as_ref().expect("a decision");
    assert_eq!(
        d.reason.cooldown_remaining_secs,
        Some(pcscale::core::Secs(5)),
        "{d:#?}"
    );
    assert_eq!(w.pc(&f).await.map(|c| c.0), Some(20));

    let now = w.late(12, 0);
    let scaled = w.tick(now).await;
    let r = outcome(&scaled, &f);
    assert_eq!(
        (r.action.as_str(), r.from, r.to),
        ("ScaleIn", Some(20), Some(4)),
        "{r:#?}"
    );
    assert_eq!(w.wait_ready(&f).await, 4);
    let state = w.item(&pk(&f), "state").await.expect("state");
    assert_eq!(ts(&state, "LastScaleInAt"), Some(now));
    assert_eq!(ts(&state, "LastScaleOutAt"), Some(w.late(1, 5)));
    assert_eq!(n(&state, "Capacity"), Some(4));
    assert_eq!(n(&state, "Version"), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_in_is_gradual_with_a_scale_in_factor_of_one_half() {
    let w = World::new("gradual").await;
    let f = w.function("gradual").await;
    let mut policy = tracking_policy(&f, 0, 50, 60);
    policy["TargetTracking"]["ScaleInFactor"] = json!(0.5);
    w.put_policy(policy).await;
    w.demand(&f, &[0], 10.0).await;
    w.demand(&f, &(1..=8).collect::<Vec<_>>(), 2.0).await;

    let mut seen = vec![];
    for minute in [1, 3, 5, 7] {
        let out = w.tick(w.late(minute, 5)).await;
        let r = outcome(&out, &f);
        assert!(r.applied, "tick at minute {minute}: {r:#?}");
        seen.push(w.wait_ready(&f).await);
    }
    // Need 4: 20, then half the excess each step (rounded up): 16 -> 8 removed,
    // 8 -> 4, 4 -> 2.
    assert_eq!(seen, vec![20, 12, 8, 6]);
    let acts = w
        .store()
        .activities(&pk(&f), Some(3))
        .await
        .expect("activity");
    let steps: Vec<_> = acts
        .iter()
        .map(|a| (a.action.as_str(), a.from, a.to))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("ScaleIn", Some(8), Some(6)),
            ("ScaleIn", Some(12), Some(8)),
            ("ScaleIn", Some(20), Some(12))
        ],
        "newest first, limited to 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_action_raises_the_band_at_its_local_time_in_kolkata() {
    let w = World::new("sched").await;
    let f = w.function("sched").await;
    // Fires at t0 + 3 min, written in Kolkata wall-clock time (UTC+05:30):
    // read as UTC it would be five and a half hours off and never fire here.
    let fire = w.at(3, 0);
    let local = fire
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%dT%H:%M:%S");
    w.put_policy(json!({
        "pk": pk(&f),
        "MinCapacity": 0,
        "MaxCapacity": 20,
        "ScheduledActions": [{
            "Name": "morning-rush",
            "Schedule": format!("at({local})"),
            "Timezone": "Asia/Kolkata",
            "MinCapacity": 5,
        }],
    }))
    .await;

    let before = w.tick(w.at(2, 59)).await;
    assert_eq!(outcome(&before, &f).action.as_str(), "Hold");
    assert_eq!(w.pc(&f).await, None);

    let after = w.tick(fire).await;
    let r = outcome(&after, &f);
    assert_eq!((r.action.as_str(), r.to), ("ScaleOut", Some(5)), "{r:#?}");
    let band = &r.decision.as_ref().expect("decision").band;
    assert_eq!(band.min, 5);
    assert_eq!(w.wait_ready(&f).await, 5);
    // Stateless band: a tick an hour later (none in between) still sees it.
    let later = w.tick(w.at(63, 0)).await;
    assert_eq!(outcome(&later, &f).action.as_str(), "Hold");
    assert_eq!(w.pc(&f).await.map(|c| c.0), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_band_lowered_to_zero_deletes_the_config() {
    let w = World::new("bandzero").await;
    let f = w.function("bandzero").await;
    let mut policy = tracking_policy(&f, 1, 20, 600);
    policy["ScheduledActions"] = json!([{
        "Name": "night",
        "Schedule": format!("at({})", w.late(4, 0).format("%Y-%m-%dT%H:%M:%S")),
        "MinCapacity": 0,
        "MaxCapacity": 0,
    }]);
    w.put_policy(policy).await;
    w.demand(&f, &(0..=5).collect::<Vec<_>>(), 3.0).await;

    let out = w.tick(w.late(1, 5)).await;
    assert_eq!(outcome(&out, &f).to, Some(6));
    assert_eq!(w.wait_ready(&f).await, 6);

    // The night band's ceiling 0 wins over live demand and the cooldown.
    let out = w.tick(w.late(4, 5)).await;
    let r = outcome(&out, &f);
    assert_eq!(
        (r.action.as_str(), r.from, r.to),
        ("Delete", Some(6), Some(0)),
        "{r:#?}"
    );
    assert!(r.applied);
    assert_eq!(w.pc(&f).await, None, "the config is deleted in LocalStack");
    let state = w.item(&pk(&f), "state").await.expect("state");
    assert_eq!(n(&state, "Capacity"), Some(0));
    assert_eq!(ts(&state, "LastScaleInAt"), Some(w.late(4, 5)));

    // Deleted stays deleted: the next tick holds at 0 without calling Lambda.
    let out = w.tick(w.late(5, 5)).await;
    assert_eq!(outcome(&out, &f).action.as_str(), "Hold");
    assert_eq!(out.api_calls.delete_config, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_reappearing_at_zero_recreates_the_config() {
    let w = World::new("reappear").await;
    let f = w.function("reappear").await;
    w.put_policy(tracking_policy(&f, 0, 20, 60)).await;
    w.demand(&f, &[0], 2.0).await;

    assert_eq!(outcome(&w.tick(w.late(1, 5)).await, &f).to, Some(4));
    assert_eq!(w.wait_ready(&f).await, 4);

    // No invocations (no datapoints) in minute 2: demand 0, MinCapacity 0.
    let gone = w.tick(w.late(3, 5)).await;
    assert_eq!(outcome(&gone, &f).action.as_str(), "Delete", "{gone:#?}");
    assert_eq!(w.pc(&f).await, None);

    // Demand comes back in minute 4: the config is created again at once.
    w.demand(&f, &[4], 3.0).await;
    let back = w.tick(w.late(5, 5)).await;
    let r = outcome(&back, &f);
    assert_eq!(
        (r.action.as_str(), r.from, r.to),
        ("ScaleOut", Some(0), Some(6)),
        "{r:#?}"
    );
    assert_eq!(w.wait_ready(&f).await, 6);
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    let kinds: Vec<_> = acts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(kinds, vec!["ScaleOut", "Delete", "ScaleOut"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_records_activity_but_never_touches_provisioned_concurrency() {
    let w = World::new("dryrun").await;
    let f = w.function("dryrun").await;
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;
    w.demand(&f, &[1], 10.0).await;

    let now = w.late(2, 5).to_rfc3339();
    let (out, json) = w.cli(&["tick", "--dry-run", "--now", &now]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["dry_run"], true);
    let r = &json["resources"][0];
    assert_eq!(
        (r["action"].as_str(), r["to"].as_u64()),
        (Some("ScaleOut"), Some(20)),
        "{json:#}"
    );
    assert_eq!(
        (r["applied"].as_bool(), r["dry_run"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(json["api_calls"]["put_config"], 0);

    assert_eq!(w.pc(&f).await, None, "no PC config in dry-run");
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    assert_eq!(acts.len(), 1, "{acts:#?}");
    assert_eq!(
        (
            acts[0].action.as_str(),
            acts[0].outcome.as_str(),
            acts[0].to
        ),
        ("ScaleOut", "dry-run", Some(20))
    );

    // A second dry-run tick wanting the same does not record it again.
    let now = w.late(3, 5).to_rfc3339();
    w.demand(&f, &[2], 10.0).await;
    let (out, _) = w.cli(&["tick", "--dry-run", "--now", &now]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        w.store()
            .activities(&pk(&f), None)
            .await
            .expect("activity")
            .len(),
        1
    );
    assert_eq!(w.pc(&f).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_is_reported_while_the_valid_one_still_scales() {
    let w = World::new("invalid").await;
    let good = w.function("good").await;
    let bad = w.function("bad").await;
    w.put_policy(tracking_policy(&good, 0, 50, 600)).await;
    // A typo users make: MaxCapcity.
    w.put_policy(json!({"pk": pk(&bad), "MinCapacity": 1, "MaxCapcity": 5}))
        .await;
    w.demand(&good, &[1], 4.0).await;
    w.demand(&bad, &[1], 4.0).await;

    let now = w.late(2, 5).to_rfc3339();
    let (out, json) = w.cli(&["tick", "--now", &now]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "per-policy errors still exit 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["totals"]["resources"], 2, "{json:#}");
    assert_eq!(json["totals"]["errors"], 1);
    let rows = json["resources"].as_array().expect("resources");
    let row = |f: &str| {
        rows.iter()
            .find(|r| r["resource"] == pk(f))
            .cloned()
            .expect("row")
    };
    let g = row(&good);
    assert_eq!(
        (g["action"].as_str(), g["to"].as_u64()),
        (Some("ScaleOut"), Some(8))
    );
    let b = row(&bad);
    assert_eq!(b["action"], "Error");
    let err = b["error"].as_str().expect("the error is listed");
    assert!(err.contains("MaxCapcity"), "{err}");

    assert_eq!(w.wait_ready(&good).await, 8);
    assert_eq!(w.pc(&bad).await, None);
    let acts = w
        .store()
        .activities(&pk(&bad), None)
        .await
        .expect("activity");
    assert_eq!(acts.len(), 1, "{acts:#?}");
    assert_eq!(acts[0].action, "InvalidPolicy");
    assert!(
        acts[0].outcome.starts_with("failed:") && acts[0].cause.contains("MaxCapcity"),
        "{:#?}",
        acts[0]
    );
    // The activity item expires 30 days after the tick (DynamoDB TTL).
    let items = w
        .direct
        .dynamodb
        .query()
        .table_name(pcscale::aws::dynamodb::default_activity_table(&w.table))
        .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
        .expression_attribute_values(":pk", AttributeValue::S(pk(&bad)))
        .expression_attribute_values(":a", AttributeValue::S("activity#".into()))
        .send()
        .await
        .expect("Query")
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 1);
    let at = w.late(2, 5);
    assert_eq!(
        n(&items[0], "ExpiresAt"),
        Some((at + TimeDelta::days(30)).timestamp())
    );
    let sk = s(&items[0], "sk").expect("sk");
    assert!(
        sk.starts_with(&format!(
            "activity#{}#",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )),
        "{sk}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_1_when_the_table_does_not_exist() {
    let c = support::clients().await;
    let publication = support::publication::Publication::default();
    let w = World::from_parts(c.clone(), c, support::unique("missing"), publication);
    let (out, _) = w.cli(&["tick"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not load policies") && stderr.contains("ResourceNotFound"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_config_is_reported_with_its_status_reason() {
    let w = World::new("failed").await;
    let f = support::unique("failed");
    support::create_function_with(&w.direct.lambda, &f, "live", true).await;
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;
    w.demand(&f, &[1, 2, 3], 4.0).await;

    let out = w.tick(w.late(2, 5)).await;
    assert_eq!(outcome(&out, &f).to, Some(8));
    // The emulator's environments fail their init: the config ends FAILED.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        match w.pc(&f).await {
            Some((_, s)) if s == "IN_PROGRESS" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    assert_eq!(status, Some((8, "FAILED".to_owned())));

    // Still wanting 8: nothing to apply, but the summary lists the failure.
    let out = w.tick(w.late(3, 5)).await;
    let r = outcome(&out, &f);
    assert_eq!((r.action.as_str(), r.to), ("Hold", Some(8)), "{r:#?}");
    let err = r.error.as_deref().expect("a FAILED config is an error");
    assert!(err.contains("FUNCTION_ERROR_INIT_FAILURE"), "{err}");
    assert_eq!(out.totals.errors, 1);
    let failures = |acts: &[pcscale::ports::Activity]| {
        acts.iter()
            .filter(|a| a.cause.contains("FUNCTION_ERROR_INIT_FAILURE"))
            .count()
    };
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    assert_eq!(failures(&acts), 1, "{acts:#?}");
    // Recorded once per reason, not every minute.
    w.tick(w.late(4, 5)).await;
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    assert_eq!(failures(&acts), 1, "{acts:#?}");
}

// ------------------------------------------- CloudWatch's publication delay --
//
// Every tick below goes through the proxy that publishes a minute only
// `delay` after it ends (tests/support/publication.rs), and runs with the
// deployed default `PCSCALE_METRIC_DELAY_SECONDS` (180 s). Demand is seeded
// up to the minute before the tick, as a live function would have it; what
// CloudWatch has not yet published must never read as idle.

/// The delays AWS takes to publish a Lambda minute: one to three minutes.
const DELAYS: [u32; 3] = [60, 120, 180];

/// Target tracking at 0.7 on `metric`, scale-in window `scale_in_cooldown`.
fn policy_at_70(function: &str, metric: &str, scale_in_cooldown: u32, cold: bool) -> Value {
    let mut tt = json!({
        "TargetValue": 0.7,
        "Metric": metric,
        "ScaleOutCooldown": 0,
        "ScaleInCooldown": scale_in_cooldown,
    });
    if cold {
        // No history: these tests are about the minutes just published.
        // LocalStack answers the forecast's 14-day, 1-minute GetMetricData
        // (20,160 datapoints, one call on AWS) in tens of seconds, which
        // stalled every test sharing the emulator (this test: 104 s with
        // history, 17 s without); history has its own unit and simulator
        // tests, and the decisions here do not depend on it.
        tt["ColdStarts"] = json!({ "FollowDemand": true, "HistoryDays": 0 });
    }
    json!({
        "pk": pk(function),
        "MinCapacity": 0,
        "MaxCapacity": 200,
        "TargetTracking": tt,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_and_cold_start_modes_scale_out_on_the_first_tick_whatever_the_delay() {
    for delay in DELAYS {
        for cold in [false, true] {
            let w = World::new("pub-out").await;
            w.publication.set_delay_secs(delay);
            let f = w.function("pub-out").await;
            w.put_policy(policy_at_70(&f, "ConcurrentExecutions", 600, cold))
                .await;
            // Demand 70 for the ten minutes before the tick.
            let minutes: Vec<i64> = (0..10).collect();
            w.demand(&f, &minutes, 70.0).await;
            let s = w.tick(w.at(10, 5)).await;
            let o = outcome(&s, &f);
            assert_eq!(
                (o.action.as_str(), o.to),
                ("ScaleOut", Some(100)),
                "delay {delay} s, cold-start mode {cold}: {o:#?}"
            );
            let r = &o.decision.as_ref().expect("a decision").reason;
            assert_eq!(r.demand_latest, Some(70.0), "delay {delay}");
            // The newest minute read is the newest CloudWatch had published.
            let newest = w.at(9 - i64::from(delay / 60), 0);
            assert_eq!(r.newest_minute, Some(newest), "delay {delay}");
            assert_eq!(r.unpublished_minutes, delay / 60, "delay {delay}");
            assert_eq!(w.wait_ready(&f).await, 100);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utilisation_mode_scales_out_on_the_first_tick_whatever_the_delay() {
    for delay in DELAYS {
        let w = World::new("pub-util").await;
        w.publication.set_delay_secs(delay);
        let f = w.function("pub-util").await;
        w.put_pc_directly(&f, 10).await;
        w.wait_ready(&f).await;
        w.put_policy(policy_at_70(
            &f,
            "ProvisionedConcurrencyUtilization",
            600,
            false,
        ))
        .await;
        let minutes: Vec<i64> = (0..10).collect();
        w.demand(&f, &minutes, 9.5).await;
        w.utilization(&f, &minutes, 0.95).await;
        let s = w.tick(w.at(10, 5)).await;
        let o = outcome(&s, &f);
        // ceil(10 x 0.95 / 0.7) = 14.
        assert_eq!(
            (o.action.as_str(), o.from, o.to),
            ("ScaleOut", Some(10), Some(14)),
            "delay {delay} s: {o:#?}"
        );
        assert_eq!(w.wait_ready(&f).await, 14);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_alias_is_not_scaled_in_while_its_newest_minutes_are_unpublished() {
    for delay in DELAYS {
        let w = World::new("pub-busy").await;
        w.publication.set_delay_secs(delay);
        let f = w.function("pub-busy").await;
        // A one-minute scale-in window: the shortest, the most exposed.
        w.put_policy(policy_at_70(&f, "ConcurrentExecutions", 60, false))
            .await;
        let minutes: Vec<i64> = (0..10).collect();
        w.demand(&f, &minutes, 70.0).await;
        let s = w.tick(w.at(10, 5)).await;
        assert_eq!(outcome(&s, &f).to, Some(100), "delay {delay}");
        assert_eq!(w.wait_ready(&f).await, 100);
        // Demand stays at 70; every tick's newest minutes are unpublished.
        for m in 10..14 {
            w.demand(&f, &[m], 70.0).await;
            let s = w.tick(w.at(m + 1, 5)).await;
            let o = outcome(&s, &f);
            assert_eq!(
                (o.action.as_str(), o.to),
                ("Hold", Some(100)),
                "delay {delay} s, tick at minute {}: {o:#?}",
                m + 1
            );
        }
        assert_eq!(w.pc(&f).await.map(|p| p.0), Some(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_idle_for_30_minutes_still_scales_in() {
    for delay in DELAYS {
        let w = World::new("pub-idle").await;
        w.publication.set_delay_secs(delay);
        let f = w.function("pub-idle").await;
        w.put_policy(policy_at_70(&f, "ConcurrentExecutions", 600, false))
            .await;
        w.demand(&f, &[0, 1, 2], 7.0).await;
        let s = w.tick(w.seen(2)).await;
        let o = outcome(&s, &f);
        assert_eq!(o.to, Some(10), "delay {delay}: {o:#?}");
        w.wait_ready(&f).await;
        // Then nothing for 30 minutes: every minute of the window published
        // and empty, so the alias is idle and its config goes.
        let s = w.tick(w.at(33, 5)).await;
        let o = outcome(&s, &f);
        assert_eq!(
            (o.action.as_str(), o.to),
            ("Delete", Some(0)),
            "delay {delay} s: {o:#?}"
        );
        assert_eq!(w.pc(&f).await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_minutes_it_treated_as_not_yet_published() {
    let w = World::new("pub-explain").await;
    w.publication.set_delay_secs(120);
    let f = w.function("pub-explain").await;
    w.put_policy(policy_at_70(&f, "ConcurrentExecutions", 600, false))
        .await;
    let minutes: Vec<i64> = (0..10).collect();
    w.demand(&f, &minutes, 70.0).await;
    let now = w.at(10, 5).to_rfc3339();
    // CloudWatch (delay 120 s) has published up to minute 7 at 10:05; the
    // tick assumes 180 s, so minutes 7..9 are pending and 7 has its datapoint.
    let (out, json) = w.cli(&["explain", &pk(&f), "--now", &now]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &json["decision"]["reason"];
    assert_eq!(r["unpublished_minutes"], 2, "{json:#}");
    assert_eq!(
        r["newest_minute"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>()),
        Some(Ok(w.at(7, 0))),
        "{json:#}"
    );
    assert_eq!(json["metric_delay_secs"], 180);
    assert_eq!(json["decision"]["to"], 100, "{json:#}");
    // In text, the same minutes by name.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"));
    let args = ["explain", &pk(&f), "--now", &now];
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(w.cli_env_for(&args));
    let text = cmd.output().await.expect("pcscale runs");
    let text = String::from_utf8_lossy(&text.stdout);
    let hm = |m: i64| w.at(m, 0).format("%H:%M").to_string();
    assert!(
        text.contains(&format!(
            "newest published minute {} UTC; {}..{} not yet published (delay 180 s)",
            hm(7),
            hm(8),
            hm(9)
        )),
        "{text}"
    );
}

// ------------------------------------------ reads within the budget (#13) --

/// The deployed schedule: reconcile every 15 minutes, 120 requests a tick.
fn scheduled() -> TickOptions {
    TickOptions {
        reconcile_every_minutes: 15,
        lambda_budget: Some(120),
        ..TickOptions::default()
    }
}

/// The Lambda provisioned-concurrency calls the proxy saw for `function`,
/// in order (`Get`, `Put`, `Delete`).
fn pc_calls(w: &World, function: &str) -> Vec<&'static str> {
    let proxy = w.proxy().expect("the world's own proxy");
    proxy
        .exchanges()
        .iter()
        .filter(|e| e.function.as_deref() == Some(function))
        .filter_map(|e| match e.operation.as_str() {
            "GetProvisionedConcurrencyConfig" => Some("Get"),
            "PutProvisionedConcurrencyConfig" => Some("Put"),
            "DeleteProvisionedConcurrencyConfig" => Some("Delete"),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_made_outside_pcscale_is_found_within_one_reconcile_period() {
    let w = World::new("drift15").await;
    let f = w.function("drift15").await;
    w.put_policy(json!({"pk": pk(&f), "MinCapacity": 2, "MaxCapacity": 20}))
        .await;
    let opts = scheduled();
    // No state yet: read before acting, then the band floor's step.
    let first = w.tick_with(w.at(0, 5), &opts).await;
    let r = outcome(&first, &f);
    assert_eq!((r.action.as_str(), r.to), ("ScaleOut", Some(2)), "{r:#?}");
    assert_eq!(pc_calls(&w, &f), ["Get", "Put"]);
    assert_eq!(w.wait_ready(&f).await, 2);
    // The next tick confirms the step (READY), then pcscale trusts its state.
    let second = w.tick_with(w.at(1, 5), &opts).await;
    assert_eq!(outcome(&second, &f).action.as_str(), "Hold");
    assert_eq!(pc_calls(&w, &f), ["Get", "Put", "Get"]);

    w.put_pc_directly(&f, 7).await;
    let mut found = None;
    for m in 2..=17 {
        w.tick_with(w.at(m, 5), &opts).await;
        let acts = w.store().activities(&pk(&f), None).await.expect("activity");
        if acts.iter().any(|a| a.action == "Drift") {
            found = Some((m, acts));
            break;
        }
        // Until its reconcile minute, no tick reads the alias.
        assert_eq!(pc_calls(&w, &f).len(), 3, "minute {m}");
    }
    let (m, acts) = found.expect("the drift is found within one reconcile period");
    assert!(
        (2..=16).contains(&m),
        "found at minute {m}, more than 15 min after the change at minute 1"
    );
    let drift = acts.iter().find(|a| a.action == "Drift").expect("drift");
    assert_eq!((drift.from, drift.to), (Some(2), Some(7)), "{drift:#?}");
    // One read found it.
    assert_eq!(pc_calls(&w, &f)[3], "Get", "{:?}", pc_calls(&w, &f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_is_confirmed_ready_before_the_next_step() {
    let w = World::new("confirm").await;
    let f = w.function("confirm").await;
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;
    w.demand(&f, &[0], 2.0).await;
    w.demand(&f, &[1, 2], 10.0).await;
    let opts = scheduled();
    let first = w.tick_with(w.late(1, 5), &opts).await;
    let r = outcome(&first, &f);
    assert_eq!((r.action.as_str(), r.to), ("ScaleOut", Some(4)), "{r:#?}");
    assert_eq!(w.wait_ready(&f).await, 4);

    // Lambda still allocating: the confirmation read says IN_PROGRESS, and
    // the step demand now asks for (20) waits.
    let proxy = w.proxy().expect("the world's own proxy");
    proxy.inject(
        Rule::on(
            "GetProvisionedConcurrencyConfig",
            Fault::Rewrite(Arc::new(|v: &mut Value| {
                v["Status"] = json!("IN_PROGRESS");
            })),
        )
        .containing(&f)
        .times(1),
    );
    let second = w.tick_with(w.late(2, 5), &opts).await;
    let r = outcome(&second, &f);
    assert_eq!(r.action.as_str(), "Skip", "{r:#?}");
    assert!(r.reason.contains("IN_PROGRESS"), "{r:#?}");
    // READY now: the next step follows its confirmation.
    let third = w.tick_with(w.late(3, 5), &opts).await;
    let r = outcome(&third, &f);
    assert_eq!((r.action.as_str(), r.to), ("ScaleOut", Some(20)), "{r:#?}");
    assert_eq!(pc_calls(&w, &f), ["Get", "Put", "Get", "Get", "Put"]);
    assert_eq!(w.wait_ready(&f).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_defers_work_without_losing_it() {
    let w = World::new("budget").await;
    let mut fs = Vec::new();
    for _ in 0..4 {
        let f = w.function("budget").await;
        w.put_policy(json!({"pk": pk(&f), "MinCapacity": 3, "MaxCapacity": 10}))
            .await;
        fs.push(f);
    }
    // Three requests a tick: GetAccountSettings and two more. Each alias
    // needs three (a read, its Put, the confirmation): six ticks at least.
    let opts = TickOptions {
        lambda_budget: Some(3),
        concurrency: 1,
        ..scheduled()
    };
    let proxy = w.proxy().expect("the world's own proxy");
    let mut carried = 0;
    let mut done_at = None;
    for m in 0..12 {
        proxy.reset_log();
        let s = w.tick_with(w.at(m, 5), &opts).await;
        assert_eq!(s.totals.errors, 0, "minute {m}: {s:#?}");
        assert!(
            proxy.control_plane_requests() <= 3,
            "minute {m}: {} requests",
            proxy.control_plane_requests()
        );
        assert_eq!(s.api_calls.control_plane(), proxy.control_plane_requests());
        carried += s.totals.carried;
        for r in s.resources.iter().filter(|r| r.applied) {
            let f = r
                .resource
                .trim_start_matches("function:")
                .trim_end_matches(":live");
            assert_eq!(w.wait_ready(f).await, 3);
        }
        if s.totals.carried == 0 && s.resources.iter().all(|r| r.action.as_str() == "Hold") {
            done_at = Some(m);
            break;
        }
    }
    let m = done_at.expect("every alias reaches its floor and is confirmed");
    assert!(m >= 5, "three requests a tick cannot do it in {m} ticks");
    assert!(carried > 0, "the budget deferred work");
    for f in &fs {
        assert_eq!(w.pc(f).await, Some((3, "READY".to_owned())), "{f}");
        let acts = w.store().activities(&pk(f), None).await.expect("activity");
        let steps = acts.iter().filter(|a| a.action == "ScaleOut").count();
        assert_eq!(
            steps, 1,
            "{f}: one step, never lost nor repeated: {acts:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_caps_the_need_and_explain_predicts_what_the_tick_applies() {
    let w = World::new("reserved").await;
    let f = w.function("reserved").await;
    w.direct
        .lambda
        .put_function_concurrency()
        .function_name(&f)
        .reserved_concurrent_executions(6)
        .send()
        .await
        .expect("PutFunctionConcurrency");
    w.put_policy(tracking_policy(&f, 0, 50, 600)).await;
    // Demand 10 wants 20; the reservation allows 6.
    w.demand(&f, &[0], 10.0).await;
    let now = w.late(1, 5);
    let (out, ex) = w
        .cli(&["explain", &pk(&f), "--now", &now.to_rfc3339()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = w.tick_with(now, &scheduled()).await;
    let r = outcome(&s, &f);
    assert_eq!((r.action.as_str(), r.to), ("ScaleOut", Some(6)), "{r:#?}");
    assert_eq!(ex["decision"]["to"], 6, "{ex:#}");
    assert_eq!(ex["decision"]["action"], "ScaleOut", "{ex:#}");
    assert_eq!(
        ex["decision"]["reason"]["clamps"][0]["by"], "reserved",
        "{ex:#}"
    );
    let d = r.decision.as_ref().expect("decision");
    assert_eq!(
        serde_json::to_value(d).expect("json")["reason"]["clamps"],
        ex["decision"]["reason"]["clamps"]
    );
    assert_eq!(w.wait_ready(&f).await, 6);
}

/// The tick's outcome for `key`; panics when there is none.
fn outcome_of<'a>(
    s: &'a pcscale::tick::TickSummary,
    key: &str,
) -> &'a pcscale::tick::ResourceOutcome {
    pcscale::tick::by_resource(s)
        .get(key)
        .copied()
        .unwrap_or_else(|| panic!("no outcome for {key} in {s:#?}"))
}

// Issue 12 item 7: an alias policy and a policy on the version it points to
// name the same provisioned concurrency (Lambda refuses the second config
// with 409). Found from the policies, confirmed with one GetAlias, reported
// once, and the version left alone without asking again every tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_and_the_version_it_points_to_are_reported_once_and_the_version_left_alone() {
    let w = World::new("shared-pc").await;
    let f = w.function("shared-pc").await; // live -> 1
    let version = format!("function:{f}:1");
    w.put_policy(tracking_policy(&f, 2, 50, 600)).await;
    let mut on_version = tracking_policy(&f, 3, 50, 600);
    on_version["pk"] = json!(version);
    w.put_policy(on_version).await;
    w.demand(&f, &[0, 1, 2], 1.0).await;

    let first = w.tick(w.late(2, 5)).await;
    let alias = outcome(&first, &f);
    assert_eq!(
        (alias.action.as_str(), alias.to),
        ("ScaleOut", Some(2)),
        "{alias:#?}"
    );
    let v = outcome_of(&first, &version);
    assert_eq!(v.action.as_str(), "Error", "{v:#?}");
    let err = v.error.as_deref().unwrap_or_default();
    assert!(err.contains("alias live points to version 1"), "{err}");
    assert!(err.contains("409 ResourceConflictException"), "{err}");
    assert_eq!(first.api_calls.aliases, 1, "{:#?}", first.api_calls);
    assert_eq!(first.api_calls.put_config, 1, "only the alias is written");
    assert_eq!(support::pc_config(&w.direct.lambda, &f, "1").await, None);

    // Later ticks: the answer is cached in the state; no second report.
    let second = w.tick(w.late(3, 5)).await;
    assert_eq!(second.api_calls.aliases, 0, "{:#?}", second.api_calls);
    assert_eq!(outcome_of(&second, &version).action.as_str(), "Error");
    let acts = w
        .store()
        .activities(&version, None)
        .await
        .expect("activity");
    let errors: Vec<_> = acts.iter().filter(|a| a.action == "Error").collect();
    assert_eq!(errors.len(), 1, "{acts:#?}");
    assert!(
        errors[0]
            .cause
            .contains("name the same provisioned concurrency"),
        "{acts:#?}"
    );
    let state = w
        .item(&version, "state")
        .await
        .expect("the version's state");
    assert!(
        matches!(state.get("AliasCheck"), Some(AttributeValue::M(_))),
        "{state:#?}"
    );
    assert_eq!(w.wait_ready(&f).await, 2);
}

// Issue 14 item 4: SAM's AutoPublishAlias with ProvisionedConcurrencyConfig
// (CloudFormation) moves the alias to a new version and sets its capacity
// on every deploy. The drift says so: the stack (tag
// aws:cloudformation:stack-name, via GetAlias then ListTags, only on the
// drift) and the version, in the activity record and in `explain`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_after_a_cloudformation_deploy_names_the_stack_in_activity_and_explain() {
    let w = World::new("cfn-drift").await;
    let f = w.function("cfn-drift").await; // live -> 1
    let lambda = &w.direct.lambda;
    let arn = lambda
        .get_function()
        .function_name(&f)
        .send()
        .await
        .expect("GetFunction")
        .configuration
        .and_then(|c| c.function_arn)
        .expect("a function ARN");
    lambda
        .tag_resource()
        .resource(&arn)
        .tags("aws:cloudformation:stack-name", "shop-prod")
        .send()
        .await
        .expect("TagResource");
    w.put_policy(tracking_policy(&f, 5, 50, 600)).await;
    w.demand(&f, &[0, 1, 2, 3], 1.0).await;
    let first = w.tick(w.late(2, 5)).await;
    assert_eq!(outcome(&first, &f).to, Some(5));
    assert_eq!(first.api_calls.aliases, 0, "no GetAlias without a drift");
    assert_eq!(w.wait_ready(&f).await, 5);

    // The deploy: a new version, the alias moved to it, its capacity set.
    lambda
        .update_function_configuration()
        .function_name(&f)
        .description("deploy 2")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    let mut published = None;
    for _ in 0..100 {
        match lambda.publish_version().function_name(&f).send().await {
            Ok(o) => {
                published = o.version;
                break;
            }
            // The update is still in progress.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let v2 = published.expect("PublishVersion");
    assert_ne!(v2, "1");
    lambda
        .update_alias()
        .function_name(&f)
        .name("live")
        .function_version(&v2)
        .send()
        .await
        .expect("UpdateAlias");
    w.put_pc_directly(&f, 3).await;

    let second = w.tick(w.late(3, 5)).await;
    assert_eq!(second.api_calls.aliases, 2, "{:#?}", second.api_calls);
    let acts = w.store().activities(&pk(&f), None).await.expect("activity");
    let drift: Vec<_> = acts.iter().filter(|a| a.action == "Drift").collect();
    assert_eq!(drift.len(), 1, "{acts:#?}");
    let cause = &drift[0].cause;
    assert!(cause.contains("CloudFormation stack shop-prod"), "{cause}");
    assert!(
        cause.contains(&format!("alias live points to version {v2}")),
        "{cause}"
    );
    assert!(
        cause.contains("Migrating from AWS Application Auto Scaling"),
        "{cause}"
    );

    let (out, json) = w.cli(&["explain", &pk(&f)]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = json.to_string();
    assert!(text.contains("reset by a deploy"), "{json:#}");
    assert!(text.contains("shop-prod"), "{json:#}");
}

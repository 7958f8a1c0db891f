//! The Lambda driver at unit level: event shapes accepted and refused, the
//! environment's options, the deadline, the handler over in-memory ports, and
//! the EMF lines it prints, held to the EMF specification's structure.
//! (The real binary under a Runtime API emulator: `tests/lambda_runtime.rs`.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};

use pcscale::core::decide::{CurrentPc, Demand};
use pcscale::core::policy::{ResourceId, parse_policy};
use pcscale::core::state::State;
use pcscale::core::window::Horizon;
use pcscale::env::tick_options_from_lookup;
use pcscale::lambda::{
    DEADLINE_MARGIN, Driver, EventError, EventKind, HandlerError, emf, parse_event, tick_deadline,
};
use pcscale::ports::{
    Activity, AliasTarget, Clock, ConcurrencyApi, ErrorKind, MetricAnswers, MetricQuery,
    MetricsSource, PolicyStore, PortError, Segment, StoredResource, WriteOutcome,
};
use pcscale::tick::{ResourceOutcome, TickOptions, TickSummary};

fn event_file(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------- events --

#[test]
fn the_shipped_eventbridge_rule_event_is_a_full_tick() {
    let req = parse_event(&event_file("scheduled-event.json")).unwrap();
    assert!(matches!(
        req.kind,
        EventKind::ScheduledEvent {
            id: Some(_),
            time: Some(_)
        }
    ));
    assert_eq!(req.segment, None);
    assert!(!req.dry_run);
}

#[test]
fn the_shipped_scheduler_payload_empty_object_is_a_full_tick() {
    let req = parse_event(&event_file("scheduler-event.json")).unwrap();
    assert_eq!(req.kind, EventKind::SchedulerPayload);
    assert_eq!(req.segment, None);
    assert!(!req.dry_run);
}

#[test]
fn segment_and_dry_run_are_read_from_detail_and_from_a_bare_payload() {
    for name in [
        "scheduled-event-segment.json",
        "scheduler-event-segment.json",
    ] {
        let req = parse_event(&event_file(name)).unwrap();
        assert_eq!(req.segment, Some(Segment { index: 0, total: 2 }), "{name}");
        assert!(req.dry_run, "{name}");
    }
}

#[test]
fn an_envelope_without_detail_or_with_null_detail_is_accepted() {
    let mut ev = event_file("scheduled-event.json");
    ev.as_object_mut().unwrap().remove("detail");
    assert_eq!(parse_event(&ev).unwrap().segment, None);
    ev["detail"] = Value::Null;
    assert_eq!(parse_event(&ev).unwrap().segment, None);
}

#[test]
fn an_eventbridge_event_of_another_detail_type_is_refused_naming_it() {
    let ev = json!({
        "version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-03-01T12:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {"state": "running"}
    });
    let err = parse_event(&ev).unwrap_err();
    assert!(
        matches!(err, EventError::UnsupportedDetailType { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("EC2 Instance State-change Notification"),
        "{msg}"
    );
    assert!(msg.contains("aws.ec2"), "{msg}");
}

#[test]
fn events_of_other_services_and_non_objects_are_refused_with_what_was_seen() {
    let s3 = json!({"Records": [{"eventSource": "aws:s3"}]});
    let msg = parse_event(&s3).unwrap_err().to_string();
    assert!(msg.contains("Records"), "{msg}");
    for (ev, kind) in [
        (json!([]), "array"),
        (json!("tick"), "string"),
        (Value::Null, "null"),
        (json!(3), "number"),
    ] {
        let msg = parse_event(&ev).unwrap_err().to_string();
        assert!(msg.contains(kind), "{msg}");
    }
}

#[test]
fn malformed_options_are_refused() {
    let cases = [
        (json!({"segmnt": 0, "segments": 2}), "segmnt"),
        (json!({"segment": 0}), "together"),
        (json!({"segments": 2}), "together"),
        (json!({"segment": 0, "segments": 0}), "between 1 and"),
        (
            json!({"segment": 0, "segments": 1_000_001}),
            "between 1 and",
        ),
        (json!({"segment": 2, "segments": 2}), "out of range"),
        (json!({"segment": -1, "segments": 2}), "segment"),
        (json!({"dryRun": "yes"}), "dryRun"),
        (
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"dry_run": true}}),
            "dry_run",
        ),
        (
            json!({"detail-type": "Scheduled Event", "detail": {}}),
            "source",
        ),
    ];
    for (ev, needle) in cases {
        let msg = parse_event(&ev)
            .map(|r| panic!("{ev} was accepted as {r:?}"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{ev}: {msg}");
    }
}

#[test]
fn handler_errors_map_to_typed_runtime_diagnostics() {
    let err = HandlerError::from(parse_event(&json!([])).unwrap_err());
    let diag = Diagnostic::from(err);
    assert_eq!(diag.error_type, "pcscale.InvalidEvent");
    assert!(
        diag.error_message.contains("array"),
        "{}",
        diag.error_message
    );
}

// ----------------------------------------------------------- environment --

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn an_empty_environment_gives_the_default_options() {
    let opts = tick_options_from_lookup(env(&[])).unwrap();
    assert!(!opts.dry_run);
    assert_eq!(opts.max_per_function, None);
    assert_eq!(opts.allowed_functions, None);
}

#[test]
fn the_environment_sets_dry_run_guard_rail_and_allow_list() {
    let opts = tick_options_from_lookup(env(&[
        ("PCSCALE_DRY_RUN", "TRUE"),
        ("PCSCALE_MAX_PER_FUNCTION", " 50 "),
        (
            "PCSCALE_ALLOWED_FUNCTIONS",
            "checkout*, orders-api,,report?",
        ),
    ]))
    .unwrap();
    assert!(opts.dry_run);
    assert_eq!(opts.max_per_function, Some(50));
    assert_eq!(opts.quiet_every_minutes, 1);
    let quiet = tick_options_from_lookup(env(&[("PCSCALE_QUIET_EVERY_MINUTES", "3")])).unwrap();
    assert_eq!(quiet.quiet_every_minutes, 3);
    assert_eq!(opts.metric_delay.secs(), 180, "the documented default");
    let delayed =
        tick_options_from_lookup(env(&[("PCSCALE_METRIC_DELAY_SECONDS", " 60 ")])).unwrap();
    assert_eq!(delayed.metric_delay.secs(), 60);
    // The deployed read schedule and budget unless set (issue #13).
    assert_eq!(opts.reconcile_every_minutes, 15);
    assert_eq!(opts.lambda_budget, Some(120));
    let set = tick_options_from_lookup(env(&[
        ("PCSCALE_RECONCILE_MINUTES", "1"),
        ("PCSCALE_LAMBDA_BUDGET", " 300 "),
    ]))
    .unwrap();
    assert_eq!(
        (set.reconcile_every_minutes, set.lambda_budget),
        (1, Some(300))
    );
    assert_eq!(
        opts.allowed_functions,
        Some(vec![
            "checkout*".into(),
            "orders-api".into(),
            "report?".into()
        ])
    );
    let opts = tick_options_from_lookup(env(&[
        ("PCSCALE_DRY_RUN", "0"),
        ("PCSCALE_ALLOWED_FUNCTIONS", ""),
        ("PCSCALE_MAX_PER_FUNCTION", ""),
    ]))
    .unwrap();
    assert!(!opts.dry_run);
    assert_eq!(opts.allowed_functions, None);
    assert_eq!(opts.max_per_function, None);
}

/// An allow-list that parses to no entry is a mistake, not "every function"
/// (issue 12, item 10): refused at start-up, naming the variable.
#[test]
fn an_allow_list_naming_no_function_is_refused_at_start_up() {
    for v in [",", " , ", ",,", " ,\t, "] {
        let e = tick_options_from_lookup(env(&[("PCSCALE_ALLOWED_FUNCTIONS", v)])).expect_err(v);
        assert!(
            e.to_string().contains("PCSCALE_ALLOWED_FUNCTIONS"),
            "{v:?}: {e}"
        );
        assert!(e.to_string().contains("names no function"), "{v:?}: {e}");
    }
    // And the gate itself: an empty list allows nothing.
    let opts = pcscale::tick::TickOptions {
        allowed_functions: Some(Vec::new()),
        ..Default::default()
    };
    assert!(!pcscale::tick::allowed(&opts, "checkout"));
}

#[test]
fn a_mistyped_environment_variable_is_an_error_not_a_default() {
    for (k, v, needle) in [
        ("PCSCALE_DRY_RUN", "ture", "PCSCALE_DRY_RUN"),
        ("PCSCALE_MAX_PER_FUNCTION", "0", "PCSCALE_MAX_PER_FUNCTION"),
        (
            "PCSCALE_MAX_PER_FUNCTION",
            "10.5",
            "PCSCALE_MAX_PER_FUNCTION",
        ),
        ("PCSCALE_MAX_PER_FUNCTION", "-3", "PCSCALE_MAX_PER_FUNCTION"),
        (
            "PCSCALE_ALLOWED_FUNCTIONS",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout",
            "arn:aws",
        ),
        (
            "PCSCALE_ALLOWED_FUNCTIONS",
            "checkout:live",
            "checkout:live",
        ),
        (
            "PCSCALE_QUIET_EVERY_MINUTES",
            "0",
            "PCSCALE_QUIET_EVERY_MINUTES",
        ),
        (
            "PCSCALE_QUIET_EVERY_MINUTES",
            "five",
            "PCSCALE_QUIET_EVERY_MINUTES",
        ),
        (
            "PCSCALE_METRIC_DELAY_SECONDS",
            "901",
            "PCSCALE_METRIC_DELAY_SECONDS",
        ),
        (
            "PCSCALE_METRIC_DELAY_SECONDS",
            "-1",
            "PCSCALE_METRIC_DELAY_SECONDS",
        ),
        (
            "PCSCALE_METRIC_DELAY_SECONDS",
            "2m",
            "PCSCALE_METRIC_DELAY_SECONDS",
        ),
        (
            "PCSCALE_RECONCILE_MINUTES",
            "0",
            "PCSCALE_RECONCILE_MINUTES",
        ),
        (
            "PCSCALE_RECONCILE_MINUTES",
            "1441",
            "PCSCALE_RECONCILE_MINUTES",
        ),
        ("PCSCALE_LAMBDA_BUDGET", "0", "PCSCALE_LAMBDA_BUDGET"),
        ("PCSCALE_LAMBDA_BUDGET", "901", "PCSCALE_LAMBDA_BUDGET"),
        ("PCSCALE_LAMBDA_BUDGET", "2/s", "PCSCALE_LAMBDA_BUDGET"),
    ] {
        let err = tick_options_from_lookup(env(&[(k, v)])).unwrap_err();
        assert!(err.to_string().contains(needle), "{k}={v}: {err}");
    }
}

// -------------------------------------------------------------- deadline --

#[test]
fn the_deadline_keeps_a_margin_and_is_absent_when_unknown() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ms = |d: Duration| {
        u64::try_from(
            (now + d)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    assert_eq!(tick_deadline(0, now), None);
    // `cargo lambda watch` sends the timeout (600000 ms), not a time.
    assert_eq!(tick_deadline(600_000, now), None);
    assert_eq!(
        tick_deadline(ms(Duration::from_secs(50)), now),
        Some(Duration::from_secs(50) - DEADLINE_MARGIN)
    );
    assert_eq!(
        tick_deadline(ms(Duration::from_secs(8)), now),
        Some(Duration::from_secs(4))
    );
    let past = u64::try_from(
        (now - Duration::from_secs(1))
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert_eq!(tick_deadline(past, now), Some(Duration::ZERO));
}

// --------------------------------------------------------------- handler --

/// An in-memory table: items, the segments asked for, the writes made.
#[derive(Default)]
struct FakeStore {
    resources: Vec<StoredResource>,
    fail_load: bool,
    loads: Mutex<Vec<Option<Segment>>>,
    states: Mutex<Vec<(String, State)>>,
    activities: Mutex<Vec<Activity>>,
}

impl PolicyStore for FakeStore {
    async fn load(&self, segment: Option<Segment>) -> Result<Vec<StoredResource>, PortError> {
        self.loads.lock().unwrap().push(segment);
        if self.fail_load {
            return Err(PortError::new(
                "Scan",
                None,
                ErrorKind::AccessDenied,
                "not authorized to perform dynamodb:Scan",
            ));
        }
        Ok(self.resources.clone())
    }
    async fn write_state(
        &self,
        resource: &str,
        _expected_version: u64,
        next: &State,
    ) -> Result<WriteOutcome, PortError> {
        self.states
            .lock()
            .unwrap()
            .push((resource.to_owned(), next.clone()));
        Ok(WriteOutcome::Written)
    }
    async fn record(&self, activity: &Activity) -> Result<(), PortError> {
        self.activities.lock().unwrap().push(activity.clone());
        Ok(())
    }
}

/// Every query answers with the same per-minute datapoints, as CloudWatch
/// would: the last one in the newest minute published at the tick's
/// horizon, and the series made by the one window model.
struct FakeMetrics(Vec<Option<f64>>);

impl MetricsSource for FakeMetrics {
    async fn fetch(&self, queries: &[MetricQuery], horizon: Horizon) -> MetricAnswers {
        queries
            .iter()
            .map(|q| {
                let w = horizon.window(q.minutes);
                let newest = w.settled - chrono::TimeDelta::minutes(1);
                let n = self.0.len();
                let points = self.0.iter().enumerate().filter_map(|(i, v)| {
                    let back = i64::try_from(n - 1 - i).unwrap();
                    v.map(|v| ((newest - chrono::TimeDelta::minutes(back)).timestamp(), v))
                });
                (q.clone(), Demand::Known(w.series(points, None)))
            })
            .collect()
    }
}

/// No configs yet; records every write.
#[derive(Default)]
struct FakeLambda {
    puts: Mutex<Vec<(String, u32)>>,
    deletes: Mutex<Vec<String>>,
}

impl ConcurrencyApi for FakeLambda {
    async fn get_config(&self, _resource: &ResourceId) -> Result<Option<CurrentPc>, PortError> {
        Ok(None)
    }
    async fn put_config(&self, resource: &ResourceId, capacity: u32) -> Result<(), PortError> {
        self.puts
            .lock()
            .unwrap()
            .push((resource.to_string(), capacity));
        Ok(())
    }
    async fn delete_config(&self, resource: &ResourceId) -> Result<(), PortError> {
        self.deletes.lock().unwrap().push(resource.to_string());
        Ok(())
    }
    async fn reserved_concurrency(&self, _function: &str) -> Result<Option<u32>, PortError> {
        Ok(None)
    }
    async fn unreserved_concurrency(&self) -> Result<u32, PortError> {
        Ok(1000)
    }
    async fn alias_target(
        &self,
        _function: &str,
        _alias: &str,
    ) -> Result<Option<AliasTarget>, PortError> {
        Ok(None)
    }
    async fn function_memory(&self, _resource: &ResourceId) -> Result<Option<u32>, PortError> {
        Ok(Some(1024))
    }
    async fn cloudformation_stack(&self, _function_arn: &str) -> Result<Option<String>, PortError> {
        Ok(None)
    }
}

struct FixedClock(DateTime<Utc>);
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
}

fn stored(item: Value) -> StoredResource {
    StoredResource {
        key: item["pk"].as_str().unwrap_or_default().to_owned(),
        policy: parse_policy(&item),
        state: State::default(),
    }
}

/// Demand 10 against target 0.5 wants 20; an item with a typo is invalid.
fn table() -> Vec<StoredResource> {
    vec![
        stored(json!({
            "pk": "function:checkout:live", "sk": "policy",
            "MinCapacity": 1, "MaxCapacity": 100,
            "TargetTracking": {"TargetValue": 0.5}
        })),
        stored(json!({
            "pk": "function:orders:live", "sk": "policy",
            "MinCapacity": 1, "MaxCapcity": 100
        })),
    ]
}

fn driver(
    store: FakeStore,
    options: TickOptions,
) -> Driver<FakeStore, FakeMetrics, FakeLambda, FixedClock> {
    Driver {
        store,
        metrics: FakeMetrics(vec![Some(10.0); 10]),
        lambda: FakeLambda::default(),
        clock: FixedClock(now()),
        options,
        function_name: "pcscale-test".into(),
        emit_emf: false,
    }
}

fn invoke(payload: Value, deadline_ms: u64) -> LambdaEvent<Value> {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    ctx.deadline = deadline_ms;
    LambdaEvent::new(payload, ctx)
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn the_event_segment_reaches_the_store_and_its_dry_run_adds_to_the_environment() {
    let d = driver(FakeStore::default(), TickOptions::default());
    let summary = run(d.handle(invoke(event_file("scheduled-event-segment.json"), 0))).unwrap();
    assert_eq!(
        *d.store.loads.lock().unwrap(),
        vec![Some(Segment { index: 0, total: 2 })]
    );
    assert!(summary.dry_run);

    // An event's `"dryRun": false` cannot lift the operator's PCSCALE_DRY_RUN.
    let d = driver(
        FakeStore::default(),
        TickOptions {
            dry_run: true,
            ..TickOptions::default()
        },
    );
    let summary = run(d.handle(invoke(json!({"dryRun": false}), 0))).unwrap();
    assert!(summary.dry_run);
}

#[test]
fn the_invocation_deadline_becomes_the_tick_deadline_minus_the_margin() {
    let d = driver(FakeStore::default(), TickOptions::default());
    let req = parse_event(&json!({})).unwrap();
    let in_50s = SystemTime::now() + Duration::from_secs(50);
    let ms = u64::try_from(
        in_50s
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let opts = d.options_for(&req, ms);
    let deadline = opts.deadline.expect("a deadline");
    assert!(
        deadline <= Duration::from_secs(40) && deadline > Duration::from_secs(38),
        "{deadline:?}"
    );
    assert_eq!(d.options_for(&req, 0).deadline, None);
}

#[test]
fn a_refused_event_never_touches_the_table() {
    let d = driver(FakeStore::default(), TickOptions::default());
    let err = run(d.handle(invoke(json!({"Records": []}), 0))).unwrap_err();
    assert_eq!(err.error_type(), "pcscale.InvalidEvent");
    assert!(d.store.loads.lock().unwrap().is_empty());
}

#[test]
fn an_unreadable_table_fails_the_invocation_as_tick_failed() {
    let store = FakeStore {
        fail_load: true,
        ..FakeStore::default()
    };
    let d = driver(store, TickOptions::default());
    let err = run(d.handle(invoke(event_file("scheduled-event.json"), 0))).unwrap_err();
    assert_eq!(err.error_type(), "pcscale.TickFailed");
    let diag = Diagnostic::from(err);
    assert!(
        diag.error_message.contains("dynamodb:Scan"),
        "{}",
        diag.error_message
    );
}

#[test]
fn a_tick_scales_the_valid_policy_reports_the_invalid_one_and_returns_the_summary_json() {
    let store = FakeStore {
        resources: table(),
        ..FakeStore::default()
    };
    let d = driver(store, TickOptions::default());
    let summary = run(d.handle(invoke(event_file("scheduled-event.json"), 0))).unwrap();
    assert_eq!(summary.now, now());
    assert_eq!(summary.totals.resources, 2);
    assert_eq!(summary.totals.errors, 1, "{summary:#?}");
    assert_eq!(summary.totals.changed, 1, "{summary:#?}");
    assert_eq!(
        *d.lambda.puts.lock().unwrap(),
        vec![("function:checkout:live".to_owned(), 20)]
    );
    let by: HashMap<&str, &ResourceOutcome> = summary
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r))
        .collect();
    let invalid = by["function:orders:live"];
    assert!(
        invalid
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("MaxCapcity"),
        "{invalid:?}"
    );

    // The runtime serialises the summary as the invocation's response.
    let v = serde_json::to_value(&summary).unwrap();
    for key in [
        "now",
        "duration_ms",
        "dry_run",
        "resources",
        "totals",
        "api_calls",
    ] {
        assert!(v.get(key).is_some(), "summary JSON lacks {key}: {v}");
    }
    assert_eq!(v["resources"][0]["resource"], "function:checkout:live");
    assert_eq!(v["resources"][0]["to"], 20);

    // And the EMF lines of that tick conform to the spec.
    let lines = emf::tick_lines(&summary, "pcscale-test");
    assert_eq!(lines.len(), 2, "one per tick, one per change: {lines:#?}");
    for l in &lines {
        assert_eq!(emf::validate(l), Vec::<String>::new(), "{l}");
    }
    assert_eq!(lines[1]["Resource"], "function:checkout:live");
    assert_eq!(lines[1]["Desired"], 20.0);
    assert_eq!(lines[1]["Applied"], 20.0);
    assert_eq!(lines[1]["Demand"], 10.0);
}

// ------------------------------------------------------------------- EMF --

/// A summary built from JSON, so these tests do not depend on how the core
/// decides.
fn summary_with(resources: Value) -> TickSummary {
    serde_json::from_value(json!({
        "now": "2026-03-02T12:00:00Z", "duration_ms": 1234, "dry_run": false,
        "resources": resources,
        "totals": {"resources": 3, "changed": 1, "errors": 1, "skipped": 1},
        "api_calls": {"metric_queries": 3, "get_config": 3, "put_config": 2,
                      "delete_config": 0, "limits": 2, "store_writes": 5}
    }))
    .unwrap()
}

fn outcome(
    resource: &str,
    action: &str,
    from: u32,
    to: u32,
    applied: bool,
    error: Option<&str>,
) -> Value {
    json!({
        "resource": resource, "from": from, "to": to, "action": action,
        "reason": "target tracking", "error": error, "applied": applied, "dry_run": false,
        "decision": {
            "from": from, "to": to,
            "action": if to > from { "ScaleOut" } else if to == 0 { "Delete" } else { "ScaleIn" },
            "band": {"min": 0, "max": 100, "min_source": "Policy", "max_source": "Policy"},
            "reason": {"rule": "TargetTrackingScaleOut", "summary": "target tracking",
                       "demand_latest": 7.0, "demand_window_max": 7.0, "utilization": null,
                       "target_value": 0.7, "wanted": to, "clamps": [],
                       "cooldown_remaining_secs": null}
        }
    })
}

#[test]
fn the_per_tick_emf_line_has_every_required_member() {
    let s = summary_with(json!([]));
    let line = &emf::tick_lines(&s, "pcscale-PcscaleFunction-abc")[0];
    assert_eq!(emf::validate(line), Vec::<String>::new(), "{line}");
    let aws = &line["_aws"];
    assert_eq!(aws["Timestamp"], json!(now().timestamp_millis()));
    let d = &aws["CloudWatchMetrics"][0];
    assert_eq!(d["Namespace"], "pcscale");
    assert_eq!(d["Dimensions"], json!([["FunctionName"]]));
    let names: Vec<&str> = d["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Resources", "Changed", "Errors", "Skipped", "DurationMs"]
    );
    assert_eq!(d["Metrics"][4]["Unit"], "Milliseconds");
    assert_eq!(line["FunctionName"], "pcscale-PcscaleFunction-abc");
    assert_eq!(line["DurationMs"], 1234.0);
    assert_eq!(line["Errors"], 1.0);
}

#[test]
fn a_failed_change_reports_the_old_capacity_as_applied_and_one_error() {
    let s = summary_with(json!([
        outcome("function:a:live", "ScaleOut", 2, 10, true, None),
        outcome(
            "function:b:live",
            "Error",
            4,
            8,
            false,
            Some("429 TooManyRequestsException")
        ),
        outcome("function:c:live", "Skip", 1, 5, false, None),
    ]));
    let lines = emf::tick_lines(&s, "pcscale");
    assert_eq!(
        lines.len(),
        3,
        "the claimed-elsewhere Skip has no line: {lines:#?}"
    );
    for l in &lines {
        assert_eq!(emf::validate(l), Vec::<String>::new(), "{l}");
    }
    let a = &lines[1];
    assert_eq!(
        (
            a["Desired"].as_f64(),
            a["Applied"].as_f64(),
            a["Errors"].as_f64()
        ),
        (Some(10.0), Some(10.0), Some(0.0))
    );
    let b = &lines[2];
    assert_eq!(b["Resource"], "function:b:live");
    assert_eq!(
        (
            b["Desired"].as_f64(),
            b["Applied"].as_f64(),
            b["Errors"].as_f64()
        ),
        (Some(8.0), Some(4.0), Some(1.0))
    );
    assert_eq!(b["Error"], "429 TooManyRequestsException");
    assert_eq!(
        b["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Resource"]])
    );
}

#[test]
fn unknown_demand_is_left_out_of_the_metrics_not_written_as_null() {
    let mut o = outcome("function:a:live", "ScaleOut", 2, 10, true, None);
    o["decision"]["reason"]["demand_latest"] = Value::Null;
    let lines = emf::tick_lines(&summary_with(json!([o])), "pcscale");
    let line = &lines[1];
    assert!(line.get("Demand").is_none(), "{line}");
    let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Demand"), "{names:?}");
    assert_eq!(emf::validate(line), Vec::<String>::new());
}

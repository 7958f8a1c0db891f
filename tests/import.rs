//! `pcscale policy import`: the vendors' own documentation examples import to
//! equivalent pcscale policies (checked item by item, then by asking the real
//! core which band is in force at chosen instants), and the CLI keeps its
//! stdout/stderr/exit-code contract. No emulator needed.

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Utc};
use pcscale::core::effective_band;
use pcscale::core::policy::BandSource;
use pcscale::core::policy::{MetricKind, Policy, parse_policy};
use pcscale::import::{ImportOptions, Imported, Vendor, WarningKind, import};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Imports `<stem>.json` (validated by the core parser) and checks the item
/// against `<stem>.expected.json`.
fn import_fixture(vendor: Vendor, stem: &str) -> (Imported, Policy) {
    let out = import(
        vendor,
        &read_json(&format!("{stem}.json")),
        &ImportOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{stem} did not import: {e}"));
    assert_eq!(out.items.len(), 1, "{stem}: one resource, one item");
    let expected = read_json(&format!("{stem}.expected.json"));
    assert_eq!(
        out.items[0],
        expected,
        "{stem}: got\n{}",
        serde_json::to_string_pretty(&out.items[0]).unwrap_or_default()
    );
    let policy = parse_policy(&out.items[0]).expect("imported item is a valid policy");
    (out, policy)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

fn min_source(policy: &Policy, now: &str) -> (u32, u32, Option<String>) {
    let band = effective_band(policy, at(now));
    let source = match band.min_source {
        BandSource::Policy => None,
        BandSource::Action { name, .. } => Some(name),
    };
    (band.min, band.max, source)
}

#[test]
fn aws_lambda_docs_example_imports_to_the_equivalent_policy() {
    // docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html:
    // register-scalable-target --resource-id function:my-function:BLUE
    // --min-capacity 1 --max-capacity 100, then put-scaling-policy with
    // TargetValue 0.7 on LambdaProvisionedConcurrencyUtilization.
    let (out, policy) = import_fixture(Vendor::Aws, "aws_lambda_docs_blue");
    assert_eq!(policy.resource.to_string(), "function:my-function:BLUE");
    assert!(policy.enabled);
    assert_eq!((policy.min_capacity, policy.max_capacity), (1, 100));
    let tt = policy.target_tracking.expect("target tracking imported");
    assert_eq!(tt.target_value, 0.7);
    assert_eq!(tt.metric, MetricKind::ProvisionedConcurrencyUtilization);
    assert!(!tt.disable_scale_in);
    // The import report recommends ConcurrentExecutions and says which
    // default replaced AWS's absent ScaleInCooldown.
    assert!(out.warnings.iter().any(
        |w| w.kind == WarningKind::Recommendation && w.message.contains("ConcurrentExecutions")
    ));
    assert!(
        out.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Assumed && w.path.ends_with("ScaleInCooldown"))
    );
    assert!(
        !out.warnings.iter().any(|w| w.kind == WarningKind::Dropped),
        "nothing of the docs example is lost: {:?}",
        out.warnings
    );
}

#[test]
fn aws_describe_output_keeps_cooldowns_schedules_and_reports_the_statistic() {
    let (out, policy) = import_fixture(Vendor::Aws, "aws_describe_output");
    let tt = policy
        .target_tracking
        .clone()
        .expect("target tracking imported");
    assert_eq!(tt.scale_in_cooldown_secs, pcscale::core::Secs(120));
    assert_eq!(policy.scheduled_actions.len(), 2);
    // 11:45 New York on a winter day = 16:45 UTC: the scale-out floor of 250 holds.
    assert_eq!(
        min_source(&policy, "2024-01-10T17:00:00Z"),
        (250, 300, Some("scale-out".into()))
    );
    // After 13:15 New York the scale-in action has set 0.
    assert_eq!(
        min_source(&policy, "2024-01-10T18:30:00Z"),
        (0, 300, Some("scale-in".into()))
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Approximated && w.path.ends_with("Statistic"))
    );
}

#[test]
fn alibaba_docs_example_imports_to_the_equivalent_policy() {
    // Alibaba Function Compute 3.0, "Instance scaling restrictions and rules":
    // 50 provisioned instances at 20:00 and 10 at 22:00 (Asia/Shanghai) from
    // 2024-08-01T10:00 to 2024-08-30T10:00, with a 0.6 provisioned-concurrency
    // utilisation tracking policy between 10 and 100.
    let (out, policy) = import_fixture(Vendor::Alibaba, "alibaba_docs_example");
    let tt = policy.target_tracking.clone().expect("tracking imported");
    assert_eq!(tt.target_value, 0.6);
    assert_eq!((policy.min_capacity, policy.max_capacity), (10, 100));

    // Before the window: the tracking policy's minimum.
    assert_eq!(min_source(&policy, "2024-07-20T12:30:00Z"), (10, 100, None));
    // 20:30 Shanghai (12:30 UTC) on 5 August: at least 50.
    assert_eq!(
        min_source(&policy, "2024-08-05T12:30:00Z"),
        (50, 100, Some("scale_up_action".into()))
    );
    // 22:30 Shanghai: back to 10.
    assert_eq!(
        min_source(&policy, "2024-08-05T14:30:00Z"),
        (10, 100, Some("scale_down_action".into()))
    );
    // 19:59 Shanghai the next day: still 10 (the 22:00 action holds overnight).
    assert_eq!(
        min_source(&policy, "2024-08-06T11:59:00Z"),
        (10, 100, Some("scale_down_action".into()))
    );
    // After the window closed, 20:30 on 30 August no longer raises the floor.
    let (min, _, source) = min_source(&policy, "2024-08-30T12:30:00Z");
    assert_eq!(min, 10);
    assert_eq!(source.as_deref(), Some("scale_up_action-window-end"));

    // The tracking window cannot be expressed and is reported, not dropped silently.
    assert!(
        out.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Approximated
                && w.path == "targetTrackingPolicies[0]"
                && w.message.contains("window"))
    );
}

#[test]
fn alibaba_numeric_weekdays_fire_on_the_right_days() {
    // robfig/cron numbering: 1-5 = Monday..Friday.
    let input = serde_json::json!({
        "functionName": "f", "qualifier": "live", "target": 0,
        "scheduledActions": [{"name": "workdays", "target": 8,
            "scheduleExpression": "cron(0 0 9 * * 1-5)", "timeZone": "UTC"}]
    });
    let out = import(Vendor::Alibaba, &input, &ImportOptions::default()).expect("imports");
    let policy = parse_policy(&out.items[0]).expect("valid");
    // Monday 2024-08-05 10:00 UTC: fired at 09:00 today.
    let (min, _, _) = min_source(&policy, "2024-08-05T10:00:00Z");
    assert_eq!(min, 8);
    // The band holds over the weekend, but the last firing was Friday 2 August.
    let band = effective_band(&policy, at("2024-08-04T10:00:00Z"));
    match band.min_source {
        BandSource::Action { fired_at, .. } => {
            assert_eq!(fired_at, at("2024-08-02T09:00:00Z"), "last fired on Friday")
        }
        BandSource::Policy => panic!("the action should have fired on Friday"),
    }
}

#[test]
fn tencent_static_config_imports_with_weekday_schedules_on_the_right_days() {
    let (out, policy) = import_fixture(Vendor::Tencent, "tencent_static_with_triggers");
    assert!(policy.target_tracking.is_none());
    // Monday 2024-08-05 06:30 Shanghai = Sunday 22:30 UTC.
    assert_eq!(
        min_source(&policy, "2024-08-04T22:30:00Z"),
        (30, 30, Some("weekday-morning".into()))
    );
    // Sunday 2024-08-04 06:30 Shanghai: the weekend action (0 = Sunday).
    assert_eq!(
        min_source(&policy, "2024-08-03T22:30:00Z"),
        (5, 30, Some("weekend".into()))
    );
    // The dropped seconds of "29 45 12 ..." and the assumed zone are reported.
    assert!(out.warnings.iter().any(|w| w.message.contains("seconds")));
    assert!(
        out.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Assumed && w.message.contains("Asia/Shanghai"))
    );
}

#[test]
fn tencent_utilisation_tracking_imports_as_concurrent_executions() {
    let (_, policy) = import_fixture(Vendor::Tencent, "tencent_utilization_tracking");
    let tt = policy.target_tracking.expect("tracking");
    assert_eq!(tt.metric, MetricKind::ConcurrentExecutions);
    assert_eq!(tt.scale_in_cooldown_secs, pcscale::core::Secs(600));
    assert_eq!((policy.min_capacity, policy.max_capacity), (1, 20));
}

#[test]
fn a_target_value_out_of_range_is_refused_by_the_policy_parser() {
    let mut input = read_json("aws_lambda_docs_blue.json");
    input["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] =
        serde_json::json!(70);
    let err = import(Vendor::Aws, &input, &ImportOptions::default()).unwrap_err();
    assert!(
        err.problems
            .iter()
            .any(|p| p.path == "function:my-function:BLUE.TargetTracking.TargetValue"),
        "{err}"
    );
}

#[test]
fn alibaba_fc2_pascal_case_example_imports_like_the_fc3_camel_case_one() {
    // FC 2.0 spells the same configuration `SchedulerActions` with
    // `TargetValue` (PascalCase) where FC 3.0 has `scheduledActions` with
    // `target`: the same policy must come out, nothing dropped.
    let opts = ImportOptions {
        resource: Some("function:function_1:prod".into()),
        ..ImportOptions::default()
    };
    let fc2 = import(
        Vendor::Alibaba,
        &read_json("alibaba_fc2_docs_example.json"),
        &opts,
    )
    .expect("FC 2.0 form imports");
    let fc3 = import(
        Vendor::Alibaba,
        &read_json("alibaba_docs_example.json"),
        &ImportOptions::default(),
    )
    .expect("FC 3.0 form imports");
    assert_eq!(fc2.items, fc3.items);
    assert_eq!(
        fc2.items[0],
        read_json("alibaba_docs_example.expected.json")
    );
    assert!(
        !fc2.warnings.iter().any(|w| w.kind == WarningKind::Dropped),
        "{:?}",
        fc2.warnings
    );
    assert_eq!(fc2.warnings.len(), fc3.warnings.len(), "{:?}", fc2.warnings);
}

#[test]
fn alibaba_fc2_seed_example_keeps_its_schedules() {
    // The FC 2.0 example this project started from: SchedulerActions with
    // TargetValue, times in UTC, the FC 2.0 resource descriptor.
    let out = import(
        Vendor::Alibaba,
        &read_json("alibaba_fc2_seed_example.json"),
        &ImportOptions::default(),
    )
    .expect("imports");
    let policy = parse_policy(&out.items[0]).expect("valid");
    assert_eq!(policy.resource.to_string(), "function:function_1:prod");
    assert_eq!(policy.scheduled_actions.len(), 3, "{:?}", out.items[0]);
    assert!(
        !out.warnings.iter().any(|w| w.kind == WarningKind::Dropped),
        "{:?}",
        out.warnings
    );
    // 20:30 UTC on 5 August: at least 50; 22:30: back to the 10.
    assert_eq!(
        min_source(&policy, "2024-08-05T20:30:00Z"),
        (50, 50, Some("action_1".into()))
    );
    assert_eq!(
        min_source(&policy, "2024-08-05T22:30:00Z"),
        (10, 50, Some("action_2".into()))
    );
}

// --- the CLI ---------------------------------------------------------------

fn pcscale(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("pcscale runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_prints_the_item_on_stdout_and_warnings_on_stderr() {
    let file = fixture("aws_lambda_docs_blue.json");
    let (code, stdout, stderr) = pcscale(&[
        "policy",
        "import",
        "--from",
        "aws",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let item: Value = serde_json::from_str(&stdout).expect("stdout is the item");
    assert_eq!(item, read_json("aws_lambda_docs_blue.expected.json"));
    assert!(stderr.contains("recommendation: "), "{stderr}");
    assert!(stderr.contains("ConcurrentExecutions"), "{stderr}");
}

#[test]
fn cli_output_json_wraps_items_and_warnings() {
    let file = fixture("alibaba_docs_example.json");
    let (code, stdout, _) = pcscale(&[
        "policy",
        "import",
        "--from",
        "alibaba",
        "--output",
        "json",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["vendor"], "alibaba");
    assert_eq!(
        doc["items"][0],
        read_json("alibaba_docs_example.expected.json")
    );
    assert!(doc["warnings"].as_array().is_some_and(|w| !w.is_empty()));
}

#[test]
fn cli_exits_2_naming_the_attribute_on_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"functionName": "f", "qualifier": "prod",
            "scheduledActions": [{"name": "x", "target": 5, "scheduleExpression": "cron(0 20 * * *)"}]}"#,
    )
    .expect("write");
    let (code, stdout, stderr) = pcscale(&[
        "policy",
        "import",
        "--from",
        "alibaba",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "nothing to pipe on failure: {stdout}");
    assert!(
        stderr.contains("scheduledActions[0].scheduleExpression: "),
        "{stderr}"
    );
}

#[test]
fn cli_resource_flag_names_the_lambda_alias() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tencent.json");
    std::fs::write(
        &path,
        r#"{"VersionProvisionedConcurrencyNum": 3, "Timezone": "UTC"}"#,
    )
    .expect("write");
    let (code, stdout, stderr) = pcscale(&[
        "policy",
        "import",
        "--from",
        "tencent",
        "--resource",
        "function:orders:live",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let item: Value = serde_json::from_str(&stdout).expect("item");
    assert_eq!(item["pk"], "function:orders:live");
    assert_eq!(item["MinCapacity"], 3);
}

#[test]
fn cli_refuses_input_that_is_not_the_vendors_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foo = dir.path().join("foo.json");
    std::fs::write(&foo, r#"{"foo": 1}"#).expect("write");
    let foo = foo.to_str().expect("utf-8 path").to_owned();
    for vendor in ["aws", "alibaba", "tencent"] {
        let (code, stdout, stderr) = pcscale(&["policy", "import", "--from", vendor, &foo]);
        assert_eq!(code, 2, "{vendor}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{vendor}: nothing to pipe: {stdout}");
        assert!(stderr.contains("not "), "{vendor}: {stderr}");
    }
    // Another vendor's file is refused too, and the message names the right --from.
    let cases = [
        ("tencent", "aws_lambda_docs_blue.json", "--from aws"),
        ("alibaba", "aws_lambda_docs_blue.json", "--from aws"),
        ("tencent", "alibaba_docs_example.json", "--from alibaba"),
        (
            "alibaba",
            "tencent_static_with_triggers.json",
            "--from tencent",
        ),
        ("aws", "tencent_static_with_triggers.json", "--from tencent"),
    ];
    for (vendor, file, hint) in cases {
        let path = fixture(file);
        let (code, stdout, stderr) = pcscale(&[
            "policy",
            "import",
            "--from",
            vendor,
            path.to_str().expect("utf-8 path"),
        ]);
        assert_eq!(code, 2, "{file} as {vendor}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{file} as {vendor}: {stdout}");
        assert!(stderr.contains(hint), "{file} as {vendor}: {stderr}");
    }
    // --output json says the same in its document.
    let (code, stdout, _) = pcscale(&[
        "policy", "import", "--from", "tencent", "--output", "json", &foo,
    ]);
    assert_eq!(code, 2);
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["valid"], false);
    assert!(doc["items"].as_array().is_some_and(Vec::is_empty));
}

//! Validation tests: the messages a user sees, item by item, and property
//! tests over arbitrary JSON.

use chrono::DateTime;
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Number, Value, json};

use super::hints::{closest, timezone_hint};
use super::validate::DESCRIPTORS;
use super::*;
use crate::core::schedule::Schedule;
use crate::core::units::Secs;
use crate::ddb_json::{from_dynamodb_json, parse_policies, parse_policy_any, to_dynamodb_json};
use std::str::FromStr;

fn base() -> Value {
    json!({"pk": "function:checkout:live", "MinCapacity": 1, "MaxCapacity": 10})
}

fn with(mut item: Value, key: &str, v: Value) -> Value {
    item[key] = v;
    item
}

fn problems(item: &Value) -> Vec<Problem> {
    match parse_policy_any(item) {
        Ok(p) => panic!("expected problems, got {p:?}"),
        Err(e) => e.problems,
    }
}

fn paths(item: &Value) -> Vec<String> {
    problems(item).into_iter().map(|p| p.path).collect()
}

fn complete() -> Value {
    json!({
        "pk": "function:checkout:live",
        "sk": "policy",
        "Enabled": false,
        "DryRun": true,
        "Description": "d",
        "MinCapacity": 2,
        "MaxCapacity": 200,
        "TargetTracking": {
            "TargetValue": 0.7,
            "Metric": "ProvisionedConcurrencyUtilization",
            "ScaleOutCooldown": 30,
            "ScaleInCooldown": 900,
            "ScaleInFactor": 0.5,
            "DisableScaleIn": true
        },
        "ScheduledActions": [{
            "Name": "evening-peak",
            "Schedule": "cron(0 20 * * ? *)",
            "Timezone": "Asia/Shanghai",
            "StartTime": "2025-01-01T00:00:00+08:00",
            "EndTime": "2025-12-31T23:59:59+08:00",
            "MinCapacity": 50,
            "MaxCapacity": 60
        }]
    })
}

#[test]
fn complete_item_is_read_field_by_field() {
    let p = parse_policy(&complete()).expect("valid");
    assert_eq!(p.resource.function, "checkout");
    assert_eq!(p.resource.qualifier, "live");
    assert!(!p.enabled);
    assert!(p.dry_run);
    assert_eq!(p.description.as_deref(), Some("d"));
    assert_eq!((p.min_capacity, p.max_capacity), (2, 200));
    let tt = p.target_tracking.as_ref().expect("target tracking");
    assert_eq!(tt.target_value, 0.7);
    assert_eq!(tt.metric, MetricKind::ProvisionedConcurrencyUtilization);
    assert_eq!(tt.scale_out_cooldown_secs, Secs(30));
    assert_eq!(tt.scale_in_cooldown_secs, Secs(900));
    assert_eq!(tt.scale_in_factor, 0.5);
    assert!(tt.disable_scale_in);
    let a = &p.scheduled_actions[0];
    assert_eq!(a.name, "evening-peak");
    assert_eq!(a.schedule.to_string(), "cron(0 20 * * ? *)");
    assert_eq!(a.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(
        a.start_time.map(|t| t.to_rfc3339()),
        Some("2024-12-31T16:00:00+00:00".to_owned())
    );
    assert_eq!((a.min_capacity, a.max_capacity), (Some(50), Some(60)));
}

#[test]
fn cold_starts_map_is_read_defaulted_and_round_tripped() {
    let item = with(
        base(),
        "TargetTracking",
        json!({"TargetValue": 1.0, "ColdStarts": {"MinColdStartsPerInstanceHour": 1.5, "LookbackMinutes": 480}}),
    );
    let p = parse_policy(&item).expect("valid");
    let cs = p
        .target_tracking
        .as_ref()
        .and_then(|tt| tt.cold_starts.clone())
        .expect("cold starts");
    assert_eq!(cs.min_per_instance_hour, Some(1.5));
    assert_eq!(cs.dollars_per_cold_start, None);
    assert_eq!(cs.lookback_minutes, 480);
    assert_eq!(cs.keep_alive_secs, 300);
    assert!(!cs.follow_demand);
    assert_eq!(cs.base_load_window_minutes, 60);
    assert_eq!(cs.base_load_factor, 0.0);
    assert!(cs.pre_warm_periodic, "PreWarmPeriodic defaults to on");
    assert_eq!(cs.history_days, 14, "HistoryDays defaults to 14");
    assert_eq!(parse_policy(&serde_json::to_value(&p).unwrap()), Ok(p));

    let off = with(
        base(),
        "TargetTracking",
        json!({"TargetValue": 1.0, "ColdStarts": {"PreWarmPeriodic": false}}),
    );
    let p = parse_policy(&off).expect("valid");
    let cs = p
        .target_tracking
        .as_ref()
        .and_then(|tt| tt.cold_starts.clone());
    assert_eq!(cs.map(|c| c.pre_warm_periodic), Some(false));
    assert_eq!(parse_policy(&serde_json::to_value(&p).unwrap()), Ok(p));
}

#[test]
fn cold_starts_problems_name_their_attribute_path() {
    let item = with(
        base(),
        "TargetTracking",
        json!({"TargetValue": 1.0, "ColdStarts": {"MinColdStartsPerInstanceHour": -1, "LookbackMinutes": 5, "KeepAlive": 300, "FollowDemand": "yes", "PreWarmPeriodic": 1, "HistoryDays": 15}}),
    );
    let err = parse_policy(&item).expect_err("invalid");
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "TargetTracking.ColdStarts.MinColdStartsPerInstanceHour",
        "TargetTracking.ColdStarts.LookbackMinutes",
        "TargetTracking.ColdStarts.KeepAlive",
        "TargetTracking.ColdStarts.FollowDemand",
        "TargetTracking.ColdStarts.PreWarmPeriodic",
        "TargetTracking.ColdStarts.HistoryDays",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    // 15 days would reach past CloudWatch's 1-minute retention.
    assert!(
        err.to_string().contains("HistoryDays") && err.to_string().contains("at most 14"),
        "{err}"
    );
}

#[test]
fn omitted_attributes_take_the_documented_defaults() {
    let item = with(base(), "TargetTracking", json!({"TargetValue": 0.5}));
    let item = with(
        item,
        "ScheduledActions",
        json!([{"Name": "a", "Schedule": "rate(5 minutes)", "MaxCapacity": 3}]),
    );
    let p = parse_policy(&item).expect("valid");
    assert!(p.enabled);
    assert!(!p.dry_run);
    assert_eq!(p.description, None);
    let tt = p.target_tracking.expect("tt");
    assert_eq!(tt.metric, MetricKind::ConcurrentExecutions);
    assert_eq!(tt.scale_out_cooldown_secs, Secs(0));
    assert_eq!(tt.scale_in_cooldown_secs, Secs(600));
    assert_eq!(tt.scale_in_factor, 1.0);
    assert!(!tt.disable_scale_in);
    let a = &p.scheduled_actions[0];
    assert_eq!(a.timezone, Tz::UTC);
    assert_eq!((a.start_time, a.end_time), (None, None));
    assert_eq!((a.min_capacity, a.max_capacity), (None, Some(3)));
}

#[test]
fn every_problem_is_reported_at_once_in_attribute_order() {
    let item = json!({
        "pk": "function:checkout:$LATEST",
        "MinCapacity": "5",
        "MaxCapcity": 10,
        "TargetTracking": {"TargetValue": 0, "ScaleInFactor": 2},
        "ScheduledActions": [{"Name": "", "Schedule": "rate(5 minutes)", "MinCapacity": -1}],
        "DryRun": "false"
    });
    assert_eq!(
        paths(&item),
        vec![
            "pk",
            "MaxCapcity",
            "MinCapacity",
            "MaxCapacity",
            "TargetTracking.TargetValue",
            "TargetTracking.ScaleInFactor",
            "ScheduledActions[0].Name",
            "ScheduledActions[0].MinCapacity",
            "DryRun",
        ]
    );
}

#[test]
fn invalid_policy_keeps_the_resource_for_reports() {
    let err = parse_policy(&with(base(), "MinCapacity", json!(-1))).expect_err("invalid");
    assert_eq!(err.resource.as_deref(), Some("function:checkout:live"));
    assert!(
        err.to_string()
            .starts_with("invalid policy function:checkout:live: MinCapacity")
    );
}

#[test]
fn wrong_types_name_the_expected_type() {
    let cases = [
        ("MinCapacity", json!("5"), "without quotes: 5"),
        ("MinCapacity", json!(1.5), "whole number"),
        ("MinCapacity", json!(-1), "0 or more"),
        ("MinCapacity", json!(null), "got null"),
        ("MinCapacity", json!([1]), "got a list"),
        ("MaxCapacity", json!(4_294_967_296u64), "at most 1000000"),
        ("Enabled", json!("true"), "write true without quotes"),
        ("Enabled", json!(1), "write true or false"),
        ("Description", json!(5), "in quotes"),
        ("TargetTracking", json!([]), "a map"),
        ("ScheduledActions", json!({}), "a list"),
    ];
    for (key, v, needle) in cases {
        let ps = problems(&with(base(), key, v.clone()));
        let p = ps
            .iter()
            .find(|p| p.path == key)
            .unwrap_or_else(|| panic!("{key}={v}: no problem at {key}: {ps:?}"));
        assert!(p.message.contains(needle), "{key}={v}: {}", p.message);
    }
}

#[test]
fn integral_floats_and_exponents_are_whole_numbers() {
    // DynamoDB does not distinguish 2 from 2.0; neither does pcscale.
    let item = with(
        with(base(), "MinCapacity", json!(2.0)),
        "MaxCapacity",
        json!(1e3),
    );
    let p = parse_policy(&item).expect("valid");
    assert_eq!((p.min_capacity, p.max_capacity), (2, 1000));
}

#[test]
fn target_value_hints_at_fractions() {
    let tt = |v: Value| with(base(), "TargetTracking", json!({ "TargetValue": v }));
    let msg = |v: Value| problems(&tt(v))[0].message.clone();
    assert!(msg(json!("70%")).contains("write the fraction 0.7"));
    assert!(msg(json!(70)).contains("write 0.7"));
    assert!(msg(json!(0)).contains("greater than 0"));
    assert!(msg(json!("0.7")).contains("without quotes"));
    assert!(
        parse_policy(&tt(json!(1))).is_ok(),
        "1 is allowed (0 < v <= 1)"
    );
}

#[test]
fn near_misses_get_a_did_you_mean() {
    let cases = [
        ("MaxCapcity", "did you mean MaxCapacity?"),
        ("maxcapacity", "case-sensitive); did you mean MaxCapacity?"),
        ("max_capacity", "did you mean MaxCapacity?"),
        ("MinCap", "did you mean MinCapacity?"),
        ("Enable", "did you mean Enabled?"),
        ("Descripton", "did you mean Description?"),
        ("TargetValue", "belongs inside the TargetTracking map"),
        ("ResourceId", "goes in pk"),
        ("Owner", "expected one of pk, sk, Enabled"),
    ];
    for (key, needle) in cases {
        let ps = problems(&with(base(), key, json!(1)));
        let p = ps.iter().find(|p| p.path == key).expect("named");
        assert!(p.message.contains(needle), "{key}: {}", p.message);
    }
}

#[test]
fn nested_unknown_attributes_are_named_with_their_path() {
    let item = with(
        base(),
        "TargetTracking",
        json!({"TargetValue": 0.5, "TargetValu": 1, "MinCapacity": 1}),
    );
    let ps = problems(&item);
    assert_eq!(ps[0].path, "TargetTracking.MinCapacity");
    assert!(ps[0].message.contains("top level"), "{}", ps[0].message);
    assert_eq!(ps[1].path, "TargetTracking.TargetValu");
    assert!(ps[1].message.contains("did you mean TargetValue?"));
}

#[test]
fn resource_ids_follow_application_auto_scaling() {
    let pk = |s: &str| problems(&with(base(), "pk", json!(s)))[0].message.clone();
    assert!(pk("function:checkout:$LATEST").contains("$LATEST"));
    assert!(pk("arn:aws:lambda:us-east-1:1:function:checkout:live").contains("not an ARN"));
    assert!(pk("function:checkout").contains("\"function:checkout:live\""));
    assert!(pk("checkout").contains("function:checkout:<alias or version>"));
    assert!(pk(&"x".repeat(10_000)).contains("too long"));
    let ok = parse_policy(&with(base(), "pk", json!("function:my_fn-2:42"))).expect("version");
    assert_eq!(ok.resource.qualifier, "42");
}

#[test]
fn sk_must_be_policy() {
    assert!(parse_policy(&with(base(), "sk", json!("policy"))).is_ok());
    assert!(
        problems(&with(base(), "sk", json!("state")))[0]
            .message
            .contains("state item")
    );
    assert_eq!(paths(&with(base(), "sk", json!("Policy"))), vec!["sk"]);
}

#[test]
fn capacities_relate_as_the_design_says() {
    let mm = |min: u32, max: u32| {
        with(
            with(base(), "MinCapacity", json!(min)),
            "MaxCapacity",
            json!(max),
        )
    };
    assert!(parse_policy(&mm(0, 1)).is_ok());
    assert!(parse_policy(&mm(5, 5)).is_ok());
    assert_eq!(paths(&mm(6, 5)), vec!["MaxCapacity"]);
    assert_eq!(paths(&mm(0, 0)), vec!["MaxCapacity"]);
    assert!(parse_policy(&mm(0, MAX_CAPACITY_VALUE)).is_ok());
    assert_eq!(paths(&mm(0, MAX_CAPACITY_VALUE + 1)), vec!["MaxCapacity"]);
}

fn action(extra: Value) -> Value {
    let mut a = json!({"Name": "peak", "Schedule": "rate(1 hour)", "MinCapacity": 2});
    if let (Value::Object(a), Value::Object(e)) = (&mut a, extra) {
        a.extend(e);
    }
    a
}

fn with_actions(actions: Vec<Value>) -> Value {
    with(base(), "ScheduledActions", Value::Array(actions))
}

#[test]
fn scheduled_action_rules() {
    let one = |extra: Value| paths(&with_actions(vec![action(extra)]));
    let p0 = |k: &str| format!("ScheduledActions[0].{k}");
    assert_eq!(
        one(json!({"Timezone": "Mars/Olympus"})),
        vec![p0("Timezone")]
    );
    assert_eq!(
        one(json!({"StartTime": "2025-02-01T00:00:00Z", "EndTime": "2025-01-01T00:00:00Z"})),
        vec![p0("EndTime")]
    );
    assert_eq!(
        one(json!({"StartTime": "2025-01-01T00:00:00Z", "EndTime": "2025-01-01T00:00:00Z"})),
        vec![p0("EndTime")],
        "EndTime must be strictly after StartTime"
    );
    assert_eq!(one(json!({"MaxCapacity": 1})), vec![p0("MaxCapacity")]);
    assert_eq!(one(json!({"MinCapacity": 11})), vec![p0("MinCapacity")]);
    assert_eq!(one(json!({"Name": " peak"})), vec![p0("Name")]);
    assert_eq!(one(json!({"Name": "x".repeat(257)})), vec![p0("Name")]);
    assert_eq!(one(json!({"Schedule": "   "})), vec![p0("Schedule")]);
    assert_eq!(
        one(json!({"Schedule": "x".repeat(1601)})),
        vec![p0("Schedule")]
    );
    let mut no_capacity = action(json!({}));
    no_capacity.as_object_mut().map(|o| o.remove("MinCapacity"));
    assert_eq!(
        paths(&with_actions(vec![no_capacity])),
        vec!["ScheduledActions[0]"]
    );
    // MaxCapacity 0 in an action is fine: "no provisioned concurrency at night".
    let night = action(json!({"MinCapacity": 0, "MaxCapacity": 0}));
    assert!(parse_policy(&with_actions(vec![night])).is_ok());
}

#[test]
fn duplicate_names_point_at_the_second_one() {
    let item = with_actions(vec![
        action(json!({})),
        action(json!({"Name": "other"})),
        action(json!({})),
    ]);
    let ps = problems(&item);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].path, "ScheduledActions[2].Name");
    assert!(ps[0].message.contains("ScheduledActions[0] already has it"));
}

#[test]
fn schedule_errors_carry_the_parser_text() {
    let item = with_actions(vec![action(json!({"Schedule": "cron(0 25 * * ? *)"}))]);
    let ps = problems(&item);
    assert_eq!(ps[0].path, "ScheduledActions[0].Schedule");
    let parser_text = Schedule::from_str("cron(0 25 * * ? *)")
        .expect_err("hour 25")
        .to_string();
    assert_eq!(ps[0].message, parser_text);
}

#[test]
fn lists_are_capped_and_only_the_first_entries_checked() {
    let many: Vec<Value> = (0..5000)
        .map(|i| action(json!({"Name": format!("a{i}"), "MinCapacity": -1})))
        .collect();
    let err = parse_policy(&with_actions(many)).expect_err("too many");
    assert_eq!(err.problems[0].path, "ScheduledActions");
    assert!(err.problems[0].message.contains("at most 100"));
    // 1 + 100 checked entries with a problem each, capped at MAX_PROBLEMS + 1.
    assert_eq!(err.problems.len(), MAX_PROBLEMS + 1);
    assert_eq!(err.problems[MAX_PROBLEMS].path, ITEM_PATH);
    assert!(
        err.problems[MAX_PROBLEMS]
            .message
            .contains("more problems not listed")
    );
}

#[test]
fn huge_names_and_values_are_cut_short_in_messages() {
    let key = "K".repeat(100_000);
    let item = with(with(base(), &key, json!(1)), "Description", json!(7));
    let err = parse_policy(&item).expect_err("invalid");
    let total: usize = err
        .problems
        .iter()
        .map(|p| p.path.len() + p.message.len())
        .sum();
    assert!(total < 2_000, "messages are {total} bytes");
    let big = with(base(), "MinCapacity", json!("9".repeat(100_000)));
    let err = parse_policy(&big).expect_err("invalid");
    assert!(
        err.problems[0].message.len() < 300,
        "{}",
        err.problems[0].message
    );
}

#[test]
fn non_objects_are_refused_as_a_whole() {
    for v in [json!(null), json!(1), json!("function:a:b"), json!([])] {
        let err = parse_policy(&v).expect_err("not an item");
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].path, ITEM_PATH);
    }
}

#[test]
fn empty_item_lists_every_required_attribute() {
    assert_eq!(paths(&json!({})), vec!["pk", "MinCapacity", "MaxCapacity"]);
}

#[test]
fn to_item_round_trips_and_writes_defaults_out() {
    let p = parse_policy(&complete()).expect("valid");
    let item = serde_json::to_value(&p).unwrap();
    assert_eq!(parse_policy(&item), Ok(p));
    assert_eq!(
        item["ScheduledActions"][0]["StartTime"],
        "2024-12-31T16:00:00Z"
    );
    let minimal = parse_policy(&base()).expect("valid");
    let item = serde_json::to_value(&minimal).unwrap();
    assert_eq!(item["sk"], "policy");
    assert_eq!(item["Enabled"], true);
    assert_eq!(item["DryRun"], false);
    assert!(item.get("TargetTracking").is_none());
    assert!(item.get("ScheduledActions").is_none());
    assert_eq!(parse_policy(&item), Ok(minimal));
}

#[test]
fn dynamodb_json_is_converted_to_plain_json() {
    let typed = json!({
        "pk": {"S": "function:checkout:live"},
        "MinCapacity": {"N": "1"},
        "MaxCapacity": {"N": "-10"},
        "Big": {"N": "18446744073709551615"},
        "F": {"N": "0.75"},
        "E": {"N": "1E+3"},
        "Enabled": {"BOOL": true},
        "Nothing": {"NULL": true},
        "TargetTracking": {"M": {"TargetValue": {"N": "0.7"}}},
        "ScheduledActions": {"L": [{"M": {"Name": {"S": "a"}}}]}
    });
    let plain = from_dynamodb_json(&typed).expect("converts");
    assert_eq!(
        plain,
        json!({
            "pk": "function:checkout:live",
            "MinCapacity": 1,
            "MaxCapacity": -10,
            "Big": 18446744073709551615u64,
            "F": 0.75,
            "E": 1000.0,
            "Enabled": true,
            "Nothing": null,
            "TargetTracking": {"TargetValue": 0.7},
            "ScheduledActions": [{"Name": "a"}]
        })
    );
    assert_eq!(from_dynamodb_json(&to_dynamodb_json(&plain)), Ok(plain));
}

#[test]
fn malformed_descriptors_are_named_by_attribute_path() {
    let cases = [
        (
            json!({"MinCapacity": {"N": "abc"}}),
            "MinCapacity",
            "not a number",
        ),
        (
            json!({"MinCapacity": {"N": "inf"}}),
            "MinCapacity",
            "not a number",
        ),
        (
            json!({"MinCapacity": {"N": " 1"}}),
            "MinCapacity",
            "not a number",
        ),
        (json!({"MinCapacity": {"N": 5}}), "MinCapacity", "\"5\""),
        (
            json!({"Enabled": {"BOOL": "true"}}),
            "Enabled",
            "without quotes",
        ),
        (
            json!({"Enabled": {"Bool": true}}),
            "Enabled",
            "did you mean BOOL?",
        ),
        (json!({"Tags": {"SS": ["a"]}}), "Tags", "set"),
        (json!({"Blob": {"B": "AAEC"}}), "Blob", "binary"),
        (
            json!({"X": {"S": "a", "N": "1"}}),
            "X",
            "exactly one type descriptor",
        ),
        (json!({"X": {}}), "X", "exactly one type descriptor"),
        (json!({"X": {"NULL": false}}), "X", "NULL descriptor"),
        (json!({"X": {"M": []}}), "X", "malformed M descriptor"),
        (json!({"X": 5, "Y": {"N": "1"}}), "X", "do not mix"),
        (
            json!({"T": {"M": {"V": {"N": "x"}}}}),
            "T.V",
            "not a number",
        ),
        (
            json!({"L": {"L": [{"S": "ok"}, {"N": "x"}]}}),
            "L[1]",
            "not a number",
        ),
    ];
    for (item, path, needle) in cases {
        let err = from_dynamodb_json(&item).expect_err("malformed");
        let p = err
            .problems
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("{item}: no problem at {path}: {err:?}"));
        assert!(p.message.contains(needle), "{item}: {}", p.message);
    }
}

#[test]
fn deep_dynamodb_nesting_is_refused_without_recursing_further() {
    // 100 levels: deeper than DynamoDB's 32, shallower than serde_json's
    // own parser limit (128), which bounds what a file can hold.
    let mut v = json!({"S": "leaf"});
    for _ in 0..100 {
        v = json!({ "M": { "x": v } });
    }
    let err = from_dynamodb_json(&json!({ "Deep": v })).expect_err("too deep");
    assert!(err.problems[0].message.contains("nested more than 32"));
}

#[test]
fn dynamodb_json_is_recognised() {
    assert!(looks_like_dynamodb_json(&json!({"pk": {"S": "x"}})));
    assert!(looks_like_dynamodb_json(
        &json!({"pk": "x", "MinCapacity": {"N": "1"}})
    ));
    assert!(!looks_like_dynamodb_json(&base()));
    assert!(!looks_like_dynamodb_json(&complete()));
    assert!(!looks_like_dynamodb_json(&json!({})));
    assert!(!looks_like_dynamodb_json(&json!([{"pk": {"S": "x"}}])));
    // Plain parse of typed JSON says what it is instead of 4 type errors.
    let typed = to_dynamodb_json(&base());
    let err = parse_policy(&typed).expect_err("typed");
    assert!(err.problems[0].message.contains("DynamoDB JSON"));
    assert_eq!(parse_policy_any(&typed), parse_policy(&base()));
}

#[test]
fn documents_may_be_lists_or_aws_cli_envelopes() {
    let typed = to_dynamodb_json(&base());
    assert_eq!(document_items(&json!([base(), base()])).len(), 2);
    assert_eq!(document_items(&json!({ "Item": typed })), vec![&typed]);
    assert_eq!(document_items(&json!({ "Items": [typed, typed] })).len(), 2);
    assert_eq!(document_items(&base()), vec![&base()]);
    let results = parse_policies(&json!({ "Items": [typed, {"pk": 1}] }));
    assert!(results[0].is_ok());
    assert!(results[1].is_err());
}

#[test]
fn unknown_time_zones_get_a_useful_suggestion() {
    let cases = [
        ("Asia/Shangai", "did you mean Asia/Shanghai?"),
        ("asia/shanghai", "did you mean Asia/Shanghai?"),
        ("Beijing", "did you mean Asia/Shanghai?"),
        ("PST", "did you mean America/Los_Angeles?"),
        ("Paris", "did you mean Europe/Paris?"),
        ("UTC+8", "a fixed offset is not a zone"),
        ("gmt-05:00", "a fixed offset is not a zone"),
    ];
    for (tz, needle) in cases {
        let item = with_actions(vec![action(json!({ "Timezone": tz }))]);
        let ps = problems(&item);
        assert_eq!(ps[0].path, "ScheduledActions[0].Timezone");
        assert!(ps[0].message.contains(needle), "{tz}: {}", ps[0].message);
    }
    assert_eq!(timezone_hint("Nowhere/Atlantis"), None);
    assert_eq!(timezone_hint("ü"), None);
}

#[test]
fn closest_only_suggests_plausible_typos() {
    let names = attr::ITEM.iter().copied();
    assert_eq!(closest("MaxCapcity", names.clone()), Some("MaxCapacity"));
    assert_eq!(closest("MIN_CAPACITY", names.clone()), Some("MinCapacity"));
    assert_eq!(closest("pk", names.clone()), Some("pk"));
    assert_eq!(closest("id", names.clone()), None);
    assert_eq!(closest("Owner", names.clone()), None);
    assert_eq!(closest("", names.clone()), None);
    assert_eq!(closest(&"a".repeat(65), names), None);
}

#[test]
fn schema_lists_the_required_attributes_and_never_allows_null() {
    let schema = json_schema();
    assert_eq!(
        schema["required"],
        json!(["pk", "MinCapacity", "MaxCapacity"])
    );
    assert_eq!(schema["additionalProperties"], json!(false));
    let props: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected: Vec<&str> = attr::ITEM.to_vec();
    expected.sort_unstable();
    let mut got = props.clone();
    got.sort_unstable();
    assert_eq!(got, expected);
    let text = schema.to_string();
    assert!(
        !text.contains("\"null\""),
        "schema allows null somewhere: {text}"
    );
}

// ---------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------

const WORDS: &[&str] = &[
    "function:checkout:live",
    "function:checkout:$LATEST",
    "function:a:1",
    "policy",
    "state",
    "cron(0 20 * * ? *)",
    "cron(0 25 * * ? *)",
    "cron(0 20 * * *)",
    "rate(5 minutes)",
    "rate(1 minutes)",
    "at(2025-01-01T00:00:00)",
    "Asia/Shanghai",
    "UTC",
    "2025-01-01T00:00:00Z",
    "2024-01-01T00:00:00+08:00",
    "ConcurrentExecutions",
    "ProvisionedConcurrencyUtilization",
    "70%",
    "5",
    "-1",
    "0.7",
    "true",
    "",
    "é",
    "\u{0}",
];

fn key() -> impl Strategy<Value = String> {
    let mut names: Vec<&'static str> = Vec::new();
    names.extend(attr::ITEM);
    names.extend(attr::TARGET_TRACKING_MAP);
    names.extend(attr::SCHEDULED_ACTION);
    names.extend(DESCRIPTORS);
    names.extend(["Item", "Items", "MaxCapcity"]);
    prop_oneof![
        4 => prop::sample::select(names).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..2_000_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-1.0f64..2.0).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object_of(
    names: &'static [&'static str],
    value: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(names).prop_map(str::to_owned),
        value,
        0..names.len() + 1,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Items shaped like policies: real attribute names, plausible or random values.
fn item_like() -> impl Strategy<Value = Value> {
    let tt = object_of(attr::TARGET_TRACKING_MAP, leaf());
    let action = object_of(attr::SCHEDULED_ACTION, leaf());
    let actions = prop::collection::vec(action, 0..4).prop_map(Value::Array);
    let value = prop_oneof![3 => leaf(), 1 => tt, 1 => actions, 1 => any_json()];
    object_of(attr::ITEM, value)
}

fn check_never_panics(v: &Value) {
    let _ = looks_like_dynamodb_json(v);
    let _ = document_items(v);
    if let Ok(plain) = from_dynamodb_json(v) {
        let _ = parse_policy(&plain);
    }
    let _ = parse_policies(v);
    if let Ok(p) = parse_policy_any(v) {
        // Anything accepted must survive the round trip.
        assert_eq!(parse_policy(&serde_json::to_value(&p).unwrap()), Ok(p));
    }
    if let Err(e) = parse_policy(v) {
        assert!(!e.problems.is_empty(), "an error always says why");
        assert!(e.problems.len() <= MAX_PROBLEMS + 1);
    }
}

// 10^4 cases, not 10^5: measured in a debug build on the 2-core dev
// machine, 10^5 cases took 144 s and 10^4 took 14.6 s (load average 5),
// over the 10 s budget for the larger count. Run more locally with a
// higher `cases` when touching the validator.
proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
    #[test]
    fn parsing_never_panics_on_arbitrary_json(v in prop_oneof![any_json(), item_like(), item_like().prop_map(|v| to_dynamodb_json(&v))]) {
        check_never_panics(&v);
    }
}

fn valid_action() -> impl Strategy<Value = Value> {
    let schedule = prop_oneof![
        (0u32..60, 0u32..24).prop_map(|(m, h)| format!("cron({m} {h} * * ? *)")),
        (1u32..500).prop_map(|n| if n == 1 {
            "rate(1 minute)".to_owned()
        } else {
            format!("rate({n} minutes)")
        }),
        (1u32..28, 0u32..24).prop_map(|(d, h)| format!("at(2025-03-{d:02}T{h:02}:00:00)")),
    ];
    let tz = prop::sample::select(vec![
        "UTC",
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
    ]);
    (
        schedule,
        tz,
        prop::option::of(0i64..2_000_000_000),
        prop::option::of(1i64..100_000_000),
        prop::option::of(0u32..50),
        prop::option::of(50u32..100),
    )
        .prop_map(|(schedule, tz, start, span, min, max)| {
            let mut a = json!({"Schedule": schedule, "Timezone": tz});
            if let Some(s) = start {
                let st = DateTime::from_timestamp(s, 123_000_000).unwrap_or_default();
                a["StartTime"] = json!(st.to_rfc3339());
                if let Some(span) = span {
                    let et = DateTime::from_timestamp(s + span, 0).unwrap_or_default();
                    a["EndTime"] = json!(et.to_rfc3339());
                }
            }
            match (min, max) {
                (None, None) => a["MinCapacity"] = json!(1),
                (mn, mx) => {
                    if let Some(mn) = mn {
                        a["MinCapacity"] = json!(mn);
                    }
                    if let Some(mx) = mx {
                        a["MaxCapacity"] = json!(mx);
                    }
                }
            }
            a
        })
}

fn valid_item() -> impl Strategy<Value = Value> {
    let tt = (
        0.001f64..=1.0,
        any::<bool>(),
        0u64..=MAX_COOLDOWN_SECS,
        0u64..=MAX_COOLDOWN_SECS,
        0.001f64..=1.0,
        any::<bool>(),
    )
        .prop_map(|(tv, util, so, si, f, d)| {
            json!({
                "TargetValue": tv,
                "Metric": if util { "ProvisionedConcurrencyUtilization" } else { "ConcurrentExecutions" },
                "ScaleOutCooldown": so,
                "ScaleInCooldown": si,
                "ScaleInFactor": f,
                "DisableScaleIn": d
            })
        });
    (
        "[a-zA-Z0-9_-]{1,64}",
        "[a-zA-Z0-9_-]{1,128}",
        0u32..50,
        100u32..=MAX_CAPACITY_VALUE,
        prop::option::of(tt),
        prop::collection::vec(valid_action(), 0..5),
        any::<bool>(),
        any::<bool>(),
        prop::option::of("\\PC{0,40}"),
    )
        .prop_map(|(f, q, min, max, tt, actions, en, dry, desc)| {
            let mut item = json!({
                "pk": format!("function:{f}:{q}"),
                "MinCapacity": min,
                "MaxCapacity": max,
                "Enabled": en,
                "DryRun": dry,
            });
            if let Some(tt) = tt {
                item["TargetTracking"] = tt;
            }
            if !actions.is_empty() {
                let named: Vec<Value> = actions
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut a)| {
                        a["Name"] = json!(format!("action-{i}"));
                        a
                    })
                    .collect();
                item["ScheduledActions"] = Value::Array(named);
            }
            if let Some(d) = desc {
                item["Description"] = json!(d);
            }
            item
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]
    #[test]
    fn valid_items_parse_and_round_trip(item in valid_item()) {
        let p = parse_policy(&item);
        prop_assert!(p.is_ok(), "{item}: {p:?}");
        let p = p.unwrap();
        prop_assert_eq!(parse_policy(&serde_json::to_value(&p).unwrap()), Ok(p.clone()));
        // And through DynamoDB JSON.
        prop_assert_eq!(parse_policy_any(&to_dynamodb_json(&serde_json::to_value(&p).unwrap())), Ok(p));
    }
}

/// The validator's attribute lists (allowed keys, hints) name exactly the
/// model's attributes, map by map: an attribute added to the model but not
/// to `attr` (or the reverse) fails here.
#[test]
fn the_validators_attribute_names_are_the_models() {
    let schema = json_schema();
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        n.sort_unstable();
        n
    };
    let sorted = |l: &[&str]| -> Vec<String> {
        let mut n: Vec<String> = l.iter().map(|s| (*s).to_owned()).collect();
        n.sort_unstable();
        n
    };
    let defs = &schema["$defs"];
    assert_eq!(names(&schema), sorted(attr::ITEM));
    assert_eq!(
        names(&defs["TargetTracking"]),
        sorted(attr::TARGET_TRACKING_MAP)
    );
    assert_eq!(
        names(&defs["ColdStartAware"]),
        sorted(attr::COLD_STARTS_MAP)
    );
    assert_eq!(
        names(&defs["ScheduledAction"]),
        sorted(attr::SCHEDULED_ACTION)
    );
    // And every default the schema states is the one the validator applies.
    let p = parse_policy(&json!({
        "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 1,
        "TargetTracking": {"TargetValue": 0.5, "ColdStarts": {}}
    }))
    .expect("valid");
    let item = serde_json::to_value(&p).unwrap();
    for (map, value) in [
        ("TargetTracking", &item["TargetTracking"]),
        ("ColdStartAware", &item["TargetTracking"]["ColdStarts"]),
    ] {
        for (k, d) in defs[map]["properties"].as_object().expect("properties") {
            if let Some(default) = d.get("default") {
                assert_eq!(&value[k], default, "{map}.{k}");
            }
        }
    }
}

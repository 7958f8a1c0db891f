//! The policy fixture corpus, through the library and through the
//! `pcscale policy validate` binary:
//!
//! * every item in `tests/fixtures/bad-policies/` is refused, naming the
//!   attribute path that `expected.json` gives for it (and, where it gives
//!   one, with a message containing the expected hint); the binary exits 2
//!   and prints one `<path>: <message>` line per problem;
//! * every item in `tests/fixtures/good-policies/` is accepted, round-trips
//!   serialised with serde (`serde_json::to_value`), satisfies `pcscale policy schema` (checked
//!   with an independent JSON Schema validator), and the binary exits 0.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use pcscale::core::policy::{
    ITEM_PATH, Problem, document_items, json_schema, looks_like_dynamodb_json, parse_policy,
};
use pcscale::ddb_json::{from_dynamodb_json, parse_policy_any};
use serde::Deserialize;
use serde_json::Value;
use support::fixtures::{fixture_files, fixtures, read_json};

fn name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

#[derive(Debug, Deserialize)]
struct Expected {
    path: String,
    contains: Option<String>,
}

fn expected() -> BTreeMap<String, Expected> {
    let path = fixtures("bad-policies").join("expected.json");
    serde_json::from_value(read_json(&path)).expect("expected.json: {file: {path, contains?}}")
}

/// Whether a document holds a list of items (paths then get `[i].`).
fn is_list(doc: &Value) -> bool {
    match doc {
        Value::Array(_) => true,
        Value::Object(o) => o.len() == 1 && o.get("Items").is_some_and(Value::is_array),
        _ => false,
    }
}

/// Every problem of every item of a document, with the CLI's path prefixes.
fn library_problems(doc: &Value) -> Vec<Problem> {
    let in_list = is_list(doc);
    let mut out = Vec::new();
    for (i, item) in document_items(doc).into_iter().enumerate() {
        if let Err(e) = parse_policy_any(item) {
            for p in e.problems {
                let path = match (in_list, p.path == ITEM_PATH) {
                    (false, _) => p.path,
                    (true, true) => format!("[{i}]"),
                    (true, false) => format!("[{i}].{}", p.path),
                };
                out.push(Problem {
                    path,
                    message: p.message,
                });
            }
        }
    }
    out
}

fn pcscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run pcscale")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn corpus_is_large_and_every_bad_fixture_has_an_expectation() {
    let files: Vec<String> = fixture_files("bad-policies")
        .iter()
        .map(|p| name(p))
        .collect();
    let expected = expected();
    assert!(files.len() >= 40, "only {} bad fixtures", files.len());
    for f in &files {
        assert!(
            expected.contains_key(f),
            "{f} has no entry in expected.json"
        );
    }
    for f in expected.keys() {
        assert!(
            files.contains(f),
            "expected.json names {f}, which does not exist"
        );
    }
    let good = fixture_files("good-policies");
    assert!(good.len() >= 3, "only {} good fixtures", good.len());
}

#[test]
fn every_bad_fixture_is_refused_naming_the_expected_attribute() {
    let expected = expected();
    let mut failures = Vec::new();
    for file in fixture_files("bad-policies") {
        let n = name(&file);
        let want = &expected[&n];
        let problems = library_problems(&read_json(&file));
        if problems.is_empty() {
            failures.push(format!("{n}: accepted"));
            continue;
        }
        let hit = problems.iter().find(|p| p.path == want.path);
        match (hit, &want.contains) {
            (None, _) => failures.push(format!(
                "{n}: no problem at {}; got {:?}",
                want.path,
                problems.iter().map(ToString::to_string).collect::<Vec<_>>()
            )),
            (Some(p), Some(needle)) if !p.message.contains(needle.as_str()) => {
                failures.push(format!("{n}: {} does not contain {needle:?}", p))
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validate_binary_exits_2_with_one_line_per_problem_for_every_bad_fixture() {
    let expected = expected();
    let mut failures = Vec::new();
    for file in fixture_files("bad-policies") {
        let n = name(&file);
        let out = pcscale(&["policy", "validate", file.to_str().expect("utf-8 path")]);
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        let want = library_problems(&read_json(&file));
        if out.status.code() != Some(2) {
            failures.push(format!("{n}: exit {:?}, want 2", out.status.code()));
        }
        let want_lines: Vec<String> = want.iter().map(ToString::to_string).collect();
        if lines != want_lines {
            failures.push(format!("{n}: stdout {lines:?}, want {want_lines:?}"));
        }
        let prefix = format!("{}: ", expected[&n].path);
        if !lines.iter().any(|l| l.starts_with(&prefix)) {
            failures.push(format!("{n}: no line starts with {prefix:?}"));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("problem") {
            failures.push(format!("{n}: stderr has no count: {stderr:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validate_json_output_lists_problems_with_paths() {
    let file = fixtures("bad-policies").join("misspelled-maxcapcity.json");
    let out = pcscale(&[
        "policy",
        "validate",
        "--output",
        "json",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["valid"], false);
    let problems = doc["problems"].as_array().expect("problems list");
    let typo = problems
        .iter()
        .find(|p| p["path"] == "MaxCapcity")
        .expect("MaxCapcity named");
    assert_eq!(typo["item"], 0);
    assert_eq!(typo["resource"], "function:checkout:live");
    assert!(
        typo["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean MaxCapacity?"))
    );
    assert_eq!(doc["items"][0]["valid"], false);
}

#[test]
fn validate_json_output_shows_the_normalised_policy_of_a_valid_item() {
    let file = fixtures("good-policies").join("dynamodb-json.json");
    let out = pcscale(&[
        "policy",
        "validate",
        "--output=json",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["problems"], serde_json::json!([]));
    let policy = parse_policy_any(&read_json(&file)).expect("valid");
    assert_eq!(
        doc["items"][0]["policy"],
        serde_json::to_value(&policy).unwrap()
    );
    assert_eq!(doc["items"][0]["resource"], "function:checkout:live");
}

#[test]
fn every_good_fixture_is_accepted_and_round_trips() {
    for file in fixture_files("good-policies") {
        let n = name(&file);
        let doc = read_json(&file);
        let items = document_items(&doc);
        assert!(!items.is_empty(), "{n}: no items");
        for item in items {
            let p = parse_policy_any(item).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(
                parse_policy(&serde_json::to_value(&p).unwrap()),
                Ok(p.clone()),
                "{n}: round trip"
            );
        }
        let out = pcscale(&["policy", "validate", file.to_str().expect("utf-8 path")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{n}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert_eq!(
            text.lines().count(),
            document_items(&doc).len(),
            "{n}: {text}"
        );
        assert!(
            text.lines().all(|l| l.starts_with("ok function:")),
            "{n}: {text}"
        );
    }
}

#[test]
fn the_readme_examples_say_what_they_promise() {
    let alibaba = read_json(&fixtures("good-policies").join("alibaba-style-schedule.json"));
    let p = parse_policy(&alibaba).expect("valid");
    let peak = &p.scheduled_actions[0];
    assert_eq!(peak.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!((peak.min_capacity, peak.max_capacity), (Some(50), Some(50)));
    assert!(peak.start_time.is_some() && peak.end_time.is_some());
    let night = &p.scheduled_actions[1];
    assert_eq!(
        (night.min_capacity, night.max_capacity),
        (Some(10), Some(10))
    );

    let tencent = read_json(&fixtures("good-policies").join("tencent-like.json"));
    let p = parse_policy(&tencent).expect("valid");
    assert_eq!((p.min_capacity, p.max_capacity), (2, 50));
    assert_eq!(p.target_tracking.map(|t| t.target_value), Some(0.8));

    // The complete example uses every attribute the design names.
    let complete = read_json(&fixtures("good-policies").join("complete.json"));
    let keys: Vec<&str> = complete
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for attr in pcscale::core::policy::attr::ITEM {
        assert!(keys.contains(attr), "complete.json lacks {attr}");
    }
    for attr in pcscale::core::policy::attr::TARGET_TRACKING_MAP {
        assert!(
            complete["TargetTracking"].get(attr).is_some(),
            "complete.json lacks TargetTracking.{attr}"
        );
    }
}

/// The plain-JSON items of a document (DynamoDB JSON converted).
fn plain_items(doc: &Value) -> Vec<Value> {
    document_items(doc)
        .into_iter()
        .map(|item| {
            if looks_like_dynamodb_json(item) {
                from_dynamodb_json(item).expect("convertible")
            } else {
                item.clone()
            }
        })
        .collect()
}

fn schema_validator() -> jsonschema::Validator {
    jsonschema::validator_for(&json_schema()).expect("the schema compiles")
}

#[test]
fn every_good_fixture_satisfies_the_json_schema() {
    let validator = schema_validator();
    for file in fixture_files("good-policies") {
        for item in plain_items(&read_json(&file)) {
            let errors: Vec<String> = validator
                .iter_errors(&item)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", name(&file));
        }
    }
}

#[test]
fn the_json_schema_refuses_what_a_schema_can_express() {
    // Problems a schema can state (types, names, ranges, required, list
    // length); the rest (cron syntax, zones, dates order, unique names) is
    // the validator's alone.
    let schema_expressible = [
        "min-capacity-string.json",
        "min-capacity-negative.json",
        "max-capacity-fractional.json",
        "max-capacity-huge.json",
        "missing-min-capacity.json",
        "missing-pk.json",
        "pk-latest.json",
        "pk-arn.json",
        "sk-state.json",
        "target-value-zero.json",
        "target-value-1-5.json",
        "target-value-percent-string.json",
        "metric-unknown.json",
        "scale-in-factor-two.json",
        "cooldown-a-week.json",
        "enabled-yes.json",
        "misspelled-maxcapcity.json",
        "unknown-attribute.json",
        "target-tracking-unknown-key.json",
        "action-without-capacity.json",
        "action-aws-shape.json",
        "action-empty-name.json",
        "cron-without-wrapper.json",
        "scheduled-actions-101.json",
        "description-huge.json",
        "target-tracking-null.json",
    ];
    let validator = schema_validator();
    for f in schema_expressible {
        let doc = read_json(&fixtures("bad-policies").join(f));
        assert!(!validator.is_valid(&doc), "{f} satisfies the schema");
    }
}

#[test]
fn schema_verb_prints_the_library_schema() {
    let out = pcscale(&["policy", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed, json_schema());
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn validate_reads_stdin_and_reports_file_level_problems() {
    let good = std::fs::read(fixtures("good-policies").join("minimal.json")).expect("fixture");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .args(["policy", "validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&good).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"MinCapacity\": 1,,}").expect("write");
    let out = pcscale(&["policy", "validate", broken.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).starts_with("(file): not valid JSON"),
        "{}",
        stdout(&out)
    );

    let empty_list = dir.path().join("empty.json");
    std::fs::write(&empty_list, "[]").expect("write");
    let out = pcscale(&["policy", "validate", empty_list.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("empty list"), "{}", stdout(&out));

    let missing = dir.path().join("missing.json");
    let out = pcscale(&["policy", "validate", missing.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable file cannot be validated"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn usage_errors_exit_2() {
    let out = pcscale(&["policy", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = pcscale(&["--output", "yaml", "policy", "schema"]);
    assert_eq!(out.status.code(), Some(2));
}

//! End-to-end: the operator's verbs (`policy import/validate/put/get/list/
//! delete`, `explain`, `activity`) as the `pcscale` binary, against the
//! emulators (moto for DynamoDB, LocalStack for CloudWatch and the Lambda
//! provisioned-concurrency API; see tests/support). Every test asserts on
//! what the emulators hold or on what the binary printed from them.
//!
//! Time: explain and tick take the hidden `--now` flag; each test seeds
//! metrics in minutes after `t0` (half an hour ago) and explains at a chosen
//! minute, so cooldowns and schedules are exact.

mod support;

use std::process::Output;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pcscale::core::state::State;
use pcscale::ports::{Activity, PolicyStore, WriteOutcome};
use serde_json::{Value, json};
use support::world::World;

/// What a run of the binary produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl World {
    async fn set_pc(&self, function: &str, n: i32) {
        self.put_pc_directly(function, n).await;
        self.wait_ready(function).await;
    }

    /// Runs `pcscale <args>` with the emulators in the standard variables,
    /// `stdin` piped in when given, and `extra` environment.
    async fn cli_with(&self, args: &[&str], stdin: Option<&str>, extra: &[(&str, &str)]) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"));
        cmd.args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("PCSCALE_MAX_PER_FUNCTION")
            .env_remove("PCSCALE_ALLOWED_FUNCTIONS")
            .env_remove("PCSCALE_DRY_RUN")
            .envs(self.cli_env_for(args))
            .envs(extra.iter().map(|(k, v)| (*k, *v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("pcscale runs");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes()).await.expect("write stdin");
            }
            drop(pipe);
        }
        let out: Output = child.wait_with_output().await.expect("pcscale finishes");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn cli(&self, args: &[&str]) -> Run {
        self.cli_with(args, None, &[]).await
    }
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write temp file");
    p.to_str().expect("utf-8 path").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_validate_put_get_round_trip_against_dynamodb() {
    let w = World::new("op-roundtrip").await;
    let dir = tempfile::tempdir().expect("tempdir");

    // AWS: the Lambda docs example, through a file.
    let imported = w
        .cli(&[
            "policy",
            "import",
            "--from",
            "aws",
            &fixture("aws_lambda_docs_blue.json"),
        ])
        .await;
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let file = write_temp(&dir, "blue.json", &imported.stdout);
    let valid = w.cli(&["policy", "validate", &file]).await;
    assert_eq!(valid.code, 0, "{}{}", valid.stdout, valid.stderr);
    let put = w.cli(&["policy", "put", "--force", &file]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    assert!(
        put.stdout.contains("function:my-function:BLUE"),
        "{}",
        put.stdout
    );
    let got = w.cli(&["policy", "get", "function:my-function:BLUE"]).await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    let mut expected = imported.json();
    assert_eq!(got.json(), expected, "what was put is what is got");

    // Alibaba: the docs example, piped straight into `policy put -`.
    let ali = w
        .cli(&[
            "policy",
            "import",
            "--from",
            "alibaba",
            &fixture("alibaba_docs_example.json"),
        ])
        .await;
    assert_eq!(ali.code, 0, "{}", ali.stderr);
    let put = w
        .cli_with(&["policy", "put", "--force", "-"], Some(&ali.stdout), &[])
        .await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    let got = w
        .cli(&[
            "policy",
            "get",
            "function:function_1:prod",
            "--output",
            "json",
        ])
        .await;
    let doc = got.json();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["item"], ali.json());

    // The stored item is the item DynamoDB holds, numbers as numbers.
    expected["sk"] = json!("policy");
    let raw = w
        .store()
        .get_policy_item("function:my-function:BLUE")
        .await
        .expect("GetItem")
        .expect("item present");
    assert_eq!(raw["TargetTracking"]["TargetValue"], json!(0.7));
    assert_eq!(raw["MaxCapacity"], json!(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_refuses_a_file_with_any_invalid_item_and_writes_nothing() {
    let w = World::new("op-putbad").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_temp(
        &dir,
        "two.json",
        r#"[{"pk": "function:good:live", "MinCapacity": 1, "MaxCapacity": 5},
            {"pk": "function:bad:live", "MinCapacity": 1, "MaxCapcity": 5}]"#,
    );
    let put = w.cli(&["policy", "put", &file]).await;
    assert_eq!(put.code, 2);
    assert!(put.stdout.contains("[1].MaxCapcity: "), "{}", put.stdout);
    assert!(put.stderr.contains("nothing written"), "{}", put.stderr);
    assert!(
        w.store()
            .list_policy_items()
            .await
            .expect("Scan")
            .is_empty(),
        "not even the valid item was written"
    );
    let get = w.cli(&["policy", "get", "function:good:live"]).await;
    assert_eq!(get.code, 1, "absent: {}", get.stderr);
    assert!(get.stderr.contains("no policy for function:good:live"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_never_touches_the_state_item() {
    let w = World::new("op-state").await;
    let resource = "function:keep:live";
    let state = State {
        version: 7,
        capacity: Some(12),
        last_scale_out_at: Some(w.at(3, 0)),
        ..State::default()
    };
    assert_eq!(
        w.store()
            .write_state(resource, 0, &state)
            .await
            .expect("state write"),
        WriteOutcome::Written
    );
    // An item aimed at the state's key is refused by validation...
    let dir = tempfile::tempdir().expect("tempdir");
    let sneaky = write_temp(
        &dir,
        "sneaky.json",
        &json!({"pk": resource, "sk": "state", "MinCapacity": 0, "MaxCapacity": 1}).to_string(),
    );
    assert_eq!(w.cli(&["policy", "put", &sneaky]).await.code, 2);
    // ...and a normal put (twice: create, then overwrite) leaves it alone.
    for max in [5, 9] {
        let file = write_temp(
            &dir,
            "p.json",
            &json!({"pk": resource, "MinCapacity": 1, "MaxCapacity": max}).to_string(),
        );
        let put = w.cli(&["policy", "put", "--force", &file]).await;
        assert_eq!(put.code, 0, "{}", put.stderr);
    }
    let after = w
        .store()
        .get_state(resource)
        .await
        .expect("GetItem")
        .expect("state kept");
    assert_eq!(after, state);
    let item = w
        .store()
        .get_policy_item(resource)
        .await
        .expect("GetItem")
        .expect("policy");
    assert_eq!(item["MaxCapacity"], json!(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_band_target_schedules_current_pc_and_last_change() {
    let w = World::new("op-list").await;
    let f = w.function("op-list").await;
    w.set_pc(&f, 3).await;
    let pk = format!("function:{f}:live");
    let store = w.store();
    store
        .put_policy_item(&json!({
            "pk": pk, "MinCapacity": 1, "MaxCapacity": 40,
            "TargetTracking": {"TargetValue": 0.7},
            "ScheduledActions": [{"Name": "nightly", "Schedule": "cron(0 2 * * ? *)", "MinCapacity": 0}]
        }))
        .await
        .expect("put");
    store
        .put_policy_item(&json!({"pk": "function:other:live", "MinCapacity": 2, "MaxCapacity": 2, "Enabled": false}))
        .await
        .expect("put");
    let changed = w.at(5, 0);
    let state = State {
        version: 1,
        capacity: Some(3),
        last_scale_out_at: Some(changed),
        ..State::default()
    };
    store.write_state(&pk, 0, &state).await.expect("state");

    let list = w.cli(&["policy", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("RESOURCE"), "{}", list.stdout);
    let row = lines
        .iter()
        .find(|l| l.contains(&pk))
        .expect("row for the function");
    for cell in [
        "yes",
        "0.7 ConcurrentExecutions",
        "1, next nightly",
        "  3  ",
        &rfc(changed),
    ] {
        assert!(row.contains(cell), "{cell:?} missing in {row:?}");
    }
    let other = lines
        .iter()
        .find(|l| l.contains("function:other:live"))
        .expect("row");
    assert!(
        other.contains(" no ") && other.contains("never"),
        "{other:?}"
    );

    let doc = w.cli(&["policy", "list", "--output", "json"]).await.json();
    let rows = doc.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    let mine = rows
        .iter()
        .find(|r| r["resource"] == json!(pk))
        .expect("row");
    assert_eq!(mine["current_pc"]["requested"], 3);
    assert_eq!(mine["band"]["max"], 40);
    assert_eq!(mine["next_scheduled"]["name"], "nightly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leaves_the_config_unless_asked_and_delete_config_removes_it() {
    let w = World::new("op-delete").await;
    let f = w.function("op-del").await;
    w.set_pc(&f, 2).await;
    let pk = format!("function:{f}:live");
    let item = json!({"pk": pk, "MinCapacity": 2, "MaxCapacity": 2});

    w.store().put_policy_item(&item).await.expect("put");
    let del = w.cli(&["policy", "delete", &pk]).await;
    assert_eq!(del.code, 0, "{}", del.stderr);
    assert!(
        del.stderr.contains("--delete-config"),
        "offers it: {}",
        del.stderr
    );
    assert!(
        support::pc_config(&w.direct.lambda, &f, "live")
            .await
            .is_some()
    );
    assert!(w.store().get_policy_item(&pk).await.expect("get").is_none());

    // Dry run forbids the Lambda write: nothing deleted at all.
    w.store().put_policy_item(&item).await.expect("put");
    let dry = w
        .cli_with(
            &["policy", "delete", &pk, "--delete-config"],
            None,
            &[("PCSCALE_DRY_RUN", "true")],
        )
        .await;
    assert_eq!(dry.code, 2, "{}", dry.stderr);
    assert!(w.store().get_policy_item(&pk).await.expect("get").is_some());

    let del = w
        .cli(&[
            "policy",
            "delete",
            &pk,
            "--delete-config",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(del.code, 0, "{}", del.stderr);
    let doc = del.json();
    assert_eq!(doc["config_deleted"], true);
    assert_eq!(doc["config"]["requested"], 2);
    assert_eq!(support::pc_config(&w.direct.lambda, &f, "live").await, None);

    let again = w.cli(&["policy", "delete", &pk]).await;
    assert_eq!(again.code, 1);
    let bad = w.cli(&["policy", "delete", "function:x:$LATEST"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("RESOURCE"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_predicts_the_tick_and_activity_shows_what_it_did() {
    let w = World::new("op-explain").await;
    let f = w.function("op-exp").await;
    let pk = format!("function:{f}:live");
    // A scheduled floor of 4 from minute 5, target tracking at 0.5.
    let lunch = w.at(5, 0);
    w.store()
        .put_policy_item(&json!({
            "pk": pk, "MinCapacity": 0, "MaxCapacity": 50,
            "TargetTracking": {"TargetValue": 0.5, "ScaleInCooldown": 600},
            "ScheduledActions": [{"Name": "lunch",
                "Schedule": format!("at({})", lunch.format("%Y-%m-%dT%H:%M:%S")),
                "MinCapacity": 4}]
        }))
        .await
        .expect("put");
    w.demand(&f, &(10..20).collect::<Vec<_>>(), 10.0).await;
    let now = rfc(w.at(20, 0) + TimeDelta::seconds(5));
    let guard = [("PCSCALE_MAX_PER_FUNCTION", "8")];

    let text = w
        .cli_with(&["explain", &pk, "--now", &now], None, &guard)
        .await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    let out = &text.stdout;
    for needle in [
        "band now     4..50",
        "scheduled action \"lunch\", fired",
        "demand       ",
        "10 10 10",
        "0.5 of ConcurrentExecutions",
        "guard-rails  hit: guard-rail (8)",
        "next tick    scale out 0 -> 8",
    ] {
        assert!(out.contains(needle), "{needle:?} missing in:\n{out}");
    }
    let doc = w
        .cli_with(
            &["explain", &pk, "--now", &now, "--output", "json"],
            None,
            &guard,
        )
        .await
        .json();
    assert_eq!(doc["decision"]["to"], 8);
    assert_eq!(doc["decision"]["reason"]["wanted"], 20);
    assert_eq!(doc["band"]["min_source"]["Action"]["name"], "lunch");
    // Nothing was written by explain.
    assert_eq!(support::pc_config(&w.direct.lambda, &f, "live").await, None);
    assert!(w.store().get_state(&pk).await.expect("get").is_none());

    // The tick does what explain said, and activity shows it.
    let tick = w
        .cli_with(&["tick", "--now", &now, "--output", "json"], None, &guard)
        .await;
    assert_eq!(tick.code, 0, "{}", tick.stderr);
    let tick_doc = tick.json();
    let mine = tick_doc["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|o| o["resource"] == json!(pk)))
        .expect("tick outcome")
        .clone();
    assert_eq!(
        (mine["from"].clone(), mine["to"].clone()),
        (json!(0), json!(8))
    );
    assert_eq!(support::wait_ready(&w.direct.lambda, &f, "live").await, 8);

    let act = w.cli(&["activity", &pk]).await;
    assert_eq!(act.code, 0, "{}", act.stderr);
    assert!(
        act.stdout
            .lines()
            .next()
            .is_some_and(|h| h.starts_with("AT (UTC)"))
    );
    assert!(
        act.stdout.contains("ScaleOut") && act.stdout.contains("0 -> 8"),
        "{}",
        act.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reports_the_scale_in_cooldown_remaining() {
    let w = World::new("op-cool").await;
    let f = w.function("op-cool").await;
    w.set_pc(&f, 8).await;
    let pk = format!("function:{f}:live");
    w.store()
        .put_policy_item(&json!({
            "pk": pk, "MinCapacity": 1, "MaxCapacity": 50,
            "TargetTracking": {"TargetValue": 0.5, "ScaleInCooldown": 600}
        }))
        .await
        .expect("put");
    let now = w.at(20, 0);
    let state = State {
        version: 1,
        capacity: Some(8),
        last_scale_out_at: Some(now - TimeDelta::seconds(120)),
        ..State::default()
    };
    w.store().write_state(&pk, 0, &state).await.expect("state");
    w.demand(&f, &(0..20).collect::<Vec<_>>(), 1.0).await;

    let doc = w
        .cli(&["explain", &pk, "--now", &rfc(now), "--output", "json"])
        .await
        .json();
    assert_eq!(doc["decision"]["action"], "Hold", "{doc:#}");
    let left = doc["decision"]["reason"]["cooldown_remaining_secs"]
        .as_u64()
        .expect("a cooldown held the scale-in back");
    assert!((470..=480).contains(&left), "{left}");
    let text = w.cli(&["explain", &pk, "--now", &rfc(now)]).await;
    assert!(
        text.stdout
            .contains(&format!("cooldown     {left} s remaining")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("8 requested, 8 allocated, READY"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_is_newest_first_and_honours_limit() {
    let w = World::new("op-activity").await;
    let pk = "function:hist:live";
    let store = w.store();
    for (m, to) in [(1, 2), (2, 4), (3, 6)] {
        store
            .record(&Activity {
                resource: pk.into(),
                at: w.at(m, 0),
                from: Some(to - 2),
                to: Some(to),
                action: "ScaleOut".into(),
                cause: format!("step to {to}"),
                outcome: "applied".into(),
                detail: None,
            })
            .await
            .expect("record");
    }
    let run = w.cli(&["activity", pk, "--limit", "2"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert!(
        rows[0].contains("4 -> 6") && rows[1].contains("2 -> 4"),
        "{}",
        run.stdout
    );

    let doc = w.cli(&["activity", pk, "--output", "json"]).await.json();
    let tos: Vec<i64> = doc["activity"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["to"].as_i64())
        .collect();
    assert_eq!(tos, [6, 4, 2]);

    let none = w.cli(&["activity", "function:quiet:live"]).await;
    assert_eq!(none.code, 0);
    assert!(none.stdout.contains("no activity recorded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_file_aws_import_round_trips_through_put_and_get() {
    // What an AWS user has: the three describe outputs, one file each,
    // covering two resources.
    let w = World::new("op-three").await;
    let targets = fixture("aws-describe-scalable-targets.json");
    let policies = fixture("aws-describe-scaling-policies.json");
    let actions = fixture("aws-describe-scheduled-actions.json");
    let imported = w
        .cli(&[
            "policy", "import", "--from", "aws", &targets, &policies, &actions,
        ])
        .await;
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let items = imported.json();
    let items = items.as_array().expect("two resources, a list").clone();
    let pks: Vec<&str> = items.iter().filter_map(|i| i["pk"].as_str()).collect();
    assert_eq!(pks, ["function:CreateOrder:prod", "function:Payments:live"]);
    // Merged by resource: the same item as the one-file describe output.
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("aws_describe_output.expected.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(items[0], expected);

    // One of the files from stdin, and --output json piped to `policy put -` as it is.
    let text = std::fs::read_to_string(&targets).expect("read");
    let doc = w
        .cli_with(
            &[
                "policy", "import", "--from", "aws", "--output", "json", "-", &policies, &actions,
            ],
            Some(&text),
            &[],
        )
        .await;
    assert_eq!(doc.code, 0, "{}", doc.stderr);
    assert_eq!(doc.json()["items"], Value::Array(items.clone()));
    let put = w
        .cli_with(&["policy", "put", "--force", "-"], Some(&doc.stdout), &[])
        .await;
    assert_eq!(put.code, 0, "{}{}", put.stdout, put.stderr);
    for item in &items {
        let pk = item["pk"].as_str().expect("pk");
        let got = w.cli(&["policy", "get", pk]).await;
        assert_eq!(got.code, 0, "{}", got.stderr);
        assert_eq!(
            &got.json(),
            item,
            "{pk}: what was imported is what is stored"
        );
    }

    // An import that failed is not something `policy put` writes.
    let bad = w
        .cli(&[
            "policy", "import", "--from", "aws", "--output", "json", &actions,
        ])
        .await;
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    let put = w
        .cli_with(&["policy", "put", "-"], Some(&bad.stdout), &[])
        .await;
    assert_eq!(put.code, 2, "{}{}", put.stdout, put.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_records_what_it_would_do_but_never_touches_applied_state() {
    let w = World::new("op-dry").await;
    let f = w.function("op-dryrun").await;
    let pk = format!("function:{f}:live");
    w.put_policy(json!({
        "pk": pk, "MinCapacity": 0, "MaxCapacity": 50,
        "TargetTracking": {"TargetValue": 0.5, "ScaleInCooldown": 600}
    }))
    .await;
    w.demand(&f, &(0..19).collect::<Vec<_>>(), 3.0).await;

    // Two dry-run ticks, a minute apart: one "would" record, no applied state.
    for m in [20, 21] {
        // Each tick sees its own latest complete minute.
        w.demand(&f, &[m - 1], 3.0).await;
        let now = rfc(w.at(m, 5));
        let dry = w
            .cli(&["tick", "--dry-run", "--now", &now, "--output", "json"])
            .await;
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        let doc = dry.json();
        let mine = doc["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|o| o["resource"] == json!(pk)))
            .expect("tick outcome")
            .clone();
        assert_eq!(
            (mine["from"].clone(), mine["to"].clone()),
            (json!(0), json!(6)),
            "{mine:#}"
        );
    }
    assert_eq!(
        w.pc(&f).await,
        None,
        "dry run never calls Lambda's write API"
    );
    let state = w
        .store()
        .get_state(&pk)
        .await
        .expect("get")
        .unwrap_or_default();
    assert_eq!(state.capacity, None, "dry run wrote Capacity: {state:?}");
    assert_eq!(
        state.last_scale_out_at, None,
        "dry run started a cooldown: {state:?}"
    );
    let act = w.cli(&["activity", &pk, "--output", "json"]).await.json();
    let rows = act["activity"].as_array().expect("array").clone();
    assert_eq!(
        rows.len(),
        1,
        "one dry-run record, not one a minute: {rows:?}"
    );
    assert_eq!(rows[0]["outcome"], "dry-run");

    // The next live tick applies the step, and records no false Drift.
    w.demand(&f, &[21], 3.0).await;
    let now = rfc(w.at(22, 5));
    let live = w.cli(&["tick", "--now", &now, "--output", "json"]).await;
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert_eq!(w.wait_ready(&f).await, 6);
    let act = w.cli(&["activity", &pk, "--output", "json"]).await.json();
    let actions: Vec<&str> = act["activity"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        !actions.contains(&"Drift"),
        "false drift after a dry run: {actions:?}"
    );
    assert_eq!(actions.first(), Some(&"ScaleOut"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_without_a_resource_lists_every_resource_newest_first() {
    let w = World::new("op-allact").await;
    let store = w.store();
    // Interleaved records of two resources, minutes 1..=4.
    for (m, pk) in [
        (1, "function:a:live"),
        (2, "function:b:live"),
        (3, "function:a:live"),
        (4, "function:b:live"),
    ] {
        store
            .record(&Activity {
                resource: pk.into(),
                at: w.at(m, 0),
                from: Some(0),
                to: Some(u32::try_from(m).expect("small")),
                action: "ScaleOut".into(),
                cause: format!("minute {m}"),
                outcome: "applied".into(),
                detail: None,
            })
            .await
            .expect("record");
    }
    let doc = w.cli(&["activity", "--output", "json"]).await.json();
    let seen: Vec<(String, i64)> = doc["activity"]
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            (
                a["resource"].as_str().unwrap_or("").to_owned(),
                a["to"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("function:b:live".to_owned(), 4),
            ("function:a:live".to_owned(), 3),
            ("function:b:live".to_owned(), 2),
            ("function:a:live".to_owned(), 1),
        ]
    );

    let limited = w.cli(&["activity", "--limit", "3"]).await;
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    let lines: Vec<&str> = limited.stdout.lines().collect();
    assert!(lines[0].contains("RESOURCE"), "{}", limited.stdout);
    assert_eq!(lines.len(), 4, "header + 3 rows:\n{}", limited.stdout);
    assert!(lines[1].contains("function:b:live") && lines[1].contains("0 -> 4"));

    let since = rfc(w.at(3, 0));
    let doc = w
        .cli(&["activity", "--since", &since, "--output", "json"])
        .await
        .json();
    let tos: Vec<i64> = doc["activity"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["to"].as_i64())
        .collect();
    assert_eq!(tos, [4, 3], "only records at or after --since");
    // --since and a resource together; an age works as well as an instant.
    let doc = w
        .cli(&[
            "activity",
            "function:a:live",
            "--since",
            "2d",
            "--output",
            "json",
        ])
        .await
        .json();
    let tos: Vec<i64> = doc["activity"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["to"].as_i64())
        .collect();
    assert_eq!(tos, [3, 1]);
    let bad = w.cli(&["activity", "--since", "yesterday"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_refuses_a_function_lambda_does_not_know_unless_forced() {
    let w = World::new("op-ghost").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_temp(
        &dir,
        "ghost.json",
        &json!({"pk": "function:no-such-fn:live", "MinCapacity": 0, "MaxCapacity": 5}).to_string(),
    );
    let put = w.cli(&["policy", "put", &file]).await;
    assert_eq!(put.code, 2, "{}{}", put.stdout, put.stderr);
    assert!(
        put.stdout.contains("pk: Lambda has no function no-such-fn"),
        "{}",
        put.stdout
    );
    assert!(put.stdout.contains("--force"), "{}", put.stdout);
    let none = w
        .store()
        .get_policy_item("function:no-such-fn:live")
        .await
        .expect("GetItem");
    assert!(none.is_none(), "nothing written");
    let forced = w.cli(&["policy", "put", "--force", &file]).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced
            .stderr
            .contains("warning: pk: Lambda has no function"),
        "{}",
        forced.stderr
    );
    // An existing function and alias is stored without --force or warning.
    let f = w.function("op-ghostok").await;
    let real = write_temp(
        &dir,
        "real.json",
        &json!({"pk": format!("function:{f}:live"), "MinCapacity": 0, "MaxCapacity": 5})
            .to_string(),
    );
    let put = w.cli(&["policy", "put", &real]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    assert!(!put.stderr.contains("warning"), "{}", put.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_export_and_raw_scan_output_go_back_through_put_and_validate() {
    let w = World::new("op-export").await;
    let a = json!({"pk": "function:exp-a:live", "sk": "policy", "MinCapacity": 1, "MaxCapacity": 7,
        "TargetTracking": {"TargetValue": 0.6}});
    let b = json!({"pk": "function:exp-b:live", "sk": "policy", "MinCapacity": 0, "MaxCapacity": 3,
        "Description": "static"});
    w.put_policy(a.clone()).await;
    w.put_policy(b.clone()).await;
    w.store()
        .write_state(
            "function:exp-a:live",
            0,
            &State {
                version: 1,
                capacity: Some(2),
                ..State::default()
            },
        )
        .await
        .expect("state");
    let export = w.cli(&["policy", "list", "--full"]).await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert_eq!(export.json(), json!([a, b]), "the stored items, in full");

    // Into an empty table, as it is.
    let other = World::new("op-import2").await;
    let put = other
        .cli_with(
            &["policy", "put", "--force", "-"],
            Some(&export.stdout),
            &[],
        )
        .await;
    assert_eq!(put.code, 0, "{}{}", put.stdout, put.stderr);
    let again = other.cli(&["policy", "list", "--full"]).await;
    assert_eq!(again.json(), export.json());

    // Raw `aws dynamodb scan` output (DynamoDB JSON with Count, ScannedCount,
    // and the state item a scan of the table returns) validates.
    let scan = w
        .store()
        .client()
        .scan()
        .table_name(&w.table)
        .send()
        .await
        .expect("Scan");
    let items: Vec<Value> = scan
        .items()
        .iter()
        .map(|i| {
            Value::Object(
                i.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            aws_sdk_dynamodb::types::AttributeValue::S(s) => json!({"S": s}),
                            aws_sdk_dynamodb::types::AttributeValue::N(n) => json!({"N": n}),
                            aws_sdk_dynamodb::types::AttributeValue::Bool(b) => json!({"BOOL": b}),
                            aws_sdk_dynamodb::types::AttributeValue::M(m) => {
                                json!({"M": m.iter().map(|(k, v)| (k.clone(), match v {
                                aws_sdk_dynamodb::types::AttributeValue::N(n) => json!({"N": n}),
                                aws_sdk_dynamodb::types::AttributeValue::S(s) => json!({"S": s}),
                                _ => json!({"NULL": true}),
                            })).collect::<serde_json::Map<_, _>>()})
                            }
                            _ => json!({"NULL": true}),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(items.len(), 3, "two policies and a state item");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_temp(
        &dir,
        "scan.json",
        &json!({"Items": items, "Count": 3, "ScannedCount": 3, "ConsumedCapacity": null})
            .to_string(),
    );
    let valid = w.cli(&["policy", "validate", &file]).await;
    assert_eq!(valid.code, 0, "{}{}", valid.stdout, valid.stderr);
    assert_eq!(
        valid
            .stdout
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count(),
        2,
        "{}",
        valid.stdout
    );
    assert!(valid.stderr.contains("not policies"), "{}", valid.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_for_people_missing_table_hint_no_sdk_dump_no_colours() {
    let w = World::new("op-errors").await;
    let missing = w.cli(&["policy", "list", "--table", "no-such-table"]).await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("aws dynamodb create-table --table-name no-such-table"),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("sam deploy"), "{}", missing.stderr);

    // Nothing listens on port 9: a short, readable error, no hyper_util dump...
    let dead = w
        .cli_with(
            &["tick"],
            None,
            &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")],
        )
        .await;
    assert_eq!(dead.code, 1, "{}", dead.stderr);
    assert!(!dead.stderr.contains("hyper_util"), "{}", dead.stderr);
    assert!(!dead.stderr.contains("DispatchFailure("), "{}", dead.stderr);
    assert!(
        dead.stderr
            .contains("hint: the AWS endpoint could not be reached"),
        "{}",
        dead.stderr
    );
    // ...and logs without ANSI colours (stderr is a pipe here).
    let logged = w
        .cli_with(&["policy", "list"], None, &[("RUST_LOG", "debug")])
        .await;
    assert_eq!(logged.code, 0, "{}", logged.stderr);
    assert!(!logged.stderr.is_empty(), "debug logs expected");
    assert!(
        !logged.stderr.contains('\u{1b}'),
        "ANSI escapes on a pipe: {}",
        logged.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_profile_and_endpoint_url_flags_win_over_the_environment() {
    let w = World::new("op-flags").await;
    w.put_policy(json!({"pk": "function:flags:live", "MinCapacity": 0, "MaxCapacity": 2}))
        .await;
    let env = support::cli_env(&w.table);
    let moto = env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT_URL_DYNAMODB")
        .map(|(_, v)| v.clone())
        .expect("moto url");
    let region = env
        .iter()
        .find(|(k, _)| k == "AWS_REGION")
        .map(|(_, v)| v.clone())
        .expect("region");
    // --endpoint-url over a dead AWS_ENDPOINT_URL_DYNAMODB.
    let run = w
        .cli_with(
            &[
                "policy",
                "get",
                "function:flags:live",
                "--endpoint-url",
                &moto,
            ],
            None,
            &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["MaxCapacity"], 2);
    // --region over AWS_REGION: the table lives in the emulator's region only.
    let elsewhere = if region == "eu-west-3" {
        "ap-south-1"
    } else {
        "eu-west-3"
    };
    let run = w
        .cli(&[
            "policy",
            "get",
            "function:flags:live",
            "--region",
            elsewhere,
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("create-table"), "{}", run.stderr);
    // --profile: the region comes from the named profile when nothing else sets it.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_temp(
        &dir,
        "config",
        &format!("[profile ops]\nregion = {region}\n"),
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .args(["policy", "get", "function:flags:live", "--profile", "ops"])
        .envs(
            env.iter()
                .filter(|(k, _)| k != "AWS_REGION")
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .await
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let without = tokio::process::Command::new(env!("CARGO_BIN_EXE_pcscale"))
        .args(["policy", "get", "function:flags:live"])
        .envs(
            env.iter()
                .filter(|(k, _)| k != "AWS_REGION")
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .await
        .expect("runs");
    assert_eq!(without.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without.stderr).contains("no AWS region"));
}

/// A clock stopped at one instant, for the Lambda driver.
struct Stopped(DateTime<Utc>);
impl pcscale::ports::Clock for Stopped {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_publishes_its_settings_and_status_and_explain_use_them() {
    let w = World::new("op-ctl").await;
    let f = w.function("op-ctlf").await;
    let pk = format!("function:{f}:live");
    w.put_policy(json!({
        "pk": pk, "MinCapacity": 0, "MaxCapacity": 50,
        "TargetTracking": {"TargetValue": 0.5}
    }))
    .await;
    w.put_policy(json!({"pk": "function:broken:live", "MinCapacity": 5, "MaxCapacity": 1}))
        .await;

    // Before the controller ever ran: status says so, explain says whose settings it used.
    let none = w.cli(&["status"]).await;
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stdout.contains("no controller item"),
        "{}",
        none.stdout
    );

    // The deployed controller: guard-rail 8, in dry run (so the emulated
    // Lambda is not changed), one tick through the real handler.
    let ports = w.ports();
    let tick_at = w.at(20, 5);
    let driver = pcscale::lambda::Driver {
        store: ports.store.clone(),
        metrics: ports.metrics.clone(),
        lambda: ports.lambda.clone(),
        clock: Stopped(tick_at),
        options: pcscale::tick::TickOptions {
            max_per_function: Some(8),
            dry_run: true,
            ..pcscale::tick::TickOptions::default()
        },
        function_name: "pcscale-test".into(),
        emit_emf: false,
    };
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = "req-1".into();
    driver
        .handle(lambda_runtime::LambdaEvent::new(json!({}), ctx))
        .await
        .expect("the handler ticks");

    let doc = w
        .cli(&[
            "status",
            "--output",
            "json",
            "--now",
            &rfc(tick_at + TimeDelta::seconds(30)),
        ])
        .await;
    assert_eq!(doc.code, 0, "{}", doc.stderr);
    let doc = doc.json();
    let c = &doc["controller"];
    assert_eq!(c["MaxPerFunction"], 8);
    assert_eq!(c["DryRun"], true);
    assert_eq!(c["LastTickAt"], json!(rfc(tick_at)));
    assert_eq!(c["Resources"], 2);
    assert_eq!(c["Errors"], 1);
    assert_eq!(c["ErrorsByKind"]["invalid policy"], 1);
    assert_eq!(c["Version"], env!("CARGO_PKG_VERSION"));
    let text = w
        .cli(&["status", "--now", &rfc(tick_at + TimeDelta::seconds(30))])
        .await
        .stdout;
    for needle in [
        "2 decided",
        "1 in error",
        "invalid policy: 1",
        "guard-rail 8 per alias",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }
    assert!(!text.contains("schedule periods"), "fresh tick:\n{text}");
    // Four minutes later, with a one-minute schedule, that tick is stale.
    let stale = w
        .cli(&["status", "--now", &rfc(tick_at + TimeDelta::minutes(4))])
        .await
        .stdout;
    assert!(stale.contains("more than 3 schedule periods"), "{stale}");

    // explain answers with the controller's guard-rail and dry run, not the shell's.
    w.demand(&f, &(10..20).collect::<Vec<_>>(), 10.0).await;
    let ex = w
        .cli_with(
            &["explain", &pk, "--now", &rfc(tick_at), "--output", "json"],
            None,
            &[("PCSCALE_MAX_PER_FUNCTION", "50")],
        )
        .await;
    assert_eq!(ex.code, 0, "{}", ex.stderr);
    let ex = ex.json();
    assert_eq!(ex["observation"]["limits"]["guard_rail"], 8, "{ex:#}");
    assert_eq!(ex["dry_run"], true);
    assert!(
        ex["settings_from"]
            .as_str()
            .is_some_and(|s| s.contains("controller")),
        "{ex:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_set_outside_pcscale_twice_in_a_row_is_a_warning() {
    let w = World::new("op-fight").await;
    let f = w.function("op-fightf").await;
    let pk = format!("function:{f}:live");
    // pcscale sets the floor of 2, then holds whatever is above it (no scale-in).
    w.put_policy(json!({
        "pk": pk, "MinCapacity": 2, "MaxCapacity": 50,
        "TargetTracking": {"TargetValue": 0.5, "DisableScaleIn": true}
    }))
    .await;
    let w = &w;
    // Every alias read every tick (PCSCALE_RECONCILE_MINUTES=1), so that
    // each change is seen by the next tick; deployed, within 15 minutes
    // (e2e_tick: a_drift_made_outside_pcscale_is_found_within_one_reconcile_period).
    let tick = |m: i64| {
        let now = rfc(w.at(m, 5));
        async move {
            let run = w
                .cli_with(
                    &["tick", "--now", &now, "--output", "json"],
                    None,
                    &[("PCSCALE_RECONCILE_MINUTES", "1")],
                )
                .await;
            assert_eq!(run.code, 0, "{}", run.stderr);
        }
    };
    tick(19).await;
    assert_eq!(w.wait_ready(&f).await, 2);
    // Something else (Application Auto Scaling, a deploy) sets 4, then 7.
    w.set_pc(&f, 4).await;
    tick(20).await;
    w.set_pc(&f, 7).await;
    tick(21).await;
    let act = w.cli(&["activity", &pk, "--output", "json"]).await.json();
    let drifts: Vec<&Value> = act["activity"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|a| a["action"] == "Drift")
        .collect();
    assert_eq!(drifts.len(), 2, "{act:#}");
    let first = drifts[1]["cause"].as_str().unwrap_or_default();
    let second = drifts[0]["cause"].as_str().unwrap_or_default();
    assert!(!first.contains("second time in a row"), "{first}");
    assert!(second.contains("second time in a row"), "{second}");
    assert!(second.contains("Application Auto Scaling"), "{second}");

    let ex = w.cli(&["explain", &pk, "--now", &rfc(w.at(22, 5))]).await;
    assert_eq!(ex.code, 0, "{}", ex.stderr);
    assert!(
        ex.stdout.contains("changed outside pcscale 2 times"),
        "{}",
        ex.stdout
    );
}

#[test]
fn explain_and_tick_read_reserved_concurrency_when_the_account_headroom_holds_a_step_back() {
    use pcscale::core::decide::{CurrentPc, Demand, Limits, Observation, PcStatus, Series, decide};
    let policy = pcscale::core::policy::parse_policy(&json!({
        "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 500,
        "TargetTracking": {"TargetValue": 0.5}
    }))
    .expect("valid");
    let obs = Observation {
        demand: Demand::Known(Series::of(vec![Some(100.0); 10])),
        utilization: None,
        current: Some(CurrentPc {
            requested: 40,
            allocated: 40,
            status: PcStatus::Ready,
            status_reason: None,
        }),
        // No headroom left in the account pool: the step is held at 40...
        limits: Limits {
            unreserved: Some(100),
            ..Limits::default()
        },
        memory_mb: None,
    };
    let d = decide(&policy, &State::default(), &obs, Utc::now());
    assert_eq!(d.to, d.from, "{d:?}");
    // ...but a function with reserved concurrency draws from its reservation,
    // so the plan (the tick's and explain's) asks for it.
    use pcscale::tick::{Plan, Reserved, plan};
    let now = Utc::now();
    assert_eq!(
        plan(&policy, &State::default(), &obs, Reserved::NotRead, now),
        Plan::NeedsReserved
    );
    let Plan::Decided(d) = plan(
        &policy,
        &State::default(),
        &obs,
        Reserved::Known(Some(80)),
        now,
    ) else {
        panic!("a known reservation decides");
    };
    assert_eq!((d.from, d.to), (40, 80), "{d:?}");
}

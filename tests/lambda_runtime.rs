//! The real `pcscale-lambda` binary under a Runtime API emulator (issue 3
//! item 7): `cargo lambda watch -A 127.0.0.1` runs it, `cargo lambda invoke`
//! sends it `events/*.json`, and it ticks against the emulators (moto for
//! DynamoDB, LocalStack for CloudWatch and the Lambda PC API) through the
//! standard `AWS_ENDPOINT_URL_*` variables — the code path that runs in AWS.
//!
//! Nothing here races a build: the binary is built before watch starts, and
//! the first invocation (a non-tick event, refused with a typed error) is the
//! readiness probe. Only once the function has answered is demand seeded,
//! relative to the clock at that moment and never in the future, so the
//! tick (which reads the same wall clock) finds it however long the build
//! took.
//!
//! Also measures the cold start: the binary logs its in-process init time
//! (`init_ms` on the "pcscale-lambda ready" line, i.e. until it is ready to
//! poll the Runtime API), and the summaries give the first (cold
//! connections) and second (warm) tick durations. Set
//! `PCSCALE_LAMBDA_RT_RELEASE=1` to run the release build (as
//! bench/RESULTS.md does).

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use serde_json::Value;

use pcscale::lambda::emf;
use support::fault_proxy::FaultProxy;
use support::{Seed, cli_env, clients, create_function, create_table, put_metric, unique};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo_lambda() -> PathBuf {
    let p = root().join(".venv-tools/bin/cargo-lambda");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-emulators.sh (it installs cargo-lambda into .venv-tools)",
        p.display()
    );
    p
}

/// The crate's Cargo.toml.
fn manifest() -> toml_edit::DocumentMut {
    std::fs::read_to_string(root().join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml parses")
}

/// The item at `path` in `doc`, if there is one.
fn toml_at<'a>(doc: &'a toml_edit::DocumentMut, path: &[&str]) -> Option<&'a toml_edit::Item> {
    path.iter()
        .try_fold(doc.as_item(), |item, key| item.get(*key))
}

/// `[package.metadata.lambda.build] config`: what `cargo lambda build`
/// passes to cargo as `--config` (besides its own release settings).
fn lambda_build_config() -> Vec<String> {
    let doc = manifest();
    toml_at(&doc, &["package", "metadata", "lambda", "build", "config"])
        .and_then(toml_edit::Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `cargo lambda watch`, stopped with everything it started when dropped. Its output goes to a
/// file so the test can read the function's log lines.
struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    fn release() -> bool {
        std::env::var("PCSCALE_LAMBDA_RT_RELEASE").is_ok_and(|v| v == "1")
    }

    /// The profile arguments of both the build and watch's `cargo run`: none
    /// (debug), or the release profile with the `config` of
    /// `[package.metadata.lambda.build]`, as `cargo lambda build --release`
    /// builds the deployed binary.
    fn profile_args() -> Vec<String> {
        if !Watch::release() {
            return Vec::new();
        }
        let mut args = vec!["--release".to_owned()];
        for c in lambda_build_config() {
            args.extend(["--config".to_owned(), c]);
        }
        args
    }

    /// Builds the function with the `cargo` command watch will run (so that
    /// watch's own `cargo run` finds it fresh), however long that takes, and
    /// fails with cargo's output if it does not build.
    fn build(env: &[(String, String)]) {
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "--bin", "pcscale-lambda"])
            .args(Watch::profile_args());
        let out = cmd
            .current_dir(root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .expect("cargo build runs");
        assert!(
            out.status.success(),
            "cargo build --bin pcscale-lambda failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(env: &[(String, String)]) -> Watch {
        Watch::build(env);
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("watch.log");
        let out = std::fs::File::create(&log).expect("the watch log");
        let err = out.try_clone().expect("the watch log");
        let port = support::free_port();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "watch", "--ignore-changes", "-q"])
            // Never the default (all interfaces): TESTING.md.
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .args(["--bin", "pcscale-lambda"])
            .args(Watch::profile_args());
        cmd.current_dir(root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().expect("cargo lambda watch starts");
        let w = Watch {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on 127.0.0.1:{port}:\n{}",
                w.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        w
    }

    fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The JSON lines the function printed (logs and EMF).
    fn json_lines(&self) -> Vec<Value> {
        self.output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The JSON lines once one matching `done` has been forwarded (watch
    /// relays the function's stdout asynchronously).
    fn json_lines_until(&self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.json_lines();
            if lines.iter().any(&done) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `cargo lambda invoke` with `data` (a file under events/ or inline JSON).
    fn invoke(&self, data: Data<'_>) -> Output {
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args(["--output-format", "json"])
            .current_dir(root());
        match data {
            Data::File(f) => cmd.arg("--data-file").arg(root().join("events").join(f)),
            Data::Inline(j) => cmd.args(["--data-ascii", j]),
        };
        cmd.arg("pcscale-lambda")
            .output()
            .expect("cargo lambda invoke runs")
    }

    /// Invokes and parses the response as the tick summary.
    fn tick(&self, data: Data<'_>) -> (Value, Duration) {
        let t = Instant::now();
        let out = self.invoke(data);
        let took = t.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "invoke failed: {}{}\n--- watch log ---\n{}",
            stdout,
            String::from_utf8_lossy(&out.stderr),
            self.output()
        );
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("the response is not JSON ({e}): {stdout}"));
        (v, took)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Watch, the `cargo run` it starts and the function (which cargo
        // lambda puts in a session of its own), each by its id.
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        signal(&pids, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(&pids, "KILL");
        let _ = self.child.wait();
    }
}

/// Every process below `pid`, from /proc (children before their parents are
/// gone, so collect first, signal after).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.filter_map(Result::ok) {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces.
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(*child);
            frontier.push(*child);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z'))
}

fn signal(pids: &[u32], sig: &str) {
    let live: Vec<String> = pids
        .iter()
        .filter(|p| alive(**p))
        .map(u32::to_string)
        .collect();
    if !live.is_empty() {
        let _ = Command::new("kill").arg("-s").arg(sig).args(&live).status();
    }
}

enum Data<'a> {
    File(&'a str),
    Inline(&'a str),
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}
fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_binary_ticks_the_emulators_under_the_runtime_api_emulator() {
    // Given: a table with one policy (target 0.5 of demand, 1..50), and its
    // function and alias in LocalStack.
    let c = clients().await;
    let table = unique("pcscale-rt");
    create_table(&c.dynamodb, &table).await;
    let function = unique("rt");
    create_function(&c.lambda, &function, "live").await;
    let resource = format!("function:{function}:live");
    c.dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", s(&resource))
        .item("sk", s("policy"))
        .item("MinCapacity", n("1"))
        .item("MaxCapacity", n("50"))
        .item(
            "TargetTracking",
            AttributeValue::M([("TargetValue".to_owned(), n("0.5"))].into()),
        )
        .send()
        .await
        .expect("put the policy");

    // CloudWatch through the proxy that publishes a minute 180 s after it
    // ends, judged at the wall clock the Lambda's tick reads.
    let proxy = FaultProxy::start(support::emulators()).await;
    let mut env = cli_env(&table);
    env.retain(|(k, _)| k != "RUST_LOG" && k != "AWS_ENDPOINT_URL_CLOUDWATCH");
    env.push(("AWS_ENDPOINT_URL_CLOUDWATCH".to_owned(), proxy.url.clone()));
    env.extend(
        [
            ("PCSCALE_ALLOWED_FUNCTIONS", function.as_str()),
            ("PCSCALE_MAX_PER_FUNCTION", "40"),
            ("PCSCALE_LOG_LEVEL", "INFO"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let watch = Watch::start(&env);

    // When: something that is not a tick request arrives. This first
    // invocation is also the readiness probe: watch starts the function on
    // it, and it returns only once the function has answered.
    let t = Instant::now();
    let out = watch.invoke(Data::Inline(r#"{"Records": [{"eventSource": "aws:s3"}]}"#));
    let cold_wall = t.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Then: the invocation fails with the typed error and says why.
    assert!(!out.status.success(), "an S3 event was accepted: {text}");
    assert!(
        text.contains("pcscale.InvalidEvent"),
        "{text}\n{}",
        watch.output()
    );
    assert!(text.contains("Records"), "{text}");

    // Given: demand 10 in each of the last 15 minutes and in the current one
    // so far, seeded only now that the function is up, relative to the wall
    // clock the tick reads, and never in the future. The oldest minutes are
    // past any publication delay CloudWatch has (the proxy hides the newest
    // three, as CloudWatch would); the tick reads the newest published one.
    let now = Utc::now();
    let minute = now
        .duration_trunc(ChronoDuration::minutes(1))
        .expect("minute");
    let points: Vec<_> = (0..=15)
        .map(|k| (minute - ChronoDuration::minutes(k), 10.0))
        .collect();
    assert!(points.iter().all(|(t, _)| *t <= now));
    put_metric(&c.cloudwatch, &function, "live", Seed::Concurrency, &points).await;

    // When: the EventBridge rule's scheduled event arrives (the first tick:
    // cold connections to DynamoDB, CloudWatch and Lambda).
    let (summary, first_wall) = watch.tick(Data::File("scheduled-event.json"));

    // Then: the summary says it scaled out to ceil(10 / 0.5) = 20 ...
    assert_eq!(summary["totals"]["resources"], 1, "{summary:#}");
    assert_eq!(summary["totals"]["changed"], 1, "{summary:#}");
    assert_eq!(summary["totals"]["errors"], 0, "{summary:#}");
    assert_eq!(summary["dry_run"], false);
    let r = &summary["resources"][0];
    assert_eq!(r["resource"], resource.as_str());
    assert_eq!(r["action"], "ScaleOut", "{r:#}");
    assert_eq!(r["to"], 20, "{r:#}");
    assert_eq!(r["applied"], true, "{r:#}");
    // ... LocalStack holds that config ...
    assert_eq!(support::wait_ready(&c.lambda, &function, "live").await, 20);
    // ... and the state item was written.
    let state = c
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", s(&resource))
        .key("sk", s("state"))
        .consistent_read(true)
        .send()
        .await
        .expect("get the state item");
    assert!(state.item.is_some(), "no state item after the tick");

    // The binary's stdout: JSON logs with a top-level requestId, and EMF
    // lines that hold to the specification (none for the refused event).
    let lines = watch.json_lines_until(|l| l["message"] == "tick done");
    let ready = lines
        .iter()
        .find(|l| l["message"] == "pcscale-lambda ready")
        .unwrap_or_else(|| panic!("no ready line:\n{}", watch.output()));
    let init_ms = ready["init_ms"].as_f64().expect("init_ms");
    let done = lines
        .iter()
        .find(|l| l["message"] == "tick done")
        .unwrap_or_else(|| panic!("no tick-done line:\n{}", watch.output()));
    assert!(
        done["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{done}"
    );
    assert_eq!(done["level"], "INFO");
    let emf_lines: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(
        emf_lines.len(),
        2,
        "one per tick, one per change:\n{}",
        watch.output()
    );
    for l in &emf_lines {
        assert_eq!(emf::validate(l), Vec::<String>::new(), "{l}");
    }
    // The per-tick dimension is the controller's AWS_LAMBDA_FUNCTION_NAME,
    // which the emulator sets to the binary's name.
    assert_eq!(emf_lines[0]["FunctionName"], "pcscale-lambda");
    assert_eq!(emf_lines[1]["Resource"], resource.as_str());
    assert_eq!(emf_lines[1]["Applied"], 20.0);

    // When: the Scheduler payload asks for a dry run of segment 0 of 2 (warm).
    let (dry, warm_wall) = watch.tick(Data::File("scheduler-event-segment.json"));
    // Then: a dry-run summary, and the config is untouched.
    assert_eq!(dry["dry_run"], true, "{dry:#}");
    assert!(
        dry["totals"]["resources"].as_u64().is_some_and(|n| n <= 1),
        "{dry:#}"
    );
    assert_eq!(
        support::pc_config(&c.lambda, &function, "live")
            .await
            .map(|p| p.0),
        Some(20)
    );

    eprintln!(
        "pcscale-lambda under cargo lambda watch ({} build): init {init_ms:.1} ms in-process; \
         cold invoke round trip {} ms (refused event: process start and cargo's freshness check); \
         first tick {} ms (round trip {} ms), second tick {} ms (round trip {} ms)",
        if Watch::release() { "release" } else { "debug" },
        cold_wall.as_millis(),
        summary["duration_ms"],
        first_wall.as_millis(),
        dry["duration_ms"],
        warm_wall.as_millis(),
    );
}

/// Cargo.toml lowers the optimisation of a few AWS SDK crates in the release
/// profile, for the build time of `cargo run --release -- simulate`. The
/// deployed Lambda must not pay for it: every crate lowered there is set back
/// to opt-level 3 by the `config` that `cargo lambda build --release` (SAM's
/// rust-cargolambda builder) reads from `[package.metadata.lambda.build]`, and
/// by `[profile.bench]` (bench/tick_1000.rs measures the Lambda's tick).
#[test]
fn the_lambda_build_and_the_tick_benchmark_keep_the_sdk_at_full_optimisation() {
    let doc = manifest();
    let at = |path: &[&str]| toml_at(&doc, path);
    // (crate, opt-level) of each `[profile.<profile>.package.<crate>]`.
    let overrides = |profile: &str| -> Vec<(String, String)> {
        at(&["profile", profile, "package"])
            .and_then(toml_edit::Item::as_table_like)
            .map(|t| {
                t.iter()
                    .filter_map(|(name, item)| {
                        let level = item.get("opt-level")?;
                        let level = level
                            .as_integer()
                            .map(|i| i.to_string())
                            .or_else(|| level.as_str().map(str::to_owned))?;
                        Some((name.to_owned(), level))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let lowered: Vec<String> = overrides("release")
        .into_iter()
        .filter(|(_, level)| level != "3")
        .map(|(name, _)| name)
        .collect();
    assert!(
        !lowered.is_empty(),
        "no lowered crate in [profile.release.package]: this test checks nothing"
    );
    for name in &lowered {
        assert!(
            name.starts_with("aws-sdk-"),
            "{name}: only the SDK's service crates, which the simulator never calls, may be lowered"
        );
    }

    let bench: Vec<(String, String)> = overrides("bench");
    let lambda = lambda_build_config();
    for name in &lowered {
        assert!(
            bench.contains(&(name.clone(), "3".to_owned())),
            "{name} is lowered in the release profile but not set back to opt-level = 3 in \
             [profile.bench.package.{name}]"
        );
        let restore = format!("profile.release.package.{name}.opt-level=3");
        assert!(
            lambda.contains(&restore),
            "{name} is lowered in the release profile but [package.metadata.lambda.build] \
             config lacks \"{restore}\": the deployed Lambda would be built with it lowered"
        );
    }
    // And nothing else: the lists name the same crates.
    assert_eq!(bench.len(), lowered.len(), "{bench:?} vs {lowered:?}");
    assert_eq!(lambda.len(), lowered.len(), "{lambda:?} vs {lowered:?}");
    // cargo-lambda adds its own release settings (codegen-units = 1, thin
    // LTO, strip, panic = abort) only where [profile.release] sets none.
    for key in ["codegen-units", "lto", "strip", "panic"] {
        assert!(
            at(&["profile", "release", key]).is_none(),
            "[profile.release] {key} would change the Lambda build (cargo-lambda's default)"
        );
    }
}

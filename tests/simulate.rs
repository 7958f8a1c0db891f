//! `pcscale simulate`: trace loaders on the real files, the AWS target
//! tracking emulation's documented behaviours, conservation, determinism,
//! the cost arithmetic, and the binary with no arguments.

use std::path::{Path, PathBuf};
use std::process::Command;

use pcscale::sim::baselines::{AwsTargetTracking, Controller, StaticPc, Statistic};
use pcscale::sim::platform::{MinuteRecord, Platform, PlatformConfig, RunStats};
use pcscale::sim::pricing::{Arch, PcRounding, Prices};
use pcscale::sim::trace::{Arrivals, Companions, MAX_MINUTE_COUNT, Trace, TraceFormat};
use pcscale::sim::workload::{FastThresholds, Invocation, Workload, peak};
use pcscale::sim::{PolicyKind, ReplayMode, SimOptions, default_policy, run_policy, simulate};

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

fn cfg() -> PlatformConfig {
    PlatformConfig {
        warmup_secs: 0.0,
        ..PlatformConfig::default()
    }
}

fn workload(minutes: u32, mut invocations: Vec<Invocation>) -> Workload {
    invocations.sort_by(|a, b| a.start.total_cmp(&b.start));
    let peak_concurrency = peak(&invocations);
    Workload {
        invocations,
        minutes,
        peak_concurrency,
    }
}

/// `n` invocations filling minute `m` exactly (concurrency `n` for the whole minute).
fn full_minute(m: u32, n: u32) -> Vec<Invocation> {
    (0..n)
        .map(|_| Invocation {
            start: f64::from(m) * 60.0,
            duration: 60.0,
        })
        .collect()
}

/// One short invocation in each of the minutes (keeps datapoints present).
fn trickle(minutes: std::ops::Range<u32>, secs: f64) -> Vec<Invocation> {
    minutes
        .map(|m| Invocation {
            start: f64::from(m) * 60.0 + 1.0,
            duration: secs,
        })
        .collect()
}

fn run(ctl: &mut dyn Controller, w: &Workload) -> (RunStats, Vec<MinuteRecord>) {
    run_at(ctl, w, 1.0)
}

/// [`run`] for a function of `memory_gb`.
fn run_at(ctl: &mut dyn Controller, w: &Workload, memory_gb: f64) -> (RunStats, Vec<MinuteRecord>) {
    let c = cfg();
    let (stats, tl) = run_policy(ctl, w, &c, memory_gb, true, 0.0);
    (stats, tl.unwrap_or_default())
}

fn requested(tl: &[MinuteRecord]) -> Vec<u32> {
    tl.iter().map(|r| r.pc_requested).collect()
}

// ---------- trace loaders on the real files ----------

#[test]
fn azure_2019_sample_loads_with_durations_and_memory_joined() {
    let t = Trace::load(&traces().join("1350_inv.csv"), &Companions::default())
        .expect("the shipped trace loads");
    assert_eq!(t.format, TraceFormat::Azure2019);
    assert_eq!(t.functions.len(), 1350);
    assert_eq!(t.minutes, 1440);
    assert_eq!(t.start_minute, 0);
    let total: u64 = t.functions.iter().map(|f| f.invocation_count()).sum();
    assert_eq!(total, 927_272, "SOURCES.md gives 927,272 invocations");
    assert!(
        t.functions.iter().all(|f| f.durations.is_some()),
        "{:?}",
        t.notes
    );
    assert!(
        t.functions.iter().all(|f| f.memory_mb.is_some()),
        "{:?}",
        t.notes
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn bundled_trace_is_the_shipped_file() {
    let bundled = Trace::bundled().expect("bundled trace parses");
    let file = Trace::load(&traces().join("1350_inv.csv"), &Companions::default())
        .expect("shipped trace loads");
    assert_eq!(bundled.functions, file.functions);
}

#[test]
fn azure_2021_fixture_has_the_documented_exact_peak() {
    let t = Trace::load(&traces().join("Azure2021_200.csv"), &Companions::default())
        .expect("the 2021 fixture loads");
    assert_eq!(t.format, TraceFormat::Azure2021);
    assert_eq!(t.functions.len(), 31, "31 distinct (app, func) pairs");
    let mut all = Vec::new();
    for f in &t.functions {
        let Arrivals::Exact(v) = &f.arrivals else {
            panic!("2021 invocations are exact");
        };
        all.extend(
            v.iter()
                .map(|&(start, duration)| Invocation { start, duration }),
        );
    }
    assert_eq!(all.len(), 199);
    all.sort_by(|a, b| a.start.total_cmp(&b.start));
    assert_eq!(peak(&all), 23, "SOURCES.md: exact peak concurrency 23");
}

#[test]
fn bad_row_in_a_real_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad_inv.csv");
    std::fs::write(
        &path,
        "HashOwner,HashApp,HashFunction,Trigger,1,2,3\no,a,f,http,1,2,3\no,a,g,http,1,-4,3\n",
    )
    .expect("write");
    let err = Trace::load(&path, &Companions::default()).expect_err("a negative count is refused");
    let msg = err.to_string();
    assert!(msg.contains("bad_inv.csv:3:6:"), "{msg}");
    assert!(msg.contains("non-negative integer"), "{msg}");
}

#[test]
fn unknown_layout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("x.csv");
    std::fs::write(&path, "a,b\n1,2\n").expect("write");
    let err = Trace::load(&path, &Companions::default()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("x.csv:1:1: unrecognised trace layout"),
        "{err}"
    );
}

// ---------- AWS target tracking emulation ----------

/// Starts at `level`, then hands over to AWS target tracking.
struct StartAt(u32, AwsTargetTracking);
impl Controller for StartAt {
    fn tick(&mut self, p: &mut Platform<'_>) {
        if p.minute() == 0 {
            p.set_pc(self.0);
        } else {
            self.1.tick(p);
        }
    }
}

#[test]
fn aws_two_minute_burst_never_scales_out() {
    let mut inv = trickle(0..200, 5.0);
    inv.extend(full_minute(100, 10));
    inv.extend(full_minute(101, 10));
    let w = workload(200, inv);
    let mut aws = AwsTargetTracking::new(Statistic::Average);
    let (_, tl) = run(&mut aws, &w);
    assert!(
        requested(&tl).iter().all(|&pc| pc == 1),
        "{:?}",
        requested(&tl)
    );
    // The same burst one minute longer does scale out: the test can fail.
    let mut inv = trickle(0..200, 5.0);
    for m in 100..103 {
        inv.extend(full_minute(m, 10));
    }
    let (_, tl) = run(
        &mut AwsTargetTracking::new(Statistic::Average),
        &workload(200, inv),
    );
    assert!(requested(&tl).iter().any(|&pc| pc > 1));
}

#[test]
fn aws_scale_in_needs_fifteen_quiet_minutes() {
    // 60 busy minutes at concurrency 10 on PC 15 (utilisation 0.67: inside
    // the dead band between 0.63 and 0.7), then a trickle that keeps
    // datapoints present at a low utilisation.
    let mut inv = Vec::new();
    for m in 0..60 {
        inv.extend(full_minute(m, 10));
    }
    inv.extend(trickle(60..120, 2.0));
    let mut ctl = StartAt(15, AwsTargetTracking::new(Statistic::Average));
    let (_, tl) = run(&mut ctl, &workload(120, inv));
    let pc = requested(&tl);
    // Quiet from minute 60: datapoints 60..=74 are the first 15 low ones;
    // minute 74 ends at 75 and is published a delay later (180 s by
    // default): first seen by the tick of minute 78.
    let seen = 74 + cfg().metric_delay.minutes_until_seen() as usize;
    assert_eq!(seen, 78);
    assert!(pc[..seen].iter().all(|&p| p == 15), "{pc:?}");
    assert!(pc[seen] < 15, "scale-in at minute {seen}: {pc:?}");
}

#[test]
fn aws_never_scales_out_from_zero() {
    let mut inv = Vec::new();
    for m in 0..120 {
        inv.extend(full_minute(m, 20));
    }
    let mut aws = AwsTargetTracking::new(Statistic::Average);
    aws.min = 0;
    let (stats, tl) = run(&mut aws, &workload(120, inv));
    assert!(requested(&tl).iter().all(|&pc| pc == 0));
    assert_eq!(stats.on_pc, 0);
    assert!(stats.cold > 0);
}

#[test]
fn aws_never_scales_in_without_traffic() {
    let w = workload(1440, Vec::new());
    let mut ctl = StartAt(5, AwsTargetTracking::new(Statistic::Average));
    let (_, tl) = run(&mut ctl, &w);
    assert!(
        requested(&tl).iter().all(|&pc| pc == 5),
        "{:?}",
        requested(&tl)
    );
}

#[test]
fn aws_maximum_statistic_reacts_to_a_short_peak_that_average_misses() {
    // 3 minutes with a 10-second peak of 5 on top of a trickle.
    let mut inv = trickle(0..120, 2.0);
    for m in 50..53 {
        for _ in 0..5 {
            inv.push(Invocation {
                start: f64::from(m) * 60.0 + 30.0,
                duration: 10.0,
            });
        }
    }
    let w = workload(120, inv);
    let (_, avg) = run(&mut AwsTargetTracking::new(Statistic::Average), &w);
    let (_, max) = run(&mut AwsTargetTracking::new(Statistic::Maximum), &w);
    assert!(requested(&avg).iter().all(|&p| p == 1));
    assert!(requested(&max).iter().any(|&p| p > 1));
}

// ---------- conservation, determinism, cost ----------

fn small_opts(threads: usize, mode: ReplayMode) -> SimOptions {
    SimOptions {
        max_functions: Some(120),
        threads,
        progress: false,
        mode,
        ..SimOptions::default()
    }
}

const MODES: [ReplayMode; 2] = [ReplayMode::Fast, ReplayMode::Exact];

#[test]
fn every_invocation_is_served_on_pc_warm_or_cold() {
    for mode in MODES {
        every_invocation_is_served_on_pc_warm_or_cold_in(mode, &small_opts(0, mode));
    }
    // Busy seconds served at once (everything above 2 a second).
    let dense = SimOptions {
        fast: FastThresholds {
            exact_minute_max: 10,
            dense_second_above: 2,
        },
        ..small_opts(0, ReplayMode::Fast)
    };
    every_invocation_is_served_on_pc_warm_or_cold_in(ReplayMode::Fast, &dense);
}

fn every_invocation_is_served_on_pc_warm_or_cold_in(mode: ReplayMode, opts: &SimOptions) {
    let trace = Trace::bundled().expect("bundled");
    let policy = default_policy().expect("bundled policy is valid");
    let report = simulate(&trace, &policy, opts, |_| Ok(())).expect("simulates");
    assert_eq!(report.mode, mode);
    assert!(report.functions_evaluated > 0);
    assert_eq!(report.policies.len(), PolicyKind::ALL.len());
    let invocations = report.policies[0].invocations;
    for row in &report.policies {
        assert_eq!(
            row.invocations, invocations,
            "{}: same arrivals",
            row.policy
        );
        assert_eq!(
            row.on_pc + row.warm_on_demand + row.cold_starts,
            row.invocations,
            "{}",
            row.policy
        );
        assert_eq!(row.spill_over, row.warm_on_demand + row.cold_starts);
    }
    let no_pc = &report.policies[0];
    assert_eq!(no_pc.on_pc, 0);
    assert!(report.unavoidable_cold_starts <= no_pc.cold_starts);
    let oracle = report
        .policies
        .iter()
        .find(|r| r.policy == "oracle")
        .expect("oracle row");
    assert_eq!(
        oracle.cold_starts, 0,
        "the oracle pays for zero cold starts"
    );
}

#[test]
fn same_seed_gives_the_same_numbers_whatever_the_thread_count() {
    let trace = Trace::bundled().expect("bundled");
    let policy = default_policy().expect("bundled policy is valid");
    for mode in MODES {
        let one = simulate(&trace, &policy, &small_opts(1, mode), |_| Ok(())).expect("1 thread");
        let two = simulate(&trace, &policy, &small_opts(2, mode), |_| Ok(())).expect("2 threads");
        assert_eq!(one.policies, two.policies, "{mode:?}");
        let other = SimOptions {
            seed: 2,
            ..small_opts(2, mode)
        };
        let other = simulate(&trace, &policy, &other, |_| Ok(())).expect("seed 2");
        assert_ne!(
            one.policies, other.policies,
            "{mode:?}: another seed draws other arrivals"
        );
    }
}

/// The bundled day's first 220 functions: a small real slice with a
/// function the fast mode replays second by second in its busy minutes
/// (up to 2,889 invocations a minute).
fn real_slice() -> Trace {
    let mut trace = Trace::bundled().expect("bundled");
    trace.functions.truncate(220);
    let th = FastThresholds::default();
    let busy = trace
        .functions
        .iter()
        .filter(|f| match &f.arrivals {
            Arrivals::PerMinute(c) => c.iter().any(|&n| n > th.exact_minute_max),
            Arrivals::Exact(_) => false,
        })
        .count();
    assert!(busy >= 1, "the slice has a busy function");
    trace
}

#[test]
fn fast_mode_agrees_with_exact_within_two_percent_on_a_real_slice() {
    let trace = real_slice();
    let policy = default_policy().expect("bundled policy is valid");
    let run = |mode| {
        let opts = SimOptions {
            progress: false,
            mode,
            ..SimOptions::default()
        };
        simulate(&trace, &policy, &opts, |_| Ok(())).expect("simulates")
    };
    let (fast, exact) = (run(ReplayMode::Fast), run(ReplayMode::Exact));
    assert_eq!(fast.functions_evaluated, exact.functions_evaluated);
    let close = |what: &str, policy: &str, f: f64, e: f64| {
        assert!(
            (f - e).abs() <= 0.02 * e.abs().max(1.0),
            "{policy} {what}: fast {f}, exact {e}"
        );
    };
    for (f, e) in fast.policies.iter().zip(&exact.policies) {
        assert_eq!(f.policy, e.policy);
        assert_eq!(f.invocations, e.invocations, "{}: same arrivals", f.policy);
        close(
            "cold starts",
            &f.policy,
            f.cold_starts as f64,
            e.cold_starts as f64,
        );
        close(
            "spill-over",
            &f.policy,
            f.spill_over as f64,
            e.spill_over as f64,
        );
        close("cost", &f.policy, f.cost_total, e.cost_total);
    }
}

#[test]
fn quiet_functions_get_the_exact_modes_very_numbers_in_the_fast_mode() {
    // The bundled day's functions with no minute served second by second:
    // the fast mode replays their exact invocations, so every counter and
    // every cent is the exact mode's.
    let mut trace = Trace::bundled().expect("bundled");
    let th = FastThresholds::default();
    trace.functions.retain(|f| match &f.arrivals {
        Arrivals::PerMinute(c) => c.iter().all(|&n| n <= th.exact_minute_max),
        Arrivals::Exact(_) => false,
    });
    trace.functions.truncate(150);
    let policy = default_policy().expect("bundled policy is valid");
    let run = |mode| {
        let opts = SimOptions {
            progress: false,
            mode,
            ..SimOptions::default()
        };
        simulate(&trace, &policy, &opts, |_| Ok(())).expect("simulates")
    };
    let (fast, exact) = (run(ReplayMode::Fast), run(ReplayMode::Exact));
    assert!(fast.functions_evaluated > 10);
    assert_eq!(fast.functions_evaluated, exact.functions_evaluated);
    assert_eq!(fast.policies, exact.policies);
}

#[test]
fn the_fast_mode_replays_the_busiest_minutes_a_trace_may_hold() {
    // 4 x 10^9 invocations: the exact mode would need 64 GB to hold them;
    // the fast mode's work grows with minutes only.
    let minutes = 40;
    let trace = Trace {
        name: "synthetic".into(),
        format: TraceFormat::Azure2019,
        start_minute: 0,
        minutes,
        functions: vec![pcscale::sim::trace::FunctionTrace {
            id: "huge".into(),
            name: "huge".into(),
            trigger: None,
            arrivals: Arrivals::PerMinute(vec![MAX_MINUTE_COUNT; minutes as usize]),
            durations: Some(pcscale::sim::trace::DurationDist::from_percentiles_ms([
                10.0, 15.0, 23.0, 26.0, 31.0, 169.0, 1633.0,
            ])),
            memory_mb: Some(128.0),
        }],
        notes: Vec::new(),
    };
    let policy = default_policy().expect("bundled policy is valid");
    let opts = SimOptions {
        progress: false,
        policies: vec![PolicyKind::NoPc, PolicyKind::Tencent, PolicyKind::Pcscale],
        max_per_function: None,
        ..SimOptions::default()
    };
    let r = simulate(&trace, &policy, &opts, |_| Ok(())).expect("simulates");
    let counted = u64::from(MAX_MINUTE_COUNT) * u64::from(minutes - 30);
    for row in &r.policies {
        assert_eq!(row.invocations, counted, "{}", row.policy);
        assert_eq!(row.on_pc + row.warm_on_demand + row.cold_starts, counted);
    }
    // After the warm-up the pool of environments is in place: cold starts
    // are a sliver of the invocations.
    assert!(
        r.policies[0].cold_starts < counted / 1000,
        "{:?}",
        r.policies[0]
    );
}

#[test]
fn cost_matches_a_hand_computed_case() {
    let c = PlatformConfig {
        warmup_secs: 0.0,
        prices: Prices::us_east_1(Arch::X86_64),
        ..PlatformConfig::default()
    };
    // 2 GB; static PC of 2 requested at t = 0, usable at 90.02 s.
    let w = workload(
        3,
        vec![
            // Before PC is ready: cold start on demand, 1 s.
            Invocation {
                start: 30.0,
                duration: 1.0,
            },
            // On PC: 0.5 s and 2.0001 s (billed 2.001 s).
            Invocation {
                start: 120.0,
                duration: 0.5,
            },
            Invocation {
                start: 120.1,
                duration: 2.0001,
            },
            // PC full: spills, reuses the environment of the first one (warm), 1 s.
            Invocation {
                start: 120.2,
                duration: 1.0,
            },
        ],
    );
    let (s, _) = run_policy(&mut StaticPc { level: 2 }, &w, &c, 2.0, false, 0.0);
    assert_eq!(
        (s.invocations, s.on_pc, s.warm_on_demand, s.cold),
        (4, 2, 1, 1)
    );
    let pc_gb_s = 2.0 * 180.0 * 2.0; // 2 units x 180 s x 2 GB
    assert!((s.pc_gb_s - pc_gb_s).abs() < 1e-9);
    let expected = [
        (s.cost.pc, 720.0 * 0.000_004_166_7),
        (s.cost.pc_duration, (0.5 + 2.001) * 2.0 * 0.000_009_722_2),
        (
            s.cost.on_demand_duration,
            (1.0 + 1.0) * 2.0 * 0.000_016_666_7,
        ),
        (s.cost.requests, 4.0 * 0.000_000_2),
    ];
    for (got, want) in expected {
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }
    assert!((s.pc_busy_gb_s - (0.5 + 2.0001) * 2.0).abs() < 1e-9);
}

/// PC of 1 from t = 0, deleted at the tick of minute 1.
struct OneMinute;
impl Controller for OneMinute {
    fn tick(&mut self, p: &mut Platform<'_>) {
        p.set_pc(if p.minute() == 0 { 1 } else { 0 });
    }
}

#[test]
fn five_minute_rounding_bills_a_one_minute_config_for_five_minutes() {
    let w = workload(10, Vec::new());
    let exact = PlatformConfig {
        warmup_secs: 0.0,
        ..PlatformConfig::default()
    };
    let rounded = PlatformConfig {
        rounding: PcRounding::FiveMinutes,
        ..exact.clone()
    };
    let (a, _) = run_policy(&mut OneMinute, &w, &exact, 1.0, false, 0.0);
    let (b, _) = run_policy(&mut OneMinute, &w, &rounded, 1.0, false, 0.0);
    assert!((a.pc_gb_s - 60.0).abs() < 1e-9, "{}", a.pc_gb_s);
    assert!((b.pc_gb_s - 300.0).abs() < 1e-9, "{}", b.pc_gb_s);
    assert_eq!(a.lambda_writes, 2);
}

// ---------- the binary ----------

fn pcscale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pcscale"))
}

#[test]
fn simulate_with_no_arguments_prints_the_comparison_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    // From an unrelated directory: the trace and policy are embedded.
    let out = pcscale()
        .arg("simulate")
        .current_dir(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "bundled Azure Functions 2019",
        "cold starts",
        "$/avoided cold",
        "no-pc",
        "static-p99",
        "aws-tt-avg",
        "aws-tt-max",
        "tencent",
        "alibaba",
        "pcscale",
        "oracle",
        "Unavoidable cold starts",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }

    // The default policy's standing on the shipped day (bench/RESULTS.md),
    // its own controller and alarms paid: no more cold starts and no more
    // cost than AWS target tracking (Average); fewer cold starts than
    // Alibaba at no more than 1 % over its cost (Alibaba's autoscaling is
    // free, pcscale's controller is not: $24.87 against $25.07 at 0.63x the
    // cold starts, $24.81 against $24.60 under a 60-s CloudWatch delay); at
    // most 5x the oracle's $ per avoided cold start. A
    // change to the core or the default policy that loses it fails here.
    let row = |name: &str| -> (f64, f64, f64) {
        let cols: Vec<&str> = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{stdout}"))
            .split_whitespace()
            .collect();
        let num = |i: usize| cols[i].parse::<f64>().unwrap_or(f64::NAN);
        // policy invocations spill-over cold-starts cold% $/avoided PC-GB-s
        // idle controller alarms cost
        (num(3), num(5), num(10))
    };
    let (cold, per_avoided, cost) = row("pcscale");
    for (rival, cost_margin) in [("aws-tt-avg", 1.0), ("alibaba", 1.01)] {
        let (r_cold, _, r_cost) = row(rival);
        assert!(
            cold <= r_cold && cost <= r_cost * cost_margin,
            "pcscale {cold} cold starts at ${cost} against {rival}'s {r_cold} at ${r_cost}"
        );
    }
    let (_, oracle_per_avoided, _) = row("oracle");
    assert!(
        per_avoided <= 5.0 * oracle_per_avoided,
        "pcscale pays ${per_avoided} per avoided cold start, over 5x the oracle's ${oracle_per_avoided}"
    );
}

#[test]
fn simulate_json_plot_and_timeline_on_a_few_functions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("p.svg");
    let csv = dir.path().join("t.csv");
    let out = pcscale()
        .args([
            "simulate",
            "--output",
            "json",
            "--functions",
            "40",
            "--plot",
        ])
        .arg(&svg)
        .arg("--timeline")
        .arg(&csv)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["functions_selected"], 40);
    assert_eq!(v["policies"].as_array().map(Vec::len), Some(8));
    assert!(v["policies"][0]["cold_starts"].is_u64());
    let svg = std::fs::read_to_string(&svg).expect("plot written");
    assert!(svg.contains("<svg") && svg.contains("demand"));
    let csv = std::fs::read_to_string(&csv).expect("timeline written");
    let header = csv.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("function,minute,time,invocations,concurrency_max,no-pc_pc_requested")
    );
    assert!(csv.lines().count() > 1);
}

#[test]
fn simulate_refuses_a_bad_trace_with_exit_2_and_its_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.csv");
    std::fs::write(&path, "timestamp,concurrency\n60,1\n120,lots\n").expect("write");
    let out = pcscale()
        .args(["simulate", "--trace"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("c.csv:3:2:"), "{stderr}");
}

fn template_default(parameter: &str) -> u32 {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template.yaml");
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != format!("{parameter}:"));
    lines
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no Default for {parameter} in template.yaml"))
}

#[test]
fn simulator_defaults_are_the_deployed_template_defaults() {
    let opts = SimOptions::default();
    assert_eq!(
        opts.quiet_every_minutes,
        template_default("QuietEveryMinutes")
    );
    assert_eq!(
        opts.max_per_function,
        Some(template_default("MaxPerFunction"))
    );
    let help = pcscale()
        .args(["simulate", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--max-per-function"), "{help}");
}

#[test]
fn upstream_azure_2019_names_find_their_companions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let inv = dir.path().join("invocations_per_function_md.anon.d01.csv");
    std::fs::copy(traces().join("1350_inv.csv"), &inv).expect("copy");
    // Alone, the assumptions are said on stderr, in text mode too, with the
    // file that was looked for.
    let out = pcscale()
        .args([
            "simulate",
            "--functions",
            "3",
            "--compare",
            "none",
            "--trace",
        ])
        .arg(&inv)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 s assumed")
            && stderr.contains("function_durations_percentiles.anon.d01.csv"),
        "{stderr}"
    );
    assert!(stderr.contains("MB assumed"), "{stderr}");
    // With the upstream companions beside it, nothing is assumed.
    std::fs::copy(
        traces().join("1350_run.csv"),
        dir.path()
            .join("function_durations_percentiles.anon.d01.csv"),
    )
    .expect("copy");
    std::fs::copy(
        traces().join("1350_mem.csv"),
        dir.path().join("app_memory_percentiles.anon.d01.csv"),
    )
    .expect("copy");
    let t = Trace::load(&inv, &Companions::default()).expect("loads");
    assert!(t.notes.is_empty(), "{:?}", t.notes);
    assert!(t.functions.iter().all(|f| f.durations.is_some()));
}

#[test]
fn a_trace_shorter_than_the_warm_up_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.csv");
    let rows: String = (0..10).map(|m| format!("{},3\n", m * 60)).collect();
    std::fs::write(&path, format!("timestamp,concurrency\n{rows}")).expect("write");
    let out = pcscale()
        .args(["simulate", "--trace"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("10 minute(s) long") && stderr.contains("warm-up"),
        "{stderr}"
    );
}

#[test]
fn a_newest_first_cloudwatch_export_replays_with_its_memory_and_duration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.csv");
    let rows: String = (0..60)
        .rev()
        .map(|m| format!("2024-01-01T10:{m:02}:00Z,{}\n", 2 + m % 3))
        .collect();
    std::fs::write(&path, format!("timestamp,concurrency\n{rows}")).expect("write");
    let out = pcscale()
        .args([
            "simulate",
            "--output",
            "json",
            "--warmup",
            "0",
            "--memory-mb",
            "512",
            "--duration",
            "2",
            "--compare",
            "none",
            "--trace",
        ])
        .arg(&path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // 60 minutes x (2 + 3 + 4) / 3 average units x 30 two-second invocations.
    assert_eq!(v["policies"][0]["invocations"], 20 * (2 + 3 + 4) * 30);
    assert!(!stderr.contains("MB assumed"), "{stderr}");
}

#[test]
fn the_plotted_function_is_the_busiest_by_peak_concurrency() {
    let trace = Trace::bundled().expect("bundled");
    let opts = SimOptions {
        max_functions: Some(150),
        policies: vec![PolicyKind::NoPc],
        plot_function: Some(String::new()),
        progress: false,
        ..SimOptions::default()
    };
    let mut peaks = Vec::new();
    let report = simulate(&trace, &default_policy().expect("policy"), &opts, |o| {
        if o.evaluated {
            peaks.push((
                o.peak_concurrency,
                trace.functions[o.index].invocation_count(),
                o.id.clone(),
            ));
        }
        Ok(())
    })
    .expect("runs");
    let top = peaks.iter().map(|p| p.0).max().expect("some evaluated");
    let plot = report.plot.expect("plot data");
    assert_eq!(plot.peak_concurrency, top);
    let first = peaks.iter().find(|p| p.0 == top).expect("top");
    assert_eq!(plot.function, first.2);
    // The function with the most invocations is another one here: the
    // choice is by peak, not by volume.
    let most = peaks.iter().max_by_key(|p| p.1).expect("most");
    assert_ne!(
        most.2, plot.function,
        "pick another subset: the two coincide"
    );
}

#[test]
fn cost_plot_and_frontier_on_a_few_functions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("cost.svg");
    let out = pcscale()
        .args([
            "simulate",
            "--output",
            "json",
            "--functions",
            "40",
            "--frontier",
            "1,3",
            "--cost-plot",
        ])
        .arg(&svg)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let f = v["frontier"].as_array().expect("frontier");
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["min_cold_starts_per_instance_hour"], 1.0);
    // A lower threshold keeps more PC: no more cold starts.
    assert!(f[0]["cold_starts"].as_u64() <= f[1]["cold_starts"].as_u64());
    let pcscale = &v["policies"][6];
    assert_eq!(pcscale["policy"], "pcscale");
    assert!(
        pcscale["cost"]["controller"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    assert!(pcscale["cost"]["alarms"].as_f64().is_some_and(|c| c > 0.0));
    assert!(
        v["policies"][2]["cost"]["alarms"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    assert_eq!(v["policies"][4]["cost"]["controller"], 0.0);
    let svg = std::fs::read_to_string(&svg).expect("chart written");
    for needle in [
        "cold starts",
        "frontier (MinColdStartsPerInstanceHour)",
        "tencent",
        "T=3",
    ] {
        assert!(svg.contains(needle), "no {needle:?} in the chart");
    }
}

// ---------- history-aware pre-warming through the real tick ----------

#[test]
fn a_daily_job_is_pre_warmed_from_its_second_day_through_the_real_tick() {
    use chrono::{TimeZone, Utc};
    use pcscale::sim::ports::Pcscale;

    // Three weekdays (Monday 15 July 2019 on) with one job at 09:00 that
    // runs 3 invocations for 20 s, nothing else.
    let epoch = Utc.with_ymd_and_hms(2019, 7, 15, 0, 0, 0).unwrap();
    let jobs: Vec<Invocation> = (0..3u32)
        .flat_map(|day| {
            (0..3).map(move |_| Invocation {
                start: f64::from(day * 1440 + 540) * 60.0 + 5.0,
                duration: 20.0,
            })
        })
        .collect();
    let w = workload(3 * 1440, jobs);
    let policy = default_policy().unwrap();
    let cs = policy
        .target_tracking
        .as_ref()
        .and_then(|t| t.cold_starts.as_ref())
        .unwrap();
    assert_eq!(cs.history_days, 14, "on by default");
    let mut off_policy = policy.clone();
    if let Some(c) = off_policy
        .target_tracking
        .as_mut()
        .and_then(|t| t.cold_starts.as_mut())
    {
        c.history_days = 0;
    }
    // A 128 MB function: at the default $0.0014 a cold start, a unit held
    // 11 minutes costs 0.25 cold starts, and each day's rise earns 1/2 then
    // 2/3 a unit.
    let (on, tl) = run_at(&mut Pcscale::new(policy.clone(), epoch), &w, 0.125);
    let (off, _) = run_at(&mut Pcscale::new(off_policy, epoch), &w, 0.125);
    // Without history every run starts cold (a period of a day is beyond
    // the 8-hour look-back); with it, only the first day's.
    assert_eq!(off.cold, 9);
    assert_eq!(on.cold, 3, "days 2 and 3 are pre-warmed");
    // A 10 GB function: the same hold costs 20 cold starts a unit, more
    // than the rise can earn; the memory, read through the tick's port,
    // prices the pre-warm out.
    let (big, _) = run_at(&mut Pcscale::new(policy, epoch), &w, 10.0);
    assert_eq!(big.cold, 9, "not worth pre-warming at 10 GB");
    for day in 1..3usize {
        let nine = day * 1440 + 540;
        assert!(
            tl[nine].pc_usable >= 3,
            "day {day}: {:?}",
            &tl[nine - 8..=nine]
        );
        // Held shortly before, not all day.
        assert_eq!(tl[nine - 60].pc_requested, 0, "day {day}");
    }
    // History costs one metric a refresh (the first tick, then once a day),
    // not one a tick.
    let extra = on.controller.metrics_requested - off.controller.metrics_requested;
    assert!((3..=4).contains(&extra), "{extra} history queries");
}

// ---------- what the simulated CloudWatch shows, and when ----------

#[test]
fn the_history_a_policy_reads_is_what_cloudwatch_holds_published_and_retained() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use pcscale::core::decide::Demand;
    use pcscale::core::history::history_minutes;
    use pcscale::core::policy::ColdStartAware;
    use pcscale::core::policy::{MetricKind, parse_policy};
    use pcscale::core::state::State;
    use pcscale::core::window::{Horizon, PublicationDelay};
    use pcscale::ports::{MetricQuery, MetricsSource};
    use pcscale::sim::ports::{ONE_MINUTE_RETENTION_DAYS, SimWorld};

    let epoch = Utc.with_ymd_and_hms(2019, 7, 15, 0, 0, 0).unwrap();
    let policy = parse_policy(&serde_json::json!({
        "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 10
    }))
    .unwrap();
    let c = PlatformConfig {
        metric_delay: PublicationDelay::from_secs(120).unwrap(),
        ..cfg()
    };
    // 16 days, busy every minute: every published, retained minute has a
    // datapoint, so any minute outside those that shows one is a leak.
    let minutes = 16 * 1440u32;
    let mut p = Platform::new(&c, 1.0, 30, false);
    for m in 0..minutes {
        if m > 0 {
            p.close_minute();
        }
        p.arrive(&Invocation {
            start: f64::from(m) * 60.0 + 1.0,
            duration: 10.0,
        });
    }
    p.close_minute();
    let published = c.metric_delay.published_minutes(f64::from(minutes) * 60.0);
    let world = SimWorld::new(&mut p, epoch, policy.clone(), State::default());
    // A refresh asks for HistoryDays = 14 days (and the keep-alive before),
    // assuming the default delay (180 s, more than the real 120 s).
    let q = MetricQuery {
        resource: policy.resource.clone(),
        metric: MetricKind::ConcurrentExecutions,
        minutes: history_minutes(&ColdStartAware::default()),
    };
    let now = epoch + TimeDelta::minutes(i64::from(minutes));
    let horizon = Horizon {
        now,
        delay: PublicationDelay::default(),
    };
    let answers = futures::executor::block_on(world.fetch(std::slice::from_ref(&q), horizon));
    let Demand::Known(s) = &answers[&q] else {
        panic!("{answers:?}")
    };
    let newest = s.newest.expect("a published minute");
    let newest_index = (newest - epoch).num_minutes() as usize;
    let first = newest_index + 1 - s.minutes.len();
    assert_eq!(
        newest_index + 1,
        published,
        "the newest published minute, no later"
    );
    let retained =
        (now - TimeDelta::days(ONE_MINUTE_RETENTION_DAYS) - epoch).num_minutes() as usize;
    assert!(
        first >= retained,
        "minute {first} is older than 1-minute retention ({retained})"
    );
    assert_eq!(
        s.minutes.len(),
        q.minutes as usize,
        "the whole history asked for"
    );
    assert!(s.minutes.iter().all(Option::is_some));
    // A query reaching past the retention gets the retained minutes only,
    // never the older ones (as unknown, not as idle).
    let q15 = MetricQuery {
        minutes: 16 * 1440,
        ..q.clone()
    };
    let answers = futures::executor::block_on(world.fetch(std::slice::from_ref(&q15), horizon));
    let Demand::Known(s) = &answers[&q15] else {
        panic!("{answers:?}")
    };
    let first = newest_index + 1 - s.minutes.len();
    assert!(
        first >= retained,
        "minute {first} shown beyond retention ({retained})"
    );
}

#[test]
fn the_simulated_cloudwatch_never_shows_a_minute_before_it_is_published() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use pcscale::core::decide::Demand;
    use pcscale::core::policy::{MetricKind, parse_policy};
    use pcscale::core::state::State;
    use pcscale::core::window::{Horizon, PublicationDelay};
    use pcscale::ports::{MetricQuery, MetricsSource};
    use pcscale::sim::ports::SimWorld;

    let epoch = Utc.with_ymd_and_hms(2019, 7, 15, 0, 0, 0).unwrap();
    let policy = parse_policy(&serde_json::json!({
        "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 10
    }))
    .unwrap();
    for actual in [0u64, 60, 120, 180] {
        let c = PlatformConfig {
            metric_delay: PublicationDelay::from_secs(actual).unwrap(),
            ..cfg()
        };
        // Busy in every one of 20 minutes; the tick is at the start of minute 20.
        let mut p = Platform::new(&c, 1.0, 30, false);
        for m in 0..20u32 {
            if m > 0 {
                p.close_minute();
            }
            p.arrive(&Invocation {
                start: f64::from(m) * 60.0 + 1.0,
                duration: 10.0,
            });
        }
        p.close_minute();
        let published = c.metric_delay.published_minutes(20.0 * 60.0);
        assert_eq!(published, 20 - actual as usize / 60);
        let world = SimWorld::new(&mut p, epoch, policy.clone(), State::default());
        for assumed in [0u64, 60, 180, 300] {
            let horizon = Horizon {
                now: epoch + TimeDelta::minutes(20),
                delay: PublicationDelay::from_secs(assumed).unwrap(),
            };
            let q = MetricQuery {
                resource: policy.resource.clone(),
                metric: MetricKind::ConcurrentExecutions,
                minutes: 10,
            };
            let answers =
                futures::executor::block_on(world.fetch(std::slice::from_ref(&q), horizon));
            let Demand::Known(s) = &answers[&q] else {
                panic!("{answers:?}")
            };
            let newest = s.newest.expect("a published minute");
            let newest_index = (newest - epoch).num_minutes() as usize;
            // Every datapoint shown is a published minute's.
            let first = newest_index + 1 - s.minutes.len();
            for (i, v) in s.minutes.iter().enumerate() {
                if v.is_some() {
                    assert!(
                        first + i < published,
                        "CloudWatch delay {actual}, assumed {assumed}: minute {} shown, \
                         only {published} published",
                        first + i
                    );
                }
            }
            if assumed >= actual {
                // Assuming at least the real delay, the newest minute read is
                // exactly the newest published one.
                assert_eq!(newest_index + 1, published, "{actual} / {assumed}");
            }
        }
    }
}

//! `pcscale simulate`: replay real traces through the same tick as the
//! Lambda, side by side with other autoscalers, on identical arrivals.
//!
//! * [`trace`]: loaders for the Azure Functions 2019 / 2021 layouts and a
//!   plain `timestamp,concurrency` CSV; the bundled real day;
//! * [`workload`]: from counts to invocations (seeded), demand statistics;
//! * [`platform`]: the simulated Lambda (PC preparation, spill-over, warm
//!   on-demand environments, cold starts), CloudWatch and the bill;
//! * [`ports`]: the tick's ports in memory, so pcscale's policy runs through
//!   [`crate::tick::run_tick`] and [`crate::core`] unchanged;
//! * [`baselines`]: no PC, static p99, AWS target tracking (Average and
//!   Maximum), Tencent, Alibaba and an oracle;
//! * [`pricing`], [`report`] (table, JSON, timeline CSV), [`plot`] (SVG).
//!
//! Functions are simulated one at a time per worker thread (each with its
//! own policy, platform and state); results are merged in trace order, so
//! the numbers for a seed do not depend on the thread count.
//!
//! Two replay modes ([`ReplayMode`]) share the platform, the bill and the
//! metrics. The **fast** mode (the default) makes a per-minute trace's
//! arrivals one minute at a time ([`workload::ArrivalStream`]): quiet
//! minutes get the very invocations the exact mode replays, busy seconds
//! are served at once ([`platform::Platform::arrive_dense`]), so work and
//! memory grow with functions x minutes, not with invocations. The
//! **exact** mode (`--exact`, the reference) builds every invocation of a
//! function and replays each one.

pub mod baselines;
pub mod platform;
pub mod plot;
pub mod ports;
pub mod pricing;
pub mod report;
pub mod trace;
pub mod workload;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::core::policy::{InvalidPolicy, Policy, ResourceId, parse_policy};
use crate::core::window::PublicationDelay;
use crate::ddb_json::from_dynamodb_json;
use baselines::{
    Alibaba, AwsTargetTracking, Controller, NoPc, Oracle, StaticPc, Statistic, Tencent,
};
use platform::{MinuteRecord, Platform, PlatformConfig, RunStats};
use ports::Pcscale;
use pricing::billed_memory_gb;
use trace::{Arrivals, FunctionTrace, Trace, TraceError};
use workload::{ArrivalStream, DemandProfile, DurationShape, FastThresholds, Workload};

/// The bundled example policy (`policies/default.json`), used by default.
pub const DEFAULT_POLICY_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/policies/default.json"
));

/// `QuietEveryMinutes` as template.yaml deploys it (tests/simulate.rs
/// checks the template still says so).
pub const DEPLOYED_QUIET_EVERY_MINUTES: u32 = 3;
/// `MaxPerFunction` as template.yaml deploys it.
pub const DEPLOYED_MAX_PER_FUNCTION: u32 = 100;

/// The fast mode replays a function with no minute busier than
/// [`FastThresholds::exact_minute_max`] from memory, as the exact mode does,
/// when it has at most this many invocations (16 bytes each).
pub const QUIET_EXACT_MAX_INVOCATIONS: u64 = 1 << 20;

/// How arrivals are replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayMode {
    /// Minute by minute; busy seconds at once (work bounded by functions x
    /// minutes).
    #[default]
    Fast,
    /// Every invocation, one at a time (work and memory grow with invocations).
    Exact,
}

impl ReplayMode {
    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ReplayMode::Fast => "fast",
            ReplayMode::Exact => "exact",
        }
    }
}

/// The policies a simulation can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    /// On-demand only.
    NoPc,
    /// Fixed PC at the function's p99 per-second concurrency.
    StaticP99,
    /// AWS target tracking on utilisation, Average statistic.
    AwsAverage,
    /// AWS target tracking on utilisation, Maximum statistic.
    AwsMaximum,
    /// Tencent SCF dynamic provisioned concurrency.
    Tencent,
    /// Alibaba FC metric tracking.
    Alibaba,
    /// pcscale with the user's policy, through the real tick.
    Pcscale,
    /// Knows the future; zero cold starts.
    Oracle,
}

impl PolicyKind {
    /// Every policy, in table order.
    pub const ALL: [PolicyKind; 8] = [
        PolicyKind::NoPc,
        PolicyKind::StaticP99,
        PolicyKind::AwsAverage,
        PolicyKind::AwsMaximum,
        PolicyKind::Tencent,
        PolicyKind::Alibaba,
        PolicyKind::Pcscale,
        PolicyKind::Oracle,
    ];

    /// The short name used in tables, JSON and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::NoPc => "no-pc",
            PolicyKind::StaticP99 => "static-p99",
            PolicyKind::AwsAverage => "aws-tt-avg",
            PolicyKind::AwsMaximum => "aws-tt-max",
            PolicyKind::Tencent => "tencent",
            PolicyKind::Alibaba => "alibaba",
            PolicyKind::Pcscale => "pcscale",
            PolicyKind::Oracle => "oracle",
        }
    }

    /// One line about what it is.
    pub fn description(self) -> &'static str {
        match self {
            PolicyKind::NoPc => "on-demand only",
            PolicyKind::StaticP99 => "fixed PC at the function's p99 per-second concurrency",
            PolicyKind::AwsAverage => {
                "AWS target tracking, ProvisionedConcurrencyUtilization Average, target 0.7, min 1"
            }
            PolicyKind::AwsMaximum => {
                "AWS target tracking, ProvisionedConcurrencyUtilization Maximum, target 0.7, min 1"
            }
            PolicyKind::Tencent => {
                "Tencent dynamic PC: concurrency / 0.7, 10-minute scale-in window"
            }
            PolicyKind::Alibaba => {
                "Alibaba metric tracking: utilisation target 0.7, scale-in factor 0.5"
            }
            PolicyKind::Pcscale => "pcscale with the given policy, through the real tick and core",
            PolicyKind::Oracle => "knows each minute's demand in advance; zero cold starts",
        }
    }

    /// Parses a name (see [`PolicyKind::name`]).
    pub fn parse(s: &str) -> Option<PolicyKind> {
        let s = s.trim().to_ascii_lowercase();
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .or(match s.as_str() {
                "aws" => Some(PolicyKind::AwsAverage),
                "static" => Some(PolicyKind::StaticP99),
                "none" | "on-demand" => Some(PolicyKind::NoPc),
                _ => None,
            })
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The policy file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy file is not JSON.
    #[error("{path}: not JSON: {message}")]
    Json {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The policy is invalid.
    #[error("{path}: {source}")]
    Policy {
        /// The file.
        path: String,
        /// Every problem.
        #[source]
        source: InvalidPolicy,
    },
    /// An output could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Nothing to simulate.
    #[error("{0}")]
    Empty(String),
}

/// Parses a policy item given as plain JSON or DynamoDB JSON.
pub fn parse_policy_text(path: &str, text: &str) -> Result<Policy, SimError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| SimError::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    // DynamoDB JSON wraps every value in a type map: {"MinCapacity": {"N": "1"}}.
    let is_ddb = value
        .get("MinCapacity")
        .or_else(|| value.get("pk"))
        .is_some_and(|v| v.is_object());
    let value = if is_ddb {
        from_dynamodb_json(&value).map_err(|source| SimError::Policy {
            path: path.to_owned(),
            source,
        })?
    } else {
        value
    };
    parse_policy(&value).map_err(|source| SimError::Policy {
        path: path.to_owned(),
        source,
    })
}

/// The bundled example policy.
pub fn default_policy() -> Result<Policy, SimError> {
    parse_policy_text("policies/default.json (bundled)", DEFAULT_POLICY_JSON)
}

/// Reads a policy file.
pub fn load_policy(path: &Path) -> Result<Policy, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_policy_text(&path.display().to_string(), &text)
}

/// What to simulate and how.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of the arrival and duration draws.
    pub seed: u64,
    /// Only functions whose peak concurrency reaches this are evaluated.
    pub min_peak: u32,
    /// Platform and accounting parameters (its prices must be `arch`'s).
    pub platform: PlatformConfig,
    /// The price list in use, for the report.
    pub arch: pricing::Arch,
    /// The policies to run (no-PC is always run: it is the reference).
    pub policies: Vec<PolicyKind>,
    /// Only the first N functions of the trace.
    pub max_functions: Option<usize>,
    /// Only this function (trace id or Lambda name).
    pub only_function: Option<String>,
    /// Keep this function's minute-by-minute records for a plot (trace id or
    /// name; `Some("")`: the busiest function).
    pub plot_function: Option<String>,
    /// Keep every evaluated function's records (for `--timeline`).
    pub timeline: bool,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Show a progress bar on stderr when it is a terminal.
    pub progress: bool,
    /// Wall-clock time of minute 0 of the day (the trace's `start_minute` is added).
    pub epoch: DateTime<Utc>,
    /// pcscale's `PCSCALE_QUIET_EVERY_MINUTES` (1: every alias every tick).
    pub quiet_every_minutes: u32,
    /// pcscale's `PCSCALE_MAX_PER_FUNCTION` (`None`: no guard-rail).
    pub max_per_function: Option<u32>,
    /// The within-minute statistic of utilisation Alibaba tracks.
    pub alibaba_statistic: Statistic,
    /// pcscale's `PCSCALE_METRIC_DELAY_SECONDS`: the delay it assumes
    /// (CloudWatch's real one is [`PlatformConfig::metric_delay`]).
    pub pcscale_metric_delay: PublicationDelay,
    /// Fast (default) or exact replay.
    pub mode: ReplayMode,
    /// Where the fast mode switches from one invocation at a time to a
    /// second at once.
    pub fast: FastThresholds,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            min_peak: 3,
            platform: PlatformConfig::default(),
            arch: pricing::Arch::X86_64,
            policies: PolicyKind::ALL.to_vec(),
            max_functions: None,
            only_function: None,
            plot_function: None,
            timeline: false,
            threads: 0,
            progress: true,
            // The Azure 2019 trace was collected in July 2019; the day itself is not published.
            epoch: Utc
                .with_ymd_and_hms(2019, 7, 15, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            quiet_every_minutes: DEPLOYED_QUIET_EVERY_MINUTES,
            max_per_function: Some(DEPLOYED_MAX_PER_FUNCTION),
            alibaba_statistic: Statistic::Average,
            pcscale_metric_delay: PublicationDelay::default(),
            mode: ReplayMode::Fast,
            fast: FastThresholds::default(),
        }
    }
}

/// One function's results.
#[derive(Debug, Clone)]
pub struct FunctionOutcome {
    /// Position in the trace.
    pub index: usize,
    /// Trace id.
    pub id: String,
    /// Lambda name used in the resource id.
    pub name: String,
    /// Billed memory, GB.
    pub memory_gb: f64,
    /// Peak concurrency (for a function the fast mode proves below
    /// `min_peak` without replaying it, that upper bound).
    pub peak_concurrency: u32,
    /// Whether it counts in the statistics (peak >= min-peak).
    pub evaluated: bool,
    /// Per policy, in [`SimOptions::policies`] order (no-PC first).
    pub runs: Vec<(PolicyKind, RunStats)>,
    /// Minute records per policy, when kept.
    pub timelines: Option<Vec<(PolicyKind, Vec<MinuteRecord>)>>,
    /// pcscale's tick errors (invalid policy, failed calls).
    pub pcscale_errors: u64,
}

/// Runs `controller` over `workload` on a fresh platform.
pub fn run_policy(
    controller: &mut dyn Controller,
    workload: &Workload,
    cfg: &PlatformConfig,
    memory_gb: f64,
    keep_timeline: bool,
    reaction_secs: f64,
) -> (RunStats, Option<Vec<MinuteRecord>>) {
    let minutes = workload.minutes;
    let mut p = Platform::new(cfg, memory_gb, minutes, keep_timeline);
    p.set_reaction_time(reaction_secs);
    let inv = &workload.invocations;
    let period = controller.period_secs().clamp(1, 60);
    let mut i = 0;
    for m in 0..minutes {
        if m > 0 {
            p.close_minute();
        }
        controller.tick(&mut p);
        // Controllers that look more often than once a minute (Tencent).
        for k in 1..60 / period {
            let t = f64::from(m) * 60.0 + f64::from(k * period);
            while i < inv.len() && inv[i].start < t {
                p.arrive(&inv[i]);
                i += 1;
            }
            p.advance(t);
            controller.tick(&mut p);
        }
        let end = f64::from(m + 1) * 60.0;
        while i < inv.len() && inv[i].start < end {
            p.arrive(&inv[i]);
            i += 1;
        }
    }
    // Arrivals past the last full minute (exact traces) still count.
    while i < inv.len() {
        p.arrive(&inv[i]);
        i += 1;
    }
    p.close_minute();
    let (stats, _, timeline) = p.finish(f64::from(minutes) * 60.0);
    (stats, timeline)
}

/// One function's per-minute arrivals as the fast mode replays them (the
/// same for every policy: each run draws the same stream again).
#[derive(Debug, Clone, Copy)]
pub struct StreamSource<'a> {
    /// Invocations per minute.
    pub counts: &'a [u32],
    /// Their durations.
    pub dist: &'a trace::DurationDist,
    /// `dist`'s shape, when some minute needs it ([`ArrivalStream::needs_shape`]).
    pub shape: Option<&'a DurationShape>,
    /// Switch points.
    pub thresholds: FastThresholds,
    /// The simulation's seed.
    pub seed: u64,
    /// The function's trace id (mixed into the seed).
    pub id: &'a str,
}

/// What one fast run returns: the counters, the minute records when kept,
/// and the demand profile when asked for.
pub type StreamRun = (RunStats, Option<Vec<MinuteRecord>>, Option<DemandProfile>);

/// Runs each controller over `src`'s arrivals on a fresh platform of its
/// own (the fast mode's [`run_policy`]): the arrivals are made once, minute
/// by minute, and every platform replays that minute before the next is
/// made. With `profile`, the platforms also record the demand profile
/// (meaningful on a run without PC).
#[allow(clippy::too_many_arguments)]
pub fn run_policies_stream(
    controllers: &mut [&mut dyn Controller],
    src: &StreamSource<'_>,
    minutes: u32,
    cfg: &PlatformConfig,
    memory_gb: f64,
    keep_timeline: bool,
    reaction_secs: f64,
    profile: bool,
) -> Vec<StreamRun> {
    let mut platforms: Vec<Platform<'_>> = controllers
        .iter()
        .map(|_| {
            let mut p = Platform::new(cfg, memory_gb, minutes, keep_timeline);
            if profile {
                p = p.with_profile(minutes);
            }
            p.set_reaction_time(reaction_secs);
            p
        })
        .collect();
    let mut stream = ArrivalStream::new(
        src.counts,
        src.dist,
        src.shape,
        src.thresholds,
        src.seed,
        src.id,
    );
    for m in 0..minutes {
        stream.load_minute(m as usize);
        for (controller, p) in controllers.iter_mut().zip(&mut platforms) {
            let period = controller.period_secs().clamp(1, 60);
            if m > 0 {
                p.close_minute();
            }
            let mut cursor = 0;
            controller.tick(p);
            for k in 1..60 / period {
                let t = f64::from(m) * 60.0 + f64::from(k * period);
                stream.feed(p, &mut cursor, t);
                p.advance(t);
                controller.tick(p);
            }
            stream.feed(p, &mut cursor, f64::from(m + 1) * 60.0);
        }
    }
    platforms
        .into_iter()
        .map(|mut p| {
            p.close_minute();
            let (stats, _, timeline, profile) = p.finish_with_profile(f64::from(minutes) * 60.0);
            (stats, timeline, profile)
        })
        .collect()
}

/// [`run_policies_stream`] with one controller.
#[allow(clippy::too_many_arguments)]
pub fn run_policy_stream(
    controller: &mut dyn Controller,
    src: &StreamSource<'_>,
    minutes: u32,
    cfg: &PlatformConfig,
    memory_gb: f64,
    keep_timeline: bool,
    reaction_secs: f64,
    profile: bool,
) -> StreamRun {
    run_policies_stream(
        &mut [controller],
        src,
        minutes,
        cfg,
        memory_gb,
        keep_timeline,
        reaction_secs,
        profile,
    )
    .pop()
    .unwrap_or_default()
}

/// The controller of a baseline (`None` for [`PolicyKind::Pcscale`],
/// which needs a policy: see [`ports::Pcscale`]).
pub fn controller_for(
    kind: PolicyKind,
    profile: &DemandProfile,
    cfg: &PlatformConfig,
    alibaba_statistic: Statistic,
) -> Option<Box<dyn Controller>> {
    Some(match kind {
        PolicyKind::NoPc => Box::new(NoPc),
        PolicyKind::StaticP99 => Box::new(StaticPc {
            level: profile.p99_concurrency,
        }),
        PolicyKind::AwsAverage => Box::new(AwsTargetTracking::new(Statistic::Average)),
        PolicyKind::AwsMaximum => Box::new(AwsTargetTracking::new(Statistic::Maximum)),
        PolicyKind::Tencent => Box::new(Tencent::default()),
        PolicyKind::Alibaba => Box::new(Alibaba {
            statistic: alibaba_statistic,
            ..Alibaba::default()
        }),
        PolicyKind::Oracle => Box::new(Oracle::new(profile, cfg)),
        PolicyKind::Pcscale => return None,
    })
}

struct Job<'a> {
    trace: &'a Trace,
    policy: &'a Policy,
    opts: &'a SimOptions,
    kinds: Vec<PolicyKind>,
    plot_index: Option<usize>,
    epoch: DateTime<Utc>,
}

impl Job<'_> {
    fn run_one(&self, index: usize, f: &FunctionTrace) -> FunctionOutcome {
        match (&f.arrivals, self.opts.mode) {
            (Arrivals::PerMinute(counts), ReplayMode::Fast) => self.run_fast(index, f, counts),
            // Exact records are held by the loader already (bounded by
            // MAX_TRACE_INVOCATIONS): both modes replay them one by one.
            _ => self.run_exact(index, f),
        }
    }

    fn outcome(&self, index: usize, f: &FunctionTrace, peak: u32) -> (FunctionOutcome, bool) {
        let evaluated = peak >= self.opts.min_peak;
        let keep = self.opts.timeline && evaluated || self.plot_index == Some(index);
        let out = FunctionOutcome {
            index,
            id: f.id.clone(),
            name: f.name.clone(),
            memory_gb: billed_memory_gb(f.memory_mb),
            peak_concurrency: peak,
            evaluated,
            runs: Vec::new(),
            timelines: keep.then(Vec::new),
            pcscale_errors: 0,
        };
        (out, keep)
    }

    /// When a causal policy could first have PC ready: the first datapoint
    /// is seen by the first tick after CloudWatch publishes it, and the
    /// first unit of PC is usable a preparation delay after that.
    fn reaction(&self, first_active_minute: Option<u32>) -> f64 {
        let cfg = &self.opts.platform;
        first_active_minute.map_or(0.0, |m| {
            f64::from(m + cfg.metric_delay.minutes_until_seen()) * 60.0 + cfg.ready_after(1)
        })
    }

    fn run_fast(&self, index: usize, f: &FunctionTrace, counts: &[u32]) -> FunctionOutcome {
        let cfg = &self.opts.platform;
        let dist = workload::durations_of(f);
        let thresholds = self.opts.fast;
        let shape =
            ArrivalStream::needs_shape(counts, thresholds).then(|| DurationShape::of(&dist));
        let src = StreamSource {
            counts,
            dist: &dist,
            shape: shape.as_ref(),
            thresholds,
            seed: self.opts.seed,
            id: &f.id,
        };
        let minutes = self.trace.minutes;
        // No two invocations further apart than the longest duration
        // overlap: a function whose arrivals in any such window stay under
        // the threshold cannot reach it (the exact mode skips it too).
        let longest = dist.points.last().map_or(0.0, |p| p.1).max(0.001);
        let window = (longest / 60.0).ceil() as usize + 1;
        let bound = counts
            .windows(window.min(counts.len()).max(1))
            .map(|w| w.iter().map(|&n| u64::from(n)).sum::<u64>())
            .max()
            .unwrap_or(0);
        if bound < u64::from(self.opts.min_peak) && self.plot_index != Some(index) {
            let peak = u32::try_from(bound).unwrap_or(u32::MAX);
            let (out, _) = self.outcome(index, f, peak);
            if !out.evaluated {
                return out;
            }
        }
        // A quiet function (no minute served second by second, and few
        // invocations in all) gets the very invocations and demand profile
        // in both modes: replaying them from memory is the cheaper way (the
        // stream would make them once for on-demand and once more for the
        // other policies), and its memory stays bounded.
        let total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
        if shape.is_none() && total <= QUIET_EXACT_MAX_INVOCATIONS {
            return self.run_exact(index, f);
        }
        let memory_gb = billed_memory_gb(f.memory_mb);
        let reaction = self.reaction(counts.iter().position(|&n| n > 0).map(|m| m as u32));
        // On-demand only first: its run is also the demand profile.
        let keep_first = self.opts.timeline || self.plot_index == Some(index);
        let (nopc, nopc_tl, profile) = run_policy_stream(
            &mut NoPc, &src, minutes, cfg, memory_gb, keep_first, reaction, true,
        );
        let profile = profile.unwrap_or_default();
        let peak = profile.minute_peak.iter().copied().max().unwrap_or(0);
        let (mut out, keep) = self.outcome(index, f, peak);
        if !out.evaluated && !keep {
            return out;
        }
        // Every other policy on the same arrivals, made once more.
        let mut baselines: Vec<(PolicyKind, Box<dyn Controller>)> = Vec::new();
        let mut pcscale: Option<Pcscale> = None;
        for &kind in self.kinds.iter().filter(|&&k| k != PolicyKind::NoPc) {
            match controller_for(kind, &profile, cfg, self.opts.alibaba_statistic) {
                Some(ctl) => baselines.push((kind, ctl)),
                None => pcscale = Some(self.pcscale(f)),
            }
        }
        let mut runs: Vec<(PolicyKind, RunStats, Option<Vec<MinuteRecord>>)> = {
            let mut ctls: Vec<&mut dyn Controller> = Vec::new();
            let mut order = Vec::new();
            for (kind, ctl) in &mut baselines {
                order.push(*kind);
                ctls.push(ctl.as_mut());
            }
            if let Some(ctl) = &mut pcscale {
                order.push(PolicyKind::Pcscale);
                ctls.push(ctl);
            }
            let results = run_policies_stream(
                &mut ctls, &src, minutes, cfg, memory_gb, keep, reaction, false,
            );
            order
                .into_iter()
                .zip(results)
                .map(|(k, (s, tl, _))| (k, s, tl))
                .collect()
        };
        if let Some(ctl) = &pcscale {
            out.pcscale_errors += ctl.errors + ctl.failed_ticks;
        }
        runs.push((PolicyKind::NoPc, nopc, nopc_tl.filter(|_| keep)));
        for &kind in &self.kinds {
            if let Some(i) = runs.iter().position(|r| r.0 == kind) {
                let (_, stats, timeline) = runs.swap_remove(i);
                self.push_run(&mut out, kind, stats, timeline);
            }
        }
        out
    }

    fn pcscale(&self, f: &FunctionTrace) -> Pcscale {
        let mut p = self.policy.clone();
        p.resource = ResourceId {
            function: f.name.clone(),
            qualifier: self.policy.resource.qualifier.clone(),
        };
        Pcscale::new(p, self.epoch)
            .with_quiet_every_minutes(self.opts.quiet_every_minutes)
            .with_max_per_function(self.opts.max_per_function)
            .with_metric_delay(self.opts.pcscale_metric_delay)
    }

    fn push_run(
        &self,
        out: &mut FunctionOutcome,
        kind: PolicyKind,
        mut stats: RunStats,
        timeline: Option<Vec<MinuteRecord>>,
    ) {
        if matches!(kind, PolicyKind::AwsAverage | PolicyKind::AwsMaximum) {
            // Target tracking's high and low alarms, for the counted minutes.
            stats.cost.alarms += pricing::alarm_cost(
                pricing::TARGET_TRACKING_ALARMS,
                counted_minutes(self.trace, &self.opts.platform),
            );
        }
        out.runs.push((kind, stats));
        if let (Some(tls), Some(tl)) = (&mut out.timelines, timeline) {
            tls.push((kind, tl));
        }
    }

    fn run_exact(&self, index: usize, f: &FunctionTrace) -> FunctionOutcome {
        let cfg = &self.opts.platform;
        let w = workload::build(f, self.trace.minutes, self.opts.seed);
        let (mut out, keep) = self.outcome(index, f, w.peak_concurrency);
        let memory_gb = out.memory_gb;
        if !out.evaluated && !keep {
            return out;
        }
        let profile = w.profile();
        let reaction = self.reaction(profile.first_active_minute);
        for &kind in &self.kinds {
            let ctl = controller_for(kind, &profile, cfg, self.opts.alibaba_statistic);
            let (stats, timeline) = match ctl {
                Some(mut ctl) => run_policy(ctl.as_mut(), &w, cfg, memory_gb, keep, reaction),
                None => {
                    let mut ctl = self.pcscale(f);
                    let r = run_policy(&mut ctl, &w, cfg, memory_gb, keep, reaction);
                    out.pcscale_errors += ctl.errors + ctl.failed_ticks;
                    r
                }
            };
            self.push_run(&mut out, kind, stats, timeline);
        }
        out
    }
}

/// Minutes of `trace` counted in the statistics (after the warm-up).
pub fn counted_minutes(trace: &Trace, cfg: &PlatformConfig) -> f64 {
    (f64::from(trace.minutes) - cfg.warmup_secs / 60.0).max(0.0)
}

/// The outcome of a simulation, as printed and as `--output json`.
pub use report::SimReport;

/// Replays `trace` under every policy of `opts`. `on_function` sees each
/// function's outcome in trace order (to stream `--timeline` rows); the
/// report aggregates the evaluated functions.
pub fn simulate(
    trace: &Trace,
    policy: &Policy,
    opts: &SimOptions,
    mut on_function: impl FnMut(&FunctionOutcome) -> Result<(), SimError>,
) -> Result<SimReport, SimError> {
    let started = Instant::now();
    let mut selected: Vec<usize> = (0..trace.functions.len()).collect();
    if let Some(n) = opts.max_functions {
        selected.truncate(n);
    }
    if let Some(only) = &opts.only_function {
        selected.retain(|&i| {
            let f = &trace.functions[i];
            f.id == *only || f.name == *only || f.id.starts_with(only.as_str())
        });
        if selected.is_empty() {
            return Err(SimError::Empty(format!(
                "no function {only:?} in the trace"
            )));
        }
    }
    if selected.is_empty() {
        return Err(SimError::Empty("the trace has no functions".into()));
    }
    if counted_minutes(trace, &opts.platform) <= 0.0 {
        return Err(SimError::Empty(format!(
            "the trace is {} minute(s) long, no longer than the {} minute warm-up: nothing would be counted (lower --warmup or replay a longer trace)",
            trace.minutes,
            opts.platform.warmup_secs / 60.0
        )));
    }
    // The busiest function (`Some("")`) is known only after the replay: it is
    // replayed once more with its timelines kept (the same seed, the same run).
    let busiest = opts.plot_function.as_ref().is_some_and(String::is_empty);
    let plot_index = opts.plot_function.as_ref().and_then(|want| {
        (!want.is_empty())
            .then(|| {
                selected.iter().copied().find(|&i| {
                    let f = &trace.functions[i];
                    f.id == *want || f.name == *want || f.id.starts_with(want.as_str())
                })
            })
            .flatten()
    });
    if let (Some(want), None) = (&opts.plot_function, plot_index)
        && !want.is_empty()
    {
        return Err(SimError::Empty(format!("no function {want:?} to plot")));
    }
    let mut kinds = vec![PolicyKind::NoPc];
    for &k in &opts.policies {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let job = Job {
        trace,
        policy,
        opts,
        kinds: kinds.clone(),
        plot_index,
        epoch: opts.epoch + TimeDelta::minutes(i64::from(trace.start_minute)),
    };
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        opts.threads
    }
    .min(selected.len())
    .max(1);

    let bar = progress_bar(selected.len() as u64, opts.progress);
    let next = AtomicUsize::new(0);
    let mut agg = report::Aggregate::new(&kinds);
    let mut plot_outcome: Option<FunctionOutcome> = None;
    let mut busiest_index: Option<(u32, usize)> = None;
    let mut sink_error: Option<SimError> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, FunctionOutcome)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (job, next, selected) = (&job, &next, &selected);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = selected.get(k) else { break };
                    let out = job.run_one(i, &trace.functions[i]);
                    if tx.send((k, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Merge in trace order: sums of floats then do not depend on timing.
        let mut pending: BTreeMap<usize, FunctionOutcome> = BTreeMap::new();
        let mut want = 0usize;
        for (k, out) in rx {
            bar.inc(1);
            pending.insert(k, out);
            while let Some(out) = pending.remove(&want) {
                want += 1;
                if sink_error.is_none()
                    && let Err(e) = on_function(&out)
                {
                    sink_error = Some(e);
                }
                agg.add(&out);
                if busiest
                    && out.evaluated
                    && busiest_index.is_none_or(|(p, _)| out.peak_concurrency > p)
                {
                    busiest_index = Some((out.peak_concurrency, out.index));
                }
                if Some(out.index) == plot_index {
                    plot_outcome = Some(out);
                }
            }
        }
    });
    bar.finish_and_clear();
    if let Some(e) = sink_error {
        return Err(e);
    }
    if let Some((_, i)) = busiest_index {
        let again = Job {
            plot_index: Some(i),
            ..job
        };
        plot_outcome = Some(again.run_one(i, &trace.functions[i]));
    }
    let mut report = agg.into_report(trace, opts, &kinds, policy);
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.threads = threads;
    report.plot = plot_outcome.map(|o| report::PlotData::from_outcome(&o, trace));
    Ok(report)
}

fn progress_bar(len: u64, wanted: bool) -> indicatif::ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() || len < 50 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "simulating {bar:40} {pos}/{len} functions ({elapsed})",
    ) {
        bar.set_style(style);
    }
    bar
}

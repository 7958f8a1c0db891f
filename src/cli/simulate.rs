//! `pcscale simulate [--trace FILE] [--policy FILE] [--compare all]
//! [--plot FILE.svg] [--cost-plot FILE.svg] [--frontier T1,T2,...]
//! [--timeline FILE.csv] [--from-cloudwatch RESOURCE... [--days N]]`
//! (DESIGN.md §4): with no
//! arguments it runs the bundled real trace (one day of 1350 Azure
//! functions) with the bundled example policy and prints the comparison of
//! pcscale with on-demand only, static PC, AWS target tracking, Tencent,
//! Alibaba and an oracle. No AWS account is needed: pcscale's policy runs
//! through the same tick as the Lambda, against a simulated Lambda,
//! CloudWatch and DynamoDB (see [`crate::sim`]). `--from-cloudwatch`
//! replays the aliases' own CloudWatch history instead (`from_cloudwatch`,
//! in builds with the `aws` feature).

use std::path::PathBuf;

use super::fetched::{FetchedTrace, sim_error};
use super::{CliError, Exit, GlobalOpts, OutputFormat, print_json, print_line};
use crate::core::policy::Policy;
use crate::core::window::{
    DEFAULT_PUBLICATION_DELAY_SECS, MAX_PUBLICATION_DELAY_SECS, PublicationDelay,
};
use crate::sim::baselines::Statistic;
use crate::sim::platform::PlatformConfig;
use crate::sim::pricing::{Arch, PcRounding, Prices};
use crate::sim::report::{FrontierPoint, TimelineWriter};
use crate::sim::trace::{Companions, Trace};
use crate::sim::{self, FunctionOutcome, PolicyKind, ReplayMode, SimOptions};

/// Arguments of `pcscale simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Demand trace to replay: Azure 2019 per-minute counts (with `_run.csv`
    /// and `_mem.csv` beside it), Azure 2021 per-invocation records, or a
    /// `timestamp,concurrency` CSV (default: the bundled real trace).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Replay these aliases' own last `--days` of CloudWatch history
    /// (`Invocations`, `Duration`, memory from `GetFunctionConfiguration`)
    /// instead of a trace: `function:NAME:ALIAS`, `NAME:ALIAS` or the ARN.
    /// Adds a `current` row: each alias under its policy in `--table`.
    #[arg(long, value_name = "RESOURCE", num_args = 1..,
          conflicts_with_all = ["trace", "durations", "memory", "memory_mb", "duration"])]
    pub from_cloudwatch: Vec<String>,
    /// Days of history `--from-cloudwatch` fetches (default 14; at most 15:
    /// CloudWatch keeps 1-minute data 15 days).
    #[arg(long, value_name = "N", requires = "from_cloudwatch")]
    pub days: Option<u32>,
    /// Duration percentiles for an Azure 2019 trace (default: `<stem>_run.csv` beside it).
    #[arg(long, value_name = "FILE")]
    pub durations: Option<PathBuf>,
    /// Memory percentiles for an Azure 2019 trace (default: `<stem>_mem.csv` beside it).
    #[arg(long, value_name = "FILE")]
    pub memory: Option<PathBuf>,
    /// `timestamp,concurrency` CSV: the function's memory in MB (default 1024).
    #[arg(long, value_name = "MB")]
    pub memory_mb: Option<f64>,
    /// `timestamp,concurrency` CSV: replay each unit of concurrency as
    /// back-to-back invocations of this many seconds (default: one
    /// invocation lasting until the next row).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Policy item, plain or DynamoDB JSON; its function name is replaced by
    /// each simulated function's (default: the bundled example policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Which policies to compare: `all` (the default), `none` (pcscale only)
    /// or a comma-separated list of no-pc, static-p99, aws-tt-avg,
    /// aws-tt-max, tencent, alibaba, pcscale, oracle. On-demand only is
    /// always run: it is the reference.
    #[arg(long, value_name = "WHAT", default_value = "all")]
    pub compare: String,
    /// Write an SVG plot of demand and each policy's PC for one function.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write an SVG chart of every policy's cost against its cold starts
    /// (with pcscale's frontier as a line when `--frontier` is given).
    #[arg(long, value_name = "FILE.svg")]
    pub cost_plot: Option<PathBuf>,
    /// Also run pcscale with its policy's `ColdStarts.MinColdStartsPerInstanceHour`
    /// at each of these values (comma-separated; one price whatever the
    /// function's memory, `DollarsPerColdStart` removed) and report the frontier.
    #[arg(long, value_name = "T1,T2,...", value_delimiter = ',')]
    pub frontier: Vec<f64>,
    /// The function to plot (trace id, a prefix of it, or name; default: the
    /// busiest, by peak concurrency).
    #[arg(long, value_name = "HASH")]
    pub function: Option<String>,
    /// Write the minute-by-minute timeline of every evaluated function as CSV.
    #[arg(long, value_name = "FILE.csv")]
    pub timeline: Option<PathBuf>,
    /// Seed of the arrival-time and duration draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Evaluate only functions whose peak concurrency reaches this (default
    /// 3; 1 with `--from-cloudwatch`: the aliases were named).
    #[arg(long, value_name = "N")]
    pub min_peak: Option<u32>,
    /// Seconds an idle on-demand environment stays warm (AWS does not document it).
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub keep_alive: f64,
    /// Seconds before a PC increase can be used (then allocation at 6,000 a minute).
    #[arg(long, value_name = "SECS", default_value_t = 90.0)]
    pub prep_delay: f64,
    /// Seconds after a minute ends until the simulated CloudWatch publishes
    /// its datapoints (AWS: one to three minutes). Every policy that reads
    /// CloudWatch sees a minute only from then on.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_PUBLICATION_DELAY_SECS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_PUBLICATION_DELAY_SECS)))]
    pub metric_delay: u32,
    /// The same publication delay in whole minutes (1, 2, 3); overrides --metric-delay.
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(0..=15))]
    pub metric_lag: Option<u32>,
    /// The delay pcscale assumes (`PCSCALE_METRIC_DELAY_SECONDS`, as deployed):
    /// newer minutes without a datapoint are not yet published, not idle.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_PUBLICATION_DELAY_SECS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_PUBLICATION_DELAY_SECS)))]
    pub pcscale_metric_delay: u32,
    /// Minutes excluded from the statistics at the start of the trace.
    #[arg(long, value_name = "MINUTES", default_value_t = 30.0)]
    pub warmup: f64,
    /// Price list: x86_64 or arm64 (us-east-1).
    #[arg(long, default_value = "x86_64")]
    pub arch: Arch,
    /// PC billing: none (per second) or 5min (each period rounded up to 5 minutes).
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub billing_rounding: PcRounding,
    /// Only the first N functions of the trace.
    #[arg(long, value_name = "N")]
    pub functions: Option<usize>,
    /// Only the function with this id (or id prefix, or name).
    #[arg(long, value_name = "HASH")]
    pub only: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// pcscale decides quiet aliases only every N minutes
    /// (`PCSCALE_QUIET_EVERY_MINUTES`; default: template.yaml's `QuietEveryMinutes`; 1: every tick).
    #[arg(long, value_name = "N", default_value_t = sim::DEPLOYED_QUIET_EVERY_MINUTES, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub quiet_every: u32,
    /// The most PC pcscale sets on one alias (`PCSCALE_MAX_PER_FUNCTION`;
    /// default: template.yaml's `MaxPerFunction`).
    #[arg(long, value_name = "N", default_value_t = sim::DEPLOYED_MAX_PER_FUNCTION, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_function: u32,
    /// Replay every invocation one at a time (the reference; work and memory
    /// grow with invocations) instead of the fast mode, which serves a busy
    /// second's arrivals at once (work grows with functions x minutes).
    #[arg(long)]
    pub exact: bool,
    /// The within-minute statistic of utilisation Alibaba tracks: average or maximum.
    #[arg(long, value_name = "STAT", default_value = "average", value_parser = parse_statistic)]
    pub alibaba_statistic: Statistic,
}

/// Parses `--alibaba-statistic`.
pub fn parse_statistic(s: &str) -> Result<Statistic, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "average" | "avg" => Ok(Statistic::Average),
        "maximum" | "max" => Ok(Statistic::Maximum),
        other => Err(format!(
            "unknown statistic {other:?}: use average or maximum"
        )),
    }
}

/// Parses `--compare`.
pub fn parse_compare(s: &str) -> Result<Vec<PolicyKind>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "all" | "" => return Ok(PolicyKind::ALL.to_vec()),
        "none" => return Ok(vec![PolicyKind::Pcscale]),
        _ => {}
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let k = PolicyKind::parse(part).ok_or_else(|| {
            format!(
                "--compare: unknown policy {part:?}; use all, none or a list of {}",
                PolicyKind::ALL.map(PolicyKind::name).join(", ")
            )
        })?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::InvalidInput(e.to_string())
}

/// A publication delay flag's value (already range-checked by clap).
fn delay(secs: u32) -> Result<PublicationDelay, CliError> {
    PublicationDelay::from_secs(u64::from(secs)).map_err(invalid)
}

#[cfg(feature = "aws")]
async fn fetch_from_cloudwatch(
    args: &SimulateArgs,
    global: &GlobalOpts,
) -> Result<(Trace, Box<dyn FetchedTrace>), CliError> {
    let (trace, fetched) =
        super::from_cloudwatch::fetch(&args.from_cloudwatch, args.days, global).await?;
    Ok((trace, Box::new(fetched)))
}

#[cfg(not(feature = "aws"))]
async fn fetch_from_cloudwatch(
    _args: &SimulateArgs,
    _global: &GlobalOpts,
) -> Result<(Trace, Box<dyn FetchedTrace>), CliError> {
    Err(CliError::Other(
        "--from-cloudwatch reads CloudWatch and Lambda, and this pcscale was built without AWS \
         support (`--no-default-features`: traces only); build the full CLI with \
         `cargo install --path .` or `cargo run --release -- simulate --from-cloudwatch ...`"
            .into(),
    ))
}

/// Runs `pcscale simulate`.
pub async fn run(args: &SimulateArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let policies = parse_compare(&args.compare).map_err(invalid)?;
    if let Some(t) = args.frontier.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
        return Err(invalid(format!(
            "--frontier {t}: each value must be a positive number of cold starts per instance-hour"
        )));
    }
    if !(args.keep_alive >= 0.0 && args.prep_delay >= 0.0 && args.warmup >= 0.0) {
        return Err(invalid(
            "--keep-alive, --prep-delay and --warmup must be non-negative",
        ));
    }
    if let Some(mb) = args.memory_mb
        && !(128.0..=10_240.0).contains(&mb)
    {
        return Err(invalid(format!(
            "--memory-mb {mb}: Lambda memory is 128 to 10240 MB"
        )));
    }
    if let Some(d) = args.duration
        && !(d > 0.0 && d <= 900.0)
    {
        return Err(invalid(format!(
            "--duration {d}: an invocation lasts more than 0 and at most 900 s"
        )));
    }
    let fetched = if args.from_cloudwatch.is_empty() {
        None
    } else {
        Some(fetch_from_cloudwatch(args, global).await?)
    };
    let (trace, fetched) = match fetched {
        Some((trace, f)) => (trace, Some(f)),
        None => (load_trace(args)?, None),
    };
    // What the loader had to assume changes the numbers: say it on stderr
    // whatever the output format (JSON keeps it in `notes` too).
    for n in &trace.notes {
        eprintln!("pcscale simulate: assumed: {n}");
    }
    let policy = match &args.policy {
        // Bounded like every policy file the CLI reads (`--policy /dev/zero`
        // would otherwise read until memory runs out).
        Some(p) => sim::parse_policy_text(&p.display().to_string(), &super::read_input(p)?),
        None => sim::default_policy(),
    }
    .map_err(sim_error)?;

    let defaults = SimOptions::default();
    let opts = SimOptions {
        seed: args.seed,
        min_peak: args
            .min_peak
            .unwrap_or_else(|| fetched.as_ref().map_or(3, |f| f.min_peak())),
        epoch: fetched.as_ref().map_or(defaults.epoch, |f| f.epoch()),
        platform: PlatformConfig {
            prep_delay_secs: args.prep_delay,
            keep_alive_secs: args.keep_alive,
            metric_delay: delay(args.metric_lag.map_or(args.metric_delay, |m| m * 60))?,
            warmup_secs: args.warmup * 60.0,
            rounding: args.billing_rounding,
            prices: Prices::us_east_1(args.arch),
            ..PlatformConfig::default()
        },
        arch: args.arch,
        policies,
        max_functions: args.functions,
        only_function: args.only.clone(),
        plot_function: args
            .plot
            .as_ref()
            .map(|_| args.function.clone().unwrap_or_default()),
        timeline: args.timeline.is_some(),
        threads: args.threads,
        progress: true,
        quiet_every_minutes: args.quiet_every,
        max_per_function: Some(args.max_per_function),
        alibaba_statistic: args.alibaba_statistic,
        pcscale_metric_delay: delay(args.pcscale_metric_delay)?,
        mode: if args.exact {
            ReplayMode::Exact
        } else {
            ReplayMode::Fast
        },
        ..defaults
    };

    let mut writer = match &args.timeline {
        Some(path) => {
            let mut kinds = vec![PolicyKind::NoPc];
            kinds.extend(opts.policies.iter().filter(|k| **k != PolicyKind::NoPc));
            Some(TimelineWriter::create(path, &kinds, trace.start_minute).map_err(sim_error)?)
        }
        None => None,
    };
    // `--from-cloudwatch` adds rows from every function's outcome (without
    // its timelines: the writer has them).
    let mut outcomes: Vec<FunctionOutcome> = Vec::new();
    let report = sim::simulate(&trace, &policy, &opts, |out| {
        if fetched.is_some() {
            outcomes.push(FunctionOutcome {
                id: out.id.clone(),
                name: out.name.clone(),
                runs: out.runs.clone(),
                timelines: None,
                ..*out
            });
        }
        match &mut writer {
            Some(w) => w.write(out),
            None => Ok(()),
        }
    })
    .map_err(sim_error)?;
    if let Some(w) = writer {
        w.finish().map_err(sim_error)?;
    }
    let mut report = report;
    if let Some(f) = &fetched {
        f.finish(&mut report, &trace, &opts, &outcomes)?;
    }
    for &t in &args.frontier {
        report
            .frontier
            .push(frontier_point(&trace, &policy, &opts, t)?);
    }
    if let Some(path) = &args.cost_plot {
        sim::plot::write_cost_svg(path, &report).map_err(sim_error)?;
    }
    if let (Some(path), Some(data)) = (&args.plot, &report.plot) {
        sim::plot::write_svg(path, data).map_err(sim_error)?;
    }

    match global.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&report)
                .map_err(|e| CliError::Other(format!("cannot render JSON: {e}")))?;
            if let (Some(f), Some(map)) = (&fetched, value.as_object_mut()) {
                map.insert("cloudwatch".into(), f.json());
            }
            print_json(&value)?;
        }
        OutputFormat::Text => {
            if let Some(f) = &fetched {
                print_line(&f.lines().join("\n"))?;
            }
            print_line(report.to_text().trim_end())?;
            if let (Some(path), Some(data)) = (&args.plot, &report.plot) {
                print_line(&format!(
                    "Plot of function {} written to {}",
                    data.function,
                    path.display()
                ))?;
            }
            if let Some(path) = &args.timeline {
                print_line(&format!("Timeline written to {}", path.display()))?;
            }
            if let Some(path) = &args.cost_plot {
                print_line(&format!("Cost chart written to {}", path.display()))?;
            }
        }
    }
    Ok(Exit::Success)
}

/// The trace of `--trace` (default: the bundled day).
fn load_trace(args: &SimulateArgs) -> Result<Trace, CliError> {
    match &args.trace {
        Some(path) => Trace::load(
            path,
            &Companions {
                durations: args.durations.clone(),
                memory: args.memory.clone(),
                memory_mb: args.memory_mb,
                duration_secs: args.duration,
            },
        ),
        None => Trace::bundled(),
    }
    .map_err(|e| sim_error(e.into()))
}

/// pcscale alone with its knob at `t`, on the same trace and options.
fn frontier_point(
    trace: &Trace,
    policy: &Policy,
    opts: &SimOptions,
    t: f64,
) -> Result<FrontierPoint, CliError> {
    let mut p = policy.clone();
    let Some(cs) = p
        .target_tracking
        .as_mut()
        .and_then(|tt| tt.cold_starts.as_mut())
    else {
        return Err(invalid(
            "--frontier sweeps TargetTracking.ColdStarts.MinColdStartsPerInstanceHour: the policy has no ColdStarts",
        ));
    };
    // One price whatever the memory (MinColdStartsPerInstanceHour alone
    // overrides DollarsPerColdStart's pricing by memory).
    cs.dollars_per_cold_start = None;
    cs.min_per_instance_hour = Some(t);
    let o = SimOptions {
        policies: vec![PolicyKind::Pcscale],
        plot_function: None,
        timeline: false,
        ..opts.clone()
    };
    let r = sim::simulate(trace, &p, &o, |_| Ok(())).map_err(sim_error)?;
    let row = r
        .policies
        .iter()
        .find(|r| r.policy == PolicyKind::Pcscale.name())
        .ok_or_else(|| CliError::Other("the frontier run has no pcscale row".into()))?;
    Ok(FrontierPoint {
        min_cold_starts_per_instance_hour: t,
        cold_starts: row.cold_starts,
        cost_total: row.cost_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_accepts_all_none_and_lists() {
        assert_eq!(parse_compare("all").map(|v| v.len()), Ok(8));
        assert_eq!(parse_compare("none"), Ok(vec![PolicyKind::Pcscale]));
        assert_eq!(
            parse_compare("aws-tt-avg,tencent"),
            Ok(vec![PolicyKind::AwsAverage, PolicyKind::Tencent])
        );
        assert!(parse_compare("aws,bogus").is_err());
    }
}

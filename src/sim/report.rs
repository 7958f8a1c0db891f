//! The comparison report: aggregation over functions, the text table,
//! `--output json` (the same numbers), the `--timeline` CSV and the data
//! behind `--plot`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::platform::{MinuteRecord, RunStats};
use super::pricing::{self, Arch, ControllerUsage, Cost, PcRounding};
use super::trace::{Trace, TraceFormat};
use super::{FunctionOutcome, PolicyKind, SimError, SimOptions};
use crate::core::policy::Policy;

/// One policy's line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRow {
    /// Short name (`no-pc`, `aws-tt-avg`, `pcscale`, ...).
    pub policy: String,
    /// What it is.
    pub description: String,
    /// Invocations counted (after the warm-up window).
    pub invocations: u64,
    /// Invocations served by provisioned concurrency.
    pub on_pc: u64,
    /// Invocations not served by provisioned concurrency.
    pub spill_over: u64,
    /// Of those, served by a warm on-demand environment.
    pub warm_on_demand: u64,
    /// Of those, cold starts: the headline.
    pub cold_starts: u64,
    /// `cold_starts / invocations`.
    pub cold_start_share: f64,
    /// Cold starts avoided versus on-demand only (negative: more).
    pub avoided_cold_starts: i64,
    /// Extra dollars versus on-demand only per avoided cold start (`None`
    /// when none were avoided).
    pub dollars_per_avoided_cold_start: Option<f64>,
    /// PC configured (billed), GB-s.
    pub pc_gb_s: f64,
    /// PC configured but not serving, GB-s.
    pub pc_idle_gb_s: f64,
    /// Dollars by component.
    pub cost: Cost,
    /// Dollars in total (PC + duration + on-demand duration + requests).
    pub cost_total: f64,
    /// `cost_total` divided by on-demand only's.
    pub cost_vs_on_demand: f64,
    /// `Put`/`DeleteProvisionedConcurrencyConfig` calls.
    pub lambda_write_calls: u64,
    /// Lambda read calls (pcscale's `GetProvisionedConcurrencyConfig` and limits).
    pub lambda_read_calls: u64,
    /// pcscale only: resources reported in error by its ticks.
    pub errors: u64,
    /// pcscale only: what its controller used (metrics requested, Lambda
    /// calls, DynamoDB bytes and units), behind `cost.controller`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub controller_usage: Option<ControllerUsage>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Which trace.
    pub trace: String,
    /// Its layout.
    pub format: TraceFormat,
    /// Its length.
    pub minutes: u32,
    /// Functions in the trace.
    pub functions_in_trace: usize,
    /// Functions selected (`--functions`, `--function`).
    pub functions_selected: usize,
    /// Functions evaluated (peak concurrency >= `min_peak`).
    pub functions_evaluated: usize,
    /// The evaluation threshold.
    pub min_peak: u32,
    /// Seed of the draws.
    pub seed: u64,
    /// Price list.
    pub arch: Arch,
    /// Warm on-demand environment lifetime, seconds.
    pub keep_alive_secs: f64,
    /// PC preparation delay, seconds.
    pub prep_delay_secs: f64,
    /// Seconds after a minute ends until CloudWatch publishes it.
    pub metric_delay_secs: u32,
    /// Excluded from the statistics, minutes.
    pub warmup_minutes: f64,
    /// PC billing.
    pub billing_rounding: PcRounding,
    /// Cold starts of on-demand only that no causal policy could avoid:
    /// before a function's first activity could be seen and acted on (first
    /// active minute + metric publication delay + preparation delay).
    pub unavoidable_cold_starts: u64,
    /// pcscale's policy as simulated (placeholder resource).
    pub pcscale_policy: serde_json::Value,
    /// One row per policy.
    pub policies: Vec<PolicyRow>,
    /// What the loader assumed.
    pub notes: Vec<String>,
    /// Wall time of the replay.
    pub elapsed_ms: u64,
    /// Worker threads used.
    pub threads: usize,
    /// How arrivals were replayed.
    #[serde(default)]
    pub mode: super::ReplayMode,
    /// pcscale's frontier (`--frontier`): one point per knob value.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub frontier: Vec<FrontierPoint>,
    /// The plotted function's series (not serialised).
    #[serde(skip)]
    pub plot: Option<PlotData>,
}

/// Sums per policy while outcomes stream in.
#[derive(Debug)]
pub struct Aggregate {
    kinds: Vec<PolicyKind>,
    stats: Vec<RunStats>,
    errors: u64,
    selected: usize,
    evaluated: usize,
}

impl Aggregate {
    /// Empty sums for `kinds`.
    pub fn new(kinds: &[PolicyKind]) -> Self {
        Aggregate {
            kinds: kinds.to_vec(),
            stats: vec![RunStats::default(); kinds.len()],
            errors: 0,
            selected: 0,
            evaluated: 0,
        }
    }

    /// Adds one function (only evaluated functions count in the sums).
    pub fn add(&mut self, out: &FunctionOutcome) {
        self.selected += 1;
        if !out.evaluated {
            return;
        }
        self.evaluated += 1;
        self.errors += out.pcscale_errors;
        for (kind, s) in &out.runs {
            if let Some(k) = self.kinds.iter().position(|x| x == kind) {
                self.stats[k].add(s);
            }
        }
    }

    /// The report.
    pub fn into_report(
        self,
        trace: &Trace,
        opts: &SimOptions,
        kinds: &[PolicyKind],
        policy: &Policy,
    ) -> SimReport {
        let base = kinds
            .iter()
            .position(|&k| k == PolicyKind::NoPc)
            .map(|i| self.stats[i])
            .unwrap_or_default();
        let base_cost = base.cost.total();
        let minutes = super::counted_minutes(trace, &opts.platform);
        let policies = kinds
            .iter()
            .zip(&self.stats)
            .map(|(&kind, s)| {
                let mut s = *s;
                if kind == PolicyKind::Pcscale && self.evaluated > 0 {
                    // One controller for the whole fleet: its invocations,
                    // their base time and its two alarms.
                    s.cost.controller += pricing::controller_fixed_cost(minutes);
                    s.cost.alarms += pricing::alarm_cost(pricing::CONTROLLER_ALARMS, minutes);
                }
                let avoided = base.cold as i64 - s.cold as i64;
                let extra = s.cost.total() - base_cost;
                PolicyRow {
                    policy: kind.name().to_owned(),
                    description: kind.description().to_owned(),
                    invocations: s.invocations,
                    on_pc: s.on_pc,
                    spill_over: s.spill(),
                    warm_on_demand: s.warm_on_demand,
                    cold_starts: s.cold,
                    cold_start_share: ratio(s.cold as f64, s.invocations as f64),
                    avoided_cold_starts: avoided,
                    dollars_per_avoided_cold_start: (avoided > 0).then(|| extra / avoided as f64),
                    pc_gb_s: s.pc_gb_s,
                    pc_idle_gb_s: (s.pc_gb_s - s.pc_busy_gb_s).max(0.0),
                    cost: s.cost,
                    cost_total: s.cost.total(),
                    cost_vs_on_demand: ratio(s.cost.total(), base_cost),
                    lambda_write_calls: s.lambda_writes,
                    lambda_read_calls: s.lambda_reads,
                    errors: if kind == PolicyKind::Pcscale {
                        self.errors
                    } else {
                        0
                    },
                    controller_usage: (kind == PolicyKind::Pcscale).then_some(s.controller),
                }
            })
            .collect();
        let cfg = &opts.platform;
        SimReport {
            trace: trace.name.clone(),
            format: trace.format,
            minutes: trace.minutes,
            functions_in_trace: trace.functions.len(),
            functions_selected: self.selected,
            functions_evaluated: self.evaluated,
            min_peak: opts.min_peak,
            seed: opts.seed,
            arch: opts.arch,
            keep_alive_secs: cfg.keep_alive_secs,
            prep_delay_secs: cfg.prep_delay_secs,
            metric_delay_secs: cfg.metric_delay.secs(),
            warmup_minutes: cfg.warmup_secs / 60.0,
            billing_rounding: cfg.rounding,
            unavoidable_cold_starts: base.cold_unavoidable,
            pcscale_policy: serde_json::to_value(policy).unwrap_or(serde_json::Value::Null),
            policies,
            notes: trace.notes.clone(),
            elapsed_ms: 0,
            threads: 0,
            mode: opts.mode,
            frontier: Vec::new(),
            plot: None,
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn money(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else if a >= 0.01 {
        format!("{v:.4}")
    } else {
        format!("{v:.6}")
    }
}

fn thousands(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl SimReport {
    /// The human-readable comparison.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let cfg_line = format!(
            "seed {}, {}, keep-alive {} s, PC preparation {} s, metric delay {} s, first {} min excluded, PC billing {}",
            self.seed,
            self.arch,
            self.keep_alive_secs,
            self.prep_delay_secs,
            self.metric_delay_secs,
            self.warmup_minutes,
            match self.billing_rounding {
                PcRounding::None => "per second",
                PcRounding::FiveMinutes => "rounded up to 5 min",
            }
        );
        s.push_str(&format!(
            "Trace: {} ({} minutes)\n",
            self.trace, self.minutes
        ));
        s.push_str(&format!(
            "Functions: {} of {} selected have a peak concurrency >= {} and are evaluated\n",
            self.functions_evaluated, self.functions_selected, self.min_peak
        ));
        s.push_str(&format!("Settings: {cfg_line}\n\n"));
        let header = [
            "policy",
            "invocations",
            "spill-over",
            "cold starts",
            "cold %",
            "$/avoided cold",
            "PC GB-s",
            "PC idle GB-s",
            "controller $",
            "alarms $",
            "cost $",
            "vs on-demand",
            "API calls",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
        for r in &self.policies {
            rows.push(vec![
                r.policy.clone(),
                r.invocations.to_string(),
                r.spill_over.to_string(),
                r.cold_starts.to_string(),
                format!("{:.3}", r.cold_start_share * 100.0),
                r.dollars_per_avoided_cold_start
                    .map_or_else(|| "-".to_owned(), money),
                thousands(r.pc_gb_s),
                thousands(r.pc_idle_gb_s),
                money(r.cost.controller),
                money(r.cost.alarms),
                money(r.cost_total),
                format!("{:.3}x", r.cost_vs_on_demand),
                r.lambda_write_calls.to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        for (i, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if c == 0 {
                        format!("{v:<w$}", w = widths[c])
                    } else {
                        format!("{v:>w$}", w = widths[c])
                    }
                })
                .collect();
            s.push_str(line.join("  ").trim_end());
            s.push('\n');
            if i == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                s.push_str(&"-".repeat(total));
                s.push('\n');
            }
        }
        let base_cold = self
            .policies
            .iter()
            .find(|r| r.policy == PolicyKind::NoPc.name())
            .map_or(0, |r| r.cold_starts);
        s.push('\n');
        s.push_str(&format!(
            "Unavoidable cold starts: {} of on-demand's {} happen before any causal policy could react to a function's first activity (reported in every row).\n",
            self.unavoidable_cold_starts, base_cold
        ));
        s.push_str(
            "Spill-over = invocations not served by PC; they reuse a warm on-demand environment or start cold.\n\
             $/avoided cold = (cost - on-demand cost) / (on-demand cold starts - cold starts). API calls = Put/Delete PC config.\n\
             controller $ = pcscale's own AWS bill: GetMetricData metrics as the tick requests them, the controller Lambda (arm64, 256 MB, one tick a minute), DynamoDB on-demand scans of the policy table and writes (activity goes to its own table, which the tick never reads).\n\
             alarms $ = CloudWatch alarms at $0.10 per alarm-month: 2 per AWS target-tracking target, 2 for pcscale's controller. Tencent's and Alibaba's autoscaling are free on their platforms.\n",
        );
        if let Some(p) = self.policies.iter().find(|r| r.policy == "pcscale")
            && p.errors > 0
        {
            s.push_str(&format!(
                "pcscale reported {} resource error(s) during the replay (see --output json).\n",
                p.errors
            ));
        }
        if !self.frontier.is_empty() {
            s.push_str(
                "\npcscale's frontier (--frontier: ColdStarts.MinColdStartsPerInstanceHour):\n",
            );
            for f in &self.frontier {
                s.push_str(&format!(
                    "  {:>6}  {:>8} cold starts  ${}\n",
                    f.min_cold_starts_per_instance_hour,
                    f.cold_starts,
                    money(f.cost_total)
                ));
            }
        }
        for n in &self.notes {
            s.push_str(&format!("Assumed: {n}\n"));
        }
        s.push_str(&format!(
            "Replayed in {:.2} s on {} thread(s), {} mode{}.\n",
            self.elapsed_ms as f64 / 1000.0,
            self.threads,
            self.mode.name(),
            match self.mode {
                super::ReplayMode::Fast => " (--exact: every invocation one by one)",
                super::ReplayMode::Exact => "",
            }
        ));
        s
    }
}

/// Streams `--timeline` rows: one row per function and minute, one group of
/// columns per policy. Minutes where nothing ran and no policy held PC are
/// left out (they carry no information and would dominate the file).
pub struct TimelineWriter {
    path: String,
    out: csv::Writer<std::io::BufWriter<std::fs::File>>,
    kinds: Vec<PolicyKind>,
    start_minute: u32,
}

impl TimelineWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, kinds: &[PolicyKind], start_minute: u32) -> Result<Self, SimError> {
        let name = path.display().to_string();
        let file = std::fs::File::create(path).map_err(|e| SimError::Write {
            path: name.clone(),
            message: e.to_string(),
        })?;
        let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let mut header = vec![
            "function".to_owned(),
            "minute".to_owned(),
            "time".to_owned(),
            "invocations".to_owned(),
            "concurrency_max".to_owned(),
        ];
        for k in kinds {
            for col in ["pc_requested", "pc_usable", "spill", "cold"] {
                header.push(format!("{}_{col}", k.name()));
            }
        }
        out.write_record(&header).map_err(|e| SimError::Write {
            path: name.clone(),
            message: e.to_string(),
        })?;
        Ok(TimelineWriter {
            path: name,
            out,
            kinds: kinds.to_vec(),
            start_minute,
        })
    }

    /// Writes one function's rows (if it was evaluated).
    pub fn write(&mut self, o: &FunctionOutcome) -> Result<(), SimError> {
        let Some(tls) = &o.timelines else {
            return Ok(());
        };
        if !o.evaluated {
            return Ok(());
        }
        let series: Vec<&[MinuteRecord]> = self
            .kinds
            .iter()
            .filter_map(|k| {
                tls.iter()
                    .find(|(kk, _)| kk == k)
                    .map(|(_, v)| v.as_slice())
            })
            .collect();
        let Some(base) = series.first() else {
            return Ok(());
        };
        let err = |e: csv::Error| SimError::Write {
            path: self.path.clone(),
            message: e.to_string(),
        };
        for (m, b) in base.iter().enumerate() {
            let idle = b.invocations == 0
                && b.concurrency_max == 0
                && series
                    .iter()
                    .all(|s| s.get(m).is_none_or(|r| r.pc_requested == 0));
            if idle {
                continue;
            }
            let abs = (self.start_minute as usize + m) % 1440;
            let mut row = vec![
                o.id.clone(),
                m.to_string(),
                format!("{:02}:{:02}", abs / 60, abs % 60),
                b.invocations.to_string(),
                b.concurrency_max.to_string(),
            ];
            for s in &series {
                let r = s.get(m).copied().unwrap_or_default();
                row.push(r.pc_requested.to_string());
                row.push(r.pc_usable.to_string());
                row.push(r.spill.to_string());
                row.push(r.cold.to_string());
            }
            self.out.write_record(&row).map_err(err)?;
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), SimError> {
        self.out.flush().map_err(|e| SimError::Write {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

/// One policy's panel of `--plot`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSeries {
    /// Policy name.
    pub name: String,
    /// Usable PC per minute.
    pub pc: Vec<u32>,
    /// Cold starts per minute.
    pub cold_per_minute: Vec<u32>,
    /// Cold starts counted (after the warm-up).
    pub cold: u64,
    /// This function's cost under the policy, dollars.
    pub cost: f64,
}

/// The series behind `--plot`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotData {
    /// Trace id of the function.
    pub function: String,
    /// Its peak concurrency.
    pub peak_concurrency: u32,
    /// Minute of the day of minute 0.
    pub start_minute: u32,
    /// Peak concurrency per minute.
    pub demand: Vec<u32>,
    /// One panel per policy, on-demand only included.
    pub policies: Vec<PlotSeries>,
}

impl PlotData {
    /// From a function whose timelines were kept.
    pub fn from_outcome(o: &FunctionOutcome, trace: &Trace) -> PlotData {
        let tls = o.timelines.clone().unwrap_or_default();
        let demand = tls
            .first()
            .map(|(_, v)| v.iter().map(|r| r.concurrency_max).collect())
            .unwrap_or_default();
        let policies = tls
            .iter()
            .map(|(k, v)| {
                let run = o.runs.iter().find(|(kk, _)| kk == k).map(|(_, s)| s);
                PlotSeries {
                    name: k.name().to_owned(),
                    pc: v.iter().map(|r| r.pc_usable).collect(),
                    cold_per_minute: v.iter().map(|r| r.cold).collect(),
                    cold: run.map_or(0, |s| s.cold),
                    cost: run.map_or(0.0, |s| s.cost.total()),
                }
            })
            .collect();
        PlotData {
            function: o.id.clone(),
            peak_concurrency: o.peak_concurrency,
            start_minute: trace.start_minute,
            demand,
            policies,
        }
    }
}

/// One point of `--frontier`: pcscale with its knob at `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// `ColdStarts.MinColdStartsPerInstanceHour`.
    pub min_cold_starts_per_instance_hour: f64,
    /// Cold starts counted.
    pub cold_starts: u64,
    /// Dollars in total, the controller's and alarms' included.
    pub cost_total: f64,
}

//! `pcscale simulate --from-cloudwatch RESOURCE... [--days N]` (DESIGN.md
//! §4): the aliases' own last N days from CloudWatch
//! ([`crate::aws::history_fetch`]) replayed under every policy, plus a
//! `current` row: each alias under the policy stored for it in the pcscale
//! table, if any.
//!
//! The CLI runs with the user's credentials: `cloudwatch:GetMetricData`,
//! `lambda:GetAlias`, `lambda:GetFunctionConfiguration` and, for the `current` row,
//! `dynamodb:GetItem` on the table (optional: without it the row is left
//! out, with a note).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::fetched::{FetchedTrace, sim_error};
use super::{CliError, GlobalOpts};
use crate::aws::history_fetch::{
    self, AliasHistory, DEFAULT_DAYS, FetchStats, HistoryError, HistoryWindow, MAX_RESOURCES,
};
use crate::core::policy::{Policy, ResourceId, parse_policy};
use crate::ports::ErrorKind;
use crate::sim::report::{Aggregate, SimReport};
use crate::sim::trace::Trace;
use crate::sim::{self, FunctionOutcome, PolicyKind, SimOptions};

/// The name of the row of the stored policies.
pub const CURRENT_ROW: &str = "current";

/// What the table holds for one alias.
#[derive(Debug, Clone)]
enum Stored {
    /// A valid policy: replayed in the `current` row.
    Policy(Box<Policy>),
    /// No policy item.
    None,
    /// A policy item the tick would refuse (it skips the alias).
    Invalid(String),
    /// The table could not be read.
    Unreadable(String),
}

impl Stored {
    fn describe(&self, table: &str) -> String {
        match self {
            Stored::Policy(_) => format!("policy stored in table {table} (row `{CURRENT_ROW}`)"),
            Stored::None => format!("no policy in table {table}"),
            Stored::Invalid(why) => {
                format!("the policy in table {table} is invalid, not replayed: {why}")
            }
            Stored::Unreadable(why) => format!("table {table} not read: {why}"),
        }
    }
}

/// One alias as fetched.
#[derive(Debug, Clone)]
struct Alias {
    resource: ResourceId,
    memory_mb: u32,
    invocations: u64,
    mean_duration_ms: Option<f64>,
    stored: Stored,
}

/// The fetch behind a `--from-cloudwatch` replay.
#[derive(Debug)]
pub struct Fetched {
    window: HistoryWindow,
    stats: FetchStats,
    aliases: Vec<Alias>,
    table: String,
}

/// A RESOURCE of `--from-cloudwatch`: `function:NAME:QUALIFIER` (as every
/// verb takes it), `NAME:QUALIFIER`, or the alias's ARN.
pub fn parse_resource(text: &str) -> Result<ResourceId, CliError> {
    let key = if let Some(rest) = text.strip_prefix("arn:") {
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME:QUALIFIER
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [_, "lambda", _, _, "function", name, qualifier] => {
                format!("function:{name}:{qualifier}")
            }
            _ => {
                return Err(CliError::InvalidInput(format!(
                    "RESOURCE {text:?}: not the ARN of a Lambda alias or version \
                     (arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS)"
                )));
            }
        }
    } else if text.starts_with("function:") {
        text.to_owned()
    } else {
        format!("function:{text}")
    };
    key.parse::<ResourceId>().map_err(|e| {
        CliError::InvalidInput(format!(
            "RESOURCE {text:?}: {e} (an alias or version: function:NAME:ALIAS, NAME:ALIAS or its ARN)"
        ))
    })
}

fn history_error(e: HistoryError) -> CliError {
    match e {
        HistoryError::Days(_) | HistoryError::TooManyResources(_) => {
            CliError::InvalidInput(e.to_string())
        }
        HistoryError::UnknownAlias { .. } => CliError::InvalidInput(e.to_string()),
        _ => CliError::Other(e.to_string()),
    }
}

/// Fetches `resources`' last `days` days (default [`DEFAULT_DAYS`]) and
/// their stored policies; the trace to replay and what the report adds.
pub async fn fetch(
    resources: &[String],
    days: Option<u32>,
    global: &GlobalOpts,
) -> Result<(Trace, Fetched), CliError> {
    let mut ids: Vec<ResourceId> = Vec::new();
    for r in resources {
        let id = parse_resource(r)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_RESOURCES {
        return Err(history_error(HistoryError::TooManyResources(ids.len())));
    }
    let window = HistoryWindow::last_days(Utc::now(), days.unwrap_or(DEFAULT_DAYS))
        .map_err(history_error)?;
    let ports = super::policy::aws_ports(global).await?;
    let (histories, stats) =
        history_fetch::fetch_histories(ports.metrics.client(), &ports.lambda, &ids, &window)
            .await
            .map_err(history_error)?;
    let mut aliases = Vec::with_capacity(histories.len());
    let mut table_down: Option<String> = None;
    for h in &histories {
        let stored = match &table_down {
            Some(why) => Stored::Unreadable(why.clone()),
            None => match ports.store.get_policy_item(&h.resource.to_string()).await {
                Ok(None) => Stored::None,
                Ok(Some(item)) => match parse_policy(&item) {
                    Ok(p) => Stored::Policy(Box::new(p)),
                    Err(e) => Stored::Invalid(e.to_string()),
                },
                Err(e) => {
                    let why = match e.kind {
                        ErrorKind::NotFound => {
                            "it does not exist in this account and region".into()
                        }
                        ErrorKind::AccessDenied => {
                            format!("your credentials need dynamodb:GetItem on it ({e})")
                        }
                        _ => e.to_string(),
                    };
                    table_down = Some(why.clone());
                    Stored::Unreadable(why)
                }
            },
        };
        aliases.push(alias(h, stored));
    }
    let trace = history_fetch::to_trace(&histories, &window);
    Ok((
        trace,
        Fetched {
            window,
            stats,
            aliases,
            table: global.table.clone(),
        },
    ))
}

fn alias(h: &AliasHistory, stored: Stored) -> Alias {
    Alias {
        resource: h.resource.clone(),
        memory_mb: h.memory_mb,
        invocations: h.total_invocations(),
        mean_duration_ms: h.mean_duration_ms(),
        stored,
    }
}

impl Fetched {
    fn stored_policy(&self, index: usize) -> Option<&Policy> {
        match self.aliases.get(index).map(|a| &a.stored) {
            Some(Stored::Policy(p)) => Some(p),
            _ => None,
        }
    }

    /// The `current` row: every evaluated alias under its stored policy
    /// (through the same tick and platform as the `pcscale` row, on the
    /// same arrivals), an alias without one as on-demand only (pcscale does
    /// not manage it; PC configured outside pcscale is not read).
    fn current_row(
        &self,
        trace: &Trace,
        opts: &SimOptions,
        outcomes: &[FunctionOutcome],
    ) -> Result<Option<sim::report::PolicyRow>, CliError> {
        let Some(any) = (0..self.aliases.len()).find_map(|i| self.stored_policy(i)) else {
            return Ok(None);
        };
        let kinds = [PolicyKind::NoPc, PolicyKind::Pcscale];
        let mut agg = Aggregate::new(&kinds);
        let alone = SimOptions {
            policies: vec![PolicyKind::Pcscale],
            max_functions: None,
            only_function: None,
            plot_function: None,
            timeline: false,
            progress: false,
            ..opts.clone()
        };
        let mut managed = 0usize;
        for out in outcomes {
            let Some(f) = trace.functions.get(out.index) else {
                continue;
            };
            let mut counted = match self.stored_policy(out.index) {
                Some(policy) => {
                    managed += 1;
                    let one = Trace {
                        name: trace.name.clone(),
                        format: trace.format,
                        start_minute: trace.start_minute,
                        minutes: trace.minutes,
                        functions: vec![f.clone()],
                        notes: Vec::new(),
                    };
                    let mut got: Option<FunctionOutcome> = None;
                    sim::simulate(&one, policy, &alone, |o| {
                        got = Some(o.clone());
                        Ok(())
                    })
                    .map_err(sim_error)?;
                    let Some(got) = got else { continue };
                    got
                }
                None => {
                    let Some(&(_, nopc)) = out.runs.iter().find(|r| r.0 == PolicyKind::NoPc) else {
                        continue;
                    };
                    FunctionOutcome {
                        id: out.id.clone(),
                        name: out.name.clone(),
                        runs: vec![(PolicyKind::NoPc, nopc), (PolicyKind::Pcscale, nopc)],
                        timelines: None,
                        pcscale_errors: 0,
                        ..*out
                    }
                }
            };
            counted.index = out.index;
            counted.timelines = None;
            agg.add(&counted);
        }
        let report = agg.into_report(trace, opts, &kinds, any);
        Ok(report.policies.get(1).cloned().map(|mut row| {
            row.policy = CURRENT_ROW.to_owned();
            row.description = format!(
                "the policy stored in table {} for each alias ({managed} of {} have one; the others count as on-demand only)",
                self.table,
                self.aliases.len()
            );
            row
        }))
    }
}

impl FetchedTrace for Fetched {
    fn epoch(&self) -> DateTime<Utc> {
        history_fetch::trace_epoch(&self.window)
    }

    fn min_peak(&self) -> u32 {
        // The aliases were named: evaluate every one that ran at all.
        1
    }

    fn finish(
        &self,
        report: &mut SimReport,
        trace: &Trace,
        opts: &SimOptions,
        outcomes: &[FunctionOutcome],
    ) -> Result<(), CliError> {
        if let Some(row) = self.current_row(trace, opts, outcomes)? {
            let at = report
                .policies
                .iter()
                .position(|r| r.policy == PolicyKind::Pcscale.name())
                .map_or(report.policies.len(), |i| i + 1);
            report.policies.insert(at, row);
        }
        for a in &self.aliases {
            if !matches!(a.stored, Stored::Policy(_) | Stored::None) {
                report.notes.push(format!(
                    "{}: {}",
                    a.resource,
                    a.stored.describe(&self.table)
                ));
            }
        }
        Ok(())
    }

    fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "CloudWatch: {} day(s) of 1-minute Invocations (Sum) and Duration (Average), {} to {}",
            self.window.days,
            self.window.start.format("%Y-%m-%d %H:%M UTC"),
            self.window.end().format("%Y-%m-%d %H:%M UTC")
        )];
        for a in &self.aliases {
            out.push(format!(
                "  {}: {} MB, {} invocations, mean duration {}, {}",
                a.resource,
                a.memory_mb,
                a.invocations,
                a.mean_duration_ms.map_or_else(
                    || "unknown (1 s assumed)".to_owned(),
                    |d| format!("{d:.0} ms")
                ),
                a.stored.describe(&self.table)
            ));
        }
        let s = &self.stats;
        out.push(format!(
            "Fetch cost: {} GetMetricData metric(s) requested in {} call(s) = ${:.6} on your AWS bill \
             ($0.01 per 1,000 metrics); {} GetAlias and {} GetFunctionConfiguration call(s) (free)",
            s.metrics_requested,
            s.get_metric_data_calls,
            s.cost_usd(),
            s.get_alias_calls,
            s.get_function_configuration_calls
        ));
        out
    }

    fn json(&self) -> Value {
        let s = &self.stats;
        json!({
            "start": self.window.start.to_rfc3339(),
            "end": self.window.end().to_rfc3339(),
            "days": self.window.days,
            "table": self.table,
            "aliases": self.aliases.iter().map(|a| json!({
                "resource": a.resource.to_string(),
                "memory_mb": a.memory_mb,
                "invocations": a.invocations,
                "mean_duration_ms": a.mean_duration_ms,
                "stored_policy": match &a.stored {
                    Stored::Policy(_) => "stored",
                    Stored::None => "none",
                    Stored::Invalid(_) => "invalid",
                    Stored::Unreadable(_) => "unreadable",
                },
                "stored_policy_note": a.stored.describe(&self.table),
            })).collect::<Vec<_>>(),
            "get_metric_data_calls": s.get_metric_data_calls,
            "metrics_requested": s.metrics_requested,
            "get_function_configuration_calls": s.get_function_configuration_calls,
            "get_alias_calls": s.get_alias_calls,
            "cost_usd": s.cost_usd(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_a_key_a_short_name_or_an_arn() {
        for text in [
            "function:checkout:live",
            "checkout:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:checkout:live",
        ] {
            let r = parse_resource(text).expect(text);
            assert_eq!(r.to_string(), "function:checkout:live", "{text}");
        }
        for text in [
            "checkout",
            "arn:aws:lambda:eu-west-1:123456789012:function:checkout",
            "checkout:$LATEST",
        ] {
            let e = parse_resource(text).expect_err(text);
            assert!(
                matches!(&e, CliError::InvalidInput(m) if m.contains(text)),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn too_many_days_and_an_unknown_alias_are_invalid_input() {
        assert!(matches!(
            history_error(HistoryError::Days(30)),
            CliError::InvalidInput(m) if m.contains("CloudWatch keeps 1-minute data 15 days")
        ));
        assert!(matches!(
            history_error(HistoryError::NoDatapoints {
                resources: vec!["function:f:live".into()],
                days: 3
            }),
            CliError::Other(m) if m.contains("function:f:live")
        ));
    }
}

//! `pcscale status`: the controller's health, from the `controller` item the
//! deployed Lambda publishes after every tick (src/controller.rs): when it
//! last ticked and how long that took, how many resources it decided,
//! changed and could not handle (errors by kind), and the settings it runs
//! with. Warns when the last tick is older than three schedule periods: the
//! schedule is off, the function fails before it ticks, or it is throttled.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::policy::aws_ports;
use super::{CliError, Exit, GlobalOpts, OutputFormat, parse_now, print_json, print_line};
use crate::controller::ControllerReport;

/// Arguments of `pcscale status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The schedule's period in seconds (the template's `rate(1 minute)`:
    /// 60); a last tick older than 3 periods is a warning.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub period: u32,
    /// Judge staleness as of this instant instead of the clock (RFC 3339).
    #[arg(long, value_name = "RFC3339", hide = true, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
}

/// What is wrong with the controller, from its report (empty: healthy).
pub fn warnings(report: &ControllerReport, now: DateTime<Utc>, period_secs: u32) -> Vec<String> {
    let mut out = Vec::new();
    let age = (now - report.last_tick_at).num_seconds();
    let stale_after = 3 * i64::from(period_secs);
    if age > stale_after {
        out.push(format!(
            "the last tick is {} old, more than 3 schedule periods ({stale_after} s): check that the \
             schedule is enabled and the function's logs and Errors metric (the template's \
             controller-not-running alarm)",
            age_text(age)
        ));
    }
    if report.errors > 0 {
        out.push(format!(
            "{} resource(s) in error at the last tick: `pcscale activity` shows what was recorded",
            report.errors
        ));
    }
    if report.dry_run {
        out.push(
            "the controller runs in dry run (PCSCALE_DRY_RUN): it decides and records, and changes nothing"
                .into(),
        );
    }
    out
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Runs `pcscale status`.
pub async fn run(args: &StatusArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let ports = aws_ports(global).await?;
    let now = args.now.unwrap_or_else(Utc::now);
    let Some(report) = ports.store.get_controller().await? else {
        let why = format!(
            "no controller item in table {}: the pcscale-lambda function has not ticked yet, runs \
             against another table (PCSCALE_TABLE), or is older than `pcscale status`",
            global.table
        );
        match global.output {
            OutputFormat::Json => print_json(&json!({
                "table": global.table,
                "controller": null,
                "warnings": [why],
            }))?,
            OutputFormat::Text => print_line(&format!("warning: {why}"))?,
        }
        return Ok(Exit::Success);
    };
    let warn = warnings(&report, now, args.period);
    match global.output {
        OutputFormat::Json => print_json(&json!({
            "table": global.table,
            "controller": report,
            "last_tick_age_secs": (now - report.last_tick_at).num_seconds(),
            "warnings": warn,
        }))?,
        OutputFormat::Text => {
            let r = &report;
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            let lines = [
                format!("controller   pcscale {}, table {}", r.version, global.table),
                format!(
                    "last tick    {} ({} ago), took {} ms{}{}",
                    r.last_tick_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    age_text((now - r.last_tick_at).num_seconds().max(0)),
                    r.last_tick_duration_ms,
                    r.segment
                        .as_deref()
                        .map(|s| format!(", segment {s}"))
                        .unwrap_or_default(),
                    if r.last_tick_dry_run { ", dry run" } else { "" }
                ),
                format!(
                    "resources    {} decided, {} changed, {} in error, {} skipped, {} carried to the next tick (Lambda budget)",
                    r.resources, r.changed, r.errors, r.skipped, r.carried
                ),
                format!(
                    "errors       {}",
                    if r.errors_by_kind.is_empty() {
                        "none".to_owned()
                    } else {
                        r.errors_by_kind
                            .iter()
                            .map(|(k, n)| format!("{k}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                format!(
                    "settings     dry run {}, allow-list {}, guard-rail {}, quiet resources every {} min, metric delay {} s, drift re-read every {} min, Lambda budget {} per tick",
                    yes_no(r.dry_run),
                    r.allowed_functions
                        .as_ref()
                        .map_or_else(|| "every function".to_owned(), |a| a.join(",")),
                    r.max_per_function
                        .map_or_else(|| "none".to_owned(), |m| format!("{m} per alias")),
                    r.quiet_every_minutes,
                    r.metric_delay_secs,
                    r.reconcile_minutes,
                    r.lambda_budget
                        .map_or_else(|| "none".to_owned(), |b| b.to_string())
                ),
            ];
            for l in lines {
                print_line(&l)?;
            }
            for w in &warn {
                print_line(&format!("warning: {w}"))?;
            }
        }
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::units::Secs;

    fn report(at: &str) -> ControllerReport {
        ControllerReport {
            version: "0.1.0".into(),
            dry_run: false,
            allowed_functions: None,
            max_per_function: None,
            quiet_every_minutes: 1,
            claim_lease_secs: Secs(120),
            reconcile_minutes: 15,
            lambda_budget: Some(120),
            metric_delay_secs: 180,
            last_tick_at: at.parse().unwrap(),
            last_tick_duration_ms: 10,
            last_tick_dry_run: false,
            segment: None,
            resources: 1,
            changed: 0,
            errors: 0,
            skipped: 0,
            carried: 0,
            errors_by_kind: Default::default(),
        }
    }

    #[test]
    fn a_tick_older_than_three_periods_is_a_warning() {
        let r = report("2025-03-01T10:00:00Z");
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(warnings(&r, at("2025-03-01T10:03:00Z"), 60).is_empty());
        let w = warnings(&r, at("2025-03-01T10:03:01Z"), 60);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("3 schedule periods"));
        assert!(warnings(&r, at("2025-03-01T10:14:00Z"), 300).is_empty());
    }
}

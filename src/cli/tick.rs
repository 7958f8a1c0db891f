//! `pcscale tick [--dry-run] [--segment I --segments N]`: one pass, the same
//! code as the Lambda handler (DESIGN.md §4), for operators and for tests.
//!
//! Options come from the environment exactly as in the Lambda
//! (`PCSCALE_DRY_RUN`, `PCSCALE_ALLOWED_FUNCTIONS`,
//! `PCSCALE_MAX_PER_FUNCTION`, `PCSCALE_LAMBDA_RPS`), the flags add to them.
//! Exit 0 when the tick ran, even if some resources had errors (they are
//! listed); 1 when it could not run at all (configuration, table missing,
//! AWS unreachable).

use chrono::{DateTime, Utc};

use super::{CliError, Exit, GlobalOpts, OutputFormat, print_json, print_line};
use crate::env::tick_options_from_env;
use crate::ports::Segment;
use crate::tick::{TickSummary, run_tick};

/// Arguments of `pcscale tick`.
#[derive(Debug, Clone, clap::Args)]
pub struct TickArgs {
    /// Decide and record, but never call the Lambda write APIs.
    #[arg(long)]
    pub dry_run: bool,
    /// This worker's scan segment, 0 <= I < N (with --segments).
    #[arg(long, value_name = "I", requires = "segments")]
    pub segment: Option<u32>,
    /// Total scan segments (with --segment).
    #[arg(long, value_name = "N", requires = "segment")]
    pub segments: Option<u32>,
    /// The tick's `now` instead of the clock (RFC 3339). For tests and
    /// replays: metrics are read for the minutes before it, schedules and
    /// cooldowns are evaluated at it.
    #[arg(long, value_name = "RFC3339", hide = true, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

/// Runs `pcscale tick`.
pub async fn run(args: &TickArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let mut opts =
        tick_options_from_env().map_err(|e| CliError::Other(format!("configuration: {e}")))?;
    opts.dry_run |= args.dry_run;
    if let (Some(index), Some(total)) = (args.segment, args.segments) {
        if total == 0 || index >= total {
            return Err(CliError::InvalidInput(format!(
                "--segment {index} --segments {total}: need 0 <= segment < segments"
            )));
        }
        opts.segment = Some(Segment { index, total });
    }
    let ports = super::policy::aws_ports(global).await?;
    let now = args.now.unwrap_or_else(Utc::now);
    let summary = run_tick(ports.ports(), now, &opts)
        .await
        .map_err(|e| CliError::Other(e.to_string()))?;
    match global.output {
        OutputFormat::Json => {
            let v = serde_json::to_value(&summary)
                .map_err(|e| CliError::Other(format!("cannot render the summary: {e}")))?;
            print_json(&v)?;
        }
        OutputFormat::Text => print_line(&render_text(&summary))?,
    }
    Ok(Exit::Success)
}

/// The summary for people: a header, one line per resource, the API calls.
pub fn render_text(s: &TickSummary) -> String {
    let mut out = format!(
        "tick at {}{} in {} ms: {} resources, {} changed, {} errors, {} skipped\n",
        s.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if s.dry_run { " (dry run)" } else { "" },
        s.duration_ms,
        s.totals.resources,
        s.totals.changed,
        s.totals.errors,
        s.totals.skipped,
    );
    let width = s
        .resources
        .iter()
        .map(|r| r.resource.len())
        .max()
        .unwrap_or(0);
    let cap = |c: Option<u32>| c.map_or_else(|| "-".to_owned(), |c| c.to_string());
    for r in &s.resources {
        let change = match (r.from, r.to) {
            (None, None) => "-".to_owned(),
            (f, t) => format!("{} -> {}", cap(f), cap(t)),
        };
        out.push_str(&format!(
            "{:<width$}  {:<10}  {:<8}  {}{}{}\n",
            r.resource,
            change,
            r.action,
            r.reason,
            if r.dry_run && r.action != crate::tick::Verb::Hold && r.error.is_none() {
                " [dry run]"
            } else {
                ""
            },
            r.error
                .as_deref()
                .map(|e| format!(" | error: {e}"))
                .unwrap_or_default(),
        ));
    }
    let c = &s.api_calls;
    out.push_str(&format!(
        "calls: GetMetricData {} ({} queries), GetProvisionedConcurrencyConfig {}, Put {}, Delete {}, limits {}, DynamoDB writes {}",
        c.metric_requests,
        c.metric_queries,
        c.get_config,
        c.put_config,
        c.delete_config,
        c.limits,
        c.store_writes
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::{ApiCalls, ResourceOutcome, Totals};

    #[test]
    fn text_summary_lists_every_resource_with_its_error() {
        let s = TickSummary {
            now: parse_now("2025-03-01T10:00:00Z").unwrap(),
            duration_ms: 12,
            dry_run: false,
            resources: vec![
                ResourceOutcome {
                    resource: "function:a:live".into(),
                    from: Some(2),
                    to: Some(5),
                    action: crate::tick::Verb::ScaleOut,
                    reason: "demand 3.5 / 0.7".into(),
                    error: None,
                    applied: true,
                    dry_run: false,
                    decision: None,
                },
                ResourceOutcome {
                    resource: "function:b:live".into(),
                    from: None,
                    to: None,
                    action: crate::tick::Verb::Error,
                    reason: "invalid policy".into(),
                    error: Some("MaxCapcity: unknown attribute".into()),
                    applied: false,
                    dry_run: false,
                    decision: None,
                },
            ],
            totals: Totals {
                resources: 2,
                changed: 1,
                errors: 1,
                skipped: 0,
                carried: 0,
            },
            api_calls: ApiCalls {
                metric_queries: 1,
                metric_requests: 1,
                ..ApiCalls::default()
            },
        };
        let text = render_text(&s);
        assert!(text.starts_with(
            "tick at 2025-03-01T10:00:00Z in 12 ms: 2 resources, 1 changed, 1 errors"
        ));
        assert!(text.contains("function:a:live  2 -> 5      ScaleOut  demand 3.5 / 0.7\n"));
        assert!(text.contains("error: MaxCapcity: unknown attribute"));
        assert!(text.contains("GetMetricData 1 (1 queries)"));
    }

    #[test]
    fn now_must_be_rfc3339() {
        assert!(parse_now("2025-03-01T10:00:00+05:30").is_ok());
        assert!(parse_now("yesterday").is_err());
    }
}

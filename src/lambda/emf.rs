//! CloudWatch Embedded Metric Format (EMF) lines: metrics from log lines,
//! with no `PutMetricData` call and no extra IAM permission.
//!
//! Follows "Specification: Embedded metric format"
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! the root object has `_aws` with `Timestamp` (ms since the epoch) and
//! `CloudWatchMetrics` (one MetricDirective: `Namespace`, `Dimensions` as a
//! list of dimension sets, `Metrics` as `{Name, Unit}`), and every metric and
//! dimension it names is a member of the root. [`validate`] checks exactly
//! that, so tests can hold every line pcscale prints to the spec.
//!
//! Lines written (namespace [`NAMESPACE`]):
//! * one per tick, dimension `FunctionName` (the controller):
//!   `Resources`, `Changed`, `Errors`, `Skipped` (Count), `DurationMs` (Milliseconds);
//! * one per resource whose decision changed capacity, dimension `Resource`:
//!   `Desired` (the decided capacity), `Applied` (the capacity in force after
//!   the tick: `Desired` when the Lambda call succeeded, the old one otherwise),
//!   `Demand` (latest `ConcurrentExecutions`, omitted when unknown), `Errors`.
//!
//! Per-resource lines only on changes, not every tick: each metric and
//! dimension combination is a billed custom metric, and a per-tick line per
//! alias would cost more than the alarms AWS target tracking creates.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::tick::{ResourceOutcome, TickSummary};

/// The CloudWatch namespace of pcscale's metrics.
pub const NAMESPACE: &str = "pcscale";

/// The CloudWatch units the spec allows.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One metric of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric name (also its root key).
    pub name: &'static str,
    /// One of [`UNITS`].
    pub unit: &'static str,
    /// The value.
    pub value: f64,
}

/// One EMF log line, before serialisation.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    /// `_aws.Timestamp`.
    pub timestamp: DateTime<Utc>,
    /// Dimension keys and values (one dimension set, in this order).
    pub dimensions: Vec<(&'static str, String)>,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// Extra root members, searchable in Logs Insights but not metrics.
    pub properties: Map<String, Value>,
}

impl MetricLine {
    /// The EMF JSON object.
    pub fn to_json(&self) -> Value {
        let mut root = self.properties.clone();
        for (k, v) in &self.dimensions {
            root.insert((*k).to_owned(), Value::String(v.clone()));
        }
        for m in &self.metrics {
            root.insert(m.name.to_owned(), json!(m.value));
        }
        let dims: Vec<&str> = self.dimensions.iter().map(|(k, _)| *k).collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit}))
            .collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.timestamp.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dims],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }
}

/// The EMF lines of one tick: the per-tick line first, then one per change.
/// `function_name` is the controller's own name (the per-tick dimension).
pub fn tick_lines(summary: &TickSummary, function_name: &str) -> Vec<Value> {
    let count = |n: usize| n as f64;
    let mut props = Map::new();
    props.insert("DryRun".into(), Value::Bool(summary.dry_run));
    props.insert("ApiCalls".into(), json!(summary.api_calls));
    let mut lines = vec![
        MetricLine {
            timestamp: summary.now,
            dimensions: vec![("FunctionName", function_name.to_owned())],
            metrics: vec![
                Metric {
                    name: "Resources",
                    unit: "Count",
                    value: count(summary.totals.resources),
                },
                Metric {
                    name: "Changed",
                    unit: "Count",
                    value: count(summary.totals.changed),
                },
                Metric {
                    name: "Errors",
                    unit: "Count",
                    value: count(summary.totals.errors),
                },
                Metric {
                    name: "Skipped",
                    unit: "Count",
                    value: count(summary.totals.skipped),
                },
                Metric {
                    name: "DurationMs",
                    unit: "Milliseconds",
                    value: summary.duration_ms as f64,
                },
            ],
            properties: props,
        }
        .to_json(),
    ];
    lines.extend(
        summary
            .resources
            .iter()
            .filter_map(|r| change_line(summary.now, r))
            .map(|l| l.to_json()),
    );
    lines
}

/// The per-change line of one resource, if its decision changed capacity
/// (applied, dry-run or failed; not one another tick had claimed).
pub fn change_line(now: DateTime<Utc>, r: &ResourceOutcome) -> Option<MetricLine> {
    let d = r.decision.as_ref()?;
    if !d.action.changes_capacity() || r.action == crate::tick::Verb::Skip {
        return None;
    }
    let applied = if r.applied { d.to } else { d.from };
    let mut metrics = vec![
        Metric {
            name: "Desired",
            unit: "Count",
            value: f64::from(d.to),
        },
        Metric {
            name: "Applied",
            unit: "Count",
            value: f64::from(applied),
        },
    ];
    if let Some(demand) = d.reason.demand_latest.filter(|v| v.is_finite()) {
        metrics.push(Metric {
            name: "Demand",
            unit: "Count",
            value: demand,
        });
    }
    metrics.push(Metric {
        name: "Errors",
        unit: "Count",
        value: if r.error.is_some() { 1.0 } else { 0.0 },
    });
    let mut props = Map::new();
    props.insert("Action".into(), Value::String(r.action.as_str().to_owned()));
    props.insert("From".into(), json!(d.from));
    props.insert("DryRun".into(), Value::Bool(r.dry_run));
    props.insert("Reason".into(), Value::String(r.reason.clone()));
    if let Some(e) = &r.error {
        props.insert("Error".into(), Value::String(e.clone()));
    }
    Some(MetricLine {
        timestamp: now,
        dimensions: vec![("Resource", r.resource.clone())],
        metrics,
        properties: props,
    })
}

/// Writes one line to stdout, where Lambda's log agent picks it up. One
/// `write_all` of the whole line under the stdout lock, so a concurrent log
/// line never splits it (CloudWatch Logs needs the JSON on one line).
pub fn print(line: &Value) {
    let mut text = line.to_string();
    text.push('\n');
    let mut out = std::io::stdout().lock();
    // A failed write to stdout cannot be reported anywhere better.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Every way `line` breaks the EMF specification's required structure
/// (empty when it conforms).
pub fn validate(line: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(root) = line.as_object() else {
        return vec!["the root is not a JSON object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["_aws is missing or not an object".into()];
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|t| t > 0) => {}
        other => errs.push(format!(
            "_aws.Timestamp must be a positive integer of ms since the epoch, got {other:?}"
        )),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        errs.push("_aws.CloudWatchMetrics is missing or not an array".into());
        return errs;
    };
    for (i, d) in directives.iter().enumerate() {
        let at = format!("_aws.CloudWatchMetrics[{i}]");
        let Some(d) = d.as_object() else {
            errs.push(format!("{at} is not an object"));
            continue;
        };
        match d.get("Namespace").and_then(Value::as_str) {
            Some(ns) if !ns.trim().is_empty() && ns.len() <= 255 => {}
            other => errs.push(format!(
                "{at}.Namespace must be a 1-255 character string, got {other:?}"
            )),
        }
        match d.get("Dimensions").and_then(Value::as_array) {
            None => errs.push(format!("{at}.Dimensions is missing or not an array")),
            Some(sets) => {
                for (j, set) in sets.iter().enumerate() {
                    let Some(keys) = set.as_array() else {
                        errs.push(format!("{at}.Dimensions[{j}] is not an array"));
                        continue;
                    };
                    if keys.len() > 30 {
                        errs.push(format!("{at}.Dimensions[{j}] has more than 30 keys"));
                    }
                    for k in keys {
                        let Some(k) = k.as_str() else {
                            errs.push(format!("{at}.Dimensions[{j}] holds a non-string"));
                            continue;
                        };
                        match root.get(k) {
                            Some(Value::String(v)) if !v.trim().is_empty() && v.len() <= 1024 => {}
                            other => errs.push(format!(
                                "dimension {k:?} must be a 1-1024 character string member of the root, got {other:?}"
                            )),
                        }
                    }
                }
            }
        }
        match d.get("Metrics").and_then(Value::as_array) {
            None => errs.push(format!("{at}.Metrics is missing or not an array")),
            Some(ms) => {
                if ms.len() > 100 {
                    errs.push(format!("{at}.Metrics has more than 100 metrics"));
                }
                for (j, m) in ms.iter().enumerate() {
                    let Some(name) = m.get("Name").and_then(Value::as_str) else {
                        errs.push(format!("{at}.Metrics[{j}].Name is missing"));
                        continue;
                    };
                    if name.trim().is_empty() || name.len() > 255 {
                        errs.push(format!("{at}.Metrics[{j}].Name must be 1-255 characters"));
                    }
                    if let Some(unit) = m.get("Unit")
                        && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
                    {
                        errs.push(format!("metric {name:?} has an invalid Unit {unit}"));
                    }
                    let numeric = match root.get(name) {
                        Some(Value::Number(_)) => true,
                        Some(Value::Array(vs)) => {
                            !vs.is_empty() && vs.len() <= 100 && vs.iter().all(Value::is_number)
                        }
                        _ => false,
                    };
                    if !numeric {
                        errs.push(format!(
                            "metric {name:?} must be a number (or an array of up to 100 numbers) at the root"
                        ));
                    }
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_flags_a_metric_missing_from_the_root() {
        let line = json!({
            "_aws": {"Timestamp": 1_700_000_000_000i64, "CloudWatchMetrics": [
                {"Namespace": "pcscale", "Dimensions": [["Resource"]],
                 "Metrics": [{"Name": "Desired", "Unit": "Count"}]}]},
            "Resource": "function:a:live"
        });
        let errs = validate(&line);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("Desired"), "{errs:?}");
    }

    #[test]
    fn validate_flags_a_seconds_timestamp_string_and_a_bad_unit() {
        let line = json!({
            "_aws": {"Timestamp": "2024-01-01T00:00:00Z", "CloudWatchMetrics": [
                {"Namespace": "pcscale", "Dimensions": [["Resource"]],
                 "Metrics": [{"Name": "Desired", "Unit": "Capacity"}]}]},
            "Resource": "function:a:live", "Desired": 3
        });
        let errs = validate(&line);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}

//! Alibaba Cloud Function Compute provisioned instances -> pcscale.
//!
//! # Accepted input (one JSON file)
//! The body of `PutProvisionConfig` (FC 3.0, camelCase), the output of
//! `GetProvisionConfig`, the properties of ROS `ALIYUN::FC3::ProvisionConfig`
//! (PascalCase), or FC 2.0's PascalCase form, which names the schedules
//! `SchedulerActions` and their count `TargetValue` — keys are read
//! case-insensitively — or a JSON array of them:
//! ```json
//! {"functionName": "f", "qualifier": "prod", "target": 1,
//!  "scheduledActions": [{"name", "startTime", "endTime", "target",
//!                        "scheduleExpression", "timeZone"}],
//!  "targetTrackingPolicies": [{"name", "startTime", "endTime", "metricType",
//!                              "metricTarget", "minCapacity", "maxCapacity", "timeZone"}]}
//! ```
//! The Lambda resource comes from `--resource`, a `"resource":
//! "function:<name>:<qualifier>"` key, `functionName` + `qualifier`,
//! `functionArn` (`acs:fc:<region>:<account>:functions/<name>/<qualifier>`) or
//! FC 2.0's `"resource": "<account>#<service>#<qualifier>#<function>"`.
//!
//! # Mapping
//! * `scheduleExpression`: `at(yyyy-mm-ddThh:mm:ss)` is AWS's `at()` already;
//!   the seconds-first `cron(0 0 20 * * *)` becomes AWS `cron(0 20 * * ? *)`
//!   with day-of-week renumbered (see [`super::cron`]); `timeZone` ->
//!   `Timezone`; `startTime`/`endTime` (wall-clock time in `timeZone`, UTC
//!   without one, as Alibaba documents) -> RFC 3339 `StartTime`/`EndTime`.
//! * A scheduled `target` sets the instance count when it fires and holds it
//!   until the next action: it becomes the action's `MinCapacity` (see
//!   [`super::target_actions`]). Outside an action's window Alibaba falls back
//!   to the default `target`, whereas an AWS-style action stays in force after
//!   its `EndTime`; so each distinct `endTime` gets an extra `at()` action that
//!   restores the default floor, named `<action>-window-end`.
//! * `targetTrackingPolicies` with `metricType: ProvisionedConcurrencyUtilization`
//!   -> `TargetTracking` (`metricTarget` -> `TargetValue`, AWS-compatible
//!   utilisation mode) and its `minCapacity`/`maxCapacity` -> the policy's.
//!
//! Not expressible, hence reported: CPU and GPU metric types, a second
//! tracking policy, a tracking policy's time window, `alwaysAllocateCPU/GPU`.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde_json::Value;

use super::cron::{self, Dialect};
use super::{
    ActionDraft, Ctx, Draft, ImportOptions, METRIC_PCU, Obj, TrackingDraft, Vendor, WarningKind,
    fit_max, parse_tz, per_item, require_format, target_actions, vendor_instant, vendor_time,
};

/// Read-only fields of `GetProvisionConfig` output.
const METADATA: &[&str] = &["current", "currentError"];

pub(crate) fn convert(
    input: &Value,
    base: &str,
    opts: &ImportOptions,
    ctx: &mut Ctx,
) -> Vec<Draft> {
    per_item(input, base, |v, path| one(v, path, opts, ctx))
}

fn one(value: &Value, path: &str, opts: &ImportOptions, ctx: &mut Ctx) -> Option<Draft> {
    let mut obj = Obj::new(value, path, ctx)?;
    if !require_format(&obj, Vendor::Alibaba, ctx) {
        return None;
    }
    let resource = resource(&mut obj, opts, ctx);

    // FC 3.0 output has both: `target` is what the policies currently
    // compute, `defaultTarget` the configured default. FC 2.0 has `target` only.
    let default_target = if obj.has("defaultTarget") {
        obj.raw("target");
        obj.u32("defaultTarget", ctx)
    } else {
        obj.u32("target", ctx)
    };

    let tracking = tracking(&mut obj, ctx);
    let mut actions = Vec::new();
    let mut windows: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let actions_key = obj.spelling(&["scheduledActions", "SchedulerActions"]);
    let actions_path = obj.path_of(actions_key);
    for (p, v) in obj.array(actions_key, ctx) {
        if let Some(mut a) = Obj::new(v, &p, ctx) {
            scheduled(&mut a, &mut actions, &mut windows, ctx);
            a.finish(ctx, &[]);
        }
    }
    obj.finish(ctx, METADATA);
    let resource = resource?;

    let (min, max, tt) = match tracking {
        Some((tt, min, max)) => {
            if let Some(d) = default_target.filter(|d| *d != min) {
                ctx.warn(
                    obj_path(path, "target"),
                    WarningKind::Approximated,
                    format!("default target {d} is superseded by the tracking policy's minCapacity {min}, which becomes the policy's MinCapacity (the floor when no scheduled action is in force)"),
                );
            }
            (min, max, Some(tt))
        }
        None => {
            let d = default_target.unwrap_or_else(|| {
                ctx.warn(
                    obj_path(path, "target"),
                    WarningKind::Assumed,
                    "no default target and no tracking policy: MinCapacity 0 assumed (no provisioned instances outside scheduled actions)",
                );
                0
            });
            (d, d.max(1), None)
        }
    };

    // Restore the default floor when a window closes (see the module docs).
    for ((end, tz), names) in windows {
        let first = names.first().cloned().unwrap_or_default();
        ctx.warn(
            actions_path.clone(),
            WarningKind::Approximated,
            format!(
                "{}: Alibaba returns to the default after endTime {end}; pcscale actions stay in force after EndTime, so action {first}-window-end restores MinCapacity {min} at that time",
                names.join(", ")
            ),
        );
        let local = vendor_instant(&Value::String(end.clone()), Tz::UTC)
            .ok()
            .and_then(|i| parse_tz(&tz).ok().map(|z| i.with_timezone(&z)))
            .map(|i| i.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or(end);
        actions.push(ActionDraft {
            name: format!("{first}-window-end"),
            schedule: format!("at({local})"),
            timezone: Some(tz),
            start_time: None,
            end_time: None,
            min_capacity: Some(min),
            max_capacity: None,
        });
    }
    if tt.is_some() && !actions.is_empty() {
        ctx.warn(
            actions_path.clone(),
            WarningKind::Approximated,
            "each scheduled target becomes the band's floor (MinCapacity) until the next action fires, and target tracking works above it: where Alibaba sets the count and then lets tracking move it either way, pcscale does not scale in below a scheduled target while it is in force",
        );
    }

    let mut draft = Draft {
        resource,
        enabled: None,
        min_capacity: min,
        max_capacity: max,
        target_tracking: tt,
        scheduled_actions: actions,
        description: "Imported from Alibaba Cloud Function Compute provisioned configuration"
            .into(),
    };
    fit_max(&mut draft, &obj_path(path, "MaxCapacity"), ctx);
    Some(draft)
}

fn obj_path(path: &str, key: &str) -> String {
    super::join(path, key)
}

/// The Lambda resource this configuration is for.
fn resource(obj: &mut Obj<'_>, opts: &ImportOptions, ctx: &mut Ctx) -> Option<String> {
    let given = obj.str("resource", ctx);
    let rpath = obj.path_of("resource");
    let service = obj.str("serviceName", ctx);
    let function = obj.str("functionName", ctx);
    let qualifier = obj.str("qualifier", ctx);
    let arn = obj.str("functionArn", ctx);
    if let Some(r) = &opts.resource {
        return ctx.resource("--resource", r);
    }
    if let Some(r) = given.filter(|r| r.starts_with("function:")) {
        return ctx.resource(&rpath, r);
    }
    // FC 2.0 descriptor: <account>#<service>#<qualifier>#<function>.
    let descriptor = given.and_then(|r| {
        let parts: Vec<&str> = r.trim_matches('"').split('#').collect();
        (parts.len() == 4).then(|| (parts[1], parts[2], parts[3]))
    });
    // FC 3.0 ARN: acs:fc:<region>:<account>:functions/<name>[/<qualifier>].
    let from_arn = arn.and_then(|a| {
        let rest = a.split(":functions/").nth(1)?;
        let mut it = rest.split('/');
        Some((it.next()?, it.next()))
    });
    let (fname, qual, svc) = match (function, descriptor, from_arn) {
        (Some(f), _, _) => (f, qualifier, service),
        (None, Some((s, q, f)), _) => (f, qualifier.or(Some(q)), service.or(Some(s))),
        (None, None, Some((f, q))) => (f, qualifier.or(q), service),
        (None, None, None) => {
            ctx.problem(
                obj.path_of("functionName"),
                "required, missing: name the Lambda resource with --resource function:<name>:<qualifier>, a \"resource\" key, or functionName + qualifier",
            );
            return None;
        }
    };
    if let Some(s) = svc {
        ctx.warn(
            obj.path_of("serviceName"),
            WarningKind::Assumed,
            format!("Lambda has no services: FC 2.0 service {s:?} dropped, the Lambda function is assumed to be named {fname:?}; pass --resource otherwise"),
        );
    }
    let Some(q) = qual else {
        ctx.problem(
            obj.path_of("qualifier"),
            "required, missing: provisioned concurrency needs an alias or version (pass --resource function:<name>:<qualifier>)",
        );
        return None;
    };
    ctx.resource(&obj.path_of("qualifier"), &format!("function:{fname}:{q}"))
}

/// The tracking policy pcscale can follow, with its min and max.
fn tracking(obj: &mut Obj<'_>, ctx: &mut Ctx) -> Option<(TrackingDraft, u32, u32)> {
    let mut chosen: Option<(TrackingDraft, u32, u32, String)> = None;
    for (p, v) in obj.array("targetTrackingPolicies", ctx) {
        let Some(mut t) = Obj::new(v, &p, ctx) else {
            continue;
        };
        let name = t.str("name", ctx).unwrap_or("(unnamed)").to_owned();
        let metric = t.req_str("metricType", ctx);
        let target = t.req_f64("metricTarget", ctx);
        let min = t.req_u32("minCapacity", ctx);
        let max = t.req_u32("maxCapacity", ctx);
        let tz_path = t.path_of("timeZone");
        let tz = match t.str("timeZone", ctx).map(parse_tz) {
            Some(Ok(tz)) => tz,
            Some(Err(e)) => {
                ctx.problem(tz_path, e);
                Tz::UTC
            }
            None => Tz::UTC,
        };
        let mut window = Vec::new();
        for key in ["startTime", "endTime"] {
            if let Some((kp, v)) = t.raw(key) {
                match vendor_time(v, tz) {
                    Ok(s) => window.push(format!("{key} {s}")),
                    Err(e) => ctx.problem(kp, e),
                }
            }
        }
        t.finish(ctx, &[]);
        match metric {
            Some(METRIC_PCU) => {}
            Some(other) => {
                ctx.warn(
                    p,
                    WarningKind::Dropped,
                    format!("tracking policy {name:?}: {other} has no Lambda equivalent (pcscale tracks concurrency); not imported"),
                );
                continue;
            }
            None => continue,
        }
        if let Some((_, _, _, first)) = &chosen {
            ctx.warn(
                p,
                WarningKind::Dropped,
                format!("tracking policy {name:?}: pcscale has one TargetTracking per resource, taken from {first:?}"),
            );
            continue;
        }
        if !window.is_empty() {
            ctx.warn(
                p.clone(),
                WarningKind::Approximated,
                format!("tracking policy {name:?} applies only inside its window ({}); pcscale target tracking has no window and applies at all times", window.join(", ")),
            );
        }
        if let (Some(target), Some(min), Some(max)) = (target, min, max) {
            let tt = TrackingDraft {
                target_value: target,
                metric: METRIC_PCU,
                scale_out_cooldown: None,
                scale_in_cooldown: None,
                disable_scale_in: None,
            };
            chosen = Some((tt, min, max, name));
        }
    }
    chosen.map(|(tt, min, max, _)| (tt, min, max))
}

/// One `scheduledActions[]` entry -> pcscale actions; remembers its window end.
fn scheduled(
    a: &mut Obj<'_>,
    out: &mut Vec<ActionDraft>,
    windows: &mut BTreeMap<(String, String), Vec<String>>,
    ctx: &mut Ctx,
) {
    let path = a.path().to_owned();
    let name = a.req_str("name", ctx);
    // FC 3.0 `target`, FC 2.0 `TargetValue`.
    let target = a.req_u32(a.spelling(&["target", "TargetValue"]), ctx);
    let expr_path = a.path_of("scheduleExpression");
    let expr = a.req_str("scheduleExpression", ctx);
    let tz_path = a.path_of("timeZone");
    let tz_name = a.str("timeZone", ctx);
    let tz = match tz_name.map(parse_tz) {
        Some(Ok(tz)) => tz,
        Some(Err(e)) => {
            ctx.problem(tz_path, e);
            return;
        }
        None => Tz::UTC,
    };
    let mut time = |key: &str, ctx: &mut Ctx| {
        let (kp, v) = a.raw(key)?;
        vendor_time(v, tz).map_err(|e| ctx.problem(kp, e)).ok()
    };
    let start = time("startTime", ctx);
    let end = time("endTime", ctx);
    let (Some(name), Some(target), Some(expr)) = (name, target, expr) else {
        return;
    };
    let expr = expr.trim();
    let tz_label = tz_name.map_or_else(|| "UTC".to_owned(), str::to_owned);
    if let Some(inner) = expr.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
        // at() is AWS's syntax too; an explicit Z/offset is moved into the zone.
        match vendor_instant(&Value::String(inner.to_owned()), tz) {
            Ok(i) => out.push(ActionDraft {
                name: name.to_owned(),
                schedule: format!("at({})", i.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S")),
                timezone: Some(tz_label.clone()),
                start_time: start.clone(),
                end_time: end.clone(),
                min_capacity: Some(target),
                max_capacity: None,
            }),
            Err(e) => ctx.problem(expr_path, e),
        }
    } else if let Some(inner) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        match cron::to_aws(inner, Dialect::Alibaba) {
            Ok(c) => out.extend(target_actions(
                name,
                &expr_path,
                c,
                Some(&tz_label),
                start.as_deref(),
                end.as_deref(),
                target,
                ctx,
            )),
            Err(e) => ctx.problem(expr_path, e),
        }
    } else {
        ctx.problem(
            expr_path,
            format!("{expr:?}: expected at(yyyy-mm-ddThh:mm:ss) or cron(<seconds> <minutes> <hours> <day> <month> <weekday>)"),
        );
    }
    if let Some(end) = end {
        windows
            .entry((end, tz_label))
            .or_default()
            .push(name.to_owned());
    }
    let _ = path;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{ImportOptions, Vendor, WarningKind, convert};

    #[test]
    fn cpu_tracking_is_dropped_and_default_target_becomes_the_floor() {
        let input = json!({
            "functionName": "f", "qualifier": "prod", "target": 3,
            "targetTrackingPolicies": [{"name": "cpu", "metricType": "CPUUtilization",
                "metricTarget": 0.6, "minCapacity": 1, "maxCapacity": 9}]
        });
        let out = convert(Vendor::Alibaba, &input, &ImportOptions::default()).unwrap();
        let item = &out.items[0];
        assert_eq!(item["pk"], "function:f:prod");
        assert_eq!(item["MinCapacity"], 3);
        assert_eq!(item["MaxCapacity"], 3);
        assert!(item.get("TargetTracking").is_none());
        assert!(
            out.warnings
                .iter()
                .any(|w| w.kind == WarningKind::Dropped && w.message.contains("CPUUtilization"))
        );
    }

    #[test]
    fn fc3_function_arn_and_at_schedules_are_understood() {
        let input = json!({
            "functionArn": "acs:fc:cn-shanghai:124:functions/myFunction/prod",
            "defaultTarget": 1, "target": 5,
            "scheduledActions": [{"name": "once", "target": 5,
                "scheduleExpression": "at(2024-11-11T00:00:00)", "timeZone": "Asia/Shanghai"}]
        });
        let out = convert(Vendor::Alibaba, &input, &ImportOptions::default()).unwrap();
        let item = &out.items[0];
        assert_eq!(item["pk"], "function:myFunction:prod");
        assert_eq!(item["MinCapacity"], 1);
        assert_eq!(item["MaxCapacity"], 5);
        assert_eq!(
            item["ScheduledActions"][0]["Schedule"],
            "at(2024-11-11T00:00:00)"
        );
        assert_eq!(item["ScheduledActions"][0]["Timezone"], "Asia/Shanghai");
        assert_eq!(item["ScheduledActions"][0]["MinCapacity"], 5);
    }

    #[test]
    fn a_scheduled_target_above_the_tracking_maximum_raises_max_capacity_with_a_warning() {
        let input = json!({
            "functionName": "f", "qualifier": "prod",
            "scheduledActions": [{"name": "peak", "target": 150,
                "scheduleExpression": "cron(0 0 20 * * *)"}],
            "targetTrackingPolicies": [{"name": "pc", "metricType": "ProvisionedConcurrencyUtilization",
                "metricTarget": 0.6, "minCapacity": 10, "maxCapacity": 100}]
        });
        let out = convert(Vendor::Alibaba, &input, &ImportOptions::default()).unwrap();
        assert_eq!(out.items[0]["MaxCapacity"], 150);
        assert!(
            out.warnings
                .iter()
                .any(|w| w.message.contains("raised from 100 to 150"))
        );
    }

    #[test]
    fn missing_qualifier_and_bad_expression_are_problems() {
        let input = json!({"functionName": "f", "target": 1});
        let err = convert(Vendor::Alibaba, &input, &ImportOptions::default()).unwrap_err();
        assert_eq!(err.problems[0].path, "qualifier");
        let input = json!({"functionName": "f", "qualifier": "a", "target": 1,
            "scheduledActions": [{"name": "x", "target": 2, "scheduleExpression": "cron(0 20 * * *)"}]});
        let err = convert(Vendor::Alibaba, &input, &ImportOptions::default()).unwrap_err();
        assert_eq!(
            err.problems[0].path,
            "scheduledActions[0].scheduleExpression"
        );
        assert!(err.problems[0].message.contains("6 fields"));
    }
}

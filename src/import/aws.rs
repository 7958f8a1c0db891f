//! AWS Application Auto Scaling -> pcscale.
//!
//! # Accepted input (one or several JSON files, merged by resource)
//! Any of these, in one file or several (`import --from aws targets.json
//! policies.json actions.json`), or a JSON array mixing them:
//! * the request bodies, as `--cli-input-json` takes them, gathered in one object:
//!   `{"ScalableTarget": {register-scalable-target},
//!     "ScalingPolicies": [{put-scaling-policy}, ...],
//!     "ScheduledActions": [{put-scheduled-action}, ...]}`
//!   (`ScalingPolicy` / `ScheduledAction` singular also work);
//! * the output of `describe-scalable-targets` (`{"ScalableTargets": [...]}`),
//!   `describe-scaling-policies` (`{"ScalingPolicies": [...]}`) and
//!   `describe-scheduled-actions` (`{"ScheduledActions": [...]}`), alone or
//!   merged into one object;
//! * a single request body on its own.
//!
//! Entries without a `ResourceId` belong to the file's only resource (or to
//! `--resource`). One policy item is produced per resource.
//!
//! # Mapping (DESIGN.md §2.1 has the same names on purpose)
//! * `ResourceId` -> `pk`; `MinCapacity`/`MaxCapacity` -> the same;
//! * `TargetTrackingScalingPolicyConfiguration`: `TargetValue`, `ScaleInCooldown`,
//!   `ScaleOutCooldown`, `DisableScaleIn` -> `TargetTracking`; the predefined
//!   `LambdaProvisionedConcurrencyUtilization` (or the same metric as a
//!   customized one) -> `Metric: ProvisionedConcurrencyUtilization`, pcscale's
//!   AWS-compatible mode;
//! * `put-scheduled-action` -> `ScheduledActions[]` unchanged: pcscale's
//!   schedules are AWS's (`at`/`cron`/`rate`, `Timezone`, `StartTime`,
//!   `EndTime`, `ScalableTargetAction` Min/Max).
//!
//! Not expressible, hence reported: step and predictive scaling policies,
//! metric math and other custom metrics, a second target tracking policy on
//! the same target, and `SuspendedState` except "scale-in suspended" (->
//! `DisableScaleIn`) and "everything suspended" (-> `Enabled: false`).

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde_json::Value;

use super::{
    ActionDraft, Ctx, Draft, ImportOptions, METRIC_PCU, Obj, Source, TrackingDraft, WarningKind,
    parse_tz, vendor_time,
};

/// The only scalable dimension pcscale manages.
const DIMENSION: &str = "lambda:function:ProvisionedConcurrency";
/// Read-only fields of describe output: they configure nothing.
const METADATA: &[&str] = &[
    "CreationTime",
    "RoleARN",
    "ScalableTargetARN",
    "PolicyARN",
    "Alarms",
    "ScheduledActionARN",
];

#[derive(Debug, Default)]
struct Target {
    path: String,
    resource: Option<(String, String)>,
    min: Option<u32>,
    max: Option<u32>,
    suspended_in: bool,
    suspended_out: bool,
    suspended_scheduled: bool,
}

#[derive(Debug)]
struct ScalingPolicy {
    path: String,
    resource: Option<(String, String)>,
    name: String,
    tracking: Option<TrackingDraft>,
}

#[derive(Debug)]
struct Scheduled {
    resource: Option<(String, String)>,
    action: ActionDraft,
}

#[derive(Default)]
struct Entries {
    targets: Vec<Target>,
    policies: Vec<ScalingPolicy>,
    actions: Vec<Scheduled>,
}

pub(crate) fn convert(sources: &[Source], opts: &ImportOptions, ctx: &mut Ctx) -> Vec<Draft> {
    let mut entries = Entries::default();
    for s in sources {
        collect(&s.value, &s.label, ctx, &mut entries);
    }

    // Entries without a ResourceId belong to the only resource the file (or
    // --resource) names; with several, they are ambiguous.
    let mut named: Vec<String> = entries
        .targets
        .iter()
        .filter_map(|t| t.resource.as_ref())
        .chain(entries.policies.iter().filter_map(|p| p.resource.as_ref()))
        .chain(entries.actions.iter().filter_map(|a| a.resource.as_ref()))
        .map(|(_, r)| r.clone())
        .collect();
    named.sort();
    named.dedup();
    let default = match &opts.resource {
        Some(r) => ctx.resource("--resource", r),
        None if named.len() == 1 => named.first().cloned(),
        None => None,
    };
    let resolve = |resource: &Option<(String, String)>, path: &str, ctx: &mut Ctx| match resource {
        Some((_, r)) => Some(r.clone()),
        None => match &default {
            Some(r) => Some(r.clone()),
            None => {
                ctx.problem(
                    format!("{path}.ResourceId"),
                    if named.is_empty() {
                        "required, missing: no entry names the resource (function:<name>:<qualifier>); add ResourceId or pass --resource".to_owned()
                    } else {
                        format!("required, missing: the file names several resources ({})", named.join(", "))
                    },
                );
                None
            }
        },
    };

    #[derive(Default)]
    struct Group {
        targets: Vec<Target>,
        policies: Vec<ScalingPolicy>,
        actions: Vec<ActionDraft>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for t in entries.targets {
        if let Some(r) = resolve(&t.resource, &t.path, ctx) {
            groups.entry(r).or_default().targets.push(t);
        }
    }
    for p in entries.policies {
        if let Some(r) = resolve(&p.resource, &p.path, ctx) {
            groups.entry(r).or_default().policies.push(p);
        }
    }
    for a in entries.actions {
        let path = format!("ScheduledAction {:?}", a.action.name);
        if let Some(r) = resolve(&a.resource, &path, ctx) {
            groups.entry(r).or_default().actions.push(a.action);
        }
    }

    let mut drafts = Vec::new();
    for (resource, g) in groups {
        // Repeated register-scalable-target calls update only what they set.
        let mut target = Target::default();
        for t in &g.targets {
            target.min = t.min.or(target.min);
            target.max = t.max.or(target.max);
            target.suspended_in |= t.suspended_in;
            target.suspended_out |= t.suspended_out;
            target.suspended_scheduled |= t.suspended_scheduled;
            target.path.clone_from(&t.path);
        }
        let tpath = if target.path.is_empty() {
            "ScalableTarget".to_owned()
        } else {
            target.path.clone()
        };
        let (Some(min), Some(max)) = (target.min, target.max) else {
            ctx.problem(
                format!("{tpath}.MinCapacity/MaxCapacity"),
                format!(
                    "{resource}: both are required; they come from register-scalable-target (or describe-scalable-targets)"
                ),
            );
            continue;
        };

        let mut tracking = None;
        let mut used_policy = None;
        for p in g.policies {
            match (&tracking, p.tracking) {
                (None, Some(tt)) => {
                    tracking = Some(tt);
                    used_policy = Some(p.name);
                }
                (Some(_), Some(_)) => ctx.warn(
                    p.path,
                    WarningKind::Dropped,
                    format!(
                        "second target tracking policy {:?} on {resource}: AWS combines several (scale out if any wants, in only if all agree); pcscale has one TargetTracking, taken from {:?}",
                        p.name,
                        used_policy.as_deref().unwrap_or("?")
                    ),
                ),
                (_, None) => {}
            }
        }

        let mut enabled = None;
        if target.suspended_in && target.suspended_out && target.suspended_scheduled {
            enabled = Some(false);
            ctx.warn(
                format!("{tpath}.SuspendedState"),
                WarningKind::Approximated,
                "all scaling is suspended: imported as Enabled=false (pcscale leaves the resource alone)",
            );
        } else {
            if target.suspended_in {
                match tracking.as_mut() {
                    Some(tt) => {
                        tt.disable_scale_in = Some(true);
                        ctx.warn(
                            format!("{tpath}.SuspendedState.DynamicScalingInSuspended"),
                            WarningKind::Approximated,
                            "imported as TargetTracking.DisableScaleIn=true; clear it to resume scale-in",
                        );
                    }
                    None => ctx.warn(
                        format!("{tpath}.SuspendedState.DynamicScalingInSuspended"),
                        WarningKind::Dropped,
                        "no target tracking policy to suspend",
                    ),
                }
            }
            if target.suspended_out {
                ctx.warn(
                    format!("{tpath}.SuspendedState.DynamicScalingOutSuspended"),
                    WarningKind::Dropped,
                    "pcscale cannot suspend scale-out alone; target tracking will scale out",
                );
            }
            if target.suspended_scheduled {
                ctx.warn(
                    format!("{tpath}.SuspendedState.ScheduledScalingSuspended"),
                    WarningKind::Dropped,
                    "pcscale cannot suspend scheduled actions; the imported ones are active",
                );
            }
        }

        let description = format!(
            "Imported from AWS Application Auto Scaling{}{}",
            used_policy
                .as_deref()
                .map(|n| format!(" (target tracking policy {n})"))
                .unwrap_or_default(),
            if g.actions.is_empty() {
                String::new()
            } else {
                format!(" with {} scheduled action(s)", g.actions.len())
            }
        );
        drafts.push(Draft {
            resource,
            enabled,
            min_capacity: min,
            max_capacity: max,
            target_tracking: tracking,
            scheduled_actions: g.actions,
            description,
        });
    }
    drafts
}

/// Sorts every entry of the file into targets, policies and actions.
fn collect(value: &Value, path: &str, ctx: &mut Ctx, out: &mut Entries) {
    if let Some(items) = value.as_array() {
        for (i, v) in items.iter().enumerate() {
            collect(v, &format!("{path}[{i}]"), ctx, out);
        }
        return;
    }
    let Some(mut obj) = Obj::new(value, path, ctx) else {
        return;
    };
    let containers = [
        "ScalableTarget",
        "ScalableTargets",
        "ScalingPolicy",
        "ScalingPolicies",
        "ScheduledAction",
        "ScheduledActions",
    ];
    if containers.iter().any(|c| obj.has(c)) {
        for (singular, plural, kind) in [
            ("ScalableTarget", "ScalableTargets", 0),
            ("ScalingPolicy", "ScalingPolicies", 1),
            ("ScheduledAction", "ScheduledActions", 2),
        ] {
            let mut found: Vec<(String, &Value)> = obj.raw(singular).into_iter().collect();
            found.extend(obj.array(plural, ctx));
            for (p, v) in found {
                let Some(o) = Obj::new(v, &p, ctx) else {
                    continue;
                };
                match kind {
                    0 => out.targets.extend(target(o, ctx)),
                    1 => out.policies.extend(policy(o, ctx)),
                    _ => out.actions.extend(scheduled(o, ctx)),
                }
            }
        }
        obj.finish(ctx, &["NextToken", "ResponseMetadata"]);
        return;
    }
    // A bare request body: tell the three apart by their own attributes.
    if obj.has("Schedule") || obj.has("ScheduledActionName") {
        out.actions.extend(scheduled(obj, ctx));
    } else if obj.has("PolicyType")
        || obj.has("PolicyName")
        || obj.has("TargetTrackingScalingPolicyConfiguration")
    {
        out.policies.extend(policy(obj, ctx));
    } else if obj.has("MinCapacity") || obj.has("MaxCapacity") || obj.has("ScalableDimension") {
        out.targets.extend(target(obj, ctx));
    } else {
        let hint = super::try_instead_hint(&obj, super::Vendor::Aws);
        ctx.problem(
            super::whole(path),
            format!("not an Application Auto Scaling configuration: expected ScalableTarget(s), ScalingPolicies, ScheduledActions, or one of their request bodies{hint}"),
        );
    }
}

/// `ServiceNamespace` and `ScalableDimension` must name Lambda provisioned
/// concurrency; anything else is skipped with a warning (describe output of a
/// whole account may hold other services' targets).
fn is_lambda_pc(obj: &mut Obj<'_>, ctx: &mut Ctx) -> bool {
    let ns = obj.str("ServiceNamespace", ctx);
    let dim = obj.str("ScalableDimension", ctx);
    if let Some(ns) = ns.filter(|ns| *ns != "lambda") {
        ctx.warn(
            obj.path_of("ServiceNamespace"),
            WarningKind::Dropped,
            format!("service namespace {ns:?} is not Lambda; entry skipped"),
        );
        return false;
    }
    if let Some(dim) = dim.filter(|d| *d != DIMENSION) {
        ctx.warn(
            obj.path_of("ScalableDimension"),
            WarningKind::Dropped,
            format!("scalable dimension {dim:?} is not {DIMENSION}; entry skipped"),
        );
        return false;
    }
    true
}

fn resource_of(obj: &mut Obj<'_>, ctx: &mut Ctx) -> Option<(String, String)> {
    let path = obj.path_of("ResourceId");
    let text = obj.str("ResourceId", ctx)?;
    ctx.resource(&path, text).map(|r| (path, r))
}

fn target(mut obj: Obj<'_>, ctx: &mut Ctx) -> Option<Target> {
    if !is_lambda_pc(&mut obj, ctx) {
        return None;
    }
    let mut t = Target {
        path: obj.path().to_owned(),
        resource: resource_of(&mut obj, ctx),
        min: obj.u32("MinCapacity", ctx),
        max: obj.u32("MaxCapacity", ctx),
        ..Target::default()
    };
    if let Some(mut s) = obj.obj("SuspendedState", ctx) {
        t.suspended_in = s.bool("DynamicScalingInSuspended", ctx).unwrap_or(false);
        t.suspended_out = s.bool("DynamicScalingOutSuspended", ctx).unwrap_or(false);
        t.suspended_scheduled = s.bool("ScheduledScalingSuspended", ctx).unwrap_or(false);
        s.finish(ctx, &[]);
    }
    obj.finish(ctx, METADATA);
    Some(t)
}

fn policy(mut obj: Obj<'_>, ctx: &mut Ctx) -> Option<ScalingPolicy> {
    if !is_lambda_pc(&mut obj, ctx) {
        return None;
    }
    let resource = resource_of(&mut obj, ctx);
    let name = obj.str("PolicyName", ctx).unwrap_or("(unnamed)").to_owned();
    let path = obj.path().to_owned();
    let kind = obj
        .str("PolicyType", ctx)
        .unwrap_or("TargetTrackingScaling");
    if kind != "TargetTrackingScaling" {
        // Mark the other configuration read: it is reported here, as a whole.
        obj.raw("StepScalingPolicyConfiguration");
        obj.raw("PredictiveScalingPolicyConfiguration");
        ctx.warn(
            obj.path_of("PolicyType"),
            WarningKind::Dropped,
            format!("policy {name:?}: {kind} has no pcscale equivalent (pcscale does target tracking and schedules)"),
        );
        obj.finish(ctx, METADATA);
        return None;
    }
    let had = obj.has("TargetTrackingScalingPolicyConfiguration");
    let tracking = match obj.obj("TargetTrackingScalingPolicyConfiguration", ctx) {
        Some(c) => tracking(c, resource.as_ref().map(|(_, r)| r.as_str()), &name, ctx),
        None => {
            if !had {
                ctx.problem(
                    obj.path_of("TargetTrackingScalingPolicyConfiguration"),
                    "required, missing for a TargetTrackingScaling policy",
                );
            }
            None
        }
    };
    obj.finish(ctx, METADATA);
    Some(ScalingPolicy {
        path,
        resource,
        name,
        tracking,
    })
}

fn tracking(
    mut c: Obj<'_>,
    resource: Option<&str>,
    name: &str,
    ctx: &mut Ctx,
) -> Option<TrackingDraft> {
    let target_value = c.req_f64("TargetValue", ctx);
    let scale_out_cooldown = c.u32("ScaleOutCooldown", ctx).map(u64::from);
    let in_path = c.path_of("ScaleInCooldown");
    let scale_in_cooldown = c.u32("ScaleInCooldown", ctx).map(u64::from);
    let disable_scale_in = c.bool("DisableScaleIn", ctx);

    let mut metric_ok = None;
    if let Some(mut p) = c.obj("PredefinedMetricSpecification", ctx) {
        let kind = p.req_str("PredefinedMetricType", ctx);
        p.raw("ResourceLabel"); // only meaningful for load balancers
        match kind {
            Some("LambdaProvisionedConcurrencyUtilization") => metric_ok = Some(true),
            Some(other) => {
                ctx.warn(
                    p.path_of("PredefinedMetricType"),
                    WarningKind::Dropped,
                    format!("policy {name:?}: {other} is not a Lambda provisioned-concurrency metric; target tracking not imported"),
                );
                metric_ok = Some(false);
            }
            None => metric_ok = Some(false),
        }
        p.finish(ctx, &[]);
    }
    if let Some(m) = c.obj("CustomizedMetricSpecification", ctx) {
        metric_ok = Some(customized(m, resource, name, ctx));
    }
    let Some(metric_ok) = metric_ok else {
        ctx.problem(
            c.path_of("PredefinedMetricSpecification"),
            "a target tracking policy needs PredefinedMetricSpecification or CustomizedMetricSpecification",
        );
        c.finish(ctx, &[]);
        return None;
    };
    if metric_ok && scale_in_cooldown.is_none() {
        ctx.warn(
            in_path,
            WarningKind::Assumed,
            "absent: AWS's default for Lambda is 0 s (its low-utilisation alarm must stay in ALARM for several minutes instead); pcscale's default ScaleInCooldown of 600 s (also its scale-in look-back) applies",
        );
    }
    c.finish(ctx, &[]);
    if !metric_ok {
        return None;
    }
    Some(TrackingDraft {
        target_value: target_value?,
        metric: METRIC_PCU,
        scale_out_cooldown,
        scale_in_cooldown,
        disable_scale_in,
    })
}

/// Whether a customized metric is Lambda's own provisioned-concurrency
/// utilisation (the only one pcscale can follow); warns otherwise.
fn customized(mut m: Obj<'_>, resource: Option<&str>, name: &str, ctx: &mut Ctx) -> bool {
    if m.has("Metrics") {
        m.raw("Metrics");
        ctx.warn(
            m.path_of("Metrics"),
            WarningKind::Dropped,
            format!(
                "policy {name:?}: metric math cannot drive pcscale; target tracking not imported"
            ),
        );
        m.finish(ctx, &[]);
        return false;
    }
    let namespace = m.str("Namespace", ctx).unwrap_or("");
    let metric = m.str("MetricName", ctx).unwrap_or("");
    let stat_path = m.path_of("Statistic");
    let stat = m.str("Statistic", ctx);
    m.raw("Unit");
    let dims_path = m.path_of("Dimensions");
    let mut dims = Vec::new();
    for (p, d) in m.array("Dimensions", ctx) {
        if let Some(mut d) = Obj::new(d, &p, ctx) {
            let n = d.str("Name", ctx).unwrap_or("").to_owned();
            let v = d.str("Value", ctx).unwrap_or("").to_owned();
            d.finish(ctx, &[]);
            dims.push((n, v));
        }
    }
    let spec_path = m.path().to_owned();
    m.finish(ctx, &[]);
    if namespace != "AWS/Lambda" || metric != METRIC_PCU {
        ctx.warn(
            spec_path,
            WarningKind::Dropped,
            format!(
                "policy {name:?}: custom metric {namespace}/{metric} cannot drive pcscale (it tracks AWS/Lambda ProvisionedConcurrencyUtilization or ConcurrentExecutions of the resource itself); target tracking not imported"
            ),
        );
        return false;
    }
    if let Some(stat) = stat.filter(|s| *s != "Average") {
        ctx.warn(
            stat_path,
            WarningKind::Approximated,
            format!("AWS's alarms used the {stat} statistic; pcscale's utilisation mode reads the per-minute Average"),
        );
    }
    if let Some(r) = resource.and_then(|r| r.strip_prefix("function:")) {
        let function = r.split(':').next().unwrap_or(r);
        let other = dims
            .iter()
            .find(|(n, v)| (n == "FunctionName" && v != function) || (n == "Resource" && v != r));
        if let Some((n, v)) = other {
            ctx.warn(
                dims_path,
                WarningKind::Approximated,
                format!("dimension {n}={v} names another resource; pcscale tracks function:{r}'s own metric"),
            );
        }
    }
    true
}

fn scheduled(mut obj: Obj<'_>, ctx: &mut Ctx) -> Option<Scheduled> {
    if !is_lambda_pc(&mut obj, ctx) {
        return None;
    }
    let resource = resource_of(&mut obj, ctx);
    let name = obj.req_str("ScheduledActionName", ctx);
    let schedule = obj.req_str("Schedule", ctx);
    let tz_path = obj.path_of("Timezone");
    let timezone = obj.str("Timezone", ctx);
    if let Some(Err(e)) = timezone.map(parse_tz) {
        ctx.problem(tz_path, e);
    }
    // AWS reads StartTime/EndTime as instants, in UTC when no offset is given
    // (put-scheduled-action: "in UTC"), whatever the action's Timezone.
    let mut time = |key: &str, ctx: &mut Ctx| {
        let (path, v) = obj.raw(key)?;
        vendor_time(v, Tz::UTC)
            .map_err(|e| ctx.problem(path, e))
            .ok()
    };
    let start_time = time("StartTime", ctx);
    let end_time = time("EndTime", ctx);
    let action_path = obj.path_of("ScalableTargetAction");
    let (mut min, mut max) = (None, None);
    match obj.obj("ScalableTargetAction", ctx) {
        Some(mut a) => {
            min = a.u32("MinCapacity", ctx);
            max = a.u32("MaxCapacity", ctx);
            if !a.has("MinCapacity") && !a.has("MaxCapacity") {
                ctx.problem(action_path, "needs MinCapacity, MaxCapacity or both");
            }
            a.finish(ctx, &[]);
        }
        None => ctx.problem(action_path, "required, missing"),
    }
    obj.finish(ctx, METADATA);
    Some(Scheduled {
        resource,
        action: ActionDraft {
            name: name?.to_owned(),
            schedule: schedule?.to_owned(),
            timezone: timezone.map(str::to_owned),
            start_time,
            end_time,
            min_capacity: min,
            max_capacity: max,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{ImportOptions, Vendor, WarningKind, convert};

    #[test]
    fn request_bodies_with_step_scaling_report_it_as_dropped() {
        let input = json!({
            "ScalableTarget": {"ServiceNamespace": "lambda", "ResourceId": "function:f:live",
                "ScalableDimension": "lambda:function:ProvisionedConcurrency",
                "MinCapacity": 1, "MaxCapacity": 10},
            "ScalingPolicies": [{"PolicyName": "steps", "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"}}]
        });
        let out = convert(Vendor::Aws, &input, &ImportOptions::default()).unwrap();
        assert!(out.items[0].get("TargetTracking").is_none());
        assert!(
            out.warnings
                .iter()
                .any(|w| w.kind == WarningKind::Dropped && w.message.contains("StepScaling"))
        );
    }

    #[test]
    fn other_service_namespaces_are_skipped_with_a_warning() {
        let input = json!({"ScalableTargets": [
            {"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
             "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2},
            {"ServiceNamespace": "lambda", "ResourceId": "function:f:1",
             "ScalableDimension": "lambda:function:ProvisionedConcurrency", "MinCapacity": 0, "MaxCapacity": 4}
        ]});
        let out = convert(Vendor::Aws, &input, &ImportOptions::default()).unwrap();
        assert_eq!(out.items.len(), 1);
        assert_eq!(out.items[0]["pk"], "function:f:1");
        assert!(out.warnings.iter().any(|w| w.message.contains("ecs")));
    }

    #[test]
    fn missing_capacities_and_latest_qualifier_are_problems_naming_the_attribute() {
        let input =
            json!({"ScalableTarget": {"ResourceId": "function:f:$LATEST", "MinCapacity": 1}});
        let err = convert(Vendor::Aws, &input, &ImportOptions::default()).unwrap_err();
        assert!(
            err.problems
                .iter()
                .any(|p| p.path == "ScalableTarget.ResourceId")
        );
        let input = json!({"ScalableTarget": {"ResourceId": "function:f:live", "MinCapacity": 1}});
        let err = convert(Vendor::Aws, &input, &ImportOptions::default()).unwrap_err();
        assert!(err.problems[0].path.contains("MaxCapacity"), "{err}");
    }
}

//! Tencent Cloud SCF provisioned concurrency -> pcscale.
//!
//! # Accepted input (one JSON file)
//! The parameters of `PutProvisionedConcurrencyConfig` (API 2018-04-16), as
//! `tccli scf PutProvisionedConcurrencyConfig --cli-input-json` takes them,
//! or a JSON array of them:
//! ```json
//! {"FunctionName": "f", "Qualifier": "3", "Namespace": "default",
//!  "VersionProvisionedConcurrencyNum": 0,
//!  "ProvisionedType": "ConcurrencyUtilizationTracking",
//!  "TrackingTarget": 0.5, "MinCapacity": 1, "MaxCapacity": 20,
//!  "TriggerActions": [{"TriggerName": "morning", "TriggerProvisionedConcurrencyNum": 30,
//!                      "TriggerCronConfig": "0 0 6 * * * *", "ProvisionedType": "Default"}],
//!  "Timezone": "Asia/Shanghai"}
//! ```
//! `Timezone` is pcscale's own addition: `TriggerCronConfig` carries no zone;
//! without it (or `--timezone`) `Asia/Shanghai` is assumed, and said so.
//!
//! # Mapping
//! * `FunctionName` + `Qualifier` -> `pk` (`--resource` overrides).
//! * `ProvisionedType: Default` (static): `VersionProvisionedConcurrencyNum`
//!   -> `MinCapacity` (pcscale holds the floor when there is no tracking).
//! * `ProvisionedType: ConcurrencyUtilizationTracking`: `TrackingTarget` ->
//!   `TargetTracking.TargetValue`, `MinCapacity`/`MaxCapacity` -> the same.
//!   Tencent tracks *actual concurrent executions* against the target usage,
//!   scales out at once and scales in within a 10-minute window: that is
//!   pcscale's `ConcurrentExecutions` mode with `ScaleOutCooldown` 0 and
//!   `ScaleInCooldown` 600, so that is what is written.
//! * `TriggerActions[]`: the 7-field `TriggerCronConfig` (seconds first, year
//!   last, weekday 0 = Sunday) -> AWS `cron()` (see [`super::cron`]);
//!   `TriggerProvisionedConcurrencyNum` ("the target number of concurrent
//!   instances during task execution") -> the action's `MinCapacity`.

use serde_json::Value;

use super::cron::{self, Dialect};
use super::{
    Ctx, Draft, ImportOptions, METRIC_CE, Obj, TrackingDraft, Vendor, WarningKind, fit_max,
    parse_tz, per_item, require_format, target_actions,
};

/// Zone assumed for `TriggerCronConfig` when none is given: SCF's console
/// schedules are in China Standard Time.
const DEFAULT_TZ: &str = "Asia/Shanghai";
/// Tencent's documented scale-in window for dynamic provisioned concurrency.
const TENCENT_SCALE_IN_WINDOW_SECS: u64 = 600;
/// Common request parameters of every Tencent Cloud API call.
const COMMON: &[&str] = &["Action", "Version", "Region", "RequestId"];

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
    if !require_format(&obj, Vendor::Tencent, ctx) {
        return None;
    }
    let function = obj.str("FunctionName", ctx);
    let qualifier = obj.str("Qualifier", ctx);
    let namespace = obj.str("Namespace", ctx);
    let resource = match (&opts.resource, function, qualifier) {
        (Some(r), _, _) => ctx.resource("--resource", r),
        (None, Some(f), Some(q)) => {
            ctx.resource(&obj.path_of("Qualifier"), &format!("function:{f}:{q}"))
        }
        (None, f, _) => {
            let missing = if f.is_none() {
                "FunctionName"
            } else {
                "Qualifier"
            };
            ctx.problem(
                obj.path_of(missing),
                "required, missing (or pass --resource function:<name>:<qualifier>)",
            );
            None
        }
    };
    if let Some(ns) = namespace.filter(|ns| *ns != "default") {
        ctx.warn(
            obj.path_of("Namespace"),
            WarningKind::Assumed,
            format!("Lambda has no namespaces: {ns:?} dropped; the Lambda function is assumed to have the same name"),
        );
    }

    let tz_path = obj.path_of("Timezone");
    let tz_name = match (&opts.timezone, obj.str("Timezone", ctx)) {
        (Some(tz), _) => tz.clone(),
        (None, Some(tz)) => tz.to_owned(),
        (None, None) => DEFAULT_TZ.to_owned(),
    };
    if let Err(e) = parse_tz(&tz_name) {
        ctx.problem(tz_path, e);
    }

    let kind_path = obj.path_of("ProvisionedType");
    let kind = obj.str("ProvisionedType", ctx).unwrap_or("Default");
    let static_num = obj.u32("VersionProvisionedConcurrencyNum", ctx);
    let (min, max, tracking) = match kind {
        "Default" => {
            for k in ["TrackingTarget", "MinCapacity", "MaxCapacity"] {
                if obj.has(k) {
                    obj.raw(k);
                    ctx.warn(
                        obj.path_of(k),
                        WarningKind::Dropped,
                        "only used with ProvisionedType ConcurrencyUtilizationTracking; ignored",
                    );
                }
            }
            let n = static_num.unwrap_or(0);
            (n, n.max(1), None)
        }
        "ConcurrencyUtilizationTracking" => {
            let target = obj.req_f64("TrackingTarget", ctx);
            let min = obj.req_u32("MinCapacity", ctx);
            let max = obj.req_u32("MaxCapacity", ctx);
            if let Some(n) = static_num.filter(|n| *n != 0) {
                ctx.warn(
                    obj.path_of("VersionProvisionedConcurrencyNum"),
                    WarningKind::Dropped,
                    format!("{n} ignored: with utilisation tracking Tencent requires 0 and the tracking band decides"),
                );
            }
            ctx.warn(
                obj.path_of("TrackingTarget"),
                WarningKind::Approximated,
                "Tencent adjusts every 10 s; pcscale decides once per tick (every minute by default), from the per-minute maximum of ConcurrentExecutions",
            );
            let tt = target.map(|t| TrackingDraft {
                target_value: t,
                metric: METRIC_CE,
                scale_out_cooldown: Some(0),
                scale_in_cooldown: Some(TENCENT_SCALE_IN_WINDOW_SECS),
                disable_scale_in: None,
            });
            (min.unwrap_or(0), max.unwrap_or(1), tt)
        }
        other => {
            ctx.problem(
                kind_path,
                format!("{other:?}: expected Default or ConcurrencyUtilizationTracking"),
            );
            (0, 1, None)
        }
    };

    let mut actions = Vec::new();
    let mut assumed_tz = false;
    for (p, v) in obj.array("TriggerActions", ctx) {
        let Some(mut a) = Obj::new(v, &p, ctx) else {
            continue;
        };
        let name = a.req_str("TriggerName", ctx);
        let num = a.req_u32("TriggerProvisionedConcurrencyNum", ctx);
        let cron_path = a.path_of("TriggerCronConfig");
        let expr = a.req_str("TriggerCronConfig", ctx);
        if let Some(t) = a.str("ProvisionedType", ctx).filter(|t| *t != "Default") {
            ctx.warn(
                a.path_of("ProvisionedType"),
                WarningKind::Dropped,
                format!(
                    "{t:?}: Tencent documents only Default for scheduled actions; read as Default"
                ),
            );
        }
        a.finish(ctx, &[]);
        let (Some(name), Some(num), Some(expr)) = (name, num, expr) else {
            continue;
        };
        match cron::to_aws(expr, Dialect::Tencent) {
            Ok(c) => {
                assumed_tz = true;
                actions.extend(target_actions(
                    name,
                    &cron_path,
                    c,
                    Some(&tz_name),
                    None,
                    None,
                    num,
                    ctx,
                ));
            }
            Err(e) => ctx.problem(cron_path, e),
        }
    }
    if assumed_tz && opts.timezone.is_none() && !obj.has("Timezone") {
        ctx.warn(
            obj.path_of("TriggerActions"),
            WarningKind::Assumed,
            format!("TriggerCronConfig carries no time zone; {DEFAULT_TZ} (UTC+8) assumed. Add \"Timezone\": \"<IANA zone>\" to the file or pass --timezone to change it"),
        );
    }
    if tracking.is_some() && !actions.is_empty() {
        ctx.warn(
            obj.path_of("TriggerActions"),
            WarningKind::Approximated,
            "each scheduled number becomes the band's floor (MinCapacity) until the next action fires; tracking works above it",
        );
    }
    obj.finish(ctx, COMMON);

    let mut draft = Draft {
        resource: resource?,
        enabled: None,
        min_capacity: min,
        max_capacity: max,
        target_tracking: tracking,
        scheduled_actions: actions,
        description: format!("Imported from Tencent Cloud SCF provisioned concurrency ({kind})"),
    };
    fit_max(&mut draft, &super::join(path, "MaxCapacity"), ctx);
    Some(draft)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{ImportOptions, Vendor, WarningKind, convert};

    #[test]
    fn static_config_with_four_daily_triggers_follows_tencents_example() {
        // Tencent's own example: 30 at 6:00, 80 at 10:00, 40 at 18:00, 0 at 24:00.
        let trig = |n: &str, num: u32, h: u32| {
            json!({"TriggerName": n, "TriggerProvisionedConcurrencyNum": num,
                   "TriggerCronConfig": format!("0 0 {h} * * * *")})
        };
        let input = json!({
            "FunctionName": "f", "Qualifier": "1", "VersionProvisionedConcurrencyNum": 0,
            "TriggerActions": [trig("a", 30, 6), trig("b", 80, 10), trig("c", 40, 18), trig("d", 0, 0)]
        });
        let out = convert(Vendor::Tencent, &input, &ImportOptions::default()).unwrap();
        let item = &out.items[0];
        assert_eq!(item["MinCapacity"], 0);
        assert_eq!(item["MaxCapacity"], 80);
        let acts = item["ScheduledActions"].as_array().unwrap();
        assert_eq!(acts[1]["Schedule"], "cron(0 10 * * ? *)");
        assert_eq!(acts[1]["MinCapacity"], 80);
        assert_eq!(acts[3]["Schedule"], "cron(0 0 * * ? *)");
        assert_eq!(acts[0]["Timezone"], "Asia/Shanghai");
        assert!(
            out.warnings
                .iter()
                .any(|w| w.kind == WarningKind::Assumed && w.message.contains("Asia/Shanghai"))
        );
    }

    #[test]
    fn utilisation_tracking_maps_to_concurrent_executions_with_tencents_windows() {
        let input = json!({"FunctionName": "f", "Qualifier": "2",
            "ProvisionedType": "ConcurrencyUtilizationTracking",
            "TrackingTarget": 0.5, "MinCapacity": 1, "MaxCapacity": 2,
            "VersionProvisionedConcurrencyNum": 0});
        let out = convert(Vendor::Tencent, &input, &ImportOptions::default()).unwrap();
        let tt = &out.items[0]["TargetTracking"];
        assert_eq!(tt["Metric"], "ConcurrentExecutions");
        assert_eq!(tt["TargetValue"], 0.5);
        assert_eq!(tt["ScaleInCooldown"], 600);
        assert_eq!(out.items[0]["MinCapacity"], 1);
        assert_eq!(out.items[0]["MaxCapacity"], 2);
    }

    #[test]
    fn unknown_provisioned_type_and_bad_cron_are_problems() {
        let input = json!({"FunctionName": "f", "Qualifier": "2", "ProvisionedType": "Magic"});
        let err = convert(Vendor::Tencent, &input, &ImportOptions::default()).unwrap_err();
        assert_eq!(err.problems[0].path, "ProvisionedType");
        let input = json!({"FunctionName": "f", "Qualifier": "2",
            "TriggerActions": [{"TriggerName": "x", "TriggerProvisionedConcurrencyNum": 1,
                                "TriggerCronConfig": "0 0 6 * * *"}]});
        let err = convert(Vendor::Tencent, &input, &ImportOptions::default()).unwrap_err();
        assert_eq!(err.problems[0].path, "TriggerActions[0].TriggerCronConfig");
    }
}

//! The JSON Schema of a policy item (`pcscale policy schema`).

use schemars::JsonSchema;
use serde_json::Value;

use super::model::MetricKind;

/// Mirror of the policy item for `pcscale policy schema`: the same attribute
/// names, types and bounds as [`parse_policy`] checks, for editors and CI
/// linters. The validator stays the authority (it also checks what a schema
/// cannot say well: schedule syntax, IANA zones, EndTime > StartTime, unique
/// names, MaxCapacity >= MinCapacity).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "pcscale policy item",
    description = "One policy item (sk = \"policy\") of the pcscale DynamoDB table: how pcscale scales the provisioned concurrency of one Lambda alias or version."
)]
pub struct PolicyItemSchema {
    /// The scalable resource, named as Application Auto Scaling names it:
    /// function:<FunctionName>:<Qualifier> (alias or published version; $LATEST is refused).
    #[serde(rename = "pk")]
    #[schemars(regex(pattern = r"^function:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]{1,128}$"))]
    pub pk: String,
    /// Sort key: always "policy" for a policy item.
    #[serde(rename = "sk")]
    #[schemars(extend("const" = "policy"))]
    pub sk: Option<String>,
    /// false: pcscale leaves the resource alone.
    #[serde(rename = "Enabled")]
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// Floor of provisioned concurrency; 0 means the config may be deleted.
    #[serde(rename = "MinCapacity")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub min_capacity: u32,
    /// Hard ceiling, never exceeded; at least max(1, MinCapacity).
    #[serde(rename = "MaxCapacity")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_capacity: u32,
    /// Target tracking; absent: capacity follows schedules / MinCapacity only.
    #[serde(rename = "TargetTracking")]
    pub target_tracking: Option<TargetTrackingSchema>,
    /// Scheduled changes of the [MinCapacity, MaxCapacity] band (Application Auto Scaling semantics).
    #[serde(rename = "ScheduledActions")]
    #[schemars(length(max = 100))]
    pub scheduled_actions: Option<Vec<ScheduledActionSchema>>,
    /// Decide and record, but never call the Lambda API.
    #[serde(rename = "DryRun")]
    #[schemars(extend("default" = false))]
    pub dry_run: Option<bool>,
    /// Free text for people.
    #[serde(rename = "Description")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
}

/// Mirror of the `TargetTracking` map for the JSON Schema.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "TargetTracking",
    description = "Target tracking: keep provisioned concurrency at TargetValue utilisation."
)]
pub struct TargetTrackingSchema {
    /// Target utilisation of provisioned concurrency, 0 < v <= 1 (e.g. 0.7).
    #[serde(rename = "TargetValue")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub target_value: f64,
    /// ConcurrentExecutions (true demand incl. spill-over, the default) or
    /// ProvisionedConcurrencyUtilization (AWS-compatible).
    #[serde(rename = "Metric")]
    #[schemars(extend("default" = "ConcurrentExecutions"))]
    pub metric: Option<MetricKind>,
    /// Seconds after a scale-out before the next scale-out (a larger need ends it early).
    #[serde(rename = "ScaleOutCooldown")]
    #[schemars(range(min = 0, max = 86_400), extend("default" = 0))]
    pub scale_out_cooldown: Option<u64>,
    /// Seconds after any scaling before a scale-in.
    #[serde(rename = "ScaleInCooldown")]
    #[schemars(range(min = 0, max = 86_400), extend("default" = 600))]
    pub scale_in_cooldown: Option<u64>,
    /// Fraction of the excess removed per scale-in step, 0 < v <= 1.
    #[serde(rename = "ScaleInFactor")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0, "default" = 1.0))]
    pub scale_in_factor: Option<f64>,
    /// Never scale in from target tracking.
    #[serde(rename = "DisableScaleIn")]
    #[schemars(extend("default" = false))]
    pub disable_scale_in: Option<bool>,
    /// pcscale's cold-start-aware level: keep only the PC that recent history
    /// says would have avoided enough cold starts to pay for itself.
    #[serde(rename = "ColdStarts")]
    pub cold_starts: Option<ColdStartsSchema>,
}

/// Mirror of the `TargetTracking.ColdStarts` map for the JSON Schema.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ColdStarts")]
pub struct ColdStartsSchema {
    /// Keep a PC unit only if it would have avoided at least this many cold
    /// starts per hour it was kept, over the look-back.
    #[serde(rename = "MinColdStartsPerInstanceHour")]
    #[schemars(range(min = 0, max = 3600), extend("default" = 1.5))]
    pub min_per_instance_hour: Option<f64>,
    /// Minutes of history the estimate reads.
    #[serde(rename = "LookbackMinutes")]
    #[schemars(range(min = 10, max = 1440), extend("default" = 480))]
    pub lookback_minutes: Option<u32>,
    /// Assumed keep-alive of an idle on-demand environment, in seconds.
    #[serde(rename = "KeepAliveSeconds")]
    #[schemars(range(min = 60, max = 3600), extend("default" = 300))]
    pub keep_alive_seconds: Option<u32>,
    /// Also follow demand (ceil(D / TargetValue)) above the level.
    #[serde(rename = "FollowDemand")]
    #[schemars(extend("default" = false))]
    pub follow_demand: Option<bool>,
    /// Minutes over which the base load (units busy nearly all the time) is read.
    #[serde(rename = "BaseLoadWindowMinutes")]
    #[schemars(range(min = 10, max = 1440), extend("default" = 60))]
    pub base_load_window_minutes: Option<u32>,
    /// Base load = this factor x the lowest per-minute peak over the window; 0 turns it off.
    #[serde(rename = "BaseLoadFactor")]
    #[schemars(range(min = 0, max = 2), extend("default" = 0.0))]
    pub base_load_factor: Option<f64>,
    /// Keep the units whose cold starts recur at a fixed period (timers) just
    /// before their next one is due.
    #[serde(rename = "PreWarmPeriodic")]
    #[schemars(extend("default" = true))]
    pub pre_warm_periodic: Option<bool>,
}

/// Mirror of one `ScheduledActions` entry for the JSON Schema.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "ScheduledAction",
    description = "When it fires, sets the [MinCapacity, MaxCapacity] band until another action fires (at least one of the two).",
    extend("anyOf" = [{"required": ["MinCapacity"]}, {"required": ["MaxCapacity"]}])
)]
pub struct ScheduledActionSchema {
    /// Unique within the policy; 1-256 characters.
    #[serde(rename = "Name")]
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// at(yyyy-mm-ddThh:mm:ss), cron(<min> <hour> <dom> <month> <dow> <year>) (AWS 6 fields, ? allowed)
    /// or rate(<n> minute(s)|hour(s)|day(s)).
    #[serde(rename = "Schedule")]
    #[schemars(
        length(min = 1, max = 1600),
        regex(pattern = r"^\s*(at|cron|rate)\(.*\)\s*$")
    )]
    pub schedule: String,
    /// IANA time zone for at() and cron(), e.g. Asia/Shanghai; UTC by default.
    #[serde(rename = "Timezone")]
    #[schemars(length(min = 1, max = 64), extend("default" = "UTC"))]
    pub timezone: Option<String>,
    /// RFC 3339; the action does not fire before it.
    #[serde(rename = "StartTime")]
    #[schemars(extend("format" = "date-time"))]
    pub start_time: Option<String>,
    /// RFC 3339, after StartTime; the action does not fire after it.
    #[serde(rename = "EndTime")]
    #[schemars(extend("format" = "date-time"))]
    pub end_time: Option<String>,
    /// The floor set when the action fires.
    #[serde(rename = "MinCapacity")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub min_capacity: Option<u32>,
    /// The ceiling set when the action fires.
    #[serde(rename = "MaxCapacity")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub max_capacity: Option<u32>,
}

/// The JSON Schema (draft 2020-12) of a plain-JSON policy item.
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(PolicyItemSchema);
    let mut v = schema.to_value();
    strip_null(&mut v);
    v
}

/// schemars lets every `Option` be `null`; the validator refuses `null`
/// (absent and null are different things to a user), so the schema must too.
fn strip_null(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    m.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = m.get_mut("anyOf") {
                any.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    m.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, x) in inner {
                            m.entry(k).or_insert(x);
                        }
                    }
                }
            }
            for x in m.values_mut() {
                strip_null(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_null),
        _ => {}
    }
}

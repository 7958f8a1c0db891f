//! The policy item's types (DESIGN.md §2.1), their bounds and defaults.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::schedule::Schedule;
use crate::core::units::Secs;

/// A scalable resource, named as Application Auto Scaling names it:
/// `function:<FunctionName>:<Qualifier>` (alias or published version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceId {
    /// Function name (not an ARN).
    pub function: String,
    /// Alias or published version; never `$LATEST`.
    pub qualifier: String,
}

/// Why a resource id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceIdError {
    /// Not of the form `function:<name>:<qualifier>`.
    #[error("expected function:<FunctionName>:<Qualifier>, got {0:?}")]
    Malformed(String),
    /// `$LATEST` cannot carry provisioned concurrency.
    #[error("$LATEST cannot have provisioned concurrency; use an alias or a published version")]
    Latest,
    /// The function name breaks Lambda's naming rules.
    #[error("invalid function name {0:?}: 1-64 characters of letters, digits, '-' or '_'")]
    BadFunctionName(String),
    /// The qualifier breaks Lambda's naming rules.
    #[error(
        "invalid qualifier {0:?}: an alias (1-128 of letters, digits, '-', '_', not all digits unless a version) or a version number"
    )]
    BadQualifier(String),
}

impl FromStr for ResourceId {
    type Err = ResourceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some("function"), Some(function), Some(qualifier)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ResourceIdError::Malformed(s.to_owned()));
        };
        if qualifier == "$LATEST" {
            return Err(ResourceIdError::Latest);
        }
        let name_ok = |n: &str, max: usize| {
            !n.is_empty()
                && n.len() <= max
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(function, 64) {
            return Err(ResourceIdError::BadFunctionName(function.to_owned()));
        }
        if !name_ok(qualifier, 128) {
            return Err(ResourceIdError::BadQualifier(qualifier.to_owned()));
        }
        Ok(ResourceId {
            function: function.to_owned(),
            qualifier: qualifier.to_owned(),
        })
    }
}

impl TryFrom<String> for ResourceId {
    type Error = ResourceIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ResourceId> for String {
    fn from(r: ResourceId) -> String {
        r.to_string()
    }
}

impl JsonSchema for ResourceId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^function:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]{1,128}$"
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function:{}:{}", self.function, self.qualifier)
    }
}

/// Which CloudWatch metric target tracking follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, JsonSchema)]
pub enum MetricKind {
    /// `ConcurrentExecutions`, Maximum per minute: true demand, spill-over included.
    #[default]
    ConcurrentExecutions,
    /// `ProvisionedConcurrencyUtilization`: AWS-compatible, blind above 100 %.
    ProvisionedConcurrencyUtilization,
}

impl MetricKind {
    /// The CloudWatch metric name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::ConcurrentExecutions => "ConcurrentExecutions",
            MetricKind::ProvisionedConcurrencyUtilization => "ProvisionedConcurrencyUtilization",
        }
    }
}

/// The `TargetTracking` map of a policy item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[schemars(
    title = "TargetTracking",
    description = "Target tracking: keep provisioned concurrency at TargetValue utilisation."
)]
pub struct TargetTracking {
    /// Target utilisation of provisioned concurrency, 0 < v <= 1 (e.g. 0.7).
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub target_value: f64,
    /// ConcurrentExecutions (true demand incl. spill-over, the default) or
    /// ProvisionedConcurrencyUtilization (AWS-compatible).
    #[serde(default)]
    pub metric: MetricKind,
    /// Seconds after a scale-out before the next scale-out (a larger need ends it early).
    #[serde(rename = "ScaleOutCooldown", default = "default_scale_out_cooldown")]
    #[schemars(with = "u64", range(min = COOLDOWN.min, max = COOLDOWN.max))]
    pub scale_out_cooldown_secs: Secs,
    /// Seconds after any scaling before a scale-in (also the demand look-back for scale-in).
    #[serde(rename = "ScaleInCooldown", default = "default_scale_in_cooldown")]
    #[schemars(with = "u64", range(min = COOLDOWN.min, max = COOLDOWN.max))]
    pub scale_in_cooldown_secs: Secs,
    /// Fraction of the excess removed per scale-in step, 0 < v <= 1.
    #[serde(default = "default_scale_in_factor")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub scale_in_factor: f64,
    /// Never scale in from target tracking.
    #[serde(default)]
    pub disable_scale_in: bool,
    /// pcscale's cold-start-aware level: keep only the PC that recent history
    /// says would have avoided enough cold starts to pay for itself. Absent:
    /// plain target tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ColdStartAware")]
    pub cold_starts: Option<ColdStartAware>,
}

fn default_scale_out_cooldown() -> Secs {
    DEFAULT_SCALE_OUT_COOLDOWN_SECS
}

fn default_scale_in_cooldown() -> Secs {
    DEFAULT_SCALE_IN_COOLDOWN_SECS
}

fn default_scale_in_factor() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

fn default_utc() -> Tz {
    Tz::UTC
}

impl Default for TargetTracking {
    fn default() -> Self {
        TargetTracking {
            target_value: 0.7,
            metric: MetricKind::ConcurrentExecutions,
            scale_out_cooldown_secs: DEFAULT_SCALE_OUT_COOLDOWN_SECS,
            scale_in_cooldown_secs: DEFAULT_SCALE_IN_COOLDOWN_SECS,
            scale_in_factor: default_scale_in_factor(),
            disable_scale_in: false,
            cold_starts: None,
        }
    }
}

/// A validated policy item (`sk = "policy"`). Serialised, it is the item as
/// stored (defaults written out, so the item shows what is in force); its
/// JSON Schema is [`super::json_schema`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[schemars(
    title = "pcscale policy item",
    description = "One policy item (sk = \"policy\") of the pcscale DynamoDB table: how pcscale scales the provisioned concurrency of one Lambda alias or version."
)]
pub struct Policy {
    /// The scalable resource, named as Application Auto Scaling names it:
    /// function:<FunctionName>:<Qualifier> (alias or published version; $LATEST is refused).
    #[serde(rename = "pk")]
    pub resource: ResourceId,
    /// Sort key: always "policy" for a policy item.
    #[serde(rename = "sk", default)]
    #[schemars(transform = without_default)]
    pub sk: PolicySk,
    /// false: pcscale leaves the resource alone.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Floor of provisioned concurrency; 0 means the config may be deleted.
    #[schemars(range(min = CAPACITY.min, max = CAPACITY.max))]
    pub min_capacity: u32,
    /// Hard ceiling, never exceeded; at least max(1, MinCapacity).
    #[schemars(range(min = 1, max = CAPACITY.max))]
    pub max_capacity: u32,
    /// Target tracking; absent: capacity follows schedules / MinCapacity only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "TargetTracking")]
    pub target_tracking: Option<TargetTracking>,
    /// Scheduled changes of the [MinCapacity, MaxCapacity] band (Application Auto Scaling semantics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SCHEDULED_ACTIONS))]
    pub scheduled_actions: Vec<ScheduledAction>,
    /// Decide and record, but never call the Lambda API.
    #[serde(default)]
    pub dry_run: bool,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<String>,
}

/// Settings of the cold-start-aware level (`TargetTracking.ColdStarts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
#[schemars(title = "ColdStarts")]
pub struct ColdStartAware {
    /// What one avoided cold start is worth, in US dollars: a PC unit is kept
    /// if the cold starts it avoids are worth what it costs, priced by the
    /// function's memory (us-east-1 x86_64 list prices: $0.015 per unit-hour
    /// at 1 GB, so the default $0.0014 per cold start asks 1.34 avoided an
    /// hour at 128 MB, 1.49 at 142 MB, 10.7 at 1 GB, 107 at 10 GB; $0.01
    /// asks 0.19, 1.5 and 15). Absent: $0.0014, unless
    /// MinColdStartsPerInstanceHour is set (then that one price, whatever the
    /// memory). Used whenever the function's memory is known; otherwise
    /// MinColdStartsPerInstanceHour (or 1.5) is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "f64",
        range(max = DOLLARS_PER_COLD_START.max),
        extend("exclusiveMinimum" = DOLLARS_PER_COLD_START.min)
    )]
    pub dollars_per_cold_start: Option<f64>,
    /// Keep a PC unit only if it would have avoided at least this many cold
    /// starts per hour it was kept, over the look-back, whatever the
    /// function's memory. Set alone, it overrides DollarsPerColdStart's
    /// pricing by memory (policies stored by earlier versions of pcscale,
    /// which wrote it out, keep their one price); beside DollarsPerColdStart,
    /// it is the price used
    /// while the function's memory is unknown. Absent: 1.5 while the memory
    /// is unknown.
    #[serde(
        rename = "MinColdStartsPerInstanceHour",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(
        with = "f64",
        range(min = COLD_STARTS_PER_HOUR.min, max = COLD_STARTS_PER_HOUR.max)
    )]
    pub min_per_instance_hour: Option<f64>,
    /// Minutes of history the estimate reads.
    #[schemars(range(min = LOOKBACK.min, max = LOOKBACK.max))]
    pub lookback_minutes: u32,
    /// Assumed keep-alive of an idle on-demand environment, in seconds.
    #[serde(rename = "KeepAliveSeconds")]
    #[schemars(range(min = KEEP_ALIVE.min, max = KEEP_ALIVE.max))]
    pub keep_alive_secs: u32,
    /// Also follow demand (ceil(D / TargetValue)) above the level.
    pub follow_demand: bool,
    /// Minutes over which the base load (units busy nearly all the time) is read.
    #[schemars(range(min = LOOKBACK.min, max = LOOKBACK.max))]
    pub base_load_window_minutes: u32,
    /// Base load = this factor x the lowest per-minute peak over the window; 0 turns it off.
    #[schemars(range(min = BASE_LOAD_FACTOR.min, max = BASE_LOAD_FACTOR.max))]
    pub base_load_factor: f64,
    /// Keep the units whose cold starts recur at a fixed period (timers) just
    /// before their next one is due.
    pub pre_warm_periodic: bool,
    /// Days of CloudWatch history the daily forecast learns from (when this
    /// alias's rises happen by time of day and weekday/weekend, and how
    /// large): the units a rise due in the next minutes needs are held
    /// shortly before it when they pay; 0 turns it off.
    #[schemars(range(min = HISTORY_DAYS.min, max = HISTORY_DAYS.max))]
    pub history_days: u32,
}

impl Default for ColdStartAware {
    fn default() -> Self {
        ColdStartAware {
            dollars_per_cold_start: None,
            min_per_instance_hour: None,
            lookback_minutes: 480,
            keep_alive_secs: 300,
            follow_demand: false,
            base_load_window_minutes: 60,
            base_load_factor: 0.0,
            pre_warm_periodic: true,
            history_days: 14,
        }
    }
}

impl ColdStartAware {
    /// How the policy prices a unit, for people: `$0.0014 per cold start`,
    /// `$0.02 per cold start (1.2 per unit-hour while memory is unknown)` or
    /// `1.5 cold starts per unit-hour`.
    pub fn price_summary(&self) -> String {
        match (self.dollars_per_cold_start, self.min_per_instance_hour) {
            (None, Some(t)) => format!("{t} cold starts per unit-hour"),
            (d, t) => {
                let d = d.unwrap_or(DEFAULT_DOLLARS_PER_COLD_START);
                match t {
                    Some(t) => {
                        format!("${d} per cold start ({t} per unit-hour while memory is unknown)")
                    }
                    None => format!("${d} per cold start"),
                }
            }
        }
    }
}

/// One entry of `ScheduledActions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[schemars(
    title = "ScheduledAction",
    description = "When it fires, sets the [MinCapacity, MaxCapacity] band until another action fires (at least one of the two).",
    extend("anyOf" = [{"required": ["MinCapacity"]}, {"required": ["MaxCapacity"]}])
)]
pub struct ScheduledAction {
    /// Unique within the policy; 1-256 characters.
    #[schemars(length(min = 1, max = MAX_ACTION_NAME_CHARS))]
    pub name: String,
    /// at(yyyy-mm-ddThh:mm:ss), cron(<min> <hour> <dom> <month> <dow> <year>) (AWS 6 fields, ? allowed)
    /// or rate(<n> minute(s)|hour(s)|day(s)).
    #[schemars(
        with = "String",
        length(min = 1, max = MAX_SCHEDULE_CHARS),
        regex(pattern = r"^\s*(at|cron|rate)\(.*\)\s*$")
    )]
    pub schedule: Schedule,
    /// IANA time zone for at() and cron(), e.g. Asia/Shanghai; UTC by default.
    #[serde(default = "default_utc")]
    #[schemars(with = "String", length(min = 1, max = MAX_TIMEZONE_CHARS), extend("default" = "UTC"))]
    pub timezone: Tz,
    /// RFC 3339; the action does not fire before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub start_time: Option<DateTime<Utc>>,
    /// RFC 3339, after StartTime; the action does not fire after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub end_time: Option<DateTime<Utc>>,
    /// The floor set when the action fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32", range(min = CAPACITY.min, max = CAPACITY.max))]
    pub min_capacity: Option<u32>,
    /// The ceiling set when the action fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32", range(min = CAPACITY.min, max = CAPACITY.max))]
    pub max_capacity: Option<u32>,
}

impl ScheduledAction {
    /// This action's latest occurrence at or before `now` inside its window.
    pub fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .latest_at_or_before(self.timezone, self.start_time, self.end_time, now)
    }

    /// This action's first occurrence strictly after `after` inside its window.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .next_after(self.timezone, self.start_time, self.end_time, after)
    }
}

/// The `sk` value of a policy item.
pub const POLICY_SK: &str = "policy";

/// The sort key of a policy item, which is always [`POLICY_SK`]: a field of
/// [`Policy`] so that the policy serialises as the whole item (`sk`
/// included) and `serde_json::to_value(&policy)` is the item as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PolicySk {
    /// `"policy"`.
    #[default]
    #[serde(rename = "policy")]
    Policy,
}

/// The schema of `sk` names its one value, not a default: an item is
/// written with its `sk`.
fn without_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

impl JsonSchema for PolicySk {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PolicySk".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "const": POLICY_SK})
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Capacities are whole numbers up to this. Lambda's concurrency quotas are
/// in the thousands (tens of thousands after increases); a million is far
/// above any real account, so a larger value is a typo (or an extra zero).
pub const MAX_CAPACITY_VALUE: u32 = 1_000_000;

/// At most this many `ScheduledActions`. Application Auto Scaling allows 200
/// scheduled actions per scalable target, not adjustable ("Quotas for
/// Application Auto Scaling", <https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-quotas.html>); pcscale evaluates every action of every policy on
/// every tick, so it keeps half of that. Imports from AWS beyond 100 must be
/// split or trimmed.
pub const MAX_SCHEDULED_ACTIONS: usize = 100;

/// Cooldowns are at most one day. AWS documents no maximum, but
/// `ScaleInCooldown` is also the demand look-back for scale-in (one
/// CloudWatch minute per 60 s), so an unbounded value would make every tick
/// fetch unbounded history.
pub const MAX_COOLDOWN_SECS: u64 = 86_400;

/// Default `ScaleOutCooldown` (DESIGN.md §2.1).
pub const DEFAULT_SCALE_OUT_COOLDOWN_SECS: Secs = Secs(0);

/// Default `ScaleInCooldown` (DESIGN.md §2.1).
pub const DEFAULT_SCALE_IN_COOLDOWN_SECS: Secs = Secs(600);

/// `ScheduledActions[].Name`: 1-256 characters, as AWS `ScheduledActionName`
/// (Application Auto Scaling API reference, PutScheduledAction).
pub const MAX_ACTION_NAME_CHARS: usize = 256;

/// `Schedule`: at most 1600 characters, as AWS `PutScheduledAction.Schedule`.
pub const MAX_SCHEDULE_CHARS: usize = 1600;

/// `Timezone`: IANA names are at most 32 characters; 64 leaves room.
pub const MAX_TIMEZONE_CHARS: usize = 64;

/// `StartTime` / `EndTime`: an RFC 3339 date-time is about 35 characters.
pub const MAX_TIME_CHARS: usize = 64;

/// `Description`: free text, but a policy is not a document store.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// `pk`: `function:` + 64 + `:` + 128 characters, and some slack for the message.
pub const MAX_PK_CHARS: usize = 256;

/// A whole-number range and why its ends are where they are: declared once
/// here, read by the validator's messages and by the JSON Schema.
pub struct Whole {
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// Appended to the "at most" message.
    pub why_max: &'static str,
    /// Unit for the expectation, e.g. " of seconds".
    pub unit: &'static str,
}

/// `MinCapacity` / `MaxCapacity`, on the item and in scheduled actions.
pub const CAPACITY: Whole = Whole {
    min: 0,
    max: MAX_CAPACITY_VALUE as u64,
    why_max: " (pcscale's sanity cap, far above any Lambda concurrency quota)",
    unit: "",
};

/// `ColdStarts.LookbackMinutes` and `ColdStarts.BaseLoadWindowMinutes`.
pub const LOOKBACK: Whole = Whole {
    min: 10,
    max: 1440,
    why_max: " minutes (one day)",
    unit: " of minutes",
};

/// `ColdStarts.HistoryDays`: 14 whole days plus the current one stay inside
/// CloudWatch's 15-day retention of 1-minute datapoints.
pub const HISTORY_DAYS: Whole = Whole {
    min: 0,
    max: 14,
    why_max: " days (CloudWatch keeps 1-minute datapoints for 15 days)",
    unit: " of days",
};

/// `ColdStarts.KeepAliveSeconds`.
pub const KEEP_ALIVE: Whole = Whole {
    min: 60,
    max: 3600,
    why_max: " seconds",
    unit: " of seconds",
};

/// `ScaleOutCooldown` / `ScaleInCooldown`.
pub const COOLDOWN: Whole = Whole {
    min: 0,
    max: MAX_COOLDOWN_SECS,
    why_max: " seconds (one day; ScaleInCooldown is also the demand look-back)",
    unit: " of seconds",
};

/// A range of real numbers with whole ends (written as whole numbers in
/// messages and in the JSON Schema).
pub struct Span {
    /// Smallest allowed value.
    pub min: u32,
    /// Largest allowed value.
    pub max: u32,
}

impl Span {
    /// Whether `x` is finite and inside the range.
    pub fn contains(&self, x: f64) -> bool {
        x.is_finite() && (f64::from(self.min)..=f64::from(self.max)).contains(&x)
    }
}

/// `ColdStarts.MinColdStartsPerInstanceHour`: at most one a second.
pub const COLD_STARTS_PER_HOUR: Span = Span { min: 0, max: 3600 };

/// `ColdStarts.MinColdStartsPerInstanceHour` when the policy does not say
/// and the function's memory is unknown (the one price before pricing by
/// memory; the frontier of `bench/RESULTS.md` tuned it).
pub const DEFAULT_MIN_COLD_STARTS_PER_INSTANCE_HOUR: f64 = 1.5;

/// `ColdStarts.DollarsPerColdStart`: more than 0 (the minimum is exclusive:
/// a cold start worth nothing would price every unit out) and at most $10
/// (a cold start worth more is a typo, or a call for `MinCapacity`).
pub const DOLLARS_PER_COLD_START: Span = Span { min: 0, max: 10 };

/// `ColdStarts.DollarsPerColdStart` when the policy says neither it nor
/// `MinColdStartsPerInstanceHour`: the value of a cold start that the one
/// price of before (1.5 cold starts per unit-hour) implied on the day it was
/// tuned on (`bench/RESULTS.md`, the frontier on the bundled Azure day, whose
/// functions bill 128 to 994 MB, median 142 MB): a unit-hour at 142 MB costs
/// $0.0021 at the x86_64 list price, and 0.0021 / 1.5 = $0.0014. So the
/// default keeps the bundled day's decisions about where they were (1.34 an
/// hour at 128 MB, 1.49 at 142 MB) and asks a 1 GB unit for 10.7, a 10 GB one
/// for 107: a big function keeps PC for its busy units and pre-warms, not
/// for rare rises. `bench/RESULTS.md` measures $0.0025, $0.005 and $0.01
/// too: on the bundled day each extra avoided cold start costs about the
/// value set. See [`crate::core::coldstart::unit_price`].
pub const DEFAULT_DOLLARS_PER_COLD_START: f64 = 0.0014;

/// `ColdStarts.BaseLoadFactor`: 0 (off) to twice the lowest peak.
pub const BASE_LOAD_FACTOR: Span = Span { min: 0, max: 2 };

/// Attribute names (DESIGN.md §2.1).
pub mod attr {
    /// Partition key: the resource id.
    pub const PK: &str = "pk";
    /// Sort key: `"policy"`.
    pub const SK: &str = "sk";
    /// `Enabled` (BOOL).
    pub const ENABLED: &str = "Enabled";
    /// `MinCapacity` (N), on the item and in scheduled actions.
    pub const MIN_CAPACITY: &str = "MinCapacity";
    /// `MaxCapacity` (N), on the item and in scheduled actions.
    pub const MAX_CAPACITY: &str = "MaxCapacity";
    /// `TargetTracking` (M).
    pub const TARGET_TRACKING: &str = "TargetTracking";
    /// `ScheduledActions` (L of M).
    pub const SCHEDULED_ACTIONS: &str = "ScheduledActions";
    /// `DryRun` (BOOL).
    pub const DRY_RUN: &str = "DryRun";
    /// `Description` (S).
    pub const DESCRIPTION: &str = "Description";
    /// `TargetTracking.TargetValue` (N).
    pub const TARGET_VALUE: &str = "TargetValue";
    /// `TargetTracking.Metric` (S).
    pub const METRIC: &str = "Metric";
    /// `TargetTracking.ScaleOutCooldown` (N, seconds).
    pub const SCALE_OUT_COOLDOWN: &str = "ScaleOutCooldown";
    /// `TargetTracking.ScaleInCooldown` (N, seconds).
    pub const SCALE_IN_COOLDOWN: &str = "ScaleInCooldown";
    /// `TargetTracking.ScaleInFactor` (N).
    pub const SCALE_IN_FACTOR: &str = "ScaleInFactor";
    /// `TargetTracking.DisableScaleIn` (BOOL).
    pub const DISABLE_SCALE_IN: &str = "DisableScaleIn";
    /// `TargetTracking.ColdStarts` (M): pcscale's cold-start-aware level.
    pub const COLD_STARTS: &str = "ColdStarts";
    /// `TargetTracking.ColdStarts.DollarsPerColdStart` (N).
    pub const DOLLARS_PER_COLD_START: &str = "DollarsPerColdStart";
    /// `TargetTracking.ColdStarts.MinColdStartsPerInstanceHour` (N).
    pub const MIN_COLD_STARTS_PER_INSTANCE_HOUR: &str = "MinColdStartsPerInstanceHour";
    /// `TargetTracking.ColdStarts.LookbackMinutes` (N).
    pub const LOOKBACK_MINUTES: &str = "LookbackMinutes";
    /// `TargetTracking.ColdStarts.KeepAliveSeconds` (N).
    pub const KEEP_ALIVE_SECONDS: &str = "KeepAliveSeconds";
    /// `TargetTracking.ColdStarts.FollowDemand` (BOOL).
    pub const FOLLOW_DEMAND: &str = "FollowDemand";
    /// `TargetTracking.ColdStarts.BaseLoadWindowMinutes` (N).
    pub const BASE_LOAD_WINDOW_MINUTES: &str = "BaseLoadWindowMinutes";
    /// `TargetTracking.ColdStarts.BaseLoadFactor` (N).
    pub const BASE_LOAD_FACTOR: &str = "BaseLoadFactor";
    /// `TargetTracking.ColdStarts.PreWarmPeriodic` (BOOL).
    pub const PRE_WARM_PERIODIC: &str = "PreWarmPeriodic";
    /// `TargetTracking.ColdStarts.HistoryDays` (N).
    pub const HISTORY_DAYS: &str = "HistoryDays";
    /// `ScheduledActions[].Name` (S).
    pub const NAME: &str = "Name";
    /// `ScheduledActions[].Schedule` (S).
    pub const SCHEDULE: &str = "Schedule";
    /// `ScheduledActions[].Timezone` (S).
    pub const TIMEZONE: &str = "Timezone";
    /// `ScheduledActions[].StartTime` (S, RFC 3339).
    pub const START_TIME: &str = "StartTime";
    /// `ScheduledActions[].EndTime` (S, RFC 3339).
    pub const END_TIME: &str = "EndTime";

    /// Every attribute a policy item may have at its top level.
    pub const ITEM: &[&str] = &[
        PK,
        SK,
        ENABLED,
        MIN_CAPACITY,
        MAX_CAPACITY,
        TARGET_TRACKING,
        SCHEDULED_ACTIONS,
        DRY_RUN,
        DESCRIPTION,
    ];
    /// Every attribute of the `TargetTracking` map.
    pub const TARGET_TRACKING_MAP: &[&str] = &[
        TARGET_VALUE,
        METRIC,
        SCALE_OUT_COOLDOWN,
        SCALE_IN_COOLDOWN,
        SCALE_IN_FACTOR,
        DISABLE_SCALE_IN,
        COLD_STARTS,
    ];
    /// Every attribute of the `TargetTracking.ColdStarts` map.
    pub const COLD_STARTS_MAP: &[&str] = &[
        DOLLARS_PER_COLD_START,
        MIN_COLD_STARTS_PER_INSTANCE_HOUR,
        LOOKBACK_MINUTES,
        KEEP_ALIVE_SECONDS,
        FOLLOW_DEMAND,
        BASE_LOAD_WINDOW_MINUTES,
        BASE_LOAD_FACTOR,
        PRE_WARM_PERIODIC,
        HISTORY_DAYS,
    ];
    /// Every attribute of a `ScheduledActions` entry.
    pub const SCHEDULED_ACTION: &[&str] = &[
        NAME,
        SCHEDULE,
        TIMEZONE,
        START_TIME,
        END_TIME,
        MIN_CAPACITY,
        MAX_CAPACITY,
    ];
}

impl Policy {
    /// One line for people: `function:checkout:live: enabled, capacity 1..100, ...`.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            if self.enabled { "enabled" } else { "disabled" }.to_owned(),
            format!("capacity {}..{}", self.min_capacity, self.max_capacity),
        ];
        match &self.target_tracking {
            Some(tt) => match &tt.cold_starts {
                Some(cs) if !cs.follow_demand => parts.push(format!(
                    "cold-start level ({}, {} min look-back)",
                    cs.price_summary(),
                    cs.lookback_minutes
                )),
                Some(cs) => parts.push(format!(
                    "target {} of {} over a cold-start level ({})",
                    tt.target_value,
                    tt.metric.as_str(),
                    cs.price_summary()
                )),
                None => parts.push(format!(
                    "target {} of {}",
                    tt.target_value,
                    tt.metric.as_str()
                )),
            },
            None => parts.push("no target tracking".into()),
        }
        let n = self.scheduled_actions.len();
        parts.push(format!(
            "{n} scheduled action{}",
            if n == 1 { "" } else { "s" }
        ));
        if self.dry_run {
            parts.push("dry run".into());
        }
        format!("{}: {}", self.resource, parts.join(", "))
    }
}

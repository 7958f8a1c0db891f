//! The policy item's types (DESIGN.md §2.1), their bounds and defaults.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::schedule::Schedule;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetTracking {
    /// Target utilisation of PC, `0 < v <= 1`.
    pub target_value: f64,
    /// The metric followed.
    pub metric: MetricKind,
    /// Seconds after a scale-out before the next scale-out (a larger need ends it early).
    pub scale_out_cooldown_secs: u64,
    /// Seconds after any scaling before a scale-in; also the demand look-back for scale-in.
    pub scale_in_cooldown_secs: u64,
    /// `(0, 1]`: fraction of the excess removed per scale-in step.
    pub scale_in_factor: f64,
    /// Never scale in from target tracking.
    pub disable_scale_in: bool,
    /// pcscale's cold-start-aware level (`ColdStarts`); `None`: plain target tracking.
    pub cold_starts: Option<ColdStartAware>,
}

impl Default for TargetTracking {
    fn default() -> Self {
        TargetTracking {
            target_value: 0.7,
            metric: MetricKind::ConcurrentExecutions,
            scale_out_cooldown_secs: DEFAULT_SCALE_OUT_COOLDOWN_SECS,
            scale_in_cooldown_secs: DEFAULT_SCALE_IN_COOLDOWN_SECS,
            scale_in_factor: 1.0,
            disable_scale_in: false,
            cold_starts: None,
        }
    }
}

/// A validated policy item (`sk = "policy"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The resource (`pk`).
    pub resource: ResourceId,
    /// false: the resource is left alone.
    pub enabled: bool,
    /// Floor when no scheduled action has set one; 0 allows deleting the config.
    pub min_capacity: u32,
    /// Hard ceiling when no scheduled action has set one.
    pub max_capacity: u32,
    /// Absent: capacity follows schedules / MinCapacity only.
    pub target_tracking: Option<TargetTracking>,
    /// Scheduled changes of the band.
    pub scheduled_actions: Vec<ScheduledAction>,
    /// Decide and record, but never call the Lambda API.
    pub dry_run: bool,
    /// Free text kept for people.
    pub description: Option<String>,
}

/// Settings of the cold-start-aware level (`TargetTracking.ColdStarts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartAware {
    /// A PC unit is kept only if it would have avoided at least this many
    /// cold starts per hour of the look-back (`MinColdStartsPerInstanceHour`).
    pub min_per_instance_hour: f64,
    /// Minutes of history the estimate reads (`LookbackMinutes`).
    pub lookback_minutes: u32,
    /// Assumed keep-alive of an idle on-demand environment (`KeepAliveSeconds`).
    pub keep_alive_secs: u32,
    /// Also follow demand as plain target tracking does (`FollowDemand`):
    /// the level is then a floor under `ceil(D / TargetValue)`.
    pub follow_demand: bool,
    /// Minutes over which the base load is read (`BaseLoadWindowMinutes`).
    pub base_load_window_minutes: u32,
    /// The base load is this fraction of the lowest per-minute peak over
    /// that window (`BaseLoadFactor`; 0 turns it off).
    pub base_load_factor: f64,
    /// Keep units whose cold starts recur at a fixed period just before
    /// their next one is due (`PreWarmPeriodic`).
    pub pre_warm_periodic: bool,
}

impl Default for ColdStartAware {
    fn default() -> Self {
        ColdStartAware {
            min_per_instance_hour: 1.5,
            lookback_minutes: 480,
            keep_alive_secs: 300,
            follow_demand: false,
            base_load_window_minutes: 60,
            base_load_factor: 0.0,
            pre_warm_periodic: true,
        }
    }
}

/// One entry of `ScheduledActions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledAction {
    /// Unique within the policy.
    pub name: String,
    /// When it fires.
    pub schedule: Schedule,
    /// IANA zone for `at` and `cron` (UTC by default).
    pub timezone: Tz,
    /// Bounds the recurrence (inclusive).
    pub start_time: Option<DateTime<Utc>>,
    /// Bounds the recurrence (inclusive).
    pub end_time: Option<DateTime<Utc>>,
    /// The floor set when the action fires.
    pub min_capacity: Option<u32>,
    /// The ceiling set when the action fires.
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
pub const DEFAULT_SCALE_OUT_COOLDOWN_SECS: u64 = 0;

/// Default `ScaleInCooldown` (DESIGN.md §2.1).
pub const DEFAULT_SCALE_IN_COOLDOWN_SECS: u64 = 600;

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
        MIN_COLD_STARTS_PER_INSTANCE_HOUR,
        LOOKBACK_MINUTES,
        KEEP_ALIVE_SECONDS,
        FOLLOW_DEMAND,
        BASE_LOAD_WINDOW_MINUTES,
        BASE_LOAD_FACTOR,
        PRE_WARM_PERIODIC,
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
    /// The policy as a plain JSON item (the inverse of [`parse_policy`]):
    /// `parse_policy(&p.to_item()) == Ok(p)` for every policy `parse_policy`
    /// returned. Defaults are written out, so the item shows what is in force.
    pub fn to_item(&self) -> Value {
        let mut m = Map::new();
        m.insert(attr::PK.into(), Value::String(self.resource.to_string()));
        m.insert(attr::SK.into(), Value::String(POLICY_SK.into()));
        m.insert(attr::ENABLED.into(), Value::Bool(self.enabled));
        m.insert(attr::MIN_CAPACITY.into(), Value::from(self.min_capacity));
        m.insert(attr::MAX_CAPACITY.into(), Value::from(self.max_capacity));
        if let Some(tt) = &self.target_tracking {
            let mut t = Map::new();
            t.insert(attr::TARGET_VALUE.into(), Value::from(tt.target_value));
            t.insert(
                attr::METRIC.into(),
                Value::String(tt.metric.as_str().into()),
            );
            t.insert(
                attr::SCALE_OUT_COOLDOWN.into(),
                Value::from(tt.scale_out_cooldown_secs),
            );
            t.insert(
                attr::SCALE_IN_COOLDOWN.into(),
                Value::from(tt.scale_in_cooldown_secs),
            );
            t.insert(
                attr::SCALE_IN_FACTOR.into(),
                Value::from(tt.scale_in_factor),
            );
            t.insert(
                attr::DISABLE_SCALE_IN.into(),
                Value::Bool(tt.disable_scale_in),
            );
            if let Some(c) = &tt.cold_starts {
                let mut cm = Map::new();
                cm.insert(
                    attr::MIN_COLD_STARTS_PER_INSTANCE_HOUR.into(),
                    Value::from(c.min_per_instance_hour),
                );
                cm.insert(
                    attr::LOOKBACK_MINUTES.into(),
                    Value::from(c.lookback_minutes),
                );
                cm.insert(
                    attr::KEEP_ALIVE_SECONDS.into(),
                    Value::from(c.keep_alive_secs),
                );
                cm.insert(attr::FOLLOW_DEMAND.into(), Value::Bool(c.follow_demand));
                cm.insert(
                    attr::BASE_LOAD_WINDOW_MINUTES.into(),
                    Value::from(c.base_load_window_minutes),
                );
                cm.insert(
                    attr::BASE_LOAD_FACTOR.into(),
                    Value::from(c.base_load_factor),
                );
                cm.insert(
                    attr::PRE_WARM_PERIODIC.into(),
                    Value::Bool(c.pre_warm_periodic),
                );
                t.insert(attr::COLD_STARTS.into(), Value::Object(cm));
            }
            m.insert(attr::TARGET_TRACKING.into(), Value::Object(t));
        }
        if !self.scheduled_actions.is_empty() {
            let actions = self.scheduled_actions.iter().map(action_item).collect();
            m.insert(attr::SCHEDULED_ACTIONS.into(), Value::Array(actions));
        }
        m.insert(attr::DRY_RUN.into(), Value::Bool(self.dry_run));
        if let Some(d) = &self.description {
            m.insert(attr::DESCRIPTION.into(), Value::String(d.clone()));
        }
        Value::Object(m)
    }

    /// One line for people: `function:checkout:live: enabled, capacity 1..100, ...`.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            if self.enabled { "enabled" } else { "disabled" }.to_owned(),
            format!("capacity {}..{}", self.min_capacity, self.max_capacity),
        ];
        match &self.target_tracking {
            Some(tt) => match &tt.cold_starts {
                Some(cs) if !cs.follow_demand => parts.push(format!(
                    "cold-start level ({} per unit-hour, {} min look-back)",
                    cs.min_per_instance_hour, cs.lookback_minutes
                )),
                Some(cs) => parts.push(format!(
                    "target {} of {} over a cold-start level ({} per unit-hour)",
                    tt.target_value,
                    tt.metric.as_str(),
                    cs.min_per_instance_hour
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

fn action_item(a: &ScheduledAction) -> Value {
    let mut m = Map::new();
    m.insert(attr::NAME.into(), Value::String(a.name.clone()));
    m.insert(attr::SCHEDULE.into(), Value::String(a.schedule.to_string()));
    m.insert(
        attr::TIMEZONE.into(),
        Value::String(a.timezone.name().into()),
    );
    if let Some(t) = a.start_time {
        m.insert(
            attr::START_TIME.into(),
            Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        );
    }
    if let Some(t) = a.end_time {
        m.insert(
            attr::END_TIME.into(),
            Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        );
    }
    if let Some(v) = a.min_capacity {
        m.insert(attr::MIN_CAPACITY.into(), Value::from(v));
    }
    if let Some(v) = a.max_capacity {
        m.insert(attr::MAX_CAPACITY.into(), Value::from(v));
    }
    Value::Object(m)
}

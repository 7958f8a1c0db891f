//! The scaling decision (DESIGN.md §3): policy + state + observation + now
//! -> [`Decision`], with a structured [`Reason`] saying which rule and which
//! numbers produced it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::schedule::{Band, effective_band};
use super::state::State;

/// One per-minute metric series, oldest first; the last entry is the latest
/// complete minute. `None` = no datapoint in that minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Per-minute values, oldest first.
    pub minutes: Vec<Option<f64>>,
}

/// Observed demand: a series when the metrics call succeeded, or unknown.
/// Missing datapoints mean "no invocations" (0); a *failed* call is unknown,
/// and unknown never scales in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Demand {
    /// The call succeeded.
    Known(Series),
    /// The call failed; the string says why.
    Unknown(String),
}

/// Status of a provisioned-concurrency config, as Lambda reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PcStatus {
    /// `READY`.
    Ready,
    /// `IN_PROGRESS`: not touched until it settles.
    InProgress,
    /// `FAILED`: reported with its reason.
    Failed,
}

/// The config Lambda has now (`None` in [`Observation::current`]: no config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentPc {
    /// `RequestedProvisionedConcurrentExecutions`.
    pub requested: u32,
    /// `AllocatedProvisionedConcurrentExecutions`.
    pub allocated: u32,
    /// `Status`.
    pub status: PcStatus,
    /// `StatusReason` (set when FAILED).
    pub status_reason: Option<String>,
}

/// Ceilings beyond the policy's band.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `PCSCALE_MAX_PER_FUNCTION`.
    pub guard_rail: Option<u32>,
    /// The function's reserved concurrency, if set.
    pub reserved: Option<u32>,
    /// The account's `UnreservedConcurrentExecutions` (100 of it must stay free).
    pub unreserved: Option<u32>,
}

/// Everything observed about one resource for one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Maximum of `ConcurrentExecutions` per minute.
    pub demand: Demand,
    /// Average of `ProvisionedConcurrencyUtilization` per minute (only in that mode).
    pub utilization: Option<Demand>,
    /// The current config; `None` when there is none.
    pub current: Option<CurrentPc>,
    /// Ceilings from the platform and the operator.
    pub limits: Limits,
}

/// What the tick should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Nothing to change.
    Hold,
    /// `PutProvisionedConcurrencyConfig` with a larger value.
    ScaleOut,
    /// `PutProvisionedConcurrencyConfig` with a smaller value (>= 1).
    ScaleIn,
    /// `DeleteProvisionedConcurrencyConfig` (desired 0).
    Delete,
    /// Not touched this tick (disabled, IN_PROGRESS, ...); see the reason.
    Skip,
}

impl Action {
    /// Whether the action calls a Lambda write API.
    pub fn changes_capacity(self) -> bool {
        matches!(self, Action::ScaleOut | Action::ScaleIn | Action::Delete)
    }
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// The policy is disabled.
    Disabled,
    /// The config is IN_PROGRESS.
    InProgress,
    /// Target tracking wants more.
    TargetTrackingScaleOut,
    /// Target tracking wants less.
    TargetTrackingScaleIn,
    /// Target tracking is satisfied or held back (see the reason).
    TargetTrackingHold,
    /// No target tracking: capacity follows the band's floor.
    FollowBand,
    /// The band's floor raised the capacity.
    BandFloor,
    /// The band's ceiling lowered the capacity.
    BandCeiling,
}

/// A ceiling that cut the wanted capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clamp {
    /// `band.max`, `guard-rail`, `reserved`, `account-headroom`.
    pub by: String,
    /// The ceiling's value.
    pub limit: u32,
}

/// Why: the rule and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Which rule decided.
    pub rule: Rule,
    /// One line for people and the activity log.
    pub summary: String,
    /// Latest demand datapoint.
    pub demand_latest: Option<f64>,
    /// Maximum demand over the scale-in window.
    pub demand_window_max: Option<f64>,
    /// Latest utilisation datapoint (utilisation mode).
    pub utilization: Option<f64>,
    /// The policy's TargetValue.
    pub target_value: Option<f64>,
    /// Capacity the rule wanted before ceilings.
    pub wanted: Option<u32>,
    /// Ceilings that cut it.
    pub clamps: Vec<Clamp>,
    /// Seconds of cooldown left, when a cooldown held a step back.
    pub cooldown_remaining_secs: Option<u64>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Current requested PC (0 when there is no config).
    pub from: u32,
    /// Desired PC.
    pub to: u32,
    /// What to do about it.
    pub action: Action,
    /// The band in force.
    pub band: Band,
    /// Why.
    pub reason: Reason,
}

/// Minutes of metric history a decision for `policy` needs.
pub fn lookback_minutes(policy: &Policy) -> u32 {
    let window = policy
        .target_tracking
        .as_ref()
        .map_or(0, |tt| tt.scale_in_cooldown_secs.div_ceil(60));
    u32::try_from(window).unwrap_or(u32::MAX).max(1)
}

/// The decision for one resource. Pure: every input is an argument.
pub fn decide(policy: &Policy, state: &State, obs: &Observation, now: DateTime<Utc>) -> Decision {
    let _ = state;
    let band = effective_band(policy, now);
    let from = obs.current.as_ref().map_or(0, |c| c.requested);
    Decision {
        from,
        to: from,
        action: Action::Hold,
        band,
        reason: Reason {
            rule: Rule::TargetTrackingHold,
            summary: "not implemented".into(),
            demand_latest: None,
            demand_window_max: None,
            utilization: None,
            target_value: None,
            wanted: None,
            clamps: vec![],
            cooldown_remaining_secs: None,
        },
    }
}

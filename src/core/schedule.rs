//! Scheduled actions: `at()`, AWS 6-field `cron()`, `rate()`, time zones,
//! start/end windows, and the effective band at `now` (DESIGN.md §2.1).
//!
//! The band is computed statelessly from the schedules and `now`, so a missed
//! tick never loses an action.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::policy::Policy;

/// A parsed `Schedule` expression. Keeps its source text for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule {
    text: String,
}

/// Why a schedule expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Err(ScheduleError(format!("not implemented: {s}")))
    }
}

impl TryFrom<String> for Schedule {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Schedule> for String {
    fn from(s: Schedule) -> String {
        s.text
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    /// The latest occurrence at or before `now`, inside `[start, end]`, with
    /// wall-clock fields read in `tz`. `None` if it has not fired yet.
    pub fn latest_at_or_before(
        &self,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let _ = (tz, start, end, now);
        None
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

/// Who set one side of the band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BandSource {
    /// The policy's own MinCapacity / MaxCapacity.
    Policy,
    /// A scheduled action, by name, and the occurrence that set it.
    Action {
        /// The action's `Name`.
        name: String,
        /// The occurrence that is in force.
        fired_at: DateTime<Utc>,
    },
}

/// The effective `[min, max]` at `now`; `min <= max` always holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    /// Effective floor.
    pub min: u32,
    /// Effective ceiling (the cost guard-rail; wins a conflict with `min`).
    pub max: u32,
    /// Who set `min`.
    pub min_source: BandSource,
    /// Who set `max`.
    pub max_source: BandSource,
}

/// The band in force at `now`: for each action its latest occurrence at or
/// before `now` inside its window; the latest occurrence wins, field by
/// field; the policy's Min/Max apply where no action has fired.
pub fn effective_band(policy: &Policy, now: DateTime<Utc>) -> Band {
    let _ = now;
    Band {
        min: policy.min_capacity.min(policy.max_capacity),
        max: policy.max_capacity,
        min_source: BandSource::Policy,
        max_source: BandSource::Policy,
    }
}

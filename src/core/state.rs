//! What pcscale persists per resource between ticks (`sk = "state"`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decide::{Action, Decision};

/// The persisted state of one resource. `Version` guards every write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Incremented by every write; writes are conditional on the value read.
    pub version: u64,
    /// The capacity pcscale last applied (`None`: never applied).
    pub capacity: Option<u32>,
    /// When pcscale last raised the capacity.
    pub last_scale_out_at: Option<DateTime<Utc>>,
    /// When pcscale last lowered the capacity (including deletes).
    pub last_scale_in_at: Option<DateTime<Utc>>,
    /// When the last decision was taken.
    pub last_decision_at: Option<DateTime<Utc>>,
    /// The last decision's reason, for people.
    pub last_reason: Option<String>,
    /// A step claimed but not yet confirmed (set by the claim, cleared by the commit).
    pub pending: Option<Pending>,
}

/// A claimed step: written before calling Lambda, cleared after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Capacity before the step.
    pub from: u32,
    /// Capacity the step applies.
    pub to: u32,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
}

impl State {
    /// The last time capacity changed in either direction.
    pub fn last_change_at(&self) -> Option<DateTime<Utc>> {
        match (self.last_scale_out_at, self.last_scale_in_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The state to write when claiming `decision` (before calling Lambda).
    pub fn claimed(&self, decision: &Decision, now: DateTime<Utc>) -> State {
        State {
            version: self.version + 1,
            last_decision_at: Some(now),
            last_reason: Some(decision.reason.summary.clone()),
            pending: Some(Pending {
                from: decision.from,
                to: decision.to,
                claimed_at: now,
            }),
            ..self.clone()
        }
    }

    /// The state to write once `decision` has been applied (or, in dry-run,
    /// recorded): capacity and the cooldown timestamp of its direction advance.
    pub fn committed(&self, decision: &Decision, now: DateTime<Utc>) -> State {
        let mut next = State {
            version: self.version + 1,
            capacity: Some(decision.to),
            last_decision_at: Some(now),
            last_reason: Some(decision.reason.summary.clone()),
            pending: None,
            ..self.clone()
        };
        match decision.action {
            Action::ScaleOut => next.last_scale_out_at = Some(now),
            Action::ScaleIn | Action::Delete => next.last_scale_in_at = Some(now),
            Action::Hold | Action::Skip => {}
        }
        next
    }

    /// The state to write when the claimed step failed: cooldowns untouched.
    pub fn released(&self, now: DateTime<Utc>, why: &str) -> State {
        State {
            version: self.version + 1,
            last_decision_at: Some(now),
            last_reason: Some(why.to_owned()),
            pending: None,
            ..self.clone()
        }
    }
}

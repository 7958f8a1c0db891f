//! What pcscale persists per resource between ticks (`sk = "state"`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::Forecast;
use super::units::Secs;

/// The largest `Version` a readable state may carry (2^53: exact in every
/// JSON reader, and at one write a second it takes 285 million years to
/// reach). A larger one is a hand edit, read as a [`StateDefect`], so that
/// no increment of a version can ever overflow.
pub const MAX_VERSION: u64 = 1 << 53;

/// A timestamp this far ahead of a tick's `now` cannot come from a runner
/// whose clock is merely off: it is a hand edit (or a tick run with `--now`
/// in the future) and would hold a cooldown for as long. Such timestamps are
/// repaired to `now` ([`State::future_timestamps`]).
pub const FUTURE_TOLERANCE_SECS: Secs = Secs(15 * 60);

/// The longest a resource whose Lambda writes keep failing waits between
/// attempts.
pub const MAX_BACKOFF_SECS: Secs = Secs(60 * 60);

/// The persisted state of one resource. `Version` guards every write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Incremented by every write; writes are conditional on the value read.
    /// `1..MAX_VERSION` once written; `0` when there is no state item.
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
    /// Lambda writes refused in a row (reset by a step that is applied);
    /// the tick backs off such a resource ([`State::backoff_remaining`]).
    #[serde(default)]
    pub failures: u32,
    /// When a tick last read this resource's config from Lambda and took
    /// its capacity into `capacity` (`ObservedAt`); `None`: never, so the
    /// next tick reads it before deciding. Drives the staggered reconcile.
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
    /// A step pcscale applied that Lambda has not yet shown `READY`
    /// (`Unconfirmed`): the next tick reads the config before any other step.
    #[serde(default)]
    pub unconfirmed: bool,
    /// The function's reserved concurrency as last read, cached for
    /// [`RESERVED_CACHE_SECS`] (`Reserved`, `ReservedAt`).
    #[serde(default)]
    pub reserved: Option<ReservedRead>,
    /// The function's memory as last read, for the cold-start level's price
    /// (`MemoryMB`, `MemoryAt`; see [`MEMORY_RECHECK_SECS`]).
    #[serde(default)]
    pub memory: Option<MemoryRead>,
    /// The daily forecast learnt from the days before (`Forecast`; see
    /// [`super::history`]), when `HistoryDays` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// What `GetAlias` (and `ListTags`) last said about the alias this
    /// resource is, or shares provisioned concurrency with, and when: kept so
    /// that the tick asks the scarce control plane rarely ([`crate::alias`]).
    #[serde(default)]
    pub alias_check: Option<AliasCheck>,
    /// Why the stored item could not be used as it is (set by the store
    /// when it reads one; never written). The tick reports it once and
    /// replaces the item.
    #[serde(skip)]
    pub defect: Option<StateDefect>,
}

/// How long a read of a function's reserved concurrency is trusted. A
/// reservation lowered below the provisioned concurrency in the meantime
/// makes Lambda refuse the Put (counted as a failure, retried after a fresh read).
pub const RESERVED_CACHE_SECS: Secs = Secs(15 * 60);

/// One read of a function's reserved concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedRead {
    /// The reservation; `None`: the function has none.
    pub value: Option<u32>,
    /// When it was read.
    pub at: DateTime<Utc>,
}

impl ReservedRead {
    /// The cached value when it is still fresh at `now`.
    pub fn fresh(&self, now: DateTime<Utc>) -> Option<Option<u32>> {
        Secs::since(self.at, now)
            .is_some_and(|age| age < RESERVED_CACHE_SECS)
            .then_some(self.value)
    }
}

/// How long a read of a function's memory is trusted: a day. Memory changes
/// with a deploy (a new version the alias moves to), rarely; a day of the
/// old price costs little, and one `GetFunctionConfiguration` a day per
/// alias costs the control plane nothing it would notice. A failed read is
/// asked again after the same day (a role without the permission must not
/// cost a refused call every tick).
pub const MEMORY_RECHECK_SECS: i64 = 86_400;

/// One read of a function's memory (`GetFunctionConfiguration` of the
/// resource's qualifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRead {
    /// `MemorySize`, MB; `None`: Lambda did not say (the read failed, and
    /// no earlier one answered).
    pub mb: Option<u32>,
    /// When it was asked.
    pub at: DateTime<Utc>,
}

impl MemoryRead {
    /// Whether the memory of a resource whose last read is `read` is to be
    /// read again at `now`: never read, or read [`MEMORY_RECHECK_SECS`] ago
    /// or more (or, by a clock ahead, in the future).
    pub fn due(read: Option<&MemoryRead>, now: DateTime<Utc>) -> bool {
        read.is_none_or(|r| {
            let age = (now - r.at).num_seconds();
            !(0..MEMORY_RECHECK_SECS).contains(&age)
        })
    }
}

/// A state item the store could read only in part: its `Version` is
/// missing, not a positive integer, or beyond [`MAX_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDefect {
    /// What is wrong, naming the attribute (for the activity log).
    pub why: String,
    /// The store's own record of the stored `Version` (opaque here), on
    /// which the replacing write is conditioned.
    pub found: String,
}

/// An alias's target as last read (state attribute `AliasCheck`: `Alias`,
/// `Version`, `Stack`, `At`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasCheck {
    /// The alias (the resource's own qualifier, or its pair's).
    pub alias: String,
    /// The version it pointed to.
    pub version: String,
    /// The CloudFormation stack managing the function (tag
    /// `aws:cloudformation:stack-name`), when that was read and found.
    pub stack: Option<String>,
    /// When it was read, by the reading tick's clock.
    pub at: DateTime<Utc>,
}

/// A claimed step: written before calling Lambda, cleared after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Capacity before the step.
    pub from: u32,
    /// Capacity the step applies.
    pub to: u32,
    /// When it was claimed, by the claimant's clock (for people only: no
    /// tick compares it with its own clock).
    pub claimed_at: DateTime<Utc>,
    /// When a tick other than the claimant first saw the claim unsettled,
    /// by that tick's clock. The lease runs from here, so a claimant whose
    /// clock is off cannot make its fresh claim look abandoned.
    #[serde(default)]
    pub seen_at: Option<DateTime<Utc>>,
}

/// One step as the state records it: the capacity before and after, which
/// cooldown it starts, and why. [`crate::core::decide::Decision`] converts
/// into it, so the state knows nothing of how steps are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// Capacity before.
    pub from: u32,
    /// Capacity after.
    pub to: u32,
    /// The cooldown the step starts.
    pub direction: Direction,
    /// The one-line reason recorded as `LastReason`.
    pub summary: &'a str,
}

/// Which cooldown timestamp a committed step advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Capacity raised: `LastScaleOutAt`.
    Out,
    /// Capacity lowered or the config deleted: `LastScaleInAt`.
    In,
    /// Nothing changed: neither.
    Unchanged,
}

/// Where a claim Lambda does not (yet) show stands against its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// No tick has noted it yet, or the note is implausibly far in the
    /// future: the judging tick notes `now` and leaves the claim alone.
    Unseen,
    /// Seen unsettled for this long, under the lease.
    Held(Secs),
    /// Seen unsettled for this long, at or beyond the lease: the
    /// claimant is gone, and the claim is released.
    Expired(Secs),
}

/// What a tick does with another tick's claim ([`Pending::verdict`]): the
/// one rule the tick applies and `explain` predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// First sighting: the tick notes `now` as [`Pending::seen_at`] and
    /// leaves the claim to its claimant, which may be about to commit it
    /// (`applied`: Lambda already shows the claimed capacity).
    FirstSighting {
        /// Lambda already shows the claimed capacity.
        applied: bool,
    },
    /// Seen unsettled for this long, under the lease, and Lambda does not
    /// show it yet: the claimant is still working; skip the resource.
    InFlight(Secs),
    /// Lambda shows the step (a commit that failed after a successful
    /// Put), or the lease ran out: settle the claim from what Lambda reports.
    Settle,
}

impl Pending {
    /// What the tick judging this claim at `now` does with it, Lambda
    /// showing `observed` units requested. The claimant's clock never
    /// enters: the lease is measured from the first sighting.
    pub fn verdict(&self, now: DateTime<Utc>, lease: Secs, observed: u32) -> ClaimVerdict {
        let applied = observed == self.to;
        match self.lease(now, lease) {
            Lease::Unseen => ClaimVerdict::FirstSighting { applied },
            Lease::Held(age) if !applied => ClaimVerdict::InFlight(age),
            Lease::Held(_) | Lease::Expired(_) => ClaimVerdict::Settle,
        }
    }

    /// The lease of this claim at `now` (the judging tick's clock), measured
    /// from [`Pending::seen_at`] only.
    pub fn lease(&self, now: DateTime<Utc>, lease: Secs) -> Lease {
        match self.seen_at {
            None => Lease::Unseen,
            Some(t) if Secs::elapsed(now, t) > FUTURE_TOLERANCE_SECS => Lease::Unseen,
            Some(t) => {
                let age = Secs::elapsed(t, now);
                if age >= lease {
                    Lease::Expired(age)
                } else {
                    Lease::Held(age)
                }
            }
        }
    }
}

impl State {
    /// The version of the next write: one more, never overflowing (a
    /// readable state's version is below [`MAX_VERSION`]).
    pub fn next_version(&self) -> u64 {
        self.version.saturating_add(1).min(MAX_VERSION)
    }

    /// The names of the timestamps more than [`FUTURE_TOLERANCE_SECS`]
    /// after `now`, and the state with each of them set to `now` (a cooldown
    /// then runs from this tick, never for longer than it says).
    pub fn future_timestamps(&self, now: DateTime<Utc>) -> (Vec<&'static str>, State) {
        let mut fixed = self.clone();
        let mut names = Vec::new();
        let ahead = |t: Option<DateTime<Utc>>| {
            t.is_some_and(|t| Secs::elapsed(now, t) > FUTURE_TOLERANCE_SECS)
        };
        if ahead(self.last_scale_out_at) {
            names.push("LastScaleOutAt");
            fixed.last_scale_out_at = Some(now);
        }
        if ahead(self.last_scale_in_at) {
            names.push("LastScaleInAt");
            fixed.last_scale_in_at = Some(now);
        }
        if ahead(self.last_decision_at) {
            names.push("LastDecisionAt");
            fixed.last_decision_at = Some(now);
        }
        (names, fixed)
    }

    /// The last time capacity changed in either direction.
    pub fn last_change_at(&self) -> Option<DateTime<Utc>> {
        match (self.last_scale_out_at, self.last_scale_in_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The state to write when claiming `step` (before calling Lambda).
    pub fn claimed<'a>(&self, step: impl Into<Step<'a>>, now: DateTime<Utc>) -> State {
        let step = step.into();
        State {
            version: self.next_version(),
            last_decision_at: Some(now),
            last_reason: Some(step.summary.to_owned()),
            pending: Some(Pending {
                from: step.from,
                to: step.to,
                claimed_at: now,
                seen_at: None,
            }),
            ..self.clone()
        }
    }

    /// The state to write once `step` has been applied (or, in dry-run,
    /// recorded): capacity and the cooldown timestamp of its direction advance.
    pub fn committed<'a>(&self, step: impl Into<Step<'a>>, now: DateTime<Utc>) -> State {
        let step = step.into();
        let mut next = State {
            version: self.next_version(),
            capacity: Some(step.to),
            last_decision_at: Some(now),
            last_reason: Some(step.summary.to_owned()),
            pending: None,
            failures: 0,
            unconfirmed: true,
            ..self.clone()
        };
        match step.direction {
            Direction::Out => next.last_scale_out_at = Some(now),
            Direction::In => next.last_scale_in_at = Some(now),
            Direction::Unchanged => {}
        }
        next
    }

    /// The state to write when Lambda refused the claimed step: released,
    /// with one more failure in a row counted.
    pub fn failed(&self, now: DateTime<Utc>, why: &str) -> State {
        State {
            failures: self.failures.saturating_add(1),
            ..self.released(now, why)
        }
    }

    /// The time left before a resource whose writes keep being refused may
    /// try again: after `n` refusals in a row it waits about `2^(n-1)`
    /// minutes (ticks at one a minute: retried at once after the first,
    /// then after 2, 4, 8, ... minutes, at most [`MAX_BACKOFF_SECS`]),
    /// counted from the last refusal (`LastDecisionAt`).
    pub fn backoff_remaining(&self, now: DateTime<Utc>) -> Option<Secs> {
        if self.failures == 0 {
            return None;
        }
        let doublings = self.failures.min(8) - 1;
        // Half a minute less, so that a tick a little early still retries.
        let wait = Secs((60_u64 << doublings).min(MAX_BACKOFF_SECS.get()) - 30);
        let since = Secs::elapsed(self.last_decision_at?, now);
        (since < wait).then_some(wait.saturating_sub(since))
    }

    /// The state to write when the claimed step failed: cooldowns untouched.
    pub fn released(&self, now: DateTime<Utc>, why: &str) -> State {
        State {
            version: self.next_version(),
            last_decision_at: Some(now),
            last_reason: Some(why.to_owned()),
            pending: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }

    #[test]
    fn refused_writes_back_off_exponentially_and_a_success_resets() {
        let now = t0();
        let mut s = State::default();
        let mut tried = Vec::new();
        for minute in 0..20 {
            let at = now + TimeDelta::minutes(minute);
            if s.backoff_remaining(at).is_none() {
                tried.push(minute);
                s = s.failed(at, "AccessDenied");
            }
        }
        assert_eq!(tried, vec![0, 1, 3, 7, 15]);
        assert_eq!(s.failures, 5);
        let s = State {
            failures: u32::MAX,
            last_decision_at: Some(now),
            ..State::default()
        };
        assert_eq!(
            s.backoff_remaining(now),
            Some(Secs(MAX_BACKOFF_SECS.get() - 30))
        );
    }

    #[test]
    fn the_next_version_never_overflows() {
        let s = State {
            version: u64::MAX,
            ..State::default()
        };
        assert_eq!(s.next_version(), MAX_VERSION);
        assert_eq!(State::default().next_version(), 1);
    }

    #[test]
    fn a_lease_runs_from_the_first_sighting_never_from_the_claimants_clock() {
        let now = t0();
        // Claimed "3 minutes ago" by a runner whose clock is 3 minutes behind.
        let mut p = Pending {
            from: 0,
            to: 20,
            claimed_at: now - TimeDelta::minutes(3),
            seen_at: None,
        };
        assert_eq!(p.lease(now, Secs(120)), Lease::Unseen);
        p.seen_at = Some(now - TimeDelta::seconds(60));
        assert_eq!(p.lease(now, Secs(120)), Lease::Held(Secs(60)));
        p.seen_at = Some(now - TimeDelta::seconds(121));
        assert_eq!(p.lease(now, Secs(120)), Lease::Expired(Secs(121)));
        // Noted by a tick a little ahead: held, never negative.
        p.seen_at = Some(now + TimeDelta::seconds(30));
        assert_eq!(p.lease(now, Secs(120)), Lease::Held(Secs(0)));
        // Noted by a tick run with `--now` a year ahead: noted again.
        p.seen_at = Some(now + TimeDelta::days(365));
        assert_eq!(p.lease(now, Secs(120)), Lease::Unseen);
    }

    #[test]
    fn a_claim_is_left_to_its_claimant_once_then_waited_for_then_settled() {
        let now = t0();
        let mut p = Pending {
            from: 2,
            to: 20,
            claimed_at: now,
            seen_at: None,
        };
        let lease = Secs(120);
        assert_eq!(
            p.verdict(now, lease, 2),
            ClaimVerdict::FirstSighting { applied: false }
        );
        assert_eq!(
            p.verdict(now, lease, 20),
            ClaimVerdict::FirstSighting { applied: true }
        );
        p.seen_at = Some(now - TimeDelta::seconds(60));
        assert_eq!(p.verdict(now, lease, 2), ClaimVerdict::InFlight(Secs(60)));
        // Seen before and shown by Lambda: a commit that failed after its Put.
        assert_eq!(p.verdict(now, lease, 20), ClaimVerdict::Settle);
        p.seen_at = Some(now - TimeDelta::seconds(120));
        assert_eq!(p.verdict(now, lease, 2), ClaimVerdict::Settle);
    }

    #[test]
    fn timestamps_far_in_the_future_are_repaired_to_now() {
        let now = t0();
        let s = State {
            version: 3,
            last_scale_in_at: Some(now + TimeDelta::days(30_000)),
            last_scale_out_at: Some(now + TimeDelta::seconds(30)),
            ..State::default()
        };
        let (names, fixed) = s.future_timestamps(now);
        assert_eq!(names, vec!["LastScaleInAt"]);
        assert_eq!(fixed.last_scale_in_at, Some(now));
        assert_eq!(fixed.last_scale_out_at, s.last_scale_out_at);
    }
}

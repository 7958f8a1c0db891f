//! Newtypes for numbers that were easy to confuse.
//!
//! Durations in whole seconds were `u64` in the policy (cooldowns), `i64`
//! in the state (lease, back-off, cache lifetime, future tolerance) and
//! compared with `TimeDelta::num_seconds()` at each use, each site choosing
//! its own sign handling. [`Secs`] is the one type for such a duration: never
//! negative, never a point in time (points in time are `DateTime<Utc>`), and
//! measured between two instants by [`Secs::since`] / [`Secs::elapsed`] only.
//! It serialises as its bare number (`serde(transparent)`), so no item and
//! no JSON output changes.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A duration in whole seconds (a cooldown, a lease, a back-off, a cache
/// lifetime, a cooldown's remainder).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Secs(pub u64);

impl Secs {
    /// No time at all.
    pub const ZERO: Secs = Secs(0);

    /// The number of seconds.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The whole seconds from `earlier` to `later` (truncated towards zero,
    /// as `TimeDelta::num_seconds`), `None` when `later` is more than a
    /// second before `earlier` (a clock ahead, a hand edit).
    pub fn since(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Option<Secs> {
        u64::try_from((later - earlier).num_seconds())
            .ok()
            .map(Secs)
    }

    /// [`Secs::since`], with a `later` before `earlier` counted as no time.
    pub fn elapsed(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Secs {
        Secs::since(earlier, later).unwrap_or(Secs::ZERO)
    }

    /// `self - other`, or no time when `other` is longer.
    pub const fn saturating_sub(self, other: Secs) -> Secs {
        Secs(self.0.saturating_sub(other.0))
    }

    /// The duration as a `TimeDelta` (saturating at `i64::MAX` seconds).
    pub fn delta(self) -> TimeDelta {
        TimeDelta::try_seconds(i64::try_from(self.0).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
    }
}

impl fmt::Display for Secs {
    /// The bare number (`240`): messages add their own unit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn since_truncates_like_num_seconds_and_refuses_time_going_back() {
        let t = Utc
            .with_ymd_and_hms(2025, 3, 1, 10, 0, 0)
            .single()
            .expect("valid time");
        let ms = TimeDelta::milliseconds;
        assert_eq!(Secs::since(t, t + ms(1999)), Some(Secs(1)));
        // Less than a second back truncates to 0, as num_seconds does.
        assert_eq!(Secs::since(t, t - ms(999)), Some(Secs(0)));
        assert_eq!(Secs::since(t, t - ms(1000)), None);
        assert_eq!(Secs::elapsed(t, t - ms(5000)), Secs::ZERO);
        assert_eq!(Secs(5).saturating_sub(Secs(7)), Secs::ZERO);
        assert_eq!(Secs(u64::MAX).delta(), TimeDelta::MAX);
        assert_eq!(Secs(90).delta(), TimeDelta::seconds(90));
        assert_eq!(format!("{}s", Secs(240)), "240s");
        assert_eq!(serde_json::to_string(&Some(Secs(5))).ok(), Some("5".into()));
    }
}

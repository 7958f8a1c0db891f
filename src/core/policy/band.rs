//! The band in force: the `[min, max]` the policy and its scheduled actions
//! set at `now` (Application Auto Scaling semantics).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Policy;

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

/// One side of the band so far: when it was set, the value, and by whom.
type Side<'a> = Option<(DateTime<Utc>, u32, &'a str)>;

/// Offers an action's value for one side; the later occurrence wins, and on a
/// tie the action offered later (listed later) wins.
fn offer<'a>(side: &mut Side<'a>, value: Option<u32>, fired_at: DateTime<Utc>, name: &'a str) {
    if let Some(v) = value
        && side.is_none_or(|(t, _, _)| fired_at >= t)
    {
        *side = Some((fired_at, v, name));
    }
}

/// The band in force at `now`: for each action its latest occurrence at or
/// before `now` inside its window; the latest occurrence wins, field by
/// field; the policy's Min/Max apply where no action has fired.
///
/// Two actions firing at the same instant: the one listed later in
/// `ScheduledActions` wins. If the winning floor exceeds the winning ceiling,
/// the floor is lowered to the ceiling (MaxCapacity is the cost guard-rail)
/// and `min_source` names whoever set the ceiling, since that is the value
/// in force.
pub fn effective_band(policy: &Policy, now: DateTime<Utc>) -> Band {
    let mut min: Side<'_> = None;
    let mut max: Side<'_> = None;
    for action in &policy.scheduled_actions {
        if action.min_capacity.is_none() && action.max_capacity.is_none() {
            continue;
        }
        let Some(fired_at) = action.latest_at_or_before(now) else {
            continue;
        };
        offer(&mut min, action.min_capacity, fired_at, &action.name);
        offer(&mut max, action.max_capacity, fired_at, &action.name);
    }
    let source = |side: Side<'_>| match side {
        Some((fired_at, _, name)) => BandSource::Action {
            name: name.to_owned(),
            fired_at,
        },
        None => BandSource::Policy,
    };
    let max_value = max.map_or(policy.max_capacity, |(_, v, _)| v);
    let max_source = source(max);
    let min_value = min.map_or(policy.min_capacity, |(_, v, _)| v);
    if min_value > max_value {
        Band {
            min: max_value,
            max: max_value,
            min_source: max_source.clone(),
            max_source,
        }
    } else {
        Band {
            min: min_value,
            max: max_value,
            min_source: source(min),
            max_source,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;
    use chrono_tz::Tz;
    use chrono_tz::UTC;

    use super::*;
    use crate::core::policy::model::ScheduledAction;
    use crate::core::schedule::test_time::{local, sched, utc};

    fn action(
        name: &str,
        schedule: &str,
        tz: Tz,
        min: Option<u32>,
        max: Option<u32>,
    ) -> ScheduledAction {
        ScheduledAction {
            name: name.to_owned(),
            schedule: sched(schedule),
            timezone: tz,
            start_time: None,
            end_time: None,
            min_capacity: min,
            max_capacity: max,
        }
    }

    fn policy(min: u32, max: u32, actions: Vec<ScheduledAction>) -> Policy {
        Policy {
            resource: "function:f:live".parse().expect("valid resource id"),
            sk: Default::default(),
            enabled: true,
            min_capacity: min,
            max_capacity: max,
            target_tracking: None,
            scheduled_actions: actions,
            dry_run: false,
            description: None,
        }
    }

    fn by(name: &str, fired_at: DateTime<Utc>) -> BandSource {
        BandSource::Action {
            name: name.to_owned(),
            fired_at,
        }
    }

    // ---- parsing ------------------------------------------------------

    #[test]
    fn without_actions_the_band_is_the_policy_min_and_max() {
        let band = effective_band(&policy(2, 40, vec![]), utc("2024-05-10T00:00:00Z"));
        assert_eq!(
            band,
            Band {
                min: 2,
                max: 40,
                min_source: BandSource::Policy,
                max_source: BandSource::Policy
            }
        );
    }

    #[test]
    fn two_actions_interleave_field_by_field_and_the_latest_wins() {
        let p = policy(
            1,
            200,
            vec![
                action("morning", "cron(0 8 * * ? *)", UTC, Some(10), Some(100)),
                action("noon-cap", "cron(0 12 * * ? *)", UTC, None, Some(50)),
            ],
        );
        let band = effective_band(&p, utc("2024-05-10T09:00:00Z"));
        let morning = utc("2024-05-10T08:00:00Z");
        let noon_before = utc("2024-05-09T12:00:00Z");
        assert_eq!((band.min, band.max), (10, 100));
        assert_eq!(band.min_source, by("morning", morning));
        assert_eq!(band.max_source, by("morning", morning));
        let _ = noon_before;

        let band = effective_band(&p, utc("2024-05-10T13:00:00Z"));
        assert_eq!((band.min, band.max), (10, 50));
        assert_eq!(band.min_source, by("morning", morning));
        assert_eq!(band.max_source, by("noon-cap", utc("2024-05-10T12:00:00Z")));

        // Before either has ever fired (both have a StartTime later): the policy's.
        let mut late = p.clone();
        for a in &mut late.scheduled_actions {
            a.start_time = Some(utc("2024-06-01T00:00:00Z"));
        }
        let band = effective_band(&late, utc("2024-05-10T13:00:00Z"));
        assert_eq!((band.min, band.max), (1, 200));
        assert_eq!(band.min_source, BandSource::Policy);
    }

    #[test]
    fn max_capacity_wins_a_conflict_with_min_capacity() {
        let p = policy(
            1,
            200,
            vec![
                action("cap", "cron(0 12 * * ? *)", UTC, None, Some(50)),
                action("floor", "cron(0 14 * * ? *)", UTC, Some(80), None),
            ],
        );
        let band = effective_band(&p, utc("2024-05-10T15:00:00Z"));
        assert_eq!((band.min, band.max), (50, 50));
        let cap = by("cap", utc("2024-05-10T12:00:00Z"));
        assert_eq!(band.min_source, cap);
        assert_eq!(band.max_source, cap);
        // The policy's own floor is also capped by an action's ceiling.
        let p = policy(
            30,
            200,
            vec![action("cap", "cron(0 12 * * ? *)", UTC, None, Some(5))],
        );
        let band = effective_band(&p, utc("2024-05-10T15:00:00Z"));
        assert_eq!((band.min, band.max), (5, 5));
    }

    #[test]
    fn actions_firing_at_the_same_instant_let_the_later_listed_win() {
        let p = policy(
            1,
            200,
            vec![
                action("a", "cron(0 12 * * ? *)", UTC, Some(10), None),
                action("b", "cron(0 12 * * ? *)", UTC, Some(20), None),
            ],
        );
        let band = effective_band(&p, utc("2024-05-10T15:00:00Z"));
        assert_eq!(band.min, 20);
    }

    #[test]
    fn a_tick_missed_for_three_hours_still_yields_the_right_band() {
        let p = policy(
            1,
            100,
            vec![
                action("evening", "cron(0 20 * * ? *)", UTC, Some(50), None),
                action("one-off", "at(2024-05-10T21:30:00)", UTC, Some(70), None),
                action("late", "cron(0 22 * * ? *)", UTC, None, Some(90)),
            ],
        );
        // Last tick at 19:59, next at 23:00: all three fired in between.
        let before = effective_band(&p, utc("2024-05-10T19:59:00Z"));
        assert_eq!(
            before.min_source,
            by("evening", utc("2024-05-09T20:00:00Z"))
        );
        let band = effective_band(&p, utc("2024-05-10T23:00:00Z"));
        assert_eq!((band.min, band.max), (70, 90));
        assert_eq!(band.min_source, by("one-off", utc("2024-05-10T21:30:00Z")));
        assert_eq!(band.max_source, by("late", utc("2024-05-10T22:00:00Z")));
    }

    #[test]
    fn alibaba_two_daily_actions_in_utc_plus_8_between_start_and_end() {
        // Alibaba's example: min 50 at 20:00, min 10 at 22:00, UTC+8.
        let start = Some(local(Shanghai, "2024-06-01T00:00:00"));
        let end = Some(local(Shanghai, "2024-06-30T23:59:59"));
        let mut a = action(
            "evening-peak",
            "cron(0 20 * * ? *)",
            Shanghai,
            Some(50),
            None,
        );
        let mut b = action("night", "cron(0 22 * * ? *)", Shanghai, Some(10), None);
        for x in [&mut a, &mut b] {
            x.start_time = start;
            x.end_time = end;
        }
        let p = policy(2, 100, vec![a, b]);
        let min_at = |wall: &str| effective_band(&p, local(Shanghai, wall));
        let band = min_at("2024-06-10T21:00:00");
        assert_eq!(band.min, 50);
        assert_eq!(
            band.min_source,
            by("evening-peak", utc("2024-06-10T12:00:00Z"))
        );
        let band = min_at("2024-06-10T23:00:00");
        assert_eq!(band.min, 10);
        assert_eq!(band.min_source, by("night", utc("2024-06-10T14:00:00Z")));
        // 19:00: yesterday's 22:00 is still in force.
        let band = min_at("2024-06-10T19:00:00");
        assert_eq!(band.min, 10);
        assert_eq!(band.min_source, by("night", utc("2024-06-09T14:00:00Z")));
        // Before StartTime, and on the first day before 20:00: the policy's own.
        assert_eq!(min_at("2024-05-31T21:00:00").min_source, BandSource::Policy);
        assert_eq!(min_at("2024-05-31T21:00:00").min, 2);
        assert_eq!(min_at("2024-06-01T19:00:00").min, 2);
        // After EndTime the last occurrence (06-30 22:00) stays in force.
        assert_eq!(min_at("2024-07-05T21:00:00").min, 10);
    }

    // ---- properties -------------------------------------------------------
}

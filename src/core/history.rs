//! Learning from the days before: a per-alias forecast of the rises the
//! previous days say are due, computed once a day from CloudWatch's 1-minute
//! history and kept in the state item (`Forecast`), so that no tick reads
//! more than its look-back.
//!
//! # What is learnt
//!
//! A *rise* at unit `k` in minute `m` is a cold start unit `k` would have
//! caught, the event of the level ([`super::coldstart`]): `W[m] < k <= D[m]`,
//! with `W[m]` the warm pool of the keep-alive minutes before `m`. For every
//! minute `r` of the next day (from the refresh on), the days before are
//! asked whether unit `k` rose within [`MATCH_TOLERANCE_MINUTES`] of the same
//! time of day:
//!
//! * **day of week**: the days read are those of `r`'s kind (weekday or
//!   weekend, UTC); only when the history holds no day of that kind yet are
//!   all days read (a daily timer seen on a Friday is pre-warmed on Saturday,
//!   a weekday ramp seen beside an idle weekend is not);
//! * **a stopped pattern**: a unit counts only if it rose on the most recent
//!   day read, so a rise that stops happening is pre-warmed once more at
//!   most (the day it did not come), never again;
//! * **how likely**: `p_k = hits_k / (days read + 1)` (one day of evidence is
//!   an even bet, five of five is 5/6), and 0 when more than one day was
//!   read and fewer than [`MIN_HITS`] showed it (once is no pattern);
//! * **whether it pays**: a unit held for the pre-warm costs
//!   `T x hold / 60` (the level's price `T` per unit-hour, by the function's
//!   memory as [`super::coldstart::unit_price`] gives it at the refresh, for
//!   the minutes a pre-warm is held: the lead plus the scale-in cooldown) and
//!   earns `p_k` avoided cold starts; units are stacked from 1 as in the
//!   level, and the prefix with the highest total is kept if that total is
//!   at least [`STEP_COLD_STARTS`] (the steps a pre-warm costs).
//!
//! Worked example: a timer that wakes 3 environments at 09:00 every day.
//! After its first day the refresh finds, for tomorrow 09:00, units 1..3
//! rising on the one day read: `p = 1/2` each against a price of
//! `1.5 x 11 / 60 = 0.275`, `3 x (0.5 - 0.275) = 0.675` earned, more than
//! [`STEP_COLD_STARTS`]: the forecast holds 3 units for 09:00, and the
//! tick whose newest datapoint is 08:53 or later (due within
//! [`super::coldstart::PREWARM_LEAD_MINUTES`] plus the unpublished minutes)
//! raises PC to 3.
//!
//! # What it does not do
//!
//! Time zones other than UTC, holidays and patterns longer than a week are
//! not modelled; rises are matched on the minute (within the tolerance), so
//! a ramp that drifts by more than that from day to day is not learnt. A
//! function with no repeated rise gets an empty forecast and today's
//! behaviour exactly.

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::coldstart::{MAX_LEVEL_UNITS, PREWARM_LEAD_MINUTES};
use super::policy::{ColdStartAware, HISTORY_DAYS};
use super::window::PublicationDelay;
use super::window::Series;

/// `HistoryDays` when the policy does not say.
pub const DEFAULT_HISTORY_DAYS: u32 = 14;

/// The most days of history a forecast reads. CloudWatch keeps 1-minute
/// datapoints for 15 days (5-minute ones for 63): 14 whole days plus the
/// current one stay inside the 1-minute retention, so one `GetMetricData`
/// query at a 60 s period (20,160 datapoints, under the 100,800 a call
/// returns) answers the whole history.
pub const MAX_HISTORY_DAYS: u32 = HISTORY_DAYS.max as u32;

/// Minutes either side of the same time of day within which a past rise
/// matches (timers fire on the minute, but a per-minute peak lands on either
/// side of a minute boundary, and cron jobs drift by a minute or so).
pub const MATCH_TOLERANCE_MINUTES: i64 = 2;

/// Minutes after the newest datapoint a forecast covers: a day, plus an hour
/// for a refresh that comes late (the schedule's next slot is a day later).
pub const FORECAST_MINUTES: i64 = 1440 + 60;

/// The most predicted rises a forecast keeps (the most valuable ones): it
/// bounds the state item (each is about 130 bytes of JSON: 6 KB at most).
pub const MAX_RISES: usize = 48;

/// Days that must show a rise before it is predicted, when more than one
/// day is read (one day read may stand alone: a daily timer is pre-warmed
/// on its second day).
pub const MIN_HITS: u32 = 2;

/// What a pre-warm must earn beyond its units' price, in expected avoided
/// cold starts: each one is two steps (up, then down), each with its
/// control-plane calls and an activity item that every scan reads for 30
/// days (`bench/RESULTS.md`: about $0.0009 an item, near the $0.0011 pcscale
/// pays per avoided cold start on the bundled day).
pub const STEP_COLD_STARTS: f64 = 0.5;

/// Minutes in a day.
const DAY: i64 = 1440;

/// Weekday or weekend (UTC): the day-of-week distinction a forecast makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DayKind {
    /// Monday to Friday.
    Weekday,
    /// Saturday and Sunday.
    Weekend,
    /// Every day (the history held no day of the target's kind).
    Any,
}

impl DayKind {
    /// The kind of the UTC day holding `t`.
    pub fn of(t: DateTime<Utc>) -> DayKind {
        match t.weekday() {
            Weekday::Sat | Weekday::Sun => DayKind::Weekend,
            _ => DayKind::Weekday,
        }
    }

    /// Plural name, for reasons (`weekdays`, `weekend days`, `days`).
    pub fn plural(self) -> &'static str {
        match self {
            DayKind::Weekday => "weekdays",
            DayKind::Weekend => "weekend days",
            DayKind::Any => "days",
        }
    }
}

/// A rise the days before predict, over a run of consecutive minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredictedRise {
    /// The first minute predicted.
    pub at: DateTime<Utc>,
    /// Consecutive minutes (from `at`) with the same prediction.
    pub minutes: u32,
    /// PC units worth holding for it.
    pub units: u32,
    /// Days read that showed the rise (at its top unit).
    pub hits: u32,
    /// Days read (of `kind`).
    pub of: u32,
    /// Which days were read.
    pub kind: DayKind,
    /// The days that showed it, as a bit set: bit `j - 1` is the day `j`
    /// days before `at`.
    pub seen: u16,
    /// Expected cold starts avoided by the units (the sum of their `p_k`).
    pub expected: f64,
}

impl PredictedRise {
    /// The start of every day that showed the rise, newest first.
    pub fn seen_days(&self) -> Vec<DateTime<Utc>> {
        (1..=16i64)
            .filter(|j| self.seen & (1u16 << (j - 1)) != 0)
            .map(|j| self.at - TimeDelta::days(j))
            .collect()
    }
}

/// The per-alias forecast kept in the state item (`Forecast`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Forecast {
    /// The `HistoryDays` it was computed for (another value refreshes it).
    pub history_days: u32,
    /// The newest minute of the history read (`None`: there was none).
    pub newest: Option<DateTime<Utc>>,
    /// Whole days of history the series held.
    pub days_read: u32,
    /// When the next refresh is due.
    pub next_refresh_at: DateTime<Utc>,
    /// The rises predicted, oldest first (at most [`MAX_RISES`]).
    pub rises: Vec<PredictedRise>,
}

/// A pre-warm the forecast calls for now.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPrewarm {
    /// Units to hold.
    pub units: u32,
    /// Minutes from the newest datapoint to the predicted minute (0 or
    /// less: it is due now, within the matching tolerance).
    pub due_in_minutes: i64,
    /// The prediction.
    pub rise: PredictedRise,
}

impl Forecast {
    /// The largest rise predicted for a minute `r` with
    /// `newest - MATCH_TOLERANCE_MINUTES < r <= newest + lead`, where
    /// `newest` is the newest published minute the decision reads: the
    /// units to hold now. `None` when none is due.
    pub fn due(&self, newest: DateTime<Utc>, lead_minutes: u32) -> Option<HistoryPrewarm> {
        let lo = newest - TimeDelta::minutes(MATCH_TOLERANCE_MINUTES - 1);
        let hi = newest + TimeDelta::minutes(i64::from(lead_minutes));
        let mut best: Option<HistoryPrewarm> = None;
        for r in &self.rises {
            let end = r.at + TimeDelta::minutes(i64::from(r.minutes.max(1)) - 1);
            if end < lo || r.at > hi || r.units == 0 {
                continue;
            }
            let first = r.at.max(lo);
            if best.as_ref().is_none_or(|b| r.units > b.units) {
                best = Some(HistoryPrewarm {
                    units: r.units,
                    due_in_minutes: (first - newest).num_minutes(),
                    rise: r.clone(),
                });
            }
        }
        best
    }
}

/// FNV-1a of `key` (stable across Rust releases).
fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first refresh slot of `key` after `now`: once a day, at a minute of
/// the UTC day fixed by the key's hash, so that the aliases of an account
/// spread their history queries over the day.
pub fn next_refresh(key: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    let slot = i64::try_from(fnv(key) % 1440).unwrap_or(0);
    let day = now.timestamp().div_euclid(86_400) * 86_400;
    let mut at = day + slot * 60;
    if at <= now.timestamp() {
        at += 86_400;
    }
    DateTime::from_timestamp(at, 0).unwrap_or(now + TimeDelta::days(1))
}

/// Minutes of each hour during which an alias without a forecast may fetch
/// its first one, from a minute fixed by its key: wide enough for a quiet
/// alias decided every few minutes (`PCSCALE_QUIET_EVERY_MINUTES`) to be
/// decided in it, narrow enough that a fresh deployment's aliases fetch
/// their history over the hour, about a sixth of them in any one window,
/// rather than all in its first tick.
pub const FIRST_REFRESH_WINDOW_MINUTES: i64 = 10;

/// Whether the alias `key` must refresh its forecast at `now`: history is
/// on, and its refresh is due, or it has no forecast (or one computed for
/// another `HistoryDays`) and `now` is in its first-refresh window of the
/// hour ([`FIRST_REFRESH_WINDOW_MINUTES`]).
pub fn refresh_due(
    forecast: Option<&Forecast>,
    cfg: &ColdStartAware,
    key: &str,
    now: DateTime<Utc>,
) -> bool {
    if cfg.history_days == 0 {
        return false;
    }
    match forecast {
        Some(f) if f.history_days == cfg.history_days => f.next_refresh_at <= now,
        _ => {
            let slot = i64::try_from(fnv(key) % 60).unwrap_or(0);
            let minute = now.timestamp().div_euclid(60).rem_euclid(60);
            (minute - slot).rem_euclid(60) < FIRST_REFRESH_WINDOW_MINUTES
        }
    }
}

/// Minutes a history pre-warm is expected to be held, for its price: from
/// the lead (the pre-warm lead, the minutes until a tick sees a minute, the
/// matching tolerance) to the predicted minute, or the scale-in cooldown
/// that follows the scale-out, whichever is longer. Defaults (lead 5,
/// delay 180 s, cooldown 600 s): `max(5 + 4 + 2, 10) = 11`.
pub fn hold_minutes(scale_in_cooldown_secs: u64, delay: PublicationDelay) -> u32 {
    let lead = PREWARM_LEAD_MINUTES
        .saturating_add(delay.minutes_until_seen())
        .saturating_add(MATCH_TOLERANCE_MINUTES as u32);
    let cooldown = u32::try_from(scale_in_cooldown_secs.div_ceil(60)).unwrap_or(u32::MAX);
    lead.max(cooldown)
}

/// Minutes of history a refresh requests: `HistoryDays` days, plus the
/// keep-alive and matching minutes the oldest day needs before it.
pub fn history_minutes(cfg: &ColdStartAware) -> u32 {
    let k = cfg.keep_alive_secs.div_ceil(60).max(1);
    cfg.history_days
        .min(MAX_HISTORY_DAYS)
        .saturating_mul(1440)
        .saturating_add(k + MATCH_TOLERANCE_MINUTES as u32)
}

/// The forecast from `history` (the per-minute Maximum of
/// `ConcurrentExecutions`, oldest first, ending at the newest published
/// minute, as [`super::window::MetricWindow::series`] gives it), for a
/// pre-warm held about `hold_minutes` each time at `per_hour` cold starts
/// per unit-hour ([`super::coldstart::unit_price`]). `next_refresh_at` is
/// stored as given. Pure: every input is an argument.
pub fn forecast(
    history: &Series,
    cfg: &ColdStartAware,
    per_hour: f64,
    hold_minutes: u32,
    next_refresh_at: DateTime<Utc>,
) -> Forecast {
    let mut out = Forecast {
        history_days: cfg.history_days,
        newest: history.newest,
        days_read: 0,
        next_refresh_at,
        rises: Vec::new(),
    };
    let Some(newest) = history.newest else {
        return out;
    };
    let len = history.minutes.len();
    if len == 0 || cfg.history_days == 0 {
        return out;
    }
    out.days_read = u32::try_from(len / 1440).unwrap_or(u32::MAX);
    let n_len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = newest - TimeDelta::minutes(n_len - 1);
    let k = i64::from(cfg.keep_alive_secs.div_ceil(60).max(1));
    let cap = MAX_LEVEL_UNITS;
    let d: Vec<u32> = history
        .minutes
        .iter()
        .map(|v| match v {
            Some(x) if x.is_finite() && *x > 0.0 => {
                let c = x.ceil();
                if c >= f64::from(cap) { cap } else { c as u32 }
            }
            _ => 0,
        })
        .collect();
    // The rise of every minute with a full keep-alive window before it:
    // units warm+1 ..= peak caught a cold start there.
    let rise: Vec<(u32, u32)> = (0..len)
        .map(|m| {
            if (m as i64) < k {
                return (0, 0);
            }
            let warm = d[m - k as usize..m].iter().copied().max().unwrap_or(0);
            (warm, d[m])
        })
        .collect();
    let top = d.iter().copied().max().unwrap_or(0) as usize;
    if top == 0 {
        return out;
    }
    let price = per_hour.max(0.0) * f64::from(hold_minutes) / 60.0;
    let days = i64::from(cfg.history_days.min(MAX_HISTORY_DAYS));
    let tol = MATCH_TOLERANCE_MINUTES;
    let last = n_len - 1;
    let mut hits = vec![0u32; top + 2];
    let mut recent = vec![false; top + 2];
    let mut diff = vec![0i32; top + 2];
    let mut rises: Vec<PredictedRise> = Vec::new();
    for r in (last + 1)..=(last + FORECAST_MINUTES) {
        let at = start + TimeDelta::minutes(r);
        let kind = DayKind::of(at);
        // The days whose window [h - tol, h + tol] is wholly in the history
        // (with a full keep-alive before it), newest first.
        let usable: Vec<i64> = (1..=days)
            .filter(|j| {
                let h = r - j * DAY;
                h - tol >= k && h + tol <= last
            })
            .collect();
        let same: Vec<i64> = usable
            .iter()
            .copied()
            .filter(|j| DayKind::of(at - TimeDelta::days(*j)) == kind)
            .collect();
        let (read, kind) = if same.is_empty() {
            (usable.clone(), DayKind::Any)
        } else {
            (same, kind)
        };
        let Some(&newest_day) = read.first() else {
            continue;
        };
        if stopped(&rise, r, tol, newest_day, &usable, at) {
            continue;
        }
        hits.iter_mut().for_each(|h| *h = 0);
        recent.iter_mut().for_each(|h| *h = false);
        let mut seen_top: Vec<(i64, u32)> = Vec::with_capacity(read.len());
        for &j in &read {
            // The units that rose within the tolerance on day j: the union
            // of the minutes' (warm, peak] intervals.
            let h = r - j * DAY;
            let mut any = false;
            let mut day_top = 0u32;
            for m in (h - tol)..=(h + tol) {
                let (warm, peak) = rise[m as usize];
                if peak > warm {
                    diff[warm as usize] += 1;
                    diff[peak as usize] -= 1;
                    any = true;
                    day_top = day_top.max(peak);
                }
            }
            if !any {
                continue;
            }
            seen_top.push((j, day_top));
            let mut running = 0i32;
            let reach = day_top as usize;
            for (u, delta) in diff.iter().take(reach).enumerate() {
                running += delta;
                if running > 0 {
                    hits[u] += 1;
                    if j == newest_day {
                        recent[u] = true;
                    }
                }
            }
            diff[..=reach].iter_mut().for_each(|x| *x = 0);
        }
        if !recent.iter().any(|&x| x) {
            continue;
        }
        let of = u32::try_from(read.len()).unwrap_or(u32::MAX);
        let denom = f64::from(of) + 1.0;
        let need = of.min(MIN_HITS);
        let (mut best, mut best_score, mut score, mut expected, mut best_expected) =
            (0usize, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for u in 0..top {
            // A rise seen once in several days is no pattern (as the
            // level's MIN_EVENTS): only a single day read may stand alone.
            let p = if recent[u] && hits[u] >= need {
                f64::from(hits[u]) / denom
            } else {
                0.0
            };
            expected += p;
            score += p - price;
            if score > best_score + 1e-9 {
                best_score = score;
                best = u + 1;
                best_expected = expected;
            }
        }
        if best == 0 || best_score < STEP_COLD_STARTS {
            continue;
        }
        let units = u32::try_from(best).unwrap_or(cap);
        let seen = seen_top
            .iter()
            .filter(|(_, t)| *t >= units)
            .fold(0u16, |s, (j, _)| s | (1u16 << (j - 1)));
        let top_hits = hits[best - 1];
        match rises.last_mut() {
            Some(prev)
                if prev.units == units
                    && prev.hits == top_hits
                    && prev.of == of
                    && prev.at + TimeDelta::minutes(i64::from(prev.minutes)) == at =>
            {
                prev.minutes += 1;
                prev.expected = prev.expected.max((best_expected * 100.0).round() / 100.0);
            }
            _ => rises.push(PredictedRise {
                at,
                minutes: 1,
                units,
                hits: top_hits,
                of,
                kind,
                seen,
                expected: (best_expected * 100.0).round() / 100.0,
            }),
        }
    }
    if rises.len() > MAX_RISES {
        // Keep the most valuable, in time order.
        rises.sort_by(|a, b| b.expected.total_cmp(&a.expected));
        rises.truncate(MAX_RISES);
        rises.sort_by_key(|r| r.at);
    }
    out.rises = rises;
    out
}

/// Whether day `j` (days before minute `r`) rose within the tolerance of
/// the same time of day.
fn rose(rise: &[(u32, u32)], r: i64, tol: i64, j: i64) -> bool {
    let h = r - j * DAY;
    ((h - tol)..=(h + tol)).any(|m| {
        usize::try_from(m)
            .ok()
            .and_then(|m| rise.get(m))
            .is_some_and(|(warm, peak)| peak > warm)
    })
}

/// Whether the pattern at minute `r` has stopped: a day more recent than
/// `newest_read` (the newest day the prediction reads) did not rise although
/// the day of its own kind before it did, so a pre-warm made that day was
/// wasted. This is what keeps a stopped pattern to one wasted pre-warm
/// across day kinds (a daily job that stops on a Thursday is not pre-warmed
/// again on Saturday from the last weekend). `usable` lists the days with
/// data, newest first.
fn stopped(
    rise: &[(u32, u32)],
    r: i64,
    tol: i64,
    newest_read: i64,
    usable: &[i64],
    at: DateTime<Utc>,
) -> bool {
    let kind = |j: i64| DayKind::of(at - TimeDelta::days(j));
    usable
        .iter()
        .copied()
        .take_while(|&j| j < newest_read)
        .any(|j| {
            if rose(rise, r, tol, j) {
                return false;
            }
            let before = usable
                .iter()
                .copied()
                .find(|&b| b > j && kind(b) == kind(j))
                .or_else(|| usable.iter().copied().find(|&b| b > j));
            before.is_some_and(|b| rose(rise, r, tol, b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Monday 2019-07-15 00:00 UTC.
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2019, 7, 15, 0, 0, 0).unwrap()
    }

    fn cfg() -> ColdStartAware {
        ColdStartAware {
            history_days: 14,
            ..ColdStartAware::default()
        }
    }

    /// `days` days of history from `start`, with `at(day, minute)` giving
    /// each minute's peak; the series ends at the minute before `end`.
    fn history(start: DateTime<Utc>, end: DateTime<Utc>, at: impl Fn(i64) -> u32) -> Series {
        let n = (end - start).num_minutes();
        let minutes: Vec<Option<f64>> = (0..n)
            .map(|m| {
                let v = at(m);
                (v > 0).then_some(f64::from(v))
            })
            .collect();
        Series {
            minutes,
            newest: Some(end - TimeDelta::minutes(1)),
            unpublished: 0,
        }
    }

    /// A job that wakes `units` environments at 09:00 on the days `on` says.
    fn nine_am(
        start: DateTime<Utc>,
        units: u32,
        on: impl Fn(DateTime<Utc>) -> bool,
    ) -> impl Fn(i64) -> u32 {
        move |m| {
            let t = start + TimeDelta::minutes(m);
            let in_day = m.rem_euclid(1440);
            if (540..542).contains(&in_day) && on(t) {
                units
            } else {
                0
            }
        }
    }

    fn due_at(f: &Forecast, t: DateTime<Utc>) -> Option<u32> {
        f.due(t, 8).map(|p| p.units)
    }

    #[test]
    fn a_daily_timer_is_pre_warmed_on_its_second_day() {
        // Day 1 (a Friday, so day 2 is a Saturday: no day of its kind yet)
        // has one run at 09:00; the refresh at 03:00 on day 2 predicts it.
        let fri = monday() + TimeDelta::days(4);
        let refresh = fri + TimeDelta::days(1) + TimeDelta::hours(3);
        let h = history(fri, refresh, nine_am(fri, 3, |_| true));
        let f = forecast(&h, &cfg(), 1.5, 11, refresh + TimeDelta::days(1));
        let nine = fri + TimeDelta::days(1) + TimeDelta::hours(9);
        let r = f
            .due(nine - TimeDelta::minutes(6), 8)
            .expect("pre-warm due");
        assert_eq!(r.units, 3);
        assert_eq!((r.rise.hits, r.rise.of, r.rise.kind), (1, 1, DayKind::Any));
        assert_eq!(
            r.rise.seen_days(),
            vec![fri + TimeDelta::hours(9) - TimeDelta::minutes(2)]
        );
        // Not long before, nor at noon.
        assert_eq!(due_at(&f, nine - TimeDelta::minutes(30)), None);
        assert_eq!(due_at(&f, nine + TimeDelta::hours(3)), None);
        // No day of history: nothing.
        let first = history(fri, fri + TimeDelta::hours(3), nine_am(fri, 3, |_| true));
        assert!(forecast(&first, &cfg(), 1.5, 11, refresh).rises.is_empty());
    }

    #[test]
    fn a_weekday_ramp_is_pre_warmed_on_the_next_weekday_but_not_on_saturday() {
        // From Saturday 13 July: an idle weekend, then 09:00 rises to 20 on
        // Monday..Friday.
        let sat = monday() - TimeDelta::days(2);
        let weekdays = |t: DateTime<Utc>| DayKind::of(t) == DayKind::Weekday;
        // Refresh on Saturday 20 July at 03:00: Saturday 09:00 is not due.
        let sat2 = sat + TimeDelta::days(7);
        let h = history(sat, sat2 + TimeDelta::hours(3), nine_am(sat, 20, weekdays));
        let f = forecast(&h, &cfg(), 1.5, 11, sat2 + TimeDelta::days(1));
        assert_eq!(
            due_at(&f, sat2 + TimeDelta::hours(9) - TimeDelta::minutes(5)),
            None,
            "{f:?}"
        );
        // Refresh on Monday 22 July at 03:00: Monday 09:00 is, from the five
        // weekdays (the weekends were not read).
        let mon2 = sat + TimeDelta::days(9);
        let h = history(sat, mon2 + TimeDelta::hours(3), nine_am(sat, 20, weekdays));
        let f = forecast(&h, &cfg(), 1.5, 11, mon2 + TimeDelta::days(1));
        let r = f
            .due(mon2 + TimeDelta::hours(9) - TimeDelta::minutes(5), 8)
            .expect("Monday's ramp is due");
        assert_eq!(r.units, 20);
        assert_eq!(
            (r.rise.hits, r.rise.of, r.rise.kind),
            (5, 5, DayKind::Weekday)
        );
        assert_eq!(r.rise.seen_days().len(), 5);
    }

    #[test]
    fn a_rise_is_held_only_where_the_functions_memory_lets_it_pay() {
        // Five weekdays of 09:00 rises to 20: p = 5/6 a unit, against
        // T x 11 / 60 for an 11-minute hold.
        let sat = monday() - TimeDelta::days(2);
        let weekdays = |t: DateTime<Utc>| DayKind::of(t) == DayKind::Weekday;
        let mon2 = sat + TimeDelta::days(9);
        let h = history(sat, mon2 + TimeDelta::hours(3), nine_am(sat, 20, weekdays));
        let at = mon2 + TimeDelta::hours(9) - TimeDelta::minutes(5);
        let cent = ColdStartAware {
            dollars_per_cold_start: Some(0.01),
            ..cfg()
        };
        let held = |mb: Option<u32>| {
            let t = crate::core::coldstart::unit_price(&cent, mb).per_hour;
            due_at(&forecast(&h, &cent, t, 11, mon2 + TimeDelta::days(1)), at)
        };
        // At $0.01 a cold start, 1 GB (1.5 an hour: 0.28 a hold) and unknown
        // memory (1.5: today's price) hold it; 10 GB (15 an hour: 2.75 a
        // hold) does not.
        assert_eq!(held(Some(1024)), Some(20));
        assert_eq!(held(None), Some(20));
        assert_eq!(held(Some(10_240)), None);
    }

    #[test]
    fn a_pattern_that_stops_costs_at_most_one_pre_warm() {
        // A daily 09:00 job for ten days that stops on day 11; daily refreshes
        // at 03:00 from day 11 on.
        let start = monday();
        let runs = |t: DateTime<Utc>| (t - start).num_days() < 10;
        let mut prewarms = 0;
        for day in 10..16 {
            let refresh = start + TimeDelta::days(day) + TimeDelta::hours(3);
            let h = history(start, refresh, nine_am(start, 4, runs));
            let f = forecast(&h, &cfg(), 1.5, 11, refresh + TimeDelta::days(1));
            let nine = start + TimeDelta::days(day) + TimeDelta::hours(9);
            if due_at(&f, nine - TimeDelta::minutes(5)).is_some() {
                prewarms += 1;
            }
        }
        // Day 11 (index 10) is pre-warmed, wasted; never again.
        assert_eq!(prewarms, 1);
    }

    #[test]
    fn rises_that_do_not_pay_for_their_hold_are_not_kept() {
        // One rise in 14 days at 09:00 (most recent day), price 1.5 per
        // unit-hour held 60 minutes: p = 1/15 < 1.5.
        let start = monday();
        let last = start + TimeDelta::days(13);
        let refresh = start + TimeDelta::days(14) + TimeDelta::hours(3);
        let h = history(
            start,
            refresh,
            nine_am(start, 2, |t| t.date_naive() == last.date_naive()),
        );
        assert!(forecast(&h, &cfg(), 1.5, 60, refresh).rises.is_empty());
        // History off: nothing is learnt.
        let off = ColdStartAware {
            history_days: 0,
            ..cfg()
        };
        assert!(forecast(&h, &off, 1.5, 11, refresh).rises.is_empty());
        assert!(!refresh_due(None, &off, "function:f:live", refresh));
        // Without a forecast, due during 10 minutes of every hour.
        let due = (0..60)
            .filter(|m| {
                refresh_due(
                    None,
                    &cfg(),
                    "function:f:live",
                    refresh + TimeDelta::minutes(*m),
                )
            })
            .count();
        assert_eq!(due, 10);
    }

    #[test]
    fn refreshes_are_daily_and_spread_by_key() {
        let now = monday() + TimeDelta::hours(5);
        let a = next_refresh("function:a:live", now);
        assert!(a > now && a <= now + TimeDelta::days(1));
        assert_eq!(next_refresh("function:a:live", a), a + TimeDelta::days(1));
        let slots: std::collections::HashSet<_> = (0..50)
            .map(|i| next_refresh(&format!("function:f{i}:live"), now))
            .collect();
        assert!(slots.len() > 40, "{}", slots.len());
        let f = Forecast {
            history_days: 14,
            newest: None,
            days_read: 0,
            next_refresh_at: a,
            rises: Vec::new(),
        };
        let k = "function:a:live";
        assert!(!refresh_due(Some(&f), &cfg(), k, a - TimeDelta::minutes(1)));
        assert!(refresh_due(Some(&f), &cfg(), k, a));
        assert!(refresh_due(Some(&f), &cfg(), k, a + TimeDelta::minutes(7)));
        let seven = ColdStartAware {
            history_days: 7,
            ..cfg()
        };
        // Another HistoryDays: refreshed within the hour.
        assert!((0..60).any(|m| refresh_due(Some(&f), &seven, k, now + TimeDelta::minutes(m))));
    }

    #[test]
    fn the_forecast_is_bounded_for_any_history() {
        // A noisy busy function: rises every few minutes at many levels.
        let start = monday();
        let refresh = start + TimeDelta::days(3);
        let h = history(start, refresh, |m| {
            ((m * 7919) % 97) as u32 + if m % 13 == 0 { 500 } else { 0 }
        });
        let f = forecast(&h, &cfg(), 0.0, 11, refresh);
        assert!(f.rises.len() <= MAX_RISES);
        assert!(f.rises.iter().all(|r| r.units <= MAX_LEVEL_UNITS));
    }
}

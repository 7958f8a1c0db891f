//! Scheduled actions: `at()`, AWS 6-field `cron()`, `rate()`, time zones,
//! start/end windows, and the effective band at `now` (DESIGN.md §2.1).
//!
//! The band is computed statelessly from the schedules and `now`, so a missed
//! tick never loses an action.
//!
//! # Expressions
//!
//! * `at(yyyy-mm-ddThh:mm:ss)`: one occurrence, a wall-clock time in the
//!   action's `Timezone`.
//! * `cron(<minute> <hour> <day-of-month> <month> <day-of-week> <year>)`: the
//!   Application Auto Scaling 6-field cron
//!   (<https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html>).
//!   Day-of-week is `1-7` = `SUN-SAT`; names `JAN-DEC` and `SUN-SAT` in any
//!   case; `*`, lists, ranges and steps (`*/15`, `0/15`, `10-40/10`). One of
//!   day-of-month and day-of-week should be `?`; pcscale also accepts `*` in
//!   both (every day), but refuses two restricted day fields (cron dialects
//!   disagree on whether they combine with AND or OR). Refused with an error
//!   because pcscale does not support them: `L`, `W`, `#`, years after 2100.
//! * `rate(<n> <unit>)`: `minute`/`hour`/`day` when n = 1,
//!   `minutes`/`hours`/`days` otherwise, as AWS requires.
//!
//! # Daylight saving time
//!
//! `at` and `cron` name wall-clock times in `Timezone`. A wall-clock time fires
//! at the **first instant at which the zone's clock reads that time or later**:
//!
//! * Spring forward, a time that does not exist (02:30 on the night
//!   Europe/Berlin jumps from 02:00 to 03:00, or America/New_York likewise):
//!   the action fires when the gap ends, at 03:00 local; several occurrences
//!   inside the gap fire once, at 03:00. This deliberately differs from
//!   EventBridge Scheduler, which documents that it *skips* such an invocation
//!   (<https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst>,
//!   <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html>):
//!   a band-setting action that is skipped leaves the previous band in force
//!   for a whole day, a late one for minutes.
//! * Fall back, a time that happens twice (02:30 on the night Europe/Berlin
//!   goes from 03:00 back to 02:00; 01:30 in America/New_York): the action
//!   fires once, at the first occurrence (summer time), as EventBridge
//!   Scheduler does; the repeated hour does not fire again. A
//!   `cron(0/15 * * * ? *)` therefore pauses during the repeated hour; use
//!   `rate()` when the period must be exact.
//!
//! # Rate anchoring
//!
//! `rate()` counts absolute time and ignores `Timezone` and DST: a day is 24
//! hours, as in EventBridge Scheduler. Occurrences are `StartTime + k × period`
//! (k = 0, 1, 2...), so the first one is `StartTime` itself. Without
//! `StartTime` they are anchored at the Unix epoch (1970-01-01T00:00:00Z):
//! `rate(1 day)` fires at 00:00 UTC, `rate(6 hours)` at 00, 06, 12 and 18 UTC,
//! `rate(7 days)` on Thursdays at 00:00 UTC. Anchoring at a fixed instant
//! instead of "when the policy was stored" keeps the schedule stateless: every
//! tick recomputes the latest occurrence, so a missed tick never loses one.
//!
//! `StartTime` and `EndTime` bound every kind of schedule, inclusively; after
//! `EndTime` the last occurrence inside the window stays in force until
//! another action fires.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use cron::TimeUnitSpec;
use serde::{Deserialize, Serialize};

/// A parsed `Schedule` expression. Keeps its source text for display.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule {
    /// The expression as written (outer whitespace trimmed).
    text: String,
    /// What it means.
    expr: Expr,
}

/// The parsed meaning of a schedule expression.
#[derive(Debug, Clone)]
enum Expr {
    /// One wall-clock time.
    At(NaiveDateTime),
    /// The AWS expression translated to the `cron` crate's 7 fields, read
    /// in wall-clock time (it is iterated in UTC standing for "naive").
    Cron(Box<cron::Schedule>),
    /// A fixed period, in seconds.
    Rate { period_secs: i64 },
}

/// Which of the three expression forms a [`Schedule`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScheduleKind {
    /// `at(...)`: one occurrence.
    At,
    /// `cron(...)`: recurring on wall-clock fields.
    Cron,
    /// `rate(...)`: recurring at a fixed period.
    Rate,
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleKind::At => "at",
            ScheduleKind::Cron => "cron",
            ScheduleKind::Rate => "rate",
        })
    }
}

/// Why a schedule expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(message.into()))
}

impl PartialEq for Schedule {
    /// Two schedules are equal when they were written the same way.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let expr = if let Some(inner) = inside(text, "at") {
            parse_at(inner)?
        } else if let Some(inner) = inside(text, "cron") {
            parse_cron(inner)?
        } else if let Some(inner) = inside(text, "rate") {
            parse_rate(inner)?
        } else {
            return err(format!(
                "expected at(yyyy-mm-ddThh:mm:ss), cron(<minute> <hour> <day-of-month> <month> \
                 <day-of-week> <year>) or rate(<n> minutes|hours|days), got {text:?}"
            ));
        };
        Ok(Schedule {
            text: text.to_owned(),
            expr,
        })
    }
}

/// `name(inner)` -> `inner`.
fn inside<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

fn parse_at(inner: &str) -> Result<Expr, ScheduleError> {
    // Exactly the AWS shape: chrono's parser alone would accept one-digit fields.
    let shape_ok = inner.len() == 19
        && inner.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    let parsed = NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S");
    match parsed {
        Ok(when) if shape_ok => {
            let year = when.year();
            if !(1970..=2199).contains(&year) {
                return err(format!("at(): year {year} is out of range 1970-2199"));
            }
            Ok(Expr::At(when))
        }
        _ => err(format!(
            "at(): expected a wall-clock time yyyy-mm-ddThh:mm:ss (no zone; Timezone gives it), got {inner:?}"
        )),
    }
}

fn parse_rate(inner: &str) -> Result<Expr, ScheduleError> {
    let usage = "expected rate(<n> minute|minutes|hour|hours|day|days)";
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return err(format!("rate(): {usage}, got rate({inner})"));
    };
    let n: i64 = match value.parse::<u32>() {
        Ok(n) if n >= 1 && value.bytes().all(|b| b.is_ascii_digit()) => i64::from(n),
        _ => {
            return err(format!(
                "rate(): the value must be a whole number >= 1, got {value:?}"
            ));
        }
    };
    let (unit_secs, singular) = match unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3_600, true),
        "hours" => (3_600, false),
        "day" => (86_400, true),
        "days" => (86_400, false),
        _ => return err(format!("rate(): unknown unit {unit:?}; {usage}")),
    };
    // AWS refuses `rate(1 minutes)` and `rate(5 minute)`; so do we, so that a
    // policy written for pcscale also works as an AWS scheduled action.
    if singular != (n == 1) {
        let fix = if n == 1 {
            unit.trim_end_matches('s').to_owned()
        } else {
            format!("{unit}s")
        };
        return err(format!(
            "rate(): use the singular unit only for 1 (AWS rule): write rate({n} {fix})"
        ));
    }
    Ok(Expr::Rate {
        period_secs: n * unit_secs,
    })
}

/// One of the six AWS cron fields.
struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// `?` is allowed (day-of-month and day-of-week only).
    allows_any: bool,
}

const MINUTE: CronField = CronField {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    allows_any: false,
};
const HOUR: CronField = CronField {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    allows_any: false,
};
const DAY_OF_MONTH: CronField = CronField {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    allows_any: true,
};
const MONTH: CronField = CronField {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    allows_any: false,
};
/// AWS numbers the days 1-7 = SUN-SAT. The `cron` crate does too (it matches
/// `Weekday::number_from_sunday()`), so numbers pass through unchanged; names
/// are translated to numbers here so the crate never sees them.
const DAY_OF_WEEK: CronField = CronField {
    name: "day-of-week",
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    allows_any: true,
};
/// AWS accepts 1970-2199; the `cron` crate stops at 2100.
const YEAR: CronField = CronField {
    name: "year",
    min: 1970,
    max: 2100,
    names: &[],
    allows_any: false,
};

impl CronField {
    /// A number or (where the field has names) a name, range-checked.
    fn value(&self, token: &str) -> Result<u32, ScheduleError> {
        let upper = token.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.min + i as u32); // ok: at most 12 names
        }
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
            return self.unreadable(token);
        }
        match token.parse::<u32>() {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => err(format!(
                "cron {} field: {token} is out of range {}-{}{}",
                self.name,
                self.min,
                self.max,
                if self.names.is_empty() {
                    String::new()
                } else {
                    format!(" ({}-{})", self.names[0], self.names[self.names.len() - 1])
                }
            )),
        }
    }

    fn unreadable<T>(&self, token: &str) -> Result<T, ScheduleError> {
        let upper = token.to_ascii_uppercase();
        // Quartz extensions AWS supports but pcscale does not: say so plainly
        // instead of a generic syntax error.
        if self.name == DAY_OF_MONTH.name && (upper.contains('L') || upper.contains('W')) {
            return err(format!(
                "cron day-of-month field: {token:?} uses L (last day) or W (nearest weekday), \
                 which pcscale does not support; list the days instead"
            ));
        }
        if self.name == DAY_OF_WEEK.name && (upper.contains('#') || upper.ends_with('L')) {
            return err(format!(
                "cron day-of-week field: {token:?} uses # (nth weekday) or L (last weekday), \
                 which pcscale does not support"
            ));
        }
        let names = if self.names.is_empty() {
            String::new()
        } else {
            format!(
                ", a name {}-{}",
                self.names[0],
                self.names[self.names.len() - 1]
            )
        };
        err(format!(
            "cron {} field: cannot read {token:?}; expected '*', a number {}-{}{names}, \
             a range (a-b), a list (a,b) or a step (*/n, a/n, a-b/n)",
            self.name, self.min, self.max
        ))
    }

    /// Validates one field and returns it in the `cron` crate's numeric syntax.
    fn translate(&self, field: &str) -> Result<String, ScheduleError> {
        if field == "?" {
            if self.allows_any {
                return Ok("*".to_owned());
            }
            return err(format!(
                "cron {} field: '?' is only allowed in day-of-month or day-of-week",
                self.name
            ));
        }
        let mut out = Vec::new();
        for element in field.split(',') {
            out.push(self.translate_element(element)?);
        }
        Ok(out.join(","))
    }

    fn translate_element(&self, element: &str) -> Result<String, ScheduleError> {
        if element.is_empty() {
            return err(format!(
                "cron {} field: empty list element in {element:?}",
                self.name
            ));
        }
        let (base, step) = match element.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (element, None),
        };
        let base = if base == "*" {
            "*".to_owned()
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (self.value(a)?, self.value(b)?);
            if a > b {
                return err(format!(
                    "cron {} field: range {base} goes backwards; wrap-around ranges are not \
                     supported, use a list",
                    self.name
                ));
            }
            format!("{a}-{b}")
        } else {
            self.value(base)?.to_string()
        };
        match step {
            None => Ok(base),
            Some(step) => {
                let span = self.max - self.min;
                match step.parse::<u32>() {
                    Ok(s)
                        if s >= 1
                            && s <= span.max(1)
                            && step.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        Ok(format!("{base}/{s}"))
                    }
                    _ => err(format!(
                        "cron {} field: step {step:?} in {element:?} must be a number 1-{}",
                        self.name,
                        span.max(1)
                    )),
                }
            }
        }
    }
}

fn parse_cron(inner: &str) -> Result<Expr, ScheduleError> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return err(format!(
            "cron has {} fields, expected 6 (minute hour day-of-month month day-of-week year)",
            fields.len()
        ));
    }
    let (dom, dow) = (fields[2], fields[4]);
    // AWS: "If you specify a value or a * in one of the fields, you must use a ?
    // in the other." Two '*' are unambiguous (every day), so pcscale accepts
    // them; two restricted fields are refused because cron dialects disagree on
    // whether they combine with AND (the `cron` crate) or OR (Vixie cron).
    match (dom, dow) {
        ("?", "?") => {
            return err("cron: day-of-month and day-of-week cannot both be '?'; put '*' in one");
        }
        ("?", _) | (_, "?") | ("*", _) | (_, "*") => {}
        _ => {
            return err(format!(
                "cron: day-of-month ({dom}) and day-of-week ({dow}) are both set; one must be '?' \
                 (e.g. cron(0 8 ? * MON-FRI *))"
            ));
        }
    }
    let specs = [&MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK, &YEAR];
    let mut translated = vec!["0".to_owned()]; // the cron crate's seconds field
    for (spec, field) in specs.iter().zip(&fields) {
        translated.push(spec.translate(field)?);
    }
    let seven = translated.join(" ");
    let schedule = cron::Schedule::from_str(&seven)
        .map_err(|e| ScheduleError(format!("cron: {e} (translated to {seven:?})")))?;
    // A cron such as `0 0 30 2 ? *` (30 February) parses but never fires.
    let epoch = DateTime::<Utc>::UNIX_EPOCH - TimeDelta::seconds(1);
    if schedule.after(&epoch).next().is_none() {
        return err(format!(
            "cron({inner}) never fires (no such date between 1970 and 2100)"
        ));
    }
    Ok(Expr::Cron(Box::new(schedule)))
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

/// The instant at which a wall-clock time `wall` in `tz` fires: the first
/// instant at which the zone's clock reads `wall` or later. Unambiguous times
/// map to themselves; a repeated time (fall back) to its first occurrence; a
/// skipped time (spring forward) to the end of the gap.
///
/// This mapping never decreases as `wall` increases, which is what lets the
/// searches below walk wall-clock occurrences in order and stop at the first
/// one that qualifies.
fn fire_instant(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.to_utc()),
        LocalResult::None => gap_end(tz, wall),
    }
}

/// The first instant whose local time is `>= wall`, for a `wall` inside a
/// DST gap. Binary search over a window that certainly brackets it: UTC
/// offsets lie within -12 h and +14 h, and a zone does not change its offset
/// twice within such a window (checked by tests for the zones we document).
fn gap_end(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let reads_at_least = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.with_timezone(&tz).naive_local() >= wall)
            .unwrap_or(true)
    };
    let guess = wall.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 15 * 3_600, guess + 13 * 3_600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reads_at_least(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// The local wall-clock time of `t`, truncated to the second.
fn wall_clock(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    let local = t.with_timezone(&tz).naive_local();
    local.with_nanosecond(0).unwrap_or(local)
}

impl Schedule {
    /// Which form the expression has.
    pub fn kind(&self) -> ScheduleKind {
        match self.expr {
            Expr::At(_) => ScheduleKind::At,
            Expr::Cron(_) => ScheduleKind::Cron,
            Expr::Rate { .. } => ScheduleKind::Rate,
        }
    }

    /// The latest occurrence at or before `now`, inside `[start, end]`, with
    /// wall-clock fields read in `tz`. `None` if it has not fired yet.
    ///
    /// Cost: a handful of set look-ups, independent of how long ago the
    /// window started (cron walks backwards from `min(now, end)`; rate is
    /// arithmetic), because the simulator calls it every simulated minute.
    pub fn latest_at_or_before(
        &self,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let cap = end.map_or(now, |e| e.min(now));
        let found = match &self.expr {
            Expr::At(wall) => fire_instant(tz, *wall).filter(|t| *t <= cap),
            Expr::Rate { period_secs } => {
                let anchor = start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                if cap < anchor {
                    return None;
                }
                // `cap >= anchor`, so truncation is the floor.
                let k = (cap - anchor).num_seconds() / period_secs;
                anchor.checked_add_signed(TimeDelta::seconds(k.checked_mul(*period_secs)?))
            }
            Expr::Cron(cron) => cron_latest(cron, tz, cap, start),
        };
        found.filter(|t| start.is_none_or(|s| *t >= s))
    }

    /// The first occurrence strictly after `after`, inside `[start, end]`
    /// (for `explain`: "next change at ..."). `None` if there is none.
    pub fn next_after(
        &self,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // "strictly after `after` and at or after `start`" is "strictly after
        // `floor`", occurrences never falling between `start - 1 ns` and `start`.
        let floor = match start {
            Some(s) if s > after => s.checked_sub_signed(TimeDelta::nanoseconds(1))?,
            _ => after,
        };
        let found = match &self.expr {
            Expr::At(wall) => fire_instant(tz, *wall).filter(|t| *t > floor),
            Expr::Rate { period_secs } => {
                let anchor = start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                if floor < anchor {
                    Some(anchor)
                } else {
                    let k = (floor - anchor).num_seconds() / period_secs + 1;
                    anchor.checked_add_signed(TimeDelta::seconds(k.checked_mul(*period_secs)?))
                }
            }
            Expr::Cron(cron) => {
                let from = wall_clock(tz, floor).and_utc();
                // Wall times before the end of a repeated hour may still map
                // to instants <= floor; skip them (at most an hour's worth).
                cron.after(&from)
                    .filter_map(|w| fire_instant(tz, w.naive_utc()))
                    .find(|t| *t > floor)
            }
        };
        found.filter(|t| end.is_none_or(|e| *t <= e))
    }
}

/// Latest cron occurrence `<= cap`, or `None` if it is before `start`.
fn cron_latest(
    cron: &cron::Schedule,
    tz: Tz,
    cap: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let mut top = wall_clock(tz, cap);
    // In the second pass of a repeated hour the wall clock reads earlier than
    // it did a moment ago: wall times up to the end of the repeated hour have
    // already fired (in the first pass). Search from there; later ones are
    // skipped by the `t <= cap` test.
    if let LocalResult::Ambiguous(first, second) = tz.from_local_datetime(&top)
        && first.to_utc() < cap.with_nanosecond(0).unwrap_or(cap)
    {
        top = top.checked_add_signed(second.to_utc() - first.to_utc())?;
    }
    // The cron crate's backward walk excludes its starting second; start one
    // second later so that an occurrence exactly at `cap` counts.
    let mut from = top.checked_add_signed(TimeDelta::seconds(1))?;
    // cron 0.17's backward walk keeps the starting month/day/hour bounds when
    // the starting year is absent from the year field (its forward walk resets
    // them): from 2024-03-31, `... 2023` would search only up to 2023-03-31.
    // Start instead just after the end of the latest listed year.
    let year = u32::try_from(from.year()).ok()?;
    if !cron.years().includes(year) {
        let listed = cron.years().range(..year).next_back()?;
        let next_year = i32::try_from(listed + 1).ok()?;
        from = NaiveDate::from_ymd_opt(next_year, 1, 1)?.and_hms_opt(0, 0, 0)?;
    }
    let from = from.and_utc();
    for wall in cron.after(&from).rev() {
        let t = fire_instant(tz, wall.naive_utc())?;
        if t > cap {
            continue;
        }
        if start.is_some_and(|s| t < s) {
            return None;
        }
        return Some(t);
    }
    None
}

/// Time and schedule helpers shared by the tests of this module and of the
/// policy's band (`core::policy::band`).
#[cfg(test)]
pub(crate) mod test_time {
    use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
    use chrono_tz::Tz;

    use super::Schedule;

    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
            .to_utc()
    }

    /// An unambiguous wall-clock time in `tz`, as an instant.
    pub(crate) fn local(tz: Tz, s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"));
        tz.from_local_datetime(&naive)
            .single()
            .unwrap_or_else(|| panic!("{s} is not a single local time in {tz}"))
            .to_utc()
    }

    pub(crate) fn sched(s: &str) -> Schedule {
        s.parse()
            .unwrap_or_else(|e| panic!("{s} should parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::test_time::{local, sched, utc};
    use super::*;
    use chrono::Weekday;
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Shanghai;
    use chrono_tz::Europe::Berlin;
    use chrono_tz::UTC;
    use proptest::prelude::*;

    fn latest(s: &str, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        sched(s).latest_at_or_before(tz, None, None, now)
    }

    fn parse_error(s: &str) -> String {
        match s.parse::<Schedule>() {
            Ok(_) => panic!("{s} should be refused"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn schedule_round_trips_through_its_text_in_json() {
        for text in [
            "at(2024-05-10T08:30:00)",
            "cron(0/15 8-17 ? * MON-FRI *)",
            "rate(5 minutes)",
        ] {
            let s = sched(text);
            let json = serde_json::to_string(&s).expect("serialize");
            assert_eq!(json, format!("\"{text}\""));
            let back: Schedule = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, s);
            assert_eq!(back.to_string(), text);
        }
        let bad: Result<Schedule, _> = serde_json::from_str("\"cron(0 25 * * ? *)\"");
        assert!(bad.is_err());
    }

    #[test]
    fn kind_names_the_expression_form() {
        assert_eq!(sched("at(2024-05-10T08:30:00)").kind(), ScheduleKind::At);
        assert_eq!(sched("cron(0 8 * * ? *)").kind(), ScheduleKind::Cron);
        assert_eq!(sched("rate(1 hour)").kind(), ScheduleKind::Rate);
    }

    #[test]
    fn cron_with_wrong_field_count_says_how_many_and_which_are_expected() {
        assert_eq!(
            parse_error("cron(0 8 * * ?)"),
            "cron has 5 fields, expected 6 (minute hour day-of-month month day-of-week year)"
        );
        assert!(parse_error("cron(0 0 8 * * ? *)").starts_with("cron has 7 fields"));
    }

    #[test]
    fn cron_hour_out_of_range_names_the_hour_field() {
        let e = parse_error("cron(0 25 * * ? *)");
        assert!(
            e.contains("hour field") && e.contains("25") && e.contains("0-23"),
            "{e}"
        );
        let e = parse_error("cron(60 1 * * ? *)");
        assert!(e.contains("minute field") && e.contains("0-59"), "{e}");
        let e = parse_error("cron(0 1 ? * 8 *)");
        assert!(e.contains("day-of-week field") && e.contains("1-7"), "{e}");
        let e = parse_error("cron(0 1 ? 13 MON *)");
        assert!(e.contains("month field"), "{e}");
        let e = parse_error("cron(0 1 ? * MON 2150)");
        assert!(e.contains("year field") && e.contains("1970-2100"), "{e}");
    }

    #[test]
    fn cron_l_w_and_hash_are_refused_as_unsupported() {
        for text in [
            "cron(0 8 L * ? *)",
            "cron(0 8 15W * ? *)",
            "cron(0 8 LW * ? *)",
        ] {
            let e = parse_error(text);
            assert!(
                e.contains("day-of-month") && e.contains("not support"),
                "{text}: {e}"
            );
        }
        for text in [
            "cron(0 8 ? * 6L *)",
            "cron(0 8 ? * FRI#3 *)",
            "cron(0 8 ? * 2#1 *)",
        ] {
            let e = parse_error(text);
            assert!(
                e.contains("day-of-week") && e.contains("not support"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn cron_day_fields_follow_the_aws_question_mark_rule() {
        assert!(parse_error("cron(0 8 ? * ? *)").contains("both be '?'"));
        assert!(parse_error("cron(0 8 1 * MON *)").contains("one must be '?'"));
        assert!(parse_error("cron(0 8 * ? * *)").contains("month field"));
        // Both '*' is unambiguous: accepted (more lenient than AWS).
        assert!("cron(0 8 * * * *)".parse::<Schedule>().is_ok());
    }

    #[test]
    fn cron_that_can_never_fire_is_refused() {
        assert!(parse_error("cron(0 0 30 2 ? *)").contains("never fires"));
        assert!(parse_error("cron(0 8 ? * 5-2 *)").contains("backwards"));
        assert!(parse_error("cron(0/0 8 * * ? *)").contains("step"));
        assert!(parse_error("cron(0 8 *  * ? *,)").contains("empty"));
    }

    #[test]
    fn rate_requires_a_positive_value_and_aws_singular_plural_units() {
        assert!("rate(1 minute)".parse::<Schedule>().is_ok());
        assert!("rate(2 days)".parse::<Schedule>().is_ok());
        assert!(parse_error("rate(1 minutes)").contains("rate(1 minute)"));
        assert!(parse_error("rate(5 hour)").contains("rate(5 hours)"));
        assert!(parse_error("rate(0 minutes)").contains(">= 1"));
        assert!(parse_error("rate(-3 minutes)").contains(">= 1"));
        assert!(parse_error("rate(5 weeks)").contains("unknown unit"));
        assert!(parse_error("rate(5)").contains("expected rate"));
    }

    #[test]
    fn at_requires_the_exact_aws_shape() {
        assert!(parse_error("at(2024-5-10T08:30:00)").contains("yyyy-mm-ddThh:mm:ss"));
        assert!(parse_error("at(2024-05-10T08:30:00Z)").contains("yyyy-mm-ddThh:mm:ss"));
        assert!(parse_error("at(2024-02-30T08:30:00)").contains("yyyy-mm-ddThh:mm:ss"));
        assert!(parse_error("every(5 minutes)").contains("expected at("));
    }

    // ---- at() -----------------------------------------------------------

    #[test]
    fn at_in_the_past_fires_once_and_stays_the_latest_occurrence() {
        let s = "at(2024-05-10T08:30:00)";
        let fired = local(Berlin, "2024-05-10T08:30:00");
        assert_eq!(fired, utc("2024-05-10T06:30:00Z"));
        assert_eq!(latest(s, Berlin, fired), Some(fired));
        assert_eq!(latest(s, Berlin, utc("2025-01-01T00:00:00Z")), Some(fired));
        assert_eq!(sched(s).next_after(Berlin, None, None, fired), None);
    }

    #[test]
    fn at_in_the_future_has_not_fired() {
        let s = "at(2024-05-10T08:30:00)";
        assert_eq!(latest(s, Berlin, utc("2024-05-10T06:29:59Z")), None);
        assert_eq!(
            sched(s).next_after(Berlin, None, None, utc("2024-05-01T00:00:00Z")),
            Some(utc("2024-05-10T06:30:00Z"))
        );
    }

    // ---- cron() ---------------------------------------------------------

    #[test]
    fn cron_with_question_mark_fires_every_day_at_the_wall_clock_time() {
        let s = "cron(0 20 * * ? *)";
        assert_eq!(
            latest(s, UTC, utc("2024-05-10T19:59:00Z")),
            Some(utc("2024-05-09T20:00:00Z"))
        );
        assert_eq!(
            latest(s, UTC, utc("2024-05-10T20:00:00Z")),
            Some(utc("2024-05-10T20:00:00Z"))
        );
        // `?` in day-of-week instead: every 1st of the month.
        assert_eq!(
            latest("cron(0 6 1 * ? *)", UTC, utc("2024-05-10T00:00:00Z")),
            Some(utc("2024-05-01T06:00:00Z"))
        );
    }

    #[test]
    fn cron_mon_fri_skips_the_weekend_and_numbers_days_from_sunday() {
        // 2024-05-11 is a Saturday, 2024-05-13 a Monday.
        let now = utc("2024-05-13T07:00:00Z");
        let fri = Some(utc("2024-05-10T08:00:00Z"));
        assert_eq!(latest("cron(0 8 ? * MON-FRI *)", UTC, now), fri);
        assert_eq!(latest("cron(0 8 ? * mon-fri *)", UTC, now), fri);
        // AWS numbering: 1 = SUN ... 7 = SAT, so MON-FRI is 2-6.
        assert_eq!(latest("cron(0 8 ? * 2-6 *)", UTC, now), fri);
        assert_eq!(
            latest("cron(0 8 ? * 1 *)", UTC, now),
            Some(utc("2024-05-12T08:00:00Z"))
        );
        assert_eq!(
            latest("cron(0 8 ? * 7 *)", UTC, now),
            Some(utc("2024-05-11T08:00:00Z"))
        );
        let next = sched("cron(0 8 ? * MON-FRI *)").next_after(UTC, None, None, now);
        assert_eq!(next, Some(utc("2024-05-13T08:00:00Z")));
        assert_eq!(next.map(|t| t.weekday()), Some(Weekday::Mon));
    }

    #[test]
    fn cron_every_15_minutes_with_star_or_zero_step() {
        for s in ["cron(*/15 * * * ? *)", "cron(0/15 * * * ? *)"] {
            assert_eq!(
                latest(s, UTC, utc("2024-05-10T10:44:59Z")),
                Some(utc("2024-05-10T10:30:00Z")),
                "{s}"
            );
            assert_eq!(
                latest(s, UTC, utc("2024-05-10T10:45:00Z")),
                Some(utc("2024-05-10T10:45:00Z")),
                "{s}"
            );
        }
        assert_eq!(
            latest("cron(5/15 * * * ? *)", UTC, utc("2024-05-10T10:04:00Z")),
            Some(utc("2024-05-10T09:50:00Z"))
        );
    }

    #[test]
    fn cron_year_field_limits_the_occurrences_to_those_years() {
        let s = "cron(0 8 1 JAN ? 2025-2026)";
        assert_eq!(latest(s, UTC, utc("2024-12-31T00:00:00Z")), None);
        assert_eq!(
            latest(s, UTC, utc("2030-06-01T00:00:00Z")),
            Some(utc("2026-01-01T08:00:00Z"))
        );
        assert_eq!(
            sched(s).next_after(UTC, None, None, utc("2026-01-01T08:00:00Z")),
            None
        );
    }

    #[test]
    fn cron_limited_to_a_past_year_returns_that_years_last_occurrence() {
        // The last weekday minute of MAR-NOV 2023 is Thu 2023-11-30 23:59.
        let s = "cron(* * ? MAR-NOV MON-FRI 2023)";
        assert_eq!(
            latest(s, UTC, utc("2024-03-31T01:00:00Z")),
            Some(utc("2023-11-30T23:59:00Z"))
        );
        assert_eq!(
            latest(
                "cron(0 8 15 JUN ? 2020,2022)",
                Berlin,
                utc("2024-03-31T01:00:00Z")
            ),
            Some(utc("2022-06-15T06:00:00Z"))
        );
        assert_eq!(
            latest("cron(0 8 15 JUN ? 2030)", UTC, utc("2024-03-31T01:00:00Z")),
            None
        );
    }

    #[test]
    fn cron_reads_wall_clock_fields_in_the_action_timezone() {
        // 08:00 in Berlin is 06:00 UTC in summer and 07:00 UTC in winter.
        let s = "cron(0 8 * * ? *)";
        assert_eq!(
            latest(s, Berlin, utc("2024-07-01T12:00:00Z")),
            Some(utc("2024-07-01T06:00:00Z"))
        );
        assert_eq!(
            latest(s, Berlin, utc("2024-12-01T12:00:00Z")),
            Some(utc("2024-12-01T07:00:00Z"))
        );
    }

    // ---- DST --------------------------------------------------------------

    #[test]
    fn berlin_spring_forward_time_in_the_gap_fires_when_the_gap_ends() {
        // 2024-03-31: 02:00 CET (01:00 UTC) jumps to 03:00 CEST; 02:30 never exists.
        let s = "cron(30 2 * * ? *)";
        let gap_end = utc("2024-03-31T01:00:00Z");
        assert_eq!(
            latest(s, Berlin, gap_end - TimeDelta::seconds(1)),
            Some(utc("2024-03-30T01:30:00Z")) // 02:30 CET the day before
        );
        assert_eq!(latest(s, Berlin, gap_end), Some(gap_end));
        assert_eq!(
            sched(s).next_after(Berlin, None, None, utc("2024-03-30T12:00:00Z")),
            Some(gap_end)
        );
        assert_eq!(
            sched(s).next_after(Berlin, None, None, gap_end),
            Some(utc("2024-04-01T00:30:00Z")) // 02:30 CEST
        );
        // Several occurrences in the gap collapse into one firing.
        let every_15 = sched("cron(0/15 2 * * ? *)");
        assert_eq!(
            every_15.latest_at_or_before(Berlin, None, None, gap_end),
            Some(gap_end)
        );
        assert_eq!(
            every_15.next_after(Berlin, None, None, gap_end),
            Some(utc("2024-04-01T00:00:00Z"))
        );
        assert_eq!(
            latest(
                "at(2024-03-31T02:30:00)",
                Berlin,
                utc("2024-03-31T02:00:00Z")
            ),
            Some(gap_end)
        );
    }

    #[test]
    fn berlin_fall_back_repeated_time_fires_once_at_its_first_occurrence() {
        // 2024-10-27: 03:00 CEST (01:00 UTC) goes back to 02:00 CET; 02:30 happens twice.
        let s = sched("cron(30 2 * * ? *)");
        let first = utc("2024-10-27T00:30:00Z"); // 02:30 CEST
        let second = utc("2024-10-27T01:30:00Z"); // 02:30 CET, does not fire
        assert_eq!(
            s.latest_at_or_before(Berlin, None, None, first),
            Some(first)
        );
        assert_eq!(
            s.latest_at_or_before(Berlin, None, None, second),
            Some(first)
        );
        assert_eq!(
            s.latest_at_or_before(Berlin, None, None, second + TimeDelta::minutes(15)),
            Some(first)
        );
        assert_eq!(
            s.next_after(Berlin, None, None, first),
            Some(utc("2024-10-28T01:30:00Z"))
        );
        // During the repeated hour, 02:45 has already fired (in summer time)
        // although the clock now reads 02:30 again; it does not fire again.
        let s45 = sched("cron(45 2 * * ? *)");
        assert_eq!(
            s45.latest_at_or_before(Berlin, None, None, second),
            Some(utc("2024-10-27T00:45:00Z"))
        );
        assert_eq!(
            s45.next_after(Berlin, None, None, second),
            Some(utc("2024-10-28T01:45:00Z"))
        );
        // A quarter-hourly cron pauses during the repeated hour.
        let q = sched("cron(0/15 * * * ? *)");
        assert_eq!(
            q.latest_at_or_before(Berlin, None, None, utc("2024-10-27T01:50:00Z")),
            Some(utc("2024-10-27T00:45:00Z"))
        );
        assert_eq!(
            q.next_after(Berlin, None, None, utc("2024-10-27T00:45:00Z")),
            Some(utc("2024-10-27T02:00:00Z"))
        );
    }

    #[test]
    fn new_york_spring_forward_time_in_the_gap_fires_when_the_gap_ends() {
        // 2024-03-10: 02:00 EST (07:00 UTC) jumps to 03:00 EDT.
        let s = "cron(30 2 * * ? *)";
        let gap_end = utc("2024-03-10T07:00:00Z");
        assert_eq!(
            latest(s, New_York, gap_end - TimeDelta::seconds(1)),
            Some(utc("2024-03-09T07:30:00Z"))
        );
        assert_eq!(latest(s, New_York, gap_end), Some(gap_end));
        assert_eq!(
            latest(s, New_York, utc("2024-03-11T12:00:00Z")),
            Some(utc("2024-03-11T06:30:00Z")) // 02:30 EDT
        );
    }

    #[test]
    fn new_york_fall_back_repeated_time_fires_once_at_its_first_occurrence() {
        // 2024-11-03: 02:00 EDT (06:00 UTC) goes back to 01:00 EST; 01:30 happens twice.
        let s = sched("cron(30 1 * * ? *)");
        let first = utc("2024-11-03T05:30:00Z"); // 01:30 EDT
        let second = utc("2024-11-03T06:30:00Z"); // 01:30 EST
        assert_eq!(
            s.latest_at_or_before(New_York, None, None, second),
            Some(first)
        );
        assert_eq!(
            s.latest_at_or_before(New_York, None, None, utc("2024-11-03T06:59:00Z")),
            Some(first)
        );
        assert_eq!(
            s.next_after(New_York, None, None, first),
            Some(utc("2024-11-04T06:30:00Z"))
        );
        assert_eq!(
            latest(
                "at(2024-11-03T01:30:00)",
                New_York,
                utc("2024-11-03T12:00:00Z")
            ),
            Some(first)
        );
    }

    // ---- windows ------------------------------------------------------------

    #[test]
    fn start_and_end_bound_the_recurrence_inclusively() {
        let s = sched("cron(0 8 * * ? *)");
        let start = Some(utc("2024-05-10T08:00:00Z"));
        let end = Some(utc("2024-05-12T08:00:00Z"));
        let at = |now: &str| s.latest_at_or_before(UTC, start, end, utc(now));
        // Before StartTime: nothing, although yesterday's 08:00 matched the cron.
        assert_eq!(at("2024-05-10T07:59:00Z"), None);
        // StartTime and EndTime are inclusive.
        assert_eq!(at("2024-05-10T08:00:00Z"), start);
        assert_eq!(at("2024-05-12T08:00:00Z"), end);
        // After EndTime, the last occurrence inside the window stays in force.
        assert_eq!(at("2024-06-01T00:00:00Z"), end);
        assert_eq!(
            s.next_after(UTC, start, end, utc("2024-05-12T08:00:00Z")),
            None
        );
        assert_eq!(
            s.next_after(UTC, start, end, utc("2024-01-01T00:00:00Z")),
            start
        );
    }

    #[test]
    fn end_time_caps_the_latest_occurrence() {
        let s = sched("cron(0 * * * ? *)");
        let end = Some(utc("2024-05-10T10:59:59Z"));
        assert_eq!(
            s.latest_at_or_before(UTC, None, end, utc("2024-05-10T13:30:00Z")),
            Some(utc("2024-05-10T10:00:00Z"))
        );
        let at = sched("at(2024-05-10T12:00:00)");
        assert_eq!(
            at.latest_at_or_before(UTC, None, end, utc("2024-05-11T00:00:00Z")),
            None
        );
    }

    // ---- rate() -----------------------------------------------------------

    #[test]
    fn rate_without_start_time_is_anchored_at_the_unix_epoch() {
        let now = utc("2024-05-10T10:07:30Z");
        assert_eq!(
            latest("rate(15 minutes)", Berlin, now),
            Some(utc("2024-05-10T10:00:00Z"))
        );
        assert_eq!(
            latest("rate(1 day)", Berlin, now),
            Some(utc("2024-05-10T00:00:00Z"))
        );
        assert_eq!(
            latest("rate(6 hours)", UTC, now),
            Some(utc("2024-05-10T06:00:00Z"))
        );
        // The epoch was a Thursday; so is 2024-05-09.
        assert_eq!(
            latest("rate(7 days)", UTC, now),
            Some(utc("2024-05-09T00:00:00Z"))
        );
        assert_eq!(
            sched("rate(15 minutes)").next_after(UTC, None, None, now),
            Some(utc("2024-05-10T10:15:00Z"))
        );
    }

    #[test]
    fn rate_with_start_time_counts_periods_from_start_time() {
        let s = sched("rate(15 minutes)");
        let start = Some(utc("2024-05-10T10:05:00Z"));
        let at = |now: &str| s.latest_at_or_before(UTC, start, None, utc(now));
        assert_eq!(at("2024-05-10T10:04:59Z"), None);
        assert_eq!(at("2024-05-10T10:05:00Z"), start);
        assert_eq!(
            at("2024-05-10T10:36:00Z"),
            Some(utc("2024-05-10T10:35:00Z"))
        );
        assert_eq!(
            at("2024-05-12T00:00:00Z"),
            Some(utc("2024-05-11T23:50:00Z"))
        );
        assert_eq!(
            s.next_after(UTC, start, None, utc("2024-05-10T10:05:00Z")),
            Some(utc("2024-05-10T10:20:00Z"))
        );
        assert_eq!(
            s.next_after(UTC, start, None, utc("2024-05-01T00:00:00Z")),
            start
        );
    }

    #[test]
    fn rate_days_are_24_hours_across_dst() {
        // Timezone does not affect rate(): 24 h after 00:00 UTC, even in Berlin
        // across its spring-forward night.
        let s = sched("rate(1 day)");
        let start = Some(utc("2024-03-30T23:00:00Z")); // 00:00 CET on the 31st
        assert_eq!(
            s.latest_at_or_before(Berlin, start, None, utc("2024-04-01T00:00:00Z")),
            Some(utc("2024-03-31T23:00:00Z")) // 01:00 CEST
        );
    }

    // ---- effective band ---------------------------------------------------

    /// Zones and instants the property tests start from: each zone's 2024 DST
    /// transitions (Lord Howe shifts by 30 minutes), plus zones without DST.
    const MOMENTS: [(Tz, &str); 9] = [
        (Berlin, "2024-03-31T01:00:00Z"),
        (Berlin, "2024-10-27T01:00:00Z"),
        (New_York, "2024-03-10T07:00:00Z"),
        (New_York, "2024-11-03T06:00:00Z"),
        (chrono_tz::Australia::Lord_Howe, "2024-04-06T15:00:00Z"),
        (chrono_tz::Australia::Lord_Howe, "2024-10-05T15:30:00Z"),
        (Shanghai, "2024-06-15T12:00:00Z"),
        (UTC, "2024-12-31T23:00:00Z"),
        (Berlin, "2024-02-28T23:00:00Z"),
    ];

    fn cron_strategy() -> impl Strategy<Value = String> {
        let minute = prop::sample::select(vec!["*", "0", "*/15", "0/20", "5,35", "10-20", "30"]);
        // Weighted towards the hours DST transitions touch (01:00-03:00).
        let hour = prop::sample::select(vec!["*", "2", "1", "1-3", "1,2", "*/6", "20", "0,2,3"]);
        let month = prop::sample::select(vec!["*", "*", "3", "MAR-NOV", "10,11", "JAN,FEB"]);
        let year = prop::sample::select(vec!["*", "*", "2024", "2024-2025", "2023"]);
        let days = prop::sample::select(vec![
            ("?", "MON-FRI"),
            ("?", "SUN"),
            ("?", "1,7"),
            ("?", "*"),
            ("*", "?"),
            ("*", "?"),
            ("1", "?"),
            ("29", "?"),
            ("1-10", "?"),
            ("*/3", "?"),
        ]);
        (minute, hour, days, month, year)
            .prop_map(|(mi, h, (dom, dow), mo, y)| format!("cron({mi} {h} {dom} {mo} {dow} {y})"))
    }

    /// A zone and a `now` from 6 hours before to 36 hours after one of its moments.
    fn zone_and_now() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
        (
            prop::sample::select(MOMENTS.to_vec()),
            -360i64..36 * 60,
            0i64..60,
        )
            .prop_map(|((tz, base), min, sec)| {
                (
                    tz,
                    utc(base) + TimeDelta::minutes(min) + TimeDelta::seconds(sec),
                )
            })
    }

    /// Brute force from the definition: scan every minute of `[from, to]`,
    /// tracking the highest wall-clock time shown so far; a minute fires when
    /// the clock first reaches a matching wall-clock time. Returns every firing.
    fn brute_firings(
        cron: &cron::Schedule,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut shown = (from - TimeDelta::minutes(1))
            .with_timezone(&tz)
            .naive_local();
        let mut firings = Vec::new();
        let mut t = from;
        while t <= to {
            let wall = t.with_timezone(&tz).naive_local();
            let mut w = shown + TimeDelta::minutes(1);
            while w <= wall {
                if cron.includes(w.and_utc()) {
                    firings.push(t);
                    break;
                }
                w += TimeDelta::minutes(1);
            }
            shown = shown.max(wall);
            t += TimeDelta::minutes(1);
        }
        firings
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn cron_latest_matches_a_brute_force_minute_scan(
            text in cron_strategy(),
            (tz, now) in zone_and_now(),
        ) {
            let s = sched(&text);
            let Expr::Cron(cron) = &s.expr else { panic!("{text} is a cron") };
            // A minute-aligned window of two days before `now`.
            let from = DateTime::from_timestamp((now.timestamp() / 60 - 2 * 1440) * 60, 0)
                .expect("in range");
            let firings = brute_firings(cron, tz, from, now);
            // At every minute of the window (and at `now`), the latest
            // occurrence is the brute-force one.
            let mut t = from;
            let mut k = 0;
            while t <= now {
                while k < firings.len() && firings[k] <= t {
                    k += 1;
                }
                let want = k.checked_sub(1).map(|i| firings[i]);
                let got = s.latest_at_or_before(tz, Some(from), None, t);
                prop_assert_eq!(got, want, "{} in {} at {}", text, tz, t);
                t += TimeDelta::minutes(1);
            }
            prop_assert_eq!(
                s.latest_at_or_before(tz, Some(from), None, now),
                firings.last().copied()
            );
            // next_after walks the same firings in order.
            let mut walked = Vec::new();
            let mut cursor = from - TimeDelta::seconds(1);
            while let Some(n) = s.next_after(tz, Some(from), Some(now), cursor) {
                walked.push(n);
                cursor = n;
            }
            prop_assert_eq!(walked, firings, "{} in {}", text, tz);
        }

        #[test]
        fn latest_is_never_after_now_and_always_inside_the_window(
            which in 0usize..4,
            text in cron_strategy(),
            rate in 2u32..500,
            (tz, now) in zone_and_now(),
            start_off in prop::option::of(-5 * 1440i64..1440),
            len in prop::option::of(0i64..5 * 1440),
        ) {
            let text = match which {
                0 => text,
                1 => format!("rate({rate} minutes)"),
                2 => format!("rate({rate} hours)"),
                _ => format!("at({})", (now + TimeDelta::minutes(i64::from(rate) * 7 - 1500)).format("%Y-%m-%dT%H:%M:%S")),
            };
            let s = sched(&text);
            let start = start_off.map(|m| now + TimeDelta::minutes(m) + TimeDelta::seconds(17));
            let end = len.map(|l| start.unwrap_or(now - TimeDelta::days(3)) + TimeDelta::minutes(l));
            if let Some(t) = s.latest_at_or_before(tz, start, end, now) {
                prop_assert!(t <= now, "{} gave {} after now {}", text, t, now);
                prop_assert!(start.is_none_or(|st| t >= st), "{} gave {} before start", text, t);
                prop_assert!(end.is_none_or(|e| t <= e), "{} gave {} after end", text, t);
                // And it is the latest: the next occurrence is after the cap.
                let cap = end.map_or(now, |e| e.min(now));
                let next = s.next_after(tz, start, end, t);
                prop_assert!(next.is_none_or(|n| n > cap), "{}: next {:?} <= cap {}", text, next, cap);
            }
            if let Some(n) = s.next_after(tz, start, end, now) {
                prop_assert!(n > now, "{} gave next {} not after now {}", text, n, now);
                prop_assert!(start.is_none_or(|st| n >= st), "{} gave next {} before start", text, n);
                prop_assert!(end.is_none_or(|e| n <= e), "{} gave next {} after end", text, n);
            }
        }
    }
}

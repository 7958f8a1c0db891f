//! What CloudWatch can know at a given moment: the one model of metric
//! publication that every driver goes through.
//!
//! Lambda publishes a minute's `ConcurrentExecutions` and
//! `ProvisionedConcurrencyUtilization` datapoints some time after that minute
//! ends: one to three minutes in practice. A tick that reads the newest
//! minutes before they are published finds no datapoint there, and "no
//! datapoint" is also what CloudWatch shows for an idle minute. Reading the
//! two as the same thing is how a controller fails to scale out on a rise
//! (its newest minute looks idle) and scales a busy alias in (its scale-in
//! window ends in invented idleness).
//!
//! The rule, in three parts:
//!
//! 1. **Settled minutes.** A minute `[m, m + 60 s)` is surely published once
//!    `m + 60 s + delay <= now`, where `delay` is the configured
//!    [`PublicationDelay`] (`PCSCALE_METRIC_DELAY_SECONDS`, default
//!    [`DEFAULT_PUBLICATION_DELAY_SECS`]). In a settled minute, no datapoint
//!    means no invocations.
//! 2. **Pending minutes**, between the settled ones and the current minute,
//!    may or may not be published yet. A datapoint there is real data and is
//!    used; the published horizon is the newest minute with a datapoint (a
//!    pending minute older than a published one counts as published: Lambda
//!    publishes minutes in order). Pending minutes after the horizon are
//!    *not yet published*: they are dropped from the series, never read as
//!    idle.
//! 3. **The current minute** is never requested: it is not over.
//!
//! So the newest entry of every [`Series`] handed to the decision is the
//! newest minute CloudWatch has published, and a scale-in window never
//! counts an unpublished minute as zero demand. What it costs: a rise is seen
//! as soon as CloudWatch publishes it (the data itself moves the horizon),
//! but a fall to idle is believed only `delay` after the idle minute ends,
//! so scale-in can be up to `delay` later than with instant metrics.
//!
//! [`MetricWindow`] is the window the CloudWatch adapter requests and the
//! simulator's metrics port answers; [`MetricWindow::series`] turns the
//! datapoints either of them got into the series the decision reads.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// One per-minute metric series, oldest first; the last entry is the newest
/// minute CloudWatch has published (see [`super::window`]). `None` = no
/// datapoint in a published minute: no invocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Per-minute values, oldest first.
    pub minutes: Vec<Option<f64>>,
    /// The start of the newest minute in `minutes`, when the source said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    /// Minutes after `newest`, before the current one, that were not yet
    /// published: left out, never read as idle.
    #[serde(default)]
    pub unpublished: u32,
}

impl Series {
    /// A series of published minutes with no unpublished tail (tests, traces).
    pub fn of(minutes: Vec<Option<f64>>) -> Self {
        Series {
            minutes,
            ..Series::default()
        }
    }
}

/// Seconds after a minute ends by which CloudWatch has surely published its
/// Lambda datapoints, unless configured otherwise. AWS publishes a Lambda
/// minute one to three minutes after it ends; the default assumes the
/// slowest, so that no published-late minute is ever read as idle. Datapoints
/// that arrive sooner are used as soon as they arrive (rule 2 above).
pub const DEFAULT_PUBLICATION_DELAY_SECS: u32 = 180;

/// The largest publication delay accepted: beyond 15 minutes a
/// one-minute controller would decide on data a quarter of an hour old.
pub const MAX_PUBLICATION_DELAY_SECS: u32 = 900;

/// How long after a minute ends CloudWatch has surely published it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicationDelay {
    secs: u32,
}

/// A publication delay outside `0..=MAX_PUBLICATION_DELAY_SECS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a metric publication delay of {secs} s is out of range: it must be between 0 and {MAX_PUBLICATION_DELAY_SECS} seconds"
)]
pub struct DelayOutOfRange {
    /// The refused value.
    pub secs: u64,
}

impl PublicationDelay {
    /// A delay of `secs` seconds after the minute ends.
    pub fn from_secs(secs: u64) -> Result<Self, DelayOutOfRange> {
        u32::try_from(secs)
            .ok()
            .filter(|s| *s <= MAX_PUBLICATION_DELAY_SECS)
            .map(|secs| PublicationDelay { secs })
            .ok_or(DelayOutOfRange { secs })
    }

    /// The delay in seconds.
    pub fn secs(self) -> u32 {
        self.secs
    }

    /// Whether the minute starting at `minute` is surely published at `now`.
    pub fn is_published(self, minute: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        minute + TimeDelta::seconds(60 + i64::from(self.secs)) <= now
    }

    /// The end (exclusive) of the settled minutes at `now`: every minute
    /// starting before it is surely published.
    ///
    /// Example: delay 180 s, `now` 10:07:02 -> 10:04 (10:03 is the newest
    /// settled minute; 10:04, 10:05 and 10:06 may still be unpublished).
    pub fn settled_end(self, now: DateTime<Utc>) -> DateTime<Utc> {
        minute_start(now - TimeDelta::seconds(i64::from(self.secs)))
    }

    /// Whole minutes from a minute's start to the first on-the-minute tick
    /// that surely sees it: 1 + the delay rounded up to minutes. Example:
    /// delay 180 s -> the tick at 10:07 is the first to see minute 10:03.
    pub fn minutes_until_seen(self) -> u32 {
        1 + self.secs.div_ceil(60)
    }

    /// How many of the minutes `0, 1, ...` of a trace that starts at `epoch`
    /// are surely published at `epoch + now_secs` (the simulator's clock).
    pub fn published_minutes(self, now_secs: f64) -> usize {
        let settled = (now_secs - f64::from(self.secs)) / 60.0;
        if settled.is_nan() || settled <= 0.0 {
            0
        } else {
            settled.floor() as usize // ok: float-to-int `as` saturates; >= 0 here
        }
    }
}

impl Default for PublicationDelay {
    fn default() -> Self {
        PublicationDelay {
            secs: DEFAULT_PUBLICATION_DELAY_SECS,
        }
    }
}

/// The start of the minute containing `now`.
pub fn minute_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now)
}

/// What a decision at `now` may know: `now` and the publication delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// The tick's time.
    pub now: DateTime<Utc>,
    /// The publication delay it assumes.
    pub delay: PublicationDelay,
}

impl Horizon {
    /// The window to request for `minutes` minutes of published history.
    pub fn window(self, minutes: u32) -> MetricWindow {
        MetricWindow::new(self.now, minutes, self.delay)
    }
}

/// The per-minute window a metric query covers at one moment.
///
/// `[start, end)` is what is requested: `minutes` settled minutes, then the
/// pending ones up to the current minute. A decision needs at most `minutes`
/// published minutes; the pending ones are there so that datapoints published
/// sooner than the delay are not thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricWindow {
    /// First minute requested (inclusive).
    pub start: DateTime<Utc>,
    /// End of the settled minutes (exclusive).
    pub settled: DateTime<Utc>,
    /// End of the request (exclusive): the start of the current minute.
    pub end: DateTime<Utc>,
    /// Minutes of published history the decision reads.
    pub minutes: u32,
}

/// The longest window accepted (70 days of minutes): bounds every buffer the
/// window sizes, whatever a policy asks for.
pub const MAX_WINDOW_MINUTES: u32 = 100_800;

impl MetricWindow {
    /// The window for `minutes` minutes of history at `now` with `delay`.
    pub fn new(now: DateTime<Utc>, minutes: u32, delay: PublicationDelay) -> Self {
        let minutes = minutes.clamp(1, MAX_WINDOW_MINUTES);
        let end = minute_start(now);
        let settled = delay.settled_end(now).min(end);
        MetricWindow {
            start: settled - TimeDelta::minutes(i64::from(minutes)),
            settled,
            end,
            minutes,
        }
    }

    /// The same request, read for fewer minutes of history (a query of a
    /// batch whose window was sized by a longer look-back).
    pub fn keeping(self, minutes: u32) -> MetricWindow {
        MetricWindow {
            minutes: minutes.clamp(1, self.minutes),
            ..self
        }
    }

    /// Minutes requested, settled and pending.
    pub fn slots(&self) -> usize {
        usize::try_from((self.end - self.start).num_minutes()).unwrap_or(0)
    }

    /// Minutes that may still be unpublished (after the settled ones).
    pub fn pending(&self) -> usize {
        usize::try_from((self.end - self.settled).num_minutes()).unwrap_or(0)
    }

    /// The series a decision reads from the datapoints `(minute start in
    /// Unix seconds, value)` a source returned for this window.
    ///
    /// Points outside the window are dropped; two in one minute keep the
    /// larger. Pending minutes after the newest one with a datapoint are not
    /// yet published and left out (counted in [`Series::unpublished`]); the
    /// result holds the last [`MetricWindow::minutes`] published minutes.
    /// `history_from` drops minutes before it: the source holds no history
    /// there (the simulator before its trace starts), which is unknown, not
    /// idle.
    pub fn series(
        &self,
        points: impl IntoIterator<Item = (i64, f64)>,
        history_from: Option<DateTime<Utc>>,
    ) -> Series {
        let slots = self.slots();
        let mut values: Vec<Option<f64>> = vec![None; slots];
        let start = self.start.timestamp();
        for (t, v) in points {
            let Ok(idx) = usize::try_from((t - start).div_euclid(60)) else {
                continue;
            };
            if let Some(slot) = values.get_mut(idx) {
                *slot = Some(slot.map_or(v, |old| old.max(v)));
            }
        }
        let settled = slots - self.pending().min(slots);
        // The published horizon: the settled minutes, and every pending one
        // up to the newest that has a datapoint.
        let published = values[settled..]
            .iter()
            .rposition(Option::is_some)
            .map_or(settled, |i| settled + i + 1);
        let unpublished = slots - published;
        values.truncate(published);
        let keep = usize::try_from(self.minutes).unwrap_or(usize::MAX);
        let mut first = published.saturating_sub(keep);
        if let Some(from) = history_from {
            let known = usize::try_from((from - self.start).num_minutes().max(0)).unwrap_or(0);
            first = first.max(known.min(published));
        }
        let newest = (published > 0)
            .then(|| self.start + TimeDelta::minutes(i64::try_from(published - 1).unwrap_or(0)));
        Series {
            minutes: values.split_off(first),
            newest,
            unpublished: u32::try_from(unpublished).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, m, s).unwrap()
    }

    fn delay(secs: u64) -> PublicationDelay {
        PublicationDelay::from_secs(secs).unwrap()
    }

    /// Datapoints at the given minutes of hour 10.
    fn points(minutes: &[(u32, f64)]) -> Vec<(i64, f64)> {
        minutes
            .iter()
            .map(|&(m, v)| (at(10, m, 0).timestamp(), v))
            .collect()
    }

    #[test]
    fn a_minute_is_settled_delay_seconds_after_it_ends() {
        let d = delay(180);
        // 10:03 ends at 10:04 and is settled at 10:07:00, not a second before.
        assert!(d.is_published(at(10, 3, 0), at(10, 7, 0)));
        assert!(!d.is_published(at(10, 3, 0), at(10, 6, 59)));
        assert_eq!(d.settled_end(at(10, 7, 2)), at(10, 4, 0));
        assert_eq!(d.settled_end(at(10, 6, 59)), at(10, 3, 0));
        // The same answer through the simulator's clock (seconds from an epoch).
        assert_eq!(d.published_minutes(7.0 * 60.0), 4);
        assert_eq!(d.published_minutes(7.0 * 60.0 - 1.0), 3);
        assert_eq!(d.published_minutes(0.0), 0);
        assert_eq!(delay(0).published_minutes(60.0), 1);
        assert_eq!(d.minutes_until_seen(), 4);
        assert_eq!(delay(90).minutes_until_seen(), 3);
        assert_eq!(delay(0).minutes_until_seen(), 1);
    }

    #[test]
    fn delays_outside_0_to_900_seconds_are_refused() {
        assert!(PublicationDelay::from_secs(0).is_ok());
        assert!(PublicationDelay::from_secs(900).is_ok());
        let e = PublicationDelay::from_secs(901).unwrap_err();
        assert!(e.to_string().contains("901"), "{e}");
        assert!(PublicationDelay::from_secs(u64::MAX).is_err());
        assert_eq!(PublicationDelay::default().secs(), 180);
    }

    #[test]
    fn the_window_covers_settled_history_and_the_pending_minutes_before_now() {
        for (secs, pending) in [(60, 1), (120, 2), (180, 3)] {
            let w = MetricWindow::new(at(10, 7, 2), 10, delay(secs));
            assert_eq!(w.end, at(10, 7, 0), "never the current minute");
            assert_eq!(w.pending(), pending, "delay {secs}");
            assert_eq!(w.settled, at(10, 7 - pending as u32, 0));
            assert_eq!(w.slots(), 10 + pending);
            assert_eq!(w.minutes, 10);
        }
        // At least one minute, whatever is asked.
        assert_eq!(MetricWindow::new(at(10, 7, 2), 0, delay(60)).minutes, 1);
    }

    #[test]
    fn unpublished_minutes_are_left_out_not_read_as_idle() {
        // Delay 180 s at 10:07:02: 10:04..10:06 pending. Demand 70 every
        // minute, CloudWatch has published up to 10:03 only.
        let w = MetricWindow::new(at(10, 7, 2), 5, delay(180));
        let pts = points(&[(0, 70.0), (1, 70.0), (2, 70.0), (3, 70.0)]);
        let s = w.series(pts, None);
        assert_eq!(s.minutes.len(), 5);
        assert_eq!(s.minutes.last(), Some(&Some(70.0)), "newest = 10:03");
        assert_eq!(s.newest, Some(at(10, 3, 0)));
        assert_eq!(s.unpublished, 3);
        // The oldest minute read is 10:59 of the hour before: settled, idle.
        assert_eq!(s.minutes[0], None);
    }

    #[test]
    fn a_datapoint_published_early_moves_the_horizon() {
        // Real delay one minute: 10:05 already has its datapoint at 10:07:02.
        let w = MetricWindow::new(at(10, 7, 2), 3, delay(180));
        let s = w.series(points(&[(3, 5.0), (5, 40.0)]), None);
        assert_eq!(s.newest, Some(at(10, 5, 0)));
        assert_eq!(s.unpublished, 1, "only 10:06 is still unpublished");
        // 10:04 is older than a published minute: published, and idle.
        assert_eq!(s.minutes, vec![Some(5.0), None, Some(40.0)]);
    }

    #[test]
    fn settled_minutes_without_datapoints_are_idle() {
        // Idle for 30 minutes: every settled minute is a known zero.
        let w = MetricWindow::new(at(10, 40, 0), 30, delay(120));
        let s = w.series(Vec::new(), None);
        assert_eq!(s.minutes, vec![None; 30]);
        assert_eq!(s.newest, Some(at(10, 37, 0)));
        assert_eq!(s.unpublished, 2);
    }

    #[test]
    fn points_outside_the_window_are_dropped_and_two_in_a_minute_keep_the_larger() {
        let w = MetricWindow::new(at(10, 7, 0), 3, delay(60));
        // Window 10:03..10:07, settled up to 10:05.
        let mut pts = points(&[(2, 99.0), (3, 1.0), (7, 99.0)]);
        pts.push((at(10, 3, 30).timestamp(), 4.0));
        let s = w.series(pts, None);
        assert_eq!(s.minutes, vec![Some(4.0), None, None]);
        assert_eq!(s.unpublished, 1);
    }

    #[test]
    fn history_before_the_source_holds_any_is_unknown_not_idle() {
        let w = MetricWindow::new(at(10, 7, 0), 10, delay(60));
        // Published up to 10:05 (settled); the source's history starts at 10:03.
        let s = w.series(points(&[(4, 2.0)]), Some(at(10, 3, 0)));
        assert_eq!(s.minutes, vec![None, Some(2.0), None]);
        // A start after every published minute leaves nothing.
        let s = w.series(Vec::new(), Some(at(10, 9, 0)));
        assert!(s.minutes.is_empty());
    }

    #[test]
    fn huge_windows_are_bounded() {
        let w = MetricWindow::new(at(10, 7, 0), u32::MAX, delay(60));
        assert_eq!(w.minutes, MAX_WINDOW_MINUTES);
        let s = w.series(points(&[(5, 1.0)]), None);
        assert_eq!(s.minutes.len(), MAX_WINDOW_MINUTES as usize);
    }
}

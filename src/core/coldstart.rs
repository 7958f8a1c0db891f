//! The cold-start-aware level: how much provisioned concurrency the recent
//! past says is worth paying for, counted in cold starts it would have avoided.
//!
//! # Why demand-following is the wrong target
//!
//! Lambda serves an invocation from PC first; only the excess spills to
//! on-demand, where an environment that was busy in the last few minutes is
//! still warm (AWS does not document the keep-alive; ~5 minutes is the common
//! measurement). So PC *below* the level demand reached in the last
//! keep-alive window avoids nothing: those environments would have been warm
//! anyway. A PC unit at level `k` avoids a cold start only in a minute where
//! demand climbs to `k` or above while it stayed below `k` for the whole
//! keep-alive window before, the moment an on-demand environment would have
//! had to start cold.
//!
//! # The estimate
//!
//! With `D[m]` the per-minute Maximum of `ConcurrentExecutions` (what
//! CloudWatch gives) and `W[m] = max(D[m-K..m])` the warm pool over the `K`
//! keep-alive minutes before `m`, the cold starts unit `k` would have caught
//! over the look-back are
//!
//! ```text
//!     N_k = #{ m : W[m] < k <= D[m] }
//! ```
//!
//! and, since units are stacked from 1 upwards (PC = P covers levels
//! `1..=P`), the level kept is the `P` maximising
//!
//! ```text
//!     sum_{k <= P} (N_k - T x hours)
//! ```
//!
//! where `T` is the unit's price in cold starts per hour ([`unit_price`]): a
//! unit is worth its price if it avoided at least `T` cold starts per hour it
//! was kept.
//! That price gets a utilisation credit: a unit whose level was reached in a
//! share `b` of the minutes costs `T x (1 - b / 0.6)` (nothing from `b = 0.6`
//! on, where busy time billed at PC prices repays the idle time; see
//! [`BREAK_EVEN_UTILISATION`]), and the base load below is kept outright. A
//! prefix-sum argmax instead of "the highest `k` with `N_k >= T x hours`"
//! keeps a unit that is worthless alone when the units above it, which
//! cannot exist without it, pay for it.
//!
//! Worked example, `K = 5`, `T = 2`, one hour of history: a timer function
//! that runs every 10 minutes for a few seconds shows `D = 1` once every ten
//! minutes and 0 in between: `W = 0` before each run, so `N_1 = 6 >= 2`: keep
//! 1 unit. A busy function whose demand sits between 20 and 30 all hour has
//! `W >= 20` always, so units 1..20 catch nothing: the level is 0 and the warm
//! on-demand pool does the work for free. A function with 3 spikes an hour
//! from 2 to 12 has `N_3..N_12 = 3` and `N_1 = N_2 = 0`; units 1 and 2 are
//! busy every minute (free), units 3..12 three minutes in sixty (price
//! `2 x (1 - 0.05 / 0.6) = 1.83`): `P = 12` scores `10 x (3 - 1.83) > 0`: keep 12.
//!
//! A unit needs at least [`MIN_EVENTS`] avoided cold starts in the look-back
//! before its rate counts: one burst is an event, not a rate (without this
//! rule a function whose only burst came an hour after it was created would
//! keep that burst's PC, because one hour of history makes one burst look
//! like one an hour).
//!
//! # Periodic pre-warming
//!
//! Timer-driven functions wake at a fixed period, too rarely for a unit to
//! pay for itself all hour but like clockwork. With `PreWarmPeriodic`, a unit
//! whose last [`PERIODIC_GAPS`] gaps between cold-start events are equal
//! (within [`PERIOD_TOLERANCE_MINUTES`]) is also kept while its next event
//! is due within [`PREWARM_LEAD_MINUTES`] plus the not-yet-published minutes
//! after the latest datapoint; only the
//! next occurrence is predicted, so a timer that stops is pre-warmed once
//! more at most. Example: events at level 4 at minutes 100, 160 and 220 of
//! the series predict 280; the tick whose latest datapoint is minute 275
//! keeps 4 units.
//!
//! # The price of a unit, in money
//!
//! A PC unit costs its function's memory times the PC price per GB-s: a unit
//! of a 3 GB function costs three of a 1 GB one. With the policy's
//! `DollarsPerColdStart` `V` (default $0.0014) and the function's memory `M`
//! (an observation: `GetFunctionConfiguration`, cached a day in the state),
//!
//! ```text
//!     T = PC price per unit-hour at M / V = 0.0000041667 x 3600 x M_GB / V
//! ```
//!
//! so the default asks 1.49 avoided cold starts per unit-hour at 142 MB (the
//! bundled day's median memory, where today's one price of 1.5 was tuned),
//! 1.34 at 128 MB, 10.7 at 1 GB and 107 at 10 GB (more than a unit can avoid
//! with a 5-minute keep-alive, 60 / 6 = 10 an hour: such a unit is kept only
//! for its busy time, the utilisation credit below, or by a periodic
//! pre-warm). At $0.01 a cold start: 0.19 at 128 MB (where the [`MIN_EVENTS`]
//! rule, 2 in the 8-hour look-back = 0.25 an hour, binds), 1.5 at 1 GB, 15 at
//! 10 GB. Which price applies
//! ([`PriceBasis`]):
//!
//! 1. `DollarsPerColdStart` set and the memory known: by memory;
//! 2. `MinColdStartsPerInstanceHour` set: that one price (set alone, it
//!    overrides pricing by memory; beside `DollarsPerColdStart`, it is the
//!    price while the memory is unknown);
//! 3. neither set, the memory known: by memory at the default $0.0014;
//! 4. otherwise 1.5 ([`DEFAULT_MIN_COLD_STARTS_PER_INSTANCE_HOUR`]), the one
//!    price before pricing by memory: no memory, today's decisions exactly.
//!
//! The utilisation credit is a ratio of prices (the same 0.6 for every
//! memory and both architectures), so it scales with `T` unchanged.
//!
//! The estimate is minute-grained (CloudWatch's resolution), ignores the PC
//! preparation delay and assumes the past look-back predicts the next
//! minutes; `pcscale simulate` measures what that costs on real traces.

use serde::{Deserialize, Serialize};

use super::policy::{
    COLD_STARTS_PER_HOUR, ColdStartAware, DEFAULT_DOLLARS_PER_COLD_START,
    DEFAULT_MIN_COLD_STARTS_PER_INSTANCE_HOUR,
};
use super::price;

/// The utilisation above which a PC unit costs less than no PC: the PC price
/// over what PC saves on each busy second. us-east-1, per GB-s: x86
/// `0.0000041667 / (0.0000166667 - 0.0000097222) = 0.60`; arm64
/// `0.0000033334 / (0.0000133334 - 0.0000077778) = 0.60` (AWS Lambda pricing).
pub const BREAK_EVEN_UTILISATION: f64 = 0.6;

/// Avoided cold starts a unit needs in the look-back before its rate is
/// trusted: a single burst says nothing about how often it recurs.
pub const MIN_EVENTS: u64 = 2;

/// Equal gaps between a unit's last cold-start events that make it periodic
/// (3 events). One gap is any two events; two equal gaps are a timer.
pub const PERIODIC_GAPS: usize = 2;

/// How far two gaps may differ, in minutes, and still be "equal": timers
/// fire on the minute, but the per-minute peak can land on either side of a
/// minute boundary.
pub const PERIOD_TOLERANCE_MINUTES: u32 = 1;

/// A pre-warm starts this many minutes before the predicted minute, counted
/// from the tick's current minute, plus the minutes not yet published
/// between the newest datapoint and now (see [`super::window`]): the next
/// tick is up to a minute away, and a PC increase is usable about 90 s after
/// the request (Lambda's preparation time), so with the newest datapoint one
/// minute behind the tick's, a predicted minute up to 6 minutes after it
/// must be requested now (5 + 1 unpublished minute).
pub const PREWARM_LEAD_MINUTES: u32 = 5;

/// The highest level [`level`] computes: no policy's band reaches above it
/// (`MaxCapacity` is at most [`crate::core::policy::MAX_CAPACITY_VALUE`]), so
/// it changes no decision, and it bounds every buffer sized by a peak
/// (about 40 MB at the bound, against the 8 GB a 1e9 datapoint asked for).
pub const MAX_LEVEL_UNITS: u32 = crate::core::policy::MAX_CAPACITY_VALUE;

/// Where a unit's price came from (see the module docs for the order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PriceBasis {
    /// The function's memory and a dollar value per avoided cold start.
    Memory {
        /// The memory read, MB.
        memory_mb: u32,
        /// Dollars per avoided cold start (the policy's, or the default).
        dollars_per_cold_start: f64,
    },
    /// The policy's `MinColdStartsPerInstanceHour`, set alone: one price
    /// whatever the memory.
    Explicit,
    /// The memory is unknown: `MinColdStartsPerInstanceHour`, or 1.5.
    MemoryUnknown,
}

/// A PC unit's price: the cold starts it must avoid per hour kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitPrice {
    /// Cold starts per unit-hour (`T`).
    pub per_hour: f64,
    /// Where it came from.
    pub basis: PriceBasis,
}

impl UnitPrice {
    /// For reasons: `price 0.38 per unit-hour ($0.01 per cold start at 256
    /// MB)`, `price 1.5 per unit-hour (MinColdStartsPerInstanceHour)`,
    /// `price 1.5 per unit-hour (memory unknown)`.
    pub fn describe(&self) -> String {
        let t = (self.per_hour * 100.0).round() / 100.0;
        match self.basis {
            PriceBasis::Memory {
                memory_mb,
                dollars_per_cold_start,
            } => format!(
                "price {t} per unit-hour (${dollars_per_cold_start} per cold start at {memory_mb} MB)"
            ),
            PriceBasis::Explicit => {
                format!("price {t} per unit-hour (MinColdStartsPerInstanceHour)")
            }
            PriceBasis::MemoryUnknown => format!("price {t} per unit-hour (memory unknown)"),
        }
    }
}

/// The price of one PC unit of a function with `memory_mb` (`None`: not
/// known) under `cfg`, in cold starts per unit-hour; see the module docs.
/// Bounded by `MinColdStartsPerInstanceHour`'s range (0 to 3,600).
///
/// Example: 3,072 MB at $0.01 a cold start: `0.015 x 3 / 0.01 = 4.5`; at
/// the default $0.0014, 32.1.
pub fn unit_price(cfg: &ColdStartAware, memory_mb: Option<u32>) -> UnitPrice {
    let explicit = cfg.min_per_instance_hour.filter(|t| t.is_finite());
    let money = match (cfg.dollars_per_cold_start, explicit, memory_mb) {
        (Some(d), _, Some(m)) => Some((d, m)),
        (None, None, Some(m)) => Some((DEFAULT_DOLLARS_PER_COLD_START, m)),
        _ => None,
    };
    let max = f64::from(COLD_STARTS_PER_HOUR.max);
    match money.filter(|(d, _)| d.is_finite() && *d > 0.0) {
        Some((d, m)) => UnitPrice {
            per_hour: (price::pc_unit_hour_dollars(m) / d).min(max),
            basis: PriceBasis::Memory {
                memory_mb: m,
                dollars_per_cold_start: d,
            },
        },
        None => UnitPrice {
            per_hour: explicit
                .unwrap_or(DEFAULT_MIN_COLD_STARTS_PER_INSTANCE_HOUR)
                .clamp(0.0, max),
            basis: if cfg.dollars_per_cold_start.is_none() && explicit.is_some() {
                PriceBasis::Explicit
            } else {
                PriceBasis::MemoryUnknown
            },
        },
    }
}

/// The level and the evidence behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// PC units worth keeping.
    pub level: u32,
    /// Cold starts those units would have avoided over the history read.
    pub avoided: u64,
    /// Hours of history read (minutes with a full keep-alive window before them).
    pub hours: f64,
    /// The periodic pre-warm that raised the level, if one did.
    pub prewarm: Option<Prewarm>,
}

/// A unit kept because its cold starts recur at a fixed period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prewarm {
    /// The highest unit due (PC = this covers it and the units below).
    pub unit: u32,
    /// Minutes between its last cold-start events.
    pub period_minutes: u32,
    /// Minutes from the latest datapoint to the predicted event.
    pub due_in_minutes: u32,
}

/// The base load: `BaseLoadFactor` x the lowest per-minute peak over the last
/// `BaseLoadWindowMinutes` (0 until that much history exists).
///
/// Units below it are busy nearly all the time, and busy time on PC is billed
/// at the lower PC duration price (us-east-1 x86: $0.0000097222 vs
/// $0.0000166667 per GB-s on demand, plus $0.0000041667 per GB-s provisioned),
/// so a unit busy more than about 60 % of the time costs less than no PC.
/// The per-minute Maximum only bounds that utilisation from above; a demand
/// that never dropped below `b` at its peak for an hour is the cheapest
/// signal CloudWatch gives (AWS documents Maximum as the statistic to read).
pub fn base_load(minutes: &[Option<f64>], cfg: &ColdStartAware) -> u32 {
    let w = usize::try_from(cfg.base_load_window_minutes).unwrap_or(usize::MAX);
    if w == 0 || minutes.len() < w || cfg.base_load_factor <= 0.0 {
        return 0;
    }
    let lowest = minutes[minutes.len() - w..]
        .iter()
        .map(|v| v.filter(|x| x.is_finite()).unwrap_or(0.0).max(0.0))
        .fold(f64::INFINITY, f64::min);
    let b = (cfg.base_load_factor * lowest).floor();
    if b >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        b as u32
    }
}

/// The cold-start-aware level over `minutes` (per-minute Maximum of
/// `ConcurrentExecutions`, oldest first, `None` = idle), capped at `cap`:
/// the base load, plus the units above it that pay for themselves in
/// avoided cold starts. `unpublished` is how many minutes the newest entry
/// is behind the tick's current minute, less one (the series' unpublished
/// tail): a periodic pre-warm looks that much further ahead. `per_hour` is
/// a unit's price in cold starts per unit-hour ([`unit_price`]).
///
/// Every buffer is sized by the highest peak in units, so `cap` bounds the
/// memory: it is never taken above [`MAX_LEVEL_UNITS`], whatever the caller
/// passes, so that an outlier datapoint (1e9) cannot abort the tick.
pub fn level(
    minutes: &[Option<f64>],
    cfg: &ColdStartAware,
    per_hour: f64,
    cap: u32,
    unpublished: u32,
) -> Level {
    let cap = cap.min(MAX_LEVEL_UNITS);
    let lookback = usize::try_from(cfg.lookback_minutes).unwrap_or(usize::MAX);
    let recent = &minutes[minutes.len().saturating_sub(lookback)..];
    let d: Vec<u32> = recent.iter().map(|v| units(*v, cap)).collect();
    let mut lvl = level_above(&d, cfg, per_hour, cap, base_load(minutes, cfg));
    let due = cfg
        .pre_warm_periodic
        .then(|| periodic(&d, cfg, cap, unpublished))
        .flatten();
    if let Some(p) = due.filter(|p| p.unit > lvl.level) {
        lvl.level = p.unit;
        lvl.prewarm = Some(p);
    }
    lvl
}

/// The keep-alive window in whole minutes (at least 1).
fn keep_alive_minutes(cfg: &ColdStartAware) -> usize {
    usize::try_from(cfg.keep_alive_secs.div_ceil(60))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// Every minute `m` that has a full keep-alive window `k` before it, with the
/// warm pool `W[m]` (the highest peak of those `k` minutes) and `D[m]`:
/// units `W[m] + 1 ..= D[m]` would each have caught a cold start in `m`.
fn rises(d: &[u32], k: usize) -> impl DoubleEndedIterator<Item = (usize, usize, usize)> + '_ {
    (k..d.len()).map(move |m| {
        let warm = d[m - k..m].iter().copied().max().unwrap_or(0);
        (m, warm as usize, d[m] as usize)
    })
}

/// The highest unit whose cold-start events recur at a fixed period and whose
/// next event is due within [`PREWARM_LEAD_MINUTES`] of the latest datapoint.
///
/// Events are the minutes `m` with `W[m] < k <= D[m]` (as in the level); a
/// period shorter than the keep-alive plus the lead is left to the level,
/// which keeps such a unit all the time when it pays. `d` holds the
/// per-minute peaks in whole units, oldest first.
fn periodic(d: &[u32], cfg: &ColdStartAware, cap: u32, unpublished: u32) -> Option<Prewarm> {
    let k = keep_alive_minutes(cfg);
    if d.len() <= k {
        return None;
    }
    // The last PERIODIC_GAPS + 1 events of every unit, newest first: walk the
    // minutes backwards and stop filling a unit once it has enough.
    let top = d.iter().copied().max().unwrap_or(0) as usize;
    let need = PERIODIC_GAPS + 1;
    let mut events: Vec<Vec<usize>> = vec![Vec::new(); top + 1];
    for (m, warm, now) in rises(d, k).rev() {
        for e in events.iter_mut().take(now + 1).skip(warm + 1) {
            if e.len() < need {
                e.push(m);
            }
        }
    }
    let latest = d.len() - 1;
    let lead = PREWARM_LEAD_MINUTES.saturating_add(unpublished) as usize;
    let tolerance = PERIOD_TOLERANCE_MINUTES as usize;
    let mut best = None;
    for (unit, e) in events.iter().enumerate().skip(1) {
        if e.len() < need {
            continue;
        }
        // e is newest first: gaps between consecutive events.
        let gaps: Vec<usize> = e.windows(2).map(|w| w[0] - w[1]).collect();
        let (lo, hi) = gaps
            .iter()
            .fold((usize::MAX, 0), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        if lo <= k + lead || hi - lo > tolerance {
            continue;
        }
        let period = (gaps.iter().sum::<usize>() as f64 / gaps.len() as f64).round() as usize;
        let next = e[0] + period;
        if next > latest && next - latest <= lead {
            best = Some(Prewarm {
                unit: u32::try_from(unit).unwrap_or(cap),
                period_minutes: u32::try_from(period).unwrap_or(u32::MAX),
                due_in_minutes: u32::try_from(next - latest).unwrap_or(u32::MAX),
            });
        }
    }
    best
}

/// The level when units `1..=floor` are already paid for: only the units
/// above the floor are scored against the price `per_hour`. `d` holds the
/// per-minute peaks in whole units, oldest first.
fn level_above(d: &[u32], cfg: &ColdStartAware, per_hour: f64, cap: u32, floor: u32) -> Level {
    let k = keep_alive_minutes(cfg);
    let floor = floor.min(cap);
    if d.len() <= k || cap == 0 {
        return Level {
            level: floor,
            avoided: 0,
            hours: 0.0,
            prewarm: None,
        };
    }
    let top = d.iter().copied().max().unwrap_or(0) as usize;
    // rises[j] = N_{j+1}, filled through a difference array: O(minutes + top).
    let mut diff = vec![0i64; top + 2];
    for (_, warm, now) in rises(d, k) {
        if now > warm {
            diff[warm] += 1;
            diff[now] -= 1;
        }
    }
    let hours = (d.len() - k) as f64 / 60.0;
    // reached[j] = minutes whose peak reached unit j + 1 (a second difference array).
    let mut reach = vec![0i64; top + 2];
    for &v in &d[k..] {
        reach[v as usize] -= 1;
        reach[0] += 1;
    }
    let minutes_read = (d.len() - k) as f64;
    let full_price = per_hour.max(0.0) * hours;
    let mut reached = 0i64;
    let (mut best, mut best_score, mut score, mut running, mut avoided, mut best_avoided) =
        (floor, 0.0f64, 0.0f64, 0i64, 0u64, 0u64);
    for (j, delta) in diff.iter().take(top).enumerate() {
        running += delta;
        reached += reach[j];
        // Fewer than MIN_EVENTS is no evidence of a rate: count it as none.
        let n_k = match u64::try_from(running) {
            Ok(n) if n >= MIN_EVENTS => n,
            _ => 0,
        };
        avoided += n_k;
        // Utilisation credit: a unit whose level is reached in a share `b` of
        // the minutes is busy about that often, and busy PC time is billed
        // below on-demand duration; at BREAK_EVEN_UTILISATION it is free.
        let busy = reached.max(0) as f64 / minutes_read;
        let price = full_price * (1.0 - busy / BREAK_EVEN_UTILISATION).max(0.0);
        if j < floor as usize {
            // Paid for by the base load: its cold starts come free.
            best_avoided = avoided;
            continue;
        }
        score += n_k as f64 - price;
        if score > best_score + 1e-9 {
            best_score = score;
            best = u32::try_from(j + 1).unwrap_or(cap);
            best_avoided = avoided;
        }
    }
    Level {
        level: best.min(cap),
        avoided: best_avoided,
        hours,
        prewarm: None,
    }
}

/// A per-minute Maximum as whole environments (rounded up), capped.
fn units(v: Option<f64>, cap: u32) -> u32 {
    match v {
        Some(x) if x.is_finite() && x > 0.0 => {
            let c = x.ceil();
            if c >= f64::from(cap) { cap } else { c as u32 }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The level at the price `cfg` sets for a function of unknown memory.
    fn lv(minutes: &[Option<f64>], cfg: &ColdStartAware, cap: u32, unpublished: u32) -> Level {
        level(
            minutes,
            cfg,
            unit_price(cfg, None).per_hour,
            cap,
            unpublished,
        )
    }

    fn cfg(t: f64) -> ColdStartAware {
        ColdStartAware {
            dollars_per_cold_start: None,
            min_per_instance_hour: Some(t),
            lookback_minutes: 60,
            keep_alive_secs: 300,
            follow_demand: false,
            base_load_window_minutes: 60,
            base_load_factor: 0.0,
            pre_warm_periodic: false,
            history_days: 0,
        }
    }

    #[test]
    fn an_outlier_datapoint_is_capped_not_allocated() {
        // One minute at 1e9 concurrent executions (and one at f64::MAX),
        // with the caller's cap at u32::MAX: before, buffers of 1e9 entries
        // and an aborted process.
        let mut minutes: Vec<Option<f64>> = vec![Some(3.0); 65];
        minutes[40] = Some(1e9);
        minutes[50] = Some(f64::MAX);
        let with_periodic = ColdStartAware {
            pre_warm_periodic: true,
            ..cfg(0.0)
        };
        let lvl = lv(&minutes, &with_periodic, u32::MAX, 1);
        assert!(lvl.level <= MAX_LEVEL_UNITS, "{lvl:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Any series of hostile datapoints (outliers, NaN, infinities,
        /// negatives, gaps) gives a level within the cap, without panic or
        /// a buffer beyond `MAX_LEVEL_UNITS`.
        #[test]
        fn any_metric_series_gives_a_bounded_level(
            points in proptest::collection::vec(
                proptest::option::of(proptest::sample::select(vec![
                    0.0, 1.0, 3.5, 40.0, 1e9, 4.3e9, 1e300, f64::MAX, f64::INFINITY,
                    f64::NEG_INFINITY, f64::NAN, -5.0, 1_000_000.0,
                ])),
                0..120,
            ),
            periodic in proptest::bool::ANY,
        ) {
            let c = ColdStartAware { pre_warm_periodic: periodic, base_load_factor: 1.0, ..cfg(0.5) };
            let lvl = lv(&points, &c, u32::MAX, 1);
            proptest::prop_assert!(lvl.level <= MAX_LEVEL_UNITS);
        }
    }

    fn series(v: &[u32]) -> Vec<Option<f64>> {
        v.iter().map(|&x| (x > 0).then_some(f64::from(x))).collect()
    }

    #[test]
    fn a_timer_every_ten_minutes_keeps_one_unit() {
        let d: Vec<u32> = (0..65).map(|m| u32::from(m % 10 == 0)).collect();
        let l = lv(&series(&d), &cfg(2.0), 100, 1);
        assert_eq!(l.level, 1);
        assert_eq!(l.avoided, 6);
    }

    #[test]
    fn a_steady_busy_function_keeps_nothing_because_the_warm_pool_covers_it() {
        let d: Vec<u32> = (0..65).map(|m| 20 + (m % 10)).collect();
        let l = lv(&series(&d), &cfg(0.5), 100, 1);
        // Only the rises above the 5-minute envelope count: 20..29 repeats,
        // so after the first window every minute's max was seen just before.
        assert!(l.level == 0 || l.level >= 20, "{l:?}");
        let d: Vec<u32> = vec![25; 65];
        assert_eq!(lv(&series(&d), &cfg(0.5), 100, 1).level, 0);
    }

    #[test]
    fn spikes_above_the_warm_pool_are_kept_when_they_pay_for_the_units_below() {
        // Three spikes an hour from 2 to 12, 20 minutes apart.
        let d: Vec<u32> = (0..65).map(|m| if m % 20 == 10 { 12 } else { 2 }).collect();
        let l = lv(&series(&d), &cfg(2.0), 100, 1);
        assert_eq!(l.level, 12, "{l:?}");
        // Units 3..12 are busy 3 minutes in 60, so they cost 2 x (1 - 0.05 /
        // 0.6) = 1.83 per hour each and earn 3: kept. At 4 per hour
        // (3.67 each) the same spikes are not worth them.
        assert_eq!(lv(&series(&d), &cfg(4.0), 100, 1).level, 0);
    }

    #[test]
    fn the_base_load_is_kept_and_only_units_above_it_are_scored() {
        // Demand never below 20 at its peak for an hour: 20 units are base
        // load. Spikes to 24 three times an hour pay for units 21..24 at
        // T = 2.
        let d: Vec<u32> = (0..65)
            .map(|m| if m % 20 == 10 { 24 } else { 20 })
            .collect();
        let with_base = ColdStartAware {
            base_load_factor: 1.0,
            ..cfg(2.0)
        };
        assert_eq!(base_load(&series(&d), &with_base), 20);
        assert_eq!(lv(&series(&d), &with_base, 100, 1).level, 24);
        // A steady 20 avoids no cold start: without the base load nothing is
        // kept; with it, the 20 busy units are (they cost less than no PC).
        let steady = vec![20; 65];
        assert_eq!(lv(&series(&steady), &cfg(2.0), 100, 1).level, 0);
        assert_eq!(lv(&series(&steady), &with_base, 100, 1).level, 20);
        // Too little history: no base load.
        assert_eq!(base_load(&series(&d[..30]), &with_base), 0);
    }

    #[test]
    fn one_burst_in_a_short_history_is_an_event_not_a_rate() {
        // An hour of history with a single burst to 50: one cold start per
        // unit in 0.9 h used to clear T = 1/h and keep all 50 units.
        let d: Vec<u32> = (0..60).map(|m| if m == 20 { 50 } else { 0 }).collect();
        assert_eq!(lv(&series(&d), &cfg(1.0), 100, 1).level, 0);
        // Twice is a rate: two bursts in the hour keep them.
        let d: Vec<u32> = (0..60)
            .map(|m| if m == 20 || m == 40 { 50 } else { 0 })
            .collect();
        assert_eq!(lv(&series(&d), &cfg(1.0), 100, 1).level, 50);
    }

    /// A timer that runs at `runs` (minutes) at 3 concurrent, series ending at `latest`.
    fn timer(runs: &[usize], latest: usize) -> Vec<Option<f64>> {
        let d: Vec<u32> = (0..=latest)
            .map(|m| if runs.contains(&m) { 3 } else { 0 })
            .collect();
        series(&d)
    }

    fn periodic_cfg() -> ColdStartAware {
        // A price no timer pays all hour: only the pre-warm can keep a unit.
        ColdStartAware {
            pre_warm_periodic: true,
            lookback_minutes: 480,
            ..cfg(100.0)
        }
    }

    #[test]
    fn a_timer_is_pre_warmed_only_in_the_minutes_before_its_next_run() {
        let runs = [20, 80, 140];
        // Next run predicted at 200: due within the lead from 194 on.
        for latest in [194, 197, 199] {
            let l = lv(&timer(&runs, latest), &periodic_cfg(), 100, 1);
            assert_eq!(l.level, 3, "latest {latest}: {l:?}");
            assert_eq!(
                l.prewarm,
                Some(Prewarm {
                    unit: 3,
                    period_minutes: 60,
                    due_in_minutes: u32::try_from(200 - latest).expect("small"),
                })
            );
        }
        // Too early, or the predicted minute has been seen (the timer stopped).
        for latest in [150, 193, 200, 230, 260] {
            let l = lv(&timer(&runs, latest), &periodic_cfg(), 100, 1);
            assert_eq!((l.level, l.prewarm), (0, None), "latest {latest}");
        }
        // Off unless asked for.
        let off = ColdStartAware {
            pre_warm_periodic: false,
            ..periodic_cfg()
        };
        assert_eq!(lv(&timer(&runs, 197), &off, 100, 1).level, 0);
    }

    #[test]
    fn irregular_or_short_gaps_are_not_a_period() {
        // Gaps 60 and 45: not a timer.
        assert_eq!(
            lv(&timer(&[20, 80, 125], 180), &periodic_cfg(), 100, 1).level,
            0
        );
        // Gaps 59 and 60 are (within a minute): period 60 (the rounded
        // mean), next run at 200.
        let l = lv(&timer(&[21, 80, 140], 196), &periodic_cfg(), 100, 1);
        assert_eq!(l.prewarm.map(|p| (p.unit, p.period_minutes)), Some((3, 60)));
        // A 10-minute timer is the level's business (kept all the time when
        // it pays), not a pre-warm that would never switch off.
        assert_eq!(
            lv(&timer(&[20, 30, 40], 45), &periodic_cfg(), 100, 1).prewarm,
            None
        );
    }

    /// The default policy without pre-warms, over 8 hours: base 2, spikes to
    /// 12 every 20 minutes (3 an hour for units 3..12) and to 20 every two
    /// hours (0.5 an hour for units 13..20).
    fn two_spike_kinds() -> (Vec<Option<f64>>, ColdStartAware) {
        let d: Vec<u32> = (0..485)
            .map(|m| match (m % 120, m % 20) {
                (60, _) => 20,
                (_, 10) => 12,
                _ => 2,
            })
            .collect();
        let c = ColdStartAware {
            dollars_per_cold_start: Some(0.01),
            pre_warm_periodic: false,
            history_days: 0,
            ..ColdStartAware::default()
        };
        (series(&d), c)
    }

    fn at_memory(minutes: &[Option<f64>], c: &ColdStartAware, mb: Option<u32>) -> u32 {
        level(minutes, c, unit_price(c, mb).per_hour, 1000, 1).level
    }

    #[test]
    fn a_unit_is_priced_by_the_functions_memory() {
        let (d, c) = two_spike_kinds();
        // 1 GB: 1.5 an hour (1.38 after the busy credit) pays for the
        // 3-an-hour units, not the 0.5-an-hour ones.
        assert_eq!(at_memory(&d, &c, Some(1024)), 12);
        // 3 GB: 4.5 an hour: not even the 3-an-hour units pay.
        assert_eq!(at_memory(&d, &c, Some(3072)), 0);
        // 128 MB: 0.19 an hour: the rare spikes pay too.
        assert_eq!(at_memory(&d, &c, Some(128)), 20);
        // $0.01's prices across Lambda's range.
        let t = |c: &ColdStartAware, mb| unit_price(c, Some(mb)).per_hour;
        assert!((t(&c, 1024) - 1.5).abs() < 1e-4, "{}", t(&c, 1024));
        assert!((t(&c, 128) - 0.1875).abs() < 1e-4, "{}", t(&c, 128));
        assert!((t(&c, 10_240) - 15.0).abs() < 1e-3, "{}", t(&c, 10_240));
        // The default's: today's 1.5 at the bundled day's median 142 MB.
        let d0 = ColdStartAware::default();
        assert!((t(&d0, 142) - 1.5).abs() < 0.02, "{}", t(&d0, 142));
        assert!((t(&d0, 128) - 1.34).abs() < 0.01, "{}", t(&d0, 128));
        assert!((t(&d0, 1024) - 10.7).abs() < 0.02, "{}", t(&d0, 1024));
        assert!((t(&d0, 10_240) - 107.1).abs() < 0.1, "{}", t(&d0, 10_240));
        // Twice the value of a cold start: half the price.
        let twice = ColdStartAware {
            dollars_per_cold_start: Some(0.02),
            ..c.clone()
        };
        assert!((unit_price(&twice, Some(3072)).per_hour - 2.25).abs() < 1e-4);
        assert_eq!(at_memory(&d, &twice, Some(3072)), 12);
    }

    #[test]
    fn unknown_memory_is_todays_price_and_the_old_attribute_still_works() {
        let (d, c) = two_spike_kinds();
        // No memory: exactly the one price of before (1.5), same level.
        let c = ColdStartAware {
            dollars_per_cold_start: None,
            ..c
        };
        let unknown = unit_price(&c, None);
        assert_eq!(unknown.per_hour, 1.5);
        assert_eq!(unknown.basis, PriceBasis::MemoryUnknown);
        let before = ColdStartAware {
            min_per_instance_hour: Some(1.5),
            ..c.clone()
        };
        assert_eq!(lv(&d, &c, 1000, 1), level(&d, &before, 1.5, 1000, 1));
        // MinColdStartsPerInstanceHour alone: one price whatever the memory.
        for mb in [None, Some(128), Some(3072), Some(10_240)] {
            let p = unit_price(&before, mb);
            assert_eq!((p.per_hour, p.basis), (1.5, PriceBasis::Explicit));
            assert_eq!(at_memory(&d, &before, mb), 12, "{mb:?}");
        }
        // Beside DollarsPerColdStart it is the fallback for unknown memory.
        let both = ColdStartAware {
            dollars_per_cold_start: Some(0.01),
            min_per_instance_hour: Some(0.4),
            ..c.clone()
        };
        assert_eq!(unit_price(&both, None).per_hour, 0.4);
        assert_eq!(at_memory(&d, &both, None), 20);
        assert_eq!(at_memory(&d, &both, Some(3072)), 0);
        assert!(unit_price(&both, Some(1024)).describe().contains("1024 MB"));
    }

    #[test]
    fn the_level_never_exceeds_the_cap_and_short_history_gives_zero() {
        let d: Vec<u32> = (0..65).map(|m| if m % 7 == 0 { 50 } else { 0 }).collect();
        assert!(lv(&series(&d), &cfg(0.1), 8, 1).level <= 8);
        assert_eq!(lv(&series(&[5, 0, 5]), &cfg(0.0), 100, 1).level, 0);
    }
}

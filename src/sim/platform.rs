//! The simulated Lambda platform for one function and one policy: the
//! provisioned-concurrency (PC) configuration and its preparation delay, the
//! routing of each invocation (PC, a warm on-demand environment, or a cold
//! start), the CloudWatch metrics the autoscaler sees, and the bill.
//!
//! The facts it follows, with their sources:
//!
//! * **PC is used first; the excess spills to on-demand.** "If your function
//!   exceeds the configured concurrency, you will be billed for excess
//!   function execution at the rate outlined in the AWS Lambda Pricing
//!   section" (<https://aws.amazon.com/lambda/pricing/>). On-demand
//!   environments that finished an invocation recently are reused (no cold
//!   start); AWS does not document for how long, so the keep-alive is a flag
//!   (default 300 s). The most recently used idle environment is reused
//!   first, so a shrinking load lets the oldest ones expire.
//! * **A PC increase is usable only after preparation.** Lambda allocates PC
//!   in the background ("Lambda ... allocates the requested environments";
//!   the config is `IN_PROGRESS` meanwhile, see
//!   <https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html>);
//!   the simulator models a fixed preparation delay (default 90 s, a flag)
//!   plus allocation at 6,000 environments a minute, and makes the whole
//!   increase usable at once when it is done. Decreases take effect at once.
//!   Each increase is a *tranche* with its own ready time; a decrease removes
//!   the newest units first (so an increase still in preparation is
//!   cancelled before ready capacity is touched).
//! * **PC serves at most 10 requests per second per unit**: Lambda's
//!   requests-per-second limit is 10 x concurrency
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html>);
//!   arrivals beyond `10 x usable PC` in one second spill to on-demand.
//! * **Metrics**: CloudWatch `ConcurrentExecutions` (Maximum per minute) has
//!   a datapoint only in minutes with an invocation in flight;
//!   `ProvisionedConcurrencyUtilization` only in such minutes while PC > 0
//!   ("ProvisionedConcurrencyUtilization: ... ProvisionedConcurrentExecutions
//!   divided by the total amount of provisioned concurrency allocated",
//!   <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html>).
//!   Its per-minute Average is the time average of `min(busy PC, PC) / PC`
//!   (the limit of per-second samples), its Maximum the highest instant.
//!   CloudWatch publishes minute `k` a delay after it ends (default 180 s,
//!   the deployed `PCSCALE_METRIC_DELAY_SECONDS`; AWS takes one to three
//!   minutes): every autoscaler that reads CloudWatch sees only the minutes
//!   [`PublicationDelay::published_minutes`] says are out by then.
//! * **Billing**: PC from the request (allocation time included) until
//!   removed, optionally rounded up to 5 minutes per enabled period; duration
//!   rounded up to 1 ms at the PC or on-demand rate; every request. Only what
//!   happens after the warm-up window is counted.
//!
//! Two ways of feeding it share every rule above (one PC model, one bill,
//! one [`MinuteMetrics`] record): [`Platform::arrive`] serves one invocation
//! at its exact time (the reference, `--exact`), and [`Platform::arrive_dense`]
//! serves a whole second's arrivals at once (the fast mode's busy seconds,
//! see [`crate::sim::workload::ArrivalStream`]). In-flight invocations and
//! idle environments are kept as *cohorts* (a time and a count), so a second
//! of 2,000 arrivals costs a handful of heap entries, not 2,000.
//!
//! Within a dense second the arrivals are taken as spread uniformly over
//! the second (a fluid model): with `B` busy at the second's start, `E(τ)`
//! of them ended by `τ` (end times are kept to a tenth of a second) and `x`
//! new ones, the concurrency at `τ` in the second is `B - E(τ) + x·G(τ)`
//! with `G(τ) = E[min(d, τ)]` ([`DurationShape`]), on a grid of tenths.
//! PC admits the largest `x` that keeps this at or under the usable PC on a
//! grid of `τ` (and at most `10 x PC` a second); the rest spills. On-demand
//! needs as many environments as its peak on the same grid: the busy ones
//! and the warm idle ones (most recently used first) cover it, the rest are
//! cold starts. Idle environments freed in a dense second are stamped with
//! the second's start and kept warm only if they stay so for the whole of a
//! later dense second (keep-alive bucketed by second, never longer than the
//! flag). Durations are billed at their expected billed (1 ms rounded)
//! length; the new invocations' end times are drawn (multinomially, to a
//! tenth of a second) by the caller, and a cohort ends at its tenth's middle.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use super::pricing::{ControllerUsage, Cost, PcRounding, Prices, billed_duration_secs};
use super::workload::{ArrivalSink, DemandProfile, DurationShape, Invocation};
use crate::core::window::PublicationDelay;

/// Platform and accounting parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformConfig {
    /// Seconds from a PC increase request until it could start allocating.
    pub prep_delay_secs: f64,
    /// Environments allocated per minute once preparation is done.
    pub alloc_per_minute: f64,
    /// How long an idle on-demand environment stays warm.
    pub keep_alive_secs: f64,
    /// Requests per second one PC unit can take.
    pub rps_per_pc: u32,
    /// How long after a minute ends CloudWatch publishes its datapoints.
    pub metric_delay: PublicationDelay,
    /// Statistics and cost start at this time (seconds from the trace start).
    pub warmup_secs: f64,
    /// PC time billing.
    pub rounding: PcRounding,
    /// Unit prices.
    pub prices: Prices,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            prep_delay_secs: 90.0,
            alloc_per_minute: 6000.0,
            keep_alive_secs: 300.0,
            rps_per_pc: 10,
            metric_delay: PublicationDelay::default(),
            warmup_secs: 30.0 * 60.0,
            rounding: PcRounding::None,
            prices: Prices::us_east_1(super::pricing::Arch::X86_64),
        }
    }
}

impl PlatformConfig {
    /// Seconds from a request for `units` more PC until they are usable.
    pub fn ready_after(&self, units: u32) -> f64 {
        self.prep_delay_secs + f64::from(units) / self.alloc_per_minute * 60.0
    }
}

/// One minute's CloudWatch datapoints (`None`: no datapoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteMetrics {
    /// `ConcurrentExecutions`, Maximum.
    pub concurrency_max: Option<u32>,
    /// `ProvisionedConcurrencyUtilization`, Average.
    pub utilization_avg: Option<f64>,
    /// `ProvisionedConcurrencyUtilization`, Maximum.
    pub utilization_max: Option<f64>,
}

/// What happened in one minute (for `--timeline` and `--plot`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteRecord {
    /// Invocations started.
    pub invocations: u32,
    /// Of them, not served by PC.
    pub spill: u32,
    /// Of them, cold starts.
    pub cold: u32,
    /// Highest concurrency.
    pub concurrency_max: u32,
    /// PC requested at the minute's end.
    pub pc_requested: u32,
    /// PC usable at the minute's end.
    pub pc_usable: u32,
}

/// Counters of one run (after the warm-up window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Invocations started.
    pub invocations: u64,
    /// Served by provisioned concurrency.
    pub on_pc: u64,
    /// Spilled to on-demand and found a warm environment.
    pub warm_on_demand: u64,
    /// Spilled to on-demand and started cold.
    pub cold: u64,
    /// PC configured, GB-s (billed time).
    pub pc_gb_s: f64,
    /// PC busy serving invocations, GB-s.
    pub pc_busy_gb_s: f64,
    /// The bill.
    pub cost: Cost,
    /// `Put`/`DeleteProvisionedConcurrencyConfig` calls.
    pub lambda_writes: u64,
    /// Lambda read calls (`GetProvisionedConcurrencyConfig`, limits), where counted.
    pub lambda_reads: u64,
    /// Cold starts before [`Platform::set_reaction_time`]: no causal policy
    /// could have had PC ready for them.
    pub cold_unavoidable: u64,
    /// The controller's own AWS usage (pcscale only).
    #[serde(default)]
    pub controller: ControllerUsage,
}

impl RunStats {
    /// Invocations not served by PC.
    pub fn spill(&self) -> u64 {
        self.warm_on_demand + self.cold
    }

    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &RunStats) {
        self.invocations += o.invocations;
        self.on_pc += o.on_pc;
        self.warm_on_demand += o.warm_on_demand;
        self.cold += o.cold;
        self.pc_gb_s += o.pc_gb_s;
        self.pc_busy_gb_s += o.pc_busy_gb_s;
        self.cost.add(&o.cost);
        self.lambda_writes += o.lambda_writes;
        self.lambda_reads += o.lambda_reads;
        self.cold_unavoidable += o.cold_unavoidable;
        self.controller.add(&o.controller);
    }
}

/// The PC configuration as the Lambda API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcConfig {
    /// `RequestedProvisionedConcurrentExecutions`.
    pub requested: u32,
    /// `AllocatedProvisionedConcurrentExecutions` (usable now).
    pub allocated: u32,
    /// Some increase is still being prepared (`IN_PROGRESS`).
    pub in_progress: bool,
}

#[derive(Debug, Clone, Copy)]
struct Tranche {
    amount: u32,
    requested_at: f64,
    ready_at: f64,
    ready: bool,
}

/// A total order on finite times, for the heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Time(f64);
impl Eq for Time {}
impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// In-flight invocations of one kind (on PC, or on on-demand
/// environments), by end time. An invocation replayed one at a time ends
/// at its exact time (a heap); a dense second's cohorts end on a grid (the
/// middle of a tenth of a second, or uniformly within a whole second), kept
/// in a calendar of seconds (a ring as long as the longest duration, in
/// seconds), so that a dense second costs a few additions rather than heap
/// operations, whatever its arrivals.
#[derive(Debug, Default)]
struct Ends {
    exact: BinaryHeap<Reverse<(Time, u32)>>,
    /// Second `s` is `ring[s & (ring.len() - 1)]` (a power of two long);
    /// every non-empty second is within `lo .. lo + ring.len()`.
    ring: Vec<Slot>,
    /// No second before it has a cohort left (while `count > 0`).
    lo: i64,
    /// Nor any after it.
    hi: i64,
    /// Cohort members in the ring.
    count: u64,
}

/// One second of the calendar.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Ending at the middle of each tenth of the second.
    tenth: [u32; DurationShape::PER_SECOND],
    /// Ending uniformly within the second (one by one: at its middle).
    whole: u32,
    total: u32,
}

/// Where a slot's next cohort is.
#[derive(Debug, Clone, Copy)]
enum SlotPart {
    Tenth(usize),
    Whole,
}

impl Slot {
    /// The slot's earliest cohort: its offset in the second and where it is.
    fn first(&self) -> Option<(f64, SlotPart)> {
        const R: usize = DurationShape::PER_SECOND;
        if self.total == 0 {
            return None;
        }
        let tenth = |j: usize| ((j as f64 + 0.5) / R as f64, SlotPart::Tenth(j));
        if let Some(j) = (0..R / 2).find(|&j| self.tenth[j] > 0) {
            return Some(tenth(j));
        }
        if self.whole > 0 {
            return Some((0.5, SlotPart::Whole));
        }
        (R / 2..R).find(|&j| self.tenth[j] > 0).map(tenth)
    }
}

impl Ends {
    fn push_exact(&mut self, end: f64, n: u32) {
        self.exact.push(Reverse((Time(end), n)));
    }

    fn mask(&self) -> i64 {
        self.ring.len() as i64 - 1
    }

    /// Makes the ring hold seconds `lo ..= hi` (a superset of the
    /// current `self.lo ..= self.hi`).
    fn reserve(&mut self, lo: i64, hi: i64) {
        let span = (hi - lo + 1).max(1) as usize;
        if span <= self.ring.len() {
            return;
        }
        let len = span.next_power_of_two().max(16);
        let mut ring = vec![Slot::default(); len];
        if self.count > 0 {
            let (old, new) = (self.mask(), len as i64 - 1);
            for s in self.lo..=self.hi {
                ring[(s & new) as usize] = self.ring[(s & old) as usize];
            }
        }
        self.ring = ring;
    }

    /// Adds the cohorts of the dense second `sec` (which the platform has
    /// reached) that outlast it: `tail[k]` of them end in the bucket
    /// `PER_SECOND + k` of [`DurationShape::end_pmf`] (a tenth of the next
    /// second, then whole seconds).
    fn push_dense(&mut self, sec: i64, tail: &[u32]) {
        const R: usize = DurationShape::PER_SECOND;
        const WHOLE: usize = DurationShape::FINE - R;
        let Some(last) = tail.iter().rposition(|&n| n > 0) else {
            return;
        };
        let first_sec = sec + 1;
        let last_sec = first_sec
            + if last < WHOLE {
                0
            } else {
                (last - WHOLE + 1) as i64
            };
        let (lo, hi) = if self.count == 0 {
            (first_sec, last_sec)
        } else {
            (self.lo.min(first_sec), self.hi.max(last_sec))
        };
        self.reserve(lo, hi);
        (self.lo, self.hi) = (lo, hi);
        let mask = self.mask();
        let tail = &tail[..=last];
        let (fine, whole) = tail.split_at(WHOLE.min(tail.len()));
        let next = &mut self.ring[(first_sec & mask) as usize];
        let mut added = 0u32;
        for (t, &n) in next.tenth.iter_mut().zip(fine) {
            *t += n;
            added += n;
        }
        next.total += added;
        let mut added = u64::from(added);
        for (k, &n) in whole.iter().enumerate() {
            let slot = &mut self.ring[((first_sec + 1 + k as i64) & mask) as usize];
            slot.whole += n;
            slot.total += n;
            added += u64::from(n);
        }
        self.count += added;
    }

    /// Moves `lo` to the first second with a cohort (the ring is not empty).
    fn settle(&mut self) {
        let mask = self.mask();
        while self.ring[(self.lo & mask) as usize].total == 0 {
            self.lo += 1;
        }
    }

    /// The time of the earliest end (infinity: none).
    fn next(&mut self) -> f64 {
        let exact = self.exact.peek().map_or(f64::INFINITY, |r| r.0.0.0);
        if self.count == 0 {
            return exact;
        }
        self.settle();
        let cal = self.ring[(self.lo & self.mask()) as usize]
            .first()
            .map_or(f64::INFINITY, |(off, _)| self.lo as f64 + off);
        exact.min(cal)
    }

    /// Removes the earliest cohort: its end time and size.
    fn pop(&mut self) -> Option<(f64, u32)> {
        let exact = self.exact.peek().map_or(f64::INFINITY, |r| r.0.0.0);
        if self.count > 0 {
            self.settle();
            let lo = self.lo as f64;
            let i = (self.lo & self.mask()) as usize;
            let s = &mut self.ring[i];
            if let Some((off, part)) = s.first()
                && lo + off < exact
            {
                let n = match part {
                    SlotPart::Tenth(j) => std::mem::take(&mut s.tenth[j]),
                    SlotPart::Whole => std::mem::take(&mut s.whole),
                };
                s.total -= n;
                self.count -= u64::from(n);
                return Some((lo + off, n));
            }
        }
        self.exact.pop().map(|Reverse((Time(t), n))| (t, n))
    }

    /// Removes every cohort ending within the second `sec` (whose start
    /// the platform has reached, every earlier end processed): how many
    /// end by the end of each of its tenths (cumulative), a whole-second
    /// cohort spread evenly.
    fn take_second(&mut self, sec: i64) -> [u32; DurationShape::PER_SECOND] {
        const R: usize = DurationShape::PER_SECOND;
        let (start, end) = (sec as f64, sec as f64 + 1.0);
        let mut by = [0u32; R];
        while let Some(&Reverse((Time(t), n))) = self.exact.peek() {
            if t >= end {
                break;
            }
            self.exact.pop();
            let j = (((t - start) * R as f64).ceil().max(1.0) as usize).min(R) - 1;
            by[j] += n;
        }
        if self.count > 0 && self.lo <= sec {
            let i = (sec & self.mask()) as usize;
            let s = std::mem::take(&mut self.ring[i]);
            self.count -= u64::from(s.total);
            self.lo = sec + 1;
            let n = u64::from(s.whole);
            let mut acc = 0u32;
            for (j, b) in by.iter_mut().enumerate() {
                let (jj, r) = (j as u64, R as u64);
                acc += *b + s.tenth[j] + (n * (jj + 1) / r - n * jj / r) as u32;
                *b = acc;
            }
        } else {
            for j in 1..R {
                by[j] += by[j - 1];
            }
        }
        by
    }
}

/// The platform state of one function under one policy.
#[derive(Debug)]
pub struct Platform<'c> {
    cfg: &'c PlatformConfig,
    mem_gb: f64,
    now: f64,
    // Provisioned concurrency.
    tranches: Vec<Tranche>,
    requested: u32,
    usable: u32,
    pending: usize,
    next_ready: f64,
    // Routing.
    pc_busy: u32,
    od_busy: u32,
    /// In-flight invocations on PC.
    pc_ends: Ends,
    /// In-flight invocations on on-demand environments.
    od_ends: Ends,
    /// Idle warm on-demand environments: (time it became free, how many),
    /// oldest first.
    od_idle: VecDeque<(f64, u32)>,
    /// The sum of `od_idle`'s counts.
    idle_total: u32,
    second: i64,
    admitted_in_second: u32,
    // The minute being observed.
    minute: u32,
    m_conc_max: u32,
    m_active: bool,
    m_util_int: f64,
    m_util_time: f64,
    m_util_max: f64,
    m_record: MinuteRecord,
    /// Highest concurrency since the last [`Platform::take_concurrency_peak`].
    w_conc_max: u32,
    /// Closed minutes' datapoints, index = minute.
    metrics: Vec<MinuteMetrics>,
    timeline: Option<Vec<MinuteRecord>>,
    stats: RunStats,
    reaction_secs: f64,
    profile: Option<ProfileRecorder>,
    /// Reused buffers of [`Platform::arrive_dense`].
    scratch: Vec<u32>,
    scratch_od: Vec<u32>,
}

/// Builds a [`DemandProfile`] from the concurrency the platform sees (on a
/// run without PC: the demand), second by second, with the semantics of
/// [`crate::sim::workload::Workload::profile`]: a second's peak is the
/// highest level held at any time within it. Memory: one entry per minute
/// and per distinct level, not per second or invocation.
#[derive(Debug)]
struct ProfileRecorder {
    seconds: i64,
    sec: i64,
    sec_peak: u32,
    sec_arrivals: u32,
    minute_peak: Vec<u32>,
    minute_max_rps: Vec<u32>,
    /// How many seconds had each peak level.
    levels: BTreeMap<u32, u64>,
    active_minutes: u32,
    last_active_minute: i64,
}

impl ProfileRecorder {
    fn new(minutes: u32) -> Self {
        ProfileRecorder {
            seconds: i64::from(minutes) * 60,
            sec: -1,
            sec_peak: 0,
            sec_arrivals: 0,
            minute_peak: vec![0; minutes as usize],
            minute_max_rps: vec![0; minutes as usize],
            levels: BTreeMap::new(),
            active_minutes: 0,
            last_active_minute: -1,
        }
    }

    /// Seconds `from..to` all held `level` (a stretch without events).
    fn hold(&mut self, from: i64, to: i64, level: u32) {
        let (from, to) = (from.max(0), to.min(self.seconds));
        if to <= from {
            return;
        }
        *self.levels.entry(level).or_insert(0) += (to - from) as u64;
        if level > 0 {
            for m in from / 60..=(to - 1) / 60 {
                let p = &mut self.minute_peak[m as usize];
                *p = (*p).max(level);
            }
        }
    }

    fn flush(&mut self) {
        let s = self.sec;
        if s < 0 || s >= self.seconds {
            return;
        }
        *self.levels.entry(self.sec_peak).or_insert(0) += 1;
        let m = (s / 60) as usize;
        self.minute_peak[m] = self.minute_peak[m].max(self.sec_peak);
        self.minute_max_rps[m] = self.minute_max_rps[m].max(self.sec_arrivals);
        if self.sec_arrivals > 0 && s / 60 != self.last_active_minute {
            self.active_minutes += 1;
            self.last_active_minute = s / 60;
        }
    }

    /// An event at `t`, with `level` in flight just before it.
    fn at(&mut self, t: f64, level: u32) {
        let s = t.floor() as i64;
        if s > self.sec {
            self.flush();
            self.hold(self.sec + 1, s, level);
            self.sec = s;
            self.sec_peak = level;
            self.sec_arrivals = 0;
        }
    }

    /// `n` arrivals in the current second, reaching `level`.
    fn arrivals(&mut self, n: u32, level: u32) {
        self.sec_peak = self.sec_peak.max(level);
        self.sec_arrivals += n;
    }

    fn finish(mut self, level: u32) -> DemandProfile {
        self.flush();
        self.hold(self.sec + 1, self.seconds, level);
        let total: u64 = self.levels.values().sum();
        let p99_concurrency = if total == 0 {
            0
        } else {
            // The same rank as Workload::profile's select_nth.
            let k = ((total as f64 * 0.99).ceil() as u64).clamp(1, total);
            let mut seen = 0u64;
            let mut v = 0;
            for (&level, &n) in &self.levels {
                seen += n;
                v = level;
                if seen >= k {
                    break;
                }
            }
            v
        };
        let first_active_minute = self
            .minute_peak
            .iter()
            .position(|&p| p > 0)
            .map(|m| m as u32);
        DemandProfile {
            minute_peak: self.minute_peak,
            minute_max_rps: self.minute_max_rps,
            p99_concurrency,
            first_active_minute,
            active_minutes: self.active_minutes,
        }
    }
}

/// Rounding dust of the dense second's fluid sums (a count within this of
/// a whole number is that number).
const FLUID_DUST: f64 = 1e-6;

/// Splits `part` of the `total = buckets.iter().sum()` members of the
/// buckets proportionally: bucket `k` gets `floor(part x C_k / total) -
/// floor(part x C_(k-1) / total)` with `C_k` the running sum, so the shares
/// sum to `part` and none exceeds its bucket.
fn proportional(buckets: &[u32], part: u32, total: u32, out: &mut Vec<u32>) {
    out.clear();
    // Nothing or everything on PC (most dense seconds): no divisions.
    if part == 0 {
        out.resize(buckets.len(), 0);
        return;
    }
    if part >= total {
        out.extend_from_slice(buckets);
        return;
    }
    if total < 1 << 26 {
        // Below 2^26, `part x cum` is exact in a double and the correctly
        // rounded quotient floors to the exact one (its distance to the next
        // integer, at least 1 / total, exceeds half an ulp): no integer
        // division, which would dominate a dense second.
        let (p, t) = (f64::from(part), f64::from(total));
        let (mut cum, mut prev) = (0u32, 0u32);
        for &b in buckets {
            if b == 0 {
                out.push(0);
                continue;
            }
            cum += b;
            let upto = (p * f64::from(cum) / t) as u32;
            out.push(upto - prev);
            prev = upto;
        }
        return;
    }
    let (part, total) = (u64::from(part), u64::from(total));
    let (mut cum, mut prev) = (0u64, 0u64);
    for &b in buckets {
        cum += u64::from(b);
        let upto = part * cum / total;
        out.push((upto - prev) as u32);
        prev = upto;
    }
}

impl<'c> Platform<'c> {
    /// A platform with no PC and no warm environments at time 0.
    pub fn new(cfg: &'c PlatformConfig, mem_gb: f64, minutes: u32, keep_timeline: bool) -> Self {
        Platform {
            cfg,
            mem_gb,
            now: 0.0,
            tranches: Vec::new(),
            requested: 0,
            usable: 0,
            pending: 0,
            next_ready: f64::INFINITY,
            pc_busy: 0,
            od_busy: 0,
            pc_ends: Ends::default(),
            od_ends: Ends::default(),
            od_idle: VecDeque::new(),
            idle_total: 0,
            second: i64::MIN,
            admitted_in_second: 0,
            minute: 0,
            m_conc_max: 0,
            m_active: false,
            m_util_int: 0.0,
            m_util_time: 0.0,
            m_util_max: 0.0,
            m_record: MinuteRecord::default(),
            w_conc_max: 0,
            metrics: Vec::with_capacity(minutes as usize),
            timeline: keep_timeline.then(|| Vec::with_capacity(minutes as usize)),
            stats: RunStats::default(),
            reaction_secs: f64::NEG_INFINITY,
            profile: None,
            scratch: Vec::new(),
            scratch_od: Vec::new(),
        }
    }

    /// Also records the demand profile (on a run without PC, the
    /// concurrency the platform sees is the demand); see
    /// [`Platform::finish_with_profile`].
    pub fn with_profile(mut self, minutes: u32) -> Self {
        self.profile = Some(ProfileRecorder::new(minutes));
        self
    }

    fn concurrency(&self) -> u32 {
        self.pc_busy + self.od_busy
    }

    /// Cold starts before `t` are counted as unavoidable too.
    pub fn set_reaction_time(&mut self, t: f64) {
        self.reaction_secs = t;
    }

    /// The configuration.
    pub fn config(&self) -> &PlatformConfig {
        self.cfg
    }

    /// The memory the function is billed at, GB.
    pub fn memory_gb(&self) -> f64 {
        self.mem_gb
    }

    /// Current simulated time.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// The minute being simulated (= the number of closed minutes).
    pub fn minute(&self) -> u32 {
        self.minute
    }

    /// The PC configuration now.
    pub fn pc(&self) -> PcConfig {
        PcConfig {
            requested: self.requested,
            allocated: self.usable,
            in_progress: self.pending > 0,
        }
    }

    /// Datapoints of every closed minute (index = minute), whether or not the
    /// autoscaler may see them yet; see [`Platform::visible_metrics`].
    pub fn all_metrics(&self) -> &[MinuteMetrics] {
        &self.metrics
    }

    /// The datapoints CloudWatch has published by now: the minutes that
    /// ended at least the publication delay ago (the one rule of
    /// [`crate::core::window`]).
    pub fn visible_metrics(&self) -> &[MinuteMetrics] {
        let n = self.cfg.metric_delay.published_minutes(self.now);
        &self.metrics[..n.min(self.metrics.len())]
    }

    /// The platform's own view of concurrency (what Tencent's autoscaler
    /// reads, not CloudWatch): the highest number of executions in flight
    /// since the previous call, up to now; the next window starts with the
    /// executions in flight now.
    pub fn take_concurrency_peak(&mut self) -> u32 {
        let now = self.concurrency();
        let peak = self.w_conc_max.max(now);
        self.w_conc_max = now;
        peak
    }

    /// Counters so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Adds one tick's controller usage to the counters (billed in
    /// [`Platform::finish`]).
    pub fn count_controller(&mut self, usage: &ControllerUsage) {
        self.stats.controller.add(usage);
    }

    /// Adds `n` Lambda read calls to the counters.
    pub fn count_reads(&mut self, n: u64) {
        self.stats.lambda_reads += n;
    }

    fn counted(&self, t: f64) -> bool {
        t >= self.cfg.warmup_secs
    }

    /// `PutProvisionedConcurrencyConfig` (or `Delete` for 0) at the current time.
    pub fn set_pc(&mut self, target: u32) {
        let now = self.now;
        if target == self.requested {
            return;
        }
        if self.counted(now) {
            self.stats.lambda_writes += 1;
        }
        if target > self.requested {
            let amount = target - self.requested;
            let ready_at = now + self.cfg.ready_after(amount);
            self.tranches.push(Tranche {
                amount,
                requested_at: now,
                ready_at,
                ready: false,
            });
            self.pending += 1;
            self.next_ready = self.next_ready.min(ready_at);
        } else {
            let mut remove = self.requested - target;
            while remove > 0 {
                let Some(top) = self.tranches.last_mut() else {
                    break;
                };
                let take = remove.min(top.amount);
                let (requested_at, ready) = (top.requested_at, top.ready);
                top.amount -= take;
                let empty = top.amount == 0;
                remove -= take;
                if ready {
                    self.usable -= take;
                }
                if empty {
                    self.tranches.pop();
                    if !ready {
                        self.pending -= 1;
                    }
                }
                self.bill_pc(take, requested_at, now, true);
            }
            self.recompute_next_ready();
            self.sample_utilization();
        }
        self.requested = target;
    }

    fn recompute_next_ready(&mut self) {
        self.next_ready = f64::INFINITY;
        if self.pending == 0 {
            return;
        }
        let mut seen = 0;
        for t in self.tranches.iter().rev() {
            if !t.ready {
                self.next_ready = self.next_ready.min(t.ready_at);
                seen += 1;
                if seen == self.pending {
                    break;
                }
            }
        }
    }

    fn bill_pc(&mut self, units: u32, since: f64, until: f64, round: bool) {
        let len = if round {
            self.cfg.rounding.billed_secs(until - since)
        } else {
            until - since
        };
        let counted = (since + len - since.max(self.cfg.warmup_secs)).max(0.0);
        let gb_s = f64::from(units) * counted * self.mem_gb;
        self.stats.pc_gb_s += gb_s;
        self.stats.cost.pc += gb_s * self.cfg.prices.pc_gb_s;
    }

    fn accumulate(&mut self, to: f64) {
        let dt = to - self.now;
        if dt > 0.0 {
            if self.usable > 0 {
                let u = f64::from(self.pc_busy.min(self.usable)) / f64::from(self.usable);
                self.m_util_int += u * dt;
                self.m_util_time += dt;
            }
            self.now = to;
        }
    }

    fn sample_utilization(&mut self) {
        if self.usable > 0 {
            let u = f64::from(self.pc_busy.min(self.usable)) / f64::from(self.usable);
            self.m_util_max = self.m_util_max.max(u);
        }
    }

    /// Processes every completion and PC readiness up to `t`.
    pub fn advance(&mut self, t: f64) {
        loop {
            let pc_next = self.pc_ends.next();
            let od_next = self.od_ends.next();
            let e = pc_next.min(od_next).min(self.next_ready);
            if e > t {
                break;
            }
            self.accumulate(e);
            if self.next_ready <= e && self.next_ready <= pc_next && self.next_ready <= od_next {
                self.make_ready();
            } else {
                let level = self.concurrency();
                if let Some(p) = &mut self.profile {
                    p.at(e, level);
                }
                if pc_next <= od_next {
                    if let Some((_, n)) = self.pc_ends.pop() {
                        self.pc_busy -= n;
                    }
                } else if let Some((end, n)) = self.od_ends.pop() {
                    self.od_busy -= n;
                    // Time order keeps `od_idle` sorted by the time each became free.
                    self.push_idle(end, n);
                }
            }
        }
        self.accumulate(t);
    }

    /// Every tranche whose preparation is over by now becomes usable.
    fn make_ready(&mut self) {
        let now = self.now;
        for tr in &mut self.tranches {
            if !tr.ready && tr.ready_at <= now {
                tr.ready = true;
                self.usable += tr.amount;
                self.pending -= 1;
            }
        }
        self.recompute_next_ready();
        self.sample_utilization();
    }

    fn push_idle(&mut self, free: f64, n: u32) {
        if n == 0 {
            return;
        }
        self.idle_total += n;
        match self.od_idle.back_mut() {
            Some(back) if back.0 == free => back.1 += n,
            _ => self.od_idle.push_back((free, n)),
        }
    }

    /// Drops the idle environments that became free before `horizon`.
    fn expire_idle(&mut self, horizon: f64) {
        while let Some(&(f, n)) = self.od_idle.front() {
            if f >= horizon {
                break;
            }
            self.od_idle.pop_front();
            self.idle_total -= n;
        }
    }

    /// Takes up to `n` idle environments, most recently used first; returns
    /// how many it took.
    fn take_idle(&mut self, mut n: u32) -> u32 {
        let mut took = 0;
        while n > 0 {
            let Some(back) = self.od_idle.back_mut() else {
                break;
            };
            let k = n.min(back.1);
            back.1 -= k;
            n -= k;
            took += k;
            if back.1 == 0 {
                self.od_idle.pop_back();
            }
        }
        self.idle_total -= took;
        took
    }

    fn idle_count(&self) -> u32 {
        self.idle_total
    }

    /// Closes the current minute at its end and opens the next one.
    pub fn close_minute(&mut self) {
        let end = f64::from(self.minute + 1) * 60.0;
        self.advance(end);
        let utilization_avg =
            (self.m_active && self.m_util_time > 0.0).then(|| self.m_util_int / self.m_util_time);
        self.metrics.push(MinuteMetrics {
            concurrency_max: self.m_active.then_some(self.m_conc_max),
            utilization_avg,
            utilization_max: utilization_avg.map(|_| self.m_util_max),
        });
        if let Some(tl) = &mut self.timeline {
            self.m_record.concurrency_max = self.m_conc_max;
            self.m_record.pc_requested = self.requested;
            self.m_record.pc_usable = self.usable;
            tl.push(self.m_record);
        }
        self.minute += 1;
        let conc = self.concurrency();
        self.m_conc_max = conc;
        self.m_active = conc > 0;
        self.m_util_int = 0.0;
        self.m_util_time = 0.0;
        self.m_util_max = 0.0;
        self.sample_utilization();
        self.m_record = MinuteRecord::default();
    }

    /// Serves one invocation (its start must not precede the current time).
    pub fn arrive(&mut self, inv: &Invocation) {
        self.advance(inv.start);
        let counted = self.counted(inv.start);
        let sec = inv.start.floor() as i64;
        if sec != self.second {
            self.second = sec;
            self.admitted_in_second = 0;
        }
        let end = inv.end();
        let billed = billed_duration_secs(inv.duration) * self.mem_gb;
        let on_pc = self.pc_busy < self.usable
            && self.admitted_in_second < self.cfg.rps_per_pc.saturating_mul(self.usable);
        let level = self.concurrency();
        if let Some(p) = &mut self.profile {
            p.at(inv.start, level);
            p.arrivals(1, level + 1);
        }
        self.m_record.invocations += 1;
        if on_pc {
            self.pc_busy += 1;
            self.admitted_in_second += 1;
            self.pc_ends.push_exact(end, 1);
            if counted {
                self.stats.on_pc += 1;
                self.stats.pc_busy_gb_s += inv.duration * self.mem_gb;
                self.stats.cost.pc_duration += billed * self.cfg.prices.pc_duration_gb_s;
            }
        } else {
            self.expire_idle(inv.start - self.cfg.keep_alive_secs);
            let warm = self.take_idle(1) == 1;
            self.od_busy += 1;
            self.od_ends.push_exact(end, 1);
            let rec = &mut self.m_record;
            rec.spill += 1;
            if !warm {
                rec.cold += 1;
            }
            if counted {
                if warm {
                    self.stats.warm_on_demand += 1;
                } else {
                    self.stats.cold += 1;
                    if inv.start < self.reaction_secs {
                        self.stats.cold_unavoidable += 1;
                    }
                }
                self.stats.cost.on_demand_duration += billed * self.cfg.prices.on_demand_gb_s;
            }
        }
        if counted {
            self.stats.invocations += 1;
            self.stats.cost.requests += self.cfg.prices.request;
        }
        let conc = self.concurrency();
        self.m_conc_max = self.m_conc_max.max(conc);
        self.w_conc_max = self.w_conc_max.max(conc);
        self.m_active = true;
        self.sample_utilization();
    }

    /// Serves the arrivals of the second starting at `second` (a whole
    /// number of seconds, not before the current time) at once, as the
    /// module documentation describes: `tenths[i]` of them arrive in its
    /// `i`-th tenth, and `ends[j]` of them end in the `j`-th tenth of a
    /// second after `second` (the first ten within it); both count every
    /// arrival. Leaves the platform at the second's end.
    pub fn arrive_dense(
        &mut self,
        second: f64,
        tenths: &[u32; DurationShape::PER_SECOND],
        ends: &[u32],
        shape: &DurationShape,
    ) {
        const R: usize = DurationShape::PER_SECOND;
        let a: u32 = ends.iter().sum();
        if a == 0 || tenths.iter().sum::<u32>() != a {
            return;
        }
        self.advance(second);
        let end_of_second = second + 1.0;
        let counted = self.counted(second);
        let level = self.concurrency();
        // The running invocations that end within this second: by the end of
        // its j-th tenth, `e_pc[j]` on PC and `e_od[j]` on demand.
        let (b_pc, b_od) = (self.pc_busy, self.od_busy);
        let sec = second.floor() as i64;
        let e_pc = self.pc_ends.take_second(sec);
        let e_od = self.od_ends.take_second(sec);
        // Tenth by tenth (a fluid: each tenth's arrivals spread over it),
        // PC takes what its free units allow and the rest spills. `w(k)`:
        // how many of one tenth's arrivals are still running `k` tenths
        // after that tenth began, per arrival.
        let u = self.usable;
        let g = |k: usize| if k == 0 { 0.0 } else { shape.g[k - 1] };
        let mut wk = [0.0f64; R + 1];
        for (k, v) in wk.iter_mut().enumerate().skip(1) {
            *v = R as f64 * (g(k) - g(k - 1));
        }
        let w1 = wk[1];
        let cap = f64::from(self.cfg.rps_per_pc.saturating_mul(u));
        // What the arrivals of earlier tenths still running add to each
        // tenth, on PC and on demand.
        let (mut run_pc, mut run_od) = ([0.0f64; R], [0.0f64; R]);
        let mut admitted = 0.0;
        let mut peak_od = f64::from(b_od);
        let mut peak_all = f64::from(b_pc + b_od);
        let mut util_peak = f64::from(b_pc);
        let mut util_sum = f64::from(b_pc) / 2.0;
        for i in 0..R {
            let pc_before = f64::from(b_pc) - f64::from(e_pc[i]) + run_pc[i];
            let alpha = f64::from(tenths[i]);
            let x = alpha
                .min(((f64::from(u) - pc_before) / w1).max(0.0))
                .min((cap - admitted).max(0.0));
            let y = alpha - x;
            admitted += x;
            if x > 0.0 {
                for k in i + 1..R {
                    run_pc[k] += x * wk[k - i + 1];
                }
            }
            if y > 0.0 {
                for k in i + 1..R {
                    run_od[k] += y * wk[k - i + 1];
                }
            }
            let pc = pc_before + x * w1;
            let od = f64::from(b_od) - f64::from(e_od[i]) + run_od[i] + y * w1;
            peak_od = peak_od.max(od);
            peak_all = peak_all.max(pc + od);
            util_peak = util_peak.max(pc);
            util_sum += if i + 1 == R { pc / 2.0 } else { pc };
        }
        let on_pc = ((admitted + FLUID_DUST).floor() as u32).min(a);
        let y = a - on_pc;
        let mut pc_ends = std::mem::take(&mut self.scratch);
        proportional(ends, on_pc, a, &mut pc_ends);
        let pc_carry = on_pc - pc_ends.iter().take(R).sum::<u32>();
        let od_carry: u32 = ends
            .iter()
            .zip(&pc_ends)
            .skip(R)
            .map(|(&all, &pc)| all - pc)
            .sum();
        // On-demand: the environments its peak needs.
        let busy_after = b_od - e_od[R - 1] + od_carry;
        let need = ((peak_od - FLUID_DUST).ceil().max(0.0) as u32)
            .max(busy_after)
            .max(u32::from(y > 0));
        self.expire_idle(end_of_second - self.cfg.keep_alive_secs);
        let idle = self.idle_count();
        let extra = need.saturating_sub(b_od);
        let touched = self.take_idle(extra.min(idle));
        let cold = (extra - touched).min(y);
        let warm = y - cold;
        // Environments after the second: the untouched idle ones, the busy
        // ones, and those freed within it (stamped with the second's start).
        let total_after = b_od + idle + cold;
        let untouched = idle - touched;
        self.push_idle(
            second,
            total_after
                .saturating_sub(busy_after)
                .saturating_sub(untouched),
        );
        if on_pc > 0 {
            self.pc_ends
                .push_dense(sec, pc_ends.get(R..).unwrap_or_default());
        }
        if y > 0 {
            let mut od_ends = std::mem::take(&mut self.scratch_od);
            od_ends.clear();
            od_ends.extend(
                ends.iter()
                    .zip(&pc_ends)
                    .skip(R)
                    .map(|(&all, &pc)| all - pc),
            );
            self.od_ends.push_dense(sec, &od_ends);
            self.scratch_od = od_ends;
        }
        self.scratch = pc_ends;
        self.pc_busy = b_pc - e_pc[R - 1] + pc_carry;
        self.od_busy = busy_after;
        // The second's metrics.
        let peak_all = ((peak_all - FLUID_DUST).ceil().max(0.0) as u32).max(self.concurrency());
        if u > 0 {
            let avg = (util_sum / R as f64).clamp(0.0, f64::from(u));
            self.m_util_int += avg / f64::from(u);
            self.m_util_time += 1.0;
            self.m_util_max = self
                .m_util_max
                .max(util_peak.min(f64::from(u)) / f64::from(u));
        }
        self.now = end_of_second;
        self.second = sec;
        self.admitted_in_second = on_pc;
        if let Some(p) = &mut self.profile {
            p.at(second, level);
            p.arrivals(a, peak_all);
        }
        self.m_conc_max = self.m_conc_max.max(peak_all);
        self.w_conc_max = self.w_conc_max.max(peak_all);
        self.m_active = true;
        let rec = &mut self.m_record;
        rec.invocations += a;
        rec.spill += y;
        rec.cold += cold;
        if counted {
            let s = &mut self.stats;
            s.invocations += u64::from(a);
            s.on_pc += u64::from(on_pc);
            s.warm_on_demand += u64::from(warm);
            s.cold += u64::from(cold);
            if second < self.reaction_secs {
                s.cold_unavoidable += u64::from(cold);
            }
            let p = &self.cfg.prices;
            let billed = shape.mean_billed_secs * self.mem_gb;
            s.pc_busy_gb_s += f64::from(on_pc) * shape.mean_secs * self.mem_gb;
            s.cost.pc_duration += f64::from(on_pc) * billed * p.pc_duration_gb_s;
            s.cost.on_demand_duration += f64::from(y) * billed * p.on_demand_gb_s;
            s.cost.requests += f64::from(a) * p.request;
        }
        if self.next_ready <= self.now {
            self.make_ready();
        }
    }

    /// Ends the run at `t` (the trace's end): PC still configured is billed
    /// up to `t` without rounding (the bill continues beyond the window).
    pub fn finish(self, t: f64) -> (RunStats, Vec<MinuteMetrics>, Option<Vec<MinuteRecord>>) {
        let (stats, metrics, timeline, _) = self.finish_with_profile(t);
        (stats, metrics, timeline)
    }

    /// [`Platform::finish`], and the demand profile when
    /// [`Platform::with_profile`] asked for it.
    pub fn finish_with_profile(
        mut self,
        t: f64,
    ) -> (
        RunStats,
        Vec<MinuteMetrics>,
        Option<Vec<MinuteRecord>>,
        Option<DemandProfile>,
    ) {
        let profile = match self.profile.is_some() {
            true => {
                self.advance(t);
                let level = self.concurrency();
                self.profile.take().map(|p| p.finish(level))
            }
            false => None,
        };
        let tranches = std::mem::take(&mut self.tranches);
        for tr in tranches {
            self.bill_pc(tr.amount, tr.requested_at, t, false);
        }
        self.stats.cost.controller += self.stats.controller.cost();
        (self.stats, self.metrics, self.timeline, profile)
    }
}

impl ArrivalSink for Platform<'_> {
    fn arrive(&mut self, inv: &Invocation) {
        Platform::arrive(self, inv);
    }

    fn arrive_dense(
        &mut self,
        second: f64,
        tenths: &[u32; DurationShape::PER_SECOND],
        ends: &[u32],
        shape: &DurationShape,
    ) {
        Platform::arrive_dense(self, second, tenths, ends, shape);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PlatformConfig {
        PlatformConfig {
            warmup_secs: 0.0,
            ..PlatformConfig::default()
        }
    }

    fn inv(start: f64, duration: f64) -> Invocation {
        Invocation { start, duration }
    }

    #[test]
    fn proportional_shares_are_the_exact_floors_and_sum_to_the_part() {
        let mut out = Vec::new();
        let mut x = 12345u64;
        for _ in 0..2000 {
            // A small xorshift: bucket sizes up to a few million.
            let mut next = |m: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % m
            };
            let len = 1 + next(40) as usize;
            let scale = [10, 1000, 5_000_000, 100_000_000][next(4) as usize];
            let buckets: Vec<u32> = (0..len).map(|_| next(scale) as u32).collect();
            let total: u32 = buckets.iter().sum();
            let part = if total == 0 {
                0
            } else {
                next(u64::from(total) + 1) as u32
            };
            proportional(&buckets, part, total, &mut out);
            let (mut cum, mut prev) = (0u64, 0u64);
            for (k, &b) in buckets.iter().enumerate() {
                cum += u64::from(b);
                let upto = u64::from(part) * cum / u64::from(total.max(1));
                assert_eq!(u64::from(out[k]), upto - prev, "{buckets:?} {part}");
                prev = upto;
            }
            assert_eq!(out.iter().sum::<u32>(), part);
        }
    }

    #[test]
    fn pc_increase_is_usable_only_after_preparation() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(2);
        assert_eq!(
            p.pc(),
            PcConfig {
                requested: 2,
                allocated: 0,
                in_progress: true
            }
        );
        p.arrive(&inv(30.0, 1.0));
        p.close_minute();
        p.arrive(&inv(91.0, 1.0));
        assert_eq!(p.pc().allocated, 2);
        let (s, _, _) = p.finish(120.0);
        assert_eq!((s.cold, s.on_pc), (1, 1));
    }

    #[test]
    fn decrease_cancels_pending_units_before_ready_ones() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(3);
        p.advance(100.0);
        p.set_pc(5);
        p.set_pc(4);
        assert_eq!(
            p.pc(),
            PcConfig {
                requested: 4,
                allocated: 3,
                in_progress: true
            }
        );
        p.set_pc(2);
        assert_eq!(
            p.pc(),
            PcConfig {
                requested: 2,
                allocated: 2,
                in_progress: false
            }
        );
    }

    #[test]
    fn warm_on_demand_environment_is_reused_within_keep_alive_only() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 20, false);
        p.arrive(&inv(0.0, 1.0)); // cold
        p.arrive(&inv(100.0, 1.0)); // warm (idle 99 s)
        p.arrive(&inv(500.0, 1.0)); // cold again (idle 399 s > 300 s)
        let (s, _, _) = p.finish(600.0);
        assert_eq!((s.cold, s.warm_on_demand, s.on_pc), (2, 1, 0));
    }

    #[test]
    fn pc_takes_at_most_ten_requests_per_second_per_unit() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(1);
        p.advance(200.0);
        for k in 0..12 {
            p.arrive(&inv(200.0 + f64::from(k) * 0.01, 0.001));
        }
        let (s, _, _) = p.finish(300.0);
        assert_eq!(s.on_pc, 10);
        assert_eq!(s.spill(), 2);
    }

    #[test]
    fn metrics_have_no_datapoint_in_idle_minutes_and_no_utilization_without_pc() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.arrive(&inv(10.0, 1.0));
        p.close_minute();
        p.close_minute();
        let m = p.all_metrics();
        assert_eq!(m[0].concurrency_max, Some(1));
        assert_eq!(m[0].utilization_avg, None);
        assert_eq!(m[1].concurrency_max, None);
    }

    #[test]
    fn utilization_average_is_the_time_average_of_busy_over_pc() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(2);
        p.close_minute();
        p.close_minute();
        // Minute 2: one of two units busy for 30 s.
        p.arrive(&inv(120.0, 30.0));
        p.close_minute();
        let m = p.all_metrics()[2];
        assert!(
            (m.utilization_avg.unwrap_or(0.0) - 0.25).abs() < 1e-9,
            "{m:?}"
        );
        assert!((m.utilization_max.unwrap_or(0.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_recorded_profile_is_the_workloads_profile() {
        use crate::sim::trace::{Arrivals, DurationDist, FunctionTrace};
        let f = FunctionTrace {
            id: "p".into(),
            name: "p".into(),
            trigger: None,
            arrivals: Arrivals::PerMinute(vec![3, 0, 40, 200, 0, 0, 1, 0]),
            durations: Some(DurationDist::from_percentiles_ms([
                5.0, 10.0, 200.0, 900.0, 3000.0, 70_000.0, 200_000.0,
            ])),
            memory_mb: None,
        };
        let w = crate::sim::workload::build(&f, 8, 4);
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 8, false).with_profile(8);
        let mut i = 0;
        for m in 0..8 {
            if m > 0 {
                p.close_minute();
            }
            while i < w.invocations.len() && w.invocations[i].start < f64::from(m + 1) * 60.0 {
                p.arrive(&w.invocations[i]);
                i += 1;
            }
        }
        p.close_minute();
        let (_, _, _, profile) = p.finish_with_profile(480.0);
        assert_eq!(profile, Some(w.profile()));
    }

    #[test]
    fn a_dense_second_serves_pc_first_and_counts_every_arrival_once() {
        let c = cfg();
        let shape = DurationShape::of(&crate::sim::trace::DurationDist::constant(0.5));
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(10);
        p.advance(120.0);
        // 300 arrivals of 0.5 s: about 150 in flight, 10 on PC (10 x 10 rps
        // would allow 100 a second, concurrency allows about 20).
        let ends: Vec<u32> = (0..15).map(|j| if j >= 5 { 30 } else { 0 }).collect();
        p.arrive_dense(120.0, &[30; 10], &ends, &shape);
        let s = *p.stats();
        assert_eq!(s.invocations, 300);
        assert_eq!(s.on_pc + s.warm_on_demand + s.cold, 300);
        assert_eq!(s.on_pc, 20, "{s:?}");
        // On-demand needs its fluid peak: 280 x E[min(d, 0.5)] = 140.
        assert_eq!(s.cold, 140, "{s:?}");
        // The next second reuses them warm.
        p.arrive_dense(121.0, &[30; 10], &ends, &shape);
        let s = *p.stats();
        assert_eq!(s.cold, 140, "{s:?}");
        assert_eq!(s.warm_on_demand, 280 - 140 + 280);
        // After the keep-alive with nothing running, they are gone.
        p.arrive_dense(500.0, &[30; 10], &ends, &shape);
        assert_eq!(p.stats().cold, 280, "{:?}", p.stats());
        let (_, _, _, _) = p.finish_with_profile(600.0);
    }

    #[test]
    fn dense_invocations_running_past_their_second_hold_their_environment() {
        let c = cfg();
        let shape = DurationShape::of(&crate::sim::trace::DurationDist::constant(10.0));
        let mut p = Platform::new(&c, 1.0, 10, false);
        // 50 arrivals lasting 10 s: they end in second 10 after their start.
        let ends = |n: u32| -> Vec<u32> {
            let mut v = vec![0; DurationShape::FINE + 9];
            v[DurationShape::FINE + 8] = 10 * n;
            v
        };
        p.arrive_dense(0.0, &[5; 10], &ends(5), &shape);
        assert_eq!(p.take_concurrency_peak(), 50);
        p.arrive_dense(5.0, &[5; 10], &ends(5), &shape);
        assert_eq!(p.stats().cold, 100, "none of the first 50 is free yet");
        p.advance(12.0);
        assert_eq!(p.take_concurrency_peak(), 100);
        p.arrive_dense(20.0, &[10; 10], &ends(10), &shape);
        let s = *p.stats();
        assert_eq!((s.cold, s.warm_on_demand), (100, 100), "{s:?}");
    }

    #[test]
    fn dense_cohorts_of_every_length_end_once_even_when_the_calendar_grows() {
        let c = cfg();
        let short = DurationShape::of(&crate::sim::trace::DurationDist::constant(1.5));
        let long = DurationShape::of(&crate::sim::trace::DurationDist::constant(100.0));
        let ends = |shape: &DurationShape, n: u32| -> Vec<u32> {
            let mut v = vec![0; shape.end_pmf.len()];
            // Every arrival in the last bucket it can end in.
            v[shape.end_pmf.len() - 1] = n;
            v
        };
        let mut p = Platform::new(&c, 1.0, 10, false);
        // 30 of 1.5 s at second 0 (ending in second 2), then 40 of 100 s at
        // second 1: the calendar grows from a few seconds to more than 100
        // while the first cohort is still in it; one exact invocation too.
        p.arrive_dense(0.0, &[3; 10], &ends(&short, 30), &short);
        p.arrive_dense(1.0, &[4; 10], &ends(&long, 40), &long);
        p.arrive(&inv(2.3, 50.0));
        assert_eq!(p.concurrency(), 71);
        p.advance(3.0);
        assert_eq!(p.concurrency(), 41, "the short cohort ended in second 2");
        p.advance(60.0);
        assert_eq!(p.concurrency(), 40, "the exact one ended at 52.3 s");
        p.arrive_dense(60.0, &[1; 10], &ends(&short, 10), &short);
        p.advance(200.0);
        assert_eq!(p.concurrency(), 0, "every cohort ended");
        let s = *p.stats();
        assert_eq!(s.invocations, 81);
        assert_eq!(
            u64::from(p.idle_count()),
            s.cold,
            "every environment started is idle now"
        );
    }

    #[test]
    fn metrics_become_visible_a_publication_delay_after_their_minute_ends() {
        for (secs, first_seen_at) in [(60, 2), (120, 3), (180, 4)] {
            let c = PlatformConfig {
                metric_delay: PublicationDelay::from_secs(secs).unwrap(),
                ..cfg()
            };
            let mut p = Platform::new(&c, 1.0, 10, false);
            for m in 1..=first_seen_at {
                p.close_minute();
                // The tick at minute `m` sees minute 0 only from `first_seen_at` on.
                let seen = usize::from(m == first_seen_at);
                assert_eq!(p.visible_metrics().len(), seen, "delay {secs}, minute {m}");
            }
            assert_eq!(c.metric_delay.minutes_until_seen(), first_seen_at);
        }
    }
}

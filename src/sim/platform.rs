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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use super::pricing::{ControllerUsage, Cost, PcRounding, Prices, billed_duration_secs};
use super::workload::Invocation;
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
    pc_ends: BinaryHeap<Reverse<Time>>,
    od_ends: BinaryHeap<Reverse<Time>>,
    od_idle: VecDeque<f64>,
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
            pc_ends: BinaryHeap::new(),
            od_ends: BinaryHeap::new(),
            od_idle: VecDeque::new(),
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
        }
    }

    /// Cold starts before `t` are counted as unavoidable too.
    pub fn set_reaction_time(&mut self, t: f64) {
        self.reaction_secs = t;
    }

    /// The configuration.
    pub fn config(&self) -> &PlatformConfig {
        self.cfg
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
        let now = self.pc_busy + self.od_ends.len() as u32;
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
            let pc_next = self.pc_ends.peek().map_or(f64::INFINITY, |r| r.0.0);
            let od_next = self.od_ends.peek().map_or(f64::INFINITY, |r| r.0.0);
            let e = pc_next.min(od_next).min(self.next_ready);
            if e > t {
                break;
            }
            self.accumulate(e);
            if self.next_ready <= e && self.next_ready <= pc_next && self.next_ready <= od_next {
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
            } else if pc_next <= od_next {
                self.pc_ends.pop();
                self.pc_busy -= 1;
            } else if let Some(Reverse(Time(end))) = self.od_ends.pop() {
                // Time order keeps `od_idle` sorted by the time each became free.
                self.od_idle.push_back(end);
            }
        }
        self.accumulate(t);
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
        let conc = self.pc_busy + self.od_ends.len() as u32;
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
        let rec = &mut self.m_record;
        rec.invocations += 1;
        if on_pc {
            self.pc_busy += 1;
            self.admitted_in_second += 1;
            self.pc_ends.push(Reverse(Time(end)));
            if counted {
                self.stats.on_pc += 1;
                self.stats.pc_busy_gb_s += inv.duration * self.mem_gb;
                self.stats.cost.pc_duration += billed * self.cfg.prices.pc_duration_gb_s;
            }
        } else {
            let horizon = inv.start - self.cfg.keep_alive_secs;
            while self.od_idle.front().is_some_and(|&f| f < horizon) {
                self.od_idle.pop_front();
            }
            let warm = self.od_idle.pop_back().is_some();
            self.od_ends.push(Reverse(Time(end)));
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
        let conc = self.pc_busy + self.od_ends.len() as u32;
        self.m_conc_max = self.m_conc_max.max(conc);
        self.w_conc_max = self.w_conc_max.max(conc);
        self.m_active = true;
        self.sample_utilization();
    }

    /// Ends the run at `t` (the trace's end): PC still configured is billed
    /// up to `t` without rounding (the bill continues beyond the window).
    pub fn finish(mut self, t: f64) -> (RunStats, Vec<MinuteMetrics>, Option<Vec<MinuteRecord>>) {
        let tranches = std::mem::take(&mut self.tranches);
        for tr in tranches {
            self.bill_pc(tr.amount, tr.requested_at, t, false);
        }
        self.stats.cost.controller += self.stats.controller.cost();
        (self.stats, self.metrics, self.timeline)
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

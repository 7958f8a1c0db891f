//! The policies pcscale is compared with. They live beside the simulator,
//! not in the core: they are emulations of other vendors' autoscalers (and
//! two bounds), driven by the same simulated platform and metrics.
//!
//! Every controller is called once per simulated minute, at the minute's
//! start, like pcscale's EventBridge schedule, and sees only what the
//! platform has published by then ([`Platform::visible_metrics`]).

use super::platform::Platform;
use super::workload::DemandProfile;

/// One autoscaler, called at every tick.
pub trait Controller {
    /// Decides at the platform's current time and applies the change through
    /// [`Platform::set_pc`].
    fn tick(&mut self, platform: &mut Platform<'_>);

    /// Seconds between ticks: 60 (once a minute, at the minute's start) for
    /// every controller but those that watch the platform's own counters
    /// more often (Tencent: 10). It must divide 60.
    fn period_secs(&self) -> u32 {
        60
    }
}

/// `ceil` that ignores floating-point dust (0.7 x 10 / 0.7 = 10.000000000000002).
fn ceil(x: f64) -> u32 {
    let c = (x - 1e-9).ceil();
    if c <= 0.0 {
        0
    } else {
        c.min(f64::from(u32::MAX)) as u32
    }
}

/// On-demand only: never configures PC.
#[derive(Debug, Default, Clone)]
pub struct NoPc;

impl Controller for NoPc {
    fn tick(&mut self, _platform: &mut Platform<'_>) {}
}

/// A fixed PC level (the function's p99 per-second concurrency), configured
/// at the first tick and never changed.
#[derive(Debug, Clone)]
pub struct StaticPc {
    /// The level.
    pub level: u32,
}

impl Controller for StaticPc {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        if platform.pc().requested != self.level {
            platform.set_pc(self.level);
        }
    }
}

/// Which CloudWatch statistic of `ProvisionedConcurrencyUtilization` the
/// AWS policy tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// `Average`: the predefined `LambdaProvisionedConcurrencyUtilization` metric.
    Average,
    /// `Maximum`: a customised metric specification, a common recommendation
    /// for bursty functions.
    Maximum,
}

/// AWS Application Auto Scaling target tracking on
/// `ProvisionedConcurrencyUtilization`, emulated as pinned down here:
///
/// * The scalable target is registered with `MinCapacity` (1 by default),
///   which Application Auto Scaling enforces at once; `MaxCapacity` 1000;
///   `TargetValue` 0.7; the Lambda default cooldowns of 0
///   (<https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html>).
/// * Target tracking creates two CloudWatch alarms on 1-minute datapoints:
///   the high alarm fires when the **last 3** datapoints are all above the
///   target, the low alarm when the **last 15** are all below 90 % of it.
///   A missing datapoint (no invocations, or no PC) leaves the alarm in
///   `INSUFFICIENT_DATA`: the run of breaching datapoints is broken and
///   nothing happens. Hence it never scales out from 0 (there is no
///   utilisation without PC) and never scales in without traffic.
/// * While an alarm stays in `ALARM`, the scaling policy is invoked again
///   every minute ("Except for Auto Scaling actions, the actions happen only
///   on state transitions",
///   <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-actions.html>),
///   but not while the previous scaling activity is still in progress (the
///   PC config is `IN_PROGRESS`): cooldowns count from an activity's
///   completion.
/// * Scale-out goes to `max(current + 1, ceil(current x U / target))` with
///   `U` the latest datapoint; scale-in to `ceil(current x mean(U) / target)`
///   with the mean of the 15 datapoints; both within [Min, Max].
#[derive(Debug, Clone)]
pub struct AwsTargetTracking {
    /// `TargetValue`.
    pub target: f64,
    /// `MinCapacity` of the scalable target.
    pub min: u32,
    /// `MaxCapacity` of the scalable target.
    pub max: u32,
    /// The statistic tracked.
    pub statistic: Statistic,
    /// Datapoints for the high alarm.
    pub scale_out_points: usize,
    /// Datapoints for the low alarm.
    pub scale_in_points: usize,
}

impl AwsTargetTracking {
    /// The defaults described above with `statistic`.
    pub fn new(statistic: Statistic) -> Self {
        AwsTargetTracking {
            target: 0.7,
            min: 1,
            max: 1000,
            statistic,
            scale_out_points: 3,
            scale_in_points: 15,
        }
    }

    /// The last `n` datapoints if all are present (`None`: INSUFFICIENT_DATA).
    fn last(&self, platform: &Platform<'_>, n: usize) -> Option<Vec<f64>> {
        let m = platform.visible_metrics();
        if m.len() < n {
            return None;
        }
        m[m.len() - n..]
            .iter()
            .map(|d| match self.statistic {
                Statistic::Average => d.utilization_avg,
                Statistic::Maximum => d.utilization_max,
            })
            .collect()
    }
}

/// The current requested PC when the controller may act on it: `None` while
/// a change is IN_PROGRESS (both vendors wait for it), or after raising PC to
/// the controller's minimum (that is this tick's action).
fn settled_at_min(platform: &mut Platform<'_>, min: u32) -> Option<u32> {
    let pc = platform.pc();
    if pc.in_progress {
        return None;
    }
    if pc.requested < min {
        platform.set_pc(min);
        return None;
    }
    Some(pc.requested)
}

impl Controller for AwsTargetTracking {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        let Some(cur) = settled_at_min(platform, self.min) else {
            return;
        };
        if let Some(points) = self.last(platform, self.scale_out_points)
            && points.iter().all(|&u| u > self.target)
        {
            let u = points.last().copied().unwrap_or(0.0);
            let want = (cur + 1).max(ceil(f64::from(cur) * u / self.target));
            let want = want.min(self.max).max(self.min);
            if want > cur {
                platform.set_pc(want);
            }
            return;
        }
        if let Some(points) = self.last(platform, self.scale_in_points)
            && points.iter().all(|&u| u < 0.9 * self.target)
        {
            let mean = points.iter().sum::<f64>() / points.len() as f64;
            let want = ceil(f64::from(cur) * mean / self.target)
                .max(self.min)
                .min(self.max);
            if want < cur {
                platform.set_pc(want);
            }
        }
    }
}

/// Tencent Cloud SCF dynamic provisioned concurrency
/// (<https://www.tencentcloud.com/document/product/583/45785>): it follows
/// the function's actual concurrency with a target usage. "Concurrency
/// expansion will be performed once every ten seconds, without a time
/// window": every 10 s it reads the platform's own concurrency (the peak of
/// the last 10 s, not CloudWatch: no publication lag) and scales out at once
/// to `ceil(concurrency / usage)`. Reduction is conservative: at most once
/// per 10-minute window (counted from the last change), to what the
/// window's peak needs.
#[derive(Debug, Clone)]
pub struct Tencent {
    /// Target concurrency usage (0.7, as for the other policies).
    pub usage: f64,
    /// Minimum concurrency (0: it sees demand without PC).
    pub min: u32,
    /// Maximum concurrency.
    pub max: u32,
    /// The scale-in window.
    pub window_minutes: usize,
    /// Seconds between expansion checks.
    pub period_secs: u32,
    last_change_at: Option<f64>,
    /// The 10-s peaks of the last window, oldest first.
    peaks: std::collections::VecDeque<u32>,
}

impl Default for Tencent {
    fn default() -> Self {
        Tencent {
            usage: 0.7,
            min: 0,
            max: 1000,
            window_minutes: 10,
            period_secs: 10,
            last_change_at: None,
            peaks: std::collections::VecDeque::new(),
        }
    }
}

impl Controller for Tencent {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        let now = platform.now();
        let cur = platform.pc().requested;
        let latest = platform.take_concurrency_peak();
        let window = self.window_minutes * 60 / self.period_secs.max(1) as usize;
        self.peaks.push_back(latest);
        while self.peaks.len() > window {
            self.peaks.pop_front();
        }
        let out = ceil(f64::from(latest) / self.usage).clamp(self.min, self.max);
        if out > cur {
            platform.set_pc(out);
            self.last_change_at = Some(now);
            return;
        }
        let span = self.window_minutes as f64 * 60.0;
        let quiet = self.last_change_at.is_none_or(|c| now >= c + span - 1e-6);
        if quiet && self.peaks.len() >= window {
            let peak = self.peaks.iter().copied().max().unwrap_or(0);
            let want = ceil(f64::from(peak) / self.usage).clamp(self.min, self.max);
            if want < cur {
                platform.set_pc(want);
                self.last_change_at = Some(now);
            }
        }
    }

    fn period_secs(&self) -> u32 {
        self.period_secs
    }
}

/// Alibaba Cloud Function Compute metric tracking of provisioned instances
/// (`TargetTrackingPolicies` on `ProvisionedConcurrencyUtilization`,
/// <https://www.alibabacloud.com/help/en/functioncompute/fc-2-0/developer-reference/api-fc-open-2021-04-06-struct-targettrackingpolicies>):
/// scale out quickly to `ceil(current x U / target)`; scale in slowly, as
/// Alibaba documents it: "Scale-in ratio = (1 - metric/threshold) x
/// factor; scale-in value = current x (1 - ratio)", rounded up (from 3
/// instances at U = 0 and factor 0.5: ratio 0.5, `ceil(1.5)` = 2). Like AWS
/// it only sees utilisation of provisioned instances (blind above 100 % and
/// at 0); an idle minute with PC counts as utilisation 0. Waits while a
/// change is in progress.
#[derive(Debug, Clone)]
pub struct Alibaba {
    /// `metricTarget` (0.7, as for the other policies).
    pub target: f64,
    /// `minCapacity`.
    pub min: u32,
    /// `maxCapacity`.
    pub max: u32,
    /// The scale-in factor of the ratio above.
    pub scale_in_factor: f64,
    /// The within-minute statistic of utilisation it tracks.
    pub statistic: Statistic,
}

impl Default for Alibaba {
    fn default() -> Self {
        Alibaba {
            target: 0.7,
            min: 1,
            max: 1000,
            scale_in_factor: 0.5,
            statistic: Statistic::Average,
        }
    }
}

impl Alibaba {
    /// The instance count Alibaba moves to from `cur` at utilisation `u`.
    pub fn wanted(&self, cur: u32, u: f64) -> u32 {
        let out = ceil(f64::from(cur) * u / self.target);
        if out > cur {
            return out.min(self.max);
        }
        if u >= self.target {
            return cur;
        }
        let ratio = ((1.0 - u / self.target) * self.scale_in_factor).clamp(0.0, 1.0);
        ceil(f64::from(cur) * (1.0 - ratio)).min(cur).max(self.min)
    }
}

impl Controller for Alibaba {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        let Some(cur) = settled_at_min(platform, self.min) else {
            return;
        };
        if cur == 0 {
            return;
        }
        let Some(latest) = platform.visible_metrics().last().copied() else {
            return;
        };
        let u = match self.statistic {
            Statistic::Average => latest.utilization_avg,
            Statistic::Maximum => latest.utilization_max,
        }
        .unwrap_or(0.0);
        let want = self.wanted(cur, u);
        if want != cur {
            platform.set_pc(want);
        }
    }
}

/// An oracle that knows each minute's demand in advance and pays the
/// preparation delay: at the tick of minute `k` it requests the largest
/// level needed in minutes `k ..= k + lead`, where `lead` minutes cover the
/// preparation and allocation time, so every unit needed in a minute is
/// ready when the minute starts. The level of a minute is its peak
/// concurrency, raised so that `10 x PC` covers its busiest second. It has
/// no cold starts and no spill-over after its first `lead` minutes; it is
/// the price of "no cold starts at all" at minute granularity (a lower
/// bound for any policy with zero cold starts that changes PC once a
/// minute; policies that accept cold starts can be cheaper).
#[derive(Debug, Clone)]
pub struct Oracle {
    levels: Vec<u32>,
    lead: usize,
}

impl Oracle {
    /// The oracle for a function's demand `profile`.
    pub fn new(profile: &DemandProfile, platform: &super::platform::PlatformConfig) -> Oracle {
        let levels: Vec<u32> = profile
            .minute_peak
            .iter()
            .zip(&profile.minute_max_rps)
            .map(|(&p, &r)| p.max(r.div_ceil(platform.rps_per_pc.max(1))))
            .collect();
        let top = levels.iter().copied().max().unwrap_or(0);
        let lead = (platform.ready_after(top) / 60.0).ceil() as usize;
        Oracle { levels, lead }
    }
}

impl Controller for Oracle {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        let k = platform.minute() as usize;
        let end = (k + self.lead + 1).min(self.levels.len());
        let want = self
            .levels
            .get(k..end)
            .map_or(0, |w| w.iter().copied().max().unwrap_or(0));
        platform.set_pc(want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::platform::PlatformConfig;
    use crate::sim::workload::{Invocation, Workload};

    fn cfg() -> PlatformConfig {
        PlatformConfig {
            warmup_secs: 0.0,
            ..PlatformConfig::default()
        }
    }

    #[test]
    fn alibaba_scale_in_keeps_the_documented_ceiling() {
        let a = Alibaba::default();
        // ratio = (1 - 0 / 0.7) x 0.5 = 0.5; ceil(3 x 0.5) = 2.
        assert_eq!(a.wanted(3, 0.0), 2);
        // ratio = (1 - 0.35 / 0.7) x 0.5 = 0.25; ceil(10 x 0.75) = 8.
        assert_eq!(a.wanted(10, 0.35), 8);
        // One instance stays at minCapacity 1; above target it scales out.
        assert_eq!(a.wanted(1, 0.0), 1);
        assert_eq!(a.wanted(10, 0.9), 13);
        assert_eq!(a.wanted(10, 0.7), 10);
    }

    #[test]
    fn alibaba_removes_one_of_three_idle_instances_per_tick() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 10, false);
        p.set_pc(3);
        p.advance(100.0);
        for _ in 0..4 {
            p.close_minute();
        }
        // Minutes 0..3 closed with PC and no traffic; minute 0 is published
        // (180 s after its end): no datapoint, read as 0.
        let mut a = Alibaba::default();
        a.tick(&mut p);
        assert_eq!(p.pc().requested, 2);
    }

    #[test]
    fn alibaba_statistic_flag_picks_the_within_minute_maximum() {
        let c = cfg();
        let run = |statistic: Statistic| {
            let mut p = Platform::new(&c, 1.0, 10, false);
            p.set_pc(10);
            p.close_minute();
            p.close_minute();
            // Minute 2: all ten units busy for 6 s: Average 0.1, Maximum 1.0.
            for _ in 0..10 {
                p.arrive(&Invocation {
                    start: 120.0,
                    duration: 6.0,
                });
            }
            // Minute 2 is published at 6:00 (180 s after its end).
            for _ in 0..4 {
                p.close_minute();
            }
            let mut a = Alibaba {
                statistic,
                ..Alibaba::default()
            };
            a.tick(&mut p);
            p.pc().requested
        };
        // Average: ratio (1 - 0.1 / 0.7) x 0.5 = 3/7; ceil(10 x 4/7) = 6.
        assert_eq!(run(Statistic::Average), 6);
        // Maximum: ceil(10 x 1.0 / 0.7) = 15.
        assert_eq!(run(Statistic::Maximum), 15);
    }

    #[test]
    fn tencent_expands_within_the_minute_of_a_rise() {
        let c = cfg();
        let mut t = Tencent::default();
        // Three 30-s invocations start at 3:05; nothing before.
        let w = Workload {
            invocations: (0..3)
                .map(|_| Invocation {
                    start: 185.0,
                    duration: 30.0,
                })
                .collect(),
            minutes: 5,
            peak_concurrency: 3,
        };
        let (_, tl) = crate::sim::run_policy(&mut t, &w, &c, 1.0, true, 0.0);
        let tl = tl.expect("timeline kept");
        // Requested at 3:10 (ceil(3 / 0.7) = 5), not after CloudWatch's lag.
        assert_eq!(tl[2].pc_requested, 0);
        assert_eq!(tl[3].pc_requested, 5);
    }

    #[test]
    fn tencent_reduces_once_per_ten_minute_window() {
        let c = cfg();
        let mut p = Platform::new(&c, 1.0, 40, false);
        let mut t = Tencent::default();
        p.arrive(&Invocation {
            start: 0.0,
            duration: 5.0,
        });
        t.tick(&mut p);
        assert_eq!(p.pc().requested, 2);
        // Idle from then on: no reduction before 10 minutes have passed.
        let mut changes = Vec::new();
        for k in 1..=150 {
            p.advance(f64::from(k) * 10.0);
            let before = p.pc().requested;
            t.tick(&mut p);
            if p.pc().requested != before {
                changes.push((k * 10, p.pc().requested));
            }
        }
        // The window ending at 10:00 still holds the 0:00-0:10 peak of 1; the
        // one ending at 10:10 is empty.
        assert_eq!(changes, vec![(610, 0)]);
    }
}

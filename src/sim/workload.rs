//! The workload model: from a function's trace to the invocations every
//! policy replays.
//!
//! Per-minute counts (Azure 2019) become arrivals drawn **uniformly** within
//! their minute: a Poisson process conditioned on the minute's count places
//! its arrivals as independent uniform times, so this is the Poisson model
//! that respects the published counts exactly. Durations are drawn by inverse
//! CDF from the function's published percentiles (piecewise linear between
//! the points, capped at Lambda's 900 s timeout). Per-invocation traces
//! (Azure 2021, concurrency series) are replayed exactly.
//!
//! Randomness comes from ChaCha8 seeded with the user's seed mixed with a
//! stable hash of the function's id, so a function's arrivals depend only on
//! `(seed, function)`, never on which thread ran it or on which other
//! functions were selected.

use std::borrow::Cow;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, StandardNormal};

use super::pricing::billed_duration_secs;
use super::trace::{Arrivals, DurationDist, FunctionTrace, fnv1a};

/// One invocation: start and duration, in seconds from the trace's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Invocation {
    /// Start time.
    pub start: f64,
    /// Execution time.
    pub duration: f64,
}

impl Invocation {
    /// End time.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }
}

/// A function's invocations and the demand statistics derived from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Sorted by start.
    pub invocations: Vec<Invocation>,
    /// Minutes in the trace.
    pub minutes: u32,
    /// Highest instantaneous concurrency.
    pub peak_concurrency: u32,
}

/// Per-minute and per-second demand statistics (computed only for the
/// functions that are evaluated).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DemandProfile {
    /// Highest concurrency within each minute (running invocations included).
    pub minute_peak: Vec<u32>,
    /// Most arrivals within any one second of each minute.
    pub minute_max_rps: Vec<u32>,
    /// The 99th percentile over every second of the trace of that second's
    /// highest concurrency.
    pub p99_concurrency: u32,
    /// The first minute with an invocation running.
    pub first_active_minute: Option<u32>,
    /// Minutes with at least one invocation started.
    pub active_minutes: u32,
}

/// The seed of one function's random stream.
pub fn function_seed(seed: u64, id: &str) -> u64 {
    // SplitMix64 finaliser over the mix, so nearby seeds give unrelated streams.
    let mut z = seed ^ fnv1a(id.as_bytes());
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The duration distribution of a per-minute trace's function (1 s when
/// the trace has none, as the loader notes).
pub fn durations_of(f: &FunctionTrace) -> Cow<'_, DurationDist> {
    match &f.durations {
        Some(d) => Cow::Borrowed(d),
        None => Cow::Owned(DurationDist::constant(1.0)),
    }
}

/// Draws `n` starts in the minute from `base`, sorted, then one duration
/// each: the exact mode's draws, in its order (4 words of the stream per
/// invocation; [`ArrivalStream`] relies on it).
fn draw_minute(
    rng: &mut ChaCha8Rng,
    dist: &DurationDist,
    base: f64,
    n: u32,
    starts: &mut Vec<f64>,
    out: &mut Vec<Invocation>,
) {
    starts.clear();
    starts.extend((0..n).map(|_| base + rng.random::<f64>() * 60.0));
    starts.sort_by(f64::total_cmp);
    for &start in starts.iter() {
        // At least 1 ms: Lambda bills at least that, and a
        // zero-length invocation would never occupy anything.
        let duration = dist.quantile(rng.random::<f64>()).max(0.001);
        out.push(Invocation { start, duration });
    }
}

/// Builds `f`'s invocations for a trace of `minutes` minutes.
pub fn build(f: &FunctionTrace, minutes: u32, seed: u64) -> Workload {
    let invocations = match &f.arrivals {
        Arrivals::Exact(v) => v
            .iter()
            .map(|&(start, duration)| Invocation {
                start,
                duration: duration.max(0.001),
            })
            .collect(),
        Arrivals::PerMinute(counts) => {
            let dist = durations_of(f);
            let mut rng = ChaCha8Rng::seed_from_u64(function_seed(seed, &f.id));
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let mut out = Vec::with_capacity(total);
            let mut starts: Vec<f64> = Vec::new();
            for (m, &n) in counts.iter().enumerate() {
                if n > 0 {
                    draw_minute(&mut rng, &dist, m as f64 * 60.0, n, &mut starts, &mut out);
                }
            }
            out
        }
    };
    let peak_concurrency = peak(&invocations);
    Workload {
        invocations,
        minutes,
        peak_concurrency,
    }
}

/// What the fast mode's dense seconds need of a duration distribution,
/// computed once per function on a grid of 4,096 quantiles.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationShape {
    /// `end_pmf[j]`: probability that an invocation starting at a uniform
    /// time within a second ends in the `j`-th tenth of a second after the
    /// second's start (`j < 10`: within the same second), for
    /// `j <` [`DurationShape::FINE`]; beyond, `end_pmf[FINE + k]` is the
    /// probability that it ends in whole second `2 + k` after it.
    pub end_pmf: Vec<f64>,
    /// `G(τ) = E[min(d, τ)]` at `τ` = 0.1, 0.2, ..., 1.0: the expected
    /// concurrency at `τ` of one arrival per second spread over `[0, τ]`.
    pub g: [f64; 10],
    /// What the fast mode draws a dense second's ends from: `end_pmf` with
    /// its first [`DurationShape::PER_SECOND`] buckets (ending within the
    /// second, which only their total matters for) as one.
    pub draw_pmf: Vec<f64>,
    /// The running sums of `draw_pmf`.
    pub draw_cum: Vec<f64>,
    /// Expected duration, seconds.
    pub mean_secs: f64,
    /// Expected billed duration (rounded up to 1 ms), seconds.
    pub mean_billed_secs: f64,
}

impl DurationShape {
    const QUANTILES: usize = 4096;
    /// Resolution of [`DurationShape::end_pmf`] and of the grid: tenths.
    pub const PER_SECOND: usize = 10;
    /// Ends are kept to the tenth in the first two seconds, to the second
    /// after (a cohort ending in a later second is taken as ending
    /// uniformly within it).
    pub const FINE: usize = 2 * Self::PER_SECOND;

    /// The bucket of `end_pmf` for the `j`-th tenth after the second's start.
    pub fn bucket(j: usize) -> usize {
        if j < Self::FINE {
            j
        } else {
            Self::FINE + j / Self::PER_SECOND - 2
        }
    }

    /// The shape of `dist` (durations of at least 1 ms, as drawn).
    pub fn of(dist: &DurationDist) -> DurationShape {
        let n = Self::QUANTILES as f64;
        let r = Self::PER_SECOND;
        let mut end_pmf = vec![0.0; r + 1];
        let mut g = [0.0; 10];
        let (mut mean_secs, mut mean_billed_secs) = (0.0, 0.0);
        for i in 0..Self::QUANTILES {
            let d = dist.quantile((i as f64 + 0.5) / n).max(0.001);
            // Started at v ~ U[0, 1): it ends in tenth floor(r (v + d)),
            // r v uniform on [0, r): tenths k0 + 1 .. k0 + r - 1 get 1 / r
            // each, k0 and k0 + r share the fraction.
            let rd = d * r as f64;
            let k0 = rd.floor();
            let frac = rd - k0;
            let k0 = k0 as usize;
            let top = Self::bucket(k0 + r);
            if end_pmf.len() < top + 1 {
                end_pmf.resize(top + 1, 0.0);
            }
            let w = 1.0 / (n * r as f64);
            end_pmf[Self::bucket(k0)] += (1.0 - frac) * w;
            for j in k0 + 1..k0 + r {
                end_pmf[Self::bucket(j)] += w;
            }
            end_pmf[top] += frac * w;
            for (j, gj) in g.iter_mut().enumerate() {
                *gj += d.min((j + 1) as f64 / 10.0) / n;
            }
            mean_secs += d / n;
            mean_billed_secs += billed_duration_secs(d) / n;
        }
        while end_pmf.len() > 1 && end_pmf.last().is_some_and(|&p| p == 0.0) {
            end_pmf.pop();
        }
        let mut draw_pmf = vec![end_pmf.iter().take(r).sum::<f64>()];
        draw_pmf.extend(end_pmf.iter().skip(r));
        let draw_cum = draw_pmf
            .iter()
            .scan(0.0, |c, &p| {
                *c += p;
                Some(*c)
            })
            .collect();
        DurationShape {
            end_pmf,
            draw_pmf,
            draw_cum,
            g,
            mean_secs,
            mean_billed_secs,
        }
    }
}

/// A binomial draw; with a variance of 25 or more, its normal
/// approximation (rounded, within `0..=n`), several times cheaper.
fn binomial(rng: &mut impl Rng, n: u32, q: f64) -> u32 {
    let mean = f64::from(n) * q;
    let var = mean * (1.0 - q);
    if var >= 25.0 {
        let z: f64 = rng.sample(StandardNormal);
        // Rounded half up (`as` truncates, saturating: no libm call).
        let v = mean + z * var.sqrt() + 0.5;
        if v <= 0.0 { 0 } else { (v as u32).min(n) }
    } else if mean < 10.0 {
        binomial_inversion(rng, n, q)
    } else if f64::from(n) * (1.0 - q) < 10.0 {
        n - binomial_inversion(rng, n, 1.0 - q)
    } else {
        Binomial::new(u64::from(n), q).map_or(0, |b| rng.sample(b) as u32)
    }
}

/// A binomial draw by inversion (a search up from 0 through the
/// probabilities, each from the previous one), for a small mean `n x q`:
/// one uniform and a few multiplications.
fn binomial_inversion(rng: &mut impl Rng, n: u32, q: f64) -> u32 {
    if q <= 0.0 {
        return 0;
    }
    if q >= 1.0 {
        return n;
    }
    let s = q / (1.0 - q);
    let a = (f64::from(n) + 1.0) * s;
    let mut r = (f64::from(n) * (-q).ln_1p()).exp();
    let mut u: f64 = rng.random();
    let mut x = 0u32;
    while u > r && x < n {
        u -= r;
        x += 1;
        r *= a / f64::from(x) - s;
    }
    x
}

/// Draws a multinomial sample of `n` over `probs` (summing to about 1) by
/// sequential binomials, pushing one count per category until all `n` are
/// placed (the rest, if rounding leaves any, in the last category).
fn multinomial(rng: &mut impl Rng, n: u32, probs: &[f64], out: &mut Vec<u32>) {
    let mut left = n;
    let mut mass: f64 = probs.iter().sum();
    for &p in probs {
        if left == 0 {
            return;
        }
        let k = share(rng, left, p, mass);
        out.push(k);
        left -= k;
        mass -= p;
    }
    if let Some(last) = out.last_mut() {
        *last += left;
    }
}

/// How many of the `left` draws fall in a category of probability `p`,
/// given that they all fall in categories of total probability `mass`
/// (this one and the ones after it): a binomial, at most `left`.
fn share(rng: &mut impl Rng, left: u32, p: f64, mass: f64) -> u32 {
    let q = if mass > 0.0 {
        (p / mass).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let k = if q >= 1.0 {
        left
    } else {
        binomial(rng, left, q)
    };
    k.min(left)
}

/// Below this many draws left, [`multinomial_cum`] places each one by itself.
const SPARSE_TAIL: u32 = 32;

/// [`multinomial`] over `probs` whose running sums are `cum`: once at most
/// [`SPARSE_TAIL`] draws are left, each of them is placed by a uniform of
/// its own (a binary search in `cum` over the categories left), the same
/// distribution and cheaper than a binomial per remaining category when
/// those are many and nearly empty (a long duration tail). Pushes at least
/// one count per category up to the last one drawn.
fn multinomial_cum(rng: &mut impl Rng, n: u32, probs: &[f64], cum: &[f64], out: &mut Vec<u32>) {
    let start = out.len();
    let total = cum.last().copied().unwrap_or(0.0);
    let mut left = n;
    for (i, &p) in probs.iter().enumerate() {
        if left == 0 {
            return;
        }
        let below = if i == 0 { 0.0 } else { cum[i - 1] };
        if left <= SPARSE_TAIL && i + 1 < probs.len() {
            for _ in 0..left {
                let u = below + rng.random::<f64>() * (total - below);
                let k = (i + cum[i..].partition_point(|&c| c <= u)).min(probs.len() - 1);
                if out.len() <= start + k {
                    out.resize(start + k + 1, 0);
                }
                out[start + k] += 1;
            }
            return;
        }
        let mass = total - below;
        let k = share(rng, left, p, mass);
        out.push(k);
        left -= k;
    }
    if let Some(last) = out.last_mut() {
        *last += left;
    }
}

/// When the fast mode replays arrivals one by one, and when a second at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastThresholds {
    /// A minute with at most this many invocations is replayed exactly as
    /// the exact mode does, with the very same draws.
    pub exact_minute_max: u32,
    /// In a busier minute, a second with at most this many arrivals is
    /// still replayed one invocation at a time; busier seconds are dense.
    pub dense_second_above: u32,
}

impl Default for FastThresholds {
    fn default() -> Self {
        FastThresholds {
            exact_minute_max: 600,
            dense_second_above: 20,
        }
    }
}

enum Item {
    One(Invocation),
    /// A dense second: its start, its arrivals per tenth, and their end
    /// counts per tenth of a second (`ends[from..to]`).
    Dense {
        second: f64,
        tenths: [u32; DurationShape::PER_SECOND],
        from: usize,
        to: usize,
    },
}

/// The fast mode's arrivals of one function with per-minute counts, made
/// one minute at a time (never more than one minute of arrivals in memory):
///
/// * a minute with at most [`FastThresholds::exact_minute_max`] invocations
///   gets exactly the exact mode's invocations (the same stream, the same
///   draws);
/// * a busier minute skips those draws in the stream (ChaCha seeks in
///   constant time, so later quiet minutes still match the exact mode) and
///   draws from a second stream the arrivals of each second (a multinomial
///   of the count over 60 seconds); a second with few arrivals is replayed
///   one invocation at a time, a busier one is served at once
///   ([`ArrivalSink::arrive_dense`]) with its end seconds drawn from the
///   duration distribution ([`DurationShape::end_pmf`]).
///
/// Work per minute is bounded by the thresholds and the distribution's
/// longest duration, whatever the count.
pub struct ArrivalStream<'a> {
    counts: &'a [u32],
    dist: &'a DurationDist,
    shape: Option<&'a DurationShape>,
    thresholds: FastThresholds,
    rng: ChaCha8Rng,
    side: ChaCha8Rng,
    items: Vec<Item>,
    ends: Vec<u32>,
    starts: Vec<f64>,
    buf: Vec<Invocation>,
    per_second: Vec<u32>,
    tenth_buf: Vec<u32>,
    draw_buf: Vec<u32>,
}

impl<'a> ArrivalStream<'a> {
    /// The stream of `counts` (function `id`, seed `seed`); `shape` is
    /// [`DurationShape::of`] `dist`, needed only if some minute is busier
    /// than the threshold (see [`ArrivalStream::needs_shape`]).
    pub fn new(
        counts: &'a [u32],
        dist: &'a DurationDist,
        shape: Option<&'a DurationShape>,
        thresholds: FastThresholds,
        seed: u64,
        id: &str,
    ) -> Self {
        let s = function_seed(seed, id);
        let mut side = ChaCha8Rng::seed_from_u64(s);
        side.set_stream(1);
        ArrivalStream {
            counts,
            dist,
            shape,
            thresholds,
            rng: ChaCha8Rng::seed_from_u64(s),
            side,
            items: Vec::new(),
            ends: Vec::new(),
            starts: Vec::new(),
            buf: Vec::new(),
            per_second: Vec::with_capacity(60),
            tenth_buf: Vec::with_capacity(DurationShape::PER_SECOND),
            draw_buf: Vec::new(),
        }
    }

    /// Whether some minute of `counts` is replayed second by second.
    pub fn needs_shape(counts: &[u32], thresholds: FastThresholds) -> bool {
        counts.iter().any(|&n| n > thresholds.exact_minute_max)
    }

    /// Makes minute `m`'s arrivals (replacing the previous minute's).
    pub fn load_minute(&mut self, m: usize) {
        self.items.clear();
        self.ends.clear();
        let n = self.counts.get(m).copied().unwrap_or(0);
        if n == 0 {
            return;
        }
        let base = m as f64 * 60.0;
        let shape = match self.shape {
            Some(shape) if n > self.thresholds.exact_minute_max => shape,
            _ => {
                self.buf.clear();
                draw_minute(
                    &mut self.rng,
                    self.dist,
                    base,
                    n,
                    &mut self.starts,
                    &mut self.buf,
                );
                self.items.extend(self.buf.iter().copied().map(Item::One));
                return;
            }
        };
        // The exact mode draws 2 f64 (4 words) per invocation of the minute.
        let pos = self.rng.get_word_pos();
        self.rng.set_word_pos(pos + 4 * u128::from(n));
        self.per_second.clear();
        multinomial(&mut self.side, n, &[1.0 / 60.0; 60], &mut self.per_second);
        for (k, &c) in self.per_second.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let second = base + k as f64;
            if c <= self.thresholds.dense_second_above {
                self.starts.clear();
                let side = &mut self.side;
                self.starts
                    .extend((0..c).map(|_| second + side.random::<f64>()));
                self.starts.sort_by(f64::total_cmp);
                for i in 0..self.starts.len() {
                    let duration = self.dist.quantile(self.side.random::<f64>()).max(0.001);
                    self.items.push(Item::One(Invocation {
                        start: self.starts[i],
                        duration,
                    }));
                }
            } else {
                let from = self.ends.len();
                // Within the second in one bucket, then as `end_pmf`.
                let d = &mut self.draw_buf;
                d.clear();
                multinomial_cum(&mut self.side, c, &shape.draw_pmf, &shape.draw_cum, d);
                if let Some((&within, later)) = d.split_first() {
                    self.ends.push(within);
                    self.ends.extend([0; DurationShape::PER_SECOND - 1]);
                    self.ends.extend_from_slice(later);
                }
                let t = &mut self.tenth_buf;
                t.clear();
                multinomial(&mut self.side, c, &[0.1; DurationShape::PER_SECOND], t);
                let mut tenths = [0; DurationShape::PER_SECOND];
                for (x, &v) in tenths.iter_mut().zip(t.iter()) {
                    *x = v;
                }
                self.items.push(Item::Dense {
                    second,
                    tenths,
                    from,
                    to: self.ends.len(),
                });
            }
        }
    }

    /// Serves the loaded minute's arrivals that start before `t`, from
    /// `cursor` on (0 for the minute's first call; each platform replaying
    /// the minute has its own).
    pub fn feed(&self, p: &mut impl ArrivalSink, cursor: &mut usize, t: f64) {
        while let Some(item) = self.items.get(*cursor) {
            match *item {
                Item::One(inv) => {
                    if inv.start >= t {
                        return;
                    }
                    p.arrive(&inv);
                }
                Item::Dense {
                    second,
                    tenths,
                    from,
                    to,
                } => {
                    if second >= t {
                        return;
                    }
                    if let Some(shape) = self.shape {
                        p.arrive_dense(second, &tenths, &self.ends[from..to], shape);
                    }
                }
            }
            *cursor += 1;
        }
    }
}

/// What an [`ArrivalStream`] feeds: the simulated platform
/// (`platform::Platform`), which routes each arrival. A trait, so that the
/// workload does not depend on the platform that depends on it.
pub trait ArrivalSink {
    /// One invocation.
    fn arrive(&mut self, inv: &Invocation);
    /// A dense second served at once: arrivals per tenth of the second and
    /// their end seconds drawn from `shape`.
    fn arrive_dense(
        &mut self,
        second: f64,
        tenths: &[u32; DurationShape::PER_SECOND],
        ends: &[u32],
        shape: &DurationShape,
    );
}

/// Highest instantaneous concurrency (sweep over `[start, end)`: an
/// invocation ending at `t` frees its slot before one starting at `t`).
pub fn peak(inv: &[Invocation]) -> u32 {
    let mut ends: Vec<f64> = inv.iter().map(Invocation::end).collect();
    ends.sort_by(f64::total_cmp);
    let (mut j, mut conc, mut best) = (0usize, 0u32, 0u32);
    for i in inv {
        while j < ends.len() && ends[j] <= i.start {
            j += 1;
            conc -= 1;
        }
        conc += 1;
        best = best.max(conc);
    }
    best
}

impl Workload {
    /// Per-minute and per-second demand statistics.
    pub fn profile(&self) -> DemandProfile {
        let minutes = self.minutes as usize;
        let seconds = minutes * 60;
        let mut minute_peak = vec![0u32; minutes];
        let mut minute_max_rps = vec![0u32; minutes];
        let mut second_peak = vec![0u32; seconds];
        let mut arrivals_in_second = vec![0u32; seconds];
        let mut active_minutes = 0u32;
        let mut last_active_minute = usize::MAX;

        let mut ends: Vec<f64> = self.invocations.iter().map(Invocation::end).collect();
        ends.sort_by(f64::total_cmp);
        // Event sweep: each second's peak is the concurrency at its start
        // (carried over) or after any arrival inside it.
        let (mut j, mut conc) = (0usize, 0u32);
        let mut sec_cursor = 0usize;
        let carry = |from: usize, to: usize, conc: u32, sp: &mut [u32]| {
            for s in sp.iter_mut().take(to.min(seconds)).skip(from) {
                *s = (*s).max(conc);
            }
        };
        // One invocation ends at `end`: carry the level up to its second,
        // which saw the level before the end, then drop it.
        let end_one = |end: f64, conc: &mut u32, cursor: &mut usize, sp: &mut [u32]| {
            let es = (end.max(0.0) as usize).min(seconds);
            if es > *cursor {
                carry(*cursor, es, *conc, sp);
                *cursor = es;
            }
            if es < seconds {
                sp[es] = sp[es].max(*conc);
            }
            *conc -= 1;
        };
        for inv in &self.invocations {
            let s = (inv.start.max(0.0) as usize).min(seconds.saturating_sub(1));
            // Process ends up to this arrival, updating the seconds they pass.
            while j < ends.len() && ends[j] <= inv.start {
                end_one(ends[j], &mut conc, &mut sec_cursor, &mut second_peak);
                j += 1;
            }
            if s > sec_cursor {
                carry(sec_cursor, s, conc, &mut second_peak);
                sec_cursor = s;
            }
            conc += 1;
            if s < seconds {
                second_peak[s] = second_peak[s].max(conc);
                arrivals_in_second[s] += 1;
            }
            let m = s / 60;
            if m != last_active_minute {
                active_minutes += 1;
                last_active_minute = m;
            }
        }
        // Drain the remaining ends.
        for &end in &ends[j..] {
            end_one(end, &mut conc, &mut sec_cursor, &mut second_peak);
        }
        for (s, &p) in second_peak.iter().enumerate() {
            let m = s / 60;
            minute_peak[m] = minute_peak[m].max(p);
            minute_max_rps[m] = minute_max_rps[m].max(arrivals_in_second[s]);
        }
        let first_active_minute = minute_peak.iter().position(|&p| p > 0).map(|m| m as u32);
        let mut sorted = second_peak;
        let p99_concurrency = if sorted.is_empty() {
            0
        } else {
            let k = ((sorted.len() as f64) * 0.99).ceil() as usize;
            let k = k.clamp(1, sorted.len()) - 1;
            let (_, v, _) = sorted.select_nth_unstable(k);
            *v
        };
        DemandProfile {
            minute_peak,
            minute_max_rps,
            p99_concurrency,
            first_active_minute,
            active_minutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::Arrivals;

    fn per_minute(counts: Vec<u32>, secs: f64) -> FunctionTrace {
        FunctionTrace {
            id: "f".into(),
            name: "f".into(),
            trigger: None,
            arrivals: Arrivals::PerMinute(counts),
            durations: Some(DurationDist::constant(secs)),
            memory_mb: None,
        }
    }

    #[test]
    fn arrivals_respect_the_minute_counts_and_stay_inside_their_minute() {
        let f = per_minute(vec![3, 0, 5], 0.5);
        let w = build(&f, 3, 7);
        assert_eq!(w.invocations.len(), 8);
        assert!(w.invocations[..3].iter().all(|i| i.start < 60.0));
        assert!(
            w.invocations[3..]
                .iter()
                .all(|i| (120.0..180.0).contains(&i.start))
        );
        assert!(w.invocations.windows(2).all(|p| p[0].start <= p[1].start));
    }

    #[test]
    fn same_seed_same_arrivals_other_seed_other_arrivals() {
        let f = per_minute(vec![10; 5], 1.0);
        assert_eq!(build(&f, 5, 1), build(&f, 5, 1));
        assert_ne!(build(&f, 5, 1), build(&f, 5, 2));
    }

    #[test]
    fn the_fast_stream_replays_quiet_minutes_with_the_exact_draws_even_after_a_busy_one() {
        // Minute 1 is busy (second by second), minutes 0 and 2 quiet.
        let f = per_minute(vec![5, 2000, 7], 0.25);
        let exact = build(&f, 3, 9).invocations;
        let dist = durations_of(&f);
        let shape = DurationShape::of(&dist);
        let Arrivals::PerMinute(counts) = &f.arrivals else {
            unreachable!()
        };
        let th = FastThresholds::default();
        assert!(ArrivalStream::needs_shape(counts, th));
        let mut s = ArrivalStream::new(counts, &dist, Some(&shape), th, 9, &f.id);
        let ones = |s: &ArrivalStream<'_>| -> Vec<Invocation> {
            s.items
                .iter()
                .filter_map(|i| match i {
                    Item::One(inv) => Some(*inv),
                    Item::Dense { .. } => None,
                })
                .collect()
        };
        s.load_minute(0);
        assert_eq!(ones(&s), exact[..5].to_vec());
        s.load_minute(1);
        let dense: u32 = s.ends.iter().sum();
        assert_eq!(
            dense + ones(&s).len() as u32,
            2000,
            "every arrival of the busy minute"
        );
        assert!(dense > 0, "33 a second on average: some seconds are dense");
        s.load_minute(2);
        assert_eq!(ones(&s), exact[2005..].to_vec());
    }

    #[test]
    fn duration_shape_of_a_constant_duration() {
        let s = DurationShape::of(&DurationDist::constant(1.5));
        // Started uniformly in a second, a 1.5 s invocation ends in tenths
        // 15 to 24: 15 to 19 kept as tenths, 20 to 24 as second 2.
        assert_eq!(s.end_pmf.len(), DurationShape::FINE + 1);
        assert!(s.end_pmf[..15].iter().all(|&p| p.abs() < 1e-9));
        assert!(s.end_pmf[15..20].iter().all(|&p| (p - 0.1).abs() < 1e-9));
        assert!((s.end_pmf[20] - 0.5).abs() < 1e-9);
        let long = DurationShape::of(&DurationDist::constant(600.0));
        assert_eq!(long.end_pmf.len(), DurationShape::FINE + 600 - 2 + 1);
        assert!((s.g[4] - 0.5).abs() < 1e-9 && (s.g[9] - 1.0).abs() < 1e-9);
        assert!((s.mean_billed_secs - 1.5).abs() < 1e-9);
        let short = DurationShape::of(&DurationDist::constant(0.2));
        assert_eq!(short.end_pmf.len(), 12);
        assert!((short.end_pmf[..10].iter().sum::<f64>() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn binomial_by_inversion_has_the_binomial_mean_and_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (n, q) in [(1000u32, 0.004), (40, 0.1), (5, 0.5), (100, 0.97)] {
            let rounds = 20_000;
            let draws: Vec<f64> = (0..rounds)
                .map(|_| f64::from(binomial(&mut rng, n, q)))
                .collect();
            assert!(draws.iter().all(|&k| k <= f64::from(n)));
            let mean = draws.iter().sum::<f64>() / f64::from(rounds);
            let var = draws.iter().map(|k| (k - mean).powi(2)).sum::<f64>() / f64::from(rounds);
            let (m, v) = (f64::from(n) * q, f64::from(n) * q * (1.0 - q));
            assert!(
                (mean - m).abs() < 5.0 * (v / f64::from(rounds)).sqrt(),
                "{n} {q}: mean {mean}"
            );
            assert!(
                (var - v).abs() < 0.1 * v,
                "{n} {q}: variance {var} against {v}"
            );
        }
    }

    #[test]
    fn multinomial_places_every_draw() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut out = Vec::new();
        multinomial(&mut rng, 1_000_000, &[1.0 / 60.0; 60], &mut out);
        assert_eq!(out.len(), 60);
        assert_eq!(out.iter().sum::<u32>(), 1_000_000);
        assert!(
            out.iter().all(|&c| (15_000..18_500).contains(&c)),
            "{out:?}"
        );
    }

    #[test]
    fn multinomial_with_a_sparse_tail_places_every_draw_with_the_right_means() {
        let shape = DurationShape::of(&DurationDist::from_percentiles_ms([
            16.0, 80.0, 362.0, 514.0, 774.0, 3334.0, 10901.0,
        ]));
        let (p, cum) = (&shape.draw_pmf, &shape.draw_cum);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (rounds, n) = (4000u32, 500u32);
        let mut sums = vec![0u64; p.len()];
        let mut out = Vec::new();
        for _ in 0..rounds {
            out.clear();
            multinomial_cum(&mut rng, n, p, cum, &mut out);
            assert!(out.len() <= p.len());
            assert_eq!(out.iter().sum::<u32>(), n);
            for (s, &k) in sums.iter_mut().zip(&out) {
                *s += u64::from(k);
            }
        }
        for (k, (&s, &pk)) in sums.iter().zip(p).enumerate() {
            let want = pk * f64::from(rounds * n);
            let got = s as f64;
            assert!(
                (got - want).abs() <= 5.0 * want.sqrt() + 1.0,
                "category {k}: {got} against {want}"
            );
        }
    }

    #[test]
    fn peak_counts_overlaps_and_frees_a_slot_at_its_end() {
        let inv = [
            Invocation {
                start: 0.0,
                duration: 10.0,
            },
            Invocation {
                start: 5.0,
                duration: 10.0,
            },
            Invocation {
                start: 10.0,
                duration: 1.0,
            },
        ];
        assert_eq!(peak(&inv), 2);
    }

    #[test]
    fn profile_reports_minute_peaks_and_p99() {
        let w = Workload {
            invocations: vec![
                Invocation {
                    start: 10.0,
                    duration: 100.0,
                },
                Invocation {
                    start: 70.2,
                    duration: 0.5,
                },
            ],
            minutes: 3,
            peak_concurrency: 2,
        };
        let p = w.profile();
        assert_eq!(p.minute_peak, vec![1, 2, 0]);
        assert_eq!(p.minute_max_rps, vec![1, 1, 0]);
        assert_eq!(p.first_active_minute, Some(0));
        assert_eq!(p.active_minutes, 2);
        // 100 of 180 seconds busy: the 99th percentile is 1.
        assert_eq!(p.p99_concurrency, 1);
    }
}

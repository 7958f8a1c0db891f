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

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
            let fallback = DurationDist::constant(1.0);
            let dist = f.durations.as_ref().unwrap_or(&fallback);
            let mut rng = ChaCha8Rng::seed_from_u64(function_seed(seed, &f.id));
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let mut out = Vec::with_capacity(total);
            let mut starts: Vec<f64> = Vec::new();
            for (m, &n) in counts.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let base = m as f64 * 60.0;
                starts.clear();
                starts.extend((0..n).map(|_| base + rng.random::<f64>() * 60.0));
                starts.sort_by(f64::total_cmp);
                for &start in &starts {
                    // At least 1 ms: Lambda bills at least that, and a
                    // zero-length invocation would never occupy anything.
                    let duration = dist.quantile(rng.random::<f64>()).max(0.001);
                    out.push(Invocation { start, duration });
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

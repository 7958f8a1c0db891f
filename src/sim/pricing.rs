//! Lambda list prices (US East, N. Virginia) and the billing arithmetic the
//! simulator applies.
//!
//! Source: <https://aws.amazon.com/lambda/pricing/> (us-east-1, first
//! on-demand duration tier, which covers the first 6 billion GB-s a month):
//!
//! | item | x86_64 | arm64 |
//! |---|---|---|
//! | requests | $0.20 per 1M | $0.20 per 1M |
//! | on-demand duration | $0.0000166667 / GB-s | $0.0000133334 / GB-s |
//! | provisioned concurrency (configured) | $0.0000041667 / GB-s | $0.0000033334 / GB-s |
//! | duration on provisioned concurrency | $0.0000097222 / GB-s | $0.0000077778 / GB-s |
//!
//! The same page says: "Provisioned Concurrency is calculated from the time
//! you enable it on your function until it is disabled, rounded up to the
//! nearest five minutes" and "Duration is calculated from the time your code
//! begins executing until it returns or otherwise terminates, rounded up to
//! the nearest 1 ms". Memory can be set from 128 MB to 10,240 MB; the trace's
//! memory is raised to the 128 MB floor. The free tier is ignored (it does
//! not apply to functions with provisioned concurrency, and it is per
//! account, not per function).

use serde::{Deserialize, Serialize};

/// Lambda's smallest memory setting, in MB.
pub const MIN_MEMORY_MB: f64 = 128.0;
/// Memory assumed when the trace has none for a function, in MB.
pub const DEFAULT_MEMORY_MB: f64 = 1024.0;

/// The function's instruction set architecture (prices differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// `x86_64`.
    #[default]
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x86_64" | "x86" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            "arm64" | "arm" | "aarch64" | "graviton" => Ok(Arch::Arm64),
            other => Err(format!(
                "unknown architecture {other:?}: use x86_64 or arm64"
            )),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        })
    }
}

/// Unit prices in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Per request.
    pub request: f64,
    /// Per GB-s of on-demand duration.
    pub on_demand_gb_s: f64,
    /// Per GB-s of provisioned concurrency configured.
    pub pc_gb_s: f64,
    /// Per GB-s of duration served by provisioned concurrency.
    pub pc_duration_gb_s: f64,
}

impl Prices {
    /// The us-east-1 list prices for `arch` (see the module docs).
    pub fn us_east_1(arch: Arch) -> Prices {
        match arch {
            Arch::X86_64 => Prices {
                request: 0.20 / 1_000_000.0,
                on_demand_gb_s: 0.000_016_666_7,
                pc_gb_s: 0.000_004_166_7,
                pc_duration_gb_s: 0.000_009_722_2,
            },
            Arch::Arm64 => Prices {
                request: 0.20 / 1_000_000.0,
                on_demand_gb_s: 0.000_013_333_4,
                pc_gb_s: 0.000_003_333_4,
                pc_duration_gb_s: 0.000_007_777_8,
            },
        }
    }
}

/// How provisioned-concurrency time is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PcRounding {
    /// Exact seconds (the default: it isolates the policy from the rounding).
    #[default]
    None,
    /// Each enabled period rounded up to the next 5 minutes, as the pricing page says.
    FiveMinutes,
}

impl std::str::FromStr for PcRounding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "exact" | "off" => Ok(PcRounding::None),
            "5min" | "5m" | "five-minutes" | "5-minutes" => Ok(PcRounding::FiveMinutes),
            other => Err(format!(
                "unknown billing rounding {other:?}: use none or 5min"
            )),
        }
    }
}

impl PcRounding {
    /// The billed length of one unit enabled for `secs` seconds.
    pub fn billed_secs(self, secs: f64) -> f64 {
        match self {
            PcRounding::None => secs.max(0.0),
            PcRounding::FiveMinutes => {
                if secs <= 0.0 {
                    0.0
                } else {
                    (secs / 300.0).ceil() * 300.0
                }
            }
        }
    }
}

/// The memory Lambda would bill for a function whose trace says `mb`
/// (None: unknown), in GB.
pub fn billed_memory_gb(mb: Option<f64>) -> f64 {
    let mb = match mb {
        Some(v) if v.is_finite() && v > 0.0 => v.max(MIN_MEMORY_MB),
        _ => DEFAULT_MEMORY_MB,
    };
    mb / 1024.0
}

/// Billed seconds of one invocation of `duration_secs`: rounded up to 1 ms.
pub fn billed_duration_secs(duration_secs: f64) -> f64 {
    // A tiny epsilon keeps 0.1 s (100.000000001 ms in binary) at 100 ms.
    ((duration_secs * 1000.0) - 1e-9).ceil().max(1.0) / 1000.0
}

/// Dollar amounts of one policy's run, by component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Provisioned concurrency configured (GB-s x price).
    pub pc: f64,
    /// Duration of invocations served by provisioned concurrency.
    pub pc_duration: f64,
    /// Duration of invocations served on demand.
    pub on_demand_duration: f64,
    /// Requests.
    pub requests: f64,
}

impl Cost {
    /// The sum of the components.
    pub fn total(&self) -> f64 {
        self.pc + self.pc_duration + self.on_demand_duration + self.requests
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Cost) {
        self.pc += other.pc;
        self.pc_duration += other.pc_duration;
        self.on_demand_duration += other.on_demand_duration;
        self.requests += other.requests;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_floor_and_default_apply() {
        assert_eq!(billed_memory_gb(Some(64.0)), 0.125);
        assert_eq!(billed_memory_gb(None), 1.0);
        assert_eq!(billed_memory_gb(Some(512.0)), 0.5);
    }

    #[test]
    fn duration_rounds_up_to_the_millisecond() {
        assert!((billed_duration_secs(0.1) - 0.1).abs() < 1e-12);
        assert!((billed_duration_secs(0.1004) - 0.101).abs() < 1e-12);
        assert!((billed_duration_secs(0.0) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn five_minute_rounding_rounds_each_period_up() {
        assert_eq!(PcRounding::FiveMinutes.billed_secs(1.0), 300.0);
        assert_eq!(PcRounding::FiveMinutes.billed_secs(301.0), 600.0);
        assert_eq!(PcRounding::None.billed_secs(301.0), 301.0);
    }

    #[test]
    fn arm_is_cheaper_than_x86() {
        let x = Prices::us_east_1(Arch::X86_64);
        let a = Prices::us_east_1(Arch::Arm64);
        assert!(a.pc_gb_s < x.pc_gb_s && a.on_demand_gb_s < x.on_demand_gb_s);
    }
}

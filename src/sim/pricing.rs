//! Lambda list prices (US East, N. Virginia) and the billing arithmetic the
//! simulator applies.
//!
//! The Lambda list prices (us-east-1, both architectures) are
//! [`crate::core::price`]'s: the core prices a PC unit with them, and the
//! simulator bills with the same figures. The pricing page
//! (<https://aws.amazon.com/lambda/pricing/>) also says: "Provisioned Concurrency is calculated from the time
//! you enable it on your function until it is disabled, rounded up to the
//! nearest five minutes" and "Duration is calculated from the time your code
//! begins executing until it returns or otherwise terminates, rounded up to
//! the nearest 1 ms". Memory can be set from 128 MB to 10,240 MB; the trace's
//! memory is raised to the 128 MB floor. The free tier is ignored (it does
//! not apply to functions with provisioned concurrency, and it is per
//! account, not per function).
//!
//! The autoscalers' own bills (the `controller` and `alarms` components):
//!
//! * **CloudWatch** (<https://aws.amazon.com/cloudwatch/pricing/>):
//!   `GetMetricData` $0.01 per 1,000 metrics requested; a standard-resolution
//!   alarm $0.10 per alarm metric-month, prorated (here per minute of a
//!   730-hour month). AWS target tracking creates two alarms per scalable
//!   target; pcscale's template deploys two alarms for its controller.
//! * **The controller Lambda** (template.yaml: arm64, 256 MB, one invocation
//!   per minute): requests and GB-s at the arm64 prices above. Its billed
//!   time per tick is the measured warm tick (135 ms, bench/RESULTS.md) plus
//!   the tick's Lambda control-plane calls at its rate limit
//!   (`PCSCALE_LAMBDA_RPS`, 10 per second).
//! * **DynamoDB on-demand** (<https://aws.amazon.com/dynamodb/pricing/on-demand/>):
//!   $0.125 per million read request units, $0.625 per million write
//!   request units. The tick's strongly consistent `Scan` of the policy
//!   table costs one read unit per 4 KB of policy and state items scanned
//!   (activity lives in its own table, which the tick only writes to); a
//!   write one unit per 1 KB of the item (an update: the larger of the old
//!   and new item).
//!   Item sizes follow DynamoDB's rules
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>).
//!
//! Tencent SCF's and Alibaba FC's autoscaling carry no charge of their own
//! on their platforms (only the provisioned instances are billed), so their
//! rows have neither component.

use crate::core::price;
use crate::item::Attr;
use serde::{Deserialize, Serialize};

/// Lambda's smallest memory setting, in MB.
pub const MIN_MEMORY_MB: f64 = price::MIN_MEMORY_MB as f64;
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
    /// The us-east-1 list prices for `arch` (see the module docs), from the
    /// core's price list ([`crate::core::price`]), the one source of them.
    pub fn us_east_1(arch: Arch) -> Prices {
        let p = match arch {
            Arch::X86_64 => price::US_EAST_1_X86_64,
            Arch::Arm64 => price::US_EAST_1_ARM64,
        };
        Prices {
            request: p.request,
            on_demand_gb_s: p.on_demand_gb_s,
            pc_gb_s: p.pc_gb_s,
            pc_duration_gb_s: p.pc_duration_gb_s,
        }
    }
}

/// CloudWatch `GetMetricData`, per metric requested.
pub const GET_METRIC_DATA_PER_METRIC: f64 = 0.01 / 1000.0;
/// CloudWatch standard-resolution alarm, per alarm-month.
pub const ALARM_PER_MONTH: f64 = 0.10;
/// Hours in the month alarms are prorated over.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Alarms AWS target tracking creates per scalable target (high and low).
pub const TARGET_TRACKING_ALARMS: u32 = 2;
/// Alarms pcscale's template deploys for its controller.
pub const CONTROLLER_ALARMS: u32 = 2;
/// The controller Lambda's memory (template.yaml `MemorySize`), MB.
pub const CONTROLLER_MEMORY_MB: f64 = 256.0;
/// The controller Lambda's architecture (template.yaml `Architectures`).
pub const CONTROLLER_ARCH: Arch = Arch::Arm64;
/// Billed seconds of a warm tick with nothing to change (bench/RESULTS.md:
/// 130 - 137 ms), before any Lambda control-plane call.
pub const CONTROLLER_TICK_BASE_SECS: f64 = 0.135;
/// Seconds per Lambda control-plane call at the tick's rate limit
/// (`PCSCALE_LAMBDA_RPS`, 10 per second).
pub const CONTROLLER_SECS_PER_LAMBDA_CALL: f64 = 1.0 / crate::env::DEFAULT_LAMBDA_RPS;
/// DynamoDB on-demand, per read request unit.
pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1_000_000.0;
/// DynamoDB on-demand, per write request unit.
pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1_000_000.0;
/// Dollars of `alarms` alarms kept for `minutes`.
pub fn alarm_cost(alarms: u32, minutes: f64) -> f64 {
    f64::from(alarms) * ALARM_PER_MONTH * minutes.max(0.0) / (HOURS_PER_MONTH * 60.0)
}

/// Dollars of the controller Lambda for `ticks` invocations billed
/// `secs` seconds in all.
pub fn controller_lambda_cost(ticks: f64, secs: f64) -> f64 {
    let p = Prices::us_east_1(CONTROLLER_ARCH);
    ticks * p.request + secs * CONTROLLER_MEMORY_MB / 1024.0 * p.on_demand_gb_s
}

/// The size DynamoDB bills for an item, in bytes: attribute names plus
/// values (strings and binaries by length, numbers by digits, maps and
/// lists 3 bytes plus 1 per element plus their contents).
pub fn dynamodb_item_bytes<'a>(item: impl IntoIterator<Item = (&'a String, &'a Attr)>) -> u64 {
    item.into_iter()
        .map(|(k, v)| k.len() as u64 + attribute_bytes(v))
        .sum()
}

fn attribute_bytes(v: &Attr) -> u64 {
    match v {
        Attr::S(s) => s.len() as u64,
        Attr::N(n) => {
            let digits = n.chars().filter(char::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        Attr::L(v) => 3 + v.iter().map(|e| 1 + attribute_bytes(e)).sum::<u64>(),
        Attr::M(m) => 3 + m.len() as u64 + dynamodb_item_bytes(m),
        Attr::Bool(_) | Attr::Null => 1,
    }
}

/// Write request units of writing an item of `bytes`.
pub fn write_units(bytes: u64) -> u64 {
    bytes.div_ceil(1024).max(1)
}

/// What a controller used (counted after the warm-up window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ControllerUsage {
    /// `GetMetricData` metrics requested.
    pub metrics_requested: u64,
    /// Lambda control-plane calls (reads and writes) made by the tick.
    pub lambda_calls: u64,
    /// Bytes of the policy and state items scanned, summed over ticks.
    pub scanned_bytes: u64,
    /// Bytes of activity items written (to the activity table, which the
    /// tick never reads; their write units are in `write_units`).
    pub activity_bytes: u64,
    /// DynamoDB write request units.
    pub write_units: u64,
}

impl ControllerUsage {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &ControllerUsage) {
        self.metrics_requested += o.metrics_requested;
        self.lambda_calls += o.lambda_calls;
        self.scanned_bytes += o.scanned_bytes;
        self.activity_bytes += o.activity_bytes;
        self.write_units += o.write_units;
    }

    /// Read request units of the scans: the policy and state items every
    /// tick (a strongly consistent read unit per 4 KB). Activity items are
    /// in their own table and never read by the tick, so however long they
    /// live they cost no reads.
    pub fn read_units(&self) -> f64 {
        self.scanned_bytes as f64 / 4096.0
    }

    /// Dollars of this usage that scale with the aliases: metrics, the
    /// controller's time spent on their Lambda calls, DynamoDB.
    pub fn cost(&self) -> f64 {
        self.metrics_requested as f64 * GET_METRIC_DATA_PER_METRIC
            + controller_lambda_cost(
                0.0,
                self.lambda_calls as f64 * CONTROLLER_SECS_PER_LAMBDA_CALL,
            )
            + self.read_units() * DYNAMODB_READ_UNIT
            + self.write_units as f64 * DYNAMODB_WRITE_UNIT
    }
}

/// Dollars of the controller that do not depend on the aliases, for `ticks`
/// one-minute ticks: the invocations and their base time.
pub fn controller_fixed_cost(ticks: f64) -> f64 {
    controller_lambda_cost(ticks, ticks * CONTROLLER_TICK_BASE_SECS)
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
    /// The autoscaler's own AWS bill (pcscale: `GetMetricData`, the
    /// controller Lambda, DynamoDB).
    #[serde(default)]
    pub controller: f64,
    /// CloudWatch alarms (AWS target tracking's two per target; pcscale's
    /// two controller alarms).
    #[serde(default)]
    pub alarms: f64,
}

impl Cost {
    /// The sum of the components.
    pub fn total(&self) -> f64 {
        self.pc
            + self.pc_duration
            + self.on_demand_duration
            + self.requests
            + self.controller
            + self.alarms
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Cost) {
        self.pc += other.pc;
        self.pc_duration += other.pc_duration;
        self.on_demand_duration += other.on_demand_duration;
        self.requests += other.requests;
        self.controller += other.controller;
        self.alarms += other.alarms;
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
    fn alarms_are_prorated_per_minute() {
        // Two alarms for one day: 2 x $0.10 x 1440 / 43800 = $0.006575...
        let day = alarm_cost(2, 1440.0);
        assert!((day - 0.2 * 1440.0 / 43_800.0).abs() < 1e-12, "{day}");
        // One minute of one alarm: $0.10 / 43800.
        assert!((alarm_cost(1, 1.0) - 0.10 / 43_800.0).abs() < 1e-15);
        assert_eq!(alarm_cost(2, 0.0), 0.0);
    }

    #[test]
    fn controller_cost_of_known_ticks_and_aliases() {
        // 100 ticks over 3 aliases, each decided every tick: 300 metrics,
        // 300 GetProvisionedConcurrencyConfig calls, 3 x 100 B policy +
        // 3 x 50 B state scanned per tick, 4 state writes and 2 activities
        // of 1 KB or less, 1,000 activity bytes.
        let u = ControllerUsage {
            metrics_requested: 300,
            lambda_calls: 300,
            scanned_bytes: 100 * 3 * 150,
            activity_bytes: 1000,
            write_units: 6,
        };
        let metrics = 300.0 * 0.00001; // $0.003
        let lambda = 300.0 * 0.1 * 0.25 * 0.000_013_333_4; // 30 s at 256 MB arm64
        // Only the policy table is scanned: the activity bytes cost writes.
        let reads = 45_000.0 / 4096.0 * 0.125e-6;
        let writes = 6.0 * 0.625e-6;
        let want = metrics + lambda + reads + writes;
        assert!((u.cost() - want).abs() < 1e-12, "{} vs {want}", u.cost());
        // The fixed part: 100 invocations of 135 ms at 256 MB arm64.
        let fixed = 100.0 * 0.2e-6 + 100.0 * 0.135 * 0.25 * 0.000_013_333_4;
        assert!((controller_fixed_cost(100.0) - fixed).abs() < 1e-15);
    }

    #[test]
    fn dynamodb_item_size_counts_names_and_values() {
        let item = std::collections::HashMap::from([
            ("pk".to_owned(), Attr::S("function:f:live".into())),
            ("Version".to_owned(), Attr::N("12345".into())),
        ]);
        // 2 + 15 + 7 + (ceil(5 / 2) + 1 = 4).
        assert_eq!(dynamodb_item_bytes(&item), 28);
        assert_eq!(write_units(28), 1);
        assert_eq!(write_units(1025), 2);
    }

    #[test]
    fn arm_is_cheaper_than_x86() {
        let x = Prices::us_east_1(Arch::X86_64);
        let a = Prices::us_east_1(Arch::Arm64);
        assert!(a.pc_gb_s < x.pc_gb_s && a.on_demand_gb_s < x.on_demand_gb_s);
    }
}

//! The Lambda list prices pcscale's economics read: the one source of the
//! figures, for the core (what a PC unit of a function of a given memory
//! costs an hour, [`super::coldstart::unit_price`]) and for the simulator's
//! bills ([`crate::sim::pricing`]).
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
//! Memory can be set from 128 MB to 10,240 MB, and every price is per GB-s:
//! a PC unit of a 3 GB function costs three times one of a 1 GB function.

/// One architecture's list prices, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListPrices {
    /// Per request.
    pub request: f64,
    /// Per GB-s of on-demand duration.
    pub on_demand_gb_s: f64,
    /// Per GB-s of provisioned concurrency configured.
    pub pc_gb_s: f64,
    /// Per GB-s of duration served by provisioned concurrency.
    pub pc_duration_gb_s: f64,
}

impl ListPrices {
    /// The utilisation above which a PC unit costs less than no PC: the PC
    /// price over what PC saves on each busy second,
    /// `pc / (on_demand - pc_duration)` (0.60 for both architectures).
    pub fn break_even_utilisation(&self) -> f64 {
        self.pc_gb_s / (self.on_demand_gb_s - self.pc_duration_gb_s)
    }
}

/// us-east-1, x86_64.
pub const US_EAST_1_X86_64: ListPrices = ListPrices {
    request: 0.20 / 1_000_000.0,
    on_demand_gb_s: 0.000_016_666_7,
    pc_gb_s: 0.000_004_166_7,
    pc_duration_gb_s: 0.000_009_722_2,
};

/// us-east-1, arm64 (Graviton).
pub const US_EAST_1_ARM64: ListPrices = ListPrices {
    request: 0.20 / 1_000_000.0,
    on_demand_gb_s: 0.000_013_333_4,
    pc_gb_s: 0.000_003_333_4,
    pc_duration_gb_s: 0.000_007_777_8,
};

/// The prices the core's economics use. x86_64: pcscale does not read a
/// function's architecture, and arm64's PC is 20 % cheaper with the same
/// break-even utilisation, so an arm64 function is priced a little high
/// (it keeps slightly fewer units than its own price would pay for).
pub const CORE_PRICES: ListPrices = US_EAST_1_X86_64;

/// Lambda's smallest memory setting, MB.
pub const MIN_MEMORY_MB: u32 = 128;

/// Lambda's largest memory setting, MB.
pub const MAX_MEMORY_MB: u32 = 10_240;

/// Dollars one PC unit of a function with `memory_mb` costs per hour
/// configured (idle), at [`CORE_PRICES`]; the memory is taken into Lambda's
/// range first. 1,024 MB: `0.0000041667 x 3600 = $0.0150`; 128 MB: $0.0019;
/// 10,240 MB: $0.150.
pub fn pc_unit_hour_dollars(memory_mb: u32) -> f64 {
    let mb = memory_mb.clamp(MIN_MEMORY_MB, MAX_MEMORY_MB);
    CORE_PRICES.pc_gb_s * 3600.0 * f64::from(mb) / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_break_even_utilisation_is_the_coldstart_constant_for_both_architectures() {
        for p in [US_EAST_1_X86_64, US_EAST_1_ARM64] {
            let b = p.break_even_utilisation();
            assert!(
                (b - crate::core::coldstart::BREAK_EVEN_UTILISATION).abs() < 1e-3,
                "{b}"
            );
        }
    }

    #[test]
    fn a_unit_hour_scales_with_memory_within_lambdas_range() {
        assert!((pc_unit_hour_dollars(1024) - 0.015_000_12).abs() < 1e-9);
        assert!((pc_unit_hour_dollars(3072) - 3.0 * pc_unit_hour_dollars(1024)).abs() < 1e-12);
        assert_eq!(pc_unit_hour_dollars(64), pc_unit_hour_dollars(128));
        assert_eq!(pc_unit_hour_dollars(20_000), pc_unit_hour_dollars(10_240));
    }
}

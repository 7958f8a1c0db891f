//! The pure decision core: no I/O, no clock reads, no async.
//!
//! * [`policy`]: the user's policy item and its validation (all problems at once);
//! * [`schedule`]: `at()` / `cron()` / `rate()` schedules and the effective band at `now`;
//! * [`decide`]: the scaling decision and its structured reason;
//! * [`state`]: what pcscale persists between ticks (cooldown bookkeeping);
//! * [`units`]: [`Secs`], the one type of a duration in whole seconds;
//! * [`window`]: what CloudWatch can have published at `now`, and the metric
//!   window every driver requests and reads;
//! * [`price`]: the Lambda list prices (what a PC unit of a given memory costs).

pub mod coldstart;
pub mod decide;
pub mod history;
pub mod policy;
pub mod price;
pub mod schedule;
pub mod state;
pub mod units;
pub mod window;

pub use decide::{Action, Decision, Demand, Limits, Observation, Reason, decide};
pub use policy::{Band, effective_band};
pub use policy::{Policy, ResourceId};
pub use state::State;
pub use units::Secs;

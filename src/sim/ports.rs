//! In-memory implementations of the tick's ports over the simulated
//! platform, so that pcscale's policy runs through the very same
//! [`crate::tick::run_tick`] and [`crate::core`] as the Lambda:
//!
//! * [`PolicyStore`]: one policy item and its state item, with the
//!   conditional (`Version`) write DynamoDB does;
//! * [`MetricsSource`]: CloudWatch as the platform publishes it (per-minute
//!   `ConcurrentExecutions` Maximum and `ProvisionedConcurrencyUtilization`
//!   Average, missing datapoints as gaps): for the window the deployed
//!   adapter would request, exactly the datapoints CloudWatch would have
//!   published at that moment, read through the same
//!   [`MetricWindow::series`] as the CloudWatch adapter;
//! * [`ConcurrencyApi`]: the PC config of the simulated function
//!   (`IN_PROGRESS` while an increase is being prepared) and its memory.
//!
//! The simulated account has no reserved concurrency on the function and a
//! large unreserved pool (each function is simulated as if alone), so that
//! only the policy's band limits it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

use super::baselines::Controller;
use super::platform::Platform;
use super::pricing::{ControllerUsage, dynamodb_item_bytes, write_units};
use crate::core::decide::{CurrentPc, Demand, PcStatus, Series};
use crate::core::policy::{MetricKind, Policy, ResourceId};
use crate::core::state::State;
use crate::core::window::{Horizon, MetricWindow, PublicationDelay};
use crate::item::{Attr, activity_to_item, json_to_attr, state_to_item};
use crate::ports::Ports;
use crate::ports::{
    Activity, AliasTarget, ConcurrencyApi, ErrorKind, MetricAnswers, MetricQuery, MetricsSource,
    PolicyStore, PortError, Segment, StoredResource, WriteOutcome,
};
use crate::tick::{DEFAULT_LAMBDA_BUDGET, DEFAULT_RECONCILE_MINUTES, TickOptions, run_tick};

/// Days CloudWatch keeps 1-minute datapoints (then 5-minute roll-ups for 63
/// days): a query at a 60 s period reaches no further back.
pub const ONE_MINUTE_RETENTION_DAYS: i64 = 15;

/// The account's unreserved concurrency as the simulated Lambda reports it.
pub const SIM_UNRESERVED_CONCURRENCY: u32 = 1_000_000;

/// Recovers the data of a poisoned lock: the simulator's critical sections
/// cannot leave the data half-written (they do not panic midway).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The simulated AWS world of one function, as the tick's three ports.
pub struct SimWorld<'p, 'c> {
    platform: Mutex<&'p mut Platform<'c>>,
    /// Wall-clock time of the trace's minute 0.
    epoch: DateTime<Utc>,
    policy: Policy,
    state: Mutex<State>,
    activities: AtomicU64,
    activity_bytes: AtomicU64,
    write_units: AtomicU64,
}

impl<'p, 'c> SimWorld<'p, 'c> {
    /// A world around `platform` (whose minute 0 is at `epoch`) with one
    /// policy and its state.
    pub fn new(
        platform: &'p mut Platform<'c>,
        epoch: DateTime<Utc>,
        policy: Policy,
        state: State,
    ) -> Self {
        SimWorld {
            platform: Mutex::new(platform),
            epoch,
            policy,
            state: Mutex::new(state),
            activities: AtomicU64::new(0),
            activity_bytes: AtomicU64::new(0),
            write_units: AtomicU64::new(0),
        }
    }

    /// Returns the policy, the state, the number of activity records
    /// written, and the DynamoDB usage of the writes (`activity_bytes`,
    /// `write_units`).
    pub fn into_parts(self) -> (Policy, State, u64, ControllerUsage) {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let usage = ControllerUsage {
            activity_bytes: self.activity_bytes.into_inner(),
            write_units: self.write_units.into_inner(),
            ..ControllerUsage::default()
        };
        (self.policy, state, self.activities.into_inner(), usage)
    }

    /// What `GetMetricData` would answer for `metric` over `window` now:
    /// the datapoints of the minutes inside the window that CloudWatch has
    /// published by now (the platform's own publication delay, which the
    /// policy's assumed delay need not match), read as the adapter reads them.
    fn series(&self, metric: MetricKind, window: &MetricWindow) -> Series {
        let p = lock(&self.platform);
        let visible = p.visible_metrics();
        let index = |t: DateTime<Utc>| {
            usize::try_from((t - self.epoch).num_minutes().max(0)).unwrap_or(usize::MAX)
        };
        let (first, last) = (index(window.start), index(window.end).min(visible.len()));
        let points = (first..last).filter_map(|k| {
            let d = visible.get(k)?;
            let v = match metric {
                MetricKind::ConcurrentExecutions => d.concurrency_max.map(f64::from),
                MetricKind::ProvisionedConcurrencyUtilization => d.utilization_avg,
            }?;
            let at = self.epoch + TimeDelta::minutes(i64::try_from(k).ok()?);
            Some((at.timestamp(), v))
        });
        // Only the minutes since the trace started: what happened before is
        // unknown, not idle. CloudWatch would return the function's real
        // history there; padding it with "no datapoint" would tell a policy
        // with a long look-back that every function was idle before the
        // trace, and dilute its first hours' estimates with invented idleness.
        //
        // CloudWatch answers a 60 s period only for the last 15 days
        // ([`ONE_MINUTE_RETENTION_DAYS`]): older minutes are not returned at
        // that period (only 5-minute roll-ups are), so they are unknown
        // here too, never idle.
        let retained = window.end - TimeDelta::days(ONE_MINUTE_RETENTION_DAYS);
        window.series(points, Some(self.epoch.max(retained)))
    }

    fn check(&self, op: &str, resource: &ResourceId) -> Result<(), PortError> {
        if *resource == self.policy.resource {
            Ok(())
        } else {
            Err(PortError::new(
                op,
                Some(resource.to_string()),
                ErrorKind::NotFound,
                "no such function in the simulation",
            ))
        }
    }
}

impl PolicyStore for SimWorld<'_, '_> {
    async fn load(&self, _segment: Option<Segment>) -> Result<Vec<StoredResource>, PortError> {
        Ok(vec![StoredResource {
            key: self.policy.resource.to_string(),
            policy: Ok(self.policy.clone()),
            state: lock(&self.state).clone(),
        }])
    }

    async fn write_state(
        &self,
        resource: &str,
        expected_version: u64,
        next: &State,
    ) -> Result<WriteOutcome, PortError> {
        if resource != self.policy.resource.to_string() {
            return Err(PortError::new(
                "UpdateItem",
                Some(resource.to_owned()),
                ErrorKind::NotFound,
                "no such resource",
            ));
        }
        let mut s = lock(&self.state);
        // An update is billed on the larger of the old and new item, a
        // failed conditional write as a write too.
        let bytes = dynamodb_item_bytes(&state_to_item(resource, &s))
            .max(dynamodb_item_bytes(&state_to_item(resource, next)));
        self.write_units
            .fetch_add(write_units(bytes), Ordering::Relaxed);
        if s.version != expected_version {
            return Ok(WriteOutcome::Conflict);
        }
        *s = next.clone();
        Ok(WriteOutcome::Written)
    }

    async fn record(&self, activity: &Activity) -> Result<(), PortError> {
        // Counted, not kept: a day of activity for thousands of functions
        // would make memory grow with the trace's length.
        self.activities.fetch_add(1, Ordering::Relaxed);
        let bytes = dynamodb_item_bytes(&activity_to_item(activity, 0));
        self.activity_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.write_units
            .fetch_add(write_units(bytes), Ordering::Relaxed);
        Ok(())
    }
}

impl MetricsSource for SimWorld<'_, '_> {
    async fn fetch(&self, queries: &[MetricQuery], horizon: Horizon) -> MetricAnswers {
        queries
            .iter()
            .map(|q| {
                let answer = if q.resource == self.policy.resource {
                    Demand::Known(self.series(q.metric, &horizon.window(q.minutes)))
                } else {
                    Demand::Unknown(format!("no metrics for {}", q.resource))
                };
                (q.clone(), answer)
            })
            .collect()
    }
}

impl ConcurrencyApi for SimWorld<'_, '_> {
    async fn get_config(&self, resource: &ResourceId) -> Result<Option<CurrentPc>, PortError> {
        self.check("GetProvisionedConcurrencyConfig", resource)?;
        let pc = lock(&self.platform).pc();
        Ok((pc.requested > 0).then_some(CurrentPc {
            requested: pc.requested,
            allocated: pc.allocated,
            status: if pc.in_progress {
                PcStatus::InProgress
            } else {
                PcStatus::Ready
            },
            status_reason: None,
        }))
    }

    async fn put_config(&self, resource: &ResourceId, capacity: u32) -> Result<(), PortError> {
        self.check("PutProvisionedConcurrencyConfig", resource)?;
        if capacity == 0 {
            return Err(PortError::new(
                "PutProvisionedConcurrencyConfig",
                Some(resource.to_string()),
                ErrorKind::Invalid,
                "ProvisionedConcurrentExecutions must be at least 1",
            ));
        }
        lock(&self.platform).set_pc(capacity);
        Ok(())
    }

    async fn delete_config(&self, resource: &ResourceId) -> Result<(), PortError> {
        self.check("DeleteProvisionedConcurrencyConfig", resource)?;
        lock(&self.platform).set_pc(0);
        Ok(())
    }

    async fn reserved_concurrency(&self, _function: &str) -> Result<Option<u32>, PortError> {
        Ok(None)
    }

    async fn unreserved_concurrency(&self) -> Result<u32, PortError> {
        Ok(SIM_UNRESERVED_CONCURRENCY)
    }

    /// The simulated function was deployed once: its alias points to
    /// version 1 (the tick asks only on drift or for alias/version pairs,
    /// neither of which a one-resource replay has).
    async fn alias_target(
        &self,
        function: &str,
        alias: &str,
    ) -> Result<Option<AliasTarget>, PortError> {
        let own = &self.policy.resource;
        let is_alias = !crate::alias::is_version(alias);
        Ok(
            (function == own.function && alias == own.qualifier && is_alias).then(|| AliasTarget {
                version: "1".into(),
                function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
            }),
        )
    }

    /// The memory the simulation bills the function at (the trace's, raised
    /// to Lambda's 128 MB floor; 1,024 MB where the trace has none), asked
    /// and billed like the deployed tick's `GetFunctionConfiguration`.
    async fn function_memory(&self, resource: &ResourceId) -> Result<Option<u32>, PortError> {
        self.check("GetFunctionConfiguration", resource)?;
        let gb = lock(&self.platform).memory_gb();
        Ok(Some((gb * 1024.0).round() as u32))
    }

    /// Not deployed by CloudFormation.
    async fn cloudformation_stack(&self, _function_arn: &str) -> Result<Option<String>, PortError> {
        Ok(None)
    }
}

/// pcscale's policy as a [`Controller`]: every tick is a real
/// [`run_tick`] over a [`SimWorld`].
pub struct Pcscale {
    policy: Option<Policy>,
    state: State,
    opts: TickOptions,
    /// Simulated wall-clock time of the trace's minute 0.
    pub epoch: DateTime<Utc>,
    /// Activity records written.
    pub activities: u64,
    /// Resource errors reported by ticks (each one a line in the activity log).
    pub errors: u64,
    /// Ticks that could not run at all.
    pub failed_ticks: u64,
    /// Size of the policy item, bytes (scanned every tick).
    policy_bytes: u64,
}

impl Pcscale {
    /// pcscale with `policy` (its resource already set to the simulated
    /// function's), starting with no state, at `epoch`.
    pub fn new(policy: Policy, epoch: DateTime<Utc>) -> Self {
        let key = policy.resource.to_string();
        let policy_bytes = match serde_json::to_value(&policy).map(|v| json_to_attr(&v)) {
            Ok(Attr::M(m)) => {
                dynamodb_item_bytes(&m)
                    + "pk".len() as u64
                    + key.len() as u64
                    + "sk".len() as u64
                    + "policy".len() as u64
            }
            _ => 0,
        };
        Pcscale {
            policy_bytes,
            policy: Some(policy),
            state: State::default(),
            // The deployed read schedule and budget: the simulated
            // controller reads Lambda (and is billed for it) only when the
            // deployed Lambda would.
            opts: TickOptions {
                concurrency: 1,
                reconcile_every_minutes: DEFAULT_RECONCILE_MINUTES,
                lambda_budget: Some(DEFAULT_LAMBDA_BUDGET),
                ..TickOptions::default()
            },
            epoch,
            activities: 0,
            errors: 0,
            failed_ticks: 0,
        }
    }

    /// Decides quiet aliases only every `n` minutes, as
    /// `PCSCALE_QUIET_EVERY_MINUTES` does in the Lambda.
    pub fn with_quiet_every_minutes(mut self, n: u32) -> Self {
        self.opts.quiet_every_minutes = n.max(1);
        self
    }

    /// `PCSCALE_MAX_PER_FUNCTION`: the most PC the tick sets on one alias.
    pub fn with_max_per_function(mut self, max: Option<u32>) -> Self {
        self.opts.max_per_function = max;
        self
    }

    /// Assumes CloudWatch publishes a minute `delay` after it ends, as
    /// `PCSCALE_METRIC_DELAY_SECONDS` does in the Lambda.
    pub fn with_metric_delay(mut self, delay: PublicationDelay) -> Self {
        self.opts.metric_delay = delay;
        self
    }

    /// The persisted state after the last tick.
    pub fn state(&self) -> &State {
        &self.state
    }
}

impl Controller for Pcscale {
    fn tick(&mut self, platform: &mut Platform<'_>) {
        let Some(policy) = self.policy.take() else {
            return;
        };
        let now = self.epoch + TimeDelta::minutes(i64::from(platform.minute()));
        let counted = platform.now() >= platform.config().warmup_secs;
        let key = policy.resource.to_string();
        let state_bytes = dynamodb_item_bytes(&state_to_item(&key, &self.state));
        let world = SimWorld::new(
            platform,
            self.epoch,
            policy,
            std::mem::take(&mut self.state),
        );
        let ports = Ports {
            store: &world,
            metrics: &world,
            lambda: &world,
        };
        let result = futures::executor::block_on(run_tick(ports, now, &self.opts));
        let (policy, state, activities, mut usage) = world.into_parts();
        self.policy = Some(policy);
        self.state = state;
        self.activities += activities;
        match result {
            Ok(summary) => {
                self.errors += summary.totals.errors as u64;
                if counted {
                    let c = &summary.api_calls;
                    platform.count_reads((c.get_config + c.limits + c.function_config) as u64);
                    usage.metrics_requested = c.metric_queries as u64;
                    usage.lambda_calls = (c.get_config
                        + c.limits
                        + c.function_config
                        + c.put_config
                        + c.delete_config) as u64;
                    usage.scanned_bytes = self.policy_bytes + state_bytes;
                    platform.count_controller(&usage);
                }
            }
            Err(_) => self.failed_ticks += 1,
        }
    }
}

//! One pass over every policy: load -> observe -> decide -> claim -> apply ->
//! record. The Lambda handler, `pcscale tick` and the simulator all call
//! [`run_tick`]; only the ports differ.
//!
//! Claiming: before calling Lambda, the tick writes the next state with a
//! `Pending` step, conditional on the `Version` it read. Of two overlapping
//! ticks only one wins that write; the other skips the resource. After the
//! call, the state is committed (cooldowns advance) or released (they do not).
//! A claim left behind (a tick that died, or whose state write failed after
//! its Put) is reconciled from what Lambda reports. The first tick to see a
//! claim notes its own time on it (`Pending.SeenAt`, without changing the
//! `Version`) and leaves it to its claimant; a later tick settles it as
//! applied as soon as Lambda shows the claimed capacity, otherwise once it
//! has been seen unsettled for [`TickOptions::claim_lease_secs`]. No tick
//! compares its clock with the claimant's. Either way an activity item
//! records it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{Instrument, info_span, warn};

use crate::core::decide::{
    Action, CurrentPc, Decision, Demand, Limits, Observation, PcStatus, decide, lookback_minutes,
};
use crate::core::policy::{MetricKind, Policy, ResourceId};
use crate::core::state::{Lease, Pending, State};
use crate::core::window::{Horizon, PublicationDelay};
use crate::ports::{
    Activity, ConcurrencyApi, ErrorKind, MetricAnswers, MetricQuery, MetricsSource, PolicyStore,
    PortError, Segment, StoredResource, WriteOutcome,
};

/// Options of one tick (from flags, the event and the environment).
#[derive(Debug, Clone)]
pub struct TickOptions {
    /// Never call the Lambda write APIs (`PCSCALE_DRY_RUN`, `--dry-run`).
    pub dry_run: bool,
    /// Only this scan segment.
    pub segment: Option<Segment>,
    /// `PCSCALE_MAX_PER_FUNCTION`.
    pub max_per_function: Option<u32>,
    /// `PCSCALE_ALLOWED_FUNCTIONS` globs; `None` allows every function.
    pub allowed_functions: Option<Vec<String>>,
    /// Resources worked on at once.
    pub concurrency: usize,
    /// Stop starting new resources after this long (the Lambda timeout minus
    /// a margin); resources still in flight are abandoned
    /// [`in_flight_grace`]`(deadline)` later, so the tick always returns.
    pub deadline: Option<Duration>,
    /// A claim older than this is considered abandoned and reconciled.
    pub claim_lease_secs: i64,
    /// Decide a *quiet* resource (no step in the last
    /// [`QUIET_AFTER_SECS`], no claim in flight) only every this many minutes,
    /// staggered by its key (`PCSCALE_QUIET_EVERY_MINUTES`; 1 = every tick).
    /// Each decision costs a `GetMetricData` metric ($0.01 per 1,000) and a
    /// `GetProvisionedConcurrencyConfig` call under the account's 15
    /// requests/s control-plane quota; quiet aliases rarely need either.
    pub quiet_every_minutes: u32,
    /// How long after a minute ends CloudWatch has surely published it
    /// (`PCSCALE_METRIC_DELAY_SECONDS`): newer minutes without a datapoint
    /// are not yet published, not idle (see [`crate::core::window`]).
    pub metric_delay: PublicationDelay,
}

/// A resource with no capacity change for this long is quiet.
pub const QUIET_AFTER_SECS: i64 = 30 * 60;

impl Default for TickOptions {
    fn default() -> Self {
        TickOptions {
            dry_run: false,
            segment: None,
            max_per_function: None,
            allowed_functions: None,
            concurrency: 8,
            deadline: None,
            claim_lease_secs: 120,
            quiet_every_minutes: 1,
            metric_delay: PublicationDelay::default(),
        }
    }
}

/// The tick could not run at all (the CLI exits 1).
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The policies could not be loaded.
    #[error("could not load policies: {0}")]
    Load(#[source] PortError),
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceOutcome {
    /// The resource key (`pk`).
    pub resource: String,
    /// Capacity before.
    pub from: Option<u32>,
    /// Capacity decided.
    pub to: Option<u32>,
    /// `Hold`, `ScaleOut`, `ScaleIn`, `Delete`, `Skip`, `Error`.
    pub action: String,
    /// Why, in one line.
    pub reason: String,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Whether a Lambda write call succeeded for it.
    pub applied: bool,
    /// Whether it ran in dry-run.
    pub dry_run: bool,
    /// The full decision, when one was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Resources loaded.
    pub resources: usize,
    /// Capacity changes applied (or recorded, in dry-run).
    pub changed: usize,
    /// Resources with an error (invalid policy included).
    pub errors: usize,
    /// Resources skipped (disabled, in progress, claimed elsewhere, deadline).
    pub skipped: usize,
}

/// Port calls made by this tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCalls {
    /// Metric queries asked of the metrics source.
    pub metric_queries: usize,
    /// Requests the metrics source sent for them (`GetMetricData` calls:
    /// `ceil(metric_queries / 500)` plus any extra pages), when it counts them.
    #[serde(default)]
    pub metric_requests: usize,
    /// `GetProvisionedConcurrencyConfig`.
    pub get_config: usize,
    /// `PutProvisionedConcurrencyConfig`.
    pub put_config: usize,
    /// `DeleteProvisionedConcurrencyConfig`.
    pub delete_config: usize,
    /// `GetFunctionConcurrency` + `GetAccountSettings`.
    pub limits: usize,
    /// `GetAlias` + `ListTags` (rare: see [`crate::alias`]).
    #[serde(default)]
    pub aliases: usize,
    /// State and activity writes.
    pub store_writes: usize,
}

impl ApiCalls {
    fn add(&mut self, other: &ApiCalls) {
        self.metric_queries += other.metric_queries;
        self.metric_requests += other.metric_requests;
        self.get_config += other.get_config;
        self.put_config += other.put_config;
        self.delete_config += other.delete_config;
        self.limits += other.limits;
        self.aliases += other.aliases;
        self.store_writes += other.store_writes;
    }
}

/// The result of one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickSummary {
    /// The tick's `now`.
    pub now: DateTime<Utc>,
    /// Wall time spent.
    pub duration_ms: u64,
    /// Global dry-run.
    pub dry_run: bool,
    /// One entry per resource, in key order.
    pub resources: Vec<ResourceOutcome>,
    /// Counts.
    pub totals: Totals,
    /// Port calls.
    pub api_calls: ApiCalls,
}

/// The three ports a tick drives.
#[derive(Debug)]
pub struct Ports<'a, S, M, C> {
    /// Policies and state.
    pub store: &'a S,
    /// Metrics.
    pub metrics: &'a M,
    /// The Lambda control plane.
    pub lambda: &'a C,
}

/// Runs one tick at `now`.
pub async fn run_tick<S, M, C>(
    ports: Ports<'_, S, M, C>,
    now: DateTime<Utc>,
    opts: &TickOptions,
) -> Result<TickSummary, TickError>
where
    S: PolicyStore,
    M: MetricsSource,
    C: ConcurrencyApi,
{
    let started = Instant::now();
    // Two deadlines: `soft`, after which nothing new starts, and `hard`, at
    // which work still in flight is abandoned and the summary returned.
    let soft = opts.deadline.map(|d| started + d);
    let hard = opts.deadline.map(|d| started + d + in_flight_grace(d));
    let mut loaded = bounded(hard, ports.store.load(opts.segment))
        .await
        .unwrap_or_else(|| {
            Err(PortError::new(
                "LoadPolicies",
                None,
                ErrorKind::Timeout,
                "the table did not answer before the tick's deadline",
            ))
        })
        .map_err(TickError::Load)?;
    loaded.sort_by(|a, b| a.key.cmp(&b.key));
    let mut calls = ApiCalls::default();
    let shared = crate::alias::shared_pc_pairs(&loaded);

    // Quiet resources not due this minute are held without any call.
    let (loaded, resting): (Vec<StoredResource>, Vec<StoredResource>) = loaded
        .into_iter()
        .partition(|r| due(opts.quiet_every_minutes, &r.key, &r.state, now));

    // Observe: one batched metrics fetch for every policy that will be decided.
    let queries: Vec<MetricQuery> = loaded
        .iter()
        .filter_map(|r| r.policy.as_ref().ok())
        .filter(|p| p.enabled && allowed(opts, &p.resource.function))
        .flat_map(queries_for)
        .collect();
    calls.metric_queries = queries.len();
    let answers = if queries.is_empty() {
        MetricAnswers::new()
    } else {
        let before = ports.metrics.requests_sent();
        let horizon = Horizon {
            now,
            delay: opts.metric_delay,
        };
        let answers = bounded(soft, ports.metrics.fetch(&queries, horizon))
            .await
            .unwrap_or_else(|| {
                // Late metrics are unknown metrics: nothing scales in on them.
                warn!("metrics did not arrive before the tick's deadline");
                queries
                    .iter()
                    .map(|q| {
                        let why = "metrics did not arrive before the tick's deadline".to_owned();
                        (q.clone(), Demand::Unknown(why))
                    })
                    .collect()
            });
        if let (Some(b), Some(a)) = (before, ports.metrics.requests_sent()) {
            calls.metric_requests = usize::try_from(a.saturating_sub(b)).unwrap_or(usize::MAX);
        }
        answers
    };
    let unreserved = if queries.is_empty() {
        None
    } else {
        calls.limits += 1;
        match bounded(soft, ports.lambda.unreserved_concurrency()).await {
            Some(Ok(u)) => Some(u),
            Some(Err(e)) => {
                warn!(error = %e, "account settings unavailable; scale-outs limited to the band");
                None
            }
            None => {
                warn!("account settings did not arrive before the tick's deadline");
                None
            }
        }
    };

    let ctx = Ctx {
        ports: &ports,
        now,
        opts,
        answers: &answers,
        unreserved,
        shared: &shared,
    };
    let mut results: Vec<(ResourceOutcome, ApiCalls)> = futures::stream::iter(loaded)
        .map(|res| {
            let span = info_span!("resource", resource = %res.key);
            let ctx = &ctx;
            async move {
                if opts.deadline.is_some_and(|d| started.elapsed() >= d) {
                    let outcome = outcome_without_decision(
                        &res.key,
                        "Skip",
                        "tick deadline reached before this resource".into(),
                        None,
                        opts.dry_run,
                    );
                    return (outcome, ApiCalls::default());
                }
                let key = res.key.clone();
                match bounded(hard, ctx.process(res).instrument(span)).await {
                    Some(done) => done,
                    None => {
                        // Dropping the work is safe: a claim it wrote stays in
                        // the table and a later tick settles it from what
                        // Lambda reports (see `reconcile`).
                        let outcome = outcome_without_decision(
                            &key,
                            "Error",
                            "abandoned at the tick's deadline".into(),
                            Some(
                                "still in flight at the tick's deadline; abandoned (a claim it \
                                 made is settled by a later tick)"
                                    .into(),
                            ),
                            opts.dry_run,
                        );
                        (outcome, ApiCalls::default())
                    }
                }
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    results.extend(resting.iter().map(|r| {
        let outcome = outcome_without_decision(
            &r.key,
            "Hold",
            format!(
                "quiet: no step for {} min, decided every {} min",
                QUIET_AFTER_SECS / 60,
                opts.quiet_every_minutes
            ),
            None,
            opts.dry_run,
        );
        (outcome, ApiCalls::default())
    }));
    results.sort_by(|a, b| a.0.resource.cmp(&b.0.resource));

    let mut totals = Totals {
        resources: results.len(),
        ..Totals::default()
    };
    let mut resources = Vec::with_capacity(results.len());
    for (outcome, c) in results {
        calls.add(&c);
        if outcome.error.is_some() {
            totals.errors += 1;
        } else if outcome.action == "Skip" {
            totals.skipped += 1;
        } else if outcome.action != "Hold" {
            totals.changed += 1;
        }
        resources.push(outcome);
    }
    Ok(TickSummary {
        now,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        dry_run: opts.dry_run,
        resources,
        totals,
        api_calls: calls,
    })
}

/// The most time resources still in flight at the deadline get before the
/// tick abandons them and returns its summary. The Lambda driver keeps
/// `DEADLINE_MARGIN` (10 s) between the deadline and the invocation's
/// timeout; 8 s of it go to work in flight, 2 s to the summary, logs and EMF.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(8);

/// The grace for a given deadline: [`IN_FLIGHT_GRACE`], but at most a
/// quarter of the deadline, so a short deadline (an invocation that started
/// late) still ends well inside its timeout.
pub fn in_flight_grace(deadline: Duration) -> Duration {
    IN_FLIGHT_GRACE.min(deadline / 4)
}

/// Runs `work`, giving up at `until` when there is one. Tokio's timer is
/// only used with a deadline: the simulator drives ticks on a plain
/// executor and sets none.
async fn bounded<F: std::future::Future>(until: Option<Instant>, work: F) -> Option<F::Output> {
    match until {
        None => Some(work.await),
        Some(at) => tokio::time::timeout_at(tokio::time::Instant::from_std(at), work)
            .await
            .ok(),
    }
}

/// The metric queries a policy's decision needs.
pub fn queries_for(policy: &Policy) -> Vec<MetricQuery> {
    let minutes = lookback_minutes(policy);
    let mut q = vec![MetricQuery {
        resource: policy.resource.clone(),
        metric: MetricKind::ConcurrentExecutions,
        minutes,
    }];
    if policy
        .target_tracking
        .as_ref()
        .is_some_and(|tt| tt.metric == MetricKind::ProvisionedConcurrencyUtilization)
    {
        q.push(MetricQuery {
            resource: policy.resource.clone(),
            metric: MetricKind::ProvisionedConcurrencyUtilization,
            minutes,
        });
    }
    q
}

/// Whether the resource `key` with `state` is decided at `now`: always when
/// it is active (a step in the last [`QUIET_AFTER_SECS`] or a claim in
/// flight), otherwise once every `every` minutes, at a minute fixed by its
/// key so that quiet resources spread evenly over the minutes.
pub fn due(every: u32, key: &str, state: &State, now: DateTime<Utc>) -> bool {
    if every <= 1 || state.pending.is_some() {
        return true;
    }
    if state
        .last_change_at()
        .is_some_and(|t| (now - t).num_seconds() < QUIET_AFTER_SECS)
    {
        return true;
    }
    // FNV-1a: stable across Rust releases, unlike the std hasher.
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let minute = u64::try_from(now.timestamp().div_euclid(60)).unwrap_or(0);
    (minute.wrapping_add(h)) % u64::from(every) == 0
}

/// Whether `PCSCALE_ALLOWED_FUNCTIONS` lets pcscale touch `function`. An
/// allow-list with no entry allows nothing.
pub fn allowed(opts: &TickOptions, function: &str) -> bool {
    opts.allowed_functions.as_ref().is_none_or(|globs| {
        globs
            .iter()
            .any(|g| wildmatch::WildMatch::new(g.trim()).matches(function))
    })
}

/// Why the operator's guard-rails forbid a Lambda write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefused {
    /// `PCSCALE_DRY_RUN` (or `--dry-run`) is set.
    #[error("PCSCALE_DRY_RUN is set, which forbids Lambda write calls")]
    DryRun,
    /// The function is outside `PCSCALE_ALLOWED_FUNCTIONS`.
    #[error("function {0} is not in PCSCALE_ALLOWED_FUNCTIONS")]
    NotAllowed(String),
}

/// The one gate every Lambda write passes, from any verb (the tick, `policy
/// delete --delete-config`): the operator's dry run and allow-list.
pub fn lambda_write_allowed(opts: &TickOptions, function: &str) -> Result<(), WriteRefused> {
    if opts.dry_run {
        return Err(WriteRefused::DryRun);
    }
    if !allowed(opts, function) {
        return Err(WriteRefused::NotAllowed(function.to_owned()));
    }
    Ok(())
}

fn outcome_without_decision(
    key: &str,
    action: &str,
    reason: String,
    error: Option<String>,
    dry_run: bool,
) -> ResourceOutcome {
    ResourceOutcome {
        resource: key.to_owned(),
        from: None,
        to: None,
        action: action.to_owned(),
        reason,
        error,
        applied: false,
        dry_run,
        decision: None,
    }
}

struct Ctx<'a, 'p, S, M, C> {
    ports: &'a Ports<'p, S, M, C>,
    now: DateTime<Utc>,
    opts: &'a TickOptions,
    answers: &'a MetricAnswers,
    unreserved: Option<u32>,
    /// Version resources beside an alias policy of the same function
    /// ([`crate::alias::shared_pc_pairs`]), with those aliases.
    shared: &'a HashMap<String, Vec<String>>,
}

impl<S: PolicyStore, M: MetricsSource, C: ConcurrencyApi> Ctx<'_, '_, S, M, C> {
    async fn process(&self, res: StoredResource) -> (ResourceOutcome, ApiCalls) {
        let mut calls = ApiCalls::default();
        let outcome = self.process_inner(res, &mut calls).await;
        (outcome, calls)
    }

    async fn process_inner(&self, res: StoredResource, calls: &mut ApiCalls) -> ResourceOutcome {
        let now = self.now;
        let mut res = res;
        match self.repair(&res.key, &res.state, calls).await {
            Ok(Some(fixed)) => res.state = fixed,
            Ok(None) => {}
            Err(outcome) => return *outcome,
        }
        let policy = match res.policy {
            Ok(p) => p,
            Err(invalid) => {
                let msg = invalid.to_string();
                warn!(error = %msg, "invalid policy skipped");
                // Record once per distinct problem, not every minute.
                if res.state.last_reason.as_deref() != Some(msg.as_str()) {
                    self.record_error(
                        &res.key,
                        &res.state,
                        None,
                        None,
                        "InvalidPolicy",
                        &msg,
                        calls,
                    )
                    .await;
                    let next = noted(&res.state, now, &msg);
                    self.write_state(&res.key, res.state.version, &next, calls)
                        .await
                        .ok();
                }
                return outcome_without_decision(
                    &res.key,
                    "Error",
                    "invalid policy".into(),
                    Some(msg),
                    self.opts.dry_run,
                );
            }
        };
        if !policy.enabled {
            return outcome_without_decision(
                &res.key,
                "Skip",
                "policy disabled".into(),
                None,
                self.opts.dry_run,
            );
        }
        if !allowed(self.opts, &policy.resource.function) {
            let msg = format!(
                "{}; refused",
                WriteRefused::NotAllowed(policy.resource.function.clone())
            );
            return outcome_without_decision(
                &res.key,
                "Error",
                "refused by allow-list".into(),
                Some(msg),
                self.opts.dry_run,
            );
        }
        let dry_run = self.opts.dry_run || policy.dry_run;
        if let Some(aliases) = self.shared.get(&res.key)
            && let Some(outcome) = self
                .shared_with_alias(
                    &res.key,
                    &res.state,
                    &policy.resource,
                    aliases,
                    dry_run,
                    calls,
                )
                .await
        {
            return outcome;
        }

        calls.get_config += 1;
        let current = match self.ports.lambda.get_config(&policy.resource).await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                // Recorded once per distinct problem (an alias removed stays
                // removed: one activity item, not one a minute).
                if res.state.last_reason.as_deref() != Some(msg.as_str()) {
                    self.record_error(&res.key, &res.state, None, None, "Error", &msg, calls)
                        .await;
                    let next = noted(&res.state, now, &msg);
                    self.write_state(&res.key, res.state.version, &next, calls)
                        .await
                        .ok();
                }
                return outcome_without_decision(
                    &res.key,
                    "Error",
                    "could not read the current config".into(),
                    Some(msg),
                    dry_run,
                );
            }
        };

        let mut state = res.state.clone();
        // A claim in flight elsewhere, or one left behind by a tick that died
        // or whose state write failed after its Put.
        if let Some(p) = state.pending.clone() {
            let observed = current.as_ref().map_or(0, |c| c.requested);
            // Lambda already shows the claimed capacity: the step happened.
            // The first tick to see the claim leaves it to its claimant,
            // which may be about to commit it (settling it here would make
            // that commit fail and the step be reported twice); a later one
            // settles it at once rather than after the lease (a commit that
            // failed after a successful Put). Otherwise the lease, measured
            // from the first sighting on the judging ticks' clocks only,
            // decides when the claimant is gone: the claimant's clock never
            // enters (see `Pending::lease`).
            let shown = observed == p.to;
            let claim = format!("another tick's claim {} -> {}", p.from, p.to);
            match p.lease(now, self.opts.claim_lease_secs) {
                Lease::Unseen => {
                    let seen = State {
                        pending: Some(Pending {
                            seen_at: Some(now),
                            ..p
                        }),
                        ..state.clone()
                    };
                    // Same Version: the claimant's commit still succeeds.
                    self.write_state(&res.key, state.version, &seen, calls)
                        .await
                        .ok();
                    let why = if shown {
                        format!("{claim} is applied; its claimant commits it")
                    } else {
                        format!("{claim} is in flight")
                    };
                    return outcome_without_decision(&res.key, "Skip", why, None, dry_run);
                }
                Lease::Held(age) if !shown => {
                    return outcome_without_decision(
                        &res.key,
                        "Skip",
                        format!("{claim} is in flight (seen unsettled for {age}s)"),
                        None,
                        dry_run,
                    );
                }
                Lease::Held(_) | Lease::Expired(_) => {}
            }
            match self.reconcile(&res.key, &state, observed, calls).await {
                Some(settled) => state = settled,
                // Never claim over a claim that could not be settled: its
                // step would vanish from the state.
                None => {
                    return outcome_without_decision(
                        &res.key,
                        "Skip",
                        format!("could not settle {claim}; retried next tick"),
                        None,
                        dry_run,
                    );
                }
            }
        }

        state = self
            .note_platform(&policy.resource, state, current.as_ref(), dry_run, calls)
            .await;

        // A FAILED config is decided like a READY one (a new Put is the way
        // out); when the decision leaves it as it is, the summary lists it
        // as an error (DESIGN.md §3: "reported with its StatusReason") rather
        // than a quiet Hold. `note_platform` records it in the activity log.
        let failed = current
            .as_ref()
            .filter(|c| c.status == PcStatus::Failed)
            .map(|c| {
                format!(
                    "provisioned concurrency config FAILED: {}",
                    c.status_reason
                        .as_deref()
                        .unwrap_or("no StatusReason given")
                )
            });
        let obs = Observation {
            demand: self.answer(&policy, MetricKind::ConcurrentExecutions),
            utilization: policy
                .target_tracking
                .as_ref()
                .filter(|tt| tt.metric == MetricKind::ProvisionedConcurrencyUtilization)
                .map(|_| self.answer(&policy, MetricKind::ProvisionedConcurrencyUtilization)),
            current,
            limits: Limits {
                guard_rail: self.opts.max_per_function,
                reserved: None,
                unreserved: self.unreserved,
            },
        };
        let mut decision = decide(&policy, &state, &obs, now);
        // Reserved concurrency only caps increases: read it only then, to stay
        // well inside the 15 requests/s control-plane quota. A function with
        // reserved concurrency draws PC from its reservation, not from the
        // account pool, so a step held back by the account headroom must be
        // re-decided once the reservation is known.
        if needs_reserved_concurrency(&decision) {
            calls.limits += 1;
            match self
                .ports
                .lambda
                .reserved_concurrency(&policy.resource.function)
                .await
            {
                Ok(reserved) if reserved.is_some() => {
                    let obs = Observation {
                        limits: Limits {
                            reserved,
                            ..obs.limits.clone()
                        },
                        ..obs
                    };
                    decision = decide(&policy, &state, &obs, now);
                }
                Ok(_) => {}
                Err(e) => {
                    return self
                        .step_failed(&res.key, &state, &decision, e.to_string(), dry_run, calls)
                        .await;
                }
            }
        }

        if !decision.action.changes_capacity() {
            return decided(
                &res.key,
                &decision,
                action_name(decision.action),
                failed,
                false,
                dry_run,
            );
        }
        if dry_run {
            // Decide and record what would be done, but never touch the
            // applied state (Capacity, cooldown timestamps): a later live
            // tick must see what was really applied, or it would report a
            // false Drift and honour cooldowns of steps never taken. The
            // marker in LastReason records the step once, not every minute
            // it stays wanted.
            let marker = dry_run_marker(&decision);
            if state.last_reason.as_deref() != Some(marker.as_str()) {
                let next = state.released(now, &marker);
                if matches!(
                    self.write_state(&res.key, state.version, &next, calls)
                        .await,
                    Ok(WriteOutcome::Written)
                ) {
                    self.record(&res.key, &decision, "dry-run", calls).await;
                }
            }
            return decided(
                &res.key,
                &decision,
                action_name(decision.action),
                None,
                false,
                true,
            );
        }

        // A resource whose writes keep being refused (AccessDenied, an
        // alias and its version both scaled, ...) is not retried every tick.
        if let Some(left) = state.backoff_remaining(now) {
            let msg = format!(
                "{} Lambda writes refused in a row (last: {}); backing off, next try in {left}s",
                state.failures,
                state.last_reason.as_deref().unwrap_or("unknown")
            );
            return decided(&res.key, &decision, "Skip", Some(msg), false, dry_run);
        }

        // Claim, apply, commit.
        let claimed = state.claimed(&decision, now);
        match self
            .write_state(&res.key, state.version, &claimed, calls)
            .await
        {
            Ok(WriteOutcome::Written) => {}
            Ok(WriteOutcome::Conflict) => {
                return decided(&res.key, &decision, "Skip", None, false, dry_run)
                    .with_reason("another tick claimed this resource first");
            }
            Err(e) => {
                let msg = format!("could not claim: {e}");
                return decided(&res.key, &decision, "Error", Some(msg), false, dry_run);
            }
        }
        let applied = if decision.action == Action::Delete {
            calls.delete_config += 1;
            self.ports.lambda.delete_config(&policy.resource).await
        } else {
            calls.put_config += 1;
            self.ports
                .lambda
                .put_config(&policy.resource, decision.to)
                .await
        };
        let verdict = match applied {
            Ok(()) => Verdict::Applied(None),
            Err(e) if outcome_unknown(&e) => {
                // 5xx, an answer that could not be read, or no answer: Lambda
                // may have applied the change before failing to say so. Ask
                // it instead of guessing, so that a step that happened is
                // neither released (its cooldown lost) nor taken again.
                calls.get_config += 1;
                match self.ports.lambda.get_config(&policy.resource).await {
                    Ok(c) if c.as_ref().map_or(0, |c| c.requested) == decision.to => {
                        Verdict::Applied(Some(e))
                    }
                    Ok(_) => Verdict::Failed(e),
                    Err(check) => Verdict::Unknown(e, check),
                }
            }
            Err(e) => Verdict::Failed(e),
        };
        match verdict {
            Verdict::Applied(answer) => {
                let next = claimed.committed(&decision, now);
                let error = match self
                    .write_state(&res.key, claimed.version, &next, calls)
                    .await
                {
                    Ok(WriteOutcome::Written) => None,
                    Ok(WriteOutcome::Conflict) => {
                        Some("state changed during apply; the next tick reconciles it".to_owned())
                    }
                    Err(e) => Some(format!(
                        "applied, but the state write failed ({e}); the next tick reconciles it"
                    )),
                };
                let outcome = match &answer {
                    None => "applied".to_owned(),
                    Some(e) => {
                        format!("applied (Lambda answered {e}, then reported the new capacity)")
                    }
                };
                self.record(&res.key, &decision, &outcome, calls).await;
                decided(
                    &res.key,
                    &decision,
                    action_name(decision.action),
                    error,
                    true,
                    dry_run,
                )
            }
            Verdict::Failed(e) => {
                let msg = e.to_string();
                let next = claimed.failed(now, &msg);
                self.write_state(&res.key, claimed.version, &next, calls)
                    .await
                    .ok();
                if state.failures > 0 && state.last_reason.as_deref() == Some(msg.as_str()) {
                    // The same refusal again: recorded once, not every try.
                    return decided(&res.key, &decision, "Error", Some(msg), false, dry_run);
                }
                self.step_failed(&res.key, &state, &decision, msg, dry_run, calls)
                    .await
            }
            Verdict::Unknown(e, check) => {
                // Neither released nor committed: the claim stays, and a later
                // tick settles it from what Lambda then reports.
                let msg = format!(
                    "{e}; the outcome is unknown (checking failed: {check}); the claim is kept \
                     and a later tick reconciles it"
                );
                self.step_failed(&res.key, &state, &decision, msg, dry_run, calls)
                    .await
            }
        }
    }

    /// State that lies — a `Version` no write can be conditioned on
    /// (missing, 0, negative, fractional, a string, beyond `MAX_VERSION`),
    /// or timestamps far in the future that would hold a cooldown for as
    /// long — is reported once (a `CorruptState` activity) and replaced, so
    /// the resource is neither stalled nor silently skipped. `Ok(None)`:
    /// nothing to repair; `Err`: this resource's outcome for this tick.
    async fn repair(
        &self,
        key: &str,
        state: &State,
        calls: &mut ApiCalls,
    ) -> Result<Option<State>, Box<ResourceOutcome>> {
        let (future, mut fixed) = state.future_timestamps(self.now);
        // A claim in flight is never rewritten (its claimant's commit is
        // conditioned on its Version); its timestamps wait for it.
        let future = if state.pending.is_some() && state.defect.is_none() {
            Vec::new()
        } else {
            future
        };
        let mut why: Vec<String> = future
            .iter()
            .map(|name| {
                format!(
                    "state.{name} is more than {} min after this tick's now; set to now",
                    crate::core::state::FUTURE_TOLERANCE_SECS / 60
                )
            })
            .collect();
        fixed.defect = None;
        let written = match &state.defect {
            Some(d) => {
                why.insert(
                    0,
                    format!("{}; the state item is replaced (Version 1)", d.why),
                );
                fixed.version = 1;
                calls.store_writes += 1;
                self.ports.store.replace_state(key, d, &fixed).await
            }
            None if !future.is_empty() => {
                fixed.version = state.next_version();
                self.write_state(key, state.version, &fixed, calls).await
            }
            None => return Ok(None),
        };
        let why = why.join("; ");
        warn!(problem = %why, "corrupt state");
        match written {
            Ok(WriteOutcome::Written) => {
                let activity = self.note(key, "CorruptState", None, None, why, "repaired");
                calls.store_writes += 1;
                if let Err(e) = self.ports.store.record(&activity).await {
                    warn!(error = %e, "activity write failed");
                }
                Ok(Some(fixed))
            }
            Ok(WriteOutcome::Conflict) => Err(Box::new(outcome_without_decision(
                key,
                "Skip",
                format!("corrupt state ({why}) was repaired by another tick first"),
                None,
                self.opts.dry_run,
            ))),
            Err(e) => Err(Box::new(outcome_without_decision(
                key,
                "Error",
                "corrupt state".into(),
                Some(format!("corrupt state ({why}) could not be repaired: {e}")),
                self.opts.dry_run,
            ))),
        }
    }

    /// Settles a claim left behind: if Lambda shows the claimed capacity,
    /// the step happened (cooldowns advance from the claim time); otherwise
    /// it did not. Recorded in the activity log, since the tick that claimed
    /// it may have died before recording anything. `None` when the settled
    /// state could not be written (another tick got there first, or the
    /// table did not answer).
    async fn reconcile(
        &self,
        key: &str,
        state: &State,
        observed: u32,
        calls: &mut ApiCalls,
    ) -> Option<State> {
        let Some(p) = state.pending.clone() else {
            return Some(state.clone());
        };
        let applied = observed == p.to && p.to != p.from;
        let next = if applied {
            let action = if p.to > p.from {
                Action::ScaleOut
            } else if p.to == 0 {
                Action::Delete
            } else {
                Action::ScaleIn
            };
            let mut s = state.clone();
            s.pending = None;
            s.failures = 0;
            s.version = state.next_version();
            s.capacity = Some(p.to);
            match action {
                Action::ScaleOut => s.last_scale_out_at = Some(p.claimed_at),
                _ => s.last_scale_in_at = Some(p.claimed_at),
            }
            s.last_reason = Some(format!(
                "reconciled: step {} -> {} claimed at {} was applied",
                p.from, p.to, p.claimed_at
            ));
            s
        } else {
            state.released(
                self.now,
                &format!(
                    "reconciled: step {} -> {} claimed at {} was not applied",
                    p.from, p.to, p.claimed_at
                ),
            )
        };
        match self.write_state(key, state.version, &next, calls).await {
            Ok(WriteOutcome::Written) => {
                let activity = Activity {
                    resource: key.to_owned(),
                    at: self.now,
                    from: Some(p.from),
                    to: Some(p.to),
                    action: "Reconcile".to_owned(),
                    cause: format!(
                        "claim {} -> {} of {} left unsettled; Lambda reports {observed}",
                        p.from, p.to, p.claimed_at
                    ),
                    outcome: if applied {
                        "reconciled: applied".to_owned()
                    } else {
                        "reconciled: not applied".to_owned()
                    },
                    detail: None,
                };
                calls.store_writes += 1;
                if let Err(e) = self.ports.store.record(&activity).await {
                    warn!(error = %e, "activity write failed");
                }
                Some(next)
            }
            Ok(WriteOutcome::Conflict) | Err(_) => None,
        }
    }

    /// Records what changed on Lambda's side since pcscale last wrote the
    /// state: provisioned concurrency changed or deleted outside pcscale
    /// (drift; the state then takes the observed capacity, so it is recorded
    /// once), and a config Lambda reports `FAILED` (once per reason). Not in
    /// dry-run, which observes but never adopts (the next live tick records it).
    async fn note_platform(
        &self,
        resource: &ResourceId,
        state: State,
        current: Option<&CurrentPc>,
        dry_run: bool,
        calls: &mut ApiCalls,
    ) -> State {
        let key = resource.to_string();
        let key = key.as_str();
        let observed = current.map_or(0, |c| c.requested);
        let mut notes = Vec::new();
        let mut next = state.clone();
        if !dry_run
            && state.pending.is_none()
            && let Some(recorded) = state.capacity
            && recorded != observed
        {
            let what = if current.is_some() {
                "changed"
            } else {
                "deleted"
            };
            let mut cause = format!(
                "provisioned concurrency {what} {DRIFT_MARK}: it last applied {recorded}, \
                 Lambda reports {observed}"
            );
            // The state still holds the previous drift (pcscale took no step
            // since): something else keeps managing this alias.
            if state
                .last_reason
                .as_deref()
                .is_some_and(|r| r.contains(DRIFT_MARK))
            {
                warn!(
                    resource = key,
                    "capacity changed outside pcscale twice in a row"
                );
                cause.push_str(
                    "; the second time in a row: is an Application Auto Scaling scalable target \
                     still registered, or a deploy setting ProvisionedConcurrencyConfig? \
                     (README: Migrating from AWS Application Auto Scaling)",
                );
            }
            let (origin, check) = self.drift_origin(resource, &state, calls).await;
            if !origin.is_empty() {
                warn!(resource = key, origin = %origin, "capacity changed outside pcscale by a deploy?");
                cause.push_str(&origin);
            }
            if check.is_some() {
                next.alias_check = check;
            }
            next.capacity = Some(observed);
            next.last_reason = Some(cause.clone());
            notes.push(self.note(
                key,
                "Drift",
                Some(recorded),
                Some(observed),
                cause,
                "observed",
            ));
        }
        if let Some(c) = current.filter(|c| c.status == PcStatus::Failed) {
            let msg = format!(
                "config FAILED: {}",
                c.status_reason
                    .as_deref()
                    .unwrap_or("no StatusReason given")
            );
            if state.last_reason.as_deref() != Some(msg.as_str()) {
                next.last_reason = Some(msg.clone());
                let outcome = format!("failed: {msg}");
                notes.push(self.note(
                    key,
                    "ConfigFailed",
                    Some(c.requested),
                    Some(c.requested),
                    msg,
                    &outcome,
                ));
            }
        }
        if notes.is_empty() {
            return state;
        }
        next.version = state.next_version();
        match self.write_state(key, state.version, &next, calls).await {
            Ok(WriteOutcome::Written) => {
                for a in &notes {
                    calls.store_writes += 1;
                    if let Err(e) = self.ports.store.record(a).await {
                        warn!(error = %e, "activity write failed");
                    }
                }
                next
            }
            // Another tick got there first (its claim wins the resource), or
            // the table did not answer: noted by a later tick.
            Ok(WriteOutcome::Conflict) | Err(_) => state,
        }
    }

    /// A version resource that may share PC with an alias of its function
    /// (`aliases`): `GetAlias` (cached in the state, [`crate::alias`]); while
    /// one of them points to this version, the version is left alone and the
    /// pair reported once. `None`: no alias points here (or Lambda could not
    /// say), so the resource is decided as usual.
    async fn shared_with_alias(
        &self,
        key: &str,
        state: &State,
        resource: &ResourceId,
        aliases: &[String],
        dry_run: bool,
        calls: &mut ApiCalls,
    ) -> Option<ResourceOutcome> {
        let found = crate::alias::alias_pointing_here(
            self.ports.lambda,
            &resource.function,
            &resource.qualifier,
            aliases,
            state.alias_check.as_ref(),
            self.now,
        )
        .await;
        let (alias, check, n) = match found {
            Ok(f) => f,
            // Not asked again before the check expires (a role without
            // lambda:GetAlias must not cost a refused call every tick).
            Err(e) => {
                warn!(error = %e, "could not read the alias beside this version; decided as usual");
                (None, Some(crate::alias::unanswered(aliases, self.now)), 1)
            }
        };
        calls.aliases += n;
        let msg = alias
            .as_deref()
            .map(|a| crate::alias::shared_pc_message(&resource.function, &resource.qualifier, a));
        let first = msg
            .as_deref()
            .is_some_and(|m| state.last_reason.as_deref() != Some(m));
        if check.is_some() || first {
            let mut next = match &msg {
                Some(m) if first => noted(state, self.now, m),
                _ => State {
                    version: state.next_version(),
                    ..state.clone()
                },
            };
            if check.is_some() {
                next.alias_check = check;
            }
            let written = self.write_state(key, state.version, &next, calls).await;
            if let (Some(m), Ok(WriteOutcome::Written)) = (&msg, written)
                && first
            {
                warn!(resource = %key, "{m}");
                self.record_error(key, state, None, None, "Error", m, calls)
                    .await;
            }
        }
        let msg = msg?;
        Some(outcome_without_decision(
            key,
            "Error",
            "shares provisioned concurrency with an alias".into(),
            Some(msg),
            dry_run,
        ))
    }

    /// The origin of a drift on `resource` ([`crate::alias::drift_origin`]):
    /// the text to append to its cause and the check to store. Lambda not
    /// answering costs the drift its explanation, nothing else.
    async fn drift_origin(
        &self,
        resource: &ResourceId,
        state: &State,
        calls: &mut ApiCalls,
    ) -> (String, Option<crate::core::state::AliasCheck>) {
        match crate::alias::drift_origin(
            self.ports.lambda,
            &resource.function,
            &resource.qualifier,
            state.alias_check.as_ref(),
            self.now,
        )
        .await
        {
            Ok((text, check, n)) => {
                calls.aliases += n;
                (text, check)
            }
            Err(e) => {
                calls.aliases += 1;
                warn!(error = %e, "could not read the alias or its tags after a drift");
                let asked = std::slice::from_ref(&resource.qualifier);
                (
                    String::new(),
                    Some(crate::alias::unanswered(asked, self.now)),
                )
            }
        }
    }

    fn note(
        &self,
        key: &str,
        action: &str,
        from: Option<u32>,
        to: Option<u32>,
        cause: String,
        outcome: &str,
    ) -> Activity {
        Activity {
            resource: key.to_owned(),
            at: self.now,
            from,
            to,
            action: action.to_owned(),
            cause,
            outcome: outcome.to_owned(),
            detail: None,
        }
    }

    fn answer(&self, policy: &Policy, metric: MetricKind) -> Demand {
        let q = MetricQuery {
            resource: policy.resource.clone(),
            metric,
            minutes: lookback_minutes(policy),
        };
        self.answers
            .get(&q)
            .cloned()
            .unwrap_or_else(|| Demand::Unknown(format!("no answer for {}", metric.as_str())))
    }

    /// A step that did not happen (or whose outcome is unknown): recorded
    /// as an error, reported with the decision it was for.
    async fn step_failed(
        &self,
        key: &str,
        state: &State,
        decision: &Decision,
        msg: String,
        dry_run: bool,
        calls: &mut ApiCalls,
    ) -> ResourceOutcome {
        self.record_error(
            key,
            state,
            Some(decision.from),
            Some(decision.to),
            "Error",
            &msg,
            calls,
        )
        .await;
        decided(key, decision, "Error", Some(msg), false, dry_run)
    }

    async fn write_state(
        &self,
        key: &str,
        expected: u64,
        next: &State,
        calls: &mut ApiCalls,
    ) -> Result<WriteOutcome, PortError> {
        calls.store_writes += 1;
        let r = self.ports.store.write_state(key, expected, next).await;
        if let Err(e) = &r {
            warn!(error = %e, "state write failed");
        }
        r
    }

    async fn record(&self, key: &str, d: &Decision, outcome: &str, calls: &mut ApiCalls) {
        let activity = Activity {
            resource: key.to_owned(),
            at: self.now,
            from: Some(d.from),
            to: Some(d.to),
            action: action_name(d.action).to_owned(),
            cause: d.reason.summary.clone(),
            outcome: outcome.to_owned(),
            detail: serde_json::to_value(&d.reason).ok(),
        };
        calls.store_writes += 1;
        if let Err(e) = self.ports.store.record(&activity).await {
            warn!(error = %e, "activity write failed");
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_error(
        &self,
        key: &str,
        _state: &State,
        from: Option<u32>,
        to: Option<u32>,
        action: &str,
        msg: &str,
        calls: &mut ApiCalls,
    ) {
        let activity = Activity {
            resource: key.to_owned(),
            at: self.now,
            from,
            to,
            action: action.to_owned(),
            cause: msg.to_owned(),
            outcome: format!("failed: {msg}"),
            detail: None,
        };
        calls.store_writes += 1;
        if let Err(e) = self.ports.store.record(&activity).await {
            warn!(error = %e, "activity write failed");
        }
    }
}

/// `state` with a problem noted (`LastReason`), the claim and everything
/// else kept: an error seen while another tick's claim is in flight must not
/// erase that claim.
fn noted(state: &State, now: DateTime<Utc>, msg: &str) -> State {
    State {
        version: state.next_version(),
        last_decision_at: Some(now),
        last_reason: Some(msg.to_owned()),
        ..state.clone()
    }
}

/// What became of a Lambda write.
enum Verdict {
    /// Applied; with the error Lambda answered when it was confirmed afterwards.
    Applied(Option<PortError>),
    /// Refused or not applied.
    Failed(PortError),
    /// Failed ambiguously, and checking failed too.
    Unknown(PortError, PortError),
}

/// Whether a failed Lambda write may nevertheless have been applied. A
/// throttle (429) or any other 4xx but 409 is a refusal (the request was
/// rejected before any change); a 5xx, a 409, an unreadable answer or a
/// timeout says nothing about what Lambda did, so Lambda is asked.
fn outcome_unknown(e: &PortError) -> bool {
    // A 409 (`ResourceConflictException`) too: it is what Lambda answers an
    // SDK retry of a Put whose first attempt it is still allocating, after
    // that attempt's answer was lost. Only Lambda can say which it was.
    matches!(
        e.kind,
        ErrorKind::Service | ErrorKind::Timeout | ErrorKind::Conflict
    )
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Hold => "Hold",
        Action::ScaleOut => "ScaleOut",
        Action::ScaleIn => "ScaleIn",
        Action::Delete => "Delete",
        Action::Skip => "Skip",
    }
}

fn decided(
    key: &str,
    d: &Decision,
    action: &str,
    error: Option<String>,
    applied: bool,
    dry_run: bool,
) -> ResourceOutcome {
    ResourceOutcome {
        resource: key.to_owned(),
        from: Some(d.from),
        to: Some(d.to),
        action: action.to_owned(),
        reason: d.reason.summary.clone(),
        error,
        applied,
        dry_run,
        decision: Some(d.clone()),
    }
}

impl ResourceOutcome {
    fn with_reason(mut self, reason: &str) -> Self {
        self.reason = reason.to_owned();
        self
    }
}

/// Index of outcomes by resource key (handy for drivers and tests).
pub fn by_resource(summary: &TickSummary) -> HashMap<&str, &ResourceOutcome> {
    summary
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r))
        .collect()
}

/// What every `Drift` cause (and the state's `LastReason` after it) says.
const DRIFT_MARK: &str = "outside pcscale";

/// Whether the tick reads the function's reserved concurrency and decides
/// again: for an increase (reserved concurrency caps increases only), or a
/// step the account headroom held back (a function with reserved concurrency
/// draws PC from its reservation, not the account pool). `explain` asks the
/// same question, so that it predicts the tick.
pub fn needs_reserved_concurrency(decision: &Decision) -> bool {
    decision.to > decision.from
        || decision
            .reason
            .clamps
            .iter()
            .any(|c| c.by == "account-headroom")
}

/// What a dry-run tick keeps in `LastReason` for the step it would take.
fn dry_run_marker(decision: &Decision) -> String {
    format!(
        "dry-run: would {} {} -> {}",
        action_name(decision.action),
        decision.from,
        decision.to,
    )
}

#[cfg(test)]
mod quiet_tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 / 60 * 60 + minute * 60, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }

    #[test]
    fn a_quiet_resource_is_decided_once_every_n_minutes() {
        let state = State::default();
        let hits = (0..30)
            .filter(|m| due(3, "function:f:live", &state, at(*m)))
            .count();
        assert_eq!(hits, 10);
        assert!((0..30).all(|m| due(1, "function:f:live", &state, at(m))));
    }

    #[test]
    fn a_recent_step_or_a_claim_in_flight_keeps_the_resource_decided_every_minute() {
        let recent = State {
            last_scale_out_at: Some(at(0)),
            ..State::default()
        };
        assert!((1..30).all(|m| due(5, "function:f:live", &recent, at(m))));
        // After QUIET_AFTER_SECS it rests again.
        let later = (31..61)
            .filter(|m| due(5, "function:f:live", &recent, at(*m)))
            .count();
        assert_eq!(later, 6);
        let claimed = State {
            pending: Some(crate::core::state::Pending {
                from: 0,
                to: 3,
                claimed_at: at(0),
                seen_at: None,
            }),
            ..State::default()
        };
        assert!((0..10).all(|m| due(5, "function:f:live", &claimed, at(m))));
    }

    #[test]
    fn quiet_resources_spread_over_the_minutes() {
        let state = State::default();
        let per_minute: Vec<usize> = (0..3)
            .map(|m| {
                (0..300)
                    .filter(|i| due(3, &format!("function:f{i}:live"), &state, at(m)))
                    .count()
            })
            .collect();
        assert_eq!(per_minute.iter().sum::<usize>(), 300);
        assert!(
            per_minute.iter().all(|&n| (70..=130).contains(&n)),
            "{per_minute:?}"
        );
    }
}

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
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{Instrument, info_span, warn};

use crate::core::decide::{
    Action, Ceiling, CurrentPc, Decision, Demand, Limits, Observation, PcStatus, decide,
    lookback_minutes,
};
use crate::core::policy::{MetricKind, Policy, ResourceId};
use crate::core::state::{ClaimVerdict, MemoryRead, Pending, ReservedRead, State};
use crate::core::units::Secs;
use crate::core::window::{Horizon, PublicationDelay};
use crate::core::{coldstart, history};
use crate::ports::{
    Activity, ConcurrencyApi, ErrorKind, MetricAnswers, MetricQuery, MetricsSource, PolicyStore,
    PortError, Ports, Segment, StoredResource, WriteOutcome,
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
    pub claim_lease_secs: Secs,
    /// Decide a *quiet* resource (no step in the last
    /// [`QUIET_AFTER_SECS`], no claim in flight) only every this many minutes,
    /// staggered by its key (`PCSCALE_QUIET_EVERY_MINUTES`; 1 = every tick).
    /// Each decision costs a `GetMetricData` metric ($0.01 per 1,000); quiet
    /// aliases rarely need it.
    pub quiet_every_minutes: u32,
    /// How long after a minute ends CloudWatch has surely published it
    /// (`PCSCALE_METRIC_DELAY_SECONDS`): newer minutes without a datapoint
    /// are not yet published, not idle (see [`crate::core::window`]).
    pub metric_delay: PublicationDelay,
    /// Re-read each alias's config from Lambda (drift made outside pcscale)
    /// every this many minutes, at a minute fixed by a hash of its key
    /// (`PCSCALE_RECONCILE_MINUTES`, deployed default
    /// [`DEFAULT_RECONCILE_MINUTES`]). In between, pcscale's own state is
    /// trusted for the current capacity. 1 = read every alias every tick.
    pub reconcile_every_minutes: u32,
    /// Lambda control-plane requests one tick may send
    /// (`PCSCALE_LAMBDA_BUDGET`, deployed default [`DEFAULT_LAMBDA_BUDGET`]);
    /// `None`: no budget. Spent on writes first, then confirmations, then
    /// reconciles; what does not fit is carried to the next tick.
    pub lambda_budget: Option<u32>,
}

/// A resource with no capacity change for this long is quiet.
pub const QUIET_AFTER_SECS: Secs = Secs(30 * 60);

/// The deployed reconcile period, minutes (`PCSCALE_RECONCILE_MINUTES`): a
/// drift made outside pcscale is found within this long.
pub const DEFAULT_RECONCILE_MINUTES: u32 = 15;

/// The deployed control-plane budget per tick (`PCSCALE_LAMBDA_BUDGET`):
/// 120 requests a minute, 2 requests/s averaged over the minute, under a
/// seventh of the account's 15 requests/s that deploys share.
pub const DEFAULT_LAMBDA_BUDGET: u32 = 120;

impl Default for TickOptions {
    /// The exhaustive tick (the simulator's and the tests'): every alias read
    /// every tick, no budget. The Lambda and `pcscale tick` start from
    /// [`crate::lambda::tick_options_from_env`], whose defaults are
    /// [`DEFAULT_RECONCILE_MINUTES`] and [`DEFAULT_LAMBDA_BUDGET`].
    fn default() -> Self {
        TickOptions {
            dry_run: false,
            segment: None,
            max_per_function: None,
            allowed_functions: None,
            concurrency: 8,
            deadline: None,
            claim_lease_secs: Secs(120),
            quiet_every_minutes: 1,
            metric_delay: PublicationDelay::default(),
            reconcile_every_minutes: 1,
            lambda_budget: None,
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

/// What the tick did with one resource (`action` in the JSON summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verb {
    /// Decided; nothing to change.
    Hold,
    /// Capacity raised (or would be, in dry-run).
    ScaleOut,
    /// Capacity lowered.
    ScaleIn,
    /// Config deleted.
    Delete,
    /// Not decided this tick (disabled, in flight elsewhere, deadline, ...).
    Skip,
    /// Something went wrong; see `error`.
    Error,
    /// The control-plane budget was spent before this resource's read or
    /// write: carried to the next tick, first in line there.
    Carried,
}

impl Verb {
    /// The name in the summary and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Hold => "Hold",
            Verb::ScaleOut => "ScaleOut",
            Verb::ScaleIn => "ScaleIn",
            Verb::Delete => "Delete",
            Verb::Skip => "Skip",
            Verb::Error => "Error",
            Verb::Carried => "Carried",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<Action> for Verb {
    fn from(a: Action) -> Self {
        match a {
            Action::Hold => Verb::Hold,
            Action::ScaleOut => Verb::ScaleOut,
            Action::ScaleIn => Verb::ScaleIn,
            Action::Delete => Verb::Delete,
            Action::Skip => Verb::Skip,
        }
    }
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
    /// What the tick did.
    pub action: Verb,
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
    /// Resources whose read or write did not fit the control-plane budget.
    #[serde(default)]
    pub carried: usize,
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
    /// `GetFunctionConfiguration` (the function's memory, read once a day
    /// per alias with a cold-start level: see [`crate::core::state::MemoryRead`]).
    #[serde(default)]
    pub function_config: usize,
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
        self.function_config += other.function_config;
        self.store_writes += other.store_writes;
    }

    /// Lambda control-plane requests (what the account's 15 requests/s
    /// quota and [`TickOptions::lambda_budget`] count), SDK retries aside.
    pub fn control_plane(&self) -> usize {
        self.get_config + self.put_config + self.delete_config + self.limits + self.function_config
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

/// Runs one tick at `now`: load, observe the metrics (one batched fetch) and
/// the account's headroom (one `GetAccountSettings`), then every resource
/// in three rounds that share the control-plane budget in this order:
/// 1. resources whose state pcscale trusts: decided without reading Lambda,
///    the writes among them served first;
/// 2. confirmations: a step pcscale applied or claimed, read until `READY`;
/// 3. reconciles: the staggered drift check, and states missing or stale.
///
/// Within a round the resource waiting longest goes first (oldest step,
/// oldest observation), so what one tick carries over is first in line the
/// next: no alias starves.
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
    let budget = Budget::new(opts.lambda_budget);
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
    // Once per tick, and first: every scale-out's headroom ceiling needs it.
    let unreserved = if queries.is_empty() || !budget.take(1) {
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
        budget: &budget,
        shared: &shared,
    };
    // The rounds, each in its serving order.
    let mut rounds: [Vec<(StoredResource, Read)>; 3] = Default::default();
    for res in loaded {
        let read = read_needed(opts.reconcile_every_minutes, &res.key, &res.state, now);
        let round = match read {
            Read::Trusted => 0,
            Read::Confirm => 1,
            Read::Reconcile => 2,
        };
        rounds[round].push((res, read));
    }
    // Round 1: the writes (what a trusted plan would change) before the
    // holds, the oldest step first.
    rounds[0].sort_by_cached_key(|(r, _)| {
        (
            !ctx.trusted_wants_write(r),
            r.state.last_change_at(),
            r.key.clone(),
        )
    });
    rounds[1].sort_by(|(a, _), (b, _)| {
        (a.state.last_change_at(), &a.key).cmp(&(b.state.last_change_at(), &b.key))
    });
    rounds[2].sort_by(|(a, _), (b, _)| {
        (a.state.observed_at, &a.key).cmp(&(b.state.observed_at, &b.key))
    });

    let mut results: Vec<(ResourceOutcome, ApiCalls)> = Vec::new();
    for round in rounds {
        let done: Vec<(ResourceOutcome, ApiCalls)> = futures::stream::iter(round)
            .map(|(res, read)| {
                let span = info_span!("resource", resource = %res.key, read = ?read);
                let ctx = &ctx;
                async move {
                    if opts.deadline.is_some_and(|d| started.elapsed() >= d) {
                        let outcome = outcome_without_decision(
                            &res.key,
                            Verb::Skip,
                            "tick deadline reached before this resource".into(),
                            None,
                            opts.dry_run,
                        );
                        return (outcome, ApiCalls::default());
                    }
                    let key = res.key.clone();
                    match bounded(hard, ctx.process(res, read).instrument(span)).await {
                        Some(done) => done,
                        None => {
                            // Dropping the work is safe: a claim it wrote stays in
                            // the table and a later tick settles it from what
                            // Lambda reports (see `reconcile`).
                            let outcome = outcome_without_decision(
                                &key,
                                Verb::Error,
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
        results.extend(done);
    }
    results.extend(resting.iter().map(|r| {
        let outcome = outcome_without_decision(
            &r.key,
            Verb::Hold,
            format!(
                "quiet: no step for {} min, decided every {} min",
                QUIET_AFTER_SECS.get() / 60,
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
        } else {
            match outcome.action {
                Verb::Skip => totals.skipped += 1,
                Verb::Carried => totals.carried += 1,
                Verb::Hold => {}
                Verb::ScaleOut | Verb::ScaleIn | Verb::Delete | Verb::Error => totals.changed += 1,
            }
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

/// What a resource's decision reads from Lambda this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Nothing: pcscale's own state (every step it applied, `Version`
    /// stamped, confirmed `READY`) is the current capacity.
    Trusted,
    /// A step pcscale applied or claimed, not yet confirmed: its config is
    /// read (until `READY`) before any other step.
    Confirm,
    /// The staggered drift check, or a state never observed (missing) or
    /// observed longer ago than the reconcile period (stale).
    Reconcile,
}

/// What the resource `key` with `state` reads at `now` when aliases are
/// reconciled every `every` minutes (see [`Read`]). The reconcile minute of
/// a key is fixed by its hash, so the reads spread evenly over the period;
/// one missed (budget, deadline) is overdue and read at the next tick.
pub fn read_needed(every: u32, key: &str, state: &State, now: DateTime<Utc>) -> Read {
    if every <= 1 {
        return Read::Reconcile;
    }
    if state.pending.is_some() || state.unconfirmed {
        return Read::Confirm;
    }
    let Some(seen) = state.observed_at else {
        return Read::Reconcile;
    };
    let minute = now.timestamp().div_euclid(60);
    let age = minute - seen.timestamp().div_euclid(60);
    let offset = i64::try_from(key_hash(key) % u64::from(every)).unwrap_or(0);
    let every = i64::from(every);
    let slot = (minute + offset).rem_euclid(every) == 0;
    if age < 0 || age > every || (age >= 1 && slot) {
        Read::Reconcile
    } else {
        Read::Trusted
    }
}

/// FNV-1a of a key: stable across Rust releases, unlike the std hasher.
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The Lambda control-plane requests this tick may still send.
#[derive(Debug)]
struct Budget(Option<AtomicU32>);

impl Budget {
    fn new(limit: Option<u32>) -> Self {
        Budget(limit.map(AtomicU32::new))
    }

    /// Takes `n` requests from the budget; `false` (nothing taken) when
    /// fewer are left.
    fn take(&self, n: u32) -> bool {
        self.0.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(n))
                .is_ok()
        })
    }

    /// Takes `n` requests only if at least `keep` more stay in the budget
    /// (a read that can wait never takes what writes and confirmations may
    /// need); always with no budget.
    fn take_spare(&self, n: u32, keep: u32) -> bool {
        self.0.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                (l >= n.saturating_add(keep)).then(|| l - n)
            })
            .is_ok()
        })
    }

    /// Gives back `n` requests taken and not sent.
    fn refund(&self, n: u32) {
        if let Some(left) = &self.0 {
            left.fetch_add(n, Ordering::SeqCst);
        }
    }

    /// Counts `n` requests that are sent whatever is left (checking a write
    /// whose outcome is unknown: the step must not be guessed).
    fn spend(&self, n: u32) {
        if let Some(left) = &self.0 {
            let _ = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(n))
            });
        }
    }
}

/// A write's share of the budget, put aside by a read so that the step the
/// read finds is not starved by the reads started after it; given back when
/// no write follows.
struct WriteSlot<'a> {
    budget: &'a Budget,
    held: AtomicBool,
}

impl<'a> WriteSlot<'a> {
    fn new(budget: &'a Budget) -> Self {
        WriteSlot {
            budget,
            held: AtomicBool::new(false),
        }
    }

    /// Puts one request aside, when the budget has it.
    fn hold(&self) {
        if self.budget.take(1) {
            self.held.store(true, Ordering::SeqCst);
        }
    }

    /// The request for a write: the one put aside, or a new one.
    fn take_for_write(&self) -> bool {
        self.held.swap(false, Ordering::SeqCst) || self.budget.take(1)
    }
}

impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        if self.held.swap(false, Ordering::SeqCst) {
            self.budget.refund(1);
        }
    }
}

/// The function's reserved concurrency as far as a plan knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Not read (or the cached read is too old).
    NotRead,
    /// Read: the reservation, `None` when the function has none.
    Known(Option<u32>),
}

/// The outcome of [`plan`].
// Returned and matched at once, never stored: boxing the decision would
// only add an allocation per resource.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The decision.
    Decided(Decision),
    /// The decision depends on the function's reserved concurrency, which
    /// is not known: read it and plan again.
    NeedsReserved,
}

/// The one plan the tick, `explain` and the simulator share: policy + state
/// + observation (metrics, current config, guard-rail, account headroom;
///   `obs.limits.reserved` is ignored) + what is known of the function's
///   reserved concurrency -> the decision.
///
/// Reserved concurrency caps increases only, and a function that has one
/// draws its provisioned concurrency from it instead of the account pool:
/// it matters for an increase, or a step the account headroom held back.
/// Only then is it needed (`NeedsReserved` when unknown), so that a tick
/// reads it only for those.
pub fn plan(
    policy: &Policy,
    state: &State,
    obs: &Observation,
    reserved: Reserved,
    now: DateTime<Utc>,
) -> Plan {
    let without = Observation {
        limits: Limits {
            reserved: None,
            ..obs.limits.clone()
        },
        ..obs.clone()
    };
    let first = decide(policy, state, &without, now);
    let needed = first.to > first.from
        || first
            .reason
            .clamps
            .iter()
            .any(|c| c.by == Ceiling::AccountHeadroom);
    match reserved {
        _ if !needed => Plan::Decided(first),
        Reserved::NotRead => Plan::NeedsReserved,
        Reserved::Known(None) => Plan::Decided(first),
        Reserved::Known(Some(r)) => {
            let with = Observation {
                limits: Limits {
                    reserved: Some(r),
                    ..obs.limits.clone()
                },
                ..obs.clone()
            };
            Plan::Decided(decide(policy, state, &with, now))
        }
    }
}

/// The current config as pcscale's own state has it (a [`Read::Trusted`]
/// resource): the capacity it last applied and saw `READY`.
pub fn trusted_current(state: &State) -> Option<CurrentPc> {
    state.capacity.filter(|c| *c > 0).map(|c| CurrentPc {
        requested: c,
        allocated: c,
        status: PcStatus::Ready,
        status_reason: None,
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
        .is_some_and(|t| Secs::since(t, now).is_none_or(|age| age < QUIET_AFTER_SECS))
    {
        return true;
    }
    let h = key_hash(key);
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
    action: Verb,
    reason: String,
    error: Option<String>,
    dry_run: bool,
) -> ResourceOutcome {
    ResourceOutcome {
        resource: key.to_owned(),
        from: None,
        to: None,
        action,
        reason,
        error,
        applied: false,
        dry_run,
        decision: None,
    }
}

/// The outcome of a resource whose read did not fit the budget.
fn carried(key: &str, what: &str, dry_run: bool) -> Box<ResourceOutcome> {
    Box::new(outcome_without_decision(
        key,
        Verb::Carried,
        format!("control-plane budget spent: {what} carried to the next tick"),
        None,
        dry_run,
    ))
}

struct Ctx<'a, 'p, S, M, C> {
    ports: &'a Ports<'p, S, M, C>,
    now: DateTime<Utc>,
    opts: &'a TickOptions,
    answers: &'a MetricAnswers,
    unreserved: Option<u32>,
    budget: &'a Budget,
    /// Version resources beside an alias policy of the same function
    /// ([`crate::alias::shared_pc_pairs`]), with those aliases.
    shared: &'a HashMap<String, Vec<String>>,
}

/// A resource that passed [`Ctx::validate`].
struct Valid {
    key: String,
    policy: Policy,
    state: State,
    /// The operator's or the policy's dry run.
    dry_run: bool,
}

/// What [`Ctx::observe`] found.
struct Observed {
    /// The state, with a settled claim, a drift or an observation noted.
    state: State,
    /// The current config (pcscale's own, for a trusted resource).
    current: Option<CurrentPc>,
    /// A `FAILED` config's report, listed as an error unless a step follows.
    failed: Option<String>,
    /// `state` holds an observation (or a reserved-concurrency read) not
    /// yet written.
    dirty: bool,
}

/// Why a resource's steps stopped early: its outcome for this tick.
type Stop = Box<ResourceOutcome>;

impl<S: PolicyStore, M: MetricsSource, C: ConcurrencyApi> Ctx<'_, '_, S, M, C> {
    async fn process(&self, res: StoredResource, read: Read) -> (ResourceOutcome, ApiCalls) {
        let mut calls = ApiCalls::default();
        let slot = WriteSlot::new(self.budget);
        let outcome = match self.steps(res, read, &slot, &mut calls).await {
            Ok(o) => o,
            Err(stop) => *stop,
        };
        (outcome, calls)
    }

    /// validate -> observe -> plan -> claim -> apply -> confirm -> record.
    async fn steps(
        &self,
        res: StoredResource,
        read: Read,
        slot: &WriteSlot<'_>,
        calls: &mut ApiCalls,
    ) -> Result<ResourceOutcome, Stop> {
        let v = self.validate(res, calls).await?;
        let observed = self.observe(&v, read, slot, calls).await?;
        let (state, decision, dirty) = self
            .plan_step(&v, observed.state, observed.current, observed.dirty, calls)
            .await?;
        if !decision.action.changes_capacity() {
            self.persist(&v.key, &state, dirty, calls).await;
            let verb = Verb::from(decision.action);
            return Ok(decided(
                &v.key,
                &decision,
                verb,
                observed.failed,
                false,
                v.dry_run,
            ));
        }
        if v.dry_run {
            return Ok(self
                .record_dry_run(&v, &state, &decision, dirty, calls)
                .await);
        }
        let claimed = match self.claim(&v, &state, &decision, slot, calls).await {
            Ok(c) => c,
            Err(stop) => {
                // Not claimed (backing off, budget spent): what was read
                // is kept, so the next tick need not read it again.
                self.persist(&v.key, &state, dirty, calls).await;
                return Err(stop);
            }
        };
        let applied = self.apply(&v, &decision, calls).await;
        let verdict = self.confirm(&v, &decision, applied, calls).await;
        Ok(self
            .record_step(&v, &state, &claimed, &decision, verdict, calls)
            .await)
    }

    /// Repairs a lying state, refuses an invalid, disabled or forbidden
    /// policy (an invalid one recorded once per distinct problem).
    async fn validate(&self, res: StoredResource, calls: &mut ApiCalls) -> Result<Valid, Stop> {
        let mut res = res;
        if let Some(fixed) = self.repair(&res.key, &res.state, calls).await? {
            res.state = fixed;
        }
        let policy = match res.policy {
            Ok(p) => p,
            Err(invalid) => {
                let msg = invalid.to_string();
                warn!(error = %msg, "invalid policy skipped");
                // Record once per distinct problem, not every minute.
                if res.state.last_reason.as_deref() != Some(msg.as_str()) {
                    self.record_error(&res.key, None, None, "InvalidPolicy", &msg, calls)
                        .await;
                    let next = noted(&res.state, self.now, &msg);
                    self.write_state(&res.key, res.state.version, &next, calls)
                        .await
                        .ok();
                }
                return Err(Box::new(outcome_without_decision(
                    &res.key,
                    Verb::Error,
                    "invalid policy".into(),
                    Some(msg),
                    self.opts.dry_run,
                )));
            }
        };
        if !policy.enabled {
            return Err(Box::new(outcome_without_decision(
                &res.key,
                Verb::Skip,
                "policy disabled".into(),
                None,
                self.opts.dry_run,
            )));
        }
        if !allowed(self.opts, &policy.resource.function) {
            let msg = format!(
                "{}; refused",
                WriteRefused::NotAllowed(policy.resource.function.clone())
            );
            return Err(Box::new(outcome_without_decision(
                &res.key,
                Verb::Error,
                "refused by allow-list".into(),
                Some(msg),
                self.opts.dry_run,
            )));
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
            return Err(Box::new(outcome));
        }
        Ok(Valid {
            key: res.key,
            policy,
            state: res.state,
            dry_run,
        })
    }

    /// Whether pcscale keeps `ObservedAt`/`Unconfirmed` for this resource:
    /// only when reads are scheduled (a reconcile period above one minute)
    /// and the resource is live (a dry run never adopts what it sees).
    fn remembers_observations(&self, v: &Valid) -> bool {
        self.opts.reconcile_every_minutes > 1 && !v.dry_run
    }

    /// The current config: pcscale's own state for a trusted resource;
    /// otherwise Lambda's (within the budget), with a claim left behind
    /// settled, a drift or a `FAILED` config noted, and the observation
    /// recorded in the state.
    async fn observe(
        &self,
        v: &Valid,
        read: Read,
        slot: &WriteSlot<'_>,
        calls: &mut ApiCalls,
    ) -> Result<Observed, Stop> {
        if read == Read::Trusted {
            let state = self.refresh_memory(&v.policy, v.state.clone(), calls).await;
            let state = self.refresh_forecast(&v.key, &v.policy, state, calls).await;
            return Ok(Observed {
                dirty: state.forecast != v.state.forecast || state.memory != v.state.memory,
                current: trusted_current(&v.state),
                state,
                failed: None,
            });
        }
        let key = v.key.as_str();
        let dry_run = v.dry_run;
        if !self.budget.take(1) {
            let what = match read {
                Read::Confirm => "the confirmation read",
                _ => "the reconcile read",
            };
            return Err(carried(key, what, dry_run));
        }
        slot.hold();
        calls.get_config += 1;
        let current = match self.ports.lambda.get_config(&v.policy.resource).await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                // Recorded once per distinct problem (an alias removed stays
                // removed: one activity item, not one a minute).
                if v.state.last_reason.as_deref() != Some(msg.as_str()) {
                    self.record_error(key, None, None, "Error", &msg, calls)
                        .await;
                    let next = noted(&v.state, self.now, &msg);
                    self.write_state(key, v.state.version, &next, calls)
                        .await
                        .ok();
                }
                return Err(Box::new(outcome_without_decision(
                    key,
                    Verb::Error,
                    "could not read the current config".into(),
                    Some(msg),
                    dry_run,
                )));
            }
        };

        let mut state = self
            .settle_claim(key, &v.state, current.as_ref(), calls)
            .await?;
        state = self
            .note_platform(&v.policy.resource, state, current.as_ref(), dry_run, calls)
            .await;
        let (forecast_before, memory_before) = (state.forecast.clone(), state.memory);
        state = self.refresh_memory(&v.policy, state, calls).await;
        state = self.refresh_forecast(&v.key, &v.policy, state, calls).await;

        // Recorded with the next state write: the claim when a step
        // follows, otherwise [`Ctx::persist`].
        let mut dirty = state.forecast != forecast_before || state.memory != memory_before;
        if self.remembers_observations(v) {
            // Confirmed once Lambda shows pcscale's capacity READY (a
            // drift was adopted above, so the capacities agree).
            let confirmed = current.as_ref().is_none_or(|c| c.status == PcStatus::Ready);
            state.observed_at = Some(self.now);
            state.unconfirmed = !confirmed;
            dirty = true;
        }

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
        Ok(Observed {
            state,
            current,
            failed,
            dirty,
        })
    }

    /// A claim in flight elsewhere, or one left behind by a tick that died
    /// or whose state write failed after its Put: left to its claimant, or
    /// settled from what Lambda shows.
    async fn settle_claim(
        &self,
        key: &str,
        state: &State,
        current: Option<&CurrentPc>,
        calls: &mut ApiCalls,
    ) -> Result<State, Stop> {
        let Some(p) = state.pending.clone() else {
            return Ok(state.clone());
        };
        let dry_run = self.opts.dry_run;
        let observed = current.map_or(0, |c| c.requested);
        // Lambda already shows the claimed capacity: the step happened.
        // The first tick to see the claim leaves it to its claimant,
        // which may be about to commit it (settling it here would make
        // that commit fail and the step be reported twice); a later one
        // settles it at once rather than after the lease (a commit that
        // failed after a successful Put). Otherwise the lease, measured
        // from the first sighting on the judging ticks' clocks only,
        // decides when the claimant is gone: the claimant's clock never
        // enters (see `Pending::lease`).
        let claim = format!("another tick's claim {} -> {}", p.from, p.to);
        match p.verdict(self.now, self.opts.claim_lease_secs, observed) {
            ClaimVerdict::FirstSighting { applied } => {
                let seen = State {
                    pending: Some(Pending {
                        seen_at: Some(self.now),
                        ..p
                    }),
                    ..state.clone()
                };
                // Same Version: the claimant's commit still succeeds.
                self.write_state(key, state.version, &seen, calls)
                    .await
                    .ok();
                let why = if applied {
                    format!("{claim} is applied; its claimant commits it")
                } else {
                    format!("{claim} is in flight")
                };
                return Err(Box::new(outcome_without_decision(
                    key,
                    Verb::Skip,
                    why,
                    None,
                    dry_run,
                )));
            }
            ClaimVerdict::InFlight(age) => {
                return Err(Box::new(outcome_without_decision(
                    key,
                    Verb::Skip,
                    format!("{claim} is in flight (seen unsettled for {age}s)"),
                    None,
                    dry_run,
                )));
            }
            ClaimVerdict::Settle => {}
        }
        match self.reconcile(key, state, observed, calls).await {
            Some(settled) => Ok(settled),
            // Never claim over a claim that could not be settled: its
            // step would vanish from the state.
            None => Err(Box::new(outcome_without_decision(
                key,
                Verb::Skip,
                format!("could not settle {claim}; retried next tick"),
                None,
                dry_run,
            ))),
        }
    }

    /// What the tick observed for `policy`, `current` aside: its metric
    /// answers, the guard-rail, the account headroom and the function's
    /// memory as `state` last read it.
    fn observation(
        &self,
        policy: &Policy,
        state: &State,
        current: Option<CurrentPc>,
    ) -> Observation {
        Observation {
            demand: self.answer(policy, MetricKind::ConcurrentExecutions),
            utilization: policy
                .target_tracking
                .as_ref()
                .filter(|tt| tt.metric == MetricKind::ProvisionedConcurrencyUtilization)
                .map(|_| self.answer(policy, MetricKind::ProvisionedConcurrencyUtilization)),
            current,
            limits: Limits {
                guard_rail: self.opts.max_per_function,
                reserved: None,
                unreserved: self.unreserved,
            },
            memory_mb: state.memory.and_then(|m| m.mb),
        }
    }

    /// The reserved concurrency the state's cache holds; never cached with
    /// a reconcile period of one minute (every tick reads what it needs).
    fn reserved_known(&self, state: &State) -> Reserved {
        if self.opts.reconcile_every_minutes <= 1 {
            Reserved::NotRead
        } else {
            cached_reserved(state, self.now)
        }
    }

    /// Whether a resource read as [`Read::Trusted`] would be written this
    /// tick (the writes are served first).
    fn trusted_wants_write(&self, r: &StoredResource) -> bool {
        let Ok(policy) = &r.policy else {
            return false;
        };
        if !policy.enabled || !allowed(self.opts, &policy.resource.function) {
            return false;
        }
        let obs = self.observation(policy, &r.state, trusted_current(&r.state));
        match plan(
            policy,
            &r.state,
            &obs,
            self.reserved_known(&r.state),
            self.now,
        ) {
            Plan::NeedsReserved => true,
            Plan::Decided(d) => d.action.changes_capacity(),
        }
    }

    /// [`plan`], reading the function's reserved concurrency (within the
    /// budget; cached in the state) when the plan needs it.
    async fn plan_step(
        &self,
        v: &Valid,
        state: State,
        current: Option<CurrentPc>,
        dirty: bool,
        calls: &mut ApiCalls,
    ) -> Result<(State, Decision, bool), Stop> {
        let obs = self.observation(&v.policy, &state, current);
        let cached = self.reserved_known(&state);
        let first = match plan(&v.policy, &state, &obs, cached, self.now) {
            Plan::Decided(d) => return Ok((state, d, dirty)),
            Plan::NeedsReserved => plan(&v.policy, &state, &obs, Reserved::Known(None), self.now),
        };
        let Plan::Decided(first) = first else {
            return Err(Box::new(outcome_without_decision(
                &v.key,
                Verb::Error,
                "no decision".into(),
                Some("the plan asked for reserved concurrency twice".into()),
                v.dry_run,
            )));
        };
        if !self.budget.take(1) {
            // Keep what this tick's read learnt (`ObservedAt`): the next
            // tick then trusts the state instead of reading it again, and
            // spends its budget on the reserved read and the step. Without
            // it a budget that fits one read but not read + step would
            // carry this resource for ever.
            self.persist(&v.key, &state, dirty, calls).await;
            return Err(Box::new(
                decided(&v.key, &first, Verb::Carried, None, false, v.dry_run).with_reason(
                    "control-plane budget spent: the reserved-concurrency read and the step \
                     are carried to the next tick",
                ),
            ));
        }
        calls.limits += 1;
        let value = match self
            .ports
            .lambda
            .reserved_concurrency(&v.policy.resource.function)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(Box::new(
                    self.step_failed(&v.key, &first, e.to_string(), v.dry_run, calls)
                        .await,
                ));
            }
        };
        let mut state = state;
        state.reserved = Some(ReservedRead {
            value,
            at: self.now,
        });
        let decision = match plan(&v.policy, &state, &obs, Reserved::Known(value), self.now) {
            Plan::Decided(d) => d,
            Plan::NeedsReserved => first,
        };
        // Kept for the next ticks (with the claim, or by `persist`).
        let dirty = dirty || self.remembers_observations(v);
        Ok((state, decision, dirty))
    }

    /// Writes what this tick learnt into `state` (an observation, a
    /// reserved-concurrency read) when no other write carried it.
    async fn persist(&self, key: &str, state: &State, dirty: bool, calls: &mut ApiCalls) {
        if !dirty {
            return;
        }
        let next = State {
            version: state.next_version(),
            ..state.clone()
        };
        // A conflict means another tick wrote first (and noted its own
        // observation); a failure, that the next tick reads again.
        let _ = self.write_state(key, state.version, &next, calls).await;
    }

    /// Decide and record what would be done, but never touch the applied
    /// state (Capacity, cooldown timestamps): a later live tick must see
    /// what was really applied, or it would report a false Drift and honour
    /// cooldowns of steps never taken. The marker in LastReason records the
    /// step once, not every minute it stays wanted.
    async fn record_dry_run(
        &self,
        v: &Valid,
        state: &State,
        decision: &Decision,
        dirty: bool,
        calls: &mut ApiCalls,
    ) -> ResourceOutcome {
        let marker = dry_run_marker(decision);
        if state.last_reason.as_deref() == Some(marker.as_str()) {
            self.persist(&v.key, state, dirty, calls).await;
        } else {
            let next = state.released(self.now, &marker);
            if matches!(
                self.write_state(&v.key, state.version, &next, calls).await,
                Ok(WriteOutcome::Written)
            ) {
                self.record(&v.key, decision, "dry-run", calls).await;
            }
        }
        decided(&v.key, decision, decision.action.into(), None, false, true)
    }

    /// Claims the step (a write conditional on the `Version` read), unless
    /// the resource is backing off or the budget has no room for the write.
    async fn claim(
        &self,
        v: &Valid,
        state: &State,
        decision: &Decision,
        slot: &WriteSlot<'_>,
        calls: &mut ApiCalls,
    ) -> Result<State, Stop> {
        let dry_run = v.dry_run;
        // A resource whose writes keep being refused (AccessDenied, an
        // alias and its version both scaled, ...) is not retried every tick.
        if let Some(left) = state.backoff_remaining(self.now) {
            let msg = format!(
                "{} Lambda writes refused in a row (last: {}); backing off, next try in {left}s",
                state.failures,
                state.last_reason.as_deref().unwrap_or("unknown")
            );
            return Err(Box::new(decided(
                &v.key,
                decision,
                Verb::Skip,
                Some(msg),
                false,
                dry_run,
            )));
        }
        if !slot.take_for_write() {
            return Err(Box::new(
                decided(&v.key, decision, Verb::Carried, None, false, dry_run).with_reason(
                    "control-plane budget spent: the step is carried to the next tick",
                ),
            ));
        }
        let claimed = state.claimed(decision, self.now);
        match self
            .write_state(&v.key, state.version, &claimed, calls)
            .await
        {
            Ok(WriteOutcome::Written) => Ok(claimed),
            Ok(WriteOutcome::Conflict) => Err(Box::new(
                decided(&v.key, decision, Verb::Skip, None, false, dry_run)
                    .with_reason("another tick claimed this resource first"),
            )),
            Err(e) => {
                let msg = format!("could not claim: {e}");
                Err(Box::new(decided(
                    &v.key,
                    decision,
                    Verb::Error,
                    Some(msg),
                    false,
                    dry_run,
                )))
            }
        }
    }

    /// The Lambda write.
    async fn apply(
        &self,
        v: &Valid,
        decision: &Decision,
        calls: &mut ApiCalls,
    ) -> Result<(), PortError> {
        if decision.action == Action::Delete {
            calls.delete_config += 1;
            self.ports.lambda.delete_config(&v.policy.resource).await
        } else {
            calls.put_config += 1;
            self.ports
                .lambda
                .put_config(&v.policy.resource, decision.to)
                .await
        }
    }

    /// What became of the write. An answer that says nothing (5xx, 409, an
    /// unreadable answer, no answer) is checked with Lambda instead of
    /// guessed, so that a step that happened is neither released (its
    /// cooldown lost) nor taken again. Lambda's `READY` is confirmed by the
    /// next tick's read ([`Read::Confirm`]).
    async fn confirm(
        &self,
        v: &Valid,
        decision: &Decision,
        applied: Result<(), PortError>,
        calls: &mut ApiCalls,
    ) -> Verdict {
        match applied {
            Ok(()) => Verdict::Applied(None),
            Err(e) if outcome_unknown(&e) => {
                self.budget.spend(1);
                calls.get_config += 1;
                match self.ports.lambda.get_config(&v.policy.resource).await {
                    Ok(c) if c.as_ref().map_or(0, |c| c.requested) == decision.to => {
                        Verdict::Applied(Some(e))
                    }
                    Ok(_) => Verdict::Failed(e),
                    Err(check) => Verdict::Unknown(e, check),
                }
            }
            Err(e) => Verdict::Failed(e),
        }
    }

    /// Commits or releases the claim and records the step.
    async fn record_step(
        &self,
        v: &Valid,
        state: &State,
        claimed: &State,
        decision: &Decision,
        verdict: Verdict,
        calls: &mut ApiCalls,
    ) -> ResourceOutcome {
        let (key, dry_run, now) = (v.key.as_str(), v.dry_run, self.now);
        match verdict {
            Verdict::Applied(answer) => {
                let next = claimed.committed(decision, now);
                let error = match self.write_state(key, claimed.version, &next, calls).await {
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
                self.record(key, decision, &outcome, calls).await;
                decided(key, decision, decision.action.into(), error, true, dry_run)
            }
            Verdict::Failed(e) => {
                let msg = e.to_string();
                let next = claimed.failed(now, &msg);
                self.write_state(key, claimed.version, &next, calls)
                    .await
                    .ok();
                if state.failures > 0 && state.last_reason.as_deref() == Some(msg.as_str()) {
                    // The same refusal again: recorded once, not every try.
                    return decided(key, decision, Verb::Error, Some(msg), false, dry_run);
                }
                self.step_failed(key, decision, msg, dry_run, calls).await
            }
            Verdict::Unknown(e, check) => {
                // Neither released nor committed: the claim stays, and a later
                // tick settles it from what Lambda then reports.
                let msg = format!(
                    "{e}; the outcome is unknown (checking failed: {check}); the claim is kept \
                     and a later tick reconciles it"
                );
                self.step_failed(key, decision, msg, dry_run, calls).await
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
                    crate::core::state::FUTURE_TOLERANCE_SECS.get() / 60
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
                Verb::Skip,
                format!("corrupt state ({why}) was repaired by another tick first"),
                None,
                self.opts.dry_run,
            ))),
            Err(e) => Err(Box::new(outcome_without_decision(
                key,
                Verb::Error,
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

    /// The memory step: a policy with a cold-start level prices its units by
    /// the function's memory ([`crate::core::coldstart::unit_price`]), read
    /// with `GetFunctionConfiguration` when the state has no read younger
    /// than a day ([`MemoryRead::due`]) and kept in the state (`MemoryMB`,
    /// `MemoryAt`; written with the tick's next state write). The read is a
    /// control-plane request: it spends the budget, and only what the budget
    /// can spare (at least half of it left for writes and confirmations);
    /// one that does not fit waits for a later tick, with the memory
    /// unknown meanwhile (the policy's fallback price). A failed read keeps
    /// what an earlier one said and is asked again a day later.
    async fn refresh_memory(&self, policy: &Policy, state: State, calls: &mut ApiCalls) -> State {
        let priced = policy.target_tracking.as_ref().is_some_and(|tt| {
            tt.metric == MetricKind::ConcurrentExecutions && tt.cold_starts.is_some()
        });
        if !priced || !MemoryRead::due(state.memory.as_ref(), self.now) {
            return state;
        }
        let keep = self.opts.lambda_budget.map_or(0, |b| b.div_ceil(2));
        if !self.budget.take_spare(1, keep) {
            return state;
        }
        calls.function_config += 1;
        let mb = match self.ports.lambda.function_memory(&policy.resource).await {
            Ok(mb) => mb,
            Err(e) => {
                warn!(error = %e, "function memory unavailable; the cold-start level uses its fallback price");
                state.memory.and_then(|m| m.mb)
            }
        };
        State {
            memory: Some(MemoryRead { mb, at: self.now }),
            ..state
        }
    }

    /// The history step (`HistoryDays`, see [`crate::core::history`]): when
    /// the alias's daily refresh is due (once a day, at a minute fixed by its
    /// key), one `GetMetricData` query of its `HistoryDays` days of 1-minute
    /// `ConcurrentExecutions`, turned into the forecast kept in the state
    /// item. Every other tick reads the forecast from the state it already
    /// loads: history costs one query and one write a day per alias. A
    /// failed query or write leaves the state as it was (retried next tick).
    async fn refresh_forecast(
        &self,
        key: &str,
        policy: &Policy,
        state: State,
        calls: &mut ApiCalls,
    ) -> State {
        let Some(tt) = policy
            .target_tracking
            .as_ref()
            .filter(|tt| tt.metric == MetricKind::ConcurrentExecutions)
        else {
            return state;
        };
        let Some(cs) = tt.cold_starts.as_ref() else {
            return state;
        };
        if !history::refresh_due(state.forecast.as_ref(), cs, key, self.now) {
            return state;
        }
        let q = MetricQuery {
            resource: policy.resource.clone(),
            metric: MetricKind::ConcurrentExecutions,
            minutes: history::history_minutes(cs),
        };
        calls.metric_queries += 1;
        let horizon = Horizon {
            now: self.now,
            delay: self.opts.metric_delay,
        };
        let before = self.ports.metrics.requests_sent();
        let answers = self
            .ports
            .metrics
            .fetch(std::slice::from_ref(&q), horizon)
            .await;
        if before.is_some() {
            // 20,160 datapoints: one page (a call returns up to 100,800).
            calls.metric_requests += 1;
        }
        let series = match answers.get(&q) {
            Some(Demand::Known(s)) => s,
            Some(Demand::Unknown(why)) => {
                warn!(resource = key, error = %why, "history unavailable; retried next tick");
                return state;
            }
            None => return state,
        };
        let hold = history::hold_minutes(tt.scale_in_cooldown_secs.get(), self.opts.metric_delay);
        let per_hour = coldstart::unit_price(cs, state.memory.and_then(|m| m.mb)).per_hour;
        let forecast = history::forecast(
            series,
            cs,
            per_hour,
            hold,
            history::next_refresh(key, self.now),
        );
        let next = State {
            version: state.next_version(),
            forecast: Some(forecast),
            ..state.clone()
        };
        match self.write_state(key, state.version, &next, calls).await {
            Ok(WriteOutcome::Written) => next,
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
        // Rare (cached in the state), so spent whatever is left.
        self.budget.spend(u32::try_from(n).unwrap_or(u32::MAX));
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
                self.record_error(key, None, None, "Error", m, calls).await;
            }
        }
        let msg = msg?;
        Some(outcome_without_decision(
            key,
            Verb::Error,
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
                self.budget.spend(u32::try_from(n).unwrap_or(u32::MAX));
                (text, check)
            }
            Err(e) => {
                calls.aliases += 1;
                self.budget.spend(1);
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
        decision: &Decision,
        msg: String,
        dry_run: bool,
        calls: &mut ApiCalls,
    ) -> ResourceOutcome {
        self.record_error(
            key,
            Some(decision.from),
            Some(decision.to),
            "Error",
            &msg,
            calls,
        )
        .await;
        decided(key, decision, Verb::Error, Some(msg), false, dry_run)
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
            action: Verb::from(d.action).as_str().to_owned(),
            cause: d.reason.summary.clone(),
            outcome: outcome.to_owned(),
            detail: serde_json::to_value(&d.reason).ok(),
        };
        calls.store_writes += 1;
        if let Err(e) = self.ports.store.record(&activity).await {
            warn!(error = %e, "activity write failed");
        }
    }

    async fn record_error(
        &self,
        key: &str,
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

fn decided(
    key: &str,
    d: &Decision,
    action: Verb,
    error: Option<String>,
    applied: bool,
    dry_run: bool,
) -> ResourceOutcome {
    ResourceOutcome {
        resource: key.to_owned(),
        from: Some(d.from),
        to: Some(d.to),
        action,
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

/// The function's reserved concurrency as the state's cache has it at `now`.
pub fn cached_reserved(state: &State, now: DateTime<Utc>) -> Reserved {
    state
        .reserved
        .and_then(|r| r.fresh(now))
        .map_or(Reserved::NotRead, Reserved::Known)
}

/// What a dry-run tick keeps in `LastReason` for the step it would take.
fn dry_run_marker(decision: &Decision) -> String {
    format!(
        "dry-run: would {} {} -> {}",
        Verb::from(decision.action),
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

#[cfg(test)]
mod schedule_tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 / 60 * 60 + minute * 60 + 5, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }

    fn seen(minute: i64) -> State {
        State {
            version: 3,
            capacity: Some(4),
            observed_at: Some(at(minute)),
            ..State::default()
        }
    }

    #[test]
    fn every_alias_is_reconciled_once_a_period_and_the_reads_spread_evenly() {
        let keys: Vec<String> = (0..1500).map(|i| format!("function:f{i}:live")).collect();
        let mut states: Vec<State> = keys.iter().map(|_| seen(0)).collect();
        let mut per_minute = Vec::new();
        let mut last_read = vec![0_i64; keys.len()];
        for minute in 1..=60 {
            let mut reads = 0;
            for (i, key) in keys.iter().enumerate() {
                if read_needed(15, key, &states[i], at(minute)) == Read::Reconcile {
                    assert!(minute - last_read[i] <= 15, "{key} waited too long");
                    last_read[i] = minute;
                    states[i] = seen(minute);
                    reads += 1;
                }
            }
            per_minute.push(reads);
        }
        // Each alias once every 15 minutes: 1,500 / 15 = 100 a minute.
        assert_eq!(per_minute.iter().sum::<usize>(), 1500 * 4, "{per_minute:?}");
        assert!(
            per_minute.iter().all(|&n| (60..=140).contains(&n)),
            "{per_minute:?}"
        );
        assert!(last_read.iter().all(|&m| m > 45));
    }

    #[test]
    fn missing_stale_and_unconfirmed_states_are_read_before_acting() {
        let key = "function:f:live";
        assert_eq!(
            read_needed(15, key, &State::default(), at(0)),
            Read::Reconcile
        );
        // Missed its minute (the budget carried it): overdue next tick.
        assert_eq!(read_needed(15, key, &seen(0), at(16)), Read::Reconcile);
        // Observed "in the future" (a clock far off): not trusted.
        assert_eq!(read_needed(15, key, &seen(5), at(0)), Read::Reconcile);
        let unconfirmed = State {
            unconfirmed: true,
            ..seen(0)
        };
        assert_eq!(read_needed(15, key, &unconfirmed, at(1)), Read::Confirm);
        let claimed = State {
            pending: Some(Pending {
                from: 4,
                to: 8,
                claimed_at: at(0),
                seen_at: None,
            }),
            ..seen(0)
        };
        assert_eq!(read_needed(15, key, &claimed, at(1)), Read::Confirm);
        // A period of one minute reads every alias every tick.
        assert!((1..30).all(|m| read_needed(1, key, &seen(m - 1), at(m)) == Read::Reconcile));
        // Trusted in between: 14 of 15 minutes.
        let trusted = (1..=15)
            .filter(|m| read_needed(15, key, &seen(0), at(*m)) == Read::Trusted)
            .count();
        assert_eq!(trusted, 14);
    }

    #[test]
    fn the_budget_takes_whole_requests_and_never_goes_below_zero() {
        let b = Budget::new(Some(3));
        assert!(b.take(2));
        assert!(!b.take(2), "only one left");
        assert!(b.take(1));
        assert!(!b.take(1));
        b.spend(1);
        assert!(!b.take(1));
        let unlimited = Budget::new(None);
        assert!((0..10_000).all(|_| unlimited.take(1)));
    }

    #[test]
    fn a_read_puts_its_write_aside_and_gives_it_back_when_unused() {
        let b = Budget::new(Some(3));
        {
            let slot = WriteSlot::new(&b);
            assert!(b.take(1), "the read");
            slot.hold();
            // Other reads cannot take the write's request.
            assert!(b.take(1));
            assert!(!b.take(1));
            assert!(slot.take_for_write());
        }
        assert!(!b.take(1), "spent on the write");
        let b = Budget::new(Some(2));
        {
            let slot = WriteSlot::new(&b);
            assert!(b.take(1));
            slot.hold();
        }
        assert!(b.take(1), "no write followed: given back");
    }

    #[test]
    fn trusted_current_is_the_capacity_pcscale_applied() {
        assert_eq!(trusted_current(&State::default()), None);
        let s = State {
            capacity: Some(0),
            ..State::default()
        };
        assert_eq!(trusted_current(&s), None, "0: the config was deleted");
        let c = trusted_current(&seen(0)).expect("a config");
        assert_eq!((c.requested, c.status), (4, PcStatus::Ready));
    }
    #[test]
    fn the_plan_asks_for_reserved_concurrency_only_for_an_increase_and_is_capped_by_it() {
        use crate::core::decide::Series;
        let policy = crate::core::policy::parse_policy(&serde_json::json!({
            "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 50,
            "TargetTracking": {"TargetValue": 0.5}
        }))
        .expect("valid");
        let obs = |demand: f64| Observation {
            demand: Demand::Known(Series::of(vec![Some(demand); 10])),
            utilization: None,
            current: trusted_current(&seen(0)),
            limits: Limits::default(),
            memory_mb: None,
        };
        let state = seen(0);
        // 10 wants 20 > 4: the reservation matters.
        assert_eq!(
            plan(&policy, &state, &obs(10.0), Reserved::NotRead, at(1)),
            Plan::NeedsReserved
        );
        let Plan::Decided(d) = plan(&policy, &state, &obs(10.0), Reserved::Known(Some(6)), at(1))
        else {
            panic!("known");
        };
        assert_eq!((d.to, d.action), (6, Action::ScaleOut));
        assert_eq!(d.reason.clamps[0].by, Ceiling::Reserved);
        let Plan::Decided(d) = plan(&policy, &state, &obs(10.0), Reserved::Known(None), at(1))
        else {
            panic!("known");
        };
        assert_eq!(d.to, 20, "no reservation: the need");
        // 2 wants 4 = current: a hold never reads it.
        let Plan::Decided(d) = plan(&policy, &state, &obs(2.0), Reserved::NotRead, at(1)) else {
            panic!("a hold needs no reservation");
        };
        assert_eq!(d.action, Action::Hold);
    }
}

#[cfg(test)]
mod memory_tests {
    //! The function's memory through the tick: read with
    //! `GetFunctionConfiguration` within the spare budget, kept a day in the
    //! state, and pricing the cold-start level (a 3 GB function keeps fewer
    //! units than the same demand at an unknown memory).

    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::core::policy::parse_policy;
    use crate::ports::AliasTarget;

    const KEY: &str = "function:big:live";

    struct World {
        state: Mutex<State>,
        /// What `GetFunctionConfiguration` answers (`None`: it fails).
        memory: Option<u32>,
        memory_reads: AtomicUsize,
    }

    fn policy() -> Policy {
        parse_policy(&serde_json::json!({
            "pk": KEY, "MinCapacity": 0, "MaxCapacity": 100,
            "TargetTracking": {"TargetValue": 0.7, "ColdStarts": {
                "PreWarmPeriodic": false, "HistoryDays": 0}}
        }))
        .expect("valid")
    }

    impl PolicyStore for World {
        async fn load(&self, _segment: Option<Segment>) -> Result<Vec<StoredResource>, PortError> {
            Ok(vec![StoredResource {
                key: KEY.into(),
                policy: Ok(policy()),
                state: self.state.lock().expect("lock").clone(),
            }])
        }
        async fn write_state(
            &self,
            _resource: &str,
            expected_version: u64,
            next: &State,
        ) -> Result<WriteOutcome, PortError> {
            let mut s = self.state.lock().expect("lock");
            if s.version != expected_version {
                return Ok(WriteOutcome::Conflict);
            }
            *s = next.clone();
            Ok(WriteOutcome::Written)
        }
        async fn record(&self, _activity: &Activity) -> Result<(), PortError> {
            Ok(())
        }
    }

    /// Base 2 with spikes to 12 every 20 minutes: 3 cold starts an hour for
    /// units 3..12, which pay at 1.5 an hour (memory unknown) and not at 32
    /// (3 GB at the default $0.0014 a cold start).
    impl MetricsSource for World {
        async fn fetch(&self, queries: &[MetricQuery], horizon: Horizon) -> MetricAnswers {
            queries
                .iter()
                .map(|q| {
                    let w = horizon.window(q.minutes);
                    let newest = w.settled - TimeDelta::minutes(1);
                    let points = (0..600i64).map(|back| {
                        let v = if back % 20 == 10 { 12.0 } else { 2.0 };
                        ((newest - TimeDelta::minutes(back)).timestamp(), v)
                    });
                    (q.clone(), Demand::Known(w.series(points, None)))
                })
                .collect()
        }
    }

    impl ConcurrencyApi for World {
        async fn get_config(&self, _r: &ResourceId) -> Result<Option<CurrentPc>, PortError> {
            Ok(None)
        }
        async fn put_config(&self, _r: &ResourceId, _c: u32) -> Result<(), PortError> {
            Ok(())
        }
        async fn delete_config(&self, _r: &ResourceId) -> Result<(), PortError> {
            Ok(())
        }
        async fn reserved_concurrency(&self, _f: &str) -> Result<Option<u32>, PortError> {
            Ok(None)
        }
        async fn unreserved_concurrency(&self) -> Result<u32, PortError> {
            Ok(10_000)
        }
        async fn alias_target(&self, _f: &str, _a: &str) -> Result<Option<AliasTarget>, PortError> {
            Ok(None)
        }
        async fn function_memory(&self, r: &ResourceId) -> Result<Option<u32>, PortError> {
            self.memory_reads.fetch_add(1, Ordering::SeqCst);
            self.memory.map(Some).ok_or_else(|| {
                PortError::new(
                    "GetFunctionConfiguration",
                    Some(r.to_string()),
                    ErrorKind::AccessDenied,
                    "not authorized to perform lambda:GetFunctionConfiguration",
                )
            })
        }
        async fn cloudformation_stack(&self, _arn: &str) -> Result<Option<String>, PortError> {
            Ok(None)
        }
    }

    fn world(memory: Option<u32>) -> World {
        World {
            state: Mutex::new(State::default()),
            memory,
            memory_reads: AtomicUsize::new(0),
        }
    }

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 5).unwrap() + TimeDelta::minutes(minute)
    }

    /// One tick at `now` with the deployed schedule and `budget`: the
    /// resource's outcome and the tick's calls.
    fn tick(w: &World, now: DateTime<Utc>, budget: Option<u32>) -> (ResourceOutcome, ApiCalls) {
        let opts = TickOptions {
            reconcile_every_minutes: DEFAULT_RECONCILE_MINUTES,
            lambda_budget: budget,
            dry_run: true,
            ..TickOptions::default()
        };
        let ports = Ports {
            store: w,
            metrics: w,
            lambda: w,
        };
        let s = futures::executor::block_on(run_tick(ports, now, &opts)).expect("tick");
        (s.resources[0].clone(), s.api_calls)
    }

    #[test]
    fn the_memory_is_read_once_a_day_within_the_budget_and_prices_the_level() {
        let w = world(Some(3072));
        let (first, calls) = tick(&w, at(0), Some(DEFAULT_LAMBDA_BUDGET));
        assert_eq!(calls.function_config, 1);
        assert_eq!(w.memory_reads.load(Ordering::SeqCst), 1);
        assert_eq!(
            w.state.lock().expect("lock").memory,
            Some(MemoryRead {
                mb: Some(3072),
                at: at(0)
            })
        );
        // 3 GB: 32 cold starts a unit-hour at the default $0.0014; the
        // spikes' 3 an hour do not pay.
        assert_eq!(first.to, Some(0), "{first:?}");
        assert!(first.reason.contains("3072 MB"), "{}", first.reason);
        // Cached: no read for the rest of the day, then one more.
        for m in [1, 2, 60, 1439] {
            let (_, calls) = tick(&w, at(m), Some(DEFAULT_LAMBDA_BUDGET));
            assert_eq!(calls.function_config, 0, "minute {m}");
        }
        let (_, calls) = tick(&w, at(1440), Some(DEFAULT_LAMBDA_BUDGET));
        assert_eq!(calls.function_config, 1);
        assert_eq!(calls.control_plane(), calls.get_config + calls.limits + 1);
        assert_eq!(w.memory_reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_read_the_budget_cannot_spare_waits_and_the_level_uses_todays_price() {
        // Budget 5: the account settings, the config read and the write
        // put aside leave 2, less than the read plus the half (3) kept
        // for writes and confirmations: no memory read. Memory unknown, the
        // one price of before (1.5 an hour) keeps the spikes' 12 units.
        let w = world(Some(3072));
        let (o, calls) = tick(&w, at(0), Some(5));
        assert_eq!(
            (calls.function_config, w.memory_reads.load(Ordering::SeqCst)),
            (0, 0)
        );
        assert_eq!(w.state.lock().expect("lock").memory, None);
        assert_eq!(o.to, Some(12), "{o:?}");
        assert!(o.reason.contains("memory unknown"), "{}", o.reason);
        // A budget of 8 spares it (5 left, 4 kept).
        let (o, calls) = tick(&w, at(1), Some(8));
        assert_eq!(calls.function_config, 1);
        assert_eq!(o.to, Some(0), "{o:?}");
    }

    #[test]
    fn a_failed_read_is_the_fallback_price_and_is_not_asked_again_that_day() {
        let w = world(None);
        let (o, calls) = tick(&w, at(0), Some(DEFAULT_LAMBDA_BUDGET));
        assert_eq!(calls.function_config, 1);
        assert_eq!(o.error, None, "{o:?}");
        assert_eq!(o.to, Some(12), "{o:?}");
        let (_, calls) = tick(&w, at(1), Some(DEFAULT_LAMBDA_BUDGET));
        assert_eq!(calls.function_config, 0);
        assert_eq!(w.memory_reads.load(Ordering::SeqCst), 1);
    }
}

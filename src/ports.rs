//! The ports a tick needs from the world. The AWS adapters ([`crate::aws`])
//! and the simulator ([`crate::sim`]) implement them; [`crate::tick`] uses them.
//!
//! Methods return `impl Future + Send` so that implementations may be plain
//! `async fn`s and the Lambda runtime can drive the tick on a multi-threaded
//! executor.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::decide::{CurrentPc, Demand};
use crate::core::policy::{InvalidPolicy, MetricKind, Policy, ResourceId};
use crate::core::state::{State, StateDefect};
use crate::core::units::Secs;
use crate::core::window::{DEFAULT_PUBLICATION_DELAY_SECS, Horizon};

/// What kind of failure a port call met; drives retry and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// 429 / ThrottlingException / ProvisionedThroughputExceeded (after retries).
    Throttled,
    /// The resource (function, alias, config, table) does not exist.
    NotFound,
    /// 409 ResourceConflictException (e.g. an update in progress).
    Conflict,
    /// The call did not answer in time.
    Timeout,
    /// 5xx or a body that could not be read.
    Service,
    /// The request was refused as invalid (4xx other than the above).
    Invalid,
    /// Credentials or permissions.
    AccessDenied,
}

/// A failed port call, with the operation and the resource it concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{operation}{}: {kind:?}: {message}", resource.as_deref().map(|r| format!(" on {r}")).unwrap_or_default())]
pub struct PortError {
    /// The API operation, e.g. `PutProvisionedConcurrencyConfig`.
    pub operation: String,
    /// The resource concerned, when there is one.
    pub resource: Option<String>,
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The service's message.
    pub message: String,
    /// The request id AWS gave the failed call, when it answered. Not part
    /// of the error's text: each retry has its own, and the tick records a
    /// recurring error once by its text ([`PortError::request_id_note`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl PortError {
    /// A new error.
    pub fn new(
        operation: impl Into<String>,
        resource: Option<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        PortError {
            operation: operation.into(),
            resource,
            kind,
            message: message.into(),
            request_id: None,
        }
    }

    /// `" (request id <id>)"`, or nothing when AWS gave none: to quote the
    /// id where one occurrence is reported (a CLI error, a log line).
    pub fn request_id_note(&self) -> String {
        self.request_id
            .as_deref()
            .map(|id| format!(" (request id {id})"))
            .unwrap_or_default()
    }
}

/// The three ports a tick drives (what every driver hands [`crate::tick::run_tick`]).
#[derive(Debug)]
pub struct Ports<'a, S, M, C> {
    /// Policies and state.
    pub store: &'a S,
    /// Metrics.
    pub metrics: &'a M,
    /// The Lambda control plane.
    pub lambda: &'a C,
}

/// A parallel-scan slice of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// This worker's segment, `0 <= index < total`.
    pub index: u32,
    /// Total segments.
    pub total: u32,
}

/// One resource as loaded: its policy (or why it is invalid) and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// The item's `pk` as written (may be malformed, hence a string).
    pub key: String,
    /// The validated policy, or every problem with it.
    pub policy: Result<Policy, InvalidPolicy>,
    /// The persisted state (`State::default()` when none yet).
    pub state: State,
}

/// The outcome of a conditional state write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written: the version matched.
    Written,
    /// Another writer got there first; nothing was written.
    Conflict,
}

/// One activity record (`sk = "activity#<RFC 3339>"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// The resource key.
    pub resource: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Capacity before.
    pub from: Option<u32>,
    /// Capacity after (or wanted, when it failed or was a dry run).
    pub to: Option<u32>,
    /// `ScaleOut`, `ScaleIn`, `Delete`, `Error`, ...
    pub action: String,
    /// Which rule and which numbers.
    pub cause: String,
    /// `applied`, `dry-run`, `failed: ...`, `invalid policy`, ...
    pub outcome: String,
    /// The structured reason, when there was a decision.
    pub detail: Option<serde_json::Value>,
}

/// Where policies and state live (DynamoDB in production).
pub trait PolicyStore: Send + Sync {
    /// Every policy item (or one scan segment) with its state.
    fn load(
        &self,
        segment: Option<Segment>,
    ) -> impl Future<Output = Result<Vec<StoredResource>, PortError>> + Send;

    /// Writes `next` for `resource` if the stored version is still
    /// `expected_version` (`0` = no state item yet).
    fn write_state(
        &self,
        resource: &str,
        expected_version: u64,
        next: &State,
    ) -> impl Future<Output = Result<WriteOutcome, PortError>> + Send;

    /// Appends an activity record.
    fn record(&self, activity: &Activity) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Publishes the deployed controller's settings and last tick (the
    /// `controller` item read by `pcscale status` and `explain`). Stores
    /// nobody reads that way (the simulator's, test fakes) keep the default,
    /// which does nothing.
    fn publish_controller(
        &self,
        _report: &ControllerReport,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Replaces a state item that [`PolicyStore::load`] read with a
    /// [`StateDefect`], if the item still holds what was found (the write is
    /// conditioned on [`StateDefect::found`]). A store that never reports
    /// defects keeps this default.
    fn replace_state(
        &self,
        resource: &str,
        found: &StateDefect,
        next: &State,
    ) -> impl Future<Output = Result<WriteOutcome, PortError>> + Send {
        let _ = (found, next);
        let resource = resource.to_owned();
        async move {
            Err(PortError::new(
                "ReplaceState",
                Some(resource),
                ErrorKind::Invalid,
                "this store never reads a defective state",
            ))
        }
    }
}

/// One metric series wanted for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricQuery {
    /// The resource.
    pub resource: ResourceId,
    /// Which metric.
    pub metric: MetricKind,
    /// Minutes of published history wanted, ending at the newest minute
    /// CloudWatch has published (see [`crate::core::window`]).
    pub minutes: u32,
}

/// The answers to a batch of [`MetricQuery`]s: one [`Demand`] per query
/// (`Unknown` where that query, or the whole call, failed).
pub type MetricAnswers = HashMap<MetricQuery, Demand>;

/// Where metrics come from (CloudWatch in production).
pub trait MetricsSource: Send + Sync {
    /// Answers every query as CloudWatch would at `horizon.now`: over the
    /// window [`Horizon::window`] gives for the query's minutes, turned into
    /// a series by [`crate::core::window::MetricWindow::series`] (so that no
    /// source can answer with minutes CloudWatch has not published).
    /// Batching and pagination are the source's business. A failed call
    /// yields `Demand::Unknown` for the queries it covered.
    fn fetch(
        &self,
        queries: &[MetricQuery],
        horizon: Horizon,
    ) -> impl Future<Output = MetricAnswers> + Send;

    /// Requests this source has sent to its backend so far (CloudWatch:
    /// `GetMetricData` calls, every page counted), when it counts them. The
    /// tick reports the difference across its fetch.
    fn requests_sent(&self) -> Option<u64> {
        None
    }
}

/// The Lambda provisioned-concurrency control plane.
pub trait ConcurrencyApi: Send + Sync {
    /// The current config, `None` when there is none.
    fn get_config(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<Option<CurrentPc>, PortError>> + Send;

    /// `PutProvisionedConcurrencyConfig`.
    fn put_config(
        &self,
        resource: &ResourceId,
        capacity: u32,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// `DeleteProvisionedConcurrencyConfig` (absent config: Ok).
    fn delete_config(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The function's reserved concurrency, `None` when unset.
    fn reserved_concurrency(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Option<u32>, PortError>> + Send;

    /// The account's `UnreservedConcurrentExecutions`.
    fn unreserved_concurrency(&self) -> impl Future<Output = Result<u32, PortError>> + Send;

    /// `GetAlias`: the version alias `alias` of `function` points to (`None`:
    /// no such alias). Called only for the few resources that need it
    /// ([`crate::alias`]): the control plane's 15 requests/s are shared.
    fn alias_target(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasTarget>, PortError>> + Send;

    /// `GetFunctionConfiguration` of the resource (its alias or version):
    /// its `MemorySize`, MB (`None`: Lambda gave none). Read at most once a
    /// day per resource, for the cold-start level's price
    /// ([`crate::core::state::MEMORY_RECHECK_SECS`]).
    fn function_memory(
        &self,
        resource: &ResourceId,
    ) -> impl Future<Output = Result<Option<u32>, PortError>> + Send;

    /// `ListTags` on a function: its tag `aws:cloudformation:stack-name`,
    /// the stack that manages it (`None`: not managed by CloudFormation).
    fn cloudformation_stack(
        &self,
        function_arn: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// What `GetAlias` says about an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    /// The version it points to (`FunctionVersion`).
    pub version: String,
    /// The function's ARN, without the alias (for `ListTags`).
    pub function_arn: String,
}

/// The time source. Only drivers read it; the core is handed `now`.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// `pk` and `sk` of the controller item.
pub const CONTROLLER_KEY: &str = "controller";

/// The controller item (built by [`crate::controller`]; attribute names as stored, PascalCase like the
/// policy item's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ControllerReport {
    /// The pcscale version the Lambda runs.
    pub version: String,
    /// `PCSCALE_DRY_RUN`.
    pub dry_run: bool,
    /// `PCSCALE_ALLOWED_FUNCTIONS` (absent: every function allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_functions: Option<Vec<String>>,
    /// `PCSCALE_MAX_PER_FUNCTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_function: Option<u32>,
    /// `PCSCALE_QUIET_EVERY_MINUTES`.
    pub quiet_every_minutes: u32,
    /// The claim lease.
    pub claim_lease_secs: Secs,
    /// `PCSCALE_RECONCILE_MINUTES` (absent in items written before it: 1,
    /// every alias read every tick, as those versions did).
    #[serde(default = "every_tick")]
    pub reconcile_minutes: u32,
    /// `PCSCALE_LAMBDA_BUDGET` (absent: no budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_budget: Option<u32>,
    /// `PCSCALE_METRIC_DELAY_SECONDS` (absent in items written before it
    /// existed: the default).
    #[serde(default = "default_metric_delay_secs")]
    pub metric_delay_secs: u32,
    /// The last tick's `now`.
    pub last_tick_at: DateTime<Utc>,
    /// Its wall time.
    pub last_tick_duration_ms: u64,
    /// Whether that tick ran in dry-run (the environment's or the event's).
    pub last_tick_dry_run: bool,
    /// `I/N` when the tick covered one scan segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Resources decided.
    pub resources: usize,
    /// Capacity changes applied (or recorded, in dry-run).
    pub changed: usize,
    /// Resources in error.
    pub errors: usize,
    /// Resources skipped.
    pub skipped: usize,
    /// Resources whose read or write the budget carried to the next tick.
    #[serde(default)]
    pub carried: usize,
    /// Errors counted by their one-line reason (`invalid policy`, ...).
    #[serde(default)]
    pub errors_by_kind: BTreeMap<String, usize>,
}

fn every_tick() -> u32 {
    1
}

fn default_metric_delay_secs() -> u32 {
    DEFAULT_PUBLICATION_DELAY_SECS
}

//! The Lambda driver (DESIGN.md §4): turns an invocation into one
//! [`crate::tick::run_tick`] and its [`TickSummary`].
//!
//! * [`parse_event`] accepts exactly two shapes — an EventBridge rule's
//!   `"Scheduled Event"` envelope (options in `detail`) and an EventBridge
//!   Scheduler payload (the options object itself, possibly `{}`) — and
//!   rejects anything else with an [`EventError`] that says what it saw.
//! * The environment (`PCSCALE_*`) is read by [`crate::env`], shared with
//!   the CLI so both drivers read it alike.
//! * [`Driver`] holds the ports (built once per execution environment by
//!   `bin/pcscale-lambda.rs`) and is generic over them, after the
//!   `examples/basic-sdk` pattern of aws-lambda-rust-runtime, so tests drive
//!   it with in-memory fakes.
//! * [`emf`] writes the CloudWatch Embedded Metric Format lines and
//!   [`logging`] the JSON log lines Lambda's advanced logging controls expect.

pub mod emf;
pub mod logging;

use std::time::{Duration, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::controller::ControllerReport;
use crate::ports::{Clock, ConcurrencyApi, MetricsSource, PolicyStore, Ports, Segment};
use crate::tick::{TickError, TickOptions, TickSummary, run_tick};

/// The `detail-type` of the events an EventBridge rule with a schedule sends
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html>).
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// DynamoDB's ceiling on `TotalSegments` for a parallel scan
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html>).
pub const MAX_SEGMENTS: u32 = 1_000_000;

/// Time kept back from the invocation deadline: the tick stops *starting*
/// resources this long before Lambda would kill it, so a resource already in
/// flight (a Put with SDK retries plus two state writes) can finish and the
/// summary, EMF lines and logs are still written.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Options an invocation may carry (`{"segment": I, "segments": N, "dryRun": bool}`).
/// Unknown keys are refused so that a mistyped option (or an event meant for
/// another function) is an error, not a silent full tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventOptions {
    /// This invocation's scan segment, `0 <= segment < segments`.
    #[serde(default)]
    pub segment: Option<u32>,
    /// Total scan segments (one schedule per segment).
    #[serde(default)]
    pub segments: Option<u32>,
    /// Dry-run this tick. It can only add to `PCSCALE_DRY_RUN`, never lift it:
    /// whoever can edit a schedule's input must not be able to switch off the
    /// operator's dry run.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Which of the two accepted shapes the event had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// An EventBridge rule's `"Scheduled Event"` envelope.
    ScheduledEvent {
        /// The event `id` (EventBridge delivers at least once; logged to spot duplicates).
        id: Option<String>,
        /// The event `time` (the scheduled minute).
        time: Option<DateTime<Utc>>,
    },
    /// An EventBridge Scheduler payload (the schedule's `Input`, possibly `{}`).
    SchedulerPayload,
}

/// A validated tick request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRequest {
    /// The event's shape.
    pub kind: EventKind,
    /// The scan segment, when the event names one.
    pub segment: Option<Segment>,
    /// The event asked for a dry run.
    pub dry_run: bool,
}

/// Why an event was refused. None of these is worth retrying: the same event
/// fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object at all.
    #[error(
        "unsupported event: expected a JSON object (an EventBridge \"Scheduled Event\" or an EventBridge Scheduler payload such as {{}}), got a JSON {0}"
    )]
    NotAnObject(&'static str),
    /// An EventBridge envelope, but not a scheduled one.
    #[error(
        "unsupported EventBridge event: detail-type {detail_type:?} from source {event_source:?}; only \"Scheduled Event\" triggers a tick"
    )]
    UnsupportedDetailType {
        /// The envelope's `detail-type`.
        detail_type: String,
        /// The envelope's `source`.
        event_source: String,
    },
    /// It has `detail-type` but the rest of the envelope is malformed.
    #[error("malformed EventBridge envelope: {0}")]
    MalformedEnvelope(#[source] serde_json::Error),
    /// The options object is not `{"segment", "segments", "dryRun"}`.
    #[error(
        "unsupported event: {location} must hold only \"segment\", \"segments\" and \"dryRun\" (an EventBridge \"Scheduled Event\" or an EventBridge Scheduler payload): {error}"
    )]
    InvalidOptions {
        /// `detail` (envelope) or `the payload` (Scheduler).
        location: &'static str,
        /// What serde found.
        #[source]
        error: serde_json::Error,
    },
    /// Only one of `segment` / `segments`.
    #[error("\"segment\" and \"segments\" must be given together")]
    IncompleteSegment,
    /// `segments` outside DynamoDB's range.
    #[error("\"segments\" must be between 1 and {MAX_SEGMENTS} (DynamoDB TotalSegments), got {0}")]
    BadSegments(u32),
    /// `segment >= segments`.
    #[error("\"segment\" {segment} is out of range: 0 <= segment < segments ({segments})")]
    SegmentOutOfRange {
        /// The segment asked for.
        segment: u32,
        /// The total.
        segments: u32,
    },
}

/// Parses an invocation payload into a [`TickRequest`] (DESIGN.md §4).
pub fn parse_event(event: &Value) -> Result<TickRequest, EventError> {
    let Value::Object(map) = event else {
        return Err(EventError::NotAnObject(json_kind(event)));
    };
    if map.contains_key("detail-type") {
        // The envelope always carries `detail` when EventBridge sends it, but
        // a hand-written test event may not: treat a missing one as `{}`.
        let mut envelope = map.clone();
        envelope
            .entry("detail")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let envelope: EventBridgeEvent<Value> = serde_json::from_value(Value::Object(envelope))
            .map_err(EventError::MalformedEnvelope)?;
        if envelope.detail_type != SCHEDULED_EVENT {
            return Err(EventError::UnsupportedDetailType {
                detail_type: envelope.detail_type,
                event_source: envelope.source,
            });
        }
        let options = match envelope.detail {
            Value::Null => EventOptions::default(),
            detail => {
                serde_json::from_value(detail).map_err(|error| EventError::InvalidOptions {
                    location: "detail",
                    error,
                })?
            }
        };
        let kind = EventKind::ScheduledEvent {
            id: envelope.id,
            time: envelope.time,
        };
        return request(kind, options);
    }
    let options: EventOptions =
        serde_json::from_value(event.clone()).map_err(|error| EventError::InvalidOptions {
            location: "the payload",
            error,
        })?;
    request(EventKind::SchedulerPayload, options)
}

fn request(kind: EventKind, options: EventOptions) -> Result<TickRequest, EventError> {
    let segment = match (options.segment, options.segments) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => return Err(EventError::IncompleteSegment),
        (Some(index), Some(total)) => {
            if total == 0 || total > MAX_SEGMENTS {
                return Err(EventError::BadSegments(total));
            }
            if index >= total {
                return Err(EventError::SegmentOutOfRange {
                    segment: index,
                    segments: total,
                });
            }
            Some(Segment { index, total })
        }
    };
    Ok(TickRequest {
        kind,
        segment,
        dry_run: options.dry_run.unwrap_or(false),
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Deadlines below this (2001-09-09) cannot be the epoch milliseconds of a
/// current invocation: `cargo lambda watch` sends the function timeout
/// itself (`Lambda-Runtime-Deadline-Ms: 600000`), `Context::default()` 0.
pub const PLAUSIBLE_DEADLINE_MS: u64 = 1_000_000_000_000;

/// How long the tick may keep starting resources, given the invocation
/// deadline (ms since the epoch, as the Runtime API reports it in
/// `Lambda-Runtime-Deadline-Ms`) and the time now. `None` when the deadline
/// is unknown (0, or too small to be epoch milliseconds: see
/// [`PLAUSIBLE_DEADLINE_MS`]). With less than twice [`DEADLINE_MARGIN`]
/// left, half of what is left.
pub fn tick_deadline(deadline_ms: u64, now: SystemTime) -> Option<Duration> {
    if deadline_ms < PLAUSIBLE_DEADLINE_MS {
        return None;
    }
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
    Some(if left >= DEADLINE_MARGIN * 2 {
        left - DEADLINE_MARGIN
    } else {
        left / 2
    })
}

/// Why an invocation failed; mapped to the Runtime API's error `errorType`
/// so CloudWatch Logs and async-invocation destinations can tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event was not a tick request (not retryable).
    #[error(transparent)]
    Event(#[from] EventError),
    /// The tick could not run at all, e.g. the table is unreachable.
    #[error(transparent)]
    Tick(#[from] TickError),
}

impl HandlerError {
    /// The `errorType` reported to the Runtime API.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "pcscale.InvalidEvent",
            HandlerError::Tick(_) => "pcscale.TickFailed",
        }
    }

    /// A low-cardinality label for logs and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "invalid_event",
            HandlerError::Tick(_) => "tick_failed",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The Lambda handler's state: the ports and the environment's options,
/// built once per execution environment and reused by every invocation.
#[derive(Debug)]
pub struct Driver<S, M, C, K> {
    /// Policies and state.
    pub store: S,
    /// Metrics.
    pub metrics: M,
    /// The Lambda control plane.
    pub lambda: C,
    /// The clock that gives the tick its `now`.
    pub clock: K,
    /// Options from the environment (see [`crate::env::tick_options_from_env`]).
    pub options: TickOptions,
    /// The `FunctionName` dimension of the per-tick EMF line.
    pub function_name: String,
    /// Whether to write EMF lines to stdout (off in unit tests).
    pub emit_emf: bool,
}

impl<S, M, C, K> Driver<S, M, C, K>
where
    S: PolicyStore,
    M: MetricsSource,
    C: ConcurrencyApi,
    K: Clock,
{
    /// The options for one invocation: the environment's, with the event's
    /// segment and dry-run and a deadline from the invocation's.
    pub fn options_for(&self, req: &TickRequest, deadline_ms: u64) -> TickOptions {
        TickOptions {
            dry_run: self.options.dry_run || req.dry_run,
            segment: req.segment.or(self.options.segment),
            deadline: tick_deadline(deadline_ms, SystemTime::now()).or(self.options.deadline),
            ..self.options.clone()
        }
    }

    /// Handles one invocation and returns the summary; also writes the EMF
    /// lines (when [`Driver::emit_emf`]) and one summary log line.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<TickSummary, HandlerError> {
        let (payload, ctx) = event.into_parts();
        let req = match parse_event(&payload) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, error_type = "pcscale.InvalidEvent", "event refused");
                return Err(e.into());
            }
        };
        let opts = self.options_for(&req, ctx.deadline);
        let ports = Ports {
            store: &self.store,
            metrics: &self.metrics,
            lambda: &self.lambda,
        };
        let summary = match run_tick(ports, self.clock.now(), &opts).await {
            Ok(s) => s,
            Err(e) => {
                let e = HandlerError::from(e);
                // No EMF line: the invocation fails, and the `AWS/Lambda`
                // `Errors` metric (which the template's alarm watches) counts it.
                warn!(error = %e, error_type = e.error_type(), "tick could not run");
                return Err(e);
            }
        };
        // Tell the CLI (`status`, `explain`) what the controller runs with.
        let report = ControllerReport::from_tick(&summary, &self.options, &opts);
        if let Err(e) = self.store.publish_controller(&report).await {
            warn!(error = %e, "controller item not written");
        }
        if self.emit_emf {
            for line in emf::tick_lines(&summary, &self.function_name) {
                emf::print(&line);
            }
        }
        info!(
            event = ?req.kind,
            segment = ?opts.segment,
            dry_run = opts.dry_run,
            resources = summary.totals.resources,
            changed = summary.totals.changed,
            errors = summary.totals.errors,
            skipped = summary.totals.skipped,
            duration_ms = summary.duration_ms,
            "tick done"
        );
        Ok(summary)
    }
}

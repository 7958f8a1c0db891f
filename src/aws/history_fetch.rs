//! An alias's own history, for `pcscale simulate --from-cloudwatch`
//! (DESIGN.md §4): its last N days of 1-minute CloudWatch datapoints and its
//! memory, turned into the per-minute trace the Azure-layout reader makes,
//! so that every policy, the baselines and the report run on it unchanged.
//!
//! * `Invocations`, statistic **Sum**, period 60 s: the invocations started
//!   in each minute (the trace's counts);
//! * `Duration`, statistic **Average**, period 60 s: each minute's mean
//!   duration; the trace's duration distribution is their distribution
//!   weighted by invocations (the spread within a minute is not published
//!   at 1-minute Average, so the replay's durations are less spread than
//!   the real ones);
//! * `MemorySize` from `GetFunctionConfiguration` of the version the alias
//!   points at (`GetAlias` first: LocalStack's `GetFunctionConfiguration`
//!   does not resolve aliases, AWS's gives the same answer; both calls are
//!   free). They also tell an unknown alias from an idle one: CloudWatch
//!   answers both with no datapoints.
//!
//! `ConcurrentExecutions` is not fetched: the trace model replays
//! invocations and durations, and concurrency follows from them.
//!
//! Both metrics use the dimensions `FunctionName=<fn>` and
//! `Resource=<fn>:<qualifier>`, as the tick's do ([`super::cloudwatch`]).
//! Queries go in as few `GetMetricData` calls as the API allows: at most
//! [`MAX_QUERIES_PER_CALL`] queries and [`MAX_DATAPOINTS_PER_CALL`]
//! datapoints a call, `NextToken` followed. Memory is bounded by the
//! aliases x minutes asked for (at most [`MAX_RESOURCES`] x 15 days);
//! datapoints go straight into per-minute arrays, never into lists.

use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types::{MetricDataQuery, MetricDataResult, ScanBy, StatusCode};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use tracing::{Instrument, info_span, warn};

use super::Service;
use super::cloudwatch::{MAX_QUERIES_PER_CALL, alias_minutes};
use super::lambda::LambdaApi;
use crate::core::policy::ResourceId;
use crate::core::window::{DEFAULT_PUBLICATION_DELAY_SECS, minute_start};
use crate::ports::ConcurrencyApi;
use crate::ports::{ErrorKind, PortError};
use crate::sim::pricing::GET_METRIC_DATA_PER_METRIC;
use crate::sim::trace::{
    Arrivals, DurationDist, FunctionTrace, MAX_MINUTE_COUNT, Trace, TraceFormat,
};

/// CloudWatch keeps 1-minute datapoints 15 days (5-minute ones 63 days):
/// the most `--days` can ask for.
pub const MAX_DAYS: u32 = 15;

/// `--days` when not given.
pub const DEFAULT_DAYS: u32 = 14;

/// `GetMetricData` returns at most 100,800 datapoints per call
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html>).
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;

/// The most aliases one run fetches (two 15-day series of each: about
/// 260 KB an alias in memory).
pub const MAX_RESOURCES: usize = 100;

/// The metrics fetched per alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryMetric {
    /// `Invocations`, Sum.
    Invocations,
    /// `Duration` (milliseconds), Average.
    Duration,
}

impl HistoryMetric {
    /// Both, in query order.
    pub const ALL: [HistoryMetric; 2] = [HistoryMetric::Invocations, HistoryMetric::Duration];

    /// CloudWatch's metric name.
    pub fn name(self) -> &'static str {
        match self {
            HistoryMetric::Invocations => "Invocations",
            HistoryMetric::Duration => "Duration",
        }
    }

    /// The statistic requested.
    pub fn statistic(self) -> &'static str {
        match self {
            HistoryMetric::Invocations => "Sum",
            HistoryMetric::Duration => "Average",
        }
    }

    /// The prefix of its query ids (`inv3`, `dur3`).
    fn id_prefix(self) -> &'static str {
        match self {
            HistoryMetric::Invocations => "inv",
            HistoryMetric::Duration => "dur",
        }
    }
}

/// Why an alias's history could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// More days than CloudWatch keeps at 1 minute, or none.
    #[error(
        "--days {0}: CloudWatch keeps 1-minute data {MAX_DAYS} days (5-minute data 63 days); pass 1 to {MAX_DAYS}"
    )]
    Days(u32),
    /// More aliases than one run fetches.
    #[error("{0} aliases: at most {MAX_RESOURCES} per run (run it again for the others)")]
    TooManyResources(usize),
    /// Lambda does not know the alias.
    #[error("{resource}: no such function or alias in this account and region ({source})")]
    UnknownAlias {
        /// The alias.
        resource: String,
        /// Lambda's answer.
        #[source]
        source: Box<PortError>,
    },
    /// `GetFunctionConfiguration` failed otherwise.
    #[error("{resource}: cannot read its memory size{hint}: {source}")]
    Lambda {
        /// The alias.
        resource: String,
        /// What to do about it (a permission, a retry).
        hint: String,
        /// Lambda's answer.
        #[source]
        source: Box<PortError>,
    },
    /// `GetMetricData` failed (after the SDK's retries).
    #[error("CloudWatch GetMetricData failed{hint}: {source}")]
    CloudWatch {
        /// What to do about it (a permission, a retry).
        hint: String,
        /// CloudWatch's answer.
        #[source]
        source: Box<PortError>,
    },
    /// One query's answer is unusable (an error status, a message, a bad value).
    #[error("GetMetricData {metric} of {resource}: {message}")]
    Query {
        /// The alias.
        resource: String,
        /// The metric.
        metric: &'static str,
        /// What was wrong.
        message: String,
    },
    /// No invocation at all in the window, for these aliases.
    #[error(
        "no Invocations datapoints in the last {days} day(s) for {}: CloudWatch has no 1-minute data for them (not invoked in that time, or another region or account?)",
        .resources.join(", ")
    )]
    NoDatapoints {
        /// The aliases.
        resources: Vec<String>,
        /// The days asked for.
        days: u32,
    },
}

/// The minutes fetched: `days` whole days of minutes ending with the last
/// minute CloudWatch has surely published (ended at least
/// [`DEFAULT_PUBLICATION_DELAY_SECS`] ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    /// The first minute's start.
    pub start: DateTime<Utc>,
    /// How many minutes.
    pub minutes: u32,
    /// The days asked for.
    pub days: u32,
}

impl HistoryWindow {
    /// The last `days` days before `now` (1 to [`MAX_DAYS`]).
    pub fn last_days(now: DateTime<Utc>, days: u32) -> Result<Self, HistoryError> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(HistoryError::Days(days));
        }
        let end = minute_start(now - TimeDelta::seconds(i64::from(DEFAULT_PUBLICATION_DELAY_SECS)));
        let minutes = days * 1440;
        Ok(HistoryWindow {
            start: end - TimeDelta::minutes(i64::from(minutes)),
            minutes,
            days,
        })
    }

    /// The end (exclusive): the start of the first minute not fetched.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(i64::from(self.minutes))
    }

    /// The minute a datapoint at `secs` (Unix) belongs to, if in the window.
    fn index(&self, secs: i64) -> Option<usize> {
        let d = secs.checked_sub(self.start.timestamp())?;
        let m = usize::try_from(d.div_euclid(60)).ok()?;
        (m < self.minutes as usize).then_some(m)
    }

    /// Queries per `GetMetricData` call: as many as fit
    /// [`MAX_DATAPOINTS_PER_CALL`] (each query has a datapoint a minute)
    /// and [`MAX_QUERIES_PER_CALL`].
    pub fn queries_per_call(&self) -> usize {
        (MAX_DATAPOINTS_PER_CALL / (self.minutes as usize).max(1)).clamp(1, MAX_QUERIES_PER_CALL)
    }
}

/// One alias's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasHistory {
    /// The alias.
    pub resource: ResourceId,
    /// Its memory, MB (`GetFunctionConfiguration`).
    pub memory_mb: u32,
    /// Invocations per minute of the window.
    pub invocations: Vec<u32>,
    /// Average duration per minute, ms (`None`: no datapoint).
    pub duration_ms: Vec<Option<f32>>,
}

impl AliasHistory {
    /// All its invocations.
    pub fn total_invocations(&self) -> u64 {
        self.invocations.iter().map(|&n| u64::from(n)).sum()
    }

    /// Its mean duration, ms, weighted by invocations (`None` without
    /// Duration datapoints in active minutes).
    pub fn mean_duration_ms(&self) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0.0);
        for (&c, d) in self.invocations.iter().zip(&self.duration_ms) {
            if let (true, Some(d)) = (c > 0, d) {
                sum += f64::from(*d) * f64::from(c);
                n += f64::from(c);
            }
        }
        (n > 0.0).then(|| sum / n)
    }

    /// The distribution of its per-minute average durations, weighted by
    /// invocations, as the 7 percentiles of the Azure layout (`None`
    /// without Duration datapoints in active minutes).
    pub fn duration_dist(&self) -> Option<DurationDist> {
        let mut points: Vec<(f64, f64)> = self
            .invocations
            .iter()
            .zip(&self.duration_ms)
            .filter_map(|(&c, d)| match d {
                Some(d) if c > 0 && d.is_finite() && *d >= 0.0 => {
                    Some((f64::from(*d), f64::from(c)))
                }
                _ => None,
            })
            .collect();
        if points.is_empty() {
            return None;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = points.iter().map(|p| p.1).sum();
        let mut ms = [0.0; 7];
        for (k, &p) in DurationDist::PROBABILITIES.iter().enumerate() {
            let want = p * total;
            let mut acc = 0.0;
            ms[k] = points.last().map_or(0.0, |x| x.0);
            for &(d, w) in &points {
                acc += w;
                if acc >= want {
                    ms[k] = d;
                    break;
                }
            }
        }
        Some(DurationDist::from_percentiles_ms(ms))
    }
}

/// What the fetch sent (CloudWatch bills metrics requested, not datapoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchStats {
    /// `GetMetricData` requests, every page counted.
    pub get_metric_data_calls: u64,
    /// Metrics requested, summed over the requests (a page of a paginated
    /// call asks for its metrics again, so it is counted again: an upper
    /// bound of the bill).
    pub metrics_requested: u64,
    /// `GetFunctionConfiguration` calls (free).
    pub get_function_configuration_calls: u64,
    /// `GetAlias` calls (free).
    pub get_alias_calls: u64,
}

impl FetchStats {
    /// What the `GetMetricData` requests cost, in dollars ($0.01 per 1,000
    /// metrics requested).
    pub fn cost_usd(&self) -> f64 {
        self.metrics_requested as f64 * GET_METRIC_DATA_PER_METRIC
    }
}

/// Fetches the history of every alias of `resources` over `window`:
/// memory first (an unknown alias fails before any metric is paid for),
/// then both metrics in as few `GetMetricData` calls as the limits allow.
pub async fn fetch_histories(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    lambda: &LambdaApi,
    resources: &[ResourceId],
    window: &HistoryWindow,
) -> Result<(Vec<AliasHistory>, FetchStats), HistoryError> {
    if resources.len() > MAX_RESOURCES {
        return Err(HistoryError::TooManyResources(resources.len()));
    }
    let mut stats = FetchStats::default();
    let mut memory = Vec::with_capacity(resources.len());
    for r in resources {
        memory.push(memory_mb(lambda, r, &mut stats).await?);
    }
    let mut histories: Vec<AliasHistory> = resources
        .iter()
        .zip(memory)
        .map(|(r, memory_mb)| AliasHistory {
            resource: r.clone(),
            memory_mb,
            invocations: vec![0; window.minutes as usize],
            duration_ms: vec![None; window.minutes as usize],
        })
        .collect();
    let queries: Vec<(usize, HistoryMetric)> = (0..resources.len())
        .flat_map(|i| HistoryMetric::ALL.map(|m| (i, m)))
        .collect();
    for chunk in queries.chunks(window.queries_per_call()) {
        let span = info_span!("cloudwatch.history", queries = chunk.len());
        fetch_chunk(cloudwatch, chunk, window, &mut histories, &mut stats)
            .instrument(span)
            .await?;
    }
    let empty: Vec<String> = histories
        .iter()
        .filter(|h| h.invocations.iter().all(|&n| n == 0))
        .map(|h| h.resource.to_string())
        .collect();
    if !empty.is_empty() {
        return Err(HistoryError::NoDatapoints {
            resources: empty,
            days: window.days,
        });
    }
    Ok((histories, stats))
}

/// `MemorySize` of the version `r` is or points at: `GetAlias` for an
/// alias, then `GetFunctionConfiguration` of the version.
async fn memory_mb(
    lambda: &LambdaApi,
    r: &ResourceId,
    stats: &mut FetchStats,
) -> Result<u32, HistoryError> {
    let key = r.to_string();
    let failed = |source: PortError, permission: &str| match source.kind {
        ErrorKind::NotFound => HistoryError::UnknownAlias {
            resource: key.clone(),
            source: Box::new(source),
        },
        kind => HistoryError::Lambda {
            resource: key.clone(),
            hint: hint(kind, permission),
            source: Box::new(source),
        },
    };
    let version = if r.qualifier.bytes().all(|b| b.is_ascii_digit()) {
        r.qualifier.clone()
    } else {
        stats.get_alias_calls += 1;
        match lambda.alias_target(&r.function, &r.qualifier).await {
            Ok(Some(t)) => t.version,
            Ok(None) => {
                let source = PortError::new(
                    "GetAlias",
                    Some(key.clone()),
                    ErrorKind::NotFound,
                    "Lambda: no such function or alias",
                );
                return Err(failed(source, "lambda:GetAlias"));
            }
            Err(e) => return Err(failed(e, "lambda:GetAlias")),
        }
    };
    stats.get_function_configuration_calls += 1;
    lambda.limiter().acquire().await;
    let out = lambda
        .client()
        .get_function_configuration()
        .function_name(&r.function)
        .qualifier(&version)
        .send()
        .await
        .map_err(|e| {
            let source =
                super::port_error(Service::Lambda, "GetFunctionConfiguration", Some(&key), &e);
            failed(source, "lambda:GetFunctionConfiguration")
        })?;
    // Lambda always says; 128 MB (its floor) if an emulator does not.
    Ok(out
        .memory_size()
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(128))
}

/// What to do about a failed call needing `permission`.
fn hint(kind: ErrorKind, permission: &str) -> String {
    match kind {
        ErrorKind::AccessDenied => format!(" (your credentials need {permission})"),
        ErrorKind::Throttled => {
            " (throttled after the SDK's retries: try again in a minute, or with fewer aliases)"
                .to_owned()
        }
        _ => String::new(),
    }
}

/// The timeouts of a history request: a page of 100,800 datapoints takes
/// longer than the tick's short queries (10 s an attempt,
/// [`super::config::sdk_config_loader`]); LocalStack takes tens of
/// seconds over days of minutes.
fn history_timeouts() -> aws_sdk_cloudwatch::config::timeout::TimeoutConfig {
    aws_sdk_cloudwatch::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(120))
        .operation_timeout(std::time::Duration::from_secs(300))
        .build()
}

/// One `GetMetricData` call (all its pages) for `chunk`'s queries.
async fn fetch_chunk(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    chunk: &[(usize, HistoryMetric)],
    window: &HistoryWindow,
    histories: &mut [AliasHistory],
    stats: &mut FetchStats,
) -> Result<(), HistoryError> {
    let queries: Vec<MetricDataQuery> = chunk
        .iter()
        .map(|&(i, m)| data_query(i, m, &histories[i].resource))
        .collect();
    let mut status: Vec<Option<StatusCode>> = vec![None; chunk.len()];
    let mut token: Option<String> = None;
    loop {
        stats.get_metric_data_calls += 1;
        stats.metrics_requested += chunk.len() as u64;
        let out = cloudwatch
            .get_metric_data()
            .start_time(SmithyDateTime::from_secs(window.start.timestamp()))
            .end_time(SmithyDateTime::from_secs(window.end().timestamp()))
            .set_metric_data_queries(Some(queries.clone()))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.take())
            .customize()
            .config_override(
                aws_sdk_cloudwatch::config::Builder::default().timeout_config(history_timeouts()),
            )
            .send()
            .await
            .map_err(|e| {
                let source = super::port_error(Service::CloudWatch, "GetMetricData", None, &e);
                HistoryError::CloudWatch {
                    hint: hint(source.kind, "cloudwatch:GetMetricData"),
                    source: Box::new(source),
                }
            })?;
        for m in out.messages() {
            warn!(code = ?m.code(), message = ?m.value(), "GetMetricData message");
        }
        for r in out.metric_data_results() {
            let Some(k) = r.id().and_then(|id| position(chunk, id)) else {
                continue;
            };
            let (i, metric) = chunk[k];
            place(r, metric, window, &mut histories[i])?;
            status[k] = r.status_code().cloned();
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for (k, s) in status.iter().enumerate() {
        let (i, metric) = chunk[k];
        match s {
            Some(StatusCode::Complete) => {}
            other => {
                return Err(HistoryError::Query {
                    resource: histories[i].resource.to_string(),
                    metric: metric.name(),
                    message: match other {
                        None => "no result in the answer".to_owned(),
                        Some(s) => format!("status {}", s.as_str()),
                    },
                });
            }
        }
    }
    Ok(())
}

/// The index in `chunk` of the query with id `id` (`inv<i>` / `dur<i>`).
fn position(chunk: &[(usize, HistoryMetric)], id: &str) -> Option<usize> {
    chunk
        .iter()
        .position(|&(i, m)| id.strip_prefix(m.id_prefix()) == Some(i.to_string().as_str()))
}

/// Writes one result's datapoints into the alias's per-minute arrays.
fn place(
    r: &MetricDataResult,
    metric: HistoryMetric,
    window: &HistoryWindow,
    h: &mut AliasHistory,
) -> Result<(), HistoryError> {
    let err = |message: String| HistoryError::Query {
        resource: h.resource.to_string(),
        metric: metric.name(),
        message,
    };
    if let Some(m) = r.messages().first() {
        return Err(err(format!(
            "{}: {}",
            m.code().unwrap_or("message"),
            m.value().unwrap_or("")
        )));
    }
    for (t, &v) in r.timestamps().iter().zip(r.values()) {
        let Some(m) = window.index(t.secs()) else {
            continue;
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(format!(
                "value {v} at {}: not a count or a duration",
                t.secs()
            )));
        }
        match metric {
            HistoryMetric::Invocations => {
                let n = u64::from(h.invocations[m]) + v.round() as u64;
                if n > u64::from(MAX_MINUTE_COUNT) {
                    return Err(err(format!(
                        "{n} invocations in one minute: at most {MAX_MINUTE_COUNT}"
                    )));
                }
                h.invocations[m] = n as u32;
            }
            HistoryMetric::Duration => h.duration_ms[m] = Some(v as f32),
        }
    }
    Ok(())
}

/// The query of `metric` for alias number `i` (`Id` = `inv<i>` / `dur<i>`).
fn data_query(i: usize, metric: HistoryMetric, r: &ResourceId) -> MetricDataQuery {
    alias_minutes(
        format!("{}{i}", metric.id_prefix()),
        metric.name(),
        metric.statistic(),
        r,
    )
}

/// The trace of `histories`: one per-minute function per alias (id = the
/// alias's resource key, name = its function), as the Azure 2019 reader
/// makes, starting at `window.start`'s minute of the day (the replay's
/// clock is set to `window.start` by [`trace_epoch`]).
pub fn to_trace(histories: &[AliasHistory], window: &HistoryWindow) -> Trace {
    let mut notes = vec![
        "CloudWatch durations: the distribution of each alias's per-minute Average Duration, \
         weighted by invocations (the spread within a minute is not published)"
            .to_owned(),
    ];
    let mut missing = Vec::new();
    let functions = histories
        .iter()
        .map(|h| {
            let durations = h.duration_dist();
            if durations.is_none() {
                missing.push(h.resource.to_string());
            }
            FunctionTrace {
                id: h.resource.to_string(),
                name: h.resource.function.clone(),
                trigger: None,
                arrivals: Arrivals::PerMinute(h.invocations.clone()),
                durations,
                memory_mb: Some(f64::from(h.memory_mb)),
            }
        })
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "no Duration datapoints for {}: 1 s assumed",
            missing.join(", ")
        ));
    }
    Trace {
        name: format!(
            "CloudWatch, {} alias(es), {} day(s) from {} to {}",
            histories.len(),
            window.days,
            window.start.format("%Y-%m-%d %H:%M UTC"),
            window.end().format("%Y-%m-%d %H:%M UTC")
        ),
        format: TraceFormat::CloudWatch,
        start_minute: window.start.hour() * 60 + window.start.minute(),
        minutes: window.minutes,
        functions,
        notes,
    }
}

/// The replay's `SimOptions::epoch` for `window`: midnight UTC of its first
/// day, so that minute 0 of the trace is `window.start` on the real clock
/// (weekdays and times of day as they were).
pub fn trace_epoch(window: &HistoryWindow) -> DateTime<Utc> {
    window.start - TimeDelta::minutes(i64::from(window.start.hour() * 60 + window.start.minute()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(days: u32) -> HistoryWindow {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 10, 7, 42).unwrap();
        HistoryWindow::last_days(now, days).expect("valid days")
    }

    fn result(id: &str, points: &[(i64, f64)]) -> MetricDataResult {
        let mut b = MetricDataResult::builder()
            .id(id)
            .status_code(StatusCode::Complete);
        for &(t, v) in points {
            b = b.timestamps(SmithyDateTime::from_secs(t)).values(v);
        }
        b.build()
    }

    fn history(minutes: usize) -> AliasHistory {
        AliasHistory {
            resource: "function:f:live".parse().unwrap(),
            memory_mb: 512,
            invocations: vec![0; minutes],
            duration_ms: vec![None; minutes],
        }
    }

    #[test]
    fn the_window_is_whole_days_ending_with_a_surely_published_minute() {
        let w = window(3);
        // 10:07:42 less 180 s is 10:04:42: minute 10:04 is not surely
        // published (it ends at 10:05, published by 10:08), 10:03 is.
        assert_eq!(w.end(), Utc.with_ymd_and_hms(2026, 3, 4, 10, 4, 0).unwrap());
        assert_eq!(w.minutes, 3 * 1440);
        assert_eq!(w.start, Utc.with_ymd_and_hms(2026, 3, 1, 10, 4, 0).unwrap());
        assert_eq!(
            trace_epoch(&w),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn more_days_than_cloudwatch_keeps_at_one_minute_is_refused_saying_so() {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 10, 7, 42).unwrap();
        for days in [0, 16, 63] {
            let e = HistoryWindow::last_days(now, days).expect_err("refused");
            assert!(
                e.to_string()
                    .contains("CloudWatch keeps 1-minute data 15 days"),
                "{e}"
            );
        }
        assert!(HistoryWindow::last_days(now, 15).is_ok());
    }

    #[test]
    fn a_call_carries_as_many_queries_as_its_datapoint_limit_allows() {
        // 15 days: 21,600 datapoints a query, 4 fit 100,800.
        assert_eq!(window(15).queries_per_call(), 4);
        assert_eq!(window(3).queries_per_call(), 23);
        let short = HistoryWindow {
            minutes: 60,
            ..window(1)
        };
        assert_eq!(short.queries_per_call(), MAX_QUERIES_PER_CALL);
    }

    #[test]
    fn datapoints_land_in_their_minute_and_outside_ones_are_dropped() {
        let w = window(1);
        let t0 = w.start.timestamp();
        let mut h = history(w.minutes as usize);
        let inv = result(
            "inv0",
            &[
                (t0 - 60, 9.0),
                (t0, 3.0),
                (t0 + 120, 5.0),
                (w.end().timestamp(), 7.0),
            ],
        );
        place(&inv, HistoryMetric::Invocations, &w, &mut h).expect("placed");
        let dur = result("dur0", &[(t0, 200.0), (t0 + 120, 400.0)]);
        place(&dur, HistoryMetric::Duration, &w, &mut h).expect("placed");
        assert_eq!(&h.invocations[..3], &[3, 0, 5]);
        assert_eq!(h.total_invocations(), 8);
        assert_eq!(&h.duration_ms[..3], &[Some(200.0), None, Some(400.0)]);
        // (3 x 200 + 5 x 400) / 8
        assert_eq!(h.mean_duration_ms(), Some(325.0));
    }

    #[test]
    fn a_negative_count_or_a_query_message_is_an_error_naming_the_alias() {
        let w = window(1);
        let t0 = w.start.timestamp();
        let mut h = history(w.minutes as usize);
        let e = place(
            &result("inv0", &[(t0, -1.0)]),
            HistoryMetric::Invocations,
            &w,
            &mut h,
        )
        .expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("GetMetricData Invocations of function:f:live"),
            "{e}"
        );
        let with_msg = MetricDataResult::builder()
            .id("dur0")
            .status_code(StatusCode::Complete)
            .messages(
                aws_sdk_cloudwatch::types::MessageData::builder()
                    .code("MaxQueryTimeRangeExceed")
                    .value("too long")
                    .build(),
            )
            .build();
        let e = place(&with_msg, HistoryMetric::Duration, &w, &mut h).expect_err("refused");
        assert!(e.to_string().contains("MaxQueryTimeRangeExceed"), "{e}");
    }

    #[test]
    fn query_ids_find_their_alias_and_metric() {
        let chunk = [
            (0, HistoryMetric::Invocations),
            (0, HistoryMetric::Duration),
            (12, HistoryMetric::Invocations),
            (1, HistoryMetric::Invocations),
        ];
        assert_eq!(position(&chunk, "dur0"), Some(1));
        assert_eq!(position(&chunk, "inv1"), Some(3));
        assert_eq!(position(&chunk, "inv12"), Some(2));
        assert_eq!(position(&chunk, "inv2"), None);
        let q = data_query(7, HistoryMetric::Duration, &history(1).resource);
        assert_eq!(q.id(), Some("dur7"));
        let stat = q.metric_stat().unwrap();
        assert_eq!(stat.stat(), Some("Average"));
        assert_eq!(stat.period(), Some(60));
        let dims: Vec<_> = stat
            .metric()
            .unwrap()
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dims, vec![("FunctionName", "f"), ("Resource", "f:live")]);
    }

    #[test]
    fn durations_are_the_invocation_weighted_distribution_of_minute_averages() {
        let mut h = history(4);
        h.invocations = vec![1, 98, 1, 0];
        h.duration_ms = vec![Some(100.0), Some(200.0), Some(900.0), Some(5000.0)];
        let d = h.duration_dist().expect("durations");
        // Minimum 100 ms, the median minute's 200 ms, the maximum 900 ms
        // (the idle minute's 5 s weighs nothing).
        assert!((d.quantile(0.0) - 0.1).abs() < 1e-9, "{d:?}");
        assert!((d.quantile(0.5) - 0.2).abs() < 1e-9, "{d:?}");
        assert!((d.quantile(1.0) - 0.9).abs() < 1e-9, "{d:?}");
        h.duration_ms = vec![None; 4];
        assert_eq!(h.duration_dist(), None);
    }

    #[test]
    fn the_trace_is_per_minute_counts_named_by_alias_with_memory() {
        let w = window(1);
        let mut a = history(w.minutes as usize);
        a.invocations[5] = 7;
        a.duration_ms[5] = Some(250.0);
        let mut b = history(w.minutes as usize);
        b.resource = "function:g:prod".parse().unwrap();
        b.invocations[9] = 2;
        let t = to_trace(&[a, b], &w);
        assert_eq!(t.format, TraceFormat::CloudWatch);
        assert_eq!(t.minutes, 1440);
        assert_eq!(t.start_minute, 10 * 60 + 4);
        assert_eq!(t.functions[0].id, "function:f:live");
        assert_eq!(t.functions[0].name, "f");
        assert_eq!(t.functions[0].memory_mb, Some(512.0));
        assert_eq!(t.functions[0].invocation_count(), 7);
        let d = t.functions[0].durations.as_ref().expect("durations");
        assert!((d.quantile(0.0) - 0.25).abs() < 1e-9 && (d.quantile(1.0) - 0.25).abs() < 1e-9);
        assert_eq!(t.functions[1].durations, None);
        assert!(
            t.notes
                .iter()
                .any(|n| n == "no Duration datapoints for function:g:prod: 1 s assumed"),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn the_cost_is_a_cent_per_thousand_metrics_requested() {
        let s = FetchStats {
            get_metric_data_calls: 1,
            metrics_requested: 2000,
            get_function_configuration_calls: 1000,
            get_alias_calls: 1000,
        };
        assert!((s.cost_usd() - 0.02).abs() < 1e-12);
    }
}

//! The CloudWatch metrics source: every query of a tick in as few
//! `GetMetricData` calls as the API allows (500 queries per call, following
//! `NextToken`), one per-minute series per query.
//!
//! * `ConcurrentExecutions`, statistic **Maximum**: the metric AWS says to
//!   view with MAX ("Monitoring concurrency",
//!   <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-concurrency.html>);
//!   the true peak demand of the minute, spill-over included.
//! * `ProvisionedConcurrencyUtilization`, statistic **Average**: the same
//!   page suggests MAX for dashboards, but Application Auto Scaling's target
//!   tracking alarms on this metric "use the average statistic by default"
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html>),
//!   and this mode exists to reproduce AWS's behaviour.
//!
//! Both use the dimensions `FunctionName=<fn>` and `Resource=<fn>:<qualifier>`
//! (Lambda publishes per-alias/version metrics under that pair), period 60 s,
//! over the window [`crate::core::window::MetricWindow`] gives: the settled
//! minutes a decision reads, then the minutes that may not be published yet,
//! up to the start of the current minute. The same window's
//! [`MetricWindow::series`] turns the datapoints into the series the
//! decision reads, so an unpublished minute is never read as idle.

use std::future::Future;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use futures::StreamExt;
use tracing::{Instrument, info_span, warn};

use super::Service;
use crate::core::decide::Demand;
use crate::core::policy::{MetricKind, ResourceId};
use crate::core::window::{Horizon, MetricWindow};
use crate::ports::{MetricAnswers, MetricQuery, MetricsSource};

/// `GetMetricData` accepts at most 500 `MetricDataQuery` structures per call
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html>).
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// Batches fetched at once (each batch is one paginated `GetMetricData` call).
const PARALLEL_BATCHES: usize = 4;

/// The metrics source over CloudWatch.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: Client,
    calls: Arc<AtomicU64>,
}

impl CloudWatchMetrics {
    /// A source over `client`.
    pub fn new(client: Client) -> Self {
        CloudWatchMetrics {
            client,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The SDK client (for `pcscale simulate --from-cloudwatch`'s history fetch).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GetMetricData` requests sent so far by this source and its clones
    /// (every page counts).
    pub fn get_metric_data_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Answers one batch of at most 500 queries with one paginated call.
    async fn fetch_batch(
        &self,
        batch: &[MetricQuery],
        horizon: Horizon,
    ) -> Vec<(MetricQuery, Demand)> {
        // One look-back per batch (see `batches`), so one window.
        let window = horizon.window(batch.iter().map(|q| q.minutes).max().unwrap_or(1));
        let queries: Vec<MetricDataQuery> = batch
            .iter()
            .enumerate()
            .map(|(i, q)| data_query(i, q))
            .collect();
        let mut pages: Vec<MetricDataResult> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .get_metric_data()
                .start_time(SmithyDateTime::from_secs(window.start.timestamp()))
                .end_time(SmithyDateTime::from_secs(window.end.timestamp()))
                .set_metric_data_queries(Some(queries.clone()))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    for m in out.messages() {
                        warn!(code = ?m.code(), message = ?m.value(), "GetMetricData message");
                    }
                    token = out.next_token().map(str::to_owned);
                    pages.extend(out.metric_data_results.unwrap_or_default());
                    if token.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    // A failed call is "unknown" for every query it carried:
                    // unknown never scales in (DESIGN.md §3).
                    let err = port_error("GetMetricData", None, &e);
                    warn!(error = %err, queries = batch.len(), "metrics unavailable");
                    return batch
                        .iter()
                        .map(|q| (q.clone(), Demand::Unknown(err.to_string())))
                        .collect();
                }
            }
        }
        answers(batch, &pages, &window)
    }
}

// Futures are boxed at the port boundary: see the `aws` module docs.
impl MetricsSource for CloudWatchMetrics {
    fn fetch(
        &self,
        queries: &[MetricQuery],
        horizon: Horizon,
    ) -> impl Future<Output = MetricAnswers> + Send {
        Box::pin(async move {
            let span = info_span!(
                "cloudwatch.fetch",
                queries = queries.len(),
                now = %horizon.now,
                delay_secs = horizon.delay.secs()
            );
            async {
                // Owned batches: borrowing chunks into the stream trips rustc's
                // higher-ranked lifetime check on the `Send` future.
                let batches = batches(queries);
                futures::stream::iter(batches)
                    .map(|batch| async move { self.fetch_batch(&batch, horizon).await })
                    .buffer_unordered(PARALLEL_BATCHES)
                    .flat_map(futures::stream::iter)
                    .collect::<MetricAnswers>()
                    .await
            }
            .instrument(span)
            .await
        })
    }

    fn requests_sent(&self) -> Option<u64> {
        Some(self.get_metric_data_calls())
    }
}

/// Splits queries into `GetMetricData` calls: one time range per call, so
/// queries are grouped by look-back (a 10-minute scale-in window must not be
/// fetched over a cold-start policy's 8 hours), then cut at 500 per call.
/// CloudWatch bills per metric requested, not per call, so the split costs
/// nothing; with one look-back the count is `ceil(queries / 500)`.
fn batches(queries: &[MetricQuery]) -> Vec<Vec<MetricQuery>> {
    let mut sorted = queries.to_vec();
    sorted.sort_by_key(|q| q.minutes);
    sorted
        .chunk_by(|a, b| a.minutes == b.minutes)
        .flat_map(|group| {
            group
                .chunks(MAX_QUERIES_PER_CALL)
                .map(<[MetricQuery]>::to_vec)
        })
        .collect()
}

/// The start of the minute containing `now` (re-exported from the one window model).
pub use crate::core::window::minute_start;

/// [`super::port_error`] for CloudWatch.
fn port_error<E>(
    operation: &str,
    resource: Option<&str>,
    err: &aws_sdk_cloudwatch::error::SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>,
) -> crate::ports::PortError
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    super::port_error(Service::CloudWatch, operation, resource, err)
}

/// The `MetricDataQuery` for query number `i` of a batch (`Id` = `m<i>`).
fn data_query(i: usize, q: &MetricQuery) -> MetricDataQuery {
    let stat = match q.metric {
        MetricKind::ConcurrentExecutions => "Maximum",
        MetricKind::ProvisionedConcurrencyUtilization => "Average",
    };
    alias_minutes(format!("m{i}"), q.metric.as_str(), stat, &q.resource)
}

/// The query `id` of an alias's `AWS/Lambda` metric `name` per minute under
/// `stat`: dimensions `FunctionName` and `Resource` = `function:qualifier`,
/// as Lambda publishes them for an alias or a version. The tick's batches
/// and the `simulate --from-cloudwatch` history fetch both ask this way.
pub(crate) fn alias_minutes(id: String, name: &str, stat: &str, r: &ResourceId) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(&r.function)
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("Resource")
                .value(format!("{}:{}", r.function, r.qualifier))
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// Turns the results of every page into one answer per query. A query's
/// datapoints may be spread over pages (status `PartialData` until the last);
/// its final status decides: `Complete` is known (the series `window` makes
/// of its datapoints: missing published minutes are `None`, i.e. no
/// invocations; unpublished ones are left out), anything else, or any
/// message, is unknown for that query only.
fn answers(
    batch: &[MetricQuery],
    pages: &[MetricDataResult],
    window: &MetricWindow,
) -> Vec<(MetricQuery, Demand)> {
    struct Acc<'a> {
        points: Vec<(i64, f64)>,
        status: Option<&'a StatusCode>,
        messages: Vec<String>,
    }
    let mut by_id: HashMap<&str, Acc<'_>> = HashMap::new();
    for r in pages {
        let Some(id) = r.id() else { continue };
        let acc = by_id.entry(id).or_insert_with(|| Acc {
            points: Vec::new(),
            status: None,
            messages: Vec::new(),
        });
        acc.points.extend(
            r.timestamps()
                .iter()
                .map(SmithyDateTime::secs)
                .zip(r.values().iter().copied()),
        );
        acc.status = r.status_code();
        acc.messages.extend(r.messages().iter().map(|m| {
            format!(
                "{}: {}",
                m.code().unwrap_or("message"),
                m.value().unwrap_or("")
            )
        }));
    }
    batch
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let id = format!("m{i}");
            let demand = match by_id.get(id.as_str()) {
                None => Demand::Unknown(format!(
                    "GetMetricData returned no result for {} of {}",
                    q.metric.as_str(),
                    q.resource
                )),
                Some(acc) if !acc.messages.is_empty() => Demand::Unknown(format!(
                    "GetMetricData {} of {}: {}",
                    q.metric.as_str(),
                    q.resource,
                    acc.messages.join("; ")
                )),
                Some(acc) if acc.status == Some(&StatusCode::Complete) => Demand::Known(
                    window
                        .keeping(q.minutes)
                        .series(acc.points.iter().copied(), None),
                ),
                Some(acc) => Demand::Unknown(format!(
                    "GetMetricData {} of {}: status {}",
                    q.metric.as_str(),
                    q.resource,
                    acc.status.map_or("missing", |s| s.as_str())
                )),
            };
            (q.clone(), demand)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::ResourceId;
    use crate::core::window::PublicationDelay;
    use chrono::{TimeZone, Utc};

    fn q(minutes: u32) -> MetricQuery {
        MetricQuery {
            resource: "function:f:live".parse::<ResourceId>().unwrap(),
            metric: MetricKind::ConcurrentExecutions,
            minutes,
        }
    }

    fn result(id: &str, points: &[(i64, f64)], status: StatusCode) -> MetricDataResult {
        let mut b = MetricDataResult::builder().id(id).status_code(status);
        for &(t, v) in points {
            b = b.timestamps(SmithyDateTime::from_secs(t)).values(v);
        }
        b.build()
    }

    #[test]
    fn the_window_ends_at_the_start_of_the_current_minute() {
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 10, 7, 42).unwrap();
        assert_eq!(
            minute_start(now),
            Utc.with_ymd_and_hms(2025, 3, 1, 10, 7, 0).unwrap()
        );
    }

    #[test]
    fn queries_are_batched_by_lookback_then_by_500() {
        let mut qs: Vec<MetricQuery> = (0..1000).map(|i| q(10 + i % 2)).collect();
        qs.push(q(480));
        let b = batches(&qs);
        // 500 of 10 min, 500 of 11 min, 1 of 480 min.
        assert_eq!(b.len(), 3);
        assert!(b.iter().all(|c| c.len() <= MAX_QUERIES_PER_CALL));
        assert!(
            b.iter()
                .all(|c| c.iter().all(|x| x.minutes == c[0].minutes))
        );
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 1001);
        let same: Vec<MetricQuery> = (0..1000).map(|_| q(10)).collect();
        assert_eq!(batches(&same).len(), 2);
    }

    /// The window at 10:07:30 with a 60-s delay: settled up to 10:06, the
    /// current minute 10:07 not requested.
    fn window(minutes: u32) -> MetricWindow {
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 10, 7, 30).unwrap();
        Horizon {
            now,
            delay: PublicationDelay::from_secs(60).unwrap(),
        }
        .window(minutes)
    }

    #[test]
    fn a_batch_requests_its_window_and_shorter_queries_keep_their_latest_minutes() {
        let w = window(4);
        assert_eq!(w.start, Utc.with_ymd_and_hms(2025, 3, 1, 10, 2, 0).unwrap());
        assert_eq!(w.end, Utc.with_ymd_and_hms(2025, 3, 1, 10, 7, 0).unwrap());
        let t0 = w.start.timestamp();
        let batch = vec![q(4), q(2)];
        let pts = [(t0, 3.0), (t0 + 180, 9.0), (t0 + 240, 1.0)];
        let pages = vec![
            result("m0", &pts, StatusCode::Complete),
            result("m1", &pts, StatusCode::Complete),
        ];
        let got = answers(&batch, &pages, &w);
        // 10:06 (pending) has a datapoint: published; nothing is unpublished.
        let Demand::Known(s) = &got[0].1 else {
            panic!("{:?}", got[0].1)
        };
        assert_eq!(s.minutes, vec![None, None, Some(9.0), Some(1.0)]);
        assert_eq!(s.unpublished, 0);
        let Demand::Known(s) = &got[1].1 else {
            panic!("{:?}", got[1].1)
        };
        assert_eq!(s.minutes, vec![Some(9.0), Some(1.0)]);
    }

    #[test]
    fn results_split_over_pages_are_merged_and_the_final_status_decides() {
        let w = window(3);
        let t0 = w.start.timestamp();
        let batch = vec![q(3), q(3), q(3)];
        let pages = vec![
            result("m0", &[(t0, 1.0)], StatusCode::PartialData),
            result("m1", &[], StatusCode::InternalError),
            result("m0", &[(t0 + 120, 5.0)], StatusCode::Complete),
            result("m2", &[], StatusCode::Complete),
        ];
        let got = answers(&batch, &pages, &w);
        let Demand::Known(s) = &got[0].1 else {
            panic!("{:?}", got[0].1)
        };
        assert_eq!(s.minutes, vec![Some(1.0), None, Some(5.0)]);
        assert!(matches!(&got[1].1, Demand::Unknown(m) if m.contains("InternalError")));
        // No datapoints at all: the settled minutes are a known zero, and the
        // pending minute 10:06 is left out, not read as idle.
        let Demand::Known(s) = &got[2].1 else {
            panic!("{:?}", got[2].1)
        };
        assert_eq!(s.minutes, vec![None, None, None]);
        assert_eq!(s.unpublished, 1);
    }

    #[test]
    fn a_query_missing_from_the_response_or_with_messages_is_unknown() {
        let batch = vec![q(1), q(1)];
        let with_msg = MetricDataResult::builder()
            .id("m0")
            .status_code(StatusCode::Complete)
            .messages(
                aws_sdk_cloudwatch::types::MessageData::builder()
                    .code("ArithmeticError")
                    .value("boom")
                    .build(),
            )
            .build();
        let got = answers(&batch, &[with_msg], &window(1));
        assert!(matches!(&got[0].1, Demand::Unknown(m) if m.contains("ArithmeticError")));
        assert!(matches!(&got[1].1, Demand::Unknown(m) if m.contains("no result")));
    }

    #[test]
    fn queries_use_maximum_for_demand_and_average_for_utilisation() {
        let mut util = q(1);
        util.metric = MetricKind::ProvisionedConcurrencyUtilization;
        let dq = data_query(7, &util);
        assert_eq!(dq.id(), Some("m7"));
        let stat = dq.metric_stat().unwrap();
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
        assert_eq!(
            data_query(0, &q(1)).metric_stat().unwrap().stat(),
            Some("Maximum")
        );
    }
}

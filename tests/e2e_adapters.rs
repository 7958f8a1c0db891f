//! End-to-end checks of each AWS adapter against the emulators (moto for
//! DynamoDB, LocalStack for CloudWatch and Lambda): pagination, scan
//! segments, conditional writes, `GetMetricData` batching, error mapping and
//! the shared rate limit. The tick scenarios are in `e2e_tick.rs`.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pcscale::aws::cloudwatch::{MAX_QUERIES_PER_CALL, minute_start};
use pcscale::aws::{AwsPorts, CloudWatchMetrics};
use pcscale::core::decide::{Demand, PcStatus, Series};
use pcscale::core::policy::{MetricKind, ResourceId};
use pcscale::core::state::State;
use pcscale::core::window::{Horizon, PublicationDelay};
use pcscale::ports::{
    Activity, ConcurrencyApi, ErrorKind, MetricQuery, MetricsSource, PolicyStore, Segment,
    WriteOutcome,
};
use serde_json::json;
use support::Seed;
use support::fault_proxy::FaultProxy;

async fn store_on_new_table(prefix: &str) -> (support::Clients, AwsPorts) {
    let c = support::clients().await;
    let table = support::unique(prefix);
    support::create_table(&c.dynamodb, &table).await;
    let ports = support::ports(&c, &table, None);
    (c, ports)
}

fn rid(s: &str) -> ResourceId {
    s.parse().expect("resource id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reads_every_page_and_segments_split_it_disjointly_with_states_beside_policies() {
    let (_c, p) = store_on_new_table("load").await;
    let store = &p.store;
    // ~8 KB per policy: 150 of them span two 1 MB scan pages.
    let filler = "x".repeat(8_000);
    let n: u32 = 150;
    for i in 0..n {
        store
            .put_policy_item(&json!({
                "pk": format!("function:f{i:03}:live"),
                "MinCapacity": 0,
                "MaxCapacity": 10,
                "Description": filler,
            }))
            .await
            .expect("put policy");
        if i.is_multiple_of(3) {
            let state = State {
                version: 1,
                capacity: Some(i),
                ..State::default()
            };
            let w = store
                .write_state(&format!("function:f{i:03}:live"), 0, &state)
                .await
                .expect("write state");
            assert_eq!(w, WriteOutcome::Written);
        }
    }
    // A state whose policy was deleted, and an activity item: neither is a resource.
    store
        .write_state(
            "function:orphan:live",
            0,
            &State {
                version: 1,
                ..State::default()
            },
        )
        .await
        .expect("orphan state");
    store
        .record(&Activity {
            resource: "function:f000:live".into(),
            at: Utc::now(),
            from: Some(0),
            to: Some(1),
            action: "ScaleOut".into(),
            cause: "test".into(),
            outcome: "applied".into(),
            detail: None,
        })
        .await
        .expect("record");

    let all = store.load(None).await.expect("load");
    assert_eq!(
        all.len(),
        n as usize,
        "every policy, no orphan, no activity"
    );
    for r in &all {
        let i: u32 = r.key[10..13].parse().expect("index");
        let expected = i.is_multiple_of(3).then_some(i);
        assert_eq!(r.state.capacity, expected, "state of {}", r.key);
    }
    let mut seen = BTreeSet::new();
    for index in 0..4 {
        let part = store
            .load(Some(Segment { index, total: 4 }))
            .await
            .expect("segment");
        for r in part {
            let i: u32 = r.key[10..13].parse().expect("index");
            assert_eq!(
                r.state.capacity,
                i.is_multiple_of(3).then_some(i),
                "state beside its policy"
            );
            assert!(seen.insert(r.key.clone()), "{} in two segments", r.key);
        }
    }
    assert_eq!(seen.len(), n as usize, "the segments cover the table");
    let bad = store.load(Some(Segment { index: 4, total: 4 })).await;
    assert_eq!(bad.expect_err("out of range").kind, ErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_writes_are_conditional_on_the_version_and_leave_the_policy_alone() {
    let (c, p) = store_on_new_table("cond").await;
    let store = &p.store;
    let key = "function:cond:live";
    let policy = json!({"pk": key, "MinCapacity": 1, "MaxCapacity": 5, "Description": "mine"});
    store.put_policy_item(&policy).await.expect("put");
    let v1 = State {
        version: 1,
        capacity: Some(3),
        ..State::default()
    };
    assert_eq!(
        store.write_state(key, 0, &v1).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.write_state(key, 0, &v1).await.unwrap(),
        WriteOutcome::Conflict,
        "a second first-writer loses"
    );
    let v2 = State {
        version: 2,
        capacity: Some(4),
        ..State::default()
    };
    assert_eq!(
        store.write_state(key, 1, &v2).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.write_state(key, 1, &v2).await.unwrap(),
        WriteOutcome::Conflict,
        "a stale version loses"
    );
    assert_eq!(store.get_state(key).await.unwrap(), Some(v2));
    let mut stored = store.get_policy_item(key).await.unwrap().expect("policy");
    stored.as_object_mut().unwrap().remove("sk");
    assert_eq!(stored, policy, "the policy item is untouched");
    // A missing table is an error, not a conflict.
    let gone = p.clone().with_table("no-such-table");
    let e = gone
        .store
        .write_state(key, 0, &State::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let _ = c;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_helpers_put_get_list_and_delete_items() {
    let (_c, p) = store_on_new_table("helpers").await;
    let store = &p.store;
    for f in ["b", "a", "c"] {
        store
            .put_policy_item(
                &json!({"pk": format!("function:{f}:live"), "MinCapacity": 0, "MaxCapacity": 3}),
            )
            .await
            .expect("put");
    }
    let listed: Vec<String> = store
        .list_policy_items()
        .await
        .unwrap()
        .iter()
        .map(|v| v["pk"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed,
        vec!["function:a:live", "function:b:live", "function:c:live"]
    );
    let got = store
        .get_policy_item("function:a:live")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["MaxCapacity"], 3);
    assert_eq!(got["sk"], "policy");
    let loaded = store
        .load_resource("function:a:live")
        .await
        .unwrap()
        .expect("resource");
    assert_eq!(loaded.key, "function:a:live");
    assert!(store.delete_policy("function:a:live").await.unwrap());
    assert!(
        !store.delete_policy("function:a:live").await.unwrap(),
        "already gone"
    );
    assert_eq!(
        store.get_policy_item("function:a:live").await.unwrap(),
        None
    );
    assert!(
        store
            .load_resource("function:a:live")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .put_policy_item(&json!({"MinCapacity": 1}))
            .await
            .is_err(),
        "pk required"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_is_listed_newest_first_and_same_millisecond_records_all_survive() {
    let (c, p) = store_on_new_table("activity").await;
    let store = &p.store;
    let key = "function:act:live";
    let t = minute_start(Utc::now());
    let mk = |secs: i64, to: u32| Activity {
        resource: key.into(),
        at: t + TimeDelta::seconds(secs),
        from: Some(0),
        to: Some(to),
        action: "ScaleOut".into(),
        cause: "test".into(),
        outcome: "applied".into(),
        detail: Some(json!({"wanted": to})),
    };
    for (secs, to) in [(0, 1), (60, 2), (120, 3), (120, 4), (180, 5)] {
        store.record(&mk(secs, to)).await.expect("record");
    }
    let all = store.activities(key, None).await.unwrap();
    assert_eq!(
        all.len(),
        5,
        "two records in the same millisecond both kept"
    );
    let newest: Vec<_> = store
        .activities(key, Some(2))
        .await
        .unwrap()
        .iter()
        .map(|a| a.to)
        .collect();
    assert_eq!(newest[0], Some(5));
    assert!(matches!(newest[1], Some(3 | 4)));
    assert_eq!(all.last().unwrap().to, Some(1));
    assert_eq!(all[0].detail, Some(json!({"wanted": 5})));
    // The state and policy items are not activity.
    store
        .put_policy_item(&json!({"pk": key, "MinCapacity": 0, "MaxCapacity": 1}))
        .await
        .unwrap();
    assert_eq!(store.activities(key, None).await.unwrap().len(), 5);
    let _ = c;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_metric_data_carries_500_queries_per_call_and_aligns_minutes() {
    let c = support::clients().await;
    let prefix = support::unique("gmd");
    // CloudWatch through the proxy that publishes a minute 60 s after it
    // ends, asked at `end + 90 s` by a tick that assumes the same delay.
    let proxy = FaultProxy::start(support::emulators()).await;
    let via = support::clients_at("test", &proxy.url, &proxy.url, Some(&prefix)).await;
    let metrics = CloudWatchMetrics::new(via.cloudwatch.clone());
    let end = minute_start(Utc::now()) - TimeDelta::minutes(20);
    let now = end + TimeDelta::seconds(90);
    let publication = proxy.publication();
    publication.set_delay_secs(60);
    publication.set_now(Some(now));
    let horizon = Horizon {
        now,
        delay: PublicationDelay::from_secs(60).unwrap(),
    };
    let queries: Vec<MetricQuery> = (0..1001)
        .map(|i| MetricQuery {
            resource: rid(&format!("function:{prefix}-{i}:live")),
            metric: MetricKind::ConcurrentExecutions,
            minutes: 5,
        })
        .collect();
    // Two resources with data: one in the oldest and latest minutes of the
    // window, one with utilisation too (a different statistic).
    let f0 = format!("{prefix}-0");
    let f1000 = format!("{prefix}-1000");
    let m = |k: i64| end - TimeDelta::minutes(k) + TimeDelta::seconds(7);
    support::put_metric(
        &c.cloudwatch,
        &f0,
        "live",
        Seed::Concurrency,
        &[(m(5), 4.0), (m(1), 9.0), (m(1), 3.0)],
    )
    .await;
    support::put_metric(
        &c.cloudwatch,
        &f1000,
        "live",
        Seed::Concurrency,
        &[(m(2), 6.0)],
    )
    .await;
    support::put_metric(
        &c.cloudwatch,
        &f1000,
        "live",
        Seed::Utilization,
        &[(m(1), 0.2), (m(1), 0.6)],
    )
    .await;
    // Minute `end` is the tick's pending minute: CloudWatch publishes it
    // only at end + 120 s, so its datapoint must not be read.
    support::put_metric(
        &c.cloudwatch,
        &f0,
        "live",
        Seed::Concurrency,
        &[(end + TimeDelta::seconds(5), 99.0)],
    )
    .await;

    let mut all = queries.clone();
    all.push(MetricQuery {
        resource: rid(&format!("function:{f1000}:live")),
        metric: MetricKind::ProvisionedConcurrencyUtilization,
        minutes: 1,
    });
    let answers = metrics.fetch(&all, horizon).await;
    assert_eq!(answers.len(), 1002);
    // One time range per call, so queries are batched by look-back: the
    // 1,001 five-minute queries in ceil(1001 / 500) = 3 calls, the
    // one-minute utilisation query in a fourth.
    assert_eq!(
        metrics.get_metric_data_calls(),
        1001u64.div_ceil(MAX_QUERIES_PER_CALL as u64) + 1,
        "ceil(1001 / 500) + 1 = 4 calls"
    );
    let published = |minutes: Vec<Option<f64>>| {
        Demand::Known(Series {
            minutes,
            newest: Some(end - TimeDelta::minutes(1)),
            unpublished: 1,
        })
    };
    assert_eq!(
        answers[&queries[0]],
        published(vec![Some(4.0), None, None, None, Some(9.0)]),
        "Maximum per minute, oldest first, the unpublished minute left out"
    );
    assert_eq!(
        answers[&queries[1000]],
        published(vec![None, None, None, Some(6.0), None])
    );
    assert_eq!(
        answers[&queries[500]],
        published(vec![None; 5]),
        "no datapoints in published minutes is a known zero, not unknown"
    );
    match &answers[&all[1001]] {
        Demand::Known(s) => {
            let v = s.minutes[0].expect("a utilisation datapoint");
            assert!((v - 0.4).abs() < 1e-9, "Average of 0.2 and 0.6, got {v}");
        }
        other => panic!("utilisation: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_metrics_call_makes_its_queries_unknown() {
    let sdk = support::sdk_config().await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let cw = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .endpoint_url(closed)
            .build(),
    );
    let metrics = CloudWatchMetrics::new(cw);
    let q = MetricQuery {
        resource: rid("function:nowhere:live"),
        metric: MetricKind::ConcurrentExecutions,
        minutes: 3,
    };
    let horizon = Horizon {
        now: Utc::now(),
        delay: PublicationDelay::default(),
    };
    let answers = metrics.fetch(std::slice::from_ref(&q), horizon).await;
    assert!(
        matches!(&answers[&q], Demand::Unknown(why) if why.contains("GetMetricData")),
        "{answers:?}"
    );
    assert_eq!(metrics.get_metric_data_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_adapter_maps_configs_statuses_and_errors() {
    let c = support::clients().await;
    let lambda = support::ports(&c, "unused", Some(100.0)).lambda;
    let f = support::unique("pcapi");
    support::create_function(&c.lambda, &f, "live").await;
    let live = rid(&format!("function:{f}:live"));

    assert_eq!(
        lambda.get_config(&live).await.unwrap(),
        None,
        "404 config -> None"
    );
    lambda.put_config(&live, 3).await.expect("put");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let cur = lambda.get_config(&live).await.unwrap().expect("a config");
        assert_eq!(cur.requested, 3);
        if cur.status == PcStatus::Ready || Instant::now() > deadline {
            break cur;
        }
        assert_eq!(cur.status, PcStatus::InProgress);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((ready.status, ready.allocated), (PcStatus::Ready, 3));
    lambda.delete_config(&live).await.expect("delete");
    assert_eq!(lambda.get_config(&live).await.unwrap(), None);
    lambda
        .delete_config(&live)
        .await
        .expect("deleting an absent config is Ok");

    let missing_alias = rid(&format!("function:{f}:nope"));
    let e = lambda.get_config(&missing_alias).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert_eq!(e.operation, "GetProvisionedConcurrencyConfig");
    let e = lambda
        .put_config(&rid("function:no-such-fn-pcscale:live"), 1)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    // `$LATEST` cannot carry PC: the API refuses it as invalid.
    let latest = ResourceId {
        function: f.clone(),
        qualifier: "$LATEST".into(),
    };
    assert_eq!(
        lambda.put_config(&latest, 1).await.unwrap_err().kind,
        ErrorKind::Invalid
    );

    assert_eq!(lambda.reserved_concurrency(&f).await.unwrap(), None);
    let before = lambda.unreserved_concurrency().await.unwrap();
    c.lambda
        .put_function_concurrency()
        .function_name(&f)
        .reserved_concurrent_executions(7)
        .send()
        .await
        .expect("PutFunctionConcurrency");
    assert_eq!(lambda.reserved_concurrency(&f).await.unwrap(), Some(7));
    assert_eq!(lambda.unreserved_concurrency().await.unwrap(), before - 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_calls_share_the_process_rate_limit() {
    let c = support::clients().await;
    let lambda = support::ports(&c, "unused", Some(5.0)).lambda;
    let other_handle = lambda.clone();
    let r = rid("function:rate-limit-probe:live");
    let started = Instant::now();
    // 11 calls from two handles of one adapter at 5/s: the last waits 2 s.
    let a = async {
        for _ in 0..6 {
            let _ = lambda.get_config(&r).await;
        }
    };
    let b = async {
        for _ in 0..5 {
            let _ = other_handle.get_config(&r).await;
        }
    };
    tokio::join!(a, b);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1950),
        "11 calls at 5/s took {took:?}"
    );
    // No upper bound: how much longer a loaded machine takes is not the
    // limiter's business, and a test must not race the clock.
}

#[test]
fn the_publication_proxy_drops_unpublished_datapoints_with_their_values() {
    use ciborium::Value;
    use support::publication::Publication;
    let p = Publication::default();
    p.set_delay_secs(120);
    let now = chrono::DateTime::parse_from_rfc3339("2025-03-01T10:07:05Z")
        .unwrap()
        .with_timezone(&Utc);
    p.set_now(Some(now));
    let minute = |m: i64| Value::Tag(1, Box::new(Value::Integer((1_740_823_200 + m * 60).into())));
    // 10:00 + m: 10:04 ended at 10:05, published at 10:07; 10:05 not yet.
    let body = Value::Map(vec![(
        Value::Text("MetricDataResults".into()),
        Value::Array(vec![Value::Map(vec![
            (Value::Text("Id".into()), Value::Text("m0".into())),
            (
                Value::Text("Timestamps".into()),
                Value::Array(vec![minute(3), minute(4), minute(5), minute(6)]),
            ),
            (
                Value::Text("Values".into()),
                Value::Array(vec![
                    Value::Float(1.0),
                    Value::Float(2.0),
                    Value::Float(3.0),
                    Value::Float(4.0),
                ]),
            ),
        ])]),
    )]);
    let mut raw = Vec::new();
    ciborium::into_writer(&body, &mut raw).unwrap();
    let out: Value = ciborium::from_reader(&p.hide_unpublished(&raw).unwrap()[..]).unwrap();
    let results = out.as_map().unwrap()[0].1.as_array().unwrap();
    let r = results[0].as_map().unwrap();
    assert_eq!(r[1].1.as_array().unwrap().len(), 2);
    assert_eq!(
        r[2].1.as_array().unwrap(),
        &vec![Value::Float(1.0), Value::Float(2.0)]
    );
}

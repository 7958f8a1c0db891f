//! The per-test "world" shared by the end-to-end binaries: a fresh table,
//! clients to seed and inspect the emulators, clients for the code under
//! test, and `t0` (the start of a minute half an hour ago) so that ticks run
//! at chosen `now`s without waiting for the clock.
//!
//! The code under test always reaches the emulators through a proxy that
//! publishes metrics the way CloudWatch does, a delay after each minute ends
//! ([`Publication`], default [`super::publication::DEFAULT_TEST_DELAY_SECS`]),
//! judged at the `now` of the tick being run: a test cannot see a minute the
//! Lambda in AWS could not have seen. [`World::seen`] is the first instant a
//! seeded minute is published.
#![allow(dead_code)] // each test binary uses a different subset

use chrono::{DateTime, TimeDelta, Utc};
use pcscale::aws::cloudwatch::minute_start;
use pcscale::aws::{AwsPorts, DynamoStore};
use pcscale::core::window::PublicationDelay;
use pcscale::tick::{ResourceOutcome, TickOptions, TickSummary, by_resource, run_tick};
use serde_json::{Value, json};

use super::fault_proxy::FaultProxy;
use super::publication::Publication;
use super::{Clients, Seed};

/// One test's world: its own table, clients and clock origin.
pub struct World {
    /// Clients straight to the emulators (to seed and inspect).
    pub direct: Clients,
    /// Clients the code under test uses (the same endpoints as `direct`,
    /// or a fault proxy in front of them).
    pub via: Clients,
    /// This test's DynamoDB table.
    pub table: String,
    /// The start of a minute half an hour ago.
    pub t0: DateTime<Utc>,
    /// How the metrics `via` reads are published (delay and clock).
    pub publication: Publication,
    /// `http://127.0.0.1:<port>` of the proxy `via` goes through, when this
    /// world started it (for the `pcscale` binary's environment).
    pub via_url: Option<String>,
    /// The LocalStack account of this world, when it has its own.
    pub account: Option<String>,
    /// Keeps this world's own proxy serving.
    _proxy: Option<FaultProxy>,
}

impl World {
    /// A world with a fresh table named after `prefix`; the code under test
    /// goes through a proxy that publishes metrics a delay late.
    pub async fn new(prefix: &str) -> World {
        let e = super::emulators();
        // An account of its own (LocalStack keys accounts by access key), so
        // that the account's unreserved concurrency is this test's alone.
        let account = format!("{:012}", rand::random::<u64>() % 1_000_000_000_000);
        let direct = super::clients_at(&account, &e.moto_url, &e.localstack_url, None).await;
        let table = super::unique(prefix);
        super::create_table(&direct.dynamodb, &table).await;
        let proxy = FaultProxy::start(e).await;
        let via = super::clients_at(&account, &proxy.url, &proxy.url, Some(&table)).await;
        let mut w = World::from_parts(direct, via, table, proxy.publication());
        w.via_url = Some(proxy.url.clone());
        w.account = Some(account);
        w._proxy = Some(proxy);
        w
    }

    /// A world over clients and a table the caller has set up; `publication`
    /// is that of the proxy `via` goes through.
    pub fn from_parts(
        direct: Clients,
        via: Clients,
        table: String,
        publication: Publication,
    ) -> World {
        World {
            direct,
            via,
            table,
            t0: minute_start(Utc::now()) - TimeDelta::minutes(30),
            publication,
            via_url: None,
            account: None,
            _proxy: None,
        }
    }

    /// `at(minute, secs)`, a publication delay (in whole minutes) later:
    /// the tick that reads minute `minute - 1` as its newest, as
    /// `at(minute, secs)` would if CloudWatch published instantly. The delay
    /// is the larger of the proxy's and the tick's default assumption (an
    /// idle minute counts only once the tick's delay has passed), so that
    /// shifting every tick of a test by it keeps its cooldowns and windows
    /// exactly as written.
    pub fn late(&self, minute: i64, secs: i64) -> DateTime<Utc> {
        let delay = self
            .publication
            .delay_secs()
            .max(PublicationDelay::default().secs());
        self.at(minute + i64::from(delay.div_ceil(60)), secs)
    }

    /// The first tick instant (5 s into a minute) at which CloudWatch has
    /// published minute `t0 + minute`: the minute's end plus the delay.
    pub fn seen(&self, minute: i64) -> DateTime<Utc> {
        let delay = i64::from(self.publication.delay_secs());
        let published = self.at(minute + 1, delay);
        minute_start(published + TimeDelta::seconds(59)) + TimeDelta::seconds(5)
    }

    /// The environment of `pcscale <args>`: run at its `--now` if it has one.
    pub fn cli_env_for(&self, args: &[&str]) -> Vec<(String, String)> {
        let now = args
            .windows(2)
            .find(|w| w[0] == "--now")
            .and_then(|w| DateTime::parse_from_rfc3339(w[1]).ok())
            .map(|t| t.with_timezone(&Utc));
        self.cli_env_at(now)
    }

    /// The environment of a `pcscale` process run at `now` (`None`: the
    /// clock): this world's table, every service through its proxy.
    pub fn cli_env_at(&self, now: Option<DateTime<Utc>>) -> Vec<(String, String)> {
        self.publication.set_now(now);
        let mut env = super::cli_env(&self.table);
        if let Some(url) = &self.via_url {
            for k in [
                "AWS_ENDPOINT_URL_DYNAMODB",
                "AWS_ENDPOINT_URL_CLOUDWATCH",
                "AWS_ENDPOINT_URL_LAMBDA",
            ] {
                env.retain(|(name, _)| name != k);
                env.push((k.to_owned(), url.clone()));
            }
        }
        if let Some(account) = &self.account {
            env.retain(|(name, _)| name != "AWS_ACCESS_KEY_ID");
            env.push(("AWS_ACCESS_KEY_ID".to_owned(), account.clone()));
        }
        env
    }

    /// The proxy `via` goes through, when this world started it: its log
    /// counts what AWS would have billed and refused.
    pub fn proxy(&self) -> Option<&FaultProxy> {
        self._proxy.as_ref()
    }

    /// Fresh adapters over `via` for every tick: nothing survives in memory
    /// between ticks, as between two Lambda invocations.
    pub fn ports(&self) -> AwsPorts {
        super::ports(&self.via, &self.table, None)
    }

    /// The store, straight to moto (for seeding and inspection).
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.direct.dynamodb.clone(), &self.table)
    }

    /// `t0 + minutes`, plus `secs`.
    pub fn at(&self, minutes: i64, secs: i64) -> DateTime<Utc> {
        self.t0 + TimeDelta::minutes(minutes) + TimeDelta::seconds(secs)
    }

    /// A new function with alias `live`; returns its name.
    pub async fn function(&self, prefix: &str) -> String {
        let name = super::unique(prefix);
        super::create_function(&self.direct.lambda, &name, "live").await;
        name
    }

    /// Seeds `ConcurrentExecutions` = `value` in minute `t0 + m` for each `m`.
    pub async fn demand(&self, function: &str, minutes: &[i64], value: f64) {
        self.seed(function, Seed::Concurrency, minutes, value).await;
    }

    /// Seeds `ProvisionedConcurrencyUtilization` = `value` in minute `t0 + m`.
    pub async fn utilization(&self, function: &str, minutes: &[i64], value: f64) {
        self.seed(function, Seed::Utilization, minutes, value).await;
    }

    async fn seed(&self, function: &str, metric: Seed, minutes: &[i64], value: f64) {
        let points: Vec<_> = minutes.iter().map(|m| (self.at(*m, 10), value)).collect();
        super::put_metric(&self.direct.cloudwatch, function, "live", metric, &points).await;
    }

    /// Writes a policy item to this world's table.
    pub async fn put_policy(&self, policy: Value) {
        self.store()
            .put_policy_item(&policy)
            .await
            .expect("put policy item");
    }

    /// One tick at `now` with the default options.
    pub async fn tick(&self, now: DateTime<Utc>) -> TickSummary {
        self.tick_with(now, &TickOptions::default()).await
    }

    /// One tick at `now` with `opts`, through fresh adapters.
    pub async fn tick_with(&self, now: DateTime<Utc>, opts: &TickOptions) -> TickSummary {
        self.publication.set_now(Some(now));
        let ports = self.ports();
        run_tick(ports.ports(), now, opts)
            .await
            .expect("the tick runs")
    }

    /// The provisioned-concurrency config of `function:live`, if any.
    pub async fn pc(&self, function: &str) -> Option<(i32, String)> {
        super::pc_config(&self.direct.lambda, function, "live").await
    }

    /// Waits until `function:live`'s config is READY; returns its amount.
    pub async fn wait_ready(&self, function: &str) -> i32 {
        super::wait_ready(&self.direct.lambda, function, "live").await
    }

    /// Sets provisioned concurrency behind pcscale's back.
    pub async fn put_pc_directly(&self, function: &str, n: i32) {
        self.direct
            .lambda
            .put_provisioned_concurrency_config()
            .function_name(function)
            .qualifier("live")
            .provisioned_concurrent_executions(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutProvisionedConcurrencyConfig {function}: {e:?}"));
    }
}

/// The policy key of `function:live`.
pub fn pk(function: &str) -> String {
    format!("function:{function}:live")
}

/// The tick's outcome for `function:live`; panics when there is none.
pub fn outcome<'a>(s: &'a TickSummary, function: &str) -> &'a ResourceOutcome {
    by_resource(s)
        .get(pk(function).as_str())
        .copied()
        .unwrap_or_else(|| panic!("no outcome for {function} in {s:#?}"))
}

/// Target tracking on true demand: target 0.5, so demand D wants 2 x D.
pub fn tracking_policy(function: &str, min: u32, max: u32, scale_in_cooldown: u32) -> Value {
    json!({
        "pk": pk(function),
        "MinCapacity": min,
        "MaxCapacity": max,
        "TargetTracking": {
            "TargetValue": 0.5,
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": scale_in_cooldown,
        },
    })
}

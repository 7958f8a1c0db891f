//! The per-test "world" shared by the end-to-end binaries: a fresh table,
//! clients to seed and inspect the emulators, clients for the code under
//! test, and `t0` (the start of a minute half an hour ago) so that ticks run
//! at chosen `now`s without waiting for the clock.
#![allow(dead_code)] // each test binary uses a different subset

use chrono::{DateTime, TimeDelta, Utc};
use pcscale::aws::cloudwatch::minute_start;
use pcscale::aws::{AwsPorts, DynamoStore};
use pcscale::tick::{ResourceOutcome, TickOptions, TickSummary, by_resource, run_tick};
use serde_json::{Value, json};

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
}

impl World {
    /// A world straight to the emulators with a fresh table named after
    /// `prefix`.
    pub async fn new(prefix: &str) -> World {
        let direct = super::clients().await;
        let via = direct.clone();
        let table = super::unique(prefix);
        super::create_table(&direct.dynamodb, &table).await;
        World::from_parts(direct, via, table)
    }

    /// A world over clients and a table the caller has set up.
    pub fn from_parts(direct: Clients, via: Clients, table: String) -> World {
        World {
            direct,
            via,
            table,
            t0: minute_start(Utc::now()) - TimeDelta::minutes(30),
        }
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
        let points: Vec<_> = minutes.iter().map(|m| (self.at(*m, 10), value)).collect();
        super::put_metric(
            &self.direct.cloudwatch,
            function,
            "live",
            Seed::Concurrency,
            &points,
        )
        .await;
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

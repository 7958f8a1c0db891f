//! The emulator harness of the end-to-end tests: moto (DynamoDB) and
//! LocalStack in host mode (CloudWatch, Lambda), both on 127.0.0.1.
//!
//! `scripts/test.sh` starts the pair once for the whole run and exports
//! `PCSCALE_TEST_MOTO_URL` and `PCSCALE_TEST_LOCALSTACK_URL`; without them a
//! test binary starts its own pair (on free ports) the first time a test asks
//! for it, and the emulators exit by themselves when the test process is gone
//! (`tests/support/emulator.py --watch-pid`). A missing `.venv` fails with a
//! message saying how to create it: never a silent skip.
//!
//! Tests isolate themselves by name (a fresh table and fresh function names
//! each, see [`unique`]), so they run in parallel against one pair.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fault_proxy;
pub mod fixtures;
pub mod metering;
pub mod publication;
pub mod world;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime, State as FnState};
use chrono::{DateTime, Utc};
use pcscale::aws::{AwsPorts, sdk_config_loader};
use pcscale::env::AwsSettings;

/// Endpoints of a running emulator pair.
#[derive(Debug, Clone)]
pub struct Emulators {
    /// moto: DynamoDB.
    pub moto_url: String,
    /// LocalStack: CloudWatch and Lambda.
    pub localstack_url: String,
}

/// Region every test uses.
pub const REGION: &str = "us-east-1";

static EMULATORS: OnceLock<Emulators> = OnceLock::new();
/// The emulators this process started. They are never waited for: they exit
/// by themselves once this process is gone (`--watch-pid`).
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held by the tests that load the shared emulators hardest (eight
/// overlapping ticks against the control-plane quota) or that measure the
/// tick against its own deadline, so that those two never run at the same
/// time: the deadline test checks pcscale's deadline handling, not how
/// fast an emulator answers while another test floods it.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// The shared emulator pair: from the environment (`scripts/test.sh`), or
/// started for this test binary on first use.
pub fn emulators() -> &'static Emulators {
    EMULATORS.get_or_init(|| {
        match (
            std::env::var("PCSCALE_TEST_MOTO_URL"),
            std::env::var("PCSCALE_TEST_LOCALSTACK_URL"),
        ) {
            (Ok(moto_url), Ok(localstack_url)) => Emulators {
                moto_url,
                localstack_url,
            },
            _ => start_emulators(),
        }
    })
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

fn start_emulators() -> Emulators {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the end-to-end tests need the emulators in {}: run scripts/setup-emulators.sh \
         (scripts/test.sh does it for you)",
        root.join(".venv").display()
    );
    remove_stale_dirs();
    let dir = std::env::temp_dir().join(format!("pcscale-emulators-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create the emulators' directory");
    let started = Instant::now();
    let moto_port = free_port();
    let ls_port = free_port();
    let children = [
        spawn(&python, &root, &dir, "moto", moto_port),
        spawn(&python, &root, &dir, "localstack", ls_port),
    ];
    CHILDREN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(children);
    let moto_url = format!("http://127.0.0.1:{moto_port}");
    let localstack_url = format!("http://127.0.0.1:{ls_port}");
    wait_http(moto_port, "/moto-api/", &dir.join("moto.log"));
    wait_http(ls_port, "/_localstack/health", &dir.join("localstack.log"));
    eprintln!(
        "emulators: moto {moto_url}, LocalStack {localstack_url}, ready in {:.1} s (logs in {})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Emulators {
        moto_url,
        localstack_url,
    }
}

/// Removes the emulator directories (logs, LocalStack data) left by test
/// processes that have exited: each run keeps its own until the next run.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pcscale-emulators-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn spawn(python: &Path, root: &Path, dir: &Path, kind: &str, port: u16) -> Child {
    let log = std::fs::File::create(dir.join(format!("{kind}.log")))
        .expect("cannot create an emulator log");
    let err = log
        .try_clone()
        .expect("cannot clone an emulator log handle");
    let mut cmd = Command::new(python);
    cmd.arg(root.join("tests/support/emulator.py"))
        .arg(kind)
        .arg("--port")
        .arg(port.to_string())
        .arg("--watch-pid")
        .arg(std::process::id().to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    if kind == "localstack" {
        cmd.arg("--data-dir").arg(dir.join("localstack"));
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {kind} with {}: {e}", python.display()))
}

/// Waits until `GET path` on 127.0.0.1:`port` answers 200 (60 s at most).
fn wait_http(port: u16, path: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http_status(port, "GET", path) == Some(200) {
            return;
        }
        if Instant::now() > deadline {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "emulator on port {port} not ready after 60 s; log {}:\n{tail}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One bare HTTP/1.0 request; the status code, or `None` if nothing answered.
pub fn http_status(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// A name no other test (or test run) uses: `<prefix>-<pid>-<n>-<random>`,
/// within Lambda's 64-character function-name limit.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{:04x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u16>()
    )
}

/// Timeouts of the harness's own clients (seeding and inspecting, never the
/// code under test): a loaded two-core machine's LocalStack can take longer
/// than pcscale's production 30 s to create a function, and a set-up step
/// that gives up is a failure of the machine, not of pcscale.
pub fn patient() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(180))
        .build()
}

/// The SDK configuration the harness's own clients use: pcscale's loader
/// (retries) with [`patient`] timeouts, a region and dummy credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_loader()
        .timeout_config(patient())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "pcscale-tests",
        ))
        .load()
        .await
}

/// Clients pointed at the emulators.
#[derive(Clone)]
pub struct Clients {
    /// DynamoDB on moto.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// CloudWatch on LocalStack.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Lambda on LocalStack.
    pub lambda: aws_sdk_lambda::Client,
}

/// Clients for the emulators (explicit endpoints: library-driven tests do
/// not touch the process environment, which parallel tests share).
pub async fn clients() -> Clients {
    let e = emulators();
    let sdk = sdk_config().await;
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(&e.moto_url)
                .build(),
        ),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&sdk)
                .endpoint_url(&e.localstack_url)
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&sdk)
                .endpoint_url(&e.localstack_url)
                .build(),
        ),
    }
}

/// Clients for `account` with pcscale's production retry and timeout
/// settings, DynamoDB at `ddb`, CloudWatch and Lambda at `ls`. With a
/// `partition` (the code under test's clients), each client gets its own
/// retry partition: the SDK's retry quota (a token bucket per partition) is
/// then this test's alone, so attempt counts do not depend on what other
/// tests in the process did. Without one (the harness's own clients), the
/// timeouts are [`patient`].
pub async fn clients_at(account: &str, ddb: &str, ls: &str, partition: Option<&str>) -> Clients {
    let mut loader = pcscale::aws::sdk_config_loader();
    if partition.is_none() {
        loader = loader.timeout_config(patient());
    }
    let sdk = loader
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            account,
            "test",
            None,
            None,
            "pcscale-tests",
        ))
        .load()
        .await;
    let part = |service: &str| partition.map(|p| format!("{p}-{service}"));
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(ddb);
    let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&sdk).endpoint_url(ls);
    let mut lambda = aws_sdk_lambda::config::Builder::from(&sdk).endpoint_url(ls);
    if let Some(p) = part("dynamodb") {
        dynamodb =
            dynamodb.retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(p));
    }
    if let Some(p) = part("cloudwatch") {
        cloudwatch =
            cloudwatch.retry_partition(aws_sdk_cloudwatch::config::retry::RetryPartition::new(p));
    }
    if let Some(p) = part("lambda") {
        lambda = lambda.retry_partition(aws_sdk_lambda::config::retry::RetryPartition::new(p));
    }
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch.build()),
        lambda: aws_sdk_lambda::Client::from_conf(lambda.build()),
    }
}

/// pcscale's adapters over the emulators, on `table`. The Lambda rate
/// limit is the production default unless `lambda_rps` says otherwise.
pub fn ports(c: &Clients, table: &str, lambda_rps: Option<f64>) -> AwsPorts {
    let mut settings = AwsSettings {
        table: table.to_owned(),
        ..AwsSettings::default()
    };
    if let Some(r) = lambda_rps {
        settings.lambda_rps = r;
    }
    AwsPorts::from_clients(
        c.dynamodb.clone(),
        c.cloudwatch.clone(),
        c.lambda.clone(),
        &settings,
    )
}

/// The environment for the `pcscale` binary: the emulators through the
/// standard `AWS_ENDPOINT_URL_*` variables, dummy credentials, `table`.
pub fn cli_env(table: &str) -> Vec<(String, String)> {
    let e = emulators();
    [
        ("AWS_ENDPOINT_URL_DYNAMODB", e.moto_url.as_str()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", e.localstack_url.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", e.localstack_url.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PCSCALE_TABLE", table),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Creates the pcscale table as DESIGN.md §2 describes it (pk/sk strings,
/// on demand) and its activity table (`<name>-activity`, the same keys), as
/// the SAM template does. TTL and PITR are not needed by the tests.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    create_keyed_table(ddb, name).await;
    create_keyed_table(ddb, &pcscale::aws::dynamodb::default_activity_table(name)).await;
}

/// One table keyed by `pk` (hash) and `sk` (range), both strings, on demand.
pub async fn create_keyed_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema")
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    ddb.create_table()
        .table_name(name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
}

/// A zip archive holding one file `bootstrap` (stored, not compressed): the
/// emulator's no-op executor never runs it, but CreateFunction wants a zip.
pub fn bootstrap_zip() -> Vec<u8> {
    let name = b"bootstrap";
    let data = b"#!/bin/sh\nexit 0\n";
    let crc = crc32(data);
    let mut z = Vec::new();
    let u16le = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let u32le = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    let size = u32::try_from(data.len()).expect("small");
    let name_len = u16::try_from(name.len()).expect("small");
    // Local file header.
    u32le(&mut z, 0x0403_4b50);
    for v in [20, 0, 0, 0, 0x21] {
        u16le(&mut z, v); // version, flags, method (stored), time, date (1980-01-01)
    }
    u32le(&mut z, crc);
    u32le(&mut z, size);
    u32le(&mut z, size);
    u16le(&mut z, name_len);
    u16le(&mut z, 0);
    z.extend_from_slice(name);
    z.extend_from_slice(data);
    let central = u32::try_from(z.len()).expect("small");
    // Central directory entry.
    u32le(&mut z, 0x0201_4b50);
    for v in [20, 20, 0, 0, 0, 0x21] {
        u16le(&mut z, v);
    }
    u32le(&mut z, crc);
    u32le(&mut z, size);
    u32le(&mut z, size);
    u16le(&mut z, name_len);
    for _ in 0..4 {
        u16le(&mut z, 0); // extra, comment, disk, internal attributes
    }
    u32le(&mut z, 0o755 << 16); // external attributes: rwxr-xr-x
    u32le(&mut z, 0); // offset of the local header
    z.extend_from_slice(name);
    let central_len = u32::try_from(z.len()).expect("small") - central;
    // End of central directory.
    u32le(&mut z, 0x0605_4b50);
    for v in [0, 0, 1, 1] {
        u16le(&mut z, v);
    }
    u32le(&mut z, central_len);
    u32le(&mut z, central);
    u16le(&mut z, 0);
    z
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Creates `name` in LocalStack (runtime `provided.al2023`), waits until it
/// is Active, publishes version 1 and points alias `alias` at it.
pub async fn create_function(lambda: &aws_sdk_lambda::Client, name: &str, alias: &str) {
    create_function_with(lambda, name, alias, false).await;
}

/// As [`create_function`]; with `fail_init` every execution environment of
/// the function fails to start (tests/support/emulator.py), so provisioned
/// concurrency on it ends `FAILED` with `FUNCTION_ERROR_INIT_FAILURE`.
pub async fn create_function_with(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    alias: &str,
    fail_init: bool,
) {
    let env = fail_init.then(|| {
        aws_sdk_lambda::types::Environment::builder()
            .variables("PCSCALE_TEST_FAIL_INIT", "1")
            .build()
    });
    lambda
        .create_function()
        .set_environment(env)
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role("arn:aws:iam::000000000000:role/pcscale-test")
        .handler("bootstrap")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(bootstrap_zip()))
                .build(),
        )
        .send()
        .await
        .map(drop)
        .or_else(retried_create)
        .unwrap_or_else(|e| panic!("CreateFunction {name}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetFunction {name}: {e:?}"));
        let state = f.configuration().and_then(|c| c.state().cloned());
        match state {
            Some(FnState::Active) => break,
            Some(FnState::Pending) | None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("function {name} did not become Active: {other:?}"),
        }
    }
    let version = lambda
        .publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PublishVersion {name}: {e:?}"))
        .version
        .expect("PublishVersion returns a version");
    lambda
        .create_alias()
        .function_name(name)
        .name(alias)
        .function_version(version)
        .send()
        .await
        .map(drop)
        .or_else(retried_create)
        .unwrap_or_else(|e| panic!("CreateAlias {name}:{alias}: {e}"));
}

/// A create whose first attempt succeeded but whose answer came too late
/// (a loaded machine), so the SDK's retry met "already exists": the names
/// are this test's own ([`unique`]), so the thing exists because we made it.
/// Any other error comes back as its debug text.
fn retried_create(e: impl std::fmt::Debug) -> Result<(), String> {
    let text = format!("{e:?}");
    if text.contains("ResourceConflictException") && text.contains("already exist") {
        Ok(())
    } else {
        Err(text)
    }
}

/// Which metric to seed.
#[derive(Debug, Clone, Copy)]
pub enum Seed {
    /// `ConcurrentExecutions`.
    Concurrency,
    /// `ProvisionedConcurrencyUtilization`.
    Utilization,
}

/// Seeds per-minute datapoints for `function:qualifier` in `AWS/Lambda`
/// with the dimensions Lambda uses (`FunctionName`, `Resource`).
pub async fn put_metric(
    cw: &aws_sdk_cloudwatch::Client,
    function: &str,
    qualifier: &str,
    seed: Seed,
    points: &[(DateTime<Utc>, f64)],
) {
    let name = match seed {
        Seed::Concurrency => "ConcurrentExecutions",
        Seed::Utilization => "ProvisionedConcurrencyUtilization",
    };
    put_lambda_metric(cw, function, qualifier, name, StandardUnit::Count, points).await;
}

/// Seeds per-minute datapoints of any `AWS/Lambda` metric `name` (in
/// `unit`) for `function:qualifier`, with Lambda's dimensions.
pub async fn put_lambda_metric(
    cw: &aws_sdk_cloudwatch::Client,
    function: &str,
    qualifier: &str,
    name: &str,
    unit: StandardUnit,
    points: &[(DateTime<Utc>, f64)],
) {
    for chunk in points.chunks(20) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(t, v)| {
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(
                        Dimension::builder()
                            .name("FunctionName")
                            .value(function)
                            .build(),
                    )
                    .dimensions(
                        Dimension::builder()
                            .name("Resource")
                            .value(format!("{function}:{qualifier}"))
                            .build(),
                    )
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        t.timestamp(),
                    ))
                    .value(*v)
                    .unit(unit.clone())
                    .build()
            })
            .collect();
        cw.put_metric_data()
            .namespace("AWS/Lambda")
            .set_metric_data(Some(data))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutMetricData {function}:{qualifier}: {e:?}"));
    }
}

/// The PC config as LocalStack has it: (requested, status), `None` if absent.
pub async fn pc_config(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    qualifier: &str,
) -> Option<(i32, String)> {
    match lambda
        .get_provisioned_concurrency_config()
        .function_name(function)
        .qualifier(qualifier)
        .send()
        .await
    {
        Ok(o) => Some((
            o.requested_provisioned_concurrent_executions.unwrap_or(-1),
            o.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_provisioned_concurrency_config_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetProvisionedConcurrencyConfig {function}:{qualifier}: {e:?}"),
    }
}

/// Waits (10 s at most) until the config of `function:qualifier` is READY,
/// as a tick would find it a minute later; returns the requested value.
pub async fn wait_ready(lambda: &aws_sdk_lambda::Client, function: &str, qualifier: &str) -> i32 {
    // LocalStack allocates ~1 s per config, but a loaded machine can take
    // far longer for 900; waiting is the harness's business, not a race.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match pc_config(lambda, function, qualifier).await {
            Some((n, s)) if s == "READY" => return n,
            Some((_, s)) if s == "IN_PROGRESS" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("PC config of {function}:{qualifier} did not become READY: {other:?}"),
        }
    }
}

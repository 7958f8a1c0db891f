//! Building the AWS clients once per process (or Lambda execution
//! environment) from the environment.
//!
//! `aws_config` reads the standard variables: `AWS_REGION`, credentials, and
//! the endpoint overrides `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_ENDPOINT_URL_LAMBDA` (the SDKs'
//! service-specific endpoint variables), which is how the tests reach the
//! local emulators with the production code unchanged.
//!
//! Retries: the SDK's *standard* retry mode (exponential backoff with
//! jitter, a client-side retry quota) with at most [`MAX_ATTEMPTS`] attempts
//! per call. A tick runs every minute and is itself the outer retry loop, so
//! a call that still fails after three attempts is better reported (and
//! retried next minute) than allowed to eat the Lambda's timeout.
//!
//! Timeouts: [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`] per attempt and
//! [`OPERATION_TIMEOUT`] per call; `GetMetricData` alone gets one attempt
//! of up to the whole [`METRICS_TIMEOUT`] when it is slow (see there).

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use super::cloudwatch::CloudWatchMetrics;
use super::dynamodb::DynamoStore;
use super::lambda::{LambdaApi, RateLimiter};
use crate::env::{AwsSettings, ConfigError};
use crate::ports::Ports;

/// Attempts per SDK call (the first try included).
pub const MAX_ATTEMPTS: u32 = 3;

/// Time to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One attempt of a DynamoDB or Lambda call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One call, its retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One `GetMetricData` call: its only attempt, when that attempt is slow.
///
/// A call carries up to 500 queries and AWS documents no latency for it. An
/// attempt cut at [`ATTEMPT_TIMEOUT`] and sent again asks the same question
/// from scratch (CloudWatch bills the metrics of every request), and a call
/// that needed more than 10 s then never answers in time: its demand reads
/// as unknown and the tick loses its decisions. So a `GetMetricData` attempt
/// may take the whole operation timeout; the quick failures (throttling, a
/// 5xx) are still retried within it, and the tick's own deadline bounds the
/// fetch in the Lambda (metrics that arrive after it are unknown).
pub const METRICS_TIMEOUT: Duration = OPERATION_TIMEOUT;

/// The SDK configuration loader with pcscale's retry and timeout settings
/// (standard retries, [`MAX_ATTEMPTS`], bounded timeouts) on top of the
/// default provider chain; callers may add a region or credentials.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

/// The timeouts of the CloudWatch client: one attempt may last
/// [`METRICS_TIMEOUT`], the whole call too (see there).
pub fn metrics_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(METRICS_TIMEOUT)
        .operation_timeout(METRICS_TIMEOUT)
        .build()
}

/// `client` with [`metrics_timeout_config`], everything else kept.
fn with_metrics_timeouts(client: aws_sdk_cloudwatch::Client) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::from_conf(
        client
            .config()
            .to_builder()
            .timeout_config(metrics_timeout_config())
            .build(),
    )
}

/// Loads the shared SDK configuration from the environment
/// ([`sdk_config_loader`]).
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The three adapters a tick needs, built once and shared.
#[derive(Debug, Clone)]
pub struct AwsPorts {
    /// DynamoDB: policies, state, activity.
    pub store: DynamoStore,
    /// CloudWatch: demand.
    pub metrics: CloudWatchMetrics,
    /// Lambda: provisioned-concurrency configs and limits.
    pub lambda: LambdaApi,
    /// `PCSCALE_ACTIVITY_TABLE`, kept across [`AwsPorts::with_table`].
    activity_table: Option<String>,
}

impl AwsPorts {
    /// Builds every client from the environment ([`AwsSettings::from_env`]
    /// and [`load_sdk_config`]).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = AwsSettings::from_env()?;
        let sdk = load_sdk_config().await;
        Ok(Self::new(&sdk, &settings))
    }

    /// Builds every client from an SDK configuration.
    pub fn new(sdk: &SdkConfig, settings: &AwsSettings) -> Self {
        Self::from_clients(
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_cloudwatch::Client::new(sdk),
            aws_sdk_lambda::Client::new(sdk),
            settings,
        )
    }

    /// Builds the adapters over clients made elsewhere (e.g. with explicit
    /// endpoints). The CloudWatch client gets [`metrics_timeout_config`].
    pub fn from_clients(
        dynamodb: aws_sdk_dynamodb::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        lambda: aws_sdk_lambda::Client,
        settings: &AwsSettings,
    ) -> Self {
        let store = DynamoStore::new(dynamodb, &settings.table);
        AwsPorts {
            store: match &settings.activity_table {
                Some(t) => store.with_activity_table(t),
                None => store,
            },
            activity_table: settings.activity_table.clone(),
            metrics: CloudWatchMetrics::new(with_metrics_timeouts(cloudwatch)),
            lambda: LambdaApi::new(
                lambda,
                Arc::new(RateLimiter::per_second(settings.lambda_rps)),
            ),
        }
    }

    /// The same adapters on another table (the CLI's `--table`); activity
    /// in `PCSCALE_ACTIVITY_TABLE` when set, else `<table>-activity`.
    pub fn with_table(mut self, table: &str) -> Self {
        self.store = self.store.with_table(table);
        if let Some(t) = &self.activity_table {
            self.store = self.store.with_activity_table(t);
        }
        self
    }

    /// Borrows the adapters as the tick's [`Ports`].
    pub fn ports(&self) -> Ports<'_, DynamoStore, CloudWatchMetrics, LambdaApi> {
        Ports {
            store: &self.store,
            metrics: &self.metrics,
            lambda: &self.lambda,
        }
    }
}

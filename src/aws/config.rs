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

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use super::cloudwatch::CloudWatchMetrics;
use super::dynamodb::DynamoStore;
use super::lambda::{LambdaApi, RateLimiter};
use crate::tick::Ports;

/// Attempts per SDK call (the first try included).
pub const MAX_ATTEMPTS: u32 = 3;

/// The default table name (DESIGN.md §2).
pub const DEFAULT_TABLE: &str = "pcscale";

pub use crate::ports::DEFAULT_LAMBDA_RPS;

/// The rates `PCSCALE_LAMBDA_RPS` may take: below 0.1/s (10 s per call) a
/// tick cannot finish inside its Lambda timeout; above 1,000/s is a typo
/// (the quota is 15/s). Checked at start-up so that nonsense fails the init
/// naming the variable instead of panicking or hanging a tick.
pub const LAMBDA_RPS_RANGE: std::ops::RangeInclusive<f64> = 0.1..=1000.0;

/// A setting in the environment could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable was set to something unusable.
    #[error("{name}={value:?}: {why}")]
    BadVariable {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        why: &'static str,
    },
}

/// Settings of the adapters that are not SDK settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// DynamoDB table (`PCSCALE_TABLE`, default `pcscale`).
    pub table: String,
    /// Lambda control-plane calls per second for this process
    /// (`PCSCALE_LAMBDA_RPS`, default [`DEFAULT_LAMBDA_RPS`]).
    pub lambda_rps: f64,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            table: DEFAULT_TABLE.to_owned(),
            lambda_rps: DEFAULT_LAMBDA_RPS,
        }
    }
}

impl AwsSettings {
    /// Reads `PCSCALE_TABLE` and `PCSCALE_LAMBDA_RPS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`AwsSettings::from_env`], reading variables through `get` (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = AwsSettings::default();
        if let Some(t) = get("PCSCALE_TABLE").filter(|t| !t.trim().is_empty()) {
            s.table = t.trim().to_owned();
        }
        if let Some(v) = get("PCSCALE_LAMBDA_RPS").filter(|v| !v.trim().is_empty()) {
            s.lambda_rps = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| LAMBDA_RPS_RANGE.contains(r))
                .ok_or(ConfigError::BadVariable {
                    name: "PCSCALE_LAMBDA_RPS",
                    value: v,
                    why: "requests per second from 0.1 to 1000 (the account's control-plane quota is 15)",
                })?;
        }
        Ok(s)
    }
}

/// The SDK configuration loader with pcscale's retry and timeout settings
/// (standard retries, [`MAX_ATTEMPTS`], bounded timeouts) on top of the
/// default provider chain; callers may add a region or credentials.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                // One attempt; GetMetricData with 500 queries answers in well under a second.
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(30))
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
    /// endpoints).
    pub fn from_clients(
        dynamodb: aws_sdk_dynamodb::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        lambda: aws_sdk_lambda::Client,
        settings: &AwsSettings,
    ) -> Self {
        AwsPorts {
            store: DynamoStore::new(dynamodb, &settings.table),
            metrics: CloudWatchMetrics::new(cloudwatch),
            lambda: LambdaApi::new(
                lambda,
                Arc::new(RateLimiter::per_second(settings.lambda_rps)),
            ),
        }
    }

    /// The same adapters on another table (the CLI's `--table`).
    pub fn with_table(mut self, table: &str) -> Self {
        self.store = self.store.with_table(table);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_pcscale_table_and_ten_requests_per_second() {
        let s = AwsSettings::from_lookup(|_| None).unwrap();
        assert_eq!(s.table, "pcscale");
        assert_eq!(s.lambda_rps, 10.0);
    }

    #[test]
    fn settings_read_the_table_and_rate_from_the_environment() {
        let s = AwsSettings::from_lookup(|k| match k {
            "PCSCALE_TABLE" => Some("prod-pcscale".into()),
            "PCSCALE_LAMBDA_RPS" => Some("2.5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.table, "prod-pcscale");
        assert_eq!(s.lambda_rps, 2.5);
    }

    #[test]
    fn rates_that_would_panic_or_hang_are_refused_naming_the_variable() {
        for bad in ["1e-20", "1e-12", "0.01", "NaN", "inf", "-3", "1e9", "ten"] {
            let e = AwsSettings::from_lookup(|k| (k == "PCSCALE_LAMBDA_RPS").then(|| bad.into()))
                .expect_err(bad);
            assert!(e.to_string().contains("PCSCALE_LAMBDA_RPS"), "{bad}: {e}");
        }
        for good in ["0.1", "15", "1000"] {
            let s = AwsSettings::from_lookup(|k| (k == "PCSCALE_LAMBDA_RPS").then(|| good.into()))
                .expect(good);
            // Building the limiter must not panic either.
            let _ = crate::aws::lambda::RateLimiter::per_second(s.lambda_rps);
        }
    }

    #[test]
    fn a_non_positive_rate_is_refused_naming_the_variable() {
        let e = AwsSettings::from_lookup(|k| (k == "PCSCALE_LAMBDA_RPS").then(|| "0".into()))
            .unwrap_err();
        assert!(e.to_string().contains("PCSCALE_LAMBDA_RPS"), "{e}");
    }
}

//! Environment configuration: every `PCSCALE_*` variable, read in one place
//! for both drivers (the Lambda at init, the CLI per command), so they read
//! the environment alike.
//!
//! * [`tick_options_from_env`]: `PCSCALE_DRY_RUN`, `PCSCALE_ALLOWED_FUNCTIONS`,
//!   `PCSCALE_MAX_PER_FUNCTION`, `PCSCALE_QUIET_EVERY_MINUTES`,
//!   `PCSCALE_METRIC_DELAY_SECONDS` into the tick's [`TickOptions`];
//! * [`AwsSettings::from_env`]: `PCSCALE_TABLE` and `PCSCALE_LAMBDA_RPS`, the
//!   adapters' settings that are not SDK settings (the SDK reads `AWS_*`
//!   itself, see [`crate::aws::config`]).

use crate::core::window::PublicationDelay;
use crate::tick::{DEFAULT_LAMBDA_BUDGET, DEFAULT_RECONCILE_MINUTES, TickOptions};

/// The default table name (DESIGN.md §2).
pub const DEFAULT_TABLE: &str = "pcscale";

/// Default rate of Lambda control-plane calls per second: under the account's
/// 15 requests/s quota for the control plane (which includes the
/// provisioned-concurrency and concurrency APIs), leaving room for deploys
/// and consoles. <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests>
pub const DEFAULT_LAMBDA_RPS: f64 = 10.0;

/// The rates `PCSCALE_LAMBDA_RPS` may take: below 0.1/s (10 s per call) a
/// tick cannot finish inside its Lambda timeout; above 1,000/s is a typo
/// (the quota is 15/s). Checked at start-up so that nonsense fails the init
/// naming the variable instead of panicking or hanging a tick.
pub const LAMBDA_RPS_RANGE: std::ops::RangeInclusive<f64> = 0.1..=1000.0;

/// Settings of the adapters that are not SDK settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// DynamoDB table (`PCSCALE_TABLE`, default `pcscale`).
    pub table: String,
    /// The activity table (`PCSCALE_ACTIVITY_TABLE`; `None`: `<table>-activity`).
    pub activity_table: Option<String>,
    /// Lambda control-plane calls per second for this process
    /// (`PCSCALE_LAMBDA_RPS`, default [`DEFAULT_LAMBDA_RPS`]).
    pub lambda_rps: f64,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            table: DEFAULT_TABLE.to_owned(),
            activity_table: None,
            lambda_rps: DEFAULT_LAMBDA_RPS,
        }
    }
}

impl AwsSettings {
    /// Reads `PCSCALE_TABLE`, `PCSCALE_ACTIVITY_TABLE` and `PCSCALE_LAMBDA_RPS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`AwsSettings::from_env`], reading variables through `get` (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = AwsSettings::default();
        if let Some(t) = get("PCSCALE_TABLE").filter(|t| !t.trim().is_empty()) {
            s.table = t.trim().to_owned();
        }
        if let Some(t) = get("PCSCALE_ACTIVITY_TABLE").filter(|t| !t.trim().is_empty()) {
            s.activity_table = Some(t.trim().to_owned());
        }
        if let Some(v) = get("PCSCALE_LAMBDA_RPS").filter(|v| !v.trim().is_empty()) {
            s.lambda_rps = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| LAMBDA_RPS_RANGE.contains(r))
                .ok_or(ConfigError::LambdaRps(v))?;
        }
        Ok(s)
    }
}

/// A configuration variable that could not be read. The Lambda fails its
/// init with it, the CLI exits with it (a misconfigured controller must not
/// run with defaults).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `PCSCALE_DRY_RUN` is not a boolean.
    #[error("PCSCALE_DRY_RUN={0:?} is not a boolean (true/false, 1/0, yes/no)")]
    DryRun(String),
    /// `PCSCALE_MAX_PER_FUNCTION` is not a positive integer.
    #[error(
        "PCSCALE_MAX_PER_FUNCTION={0:?} is not a positive integer (to stop pcscale, disable its schedule or set PCSCALE_DRY_RUN)"
    )]
    MaxPerFunction(String),
    /// An entry of `PCSCALE_ALLOWED_FUNCTIONS` is not a function-name glob.
    #[error(
        "PCSCALE_ALLOWED_FUNCTIONS entry {0:?} is not a function-name glob (letters, digits, '-', '_', '*', '?'; no ARNs, no qualifiers)"
    )]
    AllowedFunction(String),
    /// `PCSCALE_QUIET_EVERY_MINUTES` is not an integer from 1 to 60.
    #[error(
        "PCSCALE_QUIET_EVERY_MINUTES={0:?} is not an integer from 1 to 60 (1: decide every alias every tick)"
    )]
    QuietEveryMinutes(String),
    /// `PCSCALE_METRIC_DELAY_SECONDS` is not an integer from 0 to 900.
    #[error(
        "PCSCALE_METRIC_DELAY_SECONDS={0:?} is not an integer from 0 to 900 (seconds after a minute ends by which CloudWatch has surely published it; default 180)"
    )]
    MetricDelay(String),
    /// `PCSCALE_RECONCILE_MINUTES` is not an integer from 1 to 1440.
    #[error(
        "PCSCALE_RECONCILE_MINUTES={0:?} is not an integer from 1 to 1440 (minutes between two reads of an alias's config, to find changes made outside pcscale; default 15)"
    )]
    ReconcileMinutes(String),
    /// `PCSCALE_LAMBDA_BUDGET` is not an integer from 1 to 900.
    #[error(
        "PCSCALE_LAMBDA_BUDGET={0:?} is not an integer from 1 to 900 (Lambda control-plane requests per tick; default 120, 2 requests/s over the minute; the account's quota is 15/s, 900 a minute)"
    )]
    LambdaBudget(String),
    /// `PCSCALE_ALLOWED_FUNCTIONS` is set but names no function (`","`).
    #[error(
        "PCSCALE_ALLOWED_FUNCTIONS={0:?} names no function (unset it to allow every function, or list globs: \"checkout,orders-*\")"
    )]
    AllowedFunctionsEmpty(String),
    /// `PCSCALE_LAMBDA_RPS` is not a rate from 0.1 to 1000 per second.
    #[error(
        "PCSCALE_LAMBDA_RPS={0:?}: requests per second from 0.1 to 1000 (the account's control-plane quota is 15)"
    )]
    LambdaRps(String),
}

/// [`TickOptions`] from the process environment: `PCSCALE_DRY_RUN`,
/// `PCSCALE_ALLOWED_FUNCTIONS` (comma-separated globs; unset or empty allows
/// every function), `PCSCALE_MAX_PER_FUNCTION` (unset or empty: none),
/// `PCSCALE_QUIET_EVERY_MINUTES`, `PCSCALE_METRIC_DELAY_SECONDS`,
/// `PCSCALE_RECONCILE_MINUTES` (default [`DEFAULT_RECONCILE_MINUTES`]) and
/// `PCSCALE_LAMBDA_BUDGET` (default [`DEFAULT_LAMBDA_BUDGET`]).
/// Other fields keep their defaults. Shared by the Lambda and `pcscale tick`.
pub fn tick_options_from_env() -> Result<TickOptions, ConfigError> {
    tick_options_from_lookup(|k| std::env::var(k).ok())
}

/// [`tick_options_from_env`] over any lookup (for tests and for flags that
/// override the environment).
pub fn tick_options_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<TickOptions, ConfigError> {
    let mut opts = TickOptions::default();
    if let Some(v) = lookup("PCSCALE_DRY_RUN") {
        opts.dry_run = parse_bool(&v).ok_or(ConfigError::DryRun(v))?;
    }
    if let Some(v) = lookup("PCSCALE_MAX_PER_FUNCTION").filter(|v| !v.trim().is_empty()) {
        let n = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ConfigError::MaxPerFunction(v.clone()))?;
        opts.max_per_function = Some(n);
    }
    if let Some(v) = lookup("PCSCALE_QUIET_EVERY_MINUTES").filter(|v| !v.trim().is_empty()) {
        opts.quiet_every_minutes = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=60).contains(n))
            .ok_or_else(|| ConfigError::QuietEveryMinutes(v.clone()))?;
    }
    opts.reconcile_every_minutes = DEFAULT_RECONCILE_MINUTES;
    if let Some(v) = lookup("PCSCALE_RECONCILE_MINUTES").filter(|v| !v.trim().is_empty()) {
        opts.reconcile_every_minutes = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1440).contains(n))
            .ok_or_else(|| ConfigError::ReconcileMinutes(v.clone()))?;
    }
    opts.lambda_budget = Some(DEFAULT_LAMBDA_BUDGET);
    if let Some(v) = lookup("PCSCALE_LAMBDA_BUDGET").filter(|v| !v.trim().is_empty()) {
        opts.lambda_budget = Some(
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=900).contains(n))
                .ok_or_else(|| ConfigError::LambdaBudget(v.clone()))?,
        );
    }
    if let Some(v) = lookup("PCSCALE_METRIC_DELAY_SECONDS").filter(|v| !v.trim().is_empty()) {
        opts.metric_delay = v
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|s| PublicationDelay::from_secs(s).ok())
            .ok_or_else(|| ConfigError::MetricDelay(v.clone()))?;
    }
    if let Some(v) = lookup("PCSCALE_ALLOWED_FUNCTIONS") {
        let globs = v
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| {
                if g.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?'))
                {
                    Ok(g.to_owned())
                } else {
                    Err(ConfigError::AllowedFunction(g.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Unset or empty allows every function; a list that parses to no
        // entry (",", " , ") is a mistake, refused rather than read as "all".
        if globs.is_empty() && !v.trim().is_empty() {
            return Err(ConfigError::AllowedFunctionsEmpty(v));
        }
        if !globs.is_empty() {
            opts.allowed_functions = Some(globs);
        }
    }
    Ok(opts)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Some(false),
        "1" | "true" | "yes" | "on" => Some(true),
        _ => None,
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
            #[cfg(feature = "aws")]
            let _ = crate::aws::lambda::RateLimiter::per_second(s.lambda_rps);
            #[cfg(not(feature = "aws"))]
            let _ = s;
        }
    }

    #[test]
    fn a_non_positive_rate_is_refused_naming_the_variable() {
        let e = AwsSettings::from_lookup(|k| (k == "PCSCALE_LAMBDA_RPS").then(|| "0".into()))
            .unwrap_err();
        assert!(e.to_string().contains("PCSCALE_LAMBDA_RPS"), "{e}");
    }
}

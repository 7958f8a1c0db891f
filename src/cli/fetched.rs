//! What `simulate` and its `--from-cloudwatch` fetch share: the report a
//! fetched trace adds and how a simulation error is reported. Its own
//! module so that `simulate` may call `from_cloudwatch` without the fetch
//! importing `simulate` back.

use chrono::{DateTime, Utc};

use super::CliError;
use crate::sim::report::SimReport;
use crate::sim::trace::{Trace, TraceError};
use crate::sim::{FunctionOutcome, SimError, SimOptions};

/// A simulation error as the CLI reports it.
pub(crate) fn sim_error(e: SimError) -> CliError {
    match e {
        SimError::Trace(TraceError::Io { file, source })
        | SimError::Read { path: file, source } => CliError::Read { path: file, source },
        SimError::Write { .. } => CliError::Other(e.to_string()),
        other => CliError::InvalidInput(other.to_string()),
    }
}

/// What a trace fetched from AWS adds to a replay (`--from-cloudwatch`,
/// `super::from_cloudwatch`).
pub(crate) trait FetchedTrace {
    /// Wall-clock midnight of the trace's first day (`SimOptions::epoch`).
    fn epoch(&self) -> DateTime<Utc>;
    /// `--min-peak` when not given.
    fn min_peak(&self) -> u32;
    /// Adds its rows and notes to the report, from every selected
    /// function's outcome (in trace order).
    fn finish(
        &self,
        report: &mut SimReport,
        trace: &Trace,
        opts: &SimOptions,
        outcomes: &[FunctionOutcome],
    ) -> Result<(), CliError>;
    /// Lines printed before the text report.
    fn lines(&self) -> Vec<String>;
    /// The `cloudwatch` member of the JSON report.
    fn json(&self) -> serde_json::Value;
}

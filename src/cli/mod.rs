//! The `pcscale` command line (DESIGN.md §4): the whole command tree, the
//! global options, the error type and the exit codes.
//!
//! # How a verb is wired (read this before adding one)
//!
//! * Each verb group has its own file with its own clap `Args` struct and one
//!   handler: [`tick`], [`policy`], [`import`] (`policy import`),
//!   [`activity`] (`activity` and `explain`), [`status`], [`simulate`]
//!   (`from_cloudwatch`: its `--from-cloudwatch` fetch). Add flags to the
//!   `Args` struct in *that* file; this file only names the verbs.
//! * A handler has the signature
//!   `pub async fn run(args: &XArgs, global: &GlobalOpts) -> Result<Exit, CliError>`.
//!   It prints its own result (human text, or JSON when
//!   `global.output == OutputFormat::Json`) on stdout, and returns:
//!   - `Ok(Exit::Success)` (0) when it did its job;
//!   - `Ok(Exit::InvalidInput)` (2) when it has already printed the problems
//!     with the user's input (one line per problem, `<path>: <message>`);
//!   - `Err(CliError)` when it could not run: `main` prints `error: <e>` on
//!     stderr and exits with [`CliError::exit`] (1, or 2 for
//!     [`CliError::InvalidInput`]).
//! * Logs (`tracing`) go to stderr, filtered by `RUST_LOG` (default `warn`),
//!   so stdout stays machine-readable.
//!
//! Exit codes (users' scripts rely on them): 0 ok, 1 could not run,
//! 2 invalid input (including command-line usage errors, which clap reports).

#[cfg(feature = "aws")]
pub mod activity;
pub(crate) mod fetched;
#[cfg(feature = "aws")]
pub mod from_cloudwatch;
#[cfg(feature = "aws")]
pub mod import;
#[cfg(feature = "aws")]
pub mod policy;
pub mod simulate;
#[cfg(feature = "aws")]
pub mod status;
#[cfg(feature = "aws")]
pub mod tick;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::ports::PortError;

/// Files larger than this are refused before parsing. A DynamoDB item is at
/// most 400 KB; 16 MiB leaves room for a list of many items.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a file (or stdin for `-`), refusing files over [`MAX_FILE_BYTES`].
pub fn read_input(path: &Path) -> Result<String, CliError> {
    let shown = path.display().to_string();
    let read_err = |source| CliError::Read {
        path: shown.clone(),
        source,
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_err)?;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(CliError::InvalidInput(format!(
            "{shown}: larger than {MAX_FILE_BYTES} bytes; a DynamoDB item is at most 400 KB"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::InvalidInput(format!(
            "{shown}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// `pcscale`: autoscaling for AWS Lambda provisioned concurrency.
#[derive(Debug, Clone, Parser)]
#[command(name = "pcscale", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every verb takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb takes (`pcscale --table t policy list` and
/// `pcscale policy list --table t` both work).
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// The DynamoDB table holding policies, state and activity.
    #[arg(long, global = true, env = "PCSCALE_TABLE", default_value = "pcscale")]
    pub table: String,
    /// Human text, or JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The AWS region, as the AWS CLI's --region (over AWS_REGION and the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// The named profile of ~/.aws/config and ~/.aws/credentials, as the AWS
    /// CLI's --profile (over AWS_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send every AWS call (DynamoDB, CloudWatch, Lambda) to this URL, as the
    /// AWS CLI's --endpoint-url (over AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// The verbs of DESIGN.md §4.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// One pass over every policy: the same code as the Lambda handler.
    #[cfg(feature = "aws")]
    Tick(tick::TickArgs),
    /// Validate, store, show and import policies.
    #[cfg(feature = "aws")]
    Policy(policy::PolicyArgs),
    /// Recent scaling activity of a resource.
    #[cfg(feature = "aws")]
    Activity(activity::ActivityArgs),
    /// Why a resource has the capacity it has: policy, band, state, last decision.
    #[cfg(feature = "aws")]
    Explain(activity::ExplainArgs),
    /// The controller's health: last tick, counts, errors by kind, its settings.
    #[cfg(feature = "aws")]
    Status(status::StatusArgs),
    /// Replay a demand trace through the real tick against a simulated Lambda.
    Simulate(Box<simulate::SimulateArgs>),
    /// Any other verb, in a build without the `aws` feature: refused with a
    /// message saying how to get the full CLI.
    #[cfg(not(feature = "aws"))]
    #[command(external_subcommand)]
    WithoutAws(Vec<String>),
}

/// What a build without the `aws` feature answers for a verb other than `simulate`.
#[cfg(not(feature = "aws"))]
fn without_aws(verb: &str) -> CliError {
    CliError::Other(format!(
        "`pcscale {verb}` talks to AWS, and this pcscale was built without the AWS SDK \
         (`--no-default-features`: `simulate` only); build the full CLI with \
         `cargo install --path .` or `cargo run --release -- {verb}`"
    ))
}

/// How the process ends. The numbers are part of the user contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// 0: the command did its job.
    Success = 0,
    /// 1: the command could not run (AWS unreachable, file unreadable, ...).
    CouldNotRun = 1,
    /// 2: the input (file, arguments) is invalid; the problems were printed.
    InvalidInput = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The verb exists in the command tree but its handler is not written yet.
    #[error("`pcscale {0}` is not built yet")]
    NotBuiltYet(&'static str),
    /// A file (or stdin) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file, or `-` for stdin.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file (or stdout) could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file, or `stdout`.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The user's input is invalid (exit 2) and the handler did not print
    /// the problems itself.
    #[error("{0}")]
    InvalidInput(String),
    /// An AWS (or emulator) call failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Anything else that stops the command, with context.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The exit code for this error: 2 for invalid input, 1 otherwise.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::InvalidInput(_) => Exit::InvalidInput,
            _ => Exit::CouldNotRun,
        }
    }
}

/// Runs the parsed command line. An error comes back in words for people:
/// SDK debug dumps cut, and a hint for the usual causes (no table, no endpoint).
pub async fn run(cli: &Cli) -> Result<Exit, CliError> {
    let global = &cli.global;
    let result = match &cli.command {
        #[cfg(feature = "aws")]
        Command::Tick(args) => tick::run(args, global).await,
        #[cfg(feature = "aws")]
        Command::Policy(args) => policy::run(args, global).await,
        #[cfg(feature = "aws")]
        Command::Activity(args) => activity::run_activity(args, global).await,
        #[cfg(feature = "aws")]
        Command::Explain(args) => activity::run_explain(args, global).await,
        #[cfg(feature = "aws")]
        Command::Status(args) => status::run(args, global).await,
        Command::Simulate(args) => simulate::run(args, global).await,
        #[cfg(not(feature = "aws"))]
        Command::WithoutAws(words) => Err(without_aws(words.first().map_or("", String::as_str))),
    };
    result.map_err(|e| for_people(e, global))
}

/// The SDK's `DisplayErrorContext` ends with the error's `Debug` form
/// (`(DispatchFailure(DispatchFailure { source: ConnectorError { ...
/// hyper_util ... } }))`): useful to nobody at a terminal. Cut it.
fn without_debug_dump(message: &str) -> String {
    const DUMPS: &[&str] = &[
        " (DispatchFailure(",
        " (TimeoutError(",
        " (ResponseError(",
        " (ConstructionFailure(",
        " (ServiceError(",
    ];
    let cut = DUMPS
        .iter()
        .filter_map(|d| message.find(d))
        .min()
        .unwrap_or(message.len());
    message[..cut].to_owned()
}

/// How to create the table, for the "table not found" error.
pub fn create_table_hint(table: &str) -> String {
    format!(
        "table {table} does not exist in this account and region. Deploy the stack          (`sam deploy --guided`, which creates it), pass --table/--region for the one you have,          or create it: aws dynamodb create-table --table-name {table}          --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S          --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE          --billing-mode PAY_PER_REQUEST && aws dynamodb update-time-to-live --table-name {table}          --time-to-live-specification Enabled=true,AttributeName=ExpiresAt          (and the same for its activity table, {table}-activity)"
    )
}

fn for_people(e: CliError, global: &GlobalOpts) -> CliError {
    const DYNAMODB_OPS: &[&str] = &[
        "Scan",
        "Query",
        "GetItem",
        "PutItem",
        "DeleteItem",
        "UpdateItem",
    ];
    let (text, op) = match &e {
        CliError::Port(p) => (
            format!("{p}{}", p.request_id_note()),
            Some(p.operation.clone()),
        ),
        CliError::Other(m) => (m.clone(), None),
        _ => return e,
    };
    let mut text = without_debug_dump(&text);
    // DynamoDB says ResourceNotFoundException for a missing table (Lambda
    // says it for a missing function: no table hint then).
    let dynamodb = match &op {
        Some(op) => DYNAMODB_OPS.contains(&op.as_str()),
        None => DYNAMODB_OPS.iter().any(|o| text.starts_with(o)),
    };
    if dynamodb && text.contains("ResourceNotFoundException") {
        text = format!("{text}\nhint: {}", create_table_hint(&global.table));
    } else if text.contains("dispatch failure") {
        text = format!(
            "{text}\nhint: the AWS endpoint could not be reached; check --endpoint-url \
             (or AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), --region and the network"
        );
    }
    CliError::Other(text)
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`), so stdout stays
/// clean for `--output json`. Safe to call twice (the second call is a no-op).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // An error here means a subscriber is already installed: keep it.
    // Colours only for a terminal: logs piped to a file or a CI log stay plain.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Writes `text` (plus a newline) to stdout. A closed pipe
/// (`pcscale ... | head -1`) is not an error.
pub fn print_line(text: &str) -> Result<(), CliError> {
    write_stdout(format_args!("{text}\n"))
}

/// Writes `value` to stdout as pretty JSON, followed by a newline.
pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(format!("cannot render JSON: {e}")))?;
    write_stdout(format_args!("{text}\n"))
}

fn write_stdout(args: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(CliError::Write {
            path: "stdout".into(),
            source,
        }),
    }
}

/// A hidden `--now` flag's value: an RFC 3339 instant, for tests and for
/// replaying "what did it think at 03:12?".
#[cfg(feature = "aws")]
pub(crate) fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 instant: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pcscale").chain(args.iter().copied()))
    }

    #[cfg(feature = "aws")]
    #[test]
    fn every_verb_of_the_design_parses() {
        let lines: &[&[&str]] = &[
            &["tick"],
            &["tick", "--dry-run", "--segment", "0", "--segments", "4"],
            &["policy", "validate", "p.json"],
            &["policy", "put", "p.json"],
            &["policy", "put", "-"],
            &["policy", "get", "function:checkout:live"],
            &["policy", "list"],
            &["policy", "delete", "function:checkout:live"],
            &["policy", "import", "--from", "aws", "x.json"],
            &["policy", "import", "--from", "alibaba", "x.json"],
            &["policy", "import", "--from", "tencent", "x.json"],
            &["policy", "schema"],
            &["activity", "function:checkout:live", "--limit", "5"],
            &["activity"],
            &["status"],
            &["status", "--period", "300"],
            &["activity", "--since", "6h", "--limit", "50"],
            &[
                "policy", "import", "--from", "aws", "a.json", "b.json", "c.json",
            ],
            &["policy", "list", "--full"],
            &["policy", "put", "--force", "p.json"],
            &[
                "--region",
                "eu-west-1",
                "--profile",
                "p",
                "--endpoint-url",
                "http://localhost:4566",
                "policy",
                "list",
            ],
            &["explain", "function:checkout:live"],
            &["simulate"],
            &[
                "simulate",
                "--from-cloudwatch",
                "function:checkout:live",
                "checkout:canary",
                "--days",
                "3",
            ],
            &[
                "simulate",
                "--trace",
                "t.csv",
                "--policy",
                "p.json",
                "--compare",
                "all",
                "--plot",
                "o.svg",
                "--timeline",
                "o.csv",
            ],
        ];
        for line in lines {
            assert!(
                parse(line).is_ok(),
                "pcscale {} did not parse",
                line.join(" ")
            );
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn global_options_go_before_or_after_the_verb() {
        let a = parse(&["--table", "t1", "--output", "json", "policy", "list"]).expect("parses");
        assert_eq!(a.global.table, "t1");
        assert_eq!(a.global.output, OutputFormat::Json);
        let b = parse(&["policy", "list", "--table", "t2", "--output", "json"]).expect("parses");
        assert_eq!(b.global.table, "t2");
        assert_eq!(b.global.output, OutputFormat::Json);
    }

    #[cfg(feature = "aws")]
    #[test]
    fn segment_needs_segments() {
        assert!(parse(&["tick", "--segment", "1"]).is_err());
        assert!(parse(&["tick", "--segments", "4"]).is_err());
    }

    #[cfg(feature = "aws")]
    #[test]
    fn unknown_vendor_and_output_are_usage_errors() {
        assert!(parse(&["policy", "import", "--from", "gcp", "x.json"]).is_err());
        assert!(parse(&["--output", "yaml", "policy", "list"]).is_err());
    }

    #[cfg(not(feature = "aws"))]
    #[tokio::test]
    async fn without_aws_only_simulate_runs_and_other_verbs_say_how_to_get_them() {
        assert!(parse(&["simulate", "--compare", "all"]).is_ok());
        let cli = parse(&["tick", "--dry-run"]).expect("any verb parses");
        let Err(e) = run(&cli).await else {
            panic!("tick ran without the AWS SDK");
        };
        let text = e.to_string();
        assert!(text.contains("`pcscale tick` talks to AWS"), "{text}");
        assert!(text.contains("cargo install --path ."), "{text}");
        assert_eq!(e.exit(), Exit::CouldNotRun);
    }

    #[cfg(not(feature = "aws"))]
    #[tokio::test]
    async fn without_aws_from_cloudwatch_says_it_needs_the_full_cli() {
        let cli = parse(&["simulate", "--from-cloudwatch", "f:live", "--days", "3"])
            .expect("the flag exists in every build");
        let Err(e) = run(&cli).await else {
            panic!("--from-cloudwatch ran without the AWS SDK");
        };
        let text = e.to_string();
        assert!(text.contains("built without AWS support"), "{text}");
        assert!(text.contains("cargo install --path ."), "{text}");
        assert_eq!(e.exit(), Exit::CouldNotRun);
    }

    #[test]
    fn exit_codes_match_the_contract() {
        assert_eq!(Exit::Success as u8, 0);
        assert_eq!(Exit::CouldNotRun as u8, 1);
        assert_eq!(Exit::InvalidInput as u8, 2);
        assert_eq!(CliError::NotBuiltYet("tick").exit(), Exit::CouldNotRun);
        assert_eq!(
            CliError::InvalidInput("x".into()).exit(),
            Exit::InvalidInput
        );
    }
}

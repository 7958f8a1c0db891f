//! `pcscale policy import --from aws|alibaba|tencent FILE...` (DESIGN.md §4):
//! vendor configs (AWS `register-scalable-target` / `put-scaling-policy` /
//! `put-scheduled-action` JSON or their `describe-*` output, Alibaba
//! `scheduledActions` / `targetTrackingPolicies`, Tencent
//! `PutProvisionedConcurrencyConfig`) converted to pcscale policy items by
//! [`crate::import`] and validated with the same parser as `policy validate`.
//!
//! Output, so that `pcscale policy import ... | pcscale policy put -` works:
//! * success: exit 0; **stdout** holds the policy item (or a JSON array when
//!   the file described several resources); **stderr** holds one line per
//!   warning (`not imported: <path>: <why>`, `approximated: ...`,
//!   `assumed: ...`, `recommendation: ...`) and a one-line summary;
//! * invalid input: exit 2, nothing on stdout, one line per problem on
//!   stderr (`<path>: <message>`, the path in the vendor's file);
//! * `--output json`: one document on stdout, `{"vendor", "valid", "items",
//!   "warnings": [{"path", "kind", "message"}], "problems": [...]}`, same exit codes;
//!   `policy put -` takes this document as it is (its `items`), and refuses
//!   it when `valid` is false;
//! * several FILEs (or `-` for stdin, once) are merged by resource; problem
//!   and warning paths then start with `<file>:`;
//! * a file that cannot be read: exit 1.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{CliError, Exit, GlobalOpts, OutputFormat, print_json, read_input};
use crate::core::policy::Problem;
use crate::import::{self as vendor_import, ImportError, ImportOptions, Source};

/// Arguments of `pcscale policy import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Which vendor's configuration FILE holds.
    #[arg(long = "from", value_enum, value_name = "VENDOR")]
    pub from: Vendor,
    /// The vendor's JSON, or `-` for stdin. Several files are merged by
    /// resource (AWS: the `describe-scalable-targets`,
    /// `describe-scaling-policies` and `describe-scheduled-actions` outputs).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The Lambda alias or version to manage, function:<name>:<qualifier>,
    /// when FILE does not name one (Alibaba, Tencent) or to override it.
    #[arg(long, value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// IANA time zone of Tencent `TriggerCronConfig` schedules (they carry
    /// none; default Asia/Shanghai).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
}

/// `--from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Vendor {
    /// AWS Application Auto Scaling `put-scaling-policy` / `put-scheduled-action` JSON.
    Aws,
    /// Alibaba Cloud Function Compute provisioned config (`SchedulerActions`, `TargetTrackingPolicies`).
    Alibaba,
    /// Tencent Cloud SCF provisioned concurrency (min / max / usage target).
    Tencent,
}

impl From<Vendor> for vendor_import::Vendor {
    fn from(v: Vendor) -> Self {
        match v {
            Vendor::Aws => vendor_import::Vendor::Aws,
            Vendor::Alibaba => vendor_import::Vendor::Alibaba,
            Vendor::Tencent => vendor_import::Vendor::Tencent,
        }
    }
}

/// Reads every FILE as JSON. A problem (not JSON) names its file; an
/// unreadable file is `CliError` (exit 1).
fn read_sources(files: &[PathBuf]) -> Result<Result<Vec<Source>, Vec<Problem>>, CliError> {
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(CliError::InvalidInput(
            "FILE: `-` (stdin) can be given only once".into(),
        ));
    }
    let several = files.len() > 1;
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = read_input(file)?;
        // Editors on Windows like to start files with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let label = if several {
            format!("{shown}:")
        } else {
            String::new()
        };
        match serde_json::from_str::<Value>(text) {
            Ok(value) => sources.push(Source { label, value }),
            Err(e) => problems.push(Problem {
                path: if several { shown } else { "(file)".into() },
                message: format!("not valid JSON: {e}"),
            }),
        }
    }
    Ok(if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    })
}

/// Runs `pcscale policy import`.
pub async fn run(args: &ImportArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let vendor: vendor_import::Vendor = args.from.into();
    let opts = ImportOptions {
        resource: args.resource.clone(),
        timezone: args.timezone.clone(),
    };
    let result = match read_sources(&args.files)? {
        Ok(sources) => vendor_import::import_sources(vendor, &sources, &opts),
        Err(problems) => Err(ImportError { vendor, problems }),
    };
    match result {
        Ok(imported) => {
            match global.output {
                OutputFormat::Json => print_json(&json!({
                    "vendor": vendor,
                    "valid": true,
                    "items": imported.items,
                    "warnings": imported.warnings,
                    "problems": [],
                }))?,
                OutputFormat::Text => {
                    let doc = match imported.items.as_slice() {
                        [one] => one.clone(),
                        many => Value::Array(many.to_vec()),
                    };
                    print_json(&doc)?;
                    for w in &imported.warnings {
                        eprintln!("{w}");
                    }
                    eprintln!(
                        "imported {} policy item(s) from {vendor}; {} warning(s){}",
                        imported.items.len(),
                        imported.warnings.len(),
                        if imported.warnings.is_empty() {
                            ""
                        } else {
                            " above: review them before `pcscale policy put`"
                        }
                    );
                }
            }
            Ok(Exit::Success)
        }
        Err(err) => {
            match global.output {
                OutputFormat::Json => print_json(&json!({
                    "vendor": vendor,
                    "valid": false,
                    "items": [],
                    "warnings": [],
                    "problems": err.problems,
                }))?,
                OutputFormat::Text => {
                    for p in &err.problems {
                        eprintln!("{p}");
                    }
                    eprintln!(
                        "{}: cannot import from {vendor}: {} problem(s)",
                        args.files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        err.problems.len()
                    );
                }
            }
            Ok(Exit::InvalidInput)
        }
    }
}

//! `pcscale policy ...` (DESIGN.md §4): `validate FILE` (offline), `put FILE|-`,
//! `get RESOURCE`, `list`, `delete RESOURCE`, `import --from VENDOR FILE`
//! (in [`super::import`]) and `schema`.
//!
//! `policy validate` output, chosen so scripts and people can both use it:
//! * valid: exit 0, one line per item on stdout, `ok <resource>: <summary>`;
//! * invalid: exit 2, one line per problem on **stdout**, `<path>: <message>`
//!   (the problems are the command's result, so they can be piped and
//!   grepped), and a one-line count on stderr. In a file holding a list of
//!   items, paths are prefixed with the item's index: `[1].MinCapacity`.
//!   A file that is not JSON at all is reported as `(file): not valid JSON ...`;
//! * `--output json`: one document on stdout, `{"file", "valid", "items":
//!   [{"index", "resource", "valid", "policy" | "problems"}], "problems":
//!   [{"item", "resource", "path", "message"}]}`, same exit codes;
//! * a file that cannot be read at all: exit 1.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Value, json};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;

use super::import::ImportArgs;
use super::{CliError, Exit, GlobalOpts, OutputFormat, print_json, print_line, read_input};
use crate::aws::AwsPorts;
use crate::aws::config::sdk_config_loader;
use crate::core::decide::{CurrentPc, PcStatus};
use crate::core::policy::{Band, BandSource, ScheduledAction, effective_band};
use crate::core::policy::{
    ITEM_PATH, InvalidPolicy, Policy, Problem, ResourceId, document_items, json_schema,
    looks_like_dynamodb_json, parse_policy,
};
use crate::ddb_json::{from_dynamodb_json, parse_policy_any};
use crate::env::AwsSettings;
use crate::env::tick_options_from_env;
use crate::ports::{ConcurrencyApi, ErrorKind, PolicyStore, PortError};
use crate::tick::{self, TickOptions};

/// The path used for problems with the file as a whole (not JSON, empty, ...).
pub const FILE_PATH: &str = "(file)";

/// Arguments of `pcscale policy`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// What to do with policies.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file offline: plain or DynamoDB JSON, one item or a
    /// list. Exit 0 if valid, 2 with one line per problem if not.
    Validate(FileArgs),
    /// Validate, then write policy items to the table (FILE or - for stdin).
    Put(PutArgs),
    /// Show one resource's policy item.
    Get(ResourceArgs),
    /// List every policy in the table (--full: every policy item, which
    /// `policy put -` takes back).
    List(ListArgs),
    /// Delete one resource's policy (its state and activity stay until TTL);
    /// --delete-config also deletes the provisioned-concurrency config.
    Delete(DeleteArgs),
    /// Convert an AWS, Alibaba or Tencent autoscaling config into a policy item.
    Import(ImportArgs),
    /// Print the JSON Schema (draft 2020-12) of a plain-JSON policy item.
    Schema,
}

/// A file argument (`-` for stdin).
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// Policy file (plain or DynamoDB JSON, one item or a list), or - for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Arguments of `pcscale policy put`.
#[derive(Debug, Clone, clap::Args)]
pub struct PutArgs {
    /// Policy file (plain or DynamoDB JSON, one item or a list, `policy
    /// import --output json`, `policy list --full`, or `aws dynamodb scan`
    /// output), or - for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Store a policy even when Lambda says its function or alias does not
    /// exist (yet): for a function about to be deployed.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `pcscale policy list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Print every stored policy item in full, as one JSON list (whatever
    /// --output): a backup or export that `pcscale policy put -` takes back.
    #[arg(long)]
    pub full: bool,
}

/// A resource argument.
#[derive(Debug, Clone, clap::Args)]
pub struct ResourceArgs {
    /// The resource, e.g. function:checkout:live.
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
}

/// Arguments of `pcscale policy delete`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeleteArgs {
    /// The resource, e.g. function:checkout:live.
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// Also delete the provisioned-concurrency config of RESOURCE that
    /// pcscale was managing (DeleteProvisionedConcurrencyConfig). Without it
    /// the config is left as it is, and its size is printed.
    #[arg(long)]
    pub delete_config: bool,
}

/// Runs `pcscale policy ...`.
pub async fn run(args: &PolicyArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    match &args.command {
        PolicyCommand::Validate(f) => validate(&f.file, global.output),
        PolicyCommand::Schema => {
            print_json(&json_schema())?;
            Ok(Exit::Success)
        }
        PolicyCommand::Import(a) => super::import::run(a, global).await,
        PolicyCommand::Put(p) => put(p, global).await,
        PolicyCommand::Get(r) => get(&r.resource, global).await,
        PolicyCommand::List(l) if l.full => export(global).await,
        PolicyCommand::List(_) => list(global).await,
        PolicyCommand::Delete(d) => delete(d, global).await,
    }
}

/// Parses a policy document's text, or says why it is not JSON.
pub fn parse_document(text: &str) -> Result<Value, Problem> {
    // Editors on Windows like to start files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Problem {
            path: FILE_PATH.into(),
            message: "the file is empty; expected a policy item (a JSON object) or a list of them"
                .into(),
        });
    }
    serde_json::from_str(text).map_err(|e| Problem {
        path: FILE_PATH.into(),
        message: format!("not valid JSON: {e}"),
    })
}

/// Keys of `aws dynamodb scan`/`query`/`get-item` output around the items.
const READ_OUTPUT_KEYS: &[&str] = &[
    "Count",
    "ScannedCount",
    "ConsumedCapacity",
    "LastEvaluatedKey",
    "ResponseMetadata",
];

/// The policy items inside a document that wraps them: `pcscale policy
/// import --output json` (its `items`; refused when it says `valid: false`)
/// and raw `aws dynamodb scan`/`query`/`get-item` output (`Count`,
/// `ScannedCount`, ... around `Items`, of which only the policy items are
/// kept: a scan of the table also returns state and activity items). The
/// second value says what was left out. Any other document is returned as it is.
pub fn unwrap_envelope(doc: Value) -> Result<(Value, Option<String>), Problem> {
    let Value::Object(obj) = &doc else {
        return Ok((doc, None));
    };
    let is_import = obj.contains_key("vendor")
        && obj.contains_key("valid")
        && obj.get("items").is_some_and(Value::is_array);
    if is_import {
        if obj.get("valid") != Some(&Value::Bool(true)) {
            return Err(Problem {
                path: FILE_PATH.into(),
                message: "this `pcscale policy import` result says valid: false; fix the problems it lists and import again".into(),
            });
        }
        let items = obj.get("items").cloned().unwrap_or_default();
        return Ok((items, None));
    }
    let wrapped = |k: &str| {
        obj.contains_key(k)
            && obj.len() > 1
            && obj
                .keys()
                .all(|other| other == k || READ_OUTPUT_KEYS.contains(&other.as_str()))
    };
    if wrapped("Item") {
        let item = obj.get("Item").cloned().unwrap_or_default();
        return Ok((json!({ "Item": item }), None));
    }
    if wrapped("Items") {
        let Some(Value::Array(items)) = obj.get("Items") else {
            return Ok((doc, None));
        };
        let is_policy = |item: &Value| match item.get("sk") {
            None => true,
            Some(Value::String(sk)) => sk == "policy",
            Some(other) => other.get("S").and_then(Value::as_str) == Some("policy"),
        };
        let (keep, skipped): (Vec<&Value>, Vec<&Value>) = items.iter().partition(|i| is_policy(i));
        let note = (!skipped.is_empty()).then(|| {
            format!(
                "{} item(s) of the scan are not policies (sk is not \"policy\": state, activity, controller); left out",
                skipped.len()
            )
        });
        return Ok((
            json!({ "Items": keep.into_iter().cloned().collect::<Vec<_>>() }),
            note,
        ));
    }
    Ok((doc, None))
}

/// Reads and validates every policy item of a file (for `policy put` and
/// `simulate --policy`). A file that is not JSON is `CliError::InvalidInput`.
pub fn read_policies(path: &Path) -> Result<Vec<Result<Policy, InvalidPolicy>>, CliError> {
    let text = read_input(path)?;
    let doc = parse_document(&text)
        .and_then(unwrap_envelope)
        .map(|(doc, _)| doc)
        .map_err(|p| CliError::InvalidInput(format!("{}: {}", path.display(), p.message)))?;
    Ok(document_items(&doc)
        .into_iter()
        .map(parse_policy_any)
        .collect())
}

/// One item's outcome in a validation report.
struct ItemReport {
    index: usize,
    result: Result<Policy, InvalidPolicy>,
}

impl ItemReport {
    fn resource(&self) -> Option<String> {
        match &self.result {
            Ok(p) => Some(p.resource.to_string()),
            Err(e) => e.resource.clone(),
        }
    }
}

/// `[i].path` for items of a list, `path` for a lone item.
fn display_path(in_list: bool, index: usize, path: &str) -> String {
    match (in_list, path == ITEM_PATH) {
        (false, _) => path.to_owned(),
        (true, true) => format!("[{index}]"),
        (true, false) => format!("[{index}].{path}"),
    }
}

/// Reads FILE (or stdin, `-`) as a policy document: the JSON and whether it
/// is a list of items. `Ok(Err(problem))` when it is not JSON or holds no
/// item (`verb` says what the items were for, in that message).
fn read_document(path: &Path, verb: &str) -> Result<Result<(Value, bool), Problem>, CliError> {
    let text = read_input(path)?;
    let doc = match parse_document(&text).and_then(unwrap_envelope) {
        Ok((doc, note)) => {
            if let Some(note) = note {
                eprintln!("{}: {note}", path.display());
            }
            doc
        }
        Err(problem) => return Ok(Err(problem)),
    };
    let in_list = match &doc {
        Value::Array(_) => true,
        Value::Object(o) => o.get("Items").is_some_and(Value::is_array),
        _ => false,
    };
    if document_items(&doc).is_empty() {
        return Ok(Err(Problem {
            path: FILE_PATH.into(),
            message: format!("the file holds an empty list: no policy items to {verb}"),
        }));
    }
    Ok(Ok((doc, in_list)))
}

/// Each problem of item `index` as (displayed path, message).
fn located(
    in_list: bool,
    index: usize,
    problems: Vec<Problem>,
) -> impl Iterator<Item = (String, String)> {
    problems
        .into_iter()
        .map(move |p| (display_path(in_list, index, &p.path), p.message))
}

/// `pcscale policy validate FILE`.
fn validate(path: &Path, output: OutputFormat) -> Result<Exit, CliError> {
    let file = path.display().to_string();
    let (doc, in_list) = match read_document(path, "validate")? {
        Ok(read) => read,
        Err(problem) => return report_file_problem(&file, &problem, output),
    };
    let items = document_items(&doc);
    let reports: Vec<ItemReport> = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| ItemReport {
            index,
            result: parse_policy_any(item),
        })
        .collect();
    let invalid_items = reports.iter().filter(|r| r.result.is_err()).count();
    let problem_count: usize = reports
        .iter()
        .filter_map(|r| r.result.as_ref().err())
        .map(|e| e.problems.len())
        .sum();

    match output {
        OutputFormat::Json => {
            let mut items_json = Vec::new();
            let mut problems_json = Vec::new();
            for r in &reports {
                let resource = r.resource();
                match &r.result {
                    Ok(p) => items_json.push(json!({
                        "index": r.index,
                        "resource": resource,
                        "valid": true,
                        "policy": p,
                    })),
                    Err(e) => {
                        let problems: Vec<Value> = e
                            .problems
                            .iter()
                            .map(|p| json!({"path": p.path, "message": p.message}))
                            .collect();
                        for p in &e.problems {
                            problems_json.push(json!({
                                "item": r.index,
                                "resource": resource,
                                "path": display_path(in_list, r.index, &p.path),
                                "message": p.message,
                            }));
                        }
                        items_json.push(json!({
                            "index": r.index,
                            "resource": resource,
                            "valid": false,
                            "problems": problems,
                        }));
                    }
                }
            }
            print_json(&json!({
                "file": file,
                "valid": invalid_items == 0,
                "items": items_json,
                "problems": problems_json,
            }))?;
        }
        OutputFormat::Text => {
            if invalid_items == 0 {
                for r in &reports {
                    if let Ok(p) = &r.result {
                        print_line(&format!("ok {}", p.summary()))?;
                    }
                }
            } else {
                for r in &reports {
                    if let Err(e) = &r.result {
                        for p in &e.problems {
                            print_line(&format!(
                                "{}: {}",
                                display_path(in_list, r.index, &p.path),
                                p.message
                            ))?;
                        }
                    }
                }
                eprintln!(
                    "{file}: {problem_count} problem{} in {invalid_items} of {} item{}",
                    if problem_count == 1 { "" } else { "s" },
                    reports.len(),
                    if reports.len() == 1 { "" } else { "s" },
                );
            }
        }
    }
    Ok(if invalid_items == 0 {
        Exit::Success
    } else {
        Exit::InvalidInput
    })
}

fn report_file_problem(
    file: &str,
    problem: &Problem,
    output: OutputFormat,
) -> Result<Exit, CliError> {
    match output {
        OutputFormat::Json => print_json(&json!({
            "file": file,
            "valid": false,
            "items": [],
            "problems": [{
                "item": null,
                "resource": null,
                "path": problem.path,
                "message": problem.message,
            }],
        }))?,
        OutputFormat::Text => {
            print_line(&problem.to_string())?;
            eprintln!("{file}: not a policy document");
        }
    }
    Ok(Exit::InvalidInput)
}

// ---------------------------------------------------------------------------
// `put`, `get`, `list`, `delete`: the table behind them is reached only
// through the DynamoDB adapter (src/aws/dynamodb.rs).

/// The AWS adapters from the environment, on `--table`, with `--region`,
/// `--profile` and `--endpoint-url` taking precedence over the environment
/// as they do in the AWS CLI.
pub(crate) async fn aws_ports(global: &GlobalOpts) -> Result<AwsPorts, CliError> {
    let settings =
        AwsSettings::from_env().map_err(|e| CliError::Other(format!("AWS configuration: {e}")))?;
    let mut loader = sdk_config_loader();
    if let Some(r) = &global.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(p) = &global.profile {
        loader = loader.profile_name(p);
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(CliError::Other(
            "no AWS region: pass --region, set AWS_REGION, or give the profile a region".into(),
        ));
    }
    let ports = match &global.endpoint_url {
        None => AwsPorts::new(&sdk, &settings),
        Some(url) => AwsPorts::from_clients(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .endpoint_url(url)
                    .build(),
            ),
            aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&sdk)
                    .endpoint_url(url)
                    .build(),
            ),
            aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&sdk)
                    .endpoint_url(url)
                    .build(),
            ),
            &settings,
        ),
    };
    Ok(ports.with_table(&global.table))
}

/// A RESOURCE argument, checked with the core's rules (exit 2 naming it).
pub(crate) fn resource_arg(text: &str) -> Result<ResourceId, CliError> {
    text.parse::<ResourceId>()
        .map_err(|e| CliError::InvalidInput(format!("RESOURCE {text:?}: {e}")))
}

/// The operator's settings the tick would apply (allow-list, dry run, guard-rail).
pub(crate) fn tick_settings() -> Result<TickOptions, CliError> {
    tick_options_from_env().map_err(|e| CliError::InvalidInput(format!("environment: {e}")))
}

/// `pcscale policy put FILE|-`: validates every item first and writes nothing
/// unless all are valid (exit 2 with one line per problem, as `validate`).
/// Each item is written whole by one PutItem on key (`pk`, `sk = "policy"`),
/// so a put can never touch the resource's state or activity items.
async fn put(args: &PutArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let path = args.file.as_path();
    let file = path.display().to_string();
    let (doc, in_list) = match read_document(path, "put")? {
        Ok(read) => read,
        Err(problem) => return report_file_problem(&file, &problem, global.output),
    };
    let items = document_items(&doc);
    let settings = tick_settings()?;
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut ready: Vec<(ResourceId, Value, String)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let policy = match parse_policy_any(item) {
            Ok(p) => p,
            Err(e) => {
                problems.extend(located(in_list, i, e.problems));
                continue;
            }
        };
        let pk = policy.resource.to_string();
        if !seen.insert(pk.clone()) {
            problems.push((
                display_path(in_list, i, "pk"),
                format!("{pk} appears more than once in this file"),
            ));
        }
        if !tick::allowed(&settings, &policy.resource.function) {
            problems.push((
                display_path(in_list, i, "pk"),
                format!(
                    "function {} is not in PCSCALE_ALLOWED_FUNCTIONS; the tick would refuse this policy",
                    policy.resource.function
                ),
            ));
        }
        // Store plain JSON, as users wrote it (DynamoDB JSON is converted).
        let plain = if looks_like_dynamodb_json(item) {
            match from_dynamodb_json(item) {
                Ok(v) => v,
                Err(e) => {
                    problems.extend(located(in_list, i, e.problems));
                    continue;
                }
            }
        } else {
            (*item).clone()
        };
        ready.push((policy.resource.clone(), plain, policy.summary()));
    }
    let ports = if problems.is_empty() {
        let ports = aws_ports(global).await?;
        // A policy for a function or alias Lambda does not know would only
        // produce an error a minute: refuse it unless --force.
        for (i, (resource, _, _)) in ready.iter().enumerate() {
            match ports.lambda.get_config(resource).await {
                Err(e) if e.kind == ErrorKind::NotFound => {
                    let msg = format!(
                        "Lambda has no function {} with alias or version {} ({}); check the name, or pass --force to store it anyway",
                        resource.function,
                        resource.qualifier,
                        without_sdk_noise(&e.message)
                    );
                    if args.force {
                        eprintln!("warning: {}: {msg}", display_path(in_list, i, "pk"));
                    } else {
                        problems.push((display_path(in_list, i, "pk"), msg));
                    }
                }
                Err(e) => eprintln!(
                    "warning: could not check that {resource} exists: {}",
                    without_sdk_noise(&e.to_string())
                ),
                Ok(_) => {}
            }
        }
        Some(ports)
    } else {
        None
    };
    if !problems.is_empty() {
        match global.output {
            OutputFormat::Json => print_json(&json!({
                "file": file,
                "valid": false,
                "written": [],
                "problems": problems
                    .iter()
                    .map(|(path, message)| json!({"path": path, "message": message}))
                    .collect::<Vec<_>>(),
            }))?,
            OutputFormat::Text => {
                for (path, message) in &problems {
                    print_line(&format!("{path}: {message}"))?;
                }
                eprintln!(
                    "{file}: {} problem(s); nothing written to table {}",
                    problems.len(),
                    global.table
                );
            }
        }
        return Ok(Exit::InvalidInput);
    }

    let Some(ports) = ports else {
        return Err(CliError::Other("no AWS clients".into()));
    };
    let mut written: Vec<String> = Vec::new();
    for (resource, item, summary) in &ready {
        let pk = resource.to_string();
        if let Err(e) = ports.store.put_policy_item(item).await {
            return Err(CliError::Other(format!(
                "{e}; written before the failure: {}",
                if written.is_empty() {
                    "none".to_owned()
                } else {
                    written.join(", ")
                }
            )));
        }
        written.push(pk);
        if global.output == OutputFormat::Text {
            print_line(&format!("put {summary}"))?;
        }
    }
    if global.output == OutputFormat::Json {
        print_json(&json!({
            "file": file,
            "valid": true,
            "table": global.table,
            "written": written,
            "problems": [],
        }))?;
    }
    Ok(Exit::Success)
}

/// `pcscale policy get RESOURCE`: the stored item, as plain JSON.
async fn get(resource: &str, global: &GlobalOpts) -> Result<Exit, CliError> {
    let resource = resource_arg(resource)?.to_string();
    let ports = aws_ports(global).await?;
    let Some(item) = ports.store.get_policy_item(&resource).await? else {
        return Err(CliError::Other(format!(
            "no policy for {resource} in table {}",
            global.table
        )));
    };
    let problems = parse_policy(&item)
        .err()
        .map(|e| e.problems)
        .unwrap_or_default();
    match global.output {
        OutputFormat::Json => print_json(&json!({
            "resource": resource,
            "table": global.table,
            "item": item,
            "valid": problems.is_empty(),
            "problems": problems,
        }))?,
        OutputFormat::Text => {
            print_json(&item)?;
            for p in &problems {
                eprintln!("invalid: {p}");
            }
            if !problems.is_empty() {
                eprintln!("the tick skips this policy (and records the error) until it is fixed");
            }
        }
    }
    Ok(Exit::Success)
}

/// The SDK's long error text without its trailing debug dump.
fn without_sdk_noise(text: &str) -> String {
    text.split(" (ServiceError(")
        .next()
        .unwrap_or(text)
        .to_owned()
}

/// `pcscale policy list --full`: every policy item as stored, one JSON list.
async fn export(global: &GlobalOpts) -> Result<Exit, CliError> {
    let ports = aws_ports(global).await?;
    let mut items = ports.store.policy_items().await?;
    items.sort_by(|a, b| {
        let pk = |v: &Value| v.get("pk").and_then(Value::as_str).unwrap_or("").to_owned();
        pk(a).cmp(&pk(b))
    });
    print_json(&Value::Array(items))?;
    Ok(Exit::Success)
}

/// One row of `policy list`.
struct ListRow {
    resource: String,
    policy: Result<Policy, InvalidPolicy>,
    band: Option<Band>,
    next: Option<(String, DateTime<Utc>)>,
    /// `None` in the error: the policy is invalid, so nothing was asked.
    current: Result<Option<CurrentPc>, Option<PortError>>,
    last_change: Option<DateTime<Utc>>,
}

/// `pcscale policy list`: resource, enabled, band (in force now), target,
/// schedules, current PC (from Lambda) and last change (from pcscale's state).
async fn list(global: &GlobalOpts) -> Result<Exit, CliError> {
    let ports = aws_ports(global).await?;
    let now = Utc::now();
    let mut loaded = ports.store.load(None).await?;
    loaded.sort_by(|a, b| a.key.cmp(&b.key));
    // Current PC per resource; the adapter's rate limiter keeps this inside
    // the Lambda control-plane quota however many policies there are.
    let lambda = &ports.lambda;
    let rows: Vec<ListRow> = futures::stream::iter(loaded)
        .map(|res| async move {
            let (band, next, current) = match &res.policy {
                Ok(p) => (
                    Some(effective_band(p, now)),
                    next_scheduled(p, now).map(|(name, at, _)| (name, at)),
                    lambda.get_config(&p.resource).await.map_err(Some),
                ),
                Err(_) => (None, None, Err(None)),
            };
            ListRow {
                resource: res.key,
                last_change: res.state.last_change_at(),
                policy: res.policy,
                band,
                next,
                current,
            }
        })
        .buffered(4)
        .collect()
        .await;

    if global.output == OutputFormat::Json {
        let doc: Vec<Value> = rows.iter().map(list_row_json).collect();
        print_json(&Value::Array(doc))?;
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        print_line(&format!("no policies in table {}", global.table))?;
        return Ok(Exit::Success);
    }
    let header = [
        "RESOURCE",
        "ENABLED",
        "BAND",
        "TARGET",
        "SCHEDULES",
        "CURRENT PC",
        "LAST CHANGE",
    ];
    let table: Vec<Vec<String>> = rows.iter().map(list_row_cells).collect();
    for line in render_table(&header, &table) {
        print_line(&line)?;
    }
    Ok(Exit::Success)
}

fn list_row_cells(r: &ListRow) -> Vec<String> {
    let (enabled, target, schedules) = match &r.policy {
        Ok(p) => (
            if p.dry_run {
                "dry-run".to_owned()
            } else if p.enabled {
                "yes".to_owned()
            } else {
                "no".to_owned()
            },
            p.target_tracking.as_ref().map_or_else(
                || "-".to_owned(),
                |tt| format!("{} {}", tt.target_value, tt.metric.as_str()),
            ),
            match (&r.next, p.scheduled_actions.len()) {
                (_, 0) => "-".to_owned(),
                (Some((name, at)), n) => {
                    format!("{n}, next {name} {}", at.format("%Y-%m-%d %H:%MZ"))
                }
                (None, n) => n.to_string(),
            },
        ),
        Err(e) => (
            format!("invalid ({} problem(s))", e.problems.len()),
            "-".to_owned(),
            "-".to_owned(),
        ),
    };
    let band = r.band.as_ref().map_or_else(
        || "-".to_owned(),
        |b| {
            let scheduled = matches!(b.min_source, BandSource::Action { .. })
                || matches!(b.max_source, BandSource::Action { .. });
            format!(
                "{}-{}{}",
                b.min,
                b.max,
                if scheduled { " (sched)" } else { "" }
            )
        },
    );
    let current = match &r.current {
        Ok(None) => "none".to_owned(),
        Ok(Some(c)) => match c.status {
            PcStatus::Ready => c.requested.to_string(),
            PcStatus::InProgress => format!("{} (IN_PROGRESS, {} ready)", c.requested, c.allocated),
            PcStatus::Failed => format!("{} (FAILED)", c.requested),
        },
        Err(None) => "-".to_owned(),
        Err(Some(e)) if e.kind == ErrorKind::NotFound => "? (no such alias)".to_owned(),
        Err(Some(e)) => format!("? ({:?})", e.kind),
    };
    let last = r.last_change.map_or_else(
        || "never".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    vec![
        r.resource.clone(),
        enabled,
        band,
        target,
        schedules,
        current,
        last,
    ]
}

fn list_row_json(r: &ListRow) -> Value {
    let (current, current_error) = match &r.current {
        Ok(c) => (serde_json::to_value(c).unwrap_or(Value::Null), Value::Null),
        Err(e) => (
            Value::Null,
            e.as_ref()
                .map_or(Value::Null, |e| Value::String(e.to_string())),
        ),
    };
    match &r.policy {
        Ok(p) => json!({
            "resource": r.resource,
            "valid": true,
            "enabled": p.enabled,
            "dry_run": p.dry_run,
            "band": r.band,
            "target_value": p.target_tracking.as_ref().map(|t| t.target_value),
            "metric": p.target_tracking.as_ref().map(|t| t.metric.as_str()),
            "scheduled_actions": p.scheduled_actions.len(),
            "next_scheduled": r.next.as_ref().map(|(n, t)| json!({"name": n, "at": t})),
            "current_pc": current,
            "current_pc_error": current_error,
            "last_change": r.last_change,
        }),
        Err(e) => json!({
            "resource": r.resource,
            "valid": false,
            "problems": e.problems,
            "last_change": r.last_change,
        }),
    }
}

/// The next scheduled action to fire after `now`: name, instant, action.
pub(crate) fn next_scheduled(
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<(String, DateTime<Utc>, &ScheduledAction)> {
    policy
        .scheduled_actions
        .iter()
        .filter_map(|a| a.next_after(now).map(|t| (a.name.clone(), t, a)))
        .min_by_key(|(_, t, _)| *t)
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn render_table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    std::iter::once(line(header.to_vec()))
        .chain(
            rows.iter()
                .map(|r| line(r.iter().map(String::as_str).collect())),
        )
        .collect()
}

/// How long `policy delete` waits for a tick's claimed step on the resource
/// to settle (commit or release) before giving up: a claim's lease. A live
/// claimant settles within its own call timeouts (30 s per call).
pub const DELETE_SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// `pcscale policy delete RESOURCE [--delete-config]`.
///
/// Racing a tick: a tick applies a step only after claiming it with a write
/// conditioned on the state's `Version` (see `crate::tick`). Delete waits
/// for any claim in flight to settle, deletes the policy item, then bumps
/// that `Version` itself (conditioned on it), so that a tick which loaded
/// the policy before the delete loses its claim and never calls Lambda.
/// Only then is the config read (and deleted), so what is printed is what
/// is left. When a claim does not settle in [`DELETE_SETTLE_WAIT`], the
/// command fails (exit 1) saying what may still change.
async fn delete(args: &DeleteArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let resource = resource_arg(&args.resource)?;
    let key = resource.to_string();
    if args.delete_config {
        // The same gate as the tick's: dry run and the allow-list.
        tick::lambda_write_allowed(&tick_settings()?, &resource.function).map_err(|e| {
            CliError::InvalidInput(format!("--delete-config: {e}; nothing deleted"))
        })?;
    }
    let ports = aws_ports(global).await?;
    // A step in flight now would land after the config is read: wait for it.
    settled_state(&ports, &key).await.map_err(|why| {
        CliError::Other(format!("{why}; nothing deleted, retry in a few minutes"))
    })?;
    if !ports.store.delete_policy(&key).await? {
        return Err(CliError::Other(format!(
            "no policy for {key} in table {}; nothing deleted",
            global.table
        )));
    }
    retire_state(&ports, &key, args.delete_config)
        .await
        .map_err(|why| {
            CliError::Other(format!(
                "deleted policy {key}, but {why}; its provisioned-concurrency config may still \
                 change: check it with `aws lambda get-provisioned-concurrency-config` and delete \
                 it by hand if needed"
            ))
        })?;
    let config = ports.lambda.get_config(&resource).await;
    let mut config_deleted = false;
    let mut note = None;
    if args.delete_config {
        // Deleting an absent config is a no-op in the adapter, so this also
        // covers a config removed by hand in between.
        ports.lambda.delete_config(&resource).await?;
        config_deleted = matches!(config, Ok(Some(_)));
    } else {
        note = match &config {
            Ok(Some(c)) => Some(format!(
                "its provisioned-concurrency config ({} requested) was left in place and is still billed; \
                 the policy is gone, so remove it with `aws lambda delete-provisioned-concurrency-config \
                 --function-name {} --qualifier {}` (`--delete-config` deletes both in one go)",
                c.requested, resource.function, resource.qualifier
            )),
            Ok(None) => None,
            Err(e) => Some(format!(
                "could not read its provisioned-concurrency config: {e}"
            )),
        };
    }
    match global.output {
        OutputFormat::Json => print_json(&json!({
            "resource": key,
            "policy_deleted": true,
            "config": config.as_ref().ok().cloned().flatten(),
            "config_deleted": config_deleted,
        }))?,
        OutputFormat::Text => {
            print_line(&format!(
                "deleted policy {key} (its state and activity items are left; pcscale ignores state without a policy)"
            ))?;
            if args.delete_config {
                print_line(&match &config {
                    Ok(Some(c)) => format!(
                        "deleted provisioned-concurrency config of {key} ({} requested)",
                        c.requested
                    ),
                    _ => format!("{key} had no provisioned-concurrency config"),
                })?;
            }
            if let Some(n) = note {
                eprintln!("{n}");
            }
        }
    }
    Ok(Exit::Success)
}

/// The state of `key` once no claimed step is in flight (polling up to
/// [`DELETE_SETTLE_WAIT`]); `None` when pcscale never wrote one. The wait is
/// measured on this process's own clock, never against a tick's.
async fn settled_state(
    ports: &AwsPorts,
    key: &str,
) -> Result<Option<crate::core::state::State>, String> {
    let started = std::time::Instant::now();
    loop {
        let state = ports
            .store
            .get_state(key)
            .await
            .map_err(|e| format!("could not read the state of {key}: {e}"))?;
        match state.as_ref().and_then(|s| s.pending.as_ref()) {
            None => return Ok(state),
            Some(p) if started.elapsed() >= DELETE_SETTLE_WAIT => {
                return Err(format!(
                    "a tick's step {} -> {} on {key} is still unsettled after {} s",
                    p.from,
                    p.to,
                    DELETE_SETTLE_WAIT.as_secs()
                ));
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// Bumps the state's `Version` after the policy item is gone, so that any
/// tick that loaded the policy before loses its claim: ticks claim with a
/// write conditioned on the `Version` they read. With `config_deleted` the
/// state no longer records a capacity (the config is about to go).
async fn retire_state(ports: &AwsPorts, key: &str, config_deleted: bool) -> Result<(), String> {
    loop {
        let state = settled_state(ports, key).await?.unwrap_or_default();
        let next = crate::core::state::State {
            version: if state.defect.is_some() {
                1
            } else {
                state.next_version()
            },
            capacity: if config_deleted { None } else { state.capacity },
            last_reason: Some("policy deleted by `pcscale policy delete`".into()),
            pending: None,
            defect: None,
            ..state.clone()
        };
        let written = match &state.defect {
            Some(d) => ports.store.replace_state(key, d, &next).await,
            None => ports.store.write_state(key, state.version, &next).await,
        };
        match written {
            Ok(crate::ports::WriteOutcome::Written) => return Ok(()),
            // A tick claimed in between (it loaded the policy before the
            // delete): wait for its step to settle, then bump again.
            Ok(crate::ports::WriteOutcome::Conflict) => {}
            Err(e) => return Err(format!("could not write the state of {key}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_get_an_index_prefix_and_lone_items_do_not() {
        assert_eq!(display_path(false, 0, "MinCapacity"), "MinCapacity");
        assert_eq!(display_path(true, 2, "MinCapacity"), "[2].MinCapacity");
        assert_eq!(display_path(true, 2, ITEM_PATH), "[2]");
        assert_eq!(display_path(false, 0, ITEM_PATH), ITEM_PATH);
    }

    #[test]
    fn a_byte_order_mark_is_not_an_error() {
        let doc = parse_document("\u{feff}{\"a\": 1}").expect("parses");
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn empty_and_broken_files_name_the_file() {
        let empty = parse_document("  \n").expect_err("empty");
        assert_eq!(empty.path, FILE_PATH);
        let broken = parse_document("{\"MinCapacity\": 1,}").expect_err("broken");
        assert_eq!(broken.path, FILE_PATH);
        assert!(broken.message.contains("line 1"), "{}", broken.message);
    }
}

//! The SAM application's checks (issue 3 item 8, issue 5 item 4):
//! `cfn-lint==1.53.3` and `sam validate --region us-east-1` on
//! `template.yaml` (both from `.venv-tools`, installed by
//! `scripts/setup-emulators.sh`), and the IAM policy's action names, which
//! neither tool checks: each must exist in the AWS SDK's service model, none
//! may be a wildcard, every API the adapters call must be granted (or be
//! documented as CLI-only), and nothing is granted that the code never calls.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn template_text() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml at the crate root")
}

/// A tool from `.venv-tools`, or a failure that says how to get it.
fn venv_tool(name: &str) -> PathBuf {
    let p = root().join(".venv-tools/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-emulators.sh (it installs cfn-lint==1.53.3, aws-sam-cli \
         and cargo-lambda into .venv-tools)",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ------------------------------------------------------------- the tools --

#[test]
fn cfn_lint_1_53_3_passes_the_template() {
    let lint = venv_tool("cfn-lint");
    let (ok, version) = run(Command::new(&lint).arg("--version"));
    assert!(
        ok && version.contains("1.53.3"),
        "expected cfn-lint 1.53.3 (newer ones skip the SAM translator): {version}"
    );
    let (ok, out) = run(Command::new(&lint).arg(root().join("template.yaml")));
    assert!(ok, "cfn-lint found problems:\n{out}");
}

#[test]
fn cfn_lint_with_the_serverless_rules_passes_the_template() {
    let lint = venv_tool("cfn-lint");
    let (ok, out) =
        run(Command::new(venv_tool("python")).args(["-c", "import cfn_lint_serverless.rules"]));
    assert!(
        ok,
        "cfn-lint-serverless is not installed in .venv-tools: rerun scripts/setup-emulators.sh \
         (scripts/tools-requirements.txt pins it)\n{out}"
    );
    let (ok, out) = run(Command::new(&lint)
        .args(["--append-rules", "cfn_lint_serverless.rules", "--"])
        .arg(root().join("template.yaml")));
    assert!(
        ok,
        "cfn-lint with the serverless rules found problems:\n{out}"
    );
}

#[test]
fn the_serverless_rules_are_live_they_flag_a_function_without_a_log_group() {
    let lint = venv_tool("cfn-lint");
    // Without the justified suppressions, WS1004 must fire (see template.yaml).
    let copy =
        template_text().replace("ignore_checks: [WS1000, WS1004]", "ignore_checks: [WS1000]");
    assert_ne!(
        copy,
        template_text(),
        "the template should carry the suppressions"
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, copy).expect("write the copy");
    let (ok, out) = run(Command::new(&lint)
        .args(["--append-rules", "cfn_lint_serverless.rules", "--"])
        .arg(&path));
    assert!(!ok && out.contains("WS1004"), "expected WS1004:\n{out}");
}

#[test]
fn cfn_lint_is_not_vacuous_it_rejects_a_broken_copy() {
    let lint = venv_tool("cfn-lint");
    let broken = template_text().replace("Runtime: provided.al2023", "Runtime: provided.al2099");
    assert_ne!(
        broken,
        template_text(),
        "the template should name provided.al2023"
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).expect("write the broken copy");
    let (ok, out) = run(Command::new(&lint).arg(&path));
    assert!(!ok, "cfn-lint accepted an unknown runtime:\n{out}");
    assert!(out.contains("provided.al2099"), "{out}");
}

#[test]
fn sam_validate_accepts_the_template_offline() {
    let sam = venv_tool("sam");
    let (ok, out) = run(Command::new(&sam)
        .args(["validate", "--region", "us-east-1", "--template"])
        .arg(root().join("template.yaml"))
        .current_dir(root()));
    assert!(ok, "sam validate failed:\n{out}");
    assert!(out.contains("is a valid SAM Template"), "{out}");
}

#[test]
fn the_function_is_the_rust_binary_on_al2023_arm64() {
    let t = template_text();
    for needle in [
        "Runtime: provided.al2023",
        "Architectures: [arm64]",
        "BuildMethod: rust-cargolambda",
        "Binary: pcscale-lambda",
        "Handler: bootstrap",
        "Type: ScheduleV2",
        "BillingMode: PAY_PER_REQUEST",
        "PointInTimeRecoveryEnabled: true",
        "SSEEnabled: true",
        "AttributeName: ExpiresAt",
        "DeletionPolicy: Retain",
        "Default: rate(1 minute)",
        "LogFormat: JSON",
    ] {
        assert!(t.contains(needle), "template.yaml lacks {needle:?}");
    }
    assert!(root().join("src/bin/pcscale-lambda.rs").exists());
    // The environment the code reads (DESIGN.md section 4).
    for var in [
        "PCSCALE_TABLE",
        "PCSCALE_DRY_RUN",
        "PCSCALE_ALLOWED_FUNCTIONS",
        "PCSCALE_MAX_PER_FUNCTION",
        "PCSCALE_ACTIVITY_TABLE",
        "PCSCALE_RECONCILE_MINUTES",
        "PCSCALE_LAMBDA_BUDGET",
    ] {
        assert!(
            t.contains(&format!("{var}: !Ref")),
            "{var} is not set from a parameter"
        );
    }
}

// ------------------------------------------------------------------- IAM --

/// One IAM statement as written in the template: its actions and resources
/// (the raw text of each resource line).
#[derive(Debug, Default)]
struct Statement {
    sid: Option<String>,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// The statements of every policy document in the template. A small
/// line-based reader: the template writes one `Effect:` per statement,
/// `Action:` either inline or as a `- ` list, `Resource:` likewise.
fn statements(t: &str) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let mut list: Option<(&str, usize)> = None;
    for line in t.lines() {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        let item = body.strip_prefix("- ").unwrap_or(body);
        if let Some((what, at)) = list {
            if body.starts_with("- ") && indent >= at {
                let cur = out.last_mut().expect("a statement");
                if what == "Action" {
                    cur.actions.push(item.to_owned());
                } else {
                    cur.resources.push(item.to_owned());
                }
                continue;
            }
            list = None;
        }
        if let Some(sid) = item.strip_prefix("Sid: ") {
            out.push(Statement {
                sid: Some(sid.to_owned()),
                ..Statement::default()
            });
        } else if item.starts_with("Effect: ") && !body.starts_with("Effect") {
            // A statement without a Sid starts at its `- Effect:` line.
            out.push(Statement::default());
        }
        for key in ["Action", "Resource"] {
            let Some(rest) = item.strip_prefix(&format!("{key}:")) else {
                continue;
            };
            let rest = rest.trim();
            let Some(cur) = out.last_mut() else { continue };
            if rest.is_empty() {
                list = Some((key, indent));
            } else if key == "Action" {
                cur.actions.push(rest.to_owned());
            } else {
                cur.resources.push(rest.to_owned());
            }
        }
    }
    out
}

fn granted_actions() -> BTreeSet<String> {
    statements(&template_text())
        .into_iter()
        .flat_map(|s| s.actions)
        .collect()
}

/// `snake_case` -> `PascalCase` (`put_provisioned_concurrency_config` ->
/// `PutProvisionedConcurrencyConfig`), as the SDK names operation modules.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The version of `krate` in Cargo.lock.
fn locked_version(krate: &str) -> String {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == format!("name = \"{krate}\"")
            && let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = \""))
        {
            return v.trim_end_matches('"').to_owned();
        }
    }
    panic!("{krate} is not in Cargo.lock")
}

/// The operation modules of an SDK crate (`src/operation/<op>/`), as
/// snake_case names, from the source cargo unpacked under CARGO_HOME.
fn sdk_operations(krate: &str) -> BTreeSet<String> {
    let version = locked_version(krate);
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registry = home.join("registry/src");
    let dir = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
        .filter_map(Result::ok)
        .map(|d| d.path().join(format!("{krate}-{version}/src/operation")))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "the source of {krate} {version} is not under {}; run cargo fetch",
                registry.display()
            )
        });
    let ops: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("operation dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(ops.len() > 10, "too few operations in {}", dir.display());
    ops
}

/// Operation names of a service with no Rust SDK dependency here (CloudWatch
/// Logs), from botocore's service model in `.venv-tools` (aws-sam-cli ships it).
fn botocore_operations(service: &str) -> BTreeSet<String> {
    let python = venv_tool("python");
    let (ok, out) = run(Command::new(python).args([
        "-c",
        &format!(
            "import botocore.session as s; print('\\n'.join(s.get_session().get_service_model('{service}').operation_names))"
        ),
    ]));
    assert!(ok, "botocore could not load the {service} model: {out}");
    let ops: BTreeSet<String> = out.lines().map(str::to_owned).collect();
    assert!(ops.len() > 10, "too few {service} operations: {out}");
    ops
}

/// Every operation of every service the template names, by IAM prefix.
fn service_models() -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut m = BTreeMap::new();
    for (prefix, krate) in [
        ("lambda", "aws-sdk-lambda"),
        ("dynamodb", "aws-sdk-dynamodb"),
        ("cloudwatch", "aws-sdk-cloudwatch"),
        ("sts", "aws-sdk-sts"),
    ] {
        m.insert(
            prefix,
            sdk_operations(krate).iter().map(|o| pascal(o)).collect(),
        );
    }
    m.insert("logs", botocore_operations("logs"));
    m
}

#[test]
fn every_iam_action_in_the_template_exists_in_the_sdk_service_models() {
    let models = service_models();
    let granted = granted_actions();
    assert!(granted.len() >= 8, "found too few actions: {granted:?}");
    let mut unknown = Vec::new();
    for action in &granted {
        assert!(!action.contains('*'), "wildcard action {action}");
        let (prefix, op) = action
            .split_once(':')
            .unwrap_or_else(|| panic!("{action} is not service:Action"));
        let known = models
            .get(prefix)
            .unwrap_or_else(|| panic!("{action}: no service model loaded for {prefix}"));
        if !known.contains(op) {
            unknown.push(action.clone());
        }
    }
    assert!(
        unknown.is_empty(),
        "actions not in the SDK models (typos?): {unknown:?}"
    );
}

#[test]
fn the_action_check_catches_a_typo() {
    let models = service_models();
    assert!(models["lambda"].contains("PutProvisionedConcurrencyConfig"));
    assert!(!models["lambda"].contains("PutProvisionedConcurencyConfig"));
    assert!(models["logs"].contains("PutLogEvents"));
}

/// Calls in `src/aws` that the Lambda never makes: only the `pcscale` CLI
/// does, under the operator's own credentials, so the controller's role
/// must not have them.
const CLI_ONLY: &[(&str, &str)] = &[
    (
        "dynamodb:GetItem",
        "policy get / explain read one item; a tick scans",
    ),
    (
        "dynamodb:Query",
        "explain and activity read one resource; a tick scans",
    ),
    (
        "dynamodb:DeleteItem",
        "policy delete; the controller never deletes a user's item",
    ),
    ("dynamodb:CreateTable", "test and set-up helpers"),
    ("dynamodb:DescribeTable", "test and set-up helpers"),
    ("dynamodb:UpdateTimeToLive", "test and set-up helpers"),
    ("dynamodb:ListTables", "test and set-up helpers"),
];

/// Calls the runtime needs that no adapter makes (Lambda's log agent writes
/// the function's stdout with the role's credentials; the trust policy).
const RUNTIME: &[&str] = &[
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sts:AssumeRole",
];

/// The APIs `src/aws` calls: `crate::aws::IAM_ACTIONS` when the adapters
/// keep such a list, else every `.operation_name()` call in the adapter files
/// that is an operation of that file's SDK crate.
fn called_actions() -> BTreeSet<String> {
    let dir = root().join("src/aws");
    let mut files: Vec<(String, String)> = Vec::new();
    collect_rs(&dir, &mut files);
    assert!(
        !files.is_empty(),
        "no adapter sources under {}",
        dir.display()
    );
    if let Some(list) = explicit_list(&files) {
        return list;
    }
    let models: Vec<(&str, BTreeSet<String>)> = [
        ("lambda", "aws-sdk-lambda"),
        ("dynamodb", "aws-sdk-dynamodb"),
        ("cloudwatch", "aws-sdk-cloudwatch"),
    ]
    .into_iter()
    .map(|(p, k)| (p, sdk_operations(k)))
    .collect();
    let mut called = BTreeSet::new();
    for (path, text) in &files {
        // A file's client is named by its file or folder (`aws/lambda.rs`,
        // `aws/dynamodb/...`); other files are matched against every crate.
        let services: Vec<&(&str, BTreeSet<String>)> =
            models.iter().filter(|(p, _)| path.contains(p)).collect();
        let services = if services.is_empty() {
            models.iter().collect()
        } else {
            services
        };
        for (prefix, ops) in services {
            for op in ops {
                // The fluent builder is `client.<op>()`, usually on its own line.
                if text.contains(&format!(".{op}()")) {
                    called.insert(format!("{prefix}:{}", pascal(op)));
                }
            }
        }
    }
    called
}

fn collect_rs(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.push((p.display().to_string(), text));
        }
    }
}

/// The string literals of `IAM_ACTIONS` (`pub const IAM_ACTIONS: &[&str] = &[...]`), if any.
fn explicit_list(files: &[(String, String)]) -> Option<BTreeSet<String>> {
    for (_, text) in files {
        let Some(at) = text.find("IAM_ACTIONS") else {
            continue;
        };
        let rest = &text[at..];
        let open = rest.find("&[")?;
        let close = rest[open..].find("];")? + open;
        let list: BTreeSet<String> = rest[open..close]
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if !list.is_empty() {
            return Some(list);
        }
    }
    None
}

#[test]
fn every_api_the_adapters_call_is_granted_or_documented_cli_only() {
    let called = called_actions();
    for must in [
        "lambda:PutProvisionedConcurrencyConfig",
        "cloudwatch:GetMetricData",
    ] {
        assert!(
            called.contains(must),
            "expected the adapters to call {must}: {called:?}"
        );
    }
    let granted = granted_actions();
    let cli_only: BTreeSet<&str> = CLI_ONLY.iter().map(|(a, _)| *a).collect();
    let missing: Vec<&String> = called
        .iter()
        .filter(|a| !granted.contains(*a) && !cli_only.contains(a.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the adapters call {missing:?}, which the Lambda role does not grant: grant them in \
         template.yaml, or add them to CLI_ONLY with the reason the controller never calls them"
    );
}

#[test]
fn nothing_is_granted_that_the_code_never_calls() {
    let called = called_actions();
    let unused: Vec<String> = granted_actions()
        .into_iter()
        .filter(|a| !called.contains(a) && !RUNTIME.contains(&a.as_str()))
        .collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
}

#[test]
fn only_actions_without_resource_level_permissions_get_resource_star() {
    // Neither supports resource-level permissions (Service Authorization
    // Reference: no resource type), so IAM requires "*" for them.
    let star_ok = ["cloudwatch:GetMetricData", "lambda:GetAccountSettings"];
    let stmts = statements(&template_text());
    assert!(stmts.len() >= 5, "{stmts:#?}");
    for s in &stmts {
        let star = s.resources.iter().any(|r| r.trim_matches('"') == "*");
        if star {
            for a in &s.actions {
                assert!(
                    star_ok.contains(&a.as_str()),
                    "{a} has Resource \"*\" in {:?}",
                    s.sid
                );
            }
        }
    }
    // The provisioned-concurrency writes are scoped to the allow-list's ARNs.
    let pc = stmts
        .iter()
        .find(|s| {
            s.actions
                .iter()
                .any(|a| a == "lambda:PutProvisionedConcurrencyConfig")
        })
        .expect("a statement granting PutProvisionedConcurrencyConfig");
    assert!(!pc.resources.is_empty());
    for r in &pc.resources {
        assert!(
            r.contains(":function:${G}") && r.contains("AllowedFunctions"),
            "PC resource not scoped to AllowedFunctions: {r}"
        );
    }
    // DynamoDB on the one table only.
    let table = stmts
        .iter()
        .find(|s| s.actions.iter().any(|a| a.starts_with("dynamodb:")))
        .expect("a DynamoDB statement");
    assert_eq!(table.resources, vec!["!GetAtt PcscaleTable.Arn".to_owned()]);
    // The activity table: written, never read, by the controller.
    let activity = stmts
        .iter()
        .find(|s| s.sid.as_deref() == Some("Activity"))
        .expect("an Activity statement");
    assert_eq!(activity.actions, vec!["dynamodb:PutItem".to_owned()]);
    assert_eq!(
        activity.resources,
        vec!["!GetAtt PcscaleActivityTable.Arn".to_owned()]
    );
}

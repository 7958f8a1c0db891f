//! Issue 16: the README's main job builds without the AWS SDK. The
//! simulator calls nothing in `src/aws`; the `aws` feature (on by default,
//! so `cargo install --path .` and `cargo lambda build` get the full CLI
//! and the Lambda) is what brings the SDK, the Lambda runtime and their
//! HTTP and TLS stacks in. bench/RESULTS.md ("Build time") has the figures.

use std::path::PathBuf;
use std::process::Command;

/// The README's first command: the main job.
const MAIN_JOB: &str = "cargo run --release --no-default-features -- simulate";

/// Crates of the AWS stack the simulator never calls (prefixes).
const AWS_STACK: &[&str] = &[
    "aws-config",
    "aws-sdk-",
    "aws-smithy-",
    "aws-runtime",
    "aws-sigv4",
    "aws-lc-",
    "aws_lambda_events",
    "lambda_runtime",
    "hyper",
    "h2",
    "rustls",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crates `cargo tree` lists for the `pcscale` package with `features`
/// (normal and build dependencies: what a release build compiles).
fn crates(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(features)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The names in `names` that belong to [`AWS_STACK`]: a prefix ending in
/// `-`, or the crate itself and its `<name>-*` companions (`hyper-util`).
fn aws_stack(names: &[String]) -> Vec<&String> {
    names
        .iter()
        .filter(|n| {
            AWS_STACK.iter().any(|p| {
                n.starts_with(p)
                    && (p.ends_with('-') || n.len() == p.len() || n[p.len()..].starts_with('-'))
            })
        })
        .collect()
}

#[test]
fn the_readme_main_job_is_the_build_without_the_aws_feature() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let first = readme
        .lines()
        .find(|l| l.starts_with("cargo "))
        .expect("the README opens with a cargo command");
    assert!(
        first.starts_with(MAIN_JOB),
        "README's first command is {first:?}, not {MAIN_JOB:?}"
    );
}

#[test]
fn the_simulator_build_has_no_aws_stack_and_the_default_build_has_it() {
    let sim = crates(&["--no-default-features"]);
    assert!(
        sim.iter().any(|n| n == "pcscale") && sim.iter().any(|n| n == "tokio"),
        "cargo tree listed {sim:?}"
    );
    assert_eq!(
        aws_stack(&sim),
        Vec::<&String>::new(),
        "the simulator-only build compiles AWS crates"
    );
    let full = crates(&[]);
    for want in ["aws-sdk-lambda", "aws-config", "lambda_runtime"] {
        assert!(
            full.iter().any(|n| n == want),
            "the default build lacks {want}: `cargo install --path .` would not get the full CLI"
        );
    }
}

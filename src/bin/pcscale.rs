//! The `pcscale` command line: parse, run, map the outcome to an exit code
//! (0 ok, 1 could not run, 2 invalid input). Everything else is in
//! [`pcscale::cli`].

use std::process::ExitCode;

use clap::Parser;
use pcscale::cli::{Cli, init_tracing, run};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 here (clap's convention matches "invalid input").
    let cli = Cli::parse();
    init_tracing();
    match run(&cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit().into()
        }
    }
}

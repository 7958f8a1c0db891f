//! The `pcscale-lambda` handler: the Lambda driver of the shared tick.
//!
//! Everything costly happens once per execution environment, before the
//! first invocation (Lambda's init phase): the JSON log subscriber, the
//! options from the environment, the SDK configuration and the three
//! clients. Each invocation then borrows them (`examples/basic-sdk` of
//! aws-lambda-rust-runtime). A bad environment fails the init, which Lambda
//! reports as `Runtime.ExitError` with our message in the log, rather than
//! running with defaults.

use std::time::Instant;

use lambda_runtime::{Error, service_fn};
use pcscale::aws::AwsPorts;
use pcscale::env::tick_options_from_env;
use pcscale::lambda::{Driver, logging};
use pcscale::ports::SystemClock;
use tracing::{error, info};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = Instant::now();
    logging::init();
    let options =
        tick_options_from_env().inspect_err(|e| error!(error = %e, "bad configuration"))?;
    let ports = AwsPorts::from_env()
        .await
        .inspect_err(|e| error!(error = %e, "bad configuration"))?;
    // Set by Lambda; the dimension of the per-tick EMF line.
    let function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "pcscale".to_owned());
    info!(
        dry_run = options.dry_run,
        max_per_function = ?options.max_per_function,
        allowed_functions = ?options.allowed_functions,
        // Init work done in-process (the SDK resolves credentials and opens
        // connections lazily, on the first invocation).
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "pcscale-lambda ready"
    );
    let driver = Driver {
        store: ports.store,
        metrics: ports.metrics,
        lambda: ports.lambda,
        clock: SystemClock,
        options,
        function_name,
        emit_emf: true,
    };
    lambda_runtime::run(service_fn(|event| driver.handle(event))).await
}

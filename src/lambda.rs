//! The Lambda driver: event parsing and the handler (see `bin/pcscale-lambda.rs`).

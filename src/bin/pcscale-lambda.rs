//! The `pcscale-lambda` handler.
fn main() {}

//! The `pcscale` command line.
fn main() {}

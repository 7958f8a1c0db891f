//! # pcscale — an autoscaler for AWS Lambda provisioned concurrency
//!
//! Architecture in one paragraph: a **pure decision core** ([`core`]) turns a
//! policy, its persisted state, what was observed (demand, current PC,
//! limits) and the time `now` into a [`core::decide::Decision`] and the next
//! [`core::state::State`]; it does no I/O and never reads a clock. Around it,
//! [`ports`] names what a tick needs from the world (policy store, metrics
//! source, concurrency API, clock), [`tick`] orchestrates one pass
//! (load -> observe -> decide -> claim -> apply -> record), [`aws`] implements
//! the ports over the AWS SDK, and [`sim`] implements them in memory to replay
//! real traces. Three drivers call the same [`tick::run_tick`]: the Lambda
//! handler (`pcscale-lambda`), the CLI (`pcscale tick`) and the simulator
//! (`pcscale simulate`). Data flows one way; the core calls nobody.
//!
//! The `aws` feature (on by default) brings in [`aws`], `lambda` and the
//! CLI's AWS verbs; without it (`--no-default-features`) the crate is the
//! core, the tick and the simulator, and builds without the AWS SDK.

pub mod alias;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cli;
pub mod controller;
pub mod core;
pub mod ddb_json;
pub mod env;
pub mod import;
pub mod item;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod ports;
pub mod sim;
pub mod tick;

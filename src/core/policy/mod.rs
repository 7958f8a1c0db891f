//! The policy item (DESIGN.md §2.1) and its validation.
//!
//! Items arrive as JSON values with DynamoDB attribute names (the AWS adapter
//! converts `AttributeValue` maps to the same shape), so one validator serves
//! DynamoDB, `pcscale policy validate FILE` and the simulator. Validation
//! collects *every* problem, each naming its attribute path, and never panics.
//!
//! Two JSON shapes are read:
//! * plain JSON, `{"pk": "function:checkout:live", "MinCapacity": 1, ...}`,
//!   read by [`parse_policy`];
//! * DynamoDB JSON, `{"pk": {"S": "function:checkout:live"}, "MinCapacity":
//!   {"N": "1"}, ...}`, as the console and `aws dynamodb get-item` show it,
//!   converted by [`crate::ddb_json::from_dynamodb_json`].
//!
//! [`crate::ddb_json::parse_policies`] takes a whole document (one item,
//! a list of items, or the `{"Item": ..}` / `{"Items": [..]}` envelopes the
//! AWS CLI prints) in either shape; the CLI and the simulator read files
//! through it.
//!
//! Bounds: every list and string has a cap (see the `MAX_*` constants), so a
//! huge or hostile item costs linear time and bounded output.
//!
//! By concern:
//! * [`model`]: the types of a policy item, their bounds and defaults (the one
//!   source of truth: validation, the JSON Schema and serialisation follow it);
//! * [`validate`]: [`parse_policy`], every problem at once with its attribute path;
//! * [`hints`]: the did-you-mean and "you wrote X, write Y" suggestions;
//! * [`schema`]: the JSON Schema `pcscale policy schema` prints;
//! * [`band`]: the `[min, max]` band the policy and its scheduled actions set at `now`.
//!
//! DynamoDB JSON (`{"N": "1"}`) is converted in [`crate::ddb_json`].

pub mod band;
pub mod hints;
pub mod model;
pub mod schema;
pub mod validate;

#[cfg(test)]
mod tests;

pub use band::{Band, BandSource, effective_band};
pub use model::*;
pub use schema::json_schema;
pub use validate::{
    ITEM_PATH, InvalidPolicy, MAX_PROBLEMS, Problem, Problems, document_items,
    looks_like_dynamodb_json, parse_policy,
};

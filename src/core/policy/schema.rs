//! The JSON Schema of a policy item (`pcscale policy schema`), generated from
//! the model types of [`super::model`]: the same attribute names, types,
//! bounds and defaults the validator uses, for editors and CI linters. The
//! validator stays the authority (it also checks what a schema cannot say
//! well: schedule syntax, IANA zones, EndTime > StartTime, unique names,
//! MaxCapacity >= MinCapacity).

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::model::Policy;

/// The JSON Schema (draft 2020-12) of a plain-JSON policy item.
///
/// Optional attributes are absent, never `null`: the validator refuses `null`
/// (absent and null are different things to a user), so the model's
/// `Option` fields give the schema of their value (`schemars(with = ..)`).
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<Policy>().to_value()
}

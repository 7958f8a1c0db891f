//! The items pcscale writes to its DynamoDB table (DESIGN.md §2), encoded
//! without the AWS SDK: the one encoding of a state or activity item, shared
//! by the DynamoDB adapter (`crate::aws::dynamodb`, which converts an [`Attr`]
//! to the SDK's `AttributeValue` as it sends it) and the simulator, which
//! bills each write by the size of exactly these items
//! ([`crate::sim::pricing::dynamodb_item_bytes`]) and is built without the
//! SDK (`--no-default-features`).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use crate::core::state::State;
use crate::ports::Activity;

/// `sk` of a policy item.
pub const SK_POLICY: &str = "policy";
/// `sk` of a state item.
pub const SK_STATE: &str = "state";
/// Prefix of the `sk` of activity items.
pub const SK_ACTIVITY_PREFIX: &str = "activity#";
/// How long activity items live (DESIGN.md §2.3), through the TTL on `ExpiresAt`.
pub const ACTIVITY_TTL: TimeDelta = TimeDelta::days(30);

/// A DynamoDB attribute value of the kinds pcscale writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A string (`S`).
    S(String),
    /// A number, as its decimal text (`N`).
    N(String),
    /// A boolean (`BOOL`).
    Bool(bool),
    /// `NULL`.
    Null,
    /// A list (`L`).
    L(Vec<Attr>),
    /// A map (`M`).
    M(HashMap<String, Attr>),
}

/// An item: attribute name to value.
pub type Item = HashMap<String, Attr>;

fn n(v: impl ToString) -> Attr {
    Attr::N(v.to_string())
}

fn s(v: impl Into<String>) -> Attr {
    Attr::S(v.into())
}

/// RFC 3339 UTC, sub-second digits only when present (round-trips exactly).
fn ts(t: DateTime<Utc>) -> Attr {
    s(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// The state item of `resource` (DESIGN.md §2.2). Attribute names:
/// `Version`, `Capacity`, `LastScaleOutAt`, `LastScaleInAt`,
/// `LastDecisionAt`, `LastReason`, `Failures`, `Pending` (`From`, `To`,
/// `ClaimedAt`, `SeenAt`), `AliasCheck` (`Alias`, `Version`, `Stack`, `At`),
/// `MemoryMB` and `MemoryAt` (the function's memory and when it was read).
pub fn state_to_item(resource: &str, state: &State) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(resource));
    item.insert("sk".into(), s(SK_STATE));
    item.insert("Version".into(), n(state.version));
    if let Some(c) = state.capacity {
        item.insert("Capacity".into(), n(c));
    }
    if let Some(t) = state.last_scale_out_at {
        item.insert("LastScaleOutAt".into(), ts(t));
    }
    if let Some(t) = state.last_scale_in_at {
        item.insert("LastScaleInAt".into(), ts(t));
    }
    if let Some(t) = state.last_decision_at {
        item.insert("LastDecisionAt".into(), ts(t));
    }
    if let Some(r) = &state.last_reason {
        item.insert("LastReason".into(), s(r.as_str()));
    }
    if state.failures > 0 {
        item.insert("Failures".into(), n(state.failures));
    }
    if let Some(t) = state.observed_at {
        item.insert("ObservedAt".into(), ts(t));
    }
    if state.unconfirmed {
        item.insert("Unconfirmed".into(), Attr::Bool(true));
    }
    if let Some(r) = &state.reserved {
        item.insert("ReservedAt".into(), ts(r.at));
        if let Some(v) = r.value {
            item.insert("Reserved".into(), n(v));
        }
    }
    if let Some(m) = &state.memory {
        item.insert("MemoryAt".into(), ts(m.at));
        if let Some(mb) = m.mb {
            item.insert("MemoryMB".into(), n(mb));
        }
    }
    if let Some(p) = &state.pending {
        let mut pending = HashMap::from([
            ("From".to_owned(), n(p.from)),
            ("To".to_owned(), n(p.to)),
            ("ClaimedAt".to_owned(), ts(p.claimed_at)),
        ]);
        if let Some(t) = p.seen_at {
            pending.insert("SeenAt".to_owned(), ts(t));
        }
        item.insert("Pending".into(), Attr::M(pending));
    }
    if let Some(a) = &state.alias_check {
        let mut check = HashMap::from([
            ("Alias".to_owned(), s(a.alias.as_str())),
            ("Version".to_owned(), s(a.version.as_str())),
            ("At".to_owned(), ts(a.at)),
        ]);
        if let Some(stack) = &a.stack {
            check.insert("Stack".to_owned(), s(stack.as_str()));
        }
        item.insert("AliasCheck".into(), Attr::M(check));
    }
    // The forecast is a bounded blob (at most `history::MAX_RISES` rises)
    // read only by pcscale: one JSON string attribute.
    if let Some(f) = &state.forecast
        && let Ok(json) = serde_json::to_string(f)
    {
        item.insert("Forecast".into(), s(json.as_str()));
    }
    item
}

/// The `sk` of an activity item: `activity#<RFC 3339 UTC, millis>#<8 hex>`.
/// Fixed-width millis keep the sort order chronological; the random suffix
/// keeps two records of the same millisecond (one tick's error and change,
/// or two overlapping ticks) from overwriting each other.
pub fn activity_sk(at: DateTime<Utc>, suffix: u32) -> String {
    format!(
        "{SK_ACTIVITY_PREFIX}{}#{suffix:08x}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// The activity item for `a` (attributes `At`, `From`, `To`, `Action`,
/// `Cause`, `Outcome`, `Detail`, `ExpiresAt` in epoch seconds).
pub fn activity_to_item(a: &Activity, suffix: u32) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(a.resource.as_str()));
    item.insert("sk".into(), s(activity_sk(a.at, suffix)));
    item.insert("At".into(), ts(a.at));
    if let Some(f) = a.from {
        item.insert("From".into(), n(f));
    }
    if let Some(t) = a.to {
        item.insert("To".into(), n(t));
    }
    item.insert("Action".into(), s(a.action.as_str()));
    item.insert("Cause".into(), s(a.cause.as_str()));
    item.insert("Outcome".into(), s(a.outcome.as_str()));
    if let Some(d) = &a.detail {
        item.insert("Detail".into(), json_to_attr(d));
    }
    item.insert(
        "ExpiresAt".into(),
        n((a.at + ACTIVITY_TTL).timestamp().max(0)),
    );
    item
}

/// Plain JSON as an attribute value (numbers keep their text).
pub fn json_to_attr(v: &Value) -> Attr {
    match v {
        Value::Null => Attr::Null,
        Value::Bool(b) => Attr::Bool(*b),
        Value::Number(x) => Attr::N(x.to_string()),
        Value::String(s) => Attr::S(s.clone()),
        Value::Array(a) => Attr::L(a.iter().map(json_to_attr).collect()),
        Value::Object(o) => Attr::M(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_attr(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_keep_their_text_and_objects_become_maps() {
        let v = serde_json::json!({"MinCapacity": 1, "Tz": "UTC", "On": true, "L": [null, 2.5]});
        let Attr::M(m) = json_to_attr(&v) else {
            panic!("an object is a map");
        };
        assert_eq!(m["MinCapacity"], Attr::N("1".into()));
        assert_eq!(m["Tz"], Attr::S("UTC".into()));
        assert_eq!(m["On"], Attr::Bool(true));
        assert_eq!(m["L"], Attr::L(vec![Attr::Null, Attr::N("2.5".into())]));
    }
}

//! DynamoDB JSON (`{"MinCapacity": {"N": "1"}}`, as the console and
//! `aws dynamodb get-item` show an item) to and from the plain JSON shape
//! [`crate::core::policy::parse_policy`] reads, with every malformed
//! descriptor named by its attribute path; and the document readers the CLI
//! and the simulator use, which accept either shape.

use serde_json::{Map, Number, Value};

use crate::core::policy::hints::{closest, join, shown, truncate, what};
use crate::core::policy::validate::DESCRIPTORS;
use crate::core::policy::{
    ITEM_PATH, InvalidPolicy, MAX_PK_CHARS, Policy, Problems, attr, document_items,
    looks_like_dynamodb_json, parse_policy,
};

/// DynamoDB nests maps and lists up to 32 levels; deeper input is refused
/// before recursion can exhaust the stack.
pub const MAX_DYNAMODB_DEPTH: usize = 32;

/// Parses an item in either plain or DynamoDB JSON (see
/// [`looks_like_dynamodb_json`]).
pub fn parse_policy_any(item: &Value) -> Result<Policy, InvalidPolicy> {
    if looks_like_dynamodb_json(item) {
        parse_policy(&from_dynamodb_json(item)?)
    } else {
        parse_policy(item)
    }
}

/// Parses every item of a document (see [`document_items`]), each in plain
/// or DynamoDB JSON, in document order.
pub fn parse_policies(doc: &Value) -> Vec<Result<Policy, InvalidPolicy>> {
    document_items(doc)
        .into_iter()
        .map(parse_policy_any)
        .collect()
}

/// Converts DynamoDB JSON (`{"MinCapacity": {"N": "1"}}`, as the console and
/// `aws dynamodb get-item` show it) into the plain JSON shape [`parse_policy`] reads.
///
/// `S`, `N`, `BOOL`, `M`, `L` and `NULL` are converted (`NULL` becomes
/// `null`, which the validator then reports); sets (`SS`, `NS`, `BS`) and
/// binary (`B`) are reported as unsupported. Every malformed descriptor is
/// reported with its attribute path.
pub fn from_dynamodb_json(item: &Value) -> Result<Value, InvalidPolicy> {
    let mut c = Problems::default();
    let resource = item
        .get(attr::PK)
        .and_then(|pk| pk.get("S"))
        .and_then(Value::as_str)
        .map(|s| truncate(s, MAX_PK_CHARS));
    let Value::Object(obj) = item else {
        c.push(
            ITEM_PATH,
            format!(
                "a DynamoDB item is a map of attribute names to values like {{\"N\": \"1\"}}, got {}",
                what(item)
            ),
        );
        return Err(c.into_error(resource));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if let Some(plain) = ddb_value(&mut c, v, &truncate(k, 64), 1) {
            out.insert(k.clone(), plain);
        }
    }
    if c.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(c.into_error(resource))
    }
}

fn ddb_value(c: &mut Problems, v: &Value, path: &str, depth: usize) -> Option<Value> {
    if depth > MAX_DYNAMODB_DEPTH {
        c.push(
            path,
            format!("nested more than {MAX_DYNAMODB_DEPTH} levels deep (DynamoDB's limit)"),
        );
        return None;
    }
    let obj = match v {
        Value::Object(m) => m,
        other => {
            c.push(
                path,
                format!(
                    "expected a DynamoDB attribute value such as {{\"N\": \"5\"}} or {{\"S\": \"text\"}}, got {} \
                     (do not mix plain and DynamoDB JSON)",
                    what(other)
                ),
            );
            return None;
        }
    };
    let mut entries = obj.iter();
    let (Some((ty, inner)), None) = (entries.next(), entries.next()) else {
        let keys: Vec<String> = obj.keys().take(6).map(|k| truncate(k, 20)).collect();
        c.push(
            path,
            format!(
                "a DynamoDB attribute value has exactly one type descriptor, e.g. {{\"N\": \"5\"}}, got a map with {} keys{}",
                obj.len(),
                if keys.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", keys.join(", "))
                }
            ),
        );
        return None;
    };
    match (ty.as_str(), inner) {
        ("S", Value::String(s)) => Some(Value::String(s.clone())),
        ("N", Value::String(s)) => match ddb_number(s) {
            Some(n) => Some(Value::Number(n)),
            None => {
                c.push(path, format!("{{\"N\": {}}} is not a number", shown(s)));
                None
            }
        },
        ("N", Value::Number(n)) => {
            c.push(
                path,
                format!("DynamoDB JSON writes numbers as strings: {{\"N\": \"{n}\"}}"),
            );
            None
        }
        ("BOOL", Value::Bool(b)) => Some(Value::Bool(*b)),
        ("BOOL", Value::String(s)) if s == "true" || s == "false" => {
            c.push(
                path,
                format!("BOOL takes a JSON boolean: {{\"BOOL\": {s}}}, without quotes"),
            );
            None
        }
        ("NULL", Value::Bool(true)) => Some(Value::Null),
        ("M", Value::Object(m)) => {
            let mut out = Map::new();
            let mut ok = true;
            for (k, v) in m {
                match ddb_value(c, v, &join(path, &truncate(k, 64)), depth + 1) {
                    Some(p) => {
                        out.insert(k.clone(), p);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(Value::Object(out))
        }
        ("L", Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len().min(1024));
            let mut ok = true;
            for (i, v) in a.iter().enumerate() {
                match ddb_value(c, v, &format!("{path}[{i}]"), depth + 1) {
                    Some(p) => out.push(p),
                    None => ok = false,
                }
            }
            ok.then_some(Value::Array(out))
        }
        ("SS" | "NS" | "BS", _) => {
            c.push(
                path,
                format!(
                    "{ty} (a set) is not supported in a policy item; use a list (L) of maps for ScheduledActions"
                ),
            );
            None
        }
        ("B", _) => {
            c.push(path, "binary values (B) are not supported in a policy item");
            None
        }
        (known @ ("S" | "N" | "BOOL" | "NULL" | "M" | "L"), other) => {
            let expected = match known {
                "S" => "a string: {\"S\": \"text\"}",
                "N" => "a number in a string: {\"N\": \"5\"}",
                "BOOL" => "true or false: {\"BOOL\": true}",
                "NULL" => "true: {\"NULL\": true}",
                "M" => "a map of attribute values: {\"M\": {\"TargetValue\": {\"N\": \"0.7\"}}}",
                _ => "a list of attribute values: {\"L\": [{\"M\": {..}}]}",
            };
            c.push(
                path,
                format!(
                    "malformed {known} descriptor: expected {expected}, got {}",
                    what(other)
                ),
            );
            None
        }
        (unknown, _) => {
            let mut msg = format!(
                "unknown DynamoDB type descriptor {}: expected one of S, N, BOOL, M, L, NULL",
                shown(unknown)
            );
            if let Some(best) = closest(unknown, DESCRIPTORS.iter().copied())
                && unknown.chars().count() > 1
            {
                msg.push_str(&format!("; did you mean {best}?"));
            }
            c.push(path, msg);
            None
        }
    }
}

/// A DynamoDB number string as a JSON number: integers exactly, others as
/// finite `f64`. DynamoDB's own syntax (no surrounding spaces, no `inf`).
fn ddb_number(s: &str) -> Option<Number> {
    if s.is_empty() || s.len() > 64 || s.trim() != s {
        return None;
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Number::from(u));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::from(i));
    }
    // `f64::from_str` also accepts "inf" and "NaN"; DynamoDB does not.
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
    {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

/// The inverse of [`from_dynamodb_json`]: plain JSON to DynamoDB JSON (for
/// `aws dynamodb put-item --item file://...` and for tests).
pub fn to_dynamodb_json(item: &Value) -> Value {
    fn typed(v: &Value) -> Value {
        let (k, inner) = match v {
            Value::Null => ("NULL", Value::Bool(true)),
            Value::Bool(b) => ("BOOL", Value::Bool(*b)),
            Value::Number(n) => ("N", Value::String(n.to_string())),
            Value::String(s) => ("S", Value::String(s.clone())),
            Value::Array(a) => ("L", Value::Array(a.iter().map(typed).collect())),
            Value::Object(m) => (
                "M",
                Value::Object(m.iter().map(|(k, v)| (k.clone(), typed(v))).collect()),
            ),
        };
        let mut m = Map::new();
        m.insert(k.to_owned(), inner);
        Value::Object(m)
    }
    match item {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), typed(v))).collect()),
        other => typed(other),
    }
}

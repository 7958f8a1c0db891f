//! What AWS would refuse and bill, applied by the test proxy
//! ([`super::fault_proxy`]) to the requests the code under test sends:
//!
//! - **Lambda's control-plane quota**: 15 requests per second per account
//!   and region, shared by every Lambda API but invocation, not adjustable
//!   (Lambda Developer Guide, "Lambda quotas", API request rate quotas).
//!   Over it Lambda answers 429 `TooManyRequestsException`; so does the proxy,
//!   without forwarding. A token bucket of 15 refilled at 15 per second, per
//!   access key (LocalStack keys accounts by access key).
//! - **DynamoDB read units**: a strongly consistent read costs one unit per
//!   4 KB read, an eventually consistent one half; a Scan or a Query pays for
//!   every item it *reads*, before its `FilterExpression` drops any
//!   (DynamoDB Developer Guide, "Read consumption for Query and Scan"). The
//!   emulator's answer holds only what the filter kept, so the proxy asks the
//!   emulator again without the filter and measures what a Scan would have
//!   read. Item sizes follow the guide's rules ("Item sizes and formats"):
//!   attribute names plus values, numbers about one byte per two digits.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

/// Lambda's control-plane quota, requests per second per account and region.
pub const LAMBDA_CONTROL_PLANE_RPS: f64 = 15.0;

/// Token buckets per account.
#[derive(Debug, Default)]
pub struct Quota {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Quota {
    /// Whether one more request of `account` fits the quota now (and takes it).
    pub fn admit(&self, account: &str) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = b
            .entry(account.to_owned())
            .or_insert((LAMBDA_CONTROL_PLANE_RPS, now));
        let refill = now.duration_since(*at).as_secs_f64() * LAMBDA_CONTROL_PLANE_RPS;
        *tokens = (*tokens + refill).min(LAMBDA_CONTROL_PLANE_RPS);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The access key of a SigV4-signed request (`Credential=<key>/...`).
pub fn access_key(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or("anonymous")
        .to_owned()
}

/// Whether a Lambda operation counts against the control-plane quota:
/// every one but invocation.
pub fn is_control_plane(operation: &str) -> bool {
    !operation.contains("/invocations")
}

/// The size DynamoDB bills for one attribute value (typed JSON, `{"S": ..}`).
fn value_size(v: &Value) -> usize {
    let Some((ty, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (ty.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(n)) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        ("B", Value::String(b)) => b.len() * 3 / 4,
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::len).sum(),
        ("NS", Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|n| n.len().div_ceil(2) + 1)
            .sum(),
        ("L", Value::Array(a)) => 3 + a.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// The size of one item (typed JSON map of attributes).
pub fn item_size(item: &Value) -> usize {
    item.as_object()
        .map_or(0, |m| m.iter().map(|(k, v)| k.len() + value_size(v)).sum())
}

/// Read units of one request that read `bytes` (rounded up to 4 KB, at
/// least one unit), halved for an eventually consistent read.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// For a Scan or Query with a `FilterExpression`: the same request without
/// the filter (and without the placeholders only the filter used), whose
/// answer holds every item the request read. `None` when there is no filter.
pub fn unfiltered(body: &[u8]) -> Option<Vec<u8>> {
    let mut req: Value = serde_json::from_slice(body).ok()?;
    let o = req.as_object_mut()?;
    o.remove("FilterExpression")?;
    o.remove("ProjectionExpression");
    o.remove("Select");
    let used: String = ["KeyConditionExpression"]
        .iter()
        .filter_map(|k| o.get(*k).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    for key in ["ExpressionAttributeValues", "ExpressionAttributeNames"] {
        if let Some(Value::Object(m)) = o.get_mut(key) {
            m.retain(|p, _| used.contains(p.as_str()));
            if m.is_empty() {
                o.remove(key);
            }
        }
    }
    serde_json::to_vec(&req).ok()
}

/// Read units of a DynamoDB read: `answer` is the emulator's answer (of the
/// unfiltered request, for a filtered Scan or Query), `request` the request
/// as sent. `None` for operations that are not reads.
pub fn read_units_of(operation: &str, request: &[u8], answer: &[u8]) -> Option<f64> {
    let req: Value = serde_json::from_slice(request).ok()?;
    let ans: Value = serde_json::from_slice(answer).ok()?;
    let consistent = req
        .get("ConsistentRead")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match operation {
        "GetItem" => Some(read_units(ans.get("Item").map_or(0, item_size), consistent)),
        "Scan" | "Query" => {
            let bytes: usize = ans
                .get("Items")
                .and_then(Value::as_array)
                .map_or(0, |items| items.iter().map(item_size).sum());
            Some(read_units(bytes, consistent))
        }
        _ => None,
    }
}

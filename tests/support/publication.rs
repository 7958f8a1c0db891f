//! CloudWatch's publication delay, in front of LocalStack.
//!
//! LocalStack answers `GetMetricData` with every datapoint it holds the
//! moment it is written; AWS publishes a Lambda minute one to three minutes
//! after it ends. The test proxy ([`super::fault_proxy`]) passes every
//! `GetMetricData` answer through [`Publication::hide_unpublished`], which
//! drops the datapoints of minutes that ended less than the configured delay
//! before the *tick's* `now` (tests run ticks at chosen instants, so the
//! clock is the test's: [`Publication::set_now`]; unset, the wall clock).
//! So no end-to-end test can be better informed than the Lambda in AWS: the
//! code under test sees what CloudWatch would have published at that moment.
//!
//! The answer is Smithy RPC v2 CBOR: a map whose `MetricDataResults` each
//! carry parallel `Timestamps` (CBOR tag 1, epoch seconds) and `Values`.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use ciborium::Value;

/// The publication delay every test world gets unless it sets its own:
/// two minutes, the middle of what AWS takes (one to three).
pub const DEFAULT_TEST_DELAY_SECS: u32 = 120;

#[derive(Debug, Clone, Copy)]
struct Model {
    delay_secs: u32,
    now: Option<DateTime<Utc>>,
}

/// The delay and the clock of one proxy; clones share them.
#[derive(Debug, Clone)]
pub struct Publication(Arc<Mutex<Model>>);

impl Default for Publication {
    fn default() -> Self {
        Publication(Arc::new(Mutex::new(Model {
            delay_secs: DEFAULT_TEST_DELAY_SECS,
            now: None,
        })))
    }
}

impl Publication {
    fn model(&self) -> Model {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Model)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// CloudWatch publishes a minute `secs` after it ends.
    pub fn set_delay_secs(&self, secs: u32) {
        self.update(|m| m.delay_secs = secs);
    }

    /// The delay in force.
    pub fn delay_secs(&self) -> u32 {
        self.model().delay_secs
    }

    /// The moment the code under test is asked about (`None`: the wall clock).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.update(|m| m.now = now);
    }

    /// Whether the minute starting at `minute` (Unix seconds) is published.
    pub fn is_published(&self, minute: i64) -> bool {
        let m = self.model();
        let now = m.now.unwrap_or_else(Utc::now).timestamp();
        minute + 60 + i64::from(m.delay_secs) <= now
    }

    /// A `GetMetricData` answer body without the unpublished datapoints;
    /// `None` when the body is not the CBOR map expected (left as it is).
    pub fn hide_unpublished(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut v: Value = ciborium::from_reader(body).ok()?;
        let Value::Map(top) = &mut v else {
            return None;
        };
        let results = top
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("MetricDataResults"))
            .and_then(|(_, v)| v.as_array_mut())?;
        for r in results {
            let Value::Map(fields) = r else { continue };
            let published: Vec<bool> = field(fields, "Timestamps")
                .map(|ts| ts.iter().map(|t| self.is_published(secs(t))).collect())
                .unwrap_or_default();
            for name in ["Timestamps", "Values"] {
                if let Some((_, Value::Array(items))) =
                    fields.iter_mut().find(|(k, _)| k.as_text() == Some(name))
                {
                    let mut keep = published.iter().copied().chain(std::iter::repeat(true));
                    items.retain(|_| keep.next().unwrap_or(true));
                }
            }
        }
        let mut out = Vec::with_capacity(body.len());
        ciborium::into_writer(&v, &mut out).ok()?;
        Some(out)
    }
}

fn field<'a>(fields: &'a [(Value, Value)], name: &str) -> Option<&'a Vec<Value>> {
    fields
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .and_then(|(_, v)| v.as_array())
}

/// Epoch seconds of a CBOR timestamp (tag 1 around an integer or a float).
fn secs(t: &Value) -> i64 {
    match t {
        Value::Tag(_, inner) => secs(inner),
        Value::Integer(i) => i64::try_from(i128::from(*i)).unwrap_or(i64::MAX),
        Value::Float(f) => *f as i64,
        _ => i64::MAX,
    }
}

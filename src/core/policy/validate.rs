//! Validation of a policy item: every problem at once, each naming its
//! attribute path, never a panic.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::hints::*;
use super::model::*;
use crate::core::schedule::Schedule;
use crate::core::units::Secs;

/// One validation problem: the attribute path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Attribute path, e.g. `ScheduledActions[1].Schedule`; [`ITEM_PATH`]
    /// for a problem with the item as a whole.
    pub path: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All the problems of one invalid item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid policy{}: {}", resource.as_deref().map(|r| format!(" {r}")).unwrap_or_default(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidPolicy {
    /// The item's `pk`, when it could be read.
    pub resource: Option<String>,
    /// Every problem found, in attribute order.
    pub problems: Vec<Problem>,
}

/// The path used for a problem with the item as a whole (not one attribute).
pub const ITEM_PATH: &str = "(item)";

/// At most this many problems are listed per item; the rest are counted in
/// one last problem, so a hostile item cannot produce unbounded output.
pub const MAX_PROBLEMS: usize = 100;

/// Parses and validates a policy item given as a JSON object with DynamoDB
/// attribute names (`pk`, `sk`, `MinCapacity`, ...). Returns every problem.
///
/// The item must be plain JSON; DynamoDB JSON is refused with a hint (use
/// [`parse_policy_any`] to accept both).
pub fn parse_policy(item: &Value) -> Result<Policy, InvalidPolicy> {
    reset_zone_searches();
    let mut c = Checker::default();
    let Value::Object(obj) = item else {
        c.problem(
            ITEM_PATH,
            format!(
                "a policy item is a map (JSON object) of attributes, got {}",
                what(item)
            ),
        );
        return Err(c.into_error(None));
    };
    let resource_text = obj
        .get(attr::PK)
        .and_then(Value::as_str)
        .map(|s| truncate(s, MAX_PK_CHARS));
    if looks_like_dynamodb_json(item) {
        c.problem(
            ITEM_PATH,
            "this is DynamoDB JSON ({\"N\": \"1\"} style); convert it with from_dynamodb_json, \
             or use parse_policy_any",
        );
        return Err(c.into_error(resource_text));
    }
    let policy = c.item(obj);
    match policy {
        Some(p) if c.problems.is_empty() => Ok(p),
        _ => Err(c.into_error(resource_text)),
    }
}

/// Splits a document into its items: a single item, a JSON array of items,
/// or the AWS CLI's `{"Item": {..}}` (get-item) and `{"Items": [..]}`
/// (scan / query) envelopes. Items may be plain or DynamoDB JSON.
pub fn document_items(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(obj) if obj.len() == 1 => match obj.iter().next() {
            Some((k, v @ Value::Object(_))) if k == "Item" => vec![v],
            Some((k, Value::Array(items))) if k == "Items" => items.iter().collect(),
            _ => vec![doc],
        },
        _ => vec![doc],
    }
}

/// Problems collected while reading an item: at most [`MAX_PROBLEMS`] are
/// listed, the rest counted in one last problem.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
    dropped: usize,
}

impl Problems {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem {
                path: path.into(),
                message: message.into(),
            });
        } else {
            self.dropped += 1;
        }
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The problems as the error of the item whose `pk` reads `resource`.
    pub fn into_error(mut self, resource: Option<String>) -> InvalidPolicy {
        if self.dropped > 0 {
            self.list.push(Problem {
                path: ITEM_PATH.into(),
                message: format!(
                    "{} more problems not listed (at most {MAX_PROBLEMS} are)",
                    self.dropped
                ),
            });
        }
        InvalidPolicy {
            resource,
            problems: self.list,
        }
    }
}

/// Walks an item, collecting its problems.
#[derive(Default)]
struct Checker {
    problems: Problems,
}

/// The types a message can say were expected.
#[derive(Clone, Copy)]
enum Expect {
    Bool,
    Str,
    Map,
    List,
}

impl Expect {
    fn words(self) -> &'static str {
        match self {
            Expect::Bool => "a boolean (true or false)",
            Expect::Str => "a string",
            Expect::Map => "a map (JSON object)",
            Expect::List => "a list",
        }
    }
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(path, message);
    }

    fn into_error(self, resource: Option<String>) -> InvalidPolicy {
        self.problems.into_error(resource)
    }

    /// Reports every key of `obj` not in `allowed`, with a hint.
    fn unknown_keys(&mut self, obj: &Map<String, Value>, parent: &str, allowed: &[&str]) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                let path = join(parent, &truncate(key, 64));
                let message = unknown_attribute_message(key, parent, allowed);
                self.problem(path, message);
            }
        }
    }

    fn type_error(&mut self, path: &str, expect: Expect, got: &Value, optional: bool) {
        let mut msg = format!("expected {}, got {}", expect.words(), what(got));
        match (expect, got) {
            (Expect::Bool, Value::String(s)) if s == "true" || s == "false" => {
                msg.push_str(&format!("; write {s} without quotes"));
            }
            (Expect::Bool, Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                msg.push_str("; write true or false");
            }
            (Expect::Str, Value::Number(n)) => {
                msg.push_str(&format!("; write it in quotes: \"{n}\""));
            }
            (Expect::Map | Expect::List, Value::String(s))
                if s.trim_start().starts_with('{') || s.trim_start().starts_with('[') =>
            {
                msg.push_str("; it looks like JSON inside a string: remove the quotes");
            }
            (_, Value::Null) if optional => {
                msg.push_str("; remove the attribute to use the default");
            }
            _ => {}
        }
        self.problem(path, msg);
    }

    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.type_error(path, Expect::Bool, other, true);
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, path: &str, max_chars: usize) -> Option<&'v str> {
        match v {
            Value::String(s) => {
                let n = s.chars().count();
                if n > max_chars {
                    self.problem(
                        path,
                        format!("too long: {n} characters, at most {max_chars} are allowed"),
                    );
                    None
                } else {
                    Some(s)
                }
            }
            other => {
                self.type_error(path, Expect::Str, other, true);
                None
            }
        }
    }

    /// A whole number inside `range`.
    fn whole(&mut self, v: &Value, path: &str, range: &Whole) -> Option<u64> {
        let expected = format!(
            "a whole number{} from {} to {}",
            range.unit, range.min, range.max
        );
        let n = match v {
            Value::Number(n) => n,
            Value::String(s) => {
                let msg = match parse_json_number(s) {
                    Some(_) => format!(
                        "expected {expected}, got the string {}; write it without quotes: {}",
                        shown(s),
                        s.trim()
                    ),
                    None => format!("expected {expected}, got the string {}", shown(s)),
                };
                self.problem(path, msg);
                return None;
            }
            other => {
                self.problem(path, format!("expected {expected}, got {}", what(other)));
                return None;
            }
        };
        let value = if let Some(u) = n.as_u64() {
            u
        } else if let Some(i) = n.as_i64() {
            // as_u64 failed, so i < 0.
            self.problem(path, format!("must be {} or more, got {i}", range.min));
            return None;
        } else {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if !f.is_finite() {
                self.problem(path, format!("expected {expected}, got {n}"));
                return None;
            }
            if f.fract() != 0.0 {
                self.problem(path, format!("must be a whole number, got {n}"));
                return None;
            }
            if f < 0.0 {
                self.problem(path, format!("must be {} or more, got {n}", range.min));
                return None;
            }
            if f > range.max as f64 {
                self.problem(
                    path,
                    format!("must be at most {}{}, got {n}", range.max, range.why_max),
                );
                return None;
            }
            // ok: f is a finite, non-negative whole number <= range.max (< 2^53).
            f as u64
        };
        if value < range.min {
            self.problem(path, format!("must be {} or more, got {value}", range.min));
            return None;
        }
        if value > range.max {
            self.problem(
                path,
                format!(
                    "must be at most {}{}, got {value}",
                    range.max, range.why_max
                ),
            );
            return None;
        }
        Some(value)
    }

    fn capacity(&mut self, v: &Value, path: &str) -> Option<u32> {
        self.whole(v, path, &CAPACITY)
            .and_then(|u| u32::try_from(u).ok())
    }

    /// A number in `(0, 1]`. `percent_hint`: suggest `v / 100` for a
    /// percentage such as `70` (users coming from Alibaba / Tencent consoles,
    /// which show utilisation in percent).
    fn fraction(&mut self, v: &Value, path: &str, percent_hint: bool) -> Option<f64> {
        const EXPECTED: &str = "a number greater than 0 and at most 1";
        let f = match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => f,
                _ => {
                    self.problem(path, format!("expected {EXPECTED}, got {n}"));
                    return None;
                }
            },
            Value::String(s) => {
                let t = s.trim();
                let msg = if let Some(p) = t
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    && p.is_finite()
                {
                    format!(
                        "expected {EXPECTED}, got the string {}; write the fraction {}",
                        shown(s),
                        p / 100.0
                    )
                } else if parse_json_number(s).is_some() {
                    format!(
                        "expected {EXPECTED}, got the string {}; write it without quotes: {t}",
                        shown(s)
                    )
                } else {
                    format!("expected {EXPECTED}, got the string {}", shown(s))
                };
                self.problem(path, msg);
                return None;
            }
            other => {
                self.problem(path, format!("expected {EXPECTED}, got {}", what(other)));
                return None;
            }
        };
        if f <= 0.0 {
            self.problem(path, format!("must be greater than 0, got {f}"));
            return None;
        }
        if f > 1.0 {
            let mut msg = format!("must be at most 1, got {f}");
            if percent_hint && f <= 100.0 {
                msg.push_str(&format!(
                    "; it is a fraction of provisioned concurrency: for {f} % write {}",
                    f / 100.0
                ));
            }
            self.problem(path, msg);
            return None;
        }
        Some(f)
    }

    fn map<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        optional: bool,
    ) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.type_error(path, Expect::Map, other, optional);
                None
            }
        }
    }

    fn item(&mut self, obj: &Map<String, Value>) -> Option<Policy> {
        let resource = self.resource(obj.get(attr::PK));
        if let Some(sk) = obj.get(attr::SK) {
            match sk {
                Value::String(s) if s == POLICY_SK => {}
                Value::String(s) if s == "state" || s.starts_with("activity#") => self.problem(
                    attr::SK,
                    format!(
                        "this is a {} item, written by pcscale; a policy item has sk \"policy\"",
                        if s == "state" { "state" } else { "activity" }
                    ),
                ),
                Value::String(s) => self.problem(
                    attr::SK,
                    format!(
                        "a policy item has sk \"policy\" (or none), got {}",
                        shown(s)
                    ),
                ),
                other => self.type_error(attr::SK, Expect::Str, other, true),
            }
        }
        self.unknown_keys(obj, "", attr::ITEM);

        let enabled = match obj.get(attr::ENABLED) {
            None => Some(true),
            Some(v) => self.boolean(v, attr::ENABLED),
        };
        let min = self.required(obj, "", attr::MIN_CAPACITY, "a whole number >= 0, e.g. 1");
        let min = min.and_then(|v| self.capacity(v, attr::MIN_CAPACITY));
        let max = self.required(
            obj,
            "",
            attr::MAX_CAPACITY,
            "a whole number >= max(1, MinCapacity), e.g. 100",
        );
        let max = max.and_then(|v| self.capacity(v, attr::MAX_CAPACITY));
        if let Some(mx) = max {
            if mx == 0 {
                self.problem(
                    attr::MAX_CAPACITY,
                    "must be at least 1 (to keep no provisioned concurrency, set MinCapacity 0; \
                     to stop pcscale touching the function, set Enabled false)",
                );
            } else if let Some(mn) = min
                && mn > mx
            {
                self.problem(
                    attr::MAX_CAPACITY,
                    format!("must be at least MinCapacity ({mn}), got {mx}"),
                );
            }
        }

        let target_tracking = match obj.get(attr::TARGET_TRACKING) {
            None => Some(None),
            Some(v) => self.target_tracking(v).map(Some),
        };
        let scheduled_actions = match obj.get(attr::SCHEDULED_ACTIONS) {
            None => Some(Vec::new()),
            Some(v) => self.scheduled_actions(v, max),
        };
        let dry_run = match obj.get(attr::DRY_RUN) {
            None => Some(false),
            Some(v) => self.boolean(v, attr::DRY_RUN),
        };
        let description = match obj.get(attr::DESCRIPTION) {
            None => Some(None),
            Some(v) => self
                .string(v, attr::DESCRIPTION, MAX_DESCRIPTION_CHARS)
                .map(|s| Some(s.to_owned())),
        };

        Some(Policy {
            resource: resource?,
            sk: PolicySk::Policy,
            enabled: enabled?,
            min_capacity: min?,
            max_capacity: max?,
            target_tracking: target_tracking?,
            scheduled_actions: scheduled_actions?,
            dry_run: dry_run?,
            description: description?,
        })
    }

    fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        parent: &str,
        key: &str,
        expected: &str,
    ) -> Option<&'v Value> {
        let v = obj.get(key);
        if v.is_none() {
            self.problem(
                join(parent, key),
                format!("required attribute is missing ({expected})"),
            );
        }
        v
    }

    fn resource(&mut self, pk: Option<&Value>) -> Option<ResourceId> {
        let Some(pk) = pk else {
            self.problem(
                attr::PK,
                "required attribute is missing (the resource, e.g. \"function:checkout:live\")",
            );
            return None;
        };
        let s = self.string(pk, attr::PK, MAX_PK_CHARS)?;
        match s.parse::<ResourceId>() {
            Ok(r) => Some(r),
            Err(e) => {
                let mut msg = e.to_string();
                if s.starts_with("arn:") {
                    msg.push_str(
                        "; use the Application Auto Scaling resource id, not an ARN: \
                         function:<FunctionName>:<Qualifier>",
                    );
                } else if matches!(e, ResourceIdError::Malformed(_))
                    && !s.contains(':')
                    && !s.is_empty()
                {
                    msg.push_str(&format!(
                        "; did you mean \"function:{}:<alias or version>\"?",
                        truncate(s, 64)
                    ));
                } else if let Some(rest) = s.strip_prefix("function:")
                    && !rest.contains(':')
                {
                    msg.push_str(&format!(
                        "; add the alias or version: \"function:{}:live\"",
                        truncate(rest, 64)
                    ));
                }
                self.problem(attr::PK, msg);
                None
            }
        }
    }

    fn target_tracking(&mut self, v: &Value) -> Option<TargetTracking> {
        let parent = attr::TARGET_TRACKING;
        let obj = self.map(v, parent, true)?;
        self.unknown_keys(obj, parent, attr::TARGET_TRACKING_MAP);
        let p = |k: &str| join(parent, k);

        let target_value = self
            .required(
                obj,
                parent,
                attr::TARGET_VALUE,
                "a fraction of provisioned concurrency, e.g. 0.7",
            )
            .and_then(|v| self.fraction(v, &p(attr::TARGET_VALUE), true));
        let metric = match obj.get(attr::METRIC) {
            None => Some(MetricKind::default()),
            Some(v) => self.metric(v, &p(attr::METRIC)),
        };
        let scale_out = match obj.get(attr::SCALE_OUT_COOLDOWN) {
            None => Some(DEFAULT_SCALE_OUT_COOLDOWN_SECS),
            Some(v) => self
                .whole(v, &p(attr::SCALE_OUT_COOLDOWN), &COOLDOWN)
                .map(Secs),
        };
        let scale_in = match obj.get(attr::SCALE_IN_COOLDOWN) {
            None => Some(DEFAULT_SCALE_IN_COOLDOWN_SECS),
            Some(v) => self
                .whole(v, &p(attr::SCALE_IN_COOLDOWN), &COOLDOWN)
                .map(Secs),
        };
        let factor = match obj.get(attr::SCALE_IN_FACTOR) {
            None => Some(TargetTracking::default().scale_in_factor),
            Some(v) => self.fraction(v, &p(attr::SCALE_IN_FACTOR), true),
        };
        let disable = match obj.get(attr::DISABLE_SCALE_IN) {
            None => Some(false),
            Some(v) => self.boolean(v, &p(attr::DISABLE_SCALE_IN)),
        };
        let cold_starts = match obj.get(attr::COLD_STARTS) {
            None => Some(None),
            Some(v) => self.cold_starts(v).map(Some),
        };
        Some(TargetTracking {
            target_value: target_value?,
            metric: metric?,
            scale_out_cooldown_secs: scale_out?,
            scale_in_cooldown_secs: scale_in?,
            scale_in_factor: factor?,
            disable_scale_in: disable?,
            cold_starts: cold_starts?,
        })
    }

    fn cold_starts(&mut self, v: &Value) -> Option<ColdStartAware> {
        let parent = join(attr::TARGET_TRACKING, attr::COLD_STARTS);
        let obj = self.map(v, &parent, true)?;
        self.unknown_keys(obj, &parent, attr::COLD_STARTS_MAP);
        let p = |k: &str| join(&parent, k);
        let d = ColdStartAware::default();
        let dollars = match obj.get(attr::DOLLARS_PER_COLD_START) {
            None => Some(d.dollars_per_cold_start),
            Some(v) => {
                let path = p(attr::DOLLARS_PER_COLD_START);
                match v.as_f64() {
                    Some(x)
                        if DOLLARS_PER_COLD_START.contains(x)
                            && x > f64::from(DOLLARS_PER_COLD_START.min) =>
                    {
                        Some(Some(x))
                    }
                    _ => {
                        self.problem(
                            &path,
                            format!(
                                "expected US dollars per avoided cold start, more than {} and at most {} (e.g. 0.01), got {}",
                                DOLLARS_PER_COLD_START.min,
                                DOLLARS_PER_COLD_START.max,
                                truncate(&v.to_string(), 40)
                            ),
                        );
                        None
                    }
                }
            }
        };
        let per_hour = match obj.get(attr::MIN_COLD_STARTS_PER_INSTANCE_HOUR) {
            None => Some(d.min_per_instance_hour),
            Some(v) => {
                let path = p(attr::MIN_COLD_STARTS_PER_INSTANCE_HOUR);
                match v.as_f64() {
                    Some(x) if COLD_STARTS_PER_HOUR.contains(x) => Some(Some(x)),
                    _ => {
                        self.problem(
                            &path,
                            format!(
                                "expected a number of cold starts per PC-instance-hour from {} to {}, got {}",
                                COLD_STARTS_PER_HOUR.min,
                                COLD_STARTS_PER_HOUR.max,
                                truncate(&v.to_string(), 40)
                            ),
                        );
                        None
                    }
                }
            }
        };
        let lookback = match obj.get(attr::LOOKBACK_MINUTES) {
            None => Some(u64::from(d.lookback_minutes)),
            Some(v) => self.whole(v, &p(attr::LOOKBACK_MINUTES), &LOOKBACK),
        };
        let keep_alive = match obj.get(attr::KEEP_ALIVE_SECONDS) {
            None => Some(u64::from(d.keep_alive_secs)),
            Some(v) => self.whole(v, &p(attr::KEEP_ALIVE_SECONDS), &KEEP_ALIVE),
        };
        let follow = match obj.get(attr::FOLLOW_DEMAND) {
            None => Some(d.follow_demand),
            Some(v) => self.boolean(v, &p(attr::FOLLOW_DEMAND)),
        };
        let base_window = match obj.get(attr::BASE_LOAD_WINDOW_MINUTES) {
            None => Some(u64::from(d.base_load_window_minutes)),
            Some(v) => self.whole(v, &p(attr::BASE_LOAD_WINDOW_MINUTES), &LOOKBACK),
        };
        let base_factor = match obj.get(attr::BASE_LOAD_FACTOR) {
            None => Some(d.base_load_factor),
            Some(v) => {
                let path = p(attr::BASE_LOAD_FACTOR);
                match v.as_f64() {
                    Some(x) if BASE_LOAD_FACTOR.contains(x) => Some(x),
                    _ => {
                        self.problem(
                            &path,
                            format!(
                                "expected a number from {} (off) to {}, got {}",
                                BASE_LOAD_FACTOR.min,
                                BASE_LOAD_FACTOR.max,
                                truncate(&v.to_string(), 40)
                            ),
                        );
                        None
                    }
                }
            }
        };
        let periodic = match obj.get(attr::PRE_WARM_PERIODIC) {
            None => Some(d.pre_warm_periodic),
            Some(v) => self.boolean(v, &p(attr::PRE_WARM_PERIODIC)),
        };
        let history_days = match obj.get(attr::HISTORY_DAYS) {
            None => Some(u64::from(d.history_days)),
            Some(v) => self.whole(v, &p(attr::HISTORY_DAYS), &HISTORY_DAYS),
        };
        Some(ColdStartAware {
            history_days: u32::try_from(history_days?).ok()?,
            pre_warm_periodic: periodic?,
            base_load_window_minutes: u32::try_from(base_window?).ok()?,
            base_load_factor: base_factor?,
            dollars_per_cold_start: dollars?,
            min_per_instance_hour: per_hour?,
            lookback_minutes: u32::try_from(lookback?).ok()?,
            keep_alive_secs: u32::try_from(keep_alive?).ok()?,
            follow_demand: follow?,
        })
    }

    fn metric(&mut self, v: &Value, path: &str) -> Option<MetricKind> {
        let s = self.string(v, path, 256)?;
        const ALL: [MetricKind; 2] = [
            MetricKind::ConcurrentExecutions,
            MetricKind::ProvisionedConcurrencyUtilization,
        ];
        if let Some(m) = ALL.into_iter().find(|m| m.as_str() == s) {
            return Some(m);
        }
        let mut msg = format!(
            "unknown metric {}: expected ConcurrentExecutions or ProvisionedConcurrencyUtilization",
            shown(s)
        );
        // AWS's predefined metric type for Lambda PC (put-scaling-policy).
        if s == "LambdaProvisionedConcurrencyUtilization" {
            msg.push_str(" (AWS's LambdaProvisionedConcurrencyUtilization is ProvisionedConcurrencyUtilization here)");
        } else if let Some(best) = closest(s, ALL.iter().map(|m| m.as_str())) {
            msg.push_str(&format!("; did you mean {best}?"));
        }
        self.problem(path, msg);
        None
    }

    fn scheduled_actions(
        &mut self,
        v: &Value,
        policy_max: Option<u32>,
    ) -> Option<Vec<ScheduledAction>> {
        let parent = attr::SCHEDULED_ACTIONS;
        let list = match v {
            Value::Array(a) => a,
            other => {
                self.type_error(parent, Expect::List, other, true);
                return None;
            }
        };
        let mut ok = true;
        if list.len() > MAX_SCHEDULED_ACTIONS {
            self.problem(
                parent,
                format!(
                    "too many scheduled actions: {}, at most {MAX_SCHEDULED_ACTIONS} are allowed \
                     (AWS allows 200 per scalable target; only the first {MAX_SCHEDULED_ACTIONS} were checked)",
                    list.len()
                ),
            );
            ok = false;
        }
        let mut actions = Vec::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in list.iter().take(MAX_SCHEDULED_ACTIONS).enumerate() {
            let path = format!("{parent}[{i}]");
            match self.scheduled_action(entry, &path, policy_max) {
                Some(a) => actions.push(a),
                None => ok = false,
            }
            let name = entry
                .as_object()
                .and_then(|o| o.get(attr::NAME))
                .and_then(Value::as_str);
            if let Some(name) = name
                && !name.is_empty()
            {
                if let Some(first) = names.get(name) {
                    self.problem(
                        join(&path, attr::NAME),
                        format!(
                            "duplicate name {}: {parent}[{first}] already has it; names are unique within a policy",
                            shown(name)
                        ),
                    );
                    ok = false;
                } else {
                    names.insert(name, i);
                }
            }
        }
        ok.then_some(actions)
    }

    fn scheduled_action(
        &mut self,
        v: &Value,
        path: &str,
        policy_max: Option<u32>,
    ) -> Option<ScheduledAction> {
        let obj = self.map(v, path, false)?;
        self.unknown_keys(obj, path, attr::SCHEDULED_ACTION);
        let p = |k: &str| join(path, k);

        let name = self
            .required(
                obj,
                path,
                attr::NAME,
                "a unique name, e.g. \"evening-peak\"",
            )
            .and_then(|v| self.action_name(v, &p(attr::NAME)));
        let schedule = self
            .required(
                obj,
                path,
                attr::SCHEDULE,
                "at(...), cron(...) or rate(...), e.g. \"cron(0 20 * * ? *)\"",
            )
            .and_then(|v| self.schedule(v, &p(attr::SCHEDULE)));
        let timezone = match obj.get(attr::TIMEZONE) {
            None => Some(Tz::UTC),
            Some(v) => self.timezone(v, &p(attr::TIMEZONE)),
        };
        let start = match obj.get(attr::START_TIME) {
            None => Some(None),
            Some(v) => self.time(v, &p(attr::START_TIME)).map(Some),
        };
        let end = match obj.get(attr::END_TIME) {
            None => Some(None),
            Some(v) => self.time(v, &p(attr::END_TIME)).map(Some),
        };
        let mut ok = true;
        if let (Some(Some(s)), Some(Some(e))) = (start, end)
            && e <= s
        {
            self.problem(
                p(attr::END_TIME),
                format!(
                    "must be after StartTime ({}), got {}",
                    s.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    e.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            );
            ok = false;
        }
        let min = match obj.get(attr::MIN_CAPACITY) {
            None => Some(None),
            Some(v) => self.capacity(v, &p(attr::MIN_CAPACITY)).map(Some),
        };
        let max = match obj.get(attr::MAX_CAPACITY) {
            None => Some(None),
            Some(v) => self.capacity(v, &p(attr::MAX_CAPACITY)).map(Some),
        };
        if !obj.contains_key(attr::MIN_CAPACITY) && !obj.contains_key(attr::MAX_CAPACITY) {
            self.problem(
                path,
                "needs MinCapacity, MaxCapacity or both: the band the action sets when it fires",
            );
            ok = false;
        }
        if let (Some(Some(mn)), Some(Some(mx))) = (min, max)
            && mn > mx
        {
            self.problem(
                p(attr::MAX_CAPACITY),
                format!("must be at least this action's MinCapacity ({mn}), got {mx}"),
            );
            ok = false;
        }
        // The item's MaxCapacity is "a hard ceiling, never exceeded" (DESIGN.md
        // §2.1): an action asking for more would be silently cut, so say so now.
        if let Some(pmax) = policy_max {
            for (key, value) in [(attr::MIN_CAPACITY, min), (attr::MAX_CAPACITY, max)] {
                if let Some(Some(v)) = value
                    && v > pmax
                {
                    self.problem(
                        p(key),
                        format!(
                            "{v} is above the item's MaxCapacity ({pmax}), the hard ceiling; \
                             raise the item's MaxCapacity or lower this value"
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        Some(ScheduledAction {
            name: name?,
            schedule: schedule?,
            timezone: timezone?,
            start_time: start?,
            end_time: end?,
            min_capacity: min?,
            max_capacity: max?,
        })
    }

    fn action_name(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path, MAX_ACTION_NAME_CHARS)?;
        // AWS ScheduledActionName: 1-256 characters, no control characters,
        // no leading or trailing spaces (PutScheduledAction API reference).
        // pcscale does not build ARNs from names, so AWS's ban on ':', '/'
        // and '|' is not needed here.
        if s.is_empty() {
            self.problem(path, "must not be empty");
            return None;
        }
        if s.chars().any(char::is_control) {
            self.problem(path, "must not contain control characters");
            return None;
        }
        if s.trim() != s {
            self.problem(
                path,
                format!("must not start or end with spaces, got {}", shown(s)),
            );
            return None;
        }
        Some(s.to_owned())
    }

    fn schedule(&mut self, v: &Value, path: &str) -> Option<Schedule> {
        let s = self.string(v, path, MAX_SCHEDULE_CHARS)?;
        if s.trim().is_empty() {
            self.problem(
                path,
                "must not be empty: at(...), cron(...) or rate(...), e.g. \"cron(0 20 * * ? *)\"",
            );
            return None;
        }
        match Schedule::from_str(s) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }

    fn timezone(&mut self, v: &Value, path: &str) -> Option<Tz> {
        let s = self.string(v, path, MAX_TIMEZONE_CHARS)?;
        if let Ok(tz) = Tz::from_str(s) {
            return Some(tz);
        }
        let mut msg = format!(
            "unknown time zone {}: expected an IANA name such as \"Asia/Shanghai\" or \"UTC\"",
            shown(s)
        );
        if let Some(hint) = timezone_hint(s) {
            msg.push_str("; ");
            msg.push_str(&hint);
        }
        self.problem(path, msg);
        None
    }

    fn time(&mut self, v: &Value, path: &str) -> Option<DateTime<Utc>> {
        let s = self.string(v, path, MAX_TIME_CHARS)?;
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                let mut msg = format!(
                    "expected an RFC 3339 date-time such as \"2024-06-01T00:00:00Z\", got {} ({e})",
                    shown(s)
                );
                let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
                    || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok();
                if naive {
                    msg.push_str("; add the offset: Z for UTC, or e.g. +08:00");
                }
                self.problem(path, msg);
                None
            }
        }
    }
}

/// The type descriptors of DynamoDB JSON (`AttributeValue` members).
pub const DESCRIPTORS: &[&str] = &["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// Whether `v` looks like a DynamoDB JSON item: a map in which some
/// attribute is itself a one-key map whose key is a type descriptor
/// (`{"N": "1"}`). A plain policy item never has such a value, so an item
/// mixing both shapes is read as DynamoDB JSON and its plain attributes are
/// reported by `crate::ddb_json::from_dynamodb_json`.
pub fn looks_like_dynamodb_json(v: &Value) -> bool {
    let Value::Object(obj) = v else {
        return false;
    };
    obj.values().any(|a| match a {
        Value::Object(m) if m.len() == 1 => m.keys().all(|k| DESCRIPTORS.contains(&k.as_str())),
        _ => false,
    })
}

//! The policy item (DESIGN.md §2.1) and its validation.
//!
//! Items arrive as JSON values with DynamoDB attribute names (the AWS adapter
//! converts `AttributeValue` maps to the same shape), so one validator serves
//! DynamoDB, `pcscale policy validate FILE` and the simulator. Validation
//! collects *every* problem, each naming its attribute path, and never panics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::schedule::ScheduledAction;

/// A scalable resource, named as Application Auto Scaling names it:
/// `function:<FunctionName>:<Qualifier>` (alias or published version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceId {
    /// Function name (not an ARN).
    pub function: String,
    /// Alias or published version; never `$LATEST`.
    pub qualifier: String,
}

/// Why a resource id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceIdError {
    /// Not of the form `function:<name>:<qualifier>`.
    #[error("expected function:<FunctionName>:<Qualifier>, got {0:?}")]
    Malformed(String),
    /// `$LATEST` cannot carry provisioned concurrency.
    #[error("$LATEST cannot have provisioned concurrency; use an alias or a published version")]
    Latest,
    /// The function name breaks Lambda's naming rules.
    #[error("invalid function name {0:?}: 1-64 characters of letters, digits, '-' or '_'")]
    BadFunctionName(String),
    /// The qualifier breaks Lambda's naming rules.
    #[error(
        "invalid qualifier {0:?}: an alias (1-128 of letters, digits, '-', '_', not all digits unless a version) or a version number"
    )]
    BadQualifier(String),
}

impl FromStr for ResourceId {
    type Err = ResourceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some("function"), Some(function), Some(qualifier)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ResourceIdError::Malformed(s.to_owned()));
        };
        if qualifier == "$LATEST" {
            return Err(ResourceIdError::Latest);
        }
        let name_ok = |n: &str, max: usize| {
            !n.is_empty()
                && n.len() <= max
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(function, 64) {
            return Err(ResourceIdError::BadFunctionName(function.to_owned()));
        }
        if !name_ok(qualifier, 128) {
            return Err(ResourceIdError::BadQualifier(qualifier.to_owned()));
        }
        Ok(ResourceId {
            function: function.to_owned(),
            qualifier: qualifier.to_owned(),
        })
    }
}

impl TryFrom<String> for ResourceId {
    type Error = ResourceIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ResourceId> for String {
    fn from(r: ResourceId) -> String {
        r.to_string()
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function:{}:{}", self.function, self.qualifier)
    }
}

/// Which CloudWatch metric target tracking follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum MetricKind {
    /// `ConcurrentExecutions`, Maximum per minute: true demand, spill-over included.
    #[default]
    ConcurrentExecutions,
    /// `ProvisionedConcurrencyUtilization`: AWS-compatible, blind above 100 %.
    ProvisionedConcurrencyUtilization,
}

impl MetricKind {
    /// The CloudWatch metric name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::ConcurrentExecutions => "ConcurrentExecutions",
            MetricKind::ProvisionedConcurrencyUtilization => "ProvisionedConcurrencyUtilization",
        }
    }
}

/// The `TargetTracking` map of a policy item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetTracking {
    /// Target utilisation of PC, `0 < v <= 1`.
    pub target_value: f64,
    /// The metric followed.
    pub metric: MetricKind,
    /// Seconds after a scale-out before the next scale-out (a larger need ends it early).
    pub scale_out_cooldown_secs: u64,
    /// Seconds after any scaling before a scale-in; also the demand look-back for scale-in.
    pub scale_in_cooldown_secs: u64,
    /// `(0, 1]`: fraction of the excess removed per scale-in step.
    pub scale_in_factor: f64,
    /// Never scale in from target tracking.
    pub disable_scale_in: bool,
}

impl Default for TargetTracking {
    fn default() -> Self {
        TargetTracking {
            target_value: 0.7,
            metric: MetricKind::ConcurrentExecutions,
            scale_out_cooldown_secs: 0,
            scale_in_cooldown_secs: 600,
            scale_in_factor: 1.0,
            disable_scale_in: false,
        }
    }
}

/// A validated policy item (`sk = "policy"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The resource (`pk`).
    pub resource: ResourceId,
    /// false: the resource is left alone.
    pub enabled: bool,
    /// Floor when no scheduled action has set one; 0 allows deleting the config.
    pub min_capacity: u32,
    /// Hard ceiling when no scheduled action has set one.
    pub max_capacity: u32,
    /// Absent: capacity follows schedules / MinCapacity only.
    pub target_tracking: Option<TargetTracking>,
    /// Scheduled changes of the band.
    pub scheduled_actions: Vec<ScheduledAction>,
    /// Decide and record, but never call the Lambda API.
    pub dry_run: bool,
    /// Free text kept for people.
    pub description: Option<String>,
}

/// One validation problem: the attribute path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Attribute path, e.g. `ScheduledActions[1].Schedule`.
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

/// Parses and validates a policy item given as a JSON object with DynamoDB
/// attribute names (`pk`, `sk`, `MinCapacity`, ...). Returns every problem.
pub fn parse_policy(item: &serde_json::Value) -> Result<Policy, InvalidPolicy> {
    let _ = item;
    Err(InvalidPolicy {
        resource: None,
        problems: vec![Problem {
            path: String::new(),
            message: "not implemented yet".into(),
        }],
    })
}

/// Converts DynamoDB JSON (`{"MinCapacity": {"N": "1"}}`, as the console and
/// `aws dynamodb get-item` show it) into the plain JSON shape [`parse_policy`] reads.
pub fn from_dynamodb_json(item: &serde_json::Value) -> Result<serde_json::Value, InvalidPolicy> {
    let _ = item;
    Err(InvalidPolicy {
        resource: None,
        problems: vec![],
    })
}

impl Policy {
    /// The policy as a plain JSON item (the inverse of [`parse_policy`]).
    pub fn to_item(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

//! `pcscale policy import`: vendor autoscaling configurations -> pcscale
//! policy items (DESIGN.md §2.1). Pure conversion, no I/O.
//!
//! Each vendor module reads the vendor's own JSON (request bodies or describe
//! output, see the module docs for the accepted shapes) and produces policy
//! items as plain JSON with DynamoDB attribute names, the shape
//! [`crate::core::policy::parse_policy`] reads. [`import`] then validates every
//! item with that same parser, so an imported policy is exactly as valid as one
//! written by hand.
//!
//! Nothing is dropped silently: whatever pcscale cannot express (a CPU metric,
//! a step-scaling policy, a time window on target tracking, an attribute it
//! does not know) comes back as an [`ImportWarning`] next to the items.
//! Invalid input (a missing `MinCapacity`, a cron with 5 fields, a file that
//! is not the vendor's format at all) is an [`ImportError`] listing every
//! problem with the attribute path that has it. Several documents
//! ([`import_sources`]) are merged by resource.

pub mod alibaba;
pub mod aws;
pub(crate) mod cron;
pub mod tencent;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::core::policy::{Problem, ResourceId, parse_policy};

/// The vendor a configuration comes from (`--from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// AWS Application Auto Scaling (`register-scalable-target`,
    /// `put-scaling-policy`, `put-scheduled-action`, or their `describe-*` output).
    Aws,
    /// Alibaba Cloud Function Compute provisioned configuration
    /// (`scheduledActions` / `targetTrackingPolicies`).
    Alibaba,
    /// Tencent Cloud SCF `PutProvisionedConcurrencyConfig`.
    Tencent,
}

impl Vendor {
    /// The `--from` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Aws => "aws",
            Vendor::Alibaba => "alibaba",
            Vendor::Tencent => "tencent",
        }
    }
}

impl Vendor {
    /// The vendor's format in words, with its article.
    pub fn described(self) -> &'static str {
        match self {
            Vendor::Aws => "an AWS Application Auto Scaling",
            Vendor::Alibaba => "an Alibaba Cloud Function Compute provisioned",
            Vendor::Tencent => "a Tencent Cloud SCF provisioned-concurrency",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "aws" => Ok(Vendor::Aws),
            "alibaba" | "aliyun" => Ok(Vendor::Alibaba),
            "tencent" => Ok(Vendor::Tencent),
            other => Err(format!(
                "unknown vendor {other:?}: expected aws, alibaba or tencent"
            )),
        }
    }
}

/// Settings the vendor file may not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The pcscale resource (`function:<name>:<qualifier>`) when the vendor
    /// file does not name one a Lambda function can use (Alibaba, Tencent).
    pub resource: Option<String>,
    /// IANA zone for vendor crons that carry none (Tencent `TriggerCronConfig`).
    pub timezone: Option<String>,
}

/// How a warning changes what the imported policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarningKind {
    /// Not imported at all (no pcscale equivalent).
    Dropped,
    /// Imported, but pcscale behaves somewhat differently; the message says how.
    Approximated,
    /// The vendor file was silent and a value was assumed; the message says which.
    Assumed,
    /// Imported faithfully, but pcscale offers something better.
    Recommendation,
}

/// Something the user must hear about: a vendor setting that was not, or not
/// exactly, carried over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWarning {
    /// Attribute path in the vendor file (or in the produced item, `pk` first).
    pub path: String,
    /// What kind of difference.
    pub kind: WarningKind,
    /// The difference, in words a user can act on.
    pub message: String,
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            WarningKind::Dropped => "not imported",
            WarningKind::Approximated => "approximated",
            WarningKind::Assumed => "assumed",
            WarningKind::Recommendation => "recommendation",
        };
        if self.path.is_empty() {
            write!(f, "{kind}: {}", self.message)
        } else {
            write!(f, "{kind}: {}: {}", self.path, self.message)
        }
    }
}

/// The result of an import: policy items (one per resource) and every
/// difference from the vendor's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// Where it came from.
    pub vendor: Vendor,
    /// Policy items as plain JSON with DynamoDB attribute names (`pk`, `sk`, ...).
    pub items: Vec<Value>,
    /// What was not (or not exactly) carried over.
    pub warnings: Vec<ImportWarning>,
}

/// The vendor file could not be converted: every problem, each naming its attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("cannot import {vendor} configuration:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ImportError {
    /// The vendor the file was read as.
    pub vendor: Vendor,
    /// Every problem, in input order.
    pub problems: Vec<Problem>,
}

/// One input document of an import: where it came from and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Prefix of problem and warning paths for this document: empty for a
    /// lone document, `<file>:` when several are merged.
    pub label: String,
    /// The vendor's JSON.
    pub value: Value,
}

/// Converts a vendor configuration to pcscale policy items without validating
/// them against the policy parser (see [`import`] for the validated form).
pub fn convert(
    vendor: Vendor,
    input: &Value,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    convert_sources(
        vendor,
        &[Source {
            label: String::new(),
            value: input.clone(),
        }],
        opts,
    )
}

/// [`convert`] over several documents merged by resource: AWS's three
/// `describe-*` outputs become one item per resource; for Alibaba and
/// Tencent, whose files each describe whole resources, a resource
/// configured twice is a problem.
pub fn convert_sources(
    vendor: Vendor,
    sources: &[Source],
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut ctx = Ctx::default();
    let drafts = match vendor {
        Vendor::Aws => aws::convert(sources, opts, &mut ctx),
        Vendor::Alibaba => sources
            .iter()
            .flat_map(|s| alibaba::convert(&s.value, &s.label, opts, &mut ctx))
            .collect(),
        Vendor::Tencent => sources
            .iter()
            .flat_map(|s| tencent::convert(&s.value, &s.label, opts, &mut ctx))
            .collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for d in &drafts {
        if !seen.insert(d.resource.as_str()) {
            ctx.problem(
                d.resource.clone(),
                "configured more than once in the input; pcscale has one policy per resource",
            );
        }
    }
    if !ctx.problems.is_empty() {
        return Err(ImportError {
            vendor,
            problems: ctx.problems,
        });
    }
    if drafts.is_empty() {
        return Err(ImportError {
            vendor,
            problems: vec![problem(
                "",
                "no provisioned-concurrency configuration found in the input",
            )],
        });
    }
    let mut warnings = ctx.warnings;
    for d in &drafts {
        if d.target_tracking
            .as_ref()
            .is_some_and(|tt| tt.metric == METRIC_PCU)
        {
            warnings.push(ImportWarning {
                path: format!("{}.TargetTracking.Metric", d.resource),
                kind: WarningKind::Recommendation,
                message: "imported as ProvisionedConcurrencyUtilization, which reproduces the vendor's \
                          utilisation tracking; ConcurrentExecutions (pcscale's default) is recommended: \
                          it also sees demand that spilled over to on-demand instances, which utilisation \
                          (capped at 100 %) cannot"
                    .into(),
            });
        }
    }
    Ok(Imported {
        vendor,
        items: drafts.iter().map(Draft::to_item).collect(),
        warnings,
    })
}

/// Converts a vendor configuration and validates every resulting item with
/// [`parse_policy`]; an item the parser refuses is an [`ImportError`] whose
/// problem paths start with the item's `pk`.
pub fn import(
    vendor: Vendor,
    input: &Value,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    validated(convert(vendor, input, opts)?)
}

/// [`import`] over several documents merged by resource (see [`convert_sources`]).
pub fn import_sources(
    vendor: Vendor,
    sources: &[Source],
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    validated(convert_sources(vendor, sources, opts)?)
}

fn validated(imported: Imported) -> Result<Imported, ImportError> {
    let mut problems = Vec::new();
    for item in &imported.items {
        if let Err(invalid) = parse_policy(item) {
            let pk = item.get("pk").and_then(Value::as_str).unwrap_or("?");
            problems.extend(invalid.problems.into_iter().map(|p| Problem {
                path: if p.path.is_empty() {
                    pk.to_owned()
                } else {
                    format!("{pk}.{}", p.path)
                },
                message: p.message,
            }));
        }
    }
    if problems.is_empty() {
        Ok(imported)
    } else {
        Err(ImportError {
            vendor: imported.vendor,
            problems,
        })
    }
}

/// [`import`] from JSON text (the content of `FILE`).
pub fn import_str(
    vendor: Vendor,
    text: &str,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let input: Value = serde_json::from_str(text).map_err(|e| ImportError {
        vendor,
        problems: vec![problem("", &format!("not valid JSON: {e}"))],
    })?;
    import(vendor, &input, opts)
}

// ---------------------------------------------------------------------------
// What the vendor modules build: a policy draft, rendered as a plain JSON item.

pub(crate) const METRIC_PCU: &str = "ProvisionedConcurrencyUtilization";
pub(crate) const METRIC_CE: &str = "ConcurrentExecutions";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub resource: String,
    pub enabled: Option<bool>,
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub target_tracking: Option<TrackingDraft>,
    pub scheduled_actions: Vec<ActionDraft>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrackingDraft {
    pub target_value: f64,
    pub metric: &'static str,
    pub scale_out_cooldown: Option<u64>,
    pub scale_in_cooldown: Option<u64>,
    pub disable_scale_in: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionDraft {
    pub name: String,
    pub schedule: String,
    pub timezone: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub min_capacity: Option<u32>,
    pub max_capacity: Option<u32>,
}

impl Draft {
    fn to_item(&self) -> Value {
        let mut item = Map::new();
        item.insert("pk".into(), json!(self.resource));
        item.insert("sk".into(), json!("policy"));
        if let Some(e) = self.enabled {
            item.insert("Enabled".into(), json!(e));
        }
        item.insert("MinCapacity".into(), json!(self.min_capacity));
        item.insert("MaxCapacity".into(), json!(self.max_capacity));
        if let Some(tt) = &self.target_tracking {
            let mut m = Map::new();
            m.insert("TargetValue".into(), json!(tt.target_value));
            m.insert("Metric".into(), json!(tt.metric));
            if let Some(v) = tt.scale_out_cooldown {
                m.insert("ScaleOutCooldown".into(), json!(v));
            }
            if let Some(v) = tt.scale_in_cooldown {
                m.insert("ScaleInCooldown".into(), json!(v));
            }
            if let Some(v) = tt.disable_scale_in {
                m.insert("DisableScaleIn".into(), json!(v));
            }
            item.insert("TargetTracking".into(), Value::Object(m));
        }
        if !self.scheduled_actions.is_empty() {
            let actions = self
                .scheduled_actions
                .iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.insert("Name".into(), json!(a.name));
                    m.insert("Schedule".into(), json!(a.schedule));
                    if let Some(tz) = &a.timezone {
                        m.insert("Timezone".into(), json!(tz));
                    }
                    if let Some(t) = &a.start_time {
                        m.insert("StartTime".into(), json!(t));
                    }
                    if let Some(t) = &a.end_time {
                        m.insert("EndTime".into(), json!(t));
                    }
                    if let Some(v) = a.min_capacity {
                        m.insert("MinCapacity".into(), json!(v));
                    }
                    if let Some(v) = a.max_capacity {
                        m.insert("MaxCapacity".into(), json!(v));
                    }
                    Value::Object(m)
                })
                .collect();
            item.insert("ScheduledActions".into(), Value::Array(actions));
        }
        item.insert("Description".into(), json!(self.description));
        Value::Object(item)
    }
}

/// A vendor "set the instance count to `target`" schedule (Alibaba
/// `scheduledActions`, Tencent `TriggerActions`) as pcscale actions.
///
/// The target becomes the band's **floor** (`MinCapacity`) from the moment it
/// fires until another action fires: with no target tracking pcscale then
/// holds exactly `target` (capacity follows the floor), which is what the
/// vendor does; with target tracking, tracking works above it up to
/// `MaxCapacity`. A split cron (see [`cron`]) yields `<name>-dom` and `<name>-dow`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn target_actions(
    name: &str,
    path: &str,
    converted: cron::Converted,
    timezone: Option<&str>,
    start_time: Option<&str>,
    end_time: Option<&str>,
    target: u32,
    ctx: &mut Ctx,
) -> Vec<ActionDraft> {
    for note in converted.notes {
        ctx.warn(path, WarningKind::Approximated, note);
    }
    converted
        .crons
        .into_iter()
        .map(|c| ActionDraft {
            name: match c.split {
                None => name.to_owned(),
                Some(s) => format!("{name}-{s}"),
            },
            schedule: c.expression,
            timezone: timezone.map(str::to_owned),
            start_time: start_time.map(str::to_owned),
            end_time: end_time.map(str::to_owned),
            min_capacity: Some(target),
            max_capacity: None,
        })
        .collect()
}

/// Makes `MaxCapacity` hold every scheduled target and the floor. A vendor
/// schedule may set more instances than its tracking policy's maximum; in
/// pcscale `MaxCapacity` always wins (it is the cost guard-rail), so keeping
/// the vendor's maximum would silently cap the schedule. It is raised instead,
/// and the user told when target tracking can now reach the new ceiling.
pub(crate) fn fit_max(draft: &mut Draft, path: &str, ctx: &mut Ctx) {
    let needed = draft
        .scheduled_actions
        .iter()
        .filter_map(|a| a.min_capacity)
        .chain([draft.min_capacity, 1])
        .max()
        .unwrap_or(1);
    // Without target tracking capacity follows the floor, so a higher
    // ceiling changes nothing but the guard-rail: no warning needed then.
    if needed > draft.max_capacity && draft.target_tracking.is_some() {
        ctx.warn(
            path,
            WarningKind::Approximated,
            format!(
                "MaxCapacity raised from {} to {needed} so that every scheduled target fits (pcscale never exceeds MaxCapacity); target tracking may now also scale out to {needed}",
                draft.max_capacity
            ),
        );
    }
    draft.max_capacity = draft.max_capacity.max(needed);
}

// ---------------------------------------------------------------------------
// Collecting problems and warnings while reading a vendor file.

#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub warnings: Vec<ImportWarning>,
    pub problems: Vec<Problem>,
}

impl Ctx {
    pub(crate) fn warn(
        &mut self,
        path: impl Into<String>,
        kind: WarningKind,
        message: impl Into<String>,
    ) {
        self.warnings.push(ImportWarning {
            path: path.into(),
            kind,
            message: message.into(),
        });
    }

    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Checks a `function:<name>:<qualifier>` with the core's own rules.
    pub(crate) fn resource(&mut self, path: &str, text: &str) -> Option<String> {
        match ResourceId::from_str(text) {
            Ok(r) => Some(r.to_string()),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }
}

/// Top-level keys that make a JSON object a configuration of each vendor
/// (read case-insensitively, as [`Obj`] reads keys).
fn signature(vendor: Vendor) -> &'static [&'static str] {
    match vendor {
        Vendor::Aws => &[
            "ScalableTarget",
            "ScalableTargets",
            "ScalingPolicy",
            "ScalingPolicies",
            "ScheduledAction",
            "ScheduledActions",
            "ScalableDimension",
            "PolicyType",
            "PolicyName",
            "TargetTrackingScalingPolicyConfiguration",
            "Schedule",
            "ScheduledActionName",
            "MinCapacity",
            "MaxCapacity",
        ],
        Vendor::Alibaba => &[
            "target",
            "defaultTarget",
            "scheduledActions",
            "SchedulerActions",
            "targetTrackingPolicies",
        ],
        Vendor::Tencent => &[
            "VersionProvisionedConcurrencyNum",
            "ProvisionedType",
            "TrackingTarget",
            "TriggerActions",
        ],
    }
}

/// Keys only one vendor uses, for the "try --from" hint (the shared ones,
/// such as AWS `ScheduledActions` and Alibaba `scheduledActions`, say nothing).
fn distinctive(vendor: Vendor) -> &'static [&'static str] {
    match vendor {
        Vendor::Aws => &[
            "ScalableTarget",
            "ScalableTargets",
            "ScalingPolicies",
            "ScalableDimension",
            "ServiceNamespace",
            "TargetTrackingScalingPolicyConfiguration",
            "ScheduledActionName",
        ],
        Vendor::Alibaba => &[
            "defaultTarget",
            "SchedulerActions",
            "targetTrackingPolicies",
            "functionArn",
        ],
        Vendor::Tencent => &[
            "VersionProvisionedConcurrencyNum",
            "ProvisionedType",
            "TrackingTarget",
            "TriggerActions",
        ],
    }
}

/// Another vendor than `not` whose own keys `obj` has.
/// "; it looks like X configuration: try --from x" when `obj` looks like
/// another vendor's than `not`; empty otherwise.
pub(crate) fn try_instead_hint(obj: &Obj<'_>, not: Vendor) -> String {
    looks_like(obj, not)
        .map(|v| {
            format!(
                "; it looks like {} configuration: try --from {v}",
                v.described()
            )
        })
        .unwrap_or_default()
}

pub(crate) fn looks_like(obj: &Obj<'_>, not: Vendor) -> Option<Vendor> {
    [Vendor::Aws, Vendor::Alibaba, Vendor::Tencent]
        .into_iter()
        .filter(|v| *v != not)
        .find(|v| distinctive(*v).iter().any(|k| obj.has(k)))
}

/// Refuses an object that is not `vendor`'s format at all (`{"foo": 1}`, or
/// an AWS file read `--from tencent`): without this, defaults would turn it
/// into a "valid" policy. Names another vendor when its keys are there.
pub(crate) fn require_format(obj: &Obj<'_>, vendor: Vendor, ctx: &mut Ctx) -> bool {
    let keys = signature(vendor);
    if keys.iter().any(|k| obj.has(k)) {
        return true;
    }
    let hint = try_instead_hint(obj, vendor);
    ctx.problem(
        whole(obj.path()),
        format!(
            "not {} configuration: none of {} found{hint}",
            vendor.described(),
            keys.join(", ")
        ),
    );
    false
}

fn problem(path: &str, message: &str) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// Converts one config, or each config of a JSON list (paths `[i]`), under
/// the document's label `base`.
pub(crate) fn per_item(
    input: &Value,
    base: &str,
    mut one: impl FnMut(&Value, &str) -> Option<Draft>,
) -> Vec<Draft> {
    match input.as_array() {
        Some(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| one(v, &format!("{base}[{i}]")))
            .collect(),
        None => one(input, base).into_iter().collect(),
    }
}

/// Joins an attribute path: `a` + `b` -> `a.b` (or `b` at the top, and
/// `file:b` under a document label `file:`).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() || path.ends_with(':') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

/// The path of a whole object, for problems with it as a whole.
pub(crate) fn whole(path: &str) -> String {
    if path.is_empty() || path.ends_with(':') {
        format!("{path}(top level)")
    } else {
        path.to_owned()
    }
}

/// A JSON object read case-insensitively (vendors and their SDKs disagree on
/// `TargetValue` vs `targetValue`), remembering which keys were used so that
/// [`Obj::finish`] can report every key nobody read.
pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    used: Vec<bool>,
}

impl<'a> Obj<'a> {
    /// `value` as an object at `path`; a problem when it is not one.
    pub(crate) fn new(value: &'a Value, path: &str, ctx: &mut Ctx) -> Option<Obj<'a>> {
        match value.as_object() {
            Some(map) => Some(Obj {
                path: path.to_owned(),
                map,
                used: vec![false; map.len()],
            }),
            None => {
                ctx.problem(
                    path,
                    format!("expected a JSON object, got {}", kind_of(value)),
                );
                None
            }
        }
    }

    /// Where this object sits in the input.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Whether a key is present (case-insensitive); does not mark it used.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.keys().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// The first of `names` (spellings of one setting, e.g. FC 3.0's
    /// `scheduledActions` and FC 2.0's `SchedulerActions`) that is present,
    /// or the first one when none is.
    pub(crate) fn spelling<'n>(&self, names: &[&'n str]) -> &'n str {
        names
            .iter()
            .copied()
            .find(|n| self.has(n))
            .or_else(|| names.first().copied())
            .unwrap_or_default()
    }

    /// The value of `name` and its path, marking it used.
    pub(crate) fn raw(&mut self, name: &str) -> Option<(String, &'a Value)> {
        let map = self.map;
        let (i, (k, v)) = map
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.eq_ignore_ascii_case(name))?;
        self.used[i] = true;
        if v.is_null() {
            // SDK output writes absent optionals as null: treat as absent.
            return None;
        }
        Some((join(&self.path, k), v))
    }

    /// Path of `name` as the user spelled it (or as given, when absent).
    pub(crate) fn path_of(&self, name: &str) -> String {
        let key = self
            .map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map_or(name, String::as_str);
        join(&self.path, key)
    }

    pub(crate) fn str(&mut self, name: &str, ctx: &mut Ctx) -> Option<&'a str> {
        let (path, v) = self.raw(name)?;
        match v.as_str() {
            Some(s) => Some(s),
            None => {
                ctx.problem(path, format!("expected a string, got {}", kind_of(v)));
                None
            }
        }
    }

    pub(crate) fn req_str(&mut self, name: &str, ctx: &mut Ctx) -> Option<&'a str> {
        let had = self.has(name);
        let s = self.str(name, ctx);
        if s.is_none() && !had {
            ctx.problem(self.path_of(name), "required, missing");
        }
        s
    }

    /// A non-negative integer (JSON number, or a numeric string as some CLIs write).
    pub(crate) fn u32(&mut self, name: &str, ctx: &mut Ctx) -> Option<u32> {
        let (path, v) = self.raw(name)?;
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n.and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                ctx.problem(path, format!("expected a non-negative integer, got {v}"));
                None
            }
        }
    }

    pub(crate) fn req_u32(&mut self, name: &str, ctx: &mut Ctx) -> Option<u32> {
        let had = self.has(name);
        let n = self.u32(name, ctx);
        if n.is_none() && !had {
            ctx.problem(self.path_of(name), "required, missing");
        }
        n
    }

    pub(crate) fn f64(&mut self, name: &str, ctx: &mut Ctx) -> Option<f64> {
        let (path, v) = self.raw(name)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n.filter(|f| f.is_finite()) {
            Some(n) => Some(n),
            None => {
                ctx.problem(path, format!("expected a number, got {v}"));
                None
            }
        }
    }

    pub(crate) fn req_f64(&mut self, name: &str, ctx: &mut Ctx) -> Option<f64> {
        let had = self.has(name);
        let n = self.f64(name, ctx);
        if n.is_none() && !had {
            ctx.problem(self.path_of(name), "required, missing");
        }
        n
    }

    pub(crate) fn bool(&mut self, name: &str, ctx: &mut Ctx) -> Option<bool> {
        let (path, v) = self.raw(name)?;
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                ctx.problem(path, format!("expected true or false, got {v}"));
                None
            }
        }
    }

    /// The elements of an array attribute with their paths (empty when absent).
    pub(crate) fn array(&mut self, name: &str, ctx: &mut Ctx) -> Vec<(String, &'a Value)> {
        let Some((path, v)) = self.raw(name) else {
            return Vec::new();
        };
        match v.as_array() {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{path}[{i}]"), v))
                .collect(),
            None => {
                ctx.problem(path, format!("expected a JSON array, got {}", kind_of(v)));
                Vec::new()
            }
        }
    }

    pub(crate) fn obj(&mut self, name: &str, ctx: &mut Ctx) -> Option<Obj<'a>> {
        let (path, v) = self.raw(name)?;
        Obj::new(v, &path, ctx)
    }

    /// Reports every key nobody read, except `metadata` (read-only fields of
    /// describe/get output such as ARNs and timestamps, which configure nothing).
    pub(crate) fn finish(self, ctx: &mut Ctx, metadata: &[&str]) {
        for ((k, _), used) in self.map.iter().zip(self.used) {
            if used || metadata.iter().any(|m| m.eq_ignore_ascii_case(k)) {
                continue;
            }
            ctx.warn(
                join(&self.path, k),
                WarningKind::Dropped,
                "not a setting pcscale knows; ignored",
            );
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Times and zones.

/// Parses an IANA zone name.
pub(crate) fn parse_tz(text: &str) -> Result<Tz, String> {
    Tz::from_str(text).map_err(|_| format!("unknown IANA time zone {text:?}"))
}

/// A vendor timestamp as RFC 3339. Text with an offset (`Z`, `+08:00`) is kept
/// as that instant; text without one is wall-clock time in `tz` (Alibaba:
/// "the system defaults to UTC if you do not specify a time zone"); a number is
/// seconds since the epoch (raw AWS SDK output). Kept in `tz`'s offset so the
/// item reads like the input.
pub(crate) fn vendor_time(v: &Value, tz: Tz) -> Result<String, String> {
    Ok(vendor_instant(v, tz)?.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The instant behind [`vendor_time`], in `tz`'s offset (or the text's own).
pub(crate) fn vendor_instant(v: &Value, tz: Tz) -> Result<DateTime<FixedOffset>, String> {
    let instant: DateTime<FixedOffset> = match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or("not a finite number")?;
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9).round() as u32;
            let utc = Utc
                .timestamp_opt(whole as i64, nanos.min(999_999_999))
                .single()
                .ok_or_else(|| format!("{secs} is not a representable epoch time"))?;
            utc.with_timezone(&tz).fixed_offset()
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                t
            } else {
                let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                    .map_err(|_| {
                        format!("{s:?} is not a date-time (expected yyyy-mm-ddThh:mm:ss, optionally with Z or an offset)")
                    })?;
                // A wall-clock time skipped by a DST jump does not exist;
                // an ambiguous one (the repeated hour) takes its first instant.
                tz.from_local_datetime(&naive)
                    .earliest()
                    .ok_or_else(|| format!("{s} does not exist in {tz} (skipped by a DST change)"))?
                    .fixed_offset()
            }
        }
        other => {
            return Err(format!(
                "expected a date-time string, got {}",
                kind_of(other)
            ));
        }
    };
    Ok(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_vendor_time_is_read_in_the_given_zone() {
        let tz = parse_tz("Asia/Shanghai").unwrap();
        assert_eq!(
            vendor_time(&json!("2024-08-01T10:00:00"), tz).unwrap(),
            "2024-08-01T10:00:00+08:00"
        );
        assert_eq!(
            vendor_time(&json!("2020-10-10T10:10:10Z"), Tz::UTC).unwrap(),
            "2020-10-10T10:10:10Z"
        );
        assert_eq!(
            vendor_time(&json!(1_561_054_206.0), Tz::UTC).unwrap(),
            "2019-06-20T18:10:06Z"
        );
        assert!(vendor_time(&json!("tomorrow"), Tz::UTC).is_err());
    }

    #[test]
    fn unread_keys_become_dropped_warnings_but_metadata_does_not() {
        let v = json!({"MinCapacity": 1, "MaxCapcity": 5, "CreationTime": "x"});
        let mut ctx = Ctx::default();
        let mut o = Obj::new(&v, "T", &mut ctx).unwrap();
        assert_eq!(o.u32("mincapacity", &mut ctx), Some(1));
        o.finish(&mut ctx, &["CreationTime"]);
        assert_eq!(ctx.warnings.len(), 1);
        assert_eq!(ctx.warnings[0].path, "T.MaxCapcity");
        assert_eq!(ctx.warnings[0].kind, WarningKind::Dropped);
    }

    #[test]
    fn vendor_names_parse_case_insensitively() {
        assert_eq!("AWS".parse::<Vendor>(), Ok(Vendor::Aws));
        assert_eq!("aliyun".parse::<Vendor>(), Ok(Vendor::Alibaba));
        assert!("gcp".parse::<Vendor>().is_err());
    }
}

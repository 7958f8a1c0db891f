//! Suggestions for a user's mistakes: did-you-mean for attribute names, time
//! zones and metric names; names from AWS and other vendors; misplaced
//! attributes; and the helpers that quote a user's value in a message.

use std::collections::HashMap;

use serde_json::Value;

use super::model::attr;

/// `parent.key`, or `key` at the top level.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// A user's string, quoted and cut short for a message.
pub fn shown(s: &str) -> String {
    format!("{:?}", truncate(s, 60))
}

/// What a value is, for "expected X, got Y".
pub fn what(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", shown(s)),
        Value::Array(a) => format!("a list of {} elements", a.len()),
        Value::Object(_) => "a map".into(),
    }
}

/// A JSON-style number written in a string (`"5"`, `" 0.7 "`), as users
/// write when they quote everything.
pub fn parse_json_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let looks_numeric = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if !looks_numeric {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A name folded for typo comparison: alphanumerics only, lower case.
pub fn typo_norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The candidate closest to `word`, if it is close enough to be a typo:
/// equal ignoring case and punctuation (`min_capacity`), within a small
/// edit distance (`MaxCapcity`), or an abbreviation of at least 4
/// characters (`MinCap`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    closest_normalized(
        word,
        candidates
            .into_iter()
            .map(|c| (std::borrow::Cow::Owned(typo_norm(c)), c)),
    )
}

/// [`closest`] over candidates given with their [`typo_norm`] form.
pub fn closest_normalized<'a, 'n>(
    word: &str,
    candidates: impl IntoIterator<Item = (std::borrow::Cow<'n, str>, &'a str)>,
) -> Option<&'a str> {
    // Long words are not typos of short names; also bounds the O(n*m) cost.
    if word.chars().count() > 64 {
        return None;
    }
    let w = typo_norm(word);
    if w.is_empty() {
        return None;
    }
    let w_len = w.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for (cn, c) in candidates {
        if *cn == *w {
            return Some(c);
        }
        let cn_len = cn.chars().count();
        let allowed = (w_len.max(cn_len) / 4).clamp(1, 3);
        // The distance is at least the difference in length: most of the
        // ~600 zone names are ruled out without computing it. The
        // optimal-string-alignment distance (transpositions, no HashMap per
        // call) keeps the rest cheap.
        let d = (w_len.abs_diff(cn_len) <= allowed).then(|| strsim::osa_distance(&w, &cn));
        let score = match d {
            Some(d) if d <= allowed => d,
            _ if w_len >= 4 && cn.starts_with(&w) => allowed + 1,
            _ => continue,
        };
        if best.is_none_or(|(s, _)| score < s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Every IANA zone name with its [`typo_norm`] form, computed once.
fn zone_index() -> &'static [(String, &'static str)] {
    static INDEX: std::sync::OnceLock<Vec<(String, &'static str)>> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| (typo_norm(tz.name()), tz.name()))
            .collect()
    })
}

/// Did-you-mean searches over the zone names one item may cost (each is a
/// pass over ~600 names); further misspelled zones in the same item are
/// reported without a suggestion. Reset by [`super::parse_policy`].
pub const MAX_ZONE_SEARCHES_PER_ITEM: u32 = 8;

thread_local! {
    static ZONE_SEARCHES_LEFT: std::cell::Cell<u32> =
        const { std::cell::Cell::new(MAX_ZONE_SEARCHES_PER_ITEM) };
}

/// Gives the next item its [`MAX_ZONE_SEARCHES_PER_ITEM`] searches.
pub fn reset_zone_searches() {
    ZONE_SEARCHES_LEFT.with(|c| c.set(MAX_ZONE_SEARCHES_PER_ITEM));
}

/// Names people write for a zone that are not IANA names.
const ZONE_ALIASES: &[(&str, &str)] = &[
    ("beijing", "Asia/Shanghai"),
    ("chinastandardtime", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
    ("bangalore", "Asia/Kolkata"),
    ("mumbai", "Asia/Kolkata"),
    ("ist", "Asia/Kolkata"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pacific", "America/Los_Angeles"),
    ("sanfrancisco", "America/Los_Angeles"),
    ("edt", "America/New_York"),
    ("eastern", "America/New_York"),
    ("cet", "Europe/Paris"),
    ("cest", "Europe/Paris"),
    ("bst", "Europe/London"),
    ("jst", "Asia/Tokyo"),
    ("sgt", "Asia/Singapore"),
];

/// A suggestion for an unknown time zone name, remembered per distinct
/// value on this thread (at most [`HINT_CACHE_ENTRIES`]): an item repeating
/// one misspelled zone in 100 actions searches the zone names once.
pub fn timezone_hint(s: &str) -> Option<String> {
    thread_local! {
        static HINTS: std::cell::RefCell<HashMap<String, Option<String>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    if let Some(hit) = HINTS.with(|h| h.borrow().get(s).cloned()) {
        return hit;
    }
    let left = ZONE_SEARCHES_LEFT.with(std::cell::Cell::get);
    if left == 0 {
        // This item has had its share of searches; not remembered, so a
        // later item still gets its suggestion.
        return None;
    }
    ZONE_SEARCHES_LEFT.with(|c| c.set(left - 1));
    let hint = timezone_hint_uncached(s);
    HINTS.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() >= HINT_CACHE_ENTRIES {
            h.clear();
        }
        h.insert(s.to_owned(), hint.clone());
    });
    hint
}

/// Distinct zone values whose suggestion [`timezone_hint`] remembers.
const HINT_CACHE_ENTRIES: usize = 256;

fn timezone_hint_uncached(s: &str) -> Option<String> {
    let norm: String = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if let Some((_, zone)) = ZONE_ALIASES.iter().find(|(alias, _)| *alias == norm) {
        return Some(format!("did you mean {zone}?"));
    }
    // "UTC+8", "GMT-05:00": offsets are not zones (and have no DST).
    let upper = s.to_ascii_uppercase();
    if (upper.starts_with("UTC") || upper.starts_with("GMT"))
        && s.get(3..).is_some_and(|rest| rest.starts_with(['+', '-']))
    {
        return Some(
            "a fixed offset is not a zone: name the place, e.g. \"Asia/Shanghai\" for UTC+8 \
             (DST is then handled too)"
                .into(),
        );
    }
    let index = zone_index();
    let candidates = index
        .iter()
        .map(|(n, name)| (std::borrow::Cow::Borrowed(n.as_str()), *name));
    if let Some(best) = closest_normalized(s, candidates) {
        return Some(format!("did you mean {best}?"));
    }
    // "Paris", "shanghai": a city without its region.
    index
        .iter()
        .map(|(_, name)| *name)
        .find(|name| {
            name.rsplit('/').next().is_some_and(|city| {
                city.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .eq(norm.chars())
            }) && name.contains('/')
        })
        .map(|name| format!("did you mean {name}?"))
}

/// Attribute names users bring from AWS Application Auto Scaling and other
/// vendors, and what to write instead.
const FOREIGN_ATTRIBUTES: &[(&str, &str)] = &[
    (
        "ResourceId",
        "the resource goes in pk: \"function:<FunctionName>:<Qualifier>\"",
    ),
    (
        "FunctionName",
        "the resource goes in pk: \"function:<FunctionName>:<Qualifier>\"",
    ),
    (
        "Qualifier",
        "the resource goes in pk: \"function:<FunctionName>:<Qualifier>\"",
    ),
    (
        "ServiceNamespace",
        "not needed: pcscale only scales Lambda provisioned concurrency; remove it",
    ),
    (
        "ScalableDimension",
        "not needed: pcscale only scales Lambda provisioned concurrency; remove it",
    ),
    (
        "TargetTrackingScalingPolicyConfiguration",
        "use TargetTracking (or convert with `pcscale policy import --from aws`)",
    ),
    (
        "PredefinedMetricSpecification",
        "use Metric: \"ProvisionedConcurrencyUtilization\" or \"ConcurrentExecutions\"",
    ),
    (
        "ScheduledActionName",
        "a scheduled action's name is Name here",
    ),
    (
        "ScalableTargetAction",
        "put MinCapacity and MaxCapacity directly in the action",
    ),
    (
        "PolicyName",
        "not needed: one policy item per resource; use Description for a label",
    ),
    (
        "PolicyType",
        "not needed: use TargetTracking and ScheduledActions",
    ),
];

/// Names valid in some other place of the item, and where they belong.
fn misplaced_hint(key: &str, parent: &str) -> Option<String> {
    let in_action = parent.starts_with(attr::SCHEDULED_ACTIONS);
    if parent.is_empty() {
        if attr::TARGET_TRACKING_MAP.contains(&key) {
            return Some(format!("{key} belongs inside the TargetTracking map"));
        }
        if attr::SCHEDULED_ACTION.contains(&key) {
            return Some(format!("{key} belongs inside a ScheduledActions entry"));
        }
    } else if parent == attr::TARGET_TRACKING {
        if matches!(key, "MinCapacity" | "MaxCapacity") {
            return Some(format!(
                "{key} belongs at the top level of the item, not inside TargetTracking"
            ));
        }
        if attr::ITEM.contains(&key) || attr::SCHEDULED_ACTION.contains(&key) {
            return Some(format!("{key} does not belong inside TargetTracking"));
        }
    } else if in_action {
        if attr::TARGET_TRACKING_MAP.contains(&key) {
            return Some(format!(
                "scheduled actions set only MinCapacity / MaxCapacity; {key} belongs in the item's TargetTracking map"
            ));
        }
        if attr::ITEM.contains(&key) {
            return Some(format!("{key} belongs at the top level of the item"));
        }
    }
    None
}

/// The message for an attribute `key` not allowed under `parent`: where it
/// belongs, what to write instead, or the closest allowed name.
pub fn unknown_attribute_message(key: &str, parent: &str, allowed: &[&str]) -> String {
    let mut msg = String::from("unknown attribute");
    if let Some(hint) = misplaced_hint(key, parent) {
        msg.push_str("; ");
        msg.push_str(&hint);
    } else if let Some((_, hint)) = FOREIGN_ATTRIBUTES.iter().find(|(k, _)| *k == key) {
        msg.push_str("; ");
        msg.push_str(hint);
    } else if let Some(best) = closest(key, allowed.iter().copied()) {
        if best.eq_ignore_ascii_case(key) {
            msg.push_str(&format!(
                " (names are case-sensitive); did you mean {best}?"
            ));
        } else {
            msg.push_str(&format!("; did you mean {best}?"));
        }
    } else {
        msg.push_str(&format!("; expected one of {}", allowed.join(", ")));
    }
    msg
}

//! What an alias points to, asked of the Lambda control plane only when it
//! matters, and remembered in the state (`AliasCheck`) so that the tick asks
//! rarely (the control plane's 15 requests/s per account are shared with the
//! user's deploys):
//!
//! * **An alias and a version sharing PC** (issue 12): a policy on
//!   `fn:live` and one on `fn:3` while `live` points to 3 name the same
//!   provisioned concurrency, and Lambda refuses the second config with 409
//!   `ResourceConflictException`. [`shared_pc_pairs`] finds the suspicious
//!   pairs from the loaded policies alone (same function, an alias and a
//!   numeric version both with a policy); only for those the tick calls
//!   `GetAlias`, at most once per [`ALIAS_RECHECK`], and leaves the version
//!   alone while the alias points to it.
//! * **A deploy resetting the capacity** (issue 14): when the tick records a
//!   `Drift` on an alias, [`drift_origin`] asks (at most once per
//!   [`DRIFT_RECHECK`]) whether the alias moved to a new version and whether
//!   CloudFormation manages the function: SAM's `AutoPublishAlias` with
//!   `ProvisionedConcurrencyConfig` does both on every deploy.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

use crate::core::state::AliasCheck;
use crate::ports::{ConcurrencyApi, PortError, StoredResource};

/// How long a pair's `GetAlias` answer is trusted.
pub const ALIAS_RECHECK: TimeDelta = TimeDelta::hours(1);

/// How long a drift's `GetAlias` and `ListTags` answers are trusted: an
/// alias that drifts every minute (another controller) costs two calls per
/// this period, not two a minute.
pub const DRIFT_RECHECK: TimeDelta = TimeDelta::minutes(10);

/// Where the activity records and `explain` send the reader.
pub const MIGRATION_SECTION: &str = "README: Migrating from AWS Application Auto Scaling";

/// Marks a drift explained by a deploy ([`drift_origin`]); `explain` looks for it.
pub const DEPLOY_MARK: &str = "reset by a deploy";

/// `true` for a published version's qualifier (`3`), `false` for an alias.
pub fn is_version(qualifier: &str) -> bool {
    !qualifier.is_empty() && qualifier.bytes().all(|b| b.is_ascii_digit())
}

/// The suspicious pairs among `loaded`: for each version resource (key
/// `function:<f>:<n>`) with a valid, enabled policy, the aliases of the same
/// function that have one too, sorted. No call: the policies alone.
pub fn shared_pc_pairs(loaded: &[StoredResource]) -> HashMap<String, Vec<String>> {
    // function -> (aliases, version keys)
    let mut by_function: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for r in loaded {
        let Ok(p) = &r.policy else { continue };
        if !p.enabled {
            continue;
        }
        let slot = by_function.entry(p.resource.function.as_str()).or_default();
        if is_version(&p.resource.qualifier) {
            slot.1.push(r.key.clone());
        } else {
            slot.0.push(p.resource.qualifier.clone());
        }
    }
    let mut pairs = HashMap::new();
    for (_, (mut aliases, versions)) in by_function {
        if aliases.is_empty() {
            continue;
        }
        aliases.sort();
        for v in versions {
            pairs.insert(v, aliases.clone());
        }
    }
    pairs
}

/// Which of `aliases` points to `version` of `function`: the cached answer
/// while it is fresh, otherwise `GetAlias` for each alias (stopping at the
/// first that points here). Returns the alias found, the check to store
/// (`None`: the cached one still holds) and the number of calls made.
pub async fn alias_pointing_here<C: ConcurrencyApi>(
    lambda: &C,
    function: &str,
    version: &str,
    aliases: &[String],
    cached: Option<&AliasCheck>,
    now: DateTime<Utc>,
) -> Result<(Option<String>, Option<AliasCheck>, usize), PortError> {
    if let Some(c) = cached.filter(|c| fresh(c, now, ALIAS_RECHECK) && aliases.contains(&c.alias)) {
        let here = (c.version == version).then(|| c.alias.clone());
        return Ok((here, None, 0));
    }
    let mut calls = 0;
    let mut last = None;
    for alias in aliases {
        calls += 1;
        let Some(target) = lambda.alias_target(function, alias).await? else {
            continue;
        };
        let check = AliasCheck {
            alias: alias.clone(),
            version: target.version,
            stack: None,
            at: now,
        };
        if check.version == version {
            return Ok((Some(alias.clone()), Some(check), calls));
        }
        last = Some(check);
    }
    Ok((
        None,
        Some(last.unwrap_or_else(|| unanswered(aliases, now))),
        calls,
    ))
}

/// The check stored when Lambda gave no version for `aliases` (no such
/// alias, or the call failed): it points nowhere, and while it is fresh the
/// tick does not ask again.
pub fn unanswered(aliases: &[String], now: DateTime<Utc>) -> AliasCheck {
    AliasCheck {
        alias: aliases.first().cloned().unwrap_or_default(),
        version: String::new(),
        stack: None,
        at: now,
    }
}

/// The one report for a version that shares PC with `alias`.
pub fn shared_pc_message(function: &str, version: &str, alias: &str) -> String {
    format!(
        "function:{function}:{version} and function:{function}:{alias} name the same provisioned \
         concurrency: alias {alias} points to version {version}, and Lambda refuses a config on \
         both (409 ResourceConflictException). pcscale scales function:{function}:{alias} and \
         leaves function:{function}:{version} alone; delete the policy of one of the two (a \
         config still on function:{function}:{version} makes Lambda refuse the alias's until it \
         is deleted)"
    )
}

/// What a drift on an alias says about its origin, to append to the drift's
/// cause: whether the alias moved to another version since pcscale last
/// looked and whether CloudFormation manages the function. Uses `cached`
/// while fresh ([`DRIFT_RECHECK`]); otherwise `GetAlias`, then `ListTags`.
/// Returns the text (empty when nothing points at a deploy), the check to
/// store, and the number of calls made.
pub async fn drift_origin<C: ConcurrencyApi>(
    lambda: &C,
    function: &str,
    alias: &str,
    cached: Option<&AliasCheck>,
    now: DateTime<Utc>,
) -> Result<(String, Option<AliasCheck>, usize), PortError> {
    if is_version(alias) {
        return Ok((String::new(), None, 0));
    }
    let cached = cached.filter(|c| c.alias == alias);
    if let Some(c) = cached.filter(|c| fresh(c, now, DRIFT_RECHECK)) {
        return Ok((origin_text(alias, None, c), None, 0));
    }
    let Some(target) = lambda.alias_target(function, alias).await? else {
        return Ok((String::new(), None, 1));
    };
    let stack = lambda.cloudformation_stack(&target.function_arn).await?;
    let check = AliasCheck {
        alias: alias.to_owned(),
        version: target.version,
        stack,
        at: now,
    };
    let before = cached.map(|c| c.version.as_str());
    Ok((origin_text(alias, before, &check), Some(check), 2))
}

/// The text of [`drift_origin`]: `before` is the version the alias pointed
/// to at the previous check, when there was one.
fn origin_text(alias: &str, before: Option<&str>, now: &AliasCheck) -> String {
    let moved = before.filter(|b| !b.is_empty() && *b != now.version);
    match (&now.stack, moved) {
        (Some(stack), moved) => {
            let moved = match moved {
                Some(b) => format!("alias {alias} moved from version {b} to {}", now.version),
                None => format!("alias {alias} points to version {}", now.version),
            };
            format!(
                "; {DEPLOY_MARK}? the function is managed by CloudFormation stack {stack} (tag \
                 aws:cloudformation:stack-name) and {moved}: a SAM AutoPublishAlias deploy with \
                 ProvisionedConcurrencyConfig sets the capacity on every deploy. Remove \
                 ProvisionedConcurrencyConfig from the template and let pcscale manage it \
                 ({MIGRATION_SECTION})"
            )
        }
        (None, Some(b)) => format!(
            "; {DEPLOY_MARK}? alias {alias} moved from version {b} to {}: a deploy that publishes \
             a version and sets ProvisionedConcurrencyConfig resets the capacity \
             ({MIGRATION_SECTION})",
            now.version
        ),
        (None, None) => String::new(),
    }
}

/// `check` was read less than `ttl` ago (and not in the future).
fn fresh(check: &AliasCheck, now: DateTime<Utc>, ttl: TimeDelta) -> bool {
    check.at <= now && now - check.at < ttl
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::parse_policy;
    use crate::core::state::State;

    fn stored(key: &str, enabled: bool) -> StoredResource {
        let policy = parse_policy(&serde_json::json!({
            "pk": key, "sk": "policy", "MinCapacity": 0, "MaxCapacity": 10, "Enabled": enabled,
        }));
        StoredResource {
            key: key.into(),
            policy,
            state: State::default(),
        }
    }

    #[test]
    fn only_a_version_beside_an_alias_of_the_same_function_is_suspicious() {
        let loaded = vec![
            stored("function:a:live", true),
            stored("function:a:3", true),
            stored("function:a:beta", true),
            stored("function:b:7", true),
            stored("function:c:live", true),
            stored("function:c:2", false),
        ];
        assert!(loaded.iter().all(|r| r.policy.is_ok()), "{loaded:#?}");
        let pairs = shared_pc_pairs(&loaded);
        assert_eq!(
            pairs,
            HashMap::from([(
                "function:a:3".to_owned(),
                vec!["beta".to_owned(), "live".to_owned()]
            )])
        );
    }

    fn check(version: &str, stack: Option<&str>, at: DateTime<Utc>) -> AliasCheck {
        AliasCheck {
            alias: "live".into(),
            version: version.into(),
            stack: stack.map(str::to_owned),
            at,
        }
    }

    #[test]
    fn a_drift_names_the_stack_and_the_move() {
        let now = Utc::now();
        let text = origin_text("live", Some("3"), &check("4", Some("shop"), now));
        assert!(text.contains("CloudFormation stack shop"), "{text}");
        assert!(text.contains("moved from version 3 to 4"), "{text}");
        assert!(text.contains(MIGRATION_SECTION), "{text}");
        let moved_only = origin_text("live", Some("3"), &check("4", None, now));
        assert!(moved_only.contains(DEPLOY_MARK), "{moved_only}");
        // Neither a stack nor a move: nothing points at a deploy.
        assert_eq!(origin_text("live", Some("4"), &check("4", None, now)), "");
    }

    #[test]
    fn checks_expire_and_future_ones_are_not_trusted() {
        let now = Utc::now();
        assert!(fresh(
            &check("1", None, now - TimeDelta::minutes(59)),
            now,
            ALIAS_RECHECK
        ));
        assert!(!fresh(
            &check("1", None, now - TimeDelta::minutes(61)),
            now,
            ALIAS_RECHECK
        ));
        assert!(!fresh(
            &check("1", None, now + TimeDelta::minutes(5)),
            now,
            ALIAS_RECHECK
        ));
    }
}

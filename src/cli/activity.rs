//! `pcscale activity [RESOURCE] [--since T] [--limit N]` and `pcscale explain RESOURCE`
//! (DESIGN.md §4): the 3 a.m. tools.
//!
//! * `activity` prints what pcscale recorded (one record per change and per
//!   error, DESIGN.md §2.3), newest first: of one resource, or of every
//!   resource when none is given (as `describe-scaling-activities` does).
//! * `explain` answers "what will the next tick do, and why?" without doing
//!   it: it loads the policy and state, observes exactly what a tick observes
//!   (the same metric queries, current config and limits), and runs the real
//!   [`crate::core::decide`] on them. The rules live only in the core; this
//!   file gathers inputs and prints the decision's own reason (band in force
//!   and which scheduled action set it, demand series, target, cooldown
//!   remaining, guard-rails that cut the step). It writes nothing and calls
//!   no Lambda write API.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::policy::{aws_ports, next_scheduled, render_table, resource_arg, tick_settings};
use super::{CliError, Exit, GlobalOpts, OutputFormat, parse_now, print_json, print_line};
use crate::core::decide::{
    Action, CurrentPc, Decision, Demand, Limits, Observation, PcStatus, Series,
};
use crate::core::policy::BandSource;
use crate::core::policy::{MetricKind, Policy};
use crate::core::state::{ClaimVerdict, MemoryRead, State};
use crate::core::window::{Horizon, PublicationDelay};
use crate::ports::{ConcurrencyApi, MetricQuery, MetricsSource};
use crate::tick::{Plan, Reserved, allowed, plan, queries_for};

/// Arguments of `pcscale activity`.
#[derive(Debug, Clone, clap::Args)]
pub struct ActivityArgs {
    /// The resource, e.g. function:checkout:live; every resource when omitted.
    #[arg(value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// Only records at or after this instant: RFC 3339
    /// (2025-03-01T10:00:00Z) or an age such as 90m, 6h, 7d.
    #[arg(long, value_name = "T", value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many records, newest first.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Move the activity an older pcscale kept in the policy table to the
    /// activity table (once, after upgrading), then exit.
    #[arg(long, conflicts_with_all = ["resource", "since"])]
    pub migrate: bool,
}

/// `--since`: an instant, or an age counted back from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// An RFC 3339 instant.
    At(DateTime<Utc>),
    /// This long before now.
    Ago(chrono::TimeDelta),
}

impl Since {
    /// The instant, given the clock.
    pub fn instant(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Since::At(t) => t,
            Since::Ago(d) => now - d,
        }
    }
}

fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Since::At(t.with_timezone(&Utc)));
    }
    let bad = || format!("{s:?}: expected an RFC 3339 instant or an age such as 90m, 6h, 7d");
    let (digits, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    // The table keeps 30 days of activity; allow a year before refusing.
    if !(0..=366 * 86_400 / secs).contains(&n) {
        return Err(bad());
    }
    Ok(Since::Ago(chrono::TimeDelta::seconds(n * secs)))
}

/// Arguments of `pcscale explain`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The resource, e.g. function:checkout:live.
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// Explain as of this instant instead of the clock (RFC 3339). For tests
    /// and for replaying "what did it think at 03:12?".
    #[arg(long, value_name = "RFC3339", hide = true, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs `pcscale activity [RESOURCE] [--since T] [--limit N]`.
pub async fn run_activity(args: &ActivityArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let resource = args
        .resource
        .as_deref()
        .map(resource_arg)
        .transpose()?
        .map(|r| r.to_string());
    let since = args.since.map(|s| s.instant(Utc::now()));
    let ports = aws_ports(global).await?;
    if args.migrate {
        let moved = ports.store.migrate_activity().await?;
        match global.output {
            OutputFormat::Json => print_json(&json!({
                "moved": moved,
                "from": ports.store.table(),
                "to": ports.store.activity_table(),
            }))?,
            OutputFormat::Text => print_line(&format!(
                "moved {moved} activity records from {} to {}",
                ports.store.table(),
                ports.store.activity_table()
            ))?,
        }
        return Ok(Exit::Success);
    }
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let records = ports
        .store
        .recent_activities(resource.as_deref(), since, limit)
        .await?;
    match global.output {
        OutputFormat::Json => print_json(&json!({
            "resource": resource,
            "since": since,
            "activity": records,
        }))?,
        OutputFormat::Text => {
            if records.is_empty() {
                let whose = resource
                    .as_deref()
                    .map_or_else(|| "any resource".to_owned(), str::to_owned);
                let when = since.map_or_else(String::new, |t| format!(" since {}", rfc3339(t)));
                print_line(&format!(
                    "no activity recorded for {whose}{when} (records are kept 30 days)"
                ))?;
                return Ok(Exit::Success);
            }
            let fmt = |c: Option<u32>| c.map_or_else(|| "-".to_owned(), |c| c.to_string());
            let all = resource.is_none();
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|a| {
                    let mut row = vec![rfc3339(a.at)];
                    if all {
                        row.push(a.resource.clone());
                    }
                    row.extend([
                        a.action.clone(),
                        format!("{} -> {}", fmt(a.from), fmt(a.to)),
                        a.outcome.clone(),
                        a.cause.clone(),
                    ]);
                    row
                })
                .collect();
            let header: &[&str] = if all {
                &[
                    "AT (UTC)",
                    "RESOURCE",
                    "ACTION",
                    "FROM -> TO",
                    "OUTCOME",
                    "CAUSE",
                ]
            } else {
                &["AT (UTC)", "ACTION", "FROM -> TO", "OUTCOME", "CAUSE"]
            };
            for line in render_table(header, &rows) {
                print_line(&line)?;
            }
        }
    }
    Ok(Exit::Success)
}

/// What `explain` found: every input of the decision and the decision.
struct Explanation {
    now: DateTime<Utc>,
    /// The publication delay the tick assumes (`PCSCALE_METRIC_DELAY_SECONDS`).
    delay: PublicationDelay,
    policy: Policy,
    state: State,
    /// Why the tick would not decide at all (allow-list, claim in flight, ...).
    skip: Option<String>,
    dry_run: bool,
    observation: Option<Observation>,
    decision: Option<Decision>,
    /// Errors a tick would meet while observing (it records them as activity).
    errors: Vec<String>,
    /// Whose settings (allow-list, guard-rail, dry run) the explanation uses.
    settings_from: String,
}

/// Runs `pcscale explain`.
pub async fn run_explain(args: &ExplainArgs, global: &GlobalOpts) -> Result<Exit, CliError> {
    let resource = resource_arg(&args.resource)?.to_string();
    let local = tick_settings()?;
    let ports = aws_ports(global).await?;
    // The deployed controller's settings, not this shell's, when it has
    // published them (src/controller.rs).
    let (settings, settings_from) = match ports.store.get_controller().await {
        Ok(Some(c)) => (
            c.settings(&local),
            format!(
                "the controller's (pcscale {}, last tick {})",
                c.version,
                rfc3339(c.last_tick_at)
            ),
        ),
        Ok(None) => (
            local,
            "this shell's PCSCALE_* environment: the controller has not published its settings (no tick yet, or an older pcscale-lambda)".to_owned(),
        ),
        Err(e) => (
            local,
            format!("this shell's PCSCALE_* environment: the controller item is unreadable ({e})"),
        ),
    };
    // The CLI is a driver: it may read the clock; the core is handed `now`.
    let now = args.now.unwrap_or_else(Utc::now);
    let Some(stored) = ports.store.load_resource(&resource).await? else {
        return Err(CliError::Other(format!(
            "no policy for {resource} in table {}",
            global.table
        )));
    };
    let policy = match stored.policy {
        Ok(p) => p,
        Err(invalid) => {
            // The tick refuses an invalid policy: that is the explanation.
            match global.output {
                OutputFormat::Json => print_json(&json!({
                    "resource": resource,
                    "now": now,
                    "valid": false,
                    "problems": invalid.problems,
                    "next_tick": "Error: invalid policy; the tick skips it and records the problems",
                }))?,
                OutputFormat::Text => {
                    print_line(&format!("{resource}: the policy item is invalid"))?;
                    for p in &invalid.problems {
                        print_line(&format!("  {p}"))?;
                    }
                    print_line(
                        "next tick: skips it and records the problems as activity (fix it with `pcscale policy put`)",
                    )?;
                }
            }
            return Ok(Exit::Success);
        }
    };
    let dry_run = settings.dry_run || policy.dry_run;
    let mut ex = Explanation {
        now,
        delay: settings.metric_delay,
        state: stored.state,
        skip: None,
        dry_run,
        observation: None,
        decision: None,
        errors: Vec::new(),
        settings_from,
        policy,
    };

    // Another controller (Application Auto Scaling, a deploy) fighting pcscale.
    if let Some(w) = repeated_drift(&ports, &resource, now).await {
        ex.errors.push(w);
    }

    // The same gates as the tick, in the same order (src/tick.rs).
    if !ex.policy.enabled {
        ex.skip = Some("policy disabled (Enabled = false): the resource is left alone".into());
    } else if !allowed(&settings, &ex.policy.resource.function) {
        ex.skip = Some(format!(
            "function {} is not in PCSCALE_ALLOWED_FUNCTIONS: the tick refuses it",
            ex.policy.resource.function
        ));
    } else {
        observe_and_decide(&mut ex, &ports, &settings).await;
    }

    match global.output {
        OutputFormat::Json => print_json(&explanation_json(&resource, &ex))?,
        OutputFormat::Text => {
            for line in explanation_text(&resource, &ex) {
                print_line(&line)?;
            }
        }
    }
    Ok(Exit::Success)
}

/// How far back `explain` looks for changes made outside pcscale.
const DRIFT_LOOKBACK_HOURS: i64 = 24;

/// A warning when the activity log holds two or more `Drift` records (a
/// capacity pcscale did not set) in the last day: something else manages the
/// alias, and each tick adopts and undoes its change.
async fn repeated_drift(
    ports: &crate::aws::AwsPorts,
    resource: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let since = now - chrono::TimeDelta::hours(DRIFT_LOOKBACK_HOURS);
    let records = ports
        .store
        .recent_activities(Some(resource), Some(since), 50)
        .await
        .ok()?;
    let drifts: Vec<_> = records.iter().filter(|a| a.action == "Drift").collect();
    let latest = drifts.first()?;
    // One drift the tick traced to a deploy is enough to say so.
    if let Some((_, origin)) = latest.cause.split_once(crate::alias::DEPLOY_MARK) {
        return Some(format!(
            "warning: provisioned concurrency was changed outside pcscale at {}, {}{origin}",
            rfc3339(latest.at),
            crate::alias::DEPLOY_MARK
        ));
    }
    (drifts.len() >= 2).then(|| {
        format!(
            "warning: provisioned concurrency was changed outside pcscale {} times in the last {DRIFT_LOOKBACK_HOURS} h \
             (latest {}: {}). Something else manages this alias: an Application Auto Scaling scalable \
             target (deregister it), or a deploy that sets ProvisionedConcurrencyConfig (SAM \
             AutoPublishAlias, CloudFormation). See the README, \"Migrating from AWS Application Auto Scaling\"",
            drifts.len(),
            rfc3339(latest.at),
            latest.cause
        )
    })
}

/// Observes what a tick observes and runs the core decision, mirroring the
/// tick's order: metrics and account headroom first, then the current config,
/// then [`plan`], the tick's own, reading reserved concurrency when the
/// plan needs it.
async fn observe_and_decide(
    ex: &mut Explanation,
    ports: &crate::aws::AwsPorts,
    settings: &crate::tick::TickOptions,
) {
    let memory_mb = explained_memory(ex, ports).await;
    let policy = &ex.policy;
    let queries = queries_for(policy);
    let horizon = Horizon {
        now: ex.now,
        delay: settings.metric_delay,
    };
    let answers = ports.metrics.fetch(&queries, horizon).await;
    let answer = |metric: MetricKind| {
        queries
            .iter()
            .find(|q: &&MetricQuery| q.metric == metric)
            .and_then(|q| answers.get(q).cloned())
            .unwrap_or_else(|| Demand::Unknown(format!("no answer for {}", metric.as_str())))
    };
    let unreserved = match ports.lambda.unreserved_concurrency().await {
        Ok(u) => Some(u),
        Err(e) => {
            ex.errors.push(format!(
                "account settings unavailable ({e}); scale-outs limited to the band"
            ));
            None
        }
    };
    let current = match ports.lambda.get_config(&policy.resource).await {
        Ok(c) => c,
        Err(e) => {
            ex.skip = Some(format!(
                "the current config cannot be read ({e}); the tick records this error and changes nothing"
            ));
            return;
        }
    };
    if let Some(p) = &ex.state.pending {
        // The tick's own rule for another tick's claim (`Pending::verdict`).
        let observed = current.as_ref().map_or(0, |c| c.requested);
        let claim = format!("another tick's claim {} -> {}", p.from, p.to);
        match p.verdict(ex.now, settings.claim_lease_secs, observed) {
            ClaimVerdict::FirstSighting { applied } => {
                let what = if applied { "is applied" } else { "is in flight" };
                ex.skip = Some(format!(
                    "{claim} (claimed at {}) {what}; the next tick notes its first sighting and skips this resource",
                    rfc3339(p.claimed_at)
                ));
                return;
            }
            ClaimVerdict::InFlight(age) => {
                ex.skip = Some(format!(
                    "{claim} is in flight (seen unsettled for {age}s); the next tick skips this resource"
                ));
                return;
            }
            ClaimVerdict::Settle => ex.errors.push(format!(
                "{claim} claimed at {} is applied or abandoned; the next tick first reconciles it from what Lambda reports (the decision below uses the stored state)",
                rfc3339(p.claimed_at)
            )),
        }
    }
    let mut obs = Observation {
        demand: answer(MetricKind::ConcurrentExecutions),
        utilization: policy
            .target_tracking
            .as_ref()
            .filter(|tt| tt.metric == MetricKind::ProvisionedConcurrencyUtilization)
            .map(|_| answer(MetricKind::ProvisionedConcurrencyUtilization)),
        current,
        limits: Limits {
            guard_rail: settings.max_per_function,
            reserved: None,
            unreserved,
        },
        memory_mb,
    };
    // The tick's own plan; reserved concurrency read fresh when it matters
    // (the tick may use its cached read, at most RESERVED_CACHE_SECS old).
    let decision = match plan(policy, &ex.state, &obs, Reserved::NotRead, ex.now) {
        Plan::Decided(d) => d,
        Plan::NeedsReserved => {
            let known = match ports
                .lambda
                .reserved_concurrency(&policy.resource.function)
                .await
            {
                Ok(r) => {
                    obs.limits.reserved = r;
                    r
                }
                Err(e) => {
                    ex.errors.push(format!(
                        "reserved concurrency unreadable ({e}): the tick records an error and does not scale out"
                    ));
                    None
                }
            };
            match plan(policy, &ex.state, &obs, Reserved::Known(known), ex.now) {
                Plan::Decided(d) => d,
                Plan::NeedsReserved => return,
            }
        }
    };
    ex.observation = Some(obs);
    ex.decision = Some(decision);
}

/// The function's memory as the tick prices the cold-start level with it:
/// the state's read while it is fresh (a day), otherwise read now (only for
/// a policy with a cold-start level, the one that uses it).
async fn explained_memory(ex: &mut Explanation, ports: &crate::aws::AwsPorts) -> Option<u32> {
    let cached = ex.state.memory;
    if !MemoryRead::due(cached.as_ref(), ex.now) {
        return cached.and_then(|m| m.mb);
    }
    let priced = ex.policy.target_tracking.as_ref().is_some_and(|tt| {
        tt.metric == MetricKind::ConcurrentExecutions && tt.cold_starts.is_some()
    });
    if !priced {
        return None;
    }
    match ports.lambda.function_memory(&ex.policy.resource).await {
        Ok(mb) => mb,
        Err(e) => {
            ex.errors.push(format!(
                "the function's memory is unreadable ({e}): the cold-start level uses its fallback price"
            ));
            cached.and_then(|m| m.mb)
        }
    }
}

fn source_text(s: &BandSource) -> String {
    match s {
        BandSource::Policy => "the policy".to_owned(),
        BandSource::Action { name, fired_at } => {
            format!("scheduled action {name:?}, fired {}", rfc3339(*fired_at))
        }
    }
}

/// Which minutes the decision read, and which it left out as not yet
/// published, e.g. `newest published minute 10:03 UTC; 10:04..10:06 not yet
/// published (delay 180 s): left out, not read as idle`.
fn published_text(s: &Series, delay: PublicationDelay) -> String {
    let hm = |t: DateTime<Utc>| t.format("%H:%M").to_string();
    let newest = s.newest.map_or_else(
        || "no published minute in the window".to_owned(),
        |t| format!("newest published minute {} UTC", hm(t)),
    );
    match (s.unpublished, s.newest) {
        (0, _) => format!("{newest}; every requested minute published"),
        (n, Some(t)) => {
            let first = t + chrono::TimeDelta::minutes(1);
            let last = t + chrono::TimeDelta::minutes(i64::from(n));
            let span = if n == 1 {
                hm(first)
            } else {
                format!("{}..{}", hm(first), hm(last))
            };
            format!(
                "{newest}; {span} not yet published (delay {} s): left out, not read as idle",
                delay.secs()
            )
        }
        (n, None) => format!(
            "{newest}; {n} newer minutes not yet published (delay {} s): left out, not read as idle",
            delay.secs()
        ),
    }
}

fn series_text(d: &Demand) -> String {
    match d {
        Demand::Unknown(why) => format!("unknown ({why}); unknown demand never scales in"),
        Demand::Known(Series { minutes, .. }) => {
            // The most recent minutes are what matter at 3 a.m.; show the last 15.
            let shown: Vec<String> = minutes
                .iter()
                .rev()
                .take(15)
                .rev()
                .map(|m| m.map_or_else(|| "·".to_owned(), |v| format!("{v}")))
                .collect();
            let skipped = minutes.len().saturating_sub(shown.len());
            format!(
                "{}{} (per minute, oldest first; · = no datapoint = 0)",
                if skipped > 0 {
                    format!("… {skipped} earlier, ")
                } else {
                    String::new()
                },
                shown.join(" ")
            )
        }
    }
}

fn current_text(c: &Option<CurrentPc>) -> String {
    match c {
        None => "no provisioned-concurrency config".to_owned(),
        Some(c) => {
            let status = match c.status {
                PcStatus::Ready => "READY".to_owned(),
                PcStatus::InProgress => "IN_PROGRESS".to_owned(),
                PcStatus::Failed => format!(
                    "FAILED: {}",
                    c.status_reason.as_deref().unwrap_or("no reason given")
                ),
            };
            format!(
                "{} requested, {} allocated, {status}",
                c.requested, c.allocated
            )
        }
    }
}

fn action_text(d: &Decision, dry_run: bool) -> String {
    let step = match d.action {
        Action::Hold => format!("hold at {}", d.to),
        Action::Skip => format!("skip (stays at {})", d.from),
        Action::ScaleOut => format!(
            "scale out {} -> {} (PutProvisionedConcurrencyConfig)",
            d.from, d.to
        ),
        Action::ScaleIn => format!(
            "scale in {} -> {} (PutProvisionedConcurrencyConfig)",
            d.from, d.to
        ),
        Action::Delete => format!(
            "delete the config {} -> 0 (DeleteProvisionedConcurrencyConfig)",
            d.from
        ),
    };
    if dry_run && d.action.changes_capacity() {
        format!("{step}; dry run: recorded, not applied")
    } else {
        step
    }
}

fn explanation_text(resource: &str, ex: &Explanation) -> Vec<String> {
    let p = &ex.policy;
    let mut out = vec![format!("{resource} at {}", rfc3339(ex.now))];
    out.push(format!("  settings     {}", ex.settings_from));
    out.push(format!(
        "  policy       {}",
        p.summary()
            .split_once(": ")
            .map_or(p.summary(), |(_, s)| s.to_owned())
    ));
    if let Some(tt) = &p.target_tracking {
        out.push(format!(
            "  target       {} of {} (scale-out cooldown {} s, scale-in cooldown {} s, scale-in factor {}{})",
            tt.target_value,
            tt.metric.as_str(),
            tt.scale_out_cooldown_secs,
            tt.scale_in_cooldown_secs,
            tt.scale_in_factor,
            if tt.disable_scale_in { ", scale-in disabled" } else { "" }
        ));
    }
    let band = crate::core::effective_band(p, ex.now);
    out.push(format!(
        "  band now     {}..{}: min set by {}; max set by {}",
        band.min,
        band.max,
        source_text(&band.min_source),
        source_text(&band.max_source)
    ));
    if let Some((name, at, a)) = next_scheduled(p, ex.now) {
        let sets: Vec<String> = [("min", a.min_capacity), ("max", a.max_capacity)]
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
            .collect();
        out.push(format!(
            "  next change  scheduled action {name:?} at {} sets {}",
            rfc3339(at),
            sets.join(", ")
        ));
    }
    let s = &ex.state;
    out.push(format!(
        "  state        version {}, last applied {}, last scale-out {}, last scale-in {}",
        s.version,
        s.capacity
            .map_or_else(|| "never".to_owned(), |c| c.to_string()),
        s.last_scale_out_at
            .map_or_else(|| "never".to_owned(), rfc3339),
        s.last_scale_in_at
            .map_or_else(|| "never".to_owned(), rfc3339),
    ));
    if let Some(line) = history_line(p, s, ex.now) {
        out.push(format!("  history      {line}"));
    }
    if let Some(obs) = &ex.observation {
        out.push(format!("  current PC   {}", current_text(&obs.current)));
        out.push(format!("  demand       {}", series_text(&obs.demand)));
        if let Demand::Known(s) = &obs.demand {
            out.push(format!("  published    {}", published_text(s, ex.delay)));
        }
        if let Some(u) = &obs.utilization {
            out.push(format!("  utilisation  {}", series_text(u)));
        }
        let l = &obs.limits;
        let opt = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        out.push(format!(
            "  limits       PCSCALE_MAX_PER_FUNCTION {}, reserved {}, account unreserved {}",
            opt(l.guard_rail),
            opt(l.reserved),
            opt(l.unreserved)
        ));
    }
    for e in &ex.errors {
        out.push(format!("  note         {e}"));
    }
    match (&ex.skip, &ex.decision) {
        (Some(why), _) => out.push(format!("next tick    skip: {why}")),
        (None, Some(d)) => {
            let r = &d.reason;
            out.push(format!("  rule         {:?}: {}", r.rule, r.summary));
            let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
            out.push(format!(
                "  numbers      latest demand {}, window max {}, utilisation {}, target {}, wanted {}",
                num(r.demand_latest),
                num(r.demand_window_max),
                num(r.utilization),
                num(r.target_value),
                r.wanted.map_or_else(|| "-".to_owned(), |w| w.to_string())
            ));
            if let Some(secs) = r.cooldown_remaining_secs {
                out.push(format!("  cooldown     {secs} s remaining"));
            }
            if r.clamps.is_empty() {
                out.push("  guard-rails  none hit".to_owned());
            } else {
                let hits: Vec<String> = r
                    .clamps
                    .iter()
                    .map(|c| format!("{} ({})", c.by, c.limit))
                    .collect();
                out.push(format!("  guard-rails  hit: {}", hits.join(", ")));
            }
            out.push(format!("next tick    {}", action_text(d, ex.dry_run)));
        }
        (None, None) => out.push("next tick    no decision could be made".to_owned()),
    }
    out
}

/// What the daily forecast ([`crate::core::history`]) predicts next, and
/// from which days; `None` when the policy does not use history.
fn history_line(p: &Policy, s: &State, now: DateTime<Utc>) -> Option<String> {
    let days = p
        .target_tracking
        .as_ref()?
        .cold_starts
        .as_ref()
        .map(|c| c.history_days)
        .filter(|d| *d > 0)?;
    let Some(f) = &s.forecast else {
        return Some(format!(
            "no forecast yet: the next tick reads the last {days} days of ConcurrentExecutions"
        ));
    };
    let read = format!(
        "forecast from {} day(s) read (newest minute {}), next refresh {}",
        f.days_read,
        f.newest.map_or_else(|| "none".to_owned(), rfc3339),
        rfc3339(f.next_refresh_at)
    );
    let next = f
        .rises
        .iter()
        .find(|r| r.at + chrono::TimeDelta::minutes(i64::from(r.minutes)) > now);
    Some(match next {
        None => format!("{read}; no rise predicted ahead"),
        Some(r) => {
            let seen: Vec<String> = r
                .seen_days()
                .iter()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect();
            format!(
                "{read}; next predicted rise: {} unit(s) from {} for {} min, seen on {} of {} {} read ({}); {} more predicted",
                r.units,
                rfc3339(r.at),
                r.minutes,
                r.hits,
                r.of,
                r.kind.plural(),
                seen.join(", "),
                f.rises.iter().filter(|x| x.at > r.at).count()
            )
        }
    })
}

fn explanation_json(resource: &str, ex: &Explanation) -> Value {
    let band = crate::core::effective_band(&ex.policy, ex.now);
    let next = next_scheduled(&ex.policy, ex.now).map(|(name, at, a)| {
        json!({"name": name, "at": at, "min_capacity": a.min_capacity, "max_capacity": a.max_capacity})
    });
    json!({
        "resource": resource,
        "now": ex.now,
        "metric_delay_secs": ex.delay.secs(),
        "valid": true,
        "policy": ex.policy,
        "state": ex.state,
        "band": band,
        "next_scheduled": next,
        "observation": ex.observation,
        "decision": ex.decision,
        "dry_run": ex.dry_run,
        "skip": ex.skip,
        "notes": ex.errors,
        "settings_from": ex.settings_from,
        "next_tick": match (&ex.skip, &ex.decision) {
            (Some(why), _) => format!("skip: {why}"),
            (None, Some(d)) => action_text(d, ex.dry_run),
            (None, None) => "no decision".to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::core::history::{DayKind, Forecast, PredictedRise};

    #[test]
    fn explain_says_what_the_forecast_predicts_and_from_which_days() {
        let now = Utc.with_ymd_and_hms(2025, 3, 10, 6, 0, 0).unwrap();
        let policy = crate::core::policy::parse_policy(&json!({
            "pk": "function:f:live", "MinCapacity": 0, "MaxCapacity": 10,
            "TargetTracking": {"TargetValue": 0.7, "ColdStarts": {}}
        }))
        .expect("valid");
        let none = history_line(&policy, &State::default(), now).expect("history on");
        assert!(none.contains("no forecast yet"), "{none}");
        let state = State {
            forecast: Some(Forecast {
                history_days: 14,
                newest: Some(now - TimeDelta::hours(3)),
                days_read: 14,
                next_refresh_at: now + TimeDelta::hours(21),
                rises: vec![PredictedRise {
                    at: now + TimeDelta::minutes(178),
                    minutes: 5,
                    units: 6,
                    hits: 2,
                    of: 5,
                    kind: DayKind::Weekday,
                    seen: 0b101,
                    expected: 2.0,
                }],
            }),
            ..State::default()
        };
        let line = history_line(&policy, &state, now).expect("history on");
        assert!(
            line.contains(
                "next predicted rise: 6 unit(s) from 2025-03-10T08:58:00Z for 5 min, seen on 2 of 5 \
                 weekdays read (2025-03-09, 2025-03-07)"
            ),
            "{line}"
        );
        let mut off = policy.clone();
        if let Some(c) = off
            .target_tracking
            .as_mut()
            .and_then(|t| t.cold_starts.as_mut())
        {
            c.history_days = 0;
        }
        assert_eq!(history_line(&off, &state, now), None);
    }
}

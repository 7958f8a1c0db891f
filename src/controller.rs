//! What the deployed controller (the `pcscale-lambda` function) publishes
//! about itself after every tick: its settings and the tick's outcome, in one
//! item of the table (`pk = sk = "controller"`).
//!
//! The CLI runs on an operator's machine, whose environment is not the
//! Lambda's: `explain` and `status` read this item so that they answer with
//! the controller's allow-list, guard-rail and dry-run, not the shell's.

use std::collections::BTreeMap;

use crate::core::window::PublicationDelay;
use crate::tick::{TickOptions, TickSummary};

pub use crate::ports::{CONTROLLER_KEY, ControllerReport};

impl ControllerReport {
    /// The report of one tick run with `base` (the environment's options)
    /// and `ran` (the options that tick actually used).
    pub fn from_tick(summary: &TickSummary, base: &TickOptions, ran: &TickOptions) -> Self {
        let mut errors_by_kind = BTreeMap::new();
        for r in summary.resources.iter().filter(|r| r.error.is_some()) {
            *errors_by_kind.entry(r.reason.clone()).or_insert(0) += 1;
        }
        ControllerReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dry_run: base.dry_run,
            allowed_functions: base.allowed_functions.clone(),
            max_per_function: base.max_per_function,
            quiet_every_minutes: base.quiet_every_minutes,
            claim_lease_secs: base.claim_lease_secs,
            reconcile_minutes: base.reconcile_every_minutes,
            lambda_budget: base.lambda_budget,
            metric_delay_secs: base.metric_delay.secs(),
            last_tick_at: summary.now,
            last_tick_duration_ms: summary.duration_ms,
            last_tick_dry_run: summary.dry_run,
            segment: ran.segment.map(|s| format!("{}/{}", s.index, s.total)),
            resources: summary.totals.resources,
            changed: summary.totals.changed,
            errors: summary.totals.errors,
            skipped: summary.totals.skipped,
            carried: summary.totals.carried,
            errors_by_kind,
        }
    }

    /// `local` with the controller's settings in place of the shell's: what
    /// the deployed tick applies.
    pub fn settings(&self, local: &TickOptions) -> TickOptions {
        TickOptions {
            dry_run: self.dry_run,
            allowed_functions: self.allowed_functions.clone(),
            max_per_function: self.max_per_function,
            quiet_every_minutes: self.quiet_every_minutes,
            claim_lease_secs: self.claim_lease_secs,
            reconcile_every_minutes: self.reconcile_minutes,
            lambda_budget: self.lambda_budget,
            metric_delay: PublicationDelay::from_secs(u64::from(self.metric_delay_secs))
                .unwrap_or(local.metric_delay),
            ..local.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::{ResourceOutcome, Totals};

    #[test]
    fn errors_are_counted_by_reason_and_settings_replace_the_shells() {
        let outcome = |reason: &str, error: Option<&str>| ResourceOutcome {
            resource: "function:f:live".into(),
            from: None,
            to: None,
            action: crate::tick::Verb::Error,
            reason: reason.into(),
            error: error.map(str::to_owned),
            applied: false,
            dry_run: false,
            decision: None,
        };
        let summary = TickSummary {
            now: "2025-03-01T10:00:00Z".parse().unwrap(),
            duration_ms: 420,
            dry_run: false,
            resources: vec![
                outcome("invalid policy", Some("x")),
                outcome("invalid policy", Some("y")),
                outcome("held", None),
            ],
            totals: Totals {
                resources: 3,
                changed: 0,
                errors: 2,
                skipped: 0,
                carried: 0,
            },
            api_calls: Default::default(),
        };
        let base = TickOptions {
            max_per_function: Some(30),
            allowed_functions: Some(vec!["checkout".into()]),
            metric_delay: PublicationDelay::from_secs(120).unwrap(),
            ..TickOptions::default()
        };
        let r = ControllerReport::from_tick(&summary, &base, &base);
        assert_eq!(r.errors_by_kind.get("invalid policy"), Some(&2));
        assert_eq!(r.errors_by_kind.len(), 1);
        let local = TickOptions {
            max_per_function: Some(50),
            ..TickOptions::default()
        };
        let s = r.settings(&local);
        assert_eq!(s.max_per_function, Some(30));
        assert_eq!(s.allowed_functions, Some(vec!["checkout".to_owned()]));
        assert_eq!(
            s.metric_delay.secs(),
            120,
            "the controller's delay, not the shell's"
        );
    }
}

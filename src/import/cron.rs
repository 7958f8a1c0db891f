//! Vendor cron dialects -> AWS 6-field `cron()`.
//!
//! * **Alibaba Function Compute** `scheduleExpression`: `cron(s m h dom mon dow)`,
//!   seconds first. Function Compute's timers are the Go `robfig/cron` dialect
//!   (its documented `CRON_TZ=Asia/Shanghai 0 0 4 1 * *` prefix is that
//!   library's syntax): day-of-week `0-6` or `SUN-SAT`, **0 = Sunday**.
//! * **Tencent SCF** `TriggerCronConfig`: seven fields `s m h dom mon dow year`;
//!   Tencent's timer-trigger reference documents day-of-week `0-6` or
//!   `SUN-SAT`, **0 = Sunday, 1 = Monday**, year `1970-2099`.
//! * **AWS** (Application Auto Scaling / EventBridge): `cron(m h dom mon dow year)`,
//!   day-of-week `1-7` = **SUN-SAT**, and exactly one of day-of-month /
//!   day-of-week must be `?`.
//!
//! Day-of-week is therefore never copied digit for digit: it is expanded to a
//! set of days and re-emitted with AWS's names (`MON-FRI`), which no reader can
//! misnumber. When both day fields are restricted, classic cron (and
//! `robfig/cron`) fires when *either* matches; AWS cannot say that in one
//! expression, so the action is split in two.

use std::collections::BTreeSet;

/// Which vendor wrote the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Alibaba: six fields, seconds first, day-of-week 0-6 = SUN-SAT.
    Alibaba,
    /// Tencent: seven fields, seconds first, year last, day-of-week 0-6 = SUN-SAT.
    Tencent,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Alibaba => "Alibaba",
            Dialect::Tencent => "Tencent",
        }
    }
}

/// One AWS expression per returned entry, with the field it came from
/// (`None` normally; `Some("dom")` / `Some("dow")` when split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsCron {
    /// `cron(...)` in AWS's 6-field form.
    pub expression: String,
    /// Set when the source was split on day-of-month / day-of-week.
    pub split: Option<&'static str>,
}

/// The conversion and what it had to approximate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Converted {
    /// One expression, or two when day-of-month and day-of-week were both restricted.
    pub crons: Vec<AwsCron>,
    /// Approximations a user must hear about (seconds dropped, split, ...).
    pub notes: Vec<String>,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Converts the fields inside a vendor `cron(...)` (or a bare Tencent cron)
/// to AWS form. `fields` is the text between the parentheses.
pub(crate) fn to_aws(fields: &str, dialect: Dialect) -> Result<Converted, String> {
    let parts: Vec<&str> = fields.split_whitespace().collect();
    let expected = match dialect {
        Dialect::Alibaba => 6,
        Dialect::Tencent => 7,
    };
    if parts.len() != expected {
        let shape = match dialect {
            Dialect::Alibaba => "seconds minutes hours day-of-month month day-of-week",
            Dialect::Tencent => "seconds minutes hours day-of-month month day-of-week year",
        };
        return Err(format!(
            "{} cron needs {expected} fields ({shape}), got {}: {fields:?}",
            dialect.name(),
            parts.len()
        ));
    }
    let mut notes = Vec::new();

    let seconds = parts[0];
    let sec_set = expand(seconds, 0, 59, None, "seconds")?;
    match sec_set {
        Some(set) if set.len() == 1 && set.contains(&0) => {}
        Some(set) if set.len() == 1 => notes.push(format!(
            "seconds field {seconds:?} dropped: AWS cron has minute resolution, so it fires at second 0 of the same minute"
        )),
        _ => notes.push(format!(
            "seconds field {seconds:?} fires several times a minute; AWS cron fires once per matching minute (the band it sets is the same)"
        )),
    }

    let minutes = normalise(parts[1], 0, 59, None, "minutes")?;
    let hours = normalise(parts[2], 0, 23, None, "hours")?;
    let dom_raw = parts[3];
    let dom_any = is_any(dom_raw);
    let dom = if dom_any {
        "*".to_owned()
    } else {
        normalise(dom_raw, 1, 31, None, "day-of-month")?
    };
    let month = normalise(parts[4], 1, 12, Some(&MONTH_NAMES), "month")?;
    let dow_raw = parts[5];
    let dow_days = if is_any(dow_raw) {
        None
    } else {
        Some(weekdays(dow_raw, &mut notes)?)
    };
    let year = match dialect {
        Dialect::Alibaba => "*".to_owned(),
        Dialect::Tencent => normalise(parts[6], 1970, 2099, None, "year")?,
    };

    let crons = match dow_days {
        None => vec![AwsCron {
            expression: format!("cron({minutes} {hours} {dom} {month} ? {year})"),
            split: None,
        }],
        Some(days) if dom_any => vec![AwsCron {
            expression: format!(
                "cron({minutes} {hours} ? {month} {} {year})",
                aws_days(&days)
            ),
            split: None,
        }],
        Some(days) => {
            notes.push(format!(
                "both day-of-month {dom_raw:?} and day-of-week {dow_raw:?} are restricted: {} fires when either matches, AWS cron allows only one, so the action is split in two",
                dialect.name()
            ));
            vec![
                AwsCron {
                    expression: format!("cron({minutes} {hours} {dom} {month} ? {year})"),
                    split: Some("dom"),
                },
                AwsCron {
                    expression: format!(
                        "cron({minutes} {hours} ? {month} {} {year})",
                        aws_days(&days)
                    ),
                    split: Some("dow"),
                },
            ]
        }
    };
    Ok(Converted { crons, notes })
}

fn is_any(field: &str) -> bool {
    field == "*" || field == "?"
}

/// Validates a numeric field (optionally with names) and returns it upper-cased,
/// unchanged otherwise: AWS accepts the same `*`, `,`, `-`, `/` syntax there.
fn normalise(
    field: &str,
    lo: u32,
    hi: u32,
    names: Option<&[&str]>,
    what: &str,
) -> Result<String, String> {
    if field == "?" {
        return Err(format!(
            "'?' is only allowed in day-of-month and day-of-week, not in {what}"
        ));
    }
    expand(field, lo, hi, names, what)?;
    // Re-emit numbers without leading zeros (`05` -> `5`) and names upper-case.
    let token = |t: &str| match t.parse::<u32>() {
        Ok(n) => n.to_string(),
        Err(_) => t.to_ascii_uppercase(),
    };
    let items: Vec<String> = field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((a, b)) => format!("{}-{}", token(a), token(b)),
                None => token(range),
            };
            match step {
                Some(s) => format!("{range}/{}", token(s)),
                None => range,
            }
        })
        .collect();
    Ok(items.join(","))
}

/// Expands a cron field to the set of values it matches (`None` for `*`),
/// refusing anything outside `lo..=hi` or any syntax neither dialect has
/// (`L`, `W`, `#`: `robfig/cron` and Tencent do not support them).
fn expand(
    field: &str,
    lo: u32,
    hi: u32,
    names: Option<&[&str]>,
    what: &str,
) -> Result<Option<BTreeSet<u32>>, String> {
    if is_any(field) {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("{what}: bad step {s:?} in {field:?}"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (start, end) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, names, lo, what, field)?,
                value(b, names, lo, what, field)?,
            )
        } else {
            let v = value(range, names, lo, what, field)?;
            // `a/s` means "from a to the end, every s" in cron.
            (v, if item.contains('/') { hi } else { v })
        };
        if start < lo || end > hi || start > end {
            return Err(format!(
                "{what}: {item:?} in {field:?} is outside {lo}-{hi} (or a reversed range)"
            ));
        }
        set.extend((start..=end).step_by(step as usize));
    }
    Ok(Some(set))
}

fn value(
    text: &str,
    names: Option<&[&str]>,
    lo: u32,
    what: &str,
    field: &str,
) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    let upper = text.to_ascii_uppercase();
    names
        .and_then(|ns| ns.iter().position(|n| *n == upper))
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| i + lo)
        .ok_or_else(|| format!("{what}: {text:?} in {field:?} is not a number or a known name"))
}

/// Day-of-week as a set of days, 0 = Sunday (the Alibaba/Tencent numbering).
fn weekdays(field: &str, notes: &mut Vec<String>) -> Result<BTreeSet<u32>, String> {
    // 7 is not in either vendor's documented range, but many crons read it as
    // Sunday; accept it that way and say so rather than guess silently.
    let mut saw_seven = false;
    let mut items = Vec::new();
    for item in field.split(',') {
        let fixed = item
            .split('/')
            .next()
            .unwrap_or(item) // ok: split always yields a first piece
            .split('-')
            .any(|p| p == "7");
        if fixed {
            saw_seven = true;
        }
        items.push(item);
    }
    if saw_seven {
        // Only a bare `7` (not in a range) can be re-read as Sunday safely.
        let mut set = BTreeSet::new();
        for item in &items {
            if *item == "7" {
                set.insert(0);
            } else if let Some(s) = expand(item, 0, 6, Some(&DAY_NAMES), "day-of-week")? {
                set.extend(s);
            }
        }
        notes.push(format!(
            "day-of-week {field:?}: 7 is outside the documented 0-6 range and was read as Sunday"
        ));
        return Ok(set);
    }
    Ok(expand(field, 0, 6, Some(&DAY_NAMES), "day-of-week")?.unwrap_or_default())
}

/// Days (0 = Sunday) as AWS names, consecutive runs as ranges: `MON-FRI`, `SUN,SAT`.
fn aws_days(days: &BTreeSet<u32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let v: Vec<u32> = days.iter().copied().collect();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        let name = |d: u32| DAY_NAMES[d as usize % 7];
        if j > i + 1 {
            out.push(format!("{}-{}", name(v[i]), name(v[j])));
        } else {
            out.extend((i..=j).map(|k| name(v[k]).to_owned()));
        }
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(fields: &str, d: Dialect) -> String {
        let c = to_aws(fields, d).unwrap();
        assert_eq!(c.crons.len(), 1, "{c:?}");
        c.crons[0].expression.clone()
    }

    #[test]
    fn alibaba_daily_at_20_becomes_aws_with_question_mark_day_of_week() {
        assert_eq!(one("0 0 20 * * *", Dialect::Alibaba), "cron(0 20 * * ? *)");
        assert!(
            to_aws("0 0 20 * * *", Dialect::Alibaba)
                .unwrap()
                .notes
                .is_empty()
        );
    }

    #[test]
    fn alibaba_weekday_numbers_are_shifted_to_aws_sunday_first_names() {
        // robfig/cron: 1-5 = Monday..Friday; AWS: MON-FRI (= 2-6).
        assert_eq!(
            one("0 30 8 ? * 1-5", Dialect::Alibaba),
            "cron(30 8 ? * MON-FRI *)"
        );
        // 0 = Sunday, 6 = Saturday.
        assert_eq!(
            one("0 0 9 * * 0,6", Dialect::Alibaba),
            "cron(0 9 ? * SUN,SAT *)"
        );
        assert_eq!(one("0 0 9 * * 0", Dialect::Alibaba), "cron(0 9 ? * SUN *)");
    }

    #[test]
    fn weekday_names_and_steps_are_expanded() {
        assert_eq!(
            one("0 0 9 * * mon-wed", Dialect::Alibaba),
            "cron(0 9 ? * MON-WED *)"
        );
        // */2 over 0-6 = SUN,TUE,THU,SAT.
        assert_eq!(
            one("0 0 9 * * */2", Dialect::Alibaba),
            "cron(0 9 ? * SUN,TUE,THU,SAT *)"
        );
    }

    #[test]
    fn seven_as_sunday_is_accepted_with_a_note() {
        let c = to_aws("0 0 9 * * 7", Dialect::Alibaba).unwrap();
        assert_eq!(c.crons[0].expression, "cron(0 9 ? * SUN *)");
        assert_eq!(c.notes.len(), 1);
    }

    #[test]
    fn tencent_seven_fields_keep_the_year_and_drop_nonzero_seconds_with_a_note() {
        let c = to_aws("29 45 12 29 05 * 2023", Dialect::Tencent).unwrap();
        assert_eq!(c.crons[0].expression, "cron(45 12 29 5 ? 2023)");
        assert!(c.notes[0].contains("seconds"), "{:?}", c.notes);
    }

    #[test]
    fn tencent_monday_to_friday_names() {
        assert_eq!(
            one("0 15 10 * * MON-FRI *", Dialect::Tencent),
            "cron(15 10 ? * MON-FRI *)"
        );
        assert_eq!(
            one("0 0 6 * * 1-5 *", Dialect::Tencent),
            "cron(0 6 ? * MON-FRI *)"
        );
    }

    #[test]
    fn both_day_fields_restricted_splits_into_two_expressions() {
        let c = to_aws("0 0 8 1 * 1", Dialect::Alibaba).unwrap();
        let exprs: Vec<_> = c.crons.iter().map(|c| c.expression.as_str()).collect();
        assert_eq!(exprs, ["cron(0 8 1 * ? *)", "cron(0 8 ? * MON *)"]);
        assert_eq!(c.crons[0].split, Some("dom"));
        assert!(!c.notes.is_empty());
    }

    #[test]
    fn wrong_field_count_and_bad_values_are_errors() {
        assert!(
            to_aws("0 20 * * *", Dialect::Alibaba)
                .unwrap_err()
                .contains("6 fields")
        );
        assert!(
            to_aws("0 0 25 * * *", Dialect::Alibaba)
                .unwrap_err()
                .contains("hours")
        );
        assert!(to_aws("0 0 1 L * ?", Dialect::Alibaba).is_err());
        assert!(to_aws("0 ? 1 * * *", Dialect::Alibaba).is_err());
        assert!(
            to_aws("0 0 1 * * * 1900", Dialect::Tencent)
                .unwrap_err()
                .contains("year")
        );
    }

    #[test]
    fn every_thirty_seconds_is_noted_as_once_per_minute() {
        let c = to_aws("*/30 * * * * *", Dialect::Alibaba).unwrap();
        assert_eq!(c.crons[0].expression, "cron(* * * * ? *)");
        assert!(c.notes[0].contains("several times a minute"));
    }
}

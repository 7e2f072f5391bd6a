//! Validation of the CronJob schedule, matching what the Kubernetes CronJob controller
//! accepts: five fields (minute, hour, day of month, month, day of week) or a macro.

use crate::K8sError;

/// Macros accepted instead of five fields.
const MACROS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field: its name, its bounds, and the names it accepts (numbered from `min`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: DAYS,
    },
];

/// Check `schedule`: five whitespace-separated fields, each a comma-separated list of
/// `*`, `?`, `N`, `N-M`, optionally `/STEP`; or one of `@hourly`, `@daily`, `@weekly`,
/// `@monthly`, `@yearly` (`@annually`), `@midnight`. Time zones belong in the CronJob's
/// `timeZone` field, so `TZ=`/`CRON_TZ=` prefixes are refused as Kubernetes does.
pub(crate) fn validate(schedule: &str) -> Result<(), K8sError> {
    let bad = |reason: String| K8sError::InvalidSchedule {
        schedule: schedule.to_owned(),
        reason,
    };
    let trimmed = schedule.trim();
    if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
        return Err(bad("time zones are not allowed in the schedule".into()));
    }
    if trimmed.starts_with('@') {
        return if MACROS.contains(&trimmed) {
            Ok(())
        } else {
            Err(bad(format!(
                "unknown macro, expected one of {}",
                MACROS.join(", ")
            )))
        };
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(bad(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        )));
    }
    for (text, field) in fields.iter().zip(FIELDS.iter()) {
        for item in text.split(',') {
            self::item(item, field).map_err(|reason| bad(format!("{}: {reason}", field.name)))?;
        }
    }
    Ok(())
}

/// One comma-separated item of a field.
fn item(item: &str, field: &Field) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("bad step {step:?} in {item:?}")),
        }
    }
    if range == "*" || range == "?" {
        return Ok(());
    }
    let (low, high) = if let Some((low, high)) = range.split_once('-') {
        (value(low, field)?, value(high, field)?)
    } else {
        let v = value(range, field)?;
        (v, v)
    };
    if low > high {
        return Err(format!("range {range:?} runs backwards"));
    }
    Ok(())
}

/// A number within the field's bounds or one of its names.
fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(field.min + u32::try_from(i).unwrap_or(u32::MAX));
    }
    match text.parse::<u32>() {
        Ok(v) if (field.min..=field.max).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside {}-{}", field.min, field.max)),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

//! Cron schedules, as Temporal reads `cron_schedule`: five-field standard cron in UTC, the
//! descriptors (`@hourly`, `@daily`, …) and `@every <duration>`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;

/// Milliseconds from `now_ms` until the schedule next fires.
pub fn backoff_ms(schedule: &str, now_ms: i64) -> Result<i64, String> {
    let schedule = schedule.trim();
    if let Some(every) = schedule.strip_prefix("@every") {
        let delay = parse_go_duration(every.trim())?;
        if delay <= 0 {
            return Err(format!(
                "Invalid CronSchedule {schedule:?}: @every needs a positive duration."
            ));
        }
        return Ok(delay);
    }
    let cron =
        Cron::from_str(schedule).map_err(|e| format!("Invalid CronSchedule {schedule:?}: {e}."))?;
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .ok_or_else(|| format!("time {now_ms} is out of range"))?;
    let next = cron
        .find_next_occurrence(&now, false)
        .map_err(|e| format!("Invalid CronSchedule {schedule:?}: {e}."))?;
    Ok((next.timestamp_millis() - now_ms).max(0))
}

/// Checks a schedule without computing anything from it.
pub fn validate(schedule: &str) -> Result<(), String> {
    backoff_ms(schedule, 0).map(|_| ())
}

/// Go-style durations ("1h30m", "90s", "250ms").
fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let ms = match unit {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            _ => return Err(invalid()),
        };
        total += value * ms;
        rest = tail;
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_767_268_800_000; // 2026-01-01T12:00:00Z

    #[test]
    fn standard_schedules_and_descriptors() {
        assert_eq!(backoff_ms("0 * * * *", NOON + 60_000), Ok(3_540_000));
        assert_eq!(backoff_ms("*/15 * * * *", NOON), Ok(900_000));
        assert_eq!(backoff_ms("@hourly", NOON + 1), Ok(3_599_999));
        assert_eq!(backoff_ms("@daily", NOON), Ok(12 * 3_600_000));
    }

    #[test]
    fn every_takes_go_durations() {
        assert_eq!(backoff_ms("@every 1h30m", NOON), Ok(5_400_000));
        assert_eq!(backoff_ms("@every 250ms", NOON), Ok(250));
        assert!(backoff_ms("@every soon", NOON).is_err());
    }

    #[test]
    fn invalid_schedules_are_reported() {
        assert!(
            validate("not a schedule")
                .unwrap_err()
                .contains("Invalid CronSchedule")
        );
        assert!(validate("61 * * * *").is_err());
    }
}

//! Cron strings as Temporal reads them: optional `CRON_TZ=`/`TZ=` prefix, 5, 6 (with year)
//! or 7 (with seconds and year) fields, a `#` comment, `@hourly`-style shortcuts, and
//! `@every <duration>[/<phase>]` for intervals. A cron string becomes a structured calendar
//! or an interval; Temporal stores and describes only those.

use temper_api::Duration;
use temper_api::proto::schedule::v1::{CalendarSpec, IntervalSpec, StructuredCalendarSpec};

use crate::duration::parse_go_duration;
use crate::ranges::parse_calendar;

/// What one cron string stands for.
#[derive(Debug, PartialEq)]
pub enum Cron {
    Calendar {
        calendar: StructuredCalendarSpec,
        /// The `CRON_TZ=`/`TZ=` zone name, empty when none was given.
        zone: String,
    },
    Interval(IntervalSpec),
}

pub fn parse_cron(text: &str) -> Result<Cron, String> {
    let mut text = text.trim();
    let mut zone = "";
    if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
        let (prefix, rest) = text
            .split_once(' ')
            .ok_or("CronString has time zone but missing fields")?;
        zone = prefix.split_once('=').map_or("", |(_, name)| name);
        text = rest;
    }
    let (fields, comment) = text.split_once('#').unwrap_or((text, ""));
    let fields = fields.trim();
    if fields.starts_with("@every") {
        // Temporal ignores a zone given with an interval.
        return parse_every(fields).map(Cron::Interval);
    }
    let calendar = calendar_of_fields(shortcut(fields), comment.trim())?;
    Ok(Cron::Calendar {
        calendar: parse_calendar(&calendar)?,
        zone: zone.to_string(),
    })
}

fn shortcut(fields: &str) -> &str {
    match fields {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    }
}

fn calendar_of_fields(fields: &str, comment: &str) -> Result<CalendarSpec, String> {
    let fields: Vec<&str> = fields.split_whitespace().take(8).collect();
    let field = |i: usize| fields[i].to_string();
    let mut calendar = CalendarSpec {
        comment: comment.to_string(),
        ..Default::default()
    };
    let first = match fields.len() {
        5 | 6 => 0,
        7 => {
            calendar.second = field(0);
            1
        }
        _ => return Err("CronString does not have 5-7 fields".to_string()),
    };
    calendar.minute = field(first);
    calendar.hour = field(first + 1);
    calendar.day_of_month = field(first + 2);
    calendar.month = field(first + 3);
    calendar.day_of_week = field(first + 4);
    if fields.len() > 5 {
        calendar.year = field(first + 5);
    }
    Ok(calendar)
}

/// `@every 14h` or `@every 14h/3h` (interval and phase in Go's duration syntax, plus days).
fn parse_every(text: &str) -> Result<IntervalSpec, String> {
    let (_, rest) = text
        .split_once(' ')
        .ok_or("CronString does not have interval after @every")?;
    let (interval, phase) = rest.split_once('/').unwrap_or((rest, ""));
    let interval = duration_proto(parse_go_duration(interval)?);
    let phase = if phase.is_empty() {
        None
    } else {
        Some(duration_proto(parse_go_duration(phase)?))
    };
    Ok(IntervalSpec {
        interval: Some(interval),
        phase,
    })
}

fn duration_proto(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temper_api::proto::schedule::v1::Range;

    fn calendar_of(text: &str) -> (StructuredCalendarSpec, String) {
        match parse_cron(text).unwrap() {
            Cron::Calendar { calendar, zone } => (calendar, zone),
            Cron::Interval(_) => panic!("{text} is not a calendar"),
        }
    }

    #[test]
    fn five_six_and_seven_fields() {
        let (five, zone) = calendar_of("23 5,7 * * *");
        assert_eq!(
            five.minute,
            vec![Range {
                start: 23,
                end: 0,
                step: 0
            }]
        );
        assert!(five.year.is_empty() && zone.is_empty());
        let (six, _) = calendar_of("0 12 * * * 2030");
        assert_eq!(
            six.year,
            vec![Range {
                start: 2030,
                end: 0,
                step: 0
            }]
        );
        let (seven, _) = calendar_of("30 0 12 * * * *");
        assert_eq!(
            seven.second,
            vec![Range {
                start: 30,
                end: 0,
                step: 0
            }]
        );
    }

    #[test]
    fn zone_prefix_comment_and_shortcuts() {
        let (calendar, zone) = calendar_of("CRON_TZ=Europe/London @daily # nightly");
        assert_eq!(zone, "Europe/London");
        assert_eq!(calendar.comment, "nightly");
        assert_eq!(
            calendar.hour,
            vec![Range {
                start: 0,
                end: 0,
                step: 0
            }]
        );
        assert_eq!(calendar_of("TZ=Asia/Tokyo 0 9 * * mon-fri").1, "Asia/Tokyo");
    }

    #[test]
    fn every_with_phase_and_days() {
        let Cron::Interval(interval) = parse_cron("@every 1d/3h").unwrap() else {
            panic!("not an interval");
        };
        assert_eq!(interval.interval.unwrap().seconds, 86_400);
        assert_eq!(interval.phase.unwrap().seconds, 10_800);
    }

    #[test]
    fn errors_have_temporals_messages() {
        let error = |text| parse_cron(text).unwrap_err();
        assert_eq!(error("* * *"), "CronString does not have 5-7 fields");
        assert_eq!(
            error("CRON_TZ=UTC"),
            "CronString has time zone but missing fields"
        );
        assert_eq!(
            error("@every"),
            "CronString does not have interval after @every"
        );
        assert_eq!(
            error("@every 5x"),
            "time: unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(error("61 * * * *"), "Minute is not in range [0-59]");
    }
}

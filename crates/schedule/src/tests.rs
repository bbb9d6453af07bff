//! Sequences of action times for whole specs. The expected instants (jitter included) are
//! those Temporal's scheduler produces for the same specs, so these pin our arithmetic to
//! theirs; the e2e differential test compares with a live Temporal server as well.

use temper_api::proto::schedule::v1::{CalendarSpec, IntervalSpec, ScheduleSpec};
use temper_api::{Duration, Timestamp};

use crate::CompiledSpec;
use crate::zone::Zone;

const MS: i64 = 1_000_000;

fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    Zone::Utc.date(y, mo, d, h, mi, s) * 1_000_000_000
}

fn minutes(n: i64) -> Option<Duration> {
    Some(Duration {
        seconds: n * 60,
        nanos: 0,
    })
}

fn interval(every_minutes: i64, phase_seconds: i64) -> IntervalSpec {
    IntervalSpec {
        interval: minutes(every_minutes),
        phase: Some(Duration {
            seconds: phase_seconds,
            nanos: 0,
        }),
    }
}

fn timestamp(nanos: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

/// Asserts the actual (jittered) times following `start`, then that nothing follows if the
/// list ends with `None`.
fn assert_sequence(seed: &str, spec: &ScheduleSpec, start: i64, expected: &[Option<i64>]) {
    let compiled = CompiledSpec::new(spec).unwrap();
    let mut after = start;
    for (i, want) in expected.iter().enumerate() {
        let got = compiled.next_time(seed, after).unwrap().map(|t| t.actual);
        assert_eq!(got, *want, "time #{i} after {after}");
        match got {
            Some(next) => after = next,
            None => return,
        }
    }
}

#[test]
fn intervals_with_phase_and_several_intervals() {
    let spec = ScheduleSpec {
        interval: vec![interval(90, 5 * 60 + 44), interval(157, 22 * 60 + 11)],
        ..Default::default()
    };
    let times = [
        utc(2022, 3, 23, 13, 35, 44),
        utc(2022, 3, 23, 15, 5, 44),
        utc(2022, 3, 23, 15, 26, 11),
        utc(2022, 3, 23, 16, 35, 44),
        utc(2022, 3, 23, 18, 3, 11),
        utc(2022, 3, 23, 18, 5, 44),
    ];
    let expected: Vec<_> = times.into_iter().map(Some).collect();
    assert_sequence("", &spec, utc(2022, 3, 23, 12, 53, 2) + 9, &expected);
}

#[test]
fn calendars_and_cron_strings_merge() {
    let spec = ScheduleSpec {
        calendar: vec![CalendarSpec {
            hour: "5,7".into(),
            minute: "23".into(),
            ..Default::default()
        }],
        cron_string: vec!["55 11,13 * * *".into()],
        ..Default::default()
    };
    let expected = [
        Some(utc(2022, 3, 23, 5, 23, 0)),
        Some(utc(2022, 3, 23, 7, 23, 0)),
        Some(utc(2022, 3, 23, 11, 55, 0)),
        Some(utc(2022, 3, 23, 13, 55, 0)),
        Some(utc(2022, 3, 24, 5, 23, 0)),
    ];
    assert_sequence("", &spec, utc(2022, 3, 23, 3, 0, 0), &expected);
}

#[test]
fn exclusions_skip_times_and_jitter_is_temporals() {
    #[allow(deprecated)]
    let spec = ScheduleSpec {
        interval: vec![interval(90, 0)],
        exclude_calendar: vec![CalendarSpec {
            hour: "12-14".into(),
            minute: "*".into(),
            second: "*".into(),
            ..Default::default()
        }],
        jitter: Some(Duration {
            seconds: 1,
            nanos: 0,
        }),
        ..Default::default()
    };
    let expected = [
        Some(utc(2022, 3, 23, 9, 0, 0) + 235 * MS),
        Some(utc(2022, 3, 23, 10, 30, 0) + 139 * MS),
        Some(utc(2022, 3, 23, 15, 0, 0) + 89 * MS),
        Some(utc(2022, 3, 23, 16, 30, 0) + 687 * MS),
    ];
    assert_sequence("", &spec, utc(2022, 3, 23, 8, 0, 0), &expected);
}

#[test]
fn start_and_end_times_bound_the_sequence() {
    let spec = ScheduleSpec {
        interval: vec![interval(90, 0)],
        start_time: timestamp(utc(2022, 3, 23, 12, 0, 0)),
        end_time: timestamp(utc(2022, 3, 23, 14, 0, 0)),
        jitter: Some(Duration {
            seconds: 1,
            nanos: 0,
        }),
        ..Default::default()
    };
    let expected = [
        Some(utc(2022, 3, 23, 12, 0, 0) + 162 * MS),
        Some(utc(2022, 3, 23, 13, 30, 0) + 587 * MS),
        None,
    ];
    assert_sequence("", &spec, utc(2022, 3, 23, 8, 0, 0), &expected);
}

#[test]
fn jitter_depends_on_the_seed_and_is_bounded_by_the_next_time() {
    let daily = ScheduleSpec {
        interval: vec![interval(24 * 60, 0)],
        jitter: minutes(60),
        ..Default::default()
    };
    let start = utc(2022, 3, 23, 11, 0, 0);
    assert_sequence(
        "",
        &daily,
        start,
        &[Some(utc(2022, 3, 24, 0, 35, 24) + 276 * MS)],
    );
    assert_sequence(
        "seed-1",
        &daily,
        start,
        &[Some(utc(2022, 3, 24, 0, 6, 12) + 519 * MS)],
    );
    assert_sequence(
        "seed-2",
        &daily,
        start,
        &[Some(utc(2022, 3, 24, 0, 39, 16) + 922 * MS)],
    );
    let bounded = ScheduleSpec {
        interval: vec![interval(90, 0)],
        jitter: minutes(24 * 60),
        ..Default::default()
    };
    let expected = [
        Some(utc(2022, 3, 23, 12, 14, 36) + 524 * MS),
        Some(utc(2022, 3, 23, 14, 22, 54) + 562 * MS),
        Some(utc(2022, 3, 23, 15, 8, 3) + 724 * MS),
    ];
    assert_sequence("", &bounded, start, &expected);
}

#[test]
fn a_single_calendar_time_with_jitter() {
    let spec = ScheduleSpec {
        calendar: vec![CalendarSpec {
            hour: "13".into(),
            minute: "55".into(),
            day_of_month: "7".into(),
            month: "4".into(),
            year: "2022".into(),
            ..Default::default()
        }],
        jitter: minutes(60),
        ..Default::default()
    };
    let expected = [Some(utc(2022, 4, 7, 13, 57, 26) + 927 * MS), None];
    assert_sequence("", &spec, utc(2022, 3, 23, 11, 0, 0), &expected);
}

#[test]
fn daylight_saving_gap_and_repeat_in_new_york() {
    let spec = ScheduleSpec {
        cron_string: vec!["CRON_TZ=America/New_York 30 1,2 * * *".into()],
        ..Default::default()
    };
    // Spring: 02:30 does not exist on 2026-03-08, so only 01:30 EST fires that day.
    let expected = [
        Some(utc(2026, 3, 7, 6, 30, 0)),
        Some(utc(2026, 3, 7, 7, 30, 0)),
        Some(utc(2026, 3, 8, 6, 30, 0)),
        Some(utc(2026, 3, 9, 5, 30, 0)),
    ];
    assert_sequence("", &spec, utc(2026, 3, 7, 0, 0, 0), &expected);
    // Autumn: 01:30 happens twice on 2026-11-01 and fires both times.
    let expected = [
        Some(utc(2026, 11, 1, 5, 30, 0)),
        Some(utc(2026, 11, 1, 6, 30, 0)),
        Some(utc(2026, 11, 1, 7, 30, 0)),
        Some(utc(2026, 11, 2, 6, 30, 0)),
    ];
    assert_sequence("", &spec, utc(2026, 10, 31, 12, 0, 0), &expected);
}

#[test]
fn bad_specs_are_refused_with_temporals_messages() {
    let error = |spec: ScheduleSpec| CompiledSpec::new(&spec).unwrap_err();
    let zero = ScheduleSpec {
        interval: vec![interval(0, 0)],
        ..Default::default()
    };
    assert_eq!(error(zero), "interval is too small");
    let zone = ScheduleSpec {
        timezone_name: "Nowhere/Land".into(),
        ..Default::default()
    };
    assert_eq!(error(zone), "unknown time zone Nowhere/Land");
    let conflict = ScheduleSpec {
        cron_string: vec!["CRON_TZ=Europe/London 0 * * * *".into(), "0 * * * *".into()],
        ..Default::default()
    };
    assert_eq!(error(conflict), "conflicting timezone names");
}

#[test]
fn everything_excluded_ends_the_sequence_instead_of_hanging() {
    #[allow(deprecated)]
    let spec = ScheduleSpec {
        interval: vec![interval(7 * 24 * 60, 0)],
        exclude_calendar: vec![CalendarSpec {
            second: "*".into(),
            minute: "*".into(),
            hour: "*".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_sequence("", &spec, utc(2022, 3, 23, 12, 53, 2), &[None]);
}

#[test]
fn times_at_the_ends_of_the_range_never_overflow() {
    let spec = ScheduleSpec {
        interval: vec![interval(1, 0)],
        start_time: Some(Timestamp {
            seconds: i64::MIN / 2,
            nanos: 0,
        }),
        ..Default::default()
    };
    let compiled = CompiledSpec::new(&spec).unwrap();
    assert_eq!(compiled.next_time("", i64::MAX).unwrap(), None);
    assert!(compiled.next_time("", i64::MIN).unwrap().is_some());
}

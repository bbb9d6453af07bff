//! A `ScheduleSpec` checked, canonicalised (text calendars and cron strings become structured
//! calendars and intervals, as Temporal stores them) and compiled, and the search for the
//! next action time with Temporal's start/end bounds, exclusions and deterministic jitter.
//! Times are nanoseconds since the Unix epoch.

use temper_api::Duration;
use temper_api::proto::schedule::v1::{IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec};

use crate::calendar::CompiledCalendar;
use crate::cron::{Cron, parse_cron};
use crate::jitter::jitter_nanos;
use crate::ranges::{MAX_YEAR, parse_calendar, validate_structured};
use crate::zone::Zone;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Most candidate times one search looks at before giving up (a spec whose exclusions cover
/// nearly everything would otherwise search second by second up to the year 2100).
const MAX_SEARCH_STEPS: usize = 100_000;

/// The search hit `MAX_SEARCH_STEPS`; Temporal's message for it.
pub const TOO_MANY_EXCLUSIONS: &str =
    "the schedule calendar specification has too many exclusions. Please modify the specification.";

/// One action time: the time the spec names and the time after jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTime {
    pub nominal: i64,
    pub actual: i64,
}

/// A spec ready to compute times.
#[derive(Debug, Clone)]
pub struct CompiledSpec {
    canonical: ScheduleSpec,
    calendars: Vec<CompiledCalendar>,
    excludes: Vec<CompiledCalendar>,
    /// (interval, phase) in whole seconds.
    intervals: Vec<(i64, i64)>,
    start: Option<i64>,
    end: Option<i64>,
    jitter: i64,
}

fn duration_nanos(duration: Option<&Duration>) -> i64 {
    duration.map_or(0, |d| {
        d.seconds
            .saturating_mul(NANOS_PER_SECOND)
            .saturating_add(i64::from(d.nanos))
    })
}

fn timestamp_nanos(timestamp: Option<&temper_api::Timestamp>) -> Option<i64> {
    timestamp.map(|t| {
        t.seconds
            .saturating_mul(NANOS_PER_SECOND)
            .saturating_add(i64::from(t.nanos))
    })
}

impl CompiledSpec {
    /// Checks and compiles a spec; the error is the text Temporal puts after
    /// `Invalid schedule spec: `.
    pub fn new(spec: &ScheduleSpec) -> Result<CompiledSpec, String> {
        let canonical = canonicalize(spec)?;
        if !canonical.timezone_data.is_empty() {
            return Err("timezone_data is not supported: give timezone_name".to_string());
        }
        let zone = Zone::load(&canonical.timezone_name)?;
        let compile = |calendars: &[StructuredCalendarSpec]| {
            calendars
                .iter()
                .map(|calendar| CompiledCalendar::new(calendar, zone))
                .collect()
        };
        let intervals = canonical
            .interval
            .iter()
            .map(|interval| {
                let every = duration_nanos(interval.interval.as_ref()) / NANOS_PER_SECOND;
                let phase = duration_nanos(interval.phase.as_ref()) / NANOS_PER_SECOND;
                (every.max(1), phase.max(0))
            })
            .collect();
        Ok(CompiledSpec {
            calendars: compile(&canonical.structured_calendar),
            excludes: compile(&canonical.exclude_structured_calendar),
            intervals,
            start: timestamp_nanos(canonical.start_time.as_ref()),
            end: timestamp_nanos(canonical.end_time.as_ref()),
            jitter: duration_nanos(canonical.jitter.as_ref()),
            canonical,
        })
    }

    /// The spec as Temporal stores it (what `DescribeSchedule` returns, before
    /// [`fill_range_defaults`]).
    pub fn canonical(&self) -> &ScheduleSpec {
        &self.canonical
    }

    /// The first action time after `after`, or `None` when the spec has no more; jitter is
    /// derived from `jitter_seed` and the nominal time, so it is the same on every call.
    pub fn next_time(&self, jitter_seed: &str, after: i64) -> Result<Option<NextTime>, String> {
        // Before the start time, search from just before it, so the start itself can match.
        let start_floor = self.start.unwrap_or(0).saturating_sub(NANOS_PER_SECOND);
        let mut after = after.max(start_floor);
        for _ in 0..MAX_SEARCH_STEPS {
            let Some(nominal) = self.raw_next(after) else {
                return Ok(None);
            };
            if self.past_end(nominal) {
                return Ok(None);
            }
            if !self.excluded(nominal) {
                return Ok(Some(self.with_jitter(jitter_seed, nominal)));
            }
            after = nominal;
        }
        Err(TOO_MANY_EXCLUSIONS.to_string())
    }

    /// Jitter is at most the spec's, and never pushes past the following nominal time.
    fn with_jitter(&self, seed: &str, nominal: i64) -> NextTime {
        let mut max_jitter = self.jitter;
        if let Some(following) = self.raw_next(nominal) {
            max_jitter = max_jitter.min(following - nominal);
        }
        NextTime {
            nominal,
            actual: nominal + jitter_nanos(seed, nominal / NANOS_PER_SECOND, max_jitter),
        }
    }

    fn past_end(&self, nominal: i64) -> bool {
        let year = Zone::Utc.civil(nominal.div_euclid(NANOS_PER_SECOND)).year;
        self.end.is_some_and(|end| nominal > end) || year > i64::from(MAX_YEAR)
    }

    fn excluded(&self, nominal: i64) -> bool {
        let second = nominal.div_euclid(NANOS_PER_SECOND);
        self.excludes.iter().any(|exclude| exclude.matches(second))
    }

    /// The earliest whole second after `after` that a calendar or an interval names.
    fn raw_next(&self, after: i64) -> Option<i64> {
        let after_second = after.div_euclid(NANOS_PER_SECOND);
        let calendars = self.calendars.iter().filter_map(|c| c.next(after_second));
        let intervals = self.intervals.iter().filter_map(|&(every, phase)| {
            // Go's integer division truncates toward zero; so does Rust's.
            let periods = (after_second - phase) / every + 1;
            periods.checked_mul(every)?.checked_add(phase)
        });
        // A second beyond what nanoseconds can hold is no time at all.
        calendars
            .chain(intervals)
            .min()
            .and_then(|second| second.checked_mul(NANOS_PER_SECOND))
    }
}

/// Text calendars and cron strings become structured calendars and intervals; everything is
/// validated with Temporal's messages.
fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    let mut canonical = spec.clone();
    for calendar in std::mem::take(&mut canonical.calendar) {
        canonical
            .structured_calendar
            .push(parse_calendar(&calendar)?);
    }
    #[allow(deprecated)]
    for calendar in std::mem::take(&mut canonical.exclude_calendar) {
        canonical
            .exclude_structured_calendar
            .push(parse_calendar(&calendar)?);
    }
    let mut cron_zone: Option<String> = None;
    for text in std::mem::take(&mut canonical.cron_string) {
        let zone = match parse_cron(&text)? {
            Cron::Calendar { calendar, zone } => {
                canonical.structured_calendar.push(calendar);
                zone
            }
            Cron::Interval(interval) => {
                canonical.interval.push(interval);
                String::new()
            }
        };
        // All cron strings must agree on their zone, given or not.
        if cron_zone.as_ref().is_some_and(|seen| *seen != zone) {
            return Err("conflicting timezone names".to_string());
        }
        cron_zone = Some(zone);
    }
    if let Some(zone) = cron_zone.filter(|zone| !zone.is_empty()) {
        let named_otherwise =
            !canonical.timezone_name.is_empty() && canonical.timezone_name != zone;
        if named_otherwise || !canonical.timezone_data.is_empty() {
            return Err("conflicting timezone names".to_string());
        }
        canonical.timezone_name = zone;
    }
    for calendar in &canonical.structured_calendar {
        validate_structured(calendar)?;
    }
    for interval in &canonical.interval {
        validate_interval(interval)?;
    }
    Ok(canonical)
}

fn validate_interval(interval: &IntervalSpec) -> Result<(), String> {
    let every = duration_nanos(interval.interval.as_ref());
    let phase = duration_nanos(interval.phase.as_ref());
    if every < NANOS_PER_SECOND {
        Err("interval is too small".to_string())
    } else if phase < 0 {
        Err("phase is negative".to_string())
    } else if phase >= every {
        Err("phase cannot be greater than Interval".to_string())
    } else {
        Ok(())
    }
}

/// Writes out range defaults (end = start, step 1), as `DescribeSchedule` shows them.
pub fn fill_range_defaults(spec: &mut ScheduleSpec) {
    let fill = |ranges: &mut Vec<Range>| {
        for range in ranges {
            range.end = range.end.max(range.start);
            if range.step == 0 {
                range.step = 1;
            }
        }
    };
    let calendars = spec
        .structured_calendar
        .iter_mut()
        .chain(spec.exclude_structured_calendar.iter_mut());
    for calendar in calendars {
        fill(&mut calendar.second);
        fill(&mut calendar.minute);
        fill(&mut calendar.hour);
        fill(&mut calendar.day_of_month);
        fill(&mut calendar.month);
        fill(&mut calendar.year);
        fill(&mut calendar.day_of_week);
    }
}

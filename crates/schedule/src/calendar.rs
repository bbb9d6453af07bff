//! A structured calendar compiled to matchers, and the search for the next matching second.
//! The search walks fields from the year inwards exactly as Temporal's scheduler does,
//! including how it treats daylight-saving changes: a wall-clock time skipped by a gap never
//! matches, and an hour that repeats is visited twice (the second time with the hour
//! recognised by the shift Go reports), so a schedule fires at the same instants as on
//! Temporal.

use temper_api::proto::schedule::v1::{Range, StructuredCalendarSpec};

use crate::ranges::{MAX_YEAR, for_each_value};
use crate::zone::{Zone, days_in_month};

const HOUR: i64 = 3_600;

/// One calendar, ready to match times in its zone.
#[derive(Debug, Clone)]
pub struct CompiledCalendar {
    zone: Zone,
    /// Empty = every year.
    years: Vec<i32>,
    month: u64,
    day_of_month: u64,
    day_of_week: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

fn bits(ranges: &[Range]) -> u64 {
    let mut bits = 0u64;
    for_each_value(ranges, |value| {
        if (0..64).contains(&value) {
            bits |= 1 << value;
        }
    });
    bits
}

fn has(bits: u64, value: i64) -> bool {
    (0..64).contains(&value) && bits & (1 << value) != 0
}

/// The wall-clock fields the search moves through (`dst_shift` is 3,600 while it visits the
/// second copy of a repeated hour).
struct Cursor {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    dst_shift: i64,
}

impl CompiledCalendar {
    pub fn new(calendar: &StructuredCalendarSpec, zone: Zone) -> CompiledCalendar {
        let mut years = Vec::new();
        for_each_value(&calendar.year, |year| years.push(year));
        CompiledCalendar {
            zone,
            years,
            month: bits(&calendar.month),
            day_of_month: bits(&calendar.day_of_month),
            day_of_week: bits(&calendar.day_of_week),
            hour: bits(&calendar.hour),
            minute: bits(&calendar.minute),
            second: bits(&calendar.second),
        }
    }

    fn year_matches(&self, year: i64) -> bool {
        self.years.is_empty() || self.years.iter().any(|&y| i64::from(y) == year)
    }

    /// Whether the Unix second `unix` matches every field.
    pub fn matches(&self, unix: i64) -> bool {
        let civil = self.zone.civil(unix);
        self.year_matches(civil.year)
            && has(self.month, civil.month)
            && has(self.day_of_month, civil.day)
            && has(self.day_of_week, civil.weekday)
            && has(self.hour, civil.hour)
            && has(self.minute, civil.minute)
            && has(self.second, civil.second)
    }

    /// The first matching Unix second after `after` (a Unix second), or `None` when nothing
    /// matches up to the last year a calendar can name.
    pub fn next(&self, after: i64) -> Option<i64> {
        let civil = self.zone.civil(after);
        let repeated = self.zone.civil(after - HOUR).hour == civil.hour;
        let mut at = Cursor {
            year: civil.year,
            month: civil.month,
            day: civil.day,
            hour: civil.hour,
            minute: civil.minute,
            second: civil.second + 1,
            dst_shift: if repeated { HOUR } else { 0 },
        };
        loop {
            self.carry(&mut at);
            if at.year > i64::from(MAX_YEAR) {
                return None;
            }
            if !self.advance_to_match(&mut at) {
                continue;
            }
            let unix = self
                .zone
                .date(at.year, at.month, at.day, at.hour, at.minute, at.second);
            if self.zone.civil(unix).hour != at.hour {
                // A wall-clock time skipped by a daylight-saving gap.
                (at.hour, at.minute, at.second) = (at.hour + 1, 0, 0);
                continue;
            }
            return Some(unix + at.dst_shift);
        }
    }

    /// Normalises overflowed fields, noticing when moving to the next hour jumps two hours
    /// of real time (the hour repeats: visit it again, shifted).
    fn carry(&self, at: &mut Cursor) {
        if at.second >= 60 {
            (at.minute, at.second) = (at.minute + 1, 0);
        }
        if at.minute >= 60 {
            let zone = self.zone;
            let previous = zone.date(at.year, at.month, at.day, at.hour, 0, 0);
            (at.hour, at.minute) = (at.hour + 1, 0);
            let next = zone.date(at.year, at.month, at.day, at.hour, 0, 0);
            if at.dst_shift == 0 && next - previous > HOUR {
                at.hour -= 1;
                at.dst_shift = HOUR;
            } else {
                at.dst_shift = 0;
            }
        }
        if at.hour >= 24 {
            (at.day, at.hour) = (at.day + 1, 0);
        }
        if at.day > days_in_month(at.month, at.year) {
            (at.month, at.day) = (at.month + 1, 1);
        }
        if at.month > 12 {
            (at.year, at.month) = (at.year + 1, 1);
        }
    }

    /// Moves the cursor forward, outermost field first, until every field matches; `false`
    /// when a field ran past its end (the caller carries and tries again).
    fn advance_to_match(&self, at: &mut Cursor) -> bool {
        if !self.year_matches(at.year) {
            *at = Cursor {
                year: at.year + 1,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                dst_shift: 0,
            };
            return false;
        }
        while !has(self.month, at.month) {
            (at.month, at.day, at.hour, at.minute, at.second) = (at.month + 1, 1, 0, 0, 0);
            at.dst_shift = 0;
            if at.month > 12 {
                return false;
            }
        }
        while !self.day_matches(at) {
            (at.day, at.hour, at.minute, at.second) = (at.day + 1, 0, 0, 0);
            at.dst_shift = 0;
            if at.day > days_in_month(at.month, at.year) {
                return false;
            }
        }
        while !has(self.hour, at.hour) {
            (at.hour, at.minute, at.second) = (at.hour + 1, 0, 0);
            at.dst_shift = 0;
            if at.hour >= 24 {
                return false;
            }
        }
        while !has(self.minute, at.minute) {
            (at.minute, at.second) = (at.minute + 1, 0);
            if at.minute >= 60 {
                return false;
            }
        }
        while !has(self.second, at.second) {
            at.second += 1;
            if at.second >= 60 {
                return false;
            }
        }
        true
    }

    /// Day of month and day of week both match (the weekday of the wall-clock time as Go
    /// resolves it).
    fn day_matches(&self, at: &Cursor) -> bool {
        if !has(self.day_of_month, at.day) {
            return false;
        }
        let unix = self
            .zone
            .date(at.year, at.month, at.day, at.hour, at.minute, at.second);
        has(self.day_of_week, self.zone.civil(unix).weekday)
    }
}

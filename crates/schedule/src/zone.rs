//! Time zones as Go's `time` package resolves them, because Temporal's scheduler is written in
//! Go and a schedule must fire at the same instants on Temper. Two details matter:
//!
//! - a local time that falls in a daylight-saving gap or repeat is resolved the way Go's
//!   `time.Date` does (offset looked up at the local time read as UTC, then corrected once);
//! - zone names load from the IANA database compiled into `chrono-tz`; `""`, `"UTC"` and
//!   `"Local"` mean UTC (a server's local zone must not change what a schedule does).

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

const SECONDS_PER_DAY: i64 = 86_400;

/// A time zone a calendar spec is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Utc,
    Named(Tz),
}

/// A Unix instant read as a wall-clock time in some zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1 = January.
    pub month: i64,
    /// 1-based.
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    /// 0 = Sunday.
    pub weekday: i64,
}

impl Zone {
    /// The zone named `name`, with Go's error message for an unknown one.
    pub fn load(name: &str) -> Result<Zone, String> {
        match name {
            "" | "UTC" | "Local" => Ok(Zone::Utc),
            _ => name
                .parse::<Tz>()
                .map(Zone::Named)
                .map_err(|_| format!("unknown time zone {name}")),
        }
    }

    /// Seconds east of UTC in effect at the Unix second `unix`.
    fn offset_at(self, unix: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Named(tz) => match DateTime::from_timestamp(unix, 0) {
                Some(utc) => i64::from(
                    tz.offset_from_utc_datetime(&utc.naive_utc())
                        .fix()
                        .local_minus_utc(),
                ),
                None => 0,
            },
        }
    }

    /// The Unix second of a wall-clock time, as Go's `time.Date` computes it: fields out of
    /// range carry over (hour 24 is the next day's midnight), a time in a gap moves by the
    /// gap, and a repeated time resolves to the occurrence Go picks.
    pub fn date(self, year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
        let local = days_from_civil(year, month, 1) * SECONDS_PER_DAY
            + (day - 1) * SECONDS_PER_DAY
            + hour * 3_600
            + minute * 60
            + second;
        // Go looks the offset up at the local time read as UTC, then once more at the
        // instant that offset gives; the second lookup's offset is the one used.
        let guess = local - self.offset_at(local);
        local - self.offset_at(guess)
    }

    /// The wall-clock time of a Unix second in this zone.
    pub fn civil(self, unix: i64) -> Civil {
        let local = unix + self.offset_at(unix);
        let days = local.div_euclid(SECONDS_PER_DAY);
        let seconds = local.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: seconds / 3_600,
            minute: seconds % 3_600 / 60,
            second: seconds % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7),
        }
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (month may be 1..=12 only).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_york() -> Zone {
        Zone::load("America/New_York").unwrap()
    }

    #[test]
    fn civil_round_trips_in_utc() {
        let unix = Zone::Utc.date(2022, 3, 23, 12, 53, 2);
        assert_eq!(unix, 1_648_039_982);
        let civil = Zone::Utc.civil(unix);
        assert_eq!((civil.year, civil.month, civil.day), (2022, 3, 23));
        assert_eq!((civil.hour, civil.minute, civil.second), (12, 53, 2));
        assert_eq!(civil.weekday, 3, "2022-03-23 was a Wednesday");
    }

    #[test]
    fn fields_carry_over_as_in_go() {
        assert_eq!(
            Zone::Utc.date(2022, 12, 31, 24, 0, 0),
            Zone::Utc.date(2023, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_back_an_hour_as_in_go() {
        // 2026-03-08 02:30 does not exist in New York; Go resolves it to 01:30 EST.
        let unix = new_york().date(2026, 3, 8, 2, 30, 0);
        assert_eq!(new_york().civil(unix).hour, 1);
    }

    #[test]
    fn a_repeated_time_resolves_to_the_first_occurrence_west_of_utc() {
        // 2026-11-01 01:30 happens twice in New York; Go picks EDT (05:30 UTC).
        let unix = new_york().date(2026, 11, 1, 1, 30, 0);
        assert_eq!(Zone::Utc.civil(unix).hour, 5);
    }

    #[test]
    fn unknown_zones_are_refused_with_gos_message() {
        assert_eq!(
            Zone::load("Mars/Olympus").unwrap_err(),
            "unknown time zone Mars/Olympus"
        );
    }
}

//! Conversions between protobuf time types and the engine's integer milliseconds.
//!
//! The engine keeps every instant as milliseconds since the Unix epoch and every span as
//! milliseconds, so its arithmetic is exact and its state is easy to compare in tests.

use temper_api::{Duration, Timestamp};

/// Milliseconds of an optional protobuf duration; absent or negative means 0 ("unset").
/// Capped at [`MAX_DURATION_SECONDS`], as Temporal caps them, so that adding any duration to
/// an instant cannot overflow.
pub fn duration_ms(duration: Option<&Duration>) -> i64 {
    match duration {
        Some(d) => (d.seconds.saturating_mul(1000))
            .saturating_add(i64::from(d.nanos) / 1_000_000)
            .clamp(0, MAX_DURATION_SECONDS * 1000),
        None => 0,
    }
}

/// Longest span Temporal keeps for a timer or timeout: 100 years (longer ones are capped).
pub const MAX_DURATION_SECONDS: i64 = 100 * 365 * 24 * 3600;

/// What is wrong with a duration a client sent, in the words of Temporal's validation, or
/// `None` if it is usable (zero and absent are usable).
pub fn duration_problem(duration: Option<&Duration>) -> Option<&'static str> {
    let d = duration?;
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        Some("duration has seconds and nanos with different signs")
    } else if d.seconds < 0 || d.nanos < 0 {
        Some("negative duration")
    } else {
        None
    }
}

/// A duration capped at [`MAX_DURATION_SECONDS`], as Temporal stores it.
pub fn capped_duration(duration: Option<Duration>) -> Option<Duration> {
    duration.map(|d| {
        if d.seconds >= MAX_DURATION_SECONDS {
            Duration {
                seconds: MAX_DURATION_SECONDS,
                nanos: 0,
            }
        } else {
            d
        }
    })
}

/// A protobuf duration of `ms` milliseconds, or `None` for 0 ("unset").
pub fn ms_duration(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    })
}

/// A protobuf timestamp for `ms` milliseconds since the epoch, or `None` for 0.
pub fn ms_timestamp(ms: i64) -> Option<Timestamp> {
    (ms > 0).then(|| Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    })
}

/// Milliseconds since the epoch of an optional protobuf timestamp (0 when absent).
pub fn timestamp_ms(ts: Option<&Timestamp>) -> i64 {
    ts.map_or(0, |t| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos) / 1_000_000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(duration_ms(ms_duration(1_500).as_ref()), 1_500);
        assert_eq!(ms_duration(0), None);
        assert_eq!(
            timestamp_ms(ms_timestamp(1_700_000_000_123).as_ref()),
            1_700_000_000_123
        );
        let negative = Duration {
            seconds: -3,
            nanos: 0,
        };
        assert_eq!(duration_ms(Some(&negative)), 0);
    }
}

//! Value formats with special meaning: RFC 3339 datetimes, execution durations and execution
//! status names. Each mirrors the Temporal helper named in its doc comment.

/// Parses a datetime as Go's `time.Parse(time.RFC3339Nano, s)` does (used by
/// `validateValueType` in `store/query/converter.go`) and returns Unix nanoseconds.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, e.g. `2024-01-02T03:04:05Z`,
/// `2024-01-02T03:04:05.123456789+02:00`. The `T` and `Z` are upper case, the zone is
/// required, and fraction digits past nanoseconds are ignored. Results beyond the i64
/// nanosecond range (years before 1678 or after 2262) saturate, which keeps range
/// comparisons meaningful.
pub(crate) fn parse_datetime_nanos(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);

    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut i = 19;
    let mut nanos: i64 = 0;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut digits = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + i64::from(d - b'0');
                digits += 1;
            }
            i += 1;
        }
        nanos *= 10i64.pow(9 - digits);
    }

    let offset_seconds = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if !sep(i + 3, b':') || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }

    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    Some(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an ExecutionDuration string as `ParseExecutionDurationStr` in
/// `store/query/util.go` does, returning nanoseconds. In order it tries:
/// 1. a plain integer: nanoseconds (`'1000000000'`);
/// 2. a Go duration with Temporal's extra `d` (= 24h) unit: `'1h30m'`, `'-1.5h'`, `'300ms'`,
///    `'2d'` (units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`, `d`);
/// 3. `hh:mm:ss` with minutes and seconds below 60: `'01:30:00'`.
pub(crate) fn parse_duration_nanos(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    parse_go_duration(s).or_else(|| parse_hhmmss(s))
}

/// Go's `time.ParseDuration` grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or a bare `0`.
fn parse_go_duration(s: &str) -> Option<i64> {
    const LIMIT: u128 = 1 << 63;
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];

        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            // More than 20 digits cannot fit under the limit anyway.
            if int_part.len() > 20 {
                return None;
            }
            int_part.parse::<u128>().ok()?
        };
        let mut value = whole.checked_mul(unit)?;
        if !frac_part.is_empty() {
            // Like Go, the fraction is applied in floating point and truncated.
            let frac: f64 = format!("0.{frac_part}").parse().ok()?;
            value += (frac * unit as f64) as u128;
        }
        total = total.checked_add(value)?;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        Some((-(total as i128)) as i64)
    } else if total < LIMIT {
        Some(total as i64)
    } else {
        None
    }
}

/// `hh:mm:ss` as `timestamp.ParseHHMMSSDuration` reads it (hours unbounded, minutes and seconds
/// 0-59). Unlike Go's `Sscanf`, trailing text after the seconds is refused.
fn parse_hhmmss(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let mut field = || -> Option<i64> {
        let p = parts.next()?;
        let digits = p.strip_prefix('+').unwrap_or(p);
        let (negative, digits) = match digits.strip_prefix('-') {
            Some(d) if p == digits => (true, d),
            _ => (false, digits),
        };
        if digits.is_empty() || !digits.bytes().all(|d| d.is_ascii_digit()) {
            return None;
        }
        let v: i64 = digits.parse().ok()?;
        Some(if negative { -v } else { v })
    };
    let (h, m, sec) = (field()?, field()?, field()?);
    if parts.next().is_some() || h < 0 || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return None;
    }
    h.checked_mul(3_600_000_000_000)?
        .checked_add(m * 60_000_000_000 + sec * 1_000_000_000)
}

/// WorkflowExecutionStatus names accepted by `enums.WorkflowExecutionStatusFromString`: the
/// PascalCase shorthand or the proto name, both case-sensitive.
const STATUSES: [(&str, &str); 8] = [
    ("Unspecified", "WORKFLOW_EXECUTION_STATUS_UNSPECIFIED"),
    ("Running", "WORKFLOW_EXECUTION_STATUS_RUNNING"),
    ("Completed", "WORKFLOW_EXECUTION_STATUS_COMPLETED"),
    ("Failed", "WORKFLOW_EXECUTION_STATUS_FAILED"),
    ("Canceled", "WORKFLOW_EXECUTION_STATUS_CANCELED"),
    ("Terminated", "WORKFLOW_EXECUTION_STATUS_TERMINATED"),
    (
        "ContinuedAsNew",
        "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW",
    ),
    ("TimedOut", "WORKFLOW_EXECUTION_STATUS_TIMED_OUT"),
];

/// The enum number of an execution status name.
pub(crate) fn parse_status_name(s: &str) -> Option<i64> {
    STATUSES
        .iter()
        .position(|&(short, long)| s == short || s == long)
        .map(|i| i as i64)
}

/// Whether `n` is a WorkflowExecutionStatus number.
pub(crate) fn is_status_number(n: i64) -> bool {
    (0..STATUSES.len() as i64).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_datetime_nanos("2024-02-29T12:34:56Z"),
            Some(1_709_210_096 * SEC)
        );
        assert_eq!(
            parse_datetime_nanos("2024-02-29T12:34:56.5Z"),
            Some(1_709_210_096 * SEC + 500_000_000)
        );
        assert_eq!(
            parse_datetime_nanos("2024-02-29T12:34:56.1234567891234Z"),
            Some(1_709_210_096 * SEC + 123_456_789)
        );
        assert_eq!(
            parse_datetime_nanos("2024-02-29T14:34:56+02:00"),
            Some(1_709_210_096 * SEC)
        );
        assert_eq!(
            parse_datetime_nanos("2024-02-29T10:04:56-02:30"),
            Some(1_709_210_096 * SEC)
        );
        assert_eq!(parse_datetime_nanos("1969-12-31T23:59:59Z"), Some(-SEC));
        assert_eq!(parse_datetime_nanos("9999-12-31T23:59:59Z"), Some(i64::MAX));
        assert_eq!(parse_datetime_nanos("0001-01-01T00:00:00Z"), Some(i64::MIN));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T00:00:00.Z",
            "2024-01-01",
            "",
            "2024-1-01T00:00:00Z",
            "२०२४-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_datetime_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        let h = 3600 * SEC;
        assert_eq!(parse_duration_nanos("123"), Some(123));
        assert_eq!(parse_duration_nanos("-5"), Some(-5));
        assert_eq!(parse_duration_nanos("1h30m"), Some(h + h / 2));
        assert_eq!(parse_duration_nanos("-1.5h"), Some(-(h + h / 2)));
        assert_eq!(parse_duration_nanos("300ms"), Some(300_000_000));
        assert_eq!(parse_duration_nanos("1µs"), Some(1_000));
        assert_eq!(parse_duration_nanos("1μs2ns"), Some(1_002));
        assert_eq!(parse_duration_nanos("2d"), Some(48 * h));
        assert_eq!(parse_duration_nanos("1.5d"), Some(36 * h));
        assert_eq!(parse_duration_nanos(".5s"), Some(SEC / 2));
        assert_eq!(parse_duration_nanos("0"), Some(0));
        assert_eq!(parse_duration_nanos("+0"), Some(0));
        assert_eq!(parse_duration_nanos("01:30:00"), Some(h + h / 2));
        assert_eq!(parse_duration_nanos("100:00:01"), Some(100 * h + SEC));
        assert_eq!(parse_duration_nanos("2562047h"), Some(2_562_047 * h));
        for bad in [
            "", "1t", "h", "1", "1.5", ".", "1h-1m", "00:60:00", "00:00:60", "-1:00:00", "1:2",
            "1:2:3:4", "2562048h", "1e3s", "1 h",
        ] {
            // "1" is a valid plain-integer form, so only check the Go/hhmmss fallbacks for it.
            if bad == "1" {
                assert_eq!(parse_go_duration(bad), None);
                continue;
            }
            assert_eq!(parse_duration_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status_name("Running"), Some(1));
        assert_eq!(
            parse_status_name("WORKFLOW_EXECUTION_STATUS_TIMED_OUT"),
            Some(7)
        );
        assert_eq!(parse_status_name("ContinuedAsNew"), Some(6));
        assert_eq!(parse_status_name("running"), None);
        assert_eq!(parse_status_name("RUNNING"), None);
        assert!(is_status_number(0) && is_status_number(7));
        assert!(!is_status_number(8) && !is_status_number(-1));
    }
}

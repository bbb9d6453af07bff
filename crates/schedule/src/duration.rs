//! Go's `time.ParseDuration` (with Temporal's extension: `d` for days), because `@every`
//! cron strings are read with it and its error messages reach users.

const UNITS: [(&str, u64); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 0),
];

/// The duration in nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    parse_standard(&days_as_hours(text))
}

/// Temporal rewrites every `<number>d` as `<24 × number, six decimals>h` before parsing.
fn days_as_hours(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let end = number_end(bytes, i);
        if end > i && bytes.get(end) == Some(&b'd') {
            let days: f64 = text[i..end].parse().unwrap_or(0.0);
            out.push_str(&format!("{:.6}h", 24.0 * days));
            i = end + 1;
        } else {
            let next = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + next]);
            i += next;
        }
    }
    out
}

/// The end of `\d+(\.\d*)?|\.\d+` starting at `start` (`start` itself when none).
fn number_end(bytes: &[u8], start: usize) -> usize {
    let digits = |from: usize| {
        let mut at = from;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        at
    };
    let integer_end = digits(start);
    if integer_end > start {
        if bytes.get(integer_end) == Some(&b'.') {
            return digits(integer_end + 1);
        }
        return integer_end;
    }
    if bytes.get(start) == Some(&b'.') {
        let fraction_end = digits(start + 1);
        if fraction_end > start + 1 {
            return fraction_end;
        }
    }
    start
}

fn parse_standard(original: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {original:?}");
    let (negative, mut rest) = match original.as_bytes().first() {
        Some(b'-') => (true, &original[1..]),
        Some(b'+') => (false, &original[1..]),
        _ => (false, original),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_component(rest, original)?;
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > 1 << 63 {
            return Err(invalid());
        }
        rest = after;
    }
    if negative {
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// One `<number><unit>` component: its nanoseconds and the text after it.
fn parse_component<'a>(text: &'a str, original: &str) -> Result<(u64, &'a str), String> {
    let invalid = || format!("time: invalid duration {original:?}");
    let bytes = text.as_bytes();
    if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
        return Err(invalid());
    }
    let integer_end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    let whole: u64 = if integer_end == 0 {
        0
    } else {
        text[..integer_end].parse().map_err(|_| invalid())?
    };
    let (mut fraction, mut scale, mut at) = (0u64, 1f64, integer_end);
    let mut has_fraction = false;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let mut overflowed = false;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            has_fraction = true;
            if !overflowed && fraction <= (i64::MAX as u64 - 9) / 10 {
                fraction = fraction * 10 + u64::from(bytes[at] - b'0');
                scale *= 10.0;
            } else {
                overflowed = true;
            }
            at += 1;
        }
    }
    if integer_end == 0 && !has_fraction {
        return Err(invalid());
    }
    let unit_end = text[at..]
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .map_or(text.len(), |i| at + i);
    let unit_text = &text[at..unit_end];
    if unit_text.is_empty() {
        return Err(format!("time: missing unit in duration {original:?}"));
    }
    let unit = UNITS
        .iter()
        .find(|(name, nanos)| *name == unit_text && *nanos > 0)
        .map(|(_, nanos)| *nanos)
        .ok_or_else(|| format!("time: unknown unit {unit_text:?} in duration {original:?}"))?;
    if whole > (1 << 63) / unit {
        return Err(invalid());
    }
    let mut nanos = whole * unit;
    if fraction > 0 {
        nanos += (fraction as f64 * (unit as f64 / scale)) as u64;
        if nanos > 1 << 63 {
            return Err(invalid());
        }
    }
    Ok((nanos, &text[unit_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_and_days() {
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("2d").unwrap(), 172_800_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert_eq!(parse_go_duration("-5m").unwrap(), -300_000_000_000);
    }

    #[test]
    fn errors_quote_like_go() {
        assert_eq!(
            parse_go_duration("5").unwrap_err(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_go_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
    }
}

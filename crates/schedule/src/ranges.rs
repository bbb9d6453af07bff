//! The text form of calendar fields (`"1-5/2,8"`, `"mon-fri"`, `"*"`) turned into the
//! structured `Range`s Temporal stores, with Temporal's defaults, canonical form and error
//! messages (users see them after `Invalid schedule spec: `).

use temper_api::proto::schedule::v1::{CalendarSpec, Range, StructuredCalendarSpec};

/// Earliest and latest year a calendar can name (Temporal's bounds).
pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;

/// How a field's values may be spelled besides decimal integers.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    None,
    /// Like `None`, but `*` is the empty range list (every year).
    Year,
    /// Month names by a prefix of at least three letters.
    Month,
    /// Weekday names by a prefix of at least two letters.
    Weekday,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// One calendar field's rules.
struct Field {
    name: &'static str,
    default: &'static str,
    min: i32,
    max: i32,
    names: Names,
}

/// A `CalendarSpec` (text fields) as a `StructuredCalendarSpec`; every field's errors are
/// reported, joined by ", ", in Temporal's field order.
pub fn parse_calendar(calendar: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let mut errors = Vec::new();
    let mut field = |text: &str, rules: Field| {
        parse_field(text, &rules).unwrap_or_else(|error| {
            errors.push(error);
            Vec::new()
        })
    };
    let structured = StructuredCalendarSpec {
        second: field(
            &calendar.second,
            field_rules("Second", "0", 0, 59, Names::None),
        ),
        minute: field(
            &calendar.minute,
            field_rules("Minute", "0", 0, 59, Names::None),
        ),
        hour: field(&calendar.hour, field_rules("Hour", "0", 0, 23, Names::None)),
        day_of_week: field(
            &calendar.day_of_week,
            field_rules("DayOfWeek", "*", 0, 7, Names::Weekday),
        ),
        day_of_month: field(
            &calendar.day_of_month,
            field_rules("DayOfMonth", "*", 1, 31, Names::None),
        ),
        month: field(
            &calendar.month,
            field_rules("Month", "*", 1, 12, Names::Month),
        ),
        year: field(
            &calendar.year,
            field_rules("Year", "*", MIN_YEAR, MAX_YEAR, Names::Year),
        ),
        comment: calendar.comment.clone(),
    };
    if errors.is_empty() {
        Ok(structured)
    } else {
        Err(errors.join(", "))
    }
}

fn field_rules(
    name: &'static str,
    default: &'static str,
    min: i32,
    max: i32,
    names: Names,
) -> Field {
    Field {
        name,
        default,
        min,
        max,
        names,
    }
}

/// One field's comma-separated parts as ranges.
fn parse_field(text: &str, field: &Field) -> Result<Vec<Range>, String> {
    let text = match text.trim() {
        "" => field.default,
        trimmed => trimmed,
    };
    if text == "*" && field.names == Names::Year {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in text.split(',') {
        parse_part(part, field, &mut ranges)?;
    }
    Ok(ranges)
}

/// One part (`*`, `x`, `x-z`, `x/y`, `x-z/y`, `*/y`), appended to `ranges`.
fn parse_part(part: &str, field: &Field, ranges: &mut Vec<Range>) -> Result<(), String> {
    let name = field.name;
    let (values, step) = match part.matches('/').count() {
        0 => (part, None),
        1 => {
            let (values, step) = part.split_once('/').unwrap_or((part, ""));
            if step.is_empty() {
                return Err(format!("{name} missing step value"));
            }
            let step = go_atoi(step)?;
            if step < 1 {
                return Err(format!("{name} has invalid Step"));
            }
            (values, Some(step))
        }
        _ => return Err(format!("{name} has too many slashes")),
    };
    let (min, max) = (field.min, field.max);
    let (mut start, mut end) = (min, max);
    if values != "*" {
        if let Some((low, high)) = values.split_once('-') {
            if high.contains('-') {
                return Err(format!("{name} has too many dashes"));
            }
            start = parse_value(low, min, max, field.names)
                .ok_or_else(|| format!("{name} Start is not in range [{min}-{max}]"))?;
            end = parse_value(high, start, max, field.names).ok_or_else(|| {
                format!("{name} End is before Start or not in range [{min}-{max}]")
            })?;
        } else {
            start = parse_value(values, min, max, field.names)
                .ok_or_else(|| format!("{name} is not in range [{min}-{max}]"))?;
            // With a step, a single value runs to the field's maximum.
            if step.is_none() {
                end = start;
            }
        }
    }
    let step = step.unwrap_or(1);
    if field.names == Names::Weekday && end == 7 {
        // 7 is Sunday too. Temporal turns it into 0, adding a range for it unless the
        // original range already starts at 0 or 1 with step 1 (then 0-6 covers it).
        if (7 - start) % step == 0 && (step > 1 || start > 1) {
            ranges.push(Range {
                start: 0,
                end: 0,
                step: 0,
            });
            if start == 7 {
                return Ok(());
            }
        }
        end = 6;
    }
    ranges.push(Range {
        start,
        // Defaults (end = start, step 1) are left out, so the stored form is smaller.
        end: if start == end { 0 } else { end },
        step: if step == 1 { 0 } else { step },
    });
    Ok(())
}

/// A value in `min..=max`, by number or (for months and weekdays) by name prefix.
fn parse_value(text: &str, min: i32, max: i32, names: Names) -> Option<i32> {
    let named = match names {
        Names::Month if text.len() >= 3 => prefix_index(&MONTHS, text).map(|i| i + 1),
        Names::Weekday if text.len() >= 2 => prefix_index(&WEEKDAYS, text),
        _ => None,
    };
    let value = match named {
        Some(value) => value,
        None => go_atoi(text).ok()?,
    };
    (min..=max).contains(&value).then_some(value)
}

fn prefix_index(names: &[&str], text: &str) -> Option<i32> {
    let lower = text.to_lowercase();
    let index = names.iter().position(|name| name.starts_with(&lower))?;
    i32::try_from(index).ok()
}

/// Go's `strconv.Atoi` on 64-bit platforms, with its error messages; results beyond `i32`
/// (never valid in a calendar field) are clamped so they fail the range checks.
fn go_atoi(text: &str) -> Result<i32, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    let value: i64 = text
        .parse()
        .map_err(|_| format!("strconv.Atoi: parsing {text:?}: value out of range"))?;
    Ok(value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// Checks a structured calendar's ranges and comment, with Temporal's messages.
pub fn validate_structured(calendar: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut check = |ranges: &[Range], name: &str, min: i32, max: i32| {
        for range in ranges {
            if range.start < min || range.start > max {
                errors.push(format!("{name} Start is not in range [{min}-{max}]"));
            }
            if range.end != 0 && (range.end < range.start || range.end > max) {
                errors.push(format!(
                    "{name} End is before Start or not in range [{min}-{max}]"
                ));
            }
            if range.step < 0 {
                errors.push(format!("{name} has invalid Step"));
            }
        }
    };
    check(&calendar.second, "Second", 0, 59);
    check(&calendar.minute, "Minute", 0, 59);
    check(&calendar.hour, "Hour", 0, 23);
    check(&calendar.day_of_month, "DayOfMonth", 1, 31);
    check(&calendar.month, "Month", 1, 12);
    check(&calendar.year, "Year", MIN_YEAR, MAX_YEAR);
    check(&calendar.day_of_week, "DayOfWeek", 0, 6);
    if calendar.comment.len() > 200 {
        errors.push("comment is too long".to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid calendar spec: {}", errors.join(", ")))
    }
}

/// Calls `visit` for every value the ranges cover (step 0 means 1; an end before the start
/// means the start alone).
pub fn for_each_value(ranges: &[Range], mut visit: impl FnMut(i32)) {
    for range in ranges {
        let step = i64::from(range.step.max(1));
        let end = i64::from(range.end.max(range.start));
        let mut value = i64::from(range.start);
        while value <= end {
            visit(value as i32);
            value += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    fn calendar(hour: &str, minute: &str) -> CalendarSpec {
        CalendarSpec {
            hour: hour.into(),
            minute: minute.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_fill_every_field() {
        let structured = parse_calendar(&calendar("5,7", "23")).unwrap();
        assert_eq!(structured.second, vec![range(0, 0, 0)]);
        assert_eq!(structured.minute, vec![range(23, 0, 0)]);
        assert_eq!(structured.hour, vec![range(5, 0, 0), range(7, 0, 0)]);
        assert_eq!(structured.day_of_month, vec![range(1, 31, 0)]);
        assert_eq!(structured.month, vec![range(1, 12, 0)]);
        assert_eq!(structured.day_of_week, vec![range(0, 6, 0)]);
        assert!(structured.year.is_empty());
    }

    #[test]
    fn steps_names_and_sunday_as_seven() {
        let field = |text: &str, names, min, max| {
            parse_field(text, &field_rules("F", "*", min, max, names)).unwrap()
        };
        assert_eq!(
            field("1-5/2,8", Names::None, 0, 59),
            vec![range(1, 5, 2), range(8, 0, 0)]
        );
        assert_eq!(field("3/5", Names::None, 0, 30), vec![range(3, 30, 5)]);
        assert_eq!(field("mon-fri", Names::Weekday, 0, 7), vec![range(1, 5, 0)]);
        assert_eq!(
            field("3-7", Names::Weekday, 0, 7),
            vec![range(0, 0, 0), range(3, 6, 0)]
        );
        assert_eq!(field("1-7", Names::Weekday, 0, 7), vec![range(1, 6, 0)]);
        assert_eq!(field("7", Names::Weekday, 0, 7), vec![range(0, 0, 0)]);
        assert_eq!(
            field("jan,Mar-may", Names::Month, 1, 12),
            vec![range(1, 0, 0), range(3, 5, 0)]
        );
    }

    #[test]
    fn errors_name_the_field_as_temporal_does() {
        let error = parse_calendar(&calendar("25", "1-2-3")).unwrap_err();
        assert_eq!(
            error,
            "Minute has too many dashes, Hour is not in range [0-23]"
        );
        let error = parse_calendar(&calendar("*/x", "")).unwrap_err();
        assert_eq!(error, "strconv.Atoi: parsing \"x\": invalid syntax");
        let error = parse_calendar(&calendar("5/", "3/5/7")).unwrap_err();
        assert_eq!(
            error,
            "Minute has too many slashes, Hour missing step value"
        );
    }
}

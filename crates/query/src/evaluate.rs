//! A query evaluated in memory against one item's attribute values, for lists too small to
//! live in the visibility table (schedules). Compile the query first ([`crate::compile`]): it
//! checks attribute names and value types and gives Temporal's errors; evaluation assumes a
//! valid query. Semantics follow the SQL the compiler emits: a missing value matches only
//! `IS NULL` (and never `!=` or `NOT IN`), Text `=` is the full-text match, and a KeywordList
//! `=` means "contains".

use std::cmp::Ordering;

use crate::ast::{CompareOp, Condition, Expr, Predicate, Query, Value};
use crate::text::text_matches;
use crate::values::parse_datetime_nanos;

/// One attribute's value, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Keyword(String),
    Text(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Unix nanoseconds.
    Datetime(i64),
    KeywordList(Vec<String>),
}

/// Whether the item whose attributes `lookup` gives matches the query's filter.
pub fn evaluate(query: &Query, lookup: &dyn Fn(&str) -> Option<AttributeValue>) -> bool {
    query
        .filter
        .as_ref()
        .is_none_or(|filter| evaluate_expr(filter, lookup))
}

fn evaluate_expr(expr: &Expr, lookup: &dyn Fn(&str) -> Option<AttributeValue>) -> bool {
    match expr {
        Expr::And(operands) => operands.iter().all(|e| evaluate_expr(e, lookup)),
        Expr::Or(operands) => operands.iter().any(|e| evaluate_expr(e, lookup)),
        Expr::Not(operand) => !evaluate_expr(operand, lookup),
        Expr::Predicate(predicate) => evaluate_predicate(predicate, lookup),
    }
}

fn evaluate_predicate(
    predicate: &Predicate,
    lookup: &dyn Fn(&str) -> Option<AttributeValue>,
) -> bool {
    let value = lookup(&predicate.attribute.name);
    if let Condition::IsNull { negated } = predicate.condition {
        return value.is_none() != negated;
    }
    let Some(value) = value else {
        return false;
    };
    match &predicate.condition {
        Condition::Compare { op, value: literal } => compare(&value, *op, &literal.value),
        Condition::In { negated, values } => {
            values
                .iter()
                .any(|l| compare(&value, CompareOp::Eq, &l.value))
                != *negated
        }
        Condition::Between { negated, low, high } => {
            let inside = compare(&value, CompareOp::Ge, &low.value)
                && compare(&value, CompareOp::Le, &high.value);
            inside != *negated
        }
        Condition::StartsWith { negated, prefix } => match (&value, &prefix.value) {
            (AttributeValue::Keyword(s) | AttributeValue::Text(s), Value::Str(p)) => {
                s.starts_with(p.as_str()) != *negated
            }
            _ => false,
        },
        Condition::IsNull { .. } | Condition::Unsupported { .. } => false,
    }
}

fn compare(value: &AttributeValue, op: CompareOp, literal: &Value) -> bool {
    use AttributeValue as A;
    let ordering = match (value, literal) {
        (A::Keyword(s), Value::Str(l)) => s.as_str().cmp(l.as_str()),
        (A::Text(s), Value::Str(l)) => {
            return match op {
                CompareOp::Eq => text_matches(s, l),
                CompareOp::Ne => !text_matches(s, l),
                _ => false,
            };
        }
        (A::KeywordList(items), Value::Str(l)) => {
            return match op {
                CompareOp::Eq => items.contains(l),
                CompareOp::Ne => !items.contains(l),
                _ => false,
            };
        }
        (A::Int(i), Value::Int(l)) => i.cmp(l),
        (A::Int(i), Value::Float(l)) => match (*i as f64).partial_cmp(l) {
            Some(ordering) => ordering,
            None => return false,
        },
        (A::Double(d), Value::Int(l)) => match d.partial_cmp(&(*l as f64)) {
            Some(ordering) => ordering,
            None => return false,
        },
        (A::Double(d), Value::Float(l)) => match d.partial_cmp(l) {
            Some(ordering) => ordering,
            None => return false,
        },
        (A::Bool(b), Value::Bool(l)) => b.cmp(l),
        (A::Datetime(t), Value::Str(l)) => match parse_datetime_nanos(l) {
            Some(l) => t.cmp(&l),
            None => return false,
        },
        _ => return false,
    };
    holds(op, ordering)
}

fn holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn item(name: &str) -> Option<AttributeValue> {
        match name {
            "TemporalSchedulePaused" => Some(AttributeValue::Bool(true)),
            "Team" => Some(AttributeValue::Keyword("payments".into())),
            "Priority" => Some(AttributeValue::Int(3)),
            "Tags" => Some(AttributeValue::KeywordList(vec!["a".into(), "b".into()])),
            "Due" => Some(AttributeValue::Datetime(1_700_000_000_000_000_000)),
            _ => None,
        }
    }

    fn matches(query: &str) -> bool {
        evaluate(&parse(query).unwrap(), &item)
    }

    #[test]
    fn conditions_of_every_kind() {
        assert!(matches("TemporalSchedulePaused = true"));
        assert!(!matches("TemporalSchedulePaused = false"));
        assert!(matches("Team = 'payments' AND Priority >= 3"));
        assert!(matches("Team IN ('x', 'payments') OR Priority < 0"));
        assert!(matches("Priority BETWEEN 1 AND 3 AND NOT Team = 'x'"));
        assert!(matches("Team STARTS_WITH 'pay'"));
        assert!(matches("Tags = 'b' AND Tags != 'c'"));
        assert!(matches("Due < '2024-01-01T00:00:00Z'"));
        assert!(matches("Missing IS NULL AND Team IS NOT NULL"));
        assert!(matches(""));
    }

    #[test]
    fn a_missing_value_matches_only_is_null() {
        assert!(!matches("Missing = 'x'"));
        assert!(!matches("Missing != 'x'"));
        assert!(!matches("Missing NOT IN ('x')"));
    }
}

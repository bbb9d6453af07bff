//! Turns a parsed [`Query`] into SQL over the `visibility` table, for SQLite or PostgreSQL.
//!
//! Which operators each type accepts, how values are checked and converted, and the error
//! wording follow `common/persistence/visibility/store/query/converter.go`; the SQL shapes
//! follow the spirit of `common/persistence/visibility/store/sql/query_converter.go` adapted to
//! our schema (nanosecond integer times, integer status, attributes in one JSON column).
//!
//! Both dialects select the same rows for the same data. The PostgreSQL rendering differs where
//! the engines do: `TRUE` for an empty filter; `$n` placeholders, each cast to the type of its
//! bound value; typed reads of the JSONB column; byte order (`COLLATE "C"`, like SQLite's
//! BINARY) for text range comparisons and sorting; SQLite's NULL placement in ORDER BY; and
//! KeywordList membership as JSONB containment, which is NULL (not false) on a run without the
//! attribute, so it is wrapped in `COALESCE(.., FALSE)` wherever that difference could show
//! (under an odd number of negations).

use crate::ast::{CompareOp, Condition, Expr, Ident, Literal, Predicate, Query, Value};
use crate::attributes::{AttributeType, NAMESPACE_DIVISION, Resolved, Special, Storage, resolve};
use crate::text::{TEXT_MATCH_FUNCTION, has_terms};
use crate::values::{
    is_status_number, parse_datetime_nanos, parse_duration_nanos, parse_status_name,
};
use crate::{CompiledQuery, Dialect, QueryError, SqlValue};

const NOT_SUPPORTED: &str = "operation is not supported";
const INVALID: &str = "invalid expression";

pub(crate) fn compile(
    query: &Query,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
    dialect: Dialect,
) -> Result<CompiledQuery, QueryError> {
    if let Dialect::Postgres { first_parameter } = dialect {
        assert!(
            first_parameter >= 1,
            "PostgreSQL placeholders are numbered from $1"
        );
    }
    let mut compiler = Compiler {
        custom,
        dialect,
        params: Vec::new(),
        mentions_namespace_division: false,
        negated: false,
    };
    let where_sql = match &query.filter {
        None => match dialect {
            Dialect::Sqlite => "1".to_string(),
            Dialect::Postgres { .. } => "TRUE".to_string(),
        },
        // A top-level OR is parenthesized so callers can AND their own conditions onto it.
        Some(expr @ Expr::Or(_)) => format!("({})", compiler.expr(expr)?),
        Some(expr) => compiler.expr(expr)?,
    };

    let mut group_by_status = false;
    if let Some(extra) = query.group_by.get(1) {
        return Err(QueryError::at(
            format!("{NOT_SUPPORTED}: 'GROUP BY' clause supports only a single field"),
            extra.position,
        ));
    }
    if let Some(ident) = query.group_by.first() {
        let resolved = compiler.resolve(ident)?;
        // Temporal also groups by TemporalNamespaceDivision and TemporalLowCardinalityKeyword*,
        // which mean nothing here.
        if resolved.special != Special::ExecutionStatus {
            return Err(QueryError::at(
                format!(
                    "{NOT_SUPPORTED}: 'GROUP BY' clause is not supported for search attribute {}",
                    ident.name
                ),
                ident.position,
            ));
        }
        group_by_status = true;
    }

    let mut order_terms = Vec::with_capacity(query.order_by.len());
    for term in &query.order_by {
        let resolved = compiler.resolve(&term.attribute)?;
        // Temporal refuses Text; sorting JSON arrays as text would be meaningless, so
        // KeywordList is refused too.
        if matches!(
            resolved.ty,
            AttributeType::Text | AttributeType::KeywordList
        ) {
            return Err(QueryError::at(
                format!(
                    "{NOT_SUPPORTED}: unable to sort by search attribute type {}",
                    resolved.ty
                ),
                term.attribute.position,
            ));
        }
        let direction = if term.descending { "DESC" } else { "ASC" };
        order_terms.push(match dialect {
            Dialect::Sqlite => format!("{} {direction}", value_sql(&resolved, dialect)),
            // SQLite puts NULLs first in ascending order and last in descending order;
            // PostgreSQL does the opposite unless told.
            Dialect::Postgres { .. } => {
                let nulls = match (nullable(&resolved), term.descending) {
                    (false, _) => "",
                    (true, false) => " NULLS FIRST",
                    (true, true) => " NULLS LAST",
                };
                format!("{} {direction}{nulls}", ordered_sql(&resolved, dialect))
            }
        });
    }
    let order_by = (!order_terms.is_empty()).then(|| order_terms.join(", "));

    Ok(CompiledQuery {
        where_sql,
        params: compiler.params,
        order_by,
        group_by_status,
        mentions_namespace_division: compiler.mentions_namespace_division,
    })
}

/// An operator as it applies to a single attribute, for permission checks and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Compare(CompareOp),
    In(bool),
    StartsWith(bool),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Compare(op) => op.as_str(),
            Op::In(false) => "IN",
            Op::In(true) => "NOT IN",
            Op::StartsWith(false) => "STARTS_WITH",
            Op::StartsWith(true) => "NOT STARTS_WITH",
        }
    }
}

/// Operator sets per type, from `supported*Operators` in converter.go. ExecutionStatus is a
/// Keyword there too, but its value becomes a number, so a prefix match can't apply.
fn operator_allowed(resolved: &Resolved, op: Op) -> bool {
    let equality = matches!(op, Op::Compare(CompareOp::Eq | CompareOp::Ne));
    match resolved.ty {
        AttributeType::Keyword => {
            !(resolved.special == Special::ExecutionStatus && matches!(op, Op::StartsWith(_)))
        }
        AttributeType::KeywordList => equality || matches!(op, Op::In(_)),
        AttributeType::Text => equality,
        AttributeType::Int
        | AttributeType::Double
        | AttributeType::Bool
        | AttributeType::Datetime => !matches!(op, Op::StartsWith(_)),
    }
}

/// Types BETWEEN applies to (`supportedTypesRangeCond`).
fn range_allowed(ty: AttributeType) -> bool {
    matches!(
        ty,
        AttributeType::Datetime
            | AttributeType::Double
            | AttributeType::Int
            | AttributeType::Keyword
    )
}

fn operator_error(ident: &Ident, ty: AttributeType, op: &str, position: usize) -> QueryError {
    QueryError::at(
        format!(
            "{NOT_SUPPORTED}: operator '{op}' not supported for {ty} type search attribute '{}'",
            ident.name
        ),
        position,
    )
}

/// Quotes `s` as a SQL string literal.
fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQLite JSON path selecting object key `key`, as a SQL string literal. The key is quoted
/// with JSON escapes, so any name is safe (SQLite >= 3.45 decodes escapes in quoted path labels).
pub(crate) fn json_path_literal(key: &str) -> String {
    let mut path = String::from("$.\"");
    for c in key.chars() {
        match c {
            '"' => path.push_str("\\\""),
            '\\' => path.push_str("\\\\"),
            c if u32::from(c) < 0x20 => path.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => path.push(c),
        }
    }
    path.push('"');
    sql_string(&path)
}

/// The SQL expression reading a non-column search attribute's value; the store indexes
/// exactly this expression, so compiled filters on the attribute can use the index.
pub fn search_attribute_expression(name: &str) -> String {
    format!(
        "json_extract(search_attributes, {})",
        json_path_literal(name)
    )
}

/// [`search_attribute_expression`] for a dialect. PostgreSQL reads the JSONB value typed:
/// text for Keyword and Text, `bigint` for Int and Datetime, `double precision`, `boolean`,
/// and the JSONB array itself for KeywordList. SQLite ignores `ty`.
pub fn search_attribute_expression_for(name: &str, ty: AttributeType, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => search_attribute_expression(name),
        Dialect::Postgres { .. } => {
            let key = sql_string(name);
            match ty {
                AttributeType::Keyword | AttributeType::Text => {
                    format!("(search_attributes ->> {key})")
                }
                AttributeType::Int | AttributeType::Datetime => {
                    format!("((search_attributes ->> {key})::bigint)")
                }
                AttributeType::Double => {
                    format!("((search_attributes ->> {key})::double precision)")
                }
                AttributeType::Bool => format!("((search_attributes ->> {key})::boolean)"),
                AttributeType::KeywordList => format!("(search_attributes -> {key})"),
            }
        }
    }
}

/// [`crate::DEFAULT_NAMESPACE_DIVISION_FILTER`] for a dialect.
pub fn default_namespace_division_filter(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => crate::DEFAULT_NAMESPACE_DIVISION_FILTER,
        Dialect::Postgres { .. } => "(search_attributes ->> 'TemporalNamespaceDivision') IS NULL",
    }
}

/// SQL for an attribute's value (typed, for PostgreSQL).
fn value_sql(resolved: &Resolved, dialect: Dialect) -> String {
    match &resolved.storage {
        Storage::Column(column) => (*column).to_string(),
        Storage::Json(key) => search_attribute_expression_for(key, resolved.ty, dialect),
    }
}

/// Whether the attribute's SQL value is text (ExecutionStatus is a Keyword stored as a number).
fn is_text(resolved: &Resolved) -> bool {
    matches!(resolved.ty, AttributeType::Keyword | AttributeType::Text)
        && resolved.special != Special::ExecutionStatus
}

/// [`value_sql`] for ordering (`<`, BETWEEN, ORDER BY): PostgreSQL compares text in the
/// column's collation, so byte order is requested to match SQLite's BINARY. Equality needs no
/// collation (it is byte equality under any deterministic one) and so keeps using indexes.
fn ordered_sql(resolved: &Resolved, dialect: Dialect) -> String {
    let sql = value_sql(resolved, dialect);
    match dialect {
        Dialect::Postgres { .. } if is_text(resolved) => format!("{sql} COLLATE \"C\""),
        _ => sql,
    }
}

/// Columns of the `visibility` table that may be NULL; search attributes in the JSON always may.
const NULLABLE_COLUMNS: &[&str] = &[
    "close_time",
    "execution_duration",
    "parent_workflow_id",
    "parent_run_id",
];

fn nullable(resolved: &Resolved) -> bool {
    match &resolved.storage {
        Storage::Column(column) => NULLABLE_COLUMNS.contains(column),
        Storage::Json(_) => true,
    }
}

/// PostgreSQL SQL testing whether the attribute is (not) NULL: on the JSON, an absent key (or a
/// JSON null) is NULL; no cast is applied, so no stored value can make it fail.
fn is_null_sql(resolved: &Resolved, dialect: Dialect, negated: bool) -> String {
    let value = match (&resolved.storage, dialect) {
        (Storage::Json(key), Dialect::Postgres { .. }) => {
            format!("(search_attributes ->> {})", sql_string(key))
        }
        _ => value_sql(resolved, dialect),
    };
    format!("{value} IS {}NULL", not_prefix(negated))
}

/// A table-valued source over a KeywordList's elements.
fn list_source(resolved: &Resolved) -> String {
    match &resolved.storage {
        Storage::Column(column) => format!("json_each({column})"),
        Storage::Json(key) => format!("json_each(search_attributes, {})", json_path_literal(key)),
    }
}

fn not_prefix(negated: bool) -> &'static str {
    if negated { "NOT " } else { "" }
}

/// Go's `%T` name for a literal, used in Temporal-style type errors.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Str(_) => "string",
        Value::Int(_) => "int64",
        Value::Float(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Null => "nil",
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "NULL".to_string(),
    }
}

struct Compiler<'a> {
    custom: &'a dyn Fn(&str) -> Option<AttributeType>,
    dialect: Dialect,
    params: Vec<SqlValue>,
    mentions_namespace_division: bool,
    /// Whether the expression being compiled sits under an odd number of NOTs.
    negated: bool,
}

impl Compiler<'_> {
    /// Adds a parameter and returns its placeholder: `?` for SQLite; for PostgreSQL `$n` cast
    /// to the bound value's type, or, for a Bool attribute (bound as 1/0), a boolean.
    fn bind(&mut self, resolved: &Resolved, value: SqlValue) -> String {
        let sql = match self.dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres { first_parameter } => {
                let n = first_parameter + self.params.len();
                match (&value, resolved.ty) {
                    (SqlValue::Int(_), AttributeType::Bool) => format!("(${n}::bigint <> 0)"),
                    (SqlValue::Int(_), _) => format!("${n}::bigint"),
                    (SqlValue::Real(_), _) => format!("${n}::double precision"),
                    (SqlValue::Text(_), _) => format!("${n}::text"),
                }
            }
        };
        self.params.push(value);
        sql
    }

    /// PostgreSQL membership test of a KeywordList (`atom` is NULL when the run lacks the
    /// attribute, where SQLite's EXISTS is false). When the atom ends up under an odd number of
    /// negations (enclosing NOTs plus the operator's own, `negated_here`), that NULL would not
    /// turn into a match where SQLite's false does, so the atom is made two-valued; otherwise
    /// NULL and false select the same rows and the bare form is kept, as it can use a GIN index.
    fn membership(&self, atom: String, negated_here: bool) -> String {
        let atom = if self.negated != negated_here {
            format!("COALESCE({atom}, FALSE)")
        } else {
            atom
        };
        format!("{}{atom}", not_prefix(negated_here))
    }

    fn resolve(&mut self, ident: &Ident) -> Result<Resolved, QueryError> {
        let resolved = resolve(&ident.name, self.custom).ok_or_else(|| {
            QueryError::at(
                format!(
                    "{INVALID}: column name '{}' is not a valid search attribute",
                    ident.name
                ),
                ident.position,
            )
        })?;
        if resolved.field == NAMESPACE_DIVISION {
            self.mentions_namespace_division = true;
        }
        Ok(resolved)
    }

    fn expr(&mut self, expr: &Expr) -> Result<String, QueryError> {
        match expr {
            Expr::And(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    let sql = self.expr(item)?;
                    // AND binds tighter than OR, so only OR operands need parentheses.
                    parts.push(if matches!(item, Expr::Or(_)) {
                        format!("({sql})")
                    } else {
                        sql
                    });
                }
                Ok(parts.join(" AND "))
            }
            Expr::Or(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(self.expr(item)?);
                }
                Ok(parts.join(" OR "))
            }
            Expr::Not(inner) => {
                self.negated = !self.negated;
                let sql = self.expr(inner);
                self.negated = !self.negated;
                let sql = sql?;
                Ok(if matches!(**inner, Expr::And(_) | Expr::Or(_)) {
                    format!("NOT ({sql})")
                } else {
                    format!("NOT {sql}")
                })
            }
            Expr::Predicate(predicate) => self.predicate(predicate),
        }
    }

    fn predicate(&mut self, predicate: &Predicate) -> Result<String, QueryError> {
        let ident = &predicate.attribute;
        let r = self.resolve(ident)?;
        let check = |op: Op| {
            if operator_allowed(&r, op) {
                Ok(())
            } else {
                Err(operator_error(ident, r.ty, op.name(), ident.position))
            }
        };
        let dialect = self.dialect;
        let postgres = matches!(dialect, Dialect::Postgres { .. });
        match &predicate.condition {
            Condition::IsNull { negated } => Ok(is_null_sql(&r, dialect, *negated)),
            Condition::Unsupported { operator, position } => {
                Err(operator_error(ident, r.ty, operator, *position))
            }
            Condition::Compare { op, value } => {
                check(Op::Compare(*op))?;
                let param = self.convert(ident, &r, value)?;
                let negated = *op == CompareOp::Ne;
                match r.ty {
                    AttributeType::KeywordList => {
                        let p = self.bind(&r, param);
                        Ok(if postgres {
                            let atom =
                                format!("{} @> jsonb_build_array({p})", value_sql(&r, dialect));
                            self.membership(atom, negated)
                        } else {
                            format!(
                                "{}EXISTS (SELECT 1 FROM {} AS j WHERE j.value = {p})",
                                not_prefix(negated),
                                list_source(&r)
                            )
                        })
                    }
                    AttributeType::Text => {
                        if let SqlValue::Text(text) = &param
                            && !has_terms(text)
                        {
                            return Err(QueryError::at(
                                format!(
                                    "{INVALID}: unexpected value for Text type search attribute \
                                     (no tokens found)"
                                ),
                                value.position,
                            ));
                        }
                        let p = self.bind(&r, param);
                        // COALESCE: a missing value is no match (so `!=` matches it), as with
                        // Temporal's `rowid NOT IN (fts match)`.
                        Ok(format!(
                            "{}{TEXT_MATCH_FUNCTION}(COALESCE({}, ''), {p})",
                            not_prefix(negated),
                            value_sql(&r, dialect)
                        ))
                    }
                    _ => {
                        let p = self.bind(&r, param);
                        let lhs = match op {
                            CompareOp::Eq | CompareOp::Ne => value_sql(&r, dialect),
                            _ => ordered_sql(&r, dialect),
                        };
                        Ok(format!("{lhs} {} {p}", op.as_str()))
                    }
                }
            }
            Condition::In { negated, values } => {
                check(Op::In(*negated))?;
                let mut list = Vec::with_capacity(values.len());
                for value in values {
                    let param = self.convert(ident, &r, value)?;
                    list.push(self.bind(&r, param));
                }
                let list = list.join(", ");
                Ok(match (r.ty, postgres) {
                    (AttributeType::KeywordList, false) => format!(
                        "{}EXISTS (SELECT 1 FROM {} AS j WHERE j.value IN ({list}))",
                        not_prefix(*negated),
                        list_source(&r)
                    ),
                    // `?|`: whether any of the strings is an element of the array.
                    (AttributeType::KeywordList, true) => {
                        let atom = format!("{} ?| ARRAY[{list}]", value_sql(&r, dialect));
                        self.membership(atom, *negated)
                    }
                    _ => format!(
                        "{} {}IN ({list})",
                        value_sql(&r, dialect),
                        not_prefix(*negated)
                    ),
                })
            }
            Condition::Between { negated, low, high } => {
                if !range_allowed(r.ty) {
                    return Err(QueryError::at(
                        format!(
                            "{INVALID}: cannot do range condition on search attribute '{}' of \
                             type {}",
                            ident.name, r.ty
                        ),
                        ident.position,
                    ));
                }
                let low = self.convert(ident, &r, low)?;
                let high = self.convert(ident, &r, high)?;
                let low = self.bind(&r, low);
                let high = self.bind(&r, high);
                Ok(format!(
                    "{} {}BETWEEN {low} AND {high}",
                    ordered_sql(&r, dialect),
                    not_prefix(*negated)
                ))
            }
            Condition::StartsWith { negated, prefix } => {
                check(Op::StartsWith(*negated))?;
                let param = self.convert(ident, &r, prefix)?;
                let SqlValue::Text(text) = &param else {
                    return Err(QueryError::at(
                        format!(
                            "{INVALID}: right-hand side of 'STARTS_WITH' must be a literal string"
                        ),
                        prefix.position,
                    ));
                };
                // substr/length count characters, so this is an exact prefix test with no
                // LIKE wildcards or case folding to worry about.
                let len = text.chars().count();
                let p = self.bind(&r, param);
                Ok(if postgres {
                    // starts_with compares bytes (under the deterministic collations databases
                    // use), so it is exact too; NULL on a missing value, like substr.
                    format!(
                        "{}starts_with({}, {p})",
                        not_prefix(*negated),
                        value_sql(&r, dialect)
                    )
                } else {
                    let op = if *negated { "!=" } else { "=" };
                    format!("substr({}, 1, {len}) {op} {p}", value_sql(&r, dialect))
                })
            }
        }
    }

    /// Checks a literal against the attribute's type and converts it to its stored form.
    fn convert(
        &self,
        ident: &Ident,
        r: &Resolved,
        literal: &Literal,
    ) -> Result<SqlValue, QueryError> {
        let at = |message: String| QueryError::at(message, literal.position);
        let value = &literal.value;
        if *value == Value::Null {
            return Err(at(format!(
                "{INVALID}: NULL is not a valid value for search attribute '{}'; use IS NULL or \
                 IS NOT NULL",
                ident.name
            )));
        }
        let unexpected = |field: &str| {
            at(format!(
                "{INVALID}: unexpected value type {} for search attribute {field}",
                go_type(value)
            ))
        };
        match r.special {
            Special::ExecutionStatus => {
                return match value {
                    Value::Int(n) if is_status_number(*n) => Ok(SqlValue::Int(*n)),
                    Value::Int(n) => {
                        Err(at(format!("{INVALID}: invalid ExecutionStatus value {n}")))
                    }
                    Value::Str(s) => parse_status_name(s).map(SqlValue::Int).ok_or_else(|| {
                        at(format!("{INVALID}: invalid ExecutionStatus value '{s}'"))
                    }),
                    _ => Err(unexpected("ExecutionStatus")),
                };
            }
            Special::ExecutionDuration => {
                return match value {
                    Value::Int(n) => Ok(SqlValue::Int(*n)),
                    Value::Str(s) => parse_duration_nanos(s).map(SqlValue::Int).ok_or_else(|| {
                        at(format!(
                            "{INVALID}: invalid duration value for search attribute \
                             ExecutionDuration: {s}"
                        ))
                    }),
                    _ => Err(unexpected("ExecutionDuration")),
                };
            }
            Special::None => {}
        }
        let type_error = || {
            at(format!(
                "{INVALID}: invalid value type for search attribute {} of type {}: {} (type: {})",
                ident.name,
                r.ty,
                show(value),
                go_type(value)
            ))
        };
        match (r.ty, value) {
            (
                AttributeType::Keyword | AttributeType::Text | AttributeType::KeywordList,
                Value::Str(s),
            ) => Ok(SqlValue::Text(s.clone())),
            (AttributeType::Int | AttributeType::Double, Value::Int(n)) => Ok(SqlValue::Int(*n)),
            (AttributeType::Int | AttributeType::Double, Value::Float(f)) => Ok(SqlValue::Real(*f)),
            // JSON true/false come back from json_extract as 1/0.
            (AttributeType::Bool, Value::Bool(b)) => Ok(SqlValue::Int(i64::from(*b))),
            (AttributeType::Datetime, Value::Int(n)) => Ok(SqlValue::Int(*n)),
            (AttributeType::Datetime, Value::Str(s)) => parse_datetime_nanos(s)
                .map(SqlValue::Int)
                .ok_or_else(|| at(format!("{INVALID}: unable to parse datetime '{s}'"))),
            _ => Err(type_error()),
        }
    }
}

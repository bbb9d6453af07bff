//! `temper-query` owns Temporal's visibility list-filter language: the string users pass to
//! `temporal workflow list --query`, `ListWorkflowExecutions` and `CountWorkflowExecutions`
//! (e.g. `WorkflowType = 'Order' AND ExecutionStatus = 'Running' ORDER BY StartTime DESC`).
//! [`parse`] checks syntax only; [`compile`] resolves attribute names (system columns,
//! Temporal's predefined attributes, and caller-supplied custom ones), type-checks and converts
//! values (RFC 3339 datetimes, durations, status names) and emits a SQLite `WHERE` expression
//! over the store's `visibility` table with positional `?` parameters; [`compile_for`] emits
//! the same filter for another [`Dialect`] (PostgreSQL, with `$n` parameters and the functions
//! of [`POSTGRES_SETUP_SQL`]). It also holds the
//! search-attribute catalogue ([`system_attributes`], [`predefined_attributes`]) and the
//! full-text rule for Text attributes ([`text_matches`]). The crate is pure: no I/O, no
//! dependencies. Behaviour follows Temporal's Go converter
//! (`common/persistence/visibility/store/query/converter.go` and its SQL backend); the doc
//! comments of each module name the upstream file they follow.

mod ast;
mod attributes;
mod compile;
mod evaluate;
mod lexer;
mod parser;
mod postgres;
mod text;
mod values;

use std::fmt;

pub use ast::{CompareOp, Condition, Expr, Ident, Literal, OrderBy, Predicate, Query, Value};
pub use attributes::{
    AttributeType, builtin_attribute_type, is_reserved_attribute_name, is_user_settable_predefined,
    predefined_attributes, system_attribute_column, system_attributes,
};
pub use compile::{
    default_namespace_division_filter, search_attribute_expression, search_attribute_expression_for,
};
pub use evaluate::{AttributeValue, evaluate};
pub use postgres::POSTGRES_SETUP_SQL;
pub use text::{TEXT_MATCH_FUNCTION, text_matches};

/// The condition Temporal adds when a query does not mention `TemporalNamespaceDivision`: only
/// executions without a division (plain workflows, not e.g. scheduler internals) are listed.
/// AND it onto [`CompiledQuery::where_sql`] when
/// [`CompiledQuery::mentions_namespace_division`] is false, if the store ever sets divisions.
pub const DEFAULT_NAMESPACE_DIVISION_FILTER: &str =
    "json_extract(search_attributes, '$.\"TemporalNamespaceDivision\"') IS NULL";

/// The SQL dialect a query is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?` placeholders; the store registers [`text_matches`] as
    /// [`TEXT_MATCH_FUNCTION`].
    Sqlite,
    /// PostgreSQL: `$n` placeholders numbered from `first_parameter` (the store binds its own
    /// `namespace` as $1, so it passes 2), each with an explicit cast to its bound value's type
    /// (`::bigint` for [`SqlValue::Int`], `::double precision` for [`SqlValue::Real`], `::text`
    /// for [`SqlValue::Text`]). The SQL calls functions that [`POSTGRES_SETUP_SQL`] defines.
    /// `first_parameter` must be at least 1.
    Postgres { first_parameter: usize },
}

/// A bound parameter for the compiled SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// A filter compiled for one [`Dialect`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    /// A boolean SQL expression over the `visibility` table; `"1"` (SQLite) or `"TRUE"`
    /// (PostgreSQL) when there is no filter. It is safe to AND with other conditions as is (a
    /// top-level OR comes parenthesized). It is meant for a WHERE clause: parts of it may be
    /// NULL on a row where the other dialect computes false, but never where that could change
    /// which rows match.
    pub where_sql: String,
    /// Values for the placeholders of `where_sql`: for SQLite the `?`s in order of appearance,
    /// for PostgreSQL `$first_parameter`, `$first_parameter + 1`, ... in order.
    pub params: Vec<SqlValue>,
    /// An SQL `ORDER BY` list (without the keywords) when the query had ORDER BY; `None` means
    /// the caller's default order. It has no placeholders.
    pub order_by: Option<String>,
    /// The query ended in `GROUP BY ExecutionStatus` (only meaningful for counting).
    pub group_by_status: bool,
    /// The query mentions `TemporalNamespaceDivision`; see [`DEFAULT_NAMESPACE_DIVISION_FILTER`].
    pub mentions_namespace_division: bool,
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Temporal-style text without the "invalid query: " prefix, e.g.
    /// `malformed SQL query: syntax error: expected a value at position 14 (end of query)` or
    /// `invalid expression: column name 'Foo' is not a valid search attribute`.
    pub message: String,
    /// Byte offset in the query string of the offending token, when there is one.
    pub position: Option<usize>,
}

impl QueryError {
    pub(crate) fn syntax(detail: impl fmt::Display, position: usize) -> Self {
        QueryError {
            message: format!("malformed SQL query: {detail}"),
            position: Some(position),
        }
    }

    pub(crate) fn at(message: impl Into<String>, position: usize) -> Self {
        QueryError {
            message: message.into(),
            position: Some(position),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same prefix Temporal's ConverterError.ToInvalidArgument adds.
        write!(f, "invalid query: {}", self.message)
    }
}

impl std::error::Error for QueryError {}

/// Parses a list filter (syntax only; attribute names and values are checked by [`compile`]).
/// An empty or blank string is a query with no filter.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    parser::parse(query)
}

/// Compiles a parsed query for SQLite. `custom` gives the type of each custom search attribute
/// defined in the namespace (it is not consulted for system or predefined names).
pub fn compile(
    query: &Query,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
) -> Result<CompiledQuery, QueryError> {
    compile_for(query, custom, Dialect::Sqlite)
}

/// [`parse`] then [`compile`].
pub fn parse_and_compile(
    query: &str,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
) -> Result<CompiledQuery, QueryError> {
    compile(&parse(query)?, custom)
}

/// [`compile`] for a given dialect; both dialects accept and refuse the same queries, with the
/// same errors.
///
/// # Panics
///
/// If `dialect` is [`Dialect::Postgres`] with `first_parameter` 0.
pub fn compile_for(
    query: &Query,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
    dialect: Dialect,
) -> Result<CompiledQuery, QueryError> {
    compile::compile(query, custom, dialect)
}

/// [`parse`] then [`compile_for`].
pub fn parse_and_compile_for(
    query: &str,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
    dialect: Dialect,
) -> Result<CompiledQuery, QueryError> {
    compile_for(&parse(query)?, custom, dialect)
}

#[cfg(test)]
mod tests;

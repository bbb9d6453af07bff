//! The PostgreSQL dialect: exact SQL and parameters for every operator on every type (the
//! SQLite tests' cases, rendered for PostgreSQL), placeholder numbering and casts, and errors
//! identical to SQLite's.

use super::{SEC, custom, t};
use crate::*;
use SqlValue::{Int, Real};

const PG: Dialect = Dialect::Postgres { first_parameter: 2 };

fn compiled_with(query: &str, dialect: Dialect) -> CompiledQuery {
    let c =
        parse_and_compile_for(query, &custom, dialect).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    if let Dialect::Postgres { first_parameter } = dialect {
        check_placeholders(&c, first_parameter);
    }
    c
}

/// Every `$n` (outside string literals) is one of `$first..$first + params.len() - 1`, cast to
/// its value's type, and each of those appears.
#[track_caller]
fn check_placeholders(c: &CompiledQuery, first: usize) {
    let sql = &c.where_sql;
    let mut seen = vec![false; c.params.len()];
    let mut chars = sql.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\'' => {
                // Skip a literal ('' inside is an escaped quote; it just re-enters here).
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '$' => {
                let digits: String = sql[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let n: usize = digits.parse().unwrap_or_else(|_| panic!("bare $ in {sql}"));
                let index = n.checked_sub(first).filter(|&k| k < c.params.len());
                let index = index.unwrap_or_else(|| panic!("${n} out of range in {sql}"));
                let rest = &sql[i + 1 + digits.len()..];
                let cast = match c.params[index] {
                    SqlValue::Int(_) => "::bigint",
                    SqlValue::Real(_) => "::double precision",
                    SqlValue::Text(_) => "::text",
                };
                assert!(rest.starts_with(cast), "${n} needs {cast} in {sql}");
                seen[index] = true;
            }
            _ => {}
        }
    }
    assert!(
        seen.iter().all(|&s| s),
        "unused parameters in {sql}: {:?}",
        c.params
    );
    if let Some(order) = &c.order_by {
        assert!(!order.contains('$'), "{order}");
    }
}

fn compiled(query: &str) -> CompiledQuery {
    compiled_with(query, PG)
}

#[track_caller]
fn check(query: &str, sql: &str, params: &[SqlValue]) {
    let c = compiled(query);
    assert_eq!(c.where_sql, sql, "{query}");
    assert_eq!(c.params, params, "{query}");
    // Same values as for SQLite, in the same order.
    assert_eq!(
        parse_and_compile(query, &custom).unwrap().params,
        params,
        "{query}"
    );
}

fn json(name: &str) -> String {
    format!("(search_attributes ->> '{name}')")
}

fn typed(name: &str, ty: &str) -> String {
    format!("((search_attributes ->> '{name}')::{ty})")
}

#[test]
fn empty_query_is_true() {
    for q in ["", "  ", "/* nothing */"] {
        let c = compiled(q);
        assert_eq!(c.where_sql, "TRUE");
        assert!(c.params.is_empty());
        assert_eq!(c.order_by, None);
    }
}

#[test]
fn keyword_column_operators() {
    check("WorkflowId = 'wf'", "workflow_id = $2::text", &[t("wf")]);
    check("WorkflowId != 'wf'", "workflow_id != $2::text", &[t("wf")]);
    check("WorkflowId <> 'wf'", "workflow_id != $2::text", &[t("wf")]);
    // Ordering compares bytes, as SQLite's BINARY collation does.
    check(
        "WorkflowId < 'b'",
        "workflow_id COLLATE \"C\" < $2::text",
        &[t("b")],
    );
    check(
        "WorkflowId <= 'b'",
        "workflow_id COLLATE \"C\" <= $2::text",
        &[t("b")],
    );
    check(
        "WorkflowId > 'b'",
        "workflow_id COLLATE \"C\" > $2::text",
        &[t("b")],
    );
    check(
        "WorkflowId >= 'b'",
        "workflow_id COLLATE \"C\" >= $2::text",
        &[t("b")],
    );
    check(
        "RunId IN ('a', \"b\")",
        "run_id IN ($2::text, $3::text)",
        &[t("a"), t("b")],
    );
    check("RunId NOT IN ('a')", "run_id NOT IN ($2::text)", &[t("a")]);
    check(
        "TaskQueue BETWEEN 'a' AND 'm'",
        "task_queue COLLATE \"C\" BETWEEN $2::text AND $3::text",
        &[t("a"), t("m")],
    );
    check(
        "TaskQueue NOT BETWEEN 'a' AND 'm'",
        "task_queue COLLATE \"C\" NOT BETWEEN $2::text AND $3::text",
        &[t("a"), t("m")],
    );
    check(
        "WorkflowType STARTS_WITH 'Order'",
        "starts_with(workflow_type, $2::text)",
        &[t("Order")],
    );
    check(
        "WorkflowType NOT STARTS_WITH 'Ord%_é'",
        "NOT starts_with(workflow_type, $2::text)",
        &[t("Ord%_é")],
    );
    check(
        "ParentWorkflowId IS NULL",
        "parent_workflow_id IS NULL",
        &[],
    );
    check("ParentRunId IS NOT NULL", "parent_run_id IS NOT NULL", &[]);
    check(
        "RootWorkflowId = ''",
        "root_workflow_id = $2::text",
        &[t("")],
    );
}

#[test]
fn custom_keyword_lives_in_json() {
    let col = json("CustomKeywordField");
    check(
        "CustomKeywordField = 'x'",
        &format!("{col} = $2::text"),
        &[t("x")],
    );
    check(
        "CustomKeywordField > 'x'",
        &format!("{col} COLLATE \"C\" > $2::text"),
        &[t("x")],
    );
    check(
        "CustomKeywordField STARTS_WITH 'it''s'",
        &format!("starts_with({col}, $2::text)"),
        &[t("it's")],
    );
    check("CustomKeywordField IS NULL", &format!("{col} IS NULL"), &[]);
    check(
        "`Custom Attr` = 'y'",
        &format!("{} = $2::text", json("Custom Attr")),
        &[t("y")],
    );
    // A standard string literal: quotes doubled, backslashes and double quotes as they are.
    check(
        r#"`Quote"Back\slash'` = 'z'"#,
        r#"(search_attributes ->> 'Quote"Back\slash''') = $2::text"#,
        &[t("z")],
    );
}

#[test]
fn int_operators() {
    check(
        "HistoryLength = 5",
        "history_length = $2::bigint",
        &[Int(5)],
    );
    check(
        "HistoryLength != -5",
        "history_length != $2::bigint",
        &[Int(-5)],
    );
    check(
        "HistorySizeBytes > 1.5",
        "history_size_bytes > $2::double precision",
        &[Real(1.5)],
    );
    check(
        "StateTransitionCount >= 1e3",
        "state_transition_count >= $2::double precision",
        &[Real(1000.0)],
    );
    let col = typed("CustomIntField", "bigint");
    check(
        "CustomIntField IN (1, 2, 3)",
        &format!("{col} IN ($2::bigint, $3::bigint, $4::bigint)"),
        &[Int(1), Int(2), Int(3)],
    );
    check(
        "CustomIntField NOT BETWEEN 1 AND 10.5",
        &format!("{col} NOT BETWEEN $2::bigint AND $3::double precision"),
        &[Int(1), Real(10.5)],
    );
    check(
        "CustomIntField < 9223372036854775808",
        &format!("{col} < $2::double precision"),
        &[Real(9_223_372_036_854_775_808.0)],
    );
}

#[test]
fn double_operators() {
    let col = typed("CustomDoubleField", "double precision");
    check(
        "CustomDoubleField = 1.25",
        &format!("{col} = $2::double precision"),
        &[Real(1.25)],
    );
    check(
        "CustomDoubleField < 2",
        &format!("{col} < $2::bigint"),
        &[Int(2)],
    );
    check(
        "CustomDoubleField BETWEEN -1.5 AND .5",
        &format!("{col} BETWEEN $2::double precision AND $3::double precision"),
        &[Real(-1.5), Real(0.5)],
    );
    check(
        "CustomDoubleField NOT IN (1.5)",
        &format!("{col} NOT IN ($2::double precision)"),
        &[Real(1.5)],
    );
}

#[test]
fn bool_operators() {
    // Bound as 1/0 (as for SQLite) and turned into a boolean next to the placeholder.
    let col = typed("CustomBoolField", "boolean");
    check(
        "CustomBoolField = true",
        &format!("{col} = ($2::bigint <> 0)"),
        &[Int(1)],
    );
    check(
        "CustomBoolField != FALSE",
        &format!("{col} != ($2::bigint <> 0)"),
        &[Int(0)],
    );
    check(
        "CustomBoolField IN (true, false)",
        &format!("{col} IN (($2::bigint <> 0), ($3::bigint <> 0))"),
        &[Int(1), Int(0)],
    );
    check(
        "TemporalSchedulePaused = true",
        &format!(
            "{} = ($2::bigint <> 0)",
            typed("TemporalSchedulePaused", "boolean")
        ),
        &[Int(1)],
    );
    // false < true, as 0 < 1.
    check(
        "CustomBoolField < true",
        &format!("{col} < ($2::bigint <> 0)"),
        &[Int(1)],
    );
}

#[test]
fn datetime_operators() {
    let ts = 1_704_067_200 * SEC;
    check(
        "StartTime > '2024-01-01T00:00:00Z'",
        "start_time > $2::bigint",
        &[Int(ts)],
    );
    check(
        "StartTime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:00:01Z'",
        "start_time BETWEEN $2::bigint AND $3::bigint",
        &[Int(ts), Int(ts + SEC)],
    );
    check(
        "CloseTime IN ('2024-01-01T00:00:00Z', 0)",
        "close_time IN ($2::bigint, $3::bigint)",
        &[Int(ts), Int(0)],
    );
    check(
        "CustomDatetimeField < '2024-01-01T00:00:00Z'",
        &format!("{} < $2::bigint", typed("CustomDatetimeField", "bigint")),
        &[Int(ts)],
    );
    check(
        "TemporalScheduledStartTime >= 0",
        &format!(
            "{} >= $2::bigint",
            typed("TemporalScheduledStartTime", "bigint")
        ),
        &[Int(0)],
    );
    check("CloseTime IS NULL", "close_time IS NULL", &[]);
    // IS NULL reads the JSON untyped: no cast to fail.
    check(
        "CustomDatetimeField IS NOT NULL",
        &format!("{} IS NOT NULL", json("CustomDatetimeField")),
        &[],
    );
}

#[test]
fn keyword_list_operators() {
    let list = "(search_attributes -> 'CustomKeywordListField')";
    check(
        "CustomKeywordListField = 'a'",
        &format!("{list} @> jsonb_build_array($2::text)"),
        &[t("a")],
    );
    // SQLite's NOT EXISTS matches a run without the attribute; containment is NULL there.
    check(
        "CustomKeywordListField != 'a'",
        &format!("NOT COALESCE({list} @> jsonb_build_array($2::text), FALSE)"),
        &[t("a")],
    );
    check(
        "CustomKeywordListField IN ('a', 'b')",
        &format!("{list} ?| ARRAY[$2::text, $3::text]"),
        &[t("a"), t("b")],
    );
    check(
        "CustomKeywordListField NOT IN ('a', 'b')",
        &format!("NOT COALESCE({list} ?| ARRAY[$2::text, $3::text], FALSE)"),
        &[t("a"), t("b")],
    );
    check(
        "BuildIds = 'unversioned'",
        "(search_attributes -> 'BuildIds') @> jsonb_build_array($2::text)",
        &[t("unversioned")],
    );
    check(
        "CustomKeywordListField IS NOT NULL",
        &format!("{} IS NOT NULL", json("CustomKeywordListField")),
        &[],
    );
}

#[test]
fn keyword_list_is_two_valued_under_an_odd_number_of_negations() {
    let list = "(search_attributes -> 'CustomKeywordListField')";
    let bare = format!("{list} @> jsonb_build_array($2::text)");
    let coalesced = format!("COALESCE({bare}, FALSE)");
    check(
        "NOT CustomKeywordListField = 'a'",
        &format!("NOT {coalesced}"),
        &[t("a")],
    );
    check(
        "NOT NOT CustomKeywordListField = 'a'",
        &format!("NOT NOT {bare}"),
        &[t("a")],
    );
    check(
        "NOT CustomKeywordListField != 'a'",
        &format!("NOT NOT {bare}"),
        &[t("a")],
    );
    check(
        "NOT (WorkflowId = 'w' OR CustomKeywordListField = 'a') AND CustomKeywordListField = 'b'",
        &format!(
            "NOT (workflow_id = $2::text OR {coalesced}) AND {list} @> jsonb_build_array($4::text)",
            coalesced = coalesced.replace("$2", "$3")
        ),
        &[t("w"), t("a"), t("b")],
    );
    check(
        "NOT (CustomKeywordListField IN ('a') AND NOT BuildIds NOT IN ('b'))",
        &format!(
            "NOT (COALESCE({list} ?| ARRAY[$2::text], FALSE) AND NOT NOT COALESCE((search_attributes \
             -> 'BuildIds') ?| ARRAY[$3::text], FALSE))"
        ),
        &[t("a"), t("b")],
    );
}

#[test]
fn text_operators() {
    let col = json("CustomTextField");
    check(
        "CustomTextField = 'quick fox'",
        &format!("temper_text_match(COALESCE({col}, ''), $2::text)"),
        &[t("quick fox")],
    );
    check(
        "CustomTextField != 'fox'",
        &format!("NOT temper_text_match(COALESCE({col}, ''), $2::text)"),
        &[t("fox")],
    );
    check("CustomTextField IS NULL", &format!("{col} IS NULL"), &[]);
    assert!(POSTGRES_SETUP_SQL.contains(&format!(
        "CREATE OR REPLACE FUNCTION {TEXT_MATCH_FUNCTION}(field text, query text) RETURNS boolean"
    )));
}

#[test]
fn execution_status_and_duration() {
    check(
        "ExecutionStatus = 'Running'",
        "status = $2::bigint",
        &[Int(1)],
    );
    check(
        "ExecutionStatus IN ('Canceled', 'Terminated')",
        "status IN ($2::bigint, $3::bigint)",
        &[Int(4), Int(5)],
    );
    // A number: no collation.
    check(
        "ExecutionStatus BETWEEN 'Running' AND 'Failed'",
        "status BETWEEN $2::bigint AND $3::bigint",
        &[Int(1), Int(3)],
    );
    check("ExecutionStatus < 3", "status < $2::bigint", &[Int(3)]);
    check(
        "ExecutionDuration > '1h30m'",
        "execution_duration > $2::bigint",
        &[Int(5400 * SEC)],
    );
}

#[test]
fn boolean_structure_and_parameter_numbering() {
    check(
        "WorkflowId = 'a' or RunId = 'b'",
        "(workflow_id = $2::text OR run_id = $3::text)",
        &[t("a"), t("b")],
    );
    check(
        "(WorkflowId = 'a' OR RunId = 'b') AND HistoryLength > 1",
        "(workflow_id = $2::text OR run_id = $3::text) AND history_length > $4::bigint",
        &[t("a"), t("b"), Int(1)],
    );
    check(
        "NOT (WorkflowId = 'a' AND RunId = 'b')",
        "NOT (workflow_id = $2::text AND run_id = $3::text)",
        &[t("a"), t("b")],
    );
    check(
        "HistoryLength BETWEEN 1 AND 2 AND WorkflowId IN ('x', 'y') AND CustomTextField = 'z'",
        "history_length BETWEEN $2::bigint AND $3::bigint AND workflow_id IN ($4::text, $5::text) \
         AND temper_text_match(COALESCE((search_attributes ->> 'CustomTextField'), ''), $6::text)",
        &[Int(1), Int(2), t("x"), t("y"), t("z")],
    );
}

#[test]
fn numbering_starts_at_first_parameter() {
    let q = "WorkflowId = 'a' AND HistoryLength IN (1, 2.5) AND WorkflowType STARTS_WITH 'b'";
    for (first, sql) in [
        (
            1,
            "workflow_id = $1::text AND history_length IN ($2::bigint, $3::double precision) AND \
             starts_with(workflow_type, $4::text)",
        ),
        (
            9,
            "workflow_id = $9::text AND history_length IN ($10::bigint, $11::double precision) \
             AND starts_with(workflow_type, $12::text)",
        ),
    ] {
        let c = compiled_with(
            q,
            Dialect::Postgres {
                first_parameter: first,
            },
        );
        assert_eq!(c.where_sql, sql);
        assert_eq!(c.params, [t("a"), Int(1), Real(2.5), t("b")]);
    }
    let many = format!("RunId IN ({})", vec!["'x'"; 120].join(", "));
    let c = compiled_with(&many, Dialect::Postgres { first_parameter: 5 });
    assert!(c.where_sql.starts_with("run_id IN ($5::text, $6::text, "));
    assert!(c.where_sql.ends_with(", $124::text)"));
}

#[test]
#[should_panic(expected = "numbered from $1")]
fn first_parameter_zero_is_a_bug() {
    let _ = parse_and_compile_for(
        "WorkflowId = 'a'",
        &custom,
        Dialect::Postgres { first_parameter: 0 },
    );
}

#[test]
fn order_by_matches_sqlite_order() {
    let c = compiled("ORDER BY StartTime DESC");
    assert_eq!(c.where_sql, "TRUE");
    // NOT NULL columns need no NULLS clause (and keep matching the store's indexes).
    assert_eq!(c.order_by.as_deref(), Some("start_time DESC"));
    let c = compiled(
        "WorkflowType = 'a' ORDER BY ExecutionStatus, CustomIntField desc, `RunId` asc, \
         CloseTime, CustomKeywordField DESC, CustomBoolField, CustomDoubleField DESC, \
         ParentWorkflowId",
    );
    assert_eq!(c.where_sql, "workflow_type = $2::text");
    // SQLite sorts NULLs first ascending and last descending, and text by bytes.
    assert_eq!(
        c.order_by.as_deref(),
        Some(
            "status ASC, ((search_attributes ->> 'CustomIntField')::bigint) DESC NULLS LAST, \
             run_id COLLATE \"C\" ASC, close_time ASC NULLS FIRST, (search_attributes ->> \
             'CustomKeywordField') COLLATE \"C\" DESC NULLS LAST, ((search_attributes ->> \
             'CustomBoolField')::boolean) ASC NULLS FIRST, ((search_attributes ->> \
             'CustomDoubleField')::double precision) DESC NULLS LAST, parent_workflow_id \
             COLLATE \"C\" ASC NULLS FIRST"
        )
    );
    let c = compiled("GROUP BY ExecutionStatus ORDER BY ExecutionDuration");
    assert!(c.group_by_status);
    assert_eq!(
        c.order_by.as_deref(),
        Some("execution_duration ASC NULLS FIRST")
    );
}

#[test]
fn search_attribute_expression_is_what_filters_use() {
    let cases = [
        (
            "CustomKeywordField",
            AttributeType::Keyword,
            "CustomKeywordField = 'a'",
        ),
        (
            "CustomTextField",
            AttributeType::Text,
            "CustomTextField = 'a'",
        ),
        ("CustomIntField", AttributeType::Int, "CustomIntField > 1"),
        (
            "CustomDoubleField",
            AttributeType::Double,
            "CustomDoubleField < 1.5",
        ),
        (
            "CustomBoolField",
            AttributeType::Bool,
            "CustomBoolField = true",
        ),
        (
            "CustomDatetimeField",
            AttributeType::Datetime,
            "CustomDatetimeField >= 0",
        ),
        (
            "CustomKeywordListField",
            AttributeType::KeywordList,
            "CustomKeywordListField = 'a'",
        ),
        (
            "Custom Attr",
            AttributeType::Keyword,
            "`Custom Attr` IN ('a')",
        ),
        (
            "Quote\"Back\\slash'",
            AttributeType::Keyword,
            "`Quote\"Back\\slash'` = 'a'",
        ),
    ];
    for (name, ty, query) in cases {
        let expr = search_attribute_expression_for(name, ty, PG);
        let c = compiled(query);
        assert!(
            c.where_sql.starts_with(&expr) || c.where_sql.contains(&format!("({expr}, ''")),
            "{query}: {} does not use {expr}",
            c.where_sql
        );
        // ORDER BY too, for the sortable types.
        if !matches!(ty, AttributeType::Text | AttributeType::KeywordList) {
            let quoted = format!("`{name}`");
            let c = compiled(&format!("ORDER BY {quoted}"));
            assert!(c.order_by.unwrap().starts_with(&expr));
        }
        // The first parameter number and the SQLite form do not depend on anything else.
        assert_eq!(
            search_attribute_expression_for(name, ty, Dialect::Postgres { first_parameter: 7 }),
            expr
        );
        assert_eq!(
            search_attribute_expression_for(name, ty, Dialect::Sqlite),
            search_attribute_expression(name)
        );
    }
    assert_eq!(
        search_attribute_expression_for("A'b", AttributeType::Int, PG),
        "((search_attributes ->> 'A''b')::bigint)"
    );
}

#[test]
fn namespace_division_filter() {
    assert_eq!(
        default_namespace_division_filter(Dialect::Sqlite),
        DEFAULT_NAMESPACE_DIVISION_FILTER
    );
    assert_eq!(
        default_namespace_division_filter(PG),
        "(search_attributes ->> 'TemporalNamespaceDivision') IS NULL"
    );
    let c = compiled("TemporalNamespaceDivision IS NULL OR TemporalNamespaceDivision = 'x'");
    assert!(c.mentions_namespace_division);
    assert_eq!(
        c.where_sql,
        "((search_attributes ->> 'TemporalNamespaceDivision') IS NULL OR (search_attributes ->> \
         'TemporalNamespaceDivision') = $2::text)"
    );
}

#[test]
fn errors_are_the_same_in_both_dialects() {
    for query in [
        "WorkflowId = 123",
        "WorkflowId = NULL",
        "HistoryLength STARTS_WITH '5'",
        "CustomBoolField BETWEEN false AND true",
        "CustomKeywordListField > 'a'",
        "CustomKeywordListField BETWEEN 'a' AND 'b'",
        "CustomTextField IN ('a')",
        "CustomTextField = '   '",
        "ExecutionStatus = 'running'",
        "ExecutionStatus STARTS_WITH 'Run'",
        "ExecutionDuration > '1t'",
        "StartTime > '2024-01-01 00:00:00Z'",
        "ORDER BY CustomTextField",
        "ORDER BY BuildIds",
        "GROUP BY RunId",
        "WorkflowId LIKE 'a%'",
        "WorkflowId = RunId",
        "Unknown = 'x'",
        "WorkflowId = 'a' AND",
        "WorkflowId = 'unterminated",
        "NOT (WorkflowId = 'a' AND Nope = 1)",
    ] {
        let sqlite = parse_and_compile(query, &custom).expect_err(query);
        let postgres = parse_and_compile_for(query, &custom, PG).expect_err(query);
        assert_eq!(sqlite, postgres, "{query}");
    }
}

#[test]
fn sqlite_entry_points_are_the_sqlite_dialect() {
    for query in [
        "",
        "WorkflowId = 'a' AND NOT CustomKeywordListField IN ('x') ORDER BY CustomIntField",
        "CustomTextField != 'a' OR CustomBoolField = true",
    ] {
        let c = parse_and_compile(query, &custom).unwrap();
        assert_eq!(
            compile_for(&parse(query).unwrap(), &custom, Dialect::Sqlite),
            Ok(c.clone())
        );
        let pg = compiled(query);
        assert_eq!(pg.params, c.params);
        assert_eq!(pg.group_by_status, c.group_by_status);
        assert_eq!(
            pg.mentions_namespace_division,
            c.mentions_namespace_division
        );
    }
}

//! Compiler tests: every operator on every type, asserting the exact SQL and parameters, plus
//! the errors Temporal would raise.

use super::*;
use SqlValue::{Int, Real, Text};

fn custom(name: &str) -> Option<AttributeType> {
    Some(match name {
        "CustomKeywordField" | "Custom Attr" | "Quote\"Back\\slash'" => AttributeType::Keyword,
        "CustomTextField" => AttributeType::Text,
        "CustomIntField" => AttributeType::Int,
        "CustomDoubleField" => AttributeType::Double,
        "CustomBoolField" => AttributeType::Bool,
        "CustomDatetimeField" => AttributeType::Datetime,
        "CustomKeywordListField" => AttributeType::KeywordList,
        // Built-in names must never be shadowed by custom definitions.
        "WorkflowId" => AttributeType::Int,
        _ => return None,
    })
}

fn compiled(query: &str) -> CompiledQuery {
    parse_and_compile(query, &custom).unwrap_or_else(|e| panic!("{query:?}: {e}"))
}

#[track_caller]
fn check(query: &str, sql: &str, params: &[SqlValue]) {
    let c = compiled(query);
    assert_eq!(c.where_sql, sql, "{query}");
    assert_eq!(c.params, params, "{query}");
}

#[track_caller]
fn error(query: &str) -> QueryError {
    match parse_and_compile(query, &custom) {
        Ok(c) => panic!("{query:?} compiled to {c:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn check_error(query: &str, message: &str) {
    let e = error(query);
    assert!(
        e.message.contains(message),
        "{query:?}: expected {message:?} in {:?}",
        e.message
    );
}

fn json(name: &str) -> String {
    format!("json_extract(search_attributes, '$.\"{name}\"')")
}

fn t(s: &str) -> SqlValue {
    Text(s.to_string())
}

const SEC: i64 = 1_000_000_000;

#[test]
fn empty_query_has_no_filter() {
    for q in ["", "   ", "\n\t", "/* nothing */"] {
        let c = compiled(q);
        assert_eq!(c.where_sql, "1");
        assert!(c.params.is_empty());
        assert_eq!(c.order_by, None);
        assert!(!c.group_by_status);
        assert!(!c.mentions_namespace_division);
    }
}

#[test]
fn keyword_column_operators() {
    check("WorkflowId = 'wf'", "workflow_id = ?", &[t("wf")]);
    check("WorkflowId != 'wf'", "workflow_id != ?", &[t("wf")]);
    check("WorkflowId <> 'wf'", "workflow_id != ?", &[t("wf")]);
    check("WorkflowId < 'b'", "workflow_id < ?", &[t("b")]);
    check("WorkflowId <= 'b'", "workflow_id <= ?", &[t("b")]);
    check("WorkflowId > 'b'", "workflow_id > ?", &[t("b")]);
    check("WorkflowId >= 'b'", "workflow_id >= ?", &[t("b")]);
    check(
        "RunId IN ('a', \"b\")",
        "run_id IN (?, ?)",
        &[t("a"), t("b")],
    );
    check("RunId NOT IN ('a')", "run_id NOT IN (?)", &[t("a")]);
    check(
        "TaskQueue BETWEEN 'a' AND 'm'",
        "task_queue BETWEEN ? AND ?",
        &[t("a"), t("m")],
    );
    check(
        "TaskQueue NOT BETWEEN 'a' AND 'm'",
        "task_queue NOT BETWEEN ? AND ?",
        &[t("a"), t("m")],
    );
    check(
        "WorkflowType STARTS_WITH 'Order'",
        "substr(workflow_type, 1, 5) = ?",
        &[t("Order")],
    );
    check(
        "WorkflowType NOT STARTS_WITH 'Ord%_é'",
        "substr(workflow_type, 1, 6) != ?",
        &[t("Ord%_é")],
    );
    check(
        "ParentWorkflowId IS NULL",
        "parent_workflow_id IS NULL",
        &[],
    );
    check("ParentRunId IS NOT NULL", "parent_run_id IS NOT NULL", &[]);
    check("RootWorkflowId = ''", "root_workflow_id = ?", &[t("")]);
    check("RootRunId = 'r'", "root_run_id = ?", &[t("r")]);
}

#[test]
fn keyword_values_must_be_strings() {
    check_error(
        "WorkflowId = 123",
        "invalid expression: invalid value type for search attribute WorkflowId of type Keyword: \
         123 (type: int64)",
    );
    check_error("WorkflowId = true", "(type: bool)");
    check_error("WorkflowId IN ('a', 1.5)", "1.5 (type: float64)");
    check_error("WorkflowType STARTS_WITH 5", "of type Keyword: 5");
    check_error(
        "WorkflowId = NULL",
        "NULL is not a valid value for search attribute 'WorkflowId'; use IS NULL",
    );
}

#[test]
fn custom_keyword_lives_in_json() {
    let col = json("CustomKeywordField");
    check("CustomKeywordField = 'x'", &format!("{col} = ?"), &[t("x")]);
    check(
        "CustomKeywordField STARTS_WITH 'it''s'",
        &format!("substr({col}, 1, 4) = ?"),
        &[t("it's")],
    );
    check("CustomKeywordField IS NULL", &format!("{col} IS NULL"), &[]);
    check(
        "`Custom Attr` = 'y'",
        &format!("{} = ?", json("Custom Attr")),
        &[t("y")],
    );
    // Quotes and backslashes in names are escaped for both the JSON path and the SQL literal.
    check(
        r#"`Quote"Back\slash'` = 'z'"#,
        r#"json_extract(search_attributes, '$."Quote\"Back\\slash''"') = ?"#,
        &[t("z")],
    );
}

#[test]
fn int_operators() {
    check("HistoryLength = 5", "history_length = ?", &[Int(5)]);
    check("HistoryLength != -5", "history_length != ?", &[Int(-5)]);
    check(
        "HistorySizeBytes > 1.5",
        "history_size_bytes > ?",
        &[Real(1.5)],
    );
    check(
        "StateTransitionCount >= 1e3",
        "state_transition_count >= ?",
        &[Real(1000.0)],
    );
    check(
        "CustomIntField IN (1, 2, 3)",
        &format!("{} IN (?, ?, ?)", json("CustomIntField")),
        &[Int(1), Int(2), Int(3)],
    );
    check(
        "CustomIntField NOT BETWEEN 1 AND 10",
        &format!("{} NOT BETWEEN ? AND ?", json("CustomIntField")),
        &[Int(1), Int(10)],
    );
    check(
        "CustomIntField < 9223372036854775808",
        &format!("{} < ?", json("CustomIntField")),
        &[Real(9_223_372_036_854_775_808.0)],
    );
    check_error(
        "HistoryLength = '5'",
        "invalid value type for search attribute HistoryLength of type Int: \"5\" (type: string)",
    );
    check_error(
        "HistoryLength STARTS_WITH '5'",
        "operation is not supported: operator 'STARTS_WITH' not supported for Int type search \
         attribute 'HistoryLength'",
    );
    check_error("CustomIntField = false", "(type: bool)");
}

#[test]
fn double_operators() {
    let col = json("CustomDoubleField");
    check(
        "CustomDoubleField = 1.25",
        &format!("{col} = ?"),
        &[Real(1.25)],
    );
    check("CustomDoubleField < 2", &format!("{col} < ?"), &[Int(2)]);
    check(
        "CustomDoubleField BETWEEN -1.5 AND .5",
        &format!("{col} BETWEEN ? AND ?"),
        &[Real(-1.5), Real(0.5)],
    );
    check(
        "CustomDoubleField NOT IN (1.5)",
        &format!("{col} NOT IN (?)"),
        &[Real(1.5)],
    );
    check_error(
        "CustomDoubleField = 'x'",
        "invalid value type for search attribute CustomDoubleField of type Double",
    );
}

#[test]
fn bool_operators() {
    let col = json("CustomBoolField");
    check("CustomBoolField = true", &format!("{col} = ?"), &[Int(1)]);
    check(
        "CustomBoolField != FALSE",
        &format!("{col} != ?"),
        &[Int(0)],
    );
    check(
        "CustomBoolField IN (true)",
        &format!("{col} IN (?)"),
        &[Int(1)],
    );
    check(
        "TemporalSchedulePaused = true",
        &format!("{} = ?", json("TemporalSchedulePaused")),
        &[Int(1)],
    );
    // Temporal's generic comparison set includes ordering operators even for Bool.
    check("CustomBoolField < true", &format!("{col} < ?"), &[Int(1)]);
    check_error(
        "CustomBoolField BETWEEN false AND true",
        "invalid expression: cannot do range condition on search attribute 'CustomBoolField' of \
         type Bool",
    );
    check_error(
        "CustomBoolField = 'true'",
        "invalid value type for search attribute CustomBoolField of type Bool: \"true\" (type: \
         string)",
    );
    check_error("CustomBoolField = 1", "of type Bool: 1 (type: int64)");
    check_error(
        "CustomBoolField STARTS_WITH 't'",
        "operator 'STARTS_WITH' not supported for Bool type",
    );
}

#[test]
fn datetime_operators() {
    let ts = 1_704_067_200 * SEC; // 2024-01-01T00:00:00Z
    check(
        "StartTime > '2024-01-01T00:00:00Z'",
        "start_time > ?",
        &[Int(ts)],
    );
    check(
        "CloseTime <= '2024-01-01T01:00:00.5+01:00'",
        "close_time <= ?",
        &[Int(ts + SEC / 2)],
    );
    check(
        "ExecutionTime = 1704067200000000000",
        "execution_time = ?",
        &[Int(ts)],
    );
    check(
        "StartTime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:00:01Z'",
        "start_time BETWEEN ? AND ?",
        &[Int(ts), Int(ts + SEC)],
    );
    check(
        "CloseTime IN ('2024-01-01T00:00:00Z', 0)",
        "close_time IN (?, ?)",
        &[Int(ts), Int(0)],
    );
    check(
        "CustomDatetimeField < '2024-01-01T00:00:00Z'",
        &format!("{} < ?", json("CustomDatetimeField")),
        &[Int(ts)],
    );
    check(
        "TemporalScheduledStartTime >= '2024-01-01T00:00:00Z'",
        &format!("{} >= ?", json("TemporalScheduledStartTime")),
        &[Int(ts)],
    );
    check("CloseTime IS NULL", "close_time IS NULL", &[]);
    check_error(
        "StartTime > '2024-01-01 00:00:00Z'",
        "invalid expression: unable to parse datetime '2024-01-01 00:00:00Z'",
    );
    check_error(
        "StartTime > 123.456",
        "invalid value type for search attribute StartTime of type Datetime: 123.456 (type: \
         float64)",
    );
    check_error(
        "StartTime STARTS_WITH '2024'",
        "not supported for Datetime type",
    );
}

#[test]
fn keyword_list_operators() {
    let src = "json_each(search_attributes, '$.\"CustomKeywordListField\"')";
    check(
        "CustomKeywordListField = 'a'",
        &format!("EXISTS (SELECT 1 FROM {src} AS j WHERE j.value = ?)"),
        &[t("a")],
    );
    check(
        "CustomKeywordListField != 'a'",
        &format!("NOT EXISTS (SELECT 1 FROM {src} AS j WHERE j.value = ?)"),
        &[t("a")],
    );
    check(
        "CustomKeywordListField IN ('a', 'b')",
        &format!("EXISTS (SELECT 1 FROM {src} AS j WHERE j.value IN (?, ?))"),
        &[t("a"), t("b")],
    );
    check(
        "CustomKeywordListField NOT IN ('a', 'b')",
        &format!("NOT EXISTS (SELECT 1 FROM {src} AS j WHERE j.value IN (?, ?))"),
        &[t("a"), t("b")],
    );
    check(
        "BuildIds = 'unversioned'",
        "EXISTS (SELECT 1 FROM json_each(search_attributes, '$.\"BuildIds\"') AS j WHERE j.value \
         = ?)",
        &[t("unversioned")],
    );
    check(
        "CustomKeywordListField IS NOT NULL",
        &format!("{} IS NOT NULL", json("CustomKeywordListField")),
        &[],
    );
    check_error(
        "CustomKeywordListField > 'a'",
        "operation is not supported: operator '>' not supported for KeywordList type search \
         attribute 'CustomKeywordListField'",
    );
    check_error(
        "CustomKeywordListField STARTS_WITH 'a'",
        "operator 'STARTS_WITH' not supported for KeywordList",
    );
    check_error(
        "CustomKeywordListField BETWEEN 'a' AND 'b'",
        "cannot do range condition on search attribute 'CustomKeywordListField' of type \
         KeywordList",
    );
    check_error(
        "CustomKeywordListField = 1",
        "of type KeywordList: 1 (type: int64)",
    );
}

#[test]
fn text_operators() {
    let col = json("CustomTextField");
    check(
        "CustomTextField = 'quick fox'",
        &format!("temper_text_match(COALESCE({col}, ''), ?)"),
        &[t("quick fox")],
    );
    check(
        "CustomTextField != 'fox'",
        &format!("NOT temper_text_match(COALESCE({col}, ''), ?)"),
        &[t("fox")],
    );
    check("CustomTextField IS NULL", &format!("{col} IS NULL"), &[]);
    check_error(
        "CustomTextField IN ('a')",
        "operator 'IN' not supported for Text type search attribute 'CustomTextField'",
    );
    check_error(
        "CustomTextField < 'a'",
        "operator '<' not supported for Text",
    );
    check_error(
        "CustomTextField STARTS_WITH 'a'",
        "operator 'STARTS_WITH' not supported for Text",
    );
    check_error("CustomTextField BETWEEN 'a' AND 'b'", "of type Text");
    check_error(
        "CustomTextField = '   '",
        "invalid expression: unexpected value for Text type search attribute (no tokens found)",
    );
    check_error("CustomTextField = 5", "of type Text: 5 (type: int64)");
}

#[test]
fn execution_status_values() {
    check("ExecutionStatus = 'Running'", "status = ?", &[Int(1)]);
    check(
        "ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_COMPLETED'",
        "status = ?",
        &[Int(2)],
    );
    check("ExecutionStatus = 3", "status = ?", &[Int(3)]);
    check(
        "ExecutionStatus IN ('Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut')",
        "status IN (?, ?, ?, ?)",
        &[Int(4), Int(5), Int(6), Int(7)],
    );
    check(
        "ExecutionStatus BETWEEN 'Running' AND 'Failed'",
        "status BETWEEN ? AND ?",
        &[Int(1), Int(3)],
    );
    check_error(
        "ExecutionStatus = 'running'",
        "invalid expression: invalid ExecutionStatus value 'running'",
    );
    check_error(
        "ExecutionStatus = 99",
        "invalid expression: invalid ExecutionStatus value 99",
    );
    check_error(
        "ExecutionStatus = 1.0",
        "invalid expression: unexpected value type float64 for search attribute ExecutionStatus",
    );
    check_error(
        "ExecutionStatus STARTS_WITH 'Run'",
        "operator 'STARTS_WITH' not supported for Keyword type search attribute 'ExecutionStatus'",
    );
}

#[test]
fn execution_duration_values() {
    let h = 3600 * SEC;
    check(
        "ExecutionDuration > '1h30m'",
        "execution_duration > ?",
        &[Int(h + h / 2)],
    );
    check(
        "ExecutionDuration > '01:30:00'",
        "execution_duration > ?",
        &[Int(h + h / 2)],
    );
    check(
        "ExecutionDuration > '2d'",
        "execution_duration > ?",
        &[Int(48 * h)],
    );
    check(
        "ExecutionDuration < '1000'",
        "execution_duration < ?",
        &[Int(1000)],
    );
    check(
        "ExecutionDuration < 1000",
        "execution_duration < ?",
        &[Int(1000)],
    );
    check(
        "ExecutionDuration BETWEEN '1s' AND '1m'",
        "execution_duration BETWEEN ? AND ?",
        &[Int(SEC), Int(60 * SEC)],
    );
    check(
        "ExecutionDuration IS NULL",
        "execution_duration IS NULL",
        &[],
    );
    check_error(
        "ExecutionDuration > '1t'",
        "invalid expression: invalid duration value for search attribute ExecutionDuration: 1t",
    );
    check_error(
        "ExecutionDuration > 1.5",
        "unexpected value type float64 for search attribute ExecutionDuration",
    );
}

#[test]
fn boolean_structure_and_parameter_order() {
    check(
        "WorkflowId = 'a' AND RunId = 'b'",
        "workflow_id = ? AND run_id = ?",
        &[t("a"), t("b")],
    );
    check(
        "WorkflowId = 'a' or RunId = 'b'",
        "(workflow_id = ? OR run_id = ?)",
        &[t("a"), t("b")],
    );
    check(
        "(WorkflowId = 'a' OR RunId = 'b') AND HistoryLength > 1",
        "(workflow_id = ? OR run_id = ?) AND history_length > ?",
        &[t("a"), t("b"), Int(1)],
    );
    check(
        "WorkflowId = 'a' OR RunId = 'b' AND HistoryLength > 1",
        "(workflow_id = ? OR run_id = ? AND history_length > ?)",
        &[t("a"), t("b"), Int(1)],
    );
    check(
        "NOT (WorkflowId = 'a' AND RunId = 'b')",
        "NOT (workflow_id = ? AND run_id = ?)",
        &[t("a"), t("b")],
    );
    check(
        "NOT WorkflowId = 'a' AND NOT NOT RunId = 'b'",
        "NOT workflow_id = ? AND NOT NOT run_id = ?",
        &[t("a"), t("b")],
    );
    check("((WorkflowId = 'a'))", "workflow_id = ?", &[t("a")]);
    check(
        "WorkflowId = 'a' && (RunId = 'b' || RunId = 'c')",
        "workflow_id = ? AND (run_id = ? OR run_id = ?)",
        &[t("a"), t("b"), t("c")],
    );
    check(
        "HistoryLength BETWEEN 1 AND 2 AND WorkflowId = 'x'",
        "history_length BETWEEN ? AND ? AND workflow_id = ?",
        &[Int(1), Int(2), t("x")],
    );
}

#[test]
fn keywords_are_case_insensitive_names_are_not() {
    check(
        "WorkflowId in ('a') aNd RunId not between 'a' and 'b' AND TaskQueue starts_with 'q' \
         AND CloseTime is not null",
        "workflow_id IN (?) AND run_id NOT BETWEEN ? AND ? AND substr(task_queue, 1, 1) = ? AND \
         close_time IS NOT NULL",
        &[t("a"), t("a"), t("b"), t("q")],
    );
    check_error(
        "workflowid = 'a'",
        "invalid expression: column name 'workflowid' is not a valid search attribute",
    );
}

#[test]
fn attribute_aliases() {
    check("ScheduleId = 's'", "workflow_id = ?", &[t("s")]);
    check("TemporalWorkflowId = 'w'", "workflow_id = ?", &[t("w")]);
    check(
        "ChangeVersion = 'v'",
        "EXISTS (SELECT 1 FROM json_each(search_attributes, '$.\"TemporalChangeVersion\"') AS j \
         WHERE j.value = ?)",
        &[t("v")],
    );
    // Custom definitions cannot shadow built-ins.
    check("WorkflowId = 'w'", "workflow_id = ?", &[t("w")]);
}

#[test]
fn namespace_division_is_reported() {
    let c = compiled("TemporalNamespaceDivision IS NULL OR TemporalNamespaceDivision = 'x'");
    assert!(c.mentions_namespace_division);
    assert_eq!(
        c.where_sql,
        format!(
            "({0} IS NULL OR {0} = ?)",
            json("TemporalNamespaceDivision")
        )
    );
    assert!(!compiled("WorkflowId = 'a'").mentions_namespace_division);
    assert_eq!(
        DEFAULT_NAMESPACE_DIVISION_FILTER,
        format!("{} IS NULL", json("TemporalNamespaceDivision"))
    );
}

#[test]
fn order_by() {
    let c = compiled("ORDER BY StartTime DESC");
    assert_eq!(c.where_sql, "1");
    assert_eq!(c.order_by.as_deref(), Some("start_time DESC"));
    let c =
        compiled("WorkflowType = 'a' ORDER BY ExecutionStatus, CustomIntField desc, `RunId` asc");
    assert_eq!(c.where_sql, "workflow_type = ?");
    assert_eq!(
        c.order_by,
        Some(format!(
            "status ASC, {} DESC, run_id ASC",
            json("CustomIntField")
        ))
    );
    check_error(
        "ORDER BY CustomTextField",
        "operation is not supported: unable to sort by search attribute type Text",
    );
    check_error(
        "ORDER BY BuildIds",
        "unable to sort by search attribute type KeywordList",
    );
    check_error(
        "ORDER BY Nope",
        "column name 'Nope' is not a valid search attribute",
    );
    check_error("ORDER BY StartTime + 1", "syntax error");
}

#[test]
fn group_by() {
    let c = compiled("GROUP BY ExecutionStatus");
    assert!(c.group_by_status);
    assert_eq!(c.where_sql, "1");
    let c = compiled("WorkflowType = 'a' group by ExecutionStatus order by StartTime");
    assert!(c.group_by_status);
    assert_eq!(c.order_by.as_deref(), Some("start_time ASC"));
    check_error(
        "GROUP BY RunId",
        "operation is not supported: 'GROUP BY' clause is not supported for search attribute RunId",
    );
    check_error(
        "GROUP BY ExecutionStatus, RunId",
        "operation is not supported: 'GROUP BY' clause supports only a single field",
    );
    check_error("GROUP BY Nope", "'Nope' is not a valid search attribute");
    check_error(
        "ORDER BY StartTime GROUP BY ExecutionStatus",
        "syntax error",
    );
}

#[test]
fn refused_constructs() {
    check_error(
        "WorkflowId LIKE 'a%'",
        "operation is not supported: operator 'LIKE' not supported for Keyword type search \
         attribute 'WorkflowId'",
    );
    check_error(
        "WorkflowId NOT LIKE 'a%' ESCAPE '!'",
        "operator 'NOT LIKE' not supported for Keyword",
    );
    check_error(
        "HistoryLength REGEXP '1'",
        "operator 'REGEXP' not supported for Int",
    );
    check_error("WorkflowId <=> 'a'", "operator '<=>' not supported");
    check_error(
        "WorkflowId = RunId",
        "operation is not supported: column name on the right side of comparison expression \
         (did you forget to quote 'RunId'?)",
    );
    check_error(
        "'abc' = WorkflowId",
        "invalid expression: the left side of a condition must be a search attribute name, \
         found value 'abc'",
    );
    check_error(
        "true",
        "the left side of a condition must be a search attribute name",
    );
    check_error(
        "lower(WorkflowId) = 'a'",
        "operation is not supported: function expression",
    );
    check_error(
        "WorkflowId = 'a' LIMIT 10",
        "operation is not supported: 'LIMIT' clause",
    );
    check_error("WorkflowId = 'a' HAVING x", "'HAVING' clause");
    check_error(
        "WorkflowId IS TRUE",
        "invalid expression: 'IS' operator can only be used as 'IS NULL' or 'IS NOT NULL'",
    );
    check_error(
        "WorkflowId AND RunId = 'a'",
        "invalid expression: incomplete expression",
    );
    check_error("WorkflowId = ('a', 'b')", "only allowed after IN or NOT IN");
    check_error(
        "Unknown = 'x'",
        "column name 'Unknown' is not a valid search attribute",
    );
    check_error(
        "TemporalFoo = 'x'",
        "column name 'TemporalFoo' is not a valid",
    );
}

#[test]
fn syntax_errors_have_positions() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "WorkflowId = ",
            13,
            "expected a value at position 13 (end of query)",
        ),
        (
            "WorkflowId = 'a' AND",
            20,
            "expected a condition at position 20",
        ),
        ("WorkflowId = 'a' RunId = 'b'", 17, "near 'RunId'"),
        ("(WorkflowId = 'a'", 17, "expected ')'"),
        ("WorkflowId = 'a')", 16, "near ')'"),
        ("WorkflowId IN 'a'", 14, "expected '(' after IN"),
        ("WorkflowId IN ()", 15, "expected a value"),
        ("WorkflowId IN ('a' 'b')", 19, "expected ',' or ')'"),
        (
            "WorkflowId BETWEEN 'a' OR 'b'",
            23,
            "expected AND in BETWEEN",
        ),
        (
            "WorkflowId = 'unterminated",
            13,
            "unterminated string literal at position 13",
        ),
        ("`WorkflowId = 'a'", 0, "unterminated quoted identifier"),
        ("WorkflowId = 12abc", 13, "malformed number"),
        ("WorkflowId = 0x1F", 13, "hexadecimal"),
        ("WorkflowId = 'a' ORDER StartTime", 23, "expected BY"),
        ("WorkflowId ~ 'a'", 11, "expected an operator"),
        ("WorkflowId = 'a' AND é", 21, "unexpected character"),
        (
            "WorkflowId NOT = 'a'",
            15,
            "expected IN, BETWEEN or STARTS_WITH after NOT",
        ),
        ("WorkflowId = 'a';;", 17, "near ';'"),
    ];
    for &(query, position, fragment) in cases {
        let e = error(query);
        assert_eq!(e.position, Some(position), "{query}: {e}");
        assert!(
            e.message.starts_with("malformed SQL query: "),
            "{query}: {}",
            e.message
        );
        assert!(e.message.contains(fragment), "{query}: {}", e.message);
    }
}

#[test]
fn semantic_errors_point_at_the_culprit() {
    assert_eq!(error("WorkflowId = 'a' AND Nope = 1").position, Some(21));
    assert_eq!(error("HistoryLength IN (1, 'x')").position, Some(21));
    assert_eq!(error("WorkflowId LIKE 'a'").position, Some(11));
}

#[test]
fn display_uses_temporal_prefix() {
    let e = error("Nope = 1");
    assert_eq!(
        e.to_string(),
        "invalid query: invalid expression: column name 'Nope' is not a valid search attribute"
    );
}

#[test]
fn string_escapes_reach_parameters() {
    check(
        r#"WorkflowId = 'a''b\'c\\d\ne' AND RunId = "x""y""#,
        "workflow_id = ? AND run_id = ?",
        &[t("a'b'c\\d\ne"), t("x\"y")],
    );
    // A semicolon inside a literal is data, and a trailing one is tolerated.
    check("WorkflowId = ';';", "workflow_id = ?", &[t(";")]);
}

#[test]
fn text_matching_function() {
    assert!(text_matches("payment failed: card declined", "declined"));
    assert!(text_matches("payment failed: card declined", "refund CARD"));
    assert!(!text_matches("payment failed: card declined", "refund"));
}

mod postgres;

#[test]
fn long_chains_stop_where_upstream_does() {
    let chain = |n: usize, op: &str| {
        (0..n)
            .map(|i| format!("WorkflowId = 'x{i}'"))
            .collect::<Vec<_>>()
            .join(op)
    };
    let custom = |_: &str| None;
    for op in [" OR ", " AND "] {
        assert!(crate::parse_and_compile(&chain(995, op), &custom).is_ok());
        let error = crate::parse_and_compile(&chain(996, op), &custom).expect_err("too deep");
        assert_eq!(
            error.to_string(),
            "invalid query: malformed SQL query: max ast depth reached"
        );
    }
}

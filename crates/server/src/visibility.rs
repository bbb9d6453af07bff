//! Visibility: listing, scanning and counting runs with Temporal's list-filter language, and
//! the search-attribute catalogue (system, predefined and each namespace's custom ones).
//!
//! Queries are parsed and compiled by `temper-query` against the store's visibility table;
//! this module turns their errors into INVALID_ARGUMENT with Temporal's "invalid query"
//! wording and shapes the responses.

use std::collections::HashMap;

use serde_json::Value as Json;
use temper_api::proto::common::v1::{Payload, SearchAttributes};
use temper_api::proto::enums::v1::WorkflowExecutionStatus;
use temper_api::proto::filter::v1::{
    StartTimeFilter, StatusFilter, WorkflowExecutionFilter, WorkflowTypeFilter,
};
use temper_api::proto::workflowservice::v1::count_workflow_executions_response::AggregationGroup;
use temper_query::{AttributeType, CompiledQuery};
use temper_store::ExecutionCount;
use tonic::Status;

/// Page size of a list request that asks for none (Temporal's `frontend.visibilityMaxPageSize`).
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// Compiles a list filter for a namespace whose custom attributes are `custom`, in the
/// store's SQL dialect.
pub fn compile(
    query: &str,
    custom: &HashMap<String, i32>,
    dialect: temper_query::Dialect,
) -> Result<CompiledQuery, Status> {
    let resolve = |name: &str| custom.get(name).and_then(|t| AttributeType::from_proto(*t));
    temper_query::parse_and_compile_for(query, &resolve, dialect)
        .map_err(|error| Status::invalid_argument(error.to_string()))
}

/// A string literal of the list-filter language holding `value` exactly.
pub fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The list filter equivalent to the legacy `ListOpen`/`ListClosedWorkflowExecutions`
/// filters: `time_attribute` (StartTime or CloseTime) within `range`, plus at most one of a
/// workflow id/run id, a workflow type or (closed runs only) a status.
/// Refuses a legacy listing's time range that ends before it starts, as Temporal does.
pub fn check_time_range(range: Option<&StartTimeFilter>) -> Result<(), String> {
    let Some(range) = range else { return Ok(()) };
    let (Some(earliest), Some(latest)) = (&range.earliest_time, &range.latest_time) else {
        return Ok(());
    };
    if (earliest.seconds, earliest.nanos) > (latest.seconds, latest.nanos) {
        return Err("EarliestTime in StartTimeFilter should not be larger than LatestTime.".into());
    }
    Ok(())
}

pub fn legacy_filter(
    open: bool,
    time_attribute: &str,
    range: Option<&StartTimeFilter>,
    execution: Option<&WorkflowExecutionFilter>,
    workflow_type: Option<&WorkflowTypeFilter>,
    status: Option<&StatusFilter>,
) -> String {
    let mut conditions = vec![if open {
        "ExecutionStatus = 'Running'".to_string()
    } else {
        "ExecutionStatus != 'Running'".to_string()
    }];
    if let Some(range) = range {
        let nanos = |t: &Option<temper_api::Timestamp>| {
            t.as_ref().map(|t| {
                t.seconds
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(t.nanos))
            })
        };
        if let Some(earliest) = nanos(&range.earliest_time).filter(|n| *n > 0) {
            conditions.push(format!("{time_attribute} >= {earliest}"));
        }
        if let Some(latest) = nanos(&range.latest_time).filter(|n| *n > 0) {
            conditions.push(format!("{time_attribute} <= {latest}"));
        }
    }
    if let Some(execution) = execution {
        if !execution.workflow_id.is_empty() {
            conditions.push(format!("WorkflowId = {}", quoted(&execution.workflow_id)));
        }
        if !execution.run_id.is_empty() {
            conditions.push(format!("RunId = {}", quoted(&execution.run_id)));
        }
    }
    if let Some(workflow_type) = workflow_type {
        conditions.push(format!("WorkflowType = {}", quoted(&workflow_type.name)));
    }
    if let Some(status) = status.filter(|s| s.status > 0) {
        conditions.push(format!("ExecutionStatus = {}", status.status));
    }
    conditions.join(" AND ")
}

/// The type of a search attribute in a namespace: built-in or custom.
pub fn attribute_type(name: &str, custom: &HashMap<String, i32>) -> Option<AttributeType> {
    temper_query::builtin_attribute_type(name)
        .or_else(|| custom.get(name).and_then(|t| AttributeType::from_proto(*t)))
}

/// Checks search attributes a client or workflow sets: each must be registered (custom, or a
/// predefined one users may set) and its value must fit the attribute's type. An empty
/// value (null, an empty list) removes the attribute and is always allowed.
pub fn validate_search_attributes(
    attributes: Option<&SearchAttributes>,
    custom: &HashMap<String, i32>,
) -> Result<(), String> {
    let Some(attributes) = attributes else {
        return Ok(());
    };
    for (name, payload) in &attributes.indexed_fields {
        if temper_query::system_attribute_column(name).is_some()
            || (temper_query::builtin_attribute_type(name).is_some()
                && !temper_query::is_user_settable_predefined(name))
        {
            return Err(format!("{name} attribute can't be set in SearchAttributes"));
        }
        let Some(ty) = attribute_type(name, custom) else {
            return Err(format!("search attribute {name} is not defined"));
        };
        let value: Json = serde_json::from_slice(&payload.data).unwrap_or(Json::Null);
        if !fits(&value, ty) {
            return Err(format!(
                "invalid value for search attribute {name} of type {ty}: {value}"
            ));
        }
    }
    Ok(())
}

/// Whether a JSON value is a valid value of a search attribute type. Single values may come
/// wrapped in a one-element list (the SDKs' untyped APIs send lists).
fn fits(value: &Json, ty: AttributeType) -> bool {
    let scalar = |v: &Json| match ty {
        AttributeType::Keyword | AttributeType::Text | AttributeType::KeywordList => v.is_string(),
        AttributeType::Int => v.is_i64() || v.is_u64(),
        AttributeType::Double => v.is_number(),
        AttributeType::Bool => v.is_boolean(),
        AttributeType::Datetime => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
    };
    match value {
        Json::Null => true,
        Json::Array(items) if ty == AttributeType::KeywordList => items.iter().all(scalar),
        Json::Array(items) => items.len() <= 1 && items.iter().all(scalar),
        single => scalar(single),
    }
}

/// Adds the `type` metadata Temporal puts on search attribute payloads it returns, where the
/// payload does not carry it already.
pub fn annotate_types(attributes: &mut SearchAttributes, custom: &HashMap<String, i32>) {
    for (name, payload) in attributes.indexed_fields.iter_mut() {
        if payload.metadata.contains_key("type") {
            continue;
        }
        if let Some(ty) = attribute_type(name, custom) {
            payload
                .metadata
                .insert("type".into(), ty.name().as_bytes().to_vec());
        }
    }
}

/// Every attribute a query may use, with its type: system, predefined, then custom.
pub fn all_attributes(custom: &HashMap<String, i32>) -> HashMap<String, i32> {
    let mut all: HashMap<String, i32> = temper_query::system_attributes()
        .chain(temper_query::predefined_attributes())
        .map(|(name, ty)| (name.to_string(), ty.to_proto()))
        .collect();
    all.extend(custom.iter().map(|(name, ty)| (name.clone(), *ty)));
    all
}

/// System and predefined attributes as `ListSearchAttributes` reports them.
pub fn system_attributes() -> HashMap<String, i32> {
    all_attributes(&HashMap::new())
}

/// Temporal's name of a status as it appears in queries and count groups ("Running", …).
fn status_name(status: i32) -> &'static str {
    match WorkflowExecutionStatus::try_from(status) {
        Ok(WorkflowExecutionStatus::Running) => "Running",
        Ok(WorkflowExecutionStatus::Completed) => "Completed",
        Ok(WorkflowExecutionStatus::Failed) => "Failed",
        Ok(WorkflowExecutionStatus::Canceled) => "Canceled",
        Ok(WorkflowExecutionStatus::Terminated) => "Terminated",
        Ok(WorkflowExecutionStatus::ContinuedAsNew) => "ContinuedAsNew",
        Ok(WorkflowExecutionStatus::TimedOut) => "TimedOut",
        _ => "Unspecified",
    }
}

/// Count groups (GROUP BY ExecutionStatus): each value is the status name as a json/plain
/// Keyword payload, as Temporal sends it.
pub fn count_groups(count: &ExecutionCount) -> Vec<AggregationGroup> {
    count
        .groups
        .iter()
        .map(|(status, n)| AggregationGroup {
            group_values: vec![Payload {
                metadata: HashMap::from([
                    ("encoding".to_string(), b"json/plain".to_vec()),
                    (
                        "type".to_string(),
                        AttributeType::Keyword.name().as_bytes().to_vec(),
                    ),
                ]),
                data: format!("\"{}\"", status_name(*status)).into_bytes(),
                ..Default::default()
            }],
            count: *n,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_filters_become_queries_that_compile() {
        let filter = legacy_filter(
            false,
            "CloseTime",
            Some(&StartTimeFilter {
                earliest_time: Some(temper_api::Timestamp {
                    seconds: 1,
                    nanos: 5,
                }),
                latest_time: None,
            }),
            Some(&WorkflowExecutionFilter {
                workflow_id: "it's \\odd".into(),
                run_id: String::new(),
            }),
            None,
            Some(&StatusFilter { status: 2 }),
        );
        assert_eq!(
            filter,
            "ExecutionStatus != 'Running' AND CloseTime >= 1000000005 AND WorkflowId = 'it''s \\\\odd' AND ExecutionStatus = 2"
        );
        let compiled =
            compile(&filter, &HashMap::new(), temper_query::Dialect::Sqlite).expect("compiles");
        assert!(
            compiled
                .params
                .contains(&temper_query::SqlValue::Text("it's \\odd".into()))
        );
    }
}

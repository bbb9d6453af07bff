//! `ListActivityExecutions` and `CountActivityExecutions`: a namespace's standalone activity
//! runs, filtered by a list query over their built-in fields (`ActivityId`, `ActivityType`,
//! `RunId`, `TaskQueue`, `ExecutionStatus`, `StartTime`, `CloseTime`) and custom search
//! attributes, evaluated in memory.

use std::collections::HashMap;

use temper_api::proto::activity::v1::ActivityExecutionListInfo;
use temper_api::proto::common::v1::{ActivityType, Payload};
use temper_api::proto::enums::v1::ActivityExecutionStatus;
use temper_api::proto::workflowservice::v1::{
    CountActivityExecutionsRequest, CountActivityExecutionsResponse, ListActivityExecutionsRequest,
    ListActivityExecutionsResponse, count_activity_executions_response::AggregationGroup,
};
use temper_engine::standalone_activity::ActivityRun;
use temper_engine::time::{ms_duration, ms_timestamp};
use temper_query::{AttributeType, AttributeValue, Expr, Query};
use tonic::Status;

use super::ActivityExecutions;
use crate::errors;
use crate::schedules::attribute_value;

const DEFAULT_PAGE_SIZE: usize = 1_000;

/// The fields a standalone activity query may name besides custom and Temporal's predefined
/// attributes (the workflow ones are accepted and match nothing, as in Temporal).
const BUILT_IN: &[&str] = &[
    "ActivityId",
    "ActivityType",
    "RunId",
    "TaskQueue",
    "ExecutionStatus",
    "StartTime",
    "CloseTime",
    "ExecutionTime",
    "ExecutionDuration",
    "StateTransitionCount",
];

fn unsupported(what: &str) -> Status {
    errors::invalid(format!("invalid query: operation is not supported: {what}"))
}

/// Every attribute name a condition mentions.
fn attribute_names(expr: &Expr, names: &mut Vec<String>) {
    match expr {
        Expr::And(operands) | Expr::Or(operands) => {
            operands.iter().for_each(|e| attribute_names(e, names));
        }
        Expr::Not(inner) => attribute_names(inner, names),
        Expr::Predicate(predicate) => names.push(predicate.attribute.name.clone()),
    }
}
const NANOS_PER_MS: i64 = 1_000_000;

/// A status as queries and groups name it (`Running`, `TimedOut`).
fn status_name(status: ActivityExecutionStatus) -> String {
    let name = status.as_str_name();
    let words = name.trim_start_matches("ACTIVITY_EXECUTION_STATUS_");
    words
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_string() + &chars.as_str().to_lowercase()
            })
        })
        .collect()
}

/// A list query ready to match runs.
struct RunFilter {
    query: Query,
    custom: HashMap<String, i32>,
}

impl RunFilter {
    fn value(&self, run: &ActivityRun, name: &str) -> Option<AttributeValue> {
        let activity = run.activity();
        let keyword = |value: &str| Some(AttributeValue::Keyword(value.to_string()));
        let datetime = |ms: i64| (ms > 0).then_some(AttributeValue::Datetime(ms * NANOS_PER_MS));
        match name {
            "ActivityId" => keyword(&run.activity_id),
            "ActivityType" => keyword(&activity.activity_type),
            "RunId" => keyword(&run.run_id),
            "TaskQueue" => keyword(&activity.task_queue),
            "ExecutionStatus" => keyword(&status_name(run.status())),
            "StartTime" | "ScheduleTime" => datetime(activity.scheduled_time_ms),
            "CloseTime" => datetime(run.close_time_ms),
            "ExecutionTime" => datetime(activity.scheduled_time_ms + run.start_delay_ms),
            "StateTransitionCount" => Some(AttributeValue::Int(run.state_transition_count)),
            _ => {
                let payload = run.search_attributes.as_ref()?.indexed_fields.get(name)?;
                let ty = AttributeType::from_proto(*self.custom.get(name)?)?;
                attribute_value(payload, ty)
            }
        }
    }

    fn matches(&self, run: &ActivityRun) -> bool {
        temper_query::evaluate(&self.query, &|name| self.value(run, name))
    }
}

fn list_info(run: &ActivityRun, now_ms: i64) -> ActivityExecutionListInfo {
    let activity = run.activity();
    let end_ms = if run.close_time_ms > 0 {
        run.close_time_ms
    } else {
        now_ms
    };
    ActivityExecutionListInfo {
        activity_id: run.activity_id.clone(),
        run_id: run.run_id.clone(),
        activity_type: Some(ActivityType {
            name: activity.activity_type.clone(),
        }),
        schedule_time: ms_timestamp(activity.scheduled_time_ms),
        close_time: ms_timestamp(run.close_time_ms),
        status: run.status,
        search_attributes: run.search_attributes.clone(),
        task_queue: activity.task_queue.clone(),
        state_transition_count: run.state_transition_count,
        state_size_bytes: 0,
        execution_duration: ms_duration(end_ms - activity.scheduled_time_ms),
        execution_time: ms_timestamp(activity.scheduled_time_ms + run.start_delay_ms),
    }
}

impl ActivityExecutions {
    fn filter(&self, namespace: &str, query: &str) -> Result<RunFilter, Status> {
        let custom = self.namespaces.search_attributes(namespace)?;
        let query = temper_query::parse(query)
            .map_err(|e| errors::invalid(format!("invalid query: {}", e.message)))?;
        if !query.order_by.is_empty() {
            return Err(unsupported("'ORDER BY' clause"));
        }
        let mut names = Vec::new();
        if let Some(filter) = &query.filter {
            attribute_names(filter, &mut names);
        }
        let known = |name: &str| {
            BUILT_IN.contains(&name)
                || custom.contains_key(name)
                || temper_query::builtin_attribute_type(name).is_some()
        };
        if let Some(unknown) = names.into_iter().find(|name| !known(name)) {
            return Err(errors::invalid(format!(
                "invalid query: invalid search attribute: {unknown}"
            )));
        }
        Ok(RunFilter { query, custom })
    }

    /// The namespace's runs matching `filter`, newest first.
    async fn matching_runs(&self, namespace: &str, filter: &RunFilter) -> Vec<ActivityRun> {
        let mut runs = Vec::new();
        for entry in self.runs.of_namespace(namespace) {
            if let Some(run) = entry.lock().await.as_ref()
                && filter.matches(run)
            {
                runs.push(run.clone());
            }
        }
        runs.sort_by(|a, b| {
            let key = |run: &ActivityRun| (run.activity().scheduled_time_ms, run.run_id.clone());
            key(b).cmp(&key(a))
        });
        runs
    }

    pub async fn list(
        &self,
        request: ListActivityExecutionsRequest,
    ) -> Result<ListActivityExecutionsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let filter = self.filter(&request.namespace, &request.query)?;
        let page_size = match usize::try_from(request.page_size) {
            Ok(0) | Err(_) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(DEFAULT_PAGE_SIZE),
        };
        let skip: usize = String::from_utf8_lossy(&request.next_page_token)
            .parse()
            .unwrap_or(0);
        let runs = self.matching_runs(&request.namespace, &filter).await;
        let now_ms = self.now_ms();
        let executions: Vec<_> = runs
            .iter()
            .skip(skip)
            .take(page_size)
            .map(|run| list_info(run, now_ms))
            .collect();
        let next = skip + executions.len();
        Ok(ListActivityExecutionsResponse {
            next_page_token: if next < runs.len() {
                next.to_string().into_bytes()
            } else {
                Vec::new()
            },
            executions,
        })
    }

    pub async fn count(
        &self,
        request: CountActivityExecutionsRequest,
    ) -> Result<CountActivityExecutionsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let filter = self.filter(&request.namespace, &request.query)?;
        let runs = self.matching_runs(&request.namespace, &filter).await;
        let grouped_by_status = match filter.query.group_by.as_slice() {
            [] => false,
            [field] if field.name == "ExecutionStatus" => true,
            [field, ..] => {
                return Err(unsupported(&format!(
                    "'GROUP BY' clause is not supported for search attribute {}",
                    field.name
                )));
            }
        };
        let mut groups: Vec<AggregationGroup> = Vec::new();
        if grouped_by_status {
            let mut counts: Vec<(String, i64)> = Vec::new();
            for run in &runs {
                let name = status_name(run.status());
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((name, 1)),
                }
            }
            counts.sort();
            groups = counts
                .into_iter()
                .map(|(name, count)| AggregationGroup {
                    group_values: vec![keyword_payload(&name)],
                    count,
                })
                .collect();
        }
        Ok(CountActivityExecutionsResponse {
            count: runs.len() as i64,
            groups,
        })
    }
}

fn keyword_payload(value: &str) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), b"Keyword".to_vec()),
        ]
        .into(),
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Default::default()
    }
}

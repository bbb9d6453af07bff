//! `ListSchedules` and `CountSchedules`: the namespace's schedules in id order, each with the
//! summary Temporal lists (spec, workflow type, notes, paused, last five actions, next five
//! times), filtered by a list query over the schedule's search attributes and
//! `TemporalSchedulePaused` (checked like a workflow list query, evaluated in memory).

use temper_api::proto::schedule::v1::{ScheduleListEntry, ScheduleListInfo};
use temper_api::proto::workflowservice::v1::{
    CountSchedulesRequest, CountSchedulesResponse, ListSchedulesRequest, ListSchedulesResponse,
};
use tonic::Status;

use std::collections::HashMap;

use temper_api::proto::common::v1::Payload;
use temper_query::{AttributeType, AttributeValue, Query};

use super::actions::timestamp;
use super::describe::future_action_times;
use super::{ScheduleRecord, Schedules};
use crate::errors;

const LISTED_ACTIONS: usize = 5;
const LISTED_SPEC_ITEMS: usize = 10;
const DEFAULT_PAGE_SIZE: usize = 1_000;

impl Schedules {
    pub async fn list(
        &self,
        request: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let filter = self.filter(&request.namespace, &request.query)?;
        let page_size = match usize::try_from(request.maximum_page_size) {
            Ok(0) | Err(_) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(DEFAULT_PAGE_SIZE),
        };
        let after = String::from_utf8_lossy(&request.next_page_token).into_owned();
        let mut schedules = Vec::new();
        for entry in self.entries.of_namespace(&request.namespace) {
            let guard = entry.lock().await;
            let Some(record) = guard.as_ref() else {
                continue;
            };
            if !after.is_empty() && record.schedule_id <= after || !filter.matches(record) {
                continue;
            }
            schedules.push(list_entry(record));
            if schedules.len() == page_size {
                break;
            }
        }
        let next_page_token = match schedules.last() {
            Some(last) if schedules.len() == page_size => last.schedule_id.clone().into_bytes(),
            _ => Vec::new(),
        };
        Ok(ListSchedulesResponse {
            schedules,
            next_page_token,
        })
    }

    pub async fn count(
        &self,
        request: CountSchedulesRequest,
    ) -> Result<CountSchedulesResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let filter = self.filter(&request.namespace, &request.query)?;
        let mut count = 0;
        for entry in self.entries.of_namespace(&request.namespace) {
            if entry
                .lock()
                .await
                .as_ref()
                .is_some_and(|r| filter.matches(r))
            {
                count += 1;
            }
        }
        Ok(CountSchedulesResponse {
            count,
            groups: Vec::new(),
        })
    }
}

/// A list query ready to match schedules.
struct ScheduleFilter {
    query: Query,
    custom: HashMap<String, i32>,
}

impl Schedules {
    /// Parses and checks `query` as `ListWorkflowExecutions` would (same errors).
    fn filter(&self, namespace: &str, query: &str) -> Result<ScheduleFilter, Status> {
        let custom = self.namespaces.search_attributes(namespace)?;
        crate::visibility::compile(query, &custom, self.store.dialect())?;
        let query = temper_query::parse(query).map_err(|e| errors::invalid(e.to_string()))?;
        Ok(ScheduleFilter { query, custom })
    }
}

impl ScheduleFilter {
    fn matches(&self, record: &ScheduleRecord) -> bool {
        let paused = record.schedule().state.as_ref().is_some_and(|s| s.paused);
        let attributes = record.search_attributes.as_ref();
        let lookup = |name: &str| {
            if name == "TemporalSchedulePaused" {
                return Some(AttributeValue::Bool(paused));
            }
            let payload = attributes?.indexed_fields.get(name)?;
            let ty = self
                .custom
                .get(name)
                .and_then(|t| AttributeType::from_proto(*t))?;
            attribute_value(payload, ty)
        };
        temper_query::evaluate(&self.query, &lookup)
    }
}

/// A search attribute payload (JSON, a one-element list from untyped SDK APIs) as a value.
pub(crate) fn attribute_value(payload: &Payload, ty: AttributeType) -> Option<AttributeValue> {
    use serde_json::Value as Json;
    let value: Json = serde_json::from_slice(&payload.data).ok()?;
    let value = match value {
        Json::Array(items) if ty != AttributeType::KeywordList => items.into_iter().next()?,
        value => value,
    };
    Some(match ty {
        AttributeType::Keyword => AttributeValue::Keyword(value.as_str()?.to_string()),
        AttributeType::Text => AttributeValue::Text(value.as_str()?.to_string()),
        AttributeType::Int => AttributeValue::Int(value.as_i64()?),
        AttributeType::Double => AttributeValue::Double(value.as_f64()?),
        AttributeType::Bool => AttributeValue::Bool(value.as_bool()?),
        AttributeType::Datetime => {
            let at = chrono::DateTime::parse_from_rfc3339(value.as_str()?).ok()?;
            AttributeValue::Datetime(at.timestamp_nanos_opt()?)
        }
        AttributeType::KeywordList => match value {
            Json::String(single) => AttributeValue::KeywordList(vec![single]),
            Json::Array(items) => AttributeValue::KeywordList(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect(),
            ),
            _ => return None,
        },
    })
}

fn list_entry(record: &ScheduleRecord) -> ScheduleListEntry {
    use temper_api::proto::schedule::v1::schedule_action::Action;
    let schedule = record.schedule();
    let mut spec = schedule.spec.clone().unwrap_or_default();
    spec.timezone_data.clear();
    spec.structured_calendar.truncate(LISTED_SPEC_ITEMS);
    spec.exclude_structured_calendar.truncate(LISTED_SPEC_ITEMS);
    spec.interval.truncate(LISTED_SPEC_ITEMS);
    let workflow_type = match schedule.action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(Action::StartWorkflow(start)) => start.workflow_type.clone(),
        None => None,
    };
    let state = schedule.state.clone().unwrap_or_default();
    let recent = record
        .info
        .as_ref()
        .map_or(&[][..], |i| &i.recent_actions[..]);
    let recent_actions = recent[recent.len().saturating_sub(LISTED_ACTIONS)..].to_vec();
    ScheduleListEntry {
        schedule_id: record.schedule_id.clone(),
        memo: record.memo.clone(),
        search_attributes: record.search_attributes.clone(),
        info: Some(ScheduleListInfo {
            spec: Some(spec),
            workflow_type,
            notes: state.notes,
            paused: state.paused,
            recent_actions,
            future_action_times: future_action_times(record, LISTED_ACTIONS)
                .into_iter()
                .map(timestamp)
                .collect(),
            state_size_bytes: 0,
        }),
    }
}

//! `UpdateTaskQueueConfig`: a task queue's configuration per queue type — its dispatch rate
//! limit (enforced by matching), the fairness-key default limit and weight overrides (stored
//! and reported; Temper dispatches in order, without fairness keys) — with Temporal's checks
//! and messages. Each (queue, type) is one record (kind `task_queue_config`), written whole;
//! `DescribeTaskQueue` reports it (`report_config`) with the effective rate limit.

use std::sync::Arc;

use temper_api::proto::enums::v1::{RateLimitSource, TaskQueueType};
use temper_api::proto::taskqueue::v1::{
    ConfigMetadata, RateLimit, RateLimitConfig, TaskQueueConfig,
};
use temper_api::proto::workflowservice::v1::update_task_queue_config_request::RateLimitUpdate;
use temper_api::proto::workflowservice::v1::{
    UpdateTaskQueueConfigRequest, UpdateTaskQueueConfigResponse,
    describe_task_queue_response::EffectiveRateLimit,
};
use temper_engine::time::ms_timestamp;
use temper_store::{RecordKind, Store};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::matching::QueueKind;
use crate::namespaces::Namespaces;
use crate::records::{self, RecordMap};

/// Temporal's limits on reasons and identities, and its system-wide dispatch rate.
const MAX_TEXT: usize = 1000;
const MAX_FAIRNESS_KEY: usize = 64;
const SYSTEM_RATE: f32 = 4000.0;

/// One queue type's configuration, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueConfigRecord {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub task_queue: String,
    #[prost(int32, tag = "3")]
    pub task_queue_type: i32,
    #[prost(message, optional, tag = "4")]
    pub config: Option<TaskQueueConfig>,
    #[prost(int64, tag = "5")]
    pub version: i64,
}

impl records::StoredState for QueueConfigRecord {
    const KIND: RecordKind = RecordKind::TaskQueueConfig;

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn id(&self) -> String {
        record_id(&self.task_queue, self.task_queue_type)
    }

    fn version_mut(&mut self) -> &mut i64 {
        &mut self.version
    }
}

/// A configuration's record id: the type number (never holding a `/`), then the queue name.
fn record_id(task_queue: &str, task_queue_type: i32) -> String {
    format!("{task_queue_type}/{task_queue}")
}

/// The matching queue a queue type's limit applies to (workflow queues take none).
fn limited_kind(task_queue_type: i32) -> Option<QueueKind> {
    match TaskQueueType::try_from(task_queue_type) {
        Ok(TaskQueueType::Activity) => Some(QueueKind::Activity),
        Ok(TaskQueueType::Nexus) => Some(QueueKind::Nexus),
        _ => None,
    }
}

pub struct TaskQueueConfigs {
    store: Arc<dyn Store>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    entries: RecordMap<QueueConfigRecord>,
}

impl TaskQueueConfigs {
    /// Loads every stored configuration and applies its rate limit.
    pub async fn load(
        store: Arc<dyn Store>,
        history: Arc<History>,
        namespaces: Arc<Namespaces>,
    ) -> Result<Arc<TaskQueueConfigs>, temper_store::StoreError> {
        let rows = store.records(RecordKind::TaskQueueConfig).await?;
        let configs = Arc::new(TaskQueueConfigs {
            store,
            history,
            namespaces,
            entries: RecordMap::default(),
        });
        for row in rows {
            let record: QueueConfigRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("queue config: {e}")))?;
            configs.apply_limit(&record);
            let id = record_id(&record.task_queue, record.task_queue_type);
            configs
                .entries
                .insert(&record.namespace.clone(), &id, record);
        }
        Ok(configs)
    }

    /// Reads the configurations again from the store: on a node of a spread cluster, where
    /// the coordinator changes them and each node enforces them on the task queues it holds
    /// (now or after shards move). A record is replaced only by a newer one, so a change made
    /// here meanwhile is never undone.
    pub async fn refresh(&self) -> Result<(), temper_store::StoreError> {
        for row in self.store.records(RecordKind::TaskQueueConfig).await? {
            let record: QueueConfigRecord = prost::Message::decode(row.state.as_slice())
                .map_err(|e| temper_store::StoreError::Corrupt(format!("queue config: {e}")))?;
            let id = record_id(&record.task_queue, record.task_queue_type);
            let Some(entry) = self.entries.get(&record.namespace, &id) else {
                self.apply_limit(&record);
                self.entries.insert(&record.namespace.clone(), &id, record);
                continue;
            };
            let mut known = entry.lock().await;
            if known.version < record.version {
                self.apply_limit(&record);
                *known = record;
            }
        }
        Ok(())
    }

    /// Runs until the process ends: [`TaskQueueConfigs::refresh`] every second (a spread
    /// cluster's nodes).
    pub async fn keep_refreshed(self: Arc<Self>) {
        loop {
            tokio::time::sleep(crate::namespaces::REFRESH_EVERY).await;
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "reading the task-queue configurations again failed");
            }
        }
    }

    fn apply_limit(&self, record: &QueueConfigRecord) {
        let Some(kind) = limited_kind(record.task_queue_type) else {
            return;
        };
        let rate = api_rate(record.config.as_ref()).map(f64::from);
        self.history
            .matching()
            .set_rate_limit(&record.namespace, &record.task_queue, kind, rate);
    }

    pub async fn update(
        &self,
        request: UpdateTaskQueueConfigRequest,
    ) -> Result<UpdateTaskQueueConfigResponse, Status> {
        if request.namespace.is_empty() {
            return Err(errors::invalid("Namespace is empty."));
        }
        self.namespaces.require(&request.namespace)?;
        validate(&request)?;
        let id = record_id(&request.task_queue, request.task_queue_type);
        let entry = match self.entries.get(&request.namespace, &id) {
            Some(entry) => entry,
            None => self.entries.insert(
                &request.namespace,
                &id,
                QueueConfigRecord {
                    namespace: request.namespace.clone(),
                    task_queue: request.task_queue.clone(),
                    task_queue_type: request.task_queue_type,
                    ..Default::default()
                },
            ),
        };
        let mut guard = entry.lock().await;
        let mut changed = guard.clone();
        let touched = merge(&mut changed, &request, self.history.now_ms());
        if touched {
            records::save(self.store.as_ref(), &mut changed).await?;
            self.apply_limit(&changed);
            *guard = changed;
        }
        Ok(UpdateTaskQueueConfigResponse {
            config: Some(guard.config.clone().unwrap_or_default()),
        })
    }

    /// A queue type's configuration for `DescribeTaskQueue` (`None`: never configured) and
    /// its effective rate limit.
    pub async fn describe(
        &self,
        namespace: &str,
        task_queue: &str,
        task_queue_type: i32,
    ) -> (Option<TaskQueueConfig>, EffectiveRateLimit) {
        let config = match self
            .entries
            .get(namespace, &record_id(task_queue, task_queue_type))
        {
            Some(entry) => entry.lock().await.config.clone(),
            None => None,
        };
        let effective = match api_rate(config.as_ref()) {
            Some(rate) if rate < SYSTEM_RATE => EffectiveRateLimit {
                requests_per_second: rate,
                rate_limit_source: RateLimitSource::Api as i32,
            },
            _ => EffectiveRateLimit {
                requests_per_second: SYSTEM_RATE,
                rate_limit_source: RateLimitSource::System as i32,
            },
        };
        (config, effective)
    }
}

/// The queue's rate limit set through the API, if any.
fn api_rate(config: Option<&TaskQueueConfig>) -> Option<f32> {
    let limit = config?.queue_rate_limit.as_ref()?.rate_limit.as_ref()?;
    Some(limit.requests_per_second)
}

/// Temporal's checks, in its order.
fn validate(request: &UpdateTaskQueueConfigRequest) -> Result<(), Status> {
    if request.task_queue.starts_with("/_sys/") {
        return Err(errors::invalid(format!(
            "invalid task queue partition name {}",
            request.task_queue
        )));
    }
    let workflow = request.task_queue_type == TaskQueueType::Workflow as i32;
    check_limit(
        request.update_queue_rate_limit.as_ref(),
        workflow,
        "UpdateQueueRateLimit",
        "rate limit",
    )?;
    check_limit(
        request.update_fairness_key_rate_limit_default.as_ref(),
        workflow,
        "UpdateFairnessKeyRateLimitDefault",
        "fairness key rate limit",
    )?;
    if request.identity.len() > MAX_TEXT {
        return Err(errors::invalid(
            "Identity field too long (max 1000 characters).",
        ));
    }
    check_weights(request)
}

fn check_limit(
    update: Option<&RateLimitUpdate>,
    workflow: bool,
    field: &str,
    what: &str,
) -> Result<(), Status> {
    let Some(limit) = update.and_then(|u| u.rate_limit.as_ref().map(|l| (u, l))) else {
        return Ok(());
    };
    let (update, limit) = limit;
    if workflow {
        return Err(errors::invalid(format!(
            "Setting {what} on workflow task queues is not allowed."
        )));
    }
    if limit.requests_per_second < 0.0 {
        return Err(errors::invalid(format!(
            "RequestsPerSecond for {field} rate limit must be non-negative."
        )));
    }
    if update.reason.len() > MAX_TEXT {
        return Err(errors::invalid(format!(
            "{field}.Reason field too long (max 1000 characters)."
        )));
    }
    Ok(())
}

fn check_weights(request: &UpdateTaskQueueConfigRequest) -> Result<(), Status> {
    for (key, weight) in &request.set_fairness_weight_overrides {
        if key.is_empty() {
            return Err(errors::invalid(
                "fairness weight override key must not be empty",
            ));
        }
        if key.len() > MAX_FAIRNESS_KEY {
            return Err(errors::invalid("fairness key length exceeds limit"));
        }
        if *weight <= 0.0 {
            return Err(errors::invalid(format!(
                "invalid fairness weight weight for key \"{key}\": must be greater than zero"
            )));
        }
        if request.unset_fairness_weight_overrides.contains(key) {
            return Err(errors::invalid(format!(
                "fairness weight override key \"{key}\" present in both set and unset lists"
            )));
        }
    }
    Ok(())
}

/// Applies the request's parts to the stored configuration; whether anything was asked.
fn merge(record: &mut QueueConfigRecord, request: &UpdateTaskQueueConfigRequest, now: i64) -> bool {
    let asks = request.update_queue_rate_limit.is_some()
        || request.update_fairness_key_rate_limit_default.is_some()
        || !request.set_fairness_weight_overrides.is_empty()
        || !request.unset_fairness_weight_overrides.is_empty();
    if !asks {
        return false;
    }
    let config = record.config.get_or_insert_with(Default::default);
    let limit_config = |update: &RateLimitUpdate| RateLimitConfig {
        rate_limit: update.rate_limit.map(|l| RateLimit {
            requests_per_second: l.requests_per_second,
        }),
        metadata: Some(ConfigMetadata {
            reason: update.reason.clone(),
            update_identity: request.identity.clone(),
            update_time: ms_timestamp(now),
        }),
    };
    if let Some(update) = &request.update_queue_rate_limit {
        config.queue_rate_limit = Some(limit_config(update));
    }
    if let Some(update) = &request.update_fairness_key_rate_limit_default {
        config.fairness_keys_rate_limit_default = Some(limit_config(update));
    }
    config
        .fairness_weight_overrides
        .extend(request.set_fairness_weight_overrides.clone());
    for key in &request.unset_fairness_weight_overrides {
        config.fairness_weight_overrides.remove(key);
    }
    true
}

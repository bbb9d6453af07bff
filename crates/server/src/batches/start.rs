//! `StartBatchOperation`: checks the request as Temporal's frontend does, counts the targets,
//! stores the batch and starts its runner.

use std::sync::Arc;

use temper_api::proto::enums::v1::{
    BatchOperationState, ResourceExhaustedCause, ResourceExhaustedScope,
};
use temper_api::proto::errordetails::v1::ResourceExhaustedFailure;
use temper_api::proto::workflowservice::v1::start_batch_operation_request::Operation;
use temper_api::proto::workflowservice::v1::{
    StartBatchOperationRequest, StartBatchOperationResponse,
};
use tonic::Status;

use super::runner::targets_query;
use super::{BatchRecord, Batches};
use crate::errors;

/// Running batches a namespace may have at once (Temporal's default).
const MAX_CONCURRENT_PER_NAMESPACE: usize = 1;

impl Batches {
    pub async fn start(
        self: &Arc<Self>,
        request: StartBatchOperationRequest,
    ) -> Result<StartBatchOperationResponse, Status> {
        check_request(&request)?;
        self.namespaces.require(&request.namespace)?;
        let total = self.count_targets(&request).await?;
        self.check_capacity(&request.namespace).await?;
        if self
            .entries
            .get(&request.namespace, &request.job_id)
            .is_some()
        {
            return Err(errors::already_started(&request.job_id, "", "", ""));
        }
        let mut record = BatchRecord {
            request: Some(request),
            state: BatchOperationState::Running as i32,
            start_time_ms: self.history.now_ms(),
            total,
            ..Default::default()
        };
        self.save(&mut record).await?;
        let entry = self.insert(record);
        self.spawn_runner(entry);
        Ok(StartBatchOperationResponse {})
    }

    /// How many executions the batch will act on: the query's matches now (an estimate, as
    /// on Temporal) or the listed executions.
    async fn count_targets(&self, request: &StartBatchOperationRequest) -> Result<i64, Status> {
        #[allow(deprecated)]
        if !request.executions.is_empty() {
            return Ok(request.executions.len() as i64);
        }
        let custom = self.namespaces.search_attributes(&request.namespace)?;
        let query = targets_query(request);
        let filter = crate::visibility::compile(&query, &custom, self.store.dialect())?;
        let count = self
            .store
            .count_executions(&request.namespace, &filter)
            .await
            .map_err(errors::storage)?;
        Ok(count.count)
    }

    async fn check_capacity(&self, namespace: &str) -> Result<(), Status> {
        let mut running = 0;
        for entry in self.entries.of_namespace(namespace) {
            if entry.lock().await.state == BatchOperationState::Running as i32 {
                running += 1;
            }
        }
        if running < MAX_CONCURRENT_PER_NAMESPACE {
            return Ok(());
        }
        Err(errors::with_detail(
            tonic::Code::ResourceExhausted,
            "Max concurrent batch operations is reached".to_string(),
            ResourceExhaustedFailure {
                cause: ResourceExhaustedCause::ConcurrentLimit as i32,
                scope: ResourceExhaustedScope::Namespace as i32,
            },
        ))
    }
}

/// Temporal's checks, in its order and words.
fn check_request(request: &StartBatchOperationRequest) -> Result<(), Status> {
    #[allow(deprecated)]
    let listed = !request.executions.is_empty();
    let queried = !request.visibility_query.is_empty();
    let selectors = usize::from(listed)
        + usize::from(queried)
        + usize::from(!request.target_executions.is_empty());
    if request.operation.is_none()
        || request.reason.is_empty()
        || request.namespace.is_empty()
        || selectors == 0
    {
        return Err(errors::invalid(
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ));
    }
    if request.job_id.is_empty() {
        return Err(errors::invalid("JobId is not set on request."));
    }
    if selectors > 1 {
        return Err(errors::invalid(
            "visibility query, executions, and target executions are mutually exclusive",
        ));
    }
    if !request.target_executions.is_empty() {
        return Err(errors::invalid(
            "target_executions are for standalone activities, which Temper does not have yet; list workflows in executions",
        ));
    }
    match &request.operation {
        Some(
            Operation::TerminationOperation(_)
            | Operation::CancellationOperation(_)
            | Operation::SignalOperation(_)
            | Operation::DeletionOperation(_)
            | Operation::ResetOperation(_),
        ) => Ok(()),
        _ => Err(errors::invalid(
            "The operation type is not supported by Temper yet",
        )),
    }
}

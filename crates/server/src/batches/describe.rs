//! `DescribeBatchOperation` and `ListBatchOperations`: a batch's state, times, counts and
//! what it targets, as Temporal reports them.

use temper_api::proto::batch::v1::BatchOperationInfo;
use temper_api::proto::enums::v1::BatchOperationType;
use temper_api::proto::workflowservice::v1::start_batch_operation_request::Operation;
use temper_api::proto::workflowservice::v1::{
    DescribeBatchOperationRequest, DescribeBatchOperationResponse, ListBatchOperationsRequest,
    ListBatchOperationsResponse, StartBatchOperationRequest,
};
use temper_engine::time::ms_timestamp;
use tonic::Status;

use super::{BatchRecord, Batches, not_found};
use crate::errors;

const DEFAULT_PAGE_SIZE: usize = 1_000;

impl Batches {
    pub async fn describe(
        &self,
        request: DescribeBatchOperationRequest,
    ) -> Result<DescribeBatchOperationResponse, Status> {
        if request.job_id.is_empty() {
            return Err(errors::invalid("JobId is not set on request."));
        }
        self.namespaces.require(&request.namespace)?;
        let entry = self
            .entries
            .get(&request.namespace, &request.job_id)
            .ok_or_else(|| not_found(&request.job_id))?;
        let record = entry.lock().await;
        let batch = record.request();
        #[allow(deprecated)]
        let executions = batch
            .executions
            .iter()
            .map(|e| temper_api::proto::common::v1::Execution {
                r#type: temper_api::proto::enums::v1::ExecutionType::Workflow as i32,
                business_id: e.workflow_id.clone(),
                run_id: e.run_id.clone(),
            })
            .collect();
        Ok(DescribeBatchOperationResponse {
            operation_type: operation_type(&record) as i32,
            job_id: batch.job_id.clone(),
            state: record.state,
            start_time: ms_timestamp(record.start_time_ms),
            close_time: close_time(&record),
            total_operation_count: record.total,
            complete_operation_count: record.complete,
            failure_operation_count: record.failure,
            identity: identity(record.request()),
            reason: batch.reason.clone(),
            query: batch.visibility_query.clone(),
            executions,
        })
    }

    pub async fn list(
        &self,
        request: ListBatchOperationsRequest,
    ) -> Result<ListBatchOperationsResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let page_size = match usize::try_from(request.page_size) {
            Ok(0) | Err(_) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(DEFAULT_PAGE_SIZE),
        };
        let mut infos = Vec::new();
        for entry in self.entries.of_namespace(&request.namespace) {
            let record = entry.lock().await;
            infos.push((record.start_time_ms, info(&record)));
        }
        // Newest first, as Temporal's visibility lists them.
        infos.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.job_id.cmp(&b.1.job_id)));
        let skip = String::from_utf8_lossy(&request.next_page_token)
            .parse::<usize>()
            .unwrap_or(0);
        let operation_info: Vec<_> = infos
            .into_iter()
            .skip(skip)
            .take(page_size)
            .map(|(_, info)| info)
            .collect();
        let next_page_token = if operation_info.len() == page_size {
            (skip + page_size).to_string().into_bytes()
        } else {
            Vec::new()
        };
        Ok(ListBatchOperationsResponse {
            operation_info,
            next_page_token,
        })
    }
}

fn info(record: &BatchRecord) -> BatchOperationInfo {
    BatchOperationInfo {
        job_id: record.job_id().to_string(),
        state: record.state,
        start_time: ms_timestamp(record.start_time_ms),
        close_time: close_time(record),
        operation_type: operation_type(record) as i32,
    }
}

fn close_time(record: &BatchRecord) -> Option<temper_api::Timestamp> {
    (record.close_time_ms > 0)
        .then(|| ms_timestamp(record.close_time_ms))
        .flatten()
}

fn operation_type(record: &BatchRecord) -> BatchOperationType {
    match &record.request().operation {
        Some(Operation::TerminationOperation(_)) => BatchOperationType::TerminateWorkflow,
        Some(Operation::CancellationOperation(_)) => BatchOperationType::CancelWorkflow,
        Some(Operation::SignalOperation(_)) => BatchOperationType::SignalWorkflow,
        Some(Operation::DeletionOperation(_)) => BatchOperationType::DeleteWorkflow,
        Some(Operation::ResetOperation(_)) => BatchOperationType::ResetWorkflow,
        _ => BatchOperationType::Unspecified,
    }
}

/// The identity the operation carries.
pub fn identity(request: &StartBatchOperationRequest) -> String {
    match &request.operation {
        Some(Operation::TerminationOperation(op)) => op.identity.clone(),
        Some(Operation::CancellationOperation(op)) => op.identity.clone(),
        Some(Operation::SignalOperation(op)) => op.identity.clone(),
        Some(Operation::DeletionOperation(op)) => op.identity.clone(),
        Some(Operation::ResetOperation(op)) => op.identity.clone(),
        _ => String::new(),
    }
}

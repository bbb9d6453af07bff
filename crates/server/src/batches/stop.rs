//! `StopBatchOperation`: ends a running batch (state FAILED, as Temporal reports a terminated
//! batcher); executions already acted on stay so.

use temper_api::proto::enums::v1::BatchOperationState;
use temper_api::proto::workflowservice::v1::{
    StopBatchOperationRequest, StopBatchOperationResponse,
};
use tonic::Status;

use super::{Batches, not_found};
use crate::errors;

impl Batches {
    pub async fn stop(
        &self,
        request: StopBatchOperationRequest,
    ) -> Result<StopBatchOperationResponse, Status> {
        if request.job_id.is_empty() {
            return Err(errors::invalid("JobId is not set on request."));
        }
        if request.namespace.is_empty() {
            return Err(errors::invalid("Namespace is not set on request."));
        }
        if request.reason.is_empty() {
            return Err(errors::invalid("Reason is not set on request."));
        }
        self.namespaces.require(&request.namespace)?;
        let entry = self
            .entries
            .get(&request.namespace, &request.job_id)
            .ok_or_else(|| not_found(&request.job_id))?;
        let mut record = entry.lock().await;
        if record.state != BatchOperationState::Running as i32 {
            return Err(errors::already_completed());
        }
        record.state = BatchOperationState::Failed as i32;
        record.close_time_ms = self.history.now_ms();
        self.save(&mut record).await?;
        Ok(StopBatchOperationResponse {})
    }
}

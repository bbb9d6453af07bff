//! `DescribeWorker`: one worker's last heartbeat, as it sent it.

use temper_api::proto::worker::v1::WorkerInfo;
use temper_api::proto::workflowservice::v1::{DescribeWorkerRequest, DescribeWorkerResponse};
use tonic::Status;

use super::Workers;
use crate::errors;

impl Workers {
    pub fn describe(
        &self,
        request: DescribeWorkerRequest,
    ) -> Result<DescribeWorkerResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let key = (
            request.namespace.clone(),
            request.worker_instance_key.clone(),
        );
        let heartbeat = self
            .entries()
            .get(&key)
            .map(|entry| entry.heartbeat.clone())
            .ok_or_else(|| {
                errors::not_found(format!("Worker {} not found", request.worker_instance_key))
            })?;
        Ok(DescribeWorkerResponse {
            worker_info: Some(WorkerInfo {
                worker_heartbeat: Some(heartbeat),
            }),
        })
    }
}

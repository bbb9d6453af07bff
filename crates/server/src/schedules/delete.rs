//! `DeleteSchedule`: removes the schedule; workflows it started keep running.

use temper_api::proto::workflowservice::v1::{DeleteScheduleRequest, DeleteScheduleResponse};
use temper_store::RecordKind;
use tonic::Status;

use super::{Schedules, not_found};
use crate::errors;

impl Schedules {
    pub async fn delete(
        &self,
        request: DeleteScheduleRequest,
    ) -> Result<DeleteScheduleResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let entry = self
            .entries
            .get(&request.namespace, &request.schedule_id)
            .ok_or_else(|| not_found(&request.schedule_id))?;
        let mut guard = entry.lock().await;
        if guard.is_none() {
            return Err(not_found(&request.schedule_id));
        }
        self.store
            .delete_record(
                RecordKind::Schedule,
                &request.namespace,
                &request.schedule_id,
            )
            .await
            .map_err(errors::storage)?;
        *guard = None;
        self.entries
            .remove(&request.namespace, &request.schedule_id);
        Ok(DeleteScheduleResponse {})
    }
}

//! `UpdateSchedule`: replaces the schedule's spec, action, policies and state. As on
//! Temporal's server, an update carrying a stale conflict token is accepted and silently not
//! applied.

use temper_api::proto::workflowservice::v1::{UpdateScheduleRequest, UpdateScheduleResponse};
use tonic::Status;

use super::Schedules;
use super::actions::timestamp;

impl Schedules {
    pub async fn update(
        &self,
        request: UpdateScheduleRequest,
    ) -> Result<UpdateScheduleResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let mut schedule = request.schedule.unwrap_or_default();
        self.check_schedule(&request.namespace, &mut schedule)?;
        let mut search_attributes = request.search_attributes;
        self.check_attributes(&request.namespace, search_attributes.as_mut())?;
        let mut locked = self
            .locked(&request.namespace, &request.schedule_id)
            .await?;
        let record = &mut *locked;
        let token = <[u8; 8]>::try_from(request.conflict_token.as_slice())
            .map(i64::from_be_bytes)
            .unwrap_or(0);
        if token != 0 && token != record.conflict_token {
            return Ok(UpdateScheduleResponse {});
        }
        record.schedule = Some(schedule);
        if let Some(attributes) = search_attributes {
            // Present (even empty) replaces the schedule's search attributes.
            record.search_attributes = Some(attributes);
        }
        record.info_mut().update_time = Some(timestamp(self.now_ns()));
        record.conflict_token += 1;
        self.run(record).await?;
        Ok(UpdateScheduleResponse {})
    }
}

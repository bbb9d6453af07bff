//! `PatchSchedule`: trigger an action now, queue backfills, pause or unpause with a note.

use temper_api::proto::schedule::v1::SchedulePatch;
use temper_api::proto::workflowservice::v1::{PatchScheduleRequest, PatchScheduleResponse};
use tonic::Status;

use super::actions::{buffer_start, timestamp, timestamp_ns};
use super::{NANOS_PER_MS, ScheduleRecord, Schedules};
use crate::errors;

impl Schedules {
    pub async fn patch(
        &self,
        request: PatchScheduleRequest,
    ) -> Result<PatchScheduleResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let Some(patch) = &request.patch else {
            return Err(errors::invalid("Patch is not set on request."));
        };
        let mut locked = self
            .locked(&request.namespace, &request.schedule_id)
            .await?;
        let record = &mut *locked;
        self.apply_patch(record, patch, self.now_ns());
        self.run(record).await?;
        Ok(PatchScheduleResponse {})
    }

    pub(super) fn apply_patch(&self, record: &mut ScheduleRecord, patch: &SchedulePatch, now: i64) {
        if let Some(trigger) = &patch.trigger_immediately {
            let at = match timestamp_ns(trigger.scheduled_time.as_ref()) {
                0 => now,
                at => at,
            };
            buffer_start(record, at, at, trigger.overlap_policy, true);
        }
        for backfill in &patch.backfill_request {
            // Both ends are included: the search starts just before the start time.
            let mut backfill = *backfill;
            let start = timestamp_ns(backfill.start_time.as_ref()).saturating_sub(NANOS_PER_MS);
            backfill.start_time = Some(timestamp(start));
            record.backfills.push(backfill);
        }
        let state = record
            .schedule
            .get_or_insert_with(Default::default)
            .state
            .get_or_insert_with(Default::default);
        let mut changed = false;
        if !patch.pause.is_empty() {
            (state.paused, state.notes) = (true, patch.pause.clone());
            changed = true;
        }
        if !patch.unpause.is_empty() {
            (state.paused, state.notes) = (false, patch.unpause.clone());
            changed = true;
        }
        if changed {
            record.conflict_token += 1;
        }
    }
}

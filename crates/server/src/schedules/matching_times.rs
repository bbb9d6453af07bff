//! `ListScheduleMatchingTimes`: the schedule's action times (jitter included) in a range, at
//! most 1,000, as Temporal lists them.

use temper_api::proto::workflowservice::v1::{
    ListScheduleMatchingTimesRequest, ListScheduleMatchingTimesResponse,
};
use temper_schedule::CompiledSpec;
use tonic::Status;

use super::Schedules;
use super::actions::{timestamp, timestamp_ns};
use crate::errors;

const MAX_MATCHING_TIMES: usize = 1_000;

impl Schedules {
    pub async fn matching_times(
        &self,
        request: ListScheduleMatchingTimesRequest,
    ) -> Result<ListScheduleMatchingTimesResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let (Some(start), Some(end)) = (request.start_time.as_ref(), request.end_time.as_ref())
        else {
            return Err(errors::invalid("missing or invalid query"));
        };
        let locked = self
            .locked(&request.namespace, &request.schedule_id)
            .await?;
        let record = &*locked;
        let spec = CompiledSpec::new(
            record
                .schedule()
                .spec
                .as_ref()
                .unwrap_or(&Default::default()),
        )
        .map_err(|error| errors::invalid(format!("invalid schedule: {error}")))?;
        let seed = record.jitter_seed();
        let end = timestamp_ns(Some(end));
        let mut after = timestamp_ns(Some(start));
        let mut times = Vec::new();
        while times.len() < MAX_MATCHING_TIMES {
            let next = spec.next_time(&seed, after).map_err(errors::invalid)?;
            match next {
                Some(next) if next.actual <= end => {
                    times.push(timestamp(next.actual));
                    after = next.actual;
                }
                _ => break,
            }
        }
        Ok(ListScheduleMatchingTimesResponse { start_time: times })
    }
}

//! `DescribeSchedule`: the schedule as Temporal shows it (range defaults written out), its
//! info with the workflows it started refreshed, the next ten action times and the conflict
//! token.

use temper_api::proto::workflowservice::v1::{DescribeScheduleRequest, DescribeScheduleResponse};
use temper_schedule::{CompiledSpec, fill_range_defaults};
use tonic::Status;

use super::actions::{timestamp, timestamp_ns};
use super::{ScheduleRecord, Schedules};

/// Future action times in Describe (Temporal's count).
const FUTURE_ACTIONS: usize = 10;

impl Schedules {
    pub async fn describe(
        &self,
        request: DescribeScheduleRequest,
    ) -> Result<DescribeScheduleResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let mut locked = self
            .locked(&request.namespace, &request.schedule_id)
            .await?;
        let record = &mut *locked;
        self.refresh_running(record).await;
        let mut schedule = record.schedule().clone();
        if let Some(spec) = schedule.spec.as_mut() {
            fill_range_defaults(spec);
        }
        let mut info = record.info.clone().unwrap_or_default();
        info.future_action_times = future_action_times(record, FUTURE_ACTIONS)
            .into_iter()
            .map(timestamp)
            .collect();
        info.buffer_size = record.buffered.len() as i64;
        Ok(DescribeScheduleResponse {
            schedule: Some(schedule),
            info: Some(info),
            memo: record.memo.clone(),
            search_attributes: record.search_attributes.clone(),
            conflict_token: record.conflict_token.to_be_bytes().to_vec(),
        })
    }
}

/// Up to `count` next action times after the last processed time: no more than the remaining
/// actions, none before the last update.
pub fn future_action_times(record: &ScheduleRecord, count: usize) -> Vec<i64> {
    let schedule = record.schedule();
    let Ok(spec) = CompiledSpec::new(schedule.spec.as_ref().unwrap_or(&Default::default())) else {
        return Vec::new();
    };
    let mut count = count;
    if let Some(state) = schedule.state.as_ref().filter(|s| s.limited_actions) {
        count = count.min(usize::try_from(state.remaining_actions).unwrap_or(0));
    }
    let updated = timestamp_ns(record.info.as_ref().and_then(|i| i.update_time.as_ref()));
    let seed = record.jitter_seed();
    let mut times = Vec::new();
    let mut after = record.last_processed_ns;
    while times.len() < count {
        let Ok(Some(next)) = spec.next_time(&seed, after) else {
            break;
        };
        after = next.actual;
        if updated <= next.actual {
            times.push(next.actual);
        }
    }
    times
}

//! `DescribeActivityExecution` (now, or once the run changed from the state a long-poll token
//! names) and `PollActivityExecution` (waits for the outcome).

use std::time::Duration;

use temper_api::proto::activity::v1::ActivityExecutionInfo;
use temper_api::proto::common::v1::ActivityType;
use temper_api::proto::workflowservice::v1::{
    DescribeActivityExecutionRequest, DescribeActivityExecutionResponse,
    PollActivityExecutionRequest, PollActivityExecutionResponse,
};
use temper_engine::standalone_activity::ActivityRun;
use temper_engine::time::{ms_duration, ms_timestamp};
use tonic::Status;

use super::ActivityExecutions;
use crate::errors;

/// Describe's view of a run. Heartbeat details and the last failure only when asked for.
pub(super) fn execution_info(
    run: &ActivityRun,
    heartbeat_details: bool,
    last_failure: bool,
    now_ms: i64,
) -> ActivityExecutionInfo {
    let activity = run.activity();
    let end_ms = if run.close_time_ms > 0 {
        run.close_time_ms
    } else {
        now_ms
    };
    let expiration_ms = match activity.schedule_to_close_timeout_ms {
        0 => 0,
        timeout => activity.scheduled_time_ms + timeout,
    };
    let next_attempt_ms = match (run.is_running(), activity.retry_ready_time_ms) {
        (true, ready) if ready > 0 => ready,
        _ => 0,
    };
    ActivityExecutionInfo {
        activity_id: run.activity_id.clone(),
        run_id: run.run_id.clone(),
        activity_type: Some(ActivityType {
            name: activity.activity_type.clone(),
        }),
        status: run.status,
        run_state: run.run_state() as i32,
        task_queue: activity.task_queue.clone(),
        schedule_to_close_timeout: Some(
            ms_duration(activity.schedule_to_close_timeout_ms).unwrap_or_default(),
        ),
        schedule_to_start_timeout: Some(
            ms_duration(activity.schedule_to_start_timeout_ms).unwrap_or_default(),
        ),
        start_to_close_timeout: Some(
            ms_duration(activity.start_to_close_timeout_ms).unwrap_or_default(),
        ),
        heartbeat_timeout: Some(ms_duration(activity.heartbeat_timeout_ms).unwrap_or_default()),
        retry_policy: activity.retry_policy.clone(),
        heartbeat_details: heartbeat_details
            .then(|| activity.heartbeat_details.clone())
            .flatten(),
        last_heartbeat_time: ms_timestamp(activity.last_heartbeat_time_ms),
        last_started_time: ms_timestamp(activity.started_time_ms),
        attempt: activity.attempt,
        execution_duration: ms_duration(end_ms - activity.scheduled_time_ms),
        schedule_time: ms_timestamp(activity.scheduled_time_ms),
        expiration_time: ms_timestamp(expiration_ms),
        close_time: ms_timestamp(run.close_time_ms),
        last_failure: last_failure
            .then(|| activity.last_failure.clone())
            .flatten(),
        last_worker_identity: activity.last_worker_identity.clone(),
        last_attempt_complete_time: ms_timestamp(activity.last_attempt_complete_time_ms),
        next_attempt_schedule_time: ms_timestamp(next_attempt_ms),
        priority: run.priority.clone(),
        state_transition_count: run.state_transition_count,
        search_attributes: run.search_attributes.clone(),
        header: activity.header.clone(),
        user_metadata: run.user_metadata.clone(),
        canceled_reason: run.canceled_reason.clone(),
        links: run.links.clone(),
        total_heartbeat_count: run.total_heartbeat_count,
        start_delay: ms_duration(run.start_delay_ms),
        execution_time: ms_timestamp(activity.scheduled_time_ms + run.start_delay_ms),
        ..Default::default()
    }
}

/// A long-poll token: the run and its state transition count when it was described.
fn long_poll_token(run: &ActivityRun) -> Vec<u8> {
    format!("{}:{}", run.run_id, run.state_transition_count).into_bytes()
}

impl ActivityExecutions {
    /// The run once `ready` holds for it, or as it is when `wait` ends.
    async fn wait_for(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
        wait: Duration,
        ready: impl Fn(&ActivityRun) -> bool,
    ) -> Result<ActivityRun, Status> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            let run = self.locked(namespace, activity_id, run_id).await?.clone();
            if ready(&run) {
                return Ok(run);
            }
            let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return Ok(run);
            }
        }
    }

    pub async fn describe(
        &self,
        request: DescribeActivityExecutionRequest,
        wait: Duration,
    ) -> Result<DescribeActivityExecutionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        if !request.long_poll_token.is_empty() && request.run_id.is_empty() {
            return Err(errors::invalid(
                "run id is required when long poll token is provided",
            ));
        }
        let seen = String::from_utf8_lossy(&request.long_poll_token).into_owned();
        let run = self
            .wait_for(
                &request.namespace,
                &request.activity_id,
                &request.run_id,
                if seen.is_empty() {
                    Duration::ZERO
                } else {
                    wait
                },
                |run| seen.is_empty() || long_poll_token(run).as_slice() != seen.as_bytes(),
            )
            .await?;
        let info = execution_info(
            &run,
            request.include_heartbeat_details,
            request.include_last_failure,
            self.now_ms(),
        );
        Ok(DescribeActivityExecutionResponse {
            run_id: run.run_id.clone(),
            info: Some(info),
            input: request
                .include_input
                .then(|| run.activity().input.clone())
                .flatten(),
            outcome: request
                .include_outcome
                .then(|| run.outcome.clone())
                .flatten(),
            long_poll_token: long_poll_token(&run),
            callbacks: Vec::new(),
        })
    }

    /// Waits for the run to close (or `wait` to end: no outcome then).
    pub async fn poll(
        &self,
        request: PollActivityExecutionRequest,
        wait: Duration,
    ) -> Result<PollActivityExecutionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let run = self
            .wait_for(
                &request.namespace,
                &request.activity_id,
                &request.run_id,
                wait,
                |run| !run.is_running(),
            )
            .await?;
        Ok(PollActivityExecutionResponse {
            run_id: run.run_id.clone(),
            outcome: run.outcome.clone(),
        })
    }
}

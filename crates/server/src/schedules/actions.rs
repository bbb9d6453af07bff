//! The scheduler's wake-up, in Temporal's order: refresh the workflows the schedule started,
//! turn the action times that came due into buffered starts (or missed ones, outside the
//! catch-up window), feed backfills in, let the overlap policy start, buffer, skip, cancel or
//! terminate, then save and set the next wake-up.

use temper_api::proto::common::v1::Payloads;
use temper_api::proto::common::v1::{Payload, SearchAttributes, WorkflowExecution};
use temper_api::proto::enums::v1::{
    ScheduleOverlapPolicy as Policy, WorkflowExecutionStatus, WorkflowIdReusePolicy,
};
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::history::v1::history_event::Attributes;
use temper_api::proto::schedule::v1::ScheduleActionResult;
use temper_api::proto::workflowservice::v1::{
    RequestCancelWorkflowExecutionRequest, StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
};
use temper_engine::time::duration_ms;
use temper_schedule::{CompiledSpec, decide};
use tonic::Status;

use super::record::BufferedStart;
use super::{NANOS_PER_MS, ScheduleRecord, Schedules, wake_key};
use crate::visibility;

const SECOND_NS: i64 = 1_000_000_000;
const DEFAULT_CATCHUP_NS: i64 = 365 * 24 * 3_600 * SECOND_NS;
const MIN_CATCHUP_NS: i64 = 10 * SECOND_NS;
const RECENT_ACTIONS: usize = 10;
/// The workflow task timeout of a started workflow whose action sets none.
const DEFAULT_WORKFLOW_TASK_TIMEOUT: temper_api::Duration = temper_api::Duration {
    seconds: 10,
    nanos: 0,
};
const MAX_BUFFER: usize = 1_000;
const BACKFILLS_PER_WAKE: usize = 10;
/// The pause between two steps of a backfill (Temporal's scheduler sleeps a second).
const BACKFILL_STEP_NS: i64 = SECOND_NS;

/// The time used in timestamps of schedule info.
pub fn timestamp(nanos: i64) -> temper_api::Timestamp {
    temper_api::Timestamp {
        seconds: nanos.div_euclid(SECOND_NS),
        nanos: nanos.rem_euclid(SECOND_NS) as i32,
    }
}

pub fn timestamp_ns(timestamp: Option<&temper_api::Timestamp>) -> i64 {
    // Saturating: a timestamp in a request may be anything.
    timestamp.map_or(0, |t| {
        t.seconds
            .saturating_mul(SECOND_NS)
            .saturating_add(i64::from(t.nanos))
    })
}

/// The catch-up window with Temporal's default and minimum.
pub fn catchup_window_ns(record: &ScheduleRecord) -> i64 {
    match record
        .schedule()
        .policies
        .as_ref()
        .and_then(|p| p.catchup_window.as_ref())
    {
        None => DEFAULT_CATCHUP_NS,
        Some(window) => duration_ms(Some(window))
            .saturating_mul(NANOS_PER_MS)
            .max(MIN_CATCHUP_NS),
    }
}

/// An overlap policy with the schedule's default and then SKIP filled in.
pub fn resolve_policy(record: &ScheduleRecord, policy: i32) -> Policy {
    let policy = Policy::try_from(policy).unwrap_or(Policy::Unspecified);
    if policy != Policy::Unspecified {
        return policy;
    }
    let default = record
        .schedule()
        .policies
        .as_ref()
        .map_or(0, |p| p.overlap_policy);
    match Policy::try_from(default) {
        Ok(Policy::Unspecified) | Err(_) => Policy::Skip,
        Ok(policy) => policy,
    }
}

/// Whether a scheduled (not manual) action may be taken; with `decrement`, takes one of the
/// remaining actions.
pub fn can_take_action(record: &mut ScheduleRecord, manual: bool, decrement: bool) -> bool {
    if manual {
        return true;
    }
    let Some(state) = record.schedule.as_mut().and_then(|s| s.state.as_mut()) else {
        return true;
    };
    if state.paused {
        return false;
    }
    if !state.limited_actions {
        return true;
    }
    if state.remaining_actions <= 0 {
        return false;
    }
    if decrement {
        state.remaining_actions -= 1;
        record.conflict_token += 1;
    }
    true
}

/// Undoes `can_take_action`'s decrement for a start that will be tried again, so a schedule
/// with limited actions does not spend one per attempt.
fn give_back_action(record: &mut ScheduleRecord, manual: bool) {
    let state = record.schedule.as_mut().and_then(|s| s.state.as_mut());
    if let Some(state) = state.filter(|s| s.limited_actions && !manual) {
        state.remaining_actions += 1;
    }
}

/// How long a start that failed for a passing reason waits before it is tried again.
const START_RETRY_MS: i64 = 500;

impl Schedules {
    /// One wake-up: everything due up to now, then save and set the next wake-up.
    pub(super) async fn run(&self, record: &mut ScheduleRecord) -> Result<(), Status> {
        let now = self.now_ns();
        let spec = CompiledSpec::new(
            record
                .schedule()
                .spec
                .as_ref()
                .unwrap_or(&Default::default()),
        )
        .ok();
        self.refresh_running(record).await;
        let mut next_wake = None;
        if let Some(spec) = &spec {
            let start = record.last_processed_ns;
            let (next, last_action) = time_range(record, spec, start, now, 0, false, None);
            record.last_processed_ns = last_action;
            next_wake = next;
            take_backfills(record, spec);
        }
        let retry = self.start_buffered(record).await;
        self.save(record).await?;
        self.set_wake(record, next_wake, now).await;
        if retry {
            let key = wake_key(&record.namespace, &record.schedule_id);
            self.timers
                .schedule(self.history.now_ms() + START_RETRY_MS, &key);
        }
        Ok(())
    }

    /// Sets the next wake-up: the next action time, or sooner while backfills are being fed
    /// in; buffered starts wait for the running workflow's close instead (a start that can
    /// never come while nothing runs is one the schedule may not take: paused or out of
    /// actions, which only an RPC changes, and RPCs run the schedule themselves).
    async fn set_wake(&self, record: &mut ScheduleRecord, next_action: Option<i64>, now: i64) {
        let mut wake = next_action.filter(|_| can_take_action(record, false, false));
        if !record.buffered.is_empty() {
            self.wait_for_closes(record);
            // A workflow that closed since the refresh was announced before we listened.
            if self.any_closed(record).await {
                wake = Some(now);
            }
            // In a spread cluster a workflow may close on another node, whose closes are not
            // announced here: look again each second.
            if self.history.peers().is_some() {
                let soon = now + CLOSE_RECHECK_NS;
                wake = Some(wake.map_or(soon, |at| at.min(soon)));
            }
        }
        if !record.backfills.is_empty() {
            let soon = now + BACKFILL_STEP_NS;
            wake = Some(wake.map_or(soon, |at| at.min(soon)));
        }
        if let Some(at) = wake {
            // Round up: firing a millisecond early would find nothing due.
            let at_ms = at.saturating_add(NANOS_PER_MS - 1).div_euclid(NANOS_PER_MS);
            let key = wake_key(&record.namespace, &record.schedule_id);
            self.timers.schedule(at_ms, &key);
        }
    }

    async fn any_closed(&self, record: &ScheduleRecord) -> bool {
        let running = record
            .info
            .as_ref()
            .map_or(&[][..], |i| &i.running_workflows[..]);
        for execution in running {
            if self
                .closed_status(&record.namespace, execution)
                .await
                .is_some()
            {
                return true;
            }
        }
        false
    }

    /// Drops closed workflows from the running list, recording their status in recent
    /// actions, their result or failure for the next run, and pausing on failure if asked.
    pub(super) async fn refresh_running(&self, record: &mut ScheduleRecord) {
        let running = record.info_mut().running_workflows.clone();
        for execution in running {
            let Some((status, close)) = self.closed_status(&record.namespace, &execution).await
            else {
                continue;
            };
            let info = record.info_mut();
            info.running_workflows
                .retain(|e| e.workflow_id != execution.workflow_id);
            for action in &mut info.recent_actions {
                let started = action.start_workflow_result.as_ref();
                if started.is_some_and(|s| s.workflow_id == execution.workflow_id) {
                    action.start_workflow_status = status as i32;
                }
            }
            note_close(record, &execution.workflow_id, status, close);
        }
    }

    /// The status and closing event of a started workflow's chain, if it has closed.
    async fn closed_status(
        &self,
        namespace: &str,
        started: &WorkflowExecution,
    ) -> Option<(WorkflowExecutionStatus, Option<Attributes>)> {
        let current = WorkflowExecution {
            workflow_id: started.workflow_id.clone(),
            run_id: String::new(),
        };
        let mut exec = self.history.resolve(namespace, Some(&current)).await.ok()?;
        if exec.first_execution_run_id != started.run_id {
            // The id was reused since: the chain we started is the run we know.
            exec = self.history.resolve(namespace, Some(started)).await.ok()?;
        }
        if exec.is_running() {
            return None;
        }
        let status = WorkflowExecutionStatus::try_from(exec.status).ok()?;
        let last = self
            .history
            .read_history(&exec.run_id, exec.next_event_id - 1, 1)
            .await
            .ok()
            .and_then(|mut events| events.pop())
            .and_then(|event| event.attributes);
        Some((status, last))
    }

    /// Starts what the overlap policy lets start, and cancels or terminates as it says. A
    /// start that fails for a passing reason (its run's owner died and the shard has no owner
    /// yet) is buffered again, to be tried at a wake-up `START_RETRY_MS` later: true then.
    async fn start_buffered(&self, record: &mut ScheduleRecord) -> bool {
        let has_action = record
            .schedule()
            .action
            .as_ref()
            .is_some_and(|a| a.action.is_some());
        if !has_action || record.buffered.is_empty() {
            record.buffered.clear();
            return false;
        }
        let running = !record.info_mut().running_workflows.is_empty();
        let buffered = std::mem::take(&mut record.buffered);
        let decision = decide(buffered, running, |s| {
            resolve_policy(record, s.overlap_policy)
        });
        record.buffered = decision.buffer;
        record.info_mut().overlap_skipped += decision.skipped;
        let starts = decision.overlapping.into_iter().map(|s| (s, false));
        let mut again = Vec::new();
        for (start, tracked) in starts.chain(decision.next.map(|s| (s, true))) {
            if !can_take_action(record, start.manual, true) {
                continue;
            }
            match self.start_workflow(record, &start).await {
                Ok(result) => record_action(record, result, tracked),
                Err(status) if crate::errors::is_passing(&status) => {
                    give_back_action(record, start.manual);
                    again.push(start);
                }
                Err(status) => tracing::warn!(
                    schedule_id = record.schedule_id,
                    %status,
                    "schedule could not start its workflow"
                ),
            }
        }
        if decision.terminate_running || decision.cancel_running {
            self.stop_running(record, decision.terminate_running).await;
        }
        let retry = !again.is_empty();
        again.append(&mut record.buffered);
        record.buffered = again;
        retry
    }

    async fn stop_running(&self, record: &mut ScheduleRecord, terminate: bool) {
        let identity = identity(record);
        for execution in record.info_mut().running_workflows.clone() {
            let owner = self
                .history
                .owner_elsewhere(&record.namespace, &execution.workflow_id);
            if let Some(peers) = owner {
                let result = stop_elsewhere(peers, record, execution.clone(), terminate).await;
                if let Err(status) = result {
                    tracing::debug!(workflow_id = execution.workflow_id, %status, "overlap stop failed");
                }
                continue;
            }
            let result = self
                .history
                .transact_open_run(&record.namespace, Some(&execution), |t| {
                    if terminate {
                        t.terminate("terminated by schedule overlap policy", None, &identity)
                    } else {
                        t.request_cancel("cancelled by schedule overlap policy", &identity)
                    }
                })
                .await;
            if let Err(status) = result {
                tracing::debug!(workflow_id = execution.workflow_id, %status, "overlap stop failed");
            }
        }
    }

    /// Starts one action's workflow, idempotently: the same action always sends the same
    /// request id, so a retry after a crash gets the run already started.
    async fn start_workflow(
        &self,
        record: &ScheduleRecord,
        start: &BufferedStart,
    ) -> Result<ScheduleActionResult, Status> {
        let request = self.start_request(record, start)?;
        let owner = self
            .history
            .owner_elsewhere(&record.namespace, &request.workflow_id);
        let run_id = match owner {
            Some(peers) => peers.call_owner(request.clone()).await?.run_id,
            None => {
                self.history
                    .start_workflow(&record.namespace, &request, None)
                    .await?
                    .0
            }
        };
        Ok(ScheduleActionResult {
            schedule_time: Some(timestamp(start.actual_ns)),
            actual_time: Some(timestamp(self.now_ns())),
            start_workflow_result: Some(WorkflowExecution {
                workflow_id: request.workflow_id,
                run_id,
            }),
            start_workflow_status: WorkflowExecutionStatus::Running as i32,
        })
    }

    fn start_request(
        &self,
        record: &ScheduleRecord,
        start: &BufferedStart,
    ) -> Result<StartWorkflowExecutionRequest, Status> {
        use temper_api::proto::schedule::v1::schedule_action::Action;
        let Some(Action::StartWorkflow(action)) = record
            .schedule()
            .action
            .as_ref()
            .and_then(|a| a.action.as_ref())
        else {
            return Err(Status::internal("schedule has no workflow to start"));
        };
        let nominal_second = start.nominal_ns.div_euclid(SECOND_NS);
        let attributes = action.search_attributes.as_ref();
        let (last_completion_result, continued_failure) = handed_on(record, start);
        Ok(StartWorkflowExecutionRequest {
            namespace: record.namespace.clone(),
            request_id: start_request_id(record, start),
            workflow_id: format!("{}-{}", action.workflow_id, rfc3339(nominal_second)),
            workflow_type: action.workflow_type.clone(),
            task_queue: action.task_queue.clone(),
            input: action.input.clone(),
            workflow_execution_timeout: action.workflow_execution_timeout,
            workflow_run_timeout: action.workflow_run_timeout,
            workflow_task_timeout: action
                .workflow_task_timeout
                .or(Some(DEFAULT_WORKFLOW_TASK_TIMEOUT)),
            identity: identity(record),
            workflow_id_reuse_policy: reuse_policy(start) as i32,
            retry_policy: action.retry_policy.clone(),
            memo: action.memo.clone(),
            search_attributes: Some(self.scheduled_attributes(
                record,
                attributes,
                nominal_second,
            )?),
            header: action.header.clone(),
            last_completion_result,
            continued_failure,
            user_metadata: action.user_metadata.clone(),
            priority: action.priority.clone(),
            ..Default::default()
        })
    }

    /// The action's search attributes plus `TemporalScheduledStartTime` and
    /// `TemporalScheduledById`, typed as the store keeps them.
    fn scheduled_attributes(
        &self,
        record: &ScheduleRecord,
        configured: Option<&SearchAttributes>,
        nominal_second: i64,
    ) -> Result<SearchAttributes, Status> {
        let mut attributes = configured.cloned().unwrap_or_default();
        let fields = &mut attributes.indexed_fields;
        fields.insert(
            "TemporalScheduledStartTime".into(),
            json_payload(&serde_json::Value::String(rfc3339(nominal_second))),
        );
        fields.insert(
            "TemporalScheduledById".into(),
            json_payload(&serde_json::Value::String(record.schedule_id.clone())),
        );
        let custom = self.namespaces.search_attributes(&record.namespace)?;
        visibility::annotate_types(&mut attributes, &custom);
        Ok(attributes)
    }
}

/// Turns the action times in (`start`, `end`] into buffered starts (or missed ones); returns
/// the first action time after `end` and the last action time taken. `limit` bounds how many
/// are taken (backfills go in steps).
pub fn time_range(
    record: &mut ScheduleRecord,
    spec: &CompiledSpec,
    start: i64,
    end: i64,
    overlap_policy: i32,
    manual: bool,
    mut limit: Option<&mut usize>,
) -> (Option<i64>, i64) {
    let seed = record.jitter_seed();
    let next_after = |t: i64| spec.next_time(&seed, t).ok().flatten();
    if !can_take_action(record, manual, false) {
        // Paused or out of actions: the range is skipped, not missed.
        return (next_after(end).map(|n| n.actual), end);
    }
    let catchup = catchup_window_ns(record);
    let updated = timestamp_ns(record.info_mut().update_time.as_ref());
    let mut last_action = start;
    let mut next = next_after(start);
    while let Some(time) = next.filter(|t| t.actual <= end) {
        next = next_after(time.actual);
        if !manual && updated > time.actual {
            continue;
        }
        if !manual && end.saturating_sub(time.actual) > catchup {
            record.info_mut().missed_catchup_window += 1;
            continue;
        }
        buffer_start(record, time.nominal, time.actual, overlap_policy, manual);
        last_action = time.actual;
        if let Some(limit) = limit.as_deref_mut() {
            *limit -= 1;
            if *limit == 0 {
                break;
            }
        }
    }
    (next.map(|n| n.actual), last_action)
}

pub fn buffer_start(
    record: &mut ScheduleRecord,
    nominal: i64,
    actual: i64,
    policy: i32,
    manual: bool,
) {
    if record.buffered.len() >= MAX_BUFFER {
        record.info_mut().buffer_dropped += 1;
        return;
    }
    record.buffered.push(BufferedStart {
        nominal_ns: nominal,
        actual_ns: actual,
        overlap_policy: policy,
        manual,
    });
}

/// Feeds ongoing backfills into the buffer, a few actions per wake-up, using at most half the
/// buffer.
fn take_backfills(record: &mut ScheduleRecord, spec: &CompiledSpec) {
    let mut limit = BACKFILLS_PER_WAKE;
    while limit > 0 && record.buffered.len() < MAX_BUFFER / 2 {
        let Some(backfill) = record.backfills.first().copied() else {
            return;
        };
        let start = timestamp_ns(backfill.start_time.as_ref());
        let end = timestamp_ns(backfill.end_time.as_ref());
        let policy = backfill.overlap_policy;
        let (next, _) = time_range(record, spec, start, end, policy, true, Some(&mut limit));
        match next {
            Some(next) if next <= end => {
                record.backfills[0].start_time = Some(timestamp(next));
            }
            _ => {
                record.backfills.remove(0);
            }
        }
    }
}

fn record_action(record: &mut ScheduleRecord, result: ScheduleActionResult, tracked: bool) {
    let started = result.start_workflow_result.clone();
    let info = record.info_mut();
    info.action_count += 1;
    info.recent_actions.push(result);
    let excess = info.recent_actions.len().saturating_sub(RECENT_ACTIONS);
    info.recent_actions.drain(..excess);
    if let (true, Some(started)) = (tracked, started) {
        info.running_workflows.push(started);
    }
}

/// A closed workflow's effect on the schedule: pause on failure, and the result or failure
/// the next run receives.
fn note_close(
    record: &mut ScheduleRecord,
    workflow_id: &str,
    status: WorkflowExecutionStatus,
    close: Option<Attributes>,
) {
    let pause_on_failure = record
        .schedule()
        .policies
        .as_ref()
        .is_some_and(|p| p.pause_on_failure);
    let failed = matches!(
        status,
        WorkflowExecutionStatus::Failed | WorkflowExecutionStatus::TimedOut
    );
    let mut failure_message = String::new();
    match close {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(completed)) => {
            record.last_completion_result = completed.result;
            record.continued_failure = None;
        }
        Some(Attributes::WorkflowExecutionFailedEventAttributes(failed)) => {
            failure_message = failed
                .failure
                .as_ref()
                .map_or(String::new(), |f| f.message.clone());
            record.continued_failure = failed.failure;
        }
        _ => {}
    }
    let state = record.schedule.as_mut().and_then(|s| s.state.as_mut());
    if let (true, true, Some(state)) = (pause_on_failure, failed, state)
        && !state.paused
    {
        state.paused = true;
        state.notes = if status == WorkflowExecutionStatus::Failed {
            format!("paused due to workflow failure: {workflow_id}: {failure_message}")
        } else {
            format!("paused due to workflow timeout: {workflow_id}")
        };
        record.conflict_token += 1;
    }
}

/// The same for every attempt at the same action, so a repeated start finds its run.
fn start_request_id(record: &ScheduleRecord, start: &BufferedStart) -> String {
    let seed = record.jitter_seed();
    format!(
        "{seed}-{}-{}-{}",
        start.nominal_ns, start.actual_ns, start.manual
    )
}

/// The previous run's result or failure, for the run about to start (ALLOW_ALL runs take
/// no part in the chain, as on Temporal).
fn handed_on(
    record: &ScheduleRecord,
    start: &BufferedStart,
) -> (Option<Payloads>, Option<Failure>) {
    if resolve_policy(record, start.overlap_policy) == Policy::AllowAll {
        return (None, None);
    }
    (
        record.last_completion_result.clone(),
        record.continued_failure.clone(),
    )
}

/// Scheduled starts refuse a workflow id used before, triggered and backfilled ones allow
/// it, as on Temporal (a repeat of the very same start is recognised by its request id first).
fn reuse_policy(start: &BufferedStart) -> WorkflowIdReusePolicy {
    if start.manual {
        WorkflowIdReusePolicy::AllowDuplicate
    } else {
        WorkflowIdReusePolicy::RejectDuplicate
    }
}

/// How often a schedule waiting for its workflows to close looks again in a spread cluster.
const CLOSE_RECHECK_NS: i64 = 1_000 * NANOS_PER_MS;

/// The overlap policy's terminate or cancel of a workflow on another node's shard.
async fn stop_elsewhere(
    peers: &crate::cluster::Peers,
    record: &ScheduleRecord,
    execution: WorkflowExecution,
    terminate: bool,
) -> Result<(), Status> {
    let namespace = record.namespace.clone();
    let identity = identity(record);
    if terminate {
        let request = TerminateWorkflowExecutionRequest {
            namespace,
            workflow_execution: Some(execution),
            reason: "terminated by schedule overlap policy".into(),
            identity,
            ..Default::default()
        };
        return peers.call_owner(request).await.map(drop);
    }
    let request = RequestCancelWorkflowExecutionRequest {
        namespace,
        workflow_execution: Some(execution),
        reason: "cancelled by schedule overlap policy".into(),
        identity,
        ..Default::default()
    };
    peers.call_owner(request).await.map(drop)
}

fn identity(record: &ScheduleRecord) -> String {
    format!(
        "temporal-scheduler-{}-{}",
        record.namespace, record.schedule_id
    )
}

fn json_payload(value: &serde_json::Value) -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: value.to_string().into_bytes(),
        ..Default::default()
    }
}

/// A whole UTC second as RFC 3339 (`2026-12-06T05:00:00Z`), as Go's `time.RFC3339` prints it.
pub fn rfc3339(unix_second: i64) -> String {
    chrono::DateTime::from_timestamp(unix_second, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use temper_api::proto::schedule::v1::{Schedule, ScheduleState};

    use super::*;

    fn limited(remaining: i64) -> ScheduleRecord {
        ScheduleRecord {
            schedule: Some(Schedule {
                state: Some(ScheduleState {
                    limited_actions: true,
                    remaining_actions: remaining,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn remaining(record: &ScheduleRecord) -> i64 {
        let state = record.schedule.as_ref().and_then(|s| s.state.as_ref());
        state.map_or(0, |s| s.remaining_actions)
    }

    #[test]
    fn a_start_tried_again_spends_one_action_in_all() {
        let mut record = limited(2);
        for _attempt in 0..3 {
            assert!(can_take_action(&mut record, false, true));
            give_back_action(&mut record, false);
        }
        assert!(can_take_action(&mut record, false, true));
        assert_eq!(remaining(&record), 1);
    }

    #[test]
    fn a_manual_start_gives_back_nothing() {
        let mut record = limited(2);
        give_back_action(&mut record, true);
        assert_eq!(remaining(&record), 2);
    }
}

//! Response builders: Temporal's response messages from run state (describe, polls, the
//! task tokens workers answer with).

use temper_api::proto::common::v1::{WorkflowExecution, WorkflowType};
use temper_api::proto::enums::v1::{PendingActivityState, PendingWorkflowTaskState};
use temper_api::proto::history::v1::History as HistoryPage;
use temper_api::proto::query::v1::WorkflowQuery;
use temper_api::proto::workflow::v1::{
    PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo,
    WorkflowExecutionConfig, WorkflowExecutionInfo,
};
use temper_api::proto::workflowservice::v1::*;
use temper_engine::Execution;
use temper_engine::execution::{
    WorkflowTaskGrant, activity_type, normal_task_queue, transient_events,
};
use temper_engine::standalone_activity::ActivityRun;
use temper_engine::state::ActivityInfo;
use temper_engine::time::{duration_ms, ms_duration, ms_timestamp};
use tonic::Status;

use super::Frontend;
use crate::matching::QueryView;
use crate::tokens::{TaskToken, TokenKind};

pub(super) fn execution_of(exec: &Execution) -> Option<WorkflowExecution> {
    Some(exec.workflow_execution())
}

pub(super) fn execution_info(exec: &Execution) -> WorkflowExecutionInfo {
    let closed = exec.close_time_ms > 0;
    WorkflowExecutionInfo {
        execution: execution_of(exec),
        r#type: Some(WorkflowType {
            name: exec.workflow_type.clone(),
        }),
        start_time: ms_timestamp(exec.start_time_ms),
        close_time: ms_timestamp(exec.close_time_ms),
        status: exec.status,
        history_length: exec.next_event_id - 1,
        execution_time: ms_timestamp(
            exec.start_time_ms
                + exec
                    .started
                    .as_ref()
                    .map_or(0, |s| duration_ms(s.first_workflow_task_backoff.as_ref())),
        ),
        memo: exec.memo.clone(),
        search_attributes: exec.visible_search_attributes(),
        task_queue: exec.task_queue.clone(),
        state_transition_count: exec.db_version,
        history_size_bytes: exec.history_size_bytes,
        execution_duration: if closed {
            ms_duration(exec.close_time_ms - exec.start_time_ms)
        } else {
            None
        },
        first_run_id: exec.first_execution_run_id.clone(),
        parent_execution: exec
            .started
            .as_ref()
            .and_then(|s| s.parent_workflow_execution.clone()),
        root_execution: exec
            .started
            .as_ref()
            .and_then(|s| s.root_workflow_execution.clone())
            .or_else(|| execution_of(exec)),
        versioning_info: exec.versioning_info(),
        worker_deployment_name: exec.deployment_name.clone(),
        ..Default::default()
    }
}

pub(super) fn pending_activity(activity: &ActivityInfo) -> PendingActivityInfo {
    let state = match (
        activity.cancel_requested,
        activity.started_time_ms > 0,
        activity.paused,
    ) {
        (true, _, _) => PendingActivityState::CancelRequested,
        (false, true, true) => PendingActivityState::PauseRequested,
        (false, false, true) => PendingActivityState::Paused,
        (false, true, false) => PendingActivityState::Started,
        (false, false, false) => PendingActivityState::Scheduled,
    };
    PendingActivityInfo {
        activity_id: activity.activity_id.clone(),
        activity_type: activity_type(&activity.activity_type),
        state: state as i32,
        heartbeat_details: activity.heartbeat_details.clone(),
        last_heartbeat_time: ms_timestamp(activity.last_heartbeat_time_ms),
        last_started_time: ms_timestamp(activity.started_time_ms),
        attempt: activity.attempt,
        maximum_attempts: activity
            .retry_policy
            .as_ref()
            .map_or(0, |p| p.maximum_attempts),
        scheduled_time: ms_timestamp(activity.current_attempt_scheduled_time_ms),
        expiration_time: if activity.schedule_to_close_timeout_ms > 0 {
            ms_timestamp(activity.scheduled_time_ms + activity.schedule_to_close_timeout_ms)
        } else {
            None
        },
        last_failure: activity.last_failure.clone(),
        last_worker_identity: if activity.started_identity.is_empty() {
            activity.last_worker_identity.clone()
        } else {
            activity.started_identity.clone()
        },
        next_attempt_schedule_time: ms_timestamp(activity.retry_ready_time_ms),
        paused: activity.paused,
        pause_info: activity.paused.then(|| pause_info(activity)),
        ..Default::default()
    }
}

/// Who paused an activity, when and why, as describe reports it.
fn pause_info(
    activity: &ActivityInfo,
) -> temper_api::proto::workflow::v1::pending_activity_info::PauseInfo {
    use temper_api::proto::workflow::v1::pending_activity_info::pause_info;
    temper_api::proto::workflow::v1::pending_activity_info::PauseInfo {
        pause_time: ms_timestamp(activity.pause_time_ms),
        paused_by: Some(pause_info::PausedBy::Manual(pause_info::Manual {
            identity: activity.pause_identity.clone(),
            reason: activity.pause_reason.clone(),
        })),
    }
}

/// What a worker receives for an activity attempt that was handed to it.
pub(super) fn activity_task_response(
    namespace: &str,
    exec: &Execution,
    activity: &ActivityInfo,
) -> PollActivityTaskQueueResponse {
    let token = TaskToken {
        namespace: namespace.to_string(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        scheduled_event_id: activity.scheduled_event_id,
        attempt: activity.attempt,
        kind: TokenKind::ActivityTask as i32,
        ..Default::default()
    };
    PollActivityTaskQueueResponse {
        task_token: token.encode(),
        workflow_namespace: namespace.to_string(),
        workflow_type: Some(WorkflowType {
            name: exec.workflow_type.clone(),
        }),
        workflow_execution: execution_of(exec),
        ..attempt_fields(activity)
    }
}

/// What a poller receives for a standalone activity's attempt: the activity, no workflow.
pub(super) fn standalone_task_response(run: &ActivityRun) -> PollActivityTaskQueueResponse {
    let activity = run.activity();
    let token = TaskToken {
        namespace: run.namespace.clone(),
        run_id: run.run_id.clone(),
        attempt: activity.attempt,
        kind: TokenKind::ActivityTask as i32,
        standalone: true,
        activity_id: run.activity_id.clone(),
        ..Default::default()
    };
    PollActivityTaskQueueResponse {
        task_token: token.encode(),
        workflow_namespace: run.namespace.clone(),
        workflow_execution: Some(Default::default()),
        activity_run_id: run.run_id.clone(),
        priority: run.priority.clone(),
        ..attempt_fields(activity)
    }
}

/// The fields of an activity task that describe the attempt itself.
fn attempt_fields(activity: &ActivityInfo) -> PollActivityTaskQueueResponse {
    PollActivityTaskQueueResponse {
        activity_type: activity_type(&activity.activity_type),
        activity_id: activity.activity_id.clone(),
        header: activity.header.clone(),
        input: activity.input.clone(),
        heartbeat_details: activity.heartbeat_details.clone(),
        scheduled_time: ms_timestamp(activity.scheduled_time_ms),
        current_attempt_scheduled_time: ms_timestamp(activity.current_attempt_scheduled_time_ms),
        started_time: ms_timestamp(activity.started_time_ms),
        attempt: activity.attempt,
        // The TypeScript SDK relies on schedule-to-close always being present.
        schedule_to_close_timeout: Some(
            ms_duration(activity.schedule_to_close_timeout_ms).unwrap_or_default(),
        ),
        start_to_close_timeout: ms_duration(activity.start_to_close_timeout_ms),
        heartbeat_timeout: ms_duration(activity.heartbeat_timeout_ms),
        retry_policy: activity.retry_policy.clone(),
        ..Default::default()
    }
}

impl Frontend {
    /// What a worker receives for a workflow task it was granted: the history (only the new
    /// events on a sticky queue) and the token to complete it with.
    pub(super) async fn workflow_task_response(
        &self,
        namespace: &str,
        exec: &Execution,
        grant: &WorkflowTaskGrant,
        sticky: bool,
    ) -> Result<PollWorkflowTaskQueueResponse, Status> {
        let first_event_id = if sticky {
            grant.previous_started_event_id + 1
        } else {
            1
        };
        let mut events = self
            .history
            .read_history(&exec.run_id, first_event_id, usize::MAX)
            .await?;
        if let Some(wft) = &exec.workflow_task {
            events.extend(transient_events(wft, exec.history_size_bytes));
        }
        let token = TaskToken {
            namespace: namespace.to_string(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            scheduled_event_id: grant.scheduled_event_id,
            started_event_id: grant.started_event_id,
            attempt: grant.attempt,
            kind: TokenKind::WorkflowTask as i32,
            ..Default::default()
        };
        Ok(PollWorkflowTaskQueueResponse {
            task_token: token.encode(),
            workflow_execution: execution_of(exec),
            workflow_type: Some(WorkflowType {
                name: exec.workflow_type.clone(),
            }),
            previous_started_event_id: grant.previous_started_event_id,
            started_event_id: grant.started_event_id,
            attempt: grant.attempt,
            history: Some(HistoryPage { events }),
            workflow_execution_task_queue: normal_task_queue(&exec.task_queue),
            scheduled_time: ms_timestamp(grant.scheduled_time_ms),
            started_time: ms_timestamp(grant.started_time_ms),
            messages: exec.update_request_messages(grant.started_event_id),
            ..Default::default()
        })
    }

    /// A query task for a worker: the run's whole history and the query. `None` when the run
    /// is gone.
    pub(super) async fn query_task_response(
        &self,
        namespace: &str,
        run_id: &str,
        query_id: String,
        query: WorkflowQuery,
        view: QueryView,
    ) -> Result<Option<PollWorkflowTaskQueueResponse>, Status> {
        let Some(exec) = self.history.snapshot(run_id).await? else {
            return Ok(None);
        };
        // A task from a node that did not say (0) shows the run as it is now.
        let view = match view.last_event_id {
            0 => crate::history::query_view(&exec),
            _ => view,
        };
        let shown = usize::try_from(view.last_event_id).unwrap_or(usize::MAX);
        let events = self.history.read_history(run_id, 1, shown).await?;
        // The workflow id routes the answer to the run's owner in a cluster, where the query
        // waits.
        let token = TaskToken {
            namespace: namespace.to_string(),
            workflow_id: exec.workflow_id.clone(),
            run_id: run_id.to_string(),
            kind: TokenKind::QueryTask as i32,
            query_id,
            ..Default::default()
        };
        Ok(Some(PollWorkflowTaskQueueResponse {
            task_token: token.encode(),
            workflow_execution: execution_of(&exec),
            workflow_type: Some(WorkflowType {
                name: exec.workflow_type.clone(),
            }),
            previous_started_event_id: view.previous_started_event_id,
            attempt: 1,
            history: Some(HistoryPage { events }),
            query: Some(query),
            workflow_execution_task_queue: normal_task_queue(&exec.task_queue),
            ..Default::default()
        }))
    }
}

/// `DescribeWorkflowExecution`'s answer for a run (its search attributes typed with the
/// namespace's `custom` registry).
pub(super) fn describe_response(
    exec: &Execution,
    custom: &std::collections::HashMap<String, i32>,
) -> DescribeWorkflowExecutionResponse {
    let mut activities: Vec<&ActivityInfo> = exec.activities.values().collect();
    activities.sort_by_key(|a| a.scheduled_event_id);
    let mut info = execution_info(exec);
    if let Some(attributes) = info.search_attributes.as_mut() {
        crate::visibility::annotate_types(attributes, custom);
    }
    DescribeWorkflowExecutionResponse {
        execution_config: Some(WorkflowExecutionConfig {
            task_queue: normal_task_queue(&exec.task_queue),
            workflow_execution_timeout: ms_duration(exec.execution_timeout_ms),
            workflow_run_timeout: ms_duration(exec.run_timeout_ms),
            default_workflow_task_timeout: ms_duration(exec.workflow_task_timeout_ms),
            user_metadata: exec.user_metadata.clone(),
        }),
        workflow_execution_info: Some(info),
        pending_activities: activities.into_iter().map(pending_activity).collect(),
        pending_children: pending_children(exec),
        pending_workflow_task: pending_workflow_task(exec),
        pending_nexus_operations: exec
            .nexus_operations
            .values()
            .map(pending_nexus_operation)
            .collect(),
        ..Default::default()
    }
}

/// A pending Nexus operation as `DescribeWorkflowExecution` reports it.
#[allow(deprecated)] // `operation_id` is deprecated but still filled, as Temporal does
fn pending_nexus_operation(
    op: &temper_engine::state::NexusOperationInfo,
) -> temper_api::proto::workflow::v1::PendingNexusOperationInfo {
    use temper_api::proto::enums::v1::PendingNexusOperationState as State;
    let state = if !op.operation_token.is_empty() {
        State::Started
    } else if op.retry_ready_time_ms > 0 {
        State::BackingOff
    } else {
        State::Scheduled
    };
    temper_api::proto::workflow::v1::PendingNexusOperationInfo {
        endpoint: op.endpoint.clone(),
        service: op.service.clone(),
        operation: op.operation.clone(),
        operation_id: op.operation_token.clone(),
        operation_token: op.operation_token.clone(),
        schedule_to_close_timeout: ms_duration(op.schedule_to_close_timeout_ms),
        scheduled_time: ms_timestamp(op.scheduled_time_ms),
        state: state as i32,
        attempt: op.attempt,
        last_attempt_complete_time: ms_timestamp(op.last_attempt_complete_time_ms),
        last_attempt_failure: op.last_attempt_failure.clone(),
        next_attempt_schedule_time: ms_timestamp(op.retry_ready_time_ms),
        scheduled_event_id: op.scheduled_event_id,
        ..Default::default()
    }
}

fn pending_workflow_task(exec: &Execution) -> Option<PendingWorkflowTaskInfo> {
    exec.workflow_task
        .as_ref()
        .map(|w| PendingWorkflowTaskInfo {
            state: if w.started_event_id > 0 {
                PendingWorkflowTaskState::Started as i32
            } else {
                PendingWorkflowTaskState::Scheduled as i32
            },
            scheduled_time: ms_timestamp(w.scheduled_time_ms),
            original_scheduled_time: ms_timestamp(w.scheduled_time_ms),
            started_time: ms_timestamp(w.started_time_ms),
            attempt: w.attempt,
        })
}

/// Children still pending (none once the run closed).
fn pending_children(exec: &Execution) -> Vec<PendingChildExecutionInfo> {
    if !exec.is_running() {
        return Vec::new();
    }
    let mut children: Vec<_> = exec.children.values().collect();
    children.sort_by_key(|c| c.initiated_event_id);
    children
        .into_iter()
        .map(|c| PendingChildExecutionInfo {
            workflow_id: c.workflow_id.clone(),
            run_id: c.run_id.clone(),
            workflow_type_name: c.workflow_type.clone(),
            initiated_id: c.initiated_event_id,
            parent_close_policy: c.parent_close_policy,
        })
        .collect()
}

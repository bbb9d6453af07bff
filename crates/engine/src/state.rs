//! The persisted state of one workflow run ("mutable state" in Temporal's terms).
//!
//! These are protobuf messages (derived with prost) so they embed Temporal's own message types
//! unchanged and encode compactly; the store writes one encoded [`Execution`] per run next to
//! its history events. All instants are milliseconds since the epoch, 0 meaning "none".

use std::collections::BTreeMap;

use temper_api::proto::common::v1::{Header, Memo, Payloads, RetryPolicy, SearchAttributes};
use temper_api::proto::failure::v1::Failure;
use temper_api::proto::history::v1::{self as history, HistoryEvent};
use temper_api::proto::update::v1 as update;

/// One workflow run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Execution {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(string, tag = "4")]
    pub first_execution_run_id: String,
    #[prost(string, tag = "5")]
    pub workflow_type: String,
    #[prost(string, tag = "6")]
    pub task_queue: String,
    /// `temporal.api.enums.v1.WorkflowExecutionStatus`.
    #[prost(int32, tag = "7")]
    pub status: i32,
    /// The id the next history event gets; history holds `1..next_event_id`.
    #[prost(int64, tag = "8")]
    pub next_event_id: i64,
    #[prost(int64, tag = "9")]
    pub start_time_ms: i64,
    #[prost(int64, tag = "10")]
    pub close_time_ms: i64,
    #[prost(int64, tag = "11")]
    pub workflow_task_timeout_ms: i64,
    #[prost(int64, tag = "12")]
    pub run_timeout_ms: i64,
    #[prost(int64, tag = "13")]
    pub execution_timeout_ms: i64,
    /// Absolute deadline of the run (run or execution timeout, whichever is first); 0 = none.
    #[prost(int64, tag = "14")]
    pub run_deadline_ms: i64,
    #[prost(string, tag = "15")]
    pub start_request_id: String,
    /// `started_event_id` of the last completed workflow task (the poll's
    /// `previous_started_event_id`).
    #[prost(int64, tag = "16")]
    pub last_completed_workflow_task_started_id: i64,
    #[prost(message, optional, tag = "17")]
    pub workflow_task: Option<WorkflowTaskInfo>,
    #[prost(btree_map = "int64, message", tag = "18")]
    pub activities: BTreeMap<i64, ActivityInfo>,
    #[prost(btree_map = "string, message", tag = "19")]
    pub timers: BTreeMap<String, TimerInfo>,
    /// Events that arrived while a workflow task was in flight; written at the next flush.
    #[prost(message, repeated, tag = "20")]
    pub buffered_events: Vec<HistoryEvent>,
    #[prost(bool, tag = "21")]
    pub cancel_requested: bool,
    /// Request ids of the signals delivered since the state was last written. The store keeps
    /// a run's earlier ids in rows of its own and refuses a write that delivers one of them
    /// again (a retried signal), so the state does not grow with every signal; states written
    /// before that hold all their ids here, and hand them to the store at their next write.
    #[prost(string, repeated, tag = "22")]
    pub signal_request_ids: Vec<String>,
    #[prost(message, optional, tag = "23")]
    pub memo: Option<Memo>,
    #[prost(message, optional, tag = "24")]
    pub search_attributes: Option<SearchAttributes>,
    /// Encoded size of all history events written so far.
    #[prost(int64, tag = "25")]
    pub history_size_bytes: i64,
    /// Attempt number of the next workflow task (counts consecutive failures and timeouts).
    #[prost(int32, tag = "26")]
    pub workflow_task_attempt: i32,
    /// Incremented on every persisted update; the store uses it for optimistic concurrency.
    #[prost(int64, tag = "29")]
    pub db_version: i64,
    #[prost(int64, tag = "30")]
    pub execution_deadline_ms: i64,
    /// The run's `WorkflowExecutionStarted` attributes: what a retry or continued run inherits.
    #[prost(message, optional, tag = "31")]
    pub started: Option<history::WorkflowExecutionStartedEventAttributes>,
    /// When the first workflow task is due (start delay, retry or continue-as-new backoff);
    /// 0 once it has been scheduled.
    #[prost(int64, tag = "32")]
    pub first_workflow_task_time_ms: i64,
    /// Child workflows by initiated event id. Kept after the run closes, so the parent close
    /// policy can still be applied to them.
    #[prost(btree_map = "int64, message", tag = "33")]
    pub children: BTreeMap<i64, ChildInfo>,
    /// Signals and cancel requests to other workflows, by initiated event id, until delivered.
    #[prost(btree_map = "int64, message", tag = "34")]
    pub external_requests: BTreeMap<i64, ExternalRequest>,
    /// Workflow updates by update id, kept after completion for deduplication and polling.
    #[prost(btree_map = "string, message", tag = "35")]
    pub updates: BTreeMap<String, UpdateInfo>,
    /// Admission counter: orders update requests on workflow tasks.
    #[prost(int64, tag = "36")]
    pub updates_admitted: i64,
    /// The sticky queue of the worker that completed the last workflow task (empty: none).
    /// The next workflow task is offered there first, with only the new events.
    #[prost(string, tag = "37")]
    pub sticky_task_queue: String,
    #[prost(int64, tag = "38")]
    pub sticky_schedule_to_start_timeout_ms: i64,
    /// The start request's summary and details (`static_summary`/`static_details` in the
    /// SDKs), shown by describe as Temporal does.
    #[prost(message, optional, tag = "39")]
    pub user_metadata: Option<temper_api::proto::sdk::v1::UserMetadata>,
    /// Nexus operations by scheduled event id, until they complete, fail, are canceled or
    /// time out.
    #[prost(btree_map = "int64, message", tag = "40")]
    pub nexus_operations: BTreeMap<i64, NexusOperationInfo>,
    /// Worker versioning, as the last completed workflow task reported it: the behaviour the
    /// workflow declared (`VersioningBehavior`) and the deployment version that ran it (empty
    /// build id: an unversioned worker).
    #[prost(int32, tag = "41")]
    pub versioning_behavior: i32,
    #[prost(string, tag = "42")]
    pub deployment_name: String,
    #[prost(string, tag = "43")]
    pub deployment_build_id: String,
    /// Every deployment version (`deployment:build id`) a workflow task of this run completed
    /// on, in the order first used (Temporal's `TemporalUsedWorkerDeploymentVersions`).
    #[prost(string, repeated, tag = "44")]
    pub used_deployment_versions: Vec<String>,
}

/// A Nexus operation this run scheduled and that has not closed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NexusOperationInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    /// The endpoint's name (as the command gave it) and id (the registry's, at schedule time).
    #[prost(string, tag = "2")]
    pub endpoint: String,
    #[prost(string, tag = "3")]
    pub endpoint_id: String,
    #[prost(string, tag = "4")]
    pub service: String,
    #[prost(string, tag = "5")]
    pub operation: String,
    #[prost(message, optional, tag = "6")]
    pub input: Option<temper_api::proto::common::v1::Payload>,
    #[prost(btree_map = "string, string", tag = "7")]
    pub header: BTreeMap<String, String>,
    /// The id every attempt carries, so a handler can recognise a retry.
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(int64, tag = "9")]
    pub scheduled_time_ms: i64,
    /// 0 = none.
    #[prost(int64, tag = "10")]
    pub schedule_to_close_timeout_ms: i64,
    #[prost(int32, tag = "11")]
    pub attempt: i32,
    /// When the current attempt was handed to a handler; 0 while none is in flight.
    #[prost(int64, tag = "12")]
    pub dispatched_time_ms: i64,
    /// When an attempt in flight counts as timed out (the request timeout).
    #[prost(int64, tag = "13")]
    pub dispatch_deadline_ms: i64,
    /// When a retry backoff ends; 0 when none is pending.
    #[prost(int64, tag = "14")]
    pub retry_ready_time_ms: i64,
    #[prost(message, optional, tag = "15")]
    pub last_attempt_failure: Option<Failure>,
    #[prost(int64, tag = "16")]
    pub last_attempt_complete_time_ms: i64,
    /// Set once the handler started the operation asynchronously.
    #[prost(string, tag = "17")]
    pub operation_token: String,
    /// The workflow run backing a started operation, when the handler linked it: its close
    /// completes the operation.
    #[prost(message, optional, tag = "18")]
    pub handler_run: Option<temper_api::proto::common::v1::WorkflowExecution>,
    #[prost(string, tag = "19")]
    pub handler_namespace: String,
    /// The workflow asked to cancel the operation (its `NexusOperationCancelRequested`).
    #[prost(int64, tag = "20")]
    pub cancel_requested_event_id: i64,
    /// The handler answered the cancel request (completed or failed).
    #[prost(bool, tag = "21")]
    pub cancel_answered: bool,
    /// The cancel request's attempts, as an operation's: number, in flight, backoff.
    #[prost(int32, tag = "22")]
    pub cancel_attempt: i32,
    #[prost(int64, tag = "23")]
    pub cancel_dispatch_deadline_ms: i64,
    #[prost(int64, tag = "24")]
    pub cancel_retry_ready_time_ms: i64,
    /// 0 = none. Schedule-to-start applies until the operation starts (asynchronously);
    /// start-to-close from then on.
    #[prost(int64, tag = "25")]
    pub schedule_to_start_timeout_ms: i64,
    #[prost(int64, tag = "26")]
    pub start_to_close_timeout_ms: i64,
    /// When `NexusOperationStarted` was written.
    #[prost(int64, tag = "27")]
    pub started_time_ms: i64,
}

/// A workflow update and how far it got.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateInfo {
    #[prost(message, optional, tag = "1")]
    pub request: Option<update::Request>,
    /// `temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage`.
    #[prost(int32, tag = "2")]
    pub stage: i32,
    #[prost(int64, tag = "3")]
    pub accepted_event_id: i64,
    #[prost(message, optional, tag = "4")]
    pub outcome: Option<update::Outcome>,
    #[prost(int64, tag = "5")]
    pub admission: i64,
    /// Admitted but never accepted when the run closed: the caller gets NOT_FOUND.
    #[prost(bool, tag = "6")]
    pub aborted: bool,
    /// The workflow task that carried it failed for good (the run was terminated for it):
    /// the caller gets FAILED_PRECONDITION, as from Temporal.
    #[prost(bool, tag = "7")]
    pub task_failed: bool,
}

/// A signal or cancel request this run sends to another workflow.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExternalRequest {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    /// Empty: the workflow id's current run.
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(bool, tag = "5")]
    pub child_workflow_only: bool,
    /// Empty for a cancel request.
    #[prost(string, tag = "6")]
    pub signal_name: String,
    #[prost(message, optional, tag = "7")]
    pub input: Option<Payloads>,
    #[prost(message, optional, tag = "8")]
    pub header: Option<Header>,
    #[prost(string, tag = "9")]
    pub reason: String,
}

/// A child workflow started by this run and not yet closed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChildInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(string, tag = "4")]
    pub workflow_id: String,
    /// The child's first run; later runs of its chain are found through the store.
    #[prost(string, tag = "5")]
    pub run_id: String,
    #[prost(string, tag = "6")]
    pub workflow_type: String,
    /// `temporal.api.enums.v1.ParentClosePolicy` (never UNSPECIFIED: defaults to TERMINATE).
    #[prost(int32, tag = "7")]
    pub parent_close_policy: i32,
}

/// The workflow task that is scheduled or in flight (at most one per run).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkflowTaskInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    /// 0 while scheduled and not yet handed to a worker.
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int32, tag = "3")]
    pub attempt: i32,
    #[prost(int64, tag = "4")]
    pub scheduled_time_ms: i64,
    #[prost(int64, tag = "5")]
    pub started_time_ms: i64,
    #[prost(int64, tag = "6")]
    pub start_to_close_timeout_ms: i64,
    #[prost(string, tag = "7")]
    pub task_queue: String,
    #[prost(string, tag = "8")]
    pub started_identity: String,
    #[prost(string, tag = "9")]
    pub started_request_id: String,
    /// A retry attempt (attempt > 1) whose Scheduled/Started events are not persisted: they
    /// are shown to the worker only, and written for real if this attempt completes.
    #[prost(bool, tag = "10")]
    pub transient: bool,
    /// `SuggestContinueAsNewReason`s reported when the task started.
    #[prost(int32, repeated, tag = "11")]
    pub suggest_continue_as_new_reasons: Vec<i32>,
    /// Scheduled only to deliver updates (Temporal's speculative task): it is also
    /// `transient`, and a completion that merely rejects them writes no events at all.
    #[prost(bool, tag = "12")]
    pub speculative: bool,
}

/// An activity that is scheduled, waiting for a retry, or running.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    #[prost(string, tag = "2")]
    pub activity_id: String,
    #[prost(string, tag = "3")]
    pub activity_type: String,
    #[prost(string, tag = "4")]
    pub task_queue: String,
    #[prost(message, optional, tag = "5")]
    pub input: Option<Payloads>,
    #[prost(message, optional, tag = "6")]
    pub header: Option<Header>,
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    #[prost(int64, tag = "8")]
    pub scheduled_time_ms: i64,
    #[prost(int64, tag = "9")]
    pub current_attempt_scheduled_time_ms: i64,
    /// 0 while no attempt is running.
    #[prost(int64, tag = "10")]
    pub started_time_ms: i64,
    #[prost(string, tag = "11")]
    pub started_identity: String,
    #[prost(string, tag = "12")]
    pub started_request_id: String,
    #[prost(message, optional, tag = "13")]
    pub retry_policy: Option<RetryPolicy>,
    #[prost(int64, tag = "14")]
    pub schedule_to_close_timeout_ms: i64,
    #[prost(int64, tag = "15")]
    pub schedule_to_start_timeout_ms: i64,
    #[prost(int64, tag = "16")]
    pub start_to_close_timeout_ms: i64,
    #[prost(int64, tag = "17")]
    pub heartbeat_timeout_ms: i64,
    #[prost(int64, tag = "18")]
    pub last_heartbeat_time_ms: i64,
    #[prost(message, optional, tag = "19")]
    pub heartbeat_details: Option<Payloads>,
    #[prost(message, optional, tag = "20")]
    pub last_failure: Option<Failure>,
    #[prost(bool, tag = "21")]
    pub cancel_requested: bool,
    #[prost(int64, tag = "22")]
    pub cancel_requested_event_id: i64,
    /// When a retry backoff ends and the next attempt may be dispatched; 0 when no backoff
    /// is pending (the attempt is dispatchable or running).
    #[prost(int64, tag = "23")]
    pub retry_ready_time_ms: i64,
    #[prost(string, tag = "24")]
    pub last_worker_identity: String,
    /// Paused by an operator (`PauseActivity`): no attempt is dispatched and no timeout
    /// fires until it is unpaused; a running attempt may still finish.
    #[prost(bool, tag = "25")]
    pub paused: bool,
    #[prost(int64, tag = "26")]
    pub pause_time_ms: i64,
    #[prost(string, tag = "27")]
    pub pause_identity: String,
    #[prost(string, tag = "28")]
    pub pause_reason: String,
    #[prost(string, tag = "29")]
    pub pause_request_id: String,
    /// Reset (`ResetActivity`) while an attempt ran: its heartbeats say so, and its retry
    /// counts from attempt 1.
    #[prost(bool, tag = "30")]
    pub reset_requested: bool,
    /// The options the activity was scheduled with, kept when an operator changes them
    /// (`UpdateActivityOptions`, which writes no event): what history alone says.
    #[prost(message, optional, tag = "31")]
    pub original_options: Option<temper_api::proto::activity::v1::ActivityOptions>,
    /// When the last failed attempt ended (its retry backoff counts from then).
    #[prost(int64, tag = "32")]
    pub last_attempt_complete_time_ms: i64,
}

/// A started timer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimerInfo {
    #[prost(string, tag = "1")]
    pub timer_id: String,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int64, tag = "3")]
    pub fire_time_ms: i64,
}

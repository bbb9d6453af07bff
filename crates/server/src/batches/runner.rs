//! The runner of one batch: fetches its executions a page at a time (the page is stored with
//! the record), acts on each at the requested rate, and writes the record after each one.

use std::sync::Arc;
use std::time::Duration;

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::common::v1::reset_options::Target;
use temper_api::proto::enums::v1::{BatchOperationState, EventType};
use temper_api::proto::workflowservice::v1::start_batch_operation_request::Operation;
use temper_api::proto::workflowservice::v1::{
    DeleteWorkflowExecutionRequest, RequestCancelWorkflowExecutionRequest,
    ResetWorkflowExecutionRequest, SignalWorkflowExecutionRequest, StartBatchOperationRequest,
    TerminateWorkflowExecutionRequest,
};
use tonic::{Code, Status};

use super::describe::identity;
use super::{BatchRecord, Batches, Entry};

/// Executions fetched per page.
const PAGE_SIZE: usize = 100;
/// Operations per second when the request names none (Temporal's `worker.batcherRPS`).
const DEFAULT_RPS: f32 = 50.0;
/// An action that fails for a passing reason (a node of the cluster down, a shard changing
/// hands, the store briefly unavailable) is tried again this many times, this far apart,
/// before it counts as failed: longer than the default shard lease, so a node's death does
/// not fail the runs it owned (Temporal's batcher retries such errors as well).
const ATTEMPTS: u32 = 60;
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// The visibility query a batch works through: operations on open runs only look at open
/// runs, as Temporal adds to the user's query.
pub fn targets_query(request: &StartBatchOperationRequest) -> String {
    match request.operation {
        Some(
            Operation::TerminationOperation(_)
            | Operation::CancellationOperation(_)
            | Operation::SignalOperation(_),
        ) => format!(
            "({}) AND (ExecutionStatus = 'Running')",
            request.visibility_query
        ),
        _ => request.visibility_query.clone(),
    }
}

impl Batches {
    pub(super) fn spawn_runner(self: &Arc<Self>, entry: Entry) {
        tokio::spawn(self.clone().run(entry));
    }

    async fn run(self: Arc<Self>, entry: Entry) {
        loop {
            let (target, pause) = {
                let mut record = entry.lock().await;
                match self.next_target(&mut record).await {
                    Ok(Some(target)) => (target, pace(record.request())),
                    Ok(None) => return,
                    Err(status) => {
                        tracing::warn!(job_id = record.job_id(), %status, "batch page failed");
                        (None, Duration::from_secs(1))
                    }
                }
            };
            if let Some(target) = target {
                let outcome = {
                    let record = entry.lock().await;
                    let request = record.request().clone();
                    drop(record);
                    self.act(&request, &target).await
                };
                let mut record = entry.lock().await;
                if record.state != BatchOperationState::Running as i32 {
                    return;
                }
                record.page_index += 1;
                match outcome {
                    Ok(()) => record.complete += 1,
                    Err(status) => {
                        let (job_id, workflow_id) = (record.job_id(), target.workflow_id.as_str());
                        tracing::info!(job_id, workflow_id, %status, "a batch action failed");
                        record.failure += 1;
                    }
                }
                if let Err(status) = self.save(&mut record).await {
                    tracing::warn!(job_id = record.job_id(), %status, "batch progress not saved");
                }
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// The execution to act on next (`Some(None)` while a page is being fetched), fetching
    /// and storing the next page when the current one is done; `None` once the batch ended.
    async fn next_target(
        &self,
        record: &mut BatchRecord,
    ) -> Result<Option<Option<WorkflowExecution>>, Status> {
        if record.state != BatchOperationState::Running as i32 {
            return Ok(None);
        }
        let index = usize::try_from(record.page_index).unwrap_or(usize::MAX);
        if let Some(target) = record.page.get(index) {
            return Ok(Some(Some(target.clone())));
        }
        if record.exhausted {
            record.state = BatchOperationState::Completed as i32;
            record.close_time_ms = self.history.now_ms();
            self.save(record).await?;
            return Ok(None);
        }
        self.fetch_page(record).await?;
        self.save(record).await?;
        Ok(Some(None))
    }

    async fn fetch_page(&self, record: &mut BatchRecord) -> Result<(), Status> {
        let request = record.request().clone();
        #[allow(deprecated)]
        let listed = &request.executions;
        let (page, exhausted) = if !listed.is_empty() {
            let start = usize::try_from(record.listed)
                .unwrap_or(listed.len())
                .min(listed.len());
            let end = (start + PAGE_SIZE).min(listed.len());
            record.listed = end as i64;
            (listed[start..end].to_vec(), end == listed.len())
        } else {
            let custom = self.namespaces.search_attributes(&request.namespace)?;
            let query = targets_query(&request);
            let filter = crate::visibility::compile(&query, &custom, self.store.dialect())?;
            let page = self
                .store
                .list_executions(
                    &request.namespace,
                    &filter,
                    PAGE_SIZE,
                    &record.next_page_token,
                )
                .await
                .map_err(crate::errors::storage)?;
            record.next_page_token = page.next_page_token;
            let executions = page
                .executions
                .iter()
                .map(|e| WorkflowExecution {
                    workflow_id: e.workflow_id.clone(),
                    run_id: e.run_id.clone(),
                })
                .collect();
            (executions, record.next_page_token.is_empty())
        };
        record.page = page;
        record.page_index = 0;
        record.exhausted = exhausted;
        Ok(())
    }

    /// Acts on one execution. NOT_FOUND (closed or gone already) counts as done, as on
    /// Temporal: it is also what a repeat after a crash answers. A passing failure is tried
    /// again (`ATTEMPTS`).
    async fn act(
        &self,
        request: &StartBatchOperationRequest,
        target: &WorkflowExecution,
    ) -> Result<(), Status> {
        let mut attempt = 1;
        loop {
            match self.act_once(request, target).await {
                Err(status) if status.code() == Code::NotFound => return Ok(()),
                Err(status) if crate::errors::is_passing(&status) && attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                other => return other,
            }
        }
    }

    async fn act_once(
        &self,
        request: &StartBatchOperationRequest,
        target: &WorkflowExecution,
    ) -> Result<(), Status> {
        let namespace = &request.namespace;
        let record_identity = identity(request);
        let history = &self.history;
        let owner = history.owner_elsewhere(namespace, &target.workflow_id);
        if let (Some(peers), false) = (owner, is_reset(request)) {
            return act_elsewhere(peers, request, target, record_identity).await;
        }
        match &request.operation {
            Some(Operation::TerminationOperation(op)) => history
                .transact_open_run(namespace, Some(target), |t| {
                    t.terminate(&request.reason, op.details.clone(), &record_identity)
                })
                .await
                .map(drop),
            // Temporal's batcher cancels without a reason.
            Some(Operation::CancellationOperation(_)) => history
                .transact_open_run(namespace, Some(target), |t| {
                    t.request_cancel("", &record_identity)
                })
                .await
                .map(drop),
            Some(Operation::SignalOperation(op)) => {
                let request_id = derived_request_id(&request.job_id, "signal", target);
                history
                    .transact_open_run(namespace, Some(target), |t| {
                        t.signal(
                            &op.signal,
                            op.input.clone(),
                            &op.identity,
                            op.header.clone(),
                            &request_id,
                        )
                    })
                    .await
                    .map(drop)
            }
            Some(Operation::DeletionOperation(_)) => {
                history.delete_workflow(namespace, Some(target)).await
            }
            Some(Operation::ResetOperation(op)) => self.reset(request, op, target).await,
            _ => Err(Status::unimplemented("operation not supported")),
        }
    }

    async fn reset(
        &self,
        request: &StartBatchOperationRequest,
        op: &temper_api::proto::batch::v1::BatchOperationReset,
        target: &WorkflowExecution,
    ) -> Result<(), Status> {
        let options = op.options.clone().unwrap_or_default();
        let event_id = match &options.target {
            Some(Target::WorkflowTaskId(id)) => *id,
            Some(Target::FirstWorkflowTask(_)) => {
                self.workflow_task_event(request, target, true).await?
            }
            Some(Target::LastWorkflowTask(_)) => {
                self.workflow_task_event(request, target, false).await?
            }
            _ => {
                return Err(crate::errors::invalid(
                    "provided reset target is not supported.",
                ));
            }
        };
        #[allow(deprecated)] // the reapply type is still how Temporal's reset takes it
        let reset = ResetWorkflowExecutionRequest {
            namespace: request.namespace.clone(),
            workflow_execution: Some(target.clone()),
            reason: request.reason.clone(),
            workflow_task_finish_event_id: event_id,
            request_id: derived_request_id(&request.job_id, "reset", target),
            reset_reapply_type: options.reset_reapply_type,
            reset_reapply_exclude_types: options.reset_reapply_exclude_types.clone(),
            ..Default::default()
        };
        let owner = self
            .history
            .owner_elsewhere(&request.namespace, &target.workflow_id);
        if let Some(peers) = owner {
            return peers.call_owner(reset).await.map(drop);
        }
        self.history
            .reset_workflow(&request.namespace, &reset)
            .await
            .map(drop)
    }

    /// The first (or last) completed workflow task's event id, or the event after the first
    /// (last) scheduled one when none completed — Temporal's reset points for batches.
    async fn workflow_task_event(
        &self,
        request: &StartBatchOperationRequest,
        target: &WorkflowExecution,
        first: bool,
    ) -> Result<i64, Status> {
        let exec = self
            .history
            .resolve(&request.namespace, Some(target))
            .await?;
        let events = self
            .history
            .read_history(&exec.run_id, 1, usize::MAX)
            .await?;
        let mut completed = events
            .iter()
            .filter(|e| e.event_type == EventType::WorkflowTaskCompleted as i32)
            .map(|e| e.event_id);
        let mut scheduled = events
            .iter()
            .filter(|e| e.event_type == EventType::WorkflowTaskScheduled as i32)
            .map(|e| e.event_id + 1);
        let found = if first {
            completed.next().or_else(|| scheduled.next())
        } else {
            completed.next_back().or_else(|| scheduled.next_back())
        };
        found
            .ok_or_else(|| crate::errors::invalid("unable to find any scheduled or completed task"))
    }
}

/// A request id that is the same every time the batch acts on the execution.
fn is_reset(request: &StartBatchOperationRequest) -> bool {
    matches!(request.operation, Some(Operation::ResetOperation(_)))
}

/// A batch's action on a run of another node's shard (a spread cluster): the request a
/// client would send, served by the run's owner.
async fn act_elsewhere(
    peers: &crate::cluster::Peers,
    request: &StartBatchOperationRequest,
    target: &WorkflowExecution,
    identity: String,
) -> Result<(), Status> {
    let namespace = request.namespace.clone();
    let workflow_execution = Some(target.clone());
    match &request.operation {
        Some(Operation::TerminationOperation(op)) => {
            let terminate = TerminateWorkflowExecutionRequest {
                namespace,
                workflow_execution,
                reason: request.reason.clone(),
                details: op.details.clone(),
                identity,
                ..Default::default()
            };
            peers.call_owner(terminate).await.map(drop)
        }
        Some(Operation::CancellationOperation(_)) => {
            let cancel = RequestCancelWorkflowExecutionRequest {
                namespace,
                workflow_execution,
                identity,
                ..Default::default()
            };
            peers.call_owner(cancel).await.map(drop)
        }
        Some(Operation::SignalOperation(op)) => {
            let signal = SignalWorkflowExecutionRequest {
                namespace,
                workflow_execution,
                signal_name: op.signal.clone(),
                input: op.input.clone(),
                identity: op.identity.clone(),
                header: op.header.clone(),
                request_id: derived_request_id(&request.job_id, "signal", target),
                ..Default::default()
            };
            peers.call_owner(signal).await.map(drop)
        }
        Some(Operation::DeletionOperation(_)) => {
            let delete = DeleteWorkflowExecutionRequest {
                namespace,
                workflow_execution,
            };
            peers.call_owner(delete).await.map(drop)
        }
        _ => Err(Status::unimplemented("operation not supported")),
    }
}

fn derived_request_id(job_id: &str, action: &str, target: &WorkflowExecution) -> String {
    let key = format!("{job_id}:{action}:{}:{}", target.workflow_id, target.run_id);
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string()
}

/// The pause between two operations.
fn pace(request: &StartBatchOperationRequest) -> Duration {
    let rps = if request.max_operations_per_second > 0.0 {
        request.max_operations_per_second
    } else {
        DEFAULT_RPS
    };
    Duration::from_secs_f32(1.0 / rps.clamp(0.01, 10_000.0))
}

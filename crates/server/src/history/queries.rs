//! `QueryWorkflow`: when a run can be queried, and the queries in flight, each waiting for its
//! worker's answer.

use temper_api::proto::query::v1::WorkflowQuery;
use temper_engine::Execution;
use tokio::sync::oneshot;

use super::History;
use crate::errors;
use crate::matching::{QueryView, QueueKind, QueuedTask};
use std::time::Duration;
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::enums::v1::QueryRejectCondition;
use temper_api::proto::enums::v1::WorkflowExecutionStatus;
use temper_api::proto::query::v1::QueryRejected;
use temper_api::proto::workflowservice::v1::QueryWorkflowResponse;
use tonic::Status;

/// A worker's answer to a query task.
pub enum QueryAnswer {
    Answered(Option<temper_api::proto::common::v1::Payloads>),
    Failed(String, Box<Option<temper_api::proto::failure::v1::Failure>>),
}

/// Unregisters a pending query when the waiting RPC ends.
pub struct QueryRegistration<'a> {
    history: &'a History,
    id: String,
}

impl Drop for QueryRegistration<'_> {
    fn drop(&mut self) {
        self.history
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// From this workflow-task attempt on, queries fail fast instead of waiting (as Temporal).
const FAILING_TASK_ATTEMPT: i32 = 3;

impl History {
    /// `QueryWorkflow`: waits until the run's worker has caught up (no workflow task scheduled
    /// or running), applies the reject condition, then hands the query to a worker and waits
    /// for its answer.
    pub async fn query(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
        query: WorkflowQuery,
        reject_condition: i32,
    ) -> Result<QueryWorkflowResponse, Status> {
        let exec = self.resolve(namespace, execution).await?;
        let exec = self.wait_until_queryable(&exec).await?;
        let status = WorkflowExecutionStatus::try_from(exec.status)
            .unwrap_or(WorkflowExecutionStatus::Unspecified);
        let rejected = match QueryRejectCondition::try_from(reject_condition) {
            Ok(QueryRejectCondition::NotOpen) => status != WorkflowExecutionStatus::Running,
            Ok(QueryRejectCondition::NotCompletedCleanly) => {
                status != WorkflowExecutionStatus::Completed
            }
            _ => false,
        };
        if rejected {
            return Ok(QueryWorkflowResponse {
                query_rejected: Some(QueryRejected {
                    status: exec.status,
                }),
                ..Default::default()
            });
        }
        let (query_id, answer, _registration) = self.register_query();
        self.offer_query(&exec, &query_id, query);
        match answer.await {
            Ok(QueryAnswer::Answered(result)) => Ok(QueryWorkflowResponse {
                query_result: result,
                ..Default::default()
            }),
            Ok(QueryAnswer::Failed(message, failure)) => {
                Err(errors::query_failed(message, *failure))
            }
            Err(_) => Err(Status::unavailable("query was abandoned")),
        }
    }

    /// Queries are answered from the worker's view after the last completed workflow task;
    /// while a task is scheduled or running, wait for it so the answer is consistent. A query
    /// that arrives while the task keeps failing is refused; one already waiting when later
    /// attempts fail keeps waiting for an attempt that completes (as Temporal).
    async fn wait_until_queryable(&self, resolved: &Execution) -> Result<Execution, Status> {
        let run_id = &resolved.run_id;
        let mut arriving = true;
        loop {
            let seen = self.change_version(run_id);
            let Some(exec) = self.snapshot(run_id).await? else {
                return Err(errors::workflow_not_found(&resolved.workflow_id, run_id));
            };
            if exec.last_completed_workflow_task_started_id == 0 && !exec.is_running() {
                return Err(errors::workflow_not_ready(
                    "Workflow execution closed before WorkflowTaskStarted event",
                ));
            }
            if arriving
                && exec
                    .workflow_task
                    .as_ref()
                    .is_some_and(|w| w.attempt >= FAILING_TASK_ATTEMPT)
            {
                return Err(errors::workflow_not_ready(
                    "Unable to query workflow due to Workflow Task in failed state.",
                ));
            }
            let busy = exec.is_running()
                && (exec.workflow_task.is_some()
                    || exec.last_completed_workflow_task_started_id == 0);
            if !busy {
                return Ok(exec);
            }
            arriving = false;
            self.wait_for_change(run_id, seen, Duration::from_secs(3600))
                .await;
        }
    }

    /// Registers a query waiting for a worker's answer; the guard unregisters it when dropped.
    pub fn register_query(
        &self,
    ) -> (
        String,
        oneshot::Receiver<QueryAnswer>,
        QueryRegistration<'_>,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), sender);
        (
            id.clone(),
            receiver,
            QueryRegistration { history: self, id },
        )
    }

    /// Delivers a worker's answer; false if nobody waits for this query any more.
    pub fn answer_query(&self, query_id: &str, answer: QueryAnswer) -> bool {
        let sender = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(query_id);
        sender.is_some_and(|s| s.send(answer).is_ok())
    }

    pub fn offer_query(&self, exec: &Execution, query_id: &str, query: WorkflowQuery) {
        if let Some(peers) = self.queue_elsewhere(&exec.namespace, &exec.task_queue) {
            let task = super::remote::remote_query(exec, query_id, &query);
            return self.offer_remotely(peers, task);
        }
        self.matching.offer_routed(
            &exec.namespace,
            &exec.task_queue,
            QueueKind::Workflow,
            QueuedTask::Query {
                run_id: exec.run_id.clone(),
                query_id: query_id.to_string(),
                query,
                view: query_view(exec),
            },
            super::route_of(exec),
        );
    }
}

/// What a query task of `exec` (queryable now) shows: its history so far.
pub fn query_view(exec: &Execution) -> QueryView {
    QueryView {
        last_event_id: exec.next_event_id - 1,
        previous_started_event_id: exec.last_completed_workflow_task_started_id,
    }
}

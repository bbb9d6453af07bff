//! Workflow-task completion and failure (`RespondWorkflowTask*`), and eager workflow start.

use std::sync::Arc;
use temper_api::proto::enums::v1::WorkflowTaskFailedCause;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::Execution;
use temper_engine::execution::{Completed, WorkflowTaskGrant};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::tokens::TaskToken;
use temper_engine::ActivityTaskGrant;

impl History {
    /// Which of the workflow ids that the completion's child starts name already run.
    pub(super) async fn running_child_ids(
        &self,
        namespace: &str,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> Result<std::collections::BTreeSet<String>, Status> {
        let mut running = std::collections::BTreeSet::new();
        for command in &request.commands {
            let Some(temper_api::proto::command::v1::command::Attributes::StartChildWorkflowExecutionCommandAttributes(a)) =
                &command.attributes
            else {
                continue;
            };
            let current = self
                .store()
                .current_run(namespace, &a.workflow_id)
                .await
                .map_err(errors::storage)?;
            if let Some(run_id) = current
                && self
                    .snapshot(&run_id)
                    .await?
                    .is_some_and(|e| e.is_running())
            {
                running.insert(a.workflow_id.clone());
            }
        }
        Ok(running)
    }

    /// Eager workflow start: the new run's first workflow task, started for the worker that
    /// asked to start it (`request_eager_execution`). `None` when there is no such task (a
    /// start delay or cron backoff) or a poller took it first; the task then goes the normal
    /// way.
    pub async fn start_first_workflow_task(
        &self,
        run_id: &str,
        identity: &str,
    ) -> Result<Option<(WorkflowTaskGrant, Arc<Execution>)>, Status> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let applied = self
            .transact(run_id, |t| {
                let first_task = t
                    .execution()
                    .workflow_task
                    .as_ref()
                    .filter(|w| w.started_event_id == 0 && w.attempt == 1)
                    .map(|w| w.scheduled_event_id)?;
                t.start_workflow_task(first_task, identity, &request_id)
                    .ok()
            })
            .await?;
        Ok(applied.value.map(|grant| (grant, applied.execution)))
    }

    /// A worker completed a workflow task. `search_attribute_problem` is the frontend's
    /// verdict on the search attributes the commands set: with one, the completion is refused
    /// as BAD_SEARCH_ATTRIBUTES. Returns what became of the task, the activities started
    /// eagerly for the completing worker, and the run's state.
    pub async fn complete_workflow_task(
        &self,
        token: &TaskToken,
        request: &RespondWorkflowTaskCompletedRequest,
        search_attribute_problem: Option<String>,
    ) -> Result<(Completed, Vec<ActivityTaskGrant>, Arc<Execution>), Status> {
        if let Some(problem) = search_attribute_problem {
            self.transact(&token.run_id, |t| {
                t.refuse_workflow_task_completion(
                    token.scheduled_event_id,
                    token.started_event_id,
                    token.attempt,
                    WorkflowTaskFailedCause::BadSearchAttributes,
                    &problem,
                    &request.identity,
                )
            })
            .await?
            .value
            .map_err(errors::task_error)?;
            return Err(errors::invalid(problem));
        }
        let running_ids = self.running_child_ids(&token.namespace, request).await?;
        let endpoints = self.endpoints.resolve(&nexus_endpoint_names(request));
        let eager_request_id = uuid::Uuid::new_v4().to_string();
        let applied = self
            .transact(&token.run_id, |t| {
                t.set_running_workflow_ids(running_ids);
                t.set_nexus_endpoints(endpoints);
                t.complete_workflow_task(
                    token.scheduled_event_id,
                    token.started_event_id,
                    token.attempt,
                    request,
                )
                .map(|completed| {
                    let eager = t.start_eager_activities(&request.identity, &eager_request_id);
                    (completed, eager)
                })
            })
            .await?;
        match applied.value {
            Ok((completed, eager)) => Ok((completed, eager, applied.execution)),
            Err(error) => Err(errors::completion_error(error)),
        }
    }

    /// A worker reported that it could not process a workflow task.
    pub async fn fail_workflow_task(
        &self,
        token: &TaskToken,
        request: &RespondWorkflowTaskFailedRequest,
    ) -> Result<(), Status> {
        self.transact(&token.run_id, |t| {
            t.workflow_task_failed_by_worker(
                token.scheduled_event_id,
                token.started_event_id,
                token.attempt,
                request.cause,
                request.failure.clone(),
                &request.identity,
            )
        })
        .await?
        .value
        .map_err(errors::task_error)
    }
}

/// The Nexus endpoints a completion's commands name.
fn nexus_endpoint_names(request: &RespondWorkflowTaskCompletedRequest) -> Vec<&str> {
    use temper_api::proto::command::v1::command::Attributes;
    request
        .commands
        .iter()
        .filter_map(|command| match &command.attributes {
            Some(Attributes::ScheduleNexusOperationCommandAttributes(a)) => {
                Some(a.endpoint.as_str())
            }
            _ => None,
        })
        .collect()
}

//! What workers answer to workflow tasks (`RespondWorkflowTaskCompleted`, with the eager
//! activity tasks it may hand back, and `RespondWorkflowTaskFailed`), and the RPCs about a
//! worker's sticky queue: `ResetStickyTaskQueue` and `ShutdownWorker`. The polls that hand
//! workflow tasks out are in `polls.rs`; the history side records the answers.

use temper_api::proto::command::v1::Command;
use temper_api::proto::command::v1::command::Attributes;
use temper_api::proto::enums::v1::VersioningBehavior;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::execution::Completed;
use tonic::Status;

use super::Frontend;
use super::responses::activity_task_response;
use crate::deployments::versioned_build;
use crate::errors;
use crate::tokens::TokenKind;
use crate::validation::check_payloads;

impl Frontend {
    pub(super) async fn respond_workflow_task_completed_op(
        &self,
        mut request: RespondWorkflowTaskCompletedRequest,
    ) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
        check_versioning(&request)?;
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::WorkflowTask,
        )?;
        check_command_payloads(&request.commands)?;
        let problem = self.search_attribute_problem(&token.namespace, &mut request)?;
        let (completed, eager, exec) = self
            .history
            .complete_workflow_task(&token, &request, problem)
            .await?;
        Ok(RespondWorkflowTaskCompletedResponse {
            reset_history_event_id: match completed {
                Completed::Discarded {
                    reset_history_event_id,
                } => reset_history_event_id,
                Completed::Recorded => 0,
            },
            activity_tasks: eager
                .iter()
                .map(|grant| activity_task_response(&token.namespace, &exec, &grant.activity))
                .collect(),
            ..Default::default()
        })
    }

    pub(super) async fn respond_workflow_task_failed_op(
        &self,
        request: RespondWorkflowTaskFailedRequest,
    ) -> Result<(), Status> {
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::WorkflowTask,
        )?;
        self.history.fail_workflow_task(&token, &request).await
    }

    pub(super) async fn reset_sticky_task_queue_op(
        &self,
        request: ResetStickyTaskQueueRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        self.history.reset_sticky(&exec.run_id).await
    }

    pub(super) async fn shutdown_worker_op(
        &self,
        request: ShutdownWorkerRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        if !request.sticky_task_queue.is_empty() {
            self.history
                .close_sticky_queue(&request.namespace, &request.sticky_task_queue)
                .await?;
        }
        // The worker's last heartbeat (status SHUTTING_DOWN), recorded as Temporal does.
        let heartbeats: Vec<_> = request.worker_heartbeat.into_iter().collect();
        match self.history.peers() {
            // The call reached the owner of the worker's sticky queue; the coordinator keeps
            // the workers' heartbeats (a spread cluster).
            Some(peers) if !self.history.coordinates() && !heartbeats.is_empty() => {
                let passed_on = RecordWorkerHeartbeatRequest {
                    namespace: request.namespace,
                    identity: request.identity,
                    worker_heartbeat: heartbeats,
                    ..Default::default()
                };
                peers.call_owner(passed_on).await?;
            }
            _ => self.workers.record(&request.namespace, heartbeats),
        }
        Ok(())
    }
}

/// A completion may declare a versioning behaviour only from a versioned worker.
fn check_versioning(request: &RespondWorkflowTaskCompletedRequest) -> Result<(), Status> {
    let declared = request.versioning_behavior != VersioningBehavior::Unspecified as i32;
    if declared && versioned_build(request.deployment_options.as_ref()).is_none() {
        return Err(errors::invalid(
            "versioning behavior cannot be specified without deployment options being set with versioned mode",
        ));
    }
    Ok(())
}

/// The commands' activity inputs and workflow results must fit the blob size limit.
fn check_command_payloads(commands: &[Command]) -> Result<(), Status> {
    for command in commands {
        let payloads = match &command.attributes {
            Some(Attributes::ScheduleActivityTaskCommandAttributes(a)) => a.input.as_ref(),
            Some(Attributes::CompleteWorkflowExecutionCommandAttributes(a)) => a.result.as_ref(),
            _ => None,
        };
        check_payloads(payloads)?;
    }
    Ok(())
}

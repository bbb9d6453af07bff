//! The client RPCs on one workflow run: `DescribeWorkflowExecution`,
//! `SignalWorkflowExecution`, `RequestCancelWorkflowExecution`, `TerminateWorkflowExecution`,
//! `DeleteWorkflowExecution`, `ResetWorkflowExecution` and `UnpauseWorkflowExecution`
//! (workflow pause is off, so it only says why there is nothing to unpause). Starts, with
//! signal-with-start, are in `starts.rs`.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Frontend;
use super::responses::describe_response;
use crate::errors;
use crate::validation::{check_id, check_payloads};

impl Frontend {
    pub(super) async fn describe_workflow_execution_op(
        &self,
        request: DescribeWorkflowExecutionRequest,
    ) -> Result<DescribeWorkflowExecutionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        let custom = self.namespaces.search_attributes(&request.namespace)?;
        Ok(describe_response(&exec, &custom))
    }

    pub(super) async fn signal_workflow_execution_op(
        &self,
        request: SignalWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        check_id(&request.signal_name, "SignalName")?;
        check_payloads(request.input.as_ref())?;
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| {
                t.signal(
                    &request.signal_name,
                    request.input.clone(),
                    &request.identity,
                    request.header.clone(),
                    &request.request_id,
                )
            },
        )
        .await?;
        Ok(())
    }

    pub(super) async fn request_cancel_workflow_execution_op(
        &self,
        request: RequestCancelWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        if let Some(exec) = &request.workflow_execution
            && !request.first_execution_run_id.is_empty()
        {
            let current = self.history.resolve(&request.namespace, Some(exec)).await?;
            if current.first_execution_run_id != request.first_execution_run_id {
                return Err(errors::workflow_not_found(&exec.workflow_id, &exec.run_id));
            }
        }
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| t.request_cancel(&request.reason, &request.identity),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn terminate_workflow_execution_op(
        &self,
        request: TerminateWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| t.terminate(&request.reason, request.details.clone(), &request.identity),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn delete_workflow_execution_op(
        &self,
        request: DeleteWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        self.history
            .delete_workflow(&request.namespace, request.workflow_execution.as_ref())
            .await
    }

    /// The new run's id.
    pub(super) async fn reset_workflow_execution_op(
        &self,
        request: ResetWorkflowExecutionRequest,
    ) -> Result<String, Status> {
        self.namespaces.require(&request.namespace)?;
        self.history
            .reset_workflow(&request.namespace, &request)
            .await
    }

    /// Always an error: Temporal's answer for a closed run, or for an open one that is not
    /// paused.
    pub(super) async fn unpause_workflow_execution_op(
        &self,
        request: UnpauseWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        // Workflow pause is off, so no run is paused: Temporal's answer for each run.
        let execution = WorkflowExecution {
            workflow_id: request.workflow_id,
            run_id: request.run_id,
        };
        let exec = self
            .history
            .resolve(&request.namespace, Some(&execution))
            .await?;
        if !exec.is_running() {
            return Err(errors::already_completed());
        }
        Err(Status::failed_precondition("workflow is not paused."))
    }
}

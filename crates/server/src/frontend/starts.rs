//! The RPCs that start a workflow: `StartWorkflowExecution` (with an eager first workflow
//! task when asked), `SignalWithStartWorkflowExecution` (a start carrying an initial signal)
//! and `ExecuteMultiOperation` (update-with-start). Start requests are checked by
//! `prepare_start` in `checks.rs`; the history side starts the run.

use temper_api::proto::enums::v1::WorkflowIdConflictPolicy;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::execution::InitialSignal;
use tonic::Status;

use super::Frontend;
use crate::errors;
use crate::validation::{check_id, check_payloads};

impl Frontend {
    pub(super) async fn start_workflow_execution_op(
        &self,
        mut request: StartWorkflowExecutionRequest,
    ) -> Result<StartWorkflowExecutionResponse, Status> {
        self.prepare_start(&mut request)?;
        if let Some(given) = request.versioning_override.take() {
            let queue = request.task_queue.as_ref().map_or("", |q| q.name.as_str());
            request.versioning_override = self
                .checked_override(&request.namespace, given, queue)
                .await?;
        }
        let (run_id, started) = self
            .history
            .start_workflow(&request.namespace, &request, None)
            .await?;
        let eager_workflow_task = if started && request.request_eager_execution {
            self.eager_workflow_task(&request.namespace, &run_id, &request.identity)
                .await?
        } else {
            None
        };
        Ok(StartWorkflowExecutionResponse {
            run_id,
            started,
            eager_workflow_task,
            ..Default::default()
        })
    }

    pub(super) async fn signal_with_start_workflow_execution_op(
        &self,
        request: SignalWithStartWorkflowExecutionRequest,
    ) -> Result<SignalWithStartWorkflowExecutionResponse, Status> {
        check_id(&request.signal_name, "SignalName")?;
        check_payloads(request.signal_input.as_ref())?;
        // Signal-with-start signals a running workflow unless the caller asked otherwise.
        let conflict_policy = if request.workflow_id_conflict_policy
            == WorkflowIdConflictPolicy::Unspecified as i32
        {
            WorkflowIdConflictPolicy::UseExisting as i32
        } else {
            request.workflow_id_conflict_policy
        };
        let mut start = StartWorkflowExecutionRequest {
            namespace: request.namespace,
            workflow_id: request.workflow_id,
            workflow_type: request.workflow_type,
            task_queue: request.task_queue,
            input: request.input,
            workflow_execution_timeout: request.workflow_execution_timeout,
            workflow_run_timeout: request.workflow_run_timeout,
            workflow_task_timeout: request.workflow_task_timeout,
            identity: request.identity.clone(),
            request_id: request.request_id.clone(),
            workflow_id_reuse_policy: request.workflow_id_reuse_policy,
            workflow_id_conflict_policy: conflict_policy,
            retry_policy: request.retry_policy,
            cron_schedule: request.cron_schedule,
            memo: request.memo,
            search_attributes: request.search_attributes,
            header: request.header.clone(),
            workflow_start_delay: request.workflow_start_delay,
            user_metadata: request.user_metadata,
            priority: request.priority,
            ..Default::default()
        };
        self.prepare_start(&mut start)?;
        let signal = InitialSignal {
            name: request.signal_name,
            input: request.signal_input,
            header: request.header,
            identity: request.identity,
            request_id: request.request_id,
        };
        let (run_id, started) = self
            .history
            .start_workflow(&start.namespace, &start, Some(&signal))
            .await?;
        Ok(SignalWithStartWorkflowExecutionResponse {
            run_id,
            started,
            ..Default::default()
        })
    }

    /// Update-with-start, the one multi-operation Temporal defines: a start, then an update.
    pub(super) async fn execute_multi_operation_op(
        &self,
        request: ExecuteMultiOperationRequest,
    ) -> Result<ExecuteMultiOperationResponse, Status> {
        use execute_multi_operation_request::operation::Operation;
        use execute_multi_operation_response::{Response as OperationResponse, response};
        self.namespaces.require(&request.namespace)?;
        let mut operations = request.operations.into_iter().map(|o| o.operation);
        let (
            Some(Some(Operation::StartWorkflow(start))),
            Some(Some(Operation::UpdateWorkflow(update))),
            None,
        ) = (operations.next(), operations.next(), operations.next())
        else {
            return Err(errors::invalid(
                "ExecuteMultiOperation takes exactly one StartWorkflow operation followed by one UpdateWorkflow operation.",
            ));
        };
        let started = self.update_with_start(start, update).await?;
        Ok(ExecuteMultiOperationResponse {
            responses: vec![
                OperationResponse {
                    response: Some(response::Response::StartWorkflow(started.0)),
                },
                OperationResponse {
                    response: Some(response::Response::UpdateWorkflow(started.1)),
                },
            ],
        })
    }
}

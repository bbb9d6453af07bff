//! Queries and updates, the two ways a client asks a running workflow for an answer:
//! `QueryWorkflow` and the worker's `RespondQueryTaskCompleted`, `UpdateWorkflowExecution`
//! and `PollWorkflowExecutionUpdate`. Update-with-start is in `starts.rs`; the history side
//! (`history/queries.rs`, `history/updates.rs`) delivers them and waits for the outcome.

use temper_api::proto::enums::v1::QueryResultType;
use temper_api::proto::update::v1::UpdateRef;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Frontend;
use super::responses::execution_of;
use crate::errors;
use crate::history::QueryAnswer;
use crate::tokens::TokenKind;
use crate::validation::{check_id, check_payloads};

impl Frontend {
    pub(super) async fn query_workflow_op(
        &self,
        request: QueryWorkflowRequest,
    ) -> Result<QueryWorkflowResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let query = request
            .query
            .ok_or_else(|| errors::invalid("Query is not set on request."))?;
        if query.query_type.is_empty() {
            return Err(errors::invalid("QueryType is not set on request."));
        }
        check_payloads(query.query_args.as_ref())?;
        self.history
            .query(
                &request.namespace,
                request.execution.as_ref(),
                query,
                request.query_reject_condition,
            )
            .await
    }

    pub(super) fn respond_query_task_completed_op(
        &self,
        request: RespondQueryTaskCompletedRequest,
    ) -> Result<(), Status> {
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::QueryTask,
        )?;
        let answer = if request.completed_type == QueryResultType::Answered as i32 {
            QueryAnswer::Answered(request.query_result)
        } else {
            QueryAnswer::Failed(request.error_message, Box::new(request.failure))
        };
        if !self.history.answer_query(&token.query_id, answer) {
            return Err(Status::not_found("query not found or already answered"));
        }
        Ok(())
    }

    pub(super) async fn update_workflow_execution_op(
        &self,
        request: UpdateWorkflowExecutionRequest,
    ) -> Result<UpdateWorkflowExecutionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.workflow_execution.as_ref())
            .await?;
        if !request.first_execution_run_id.is_empty()
            && exec.first_execution_run_id != request.first_execution_run_id
        {
            // The id was started again as a new chain since (Temporal's wording).
            return Err(errors::not_found("workflow execution not found"));
        }
        self.history.run_update(&exec, request).await
    }

    pub(super) async fn poll_workflow_execution_update_op(
        &self,
        request: PollWorkflowExecutionUpdateRequest,
    ) -> Result<PollWorkflowExecutionUpdateResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let update_ref = request
            .update_ref
            .ok_or_else(|| errors::invalid("UpdateRef is not set on request."))?;
        check_id(&update_ref.update_id, "UpdateId")?;
        let exec = self
            .history
            .resolve(&request.namespace, update_ref.workflow_execution.as_ref())
            .await?;
        let wanted = request.wait_policy.map_or(0, |p| p.lifecycle_stage);
        let (stage, outcome) = self
            .history
            .wait_for_update(&exec.run_id, &update_ref.update_id, wanted)
            .await?;
        Ok(PollWorkflowExecutionUpdateResponse {
            outcome,
            stage,
            update_ref: Some(UpdateRef {
                workflow_execution: execution_of(&exec),
                update_id: update_ref.update_id,
            }),
        })
    }
}

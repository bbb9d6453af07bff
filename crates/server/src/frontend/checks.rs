//! Request checks that need the namespace registry (start requests, the search attributes
//! a completion sets, task tokens), and the small wrappers that check a request before
//! handing it to the history side.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::workflowservice::v1::*;
use temper_engine::Execution;
use tonic::Status;

use crate::errors;
use crate::tokens::{TaskToken, TokenKind};
use crate::validation::{
    check_duration, check_id, check_length, check_payloads, terminates_with_conflict_policy,
};
use crate::visibility;

use super::Frontend;

impl Frontend {
    /// Validates a start request (also used for signal-with-start and update-with-start) and
    /// types its search attributes.
    pub(super) fn prepare_start(
        &self,
        request: &mut StartWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        check_id(&request.workflow_id, "WorkflowId")?;
        if terminates_with_conflict_policy(request) {
            return Err(errors::invalid(
                "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy",
            ));
        }
        check_id(
            request
                .workflow_type
                .as_ref()
                .map_or("", |t| t.name.as_str()),
            "WorkflowType",
        )?;
        check_id(
            request.task_queue.as_ref().map_or("", |q| q.name.as_str()),
            "TaskQueue",
        )?;
        check_length(&request.request_id, "RequestId")?;
        for (duration, name) in [
            (
                &request.workflow_execution_timeout,
                "WorkflowExecutionTimeoutSeconds",
            ),
            (&request.workflow_run_timeout, "WorkflowRunTimeoutSeconds"),
            (&request.workflow_task_timeout, "WorkflowTaskTimeoutSeconds"),
            (&request.workflow_start_delay, "WorkflowStartDelaySeconds"),
        ] {
            check_duration(duration.as_ref(), name)?;
        }
        if let Some(policy) = &request.retry_policy {
            temper_engine::retry::validate(policy).map_err(errors::invalid)?;
        }
        if !request.cron_schedule.is_empty() {
            temper_engine::cron::validate(&request.cron_schedule).map_err(errors::invalid)?;
        }
        check_payloads(request.input.as_ref())?;
        if let Some(attributes) = &mut request.search_attributes {
            let custom = self.namespaces.search_attributes(&request.namespace)?;
            visibility::validate_search_attributes(Some(attributes), &custom)
                .map_err(errors::invalid)?;
            // Stored typed, so the worker's started event carries the types too.
            visibility::annotate_types(attributes, &custom);
        }
        Ok(())
    }

    /// Search attributes set by a completion's commands, checked against the namespace's
    /// registry and typed as Temporal stores them: the first problem found, if any.
    pub(super) fn search_attribute_problem(
        &self,
        namespace: &str,
        request: &mut RespondWorkflowTaskCompletedRequest,
    ) -> Result<Option<String>, Status> {
        use temper_api::proto::command::v1::command::Attributes as C;
        let upserted =
            request
                .commands
                .iter_mut()
                .filter_map(|command| match &mut command.attributes {
                    Some(C::UpsertWorkflowSearchAttributesCommandAttributes(a)) => {
                        a.search_attributes.as_mut()
                    }
                    Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
                        a.search_attributes.as_mut()
                    }
                    Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
                        a.search_attributes.as_mut()
                    }
                    _ => None,
                });
        // Most completions set no search attributes: the registry is read only when one does.
        let mut custom = None;
        for attributes in upserted {
            let custom = match &mut custom {
                Some(custom) => custom,
                None => custom.insert(self.namespaces.search_attributes(namespace)?),
            };
            if let Err(problem) = visibility::validate_search_attributes(Some(attributes), custom) {
                return Ok(Some(problem));
            }
            visibility::annotate_types(attributes, custom);
        }
        Ok(None)
    }

    /// The task token of a request in `namespace` (empty: the token's own namespace), as
    /// Temporal checks it: an unknown namespace is NOT_FOUND, another one's token refused.
    pub(super) fn task_token(
        &self,
        bytes: &[u8],
        namespace: &str,
        kind: TokenKind,
    ) -> Result<TaskToken, Status> {
        let token = TaskToken::decode_as(bytes, kind)?;
        if !namespace.is_empty() {
            self.namespaces.require(namespace)?;
            if token.namespace != namespace {
                return Err(errors::invalid(
                    "Operation requested with a token from a different namespace.",
                ));
            }
        }
        Ok(token)
    }

    pub(super) fn activity_token(
        &self,
        bytes: &[u8],
        namespace: &str,
    ) -> Result<TaskToken, Status> {
        self.task_token(bytes, namespace, TokenKind::ActivityTask)
    }

    /// Resolves an activity addressed by workflow and activity id (the `*ById` RPCs).
    pub(super) async fn activity_by_id(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> Result<(String, i64, i32), Status> {
        self.namespaces.require(namespace)?;
        check_id(activity_id, "ActivityId")?;
        self.history
            .activity_by_id(namespace, workflow_id, run_id, activity_id)
            .await
    }

    /// Runs an operation on an open run of a namespace that must exist.
    pub(super) async fn update_open_run<R>(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
        operation: impl FnOnce(&mut temper_engine::Transition<'_>) -> R,
    ) -> Result<Execution, Status> {
        self.namespaces.require(namespace)?;
        self.history
            .transact_open_run(namespace, execution, operation)
            .await
    }

    /// Update-with-start, once its start request has been checked.
    pub(super) async fn update_with_start(
        &self,
        mut start: StartWorkflowExecutionRequest,
        update: UpdateWorkflowExecutionRequest,
    ) -> Result<
        (
            StartWorkflowExecutionResponse,
            UpdateWorkflowExecutionResponse,
        ),
        Status,
    > {
        self.prepare_start(&mut start)
            .map_err(|status| errors::multi_operation_failed(0, 2, status))?;
        self.history.update_with_start(start, update).await
    }
}

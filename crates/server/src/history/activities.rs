//! Activity responses (`RespondActivityTask*`, heartbeats, and their `*ById` forms): an answer
//! over the blob limit fails the activity, as Temporal does.

use prost::Message;
use temper_api::proto::common::v1::{Payloads, WorkflowExecution};
use temper_api::proto::failure::v1::Failure;
use temper_engine::execution::{ActivityOperationError, HeartbeatAnswer, Transition};
use tonic::Status;

use crate::errors;
use crate::history::History;
use crate::validation::{cut_down, over_blob_limit, oversized_answer};

impl History {
    pub async fn complete_activity(
        &self,
        run_id: &str,
        scheduled: i64,
        attempt: i32,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        if over_blob_limit(result.as_ref()) {
            let failure = oversized_answer("Complete result exceeds size limit.");
            return self
                .fail_activity(run_id, scheduled, attempt, Some(failure), None, identity)
                .await
                .map(drop);
        }
        let applied = self
            .transact(run_id, |t| {
                t.complete_activity(scheduled, attempt, result, identity)
            })
            .await?;
        applied.value.map_err(errors::task_error)
    }

    /// Fails an activity attempt. A failure over the blob limit is replaced, as Temporal does,
    /// by a non-retryable "Failure exceeds size limit." whose cause is the original cut down;
    /// the replacement is returned for the response to report.
    pub async fn fail_activity(
        &self,
        run_id: &str,
        scheduled: i64,
        attempt: i32,
        failure: Option<Failure>,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<Option<Failure>, Status> {
        let mut failure = failure;
        let mut replaced = None;
        if let Some(original) =
            failure.take_if(|f| f.encoded_len() > temper_engine::limits::BLOB_SIZE_LIMIT)
        {
            let mut replacement = oversized_answer("Failure exceeds size limit.");
            replacement.cause = Some(Box::new(cut_down(original)));
            failure = Some(replacement.clone());
            replaced = Some(replacement);
        }
        let applied = self
            .transact(run_id, |t| {
                t.fail_activity(scheduled, attempt, failure, details, identity)
            })
            .await?;
        applied.value.map_err(errors::task_error)?;
        Ok(replaced)
    }

    pub async fn cancel_activity(
        &self,
        run_id: &str,
        scheduled: i64,
        attempt: i32,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        if over_blob_limit(details.as_ref()) {
            let failure = oversized_answer("Cancel details exceed size limit.");
            return self
                .fail_activity(run_id, scheduled, attempt, Some(failure), None, identity)
                .await
                .map(drop);
        }
        let applied = self
            .transact(run_id, |t| {
                t.cancel_activity(scheduled, attempt, details, identity)
            })
            .await?;
        applied.value.map_err(errors::task_error)
    }

    /// Records a heartbeat; whether the activity is asked to cancel. Details over the blob
    /// limit fail the activity instead, and the worker is told to cancel.
    pub async fn heartbeat(
        &self,
        run_id: &str,
        scheduled: i64,
        attempt: i32,
        details: Option<Payloads>,
    ) -> Result<HeartbeatAnswer, Status> {
        if over_blob_limit(details.as_ref()) {
            let failure = oversized_answer("Heartbeat details exceed size limit.");
            self.fail_activity(run_id, scheduled, attempt, Some(failure), None, "")
                .await?;
            return Ok(HeartbeatAnswer {
                cancel_requested: true,
                paused: false,
                reset: false,
            });
        }
        let applied = self
            .transact(run_id, |t| {
                t.heartbeat_activity(scheduled, attempt, details)
            })
            .await?;
        applied.value.map_err(errors::task_error)
    }

    /// Resolves an activity addressed by workflow and activity id to its token fields.
    pub async fn activity_by_id(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> Result<(String, i64, i32), Status> {
        let exec = self
            .resolve(
                namespace,
                Some(&WorkflowExecution {
                    workflow_id: workflow_id.into(),
                    run_id: run_id.into(),
                }),
            )
            .await?;
        let activity = exec
            .activities
            .values()
            .find(|a| a.activity_id == activity_id && a.started_time_ms > 0)
            .ok_or_else(|| errors::not_found(crate::tokens::ACTIVITY_NOT_FOUND))?;
        Ok((
            exec.run_id.clone(),
            activity.scheduled_event_id,
            activity.attempt,
        ))
    }
}

impl History {
    /// Applies an operator's activity operation to a workflow's run (its current run when
    /// `execution` names none).
    pub async fn operate_on_activities<R>(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        operation: impl FnOnce(&mut Transition<'_>) -> Result<R, ActivityOperationError>,
    ) -> Result<R, Status> {
        let exec = self.resolve(namespace, Some(execution)).await?;
        let applied = self.transact(&exec.run_id, operation).await?;
        applied.value.map_err(|error| match error {
            ActivityOperationError::AlreadyPaused => Status::failed_precondition(error.to_string()),
            ActivityOperationError::NotFound | ActivityOperationError::RunClosed => {
                errors::not_found(error.to_string())
            }
            ActivityOperationError::Invalid(message) => errors::invalid(message),
        })
    }
}

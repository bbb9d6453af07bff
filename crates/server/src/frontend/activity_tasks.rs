//! What workers report on activity attempts (`RecordActivityTaskHeartbeat*`,
//! `RespondActivityTask{Completed,Failed,Canceled}*`): the token (or, for the `*ById` forms,
//! the ids) names either a workflow's activity or a standalone activity, and the report goes
//! to the history side or to the standalone activities' service accordingly.

use temper_api::proto::common::v1::Payloads;
use temper_api::proto::failure::v1::Failure;
use temper_engine::execution::HeartbeatAnswer;
use tonic::Status;

use super::Frontend;
use crate::activity_executions::StandaloneAttempt;
use crate::validation::check_id;

/// The attempt a worker's report is about.
pub(super) enum Attempt {
    Workflow {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    Standalone(StandaloneAttempt),
}

impl Frontend {
    /// The attempt a task token names.
    pub(super) fn attempt_of_token(
        &self,
        bytes: &[u8],
        namespace: &str,
    ) -> Result<Attempt, Status> {
        let token = self.activity_token(bytes, namespace)?;
        Ok(if token.standalone {
            Attempt::Standalone(StandaloneAttempt::of_token(&token))
        } else {
            Attempt::Workflow {
                run_id: token.run_id,
                scheduled_event_id: token.scheduled_event_id,
                attempt: token.attempt,
            }
        })
    }

    /// The running attempt named by ids: a standalone activity's when no workflow is named.
    pub(super) async fn attempt_by_id(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        activity_id: &str,
    ) -> Result<Attempt, Status> {
        if !workflow_id.is_empty() {
            let (run_id, scheduled_event_id, attempt) = self
                .activity_by_id(namespace, workflow_id, run_id, activity_id)
                .await?;
            return Ok(Attempt::Workflow {
                run_id,
                scheduled_event_id,
                attempt,
            });
        }
        self.namespaces.require(namespace)?;
        check_id(activity_id, "ActivityId")?;
        let attempt = self
            .activity_executions
            .running_attempt(namespace, activity_id, run_id)
            .await?;
        Ok(Attempt::Standalone(attempt))
    }

    pub(super) async fn heartbeat_attempt(
        &self,
        attempt: Attempt,
        details: Option<Payloads>,
    ) -> Result<HeartbeatAnswer, Status> {
        match attempt {
            Attempt::Workflow {
                run_id,
                scheduled_event_id,
                attempt,
            } => {
                self.history
                    .heartbeat(&run_id, scheduled_event_id, attempt, details)
                    .await
            }
            Attempt::Standalone(target) => {
                self.activity_executions.heartbeat(&target, details).await
            }
        }
    }

    pub(super) async fn complete_attempt(
        &self,
        attempt: Attempt,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        match attempt {
            Attempt::Workflow {
                run_id,
                scheduled_event_id,
                attempt,
            } => {
                self.history
                    .complete_activity(&run_id, scheduled_event_id, attempt, result, identity)
                    .await
            }
            Attempt::Standalone(target) => {
                self.activity_executions
                    .complete(&target, result, identity)
                    .await
            }
        }
    }

    /// Fails the attempt; the replacement failure when the worker's was over the size limit.
    pub(super) async fn fail_attempt(
        &self,
        attempt: Attempt,
        failure: Option<Failure>,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<Option<Failure>, Status> {
        match attempt {
            Attempt::Workflow {
                run_id,
                scheduled_event_id,
                attempt,
            } => {
                self.history
                    .fail_activity(
                        &run_id,
                        scheduled_event_id,
                        attempt,
                        failure,
                        details,
                        identity,
                    )
                    .await
            }
            Attempt::Standalone(target) => self
                .activity_executions
                .fail(&target, failure, details, identity)
                .await
                .map(|()| None),
        }
    }

    pub(super) async fn cancel_attempt(
        &self,
        attempt: Attempt,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        match attempt {
            Attempt::Workflow {
                run_id,
                scheduled_event_id,
                attempt,
            } => {
                self.history
                    .cancel_activity(&run_id, scheduled_event_id, attempt, details, identity)
                    .await
            }
            Attempt::Standalone(target) => {
                self.activity_executions
                    .canceled(&target, details, identity)
                    .await
            }
        }
    }
}

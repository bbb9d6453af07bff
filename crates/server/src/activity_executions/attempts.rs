//! The worker side of standalone activities: an attempt taken from matching is granted to the
//! poller (the task it receives has no workflow), and what the worker reports on it —
//! heartbeats, result, failure, cancellation — is applied to the run.

use temper_api::proto::common::v1::Payloads;
use temper_api::proto::failure::v1::Failure;
use temper_engine::execution::HeartbeatAnswer;
use temper_engine::standalone_activity::{ActivityRun, AttemptError, Effects};
use tonic::Status;

use super::ActivityExecutions;
use crate::errors;
use crate::tokens::TaskToken;
use crate::validation::{over_blob_limit, oversized_answer};

/// One attempt of a standalone activity, as a worker's token or `*ById` request names it.
#[derive(Debug, Clone)]
pub struct StandaloneAttempt {
    pub namespace: String,
    pub activity_id: String,
    pub run_id: String,
    pub attempt: i32,
}

impl StandaloneAttempt {
    pub fn of_token(token: &TaskToken) -> StandaloneAttempt {
        StandaloneAttempt {
            namespace: token.namespace.clone(),
            activity_id: token.activity_id.clone(),
            run_id: token.run_id.clone(),
            attempt: token.attempt,
        }
    }
}

fn attempt_error(error: AttemptError, activity_id: &str) -> Status {
    match error {
        AttemptError::CancelNotRequested => errors::invalid(
            "unable to mark activity as canceled without activity being request canceled first",
        ),
        AttemptError::NotWaiting | AttemptError::NotRunning => super::not_found(activity_id),
    }
}

impl ActivityExecutions {
    /// Starts a queued attempt for a poller: the run as granted (the frontend builds the
    /// poller's task from it); `None` when the entry is stale.
    pub async fn grant(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
        attempt: i32,
        identity: &str,
    ) -> Option<ActivityRun> {
        let mut guard = self.locked(namespace, activity_id, run_id).await.ok()?;
        let mut changed = guard.clone();
        let request_id = uuid::Uuid::new_v4().to_string();
        changed
            .grant(attempt, identity, &request_id, self.now_ms())
            .ok()?;
        let granted = changed.clone();
        match self.commit(&mut guard, changed, Effects::default()).await {
            Ok(()) => Some(granted),
            Err(status) => {
                tracing::warn!(activity_id, error = %status.message(), "dropping activity task");
                None
            }
        }
    }

    /// The running attempt of an activity named by id (the `*ById` RPCs without a workflow).
    pub async fn running_attempt(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
    ) -> Result<StandaloneAttempt, Status> {
        let run = self.locked(namespace, activity_id, run_id).await?;
        let activity = run.activity();
        if !run.is_running() || activity.started_time_ms == 0 {
            return Err(super::not_found(activity_id));
        }
        Ok(StandaloneAttempt {
            namespace: namespace.to_string(),
            activity_id: activity_id.to_string(),
            run_id: run.run_id.clone(),
            attempt: activity.attempt,
        })
    }

    /// Applies a worker's report to its attempt and commits it.
    async fn report<R>(
        &self,
        target: &StandaloneAttempt,
        apply: impl FnOnce(&mut ActivityRun, i64) -> Result<(R, Effects), AttemptError>,
    ) -> Result<R, Status> {
        let mut guard = self
            .locked(&target.namespace, &target.activity_id, &target.run_id)
            .await?;
        let mut changed = guard.clone();
        let (value, effects) = apply(&mut changed, self.now_ms())
            .map_err(|error| attempt_error(error, &target.activity_id))?;
        self.commit(&mut guard, changed, effects).await?;
        Ok(value)
    }

    pub async fn heartbeat(
        &self,
        target: &StandaloneAttempt,
        details: Option<Payloads>,
    ) -> Result<HeartbeatAnswer, Status> {
        if over_blob_limit(details.as_ref()) {
            let failure = oversized_answer("Heartbeat details exceed size limit.");
            self.fail(target, Some(failure), None, "").await?;
            return Ok(HeartbeatAnswer {
                cancel_requested: true,
                paused: false,
                reset: false,
            });
        }
        self.report(target, |run, now| {
            let answer = run.heartbeat(target.attempt, details, now)?;
            Ok((answer, Effects::default()))
        })
        .await
    }

    pub async fn complete(
        &self,
        target: &StandaloneAttempt,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        if over_blob_limit(result.as_ref()) {
            let failure = oversized_answer("Complete result exceeds size limit.");
            return self.fail(target, Some(failure), None, identity).await;
        }
        self.report(target, |run, now| {
            run.complete(target.attempt, result, identity, now)?;
            Ok(((), Effects::default()))
        })
        .await
    }

    pub async fn fail(
        &self,
        target: &StandaloneAttempt,
        failure: Option<Failure>,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        self.report(target, |run, now| {
            let effects = run.fail(target.attempt, failure, details, identity, now)?;
            Ok(((), effects))
        })
        .await
    }

    pub async fn canceled(
        &self,
        target: &StandaloneAttempt,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), Status> {
        self.report(target, |run, now| {
            run.canceled(target.attempt, details, identity, now)?;
            Ok(((), Effects::default()))
        })
        .await
    }
}

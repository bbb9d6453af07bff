//! `StartActivityExecution`: a new run, unless the activity id's latest run forbids it (its id
//! conflict policy while it runs, its id reuse policy once closed). A start retried with the
//! same request id returns the run it started.

use temper_api::proto::common::v1::{Link, link};
use temper_api::proto::enums::v1::{
    ActivityExecutionStatus, ActivityIdConflictPolicy, ActivityIdReusePolicy,
};
use temper_api::proto::errordetails::v1::ActivityExecutionAlreadyStartedFailure;
use temper_api::proto::workflowservice::v1::{
    StartActivityExecutionRequest, StartActivityExecutionResponse,
};
use temper_engine::standalone_activity::ActivityRun;
use tonic::{Code, Status};

use super::ActivityExecutions;
use crate::errors;

fn already_started(run: &ActivityRun) -> Status {
    errors::with_detail(
        Code::AlreadyExists,
        "activity execution already started".to_string(),
        ActivityExecutionAlreadyStartedFailure {
            start_request_id: run.request_id.clone(),
            run_id: run.run_id.clone(),
        },
    )
}

/// The link a start answers with: the activity's run.
fn link_to(run: &ActivityRun) -> Link {
    Link {
        variant: Some(link::Variant::Activity(link::Activity {
            namespace: run.namespace.clone(),
            activity_id: run.activity_id.clone(),
            run_id: run.run_id.clone(),
        })),
    }
}

/// What the latest run of the id allows a new start to do.
enum Decision {
    StartNew,
    Existing { started: bool },
}

fn decide(
    request: &StartActivityExecutionRequest,
    latest: &ActivityRun,
) -> Result<Decision, Status> {
    if latest.is_running() {
        if !request.request_id.is_empty() && request.request_id == latest.request_id {
            return Ok(Decision::Existing { started: true });
        }
        return match request.id_conflict_policy() {
            ActivityIdConflictPolicy::UseExisting => Ok(Decision::Existing { started: false }),
            _ => Err(already_started(latest)),
        };
    }
    let failed = !matches!(latest.status(), ActivityExecutionStatus::Completed);
    match request.id_reuse_policy() {
        ActivityIdReusePolicy::RejectDuplicate => Err(already_started(latest)),
        ActivityIdReusePolicy::AllowDuplicateFailedOnly if !failed => Err(already_started(latest)),
        _ => Ok(Decision::StartNew),
    }
}

impl ActivityExecutions {
    pub async fn start(
        &self,
        request: StartActivityExecutionRequest,
    ) -> Result<StartActivityExecutionResponse, Status> {
        self.namespaces.require(&request.namespace)?;
        let namespace = request.namespace.clone();
        let activity_id = request.activity_id.clone();
        let run_id = uuid::Uuid::now_v7().to_string();
        let (mut run, effects) =
            ActivityRun::start(&namespace, &run_id, request.clone(), self.now_ms())
                .map_err(|error| errors::invalid(error.0))?;
        // Starts go one at a time, so two cannot both find the id free.
        let _starting = self.starting.lock().await;
        if let Ok(latest) = self.locked(&namespace, &activity_id, "").await
            && let Decision::Existing { started } = decide(&request, &latest)?
        {
            return Ok(StartActivityExecutionResponse {
                run_id: latest.run_id.clone(),
                started,
                link: Some(link_to(&latest)),
            });
        }
        crate::records::save(self.store.as_ref(), &mut run).await?;
        let response = StartActivityExecutionResponse {
            run_id: run.run_id.clone(),
            started: true,
            link: Some(link_to(&run)),
        };
        // Known before its first attempt is offered: a poller waiting on the queue takes the
        // attempt at once and grants it through the run's entry (offered first, the grant
        // found no run and dropped the attempt, which then waited forever).
        self.insert(run.clone());
        self.after_commit(&run, effects);
        self.changes.send_modify(|n| *n += 1);
        Ok(response)
    }
}

//! `RequestCancelActivityExecution`, `TerminateActivityExecution` and
//! `DeleteActivityExecution`: what a client asks of a run.

use temper_api::proto::workflowservice::v1::{
    DeleteActivityExecutionRequest, RequestCancelActivityExecutionRequest,
    TerminateActivityExecutionRequest,
};
use temper_engine::standalone_activity::{ActivityRun, Effects, RequestError};
use temper_store::RecordKind;
use tonic::Status;

use super::{ActivityExecutions, record_id};
use crate::errors;

fn request_error(error: RequestError) -> Status {
    Status::failed_precondition(error.to_string())
}

impl ActivityExecutions {
    pub async fn request_cancel(
        &self,
        request: RequestCancelActivityExecutionRequest,
    ) -> Result<(), Status> {
        let r = &request;
        self.apply_request(&r.namespace, &r.activity_id, &r.run_id, |run, now| {
            run.request_cancel(&r.request_id, &r.reason, &r.identity, now)
        })
        .await
    }

    pub async fn terminate(
        &self,
        request: TerminateActivityExecutionRequest,
    ) -> Result<(), Status> {
        let r = &request;
        self.apply_request(&r.namespace, &r.activity_id, &r.run_id, |run, now| {
            run.terminate(&r.request_id, &r.reason, &r.identity, now)
        })
        .await
    }

    /// Applies a client's request to a run and commits it, unless it changed nothing (a
    /// repeated request).
    async fn apply_request(
        &self,
        namespace: &str,
        activity_id: &str,
        run_id: &str,
        change: impl FnOnce(&mut ActivityRun, i64) -> Result<(), RequestError>,
    ) -> Result<(), Status> {
        self.namespaces.require(namespace)?;
        let mut guard = self.locked(namespace, activity_id, run_id).await?;
        let mut changed = guard.clone();
        change(&mut changed, self.now_ms()).map_err(request_error)?;
        if changed == *guard {
            return Ok(());
        }
        self.commit(&mut guard, changed, Effects::default()).await
    }

    /// Deletes a run, running or closed (a running one is gone with its attempt).
    pub async fn delete(&self, request: DeleteActivityExecutionRequest) -> Result<(), Status> {
        self.namespaces.require(&request.namespace)?;
        let guard = self
            .locked(&request.namespace, &request.activity_id, &request.run_id)
            .await?;
        self.remove(guard).await
    }

    /// Deletes the closed runs of `namespace` that closed at or before `cutoff_ms` (the
    /// namespace's retention sweep); how many went.
    pub async fn delete_closed_before(&self, namespace: &str, cutoff_ms: i64) -> usize {
        let mut deleted = 0;
        for entry in self.runs.of_namespace(namespace) {
            let Ok(guard) =
                tokio::sync::OwnedMutexGuard::try_map(entry.lock_owned().await, Option::as_mut)
            else {
                continue;
            };
            let expired = !guard.is_running() && guard.close_time_ms <= cutoff_ms;
            if expired && self.remove(guard).await.is_ok() {
                deleted += 1;
            }
        }
        deleted
    }

    /// Deletes a locked run from the store and from memory.
    async fn remove(&self, guard: super::Guard) -> Result<(), Status> {
        let namespace = guard.namespace.clone();
        let id = record_id(&guard.activity_id, &guard.run_id);
        self.store
            .delete_record(RecordKind::ActivityExecution, &namespace, &id)
            .await
            .map_err(errors::storage)?;
        let key = (namespace.clone(), guard.activity_id.clone());
        {
            let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
            if latest.get(&key) == Some(&guard.run_id) {
                latest.remove(&key);
            }
        }
        self.runs.remove(&namespace, &id);
        // Anyone already waiting for this run's lock finds its record gone when it writes.
        drop(guard);
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }
}

//! Requests that only change an open run: signals, cancellation requests and termination.

use temper_api::proto::common::v1::WorkflowExecution;
use temper_engine::Execution;
use tonic::Status;

use crate::errors;
use crate::history::History;

impl History {
    /// Runs an operation on the run `execution` names, which must still be open (signal,
    /// cancel and terminate requests); the state after it.
    pub async fn transact_open_run<R>(
        &self,
        namespace: &str,
        execution: Option<&WorkflowExecution>,
        operation: impl FnOnce(&mut temper_engine::Transition<'_>) -> R,
    ) -> Result<Execution, Status> {
        let exec = self.resolve(namespace, execution).await?;
        let applied = self
            .transact(&exec.run_id, |t| {
                if t.execution().is_running() {
                    Some(operation(t))
                } else {
                    None
                }
            })
            .await?;
        match applied.value {
            Some(_) => Ok(applied.execution),
            None => Err(errors::already_completed()),
        }
    }
}

//! Nexus operations on the history side: an operation's attempt queued on the task queue its
//! endpoint targets, handed to a handler worker's poll, and the handler's answer applied to
//! the caller run.

use std::time::Duration;

use temper_engine::Execution;
use temper_engine::execution::{NexusOutcome, NexusTaskGrant};
use tonic::Status;

use super::History;
use crate::errors;
use crate::matching::{QueueKind, QueuedTask};

impl History {
    /// Queues an attempt where the operation's endpoint sends its tasks. An endpoint deleted
    /// since the operation was scheduled leaves it to its schedule-to-close timeout.
    pub(super) fn offer_nexus_task(
        &self,
        exec: &Execution,
        endpoint_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
    ) {
        let Some((namespace, queue)) = self.endpoints.worker_target(endpoint_id) else {
            tracing::warn!(
                run_id = exec.run_id,
                endpoint_id,
                "Nexus endpoint no longer registered; the operation waits for its timeout"
            );
            return;
        };
        let task = QueuedTask::Nexus {
            run_id: exec.run_id.clone(),
            scheduled_event_id,
            attempt,
        };
        self.matching
            .offer(&namespace, &queue, QueueKind::Nexus, task);
    }

    /// The next Nexus attempt for a handler polling `queue` (None when the wait ends first):
    /// the caller run, the attempt's scheduled event id and number, and what to send.
    pub async fn next_nexus_task(
        &self,
        namespace: &str,
        queue: &str,
        identity: &str,
        wait: Duration,
    ) -> Option<(Execution, i64, i32, NexusTaskGrant)> {
        self.matching
            .record_poller(namespace, queue, QueueKind::Nexus, identity);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let task = self
                .matching
                .poll(namespace, queue, QueueKind::Nexus, remaining)
                .await?;
            let QueuedTask::Nexus {
                run_id,
                scheduled_event_id,
                attempt,
            } = task
            else {
                continue;
            };
            let applied = self
                .transact(&run_id, |t| t.start_nexus_task(scheduled_event_id, attempt))
                .await;
            match applied {
                Ok(applied) => {
                    if let Ok(grant) = applied.value {
                        return Some((applied.execution, scheduled_event_id, attempt, grant));
                    }
                }
                Err(status) => {
                    tracing::warn!(run_id, error = %status.message(), "dropping Nexus task");
                }
            }
        }
    }

    /// Applies a handler's answer to an attempt of the caller run's operation.
    pub async fn complete_nexus_task(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        outcome: NexusOutcome,
    ) -> Result<(), Status> {
        self.transact(run_id, |t| {
            t.complete_nexus_task(scheduled_event_id, attempt, outcome)
        })
        .await?
        .value
        .map_err(errors::task_error)
    }
}

//! Nexus operations on the history side: an operation's attempt queued on the task queue its
//! endpoint targets, handed to a handler worker's poll, and the handler's answer applied to
//! the caller run.

use std::time::Duration;

use temper_api::proto::common::v1::callback::Variant;
use temper_api::proto::failure::v1::Failure;
use temper_engine::Execution;
use temper_engine::execution::{HandlerRun, NexusCancelGrant, NexusOutcome, NexusTaskGrant};
use tonic::Status;

use temper_api::cluster::{DeliverNexusCallbackRequest, RemoteTask, RemoteTaskKind};

use super::History;
use super::follow_ups::FollowUp;
use crate::errors;
use crate::matching::{QueueKind, QueuedTask};
use crate::tokens::NexusCallbackToken;

impl History {
    /// Queues an attempt where the operation's endpoint sends its tasks. An endpoint deleted
    /// since the operation was scheduled leaves it to its schedule-to-close timeout.
    pub(super) fn offer_nexus_task(
        &self,
        exec: &Execution,
        endpoint_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        cancel: bool,
    ) {
        let Some((namespace, queue)) = self.endpoints.worker_target(endpoint_id) else {
            tracing::warn!(
                run_id = exec.run_id,
                endpoint_id,
                "Nexus endpoint no longer registered; the operation waits for its timeout"
            );
            return;
        };
        if let Some(peers) = self.queue_elsewhere(&namespace, &queue) {
            let task = RemoteTask {
                namespace,
                run_namespace: exec.namespace.clone(),
                scheduled_event_id,
                attempt,
                nexus_cancel: cancel,
                ..super::remote::remote_task(exec, RemoteTaskKind::Nexus, &queue)
            };
            return self.offer_remotely(peers, task);
        }
        let task = QueuedTask::Nexus {
            run_id: exec.run_id.clone(),
            scheduled_event_id,
            attempt,
            cancel,
        };
        self.matching
            .offer(&namespace, &queue, QueueKind::Nexus, task);
    }

    /// The next Nexus attempt (to start or to cancel an operation) for a handler polling
    /// `queue`; None when the wait ends first.
    pub async fn next_nexus_task(
        &self,
        namespace: &str,
        queue: &str,
        identity: &str,
        wait: Duration,
    ) -> Option<PolledNexusTask> {
        if self.stray_poll(namespace, queue, wait).await {
            return None;
        }
        self.matching
            .record_poller(namespace, queue, QueueKind::Nexus, identity);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let claimed = self
                .matching
                .poll(namespace, queue, QueueKind::Nexus, remaining)
                .await?;
            let task = claimed.task().clone();
            // Started, stale or handed to its run's owner: either way the entry is spent.
            claimed.settle();
            let (run_id, scheduled_event_id, attempt, cancel) = match task {
                QueuedTask::Nexus {
                    run_id,
                    scheduled_event_id,
                    attempt,
                    cancel,
                } => (run_id, scheduled_event_id, attempt, cancel),
                QueuedTask::Remote(task) => return Some(PolledNexusTask::Remote(task)),
                _ => continue,
            };
            let started = self
                .start_nexus_attempt(&run_id, scheduled_event_id, attempt, cancel)
                .await;
            if let Some(handed) = started {
                return Some(PolledNexusTask::Started(Box::new(handed)));
            }
        }
    }

    /// Starts an attempt of a run's Nexus operation (to start it, or to `cancel` it) for a
    /// handler; `None` when the attempt is no longer current.
    pub async fn start_nexus_attempt(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        cancel: bool,
    ) -> Option<HandedNexusTask> {
        let applied = self
            .transact(run_id, |t| {
                if cancel {
                    t.start_nexus_cancel_task(scheduled_event_id, attempt)
                        .map(NexusGrant::Cancel)
                } else {
                    t.start_nexus_task(scheduled_event_id, attempt)
                        .map(NexusGrant::Start)
                }
            })
            .await;
        match applied {
            Ok(applied) => applied.value.ok().map(|grant| HandedNexusTask {
                caller: std::sync::Arc::unwrap_or_clone(applied.execution),
                scheduled_event_id,
                attempt,
                grant,
            }),
            Err(status) => {
                tracing::warn!(run_id, error = %status.message(), "dropping Nexus task");
                None
            }
        }
    }

    /// Applies a handler's answer to an attempt of the caller run's operation. An operation
    /// that started asynchronously may find its run already closed (the callback came
    /// first): the caller checks at once.
    pub async fn complete_nexus_task(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        outcome: NexusOutcome,
    ) -> Result<(), Status> {
        let started = matches!(outcome, NexusOutcome::Started { .. });
        self.transact(run_id, |t| {
            t.complete_nexus_task(scheduled_event_id, attempt, outcome)
        })
        .await?
        .value
        .map_err(errors::task_error)?;
        if started {
            self.follow_up(FollowUp::SyncNexus {
                caller_run_id: run_id.to_string(),
            });
        }
        Ok(())
    }
}

/// What a handler's poll got: an attempt started here, or (on a spread cluster's queue owner)
/// a task of another node's run, for that node to start.
pub enum PolledNexusTask {
    Started(Box<HandedNexusTask>),
    Remote(Box<RemoteTask>),
}

/// A Nexus attempt handed to a handler: the caller run, the operation and what to send.
pub struct HandedNexusTask {
    pub caller: Execution,
    pub scheduled_event_id: i64,
    pub attempt: i32,
    pub grant: NexusGrant,
}

pub enum NexusGrant {
    Start(NexusTaskGrant),
    Cancel(NexusCancelGrant),
}

impl History {
    /// Applies a handler's answer to a cancel request of the caller run's operation
    /// (`refusal`: the handler's failure and whether it is worth retrying).
    pub async fn complete_nexus_cancel_task(
        &self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        refusal: Option<(Failure, bool)>,
    ) -> Result<(), Status> {
        self.transact(run_id, |t| {
            t.complete_nexus_cancel_task(scheduled_event_id, attempt, refusal)
        })
        .await?
        .value
        .map_err(errors::task_error)
    }
}

/// The URL of a completion callback that Temper delivers itself.
pub const SYSTEM_CALLBACK_URL: &str = "temporal://system";
/// The callback header that names the caller's operation.
pub const CALLBACK_TOKEN_HEADER: &str = "temporal-callback-token";
/// The callback header with the operation's token, for a completion that beats the start
/// response.
const OPERATION_TOKEN_HEADER: &str = "nexus-operation-token";

impl History {
    /// After a run closes: each completion callback it carries to a caller's operation.
    pub(super) fn follow_up_nexus_callbacks(&self, exec: &Execution) {
        let callbacks = exec.started.iter().flat_map(|s| &s.completion_callbacks);
        for callback in callbacks {
            let Some(Variant::Nexus(nexus)) = &callback.variant else {
                continue;
            };
            let header = |name: &str| {
                nexus
                    .header
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.clone())
            };
            let caller = header(CALLBACK_TOKEN_HEADER)
                .and_then(|text| NexusCallbackToken::from_header(&text));
            let (true, Some(caller)) = (nexus.url == SYSTEM_CALLBACK_URL, caller) else {
                tracing::warn!(url = nexus.url, "completion callback Temper cannot deliver");
                continue;
            };
            self.follow_up(FollowUp::NexusCallback {
                caller,
                operation_token: header(OPERATION_TOKEN_HEADER).unwrap_or_default(),
                handler: HandlerRun {
                    namespace: exec.namespace.clone(),
                    workflow_id: exec.workflow_id.clone(),
                    run_id: exec.run_id.clone(),
                },
            });
        }
    }

    /// Delivers a handler workflow's close to the caller's operation once its chain ended.
    pub(super) async fn deliver_nexus_callback(
        &self,
        caller: &NexusCallbackToken,
        operation_token: &str,
        handler: &HandlerRun,
    ) -> Result<(), Status> {
        let caller_owner = self.peers_for(&caller.namespace, &caller.workflow_id);
        if let (Some(peers), false) = (caller_owner, caller.workflow_id.is_empty()) {
            let request = DeliverNexusCallbackRequest {
                caller_token: caller.to_header(),
                operation_token: operation_token.to_string(),
                handler_namespace: handler.namespace.clone(),
                handler_workflow_id: handler.workflow_id.clone(),
                handler_run_id: handler.run_id.clone(),
            };
            let caller_run = (caller.namespace.as_str(), caller.workflow_id.as_str());
            return peers.deliver_nexus_callback(caller_run, request).await;
        }
        let Some(close) = self.final_close_event(&handler.run_id).await? else {
            return Ok(()); // the chain goes on; its last run calls back
        };
        let started = Some((operation_token.to_string(), handler.clone()));
        let applied = self
            .transact(&caller.run_id, |t| {
                t.nexus_handler_closed(
                    caller.scheduled_event_id,
                    &caller.request_id,
                    started,
                    &close,
                )
            })
            .await?;
        if applied.value.is_err() {
            tracing::debug!(
                run_id = caller.run_id,
                "Nexus callback for a closed operation"
            );
        }
        Ok(())
    }

    /// Records the close of a Nexus handler's workflow in one of this node's runs, the
    /// operation's caller (another node saw the handler close); refused when the caller's
    /// shard moved on.
    pub async fn nexus_callback_for_peer(
        &self,
        request: DeliverNexusCallbackRequest,
    ) -> Result<(), Status> {
        let caller = NexusCallbackToken::from_header(&request.caller_token)
            .ok_or_else(|| errors::invalid("the callback token does not decode"))?;
        self.check_shard_held(&caller.namespace, &caller.workflow_id)?;
        let handler = HandlerRun {
            namespace: request.handler_namespace,
            workflow_id: request.handler_workflow_id,
            run_id: request.handler_run_id,
        };
        self.deliver_nexus_callback(&caller, &request.operation_token, &handler)
            .await
    }

    /// Finishes a caller's started operations whose linked runs have closed.
    pub(super) async fn sync_nexus_operations(&self, caller_run_id: &str) -> Result<(), Status> {
        let Some(caller) = self.snapshot(caller_run_id).await? else {
            return Ok(());
        };
        for op in caller.nexus_operations.values() {
            let Some(handler) = &op.handler_run else {
                continue;
            };
            if let Some(close) = self.final_close_event(&handler.run_id).await? {
                let scheduled_event_id = op.scheduled_event_id;
                let _ = self
                    .transact(caller_run_id, |t| {
                        t.nexus_handler_closed(scheduled_event_id, "", None, &close)
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

//! Start-up recovery: rebuilds task queues, timers and follow-ups from the open runs in the
//! store, page by page in run-id order, while the server already serves.
//!
//! Nothing waits for it: a request that reaches a run first loads the run itself (runs are
//! loaded lazily), and when recovery gets to such a run it publishes the run's *current*
//! state, not the page's older copy. Publishing a task twice is harmless — a queued task is
//! only a reference, and polls skip entries their run no longer has. A page's copy can be
//! older than the store only if the run changed after the page was read without being loaded
//! (a delete); its next write then fails the version check and the run is read again.
//! Until the last page is
//! done the server never counts as idle, so a time-skipping clock does not jump past work it
//! has not seen yet, and the timer service and follow-up work wait for it (`lib.rs`,
//! `recover_then_catch_up`): work that came due while the server was down is then done in
//! one pass, in the same order in every process.

use std::sync::atomic::Ordering;
use std::time::Duration;

use temper_engine::Execution;

use super::{FollowUp, History};

/// Open runs read per page.
const RECOVERY_PAGE: usize = 1000;

/// How long to wait before reading a page again after the store failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl History {
    /// Recovers every open run of this node's shards in the store; returns how many there
    /// were.
    pub async fn recover(&self) -> usize {
        let recovered = self.recover_scope(self.shard_scope()).await;
        self.recovering.store(false, Ordering::Release);
        recovered
    }

    /// Recovers the open runs of `shards` (shards this node just took, in a spread cluster).
    pub(super) async fn recover_shards(&self, shards: Vec<i32>) -> usize {
        self.recover_scope(Some(shards)).await
    }

    /// Recovers the open runs of the shards in `scope` (every run's when `None`).
    async fn recover_scope(&self, scope: Option<Vec<i32>>) -> usize {
        let mut after = String::new();
        let mut recovered = 0;
        loop {
            // From before the page is read until it is published (see `recover_run`).
            let hold = self.runs.hold_evictions();
            let page = self
                .store
                .open_executions(scope.as_deref(), &after, RECOVERY_PAGE)
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "reading open runs failed; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            };
            let Some(last) = page.last() else {
                break;
            };
            after = last.run_id.clone();
            recovered += page.len();
            for exec in page {
                self.recover_run(exec).await;
            }
            drop(hold);
        }
        recovered
    }

    /// Publishes one open run's tasks, wake-up and follow-ups: from its cached state if a
    /// request loaded it after the page was read (evictions are held meanwhile, so such a run
    /// is still cached), else from the page's copy, which is then current. The page's copy
    /// is not cached: the run cache keeps what requests use, within its budget.
    async fn recover_run(&self, scanned: Execution) {
        let entry = self.entry(&scanned.run_id);
        let state = entry.state.lock().await;
        let exec = state.as_deref().unwrap_or(&scanned);
        // A shard given up while its page was read is the new owner's to recover.
        if exec.is_running() && self.check_owned(exec).is_ok() {
            self.publish(exec, exec.ready_tasks());
            for follow_up in recovery_follow_ups(exec) {
                self.follow_up(follow_up);
            }
        }
        drop(state);
        drop(entry);
        self.runs.release(&scanned.run_id);
    }
}

/// Work on other runs that an open run may still owe (a crash may have come between its
/// commit and that work).
pub(super) fn recovery_follow_ups(exec: &Execution) -> Vec<FollowUp> {
    let mut follow_ups = Vec::new();
    if !exec.children.is_empty() {
        follow_ups.push(FollowUp::SyncChildren {
            parent_run_id: exec.run_id.clone(),
        });
        follow_ups.push(FollowUp::AdoptChildren {
            parent_run_id: exec.run_id.clone(),
        });
    }
    if !exec.external_requests.is_empty() {
        follow_ups.push(FollowUp::DeliverExternal {
            source_run_id: exec.run_id.clone(),
        });
    }
    if exec
        .nexus_operations
        .values()
        .any(|op| op.handler_run.is_some())
    {
        follow_ups.push(FollowUp::SyncNexus {
            caller_run_id: exec.run_id.clone(),
        });
    }
    if let Some(parent) = exec
        .started
        .as_ref()
        .and_then(|s| s.parent_workflow_execution.as_ref())
    {
        follow_ups.push(FollowUp::ApplyParentClosePolicy {
            parent_run_id: parent.run_id.clone(),
        });
    }
    follow_ups
}

//! Refilling spilled task queues: a queue full of run tasks refuses more and counts them
//! (`matching`'s module doc); this offers them again once the queue has room, by reading the
//! open runs page by page in run-id order and queuing each run's ready tasks for that queue.
//!
//! A *pass* reads every open run once. It begins with the queue's spill count; a task refused
//! during the pass may belong to a run the pass has already read, so only a pass whose count
//! is unchanged at its end proves every task is in memory again (then the queue stops
//! spilling). A spilled queue knows which run tasks it holds and keeps each once, so a pass
//! that offers tasks already queued adds nothing; a task taken meanwhile and offered again is
//! skipped by the poll that takes it (its run no longer has it). Runs read from a page may be older than the store; a
//! task they lack was offered when it was committed, and a stale one is skipped at the poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use temper_engine::Execution;
use temper_engine::execution::ReadyTask;

use super::History;
use crate::matching::{QueueKind, SpilledQueue};

/// Open runs read per page.
const REFILL_PAGE: usize = 1000;

/// How long the refill sleeps when nothing woke it (a spill it was not told about, a pass
/// waiting for room).
const RECHECK: Duration = Duration::from_secs(1);

/// Where a refill pass over the open runs stands.
struct RefillPass {
    /// The last run id read.
    after: String,
    /// The queue's spill count when the pass began.
    spilled_at_start: u64,
}

type QueueKey = (String, String, QueueKind);

impl History {
    /// Runs forever: refills spilled queues that have room, a page of open runs at a time.
    pub async fn refill_spilled_queues(self: Arc<Self>) {
        let mut passes: HashMap<QueueKey, RefillPass> = HashMap::new();
        loop {
            let wanted = self.matching.spilled_with_room();
            if wanted.is_empty() {
                self.matching.refill_wanted(RECHECK).await;
                continue;
            }
            passes.retain(|key, _| self.matching.is_spilled(key));
            for queue in wanted {
                let key = (queue.namespace.clone(), queue.queue.clone(), queue.kind);
                let pass = passes.entry(key.clone()).or_insert_with(|| RefillPass {
                    after: String::new(),
                    spilled_at_start: queue.spilled,
                });
                if self.refill_page(&queue, pass).await {
                    passes.remove(&key);
                }
            }
        }
    }

    /// Offers the queue its tasks from the next page of open runs; true when the queue has
    /// every task in memory again.
    async fn refill_page(&self, queue: &SpilledQueue, pass: &mut RefillPass) -> bool {
        let scope = self.shard_scope();
        let page = self
            .store
            .open_executions(scope.as_deref(), &pass.after, REFILL_PAGE)
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading open runs to refill a task queue failed");
                tokio::time::sleep(RECHECK).await;
                return false;
            }
        };
        let Some(last) = page.last() else {
            return self.end_pass(queue, pass);
        };
        pass.after = last.run_id.clone();
        for exec in &page {
            self.refill_run(queue, exec);
        }
        false
    }

    /// At the end of the open runs: done, or a new pass from the first run.
    fn end_pass(&self, queue: &SpilledQueue, pass: &mut RefillPass) -> bool {
        let at_start = SpilledQueue {
            spilled: pass.spilled_at_start,
            ..queue.clone()
        };
        if self.matching.end_refill_pass(&at_start) {
            return true;
        }
        *pass = RefillPass {
            after: String::new(),
            spilled_at_start: queue.spilled,
        };
        false
    }

    /// Offers the run's ready tasks that belong on `queue`.
    fn refill_run(&self, queue: &SpilledQueue, exec: &Execution) {
        if exec.namespace != queue.namespace || !exec.is_running() {
            return;
        }
        for task in exec.ready_tasks() {
            let belongs = match (&task, queue.kind) {
                (ReadyTask::Workflow { task_queue, .. }, QueueKind::Workflow) => {
                    self.workflow_queue_for(exec, task_queue) == queue.queue
                }
                (ReadyTask::Activity { task_queue, .. }, QueueKind::Activity) => {
                    *task_queue == queue.queue
                }
                _ => false,
            };
            if belongs {
                self.offer_ready_task(exec, task);
            }
        }
    }
}

//! What a waiting poller receives, and a poller reserved for a task about to start for it.
//!
//! A poller waits on a one-shot channel. Usually it is sent a queued task, which the history
//! side then starts for it in a write of its own. When a task becomes ready while a poller
//! waits, the history side instead *reserves* the poller (takes it off the queue), starts the
//! task for it in the same write that made it ready, and hands it the started task once that
//! write is durable: one write fewer per task (Temporal's sync match, with the start folded
//! in). A reservation dropped without a hand-over (the write failed, or the task could not
//! start) tells the poller to poll again. A poller that left meanwhile misses its task, which
//! then times out and is retried, as a task whose poll response was lost does in Temporal.
//!
//! A queued task is never lost with its poll: a poll dropped (its client went away) with a
//! task sent but unread puts it back on its queue ([`PollerInbox`]), and so does a task a
//! poll took but whose start the poller's side had not settled ([`ClaimedTask`]). Putting
//! back a task that did start is harmless: the history side skips a stale entry.

use std::sync::Arc;

use temper_engine::{Execution, StartedTask};
use tokio::sync::oneshot;

use super::{Matching, QueueKey, QueuedTask, Route};

/// What a poll is handed.
#[derive(Debug)]
pub enum Handoff<'a> {
    /// A queued task, for the poller's side to start.
    Task(ClaimedTask<'a>),
    /// A task started for this poller in the write that made it ready.
    Started(SyncStarted),
}

/// A task started for a reserved poller, with its run's state after the start.
#[derive(Debug)]
pub struct SyncStarted {
    pub exec: Arc<Execution>,
    pub task: StartedTask,
}

/// What travels on a waiting poller's channel.
#[derive(Debug)]
pub(super) enum PollerMessage {
    /// A queued task, with the route it was queued on (to put it back on the same terms).
    Task(Route, QueuedTask),
    Started(SyncStarted),
    /// The poller was reserved and let go: it polls again.
    PollAgain,
}

/// A queued task a poll took. Dropped before [`ClaimedTask::settle`] (the poll's future was
/// dropped while the task was being started), it goes back on its queue.
pub struct ClaimedTask<'a> {
    matching: &'a Matching,
    key: QueueKey,
    route: Route,
    task: Option<QueuedTask>,
}

impl<'a> ClaimedTask<'a> {
    pub(super) fn new(
        matching: &'a Matching,
        key: QueueKey,
        route: Route,
        task: QueuedTask,
    ) -> Self {
        ClaimedTask {
            matching,
            key,
            route,
            task: Some(task),
        }
    }

    /// The task taken.
    pub fn task(&self) -> &QueuedTask {
        self.task
            .as_ref()
            .expect("a claimed task holds its task until settled or dropped")
    }

    /// The poller's side is done with the task (started it, found it stale, or handed it out).
    pub fn settle(mut self) -> QueuedTask {
        self.task
            .take()
            .expect("a claimed task holds its task until settled or dropped")
    }
}

impl std::fmt::Debug for ClaimedTask<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClaimedTask").field(&self.task).finish()
    }
}

impl Drop for ClaimedTask<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.matching.put_back(&self.key, self.route.clone(), task);
        }
    }
}

/// The receiving end of a waiting poller's channel. Dropped with a queued task sent but
/// unread (the poll's future was dropped), it puts the task back on its queue.
pub(super) struct PollerInbox<'a> {
    matching: &'a Matching,
    key: QueueKey,
    receiver: oneshot::Receiver<PollerMessage>,
}

impl<'a> PollerInbox<'a> {
    pub(super) fn new(
        matching: &'a Matching,
        key: QueueKey,
        receiver: oneshot::Receiver<PollerMessage>,
    ) -> Self {
        PollerInbox {
            matching,
            key,
            receiver,
        }
    }

    /// Waits until `deadline` for a message; `None` when the wait ends empty or the poller
    /// was dropped from its queue.
    pub(super) async fn receive(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<PollerMessage> {
        match tokio::time::timeout_at(deadline, &mut self.receiver).await {
            Ok(received) => received.ok(),
            // A message sent between the timeout and now must not be lost.
            Err(_) => self.close(),
        }
    }

    /// Stops the channel and takes what was sent before.
    fn close(&mut self) -> Option<PollerMessage> {
        self.receiver.close();
        self.receiver.try_recv().ok()
    }
}

impl Drop for PollerInbox<'_> {
    fn drop(&mut self) {
        match self.close() {
            Some(PollerMessage::Task(route, task)) => {
                self.matching.put_back(&self.key, route, task)
            }
            // Its write is durable: it times out as a lost poll response would.
            Some(PollerMessage::Started(started)) => {
                tracing::debug!(run_id = %started.exec.run_id, "poll left before its started task was read");
            }
            Some(PollerMessage::PollAgain) | None => {}
        }
    }
}

/// A waiting poller taken off its queue for a task about to start for it.
#[derive(Debug)]
pub struct ReservedPoller {
    identity: String,
    sender: Option<oneshot::Sender<PollerMessage>>,
}

impl ReservedPoller {
    pub(super) fn new(identity: String, sender: oneshot::Sender<PollerMessage>) -> Self {
        ReservedPoller {
            identity,
            sender: Some(sender),
        }
    }

    /// The identity the poller gave (the started event records it).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Hands the poller its started task; false when the poller is gone.
    pub fn deliver(mut self, started: SyncStarted) -> bool {
        self.sender
            .take()
            .is_some_and(|sender| sender.send(PollerMessage::Started(started)).is_ok())
    }
}

impl Drop for ReservedPoller {
    /// Not handed a task: the poller goes back to polling.
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(PollerMessage::PollAgain);
        }
    }
}

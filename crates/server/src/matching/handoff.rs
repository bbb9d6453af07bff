//! What a waiting poller receives, and a poller reserved for a task about to start for it.
//!
//! A poller waits on a one-shot channel. Usually it is sent a queued task, which the history
//! side then starts for it in a write of its own. When a task becomes ready while a poller
//! waits, the history side instead *reserves* the poller (takes it off the queue), starts the
//! task for it in the same write that made the task ready, and hands it the started task once
//! that write is durable: one write fewer per task (Temporal's sync match, with the start folded
//! in). A reservation dropped without a hand-over (the write failed, or the task could not
//! start) tells the poller to poll again. A poller that left meanwhile misses its task, which
//! then times out and is retried, as a task whose poll response was lost does in Temporal.

use std::sync::Arc;

use temper_engine::{Execution, StartedTask};
use tokio::sync::oneshot;

use super::QueuedTask;

/// What a poll is handed.
#[derive(Debug)]
pub enum Handoff {
    /// A queued task, for the poller's side to start.
    Task(QueuedTask),
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
    Handoff(Handoff),
    /// The poller was reserved and let go: it polls again.
    PollAgain,
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
        self.sender.take().is_some_and(|sender| {
            sender
                .send(PollerMessage::Handoff(Handoff::Started(started)))
                .is_ok()
        })
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

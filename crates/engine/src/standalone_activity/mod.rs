//! Standalone activities: an activity a client starts without a workflow (Temporal's
//! `*ActivityExecution*` RPCs), as one pure state machine per activity run.
//!
//! An [`ActivityRun`] holds what the client asked for and, in an [`ActivityInfo`], the same
//! attempt state a workflow's activity has, so attempts, heartbeats, server-side retries and the
//! four timeouts follow exactly the rules of `execution/activities.rs` (`retry::decide`,
//! `activity_deadlines`). There is no history: each transition changes the run in place and says
//! what the server must do next ([`Effects`]: an attempt to dispatch). Time and ids are inputs;
//! nothing here does I/O. One file per request family: `start.rs` (validation and defaults),
//! `attempts.rs` (what workers report and the timeouts), `requests.rs` (cancel, terminate).

mod attempts;
mod requests;
mod start;

#[cfg(test)]
mod tests;

use temper_api::proto::activity::v1::ActivityExecutionOutcome;
use temper_api::proto::activity::v1::activity_execution_outcome::Value as OutcomeValue;
use temper_api::proto::common::v1::{Link, Priority, SearchAttributes};
use temper_api::proto::enums::v1::{ActivityExecutionStatus, PendingActivityState, RetryState};
use temper_api::proto::sdk::v1::UserMetadata;

use crate::state::ActivityInfo;

pub use attempts::AttemptError;
pub use requests::RequestError;
pub use start::{StartError, StartRequest};

/// One run of a standalone activity, as stored (written whole after every change).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityRun {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub activity_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// The attempt state, shared with workflow activities (`scheduled_event_id` is 0).
    #[prost(message, optional, tag = "4")]
    pub activity: Option<ActivityInfo>,
    #[prost(enumeration = "ActivityExecutionStatus", tag = "5")]
    pub status: i32,
    /// The start's request id: a retried start returns this run.
    #[prost(string, tag = "6")]
    pub request_id: String,
    #[prost(message, optional, tag = "7")]
    pub search_attributes: Option<SearchAttributes>,
    #[prost(message, optional, tag = "8")]
    pub user_metadata: Option<UserMetadata>,
    #[prost(message, optional, tag = "9")]
    pub priority: Option<Priority>,
    #[prost(message, optional, tag = "10")]
    pub outcome: Option<ActivityExecutionOutcome>,
    #[prost(int64, tag = "11")]
    pub close_time_ms: i64,
    /// The reason of the cancellation request, once one came.
    #[prost(string, tag = "12")]
    pub canceled_reason: String,
    #[prost(string, tag = "13")]
    pub cancel_request_id: String,
    #[prost(int64, tag = "14")]
    pub state_transition_count: i64,
    /// The store's version of this record (optimistic concurrency).
    #[prost(int64, tag = "15")]
    pub version: i64,
    #[prost(message, repeated, tag = "16")]
    pub links: Vec<Link>,
    #[prost(int64, tag = "17")]
    pub start_delay_ms: i64,
    #[prost(int64, tag = "18")]
    pub total_heartbeat_count: i64,
    #[prost(string, tag = "19")]
    pub identity: String,
    #[prost(string, tag = "20")]
    pub terminate_request_id: String,
    /// Who asked to cancel: the canceled outcome names them.
    #[prost(string, tag = "21")]
    pub cancel_identity: String,
}

/// What the server must do after a transition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// Offer this attempt to the activity's task queue.
    pub dispatch: Option<i32>,
}

impl Effects {
    fn dispatch(attempt: i32) -> Effects {
        Effects {
            dispatch: Some(attempt),
        }
    }
}

impl ActivityRun {
    /// The attempt state (present in every run [`ActivityRun::start`] made).
    pub fn activity(&self) -> &ActivityInfo {
        static EMPTY: std::sync::LazyLock<ActivityInfo> =
            std::sync::LazyLock::new(Default::default);
        self.activity.as_ref().unwrap_or(&EMPTY)
    }

    fn activity_mut(&mut self) -> &mut ActivityInfo {
        self.activity.get_or_insert_with(Default::default)
    }

    pub fn is_running(&self) -> bool {
        self.status() == ActivityExecutionStatus::Running
    }

    /// Where the running activity is, as Describe reports it (unspecified once closed).
    pub fn run_state(&self) -> PendingActivityState {
        let activity = self.activity();
        if !self.is_running() {
            PendingActivityState::Unspecified
        } else if activity.paused {
            PendingActivityState::Paused
        } else if activity.cancel_requested {
            PendingActivityState::CancelRequested
        } else if activity.started_time_ms > 0 {
            PendingActivityState::Started
        } else {
            PendingActivityState::Scheduled
        }
    }

    /// When the server must next look at this run (a timeout, a retry or the start delay).
    pub fn next_wakeup(&self) -> Option<i64> {
        if !self.is_running() {
            return None;
        }
        let activity = self.activity();
        let retry = (activity.retry_ready_time_ms > 0).then_some(activity.retry_ready_time_ms);
        crate::execution::activity_deadlines(activity)
            .into_iter()
            .map(|(at, _)| at)
            .chain(retry)
            .min()
    }

    /// The attempt waiting for a worker, if one may be dispatched now (start-up re-offers it).
    pub fn dispatchable_attempt(&self) -> Option<i32> {
        let activity = self.activity();
        let waiting = self.is_running()
            && activity.started_time_ms == 0
            && activity.retry_ready_time_ms == 0
            && !activity.paused;
        waiting.then_some(activity.attempt)
    }

    /// Closes the run with `status` and its outcome.
    fn close(
        &mut self,
        status: ActivityExecutionStatus,
        value: OutcomeValue,
        retry_state: RetryState,
        now: i64,
    ) {
        debug_assert!(self.is_running(), "closing a closed activity run");
        self.status = status as i32;
        self.outcome = Some(ActivityExecutionOutcome {
            value: Some(value),
            retry_state: retry_state as i32,
        });
        self.close_time_ms = now;
        self.activity_mut().retry_ready_time_ms = 0;
    }

    fn transitioned(&mut self) {
        self.state_transition_count += 1;
    }
}

//! `temper-engine` is the pure, deterministic heart of Temper: the per-execution state machine.
//!
//! It owns the persisted shape of one workflow run ([`state::Execution`]) and every transition
//! on it: starting a run, handing out and completing workflow tasks (commands → history events),
//! activity attempts with server-side retries and the four activity timeouts, timers, signals,
//! cancellation, termination and workflow timeouts. A transition takes the current time (and the
//! ids of runs it starts) as inputs, performs no I/O, and returns the new history events plus the
//! tasks that became ready; the server persists events and state in one atomic write and then
//! dispatches the tasks. Every event changes state through one function,
//! `Execution::apply_event` (`execution/apply.rs`), for live transitions and rebuilds alike, and
//! the state's invariants are asserted after every transition in debug builds. `execution/`
//! is laid out by concern: one module per command family, plus the workflow-task lifecycle,
//! validation, chaining, timeouts and reset.

pub mod cron;
pub mod execution;
pub mod limits;
pub mod retry;
pub mod standalone_activity;
pub mod state;
pub mod time;

pub use execution::{
    ActivityTaskGrant, Completed, CompletionError, HistoryLimits, NewRun, ReadyTask, StartedTask,
    Transition, TransitionOutput, WorkflowTaskGrant,
};
pub use state::Execution;

#[cfg(test)]
mod tests;

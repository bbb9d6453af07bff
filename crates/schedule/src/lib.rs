//! `temper-schedule` owns what a schedule *means*, as pure functions of their inputs: the
//! spec language (intervals with phase, structured and text calendars, cron strings in every
//! form Temporal accepts, exclusions, start/end bounds, time zones, jitter), its canonical
//! form, and the next action times, all computed exactly as Temporal's scheduler computes
//! them so that a schedule fires at the same instants on Temper. It reads no clock and does
//! no I/O; the server (`temper-server`'s `schedules` module) stores schedules and acts on the
//! times computed here.

mod calendar;
mod cron;
mod duration;
mod jitter;
mod overlap;
mod ranges;
mod spec;
mod zone;

pub use overlap::{OverlapDecision, decide};
pub use spec::{CompiledSpec, NextTime, TOO_MANY_EXCLUSIONS, fill_range_defaults};

#[cfg(test)]
mod tests;

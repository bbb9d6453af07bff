//! What a schedule does with its buffered starts given whether one of its workflows is still
//! running: Temporal's overlap policies (SKIP, BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER,
//! TERMINATE_OTHER, ALLOW_ALL), decided in one pass over the buffer in order.

use temper_api::proto::enums::v1::ScheduleOverlapPolicy as Policy;

/// The decision for one pass over the buffer (items are the caller's buffered starts).
#[derive(Debug, PartialEq)]
pub struct OverlapDecision<T> {
    /// Start now, alongside whatever runs (ALLOW_ALL).
    pub overlapping: Vec<T>,
    /// Start now as the schedule's one tracked workflow.
    pub next: Option<T>,
    /// Keep for later.
    pub buffer: Vec<T>,
    pub cancel_running: bool,
    pub terminate_running: bool,
    /// Starts dropped by SKIP or BUFFER_ONE.
    pub skipped: i64,
}

/// Decides a pass; `policy_of` gives an item's policy with defaults resolved.
pub fn decide<T>(
    buffer: Vec<T>,
    running: bool,
    policy_of: impl Fn(&T) -> Policy,
) -> OverlapDecision<T> {
    let mut decision = OverlapDecision {
        overlapping: Vec::new(),
        next: None,
        buffer: Vec::new(),
        cancel_running: false,
        terminate_running: false,
        skipped: 0,
    };
    for start in buffer {
        let policy = policy_of(&start);
        if policy == Policy::AllowAll {
            decision.overlapping.push(start);
            continue;
        }
        if !running && decision.next.is_none() {
            decision.next = Some(start);
            continue;
        }
        match policy {
            Policy::BufferOne if decision.buffer.is_empty() => decision.buffer.push(start),
            Policy::BufferAll => decision.buffer.push(start),
            Policy::CancelOther if running => {
                decision.cancel_running = true;
                decision.buffer.push(start);
            }
            Policy::TerminateOther if running => {
                decision.terminate_running = true;
                decision.buffer.push(start);
            }
            Policy::CancelOther | Policy::TerminateOther => decision.next = Some(start),
            _ => decision.skipped += 1,
        }
    }
    if decision.cancel_running || decision.terminate_running {
        decision.overlapping.clear();
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: Policy, starts: usize, running: bool) -> OverlapDecision<usize> {
        decide((0..starts).collect(), running, |_| policy)
    }

    #[test]
    fn skip_drops_while_running() {
        let decision = run(Policy::Skip, 2, true);
        assert_eq!((decision.next, decision.skipped), (None, 2));
        let decision = run(Policy::Skip, 2, false);
        assert_eq!((decision.next, decision.skipped), (Some(0), 1));
    }

    #[test]
    fn buffers_keep_one_or_all() {
        assert_eq!(run(Policy::BufferOne, 3, true).buffer, vec![0]);
        assert_eq!(run(Policy::BufferOne, 3, true).skipped, 2);
        assert_eq!(run(Policy::BufferAll, 3, true).buffer, vec![0, 1, 2]);
    }

    #[test]
    fn cancel_and_terminate_stop_the_running_one() {
        let decision = run(Policy::TerminateOther, 1, true);
        assert!(decision.terminate_running);
        assert_eq!(decision.buffer, vec![0]);
        assert!(run(Policy::CancelOther, 1, true).cancel_running);
    }

    #[test]
    fn allow_all_starts_everything() {
        assert_eq!(run(Policy::AllowAll, 3, true).overlapping, vec![0, 1, 2]);
    }
}

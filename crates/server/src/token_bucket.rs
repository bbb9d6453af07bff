//! A token bucket: refilled at a rate per second, holding up to a burst of tokens. Task
//! queue dispatch limits (`UpdateTaskQueueConfig`: a burst of one second's worth, so a queue
//! limited to N per second starts at most N at once; a rate of 0 stops dispatch) and namespace
//! request limits (`frontend.namespaceRPS`) both use it.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    per_second: f64,
    /// How many tokens the bucket holds at most (0: one second's worth, at least one).
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_second: f64) -> RateLimit {
        let mut limit = RateLimit {
            per_second: 0.0,
            burst: 0.0,
            tokens: 0.0,
            refilled_at: Instant::now(),
        };
        limit.set_rate(per_second);
        limit.tokens = limit.per_second.ceil();
        limit
    }

    /// A bucket of `per_second` holding up to `burst` tokens, full to start with.
    pub(crate) fn with_burst(per_second: f64, burst: f64) -> RateLimit {
        let mut limit = RateLimit::new(per_second);
        limit.burst = burst.max(1.0);
        limit.tokens = limit.burst;
        limit
    }

    fn capacity(&self) -> f64 {
        if self.burst > 0.0 {
            self.burst
        } else {
            self.per_second.ceil().max(1.0)
        }
    }

    pub(crate) fn set_rate(&mut self, per_second: f64) {
        self.refill(Instant::now());
        self.per_second = per_second.max(0.0);
        self.tokens = self.tokens.min(self.capacity());
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity());
        self.refilled_at = now;
    }

    /// Whether a task may be dispatched now (without taking the token).
    pub(crate) fn has_token(&mut self) -> bool {
        self.refill(Instant::now());
        self.tokens >= 1.0
    }

    pub(crate) fn take(&mut self) {
        debug_assert!(self.tokens >= 1.0, "dispatching without a token");
        self.tokens -= 1.0;
    }

    /// How long until the next token (`None`: never, at a rate of 0).
    pub(crate) fn until_next_token(&self) -> Option<Duration> {
        if self.per_second <= 0.0 {
            return None;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        Some(Duration::from_secs_f64(missing / self.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_a_seconds_worth_then_refills_at_the_rate() {
        let mut limit = RateLimit::new(2.0);
        for _ in 0..2 {
            assert!(limit.has_token());
            limit.take();
        }
        assert!(!limit.has_token());
        let wait = limit.until_next_token().unwrap();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
    }

    #[test]
    fn a_rate_of_zero_never_dispatches() {
        let mut limit = RateLimit::new(0.0);
        assert!(!limit.has_token());
        assert_eq!(limit.until_next_token(), None);
    }
}

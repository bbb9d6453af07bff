//! Where server time comes from. Every instant the server produces reads a [`Clock`], so the
//! time-skipping [`VirtualClock`] replaces the system one without touching the engine.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// True for a clock that jumps ahead when the server is idle (time skipping).
    fn skips(&self) -> bool {
        false
    }
}

/// The system's wall clock, in ms since the epoch.
pub(crate) fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        real_now_ms()
    }
}

/// Real time plus an offset that only grows: time runs at real pace and can jump forward.
///
/// Jumps are allowed only while time skipping is unlocked (lock count 0). The count starts at
/// 1, as in Temporal's Java test server: clients unlock it while they wait for results.
pub struct VirtualClock {
    offset_ms: AtomicI64,
    locks: Mutex<i64>,
}

impl VirtualClock {
    pub fn new(offset_ms: i64) -> Self {
        VirtualClock {
            offset_ms: AtomicI64::new(offset_ms),
            locks: Mutex::new(1),
        }
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves time forward to `target_ms` (never backwards). Returns the new offset.
    pub fn advance_to(&self, target_ms: i64) -> i64 {
        let jump = (target_ms - self.now_ms()).max(0);
        self.offset_ms.fetch_add(jump, Ordering::SeqCst) + jump
    }

    pub fn lock(&self) {
        *self.locks.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// Fails when time skipping is already unlocked.
    pub fn unlock(&self) -> Result<(), String> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if *locks == 0 {
            return Err("time skipping is already unlocked".into());
        }
        *locks -= 1;
        Ok(())
    }

    pub fn is_unlocked(&self) -> bool {
        *self.locks.lock().unwrap_or_else(|e| e.into_inner()) == 0
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> i64 {
        real_now_ms() + self.offset_ms()
    }

    fn skips(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_only_moves_forward_and_counts_locks() {
        let clock = VirtualClock::new(0);
        let before = clock.now_ms();
        clock.advance_to(before + 86_400_000);
        assert!(clock.now_ms() >= before + 86_400_000);
        let offset = clock.offset_ms();
        clock.advance_to(before);
        assert_eq!(clock.offset_ms(), offset, "never backwards");
        assert!(!clock.is_unlocked(), "starts locked");
        clock.unlock().expect("unlock");
        assert!(clock.is_unlocked());
        assert!(clock.unlock().is_err());
        clock.lock();
        assert!(!clock.is_unlocked());
    }
}

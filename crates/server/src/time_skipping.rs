//! Time skipping: the `TestService` of Temporal's Java test server, over the same engine.
//!
//! While skipping is unlocked and no workflow or activity task is outstanding (nothing a worker
//! could be doing, no timer being processed), the [`TimeSkipper`] jumps the [`VirtualClock`] to
//! the next deadline: the earliest timer-queue entry or a pending `Sleep` target. Every
//! timestamp, timer, timeout and backoff reads that clock, so nothing else changes. The offset
//! is persisted, so a restarted server keeps its virtual time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use temper_api::proto::testservice::v1::{
    GetCurrentTimeResponse, LockTimeSkippingRequest, LockTimeSkippingResponse, SleepRequest,
    SleepResponse, SleepUntilRequest, UnlockTimeSkippingRequest, UnlockTimeSkippingResponse,
};
use temper_api::testservice::test_service_server::TestService;
use temper_engine::time::{duration_ms, ms_timestamp, timestamp_ms};
use temper_store::Store;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::clock::{Clock, VirtualClock};
use crate::history::History;
use crate::timers::TimerQueue;

/// How often the skipper re-checks when nothing woke it.
const CHECK_INTERVAL: Duration = Duration::from_millis(20);

pub struct TimeSkipper {
    clock: Arc<VirtualClock>,
    timers: Arc<TimerQueue>,
    history: Arc<History>,
    store: Arc<dyn Store>,
    /// Targets of pending `Sleep` calls (instant → number of sleepers).
    sleep_targets: Mutex<BTreeMap<i64, usize>>,
    wake: Notify,
}

impl TimeSkipper {
    pub fn new(
        clock: Arc<VirtualClock>,
        timers: Arc<TimerQueue>,
        history: Arc<History>,
        store: Arc<dyn Store>,
    ) -> Self {
        TimeSkipper {
            clock,
            timers,
            history,
            store,
            sleep_targets: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        }
    }

    /// The next instant time could jump to, if skipping is possible now.
    fn skip_target(&self) -> Option<i64> {
        if !self.clock.is_unlocked() || !self.timers.is_quiet() || !self.history.is_idle() {
            return None;
        }
        let next_sleep = self
            .sleep_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .next()
            .copied();
        let next = match (self.timers.next_at(), next_sleep) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        (next > self.clock.now_ms()).then_some(next)
    }

    /// Runs forever, skipping time whenever the server is idle.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Some(target) = self.skip_target() {
                let offset = self.clock.advance_to(target);
                if let Err(e) = self.store.save_clock_offset(offset).await {
                    tracing::warn!(error = %e, "could not persist the virtual clock");
                }
                tracing::debug!(target, offset, "skipped time");
                self.timers.wake();
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(CHECK_INTERVAL) => {}
            }
        }
    }

    /// Waits until virtual time reaches `target_ms`; idle time may be skipped meanwhile. The
    /// returned guard keeps the target registered, so the skipper cannot jump past it until
    /// the caller is done (see `unlock_time_skipping_with_sleep`, which locks first).
    async fn sleep_until(&self, target_ms: i64) -> SleepTarget<'_> {
        *self
            .sleep_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target_ms)
            .or_default() += 1;
        let target = SleepTarget {
            skipper: self,
            target_ms,
        };
        self.wake.notify_one();
        while self.clock.now_ms() < target_ms {
            let real_wait =
                (target_ms - self.clock.now_ms()).clamp(1, CHECK_INTERVAL.as_millis() as i64);
            tokio::time::sleep(Duration::from_millis(real_wait as u64)).await;
        }
        target
    }

    fn unlock(&self) -> Result<(), Status> {
        self.clock.unlock().map_err(Status::failed_precondition)?;
        self.wake.notify_one();
        Ok(())
    }
}

/// A registered `Sleep` target: the skipper stops at it while this lives. Dropping it (also
/// when the request is cancelled) unregisters the target.
struct SleepTarget<'a> {
    skipper: &'a TimeSkipper,
    target_ms: i64,
}

impl Drop for SleepTarget<'_> {
    fn drop(&mut self) {
        let mut targets = self
            .skipper
            .sleep_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = targets.get_mut(&self.target_ms) {
            *count -= 1;
            if *count == 0 {
                targets.remove(&self.target_ms);
            }
        }
    }
}

/// `temporal.api.testservice.v1.TestService`.
pub struct TestServiceHandler {
    skipper: Arc<TimeSkipper>,
}

impl TestServiceHandler {
    pub fn new(skipper: Arc<TimeSkipper>) -> Self {
        TestServiceHandler { skipper }
    }
}

#[tonic::async_trait]
impl TestService for TestServiceHandler {
    async fn lock_time_skipping(
        &self,
        _request: Request<LockTimeSkippingRequest>,
    ) -> Result<Response<LockTimeSkippingResponse>, Status> {
        self.skipper.clock.lock();
        Ok(Response::new(LockTimeSkippingResponse {}))
    }

    async fn unlock_time_skipping(
        &self,
        _request: Request<UnlockTimeSkippingRequest>,
    ) -> Result<Response<UnlockTimeSkippingResponse>, Status> {
        self.skipper.unlock()?;
        Ok(Response::new(UnlockTimeSkippingResponse {}))
    }

    async fn sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let duration = duration_ms(request.into_inner().duration.as_ref());
        self.skipper
            .sleep_until(self.skipper.clock.now_ms() + duration)
            .await;
        Ok(Response::new(SleepResponse {}))
    }

    async fn sleep_until(
        &self,
        request: Request<SleepUntilRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let target = timestamp_ms(request.into_inner().timestamp.as_ref());
        self.skipper.sleep_until(target).await;
        Ok(Response::new(SleepResponse {}))
    }

    async fn unlock_time_skipping_with_sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let duration = duration_ms(request.into_inner().duration.as_ref());
        let target = self.skipper.clock.now_ms() + duration;
        self.skipper.unlock()?;
        let reached = self.skipper.sleep_until(target).await;
        // Lock before the target is released: in between, an unlocked skipper could jump
        // past it to the next timer (a schedule fired one hour too many that way).
        self.skipper.clock.lock();
        drop(reached);
        Ok(Response::new(SleepResponse {}))
    }

    async fn get_current_time(
        &self,
        _request: Request<()>,
    ) -> Result<Response<GetCurrentTimeResponse>, Status> {
        Ok(Response::new(GetCurrentTimeResponse {
            time: ms_timestamp(self.skipper.clock.now_ms()),
        }))
    }
}

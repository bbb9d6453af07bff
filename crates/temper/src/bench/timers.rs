//! `timers`: N workflows, each starting one 1-second timer. Raw gRPC pollers answer a
//! workflow's first task with a StartTimer command and its second (the one holding
//! TimerFired) by completing the workflow. Two lateness figures: *fire* lateness is the
//! TimerFired event's time minus (the TimerStarted event's time + 1 s), both from the history
//! the worker receives — how late the server's timer service fired; *delivery* lateness is the
//! instant the TimerFired task reached the poller minus (the instant the
//! `RespondWorkflowTaskCompleted` that started it returned + 1 s), which adds the workflow
//! task's queueing and dispatch (and so grows once the pollers cannot keep up). Starts
//! run at most `--concurrency` calls at once, with no limit on open timers. Prints p50, p99
//! and max lateness and the server's CPU seconds per 1,000 timers (the whole run: starts,
//! tasks and timers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use temper_api::proto::enums::v1::EventType;
use temper_api::proto::workflowservice::v1::PollWorkflowTaskQueueResponse;

use crate::grpc::{self, Client};
use crate::server::Server;
use crate::{Error, Figure, Report, Shared, cpu_delta, mib, per_thousand, secs};

/// Every timer's duration.
const TIMER: Duration = Duration::from_secs(1);

#[derive(clap::Args, Clone)]
pub struct Options {
    /// Number of workflows (one timer each).
    #[arg(long, default_value_t = 10_000)]
    pub timers: usize,
    /// Start calls in flight at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Workflow task pollers.
    #[arg(long, default_value_t = 16)]
    pub pollers: usize,
}

/// What the pollers share.
#[derive(Clone)]
struct Timers {
    client: Client,
    task_queue: String,
    /// When each workflow's timer was started (its StartTimer completion returned).
    armed: Arc<Mutex<HashMap<String, Instant>>>,
    /// Delivery lateness of each fired timer, in milliseconds (negative if seen early).
    lateness: Arc<Mutex<Vec<f64>>>,
    /// Fire lateness of each timer from its events' times, in milliseconds.
    fire_lateness: Arc<Mutex<Vec<f64>>>,
    remaining: Arc<AtomicUsize>,
}

pub struct TimersReport {
    timers: usize,
    elapsed: Duration,
    /// Delivery lateness, sorted, in milliseconds.
    lateness: Vec<f64>,
    /// Fire lateness, sorted, in milliseconds.
    fire_lateness: Vec<f64>,
    cpu: Option<f64>,
    rss: Option<u64>,
}

/// The `p` quantile of sorted values.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round().max(0.0) as usize;
    sorted.get(index).copied().unwrap_or_default()
}

impl TimersReport {
    fn quantile(&self, p: f64) -> f64 {
        quantile(&self.lateness, p)
    }

    fn fire_quantile(&self, p: f64) -> f64 {
        quantile(&self.fire_lateness, p)
    }

    fn cpu_per_thousand(&self) -> Option<f64> {
        per_thousand(self.cpu, self.timers)
    }
}

impl Report for TimersReport {
    fn lines(&self) -> Vec<String> {
        vec![format!(
            "{} timers of 1 s in {:.2} s; fire lateness p50 {:.1} ms p99 {:.1} ms max {:.1} ms; \
             delivery lateness p50 {:.1} ms p99 {:.1} ms max {:.1} ms; \
             server CPU {} per 1000 timers; RSS {}",
            self.lateness.len(),
            self.elapsed.as_secs_f64(),
            self.fire_quantile(0.50),
            self.fire_quantile(0.99),
            self.fire_quantile(1.0),
            self.quantile(0.50),
            self.quantile(0.99),
            self.quantile(1.0),
            secs(self.cpu_per_thousand()),
            mib(self.rss),
        )]
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::lower("p99 fire lateness", self.fire_quantile(0.99)),
            Figure::lower("p50 delivery lateness", self.quantile(0.50)),
            Figure::lower("p99 delivery lateness", self.quantile(0.99)),
            Figure::lower("CPU per 1000 timers", self.cpu_per_thousand()),
        ]
    }
}

pub async fn run(
    server: &Server,
    options: &Options,
    shared: &Shared,
) -> Result<TimersReport, Error> {
    let client = Client::connect(&server.address, 4, shared.gzip).await?;
    let timers = Timers {
        client,
        task_queue: format!("bench-{}", uuid::Uuid::new_v4()),
        armed: Arc::default(),
        lateness: Arc::default(),
        fire_lateness: Arc::default(),
        remaining: Arc::new(AtomicUsize::new(options.timers)),
    };
    let pollers: Vec<_> = (0..options.pollers.max(1))
        .map(|_| tokio::spawn(poller(timers.clone())))
        .collect();
    let cpu_before = server.cpu_seconds();
    let begin = Instant::now();
    let (client, task_queue, count, concurrency) = (
        timers.client.clone(),
        timers.task_queue.clone(),
        options.timers,
        options.concurrency,
    );
    let starter = tokio::spawn(async move {
        crate::starts::start_many(&client, &task_queue, count, concurrency).await
    });
    let finished = crate::wait_for_zero(&timers.remaining, Duration::from_secs(60)).await;
    let elapsed = begin.elapsed();
    let cpu = cpu_delta(cpu_before, server.cpu_seconds());
    for poller in pollers {
        poller.abort();
    }
    if let Err(e) = finished {
        starter.abort();
        return Err(e);
    }
    let batch = starter.await?;
    if batch.failed > 0 {
        return Err(format!("starts failed{}", batch.problems()).into());
    }
    Ok(TimersReport {
        timers: options.timers,
        elapsed,
        lateness: sorted(&timers.lateness),
        fire_lateness: sorted(&timers.fire_lateness),
        cpu,
        rss: server.rss_bytes(),
    })
}

fn sorted(values: &Mutex<Vec<f64>>) -> Vec<f64> {
    let mut values = values.lock().map(|v| v.clone()).unwrap_or_default();
    values.sort_by(f64::total_cmp);
    values
}

/// How late the timer fired by its history: TimerFired's time − (TimerStarted's time + 1 s).
fn fire_lateness_ms(task: &PollWorkflowTaskQueueResponse) -> Option<f64> {
    let events = &task.history.as_ref()?.events;
    let time_of = |kind: EventType| {
        let event = events.iter().find(|e| e.event_type == kind as i32)?;
        let at = event.event_time.as_ref()?;
        Some(at.seconds as f64 * 1000.0 + f64::from(at.nanos) / 1e6)
    };
    let started = time_of(EventType::TimerStarted)?;
    let fired = time_of(EventType::TimerFired)?;
    Some(fired - started - TIMER.as_secs_f64() * 1000.0)
}

/// Starts each workflow's timer, and completes the workflow once it fired.
async fn poller(timers: Timers) {
    while timers.remaining.load(Ordering::SeqCst) > 0 {
        let Some(task) = timers
            .client
            .poll_workflow_task(grpc::queue(&timers.task_queue))
            .await
        else {
            continue;
        };
        let received = Instant::now();
        let id = grpc::workflow_id(&task);
        if grpc::has_event(&task, EventType::TimerFired) {
            if let Some(late) = fire_lateness_ms(&task) {
                timers.fire_lateness.lock().map(|mut l| l.push(late)).ok();
            }
            let armed = timers.armed.lock().ok().and_then(|mut a| a.remove(&id));
            let completed = timers
                .client
                .complete_workflow_task(task.task_token, vec![grpc::complete_workflow()], None)
                .await;
            if completed.is_ok() {
                if let Some(armed) = armed {
                    let late = signed_ms(received, armed + TIMER);
                    timers.lateness.lock().map(|mut l| l.push(late)).ok();
                }
                crate::count_down(&timers.remaining);
            }
        } else {
            let started = timers
                .client
                .complete_workflow_task(
                    task.task_token,
                    vec![grpc::start_timer("t", TIMER.as_secs() as i64)],
                    None,
                )
                .await;
            if started.is_ok() {
                timers
                    .armed
                    .lock()
                    .map(|mut a| a.insert(id, Instant::now()))
                    .ok();
            }
        }
    }
}

/// `at - due` in milliseconds, negative when `at` came first.
fn signed_ms(at: Instant, due: Instant) -> f64 {
    match at.checked_duration_since(due) {
        Some(late) => late.as_secs_f64() * 1000.0,
        None => -(due - at).as_secs_f64() * 1000.0,
    }
}

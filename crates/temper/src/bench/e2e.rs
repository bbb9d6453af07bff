//! `e2e`: N workflows of one activity each, end to end. Raw gRPC pollers play the worker: the
//! first workflow task schedules the activity, an activity poller completes it, the second
//! workflow task completes the workflow. At most `--concurrency` workflows are open at once; a
//! new one starts when one completes. Prints workflows per second, the p50/p99 latency from
//! the start call to the completing `RespondWorkflowTaskCompleted`, the server's CPU seconds
//! per 1,000 workflows (the change of its `/proc` CPU time across the load) and its RSS after
//! the load; then times visibility queries over the completed runs (see `visibility`).
//!
//! `e2e --concurrency 1 --workflows 500` is the latency scenario (reported as `e2e-latency`):
//! one workflow at a time, so each latency is the server's own round trips, without queueing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use temper_api::proto::enums::v1::{CommandType, EventType};
use temper_api::proto::workflowservice::v1::PollWorkflowTaskQueueResponse;
use tokio::sync::{Semaphore, oneshot};

use crate::grpc::{self, Client};
use crate::server::Server;
use crate::visibility::QueryTimes;
use crate::{Error, Figure, Report, Shared, cpu_delta, mib, ms, per_thousand, percentile, secs};

#[derive(clap::Args, Clone)]
pub struct Options {
    /// Number of workflows to run.
    #[arg(long, default_value_t = 2000)]
    pub workflows: usize,
    /// Workflows open at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Pollers per task type.
    #[arg(long, default_value_t = 8)]
    pub pollers: usize,
}

/// Start instant of each running workflow, and who to tell when it completes.
type InFlight = Arc<Mutex<HashMap<String, (Instant, oneshot::Sender<()>)>>>;

/// What the pollers and starters share.
#[derive(Clone)]
struct Load {
    client: Client,
    task_queue: String,
    in_flight: InFlight,
    latencies: Arc<Mutex<Vec<Duration>>>,
    remaining: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl Load {
    /// One workflow fewer to wait for.
    fn finish(&self) {
        crate::count_down(&self.remaining);
    }
}

pub struct E2eReport {
    workflows: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu: Option<f64>,
    rss: Option<u64>,
    visibility: Vec<QueryTimes>,
}

impl E2eReport {
    fn throughput(&self) -> f64 {
        self.workflows as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_per_thousand(&self) -> Option<f64> {
        per_thousand(self.cpu, self.workflows)
    }
}

impl Report for E2eReport {
    fn lines(&self) -> Vec<String> {
        let failed = match self.failed {
            0 => String::new(),
            n => format!(" ({n} failed to start)"),
        };
        let mut lines = vec![format!(
            "{} workflows{failed} in {:.2} s = {:.1} workflows/s; p50 {:.1} ms p99 {:.1} ms; \
             server CPU {} per 1000 workflows; RSS {}",
            self.workflows,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            secs(self.cpu_per_thousand()),
            mib(self.rss),
        )];
        lines.extend(self.visibility.iter().map(QueryTimes::line));
        lines
    }

    fn figures(&self) -> Vec<Figure> {
        let mut figures = vec![
            Figure::higher("throughput", self.throughput()),
            Figure::lower("p50 latency", ms(percentile(&self.latencies, 0.50))),
            Figure::lower("p99 latency", ms(percentile(&self.latencies, 0.99))),
            Figure::lower("CPU per 1000 workflows", self.cpu_per_thousand()),
            Figure::lower("RSS", self.rss.map(|b| b as f64)),
        ];
        figures.extend(self.visibility.iter().map(QueryTimes::figure));
        figures
    }
}

pub async fn run(server: &Server, options: &Options, shared: &Shared) -> Result<E2eReport, Error> {
    let client = Client::connect(&server.address, 4, shared.gzip).await?;
    let load = Load {
        client,
        task_queue: format!("bench-{}", uuid::Uuid::new_v4()),
        in_flight: Arc::default(),
        latencies: Arc::default(),
        remaining: Arc::new(AtomicUsize::new(options.workflows)),
        failed: Arc::default(),
    };
    let mut pollers = Vec::new();
    for _ in 0..options.pollers {
        pollers.push(tokio::spawn(workflow_poller(load.clone())));
        pollers.push(tokio::spawn(activity_poller(load.clone())));
    }
    let cpu_before = server.cpu_seconds();
    let begin = Instant::now();
    let starter = tokio::spawn(start_all(load.clone(), options.clone()));
    let finished = crate::wait_for_zero(&load.remaining, Duration::from_secs(60)).await;
    let elapsed = begin.elapsed();
    let cpu = cpu_delta(cpu_before, server.cpu_seconds());
    starter.abort();
    for poller in pollers {
        poller.abort();
    }
    finished?;
    let mut latencies = load.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    latencies.sort();
    let visibility =
        crate::visibility::run(&load.client, &load.task_queue, shared.visibility_queries).await?;
    Ok(E2eReport {
        workflows: options.workflows,
        failed: load.failed.load(Ordering::SeqCst),
        elapsed,
        latencies,
        cpu,
        rss: server.rss_bytes(),
        visibility,
    })
}

/// Starts the workflows, keeping at most `concurrency` open.
async fn start_all(load: Load, options: Options) {
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    for index in 0..options.workflows {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let load = load.clone();
        tokio::spawn(async move {
            let workflow_id = format!("{}-{index}", load.task_queue);
            let (finished, on_finish) = oneshot::channel();
            load.in_flight
                .lock()
                .map(|mut s| s.insert(workflow_id.clone(), (Instant::now(), finished)))
                .ok();
            let (started, _) = load
                .client
                .start_workflow(workflow_id.clone(), &load.task_queue)
                .await;
            if let Err(status) = started {
                eprintln!("start failed: {status}");
                load.in_flight
                    .lock()
                    .map(|mut s| s.remove(&workflow_id))
                    .ok();
                load.failed.fetch_add(1, Ordering::SeqCst);
                load.finish();
            }
            // Keep at most `concurrency` workflows open: release when this one finishes.
            let _ = on_finish.await;
            drop(permit);
        });
    }
}

/// The workflow: schedule one activity; once it completed, complete the workflow.
fn decide(
    task: &PollWorkflowTaskQueueResponse,
    task_queue: &str,
) -> temper_api::proto::command::v1::Command {
    if grpc::has_event(task, EventType::ActivityTaskCompleted) {
        grpc::complete_workflow()
    } else {
        grpc::schedule_activity(task_queue)
    }
}

async fn workflow_poller(load: Load) {
    while load.remaining.load(Ordering::SeqCst) > 0 {
        let Some(task) = load
            .client
            .poll_workflow_task(grpc::queue(&load.task_queue))
            .await
        else {
            continue;
        };
        let command = decide(&task, &load.task_queue);
        let closes = command.command_type == CommandType::CompleteWorkflowExecution as i32;
        let completed = load
            .client
            .complete_workflow_task(task.task_token.clone(), vec![command], None)
            .await;
        if completed.is_ok() && closes {
            let id = grpc::workflow_id(&task);
            if let Some((at, finished)) = load
                .in_flight
                .lock()
                .map(|mut s| s.remove(&id))
                .ok()
                .flatten()
            {
                load.latencies.lock().map(|mut l| l.push(at.elapsed())).ok();
                let _ = finished.send(());
            }
            load.finish();
        }
    }
}

async fn activity_poller(load: Load) {
    while load.remaining.load(Ordering::SeqCst) > 0 {
        if let Some(task_token) = load.client.poll_activity_task(&load.task_queue).await {
            let _ = load.client.complete_activity_task(task_token).await;
        }
    }
}

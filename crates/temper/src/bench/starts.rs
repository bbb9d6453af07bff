//! `starts`: `StartWorkflowExecution` alone, with no worker polling: N calls with at most
//! `--concurrency` in flight, spread round robin over four HTTP/2 connections. Prints starts
//! per second, the p50/p99 call latency (a call the server rate-limits is retried and the wait
//! counts), and the server's CPU seconds per 1,000 starts. `recovery` uses the same machinery
//! to fill a server with open runs.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::grpc::Client;
use crate::server::Server;
use crate::{Error, Figure, Report, Shared, cpu_delta, mib, ms, per_thousand, percentile, secs};

#[derive(clap::Args, Clone)]
pub struct Options {
    /// Number of workflows to start.
    #[arg(long, default_value_t = 20_000)]
    pub workflows: usize,
    /// Start calls in flight at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
}

/// The outcome of a batch of starts.
pub struct Batch {
    pub started: usize,
    pub failed: usize,
    /// Calls answered RESOURCE_EXHAUSTED and retried.
    pub retries: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted latencies of the successful calls.
    pub latencies: Vec<Duration>,
}

impl Batch {
    pub fn per_second(&self) -> f64 {
        self.started as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// "" or a note on failures and retries.
    pub fn problems(&self) -> String {
        let mut notes = Vec::new();
        if self.failed > 0 {
            notes.push(format!(
                "{} failed, first: {}",
                self.failed,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        if self.retries > 0 {
            notes.push(format!("{} rate-limited calls retried", self.retries));
        }
        match notes.is_empty() {
            true => String::new(),
            false => format!(" ({})", notes.join("; ")),
        }
    }
}

/// Workflow ids are `TASK_QUEUE-INDEX`, for INDEX in 0..count.
pub fn workflow_id(task_queue: &str, index: usize) -> String {
    format!("{task_queue}-{index}")
}

/// Starts `count` workflows on `task_queue`, at most `concurrency` calls in flight.
pub async fn start_many(
    client: &Client,
    task_queue: &str,
    count: usize,
    concurrency: usize,
) -> Batch {
    let mut batch = Batch {
        started: 0,
        failed: 0,
        retries: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(count),
    };
    let begin = Instant::now();
    let mut calls = JoinSet::new();
    for index in 0..count {
        while calls.len() >= concurrency.max(1) {
            collect(&mut batch, calls.join_next().await);
        }
        let (client, task_queue) = (client.clone(), task_queue.to_string());
        calls.spawn(async move {
            let at = Instant::now();
            let (result, retries) = client
                .start_workflow(workflow_id(&task_queue, index), &task_queue)
                .await;
            (at.elapsed(), result.map(drop), retries)
        });
    }
    while !calls.is_empty() {
        collect(&mut batch, calls.join_next().await);
    }
    batch.elapsed = begin.elapsed();
    batch.latencies.sort();
    batch
}

type Call = (Duration, Result<(), tonic::Status>, usize);

fn collect(batch: &mut Batch, joined: Option<Result<Call, tokio::task::JoinError>>) {
    let Some(joined) = joined else {
        return;
    };
    let result = joined
        .map_err(|e| e.to_string())
        .and_then(|(latency, result, retries)| {
            batch.retries += retries;
            result.map(|()| latency).map_err(|s| s.to_string())
        });
    match result {
        Ok(latency) => {
            batch.started += 1;
            batch.latencies.push(latency);
        }
        Err(e) => {
            batch.failed += 1;
            batch.first_error.get_or_insert(e);
        }
    }
}

pub struct StartsReport {
    batch: Batch,
    cpu: Option<f64>,
    rss: Option<u64>,
}

impl StartsReport {
    fn cpu_per_thousand(&self) -> Option<f64> {
        per_thousand(self.cpu, self.batch.started)
    }
}

impl Report for StartsReport {
    fn lines(&self) -> Vec<String> {
        let batch = &self.batch;
        vec![format!(
            "{} starts{} in {:.2} s = {:.1} starts/s; p50 {:.1} ms p99 {:.1} ms; \
             server CPU {} per 1000 starts; RSS {}",
            batch.started,
            batch.problems(),
            batch.elapsed.as_secs_f64(),
            batch.per_second(),
            ms(percentile(&batch.latencies, 0.50)),
            ms(percentile(&batch.latencies, 0.99)),
            secs(self.cpu_per_thousand()),
            mib(self.rss),
        )]
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::higher("starts/s", self.batch.per_second()),
            Figure::lower("p50 latency", ms(percentile(&self.batch.latencies, 0.50))),
            Figure::lower("p99 latency", ms(percentile(&self.batch.latencies, 0.99))),
            Figure::lower("CPU per 1000 starts", self.cpu_per_thousand()),
            Figure::lower("RSS", self.rss.map(|b| b as f64)),
        ]
    }
}

pub async fn run(
    server: &Server,
    options: &Options,
    shared: &Shared,
) -> Result<StartsReport, Error> {
    let client = Client::connect(&server.address, 4, shared.gzip).await?;
    let task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    let cpu_before = server.cpu_seconds();
    let batch = start_many(&client, &task_queue, options.workflows, options.concurrency).await;
    let cpu = cpu_delta(cpu_before, server.cpu_seconds());
    if batch.started == 0 {
        return Err(format!("no start succeeded{}", batch.problems()).into());
    }
    Ok(StartsReport {
        batch,
        cpu,
        rss: server.rss_bytes(),
    })
}

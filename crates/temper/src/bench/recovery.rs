//! `recovery`: fills a server with `--open-runs` workflows that no worker polls (the `starts`
//! machinery at high concurrency), notes its RSS, kills it with SIGKILL and starts it again on
//! the same store and port. Measures, from the restart's spawn: the first accepted TCP
//! connection, the first successful `GetSystemInfo`, the first successful
//! `DescribeWorkflowExecution` of a random one of the runs, and the first workflow task a poll
//! of the runs' task queue receives (the runs are dispatchable again); plus RSS 1 s after the
//! server serves again.

use std::time::{Duration, Instant};

use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::workflowservice::v1::{
    DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse,
};

use crate::grpc::{self, Client};
use crate::server::{Server, ServerProcess};
use crate::starts::{Batch, start_many, workflow_id};
use crate::{Error, Figure, Report, Shared, mib, ms};

/// How long to wait for a describe or a task after the restart.
const GIVE_UP: Duration = Duration::from_secs(120);

#[derive(clap::Args, Clone)]
pub struct Options {
    /// Open runs to start before the kill.
    #[arg(long, default_value_t = 100_000)]
    pub open_runs: usize,
    /// Start calls in flight at once.
    #[arg(long, default_value_t = 400)]
    pub concurrency: usize,
}

pub struct RecoveryReport {
    batch: Batch,
    rss_before: Option<u64>,
    to_listening: Duration,
    to_serving: Duration,
    to_describe: Duration,
    to_first_task: Duration,
    rss_after: Option<u64>,
}

impl Report for RecoveryReport {
    fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "{} open runs started{} in {:.2} s; RSS before kill {}",
                self.batch.started,
                self.batch.problems(),
                self.batch.elapsed.as_secs_f64(),
                mib(self.rss_before),
            ),
            format!(
                "after SIGKILL and restart: listening {:.1} ms, serving {:.1} ms, \
                 describe of a random run {:.1} ms, first workflow task {:.1} ms; \
                 RSS 1 s after serving {}",
                ms(self.to_listening),
                ms(self.to_serving),
                ms(self.to_describe),
                ms(self.to_first_task),
                mib(self.rss_after),
            ),
        ]
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::lower("restart to listening", ms(self.to_listening)),
            Figure::lower("restart to serving", ms(self.to_serving)),
            Figure::lower("restart to describe", ms(self.to_describe)),
            Figure::lower("restart to first task", ms(self.to_first_task)),
            Figure::lower("RSS after restart", self.rss_after.map(|b| b as f64)),
        ]
    }
}

pub async fn run(
    server: &mut Server,
    options: &Options,
    shared: &Shared,
) -> Result<RecoveryReport, Error> {
    let client = Client::connect(&server.address, 4, shared.gzip).await?;
    let task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    let batch = start_many(&client, &task_queue, options.open_runs, options.concurrency).await;
    if batch.started == 0 {
        return Err(format!("no start succeeded{}", batch.problems()).into());
    }
    drop(client);
    let process = server
        .process
        .as_mut()
        .ok_or("recovery needs a server process of its own")?;
    let rss_before = process.rss_bytes();
    process.kill_and_restart().await?;
    let client = Client::connect(&server.address, 1, shared.gzip).await?;
    let process: &ServerProcess = server
        .process
        .as_ref()
        .ok_or("recovery needs a server process of its own")?;
    let random = (uuid::Uuid::new_v4().as_u128() % options.open_runs as u128) as usize;
    let (probes, rss_after) = tokio::join!(
        probe(&client, &task_queue, random, process.spawned_at),
        rss_later(
            process,
            process.spawned_at + process.to_serving + Duration::from_secs(1)
        ),
    );
    let (to_describe, to_first_task) = probes?;
    Ok(RecoveryReport {
        batch,
        rss_before,
        to_listening: process.to_listening,
        to_serving: process.to_serving,
        to_describe,
        to_first_task,
        rss_after,
    })
}

/// RSS of the process at `at`.
async fn rss_later(process: &ServerProcess, at: Instant) -> Option<u64> {
    tokio::time::sleep_until(at.into()).await;
    process.rss_bytes()
}

/// Times since `spawned_at` until run number `index` can be described and until a poll of
/// its task queue receives a workflow task.
async fn probe(
    client: &Client,
    task_queue: &str,
    index: usize,
    spawned_at: Instant,
) -> Result<(Duration, Duration), Error> {
    let deadline = Instant::now() + GIVE_UP;
    loop {
        let describe = DescribeWorkflowExecutionRequest {
            namespace: grpc::NAMESPACE.into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id(task_queue, index),
                run_id: String::new(),
            }),
        };
        let described = client
            .call::<_, DescribeWorkflowExecutionResponse>(grpc::DESCRIBE_WORKFLOW, describe)
            .await;
        match described {
            Ok(_) => break,
            Err(status) if Instant::now() > deadline => {
                return Err(format!("run {index} not describable: {status}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let to_describe = spawned_at.elapsed();
    while client
        .poll_workflow_task(grpc::queue(task_queue))
        .await
        .is_none()
    {
        if Instant::now() > deadline {
            return Err("no workflow task after the restart".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((to_describe, spawned_at.elapsed()))
}

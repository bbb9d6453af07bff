//! `temper-bench`: drives N workflows of one activity each through a server with raw gRPC
//! pollers and prints throughput and start-to-completion latency.
//!
//! By default it starts Temper in-process on a free port over a fresh SQLite file (or, with
//! `--postgres`, a fresh schema in PostgreSQL). With
//! `--target HOST:PORT` it drives an already running server instead (Temper or Temporal's own
//! dev server), and with `--baseline HOST:PORT` it runs the same load against a second server
//! and prints the ratio of the two. Afterwards it times visibility queries (a count and a
//! 100-run list page filtered on the load's task queue) against the same servers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use temper_api::proto::command::v1::{Command, command};
use temper_api::proto::common::v1::{ActivityType, WorkflowType};
use temper_api::proto::enums::v1::{CommandType, EventType};
use temper_api::proto::taskqueue::v1::TaskQueue;
use temper_api::proto::workflowservice::v1::*;
use tokio::sync::oneshot;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// Start instant of each running workflow, and who to tell when it completes.
type InFlight = Arc<Mutex<HashMap<String, (Instant, oneshot::Sender<()>)>>>;

fn duration_secs(seconds: i64) -> Option<temper_api::Duration> {
    Some(temper_api::Duration { seconds, nanos: 0 })
}

#[derive(Parser)]
#[command(
    name = "temper-bench",
    about = "Workflow throughput and latency benchmark"
)]
struct Args {
    /// Number of workflows to run.
    #[arg(long, default_value_t = 1000)]
    workflows: usize,
    /// Workflows started concurrently.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Pollers per task type.
    #[arg(long, default_value_t = 8)]
    pollers: usize,
    /// Drive an already running server instead of an in-process Temper.
    #[arg(long)]
    target: Option<String>,
    /// A second server to run the same load against, for a ratio (e.g. `temporal server start-dev`).
    #[arg(long)]
    baseline: Option<String>,
    /// Run the in-process Temper on PostgreSQL (a connection string; a fresh schema is
    /// created) instead of a SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    /// Visibility queries of each kind (count, list page) timed after the load; 0 skips them.
    #[arg(long, default_value_t = 200)]
    visibility_queries: usize,
}

struct Report {
    task_queue: String,
    workflows: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn throughput(&self) -> f64 {
        self.workflows as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }

    fn print(&self, name: &str) {
        println!(
            "{name}: {} workflows in {:.2}s = {:.1} workflows/s; latency p50 {:.1} ms, p99 {:.1} ms",
            self.workflows,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.percentile(0.50).as_secs_f64() * 1000.0,
            self.percentile(0.99).as_secs_f64() * 1000.0,
        );
    }
}

async fn call<Req, Resp>(
    channel: &Channel,
    method: &'static str,
    request: Req,
) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::from_static(method);
    let mut request = tonic::Request::new(request);
    request.set_timeout(Duration::from_secs(70));
    grpc.unary(request, path, tonic_prost::ProstCodec::default())
        .await
        .map(|r| r.into_inner())
}

const COUNT: &str = "/temporal.api.workflowservice.v1.WorkflowService/CountWorkflowExecutions";
const LIST: &str = "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions";
const START: &str = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution";
const POLL_WORKFLOW: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue";
const COMPLETE_WORKFLOW_TASK: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/RespondWorkflowTaskCompleted";
const POLL_ACTIVITY: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue";
const COMPLETE_ACTIVITY: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/RespondActivityTaskCompleted";

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        ..Default::default()
    })
}

/// The workflow: schedule one activity; once it completed, complete the workflow.
fn decide(task: &PollWorkflowTaskQueueResponse, task_queue: &str) -> Command {
    let activity_done = task.history.as_ref().is_some_and(|h| {
        h.events
            .iter()
            .any(|e| e.event_type == EventType::ActivityTaskCompleted as i32)
    });
    if activity_done {
        Command {
            command_type: CommandType::CompleteWorkflowExecution as i32,
            attributes: Some(
                command::Attributes::CompleteWorkflowExecutionCommandAttributes(Default::default()),
            ),
            ..Default::default()
        }
    } else {
        Command {
            command_type: CommandType::ScheduleActivityTask as i32,
            attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
                temper_api::proto::command::v1::ScheduleActivityTaskCommandAttributes {
                    activity_id: "1".into(),
                    activity_type: Some(ActivityType {
                        name: "BenchActivity".into(),
                    }),
                    task_queue: queue(task_queue),
                    start_to_close_timeout: duration_secs(30),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }
}

async fn run_load(target: &str, args: &Args) -> Result<Report, Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(format!("http://{target}"))?
        .connect()
        .await?;
    let task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    let started: InFlight = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let remaining = Arc::new(AtomicUsize::new(args.workflows));
    let done = Arc::new(tokio::sync::Notify::new());

    let mut pollers = Vec::new();
    for _ in 0..args.pollers {
        let (wf_channel, wf_queue, started, latencies, wf_remaining, done) = (
            channel.clone(),
            task_queue.clone(),
            started.clone(),
            latencies.clone(),
            remaining.clone(),
            done.clone(),
        );
        pollers.push(tokio::spawn(async move {
            let (channel, task_queue, remaining) = (wf_channel, wf_queue, wf_remaining);
            while remaining.load(Ordering::SeqCst) > 0 {
                let poll = PollWorkflowTaskQueueRequest {
                    namespace: "default".into(),
                    task_queue: queue(&task_queue),
                    identity: "bench".into(),
                    ..Default::default()
                };
                let Ok(task) =
                    call::<_, PollWorkflowTaskQueueResponse>(&channel, POLL_WORKFLOW, poll).await
                else {
                    continue;
                };
                if task.task_token.is_empty() {
                    continue;
                }
                let command = decide(&task, &task_queue);
                let closes = command.command_type == CommandType::CompleteWorkflowExecution as i32;
                let completion = RespondWorkflowTaskCompletedRequest {
                    namespace: "default".into(),
                    task_token: task.task_token.clone(),
                    commands: vec![command],
                    identity: "bench".into(),
                    ..Default::default()
                };
                if call::<_, RespondWorkflowTaskCompletedResponse>(
                    &channel,
                    COMPLETE_WORKFLOW_TASK,
                    completion,
                )
                .await
                .is_ok()
                    && closes
                {
                    let id = task
                        .workflow_execution
                        .map(|e| e.workflow_id)
                        .unwrap_or_default();
                    if let Some((at, finished)) =
                        started.lock().map(|mut s| s.remove(&id)).ok().flatten()
                    {
                        latencies.lock().map(|mut l| l.push(at.elapsed())).ok();
                        let _ = finished.send(());
                    }
                    if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                        done.notify_waiters();
                    }
                }
            }
        }));
        let (channel, task_queue, remaining) =
            (channel.clone(), task_queue.clone(), remaining.clone());
        pollers.push(tokio::spawn(async move {
            while remaining.load(Ordering::SeqCst) > 0 {
                let poll = PollActivityTaskQueueRequest {
                    namespace: "default".into(),
                    task_queue: queue(&task_queue),
                    identity: "bench".into(),
                    ..Default::default()
                };
                let Ok(task) =
                    call::<_, PollActivityTaskQueueResponse>(&channel, POLL_ACTIVITY, poll).await
                else {
                    continue;
                };
                if task.task_token.is_empty() {
                    continue;
                }
                let completion = RespondActivityTaskCompletedRequest {
                    namespace: "default".into(),
                    task_token: task.task_token,
                    identity: "bench".into(),
                    ..Default::default()
                };
                let _ = call::<_, RespondActivityTaskCompletedResponse>(
                    &channel,
                    COMPLETE_ACTIVITY,
                    completion,
                )
                .await;
            }
        }));
    }

    let begin = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    for index in 0..args.workflows {
        let permit = permits.clone().acquire_owned().await?;
        let (channel, task_queue, started) = (channel.clone(), task_queue.clone(), started.clone());
        tokio::spawn(async move {
            let workflow_id = format!("{task_queue}-{index}");
            let (finished, on_finish) = oneshot::channel();
            started
                .lock()
                .map(|mut s| s.insert(workflow_id.clone(), (Instant::now(), finished)))
                .ok();
            let request = StartWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_id: workflow_id.clone(),
                workflow_type: Some(WorkflowType {
                    name: "BenchWorkflow".into(),
                }),
                task_queue: queue(&task_queue),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            };
            if let Err(status) =
                call::<_, StartWorkflowExecutionResponse>(&channel, START, request).await
            {
                eprintln!("start failed: {status}");
            }
            // Keep at most `concurrency` workflows in flight: release when this one finishes.
            let _ = on_finish.await;
            drop(permit);
        });
    }
    while remaining.load(Ordering::SeqCst) > 0 {
        tokio::select! {
            _ = done.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let elapsed = begin.elapsed();
    for poller in pollers {
        poller.abort();
    }
    let mut latencies = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    latencies.sort();
    Ok(Report {
        task_queue,
        workflows: args.workflows,
        elapsed,
        latencies,
    })
}

/// Latencies of sequential visibility queries of one kind.
struct QueryTimes {
    kind: &'static str,
    latencies: Vec<Duration>,
}

impl QueryTimes {
    fn per_second(&self) -> f64 {
        let total: Duration = self.latencies.iter().sum();
        self.latencies.len() as f64 / total.as_secs_f64().max(1e-9)
    }

    fn p50_ms(&self) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(sorted.len() / 2)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn print(&self, name: &str) {
        println!(
            "{name}: {} {} at {:.0}/s, p50 {:.2} ms",
            self.latencies.len(),
            self.kind,
            self.per_second(),
            self.p50_ms()
        );
    }
}

/// Times `queries` counts and `queries` first list pages over the runs the load left behind.
async fn run_visibility(
    target: &str,
    task_queue: &str,
    queries: usize,
) -> Result<[QueryTimes; 2], Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(format!("http://{target}"))?
        .connect()
        .await?;
    let query = format!("TaskQueue = '{task_queue}' AND ExecutionStatus = 'Completed'");
    let mut counts = QueryTimes {
        kind: "counts",
        latencies: Vec::with_capacity(queries),
    };
    let mut lists = QueryTimes {
        kind: "list pages of 100",
        latencies: Vec::with_capacity(queries),
    };
    for _ in 0..queries {
        let at = Instant::now();
        let count = CountWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: query.clone(),
        };
        let _: CountWorkflowExecutionsResponse =
            call_until_admitted(&channel, COUNT, count).await?;
        counts.latencies.push(at.elapsed());
        let at = Instant::now();
        let list = ListWorkflowExecutionsRequest {
            namespace: "default".into(),
            page_size: 100,
            query: query.clone(),
            ..Default::default()
        };
        let _: ListWorkflowExecutionsResponse = call_until_admitted(&channel, LIST, list).await?;
        lists.latencies.push(at.elapsed());
    }
    Ok([counts, lists])
}

/// [`call`], retried while the server rate-limits it (Temporal's dev server answers
/// RESOURCE_EXHAUSTED above its persistence QPS limit); the waiting counts as latency, since a
/// client waits just the same.
async fn call_until_admitted<Req, Resp>(
    channel: &Channel,
    method: &'static str,
    request: Req,
) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Clone + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    loop {
        match call(channel, method, request.clone()).await {
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

async fn start_in_process(
    postgres: Option<&str>,
) -> Result<(String, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn temper_store::Store> = match postgres {
        Some(url) => {
            let schema = format!("temper_bench_{}", uuid::Uuid::new_v4().simple());
            Arc::new(temper_store::postgres::PostgresStore::connect(url, Some(&schema)).await?)
        }
        None => Arc::new(temper_store::sqlite::SqliteStore::open_file(
            &dir.path().join("bench.db"),
            &[],
        )?),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    let config = temper_server::ServerConfig {
        listen: address,
        metrics_listen: None,
        http_listen: None,
        ui_listen: None,
        banner: false,
        namespaces: vec![],
        time_skipping: false,
        history_limits: Default::default(),
        search_attributes: Default::default(),
        tls: None,
        authorizer: None,
        namespace_rps: None,
        audit_log: false,
        long_polls_per_namespace: temper_server::rate_limits::DEFAULT_LONG_POLLS,
        store,
    };
    tokio::spawn(async move {
        if let Err(e) = temper_server::serve(config, std::future::pending()).await {
            eprintln!("server failed: {e}");
        }
    });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok((address.to_string(), dir));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("in-process server did not start".into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (target, _dir) = match &args.target {
        Some(target) => (target.clone(), None),
        None => {
            let (address, dir) = start_in_process(args.postgres.as_deref()).await?;
            (address, Some(dir))
        }
    };
    println!(
        "{} workflows (1 activity each), {} concurrent, {} pollers per task type",
        args.workflows, args.concurrency, args.pollers
    );
    let temper = run_load(&target, &args).await?;
    let mut baseline_report = None;
    temper.print(&format!("target {target}"));
    if let Some(baseline) = &args.baseline {
        let other = run_load(baseline, &args).await?;
        other.print(&format!("baseline {baseline}"));
        println!(
            "ratio target/baseline: throughput {:.2}x, p50 latency {:.2}x",
            temper.throughput() / other.throughput(),
            temper.percentile(0.5).as_secs_f64() / other.percentile(0.5).as_secs_f64().max(1e-9),
        );
        baseline_report = Some((baseline.clone(), other));
    }
    if args.visibility_queries > 0 {
        let ours = run_visibility(&target, &temper.task_queue, args.visibility_queries).await?;
        for times in &ours {
            times.print(&format!("target {target}"));
        }
        if let Some((baseline, other)) = baseline_report {
            let theirs =
                run_visibility(&baseline, &other.task_queue, args.visibility_queries).await?;
            for (mine, their) in ours.iter().zip(&theirs) {
                their.print(&format!("baseline {baseline}"));
                println!(
                    "ratio target/baseline {}: {:.2}x queries/s",
                    mine.kind,
                    mine.per_second() / their.per_second().max(1e-9)
                );
            }
        }
    }
    Ok(())
}

//! `long-history`: one workflow whose history grows to `--events` events. Each round signals
//! it (signal "s"), polls its workflow task and completes the task with no commands, adding
//! four events (signaled, task scheduled, started, completed). As an SDK worker does, the
//! completions name a sticky queue, and a poll of the sticky queue and one of the normal queue
//! are outstanding at all times, so a server that keeps the workflow's state hot sends only
//! the new events (tasks that still come from the normal queue are counted). Per round it
//! records the wall time (signal to completion), the poll response's encoded size and event
//! count, and the server's CPU time. It compares the first 10% of rounds with the last 10%: mean round time, mean server CPU per
//! round and mean response bytes. A last/first ratio near 1 means each round costs O(new
//! events); a ratio that grows with `--events` means it costs O(history).

use std::time::{Duration, Instant};

use prost::Message;
use temper_api::proto::common::v1::WorkflowExecution;
use temper_api::proto::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temper_api::proto::workflowservice::v1::{
    PollWorkflowTaskQueueResponse, SignalWorkflowExecutionRequest, SignalWorkflowExecutionResponse,
};

use tokio::sync::mpsc;

use crate::grpc::{self, Client};
use crate::server::Server;
use crate::{Error, Figure, Report, Shared, ms};

/// Less server CPU than this over a block is too few clock ticks (usually 10 ms each) to
/// divide into rounds: such a block's CPU per round is "n/a".
const MIN_BLOCK_CPU: f64 = 0.1;

/// How long to keep polling for one round's workflow task.
const GIVE_UP: Duration = Duration::from_secs(120);

#[derive(clap::Args, Clone)]
pub struct Options {
    /// History length to grow the workflow to.
    #[arg(long, default_value_t = 10_000)]
    pub events: i64,
}

/// One signal → task → completion round.
struct Round {
    elapsed: Duration,
    response_bytes: usize,
    events: usize,
    /// The server's CPU time after the round.
    cpu_after: Option<f64>,
}

/// Means over a block of consecutive rounds.
struct Block {
    rounds: usize,
    round_time: Duration,
    cpu_per_round: Option<f64>,
    response_bytes: f64,
    events: f64,
}

impl Block {
    /// The rounds `range` of `rounds`; `cpu_before` is the CPU time before the first round.
    fn of(rounds: &[Round], range: std::ops::Range<usize>, cpu_before: Option<f64>) -> Block {
        let block = &rounds[range.clone()];
        let n = block.len().max(1);
        let start_cpu = match range.start {
            0 => cpu_before,
            i => rounds[i - 1].cpu_after,
        };
        let end_cpu = block.last().and_then(|r| r.cpu_after);
        Block {
            rounds: block.len(),
            round_time: block.iter().map(|r| r.elapsed).sum::<Duration>() / n as u32,
            cpu_per_round: crate::cpu_delta(start_cpu, end_cpu)
                .filter(|c| *c >= MIN_BLOCK_CPU)
                .map(|c| c / n as f64),
            response_bytes: block.iter().map(|r| r.response_bytes).sum::<usize>() as f64 / n as f64,
            events: block.iter().map(|r| r.events).sum::<usize>() as f64 / n as f64,
        }
    }

    fn describe(&self) -> String {
        let cpu = self
            .cpu_per_round
            .map_or("n/a".into(), |c| format!("{:.2} ms", c * 1000.0));
        format!(
            "{:.2} ms per round, server CPU {cpu} per round, {:.0} response bytes \
             ({:.1} events)",
            ms(self.round_time),
            self.response_bytes,
            self.events,
        )
    }
}

pub struct LongHistoryReport {
    history_length: i64,
    rounds: usize,
    elapsed: Duration,
    sticky_misses: usize,
    first: Block,
    last: Block,
}

impl LongHistoryReport {
    fn growth(&self) -> (f64, Option<f64>, f64) {
        let time = self.last.round_time.as_secs_f64() / self.first.round_time.as_secs_f64();
        let cpu = match (self.first.cpu_per_round, self.last.cpu_per_round) {
            (Some(first), Some(last)) if first > 0.0 => Some(last / first),
            _ => None,
        };
        let bytes = self.last.response_bytes / self.first.response_bytes.max(1.0);
        (time, cpu, bytes)
    }
}

impl Report for LongHistoryReport {
    fn lines(&self) -> Vec<String> {
        let (time, cpu, bytes) = self.growth();
        let cpu = cpu.map_or("n/a".into(), |c| format!("{c:.2}×"));
        vec![
            format!(
                "{} events in {} rounds, {:.2} s; {} tasks came from the normal queue, not the sticky",
                self.history_length,
                self.rounds,
                self.elapsed.as_secs_f64(),
                self.sticky_misses,
            ),
            format!(
                "first {} rounds: {}",
                self.first.rounds,
                self.first.describe()
            ),
            format!("last {} rounds: {}", self.last.rounds, self.last.describe()),
            format!(
                "last/first: round time {time:.2}×, server CPU per round {cpu}, \
                 response bytes {bytes:.2}×"
            ),
        ]
    }

    fn figures(&self) -> Vec<Figure> {
        let (time, cpu, bytes) = self.growth();
        vec![
            Figure::lower("last-10% round time", ms(self.last.round_time)),
            Figure::lower(
                "last-10% CPU per round",
                self.last.cpu_per_round.map(|c| c * 1000.0),
            ),
            Figure::lower("last-10% response bytes", self.last.response_bytes),
            Figure::lower("round time growth last/first", time),
            Figure::lower("CPU per round growth last/first", cpu),
            Figure::lower("response bytes growth last/first", bytes),
        ]
    }
}

/// A workflow task, and whether it came from the sticky queue.
type Delivery = (PollWorkflowTaskQueueResponse, bool);

/// The workflow and the worker polling for its tasks: as in an SDK worker, one poll of the
/// sticky queue and one of the normal queue are outstanding at all times (a server routes to a
/// sticky queue only while its worker polls it).
struct Workflow {
    client: Client,
    execution: WorkflowExecution,
    task_queue: String,
    sticky: String,
    tasks: mpsc::Receiver<Delivery>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    /// Tasks that came from the normal queue after the first.
    sticky_misses: usize,
}

impl Workflow {
    fn sticky_attributes(&self) -> Option<StickyExecutionAttributes> {
        Some(StickyExecutionAttributes {
            worker_task_queue: grpc::sticky_queue(&self.sticky, &self.task_queue),
            schedule_to_start_timeout: grpc::duration_secs(10),
        })
    }

    /// The next task either poller received.
    async fn next_task(&mut self) -> Result<PollWorkflowTaskQueueResponse, Error> {
        let (task, from_sticky) = tokio::time::timeout(GIVE_UP, self.tasks.recv())
            .await
            .ok()
            .flatten()
            .ok_or("no workflow task")?;
        self.sticky_misses += usize::from(!from_sticky);
        Ok(task)
    }

    async fn signal(&self) -> Result<(), Error> {
        let signal = SignalWorkflowExecutionRequest {
            namespace: grpc::NAMESPACE.into(),
            workflow_execution: Some(self.execution.clone()),
            signal_name: "s".into(),
            identity: "temper-bench".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let (signaled, _) = self
            .client
            .call_until_admitted::<_, SignalWorkflowExecutionResponse>(grpc::SIGNAL, signal)
            .await;
        signaled.map(drop).map_err(Into::into)
    }

    /// Completes the task with no commands, keeping the workflow on the sticky queue. Returns
    /// the history length after the completion.
    async fn complete(&self, task: PollWorkflowTaskQueueResponse) -> Result<i64, Error> {
        let length = task.started_event_id + 1;
        self.client
            .complete_workflow_task(task.task_token, vec![], self.sticky_attributes())
            .await?;
        Ok(length)
    }
}

impl Drop for Workflow {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

/// Polls `queue` for ever, handing each task on.
async fn poller(
    client: Client,
    queue: Option<TaskQueue>,
    sticky: bool,
    to: mpsc::Sender<Delivery>,
) {
    loop {
        match client.poll_workflow_task(queue.clone()).await {
            Some(task) => {
                if to.send((task, sticky)).await.is_err() {
                    return;
                }
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

pub async fn run(
    server: &Server,
    options: &Options,
    shared: &Shared,
) -> Result<LongHistoryReport, Error> {
    let client = Client::connect(&server.address, 1, shared.gzip).await?;
    let task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    let workflow_id = format!("{task_queue}-0");
    let (started, _) = client
        .start_workflow(workflow_id.clone(), &task_queue)
        .await;
    let sticky = format!("{task_queue}-sticky");
    let (to, tasks) = mpsc::channel(4);
    let pollers = vec![
        tokio::spawn(poller(
            client.clone(),
            grpc::queue(&task_queue),
            false,
            to.clone(),
        )),
        tokio::spawn(poller(
            client.clone(),
            grpc::sticky_queue(&sticky, &task_queue),
            true,
            to,
        )),
    ];
    let mut workflow = Workflow {
        client,
        execution: WorkflowExecution {
            workflow_id,
            run_id: started?.run_id,
        },
        task_queue,
        sticky,
        tasks,
        pollers,
        sticky_misses: 0,
    };
    let first = workflow.next_task().await?;
    workflow.sticky_misses = 0;
    let mut length = workflow.complete(first).await?;

    let cpu_before = server.cpu_seconds();
    let begin = Instant::now();
    let mut rounds = Vec::new();
    while length < options.events {
        let at = Instant::now();
        workflow.signal().await?;
        let task = workflow.next_task().await?;
        let (response_bytes, events) = (
            task.encoded_len(),
            task.history.as_ref().map_or(0, |h| h.events.len()),
        );
        length = workflow.complete(task).await?;
        rounds.push(Round {
            elapsed: at.elapsed(),
            response_bytes,
            events,
            cpu_after: server.cpu_seconds(),
        });
    }
    let elapsed = begin.elapsed();
    if rounds.is_empty() {
        return Err("--events too small for a single round".into());
    }
    let tenth = (rounds.len() / 10).max(1);
    Ok(LongHistoryReport {
        history_length: length,
        rounds: rounds.len(),
        elapsed,
        sticky_misses: workflow.sticky_misses,
        first: Block::of(&rounds, 0..tenth, cpu_before),
        last: Block::of(&rounds, rounds.len() - tenth..rounds.len(), cpu_before),
    })
}

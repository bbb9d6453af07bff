//! Raw gRPC for the benchmark: unary calls through tonic's generic client with prost
//! messages (no generated client, so the same code drives Temper and Temporal), spread round
//! robin over a few HTTP/2 connections and optionally gzip-compressed both ways, as the SDKs
//! do; and the worker-side helpers the scenarios share (start, poll, respond, commands).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use temper_api::proto::command::v1::{
    Command, ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes, command,
};
use temper_api::proto::common::v1::{ActivityType, WorkflowType};
use temper_api::proto::enums::v1::{CommandType, TaskQueueKind};
use temper_api::proto::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temper_api::proto::workflowservice::v1::*;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

const SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";
pub const GET_SYSTEM_INFO: &str = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";
pub const DESCRIBE_NAMESPACE: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace";
pub const DESCRIBE_WORKFLOW: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution";
pub const COUNT: &str = "/temporal.api.workflowservice.v1.WorkflowService/CountWorkflowExecutions";
pub const LIST: &str = "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions";
pub const START: &str = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution";
pub const SIGNAL: &str = "/temporal.api.workflowservice.v1.WorkflowService/SignalWorkflowExecution";
pub const POLL_WORKFLOW: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue";
pub const COMPLETE_WORKFLOW_TASK: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/RespondWorkflowTaskCompleted";
pub const POLL_ACTIVITY: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue";
pub const COMPLETE_ACTIVITY: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/RespondActivityTaskCompleted";

/// Every request goes to this namespace.
pub const NAMESPACE: &str = "default";
const IDENTITY: &str = "temper-bench";

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A few HTTP/2 connections to one server, used round robin.
#[derive(Clone)]
pub struct Client {
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
    gzip: bool,
}

impl Client {
    /// Opens `connections` HTTP/2 connections to HOST:PORT.
    pub async fn connect(address: &str, connections: usize, gzip: bool) -> Result<Client, Error> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))?
            .connect_timeout(Duration::from_secs(5));
        let mut channels = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            channels.push(endpoint.connect().await?);
        }
        Ok(Client {
            channels: channels.into(),
            next: Arc::default(),
            gzip,
        })
    }

    fn channel(&self) -> Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[index].clone()
    }

    /// One unary call of `method` (a full gRPC path).
    pub async fn call<Req, Resp>(&self, method: &'static str, request: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        debug_assert!(method.starts_with(SERVICE));
        let mut grpc = tonic::client::Grpc::new(self.channel());
        if self.gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(request);
        request.set_timeout(Duration::from_secs(70));
        grpc.unary(
            request,
            PathAndQuery::from_static(method),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map(|r| r.into_inner())
    }

    /// [`Client::call`], retried while the server rate-limits it (Temporal's dev server
    /// answers RESOURCE_EXHAUSTED above its per-namespace limits); the waiting counts as
    /// latency, since a client waits just the same. Returns the result and the retries.
    pub async fn call_until_admitted<Req, Resp>(
        &self,
        method: &'static str,
        request: Req,
    ) -> (Result<Resp, Status>, usize)
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut retries = 0;
        loop {
            match self.call(method, request.clone()).await {
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return (other, retries),
            }
        }
    }

    /// Starts `BenchWorkflow` with this id on `task_queue`.
    pub async fn start_workflow(
        &self,
        workflow_id: String,
        task_queue: &str,
    ) -> (Result<StartWorkflowExecutionResponse, Status>, usize) {
        let request = StartWorkflowExecutionRequest {
            namespace: NAMESPACE.into(),
            workflow_id,
            workflow_type: Some(WorkflowType {
                name: "BenchWorkflow".into(),
            }),
            task_queue: queue(task_queue),
            identity: IDENTITY.into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        self.call_until_admitted(START, request).await
    }

    /// One long poll for a workflow task; `None` when it came back empty or failed.
    pub async fn poll_workflow_task(
        &self,
        task_queue: Option<TaskQueue>,
    ) -> Option<PollWorkflowTaskQueueResponse> {
        let poll = PollWorkflowTaskQueueRequest {
            namespace: NAMESPACE.into(),
            task_queue,
            identity: IDENTITY.into(),
            ..Default::default()
        };
        let task: PollWorkflowTaskQueueResponse = self.call(POLL_WORKFLOW, poll).await.ok()?;
        (!task.task_token.is_empty()).then_some(task)
    }

    /// Completes a workflow task with these commands (and, optionally, a sticky queue).
    pub async fn complete_workflow_task(
        &self,
        task_token: Vec<u8>,
        commands: Vec<Command>,
        sticky: Option<StickyExecutionAttributes>,
    ) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
        let completion = RespondWorkflowTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            task_token,
            commands,
            identity: IDENTITY.into(),
            sticky_attributes: sticky,
            ..Default::default()
        };
        self.call(COMPLETE_WORKFLOW_TASK, completion).await
    }

    /// One long poll for an activity task; `None` when it came back empty or failed.
    pub async fn poll_activity_task(&self, task_queue: &str) -> Option<Vec<u8>> {
        let poll = PollActivityTaskQueueRequest {
            namespace: NAMESPACE.into(),
            task_queue: queue(task_queue),
            identity: IDENTITY.into(),
            ..Default::default()
        };
        let task: PollActivityTaskQueueResponse = self.call(POLL_ACTIVITY, poll).await.ok()?;
        (!task.task_token.is_empty()).then_some(task.task_token)
    }

    /// Completes an activity task with no result.
    pub async fn complete_activity_task(&self, task_token: Vec<u8>) -> Result<(), Status> {
        let completion = RespondActivityTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            task_token,
            identity: IDENTITY.into(),
            ..Default::default()
        };
        self.call::<_, RespondActivityTaskCompletedResponse>(COMPLETE_ACTIVITY, completion)
            .await
            .map(drop)
    }
}

pub type Status = tonic::Status;

pub fn duration_secs(seconds: i64) -> Option<temper_api::Duration> {
    Some(temper_api::Duration { seconds, nanos: 0 })
}

/// A normal task queue.
pub fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        ..Default::default()
    })
}

/// A worker's sticky queue for workflows of the normal queue `normal`.
pub fn sticky_queue(name: &str, normal: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Sticky as i32,
        normal_name: normal.to_string(),
    })
}

pub fn complete_workflow() -> Command {
    Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(
            command::Attributes::CompleteWorkflowExecutionCommandAttributes(Default::default()),
        ),
        ..Default::default()
    }
}

pub fn schedule_activity(task_queue: &str) -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
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

pub fn start_timer(timer_id: &str, seconds: i64) -> Command {
    Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(command::Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: timer_id.into(),
                start_to_fire_timeout: duration_secs(seconds),
            },
        )),
        ..Default::default()
    }
}

/// The workflow id of a task, or empty.
pub fn workflow_id(task: &PollWorkflowTaskQueueResponse) -> String {
    task.workflow_execution
        .as_ref()
        .map(|e| e.workflow_id.clone())
        .unwrap_or_default()
}

/// Whether the task's history holds an event of this type.
pub fn has_event(
    task: &PollWorkflowTaskQueueResponse,
    event_type: temper_api::proto::enums::v1::EventType,
) -> bool {
    task.history
        .as_ref()
        .is_some_and(|h| h.events.iter().any(|e| e.event_type == event_type as i32))
}

//! Temporal's own calls, made to the owner of a run (a spread cluster) for work the cluster
//! does for no client: a schedule starting or stopping its workflows, a batch operation
//! acting on each of its runs. As Temporal's scheduler and batcher call its frontend, they
//! call the owner's `WorkflowService` with the request a client would send, carrying the
//! cluster's secret (`secret.rs`) instead of a token; the owner serves it as any call. The
//! same way a node that took a worker's `ShutdownWorker` (for the worker's sticky queue, which
//! it holds) passes the worker's last heartbeat on to the coordinator, which keeps them.

use http::uri::PathAndQuery;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Peers;

/// A WorkflowService request a node sends to a run's owner: its method and the run it names.
pub trait OwnerCall: prost::Message + Send + Sync + Sized + 'static {
    type Response: prost::Message + Default + Send + Sync + 'static;
    /// The method's gRPC path.
    const PATH: &'static str;
    /// The (namespace, workflow id) whose shard's owner serves the call; `None`: the
    /// coordinator serves it.
    fn run_key(&self) -> Option<(&str, &str)>;
}

/// `OwnerCall` for requests naming their run in `workflow_execution`.
macro_rules! owner_call {
    ($request:ty, $response:ty, $method:literal) => {
        impl OwnerCall for $request {
            type Response = $response;
            const PATH: &'static str =
                concat!("/temporal.api.workflowservice.v1.WorkflowService/", $method);
            fn run_key(&self) -> Option<(&str, &str)> {
                let workflow_id = self.workflow_execution.as_ref();
                Some((
                    &self.namespace,
                    workflow_id.map_or("", |e| e.workflow_id.as_str()),
                ))
            }
        }
    };
}

owner_call!(
    TerminateWorkflowExecutionRequest,
    TerminateWorkflowExecutionResponse,
    "TerminateWorkflowExecution"
);
owner_call!(
    RequestCancelWorkflowExecutionRequest,
    RequestCancelWorkflowExecutionResponse,
    "RequestCancelWorkflowExecution"
);
owner_call!(
    SignalWorkflowExecutionRequest,
    SignalWorkflowExecutionResponse,
    "SignalWorkflowExecution"
);
owner_call!(
    DeleteWorkflowExecutionRequest,
    DeleteWorkflowExecutionResponse,
    "DeleteWorkflowExecution"
);
owner_call!(
    ResetWorkflowExecutionRequest,
    ResetWorkflowExecutionResponse,
    "ResetWorkflowExecution"
);

impl OwnerCall for StartWorkflowExecutionRequest {
    type Response = StartWorkflowExecutionResponse;
    const PATH: &'static str =
        "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution";
    fn run_key(&self) -> Option<(&str, &str)> {
        Some((&self.namespace, &self.workflow_id))
    }
}

impl OwnerCall for RecordWorkerHeartbeatRequest {
    type Response = RecordWorkerHeartbeatResponse;
    const PATH: &'static str =
        "/temporal.api.workflowservice.v1.WorkflowService/RecordWorkerHeartbeat";
    fn run_key(&self) -> Option<(&str, &str)> {
        None
    }
}

impl Peers {
    /// Sends `request` to the owner of the run it names: the owner's answer.
    pub async fn call_owner<R: OwnerCall>(&self, request: R) -> Result<R::Response, Status> {
        let shard = request.run_key().map_or(0, |(namespace, workflow_id)| {
            self.shards().shard_of(namespace, workflow_id)
        });
        let channel = self.channel_for(shard)?;
        let mut grpc = tonic::client::Grpc::new(self.stamped(channel));
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        let codec = tonic_prost::ProstCodec::default();
        let path = PathAndQuery::from_static(R::PATH);
        let call = grpc.unary(tonic::Request::new(request), path, codec);
        let response = temper_api::request_gate::ungated(call)
            .await
            .map_err(owner_unreachable)?;
        Ok(response.into_inner())
    }
}

/// A call that failed in the connection (the owner died mid-call: a reset, a stream ended)
/// rather than by the owner's answer is `UNAVAILABLE`, a passing failure its caller tries
/// again (`errors::is_passing`); the owner's own answers carry no source.
fn owner_unreachable(status: Status) -> Status {
    match std::error::Error::source(&status) {
        Some(cause) => {
            Status::unavailable(format!("the run's owner could not be reached: {cause}"))
        }
        None => status,
    }
}

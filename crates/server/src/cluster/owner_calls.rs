//! Temporal's own calls, made to the owner of a run (a spread cluster) for work the cluster
//! does for no client: a schedule starting or stopping its workflows, a batch operation
//! acting on each of its runs. As Temporal's scheduler and batcher call its frontend, they
//! call the owner's `WorkflowService` with the request a client would send, carrying the
//! cluster's secret (`secret.rs`) instead of a token; the owner serves it as any call.

use http::uri::PathAndQuery;
use temper_api::proto::workflowservice::v1::*;
use tonic::Status;

use super::Peers;

/// The gRPC path of a WorkflowService method.
macro_rules! workflow_service {
    ($method:literal) => {
        concat!("/temporal.api.workflowservice.v1.WorkflowService/", $method)
    };
}

impl Peers {
    /// One unary WorkflowService call to the owner of (`namespace`, `workflow_id`).
    async fn call_owner<Req, Resp>(
        &self,
        (namespace, workflow_id): (&str, &str),
        method: &'static str,
        request: Req,
    ) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let shard = self.shards().shard_of(namespace, workflow_id);
        let channel = self.channel_for(shard)?;
        let mut grpc = tonic::client::Grpc::new(self.stamped(channel));
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        let codec = tonic_prost::ProstCodec::default();
        let path = PathAndQuery::from_static(method);
        let call = grpc.unary(tonic::Request::new(request), path, codec);
        let response = temper_api::request_gate::ungated(call).await?;
        Ok(response.into_inner())
    }

    /// Starts a workflow on its owner: the run id.
    pub async fn start_workflow(
        &self,
        request: StartWorkflowExecutionRequest,
    ) -> Result<String, Status> {
        let key = (request.namespace.clone(), request.workflow_id.clone());
        let method = workflow_service!("StartWorkflowExecution");
        let response: StartWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(response.run_id)
    }

    pub async fn terminate_workflow(
        &self,
        request: TerminateWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        let key = run_key(&request.namespace, request.workflow_execution.as_ref());
        let method = workflow_service!("TerminateWorkflowExecution");
        let _: TerminateWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(())
    }

    pub async fn cancel_workflow(
        &self,
        request: RequestCancelWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        let key = run_key(&request.namespace, request.workflow_execution.as_ref());
        let method = workflow_service!("RequestCancelWorkflowExecution");
        let _: RequestCancelWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(())
    }

    pub async fn signal_workflow(
        &self,
        request: SignalWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        let key = run_key(&request.namespace, request.workflow_execution.as_ref());
        let method = workflow_service!("SignalWorkflowExecution");
        let _: SignalWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(())
    }

    pub async fn delete_workflow(
        &self,
        request: DeleteWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        let key = run_key(&request.namespace, request.workflow_execution.as_ref());
        let method = workflow_service!("DeleteWorkflowExecution");
        let _: DeleteWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(())
    }

    pub async fn reset_workflow(
        &self,
        request: ResetWorkflowExecutionRequest,
    ) -> Result<(), Status> {
        let key = run_key(&request.namespace, request.workflow_execution.as_ref());
        let method = workflow_service!("ResetWorkflowExecution");
        let _: ResetWorkflowExecutionResponse =
            self.call_owner((&key.0, &key.1), method, request).await?;
        Ok(())
    }
}

/// The (namespace, workflow id) a request's execution names.
fn run_key(
    namespace: &str,
    execution: Option<&temper_api::proto::common::v1::WorkflowExecution>,
) -> (String, String) {
    let workflow_id = execution.map(|e| e.workflow_id.clone()).unwrap_or_default();
    (namespace.to_string(), workflow_id)
}

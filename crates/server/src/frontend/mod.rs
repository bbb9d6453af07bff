//! The `WorkflowService` frontend: validates requests, resolves namespaces, calls the history
//! side (one module per RPC family under `history/`) and builds Temporal's responses (the
//! builders are in `responses.rs`). Each RPC's trait method is here and hands the request to
//! the module named for its family (`starts.rs`, `workflow_tasks.rs`, `visibility.rs`, ...).
//! RPCs Temper does not serve yet answer UNIMPLEMENTED (the generated default), naming the RPC.

use std::sync::Arc;

use temper_api::proto::workflowservice::v1::*;
use temper_api::workflowservice::workflow_service_server::WorkflowService;
use tonic::{Request, Response, Status};

use crate::activity_executions::ActivityExecutions;
use crate::batches::Batches;
use crate::deployments::Deployments;
use crate::errors;
use crate::history::History;
use crate::namespaces::Namespaces;
use crate::schedules::Schedules;
use crate::task_queue_configs::TaskQueueConfigs;
use crate::validation::{client_poll_wait, poll_wait};
use crate::workers::Workers;

mod activity_operations;
mod activity_tasks;
mod checks;
mod cluster;
mod history_pages;
mod namespaces;
mod nexus;
mod polls;
mod queries_and_updates;
mod refusals;
mod remote_tasks;
mod responses;
mod starts;
mod task_queues;
mod visibility;
mod workflow_executions;
mod workflow_options;
mod workflow_tasks;

/// Responses smaller than this go uncompressed even to a client that accepts gzip: deflating
/// a few hundred bytes saves nothing on the wire (gzip's framing alone is 18 bytes) and costs
/// a compressor set up per message: leaving them uncompressed cut the server's CPU per
/// workflow by 30 % under the SDKs' gzip (`docs/performance.md`, step 12). Larger ones
/// (histories, lists) are compressed as the client asked.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Every `WorkflowService` response: compressed only when it is large enough to gain by it.
fn respond<T: prost::Message>(message: T) -> Response<T> {
    let small = message.encoded_len() < COMPRESS_FROM_BYTES;
    let mut response = Response::new(message);
    if small {
        response.disable_compression();
    }
    response
}

pub const SERVER_VERSION: &str = "1.29.0";

const VERSION_SETS_DISABLED: &str =
    "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.";
const VERSIONING_RULES_DISABLED: &str =
    "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace.";

#[derive(Clone)]
pub struct Frontend {
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    schedules: Arc<Schedules>,
    batches: Arc<Batches>,
    workers: Arc<Workers>,
    activity_executions: Arc<ActivityExecutions>,
    deployments: Arc<Deployments>,
    task_queue_configs: Arc<TaskQueueConfigs>,
}

/// The services the frontend hands requests to, besides history and namespaces.
pub struct Services {
    pub schedules: Arc<Schedules>,
    pub batches: Arc<Batches>,
    pub workers: Arc<Workers>,
    pub activity_executions: Arc<ActivityExecutions>,
    pub deployments: Arc<Deployments>,
    pub task_queue_configs: Arc<TaskQueueConfigs>,
}

impl Frontend {
    pub fn new(history: Arc<History>, namespaces: Arc<Namespaces>, services: Services) -> Self {
        let Services {
            schedules,
            batches,
            workers,
            activity_executions,
            deployments,
            task_queue_configs,
        } = services;
        Frontend {
            history,
            namespaces,
            schedules,
            batches,
            workers,
            activity_executions,
            deployments,
            task_queue_configs,
        }
    }
}

#[tonic::async_trait]
impl WorkflowService for Frontend {
    async fn get_system_info(
        &self,
        _request: Request<GetSystemInfoRequest>,
    ) -> Result<Response<GetSystemInfoResponse>, Status> {
        Ok(respond(GetSystemInfoResponse {
            server_version: SERVER_VERSION.to_string(),
            capabilities: Some(get_system_info_response::Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                upsert_memo: true,
                eager_workflow_start: true,
                sdk_metadata: true,
                count_group_by_execution_status: true,
                supports_schedules: true,
                nexus: true,
                ..Default::default()
            }),
        }))
    }

    async fn describe_namespace(
        &self,
        request: Request<DescribeNamespaceRequest>,
    ) -> Result<Response<DescribeNamespaceResponse>, Status> {
        Ok(respond(self.describe_namespace_op(request.into_inner())?))
    }

    async fn list_namespaces(
        &self,
        request: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        Ok(respond(self.list_namespaces_op(request.into_inner())))
    }

    async fn get_cluster_info(
        &self,
        _request: Request<GetClusterInfoRequest>,
    ) -> Result<Response<GetClusterInfoResponse>, Status> {
        Ok(respond(self.cluster_info()?))
    }

    async fn list_task_queue_partitions(
        &self,
        request: Request<ListTaskQueuePartitionsRequest>,
    ) -> Result<Response<ListTaskQueuePartitionsResponse>, Status> {
        let local = request.local_addr();
        let request = request.into_inner();
        let partitions =
            self.task_queue_partitions(&request.namespace, request.task_queue.as_ref(), local)?;
        Ok(respond(partitions))
    }

    async fn register_namespace(
        &self,
        request: Request<RegisterNamespaceRequest>,
    ) -> Result<Response<RegisterNamespaceResponse>, Status> {
        self.register_namespace_op(request.into_inner()).await?;
        Ok(respond(RegisterNamespaceResponse {}))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> Result<Response<StartWorkflowExecutionResponse>, Status> {
        Ok(respond(
            self.start_workflow_execution_op(request.into_inner())
                .await?,
        ))
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWithStartWorkflowExecutionResponse>, Status> {
        Ok(respond(
            self.signal_with_start_workflow_execution_op(request.into_inner())
                .await?,
        ))
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<PollWorkflowTaskQueueRequest>,
    ) -> Result<Response<PollWorkflowTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        Ok(respond(
            self.poll_workflow_task_queue_op(request.into_inner(), wait)
                .await?,
        ))
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Result<Response<RespondWorkflowTaskCompletedResponse>, Status> {
        Ok(respond(
            self.respond_workflow_task_completed_op(request.into_inner())
                .await?,
        ))
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Result<Response<RespondWorkflowTaskFailedResponse>, Status> {
        self.respond_workflow_task_failed_op(request.into_inner())
            .await?;
        Ok(respond(RespondWorkflowTaskFailedResponse::default()))
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<PollActivityTaskQueueRequest>,
    ) -> Result<Response<PollActivityTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        Ok(respond(
            self.poll_activity_task_queue_op(request.into_inner(), wait)
                .await?,
        ))
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Result<Response<RecordActivityTaskHeartbeatResponse>, Status> {
        let request = request.into_inner();
        let attempt = self.attempt_of_token(&request.task_token, &request.namespace)?;
        let answer = self.heartbeat_attempt(attempt, request.details).await?;
        Ok(respond(RecordActivityTaskHeartbeatResponse {
            cancel_requested: answer.cancel_requested,
            activity_paused: answer.paused,
            activity_reset: answer.reset,
        }))
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Result<Response<RecordActivityTaskHeartbeatByIdResponse>, Status> {
        let r = request.into_inner();
        let attempt = self
            .attempt_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)
            .await?;
        let answer = self.heartbeat_attempt(attempt, r.details).await?;
        Ok(respond(RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested: answer.cancel_requested,
            activity_paused: answer.paused,
            activity_reset: answer.reset,
        }))
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<RespondActivityTaskCompletedRequest>,
    ) -> Result<Response<RespondActivityTaskCompletedResponse>, Status> {
        let r = request.into_inner();
        let attempt = self.attempt_of_token(&r.task_token, &r.namespace)?;
        self.complete_attempt(attempt, r.result, &r.identity)
            .await?;
        Ok(respond(Default::default()))
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Result<Response<RespondActivityTaskCompletedByIdResponse>, Status> {
        let r = request.into_inner();
        let attempt = self
            .attempt_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)
            .await?;
        self.complete_attempt(attempt, r.result, &r.identity)
            .await?;
        Ok(respond(Default::default()))
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<RespondActivityTaskFailedRequest>,
    ) -> Result<Response<RespondActivityTaskFailedResponse>, Status> {
        let r = request.into_inner();
        let attempt = self.attempt_of_token(&r.task_token, &r.namespace)?;
        let replaced = self
            .fail_attempt(attempt, r.failure, r.last_heartbeat_details, &r.identity)
            .await?;
        Ok(respond(RespondActivityTaskFailedResponse {
            failures: replaced.into_iter().collect(),
        }))
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Result<Response<RespondActivityTaskFailedByIdResponse>, Status> {
        let r = request.into_inner();
        let attempt = self
            .attempt_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)
            .await?;
        self.fail_attempt(attempt, r.failure, r.last_heartbeat_details, &r.identity)
            .await?;
        Ok(respond(Default::default()))
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<RespondActivityTaskCanceledRequest>,
    ) -> Result<Response<RespondActivityTaskCanceledResponse>, Status> {
        let r = request.into_inner();
        let attempt = self.attempt_of_token(&r.task_token, &r.namespace)?;
        self.cancel_attempt(attempt, r.details, &r.identity).await?;
        Ok(respond(Default::default()))
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Result<Response<RespondActivityTaskCanceledByIdResponse>, Status> {
        let r = request.into_inner();
        let attempt = self
            .attempt_by_id(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)
            .await?;
        self.cancel_attempt(attempt, r.details, &r.identity).await?;
        Ok(respond(Default::default()))
    }

    async fn describe_worker_deployment(
        &self,
        request: Request<DescribeWorkerDeploymentRequest>,
    ) -> Result<Response<DescribeWorkerDeploymentResponse>, Status> {
        let response = self.deployments.describe(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn describe_worker_deployment_version(
        &self,
        request: Request<DescribeWorkerDeploymentVersionRequest>,
    ) -> Result<Response<DescribeWorkerDeploymentVersionResponse>, Status> {
        let response = self
            .deployments
            .describe_version(request.into_inner())
            .await?;
        Ok(respond(response))
    }

    async fn list_worker_deployments(
        &self,
        request: Request<ListWorkerDeploymentsRequest>,
    ) -> Result<Response<ListWorkerDeploymentsResponse>, Status> {
        let response = self.deployments.list(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn set_worker_deployment_current_version(
        &self,
        request: Request<SetWorkerDeploymentCurrentVersionRequest>,
    ) -> Result<Response<SetWorkerDeploymentCurrentVersionResponse>, Status> {
        let response = self.deployments.set_current(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn set_worker_deployment_ramping_version(
        &self,
        request: Request<SetWorkerDeploymentRampingVersionRequest>,
    ) -> Result<Response<SetWorkerDeploymentRampingVersionResponse>, Status> {
        let response = self.deployments.set_ramping(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn set_worker_deployment_manager(
        &self,
        request: Request<SetWorkerDeploymentManagerRequest>,
    ) -> Result<Response<SetWorkerDeploymentManagerResponse>, Status> {
        let response = self.deployments.set_manager(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn update_worker_deployment_version_metadata(
        &self,
        request: Request<UpdateWorkerDeploymentVersionMetadataRequest>,
    ) -> Result<Response<UpdateWorkerDeploymentVersionMetadataResponse>, Status> {
        let response = self
            .deployments
            .update_version_metadata(request.into_inner())
            .await?;
        Ok(respond(response))
    }

    async fn create_worker_deployment(
        &self,
        request: Request<CreateWorkerDeploymentRequest>,
    ) -> Result<Response<CreateWorkerDeploymentResponse>, Status> {
        let response = self.deployments.create(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn delete_worker_deployment(
        &self,
        request: Request<DeleteWorkerDeploymentRequest>,
    ) -> Result<Response<DeleteWorkerDeploymentResponse>, Status> {
        self.deployments.delete(request.into_inner()).await?;
        Ok(respond(Default::default()))
    }

    async fn delete_worker_deployment_version(
        &self,
        request: Request<DeleteWorkerDeploymentVersionRequest>,
    ) -> Result<Response<DeleteWorkerDeploymentVersionResponse>, Status> {
        self.deployments
            .delete_version(request.into_inner())
            .await?;
        Ok(respond(Default::default()))
    }

    async fn update_task_queue_config(
        &self,
        request: Request<UpdateTaskQueueConfigRequest>,
    ) -> Result<Response<UpdateTaskQueueConfigResponse>, Status> {
        let response = self.task_queue_configs.update(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn describe_deployment(
        &self,
        _request: Request<DescribeDeploymentRequest>,
    ) -> Result<Response<DescribeDeploymentResponse>, Status> {
        Err(refusals::deprecated_deployments())
    }

    async fn list_deployments(
        &self,
        _request: Request<ListDeploymentsRequest>,
    ) -> Result<Response<ListDeploymentsResponse>, Status> {
        Err(refusals::deprecated_deployments())
    }

    async fn get_deployment_reachability(
        &self,
        _request: Request<GetDeploymentReachabilityRequest>,
    ) -> Result<Response<GetDeploymentReachabilityResponse>, Status> {
        Err(refusals::deprecated_deployments())
    }

    async fn get_current_deployment(
        &self,
        _request: Request<GetCurrentDeploymentRequest>,
    ) -> Result<Response<GetCurrentDeploymentResponse>, Status> {
        Err(refusals::deprecated_deployments())
    }

    async fn set_current_deployment(
        &self,
        _request: Request<SetCurrentDeploymentRequest>,
    ) -> Result<Response<SetCurrentDeploymentResponse>, Status> {
        Err(refusals::deprecated_deployments())
    }

    async fn pause_workflow_execution(
        &self,
        request: Request<PauseWorkflowExecutionRequest>,
    ) -> Result<Response<PauseWorkflowExecutionResponse>, Status> {
        Err(refusals::workflow_pause_disabled(
            request.get_ref().namespace.as_str(),
        ))
    }

    async fn unpause_workflow_execution(
        &self,
        request: Request<UnpauseWorkflowExecutionRequest>,
    ) -> Result<Response<UnpauseWorkflowExecutionResponse>, Status> {
        self.unpause_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(UnpauseWorkflowExecutionResponse::default()))
    }

    async fn start_nexus_operation_execution(
        &self,
        _request: Request<StartNexusOperationExecutionRequest>,
    ) -> Result<Response<StartNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn describe_nexus_operation_execution(
        &self,
        _request: Request<DescribeNexusOperationExecutionRequest>,
    ) -> Result<Response<DescribeNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn poll_nexus_operation_execution(
        &self,
        _request: Request<PollNexusOperationExecutionRequest>,
    ) -> Result<Response<PollNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn list_nexus_operation_executions(
        &self,
        _request: Request<ListNexusOperationExecutionsRequest>,
    ) -> Result<Response<ListNexusOperationExecutionsResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn count_nexus_operation_executions(
        &self,
        _request: Request<CountNexusOperationExecutionsRequest>,
    ) -> Result<Response<CountNexusOperationExecutionsResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn request_cancel_nexus_operation_execution(
        &self,
        _request: Request<RequestCancelNexusOperationExecutionRequest>,
    ) -> Result<Response<RequestCancelNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn terminate_nexus_operation_execution(
        &self,
        _request: Request<TerminateNexusOperationExecutionRequest>,
    ) -> Result<Response<TerminateNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn delete_nexus_operation_execution(
        &self,
        _request: Request<DeleteNexusOperationExecutionRequest>,
    ) -> Result<Response<DeleteNexusOperationExecutionResponse>, Status> {
        Err(refusals::standalone_nexus_disabled())
    }

    async fn list_archived_workflow_executions(
        &self,
        _request: Request<ListArchivedWorkflowExecutionsRequest>,
    ) -> Result<Response<ListArchivedWorkflowExecutionsResponse>, Status> {
        Err(refusals::archival_disabled())
    }

    async fn deprecate_namespace(
        &self,
        request: Request<DeprecateNamespaceRequest>,
    ) -> Result<Response<DeprecateNamespaceResponse>, Status> {
        self.namespaces
            .deprecate(&request.into_inner().namespace)
            .await?;
        Ok(respond(Default::default()))
    }

    async fn create_worker_deployment_version(
        &self,
        request: Request<CreateWorkerDeploymentVersionRequest>,
    ) -> Result<Response<CreateWorkerDeploymentVersionResponse>, Status> {
        let response = self
            .deployments
            .create_version(request.into_inner())
            .await?;
        Ok(respond(response))
    }

    async fn start_activity_execution(
        &self,
        request: Request<StartActivityExecutionRequest>,
    ) -> Result<Response<StartActivityExecutionResponse>, Status> {
        let response = self.activity_executions.start(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn describe_activity_execution(
        &self,
        request: Request<DescribeActivityExecutionRequest>,
    ) -> Result<Response<DescribeActivityExecutionResponse>, Status> {
        let wait = client_poll_wait(&request);
        let response = self
            .activity_executions
            .describe(request.into_inner(), wait)
            .await?;
        Ok(respond(response))
    }

    async fn poll_activity_execution(
        &self,
        request: Request<PollActivityExecutionRequest>,
    ) -> Result<Response<PollActivityExecutionResponse>, Status> {
        let wait = client_poll_wait(&request);
        let response = self
            .activity_executions
            .poll(request.into_inner(), wait)
            .await?;
        Ok(respond(response))
    }

    async fn list_activity_executions(
        &self,
        request: Request<ListActivityExecutionsRequest>,
    ) -> Result<Response<ListActivityExecutionsResponse>, Status> {
        let response = self.activity_executions.list(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn count_activity_executions(
        &self,
        request: Request<CountActivityExecutionsRequest>,
    ) -> Result<Response<CountActivityExecutionsResponse>, Status> {
        let response = self.activity_executions.count(request.into_inner()).await?;
        Ok(respond(response))
    }

    async fn request_cancel_activity_execution(
        &self,
        request: Request<RequestCancelActivityExecutionRequest>,
    ) -> Result<Response<RequestCancelActivityExecutionResponse>, Status> {
        self.activity_executions
            .request_cancel(request.into_inner())
            .await?;
        Ok(respond(Default::default()))
    }

    async fn terminate_activity_execution(
        &self,
        request: Request<TerminateActivityExecutionRequest>,
    ) -> Result<Response<TerminateActivityExecutionResponse>, Status> {
        self.activity_executions
            .terminate(request.into_inner())
            .await?;
        Ok(respond(Default::default()))
    }

    async fn delete_activity_execution(
        &self,
        request: Request<DeleteActivityExecutionRequest>,
    ) -> Result<Response<DeleteActivityExecutionResponse>, Status> {
        self.activity_executions
            .delete(request.into_inner())
            .await?;
        Ok(respond(Default::default()))
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryResponse>, Status> {
        let page = self.history_page(request.into_inner()).await?;
        Ok(respond(page))
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryReverseResponse>, Status> {
        let page = self.history_page_reverse(request.into_inner()).await?;
        Ok(respond(page))
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<SignalWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWorkflowExecutionResponse>, Status> {
        self.signal_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(SignalWorkflowExecutionResponse::default()))
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Result<Response<RequestCancelWorkflowExecutionResponse>, Status> {
        self.request_cancel_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(RequestCancelWorkflowExecutionResponse::default()))
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<TerminateWorkflowExecutionRequest>,
    ) -> Result<Response<TerminateWorkflowExecutionResponse>, Status> {
        self.terminate_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(TerminateWorkflowExecutionResponse::default()))
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<DeleteWorkflowExecutionRequest>,
    ) -> Result<Response<DeleteWorkflowExecutionResponse>, Status> {
        self.delete_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(DeleteWorkflowExecutionResponse::default()))
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ListWorkflowExecutionsRequest>,
    ) -> Result<Response<ListWorkflowExecutionsResponse>, Status> {
        Ok(respond(
            self.list_workflow_executions_op(request.into_inner())
                .await?,
        ))
    }

    async fn list_open_workflow_executions(
        &self,
        request: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Result<Response<ListOpenWorkflowExecutionsResponse>, Status> {
        Ok(respond(
            self.list_open_workflow_executions_op(request.into_inner())
                .await?,
        ))
    }

    async fn list_closed_workflow_executions(
        &self,
        request: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Result<Response<ListClosedWorkflowExecutionsResponse>, Status> {
        Ok(respond(
            self.list_closed_workflow_executions_op(request.into_inner())
                .await?,
        ))
    }

    async fn scan_workflow_executions(
        &self,
        request: Request<ScanWorkflowExecutionsRequest>,
    ) -> Result<Response<ScanWorkflowExecutionsResponse>, Status> {
        Ok(respond(
            self.scan_workflow_executions_op(request.into_inner())
                .await?,
        ))
    }

    async fn count_workflow_executions(
        &self,
        request: Request<CountWorkflowExecutionsRequest>,
    ) -> Result<Response<CountWorkflowExecutionsResponse>, Status> {
        Ok(respond(
            self.count_workflow_executions_op(request.into_inner())
                .await?,
        ))
    }

    async fn get_search_attributes(
        &self,
        _request: Request<GetSearchAttributesRequest>,
    ) -> Result<Response<GetSearchAttributesResponse>, Status> {
        Ok(respond(self.get_search_attributes_op()?))
    }

    async fn update_namespace(
        &self,
        request: Request<UpdateNamespaceRequest>,
    ) -> Result<Response<UpdateNamespaceResponse>, Status> {
        Ok(respond(
            self.update_namespace_op(request.into_inner()).await?,
        ))
    }

    async fn describe_task_queue(
        &self,
        request: Request<DescribeTaskQueueRequest>,
    ) -> Result<Response<DescribeTaskQueueResponse>, Status> {
        Ok(respond(self.describe_queue(request.into_inner()).await?))
    }

    async fn reset_workflow_execution(
        &self,
        request: Request<ResetWorkflowExecutionRequest>,
    ) -> Result<Response<ResetWorkflowExecutionResponse>, Status> {
        let run_id = self
            .reset_workflow_execution_op(request.into_inner())
            .await?;
        Ok(respond(ResetWorkflowExecutionResponse { run_id }))
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> Result<Response<DescribeWorkflowExecutionResponse>, Status> {
        Ok(respond(
            self.describe_workflow_execution_op(request.into_inner())
                .await?,
        ))
    }

    async fn query_workflow(
        &self,
        request: Request<QueryWorkflowRequest>,
    ) -> Result<Response<QueryWorkflowResponse>, Status> {
        Ok(respond(self.query_workflow_op(request.into_inner()).await?))
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<RespondQueryTaskCompletedRequest>,
    ) -> Result<Response<RespondQueryTaskCompletedResponse>, Status> {
        self.respond_query_task_completed_op(request.into_inner())?;
        Ok(respond(RespondQueryTaskCompletedResponse::default()))
    }

    async fn update_workflow_execution(
        &self,
        request: Request<UpdateWorkflowExecutionRequest>,
    ) -> Result<Response<UpdateWorkflowExecutionResponse>, Status> {
        Ok(respond(
            self.update_workflow_execution_op(request.into_inner())
                .await?,
        ))
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ExecuteMultiOperationRequest>,
    ) -> Result<Response<ExecuteMultiOperationResponse>, Status> {
        Ok(respond(
            self.execute_multi_operation_op(request.into_inner())
                .await?,
        ))
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Result<Response<PollWorkflowExecutionUpdateResponse>, Status> {
        Ok(respond(
            self.poll_workflow_execution_update_op(request.into_inner())
                .await?,
        ))
    }

    async fn shutdown_worker(
        &self,
        request: Request<ShutdownWorkerRequest>,
    ) -> Result<Response<ShutdownWorkerResponse>, Status> {
        self.shutdown_worker_op(request.into_inner()).await?;
        Ok(respond(ShutdownWorkerResponse::default()))
    }

    async fn poll_nexus_task_queue(
        &self,
        request: Request<PollNexusTaskQueueRequest>,
    ) -> Result<Response<PollNexusTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        Ok(respond(
            self.poll_nexus_task_queue_op(request.into_inner(), wait)
                .await?,
        ))
    }

    async fn respond_nexus_task_completed(
        &self,
        request: Request<RespondNexusTaskCompletedRequest>,
    ) -> Result<Response<RespondNexusTaskCompletedResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.complete_nexus_task(request).await?;
        Ok(respond(RespondNexusTaskCompletedResponse::default()))
    }

    async fn respond_nexus_task_failed(
        &self,
        request: Request<RespondNexusTaskFailedRequest>,
    ) -> Result<Response<RespondNexusTaskFailedResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.fail_nexus_task(request).await?;
        Ok(respond(RespondNexusTaskFailedResponse::default()))
    }

    async fn pause_activity(
        &self,
        request: Request<PauseActivityRequest>,
    ) -> Result<Response<PauseActivityResponse>, Status> {
        self.pause_activity_op(request.into_inner()).await?;
        Ok(respond(PauseActivityResponse::default()))
    }

    async fn unpause_activity(
        &self,
        request: Request<UnpauseActivityRequest>,
    ) -> Result<Response<UnpauseActivityResponse>, Status> {
        self.unpause_activity_op(request.into_inner()).await?;
        Ok(respond(UnpauseActivityResponse::default()))
    }

    async fn reset_activity(
        &self,
        request: Request<ResetActivityRequest>,
    ) -> Result<Response<ResetActivityResponse>, Status> {
        self.reset_activity_op(request.into_inner()).await?;
        Ok(respond(ResetActivityResponse::default()))
    }

    async fn update_activity_options(
        &self,
        request: Request<UpdateActivityOptionsRequest>,
    ) -> Result<Response<UpdateActivityOptionsResponse>, Status> {
        let options = self
            .update_activity_options_op(request.into_inner())
            .await?;
        Ok(respond(UpdateActivityOptionsResponse {
            activity_options: Some(options),
        }))
    }

    async fn update_activity_execution_options(
        &self,
        request: Request<UpdateActivityExecutionOptionsRequest>,
    ) -> Result<Response<UpdateActivityExecutionOptionsResponse>, Status> {
        let options = self
            .update_activity_execution_options_op(request.into_inner())
            .await?;
        Ok(respond(UpdateActivityExecutionOptionsResponse {
            activity_options: Some(options),
        }))
    }

    async fn update_workflow_execution_options(
        &self,
        request: Request<UpdateWorkflowExecutionOptionsRequest>,
    ) -> Result<Response<UpdateWorkflowExecutionOptionsResponse>, Status> {
        Ok(respond(
            self.update_workflow_options_op(request.into_inner())
                .await?,
        ))
    }

    async fn pause_activity_execution(
        &self,
        request: Request<PauseActivityExecutionRequest>,
    ) -> Result<Response<PauseActivityExecutionResponse>, Status> {
        self.pause_activity_execution_op(request.into_inner())
            .await?;
        Ok(respond(PauseActivityExecutionResponse::default()))
    }

    async fn unpause_activity_execution(
        &self,
        request: Request<UnpauseActivityExecutionRequest>,
    ) -> Result<Response<UnpauseActivityExecutionResponse>, Status> {
        self.unpause_activity_execution_op(request.into_inner())
            .await?;
        Ok(respond(UnpauseActivityExecutionResponse::default()))
    }

    async fn reset_activity_execution(
        &self,
        request: Request<ResetActivityExecutionRequest>,
    ) -> Result<Response<ResetActivityExecutionResponse>, Status> {
        self.reset_activity_execution_op(request.into_inner())
            .await?;
        Ok(respond(ResetActivityExecutionResponse::default()))
    }

    // Worker versioning v0.1 and v0.2 are deprecated: Temporal's dev server refuses them
    // with these words, and so does Temper.
    async fn update_worker_build_id_compatibility(
        &self,
        request: Request<UpdateWorkerBuildIdCompatibilityRequest>,
    ) -> Result<Response<UpdateWorkerBuildIdCompatibilityResponse>, Status> {
        self.namespaces.require(&request.get_ref().namespace)?;
        Err(errors::permission_denied(VERSION_SETS_DISABLED))
    }

    async fn get_worker_build_id_compatibility(
        &self,
        request: Request<GetWorkerBuildIdCompatibilityRequest>,
    ) -> Result<Response<GetWorkerBuildIdCompatibilityResponse>, Status> {
        self.namespaces.require(&request.get_ref().namespace)?;
        Err(errors::permission_denied(VERSION_SETS_DISABLED))
    }

    async fn update_worker_versioning_rules(
        &self,
        request: Request<UpdateWorkerVersioningRulesRequest>,
    ) -> Result<Response<UpdateWorkerVersioningRulesResponse>, Status> {
        self.namespaces.require(&request.get_ref().namespace)?;
        Err(errors::permission_denied(VERSIONING_RULES_DISABLED))
    }

    async fn get_worker_versioning_rules(
        &self,
        request: Request<GetWorkerVersioningRulesRequest>,
    ) -> Result<Response<GetWorkerVersioningRulesResponse>, Status> {
        self.namespaces.require(&request.get_ref().namespace)?;
        Err(errors::permission_denied(VERSIONING_RULES_DISABLED))
    }

    async fn get_worker_task_reachability(
        &self,
        request: Request<GetWorkerTaskReachabilityRequest>,
    ) -> Result<Response<GetWorkerTaskReachabilityResponse>, Status> {
        self.namespaces.require(&request.get_ref().namespace)?;
        Err(errors::permission_denied(VERSIONING_RULES_DISABLED))
    }

    async fn record_worker_heartbeat(
        &self,
        request: Request<RecordWorkerHeartbeatRequest>,
    ) -> Result<Response<RecordWorkerHeartbeatResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.workers
            .record(&request.namespace, request.worker_heartbeat);
        Ok(respond(RecordWorkerHeartbeatResponse::default()))
    }

    async fn list_workers(
        &self,
        request: Request<ListWorkersRequest>,
    ) -> Result<Response<ListWorkersResponse>, Status> {
        self.workers.list(request.into_inner()).map(Response::new)
    }

    async fn count_workers(
        &self,
        request: Request<CountWorkersRequest>,
    ) -> Result<Response<CountWorkersResponse>, Status> {
        self.workers.count(request.into_inner()).map(Response::new)
    }

    async fn describe_worker(
        &self,
        request: Request<DescribeWorkerRequest>,
    ) -> Result<Response<DescribeWorkerResponse>, Status> {
        self.workers
            .describe(request.into_inner())
            .map(Response::new)
    }

    /// Worker commands are off, as on Temporal's dev server (the SDKs do not poll for them).
    async fn fetch_worker_config(
        &self,
        _request: Request<FetchWorkerConfigRequest>,
    ) -> Result<Response<FetchWorkerConfigResponse>, Status> {
        Err(Status::unimplemented(
            "FetchWorkerConfig command is not enabled.",
        ))
    }

    async fn update_worker_config(
        &self,
        _request: Request<UpdateWorkerConfigRequest>,
    ) -> Result<Response<UpdateWorkerConfigResponse>, Status> {
        Err(Status::unimplemented(
            "UpdateWorkerConfig command is not enabled.",
        ))
    }

    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> Result<Response<CreateScheduleResponse>, Status> {
        Ok(respond(self.schedules.create(request.into_inner()).await?))
    }

    async fn describe_schedule(
        &self,
        request: Request<DescribeScheduleRequest>,
    ) -> Result<Response<DescribeScheduleResponse>, Status> {
        Ok(respond(
            self.schedules.describe(request.into_inner()).await?,
        ))
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Result<Response<UpdateScheduleResponse>, Status> {
        Ok(respond(self.schedules.update(request.into_inner()).await?))
    }

    async fn patch_schedule(
        &self,
        request: Request<PatchScheduleRequest>,
    ) -> Result<Response<PatchScheduleResponse>, Status> {
        Ok(respond(self.schedules.patch(request.into_inner()).await?))
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Result<Response<DeleteScheduleResponse>, Status> {
        Ok(respond(self.schedules.delete(request.into_inner()).await?))
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesResponse>, Status> {
        Ok(respond(self.schedules.list(request.into_inner()).await?))
    }

    async fn count_schedules(
        &self,
        request: Request<CountSchedulesRequest>,
    ) -> Result<Response<CountSchedulesResponse>, Status> {
        Ok(respond(self.schedules.count(request.into_inner()).await?))
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ListScheduleMatchingTimesRequest>,
    ) -> Result<Response<ListScheduleMatchingTimesResponse>, Status> {
        let request = request.into_inner();
        Ok(respond(self.schedules.matching_times(request).await?))
    }

    async fn start_batch_operation(
        &self,
        request: Request<StartBatchOperationRequest>,
    ) -> Result<Response<StartBatchOperationResponse>, Status> {
        Ok(respond(self.batches.start(request.into_inner()).await?))
    }

    async fn describe_batch_operation(
        &self,
        request: Request<DescribeBatchOperationRequest>,
    ) -> Result<Response<DescribeBatchOperationResponse>, Status> {
        Ok(respond(self.batches.describe(request.into_inner()).await?))
    }

    async fn list_batch_operations(
        &self,
        request: Request<ListBatchOperationsRequest>,
    ) -> Result<Response<ListBatchOperationsResponse>, Status> {
        Ok(respond(self.batches.list(request.into_inner()).await?))
    }

    async fn stop_batch_operation(
        &self,
        request: Request<StopBatchOperationRequest>,
    ) -> Result<Response<StopBatchOperationResponse>, Status> {
        Ok(respond(self.batches.stop(request.into_inner()).await?))
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ResetStickyTaskQueueRequest>,
    ) -> Result<Response<ResetStickyTaskQueueResponse>, Status> {
        self.reset_sticky_task_queue_op(request.into_inner())
            .await?;
        Ok(respond(ResetStickyTaskQueueResponse::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codec::SingleMessageCompressionOverride;

    fn compression_disabled<T>(response: &Response<T>) -> bool {
        response
            .extensions()
            .get::<SingleMessageCompressionOverride>()
            == Some(&SingleMessageCompressionOverride::Disable)
    }

    #[test]
    fn only_responses_worth_compressing_are_compressed() {
        let small = respond(StartWorkflowExecutionResponse {
            run_id: "0190c3a2-7c5e-7b4e-9f3a-1d2c3b4a5f60".into(),
            ..Default::default()
        });
        assert!(compression_disabled(&small));
        let large = respond(GetSystemInfoResponse {
            server_version: "x".repeat(COMPRESS_FROM_BYTES),
            ..Default::default()
        });
        assert!(!compression_disabled(&large));
    }
}

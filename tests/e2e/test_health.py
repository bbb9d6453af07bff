"""gRPC health checks answer for the services Temporal's frontend names, and NOT_FOUND for any
other name (load balancers and the SDKs' `check_health` rely on both)."""

import grpc
import pytest
from temporalio.client import Client

from test_differential import temporal_server  # noqa: F401 (fixture)

SERVING = ["", "temporal.api.workflowservice.v1.WorkflowService",
           "temporal.api.operatorservice.v1.OperatorService", "temporal.api.adminservice.v1.AdminService"]


async def health(target: str, service: str) -> tuple:
    """(status code name, SERVING?, message) of a raw Health/Check call."""
    request = b"\x0a" + bytes([len(service)]) + service.encode() if service else b""
    async with grpc.aio.insecure_channel(target) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            response = await check(request, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code().name, False, error.details()
    return "OK", response == b"\x08\x01", ""


async def check_health(target: str) -> None:
    for service in SERVING:
        assert await health(target, service) == ("OK", True, ""), service
    assert await health(target, "foo") == ("NOT_FOUND", False, "unknown service")
    client = await Client.connect(target)
    assert await client.service_client.check_health()


async def test_health_names_the_frontend_services(temper):
    await check_health(temper.target)


async def test_temporal_answers_health_checks_the_same(temporal_server):  # noqa: F811
    await check_health(temporal_server)

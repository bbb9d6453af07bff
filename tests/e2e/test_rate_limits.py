"""Per-namespace rate limits (`frontend.namespaceRPS`, as Temporal's dev server takes it): a
burst over the limit gets RESOURCE_EXHAUSTED with the `ResourceExhaustedFailure` detail (cause
RPS_LIMIT, scope NAMESPACE), other namespaces are not affected, and the SDK's retries carry
workflows through."""

import asyncio
import uuid

from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import TemperServer
from guide import OrderProcessingWorkflow, cancel_order, fulfill_order, process_payment


async def test_a_burst_over_the_namespace_limit(tmp_path):
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=[
        "--dynamic-config-value", "frontend.namespaceRPS=5", "--namespace", "other"])
    server.start()
    try:
        client = await Client.connect(server.target)
        service = client.workflow_service

        async def describe(namespace: str):
            try:
                await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace), retry=False)
                return None
            except RPCError as error:
                return error
        errors = [e for e in await asyncio.gather(*(describe("default") for _ in range(40))) if e]
        assert len(errors) >= 20, f"only {len(errors)} of 40 refused"
        refused = errors[0]
        assert refused.status == RPCStatusCode.RESOURCE_EXHAUSTED
        assert refused.message == "namespace rate limit exceeded"
        detail = ResourceExhaustedFailure()
        assert refused.grpc_status.details[0].Unpack(detail)
        assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
        assert detail.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
        assert await describe("other") is None, "another namespace has its own budget"

        # The SDK retries RESOURCE_EXHAUSTED: ten workflows at once still all complete.
        queue = f"rps-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[OrderProcessingWorkflow],
                          activities=[process_payment, fulfill_order, cancel_order]):
            results = await asyncio.gather(*(
                client.execute_workflow(OrderProcessingWorkflow.run, f"o-{i}", id=f"{queue}-{i}", task_queue=queue)
                for i in range(10)))
        assert results == ["Order completed successfully"] * 10
    finally:
        server.stop()


async def test_concurrent_long_polls_are_bounded(tmp_path):
    """`frontend.namespaceCount=2`: a third concurrent activity poll of a namespace is refused."""
    from datetime import timedelta

    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import PollActivityTaskQueueRequest

    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=[
        "--dynamic-config-value", "frontend.namespaceCount=2"])
    server.start()
    try:
        client = await Client.connect(server.target)
        request = PollActivityTaskQueueRequest(namespace="default", task_queue=TaskQueue(name="q"), identity="w")

        async def poll():
            try:
                await client.workflow_service.poll_activity_task_queue(
                    request, retry=False, timeout=timedelta(seconds=3))
                return None
            except RPCError as error:
                return error
        outcomes = await asyncio.gather(*(poll() for _ in range(3)))
        refused = [o for o in outcomes if o is not None]
        assert len(refused) == 1, outcomes
        assert refused[0].status == RPCStatusCode.RESOURCE_EXHAUSTED
        assert refused[0].message == "namespace concurrent poller limit exceeded"
        detail = ResourceExhaustedFailure()
        assert refused[0].grpc_status.details[0].Unpack(detail)
        assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT
        assert await poll() is None, "places are given back when polls end"
    finally:
        server.stop()

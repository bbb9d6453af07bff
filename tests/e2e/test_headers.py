"""Request metadata as large as Temporal accepts (grpc-go's 16 MiB header list): big values
and many entries pass; past the limit only that one request is refused, and the calls in
flight on the same connection (an SDK multiplexes all of its calls on one) carry on."""

import asyncio
import uuid

import grpc
import pytest
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetSystemInfoRequest,
    PollWorkflowTaskQueueRequest,
    StartWorkflowExecutionRequest,
)

from raw_grpc import RawWorkflowService
from test_differential import temporal_server  # noqa: F401 (fixture)

ACCEPTED = {
    "one 64 KiB value": [("x-big", "a" * (64 << 10))],
    "one 1 MiB value": [("x-big", "a" * (1 << 20))],
    "one 15 MiB value": [("x-big", "a" * (15 << 20))],
    "1,000 entries": [(f"x-entry-{i}", "v" * 100) for i in range(1000)],
}


async def check_accepted(target: str) -> None:
    raw = RawWorkflowService(target)
    for name, metadata in ACCEPTED.items():
        response = await raw.call("GetSystemInfo", GetSystemInfoRequest(), metadata=metadata, timeout=30)
        assert response.server_version, name
    await raw.close()


async def test_large_metadata_is_accepted(temper):
    await check_accepted(temper.target)


async def test_temporal_accepts_the_same_metadata(temporal_server):  # noqa: F811
    await check_accepted(temporal_server)


async def test_metadata_past_the_limit_refuses_one_request_not_the_connection(temper):
    raw = RawWorkflowService(temper.target)
    queue = f"headers-{uuid.uuid4()}"
    poll = asyncio.ensure_future(raw.call("PollWorkflowTaskQueue", PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="headers"), timeout=30))
    await asyncio.sleep(0.5)
    with pytest.raises(grpc.aio.AioRpcError):
        await raw.call("GetSystemInfo", GetSystemInfoRequest(), metadata=[("x-big", "a" * (17 << 20))], timeout=30)
    # The same connection still serves: a new call, and the long poll that was in flight.
    await raw.call("StartWorkflowExecution", StartWorkflowExecutionRequest(
        namespace="default", workflow_id=f"headers-{uuid.uuid4()}", workflow_type=WorkflowType(name="W"),
        task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4())))
    task = await poll
    assert task.task_token
    await raw.close()

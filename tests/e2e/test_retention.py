"""Retention: a closed run disappears (list, describe, history) once its namespace's retention
has passed since it closed; an open run never does."""

import asyncio
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import wait_for
from visibility_workflows import OrderWorkflow

RETENTION_SECONDS = 2


async def test_closed_runs_are_deleted_after_retention(temper, task_queue):
    namespace = f"short-retention-{uuid.uuid4().hex[:8]}"
    admin = await Client.connect(temper.target)
    await admin.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=RETENTION_SECONDS),
    ))
    client = await Client.connect(temper.target, namespace=namespace)
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow]):
        closed = await client.start_workflow(OrderWorkflow.run, "done", id=f"closed-{uuid.uuid4()}", task_queue=task_queue)
        assert await closed.result() == "done"
        still_open = await client.start_workflow(OrderWorkflow.run, "wait", id=f"open-{uuid.uuid4()}", task_queue=task_queue)
        listed = [e.id async for e in client.list_workflows("")]
        assert sorted(listed) == sorted([closed.id, still_open.id])

        async def closed_is_gone() -> bool:
            return [e.id async for e in client.list_workflows("")] == [still_open.id]

        await wait_for(closed_is_gone, timeout=RETENTION_SECONDS + 10)
        for call in (closed.describe, closed.fetch_history):
            with pytest.raises(RPCError) as error:
                await call()
            assert error.value.status == RPCStatusCode.NOT_FOUND
        assert (await client.count_workflows("")).count == 1
        # The id is free again once its only run is gone.
        again = await client.start_workflow(OrderWorkflow.run, "done", id=closed.id, task_queue=task_queue)
        assert await again.result() == "done"
        # An open run outlives many retention periods.
        await asyncio.sleep(RETENTION_SECONDS * 2)
        assert (await still_open.describe()).status is not None
        assert len((await still_open.fetch_history()).events) >= 2
        await still_open.signal(OrderWorkflow.proceed)
        assert await still_open.result() == "wait"


async def test_closed_standalone_activities_are_deleted_after_retention(temper):
    from temporalio.api.common.v1 import ActivityType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import (
        DescribeActivityExecutionRequest, StartActivityExecutionRequest, TerminateActivityExecutionRequest)

    namespace = f"short-retention-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(temper.target)
    service = client.workflow_service
    await service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=RETENTION_SECONDS)))
    for activity_id in ("closed", "open"):
        await service.start_activity_execution(StartActivityExecutionRequest(
            namespace=namespace, activity_id=activity_id, activity_type=ActivityType(name="a"),
            task_queue=TaskQueue(name="nowhere"), start_to_close_timeout=Duration(seconds=60)))
    await service.terminate_activity_execution(TerminateActivityExecutionRequest(
        namespace=namespace, activity_id="closed"))

    async def described(activity_id: str):
        try:
            await service.describe_activity_execution(DescribeActivityExecutionRequest(
                namespace=namespace, activity_id=activity_id))
            return True
        except RPCError as error:
            assert error.status == RPCStatusCode.NOT_FOUND
            return False

    async def closed_is_gone() -> bool:
        return not await described("closed")

    await wait_for(closed_is_gone, timeout=RETENTION_SECONDS + 10)
    assert await described("open"), "an open activity run is never deleted"

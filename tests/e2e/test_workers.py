"""Matching and worker-facing behaviour: many workers on one queue, run timeouts, activities
completed by id, and the durable `temper server start` mode."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.worker import Worker

from conftest import TemperServer, wait_for
from scenarios import (
    AsyncActivityWorkflow,
    OneActivityWorkflow,
    WaitForSignalWorkflow,
    calls,
    complete_later,
    record,
)

WORKFLOWS = [OneActivityWorkflow, WaitForSignalWorkflow, AsyncActivityWorkflow]
ACTIVITIES = [record, complete_later]


async def test_many_workers_share_one_queue(temper, client, task_queue):
    # One client per worker, as separate worker processes would have.
    workers = [
        Worker(
            await Client.connect(temper.target),
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            identity=f"w{i}",
        )
        for i in range(3)
    ]
    for w in workers:
        await w.__aenter__()
    try:
        keys = [f"many-{uuid.uuid4()}" for _ in range(30)]
        handles = [
            await client.start_workflow(OneActivityWorkflow.run, k, id=k, task_queue=task_queue) for k in keys
        ]
        results = await asyncio.gather(*(h.result() for h in handles))
    finally:
        for w in workers:
            await w.__aexit__(None, None, None)
    assert results == [f"recorded {k}" for k in keys]
    assert all(calls("record", k) == [1] for k in keys)


async def test_workflow_execution_timeout(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            WaitForSignalWorkflow.run,
            "t",
            id=f"timeout-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=2),
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, TemporalTimeoutError)
    assert (await handle.describe()).status.name == "TIMED_OUT"


async def test_activity_completed_by_id(client, task_queue):
    key = str(uuid.uuid4())
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(AsyncActivityWorkflow.run, key, id=f"async-{key}", task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("complete_later", key)))
        activity = client.get_async_activity_handle(workflow_id=f"async-{key}", run_id=None, activity_id="async-1")
        await activity.heartbeat("still going")
        await activity.complete("done by id")
        assert await handle.result() == "done by id"


async def test_durable_server_start_keeps_state_across_restarts(tmp_path, task_queue):
    data_dir = tmp_path / "data"
    server = TemperServer(None, tmp_path / "start.log", ["server", "start", "--data-dir", str(data_dir)])
    server.start()
    try:
        client = await Client.connect(server.target)
        workflow_id = f"durable-{uuid.uuid4()}"
        async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
            result = await client.execute_workflow(OneActivityWorkflow.run, "d", id=workflow_id, task_queue=task_queue)
        assert result == "recorded d"
        server.stop()
        assert (data_dir / "temper.db").exists()
        server.start()
        client = await Client.connect(server.target)
        assert (await client.get_workflow_handle(workflow_id).describe()).status.name == "COMPLETED"
    finally:
        server.stop()

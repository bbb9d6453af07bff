"""A task queue holds at most `--queued-tasks-per-queue` tasks in memory; the rest wait in the
store (in their runs' states) and are read back as the queue drains. Here the limit is 5 and
40 workflows wait for workers at each step, also across a kill -9: every one completes, each
activity runs once."""

import asyncio
import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import TemperServer

from scenarios import CALLS, ActivityElsewhereWorkflow, record

RUNS = 40


@pytest.fixture
def small_queues(tmp_path):
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log",
                          extra_args=["--queued-tasks-per-queue", "5"])
    server.start()
    yield server
    server.stop()
    server.check_log_and_verify()


async def start_runs(client: Client, task_queue: str, key: str) -> list:
    return [await client.start_workflow(ActivityElsewhereWorkflow.run, args=[f"{key}-{n}", f"{task_queue}-act"],
                                        id=f"backlog-{key}-{n}", task_queue=task_queue)
            for n in range(RUNS)]


async def complete_all(client: Client, task_queue: str, key: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[ActivityElsewhereWorkflow]):
        # Every run's activity task waits on a queue nobody polls yet: 40 tasks, 5 in memory.
        await asyncio.sleep(2)
        async with Worker(client, task_queue=f"{task_queue}-act", activities=[record]):
            handles = [client.get_workflow_handle(f"backlog-{key}-{n}") for n in range(RUNS)]
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
    assert results == [f"recorded {key}-{n}" for n in range(RUNS)]
    calls = [k for (name, k, _) in CALLS if name == "record" and k.startswith(key)]
    assert sorted(calls) == sorted(f"{key}-{n}" for n in range(RUNS)), "each activity ran once"


async def test_tasks_beyond_the_queue_limit_wait_in_the_store(small_queues, task_queue):
    client = await Client.connect(small_queues.target)
    key = uuid.uuid4().hex
    await start_runs(client, task_queue, key)
    await complete_all(client, task_queue, key)


async def test_a_restart_with_more_waiting_tasks_than_the_limit_loses_none(small_queues, task_queue):
    client = await Client.connect(small_queues.target)
    key = uuid.uuid4().hex
    await start_runs(client, task_queue, key)
    small_queues.kill()
    small_queues.start()
    client = await Client.connect(small_queues.target)
    await complete_all(client, task_queue, key)

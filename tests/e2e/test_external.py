"""Signalling and cancelling other workflows from a workflow, and cancelling a child."""

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from conftest import history_types, wait_for
from scenarios import (
    CancelChildWorkflow,
    CancelOtherWorkflow,
    ChildWorkflow,
    SignalOtherWorkflow,
    WaitForSignalWorkflow,
    calls,
    record,
)

WORKFLOWS = [SignalOtherWorkflow, CancelOtherWorkflow, CancelChildWorkflow, ChildWorkflow, WaitForSignalWorkflow]


def worker(client, task_queue):
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[record])



async def test_signal_external_workflow(client, task_queue):
    key = f"target-{uuid.uuid4()}"
    async with worker(client, task_queue):
        target = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        sender = await client.start_workflow(SignalOtherWorkflow.run, key, id=f"sender-{key}", task_queue=task_queue)
        assert await sender.result() == "signalled"
        assert await target.result() == ["done"]
    types = await history_types(sender)
    assert "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in types
    assert "EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in types


async def test_signal_to_a_missing_workflow_fails(client, task_queue):
    async with worker(client, task_queue):
        result = await client.execute_workflow(
            SignalOtherWorkflow.run, f"missing-{uuid.uuid4()}", id=f"sender-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "ApplicationError"


async def test_cancel_external_workflow(client, task_queue):
    key = f"victim-{uuid.uuid4()}"
    async with worker(client, task_queue):
        target = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("record", key)))
        result = await client.execute_workflow(CancelOtherWorkflow.run, key, id=f"canceller-{key}", task_queue=task_queue)
        assert result == "cancel requested"
        with pytest.raises(WorkflowFailureError) as failure:
            await target.result()
    assert isinstance(failure.value.cause, CancelledError)
    cancel_requested = [
        e.workflow_execution_cancel_requested_event_attributes
        for e in (await target.fetch_history()).events
        if e.HasField("workflow_execution_cancel_requested_event_attributes")
    ]
    assert cancel_requested[0].external_workflow_execution.workflow_id == f"canceller-{key}"


async def test_cancel_a_child(client, task_queue):
    parent_id = f"parent-{uuid.uuid4()}"
    async with worker(client, task_queue):
        result = await client.execute_workflow(CancelChildWorkflow.run, id=parent_id, task_queue=task_queue)
    assert result == "ChildWorkflowError: CancelledError"
    child = client.get_workflow_handle(f"{parent_id}-child")
    assert (await child.describe()).status == WorkflowExecutionStatus.CANCELED
    types = await history_types(client.get_workflow_handle(parent_id))
    assert "EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED" in types

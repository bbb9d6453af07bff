"""A start reads nothing when its workflow id is new: it writes the run on condition that the id
has no current run (Temporal's "brand new" create), and only when the store says the id has one
does it read that run and apply the request id and the id policies. Counted with Temporal's
`persistence_requests` metric; the policies are checked through the Python SDK as users meet
them."""

import urllib.request
import uuid

import pytest
from temporalio.api.enums.v1 import WorkflowIdReusePolicy as RawReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.worker import Worker

from scenarios import OneActivityWorkflow, WaitForSignalWorkflow, record
from test_metrics import find, samples

STARTS = 5


def persistence_requests(port: int, operation: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        families = samples(response.read().decode())
    requests = families.get("persistence_requests", [])
    return sum(s.value for s in find(requests, "persistence_requests", operation=operation, namespace="default"))


async def test_a_new_workflow_id_starts_without_a_read(temper_with_metrics, task_queue):
    server, port = temper_with_metrics
    client = await Client.connect(server.target)
    reads = persistence_requests(port, "GetCurrentExecution")
    creates = persistence_requests(port, "CreateWorkflowExecution")
    for i in range(STARTS):
        await client.start_workflow(OneActivityWorkflow.run, f"k{i}", id=f"new-{uuid.uuid4()}", task_queue=task_queue)
    assert persistence_requests(port, "GetCurrentExecution") == reads
    assert persistence_requests(port, "CreateWorkflowExecution") == creates + STARTS
    # A reused id costs one refused write and one read before its run is written.
    workflow_id = f"reused-{uuid.uuid4()}"
    first = await client.start_workflow(OneActivityWorkflow.run, "a", id=workflow_id, task_queue=task_queue)
    await client.get_workflow_handle(workflow_id).terminate()
    reads = persistence_requests(port, "GetCurrentExecution")
    second = await client.start_workflow(OneActivityWorkflow.run, "b", id=workflow_id, task_queue=task_queue)
    assert second.result_run_id != first.result_run_id
    assert persistence_requests(port, "GetCurrentExecution") == reads + 1


async def test_a_reused_id_follows_its_policies(temper, task_queue):
    client = await Client.connect(temper.target)
    async with Worker(client, task_queue=task_queue, workflows=[OneActivityWorkflow, WaitForSignalWorkflow],
                      activities=[record]):
        workflow_id = f"policies-{uuid.uuid4()}"
        done = await client.start_workflow(OneActivityWorkflow.run, "x", id=workflow_id, task_queue=task_queue)
        assert await done.result() == "recorded x"
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(OneActivityWorkflow.run, "x", id=workflow_id, task_queue=task_queue,
                                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(OneActivityWorkflow.run, "x", id=workflow_id, task_queue=task_queue,
                                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        running = await client.start_workflow(WaitForSignalWorkflow.run, "y", id=workflow_id, task_queue=task_queue)
        assert running.result_run_id != done.result_run_id
        with pytest.raises(WorkflowAlreadyStartedError) as refused:
            await client.start_workflow(WaitForSignalWorkflow.run, "y", id=workflow_id, task_queue=task_queue)
        assert refused.value.run_id == running.result_run_id
        existing = await client.start_workflow(WaitForSignalWorkflow.run, "y", id=workflow_id, task_queue=task_queue,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        assert existing.result_run_id == running.result_run_id
        await running.signal(WaitForSignalWorkflow.add, "done")
        assert await running.result() == ["done"]
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.COMPLETED


async def test_a_retried_start_of_a_closed_run_returns_that_run(temper, task_queue):
    """The start's request id names the run it started, also once that run has closed: a
    retried start (the first answer lost) must not start a second run."""
    client = await Client.connect(temper.target)
    workflow_id = f"retried-{uuid.uuid4()}"
    request = StartWorkflowExecutionRequest(
        namespace="default", workflow_id=workflow_id, workflow_type=WorkflowType(name="OneActivityWorkflow"),
        task_queue=TaskQueue(name=task_queue), request_id=str(uuid.uuid4()),
        workflow_id_reuse_policy=RawReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
    first = await client.workflow_service.start_workflow_execution(request)
    await client.get_workflow_handle(workflow_id).terminate()
    again = await client.workflow_service.start_workflow_execution(request)
    assert again.run_id == first.run_id

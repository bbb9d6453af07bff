"""Completions the server refuses: bad timers, and what happens to the attempts after that.

Temporal's rules, matched here and checked against its dev server when it is installed:
- a zero timer is valid (it fires at once); a negative one fails the task with
  BAD_START_TIMER_ATTRIBUTES and Temporal's message;
- a refused completion at attempt 1 records WorkflowTaskFailed and the next attempt is
  dispatched at once; a refused completion at a later attempt is dropped (the caller gets
  the error) and that attempt is left to time out, so a worker stuck on bad commands retries
  once per workflow-task timeout instead of hundreds of times a second."""

import time
import uuid

import pytest
from temporalio.api.command.v1 import Command, StartTimerCommandAttributes
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType, PendingWorkflowTaskState, WorkflowTaskFailedCause
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import wait_for
from test_differential import temporal_server  # noqa: F401 (fixture)

TASK_TIMEOUT_SECONDS = 3


def timer(timer_id: str, seconds: int, nanos: int = 0) -> Command:
    command = Command(command_type=CommandType.COMMAND_TYPE_START_TIMER,
                      start_timer_command_attributes=StartTimerCommandAttributes(timer_id=timer_id))
    command.start_timer_command_attributes.start_to_fire_timeout.seconds = seconds
    command.start_timer_command_attributes.start_to_fire_timeout.nanos = nanos
    return command


class RawRun:
    """One run driven by hand through the SDK's raw service client."""

    def __init__(self, client: Client):
        self.client = client
        self.queue = f"refused-{uuid.uuid4()}"
        self.execution = WorkflowExecution(workflow_id=f"refused-{uuid.uuid4()}")

    async def start(self) -> None:
        request = StartWorkflowExecutionRequest(
            namespace="default", workflow_id=self.execution.workflow_id, workflow_type=WorkflowType(name="Raw"),
            task_queue=TaskQueue(name=self.queue), request_id=str(uuid.uuid4()))
        request.workflow_task_timeout.seconds = TASK_TIMEOUT_SECONDS
        response = await self.client.workflow_service.start_workflow_execution(request)
        self.execution.run_id = response.run_id

    async def poll(self):
        return await self.client.workflow_service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=self.queue), identity="raw"))

    async def complete(self, task, commands):
        return await self.client.workflow_service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=commands, identity="raw"))

    async def refused(self, task, commands) -> RPCError:
        with pytest.raises(RPCError) as error:
            await self.complete(task, commands)
        assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
        return error.value

    async def events(self):
        response = await self.client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace="default", execution=self.execution))
        return list(response.history.events)

    async def pending_task(self):
        response = await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace="default", execution=self.execution))
        return response.pending_workflow_task


async def zero_and_negative_timers(target: str) -> dict:
    run = RawRun(await Client.connect(target))
    await run.start()
    error = await run.refused(await run.poll(), [timer("negative", -1)])
    mixed = await run.refused(await run.poll(), [timer("mixed", 1, -5)])
    await run.complete(await run.poll(), [timer("zero", 0)])
    fired = await run.poll()  # the zero timer fires at once: a new workflow task
    events = await run.events()
    failed = next(e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    return {
        "negative": error.message,
        "mixed": mixed.message,
        "cause": WorkflowTaskFailedCause.Name(failed.workflow_task_failed_event_attributes.cause),
        "failure": failed.workflow_task_failed_event_attributes.failure.message,
        "server_failure": failed.workflow_task_failed_event_attributes.failure.HasField("server_failure_info"),
        "types": [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events],
        "fired_task": bool(fired.task_token),
    }


def check_timers(outcome: dict) -> None:
    prefix = "BadStartTimerAttributes: An invalid StartToFireTimeout is set on StartTimerCommand: "
    assert outcome["negative"] == prefix + "negative duration. TimerId=negative"
    assert outcome["mixed"] == prefix + "duration has seconds and nanos with different signs. TimerId=mixed"
    assert outcome["cause"] == "WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES"
    assert outcome["failure"] == prefix + "negative duration. TimerId=negative"
    assert outcome["server_failure"]
    assert outcome["fired_task"]
    assert outcome["types"] == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED", "TIMER_STARTED",
        "TIMER_FIRED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]


async def test_zero_timer_fires_and_negative_timer_is_refused(client):
    check_timers(await zero_and_negative_timers(client.service_client.config.target_host))


async def test_temporal_treats_timers_the_same(temporal_server):  # noqa: F811
    check_timers(await zero_and_negative_timers(temporal_server))


async def refused_attempts(target: str) -> dict:
    """Sends the same bad command at every attempt for a while; returns what was seen."""
    run = RawRun(await Client.connect(target))
    await run.start()
    started = time.monotonic()
    first = await run.poll()
    await run.refused(first, [timer("bad", -1)])
    second = await run.poll()
    refusal = await run.refused(second, [timer("bad", -1)])
    # Attempt 2's refusal is dropped: it stays started until its task timeout.
    pending = await run.pending_task()
    third = await run.poll()
    waited = time.monotonic() - started
    return {
        "attempts": [first.attempt, second.attempt, third.attempt],
        "refusal": refusal.message,
        "pending": (pending.attempt, PendingWorkflowTaskState.Name(pending.state)),
        "waited": waited,
        "failed_events": sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in await run.events()),
    }


def check_refused_attempts(outcome: dict) -> None:
    assert outcome["attempts"] == [1, 2, 3]
    assert outcome["refusal"].startswith("BadStartTimerAttributes: ")
    assert outcome["pending"] == (2, "PENDING_WORKFLOW_TASK_STATE_STARTED")
    # Attempt 3 came only after attempt 2 timed out, not at once.
    assert TASK_TIMEOUT_SECONDS - 0.5 <= outcome["waited"] < TASK_TIMEOUT_SECONDS + 5
    assert outcome["failed_events"] == 1


async def test_refused_retries_wait_for_the_task_timeout(client):
    check_refused_attempts(await refused_attempts(client.service_client.config.target_host))


async def test_temporal_waits_the_same_way(temporal_server):  # noqa: F811
    check_refused_attempts(await refused_attempts(temporal_server))


async def timeout_with_task_in_flight(target: str) -> list[str]:
    """A run times out while a worker holds its workflow task and a signal waits behind it;
    returns the run's event types."""
    run = RawRun(await Client.connect(target))
    request = StartWorkflowExecutionRequest(
        namespace="default", workflow_id=run.execution.workflow_id, workflow_type=WorkflowType(name="Raw"),
        task_queue=TaskQueue(name=run.queue), request_id=str(uuid.uuid4()))
    request.workflow_run_timeout.seconds = 2
    request.workflow_task_timeout.seconds = 10
    run.execution.run_id = (await run.client.workflow_service.start_workflow_execution(request)).run_id
    assert (await run.poll()).task_token
    handle = run.client.get_workflow_handle(run.execution.workflow_id)
    await handle.signal("waiting")

    async def timed_out():
        events = await run.events()
        return events if events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT else None

    events = await wait_for(timed_out, timeout=30)
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


TIMED_OUT_WITH_TASK_IN_FLIGHT = [
    "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_FAILED",
    "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_TIMED_OUT"]


async def test_a_timeout_keeps_the_events_buffered_behind_a_task_in_flight(client):
    types = await timeout_with_task_in_flight(client.service_client.config.target_host)
    assert types == TIMED_OUT_WITH_TASK_IN_FLIGHT


async def test_temporal_keeps_them_the_same_way(temporal_server):  # noqa: F811
    assert await timeout_with_task_in_flight(temporal_server) == TIMED_OUT_WITH_TASK_IN_FLIGHT

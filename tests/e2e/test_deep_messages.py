"""Deeply nested failures: whatever Temper acknowledges it reads back, through a `kill -9`.

A failure's cause chain nests one message per cause. Temporal's server decodes up to 10,000
levels; Temper must accept the same, store it, hand it back in histories and polls, and refuse
deeper requests with INVALID_ARGUMENT before anything is stored. Raw gRPC (`raw_grpc.py`),
because the SDK's own client refuses to send more than 100 levels."""

import sqlite3
import uuid

import grpc
import pytest
from temporalio.api.command.v1 import (
    Command,
    FailWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskFailedRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest,
    StartWorkflowExecutionRequest,
    StartWorkflowExecutionResponse,
)

from conftest import POSTGRES
from raw_grpc import RawWorkflowService
from test_differential import temporal_server  # noqa: F401 (fixture)

DEEPEST = 1_000
DEPTHS = list(range(DEEPEST + 1))
# Temper's limit is 10,000 nested messages; a request's failure sits one level down and each
# failure's application_failure_info one more.
TOO_DEEP_CAUSES = 10_000
DEEPEST_ACCEPTED = 9_998


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def failure_chains(deepest: int):
    """Encoded application failures with 0, 1, … `deepest` causes, each built from the one
    before (Failure: message = 1, cause = 4, application_failure_info = 5 with its type = 1),
    so building all of them stays linear in their total size."""
    info = field(5, field(1, b"Deep"))
    encoded = field(1, b"root cause") + info
    chains = [encoded]
    for level in range(1, deepest + 1):
        encoded = field(1, f"level {level}".encode()) + info + field(4, encoded)
        chains.append(encoded)
    return chains


def depth(failure: Failure) -> int:
    causes = 0
    while failure.HasField("cause"):
        failure = failure.cause
        causes += 1
    assert failure.message == "root cause"
    return causes


class Scenario:
    """Raw requests to one server, each run on a task queue of its own (the latest started)."""

    def __init__(self, target: str):
        self.raw = RawWorkflowService(target)
        self.queue = ""

    async def start(self, continued_failure: bytes | None = None) -> WorkflowExecution:
        self.queue = f"deep-{uuid.uuid4()}"
        workflow_id = f"deep-{uuid.uuid4()}"
        request = StartWorkflowExecutionRequest(
            namespace="default", workflow_id=workflow_id, workflow_type=WorkflowType(name="Deep"),
            task_queue=TaskQueue(name=self.queue), request_id=str(uuid.uuid4()),
        ).SerializeToString()
        if continued_failure is not None:
            request += field(18, continued_failure)  # continued_failure
        raw = await self.raw.call_bytes("StartWorkflowExecution", request)
        return WorkflowExecution(workflow_id=workflow_id, run_id=StartWorkflowExecutionResponse.FromString(raw).run_id)

    async def poll_workflow_task(self):
        task = await self.raw.call("PollWorkflowTaskQueue", PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=self.queue), identity="deep"), timeout=30)
        assert task.task_token, "no workflow task"
        return task

    async def complete(self, task, commands):
        await self.raw.call("RespondWorkflowTaskCompleted", RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=commands, identity="deep"))

    async def fail_workflow_task(self, task, failure: bytes):
        request = RespondWorkflowTaskFailedRequest(
            namespace="default", task_token=task.task_token, identity="deep",
            cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
        ).SerializeToString() + field(3, failure)
        await self.raw.call_bytes("RespondWorkflowTaskFailed", request)

    async def fail_workflow(self, task, failure: bytes):
        command = Command(command_type=CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
                          fail_workflow_execution_command_attributes=FailWorkflowExecutionCommandAttributes())
        # Command: fail_workflow_execution_command_attributes = 5, its failure = 1.
        encoded_command = command.SerializeToString() + field(5, field(1, failure))
        request = RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity="deep").SerializeToString()
        await self.raw.call_bytes("RespondWorkflowTaskCompleted", request + field(2, encoded_command))

    async def fail_activity(self, failure_of) -> None:
        """Fails the next activity task with `failure_of(activity_id)`."""
        task = await self.raw.call("PollActivityTaskQueue", PollActivityTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=self.queue), identity="deep"), timeout=30)
        assert task.task_token, "no activity task"
        request = RespondActivityTaskFailedRequest(
            namespace="default", task_token=task.task_token, identity="deep").SerializeToString()
        await self.raw.call_bytes("RespondActivityTaskFailed", request + field(2, failure_of(task.activity_id)))

    async def history(self, execution: WorkflowExecution):
        response = await self.raw.call("GetWorkflowExecutionHistory", GetWorkflowExecutionHistoryRequest(
            namespace="default", execution=execution, maximum_page_size=10_000), timeout=60)
        assert not response.next_page_token
        return list(response.history.events)


def schedule(activity_id: str, queue: str) -> Command:
    command = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id=activity_id, activity_type=ActivityType(name="Deep"), task_queue=TaskQueue(name=queue)),
    )
    attributes = command.schedule_activity_task_command_attributes
    attributes.start_to_close_timeout.FromSeconds(60)
    attributes.retry_policy.maximum_attempts = 1
    return command


async def activity_failures_of_every_depth(scenario: Scenario, depths: list[int]) -> WorkflowExecution:
    """One run whose activity `a<d>` failed with a chain of `d` causes, for each depth."""
    chains = failure_chains(max(depths))
    execution = await scenario.start()
    await scenario.complete(await scenario.poll_workflow_task(),
                            [schedule(f"a{d}", scenario.queue) for d in depths])
    for _ in depths:
        await scenario.fail_activity(lambda activity_id: chains[int(activity_id[1:])])
    return execution


async def failed_workflow(scenario: Scenario, causes: int) -> WorkflowExecution:
    """A run started with a continued failure, whose first workflow task failed and whose
    second attempt failed the workflow, each failure `causes` deep."""
    chain = failure_chains(causes)[causes]
    execution = await scenario.start(continued_failure=chain)
    await scenario.fail_workflow_task(await scenario.poll_workflow_task(), chain)
    # The retry's poll carries the whole history, deep events included.
    await scenario.fail_workflow(await scenario.poll_workflow_task(), chain)
    return execution


def failure_of(event) -> Failure:
    attributes = getattr(event, event.WhichOneof("attributes"))
    return attributes.continued_failure if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED \
        else attributes.failure


async def check_activity_failures(scenario: Scenario, execution, depths: list[int]) -> None:
    events = await scenario.history(execution)
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_id
                 for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    assert len(failed) == len(depths)
    for event in failed:
        activity_id = scheduled[event.activity_task_failed_event_attributes.scheduled_event_id]
        assert depth(failure_of(event)) == int(activity_id[1:])


async def check_failed_workflow(scenario: Scenario, execution, causes: int) -> None:
    events = await scenario.history(execution)
    deep = [e for e in events if e.event_type in (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED)]
    assert [EventType.Name(e.event_type) for e in deep] == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_TASK_FAILED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"]
    assert [depth(failure_of(e)) for e in deep] == [causes] * 3


async def test_every_depth_up_to_1000_reads_back_after_kill_9(temper):
    scenario = Scenario(temper.target)
    activities = await activity_failures_of_every_depth(scenario, DEPTHS)
    workflows = {causes: await failed_workflow(scenario, causes) for causes in (99, 100, 101, DEEPEST)}
    temper.kill()
    temper.start()
    scenario.raw = RawWorkflowService(temper.target)
    await check_activity_failures(scenario, activities, DEPTHS)
    for causes, execution in workflows.items():
        await check_failed_workflow(scenario, execution, causes)
    # The queue still serves: a new run's task comes out of the same queue.
    await scenario.start()
    await scenario.poll_workflow_task()


async def test_deeper_than_the_limit_is_refused_before_it_is_stored(temper):
    scenario = Scenario(temper.target)
    execution = await scenario.start()
    await scenario.complete(await scenario.poll_workflow_task(), [schedule("a", scenario.queue)])
    too_deep = failure_chains(TOO_DEEP_CAUSES)[TOO_DEEP_CAUSES]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await scenario.fail_activity(lambda _: too_deep)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10000 levels" in error.value.details()
    # Nothing was stored: the activity is still running and the history reads.
    types = [EventType.Name(e.event_type) for e in await scenario.history(execution)]
    assert "EVENT_TYPE_ACTIVITY_TASK_FAILED" not in types
    # The deepest chain within the limit (request, 9,999 failures, the innermost one's
    # application_failure_info: 10,000 levels) is stored and read back.
    execution = await scenario.start()
    await scenario.complete(await scenario.poll_workflow_task(), [schedule("b", scenario.queue)])
    await scenario.fail_activity(lambda _: failure_chains(DEEPEST_ACCEPTED)[DEEPEST_ACCEPTED])
    failed = [e for e in await scenario.history(execution)
              if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    assert depth(failure_of(failed[0])) == DEEPEST_ACCEPTED


async def test_temporal_reads_back_the_same_depths(temporal_server):  # noqa: F811
    """The oracle accepts the same chains and reads them back."""
    scenario = Scenario(temporal_server)
    depths = [0, 1, 99, 100, 101, 500, DEEPEST]
    await check_activity_failures(scenario, await activity_failures_of_every_depth(scenario, depths), depths)
    await check_failed_workflow(scenario, await failed_workflow(scenario, DEEPEST), DEEPEST)


@pytest.mark.damages_database
@pytest.mark.skipif(POSTGRES, reason="corrupts a row of the SQLite file directly")
async def test_a_run_whose_history_cannot_be_read_does_not_block_its_queue(temper):
    """A stored event that no longer decodes (damaged on disk) fails only its own run's
    workflow task; the other runs on the same task queue are still served."""
    scenario = Scenario(temper.target)
    damaged = await scenario.start()
    queue = scenario.queue
    healthy_id = f"healthy-{uuid.uuid4()}"
    await scenario.raw.call("StartWorkflowExecution", StartWorkflowExecutionRequest(
        namespace="default", workflow_id=healthy_id, workflow_type=WorkflowType(name="Deep"),
        task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4())))
    temper.stop()
    with sqlite3.connect(temper.db_path) as db:
        db.execute("UPDATE history_events SET event = x'ffffffff' WHERE run_id = ? AND event_id = 1",
                   (damaged.run_id,))
    temper.start()
    scenario.raw = RawWorkflowService(temper.target)
    served = []
    for _ in range(2):
        task = await scenario.raw.call("PollWorkflowTaskQueue", PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue), identity="deep"), timeout=5)
        served.append(task.workflow_execution.workflow_id)
    assert healthy_id in served
    assert damaged.workflow_id not in served

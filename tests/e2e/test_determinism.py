"""Determinism across server processes: the same requests give the same history, whatever the
process. Children that closed together (while the server was down) are recorded in the
parent's history in the order the parent started them. A workflow signals several workflows (some open, some missing) in one workflow task;
the server delivers the signals after the commit and records each outcome in the sender's
history. Delivery follows the order of the commands (the run keeps its pending requests in an
ordered map), so two server processes write the same events in the same order. Histories are
compared as bytes after masking what the server takes from outside: clock readings, generated
run and request ids, and this test's random names."""

import asyncio
import json
import uuid

from google.protobuf.json_format import MessageToDict
from temporalio.api.command.v1 import Command, SignalExternalWorkflowExecutionCommandAttributes
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client

from temporalio.worker import Worker

from conftest import TemperServer, wait_for
from determinism_workflows import CHILDREN, Kid, Parent

# Targets in command order: open workflows and ids nobody started, interleaved.
TARGETS = ["open-a", "missing-b", "open-c", "open-d", "missing-e", "open-f"]
RESOLUTIONS = {
    EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
}
# Values the server takes from its clock or generates, per-run names (also inside payloads),
# and the SDK's own metadata (it lists the flags it used in set order).
MASKED_KEYS = {"eventTime", "runId", "requestId", "identity", "historySizeBytes",
               "originalExecutionRunId", "firstExecutionRunId", "taskQueue", "data",
               "sdkMetadata"}


async def start(client: Client, workflow_id: str, queue: str) -> None:
    await client.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace="default", workflow_id=workflow_id, workflow_type=WorkflowType(name="Fan"),
        task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4())))


def signal(workflow_id: str) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=SignalExternalWorkflowExecutionCommandAttributes(
            namespace="default", execution=WorkflowExecution(workflow_id=workflow_id), signal_name="poke"))


async def fan_out(target: str) -> list:
    """Runs the scenario on one server; returns the sender's history."""
    client = await Client.connect(target)
    suffix = uuid.uuid4().hex
    queue = f"fan-{suffix}"
    for name in TARGETS:
        if name.startswith("open"):
            await start(client, f"{name}-{suffix}", f"idle-{suffix}")
    sender = f"sender-{suffix}"
    await start(client, sender, queue)
    task = await client.workflow_service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="raw"))
    await client.workflow_service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace="default", task_token=task.task_token, identity="raw",
        commands=[signal(f"{name}-{suffix}") for name in TARGETS]))

    async def resolved():
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace="default",
                                               execution=WorkflowExecution(workflow_id=sender)))
        events = list(response.history.events)
        return events if sum(e.event_type in RESOLUTIONS for e in events) == len(TARGETS) else None

    events = await wait_for(resolved)
    return [mask(MessageToDict(event), suffix) for event in events]


def mask(value, suffix: str):
    if isinstance(value, dict):
        return {k: ("*" if k in MASKED_KEYS else mask(v, suffix)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, suffix) for v in value]
    if isinstance(value, str):
        return value.replace(suffix, "*")
    return value


async def test_signals_to_several_workflows_resolve_in_command_order_in_every_process(tmp_path):
    histories = []
    for index in range(2):
        server = TemperServer(tmp_path / f"temper-{index}.db", tmp_path / f"temper-{index}.log")
        server.start()
        try:
            histories.append(await fan_out(server.target))
        finally:
            server.stop()
    first, second = (json.dumps(h, sort_keys=True).encode() for h in histories)
    assert first == second, "the two processes wrote different histories"
    # The outcomes follow the commands: initiated event ids ascending.
    resolutions = [e for e in histories[0]
                   if e["eventType"] in ("EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
                                         "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED")]
    initiated = [int(next(v for k, v in e.items() if k.endswith("EventAttributes"))["initiatedEventId"])
                 for e in resolutions]
    assert initiated == sorted(initiated) and len(initiated) == len(TARGETS), initiated
    failed = [e["eventType"].endswith("FAILED") for e in resolutions]
    assert failed == [name.startswith("missing") for name in TARGETS]


async def children_closing_together(server: TemperServer) -> list:
    """A parent starts children that only a timeout ends; the server is down when they are
    due, so on restart they all close before the parent is told, which it then is in one pass.
    Returns the parent's history once it records the three timeouts."""
    suffix = uuid.uuid4().hex
    queue, kid_queue = f"parent-{suffix}", f"kids-{suffix}"
    server.start()
    client = await Client.connect(server.target)
    async with Worker(client, task_queue=queue, workflows=[Parent]):
        handle = await client.start_workflow(Parent.run, args=[suffix, kid_queue],
                                             id=f"parent-{suffix}", task_queue=queue)

        async def waiting_for_children():
            events = (await handle.fetch_history()).events
            started = sum(e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
                          for e in events)
            return started == CHILDREN and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED

        await wait_for(waiting_for_children)
    server.stop()
    await asyncio.sleep(2)  # past the children's one-second run timeout
    server.start()
    client = await Client.connect(server.target)
    handle = client.get_workflow_handle(f"parent-{suffix}")

    async def told():
        events = (await handle.fetch_history()).events
        timed_out = [e for e in events
                     if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT]
        return events if len(timed_out) == CHILDREN else None

    events = await wait_for(told)
    server.stop()
    return [mask(MessageToDict(event), suffix) for event in events]


async def test_children_closing_together_are_recorded_in_start_order_in_every_process(tmp_path):
    histories = []
    for index in range(2):
        server = TemperServer(tmp_path / f"kids-{index}.db", tmp_path / f"kids-{index}.log")
        try:
            histories.append(await children_closing_together(server))
        finally:
            server.stop()
    first, second = (json.dumps(h, sort_keys=True).encode() for h in histories)
    assert first == second, "the two processes wrote different histories"
    closes = [e["childWorkflowExecutionTimedOutEventAttributes"]["initiatedEventId"]
              for e in histories[0] if e["eventType"] == "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT"]
    assert [int(i) for i in closes] == sorted(int(i) for i in closes), closes

"""Sticky task queues: a worker's next task goes to its sticky queue with only the new events;
when nobody takes it there in time, or the stickiness is reset, it goes to the normal queue
with the full history."""

import asyncio
import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, TaskQueueKind, TimeoutType
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    ResetStickyTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.worker import Worker

from scenarios import TwoStepWorkflow, record

POLL = timedelta(seconds=10)


async def test_sdk_worker_is_served_on_its_sticky_queue(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[TwoStepWorkflow], activities=[record]):
        handle = await client.start_workflow(TwoStepWorkflow.run, "s", id=f"sticky-{uuid.uuid4()}", task_queue=task_queue)
        assert await handle.result() == "both steps"
    scheduled = [
        e.workflow_task_scheduled_event_attributes.task_queue
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]
    assert scheduled[0].kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    assert any(q.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY and q.normal_name == task_queue for q in scheduled[1:])


class RawWorker:
    """Drives workflow tasks by hand, to control exactly where they are polled."""

    def __init__(self, client, task_queue):
        self.client = client
        self.task_queue = task_queue
        self.sticky = f"{task_queue}-sticky"
        self.workflow_id = f"raw-sticky-{uuid.uuid4()}"

    async def start(self):
        await self.client.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
            namespace="default", workflow_id=self.workflow_id, workflow_type=WorkflowType(name="Raw"),
            task_queue=TaskQueue(name=self.task_queue), request_id=str(uuid.uuid4()),
        ))

    async def poll(self, sticky: bool):
        queue = (TaskQueue(name=self.sticky, kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=self.task_queue)
                 if sticky else TaskQueue(name=self.task_queue))
        return await self.client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(namespace="default", task_queue=queue, identity="raw"), timeout=POLL
        )

    async def complete_sticky(self, task, schedule_to_start_seconds: int):
        attributes = StickyExecutionAttributes(
            worker_task_queue=TaskQueue(name=self.sticky, kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=self.task_queue),
            schedule_to_start_timeout=Duration(seconds=schedule_to_start_seconds),
        )
        await self.client.workflow_service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, sticky_attributes=attributes,
        ))

    async def signal_while_polling_sticky(self):
        """Signals with a poll open on the sticky queue (as a live worker always has one) and
        returns the task that poll gets."""
        sticky_poll = asyncio.ensure_future(self.poll(sticky=True))
        await asyncio.sleep(0.3)
        await self.signal()
        return await sticky_poll

    async def signal(self):
        await self.client.workflow_service.signal_workflow_execution(SignalWorkflowExecutionRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=self.workflow_id),
            signal_name="poke", request_id=str(uuid.uuid4()),
        ))


async def test_sticky_queue_gets_partial_history_then_falls_back(client, task_queue):
    worker = RawWorker(client, task_queue)
    await worker.start()
    first = await worker.poll(sticky=False)
    assert first.history.events[0].event_id == 1
    await worker.complete_sticky(first, schedule_to_start_seconds=10)

    sticky_task = await worker.signal_while_polling_sticky()
    assert sticky_task.previous_started_event_id == first.started_event_id
    assert sticky_task.history.events[0].event_id == first.started_event_id + 1
    await worker.complete_sticky(sticky_task, schedule_to_start_seconds=1)

    # Nobody polls the sticky queue now: after 1 s the task is timed out there and offered on
    # the normal queue, with the full history.
    await worker.signal()
    fallback = await worker.poll(sticky=False)
    assert fallback.history.events[0].event_id == 1
    timed_out = [
        e.workflow_task_timed_out_event_attributes
        for e in fallback.history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    ]
    assert [t.timeout_type for t in timed_out] == [TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START]
    assert fallback.attempt == 1


async def test_reset_sticky_task_queue_moves_the_task_at_once(client, task_queue):
    worker = RawWorker(client, task_queue)
    await worker.start()
    first = await worker.poll(sticky=False)
    await worker.complete_sticky(first, schedule_to_start_seconds=60)
    sticky_poll = asyncio.ensure_future(worker.poll(sticky=True))
    await asyncio.sleep(0.3)
    sticky_poll.cancel()
    await worker.signal()
    await client.workflow_service.reset_sticky_task_queue(ResetStickyTaskQueueRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=worker.workflow_id),
    ))
    task = await worker.poll(sticky=False)
    assert task.history.events[0].event_id == 1
    assert all(e.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in task.history.events)


async def test_sticky_queue_without_a_poller_is_skipped_at_once(client, task_queue):
    worker = RawWorker(client, task_queue)
    await worker.start()
    first = await worker.poll(sticky=False)
    await worker.complete_sticky(first, schedule_to_start_seconds=60)
    # Nobody ever polled the sticky queue: the next task goes to the normal queue directly.
    await worker.signal()
    task = await worker.poll(sticky=False)
    assert task.history.events[0].event_id == 1
    assert all(e.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in task.history.events)

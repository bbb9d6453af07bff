"""Sync start: a task that becomes ready while a worker polls for it is started in the write
that made it ready (not on sticky queues). With an idle Python worker polling, a one-activity
workflow takes five store writes (start with the first task; the first task's completion with
the activity; the activity's result; the sticky task's start; the last completion) instead of
six or seven, counted by Temporal's `persistence_requests` metric; its history is the usual
one, each task started by the worker that took it."""

import asyncio
import urllib.request
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from scenarios import OneActivityWorkflow, record
from test_metrics import find, samples

WORKFLOWS = 5

ONE_ACTIVITY_HISTORY = [
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
]


def store_writes(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        families = samples(response.read().decode())
    requests = families.get("persistence_requests", [])
    return sum(s.value for operation in ("CreateWorkflowExecution", "UpdateWorkflowExecution")
               for s in find(requests, "persistence_requests", operation=operation, namespace="default"))


@pytest.mark.parametrize("eager_activities", [True, False], ids=["eager-activity", "polled-activity"])
async def test_an_idle_workers_one_activity_workflow_takes_five_writes(temper_with_metrics, eager_activities):
    server, port = temper_with_metrics
    client = await Client.connect(server.target)
    task_queue = f"sync-start-{uuid.uuid4()}"
    worker = Worker(client, task_queue=task_queue, workflows=[OneActivityWorkflow], activities=[record],
                    identity="the-worker", disable_eager_activity_execution=not eager_activities)
    async with worker:
        warm_up = await client.execute_workflow(OneActivityWorkflow.run, "w", id=f"warm-{uuid.uuid4()}",
                                                task_queue=task_queue)
        assert warm_up == "recorded w"
        handles = []
        await asyncio.sleep(0.3)
        before = store_writes(port)
        for i in range(WORKFLOWS):
            # The worker's pollers are back waiting before each start.
            await asyncio.sleep(0.3)
            handle = await client.start_workflow(OneActivityWorkflow.run, f"k{i}", id=f"sync-{uuid.uuid4()}",
                                                 task_queue=task_queue)
            assert await handle.result() == f"recorded k{i}"
            handles.append(handle)
        writes = store_writes(port) - before
    assert writes == 5 * WORKFLOWS, f"{writes} store writes for {WORKFLOWS} workflows"
    for handle in handles:
        events = [e async for e in handle.fetch_history_events()]
        assert [e.event_type for e in events] == ONE_ACTIVITY_HISTORY
        started = [e.workflow_task_started_event_attributes for e in events
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
        assert [s.identity for s in started] == ["the-worker", "the-worker"]
        activity_started = events[5].activity_task_started_event_attributes
        assert activity_started.identity == "the-worker" and activity_started.attempt == 1

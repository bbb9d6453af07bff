"""Workflow-level behaviour through the official Python SDK: timers, cancellation,
termination, id conflicts, activity timeouts and retries, worker hand-over, describe/history."""

import asyncio
import time
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError, TerminatedError, WorkflowAlreadyStartedError
from temporalio.worker import Worker

from conftest import history_types, wait_for
from scenarios import (
    CALLS,
    CancellableWorkflow,
    SleepWorkflow,
    TimeoutRetryWorkflow,
    TwoStepWorkflow,
    WaitForSignalWorkflow,
    calls,
    hang_first_attempt,
    heartbeat_until_cancelled,
    record,
    stop_heartbeating_first_attempt,
)

WORKFLOWS = [SleepWorkflow, CancellableWorkflow, WaitForSignalWorkflow, TimeoutRetryWorkflow, TwoStepWorkflow]
ACTIVITIES = [record, heartbeat_until_cancelled, hang_first_attempt, stop_heartbeating_first_attempt]


def worker(client, task_queue):
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)



async def test_workflow_sleep_fires_timer(client, task_queue):
    async with worker(client, task_queue):
        started = time.monotonic()
        handle = await client.start_workflow(SleepWorkflow.run, 1.5, id=f"sleep-{uuid.uuid4()}", task_queue=task_queue)
        result = await handle.result()
    assert time.monotonic() - started >= 1.5
    assert result.startswith("slept 1.")
    types = await history_types(handle)
    assert "EVENT_TYPE_TIMER_STARTED" in types and "EVENT_TYPE_TIMER_FIRED" in types


async def test_cancellation_reaches_heartbeating_activity(client, task_queue):
    key = str(uuid.uuid4())
    async with worker(client, task_queue):
        handle = await client.start_workflow(CancellableWorkflow.run, key, id=f"cancel-{key}", task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("heartbeat_until_cancelled", key)))
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert calls("cancelled", key) == [1]
    types = await history_types(handle)
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED" in types
    assert "EVENT_TYPE_ACTIVITY_TASK_CANCELED" in types
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"


async def test_terminate(client, task_queue):
    key = str(uuid.uuid4())
    async with worker(client, task_queue):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=f"term-{key}", task_queue=task_queue)
        await handle.terminate("enough", )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, TerminatedError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    types = await history_types(handle)
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"


async def test_second_start_of_running_id_is_rejected(client, task_queue):
    workflow_id = f"dup-{uuid.uuid4()}"
    first = await client.start_workflow(WaitForSignalWorkflow.run, "x", id=workflow_id, task_queue=task_queue)
    with pytest.raises(WorkflowAlreadyStartedError) as error:
        await client.start_workflow(WaitForSignalWorkflow.run, "x", id=workflow_id, task_queue=task_queue)
    assert error.value.run_id == first.result_run_id
    await first.terminate()


async def test_activity_timeouts_are_retried(client, task_queue):
    key = str(uuid.uuid4())
    async with worker(client, task_queue):
        result = await client.execute_workflow(
            TimeoutRetryWorkflow.run, key, id=f"timeouts-{key}", task_queue=task_queue
        )
    assert result == ["attempt 2", "attempt 2 resumed from ['progress-1']"]
    assert calls("hang_first_attempt", key) == [1, 2]
    assert calls("stop_heartbeating_first_attempt", key) == [1, 2]


async def test_new_worker_finishes_what_a_stopped_one_started(client, task_queue):
    key = str(uuid.uuid4())
    first_worker = worker(client, task_queue)
    async with first_worker:
        handle = await client.start_workflow(TwoStepWorkflow.run, key, id=f"handover-{key}", task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("record", f"{key}-1")))
    assert calls("record", f"{key}-2") == []
    async with worker(client, task_queue):
        assert await handle.result() == "both steps"
    assert calls("record", f"{key}-1") == [1]
    assert calls("record", f"{key}-2") == [1]


async def test_describe_and_history_agree(client, task_queue):
    key = str(uuid.uuid4())
    async with worker(client, task_queue):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=f"desc-{key}", task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("record", key)))
        running = await handle.describe()
        assert running.status == WorkflowExecutionStatus.RUNNING
        assert running.workflow_type == "WaitForSignalWorkflow"
        assert running.task_queue == task_queue
        assert running.close_time is None
        await handle.signal(WaitForSignalWorkflow.add, "done")
        assert await handle.result() == ["done"]
    done = await handle.describe()
    history = await handle.fetch_history()
    assert done.status == WorkflowExecutionStatus.COMPLETED
    assert done.history_length == len(history.events)
    assert [e.event_id for e in history.events] == list(range(1, len(history.events) + 1))
    assert done.start_time == history.events[0].event_time.ToDatetime().replace(tzinfo=done.start_time.tzinfo)
    assert done.close_time is not None and done.close_time >= done.start_time
    assert EventType.Name(history.events[-1].event_type) == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


async def test_signal_with_start(client, task_queue):
    key = str(uuid.uuid4())
    workflow_id = f"sws-{key}"
    async with worker(client, task_queue):
        handle = await client.start_workflow(
            WaitForSignalWorkflow.run, key, id=workflow_id, task_queue=task_queue,
            start_signal="add", start_signal_args=["first"],
        )
        await wait_for(lambda: asyncio.sleep(0, result=calls("record", key)))
        again = await client.start_workflow(
            WaitForSignalWorkflow.run, key, id=workflow_id, task_queue=task_queue,
            start_signal="add", start_signal_args=["done"],
        )
        assert again.result_run_id == handle.result_run_id
        assert await handle.result() == ["first", "done"]
    types = await history_types(handle)
    assert types[:3] == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    ]

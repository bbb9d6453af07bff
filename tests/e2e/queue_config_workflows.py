"""A workflow that starts many activities at once, for the task queue rate limit test; each
activity notes when it started."""

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow

STARTS: dict[str, list[float]] = {}


@activity.defn
async def stamp() -> None:
    STARTS.setdefault(activity.info().workflow_id, []).append(time.monotonic())


@workflow.defn
class ManyActivities:
    @workflow.run
    async def run(self, count: int) -> None:
        await asyncio.gather(*(workflow.execute_activity(stamp, start_to_close_timeout=timedelta(seconds=30))
                               for _ in range(count)))

"""Workflows for test_determinism.py: a parent whose children all time out while the server
is down."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

CHILDREN = 3


@workflow.defn
class Kid:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, suffix: str, kid_queue: str) -> list[str]:
        children = [
            workflow.execute_child_workflow(
                Kid.run, id=f"kid-{i}-{suffix}", task_queue=kid_queue,
                run_timeout=timedelta(seconds=1))
            for i in range(CHILDREN)
        ]
        outcomes = []
        for result in await asyncio.gather(*children, return_exceptions=True):
            outcomes.append("timed out" if isinstance(result, ChildWorkflowError) else "done")
        return outcomes

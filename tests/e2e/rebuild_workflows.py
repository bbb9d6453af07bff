"""A workflow that touches every family of commands and events, for the rebuild check
(test_rebuild.py): activities with a retried attempt, timers, children, signals, updates,
external signals and continue-as-new."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

ATTEMPTS: dict[str, int] = {}


@activity.defn
async def flaky(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise RuntimeError("first attempt fails")
    return f"done after {ATTEMPTS[key]} attempts"


@workflow.defn
class Leaf:
    def __init__(self) -> None:
        self.poked = False

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: self.poked)
        await asyncio.sleep(0.05)
        return name


@workflow.defn
class Everything:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.updates: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.update
    async def note(self, value: str) -> int:
        await asyncio.sleep(0.05)
        self.updates.append(value)
        return len(self.updates)

    @workflow.run
    async def run(self, key: str, round: int) -> list[str]:
        result = await workflow.execute_activity(
            flaky, f"{key}-{round}", start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)))
        await asyncio.sleep(0.1)
        children = [
            await workflow.start_child_workflow(Leaf.run, f"leaf-{i}", id=f"{key}-{round}-leaf-{i}")
            for i in range(3)
        ]
        for i in range(3):
            await workflow.get_external_workflow_handle(f"{key}-{round}-leaf-{i}").signal(Leaf.poke)
        names = await asyncio.gather(*children)
        await workflow.wait_condition(lambda: bool(self.signals) and bool(self.updates))
        if round == 0:
            workflow.continue_as_new(args=[key, 1])
        return [result, *names, *self.signals, *self.updates]

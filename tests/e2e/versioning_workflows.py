"""Workflows for the worker versioning tests: one PINNED and one AUTO_UPGRADE, each running an
activity after every signal and keeping which worker build ran it."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import VersioningBehavior


def build_reporter(build_id: str):
    """The `which_build` activity of one worker: answers with the worker's build id."""
    @activity.defn(name="which_build")
    async def which_build() -> str:
        return build_id
    return which_build


class _StepsBase:
    def __init__(self) -> None:
        self.pending = 0
        self.builds: list[str] = []

    async def _steps(self, steps: int) -> list[str]:
        for _ in range(steps):
            await workflow.wait_condition(lambda: self.pending > 0)
            self.pending -= 1
            self.builds.append(await workflow.execute_activity(
                "which_build", start_to_close_timeout=timedelta(seconds=30), result_type=str))
        return self.builds


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class PinnedWorkflow(_StepsBase):
    @workflow.run
    async def run(self, steps: int) -> list[str]:
        return await self._steps(steps)

    @workflow.signal
    def step(self) -> None:
        self.pending += 1

    @workflow.query
    def done(self) -> int:
        return len(self.builds)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoUpgradeWorkflow(_StepsBase):
    @workflow.run
    async def run(self, steps: int) -> list[str]:
        return await self._steps(steps)

    @workflow.signal
    def step(self) -> None:
        self.pending += 1

    @workflow.query
    def done(self) -> int:
        return len(self.builds)

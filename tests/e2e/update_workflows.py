"""Workflows of `test_update_lifecycle.py`, in a module of their own for the SDK's sandbox."""

from temporalio import workflow


@workflow.defn
class ClosesUnderUpdatesWorkflow:
    """Accepts updates that never finish; completes when signalled."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def never_finishes(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "unreachable"

    @workflow.update
    async def count(self, value: int) -> int:
        return value + 1

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.finished)
        return "done"

"""Workflows the schedule tests start (kept apart from the test module, which imports fixtures
the workflow sandbox must not load)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn(name="ScheduledWorkflow")
class ScheduledWorkflow:
    """Returns how many runs came before it (counted through the last completion result)."""

    @workflow.run
    async def run(self, hold_seconds: float) -> int:
        previous = workflow.get_last_completion_result(type_hint=int) if workflow.has_last_completion_result() else 0
        if hold_seconds:
            await workflow.sleep(timedelta(seconds=hold_seconds))
        return (previous or 0) + 1


@workflow.defn(name="FailOnceScheduledWorkflow")
class FailOnceScheduledWorkflow:
    """Fails unless the schedule handed it a failure from the run before."""

    @workflow.run
    async def run(self) -> str:
        failure = workflow.get_last_failure()
        if failure is None:
            raise ApplicationError("boom", non_retryable=True)
        return f"saw: {failure}"

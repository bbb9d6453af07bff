"""Workflows of `test_metadata.py`, in a module of their own so the SDK's sandbox can import
them without the test fixtures."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey

KEYWORD = SearchAttributeKey.for_keyword("CustomKeywordField")
INT = SearchAttributeKey.for_int("CustomIntField")


@workflow.defn
class UnsetWorkflow:
    """Sets memo fields and search attributes at start, then removes some of them."""

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_memo({"gone": None, "kept": "still here", "added": [1, 2]})
        workflow.upsert_search_attributes([KEYWORD.value_unset(), INT.value_set(7)])


@workflow.defn
class SeesItsSearchAttributesWorkflow:
    """Returns the search attributes the worker read from its started event, typed."""

    @workflow.run
    async def run(self) -> list:
        return sorted(pair.key.name + "=" + type(pair.value).__name__
                      for pair in workflow.info().typed_search_attributes)


@workflow.defn
class RunIdChild:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().run_id


@workflow.defn
class RunIdParent:
    """Returns its own run id, as the SDK shows it, and its child's."""

    @workflow.run
    async def run(self) -> list[str]:
        child = await workflow.execute_child_workflow(RunIdChild.run, id=f"{workflow.info().workflow_id}-child")
        return [workflow.info().run_id, child]


@workflow.defn
class SummarizedWorkflow:
    """Sets its current details and sleeps with a summary, then waits to be told to finish."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> str:
        workflow.set_current_details("waiting for the finish signal")
        await workflow.sleep(timedelta(milliseconds=10), summary="a short nap")
        await workflow.wait_condition(lambda: self.done)
        return "done"


@workflow.defn
class SummarizedParent:
    """Starts a RunIdChild with a summary and returns the child's workflow id."""

    @workflow.run
    async def run(self) -> str:
        child_id = f"{workflow.info().workflow_id}-child"
        await workflow.execute_child_workflow(RunIdChild.run, id=child_id, static_summary="the child's summary")
        return child_id

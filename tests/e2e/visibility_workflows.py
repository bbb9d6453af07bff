"""Workflows and search attribute keys of the visibility tests (kept apart from the test module,
which imports fixtures the workflow sandbox must not load)."""

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

KEYWORD = SearchAttributeKey.for_keyword("CustomKeywordField")
INT = SearchAttributeKey.for_int("CustomIntField")
DOUBLE = SearchAttributeKey.for_float("CustomDoubleField")
BOOL = SearchAttributeKey.for_bool("CustomBoolField")
DATETIME = SearchAttributeKey.for_datetime("CustomDatetimeField")
TEXT = SearchAttributeKey.for_text("CustomTextField")
KEYWORD_LIST = SearchAttributeKey.for_keyword_list("CustomKeywordListField")


async def body(mode: str, proceed) -> str:
    if mode == "fail":
        raise ApplicationError("failed on purpose", non_retryable=True)
    if mode == "wait":
        await workflow.wait_condition(proceed)
    if mode == "upsert":
        workflow.upsert_search_attributes([INT.value_set(6)])
    if mode == "bad-upsert":
        workflow.upsert_search_attributes([SearchAttributeKey.for_keyword("NotRegistered").value_set("x")])
    return mode


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.query
    def waiting(self) -> bool:
        return not self.go

    @workflow.run
    async def run(self, mode: str) -> str:
        return await body(mode, lambda: self.go)


@workflow.defn(name="ShipWorkflow")
class ShipWorkflow:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.query
    def waiting(self) -> bool:
        return not self.go

    @workflow.run
    async def run(self, mode: str) -> str:
        return await body(mode, lambda: self.go)

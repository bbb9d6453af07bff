"""Workflows and activities the Web UI tests show in the browser."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from scenarios import record


@activity.defn
async def flaky_upload(name: str) -> str:
    activity.heartbeat(f"uploaded 40% of {name}")
    raise ApplicationError("disk on fire")


@workflow.defn
class UiWorkflow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    async def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.run
    async def run(self, name: str) -> dict:
        await workflow.execute_activity(record, name, start_to_close_timeout=timedelta(seconds=30))
        upload = workflow.start_activity(
            flaky_upload, name, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(minutes=5)))
        await workflow.wait_condition(lambda: "finish" in self.signals)
        upload.cancel()
        return {"greeting": f"hello {name}", "signals": self.signals}


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, name: str) -> dict:
        return {"greeting": f"hello {name}", "size": 3}


@workflow.defn
class BrokenWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("the order book is inconsistent", non_retryable=True)


@workflow.defn
class SignalSinkWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

"""Workflows and activities for the end-to-end scenarios beyond the guide's own examples."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# (activity name, key, attempt) of every activity execution in this process.
CALLS: list[tuple[str, str, int]] = []


def calls(name: str, key: str) -> list[int]:
    return [attempt for n, k, attempt in CALLS if n == name and k == key]


@activity.defn
async def record(key: str) -> str:
    CALLS.append(("record", key, activity.info().attempt))
    return f"recorded {key}"


@activity.defn
async def slow(key: str) -> str:
    """Takes 3 seconds; used to have an activity running across a server crash."""
    CALLS.append(("slow", key, activity.info().attempt))
    await asyncio.sleep(3)
    return f"slow {key}"


@activity.defn
async def heartbeat_until_cancelled(key: str) -> str:
    CALLS.append(("heartbeat_until_cancelled", key, activity.info().attempt))
    try:
        while True:
            activity.heartbeat("beating")
            await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        CALLS.append(("cancelled", key, activity.info().attempt))
        raise


@activity.defn
async def hang_first_attempt(key: str) -> str:
    """Attempt 1 hangs past its start-to-close timeout; attempt 2 succeeds."""
    attempt = activity.info().attempt
    CALLS.append(("hang_first_attempt", key, attempt))
    if attempt == 1:
        await asyncio.sleep(30)
    return f"attempt {attempt}"


@activity.defn
async def stop_heartbeating_first_attempt(key: str) -> str:
    """Attempt 1 heartbeats once then goes silent; attempt 2 sees the heartbeat details."""
    info = activity.info()
    CALLS.append(("stop_heartbeating_first_attempt", key, info.attempt))
    if info.attempt == 1:
        activity.heartbeat("progress-1")
        await asyncio.sleep(30)
    return f"attempt {info.attempt} resumed from {list(info.heartbeat_details)}"


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        start = workflow.now()
        await workflow.sleep(seconds)
        return f"slept {(workflow.now() - start).total_seconds():.1f}"


@workflow.defn
class CancellableWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            heartbeat_until_cancelled,
            key,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )


@workflow.defn
class WaitForSignalWorkflow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    async def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return self.signals

    @workflow.run
    async def run(self, key: str) -> list[str]:
        await workflow.execute_activity(record, key, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: "done" in self.signals)
        return self.signals


@workflow.defn
class TimeoutRetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> list[str]:
        policy = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
        first = await workflow.execute_activity(
            hang_first_attempt,
            key,
            start_to_close_timeout=timedelta(seconds=1),
            retry_policy=policy,
        )
        second = await workflow.execute_activity(
            stop_heartbeating_first_attempt,
            key,
            start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=policy,
        )
        return [first, second]


@workflow.defn
class TwoStepWorkflow:
    """Records a step, sleeps, then records another step: long enough to swap workers."""

    @workflow.run
    async def run(self, key: str) -> str:
        await workflow.execute_activity(record, f"{key}-1", start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(2)
        await workflow.execute_activity(record, f"{key}-2", start_to_close_timeout=timedelta(seconds=30))
        return "both steps"


@workflow.defn
class CrashTimerWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        await workflow.execute_activity(record, key, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(3)
        return "timer fired"


@workflow.defn
class CrashActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        await workflow.execute_activity(record, key, start_to_close_timeout=timedelta(seconds=30))
        return await workflow.execute_activity(slow, key, start_to_close_timeout=timedelta(seconds=20))


@activity.defn
async def complete_later(key: str) -> str:
    """Completes asynchronously: the test completes it by workflow and activity id."""
    CALLS.append(("complete_later", key, activity.info().attempt))
    activity.raise_complete_async()


@workflow.defn
class AsyncActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            complete_later, key, start_to_close_timeout=timedelta(seconds=60), activity_id="async-1"
        )


@workflow.defn
class OneActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(record, key, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class ActivityElsewhereWorkflow:
    """Runs its activity on another queue, so its activity tasks can wait for a worker of
    their own while its workflow tasks are taken."""

    @workflow.run
    async def run(self, key: str, activity_queue: str) -> str:
        return await workflow.execute_activity(record, key, task_queue=activity_queue,
                                               start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class ContinueAsNewWorkflow:
    @workflow.run
    async def run(self, count: int) -> str:
        if count < 3:
            workflow.continue_as_new(count + 1)
        return f"done after {count}"


@workflow.defn
class RetryingWorkflow:
    @workflow.run
    async def run(self) -> int:
        attempt = workflow.info().attempt
        if attempt < 3:
            raise ApplicationError(f"attempt {attempt} fails")
        return attempt


@activity.defn
async def fail_first_attempt(key: str) -> int:
    attempt = activity.info().attempt
    CALLS.append(("fail_first_attempt", key, attempt))
    if attempt == 1:
        raise ApplicationError("first attempt fails")
    return attempt


@workflow.defn
class HourlyRetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> int:
        return await workflow.execute_activity(
            fail_first_attempt,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1)),
        )


@workflow.defn
class ParentClosingWithItsChildStartWorkflow:
    """Starts a child (abandoned on close) without waiting for it to start and completes in
    the same workflow task: both commands in one completion."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        start = workflow.start_child_workflow(ChildWorkflow.run, "orphan", id=child_id,
                                              parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        self._start = asyncio.ensure_future(start)
        return "parent done"


@workflow.defn
class ChildWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        if name == "fail":
            raise ApplicationError("child failed", non_retryable=True)
        if name == "wait":
            await workflow.wait_condition(lambda: False)
        return f"child {name}"


@workflow.defn
class ParentWorkflow:
    @workflow.run
    async def run(self, names: list[str]) -> list[str]:
        results = []
        for name in names:
            try:
                results.append(
                    await workflow.execute_child_workflow(
                        ChildWorkflow.run, name, id=f"{workflow.info().workflow_id}-{name}"
                    )
                )
            except Exception as error:
                cause = getattr(error, "cause", None)
                results.append(f"{type(error).__name__}: {getattr(cause, 'message', '')}")
        return results


@workflow.defn
class ParentOfTakenIdWorkflow:
    @workflow.run
    async def run(self, child_id: str) -> str:
        try:
            await workflow.start_child_workflow(ChildWorkflow.run, "x", id=child_id)
        except Exception as error:
            return type(error).__name__
        return "started"


@workflow.defn
class SignalOtherWorkflow:
    @workflow.run
    async def run(self, target_id: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).signal(WaitForSignalWorkflow.add, "done")
        except Exception as error:
            return type(error).__name__
        return "signalled"


@workflow.defn
class CancelOtherWorkflow:
    @workflow.run
    async def run(self, target_id: str) -> str:
        await workflow.get_external_workflow_handle(target_id).cancel()
        return "cancel requested"


@workflow.defn
class CancelChildWorkflow:
    @workflow.run
    async def run(self) -> str:
        child = await workflow.start_child_workflow(
            ChildWorkflow.run, "wait", id=f"{workflow.info().workflow_id}-child"
        )
        child.cancel()
        try:
            await child
        except Exception as error:
            return f"{type(error).__name__}: {type(error.cause).__name__}"
        return "child finished"


@workflow.defn
class UpdatableWorkflow:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.update
    async def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add.validator
    def validate_add(self, item: str) -> None:
        if not item:
            raise ValueError("empty items are not allowed")

    @workflow.update
    async def slow_add(self, item: str) -> int:
        await workflow.sleep(0.5)
        self.items.append(item)
        return len(self.items)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items


@workflow.defn
class CronCounterWorkflow:
    """Counts its cron runs through the last completion result."""

    @workflow.run
    async def run(self) -> int:
        previous = workflow.get_last_completion_result(int) if workflow.has_last_completion_result() else 0
        return previous + 1


@workflow.defn
class LongHistoryWorkflow:
    """Grows its history by sleeping in a loop; continues as new when the server suggests it."""

    @workflow.run
    async def run(self, continue_when_suggested: bool) -> str:
        for _ in range(100):
            if continue_when_suggested and workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(False)
            await workflow.sleep(0.01)
        return "done"


@activity.defn
async def local_step(key: str) -> str:
    CALLS.append(("local_step", key, activity.info().attempt))
    return f"local {key}"


@workflow.defn
class PatchedLocalActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        if workflow.patched("new-behaviour"):
            result = await workflow.execute_local_activity(
                local_step, key, start_to_close_timeout=timedelta(seconds=10)
            )
        else:
            result = "old"
        await workflow.sleep(0.1)
        return result

"""Workflows for the cluster tests: each uses an activity, a timer, a signal and a child."""

from datetime import timedelta

from temporalio import activity, workflow

# Activity executions, by key: how often each ran (at-least-once: a lost ack may re-run one).
RUNS: dict[str, int] = {}


@activity.defn
async def note(key: str) -> str:
    RUNS[key] = RUNS.get(key, 0) + 1
    return f"noted {key}"


@workflow.defn
class ClusterChild:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(note, f"{key}-child", start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class ClusterWorkflow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.run
    async def run(self, key: str) -> list[str]:
        first = await workflow.execute_activity(note, key, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(seconds=1))
        await workflow.wait_condition(lambda: len(self.signals) > 0)
        child = await workflow.execute_child_workflow(ClusterChild.run, key, id=f"{key}-child")
        return [first, child, *self.signals]


@workflow.defn
class SpreadWorkflow:
    """A run of a cluster whose shards are spread: an activity, a timer, a signal, a query and a
    child (whose workflow id's shard is, as often as not, another node's)."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return self.signals

    @workflow.run
    async def run(self, key: str) -> list[str]:
        first = await workflow.execute_activity(note, key, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(seconds=1))
        await workflow.wait_condition(lambda: len(self.signals) > 0)
        child = await workflow.execute_child_workflow(ClusterChild.run, key, id=f"{key}-child")
        return [first, child, *self.signals]


@workflow.defn
class SpreadReceiver:
    """Waits for a signal from another workflow (or is canceled by one)."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def poke(self, value: str) -> None:
        self.got.append(value)

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.got) > 0)
        return self.got


@workflow.defn
class SpreadSender:
    """Signals or cancels another workflow, most likely on another node's shard."""

    @workflow.run
    async def run(self, target: str, cancel: bool) -> str:
        handle = workflow.get_external_workflow_handle(target)
        if cancel:
            await handle.cancel()
        else:
            await handle.signal(SpreadReceiver.poke, f"from {workflow.info().workflow_id}")
        return "sent"


@workflow.defn
class SpreadParent:
    """Waits for its child (a `SpreadReceiver`), whose shard may move to another node."""

    @workflow.run
    async def run(self, key: str) -> list[str]:
        return await workflow.execute_child_workflow(SpreadReceiver.run, id=f"{key}-child")


@workflow.defn
class QueueWorkflow:
    """An activity, a timer, a signal and a query, on one run (no child: its shard is the
    test's choice)."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return self.signals

    @workflow.run
    async def run(self, key: str) -> list[str]:
        first = await workflow.execute_activity(note, key, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(milliseconds=300))
        await workflow.wait_condition(lambda: len(self.signals) > 0)
        return [first, *self.signals]

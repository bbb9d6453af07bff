"""Durability: `kill -9` the server while workflows wait on a timer, a signal and a running
activity; restart it on the same SQLite file; everything finishes, nothing completed runs
again, and every history is contiguous from event 1."""

import asyncio
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from conftest import wait_for
from scenarios import (
    CALLS,
    CrashActivityWorkflow,
    CrashTimerWorkflow,
    WaitForSignalWorkflow,
    calls,
    record,
    slow,
)


async def test_kill_9_and_restart_loses_nothing(temper, task_queue):
    client = await Client.connect(temper.target)
    key = str(uuid.uuid4())
    keys = {"timer": f"{key}-timer", "signal": f"{key}-signal", "activity": f"{key}-activity"}
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[CrashTimerWorkflow, WaitForSignalWorkflow, CrashActivityWorkflow],
        activities=[record, slow],
    )
    async with worker:
        timer = await client.start_workflow(CrashTimerWorkflow.run, keys["timer"], id=keys["timer"], task_queue=task_queue)
        signal = await client.start_workflow(WaitForSignalWorkflow.run, keys["signal"], id=keys["signal"], task_queue=task_queue)
        running = await client.start_workflow(CrashActivityWorkflow.run, keys["activity"], id=keys["activity"], task_queue=task_queue)
        # Wait until: the first activities completed, the slow one is running, the timer is
        # pending and the signal workflow is blocked on its condition.
        await wait_for(lambda: asyncio.sleep(0, result=calls("slow", keys["activity"])))
        await wait_for(lambda: asyncio.sleep(0, result=all(calls("record", k) for k in keys.values())))
        await asyncio.sleep(0.3)

        temper.kill()
        temper.start()

        await client.get_workflow_handle(keys["signal"]).signal(WaitForSignalWorkflow.add, "done")
        assert await timer.result() == "timer fired"
        assert await signal.result() == ["done"]
        assert await running.result() == f"slow {keys['activity']}"

    for k in keys.values():
        assert calls("record", k) == [1], f"activity of {k} ran again: {CALLS}"
    for handle in (timer, signal, running):
        ids = [e.event_id for e in (await handle.fetch_history()).events]
        assert ids == list(range(1, len(ids) + 1))

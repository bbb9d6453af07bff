"""The engine's one path from event to state, end to end: after a workflow that uses every
family of commands (activities with a retried attempt, timers, children, external signals,
signals, updates, continue-as-new) and a reset, every run's persisted state is what replaying
its stored history gives. `temper verify` checks it on the stopped server's database (the
`temper` fixture also runs it after every test)."""

import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from conftest import wait_for
from rebuild_workflows import Everything, Leaf, flaky
from test_reset import first_completed_task, reset


async def test_every_run_rebuilds_from_its_history(client: Client, temper, task_queue):
    key = f"everything-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[Everything, Leaf],
                      activities=[flaky]):
        handle = await client.start_workflow(Everything.run, args=[key, 0], id=key,
                                             task_queue=task_queue)
        first_run = handle.result_run_id
        current = client.get_workflow_handle(key)
        await current.signal(Everything.add, "signal-0")
        await wait_for(lambda: _updated(client, key, "update-0"))
        # The first run continues as new; the second one needs its own signal and update.
        await wait_for(lambda: _current_run_is_not(client, key, first_run), timeout=30)
        await current.signal(Everything.add, "signal-1")
        await wait_for(lambda: _updated(client, key, "update-1"))
        result = await current.result()
        assert result[1:4] == ["leaf-0", "leaf-1", "leaf-2"]
        # Reset the first run to its first workflow task: the new run does it all again, with
        # the signal reapplied and a new update.
        events = (await client.get_workflow_handle(key, run_id=first_run).fetch_history()).events
        new_run = await reset(client, key, first_run, first_completed_task(events))
        await wait_for(lambda: _updated(client, key, "update-after-reset"), timeout=30)
        await wait_for(lambda: _current_run_is_not(client, key, new_run), timeout=30)
        await current.terminate("enough")
    temper.stop()
    report = temper.verify()
    assert "0 differ" in report, report
    runs = int(report.split("temper verify: ")[1].split(" runs")[0])
    # Two runs and six children before the reset; the reset run, its three children and the
    # run it continued as.
    assert runs >= 13, report


async def _current_run_is_not(client: Client, key: str, run_id: str) -> bool:
    return (await client.get_workflow_handle(key).describe()).run_id != run_id


async def _updated(client: Client, key: str, value: str) -> bool:
    """Sends an update to the current run; false if the run did not take it (yet)."""
    try:
        await client.get_workflow_handle(key).execute_update(Everything.note, value)
    except Exception:
        return False
    return True

"""Histories Temper produces replay without nondeterminism in the SDK's `Replayer`, which
checks that every command event matches the workflow code's commands."""

import asyncio
import uuid
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.worker import Replayer, Worker

from guide import OrderProcessingWorkflow, RobustOrderWorkflow, TrackableOrderWorkflow, cancel_order, fulfill_order, process_payment
from scenarios import (
    CancelChildWorkflow,
    ChildWorkflow,
    ContinueAsNewWorkflow,
    ParentWorkflow,
    RetryingWorkflow,
    SignalOtherWorkflow,
    SleepWorkflow,
    UpdatableWorkflow,
    WaitForSignalWorkflow,
    record,
)

WORKFLOWS = [
    OrderProcessingWorkflow, RobustOrderWorkflow, TrackableOrderWorkflow, CancelChildWorkflow, ChildWorkflow,
    ContinueAsNewWorkflow, ParentWorkflow, RetryingWorkflow, SignalOtherWorkflow, SleepWorkflow,
    UpdatableWorkflow, WaitForSignalWorkflow,
]


async def test_histories_replay_without_nondeterminism(client, task_queue):
    key = str(uuid.uuid4())
    handles = []
    async with Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS,
        activities=[process_payment, fulfill_order, cancel_order, record],
    ):
        start = lambda wf, arg, suffix, **kw: client.start_workflow(wf, arg, id=f"{suffix}-{key}", task_queue=task_queue, **kw)  # noqa: E731
        handles.append(await start(OrderProcessingWorkflow.run, "1", "order"))
        handles.append(await start(RobustOrderWorkflow.run, f"fail-{key}", "robust"))
        tracked = await start(TrackableOrderWorkflow.run, "2", "tracked")
        handles.append(tracked)
        handles.append(await start(SleepWorkflow.run, 0.2, "sleep"))
        handles.append(await start(ParentWorkflow.run, ["x", "fail"], "parent"))
        handles.append(await client.start_workflow(CancelChildWorkflow.run, id=f"cancel-child-{key}", task_queue=task_queue))
        handles.append(await start(ContinueAsNewWorkflow.run, 2, "can"))
        handles.append(await client.start_workflow(
            RetryingWorkflow.run, id=f"retry-{key}", task_queue=task_queue,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        ))
        target = await start(WaitForSignalWorkflow.run, "t", "target")
        handles.append(target)
        handles.append(await start(SignalOtherWorkflow.run, f"target-{key}", "sender"))
        updatable = await client.start_workflow(UpdatableWorkflow.run, id=f"updatable-{key}", task_queue=task_queue)
        handles.append(updatable)
        await updatable.execute_update(UpdatableWorkflow.add, "u")
        await updatable.signal(UpdatableWorkflow.finish)
        await tracked.signal(TrackableOrderWorkflow.add_customer_note, "note")
        await tracked.signal(TrackableOrderWorkflow.finish)
        for handle in handles:
            try:
                await handle.result()
            except Exception:
                pass  # failures are part of the histories under test
    replayer = Replayer(workflows=WORKFLOWS)
    histories = []
    for handle in handles:
        histories.append(await client.get_workflow_handle(handle.id, run_id=handle.result_run_id).fetch_history())
        histories.append(await client.get_workflow_handle(handle.id).fetch_history())
    for history in histories:
        await replayer.replay_workflow(history)
    await asyncio.sleep(0)

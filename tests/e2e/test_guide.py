"""The seed guide's workflows, run unchanged with the official Python SDK against Temper."""

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from guide import (
    CALLS,
    OrderProcessingWorkflow,
    RobustOrderWorkflow,
    TrackableOrderWorkflow,
    cancel_order,
    fulfill_order,
    process_payment,
)

ACTIVITIES = [process_payment, fulfill_order, cancel_order]
WORKFLOWS = [OrderProcessingWorkflow, RobustOrderWorkflow, TrackableOrderWorkflow]


def worker(client, task_queue):
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def test_order_processing_workflow(client, task_queue):
    async with worker(client, task_queue):
        result = await client.execute_workflow(
            OrderProcessingWorkflow.run, "123", id=f"order-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "Order completed successfully"


async def test_robust_order_retries_then_compensates(client, task_queue):
    order_id = f"fail-{uuid.uuid4()}"
    async with worker(client, task_queue):
        handle = await client.start_workflow(
            RobustOrderWorkflow.run, order_id, id=f"robust-{order_id}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, ActivityError)
    assert isinstance(failure.value.cause.cause, ApplicationError)
    payments = [c for c in CALLS if c[0] == "process_payment" and c[1] == order_id]
    assert [attempt for _, _, attempt in payments] == [1, 2, 3]
    assert [c for c in CALLS if c[0] == "cancel_order" and c[1] == order_id] == [
        ("cancel_order", order_id, 1)
    ]
    desc = await handle.describe()
    assert desc.status.name == "FAILED"


async def test_trackable_order_signals_and_queries(client, task_queue):
    async with worker(client, task_queue):
        handle = await client.start_workflow(
            TrackableOrderWorkflow.run, "42", id=f"track-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await handle.query(TrackableOrderWorkflow.get_status) == "WAITING"
        for note in ["first", "second", "third"]:
            await handle.signal(TrackableOrderWorkflow.add_customer_note, note)
        await handle.signal(TrackableOrderWorkflow.finish)
        assert await handle.result() == "\nfirst\nsecond\nthird"
        assert await handle.query(TrackableOrderWorkflow.get_status) == "DONE"
        assert await handle.query(TrackableOrderWorkflow.get_notes) == "\nfirst\nsecond\nthird"
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in (await handle.fetch_history()).events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["add_customer_note"] * 3 + ["finish"]

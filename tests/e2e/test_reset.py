"""ResetWorkflowExecution: a new run replays the kept history, the base run is terminated, and
signals after the reset point are reapplied. The scenario is shared with the differential test
against Temporal's dev server (test_differential.py)."""

import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from conftest import wait_for
from scenarios import WaitForSignalWorkflow, calls, record


def names(events) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


async def events_of(client: Client, workflow_id: str, run_id: str):
    return (await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events


async def reset(client: Client, workflow_id: str, run_id: str, event_id: int, **kwargs) -> str:
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason="testing reset",
            workflow_task_finish_event_id=event_id,
            request_id=kwargs.pop("request_id", str(uuid.uuid4())),
            **kwargs,
        )
    )
    return response.run_id


def first_completed_task(events) -> int:
    return next(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)


async def reset_scenario(target: str, task_queue: str) -> dict:
    """A running workflow that already ran an activity and got a signal is reset to its first
    workflow task; the new run runs the activity again, sees the reapplied signal and finishes.
    Returns the histories (as event type names) and run ids involved."""
    client = await Client.connect(target)
    key = f"reset-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        await wait_for(lambda: _settled_after(handle, "ACTIVITY_TASK_COMPLETED"))
        await handle.signal(WaitForSignalWorkflow.add, "a")
        await wait_for(lambda: _settled_after(handle, "WORKFLOW_EXECUTION_SIGNALED"))
        base_run = handle.result_run_id
        base_events = await events_of(client, key, base_run)
        new_run = await reset(client, key, base_run, first_completed_task(base_events))
        assert (await client.get_workflow_handle(key).describe()).run_id == new_run
        await wait_for(lambda: _new_run_saw_signal(client, key, new_run))
        # The activity re-runs in the new run; let it finish first so both servers see the
        # next signal at the same point.
        new_handle = client.get_workflow_handle(key, run_id=new_run)
        await wait_for(lambda: _settled_after(new_handle, "ACTIVITY_TASK_COMPLETED"))
        await client.get_workflow_handle(key).signal(WaitForSignalWorkflow.add, "done")
        result = await client.get_workflow_handle(key, run_id=new_run).result()
    return {
        "key": key,
        "client": client,
        "base_run": base_run,
        "new_run": new_run,
        "result": result,
        "base": names(await events_of(client, key, base_run)),
        "new": names(await events_of(client, key, new_run)),
    }


async def _settled_after(handle, event_type: str) -> bool:
    """Whether the history has `event_type` and the workflow task that followed it completed."""
    types = names((await handle.fetch_history()).events)
    return event_type in types and types[-1] == "WORKFLOW_TASK_COMPLETED"


async def _new_run_saw_signal(client: Client, workflow_id: str, run_id: str) -> bool:
    return await client.get_workflow_handle(workflow_id, run_id=run_id).query(WaitForSignalWorkflow.seen) == ["a"]


async def test_reset_replays_kept_history_and_reapplies_signals(client, temper, task_queue):
    outcome = await reset_scenario(temper.target, task_queue)
    key = outcome["key"]
    assert outcome["result"] == ["a", "done"]
    # The base run was terminated by the resetter.
    base_events = await events_of(client, key, outcome["base_run"])
    terminated = base_events[-1].workflow_execution_terminated_event_attributes
    assert outcome["base"][-1] == "WORKFLOW_EXECUTION_TERMINATED"
    assert terminated.reason == "testing reset" and terminated.identity == "history-resetter"
    # The new run keeps events 1..3, fails that task with RESET_WORKFLOW, reapplies the signal.
    new_events = await events_of(client, key, outcome["new_run"])
    assert outcome["new"][:6] == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED", "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED",
    ]
    assert [e.event_time for e in new_events[:3]] == [e.event_time for e in base_events[:3]]
    failed = new_events[3].workflow_task_failed_event_attributes
    assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert (failed.base_run_id, failed.new_run_id) == (outcome["base_run"], outcome["new_run"])
    assert failed.failure.message == "testing reset"
    assert outcome["new"][-1] == "WORKFLOW_EXECUTION_COMPLETED"
    # The activity scheduled before the reset point ran again in the new run.
    assert len(calls("record", key)) == 2
    # Both runs' histories replay cleanly in the SDK.
    replayer = Replayer(workflows=[WaitForSignalWorkflow])
    for run_id in (outcome["base_run"], outcome["new_run"]):
        await replayer.replay_workflow(await client.get_workflow_handle(key, run_id=run_id).fetch_history())


async def test_reset_of_a_closed_run_without_reapplying_signals(client, task_queue):
    key = f"reset-closed-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        # Signal only once the first task is done, so the signal is after the reset point.
        await wait_for(lambda: _settled_after(handle, "ACTIVITY_TASK_COMPLETED"))
        await handle.signal(WaitForSignalWorkflow.add, "done")
        assert await handle.result() == ["done"]
        events = (await handle.fetch_history()).events
        request_id = str(uuid.uuid4())
        new_run = await reset(
            client, key, handle.result_run_id, first_completed_task(events),
            request_id=request_id, reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
        )
        # The same request again is answered with the same run.
        assert await reset(client, key, handle.result_run_id, first_completed_task(events), request_id=request_id) == new_run
        # The completed base run is left as it was.
        assert names(await events_of(client, key, handle.result_run_id))[-1] == "WORKFLOW_EXECUTION_COMPLETED"
        new_types = names(await events_of(client, key, new_run))
        assert "WORKFLOW_EXECUTION_SIGNALED" not in new_types
        assert (await client.get_workflow_handle(key).describe()).run_id == new_run
        await client.get_workflow_handle(key).signal(WaitForSignalWorkflow.add, "done")
        assert await client.get_workflow_handle(key, run_id=new_run).result() == ["done"]


async def test_reset_bad_input(client, task_queue):
    key = f"reset-bad-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        await wait_for(lambda: _history_has(handle, "ACTIVITY_TASK_COMPLETED"))
        events = (await handle.fetch_history()).events
        run_id = handle.result_run_id
        for event_id in (0, 1, len(events) + 1, 10_000):
            with pytest.raises(RPCError) as error:
                await reset(client, key, run_id, event_id)
            assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
            assert "Workflow task finish ID must be > 1" in error.value.message
        scheduled = next(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        with pytest.raises(RPCError) as error:
            await reset(client, key, run_id, scheduled + 1)
        assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert "Can only reset workflow to event ID in range" in error.value.message
        with pytest.raises(RPCError) as error:
            await reset(client, f"missing-{key}", "", 4)
        assert error.value.status == RPCStatusCode.NOT_FOUND
        # Nothing changed: the run is still current and running.
        assert (await handle.describe()).run_id == run_id
        await handle.signal(WaitForSignalWorkflow.add, "done")
        await handle.result()


async def _history_has(handle, event_type: str) -> bool:
    return event_type in names((await handle.fetch_history()).events)

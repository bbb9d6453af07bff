"""Workflow updates through the official Python SDK: results, validator rejections, the
accepted stage, update-id deduplication and updates to closed workflows."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from scenarios import UpdatableWorkflow


async def test_updates(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[UpdatableWorkflow]):
        handle = await client.start_workflow(UpdatableWorkflow.run, id=f"upd-{uuid.uuid4()}", task_queue=task_queue)
        assert await handle.execute_update(UpdatableWorkflow.add, "a") == 1
        assert await handle.execute_update(UpdatableWorkflow.add, "b", id="fixed-id") == 2
        # The same update id is deduplicated: the first outcome is returned, nothing re-runs.
        assert await handle.execute_update(UpdatableWorkflow.add, "b", id="fixed-id") == 2
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(UpdatableWorkflow.add, "")
        accepted = await handle.start_update(
            UpdatableWorkflow.slow_add, "c", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        assert await accepted.result() == 3
        await handle.signal(UpdatableWorkflow.finish)
        assert await handle.result() == ["a", "b", "c"]
        with pytest.raises(RPCError):
            await handle.execute_update(UpdatableWorkflow.add, "late")
    types = [EventType.Name(e.event_type) for e in (await handle.fetch_history()).events]
    assert types.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 3
    assert types.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3


async def test_update_with_start(client, task_queue):
    workflow_id = f"uws-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[UpdatableWorkflow]):
        start = WithStartWorkflowOperation(
            UpdatableWorkflow.run, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await client.execute_update_with_start_workflow(UpdatableWorkflow.add, "first", start_workflow_operation=start) == 1
        handle = await start.workflow_handle()
        again = WithStartWorkflowOperation(
            UpdatableWorkflow.run, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await client.execute_update_with_start_workflow(UpdatableWorkflow.add, "second", start_workflow_operation=again) == 2
        assert (await again.workflow_handle()).result_run_id == handle.result_run_id
        failing = WithStartWorkflowOperation(
            UpdatableWorkflow.run, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.execute_update_with_start_workflow(UpdatableWorkflow.add, "third", start_workflow_operation=failing)
        await handle.signal(UpdatableWorkflow.finish)
        assert await handle.result() == ["first", "second"]

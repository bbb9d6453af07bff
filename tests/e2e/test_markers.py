"""Markers and properties: local activities and `workflow.patched` record markers (and the
`TemporalChangeVersion` search attribute), built-in queries reach the worker, and eager start
requests are answered with a normal start the SDK accepts."""

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer, Worker

from scenarios import PatchedLocalActivityWorkflow, WaitForSignalWorkflow, local_step, record


async def test_local_activity_and_patch_markers(client, task_queue):
    key = str(uuid.uuid4())
    async with Worker(client, task_queue=task_queue, workflows=[PatchedLocalActivityWorkflow], activities=[local_step]):
        handle = await client.start_workflow(PatchedLocalActivityWorkflow.run, key, id=f"patched-{key}", task_queue=task_queue)
        assert await handle.result() == f"local {key}"
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert "core_patch" in markers and "core_local_activity" in markers
    types = [EventType.Name(e.event_type) for e in history.events]
    assert "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" in types
    described = await handle.describe()
    assert "TemporalChangeVersion" in described.raw_description.workflow_execution_info.search_attributes.indexed_fields
    await Replayer(workflows=[PatchedLocalActivityWorkflow]).replay_workflow(history)


async def test_builtin_queries_and_eager_start(client, task_queue):
    key = str(uuid.uuid4())
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(
            WaitForSignalWorkflow.run, key, id=f"eager-{key}", task_queue=task_queue, request_eager_start=True
        )
        stack = await handle.query("__stack_trace")
        assert isinstance(stack, str) and stack
        metadata = await handle.query("__temporal_workflow_metadata")
        assert metadata is not None
        await handle.signal(WaitForSignalWorkflow.add, "done")
        assert await handle.result() == ["done"]

"""Markers and properties: local activities and `workflow.patched` record markers (and the
`TemporalChangeVersion` search attribute), built-in queries reach the worker, and eager
workflow start hands the first workflow task back in the start response."""

import uuid

from temporalio.api.command.v1 import Command, CompleteWorkflowExecutionCommandAttributes
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import RespondWorkflowTaskCompletedRequest, StartWorkflowExecutionRequest
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


async def test_eager_start_returns_the_first_workflow_task(client, task_queue):
    workflow_id = f"eager-raw-{uuid.uuid4()}"
    started = await client.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace="default", workflow_id=workflow_id, workflow_type=WorkflowType(name="Raw"),
        task_queue=TaskQueue(name=task_queue), identity="eager-worker", request_id=str(uuid.uuid4()),
        request_eager_execution=True,
    ))
    task = started.eager_workflow_task
    assert task.task_token and task.workflow_execution.run_id == started.run_id
    assert [EventType.Name(e.event_type) for e in task.history.events] == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", "EVENT_TYPE_WORKFLOW_TASK_STARTED",
    ]
    assert task.history.events[-1].workflow_task_started_event_attributes.identity == "eager-worker"
    await client.workflow_service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace="default", task_token=task.task_token, identity="eager-worker",
        commands=[Command(command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                          complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes())],
    ))
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    assert EventType.Name(history.events[-1].event_type) == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    # Without the flag, the start response carries no task.
    plain = await client.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace="default", workflow_id=f"{workflow_id}-plain", workflow_type=WorkflowType(name="Raw"),
        task_queue=TaskQueue(name=task_queue), request_id=str(uuid.uuid4()),
    ))
    assert not plain.HasField("eager_workflow_task")

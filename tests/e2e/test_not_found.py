"""NOT_FOUND answers in Temporal's exact words, with its `NotFoundFailure` detail: the SDKs
and tools match on these strings. Each check also runs against Temporal's dev server."""

import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    PollWorkflowExecutionUpdateRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCStatusCode

from conftest import refused
from test_differential import temporal_server  # noqa: F401 (fixture)



async def expect_not_found(call, message: str) -> None:
    error = await refused(call)
    assert (error.status, error.message) == (RPCStatusCode.NOT_FOUND, message)
    assert error.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)


async def not_found_answers(target: str) -> None:
    client = await Client.connect(target)
    service = client.workflow_service
    queue = f"nf-{uuid.uuid4()}"

    def describe(workflow_id: str, run_id: str = ""):
        return service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id)))

    async def start(workflow_id: str) -> str:
        return (await service.start_workflow_execution(StartWorkflowExecutionRequest(
            namespace="default", workflow_id=workflow_id, workflow_type=WorkflowType(name="NF"),
            task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4())))).run_id

    await expect_not_found(describe("no-such-workflow"), "workflow not found for ID: no-such-workflow")
    workflow_id = f"nf-{uuid.uuid4()}"
    first_run = await start(workflow_id)
    stranger = str(uuid.uuid4())
    await expect_not_found(
        describe(workflow_id, stranger),
        f'workflow execution not found for workflow ID "{workflow_id}" and run ID "{stranger}"')
    error = await refused(describe(workflow_id, "not-a-uuid"))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Invalid RunId.")
    await expect_not_found(
        service.poll_workflow_execution_update(PollWorkflowExecutionUpdateRequest(
            namespace="default", update_ref=UpdateRef(
                workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id="nope"))),
        'update "nope" not found')
    # A workflow-task token used twice is stale.
    task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="nf"))
    completion = RespondWorkflowTaskCompletedRequest(namespace="default", task_token=task.task_token)
    await service.respond_workflow_task_completed(completion)
    await expect_not_found(service.respond_workflow_task_completed(completion), "Workflow task not found.")

    def update(first_execution_run_id: str):
        return service.update_workflow_execution(UpdateWorkflowExecutionRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            first_execution_run_id=first_execution_run_id,
            request=Request(meta=Meta(update_id=str(uuid.uuid4())), input=Input(name="u"))))

    # The whole chain closed: already completed.
    await service.terminate_workflow_execution(TerminateWorkflowExecutionRequest(
        namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id)))
    await expect_not_found(update(first_run), "workflow execution already completed")
    # The id started again as a new chain: the first chain is not found.
    await start(workflow_id)
    await expect_not_found(update(first_run), "workflow execution not found")


async def test_not_found_answers(temper):
    await not_found_answers(temper.target)


async def test_temporal_answers_the_same(temporal_server):  # noqa: F811
    await not_found_answers(temporal_server)

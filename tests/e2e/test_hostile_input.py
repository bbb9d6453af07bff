"""Hostile input gets Temporal's status codes and messages (item by item, each also checked
against Temporal's dev server when it is installed)."""

import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure, NotFoundFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    DescribeWorkflowExecutionRequest,
    ListWorkflowExecutionsRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RecordActivityTaskHeartbeatRequest,
    RegisterNamespaceRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from test_differential import temporal_server  # noqa: F401 (fixture)


async def refused(call) -> RPCError:
    with pytest.raises(RPCError) as error:
        await call
    return error.value


def or_chain(terms: int) -> str:
    return " OR ".join(f"WorkflowId = 'x{i}'" for i in range(terms))


async def long_or_queries(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    listed = await service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace="default", query=or_chain(995)))
    assert list(listed.executions) == []
    for terms in (996, 10_000):
        for call in (
            service.list_workflow_executions(ListWorkflowExecutionsRequest(namespace="default", query=or_chain(terms))),
            service.count_workflow_executions(CountWorkflowExecutionsRequest(namespace="default", query=or_chain(terms))),
        ):
            error = await refused(call)
            assert (error.status, error.message) == (
                RPCStatusCode.INVALID_ARGUMENT, "invalid query: malformed SQL query: max ast depth reached")


async def expect(call, status: RPCStatusCode, message: str) -> RPCError:
    error = await refused(call)
    assert (error.status, error.message) == (status, message)
    return error


async def tokens_and_polls(target: str) -> None:
    """Tokens used with the wrong namespace or for the wrong kind of task, unknown
    namespaces, and long polls with deadlines too short or missing."""
    client = await Client.connect(target)
    service = client.workflow_service
    other = f"other-{uuid.uuid4().hex[:8]}"
    await service.register_namespace(RegisterNamespaceRequest(
        namespace=other, workflow_execution_retention_period=timedelta(days=1)))
    queue = f"tokens-{uuid.uuid4()}"
    await service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace="default", workflow_id=f"tokens-{uuid.uuid4()}", workflow_type=WorkflowType(name="T"),
        task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4())))
    task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="t"), timeout=timedelta(seconds=10))
    token = task.task_token
    await expect(service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace=other, task_token=token)), RPCStatusCode.INVALID_ARGUMENT,
        "Operation requested with a token from a different namespace.")
    error = await expect(service.respond_workflow_task_failed(RespondWorkflowTaskFailedRequest(
        namespace="no-such-ns", task_token=token)), RPCStatusCode.NOT_FOUND, "Namespace no-such-ns is not found.")
    assert error.grpc_status.details[0].Is(NamespaceNotFoundFailure.DESCRIPTOR)
    # A workflow-task token where an activity token belongs: no such activity.
    for call in (
        service.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace="default", task_token=token)),
        service.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(namespace="default", task_token=token)),
    ):
        error = await expect(call, RPCStatusCode.NOT_FOUND,
                             "invalid activityID or activity already timed out or invoking workflow is completed")
        assert error.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)
    await expect(service.describe_namespace(DescribeNamespaceRequest(namespace="")),
                 RPCStatusCode.INVALID_ARGUMENT, "Namespace not set on request.")
    await expect(service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace="", execution=WorkflowExecution(workflow_id="w"))), RPCStatusCode.INVALID_ARGUMENT,
        "Namespace is empty.")
    # The token still works with its own namespace, or with none named.
    await service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(namespace="", task_token=token))
    for poll in (
        service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue)), timeout=timedelta(seconds=1.5)),
        service.poll_activity_task_queue(PollActivityTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue)), timeout=timedelta(seconds=1)),
    ):
        await expect(poll, RPCStatusCode.FAILED_PRECONDITION, "Context timeout is too short.")


SCENARIOS = [long_or_queries, tokens_and_polls]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temper(temper, scenario):
    await scenario(temper.target)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temporal(temporal_server, scenario):  # noqa: F811
    await scenario(temporal_server)

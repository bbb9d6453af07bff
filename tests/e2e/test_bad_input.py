"""Bad input gets a clear gRPC status and a readable message, and the server keeps serving."""

import uuid
from datetime import timedelta

import pytest
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    ScheduleNexusOperationCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input as UpdateInput
from temporalio.api.update.v1 import Meta as UpdateMeta
from temporalio.api.update.v1 import Request as UpdateRequest
from temporalio.api.update.v1 import UpdateRef
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    PollWorkflowExecutionUpdateRequest,
    SignalWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

TIMEOUT = timedelta(seconds=10)


def start_request(queue_name, **overrides):
    fields = dict(
        namespace="default",
        workflow_id=f"raw-{uuid.uuid4()}",
        workflow_type=WorkflowType(name="RawWorkflow"),
        task_queue=TaskQueue(name=queue_name),
        request_id=str(uuid.uuid4()),
    )
    fields.update(overrides)
    return StartWorkflowExecutionRequest(**fields)


def schedule_activity(activity_id, queue_name, **extra):
    """A ScheduleActivityTask command for a raw workflow task completion."""
    command = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id=activity_id,
            activity_type=ActivityType(name="RawActivity"),
            task_queue=TaskQueue(name=queue_name),
            **extra,
        ),
    )
    command.schedule_activity_task_command_attributes.start_to_close_timeout.FromSeconds(30)
    return command


async def poll_workflow_task(client, task_queue):
    return await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=task_queue), identity="raw"),
        timeout=TIMEOUT,
    )


async def expect_error(call, code):
    with pytest.raises(RPCError) as error:
        await call
    assert error.value.status == code, error.value.message
    assert error.value.message
    return error.value


async def test_empty_workflow_id(client, task_queue):
    error = await expect_error(
        client.workflow_service.start_workflow_execution(start_request(task_queue, workflow_id="")),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    assert "WorkflowId" in error.message


async def test_unknown_namespace(temper, task_queue):
    client = await Client.connect(temper.target, namespace="no-such-namespace")
    error = await expect_error(
        client.workflow_service.start_workflow_execution(start_request(task_queue, namespace="no-such-namespace")),
        RPCStatusCode.NOT_FOUND,
    )
    assert "no-such-namespace" in error.message
    detail = NamespaceNotFoundFailure()
    assert error.grpc_status.details[0].Unpack(detail)
    assert detail.namespace == "no-such-namespace"


async def test_malformed_task_token(client):
    error = await expect_error(
        client.workflow_service.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace="default", task_token=b"\xff\x00garbage")
        ),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    assert "token" in error.message.lower()


async def test_stale_activity_token(client, task_queue):
    started = await client.workflow_service.start_workflow_execution(start_request(task_queue))
    task = await poll_workflow_task(client, task_queue)
    schedule = schedule_activity("a1", task_queue)
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(namespace="default", task_token=task.task_token, commands=[schedule])
    )
    activity = await client.workflow_service.poll_activity_task_queue(
        PollActivityTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=task_queue), identity="raw"),
        timeout=TIMEOUT,
    )
    assert activity.activity_id == "a1" and activity.attempt == 1
    done = RespondActivityTaskCompletedRequest(namespace="default", task_token=activity.task_token)
    await client.workflow_service.respond_activity_task_completed(done)
    await expect_error(client.workflow_service.respond_activity_task_completed(done), RPCStatusCode.NOT_FOUND)
    # A workflow-task token that was already used is stale too.
    await expect_error(
        client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace="default", task_token=task.task_token)
        ),
        RPCStatusCode.NOT_FOUND,
    )
    assert started.run_id


async def test_payload_over_size_limit(client, task_queue):
    big = Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * (3 * 1024 * 1024))])
    error = await expect_error(
        client.workflow_service.start_workflow_execution(start_request(task_queue, input=big)),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    assert "size exceeds limit" in error.message


async def test_bad_command_fails_the_workflow_task(client, task_queue):
    request = start_request(task_queue)
    await client.workflow_service.start_workflow_execution(request)
    task = await poll_workflow_task(client, task_queue)
    # A Nexus operation on an endpoint nobody registered.
    bad = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_NEXUS_OPERATION,
        schedule_nexus_operation_command_attributes=ScheduleNexusOperationCommandAttributes(
            endpoint="payments", service="billing", operation="charge"
        ),
    )
    error = await expect_error(
        client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace="default", task_token=task.task_token, commands=[bad])
        ),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    assert error.message == 'BadScheduleNexusOperationAttributes: endpoint "payments" not found'
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace="default", execution=WorkflowExecution(workflow_id=request.workflow_id))
    )
    types = [EventType.Name(e.event_type) for e in history.history.events]
    assert types[-1] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"
    # The next attempt is dispatched (its events are transient, shown only to the worker)
    # and can complete the workflow.
    retry = await poll_workflow_task(client, task_queue)
    assert retry.attempt == 2
    assert [EventType.Name(e.event_type) for e in retry.history.events[-2:]] == [
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED",
    ]
    assert retry.history.events[-1].event_id == retry.started_event_id
    complete = Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(),
    )
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(namespace="default", task_token=retry.task_token, commands=[complete])
    )


async def test_server_keeps_serving_after_bad_input(client, task_queue):
    for bad in [start_request(task_queue, workflow_id=""), start_request(task_queue, task_queue=TaskQueue(name=""))]:
        await expect_error(client.workflow_service.start_workflow_execution(bad), RPCStatusCode.INVALID_ARGUMENT)
    await expect_error(
        client.workflow_service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(task_token=b"")),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    assert described.namespace_info.name == "default"


async def test_eager_activity_is_returned_with_the_completion(client, task_queue):
    await client.workflow_service.start_workflow_execution(start_request(task_queue))
    task = await poll_workflow_task(client, task_queue)
    schedule = schedule_activity("eager-1", task_queue, request_eager_execution=True)
    response = await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=[schedule], identity="raw"
        )
    )
    [eager] = response.activity_tasks
    assert eager.activity_id == "eager-1" and eager.attempt == 1 and eager.task_token
    await client.workflow_service.respond_activity_task_completed(
        RespondActivityTaskCompletedRequest(namespace="default", task_token=eager.task_token)
    )
    next_task = await poll_workflow_task(client, task_queue)
    types = [EventType.Name(e.event_type) for e in next_task.history.events]
    assert "EVENT_TYPE_ACTIVITY_TASK_COMPLETED" in types


async def test_bad_input_for_signals_updates_and_children(client, task_queue):
    request = start_request(task_queue)
    await client.workflow_service.start_workflow_execution(request)
    execution = WorkflowExecution(workflow_id=request.workflow_id)
    # An update id nobody sent.
    error = await expect_error(
        client.workflow_service.poll_workflow_execution_update(
            PollWorkflowExecutionUpdateRequest(
                namespace="default", update_ref=UpdateRef(workflow_execution=execution, update_id="nope")
            )
        ),
        RPCStatusCode.NOT_FOUND,
    )
    assert "nope" in error.message
    # A child without a workflow id fails the workflow task with the child cause.
    task = await poll_workflow_task(client, task_queue)
    child = Command(
        command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=StartChildWorkflowExecutionCommandAttributes(
            workflow_id="", workflow_type=WorkflowType(name="Child")
        ),
    )
    error = await expect_error(
        client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace="default", task_token=task.task_token, commands=[child])
        ),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    assert error.message.startswith("BadStartChildExecutionAttributes: Required field WorkflowId")
    # A signal to a closed run.
    await client.workflow_service.terminate_workflow_execution(
        TerminateWorkflowExecutionRequest(namespace="default", workflow_execution=execution, reason="done")
    )
    error = await expect_error(
        client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(namespace="default", workflow_execution=execution, signal_name="late")
        ),
        RPCStatusCode.NOT_FOUND,
    )
    assert "already completed" in error.message
    # An update to a closed run.
    error = await expect_error(
        client.workflow_service.update_workflow_execution(
            UpdateWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=execution,
                request=UpdateRequest(meta=UpdateMeta(update_id="u1"), input=UpdateInput(name="add")),
            )
        ),
        RPCStatusCode.NOT_FOUND,
    )


async def test_error_messages_never_echo_large_input(client):
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    huge = "x" * (1 << 20)
    for request in (
        DescribeWorkflowExecutionRequest(namespace="default", execution=WorkflowExecution(workflow_id=huge)),
        DescribeWorkflowExecutionRequest(namespace=huge, execution=WorkflowExecution(workflow_id="w")),
    ):
        with pytest.raises(RPCError) as error:
            await client.workflow_service.describe_workflow_execution(request)
        assert error.value.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT)
        assert "xxxx" in error.value.message and len(error.value.message) < 2200
    # The connection is still good.
    await client.workflow_service.get_system_info(GetSystemInfoRequest())

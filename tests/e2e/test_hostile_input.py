"""Hostile input gets Temporal's status codes and messages (item by item, each also checked
against Temporal's dev server when it is installed)."""

import asyncio
import uuid
from datetime import timedelta

import grpc
import pytest
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes
from temporalio.api.common.v1 import ActivityType, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, WorkflowIdConflictPolicy, WorkflowIdReusePolicy
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
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as UpdateStage
from temporalio.api.filter.v1 import StartTimeFilter
from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.replication.v1 import ClusterReplicationConfig
from temporalio.api.update.v1 import Input as UpdateInput
from temporalio.api.update.v1 import Meta as UpdateMeta
from temporalio.api.update.v1 import Request as UpdateRequest
from temporalio.api.update.v1 import WaitPolicy
from temporalio.api.workflowservice.v1 import (
    ListClosedWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest,
    QueryWorkflowRequest,
    UpdateNamespaceRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker
from temporalio.service import RPCError, RPCStatusCode

from raw_grpc import RawWorkflowService
from conftest import refused
from test_differential import temporal_server  # noqa: F401 (fixture)
from update_workflows import ClosesUnderUpdatesWorkflow



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


def start_request(**fields) -> StartWorkflowExecutionRequest:
    request = StartWorkflowExecutionRequest(
        namespace="default", workflow_id=f"v-{uuid.uuid4()}", workflow_type=WorkflowType(name="V"),
        task_queue=TaskQueue(name=f"v-{uuid.uuid4()}"), request_id=str(uuid.uuid4()))
    for name, value in fields.items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                target = getattr(request, name)
                if isinstance(sub_value, tuple):
                    getattr(target, sub).seconds, getattr(target, sub).nanos = sub_value
                else:
                    setattr(target, sub, sub_value)
        elif isinstance(value, tuple):
            getattr(request, name).seconds, getattr(request, name).nanos = value
        elif name == "input":
            request.input.CopyFrom(value)
        elif name in ("workflow_type", "task_queue"):
            getattr(request, name).name = value
        else:
            setattr(request, name, value)
    return request


LONG = "x" * 1001
START_REFUSALS = [
    (dict(workflow_id=LONG), "WorkflowId exceeds maximum allowed length (1001/1000)"),
    (dict(workflow_type=LONG), "WorkflowType length exceeds limit."),
    (dict(task_queue=LONG), "taskQueue length exceeds limit"),
    (dict(request_id=LONG), "RequestId length exceeds limit."),
    (dict(workflow_start_delay=(-1, 0)), "An invalid WorkflowStartDelaySeconds is set on request. cause: negative duration"),
    (dict(workflow_run_timeout=(1, -5)), "An invalid WorkflowRunTimeoutSeconds is set on request. cause: "
                                         "duration has seconds and nanos with different signs"),
    (dict(workflow_execution_timeout=(-1, 0)),
     "An invalid WorkflowExecutionTimeoutSeconds is set on request. cause: negative duration"),
    (dict(workflow_task_timeout=(-1, 0)), "An invalid WorkflowTaskTimeoutSeconds is set on request. cause: negative duration"),
    (dict(retry_policy=dict(initial_interval=(-1, 0))), "invalid InitialInterval set on retry policy: negative duration"),
    (dict(retry_policy=dict(maximum_interval=(-1, 0))), "invalid MaximumInterval set on retry policy: negative duration"),
    (dict(retry_policy=dict(initial_interval=(10, 0), maximum_interval=(5, 0))),
     "MaximumInterval cannot be less than InitialInterval on retry policy."),
    (dict(retry_policy=dict(backoff_coefficient=0.5)), "BackoffCoefficient cannot be less than 1 on retry policy."),
    (dict(retry_policy=dict(maximum_attempts=-1)), "MaximumAttempts cannot be negative on retry policy."),
    (dict(workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING,
          workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL),
     "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together "
     "with a WorkflowIDConflictPolicy"),
]


async def start_validation(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    for fields, message in START_REFUSALS:
        await expect(service.start_workflow_execution(start_request(**fields)), RPCStatusCode.INVALID_ARGUMENT, message)
    # At the limit, everything is accepted.
    await service.start_workflow_execution(start_request(workflow_id="w" * 1000, request_id="r" * 1000))


def activity(activity_id: str, start_to_close=(10, 0)) -> Command:
    command = Command(command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
                      schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
                          activity_id=activity_id, activity_type=ActivityType(name="A"),
                          task_queue=TaskQueue(name="activities")))
    timeout = command.schedule_activity_task_command_attributes.start_to_close_timeout
    timeout.seconds, timeout.nanos = start_to_close
    return command


def timer(timer_id: str) -> Command:
    command = Command(command_type=CommandType.COMMAND_TYPE_START_TIMER,
                      start_timer_command_attributes=StartTimerCommandAttributes(timer_id=timer_id))
    command.start_timer_command_attributes.start_to_fire_timeout.seconds = 1
    return command


COMMAND_REFUSALS = [
    ([activity("")], "BadScheduleActivityAttributes: activityId is not set"),
    ([activity(LONG)], "BadScheduleActivityAttributes: activityId exceeds length limit. Length=1001 Limit=1000"),
    ([activity("a", start_to_close=(-1, 0))], "BadScheduleActivityAttributes: invalid StartToCloseTimeout: negative duration"),
    ([timer(LONG)], f"BadStartTimerAttributes: TimerId on StartTimerCommand exceeds length limit. TimerId={LONG} Length=1001 "
     "Limit=1000"),
    ([activity(f"a{i}") for i in range(2001)],
     "PendingActivitiesLimitExceeded: the number of pending activities, 2000, has reached the per-workflow limit of 2000"),
]


def continue_as_new(**timeouts) -> Command:
    from temporalio.api.command.v1 import ContinueAsNewWorkflowExecutionCommandAttributes

    command = Command(command_type=CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
                      continue_as_new_workflow_execution_command_attributes=(
                          ContinueAsNewWorkflowExecutionCommandAttributes(workflow_type=WorkflowType(name="V"))))
    attributes = command.continue_as_new_workflow_execution_command_attributes
    for name, seconds in timeouts.items():
        if name == "initial_interval":
            attributes.retry_policy.initial_interval.seconds = seconds
        else:
            getattr(attributes, name).seconds = seconds
    return command


# ContinueAsNew refusals end with the task queue in Go's text format, whose spacing varies
# between Temporal builds; the part before it is compared.
CONTINUE_AS_NEW_REFUSALS = [
    (continue_as_new(workflow_run_timeout=-1),
     "BadContinueAsNewAttributes: Invalid WorkflowRunTimeout on ContinueAsNewWorkflowExecutionCommand: "
     "negative duration. WorkflowType=V TaskQueue="),
    (continue_as_new(workflow_task_timeout=-1),
     "BadContinueAsNewAttributes: Invalid WorkflowTaskTimeout on ContinueAsNewWorkflowExecutionCommand: "
     "negative duration. WorkflowType=V TaskQueue="),
    (continue_as_new(backoff_start_interval=-1),
     "BadContinueAsNewAttributes: Invalid BackoffStartInterval on ContinueAsNewWorkflowExecutionCommand: "
     "negative duration. WorkflowType=V TaskQueue="),
    (continue_as_new(initial_interval=-1),
     "BadContinueAsNewAttributes: invalid WorkflowRetryPolicy on ContinueAsNewWorkflowExecutionCommand: "
     "invalid InitialInterval set on retry policy: negative duration. WorkflowType=V TaskQueue="),
]


async def command_validation(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    for commands, message in COMMAND_REFUSALS:
        request = start_request()
        await service.start_workflow_execution(request)
        task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=request.task_queue, identity="v"), timeout=timedelta(seconds=10))
        await expect(service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=commands)),
            RPCStatusCode.INVALID_ARGUMENT, message)
    for command, prefix in CONTINUE_AS_NEW_REFUSALS:
        request = start_request()
        await service.start_workflow_execution(request)
        task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=request.task_queue, identity="v"), timeout=timedelta(seconds=10))
        error = await refused(service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=[command])))
        assert error.status == RPCStatusCode.INVALID_ARGUMENT
        assert error.message.startswith(prefix), error.message
        assert f'name:"{request.task_queue.name}"' in error.message


async def namespaces_and_listings(target: str) -> None:
    service = (await Client.connect(target)).workflow_service

    def register(**fields):
        return service.register_namespace(RegisterNamespaceRequest(namespace=f"ns-{uuid.uuid4().hex[:8]}", **fields))

    day = timedelta(days=1)
    for fields, message in [
        (dict(), "A valid retention period is not set on request."),
        (dict(workflow_execution_retention_period=timedelta(seconds=-1)), "A valid retention period is not set on request."),
        (dict(workflow_execution_retention_period=day, clusters=[ClusterReplicationConfig(cluster_name="global")]),
         "Invalid cluster name: global"),
        (dict(workflow_execution_retention_period=day, active_cluster_name="unknown-cluster"),
         "Invalid cluster name: unknown-cluster"),
        (dict(workflow_execution_retention_period=day, is_global_namespace=True),
         "Cannot register global namespace when not enabled"),
    ]:
        await expect(register(**fields), RPCStatusCode.INVALID_ARGUMENT, message)
    await register(workflow_execution_retention_period=day, clusters=[ClusterReplicationConfig(cluster_name="active")])
    await expect(service.update_namespace(UpdateNamespaceRequest(
        namespace="default", update_info=UpdateNamespaceInfo(state=99))),
        RPCStatusCode.INVALID_ARGUMENT, "Invalid namespace state update.")
    inverted = StartTimeFilter()
    inverted.earliest_time.FromSeconds(2_000_000_000)
    inverted.latest_time.FromSeconds(1_000_000_000)
    for call in (
        service.list_open_workflow_executions(ListOpenWorkflowExecutionsRequest(
            namespace="default", start_time_filter=inverted)),
        service.list_closed_workflow_executions(ListClosedWorkflowExecutionsRequest(
            namespace="default", start_time_filter=inverted)),
    ):
        await expect(call, RPCStatusCode.INVALID_ARGUMENT,
                     "EarliestTime in StartTimeFilter should not be larger than LatestTime.")


async def updates_and_queries(target: str) -> None:
    client = await Client.connect(target)
    service = client.workflow_service
    queue = f"uq-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ClosesUnderUpdatesWorkflow]):
        handle = await client.start_workflow(ClosesUnderUpdatesWorkflow.run, id=f"uq-{uuid.uuid4()}", task_queue=queue)

        def update(update_id: str, name: str = "count", stage=UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED):
            return service.update_workflow_execution(UpdateWorkflowExecutionRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id=handle.id),
                request=UpdateRequest(meta=UpdateMeta(update_id=update_id), input=UpdateInput(
                    name=name, args=int_payloads(1))),
                wait_policy=WaitPolicy(lifecycle_stage=stage)))

        # No update id: the server names the update (a UUIDv4) and runs it.
        named = await update("")
        assert uuid.UUID(named.update_ref.update_id).version == 4
        await expect(update("u" * 1001), RPCStatusCode.INVALID_ARGUMENT, "UpdateId length exceeds limit.")
        await expect(update("u1", name=""), RPCStatusCode.INVALID_ARGUMENT, "Update name is not set on request.")
        await expect(service.query_workflow(QueryWorkflowRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=handle.id), query=WorkflowQuery())),
            RPCStatusCode.INVALID_ARGUMENT, "QueryType is not set on request.")
        await handle.signal(ClosesUnderUpdatesWorkflow.finish)
        await handle.result()


def int_payloads(value: int):
    from temporalio.converter import DataConverter
    return Payloads(payloads=DataConverter.default.payload_converter.to_payloads([value]))


async def oversized_messages(target: str) -> None:
    """Over grpc-go's 4 MiB receive limit: RESOURCE_EXHAUSTED with grpc-go's message, as
    the SDK sends it (gzip) and uncompressed."""
    service = (await Client.connect(target)).workflow_service
    request = start_request(input=Payloads(payloads=[Payload(data=b"x" * (5 << 20))]))
    error = await refused(service.start_workflow_execution(request))
    assert (error.status, error.message) == (
        RPCStatusCode.RESOURCE_EXHAUSTED, "grpc: received message after decompression larger than max 4194304")
    raw = RawWorkflowService(target)
    with pytest.raises(grpc.aio.AioRpcError) as raw_error:
        await raw.call("StartWorkflowExecution", request)
    assert raw_error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raw_error.value.details() == f"grpc: received message larger than max ({request.ByteSize()} vs. 4194304)"
    await raw.close()


BIG = 5 << 19  # 2.5 MiB: over the 2 MiB blob limit, under the 4 MiB message limit


async def oversized_activity_answers(target: str) -> None:
    """Answers over the blob limit are accepted and fail the activity for good, as Temporal."""
    from temporalio.api.enums.v1 import EventType, RetryState
    from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
    from temporalio.api.workflowservice.v1 import (
        GetWorkflowExecutionHistoryRequest,
        RespondActivityTaskCanceledRequest,
        RespondActivityTaskFailedRequest,
    )

    service = (await Client.connect(target)).workflow_service
    big = Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * BIG)])
    answers = {
        "Complete result exceeds size limit.": lambda token: service.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace="default", task_token=token, result=big)),
        "Heartbeat details exceed size limit.": lambda token: service.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace="default", task_token=token, details=big)),
        "Cancel details exceed size limit.": lambda token: service.respond_activity_task_canceled(
            RespondActivityTaskCanceledRequest(namespace="default", task_token=token, details=big)),
        "Failure exceeds size limit.": lambda token: service.respond_activity_task_failed(
            RespondActivityTaskFailedRequest(namespace="default", task_token=token, failure=Failure(
                message="m" * BIG, application_failure_info=ApplicationFailureInfo(type="T")))),
    }
    for reason, answer in answers.items():
        request = start_request()
        started = await service.start_workflow_execution(request)
        task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=request.task_queue, identity="big"), timeout=timedelta(seconds=10))
        await service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, commands=[activity("a")]))
        activity_task = await service.poll_activity_task_queue(PollActivityTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name="activities"), identity="big"), timeout=timedelta(seconds=10))
        response = await answer(activity_task.task_token)
        if reason.startswith("Heartbeat"):
            assert response.cancel_requested
        if reason.startswith("Failure"):
            assert [f.message for f in response.failures] == [reason]
        history = await service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=request.workflow_id, run_id=started.run_id)))
        failed = [e.activity_task_failed_event_attributes for e in history.history.events
                  if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
        assert len(failed) == 1, reason
        assert failed[0].failure.message == reason
        assert failed[0].failure.server_failure_info.non_retryable
        assert failed[0].retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
        if reason.startswith("Failure"):
            cause = failed[0].failure.cause
            assert cause.application_failure_info.type == "T"
            assert 500_000 < len(cause.message) <= 512 * 1024


async def activity_failure_without_failure(target: str) -> None:
    """A worker failing an activity without saying why: accepted, recorded without a failure."""
    from temporalio.api.enums.v1 import EventType, RetryState
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest, RespondActivityTaskFailedRequest

    service = (await Client.connect(target)).workflow_service
    request = start_request()
    started = await service.start_workflow_execution(request)
    task = await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=request.task_queue, identity="bare"), timeout=timedelta(seconds=10))
    command = activity("bare")
    command.schedule_activity_task_command_attributes.retry_policy.maximum_attempts = 1
    queue = f"bare-{uuid.uuid4()}"
    command.schedule_activity_task_command_attributes.task_queue.name = queue
    await service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace="default", task_token=task.task_token, commands=[command]))
    activity_task = await service.poll_activity_task_queue(PollActivityTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="bare"), timeout=timedelta(seconds=10))
    await service.respond_activity_task_failed(RespondActivityTaskFailedRequest(
        namespace="default", task_token=activity_task.task_token))
    history = await service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=request.workflow_id, run_id=started.run_id)))
    failed = [e.activity_task_failed_event_attributes for e in history.history.events
              if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    assert len(failed) == 1
    assert not failed[0].HasField("failure")
    assert failed[0].retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED


async def wire_level_malformation(target: str) -> None:
    """Bytes as Go's decoder reads them: a field with the wrong wire type is an unknown field,
    skipped; bytes that are no message, or invalid UTF-8 in a string, are INTERNAL."""
    raw = RawWorkflowService(target)
    valid = start_request(namespace="default").SerializeToString()

    async def answer(request: bytes):
        try:
            await raw.call_bytes("StartWorkflowExecution", request)
            return "OK", ""
        except grpc.aio.AioRpcError as error:
            return error.code().name, error.details()

    # Field 1 (namespace, a string) as a varint: skipped, so the namespace is missing...
    without_namespace = start_request(namespace="").SerializeToString()
    assert await answer(b"\x08\x07" + without_namespace) == ("INVALID_ARGUMENT", "Namespace is empty.")
    # ...and harmless next to a proper one.
    assert await answer(b"\x08\x07" + valid) == ("OK", "")
    # Field 3 (workflow_type, a message) as a varint.
    no_type = start_request(namespace="default", workflow_type="").SerializeToString()
    assert await answer(no_type + b"\x18\x01") == ("INVALID_ARGUMENT", "WorkflowType is not set on request.")
    assert await answer(b"\x0f\x0f\x0f") == (
        "INTERNAL", "grpc: error unmarshalling request: proto:\u00a0cannot parse invalid wire-format data")
    assert await answer(b"\x0a\x02\xff\xfe") == (
        "INTERNAL", "grpc: error unmarshalling request: string field contains invalid UTF-8")
    await raw.close()


async def oversized_update_arguments(target: str) -> None:
    """Update arguments over the blob limit are accepted and reach the worker; an acceptance
    that echoes them is over the limit: the run is terminated and the caller told so. (The SDKs
    refuse to send such an acceptance themselves, from the namespace's advertised limits, so a
    raw worker answers here.)"""
    from google.protobuf.any_pb2 import Any
    from temporalio.api.command.v1 import ProtocolMessageCommandAttributes
    from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
    from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
    from temporalio.api.protocol.v1 import Message as ProtocolMessage
    from temporalio.api.update.v1 import Acceptance
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

    service = (await Client.connect(target)).workflow_service
    info = (await service.describe_namespace(DescribeNamespaceRequest(namespace="default"))).namespace_info
    assert (info.limits.blob_size_limit_error, info.limits.memo_size_limit_error) == (2 << 20, 2 << 20)

    async def poll(queue):
        return await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=queue, identity="raw"), timeout=timedelta(seconds=10))

    request = start_request()
    started = await service.start_workflow_execution(request)
    execution = WorkflowExecution(workflow_id=request.workflow_id, run_id=started.run_id)
    first = await poll(request.task_queue)
    await service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace="default", task_token=first.task_token))
    big = DataConverter.default.payload_converter.to_payloads(["x" * (3 << 20)])
    waiting = asyncio.ensure_future(service.update_workflow_execution(UpdateWorkflowExecutionRequest(
        namespace="default", workflow_execution=execution,
        request=UpdateRequest(meta=UpdateMeta(update_id="big"), input=UpdateInput(name="measure", args=Payloads(
            payloads=big))),
        wait_policy=WaitPolicy(lifecycle_stage=UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED))))
    task = await poll(request.task_queue)
    message = task.messages[0]
    update = UpdateRequest()
    message.body.Unpack(update)
    body = Any()
    body.Pack(Acceptance(accepted_request_message_id=message.id,
                         accepted_request_sequencing_event_id=message.event_id, accepted_request=update))
    reply = ProtocolMessage(id="big/accept", protocol_instance_id=message.protocol_instance_id, body=body)
    command = Command(command_type=CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE,
                      protocol_message_command_attributes=ProtocolMessageCommandAttributes(message_id="big/accept"))
    reason = "BadUpdateWorkflowExecutionMessage: Message type temporal.api.update.v1.Acceptance exceeds size limit."
    await expect(service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
        namespace="default", task_token=task.task_token, commands=[command], messages=[reply])),
        RPCStatusCode.INVALID_ARGUMENT, reason)
    error = await expect(waiting, RPCStatusCode.FAILED_PRECONDITION,
                         "Unable to perform workflow execution update due to unexpected workflow task failure.")
    assert error.grpc_status.details[0].Is(WorkflowNotReadyFailure.DESCRIPTOR)
    events = (await service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
        namespace="default", execution=execution))).history.events
    failed = [e.workflow_task_failed_event_attributes for e in events
              if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert [(f.cause, f.failure.message) for f in failed] == [
        (WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE, reason)]
    last = events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert last.workflow_execution_terminated_event_attributes.reason == reason
    assert last.workflow_execution_terminated_event_attributes.identity == "history-service"


SCENARIOS = [oversized_update_arguments, wire_level_malformation, activity_failure_without_failure, oversized_activity_answers, oversized_messages, long_or_queries, tokens_and_polls, start_validation, command_validation, namespaces_and_listings,
             updates_and_queries]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temper(temper, scenario):
    await scenario(temper.target)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temporal(temporal_server, scenario):  # noqa: F811
    await scenario(temporal_server)

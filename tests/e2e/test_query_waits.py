"""A query waiting for an in-flight workflow task keeps waiting while later attempts time out
(Temporal refuses only queries that *arrive* once the task is failing), and a completion
carrying a timed-out attempt's token is refused. Raw requests, as a stuck worker sends them."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import QueryResultType
from temporalio.api.query.v1 import WorkflowQuery, WorkflowQueryResult
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    QueryWorkflowRequest,
    RespondQueryTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from test_differential import temporal_server  # noqa: F401 (fixture)

TASK_TIMEOUT = 2
ANSWER = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"still here"')])


async def waiting_query_outlives_failing_attempts(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    queue = f"qw-{uuid.uuid4()}"
    execution = WorkflowExecution(workflow_id=f"qw-{uuid.uuid4()}")
    start = StartWorkflowExecutionRequest(
        namespace="default", workflow_id=execution.workflow_id, workflow_type=WorkflowType(name="Q"),
        task_queue=TaskQueue(name=queue), request_id=str(uuid.uuid4()))
    start.workflow_task_timeout.seconds = TASK_TIMEOUT
    await service.start_workflow_execution(start)

    async def poll():
        return await service.poll_workflow_task_queue(PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue), identity="stuck"), timeout=timedelta(seconds=20))

    async def complete(task):
        results = {query_id: WorkflowQueryResult(result_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED, answer=ANSWER)
                   for query_id in task.queries}
        await service.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity="stuck", query_results=results))

    await complete(await poll())
    await service.signal_workflow_execution(SignalWorkflowExecutionRequest(
        namespace="default", workflow_execution=execution, signal_name="wake"))
    first = await poll()
    assert first.attempt == 1
    query = asyncio.ensure_future(service.query_workflow(QueryWorkflowRequest(
        namespace="default", execution=execution, query=WorkflowQuery(query_type="state")),
        timeout=timedelta(seconds=30)))
    # Attempts 1 and 2 time out while the query waits.
    second = await poll()
    third = await poll()
    assert (second.attempt, third.attempt) == (2, 3)
    # Timed-out attempts' tokens are stale, including attempt 2's, whose transient events
    # carry the same ids as attempt 3's.
    for timed_out in (first, second):
        with pytest.raises(RPCError) as stale:
            await complete(timed_out)
        assert (stale.value.status, stale.value.message) == (RPCStatusCode.NOT_FOUND, "Workflow task not found.")
    # A query arriving now is refused; the one that was waiting is still waiting.
    with pytest.raises(RPCError) as late:
        await service.query_workflow(QueryWorkflowRequest(
            namespace="default", execution=execution, query=WorkflowQuery(query_type="state")))
    assert late.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert not query.done()
    # Attempt 3 completes: the waiting query is answered (on the task or as a query task).
    await complete(third)
    while not query.done():
        try:
            task = await asyncio.wait_for(poll(), timeout=5)
        except asyncio.TimeoutError:
            continue
        if task.HasField("query"):
            await service.respond_query_task_completed(RespondQueryTaskCompletedRequest(
                namespace="default", task_token=task.task_token,
                completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED, query_result=ANSWER))
        elif task.task_token:
            await complete(task)
    assert (await query).query_result == ANSWER


async def test_waiting_query_outlives_failing_attempts(temper):
    await waiting_query_outlives_failing_attempts(temper.target)


async def test_temporal_keeps_the_query_waiting_too(temporal_server):  # noqa: F811
    await waiting_query_outlives_failing_attempts(temporal_server)

"""History paging and long polls, reverse history, describe of pending work, unimplemented
RPCs and the start-dev flag set."""

import asyncio
import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListWorkflowRulesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import TemperServer, wait_for
from scenarios import CrashActivityWorkflow, WaitForSignalWorkflow, calls, record, slow


async def page_through(client, workflow_id, page_size):
    events, token, pages = [], b"", 0
    while True:
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id=workflow_id),
                maximum_page_size=page_size,
                next_page_token=token,
            )
        )
        pages += 1
        events += response.history.events
        token = response.next_page_token
        if not token:
            return events, pages


async def test_history_pages_reverse_and_long_poll(client, task_queue):
    key = f"hist-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, key, id=key, task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("record", key)))
        # A long poll waits for the next event and returns it.
        first = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace="default", execution=WorkflowExecution(workflow_id=key))
        )
        assert first.history.events and first.next_page_token == b""
        poll = asyncio.ensure_future(
            client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace="default",
                    execution=WorkflowExecution(workflow_id=key),
                    wait_new_event=True,
                    next_page_token=b"",
                )
            )
        )
        await handle.signal(WaitForSignalWorkflow.add, "done")
        await handle.result()
        await poll
    events, pages = await page_through(client, key, page_size=2)
    assert pages > 3
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    reverse = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(namespace="default", execution=WorkflowExecution(workflow_id=key))
    )
    assert [e.event_id for e in reverse.history.events] == list(range(len(events), 0, -1))
    assert EventType.Name(reverse.history.events[0].event_type) == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


async def test_describe_shows_pending_activity_and_task(client, task_queue):
    key = f"pending-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[CrashActivityWorkflow], activities=[record, slow]):
        handle = await client.start_workflow(CrashActivityWorkflow.run, key, id=key, task_queue=task_queue)
        await wait_for(lambda: asyncio.sleep(0, result=calls("slow", key)))
        description = (await handle.describe()).raw_description
        [pending] = description.pending_activities
        assert pending.activity_type.name == "slow"
        assert pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        assert pending.attempt == 1
        assert pending.last_started_time.seconds > 0
        assert await handle.result() == f"slow {key}"
    done = (await handle.describe()).raw_description
    assert not done.pending_activities and not done.HasField("pending_workflow_task")


async def test_unimplemented_rpcs_name_themselves(client):
    try:
        await client.workflow_service.list_workflow_rules(ListWorkflowRulesRequest(namespace="default"))
    except RPCError as error:
        assert error.status == RPCStatusCode.UNIMPLEMENTED
        assert "ListWorkflowRules" in error.message
    else:
        raise AssertionError("expected UNIMPLEMENTED")


async def test_start_dev_accepts_temporal_flags(tmp_path):
    flags = [
        "server", "start-dev",
        "--ip", "127.0.0.1",
        "--db-filename", str(tmp_path / "flags.db"),
        "--namespace", "orders", "-n", "billing",
        "--headless",
        "--http-port", "0", "--metrics-port", "0", "--ui-port", "0", "--ui-ip", "127.0.0.1",
        "--log-level", "warn", "--log-format", "json",
        "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
        "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=100",
        "--search-attribute", "CustomerId=Keyword",
        "--sqlite-pragma", "cache_size=-4000",
        "--log-config", str(tmp_path / "unused.yaml"),
    ]
    server = TemperServer(None, tmp_path / "flags.log", flags)
    server.start()
    try:
        for namespace in ["default", "orders", "billing"]:
            client = await Client.connect(server.target, namespace=namespace)
            info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
            assert info.capabilities.sdk_metadata
            described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            assert described.namespace_info.name == namespace
    finally:
        server.stop()

"""Visibility: `list_workflows` and `count_workflows` with Temporal's query language over a
prepared set of runs of two types, five statuses, two start times and custom search
attributes of every type; the operator's search-attribute API; invalid queries."""

import asyncio
import uuid
from datetime import datetime, timezone

import pytest
from temporalio.api.enums.v1 import EventType, IndexedValueType, WorkflowTaskFailedCause
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import TemperServer, wait_for
from test_differential import temporal_server  # noqa: F401 (fixture)
from visibility_workflows import BOOL, DATETIME, DOUBLE, INT, KEYWORD, KEYWORD_LIST, TEXT, OrderWorkflow, ShipWorkflow

@pytest.fixture
def temper(tmp_path):
    """A server with two custom attributes registered by flag; the tests add the others."""
    server = TemperServer(
        tmp_path / "temper.db", tmp_path / "temper.log",
        extra_args=["--search-attribute", "CustomKeywordField=Keyword",
                    "--search-attribute", "CustomIntField=Int"],
    )
    server.start()
    yield server
    server.stop()


async def register_remaining_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={
            "CustomDoubleField": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
            "CustomBoolField": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
            "CustomDatetimeField": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
            "CustomTextField": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
            "CustomKeywordListField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
        },
    ))


def jan(day: int, month: int = 1) -> datetime:
    return datetime(2026, month, day, tzinfo=timezone.utc)


# (name, workflow, mode, search attributes, what happens after the start)
RUNS = [
    ("order-1", OrderWorkflow, "done", [KEYWORD.value_set("gold"), INT.value_set(10), DOUBLE.value_set(1.5),
                                        BOOL.value_set(True), DATETIME.value_set(jan(1)),
                                        TEXT.value_set("fast delivery express"), KEYWORD_LIST.value_set(["a", "b"])], None),
    ("order-2", OrderWorkflow, "fail", [KEYWORD.value_set("silver"), INT.value_set(20), DOUBLE.value_set(2.5),
                                        BOOL.value_set(False), DATETIME.value_set(jan(1, 2)),
                                        TEXT.value_set("slow delivery"), KEYWORD_LIST.value_set(["b"])], None),
    ("order-3", OrderWorkflow, "wait", [KEYWORD.value_set("gold"), INT.value_set(30), BOOL.value_set(True),
                                        KEYWORD_LIST.value_set(["c"])], None),
    ("order-4", OrderWorkflow, "wait", [KEYWORD.value_set("gold"), INT.value_set(40)], "cancel"),
    ("ship-1", ShipWorkflow, "upsert", [KEYWORD.value_set("bronze"), INT.value_set(5)], None),
    ("ship-2", ShipWorkflow, "wait", [], "terminate"),
    ("ship-3", ShipWorkflow, "wait", [KEYWORD.value_set("silver"), INT.value_set(15),
                                      TEXT.value_set("express shipping")], None),
]


async def prepare(client: Client, task_queue: str) -> dict:
    """Starts every run of RUNS (orders first, then ships after `middle`) and brings each to
    its status. Returns names by workflow id, run ids and the instant between the groups."""
    key = uuid.uuid4().hex[:8]
    handles, middle = {}, None
    for name, wf, mode, attributes, _ in RUNS:
        if name.startswith("ship") and middle is None:
            await asyncio.sleep(0.05)
            middle = datetime.now(timezone.utc)
            await asyncio.sleep(0.05)
        handles[name] = await client.start_workflow(
            wf.run, mode, id=f"{key}-{name}", task_queue=task_queue, memo={"name": name},
            search_attributes=TypedSearchAttributes([SearchAttributePair(a.key, a.value) for a in attributes]),
        )
    for name, _, mode, _, then in RUNS:
        handle = handles[name]
        if then == "cancel":
            await handle.cancel()
        elif then == "terminate":
            await handle.terminate("visibility test")
        if mode != "wait" or then:
            try:
                await handle.result()
            except Exception:
                pass
    # Running ones must have completed their first workflow task (a stable history).
    for name in ("order-3", "ship-3"):
        await wait_for(lambda: _first_task_done(handles[name]))
    return {"key": key, "handles": handles, "middle": middle}


async def _first_task_done(handle) -> bool:
    events = (await handle.fetch_history()).events
    return len(events) >= 4


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def listed(client: Client, query: str, **kwargs) -> list[str]:
    return [execution.id async for execution in client.list_workflows(query, **kwargs)]


def query_cases(prepared: dict, task_queue: str) -> list[tuple[str, set[str]]]:
    """At least 25 distinct queries over the prepared runs, each with its exact result set."""
    key, handles, middle = prepared["key"], prepared["handles"], prepared["middle"]
    ids = lambda *names: {f"{key}-{n}" for n in names}  # noqa: E731
    orders = ids("order-1", "order-2", "order-3", "order-4")
    ships = ids("ship-1", "ship-2", "ship-3")
    order_1_run = handles["order-1"].result_run_id
    return [
        ("", orders | ships),
        ("WorkflowType = 'OrderWorkflow'", orders),
        ("WorkflowType != 'OrderWorkflow'", ships),
        ("ExecutionStatus = 'Running'", ids("order-3", "ship-3")),
        ("ExecutionStatus = 'Completed'", ids("order-1", "ship-1")),
        ("ExecutionStatus IN ('Failed', 'Terminated')", ids("order-2", "ship-2")),
        ("ExecutionStatus NOT IN ('Running', 'Completed')", ids("order-2", "ship-2", "order-4")),
        ("WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running'", ids("order-3")),
        (f"WorkflowId = '{key}-order-1' OR WorkflowId = '{key}-ship-2'", ids("order-1", "ship-2")),
        (f"WorkflowId STARTS_WITH '{key}-ship'", ships),
        ("CustomKeywordField = 'gold'", ids("order-1", "order-3", "order-4")),
        ("CustomKeywordField != 'gold'", ids("order-2", "ship-1", "ship-3")),
        ("CustomKeywordField IN ('silver', 'bronze')", ids("order-2", "ship-1", "ship-3")),
        ("CustomIntField > 15", ids("order-2", "order-3", "order-4")),
        ("CustomIntField >= 15 AND CustomIntField <= 30", ids("order-2", "order-3", "ship-3")),
        ("CustomIntField BETWEEN 5 AND 10", ids("order-1", "ship-1")),
        ("CustomIntField < 10", ids("ship-1")),  # 6, upserted by the workflow
        ("CustomDoubleField > 2.0", ids("order-2")),
        ("CustomBoolField = true", ids("order-1", "order-3")),
        ("CustomBoolField = false", ids("order-2")),
        ("CustomDatetimeField > '2026-01-15T00:00:00Z'", ids("order-2")),
        ("CustomDatetimeField BETWEEN '2025-12-31T00:00:00Z' AND '2026-01-02T00:00:00Z'", ids("order-1")),
        ("CustomTextField = 'express'", ids("order-1", "ship-3")),
        ("CustomKeywordListField = 'b'", ids("order-1", "order-2")),
        ("CustomKeywordListField IN ('a', 'c')", ids("order-1", "order-3")),
        ("CustomKeywordField IS NULL", ids("ship-2")),
        ("CustomTextField IS NOT NULL", ids("order-1", "order-2", "ship-3")),
        ("(WorkflowType = 'ShipWorkflow' OR CustomIntField >= 40) AND ExecutionStatus != 'Running'",
         ids("ship-1", "ship-2", "order-4")),
        (f"StartTime > '{iso(middle)}'", ships),
        (f"ExecutionTime < '{iso(middle)}'", orders),
        ("CloseTime IS NULL", ids("order-3", "ship-3")),
        ("ExecutionDuration >= 0", ids("order-1", "order-2", "order-4", "ship-1", "ship-2")),
        (f"TaskQueue = '{task_queue}'", orders | ships),
        ("`CustomKeywordField` = 'gold' and `WorkflowType` = 'OrderWorkflow'", ids("order-1", "order-3", "order-4")),
        (f"RunId = '{order_1_run}'", ids("order-1")),
        # History counters are recorded at close, so open runs have none.
        ("HistoryLength > 0 AND StateTransitionCount > 0", (orders | ships) - ids("order-3", "ship-3")),
    ]


async def wrong_answers(client: Client, cases) -> list:
    """The queries whose list or count result differs from the expected set."""
    wrong = []
    for query, expected in cases:
        got = await listed(client, query)
        if set(got) != expected or len(got) != len(expected):
            wrong.append((query, sorted(got), sorted(expected)))
        count = (await client.count_workflows(query)).count
        if count != len(expected):
            wrong.append((f"count {query}", count, len(expected)))
    return wrong


async def test_list_and_count_queries(temper, task_queue):
    client = await Client.connect(temper.target)
    await register_remaining_attributes(client)
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow, ShipWorkflow]):
        prepared = await prepare(client, task_queue)
    key, handles = prepared["key"], prepared["handles"]
    ids = lambda *names: {f"{key}-{n}" for n in names}  # noqa: E731
    order_1_run = handles["order-1"].result_run_id
    wrong = await wrong_answers(client, query_cases(prepared, task_queue))
    assert not wrong, "\n".join(map(str, wrong))

    # Default order: open runs first, then by close time, newest first; ORDER BY overrides it.
    everything = await listed(client, "")
    assert set(everything[:2]) == ids("order-3", "ship-3")
    assert await listed(client, "WorkflowType = 'OrderWorkflow' ORDER BY StartTime ASC") == [
        f"{key}-order-{i}" for i in range(1, 5)
    ]
    # Paging: small pages give every run exactly once.
    paged = await listed(client, "", page_size=2)
    assert sorted(paged) == sorted(everything)

    # Counting, grouped by status.
    grouped = await client.count_workflows("GROUP BY ExecutionStatus")
    assert grouped.count == 7
    assert {tuple(g.group_values): g.count for g in grouped.groups} == {
        ("Running",): 2, ("Completed",): 2, ("Failed",): 1, ("Canceled",): 1, ("Terminated",): 1,
    }

    # Listed runs carry their status, memo and typed search attributes.
    [order_1] = [e async for e in client.list_workflows(f"RunId = '{order_1_run}'")]
    assert order_1.status == WorkflowExecutionStatus.COMPLETED
    assert order_1.workflow_type == "OrderWorkflow"
    assert order_1.typed_search_attributes.get(KEYWORD) == "gold"
    assert order_1.typed_search_attributes.get(DATETIME) == jan(1)
    assert order_1.typed_search_attributes.get(KEYWORD_LIST) == ["a", "b"]
    assert await order_1.memo() == {"name": "order-1"}
    await handles["order-3"].signal(OrderWorkflow.proceed)


@pytest.mark.parametrize("query, problem", [
    ("bad query ((", "syntax error"),
    ("Foo = 'x'", "Foo"),
    ("WorkflowId = ", "syntax error"),
    ("ExecutionStatus = 'Bogus'", "Bogus"),
    ("StartTime > 'notadate'", "notadate"),
    ("CustomIntField = 'abc'", "CustomIntField"),
    ("WorkflowId LIKE 'a%'", "LIKE"),
    ("GROUP BY WorkflowType", "GROUP BY"),
])
async def test_invalid_queries_are_invalid_argument(client, query, problem):
    for call in (lambda: listed(client, query), lambda: client.count_workflows(query)):
        with pytest.raises(RPCError) as error:
            await call()
        assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert problem in error.value.message
        assert "invalid query" in error.value.message


async def test_search_attribute_registry(client):
    def listing():
        return client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))

    before = await listing()
    assert before.system_attributes["WorkflowType"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert before.system_attributes["StartTime"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
    assert "Amount" not in before.custom_attributes
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace="default", search_attributes={"Amount": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE},
    ))
    assert (await listing()).custom_attributes["Amount"] == IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE
    assert await client.count_workflows("Amount > 1.5") is not None
    bad = [
        ({"WorkflowId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}, "reserved by system"),
        ({"Other": IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED}, "Unspecified"),
        ({}, "SearchAttributes are not set"),
    ]
    for attributes, message in bad:
        with pytest.raises(RPCError) as error:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace="default", search_attributes=attributes))
        assert error.value.status == RPCStatusCode.INVALID_ARGUMENT and message in error.value.message
    with pytest.raises(RPCError) as error:
        await client.operator_service.remove_search_attributes(
            RemoveSearchAttributesRequest(namespace="default", search_attributes=["WorkflowId"]))
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    await client.operator_service.remove_search_attributes(
        RemoveSearchAttributesRequest(namespace="default", search_attributes=["Amount"]))
    assert "Amount" not in (await listing()).custom_attributes
    with pytest.raises(RPCError) as error:
        await client.count_workflows("Amount > 1.5")
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as error:
        await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="nope"))
    assert error.value.status == RPCStatusCode.NOT_FOUND


async def test_unregistered_search_attribute_is_refused_at_start(client, task_queue):
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            OrderWorkflow.run, "done", id=f"unregistered-{uuid.uuid4()}", task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(
                SearchAttributeKey.for_keyword("NotRegistered"), "x")]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "NotRegistered" in error.value.message


async def test_upserting_an_unregistered_attribute_fails_the_workflow_task(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow]):
        handle = await client.start_workflow(OrderWorkflow.run, "bad-upsert", id=f"bad-upsert-{uuid.uuid4()}",
                                             task_queue=task_queue)

        async def failed_task():
            for event in (await handle.fetch_history()).events:
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes
            return None

        failed = await wait_for(failed_task)
        assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES
        assert "NotRegistered" in failed.failure.message
        await handle.terminate("done")


async def test_the_same_queries_give_the_same_runs_on_temporal(temporal_server, task_queue):
    """Differential: the prepared runs and every query of `query_cases` against Temporal's dev
    server (whose visibility is eventually consistent, hence the retries)."""
    client = await Client.connect(temporal_server)
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={"CustomKeywordField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                           "CustomIntField": IndexedValueType.INDEXED_VALUE_TYPE_INT},
    ))
    await register_remaining_attributes(client)
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow, ShipWorkflow]):
        prepared = await prepare(client, task_queue)
    cases = query_cases(prepared, task_queue)
    for _ in range(40):
        wrong = await wrong_answers(client, cases)
        if not wrong:
            break
        await asyncio.sleep(0.5)
    assert not wrong, "\n".join(map(str, wrong))
    await prepared["handles"]["order-3"].signal(OrderWorkflow.proceed)


async def test_legacy_open_and_closed_listings(client, task_queue):
    from google.protobuf.timestamp_pb2 import Timestamp
    from temporalio.api.enums.v1 import WorkflowExecutionStatus as Status
    from temporalio.api.filter.v1 import StartTimeFilter, StatusFilter, WorkflowExecutionFilter, WorkflowTypeFilter
    from temporalio.api.workflowservice.v1 import (
        ListClosedWorkflowExecutionsRequest,
        ListOpenWorkflowExecutionsRequest,
    )

    key = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow, ShipWorkflow]):
        waiting = await client.start_workflow(OrderWorkflow.run, "wait", id=f"{key}-wait", task_queue=task_queue)
        done = await client.start_workflow(ShipWorkflow.run, "done", id=f"{key}-done", task_queue=task_queue)
        await done.result()
        failed = await client.start_workflow(OrderWorkflow.run, "fail", id=f"{key}-fail", task_queue=task_queue)
        with pytest.raises(Exception):
            await failed.result()

        async def open_ids(**filters) -> list[str]:
            response = await client.workflow_service.list_open_workflow_executions(
                ListOpenWorkflowExecutionsRequest(namespace="default", maximum_page_size=10, **filters))
            return [e.execution.workflow_id for e in response.executions]

        async def closed_ids(**filters) -> list[str]:
            response = await client.workflow_service.list_closed_workflow_executions(
                ListClosedWorkflowExecutionsRequest(namespace="default", maximum_page_size=10, **filters))
            return [e.execution.workflow_id for e in response.executions]

        assert await open_ids() == [waiting.id]
        assert await open_ids(type_filter=WorkflowTypeFilter(name="ShipWorkflow")) == []
        assert await open_ids(execution_filter=WorkflowExecutionFilter(workflow_id=waiting.id)) == [waiting.id]
        # Closed runs, most recently closed first.
        assert await closed_ids() == [failed.id, done.id]
        assert await closed_ids(type_filter=WorkflowTypeFilter(name="ShipWorkflow")) == [done.id]
        assert await closed_ids(status_filter=StatusFilter(status=Status.WORKFLOW_EXECUTION_STATUS_FAILED)) == [failed.id]
        future = Timestamp(seconds=4_000_000_000)
        assert await closed_ids(start_time_filter=StartTimeFilter(earliest_time=future)) == []
        await waiting.signal(OrderWorkflow.proceed)
        await waiting.result()
    assert await open_ids() == []


async def test_scan_and_get_search_attributes(temper, task_queue):
    from temporalio.api.workflowservice.v1 import GetSearchAttributesRequest, ScanWorkflowExecutionsRequest

    client = await Client.connect(temper.target)
    keys = (await client.workflow_service.get_search_attributes(GetSearchAttributesRequest())).keys
    assert keys["CustomKeywordField"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert keys["WorkflowType"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow]):
        for i in range(3):
            await client.execute_workflow(OrderWorkflow.run, "done", id=f"scan-{i}-{uuid.uuid4()}", task_queue=task_queue)
    seen, token = [], b""
    while True:
        page = await client.workflow_service.scan_workflow_executions(ScanWorkflowExecutionsRequest(
            namespace="default", page_size=2, next_page_token=token, query=f"TaskQueue = '{task_queue}'"))
        seen += [e.execution.workflow_id for e in page.executions]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 3 and len(set(seen)) == 3
    with pytest.raises(RPCError) as error:
        await client.workflow_service.scan_workflow_executions(ScanWorkflowExecutionsRequest(
            namespace="default", next_page_token=b"not a token"))
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT

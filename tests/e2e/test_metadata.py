"""Run metadata a workflow changes while it runs: memo and search-attribute upserts, checked
through `describe()` on Temper and, when it is installed, on Temporal's dev server."""

import uuid
import warnings

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from metadata_workflows import (
    INT,
    KEYWORD,
    RunIdChild,
    RunIdParent,
    SeesItsSearchAttributesWorkflow,
    SummarizedParent,
    SummarizedWorkflow,
    UnsetWorkflow,
)
from test_differential import temporal_server  # noqa: F401 (fixture)

async def registered(target: str) -> Client:
    """A client of a server with the custom attributes of these tests registered."""
    client = await Client.connect(target)
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={"CustomKeywordField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                           "CustomIntField": IndexedValueType.INDEXED_VALUE_TYPE_INT,
                           "CustomDatetimeField": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME},
    ))
    return client


async def unset_metadata(target: str, task_queue: str):
    client = await registered(target)
    async with Worker(client, task_queue=task_queue, workflows=[UnsetWorkflow]):
        handle = await client.start_workflow(
            UnsetWorkflow.run, id=f"unset-{uuid.uuid4()}", task_queue=task_queue,
            memo={"gone": "soon", "kept": "original"},
            search_attributes=TypedSearchAttributes([SearchAttributePair(KEYWORD, "soon gone")]),
        )
        await handle.result()
    description = await handle.describe()
    return await description.memo(), description.typed_search_attributes


def check_unset(memo, attributes) -> None:
    assert memo == {"kept": "still here", "added": [1, 2]}
    assert attributes.get(KEYWORD) is None
    assert attributes.get(INT) == 7


async def test_upserting_none_removes_memo_fields_and_search_attributes(temper, task_queue):
    check_unset(*await unset_metadata(temper.target, task_queue))


async def test_temporal_removes_them_too(temporal_server, task_queue):  # noqa: F811
    check_unset(*await unset_metadata(temporal_server, task_queue))


# Sent in the SDK's old untyped form: payloads without `type` metadata.
UNTYPED = {"CustomKeywordField": ["untyped"], "CustomDatetimeField": ["2024-01-02T03:04:05.123456+02:00"]}


async def untyped_attributes(target: str, task_queue: str):
    client = await registered(target)
    async with Worker(client, task_queue=task_queue, workflows=[SeesItsSearchAttributesWorkflow]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handle = await client.start_workflow(
                SeesItsSearchAttributesWorkflow.run, id=f"untyped-{uuid.uuid4()}", task_queue=task_queue,
                search_attributes=UNTYPED)
        seen = await handle.result()
    described = (await handle.describe()).raw_description.workflow_execution_info.search_attributes
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    return seen, described.indexed_fields, started.search_attributes.indexed_fields


def check_untyped(seen, described, started) -> None:
    assert seen == ["CustomDatetimeField=datetime", "CustomKeywordField=str"]
    for fields in (described, started):
        assert fields["CustomKeywordField"].metadata["type"] == b"Keyword"
        assert fields["CustomDatetimeField"].metadata["type"] == b"Datetime"
        assert fields["CustomDatetimeField"].data == b'["2024-01-02T03:04:05.123456+02:00"]'


async def test_untyped_search_attributes_reach_the_worker_typed(temper, task_queue):
    check_untyped(*await untyped_attributes(temper.target, task_queue))


async def test_temporal_types_them_the_same(temporal_server, task_queue):  # noqa: F811
    check_untyped(*await untyped_attributes(temporal_server, task_queue))


async def run_ids(target: str, task_queue: str) -> list[uuid.UUID]:
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=[RunIdParent, RunIdChild]):
        handle = await client.start_workflow(RunIdParent.run, id=f"ids-{uuid.uuid4()}", task_queue=task_queue)
        seen = await handle.result()
    assert seen[0] == handle.result_run_id
    return [uuid.UUID(run_id) for run_id in seen]


async def test_run_ids_are_time_ordered_uuid_v7(temper, task_queue):
    parent, child = await run_ids(temper.target, task_queue)
    assert (parent.version, child.version) == (7, 7)
    assert parent.bytes[:6] <= child.bytes[:6]  # the 48-bit millisecond timestamp


async def test_temporal_issues_v7_run_ids_too(temporal_server, task_queue):  # noqa: F811
    assert [u.version for u in await run_ids(temporal_server, task_queue)] == [7, 7]


async def user_metadata(target: str, task_queue: str) -> None:
    """Summaries and details: the start's on its started event and in describe, a timer's on
    its event, the workflow's current details through the metadata query."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.sdk.v1 import WorkflowMetadata
    from temporalio.converter import DataConverter

    from conftest import wait_for

    client = await Client.connect(target)
    decode = DataConverter.default.payload_converter.from_payload
    async with Worker(client, task_queue=task_queue, workflows=[SummarizedWorkflow]):
        handle = await client.start_workflow(
            SummarizedWorkflow.run, id=f"summarized-{uuid.uuid4()}", task_queue=task_queue,
            static_summary="the summary", static_details="the **details**")

        async def timer_fired():
            events = (await handle.fetch_history()).events
            return events if any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED for e in events) else None

        events = await wait_for(timer_fired)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details == "waiting for the finish signal"
        description = await handle.describe()
        assert await description.static_summary() == "the summary"
        assert await description.static_details() == "the **details**"
        assert decode(events[0].user_metadata.summary, str) == "the summary"
        assert decode(events[0].user_metadata.details, str) == "the **details**"
        timer = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
        assert decode(timer.user_metadata.summary, str) == "a short nap"
        await handle.signal(SummarizedWorkflow.finish)
        assert await handle.result() == "done"


async def child_metadata(target: str, task_queue: str) -> None:
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=[SummarizedParent, RunIdChild]):
        child_id = await client.execute_workflow(SummarizedParent.run, id=f"parent-{uuid.uuid4()}",
                                                 task_queue=task_queue)
    description = await client.get_workflow_handle(child_id).describe()
    assert await description.static_summary() == "the child's summary"


async def test_child_metadata(temper, task_queue):
    await child_metadata(temper.target, task_queue)


async def test_temporal_passes_child_metadata_too(temporal_server, task_queue):  # noqa: F811
    await child_metadata(temporal_server, task_queue)


async def test_user_metadata(temper, task_queue):
    await user_metadata(temper.target, task_queue)


async def test_temporal_keeps_user_metadata_the_same_way(temporal_server, task_queue):  # noqa: F811
    await user_metadata(temporal_server, task_queue)

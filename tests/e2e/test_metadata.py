"""Run metadata a workflow changes while it runs: memo and search-attribute upserts, checked
through `describe()` on Temper and, when it is installed, on Temporal's dev server."""

import uuid

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from metadata_workflows import INT, KEYWORD, UnsetWorkflow
from test_differential import temporal_server  # noqa: F401 (fixture)

async def unset_metadata(target: str, task_queue: str):
    client = await Client.connect(target)
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={"CustomKeywordField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                           "CustomIntField": IndexedValueType.INDEXED_VALUE_TYPE_INT},
    ))
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

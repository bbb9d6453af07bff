"""Hostile input gets Temporal's status codes and messages (item by item, each also checked
against Temporal's dev server when it is installed)."""

import uuid

import pytest
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest, ListWorkflowExecutionsRequest
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


@pytest.mark.parametrize("scenario", [long_or_queries])
async def test_on_temper(temper, scenario):
    await scenario(temper.target)


@pytest.mark.parametrize("scenario", [long_or_queries])
async def test_on_temporal(temporal_server, scenario):  # noqa: F811
    await scenario(temporal_server)

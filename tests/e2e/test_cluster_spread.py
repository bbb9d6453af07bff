"""A cluster whose shards are spread over its nodes (the default mode on PostgreSQL):
each node serves its share of the shards, calls for other shards are forwarded to their owner,
task queues live with the owner of their shard too (polls reach it from any node; each matched
task is started on its run's owner), a run's signals and cancels reach workflows on other nodes' shards, namespaces
registered on one node serve on the others, children are created on other nodes' shards; a
joining node gets its share, and a killed node's shards are taken by the others. Also: issue
16's 300-workflow kill-and-join scenario on spread nodes, Nexus operations, authorization with
tokens, schedules and batch operations through a node's kill, worker versioning (a version
change, overrides, a version's drainage counted across nodes), hostile input, visibility
read from the database by any node. Python SDK clients
and workers on every node."""

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.batch.v1 import BatchOperationTermination
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import (DescribeNamespaceRequest, DescribeTaskQueueRequest,
                                               DescribeWorkerRequest, GetClusterInfoRequest,
                                               PollActivityTaskQueueRequest, RegisterNamespaceRequest,
                                               ShutdownWorkerRequest, StartBatchOperationRequest)
from temporalio.client import (Client, Schedule, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, SchedulePolicy,
                               WorkflowExecutionStatus, WorkflowFailureError)
from temporalio.service import RPCError
from temporalio.worker import Worker

from cluster_workflows import (RUNS, ClusterChild, ClusterWorkflow, QueueWorkflow, SpreadParent, SpreadReceiver,
                               SpreadSender, SpreadWorkflow, note)
from conftest import TEMPER_BIN, wait_for
from schedule_workflows import ScheduledWorkflow
from test_authorization import keys, token  # noqa: F401 (keys: a fixture)
from test_batches import finished
from test_cluster import (LEASE_SECONDS, cli, contiguous, needs_postgres, node, schema,  # noqa: F401
                          signal_all, start_across_the_kill, start_all)
from test_hostile_input import SCENARIOS as HOSTILE_SCENARIOS
from test_hostile_input import wire_level_malformation
from test_nexus import CASES as NEXUS_CASES
from test_nexus import nexus_scenario
from test_schedules import _at_least, every, scheduled_runs, start_action, started_ids
from test_standalone_activities import ACTIVITIES as STANDALONE_ACTIVITIES
from test_standalone_activities import FAST_RETRY, flaky
from test_worker_deployments import EXPECTED as VERSION_CHANGE
from test_worker_deployments import OVERRIDES, override_scenario
from test_worker_deployments import scenario as version_change_scenario
from test_worker_deployments import set_current, statuses, until, version_registered, versioned_worker, versioning_of
from versioning_workflows import PinnedWorkflow


def spread_node(tmp_path, schema: str, name: str):
    return node(tmp_path, schema, name, spread=True)


def held_shards(status: str, server) -> int:
    line = next((l for l in status.splitlines() if l.startswith(f"{server.target}/")), None)
    return int(line.split()[4]) if line else 0


async def until_spread(asked, nodes, within: float, api_key: str | None = None) -> str:
    """Waits until `nodes` hold every shard between them, none more than its share (the shard
    count over the nodes, rounded up), as `asked` reports (asked with `api_key`); the status."""
    share = -(-64 // len(nodes))
    deadline = time.monotonic() + within
    key = ["--api-key", api_key] if api_key else []
    while True:
        status = cli("cluster", "status", "--address", asked.target, *key)
        held = [held_shards(status, n) for n in nodes]
        if sum(held) == 64 and max(held) <= share:
            return status
        assert time.monotonic() < deadline, f"shards held {held}, not spread:\n{status}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def two_spread_nodes(tmp_path, schema: str, extra_args: tuple[str, ...] = (), api_key: str | None = None):
    """Nodes `a` (the coordinator: it starts first and holds every shard) and `b`, each with
    half the shards once this yields (`temper cluster status` asked with `api_key`); both are
    stopped after, and their logs and databases checked when the body succeeded."""
    a, b = (spread_node(tmp_path, schema, name) for name in ("a", "b"))
    for server in (a, b):
        server.extra_args += list(extra_args)
    a.start()
    try:
        await until_spread(a, [a], within=5, api_key=api_key)
        b.start()
        await until_spread(a, [a, b], within=LEASE_SECONDS * 4, api_key=api_key)
        yield a, b
    finally:
        for server in (a, b):
            server.stop()
    a.check_log_and_verify()
    b.check_log_and_verify()


def holder(asked, *, workflow_id: str | None = None, task_queue: str | None = None) -> str:
    """The address of the node holding the shard of a workflow id or a task queue of the
    default namespace, as `temper cluster locate` asked of `asked` says."""
    key = ["--workflow-id", workflow_id] if workflow_id else ["--task-queue", task_queue]
    return cli("cluster", "locate", "--address", asked.target, *key).split()[-1]


def shard_of_queue(asked, task_queue: str) -> int:
    """The shard of a task queue of the default namespace (`temper cluster locate`)."""
    return int(cli("cluster", "locate", "--address", asked.target, "--task-queue", task_queue).split()[1])


def names_held_by(asked, node, prefix: str, count: int, kind: str) -> list[str]:
    """`count` fresh names (workflow ids or task queues, `kind`) whose shard `node` holds."""
    names: list[str] = []
    while len(names) < count:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        if holder(asked, **{kind: name}) == node.target:
            names.append(name)
    return names


async def run_all(clients: list[Client], keys: list[str], task_queue: str) -> list[list[str]]:
    """Starts, signals and queries a run per key through the clients in turn; their results."""
    gate = asyncio.Semaphore(20)

    async def one(i: int, key: str) -> list[str]:
        client = clients[i % len(clients)]
        async with gate:
            handle = await client.start_workflow(SpreadWorkflow.run, key, id=key, task_queue=task_queue)
            await handle.signal(SpreadWorkflow.add, f"signal {key}")
        try:
            return await asyncio.wait_for(handle.result(), 30)
        except asyncio.TimeoutError:
            for run in (key, f"{key}-child"):
                try:
                    history = await client.get_workflow_handle(run).fetch_history()
                    print("stuck:", run, [(e.event_id, e.event_type) for e in history.events])
                except RPCError as error:
                    print("stuck:", run, error)
            raise

    return await asyncio.gather(*(one(i, key) for i, key in enumerate(keys)))


async def runs_in_a_new_namespace(registrar, other, task_queue: str) -> None:
    """A namespace registered through one node serves runs through another at once: the
    registering node answers once the others have read the namespaces again."""
    namespace = f"spread-{uuid.uuid4().hex[:8]}"
    registering = await Client.connect(registrar.target)
    await registering.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
    client = await Client.connect(other.target, namespace=namespace)
    async with Worker(client, task_queue=task_queue, workflows=[SpreadWorkflow, ClusterChild], activities=[note]):
        keys = [f"spread-{uuid.uuid4().hex[:8]}-ns-{i}" for i in range(10)]
        results = await run_all([client], keys, task_queue)
    assert results == [[f"noted {key}", f"noted {key}-child", f"signal {key}"] for key in keys]


SPREAD_WORKFLOWS = [SpreadWorkflow, ClusterChild, SpreadReceiver, SpreadSender, SpreadParent]


async def families_on_one_node(node, task_queue: str) -> list[str]:
    """Ten parents, each waiting for a child that waits for a signal, started while one node
    holds every shard (a child is created in its parent's write); their ids."""
    client = await Client.connect(node.target)
    parents = [f"spread-{uuid.uuid4().hex[:8]}-parent-{i}" for i in range(10)]
    async with Worker(client, task_queue=task_queue, workflows=SPREAD_WORKFLOWS, activities=[note]):
        for key in parents:
            await client.start_workflow(SpreadParent.run, key, id=key, task_queue=task_queue)
        deadline = time.monotonic() + 20
        for key in parents:
            while True:
                try:
                    await client.get_workflow_handle(f"{key}-child").describe()
                    break
                except RPCError:
                    assert time.monotonic() < deadline, f"{key}'s child did not start"
                    await asyncio.sleep(0.1)
    return parents


async def families_split(clients: list[Client], parents: list[str]) -> None:
    """The shards moved since the families started: about half the children now live on
    another node than their parent. A child's close reaches its parent's owner; a parent's
    close has its child's owner apply the parent-close policy (terminate)."""
    ended, waiting = parents[:5], parents[5:]
    for key in ended:
        await clients[0].get_workflow_handle(key).terminate("the test ends it")
    for key in waiting:
        await clients[1].get_workflow_handle(f"{key}-child").signal(SpreadReceiver.poke, f"to {key}")
    results = await asyncio.wait_for(
        asyncio.gather(*(clients[0].get_workflow_handle(key).result() for key in waiting)), 30)
    assert results == [[f"to {key}"] for key in waiting]
    for key in ended:
        child = clients[1].get_workflow_handle(f"{key}-child")
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(child.result(), 30)
        assert (await child.describe()).status == WorkflowExecutionStatus.TERMINATED


async def external_requests(clients: list[Client], task_queue: str) -> None:
    """Workflows signal and cancel other workflows, ten pairs: most pairs live on different
    nodes' shards, whose owner delivers the request."""
    receivers = [f"spread-{uuid.uuid4().hex[:8]}-receiver-{i}" for i in range(10)]
    for i, key in enumerate(receivers):
        await clients[i % 2].start_workflow(SpreadReceiver.run, id=key, task_queue=task_queue)
    senders = [await clients[(i + 1) % 2].start_workflow(
        SpreadSender.run, args=[key, i == 0], id=f"{key}-sender", task_queue=task_queue)
        for i, key in enumerate(receivers)]
    assert await asyncio.wait_for(asyncio.gather(*(s.result() for s in senders)), 30) == ["sent"] * 10
    with pytest.raises(WorkflowFailureError):
        await clients[0].get_workflow_handle(receivers[0]).result()
    for key in receivers[1:]:
        result = await asyncio.wait_for(clients[1].get_workflow_handle(key).result(), 30)
        assert result == [f"from {key}-sender"]


@needs_postgres
async def test_spread_shards_serve_runs_on_every_node_through_a_join_and_a_kill(tmp_path, schema, task_queue):
    a, b, c = (spread_node(tmp_path, schema, name) for name in ("a", "b", "c"))
    a.start()
    await until_spread(a, [a], within=5)
    families = await families_on_one_node(a, task_queue)
    b.start()
    try:
        await until_spread(a, [a, b], within=LEASE_SECONDS * 4)
        clients = [await Client.connect(n.target) for n in (a, b)]
        workers = [Worker(client, task_queue=task_queue, activities=[note],
                          workflows=SPREAD_WORKFLOWS) for client in clients]
        async with workers[0], workers[1]:
            keys = [f"spread-{uuid.uuid4().hex[:8]}-{i}" for i in range(40)]
            results = await run_all(clients, keys, task_queue)
            for key, result in zip(keys, results):
                assert result == [f"noted {key}", f"noted {key}-child", f"signal {key}"], result
            # A query reaches the run's owner, its task goes through the coordinator's queue.
            for key in keys[:6]:
                assert await clients[1].get_workflow_handle(key).query(SpreadWorkflow.seen) == [f"signal {key}"]
            await runs_in_a_new_namespace(a, b, task_queue)
            await external_requests(clients, task_queue)
            await families_split(clients, families)
            # A third node joins: the others hand it its share, a few shards per pass.
            c.start()
            await until_spread(a, [a, b, c], within=LEASE_SECONDS * 6)
            clients.append(await Client.connect(c.target))
            more = [f"spread-{uuid.uuid4().hex[:8]}-joined-{i}" for i in range(30)]
            results = await run_all(clients, more, task_queue)
            for key, result in zip(more, results):
                assert result == [f"noted {key}", f"noted {key}-child", f"signal {key}"], result
            # kill -9 of a node that does not coordinate, with runs waiting for their signal.
            pending = [f"spread-{uuid.uuid4().hex[:8]}-killed-{i}" for i in range(30)]
            handles = [await clients[i % 2].start_workflow(SpreadWorkflow.run, key, id=key, task_queue=task_queue)
                       for i, key in enumerate(pending)]
            await asyncio.sleep(1.5)
            c.kill()
            await until_spread(a, [a, b], within=LEASE_SECONDS * 4)
            for handle in handles:
                await handle.signal(SpreadWorkflow.add, "after the kill")
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
            for key, result in zip(pending, results):
                assert result == [f"noted {key}", f"noted {key}-child", "after the kill"], result
        for key in keys + more + pending:
            for run in (key, f"{key}-child"):
                history = await clients[0].get_workflow_handle(run).fetch_history()
                assert contiguous(history.events), run
        reruns = {key: n for key, n in RUNS.items() if key.startswith("spread-") and n > 1}
        assert len(reruns) <= 10, reruns
    finally:
        for server in (a, b, c):
            server.stop()
    a.check_log_and_verify()
    b.check_log_and_verify()


@needs_postgres
async def test_three_spread_nodes_run_300_workflows_through_a_kill_and_a_join(tmp_path, schema, task_queue):
    """Issue 16's acceptance on a spread cluster: three nodes, 300 workflows (activity, timer,
    signal, child) through clients on every node; the coordinator (shard 0) is killed with
    kill -9 mid-load while starts go on; a fourth node joins; every
    workflow completes, every history is contiguous, re-run activities are counted and
    bounded, and the survivors hold every shard within the lease period."""
    a, b, c, d = (spread_node(tmp_path, schema, name) for name in ("a", "b", "c", "d"))
    a.start()
    await until_spread(a, [a], within=5)
    b.start()
    c.start()
    try:
        await until_spread(a, [a, b, c], within=LEASE_SECONDS * 6)
        clients = [await Client.connect(server.target) for server in (a, b, c)]
        workers = [Worker(await Client.connect(server.target), task_queue=task_queue,
                          workflows=[ClusterWorkflow, ClusterChild], activities=[note]) for server in (b, c)]
        keys = [f"wf-{uuid.uuid4().hex[:8]}-{i}" for i in range(300)]
        async with workers[0], workers[1]:
            await start_all(clients, keys, task_queue)
            await signal_all(clients[1], keys[:100], "before")
            await asyncio.sleep(0.5)
            acknowledged: list[str] = []
            starting = asyncio.create_task(start_across_the_kill(clients[1:], task_queue, acknowledged))
            await asyncio.sleep(0.2)
            a.kill()
            killed = time.monotonic()
            await until_spread(b, [b, c], within=LEASE_SECONDS * 3 + 3)
            took = time.monotonic() - killed
            print(f"the survivors held every shard {took:.2f}s after the kill")
            assert took < LEASE_SECONDS * 1.25 + 2.5, took
            await starting
            print(f"starts acknowledged across the kill: {len(acknowledged)} of 40")
            keys += acknowledged
            d.start()
            late = await Client.connect(d.target)
            await signal_all(late, keys[100:], "after")
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*(late.get_workflow_handle(key).result() for key in keys)), 120)
            except asyncio.TimeoutError:
                for key in keys:
                    described = await late.get_workflow_handle(key).describe()
                    if described.status == WorkflowExecutionStatus.RUNNING:
                        history = await late.get_workflow_handle(key).fetch_history()
                        print("stuck:", key, [(e.event_id, e.event_type) for e in history.events])
                raise
            await until_spread(d, [b, c, d], within=LEASE_SECONDS * 6)
        for key, result in zip(keys, results):
            assert result[:2] == [f"noted {key}", f"noted {key}-child"], result
            assert result[2:] == (["before"] if key in keys[:100] else ["after"]), (key, result)
        for key in keys:
            for run in (key, f"{key}-child"):
                history = await late.get_workflow_handle(run).fetch_history()
                assert contiguous(history.events), run
        ours = set(keys)
        reruns = {key: n for key, n in RUNS.items() if key.removesuffix("-child") in ours and n > 1}
        assert len(reruns) <= 30, reruns
        print(f"activities run again after the kill: {len(reruns)}")
    finally:
        for server in (a, b, c, d):
            server.stop()
    for server in (b, c, d):
        server.check_log_and_verify()


@needs_postgres
async def test_nexus_operations_cross_the_nodes_of_a_spread_cluster(tmp_path, schema):
    """Nexus on two spread nodes: the endpoint is registered through one node (the
    coordinator keeps it, every node reads it again each second); callers and handler
    workflows live on either node's shards, their operations' tasks go through the
    coordinator's queue to the caller's owner, and a handler workflow's close reaches its
    caller's owner. Every outcome is what one node gives."""
    async with two_spread_nodes(tmp_path, schema) as nodes:
        for server in nodes:
            outcomes = await nexus_scenario(server.target)
            assert [result for result, _ in outcomes] == [expected for _, _, expected in NEXUS_CASES]


@needs_postgres
async def test_a_spread_cluster_with_authorization(tmp_path, schema, task_queue, keys):  # noqa: F811
    """With `--auth-jwks-path` on every node: clients and workers with tokens use either node,
    their calls forwarded with their token and authorized again where they are served; the
    calls between nodes carry the cluster's secret instead (created in the database by the
    first node), and a call between nodes without it is UNAUTHENTICATED."""
    secrets = keys
    system_reader = token(secrets, ["temporal-system:read"])
    auth = ("--auth-jwks-path", str(secrets["path"]))
    async with two_spread_nodes(tmp_path, schema, extra_args=auth, api_key=system_reader) as (a, b):
        # `temper cluster status` needs a token with a server-wide role here.
        refused = subprocess.run([str(TEMPER_BIN), "cluster", "status", "--address", a.target],
                                 capture_output=True, text=True)
        assert refused.returncode == 1 and "no bearer token" in refused.stderr, refused.stderr
        workers = [Worker(await Client.connect(n.target, api_key=token(secrets, ["default:worker"]), tls=False),
                          task_queue=task_queue, workflows=SPREAD_WORKFLOWS, activities=[note]) for n in (a, b)]
        clients = [await Client.connect(n.target, api_key=token(secrets, ["default:write"]), tls=False)
                   for n in (a, b)]
        async with workers[0], workers[1]:
            keys_ = [f"spread-{uuid.uuid4().hex[:8]}-auth-{i}" for i in range(12)]
            results = await run_all(clients, keys_, task_queue)
            for key, result in zip(keys_, results):
                assert result == [f"noted {key}", f"noted {key}-child", f"signal {key}"], result
        for server in (a, b):
            channel = grpc.aio.insecure_channel(server.target)
            call = channel.unary_unary("/temper.cluster.v1.ClusterService/StartTask")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(b"", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(b"", timeout=5, metadata=[("temper-cluster-secret", "guessed")])
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            await channel.close()
    assert "loading shards taken" in b.log_path.read_text(), "the second node never served"


@needs_postgres
async def test_schedules_and_batches_on_a_spread_cluster_through_a_coordinators_kill(tmp_path, schema, task_queue):
    """The coordinator runs the schedules and batch operations; their workflows live on either
    node's shards, started, stopped and acted on through each run's owner (as Temporal's
    scheduler and batcher call its frontend). When the coordinator is killed with kill -9, the
    node that takes shard 0 takes the schedules over and they go on."""
    a, b = (spread_node(tmp_path, schema, name) for name in ("a", "b"))
    a.start()
    await until_spread(a, [a], within=5)
    b.start()
    try:
        await until_spread(a, [a, b], within=LEASE_SECONDS * 4)
        clients = [await Client.connect(n.target) for n in (a, b)]
        worker = Worker(clients[1], task_queue=task_queue, workflows=[ScheduledWorkflow, SpreadReceiver])
        async with worker:
            schedule_id = f"spread-{uuid.uuid4().hex[:8]}"
            tick = f"tick-{uuid.uuid4().hex[:8]}"
            handle = await clients[1].create_schedule(
                schedule_id, Schedule(action=start_action(task_queue, workflow_id=tick), spec=every(1)))
            ids = await wait_for(lambda: _at_least(clients[1], schedule_id, 4), timeout=30)
            results = [await clients[0].get_workflow_handle(i).result() for i in ids[:4]]
            # Each run gets the one before's result, whichever node either ran on.
            assert results == [1, 2, 3, 4], results
            receivers = [f"spread-{uuid.uuid4().hex[:8]}-batch-{i}" for i in range(10)]
            for i, key in enumerate(receivers):
                await clients[i % 2].start_workflow(SpreadReceiver.run, id=key, task_queue=task_queue)
            job_id = str(uuid.uuid4())
            await clients[1].workflow_service.start_batch_operation(StartBatchOperationRequest(
                namespace="default", job_id=job_id, reason="spread", executions=[
                    WorkflowExecution(workflow_id=key) for key in receivers],
                termination_operation=BatchOperationTermination(identity="operator")))
            described = await finished(clients[1], job_id)
            assert described.complete_operation_count == 10, described
            for key in receivers:
                status = (await clients[0].get_workflow_handle(key).describe()).status
                assert status == WorkflowExecutionStatus.TERMINATED, key
            a.kill()
            await until_spread(b, [b], within=LEASE_SECONDS * 3 + 3)
            before = len(await started_ids(clients[1], schedule_id))
            taken = (await handle.describe()).info.num_actions
            await wait_for(lambda: more_actions(handle, taken + 3), timeout=30)
            print(f"the schedule went on after the kill ({before} recent actions before)")
            await handle.delete()
    finally:
        for server in (a, b):
            server.stop()
    b.check_log_and_verify()


@needs_postgres
async def test_a_batch_goes_on_through_the_kill_of_a_node_that_owns_some_of_its_runs(tmp_path, schema):
    """A batch terminating 200 runs of both nodes' shards, run by the coordinator, while the
    other node is killed with kill -9: the actions on the dead node's runs fail until the
    coordinator has taken its shards, and are tried again meanwhile (as Temporal's batcher
    retries such errors), so every run is terminated and none counts as failed."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        clients = [await Client.connect(n.target) for n in (a, b)]
        tag = uuid.uuid4().hex[:8]
        targets = [f"spread-{tag}-doomed-{i}" for i in range(200)]
        for i, key in enumerate(targets):
            await clients[i % 2].start_workflow(SpreadReceiver.run, id=key, task_queue=f"idle-{tag}")
        job_id = str(uuid.uuid4())
        await clients[0].workflow_service.start_batch_operation(StartBatchOperationRequest(
            namespace="default", job_id=job_id, reason="spread", max_operations_per_second=100,
            executions=[WorkflowExecution(workflow_id=key) for key in targets],
            termination_operation=BatchOperationTermination(identity="operator")))
        await asyncio.sleep(0.5)
        b.kill()
        described = await finished(clients[0], job_id)
        print("".join(line for line in open(a.log_path, errors="replace") if "batch action failed" in line))
        assert (described.total_operation_count, described.complete_operation_count,
                described.failure_operation_count) == (200, 200, 0)
        for key in targets:
            status = (await clients[0].get_workflow_handle(key).describe()).status
            assert status == WorkflowExecutionStatus.TERMINATED, key


@needs_postgres
async def test_a_schedule_loses_no_action_while_shards_change_hands(tmp_path, schema, task_queue):
    """A schedule starting a workflow every second on the coordinator, the workflow ids falling
    on every node's shards, while a third node joins (shards handed over a few per pass) and
    then the second is killed with kill -9: a start on a shard changing hands fails until it
    has its new owner, and is tried again meanwhile (before, each was dropped), so every
    second from the first to the last has exactly one run."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        c = spread_node(tmp_path, schema, "c")
        client = await Client.connect(a.target)
        schedule_id = f"spread-{uuid.uuid4().hex[:8]}"
        action = ScheduleActionStartWorkflow(ScheduledWorkflow.run, 0, id=f"{schedule_id}-tick",
                                             task_queue=task_queue)
        try:
            async with Worker(client, task_queue=task_queue, workflows=[ScheduledWorkflow]):
                handle = await client.create_schedule(schedule_id, Schedule(
                    action=action, spec=every(1), policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL)))
                await wait_for(lambda: _at_least(client, schedule_id, 3), timeout=20)
                c.start()
                await until_spread(a, [a, b, c], within=LEASE_SECONDS * 6)
                b.kill()
                await until_spread(a, [a, c], within=LEASE_SECONDS * 4)
                taken = (await handle.describe()).info.num_actions
                await wait_for(lambda: more_actions(handle, taken + 3), timeout=30)
                await handle.pause()
                ids = await scheduled_runs(client, schedule_id)
        finally:
            c.stop()
        assert len(ids) == len(set(ids))
        seconds = sorted(datetime.strptime(i.removeprefix(f"{schedule_id}-tick-"), "%Y-%m-%dT%H:%M:%SZ")
                         for i in ids)
        assert seconds == [seconds[0] + timedelta(seconds=n) for n in range(len(seconds))], seconds
        assert (await handle.describe()).info.num_actions == len(ids)
    c.check_log_and_verify()


async def more_actions(handle, at_least: int):
    return (await handle.describe()).info.num_actions >= at_least


@needs_postgres
async def test_a_versions_drainage_counts_the_pinned_runs_of_every_node(tmp_path, schema):
    """Worker versioning on two spread nodes: a version that left the routing is DRAINING while
    any run pinned to it is open, wherever the run's shard is, and DRAINED once all closed;
    both nodes describe it the same (counted from visibility in the database)."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        clients = [await Client.connect(n.target) for n in (a, b)]
        tag = uuid.uuid4().hex[:6]
        deployment, queue = f"spread-dep-{tag}", f"spread-tq-{tag}"
        async with versioned_worker(clients[0], queue, deployment, "v1"):
            await until(lambda: version_registered(clients[0], deployment, "v1"))
            await set_current(clients[0], deployment, "v1")
            handles = [await clients[i % 2].start_workflow(PinnedWorkflow.run, 2, id=f"pinned-{tag}-{i}",
                                                           task_queue=queue) for i in range(8)]
            for handle in handles:
                await until(lambda: pinned_to_v1(clients[0], handle.id))
            async with versioned_worker(clients[1], queue, deployment, "v2"):
                await until(lambda: version_registered(clients[1], deployment, "v2"))
                await set_current(clients[1], deployment, "v2")
                for client in clients:
                    await until(lambda: version_standing(client, deployment, "v1=DRAINING"))
                for handle in handles:
                    await handle.terminate()
                for client in clients:
                    await until(lambda: version_standing(client, deployment, "v1=DRAINED"))


@needs_postgres
async def test_worker_versioning_scenarios_on_a_spread_cluster(tmp_path, schema):
    """`test_worker_deployments.py`'s version-change and override scenarios through the second
    of two spread nodes (its runs on both nodes' shards, the deployments on the coordinator):
    the same answers as on one node. A routing change is answered once every node routes by
    it, so an AUTO_UPGRADE run's next task goes to the new version wherever the run is."""
    async with two_spread_nodes(tmp_path, schema) as (_, b):
        assert await version_change_scenario(b.target) == VERSION_CHANGE
        assert await override_scenario(b.target) == OVERRIDES


@needs_postgres
async def test_hostile_input_through_the_node_that_does_not_coordinate(tmp_path, schema):
    """`test_hostile_input.py`'s scenarios through the second of two spread nodes, with the
    same answers as one node gives: a call is routed by the run it names even when one of
    its fields has the wrong wire type (read as the frontend reads it; before, such a call
    went to the coordinator, which refused a run of the other node's shards). The start with
    a mistyped field is sent six times, so that its random workflow id lands on the second
    node's shards at least once but for one time in 64."""
    async with two_spread_nodes(tmp_path, schema) as (_, b):
        for scenario in HOSTILE_SCENARIOS:
            await scenario(b.target)
        for _ in range(5):
            await wire_level_malformation(b.target)


@needs_postgres
async def test_visibility_reads_go_straight_to_the_database_from_any_node(tmp_path, schema, task_queue):
    """List and count are answered by the node asked, from the database, and namespace reads
    from its registry, not by the coordinator: they work through the second node while the
    coordinator is stopped (SIGSTOP) and still holds its leases (forwarded, they would wait
    past their deadline). A worker starting then can still describe its namespace."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        client = await Client.connect(b.target)
        keys = [f"spread-{uuid.uuid4().hex[:8]}-listed-{i}" for i in range(6)]
        for key in keys:
            await client.start_workflow(SpreadReceiver.run, id=key, task_queue=task_queue)
        query = "WorkflowId IN (" + ", ".join(f"'{key}'" for key in keys) + ")"
        a.process.send_signal(signal.SIGSTOP)
        try:
            counted = await client.count_workflows(query, rpc_timeout=timedelta(seconds=1))
            listed = [run.id async for run in client.list_workflows(query, rpc_timeout=timedelta(seconds=1))]
            described = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="default"), timeout=timedelta(seconds=1))
            cluster = await client.workflow_service.get_cluster_info(
                GetClusterInfoRequest(), timeout=timedelta(seconds=1))
        finally:
            a.process.send_signal(signal.SIGCONT)
        assert counted.count == 6 and sorted(listed) == sorted(keys)
        assert described.namespace_info.name == "default" and cluster.history_shard_count == 64


async def pinned_to_v1(client: Client, workflow_id: str) -> bool:
    return await versioning_of(client, workflow_id) == "PINNED@v1"


async def version_standing(client: Client, deployment: str, wanted: str) -> bool:
    return f"current=v2 v2=CURRENT {wanted}" == await statuses(client, deployment)


@needs_postgres
async def test_task_queues_live_with_the_owner_of_their_shard(tmp_path, schema):
    """A task queue lives with the owner of its shard, as runs do: polls reach it through any
    node, and each run's owner offers its tasks there. So with the coordinator stopped (SIGSTOP:
    it still holds its leases) a worker polling through the second node runs workflows whose
    runs and queue are that node's, to the end: activity, timer, signal, query (before, every
    queue lived with the coordinator and nothing was handed out while it was stopped). After it
    resumes, `DescribeTaskQueue` through the coordinator reaches the queue's owner (the worker
    is among its pollers), and a worker connected to the coordinator runs the next workflows on
    that queue."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        [queue] = names_held_by(a, b, "spread-queue", 1, "task_queue")
        keys = names_held_by(a, b, "spread-queued", 8, "workflow_id")
        client = await Client.connect(b.target)
        # No sticky queue: its (random) name's shard may be the stopped node's.
        async with Worker(client, task_queue=queue, workflows=[QueueWorkflow], activities=[note],
                          max_cached_workflows=0, identity="worker-on-b"):
            a.process.send_signal(signal.SIGSTOP)
            try:
                handles = [await client.start_workflow(QueueWorkflow.run, key, id=key, task_queue=queue)
                           for key in keys]
                for handle in handles:
                    await handle.signal(QueueWorkflow.add, "signalled")
                seen = await handles[0].query(QueueWorkflow.seen)
                results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 30)
            finally:
                a.process.send_signal(signal.SIGCONT)
            assert seen == ["signalled"]
            assert results == [[f"noted {key}", "signalled"] for key in keys]
            described = await (await Client.connect(a.target)).workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue),
                                         task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
            assert "worker-on-b" in [poller.identity for poller in described.pollers]
        on_a = await Client.connect(a.target)
        later = [f"spread-{uuid.uuid4().hex[:8]}-via-a-{i}" for i in range(6)]
        async with Worker(on_a, task_queue=queue, workflows=[QueueWorkflow], activities=[note]):
            handles = [await on_a.start_workflow(QueueWorkflow.run, key, id=key, task_queue=queue) for key in later]
            for handle in handles:
                await handle.signal(QueueWorkflow.add, "later")
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 30)
        assert results == [[f"noted {key}", "later"] for key in later]


@needs_postgres
async def test_standalone_activities_move_to_the_next_coordinator(tmp_path, schema):
    """Standalone activities live with the coordinator, their attempts in their task queue's
    owner's queue: one started through the second node is taken over, after the coordinator's
    kill -9, by the next coordinator (the second node), which offers its attempt again and
    times its retry; a worker on it runs the activity to its second attempt."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        client = await Client.connect(b.target)
        queue, activity_id = f"spread-sa-{uuid.uuid4().hex[:8]}", f"spread-sa-{uuid.uuid4().hex[:6]}"
        await client.start_activity(flaky, 1, id=activity_id, task_queue=queue,
                                    start_to_close_timeout=timedelta(seconds=10), retry_policy=FAST_RETRY)
        a.kill()
        await until_spread(b, [b], within=LEASE_SECONDS * 3 + 3)
        async with Worker(client, task_queue=queue, activities=STANDALONE_ACTIVITIES):
            result = await asyncio.wait_for(client.get_activity_handle(activity_id).result(), 30)
        assert result == "ok@2"


@needs_postgres
async def test_a_long_poll_ends_when_its_queue_moves_to_a_joining_node(tmp_path, schema):
    """A long poll waiting on a queue whose shard the node gives up (a third node joins and
    takes it) ends at once with an empty answer instead of waiting out its deadline on a queue
    no task reaches any more; the worker's next polls reach the queue's new owner, which hands
    out the tasks. (Two nodes hold shards 0-31 and 32-63; a joining third is handed the highest
    of each, 22-31 of the first.)"""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        c = spread_node(tmp_path, schema, "c")
        try:
            queue = next(name for name in (f"spread-moving-{uuid.uuid4().hex[:8]}" for _ in range(1000))
                         if 22 <= shard_of_queue(a, name) <= 31)
            assert holder(a, task_queue=queue) == a.target
            client = await Client.connect(a.target)
            poll = asyncio.create_task(client.workflow_service.poll_activity_task_queue(
                PollActivityTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue),
                                             identity="waiting"), timeout=timedelta(seconds=50)))
            await asyncio.sleep(1)
            assert not poll.done()
            polled_at = time.monotonic()
            c.start()
            await until_spread(a, [a, b, c], within=LEASE_SECONDS * 6)
            answer = await asyncio.wait_for(poll, 15)
            print(f"the poll ended {time.monotonic() - polled_at:.1f}s after the third node started")
            assert answer.task_token == b""
            assert holder(a, task_queue=queue) == c.target
            key = f"spread-{uuid.uuid4().hex[:8]}-moved"
            async with Worker(client, task_queue=queue, workflows=[QueueWorkflow], activities=[note]):
                handle = await client.start_workflow(QueueWorkflow.run, key, id=key, task_queue=queue)
                await handle.signal(QueueWorkflow.add, "moved")
                assert await asyncio.wait_for(handle.result(), 30) == [f"noted {key}", "moved"]
        finally:
            c.stop()
        c.check_log_and_verify()


@needs_postgres
async def test_a_shutting_down_workers_heartbeat_reaches_the_coordinator(tmp_path, schema):
    """`ShutdownWorker` goes to the owner of the worker's sticky queue (which it closes); the
    worker's last heartbeat it carries is passed on to the coordinator, which keeps the
    workers' heartbeats, so `DescribeWorker` through the coordinator lists the worker as
    shutting down."""
    async with two_spread_nodes(tmp_path, schema) as (a, b):
        [sticky] = names_held_by(a, b, "spread-sticky", 1, "task_queue")
        key = str(uuid.uuid4())
        client = await Client.connect(b.target)
        await client.workflow_service.shutdown_worker(ShutdownWorkerRequest(
            namespace="default", sticky_task_queue=sticky, identity="leaving", worker_heartbeat=WorkerHeartbeat(
                worker_instance_key=key, task_queue="spread-work", status=WorkerStatus.WORKER_STATUS_SHUTTING_DOWN)))
        described = await (await Client.connect(a.target)).workflow_service.describe_worker(
            DescribeWorkerRequest(namespace="default", worker_instance_key=key))
        assert described.worker_info.worker_heartbeat.status == WorkerStatus.WORKER_STATUS_SHUTTING_DOWN

"""Several nodes on one PostgreSQL schema in active/standby mode (`--cluster-active-standby`;
spread shards, the default, are `test_cluster_spread.py`'s): standbys forward every call to
the serving node, a standby takes over every run within the lease period when the serving node is killed with
`kill -9`, a node joining later serves clients too, and a node that stalled past its lease can
never write again (fencing). Python SDK clients and workers on each node."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError
from temporalio.worker import Worker

from cluster_workflows import RUNS, ClusterChild, ClusterWorkflow, note
from conftest import CREATED_SCHEMAS, POSTGRES, POSTGRES_URL, REPO, TEMPER_BIN, TemperServer, free_port

needs_postgres = pytest.mark.skipif(not POSTGRES, reason="a cluster needs PostgreSQL: the suite's PostgreSQL pass runs it")

LEASE_SECONDS = 2.0


def node(tmp_path, schema: str, name: str, spread: bool = False) -> TemperServer:
    """A `start-dev` node on the shared schema, with short leases, in active/standby mode (one
    node serves every shard) unless `spread` (the default mode, `test_cluster_spread.py`)."""
    server = TemperServer(None, tmp_path / f"{name}.log")
    server.schema = schema
    server.extra_args = ["--shard-lease-seconds", str(LEASE_SECONDS)]
    if not spread:
        server.extra_args.append("--cluster-active-standby")
    return server


def key_held_by(asked: TemperServer, server: TemperServer) -> str:
    """A fresh workflow id of the default namespace whose shard `server` holds, as `temper
    cluster locate` asked of `asked` says."""
    while True:
        key = f"wf-{uuid.uuid4().hex[:8]}"
        located = cli("cluster", "locate", "--address", asked.target, "--workflow-id", key)
        if located.split()[-1] == server.target:
            return key


async def until_halved(first: TemperServer, second: TemperServer, within: float) -> None:
    """Waits until two nodes of a spread cluster hold half the shards each."""
    deadline = time.monotonic() + within
    while True:
        status = cli("cluster", "status", "--address", first.target)
        if shards_held(status, first) == shards_held(status, second) == 32:
            return
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


def listed_over_http(port: int) -> set[str]:
    """The workflow ids the HTTP API on `port` lists in `default`."""
    url = f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflows?pageSize=1000"
    with urllib.request.urlopen(url, timeout=10) as response:
        return {e["execution"]["workflowId"] for e in json.load(response)["executions"]}


async def until_listed_over_http(port: int, keys: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            listed = listed_over_http(port)
        except OSError as error:  # an HTTP error status, or no answer
            listed = error
        if isinstance(listed, set) and set(keys) <= listed:
            return
        assert time.monotonic() < deadline, f"the HTTP API on {port} did not list the runs: {listed}"
        await asyncio.sleep(0.2)


def cli(*args: str) -> str:
    """Runs a `temper` command; its standard output."""
    return subprocess.run([str(TEMPER_BIN), *args], capture_output=True, text=True, check=True).stdout


def shards_held(status: str, server: TemperServer) -> int:
    """How many shards `temper cluster status` says the node holds (0 when it is not listed)."""
    line = next((l for l in status.splitlines() if l.startswith(f"{server.target}/")), None)
    # NODE ADDRESS HEARTBEAT("1.0s ago") SHARDS IDS LEASE
    return int(line.split()[4]) if line else 0


async def until_serving(asked: TemperServer, candidates: list[TemperServer], within: float) -> TemperServer:
    """Asks `asked` (any live node answers from the store) until one of `candidates` holds
    every shard; that node. A status call that fails (the database just recovering from an
    outage) counts as "not yet"."""
    started = time.monotonic()
    status = ""
    while time.monotonic() - started < within:
        answer = subprocess.run([str(TEMPER_BIN), "cluster", "status", "--address", asked.target],
                                capture_output=True, text=True)
        status = answer.stdout if answer.returncode == 0 else answer.stderr
        for candidate in candidates:
            if shards_held(status, candidate) == 64:
                print(f"{candidate.target} served {time.monotonic() - started:.2f}s later")
                return candidate
        await asyncio.sleep(0.1)
    raise AssertionError(f"no node of {[c.target for c in candidates]} took over within {within}s: {status}")


def contiguous(events) -> bool:
    ids = [e.event_id for e in events]
    return ids == list(range(1, len(ids) + 1))


@pytest.fixture
def schema():
    name = f"e2e_cluster_{uuid.uuid4().hex}"
    CREATED_SCHEMAS.append(name)
    return name


@needs_postgres
async def test_a_standby_takes_over_every_run_when_the_serving_node_is_killed(tmp_path, schema, task_queue):
    first, second = node(tmp_path, schema, "first"), node(tmp_path, schema, "second")
    second_http = free_port()
    second.extra_args += ["--http-port", str(second_http)]
    first.start()
    second.start()
    try:
        await asyncio.sleep(LEASE_SECONDS)
        assert shards_held(cli("cluster", "status", "--address", second.target), second) == 0, \
            "a second node is a standby while the first holds the shards"
        keys = [f"wf-{uuid.uuid4().hex[:8]}-{i}" for i in range(30)]
        client = await Client.connect(first.target)
        # A standby forwards: runs started through it are the serving node's.
        through_standby = await Client.connect(second.target)
        async with Worker(client, task_queue=task_queue, workflows=[ClusterWorkflow, ClusterChild],
                          activities=[note]):
            handles = [await (client if i % 2 else through_standby).start_workflow(
                ClusterWorkflow.run, key, id=key, task_queue=task_queue) for i, key in enumerate(keys)]
            for handle in handles[:10]:
                await handle.signal(ClusterWorkflow.add, "before")
            # The standby's HTTP API answers from the serving node, and keeps answering on the
            # same port once the standby serves (checked below).
            assert set(keys) <= listed_over_http(second_http)
            # Mid-load: some runs done with their first activity, timers pending.
            await asyncio.sleep(0.5)
            first.kill()
        await until_serving(second, [second], within=LEASE_SECONDS * 3 + 2)
        # Until the node has loaded its runs, its HTTP API still forwards (to the dead node).
        await until_listed_over_http(second_http, keys, within=10)
        client = await Client.connect(second.target)
        async with Worker(client, task_queue=task_queue, workflows=[ClusterWorkflow, ClusterChild],
                          activities=[note]):
            for key in keys[10:]:
                await client.get_workflow_handle(key).signal(ClusterWorkflow.add, "after")
            results = await asyncio.wait_for(
                asyncio.gather(*(client.get_workflow_handle(key).result() for key in keys)), 60)
        for key, result in zip(keys, results):
            assert result[:2] == [f"noted {key}", f"noted {key}-child"], result
            assert result[2:] == (["before"] if key in keys[:10] else ["after"])
            history = await client.get_workflow_handle(key).fetch_history()
            assert contiguous(history.events), key
        status = cli("cluster", "status", "--address", second.target)
        line = next(l for l in status.splitlines() if l.startswith(second.target))
        assert " 64 0-63 " in line, status
        assert first.target in status, "the dead node's row stays, its heartbeat ageing"
        described = json.loads(subprocess.run(
            [str(REPO / ".venv/bin/temporal"), "operator", "cluster", "describe", "--address", second.target,
             "-o", "json"], capture_output=True, text=True, check=True).stdout)
        assert described["historyShardCount"] == 64
        # At least once: an activity whose completion the kill lost may run again; count them.
        reruns = {key: n for key, n in RUNS.items() if key.startswith("wf-") and n > 1}
        assert len(reruns) <= 10, reruns
        print(f"activities run again after the kill: {len(reruns)}")
    finally:
        first.kill()
        second.stop()
    second.check_log_and_verify()


async def start_all(clients: list[Client], keys: list[str], task_queue: str) -> None:
    """Starts a run per key, through the clients in turn, a few at a time."""
    gate = asyncio.Semaphore(20)

    async def start(i: int, key: str) -> None:
        async with gate:
            await clients[i % len(clients)].start_workflow(ClusterWorkflow.run, key, id=key, task_queue=task_queue)

    await asyncio.gather(*(start(i, key) for i, key in enumerate(keys)))


async def signal_all(client: Client, keys: list[str], value: str) -> None:
    gate = asyncio.Semaphore(20)

    async def signal(key: str) -> None:
        async with gate:
            await client.get_workflow_handle(key).signal(ClusterWorkflow.add, value)

    await asyncio.gather(*(signal(key) for key in keys))


async def start_across_the_kill(clients: list[Client], task_queue: str, acknowledged: list[str]) -> None:
    """Starts 40 runs one after another through `clients` in turn; the ids of those whose start
    was acknowledged (the SDK retries a failed call, with the same request id) go in
    `acknowledged`."""
    for i in range(40):
        key = f"wf-{uuid.uuid4().hex[:8]}-during-{i}"
        try:
            await clients[i % len(clients)].start_workflow(ClusterWorkflow.run, key, id=key, task_queue=task_queue)
            acknowledged.append(key)
        except RPCError:
            pass
        await asyncio.sleep(0.05)


@needs_postgres
async def test_three_nodes_run_300_workflows_through_a_kill_and_a_join(tmp_path, schema, task_queue):
    serving, b, c = (node(tmp_path, schema, name) for name in ("a", "b", "c"))
    joining = node(tmp_path, schema, "d")
    for server in (serving, b, c):
        server.start()
    try:
        clients = [await Client.connect(server.target) for server in (serving, b, c)]
        workers = [Worker(await Client.connect(server.target), task_queue=task_queue,
                          workflows=[ClusterWorkflow, ClusterChild], activities=[note]) for server in (b, c)]
        keys = [f"wf-{uuid.uuid4().hex[:8]}-{i}" for i in range(300)]
        async with workers[0], workers[1]:
            await start_all(clients, keys, task_queue)
            await signal_all(clients[1], keys[:100], "before")
            # Mid-load: activities, timers and children in flight, and starts through the
            # standbys going on across the kill.
            await asyncio.sleep(0.5)
            acknowledged: list[str] = []
            starting = asyncio.create_task(start_across_the_kill(clients[1:], task_queue, acknowledged))
            await asyncio.sleep(0.2)
            serving.kill()
            killed = time.monotonic()
            survivor = await until_serving(b, [b, c], within=LEASE_SECONDS * 3 + 2)
            took = time.monotonic() - killed
            # Leases are renewed every quarter lease: a dead node's run out within one lease
            # of its last renewal and are taken at the survivors' next pass (slack: the CLI).
            assert took < LEASE_SECONDS * 1.25 + 1.5, took
            await starting
            print(f"starts acknowledged across the kill: {len(acknowledged)} of 40")
            keys += acknowledged
            joining.start()
            late = await Client.connect(joining.target)
            await signal_all(late, keys[100:], "after")
            results = await asyncio.wait_for(
                asyncio.gather(*(late.get_workflow_handle(key).result() for key in keys)), 120)
        for key, result in zip(keys, results):
            assert result[:2] == [f"noted {key}", f"noted {key}-child"], result
            assert result[2:] == (["before"] if key in keys[:100] else ["after"]), (key, result)
        for key in keys:
            history = await late.get_workflow_handle(key).fetch_history()
            assert contiguous(history.events), key
        status = cli("cluster", "status", "--address", joining.target)
        assert status.startswith("Cluster: 4 nodes, 64 shards"), status
        assert shards_held(status, survivor) == 64 and shards_held(status, joining) == 0, status
        ours = set(keys)
        reruns = {key: n for key, n in RUNS.items() if key.removesuffix("-child") in ours and n > 1}
        assert len(reruns) <= 30, reruns
        print(f"activities run again after the kill: {len(reruns)}")
    finally:
        for server in (serving, b, c, joining):
            server.stop()
    survivor.check_log_and_verify()


@needs_postgres
@pytest.mark.parametrize("spread", [False, True], ids=["active-standby", "spread"])
async def test_a_node_that_stalled_past_its_lease_never_writes_again(tmp_path, schema, task_queue, spread):
    """A node stopped (SIGSTOP) past its lease, its shards taken by the other node meanwhile,
    never writes again once it resumes: the writes it attempts are refused by the store and it
    exits; the run it served (in spread mode, one of the half of the shards it held) goes on
    on the other node with every acknowledged signal and a contiguous history."""
    first, second = node(tmp_path, schema, "first", spread), node(tmp_path, schema, "second", spread)
    first.start()
    second.start()
    try:
        if spread:
            await until_halved(first, second, within=LEASE_SECONDS * 4)
        # Few retries: calls to the stalled node must fail rather than wait for it.
        stalled_client = await Client.connect(first.target, retry_config=RetryConfig(max_retries=2))
        key = key_held_by(first, first) if spread else f"wf-{uuid.uuid4().hex[:8]}"
        handle = await stalled_client.start_workflow(ClusterWorkflow.run, key, id=key, task_queue=task_queue)
        await handle.signal(ClusterWorkflow.add, "acknowledged")

        first.process.send_signal(signal.SIGSTOP)
        await until_serving(second, [second], within=LEASE_SECONDS * 3 + 2)
        # Sent while the first node is stopped: it reads them once it runs again, after the
        # second node took its shards.
        late = [asyncio.create_task(handle.signal(ClusterWorkflow.add, f"late-{i}")) for i in range(5)]
        await asyncio.sleep(0.5)
        first.process.send_signal(signal.SIGCONT)
        outcomes = await asyncio.gather(*late, return_exceptions=True)
        assert all(isinstance(o, Exception) for o in outcomes), outcomes
        assert first.process.wait(timeout=20) != 0
        log = first.log_path.read_text(errors="replace")
        # Whichever it notices first after SIGCONT: its leases ran out by its own clock, or
        # the store says another node holds them.
        stopped = ("lease was taken by another node", "ran out before this node could renew them")
        assert any(reason in log for reason in stopped), log[-3000:]
        # Those the node attempted before stopping were refused by the store.
        print(f"writes the stalled node attempted, refused: {log.count('write refused')}")

        client = await Client.connect(second.target)
        async with Worker(client, task_queue=task_queue, workflows=[ClusterWorkflow, ClusterChild],
                          activities=[note]):
            result = await asyncio.wait_for(client.get_workflow_handle(key).result(), 30)
        assert result[2:] == ["acknowledged"], result
        history = await client.get_workflow_handle(key).fetch_history()
        assert contiguous(history.events)
    finally:
        if first.process.poll() is None:
            first.process.send_signal(signal.SIGCONT)
        first.kill()
        second.stop()
    second.check_log_and_verify()


def end_connections(server: TemperServer) -> int:
    """Ends the node's database sessions (as a database restart would); how many."""
    ended = subprocess.run(
        ["psql", POSTGRES_URL, "-qAtc", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
         f"WHERE application_name = 'temper {server.process.pid}'"],
        capture_output=True, text=True, check=True).stdout
    return int(ended)


@needs_postgres
async def test_a_node_rides_out_lost_database_sessions_and_stops_when_the_database_hangs(tmp_path, schema, task_queue):
    first, second = node(tmp_path, schema, "first"), node(tmp_path, schema, "second")
    first.start()
    second.start()
    try:
        client = await Client.connect(second.target)
        key = f"wf-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(ClusterWorkflow.run, key, id=key, task_queue=task_queue)
        # Its sessions end once: it opens new ones and serves on (the SDK retries a failed call).
        assert end_connections(first) >= 2
        await handle.signal(ClusterWorkflow.add, "kept")
        await asyncio.sleep(LEASE_SECONDS * 1.5)
        assert first.process.poll() is None, "a short outage is ridden out"
        # The database stops answering for longer than a lease (the lease table locked): the
        # renewal hangs, and the node must stop serving once its leases run out anyway.
        locker = f"locker_{uuid.uuid4().hex[:8]}"
        lock = subprocess.Popen(
            ["psql", POSTGRES_URL, "-qc",
             f'BEGIN; LOCK TABLE "{schema}".shards IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)'],
            env={**os.environ, "PGAPPNAME": locker}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert first.process.wait(timeout=LEASE_SECONDS * 3 + 5) != 0
        finally:
            subprocess.run(["psql", POSTGRES_URL, "-qAtc", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE application_name = '{locker}'"], capture_output=True, check=True)
            lock.wait(timeout=10)
        log = first.log_path.read_text(errors="replace")
        assert "ran out before this node could renew them" in log, log[-3000:]
        await until_serving(second, [second], within=LEASE_SECONDS * 3 + 2)
        async with Worker(client, task_queue=task_queue, workflows=[ClusterWorkflow, ClusterChild],
                          activities=[note]):
            result = await asyncio.wait_for(handle.result(), 30)
        assert result[2:] == ["kept"], result
    finally:
        first.kill()
        second.stop()
    second.check_log_and_verify()


@pytest.mark.one_node
def test_cluster_status_of_one_server(temper):
    status = cli("cluster", "status", "--address", temper.target)
    if POSTGRES:
        assert status.startswith("Cluster: 1 node, 64 shards"), status
        assert f"{temper.target} " in status and " 64 0-63 " in status, status
    else:
        assert "not in a cluster (it keeps its state in SQLite)" in status, status

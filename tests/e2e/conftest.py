"""Fixtures for the end-to-end suite: the real `temper` binary on a free port, and clients of
the official Temporal Python SDK connected to it."""

import asyncio
import itertools
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

REPO = Path(__file__).resolve().parents[2]
TEMPER_BIN = Path(os.environ.get("TEMPER_BIN", REPO / "target" / "debug" / "temper"))
# `TEMPER_E2E_STORE=postgres` runs the servers the suite starts by default on PostgreSQL
# (one schema per server, dropped at the end of the session) instead of SQLite files.
POSTGRES = os.environ.get("TEMPER_E2E_STORE") == "postgres"
POSTGRES_URL = os.environ.get("TEMPER_TEST_POSTGRES", "host=127.0.0.1 user=postgres dbname=test")
CREATED_SCHEMAS: list[str] = []
# More arguments for every default server, e.g. `--run-cache-mib 0` to run a suite with runs
# read back from the store at every use.
SERVER_ARGS = os.environ.get("TEMPER_E2E_SERVER_ARGS", "").split()
# `TEMPER_E2E_SPREAD_PEER=1` (PostgreSQL pass only) gives each `temper` server a peer on its
# schema: every test then runs on a two-node cluster (shards spread, the default), its clients
# on the first node, half the shards on the second.
SPREAD_PEER = POSTGRES and os.environ.get("TEMPER_E2E_SPREAD_PEER") == "1"
SPREAD_ARGS = ["--shard-lease-seconds", "2"]


# Fixtures that give a test Temporal's dev server (the oracle), and those that start Temper.
TEMPORAL_FIXTURES = {"temporal_server", "temporal_standalone", "temporal_fast_drainage"}
TEMPER_FIXTURES = {"temper", "temper_http", "temper_with_metrics", "server", "small_queues", "ui_server",
                   "uncached"}


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass runs the suite again for Temper's PostgreSQL store; a test that talks
    to Temporal's dev server alone (checking that the expected answers are Temporal's) does not
    involve Temper at all, so it runs in the SQLite pass only. With a spread peer, the tests
    marked `one_node` are skipped."""
    if not POSTGRES:
        return
    if SPREAD_PEER:
        alone = pytest.mark.skip(reason="needs its server to be the only node")
        for item in items:
            if item.get_closest_marker("one_node"):
                item.add_marker(alone)
    skip = pytest.mark.skip(reason="talks to Temporal's dev server only: the SQLite pass runs it")
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & TEMPORAL_FIXTURES and not fixtures & TEMPER_FIXTURES and "temporal" in item.name:
            item.add_marker(skip)


# With `TEMPER_E2E_PORTS=FIRST-LAST` (scripts/test.sh gives each of its two passes, which run
# at once, a range of its own below the kernel's ephemeral ports, where outgoing connections
# take theirs) ports are handed out in turn from that range, ten apart (Temporal's dev server
# may take a few after its own), so that the passes never pick the same port and a port is
# not reused soon; otherwise the system picks any free one. Once, a test of one pass reached
# a server of the other on a port both had been given.
PORTS = [int(bound) for bound in os.environ.get("TEMPER_E2E_PORTS", "").split("-") if bound]
PORT_STEP = 10
_port_turn = itertools.count()


def free_port() -> int:
    if len(PORTS) == 2:
        first, last = PORTS
        for _ in range((last - first) // PORT_STEP):
            port = first + (next(_port_turn) * PORT_STEP) % (last - first)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        raise AssertionError(f"no free port in {first}-{last}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TemperServer:
    """One `temper server start-dev` process; restartable on the same database file."""

    def __init__(self, db_path: Path | None, log_path: Path, mode_args: list[str] | None = None,
                 extra_args: list[str] | None = None):
        """`mode_args` replaces the default `server start-dev --db-filename DB_PATH`;
        `extra_args` are added to that default."""
        self.db_path = db_path
        self.log_path = log_path
        self.mode_args = mode_args
        self.extra_args = extra_args or []
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        # With PostgreSQL, the schema plays the database file's part (kept across restarts).
        self.schema = f"e2e_{uuid.uuid4().hex}"
        if POSTGRES:
            CREATED_SCHEMAS.append(self.schema)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts the process and waits until its port takes connections."""
        if self.mode_args is not None:
            args = [str(TEMPER_BIN), *self.mode_args, "--port", str(self.port)]
        else:
            args = [str(TEMPER_BIN), "server", "start-dev", "--port", str(self.port), "--headless",
                    "--log-level", "info"]
            if POSTGRES:
                args += ["--postgres", POSTGRES_URL, "--postgres-schema", self.schema]
            elif self.db_path is not None:
                args += ["--db-filename", str(self.db_path)]
            args += SERVER_ARGS + self.extra_args
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temper exited with {self.process.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("temper did not start listening")

    def kill(self) -> None:
        """SIGKILL: nothing gets a chance to flush."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def check_log_and_verify(self, verify: bool = True) -> None:
        """After `stop`: a panic in the server (a broken invariant in this debug build) fails
        the test even when the clients recovered from the failed call; and every run left
        behind must be what its history says (`verify`)."""
        log = self.log_path.read_text(errors="replace")
        assert "panicked at" not in log, log[log.index("panicked at"):][:2000]
        if verify:
            self.verify()

    def verify(self) -> str:
        """Runs `temper verify` on the stopped server's database: every run's state must be
        what replaying its history gives. Returns its report; raises when a run differs."""
        if POSTGRES:
            store = ["--postgres", POSTGRES_URL, "--postgres-schema", self.schema]
        else:
            store = ["--db-filename", str(self.db_path)]
        result = subprocess.run([str(TEMPER_BIN), "verify", *store], capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"temper verify failed:\n{result.stderr}")
        return result.stderr


@pytest.fixture(scope="session", autouse=True)
def drop_postgres_schemas():
    yield
    for schema in CREATED_SCHEMAS:
        subprocess.run(
            ["psql", POSTGRES_URL, "-q", "-c", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )


def start_spread_peer(server: TemperServer, log_path: Path) -> TemperServer:
    """A second node on `server`'s schema; returns once each holds half the shards."""
    peer = TemperServer(None, log_path, extra_args=SPREAD_ARGS)
    peer.schema = server.schema
    peer.start()
    deadline = time.time() + 20
    while True:
        status = subprocess.run([str(TEMPER_BIN), "cluster", "status", "--address", server.target],
                                capture_output=True, text=True).stdout
        held = [int(line.split()[4]) for line in status.splitlines()
                if line.startswith((f"{server.target}/", f"{peer.target}/"))]
        if sorted(held) == [32, 32]:
            # Each node learns the other's shards at its next lease pass (a quarter lease).
            time.sleep(1.0)
            return peer
        if time.time() > deadline:
            raise RuntimeError(f"the shards were not spread: {status}")
        time.sleep(0.1)


@pytest.fixture
def temper(tmp_path, request):
    if not TEMPER_BIN.exists():
        pytest.fail(f"{TEMPER_BIN} is missing: build it with `cargo build -p temper`")
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log",
                          extra_args=SPREAD_ARGS if SPREAD_PEER else None)
    server.start()
    peer = start_spread_peer(server, tmp_path / "peer.log") if SPREAD_PEER else None
    yield server
    if peer:
        peer.stop()
    server.stop()
    # A test that damages its database on purpose opts out of the verification.
    server.check_log_and_verify(verify=request.node.get_closest_marker("damages_database") is None)


@pytest_asyncio.fixture
async def client(temper):
    return await Client.connect(temper.target)


@pytest.fixture
def temper_with_metrics(tmp_path):
    """A server with Prometheus metrics on a port of its own: (server, metrics port)."""
    port = free_port()
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=["--metrics-port", str(port)])
    server.start()
    yield server, port
    server.stop()
    server.check_log_and_verify()


@pytest.fixture
def task_queue():
    return f"tq-{uuid.uuid4()}"


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):
    """Polls an async predicate until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def history_types(handle) -> list[str]:
    """The event type names of a workflow's history, e.g. EVENT_TYPE_TIMER_FIRED."""
    return [EventType.Name(e.event_type) for e in (await handle.fetch_history()).events]


async def refused(call) -> RPCError:
    """The RPC error an awaited call raises (it must raise one)."""
    with pytest.raises(RPCError) as error:
        await call
    return error.value

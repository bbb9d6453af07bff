"""TLS to PostgreSQL: `sslmode=require` encrypts the store's connections; `--postgres-ca-path`
also checks the server's certificate (here the machine's PostgreSQL, which serves Debian's
self-signed `localhost` certificate). Skipped when the local PostgreSQL does not serve TLS."""

import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import POSTGRES_URL, TemperServer, CREATED_SCHEMAS
from guide import OrderProcessingWorkflow, cancel_order, fulfill_order, process_payment

SNAKEOIL = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")


def psql(sql: str) -> str:
    result = subprocess.run(["psql", POSTGRES_URL, "-Atc", sql], capture_output=True, text=True, check=False)
    return result.stdout.strip()


pytestmark = pytest.mark.skipif(psql("show ssl") != "on", reason="the local PostgreSQL does not serve TLS")


async def run_over(tmp_path, connection: str, extra: list[str]) -> None:
    schema = f"e2e_tls_{uuid.uuid4().hex}"
    CREATED_SCHEMAS.append(schema)
    application = f"temper-{uuid.uuid4().hex[:8]}"
    server = TemperServer(None, tmp_path / f"{application}.log", mode_args=[
        "server", "start-dev", "--headless", "--postgres", f"{connection} application_name={application}",
        "--postgres-schema", schema, *extra])
    server.start()
    try:
        client = await Client.connect(server.target)
        queue = f"pgtls-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[OrderProcessingWorkflow],
                          activities=[process_payment, fulfill_order, cancel_order]):
            result = await client.execute_workflow(OrderProcessingWorkflow.run, "o", id=queue, task_queue=queue)
        assert result == "Order completed successfully"
        encrypted = psql("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                         f"WHERE a.application_name = '{application}'")
        assert encrypted == "t", f"connections of {application} not all encrypted: {encrypted!r}"
    finally:
        server.stop()


async def test_sslmode_require_encrypts(tmp_path):
    await run_over(tmp_path, "host=127.0.0.1 user=postgres dbname=test sslmode=require", [])


@pytest.mark.skipif(not SNAKEOIL.exists(), reason="no self-signed localhost certificate to trust")
async def test_a_ca_file_verifies_the_server(tmp_path):
    await run_over(tmp_path, "host=localhost user=postgres dbname=test", ["--postgres-ca-path", str(SNAKEOIL)])


def test_an_unknown_ca_is_refused(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=nobody",
                    "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.pem")],
                   check=True, capture_output=True)
    server = TemperServer(None, tmp_path / "temper.log", mode_args=[
        "server", "start-dev", "--headless", "--postgres", "host=localhost user=postgres dbname=test",
        "--postgres-schema", f"e2e_tls_{uuid.uuid4().hex}", "--postgres-ca-path", str(tmp_path / "ca.pem")])
    with pytest.raises(RuntimeError):
        server.start()
    assert "certificate" in (tmp_path / "temper.log").read_text().lower()

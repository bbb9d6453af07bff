"""gRPC health checks answer for the services Temporal's frontend names, and NOT_FOUND for any
other name (load balancers and the SDKs' `check_health` rely on both); they answer NOT_SERVING
while the store cannot commit."""

import asyncio
import sqlite3
import subprocess

import grpc
import pytest
from temporalio.client import Client

from conftest import POSTGRES, POSTGRES_URL
from test_differential import temporal_server  # noqa: F401 (fixture)

SERVING = ["", "temporal.api.workflowservice.v1.WorkflowService",
           "temporal.api.operatorservice.v1.OperatorService", "temporal.api.adminservice.v1.AdminService"]


async def health(target: str, service: str) -> tuple:
    """(status code name, SERVING?, message) of a raw Health/Check call."""
    request = b"\x0a" + bytes([len(service)]) + service.encode() if service else b""
    async with grpc.aio.insecure_channel(target) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            response = await check(request, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code().name, False, error.details()
    return "OK", response == b"\x08\x01", ""


async def check_health(target: str) -> None:
    for service in SERVING:
        assert await health(target, service) == ("OK", True, ""), service
    assert await health(target, "foo") == ("NOT_FOUND", False, "unknown service")
    client = await Client.connect(target)
    assert await client.service_client.check_health()


async def test_health_names_the_frontend_services(temper):
    await check_health(temper.target)


async def test_temporal_answers_health_checks_the_same(temporal_server):  # noqa: F811
    await check_health(temporal_server)


def refuse_writes(temper, refuse: bool) -> None:
    """Makes every write to the store's settings table fail (a trigger), or stops doing so."""
    if POSTGRES:
        schema = f'"{temper.schema}"'
        sql = (f"CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$BEGIN RAISE EXCEPTION 'the disk is full'; END$$; "
               f"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {schema}.settings "
               f"FOR EACH ROW EXECUTE FUNCTION {schema}.refuse();") if refuse else \
            f"DROP TRIGGER refuse ON {schema}.settings; DROP FUNCTION {schema}.refuse();"
        subprocess.run(["psql", POSTGRES_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)
        return
    with sqlite3.connect(temper.db_path, timeout=10) as db:
        if refuse:
            for action in ("INSERT", "UPDATE"):
                db.execute(f"CREATE TRIGGER refuse_{action.lower()} BEFORE {action} ON settings "
                           "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END")
        else:
            db.execute("DROP TRIGGER refuse_insert")
            db.execute("DROP TRIGGER refuse_update")


async def test_not_serving_while_the_store_cannot_commit(temper):
    assert await health(temper.target, "") == ("OK", True, "")
    refuse_writes(temper, True)
    await asyncio.sleep(1.1)  # past the second for which a probe's outcome is reused
    assert await health(temper.target, "") == ("OK", False, "")
    assert await health(temper.target, "temporal.api.workflowservice.v1.WorkflowService") == ("OK", False, "")
    refuse_writes(temper, False)
    await asyncio.sleep(1.1)
    assert await health(temper.target, "") == ("OK", True, "")

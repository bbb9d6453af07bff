"""Authorization by JWT bearer tokens (`--auth-jwks-path`): tokens signed at test time with an
RSA and an EC key carry Temporal's `permissions` claim; the SDK's `api_key=` sends them. A reader
cannot start or terminate; a worker token of namespace A cannot poll namespace B (and does not
get to start workflows); a bad signature, an expired token and no token are UNAUTHENTICATED; an
admin can register a namespace; a worker token runs the guide's workflow; the HTTP API honours
the same rules."""

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollActivityTaskQueueRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import TemperServer, free_port
from guide import OrderProcessingWorkflow, cancel_order, fulfill_order, process_payment


def jwk(public_key, kid: str) -> dict:
    document = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key)
                          if isinstance(public_key, rsa.RSAPublicKey)
                          else jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    document["kid"] = kid
    return document


@pytest.fixture
def keys(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [jwk(rsa_key.public_key(), "rsa-1"), jwk(ec_key.public_key(), "ec-1")]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    return {"path": path, "rsa": rsa_key, "ec": ec_key}


def token(keys, permissions: list[str], *, kid: str = "rsa-1", expires_in: int = 300, key=None) -> str:
    signer = key or (keys["rsa"] if kid.startswith("rsa") else keys["ec"])
    algorithm = "RS256" if kid.startswith("rsa") else "ES256"
    claims = {"sub": "tester", "permissions": permissions, "exp": int(time.time()) + expires_in}
    return jwt.encode(claims, signer, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def server(tmp_path, keys):
    http_port = free_port()
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log",
                          extra_args=["--auth-jwks-path", str(keys["path"]), "--http-port", str(http_port),
                                      "--namespace", "other", "--audit-log"])
    server.http_port = http_port
    server.start()
    yield server
    server.stop()


async def refusal(call) -> str:
    try:
        await call
        return "ok"
    except RPCError as error:
        return f"{error.status.name}: {error.message}"
    except Exception as error:  # noqa: BLE001 (the SDK wraps some failures)
        return f"{type(error).__name__}: {error}"


async def test_roles_and_refusals(server, keys):
    reader = await Client.connect(server.target, api_key=token(keys, ["default:read"]), tls=False)
    assert await refusal(reader.start_workflow("OrderProcessingWorkflow", "o", id="r-1", task_queue="q")) == \
        "PERMISSION_DENIED: Request unauthorized."
    assert await refusal(reader.get_workflow_handle("r-1").terminate()) == "PERMISSION_DENIED: Request unauthorized."
    assert [w async for w in reader.list_workflows()] == []

    worker_a = await Client.connect(server.target, api_key=token(keys, ["default:worker"], kid="ec-1"), tls=False)
    poll = PollActivityTaskQueueRequest(namespace="other", task_queue=TaskQueue(name="q"), identity="w")
    assert await refusal(worker_a.workflow_service.poll_activity_task_queue(
        poll, timeout=timedelta(seconds=5))) == "PERMISSION_DENIED: Request unauthorized."
    assert await refusal(worker_a.start_workflow("OrderProcessingWorkflow", "o", id="w-1", task_queue="q")) == \
        "PERMISSION_DENIED: Request unauthorized."

    for bad in (token(keys, ["default:admin"], key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                token(keys, ["default:admin"], expires_in=-60)):
        client = await Client.connect(server.target, api_key=bad, tls=False)
        outcome = await refusal(client.list_workflows().fetch_next_page())
        assert outcome.startswith("UNAUTHENTICATED"), outcome
    anonymous = await Client.connect(server.target)
    outcome = await refusal(anonymous.list_workflows().fetch_next_page())
    assert outcome.startswith("UNAUTHENTICATED"), outcome

    writer = await Client.connect(server.target, api_key=token(keys, ["default:write"]), tls=False)
    assert await refusal(writer.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace="by-writer", workflow_execution_retention_period=timedelta(days=1)))) == \
        "PERMISSION_DENIED: Request unauthorized."
    admin = await Client.connect(server.target, api_key=token(keys, ["temporal-system:admin"]), tls=False)
    assert await refusal(admin.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace="by-admin", workflow_execution_retention_period=timedelta(days=1)))) == "ok"

    # The audit log: one line per mutating request, who, what, on what, allowed or not.
    audit = [line for line in server.log_path.read_text().splitlines() if "temper::audit" in line]
    denied_start = [line for line in audit if 'rpc="StartWorkflowExecution"' in line and 'target="r-1"' in line]
    assert denied_start and 'subject="tester"' in denied_start[0] and "allowed=false" in denied_start[0]
    assert 'namespace="default"' in denied_start[0] and 'target_kind="workflow_id"' in denied_start[0]
    registered = [line for line in audit if 'rpc="RegisterNamespace"' in line and "allowed=true" in line]
    assert registered and 'namespace="by-admin"' in registered[0]
    assert not [line for line in audit if 'rpc="ListWorkflowExecutions"' in line], "reads are not audited"


async def test_a_worker_token_runs_the_guide_workflow(server, keys):
    worker_client = await Client.connect(server.target, api_key=token(keys, ["default:worker"]), tls=False)
    starter = await Client.connect(server.target, api_key=token(keys, ["default:write"], kid="ec-1"), tls=False)
    queue = f"auth-{uuid.uuid4().hex[:8]}"
    async with Worker(worker_client, task_queue=queue, workflows=[OrderProcessingWorkflow],
                      activities=[process_payment, fulfill_order, cancel_order]):
        result = await starter.execute_workflow(OrderProcessingWorkflow.run, "o-1", id=f"o-{queue}", task_queue=queue)
    assert result == "Order completed successfully"


def http_get(server, path: str, bearer: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}")
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_http_api_honours_the_same_rules(server, keys):
    status, _ = http_get(server, "/api/v1/namespaces/default/workflows", token(keys, ["default:read"]))
    assert status == 200
    status, body = http_get(server, "/api/v1/namespaces/other/workflows", token(keys, ["default:read"]))
    assert (status, body["code"], body["message"]) == (403, 7, "Request unauthorized.")
    status, body = http_get(server, "/api/v1/namespaces/default/workflows", None)
    assert (status, body["code"]) == (401, 16)
    assert RPCStatusCode.UNAUTHENTICATED == 16

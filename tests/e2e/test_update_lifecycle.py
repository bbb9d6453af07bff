"""Updates whose run closes under them, and update-with-start on an update id that already
exists: the SDK sees what it sees on Temporal (each scenario also runs against Temporal's dev
server when it is installed)."""

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.update.v1 import Input, Meta, Request, WaitPolicy
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from test_differential import temporal_server  # noqa: F401 (fixture)
from update_workflows import ClosesUnderUpdatesWorkflow

WORKFLOW = ClosesUnderUpdatesWorkflow


async def accepted_update_when_the_run_completes(target: str, task_queue: str) -> None:
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=[WORKFLOW]):
        handle = await client.start_workflow(WORKFLOW.run, id=f"closing-{uuid.uuid4()}", task_queue=task_queue)
        update = await handle.start_update(WORKFLOW.never_finishes, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await handle.signal(WORKFLOW.finish)
        assert await handle.result() == "done"
        with pytest.raises(WorkflowUpdateFailedError) as error:
            await update.result()
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "AcceptedUpdateCompletedWorkflow"
    assert cause.non_retryable
    assert cause.message == "Workflow Update failed because the Workflow completed before the Update completed."


async def admitted_update_when_the_run_is_terminated(target: str, task_queue: str) -> None:
    """No worker: the update is admitted, never accepted; the run is terminated meanwhile."""
    client = await Client.connect(target)
    handle = await client.start_workflow(WORKFLOW.run, id=f"aborted-{uuid.uuid4()}", task_queue=task_queue)
    request = UpdateWorkflowExecutionRequest(
        namespace="default", workflow_execution=WorkflowExecution(workflow_id=handle.id),
        request=Request(meta=Meta(update_id="admitted-only"), input=Input(name="count")),
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED),
    )
    waiting = asyncio.ensure_future(client.workflow_service.update_workflow_execution(request))
    await asyncio.sleep(1)
    await handle.terminate("closing under an admitted update")
    with pytest.raises(RPCError) as error:
        await waiting
    assert error.value.status == RPCStatusCode.NOT_FOUND
    assert error.value.message == "workflow update was aborted by closing workflow"


async def update_with_start_attaches(target: str, task_queue: str) -> None:
    client = await Client.connect(target)
    workflow_id = f"attach-{uuid.uuid4()}"

    def start(conflict=WorkflowIDConflictPolicy.FAIL, reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE):
        return WithStartWorkflowOperation(WORKFLOW.run, id=workflow_id, task_queue=task_queue,
                                          id_conflict_policy=conflict, id_reuse_policy=reuse)

    async with Worker(client, task_queue=task_queue, workflows=[WORKFLOW]):
        first = start()
        assert await client.execute_update_with_start_workflow(
            WORKFLOW.count, 1, start_workflow_operation=first, id="u1") == 2
        run_id = (await first.workflow_handle()).result_run_id
        # The running workflow has update u1: FAIL does not apply, the outcome comes back.
        open_again = start()
        assert await client.execute_update_with_start_workflow(
            WORKFLOW.count, 1, start_workflow_operation=open_again, id="u1") == 2
        assert (await open_again.workflow_handle()).result_run_id == run_id
        handle = client.get_workflow_handle(workflow_id)
        await handle.signal(WORKFLOW.finish)
        assert await handle.result() == "done"
        # Closed, REJECT_DUPLICATE: still the same update's outcome, and no new run.
        closed_again = start()
        assert await client.execute_update_with_start_workflow(
            WORKFLOW.count, 1, start_workflow_operation=closed_again, id="u1") == 2
        assert (await closed_again.workflow_handle()).result_run_id == run_id
        assert (await client.get_workflow_handle(workflow_id).describe()).run_id == run_id


async def update_with_start_attaches_to_an_update_in_flight(target: str, task_queue: str) -> None:
    """Conflict policy FAIL, the workflow running, the update accepted but not finished:
    a second update-with-start with the same update id attaches to it."""
    client = await Client.connect(target)
    workflow_id = f"inflight-{uuid.uuid4()}"

    def start():
        return WithStartWorkflowOperation(WORKFLOW.run, id=workflow_id, task_queue=task_queue,
                                          id_conflict_policy=WorkflowIDConflictPolicy.FAIL)

    async with Worker(client, task_queue=task_queue, workflows=[WORKFLOW]):
        first = await client.start_update_with_start_workflow(
            WORKFLOW.never_finishes, start_workflow_operation=start(), id="in-flight",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        again = await client.start_update_with_start_workflow(
            WORKFLOW.never_finishes, start_workflow_operation=start(), id="in-flight",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert (again.id, again.workflow_run_id) == (first.id, first.workflow_run_id)
        await client.get_workflow_handle(workflow_id).terminate("done")


SCENARIOS = [
    accepted_update_when_the_run_completes, admitted_update_when_the_run_is_terminated, update_with_start_attaches,
    update_with_start_attaches_to_an_update_in_flight,
]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temper(temper, task_queue, scenario):
    await scenario(temper.target, task_queue)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_on_temporal(temporal_server, task_queue, scenario):  # noqa: F811
    await scenario(temporal_server, task_queue)

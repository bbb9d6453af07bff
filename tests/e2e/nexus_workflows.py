"""A Nexus service, its handler and a caller workflow for the Nexus tests."""

import uuid
from datetime import timedelta

import nexusrpc
import nexusrpc.handler
from temporalio import nexus, workflow
from temporalio.exceptions import ApplicationError


@nexusrpc.service
class EchoService:
    echo: nexusrpc.Operation[str, str]
    op_fail: nexusrpc.Operation[str, str]
    bad_request: nexusrpc.Operation[str, str]
    app_error: nexusrpc.Operation[str, str]
    broken: nexusrpc.Operation[str, str]
    workflow_ok: nexusrpc.Operation[str, str]
    workflow_fails: nexusrpc.Operation[str, str]
    workflow_blocks: nexusrpc.Operation[str, str]


@workflow.defn
class HandlerWorkflow:
    """The workflow behind an asynchronous operation."""

    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "fail":
            raise ApplicationError("handler workflow failed", type="HandlerBroke", non_retryable=True)
        if mode == "block":
            await workflow.wait_condition(lambda: False)
        await workflow.sleep(0.2)
        return f"handled:{mode}"


@nexusrpc.handler.service_handler(service=EchoService)
class EchoHandler:
    @nexusrpc.handler.sync_operation
    async def echo(self, ctx: nexusrpc.handler.StartOperationContext, input: str) -> str:
        return f"echo:{input}:{ctx.service}.{ctx.operation}"

    @nexusrpc.handler.sync_operation
    async def op_fail(self, ctx: nexusrpc.handler.StartOperationContext, input: str) -> str:
        raise nexusrpc.OperationError("the operation failed", state=nexusrpc.OperationErrorState.FAILED)

    @nexusrpc.handler.sync_operation
    async def bad_request(self, ctx: nexusrpc.handler.StartOperationContext, input: str) -> str:
        raise nexusrpc.HandlerError("that request is bad", type=nexusrpc.HandlerErrorType.BAD_REQUEST)

    @nexusrpc.handler.sync_operation
    async def app_error(self, ctx: nexusrpc.handler.StartOperationContext, input: str) -> str:
        raise ApplicationError("application says no", type="NoWay", non_retryable=True)

    @nexusrpc.handler.sync_operation
    async def broken(self, ctx: nexusrpc.handler.StartOperationContext, input: str) -> str:
        raise RuntimeError("handler keeps breaking")

    @nexus.workflow_run_operation
    async def workflow_ok(self, ctx: nexus.WorkflowRunOperationContext, input: str) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(HandlerWorkflow.run, input, id=f"handler-{uuid.uuid4()}")

    @nexus.workflow_run_operation
    async def workflow_blocks(self, ctx: nexus.WorkflowRunOperationContext, input: str) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(HandlerWorkflow.run, "block", id=f"handler-{uuid.uuid4()}")

    @nexus.workflow_run_operation
    async def workflow_fails(self, ctx: nexus.WorkflowRunOperationContext, input: str) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(HandlerWorkflow.run, "fail", id=f"handler-{uuid.uuid4()}")


def describe_error(error: BaseException) -> str:
    """The exception chain as class: message, for comparing servers."""
    parts = []
    while error is not None:
        parts.append(f"{type(error).__name__}: {getattr(error, 'message', str(error))}")
        error = error.__cause__
    return " <- ".join(parts)


@workflow.defn
class NexusCaller:
    @workflow.run
    async def run(self, endpoint: str, operation: str, timeout_seconds: float) -> str:
        client = workflow.create_nexus_client(service=EchoService, endpoint=endpoint)
        try:
            return await client.execute_operation(
                operation, "x", output_type=str, schedule_to_close_timeout=timedelta(seconds=timeout_seconds))
        except Exception as error:  # the test compares what the caller saw
            return "error " + describe_error(error)


@workflow.defn
class NexusCancellingCaller:
    """Starts an operation backed by a workflow that never ends, then cancels it."""

    @workflow.run
    async def run(self, endpoint: str) -> str:
        client = workflow.create_nexus_client(service=EchoService, endpoint=endpoint)
        handle = await client.start_operation(EchoService.workflow_blocks, "x",
                                              schedule_to_close_timeout=timedelta(seconds=30))
        handle.cancel()
        try:
            return await handle
        except Exception as error:  # the test compares what the caller saw
            return "error " + describe_error(error)


@workflow.defn
class NexusStartToCloseCaller:
    """Waits for a workflow-backed operation that never ends, for at most a second once
    started."""

    @workflow.run
    async def run(self, endpoint: str) -> str:
        client = workflow.create_nexus_client(service=EchoService, endpoint=endpoint)
        try:
            return await client.execute_operation(EchoService.workflow_blocks, "x",
                                                  start_to_close_timeout=timedelta(seconds=1))
        except Exception as error:  # the test compares what the caller saw
            return "error " + describe_error(error)

"""A Nexus service, its handler and a caller workflow for the Nexus tests."""

from datetime import timedelta

import nexusrpc
import nexusrpc.handler
from temporalio import workflow
from temporalio.exceptions import ApplicationError


@nexusrpc.service
class EchoService:
    echo: nexusrpc.Operation[str, str]
    op_fail: nexusrpc.Operation[str, str]
    bad_request: nexusrpc.Operation[str, str]
    app_error: nexusrpc.Operation[str, str]
    broken: nexusrpc.Operation[str, str]


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

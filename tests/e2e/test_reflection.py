"""gRPC server reflection (what grpcurl and other generic clients use) lists Temper's services
and hands out their descriptors; the server builds it on the first call, so this is also the
proof that the lazily built service works."""

import grpc

METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def string_field(number: int, text: str) -> bytes:
    """One length-delimited protobuf field (short strings only)."""
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


async def reflect(target: str, request: bytes) -> bytes:
    """The one response of a reflection stream carrying `request`."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.stream_stream(METHOD)(iter([request]), timeout=10)
        responses = [response async for response in call]
    assert len(responses) == 1
    return responses[0]


async def test_reflection_lists_the_services(temper):
    # ServerReflectionRequest.list_services = 7
    response = await reflect(temper.target, string_field(7, "*"))
    for service in ["temporal.api.workflowservice.v1.WorkflowService",
                    "temporal.api.operatorservice.v1.OperatorService", "grpc.health.v1.Health"]:
        assert service.encode() in response


async def test_reflection_describes_the_workflow_service(temper):
    # ServerReflectionRequest.file_containing_symbol = 4
    symbol = "temporal.api.workflowservice.v1.WorkflowService"
    response = await reflect(temper.target, string_field(4, symbol))
    assert b"temporal/api/workflowservice/v1/service.proto" in response
    assert b"StartWorkflowExecution" in response

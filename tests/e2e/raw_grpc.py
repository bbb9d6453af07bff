"""Raw gRPC calls to WorkflowService with grpcio, for requests the SDK cannot send: its Rust
core re-decodes every request with prost's 100-level nesting limit, and Python's protobuf
refuses deep messages unless told otherwise (done here, once)."""

import grpc
from google._upb import _message as upb_message
from temporalio.api.workflowservice.v1 import request_response_pb2 as workflowservice

# Python's protobuf parses and copies messages nested up to 65,535 levels instead of 100.
upb_message.SetAllowOversizeProtos(True)

SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


class RawWorkflowService:
    """`await raw.call("StartWorkflowExecution", request)` returns the decoded response or
    raises `grpc.aio.AioRpcError`; `call_bytes` sends and returns raw bytes."""

    def __init__(self, target: str, max_message_bytes: int = 64 << 20):
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        self.channel = grpc.aio.insecure_channel(target, options=options)

    async def call(self, method: str, request, timeout: float = 10.0, metadata=None):
        response_type = getattr(workflowservice, f"{method}Response")
        raw = await self.call_bytes(method, request.SerializeToString(), timeout, metadata)
        return response_type.FromString(raw)

    async def call_bytes(self, method: str, request: bytes, timeout: float = 10.0, metadata=None) -> bytes:
        stub = self.channel.unary_unary(f"/{SERVICE}/{method}")
        return await stub(request, timeout=timeout, metadata=metadata)

    async def close(self) -> None:
        await self.channel.close()

"""A seeded barrage of malformed requests across every WorkflowService RPC, sent byte for byte
over one connection: each gets a proper status within its deadline (never INTERNAL or UNKNOWN
for a request that is valid protobuf, which is what Temporal's server answers), and afterwards
the connection and the server still serve and a normal workflow runs end to end.

`TEMPER_FUZZ_SEED` and `TEMPER_FUZZ_COUNT` (default 300) choose the barrage; a failure names
the seed, the RPC and the bytes, so it can be replayed."""

import asyncio
import os
import random
import uuid

import grpc
from google.protobuf.descriptor import FieldDescriptor
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as workflowservice
from temporalio.worker import Worker

from raw_grpc import RawWorkflowService
from scenarios import SleepWorkflow

SEED = int(os.environ.get("TEMPER_FUZZ_SEED", "20261205"))
COUNT = int(os.environ.get("TEMPER_FUZZ_COUNT", "300"))
DEADLINE_SECONDS = 5.0
# Calls that may legitimately wait for a worker or a new event until the deadline.
WAITING_CALLS = ("Poll", "UpdateWorkflowExecution", "QueryWorkflow", "ExecuteMultiOperation",
                 "GetWorkflowExecutionHistory")

RPCS = sorted(
    name.removesuffix("Request") for name in dir(workflowservice)
    if name.endswith("Request") and hasattr(workflowservice, name.removesuffix("Request") + "Response")
)

STRINGS = ["", "default", "x" * 1001, "ü€😀", "no-such-namespace", str(uuid.uuid4()), "a' OR '1'='1",
           "WorkflowId = 'x' OR " * 50, "\x00"]
INTS = [0, 1, -1, 2, 99, 2**31 - 1, -(2**31), 2**62]


def random_message(message, rng: random.Random, depth: int = 0) -> None:
    """Fills some fields of `message` with hostile but well-formed values."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.5:
            continue
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3 or field.message_type.GetOptions().map_entry:
                continue
            target = getattr(message, field.name)
            random_message(target.add() if repeated else target, rng, depth + 1)
            continue
        value = random_scalar(field, rng)
        if value is None:
            continue
        try:
            if repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
        except (ValueError, TypeError):
            pass


def random_scalar(field, rng: random.Random):
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(STRINGS)
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.choice([b"", b"\xff\x00garbage", rng.randbytes(rng.randint(1, 64))])
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.TYPE_ENUM:
        return rng.choice([0, 1, 2, 3, 5, 99])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0.0, -1.5, 0.5, 1e300])
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED32,
                FieldDescriptor.TYPE_FIXED64):
        return rng.choice([0, 1, 2**31])
    return rng.choice(INTS)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def wrong_wire_type(message, rng: random.Random) -> bytes:
    """A field of the message sent with a wire type that does not match its type."""
    if not message.DESCRIPTOR.fields:
        return b""
    field = rng.choice(message.DESCRIPTOR.fields)
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_MESSAGE):
        return varint(field.number << 3 | 0) + varint(rng.choice([0, 7, 300]))
    return varint(field.number << 3 | 2) + varint(3) + b"abc"


async def implemented(raw: RawWorkflowService) -> list[str]:
    """The RPCs the server implements: those that do not answer an empty request with
    UNIMPLEMENTED."""
    served = []
    for rpc in RPCS:
        try:
            await raw.call_bytes(rpc, b"", timeout=DEADLINE_SECONDS)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                continue
        served.append(rpc)
    return served


def barrage(rng: random.Random, rpcs: list[str]):
    """(rpc, request bytes, valid protobuf?) triples."""
    for _ in range(COUNT):
        rpc = rng.choice(rpcs)
        message = getattr(workflowservice, rpc + "Request")()
        random_message(message, rng)
        # Mostly an existing namespace, so requests get past the first check.
        if "namespace" in message.DESCRIPTOR.fields_by_name and rng.random() < 0.7:
            message.namespace = "default"
        encoded = message.SerializeToString()
        kind = rng.random()
        if kind < 0.6:
            yield rpc, encoded, True
        elif kind < 0.8:
            yield rpc, wrong_wire_type(message, rng) + encoded, True
        elif kind < 0.9 and encoded:
            yield rpc, encoded[: rng.randrange(len(encoded))], False
        else:
            yield rpc, rng.randbytes(rng.randint(1, 40)), False


async def hostile_completions(raw: RawWorkflowService, rng: random.Random, task_queue: str) -> list[str]:
    """Real workflow tasks completed with random commands: the engine's validation, not the
    frontend's, has to answer."""
    problems = []
    for _ in range(max(COUNT // 10, 1)):
        await raw.call("StartWorkflowExecution", workflowservice.StartWorkflowExecutionRequest(
            namespace="default", workflow_id=f"fuzz-{uuid.uuid4()}", workflow_type=WorkflowType(name="Fuzz"),
            task_queue=TaskQueue(name=task_queue), request_id=str(uuid.uuid4())))
        task = await raw.call("PollWorkflowTaskQueue", workflowservice.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=task_queue), identity="fuzz"), timeout=DEADLINE_SECONDS)
        completion = workflowservice.RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity="fuzz")
        for _ in range(rng.randint(1, 3)):
            random_message(completion.commands.add(), rng)
        try:
            await raw.call("RespondWorkflowTaskCompleted", completion, timeout=DEADLINE_SECONDS)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED) or not error.details():
                problems.append(f"seed {SEED} completion {completion.SerializeToString().hex()[:300]}: "
                                f"{error.code().name} {error.details()[:200]!r}")
    return problems


async def test_malformed_requests_get_proper_statuses(temper, task_queue):
    rng = random.Random(SEED)
    raw = RawWorkflowService(temper.target)
    problems = []
    rpcs = await implemented(raw)
    assert len(rpcs) >= 35, rpcs
    for rpc, request, valid in barrage(rng, rpcs):
        try:
            await raw.call_bytes(rpc, request, timeout=DEADLINE_SECONDS)
            continue
        except grpc.aio.AioRpcError as error:
            code, details = error.code(), error.details()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and rpc.startswith(WAITING_CALLS):
            continue
        bad = code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        if valid and code == grpc.StatusCode.INTERNAL:
            bad = True
        if bad or not details:
            problems.append(f"seed {SEED} {rpc} {request.hex()[:200]}: {code.name} {details[:200]!r}")
    problems += await hostile_completions(raw, rng, task_queue)
    assert not problems, "\n".join(problems)
    panics = [line for line in temper.log_path.read_text(errors="replace").splitlines() if "panicked" in line]
    assert not panics, f"seed {SEED}: " + "\n".join(panics)
    # The same connection still serves, and so does the server: a workflow runs end to end.
    assert (await raw.call("GetSystemInfo", workflowservice.GetSystemInfoRequest())).server_version
    await raw.close()
    from temporalio.client import Client
    client = await Client.connect(temper.target)
    async with Worker(client, task_queue=task_queue, workflows=[SleepWorkflow]):
        result = await client.execute_workflow(SleepWorkflow.run, 0.1, id=f"after-{uuid.uuid4()}", task_queue=task_queue)
    assert result.startswith("slept")
    await asyncio.sleep(0)

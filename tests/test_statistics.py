"""Statistics of the workspace, workflows, task queues and workers, from a scripted workload.

A workload runs on the manual clock with every transition at a known instant; each test asks an
endpoint (through the real twilio client, strict schema on) and checks the exact figures.

The script (seconds after 2026-01-01T00:00:00Z; workflow "Main": type=='sales' -> Sales for 60 s
then Support, everything else -> Support; reservations time out after 30 s):

    0    alice Available (support), bob and carol Offline; task A (priority 5) -> reserved to alice
    10   alice accepts A (wait 10); task B (voice) -> reserved to alice
    40   B's reservation times out, alice goes Offline; task C (sales, priority 10) waits in Sales
    50   task D -> waits in Support
    55   D canceled (wait 5)
    60   carol Available -> B reserved to carol
    70   carol stops taking calls (voice capacity 0) and rejects B (so B is not offered to her again)
    100  C times out of Sales, moves to Support, reserved to carol
    120  carol accepts C (wait 80, 20 in Support)
    140  A completed                                    <- "now" for the tests
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from conftest import ACCOUNT_SID
from twilio.base.exceptions import TwilioRestException

from emulator.engine import history as hist
from emulator.engine import statistics as stats

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class QueueSids:
    """The body of the bulk real-time request (the client sends ``body.to_dict()`` as JSON)."""

    def __init__(self, *sids: str) -> None:
        self.sids = list(sids)

    def to_dict(self) -> dict:
        return {"QueueSids": self.sids}


def durations(avg, low, high, total) -> dict:
    return {"avg": avg, "min": low, "max": high, "total": total}


ZERO = durations(0, 0, 0, 0)


@pytest.fixture
def run(emu, client):
    """The scripted workload above, stopped at t=140; handles to everything in it."""
    w = client.taskrouter.v1.workspaces(client.taskrouter.v1.workspaces.create(friendly_name="Stats").sid)
    acts = {a.friendly_name: a.sid for a in w.activities.list()}
    support = w.task_queues.create(friendly_name="Support", target_workers="skills HAS 'support'")
    sales = w.task_queues.create(friendly_name="Sales", target_workers="skills HAS 'sales'")
    config = {"task_routing": {
        "filters": [{"filter_friendly_name": "sales", "expression": "type == 'sales'",
                     "targets": [{"queue": sales.sid, "timeout": 60}, {"queue": support.sid}]}],
        "default_filter": {"queue": support.sid}}}
    wf = w.workflows.create(friendly_name="Main", configuration=json.dumps(config), task_reservation_timeout=30)
    alice = w.workers.create(friendly_name="alice", attributes='{"skills": ["support"]}',
                             activity_sid=acts["Available"])
    bob = w.workers.create(friendly_name="bob", attributes='{"skills": ["sales"]}')
    carol = w.workers.create(friendly_name="carol", attributes='{"skills": ["support"]}')
    w.workers(bob.sid).worker_channels("voice").update(capacity=0)  # bob takes no calls

    def pending(task):
        return next(r for r in w.tasks(task.sid).reservations.list() if r.reservation_status == "pending")

    a = w.tasks.create(attributes='{"type": "support"}', priority=5)
    emu.clock.advance(10)
    w.tasks(a.sid).reservations(pending(a).sid).update(reservation_status="accepted")
    b = w.tasks.create(attributes='{"type": "support"}', task_channel="voice")
    emu.clock.advance(30)
    c = w.tasks.create(attributes='{"type": "sales"}', priority=10)
    emu.clock.advance(10)
    d = w.tasks.create(attributes='{"type": "support"}')
    emu.clock.advance(5)
    w.tasks(d.sid).update(assignment_status="canceled", reason="caller hung up")
    emu.clock.advance(5)
    w.workers(carol.sid).update(activity_sid=acts["Available"])
    emu.clock.advance(10)
    w.workers(carol.sid).worker_channels("voice").update(capacity=0)
    w.tasks(b.sid).reservations(pending(b).sid).update(reservation_status="rejected")
    emu.clock.advance(30)
    assert w.tasks(c.sid).fetch().task_queue_sid == support.sid
    emu.clock.advance(20)
    w.tasks(c.sid).reservations(pending(c).sid).update(reservation_status="accepted")
    emu.clock.advance(20)
    w.tasks(a.sid).update(assignment_status="completed")
    assert emu.clock.now() == at(140)
    return SimpleNamespace(w=w, acts=acts, support=support, sales=sales, wf=wf, alice=alice, bob=bob, carol=carol,
                           a=a, b=b, c=c, d=d)


def by_name(activity_statistics: list, key: str = "workers") -> dict:
    return {item["friendly_name"]: item[key] for item in activity_statistics}


# --- workspace ------------------------------------------------------------------------------------
def test_workspace_cumulative_counts_the_whole_workload(run):
    s = run.w.cumulative_statistics().fetch()
    assert (s.start_time, s.end_time) == (at(140) - timedelta(minutes=15), at(140))
    assert (s.tasks_created, s.tasks_canceled, s.tasks_completed, s.tasks_deleted, s.tasks_moved,
            s.tasks_timed_out_in_workflow) == (4, 1, 1, 0, 1, 0)
    assert (s.reservations_created, s.reservations_accepted, s.reservations_rejected, s.reservations_timed_out,
            s.reservations_canceled, s.reservations_rescinded) == (4, 2, 1, 1, 0, 0)
    assert s.wait_duration_until_accepted == durations(45, 10, 80, 90)
    assert s.avg_task_acceptance_time == 45
    assert s.wait_duration_until_canceled == durations(5, 5, 5, 5)
    assert s.split_by_wait_time is None


def test_workspace_real_time_shows_the_live_tasks_and_workers(run):
    s = run.w.real_time_statistics().fetch()
    assert s.tasks_by_status == {"pending": 1, "reserved": 0, "assigned": 1, "wrapping": 0}
    assert s.total_tasks == 2
    assert s.tasks_by_priority == {"10": 1, "0": 1}
    assert (s.longest_task_waiting_sid, s.longest_task_waiting_age) == (run.b.sid, 130)
    assert by_name(s.activity_statistics) == {"Offline": 2, "Available": 1, "Unavailable": 0}
    assert s.total_workers == 3


def test_workspace_statistics_combine_both(run):
    s = run.w.statistics().fetch(split_by_wait_time="10,60")
    assert s.realtime["total_tasks"] == 2
    assert s.cumulative["tasks_created"] == 4
    assert s.cumulative["start_time"] == "2025-12-31T23:47:20Z"
    # accepted after 10 and 80 s, canceled after 5 s; a wait equal to the threshold is "below"
    assert s.cumulative["split_by_wait_time"] == {
        "10": {"above": {"tasks_canceled": 0, "reservations_accepted": 1},
               "below": {"tasks_canceled": 1, "reservations_accepted": 1}},
        "60": {"above": {"tasks_canceled": 0, "reservations_accepted": 1},
               "below": {"tasks_canceled": 1, "reservations_accepted": 1}},
    }


# --- windows ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("params, expected", [
    # Minutes counts back from now (t=140): [80, 140] holds the move, C's reservation and acceptance, A's completion
    ({"minutes": 1}, dict(tasks_created=0, tasks_moved=1, tasks_completed=1, reservations_created=1,
                          reservations_accepted=1, reservations_rejected=0, reservations_timed_out=0)),
    # both ends are inclusive: t=10 (A accepted, B created and reserved) and t=40 (timeout, C created)
    ({"start_date": at(10), "end_date": at(40)},
     dict(tasks_created=2, tasks_moved=0, tasks_completed=0, reservations_created=1, reservations_accepted=1,
          reservations_rejected=0, reservations_timed_out=1)),
    ({"start_date": at(11), "end_date": at(39)},
     dict(tasks_created=0, tasks_moved=0, tasks_completed=0, reservations_created=0, reservations_accepted=0,
          reservations_rejected=0, reservations_timed_out=0)),
    # StartDate wins over Minutes; EndDate defaults to now
    ({"start_date": at(60), "minutes": 1000},
     dict(tasks_created=0, tasks_moved=1, tasks_completed=1, reservations_created=2, reservations_accepted=1,
          reservations_rejected=1, reservations_timed_out=0)),
])
def test_cumulative_windows(run, params, expected):
    s = run.w.cumulative_statistics().fetch(**params)
    assert {k: getattr(s, k) for k in expected} == expected
    assert s.end_time == params.get("end_date", at(140))


def test_the_default_window_is_the_last_15_minutes(run, emu):
    emu.clock.advance(15 * 60 - 140)  # t=900: t=0 is exactly 15 minutes ago, still inside
    assert run.w.cumulative_statistics().fetch().tasks_created == 4
    emu.clock.advance(11)  # t=911: A (t=0) and B (t=10) drop out
    s = run.w.cumulative_statistics().fetch()
    assert (s.tasks_created, s.reservations_created) == (2, 2)  # C (40) and D (50); R3 (60), R4 (100)
    emu.clock.advance(600)
    assert run.w.cumulative_statistics().fetch().tasks_created == 0
    assert run.w.cumulative_statistics().fetch(start_date=T0).tasks_created == 4


def test_task_channel_filters_tasks_reservations_and_staffed_workers(run):
    s = run.w.cumulative_statistics().fetch(task_channel="voice")
    assert (s.tasks_created, s.reservations_created, s.reservations_timed_out, s.reservations_rejected,
            s.reservations_accepted) == (1, 2, 1, 1, 0)
    assert s.wait_duration_until_accepted == ZERO
    rt = run.w.real_time_statistics().fetch(task_channel="voice")
    assert (rt.total_tasks, rt.longest_task_waiting_sid) == (1, run.b.sid)
    assert rt.total_workers == 1  # bob and, since t=70, carol take no calls (voice capacity 0)
    default = run.w.cumulative_statistics().fetch(task_channel="default")
    assert (default.tasks_created, default.reservations_accepted) == (3, 2)
    # a TaskChannel SID works like its unique name
    voice_sid = next(c.sid for c in run.w.task_channels.list() if c.unique_name == "voice")
    assert run.w.cumulative_statistics().fetch(task_channel=voice_sid).tasks_created == 1


# --- task queues -------------------------------------------------------------------------------------
def test_queue_cumulative(run):
    q = run.w.task_queues(run.support.sid).cumulative_statistics().fetch()
    assert q.task_queue_sid == run.support.sid
    assert (q.tasks_entered, q.tasks_canceled, q.tasks_completed, q.tasks_deleted, q.tasks_moved) == (4, 1, 1, 0, 0)
    assert (q.reservations_created, q.reservations_accepted, q.reservations_rejected,
            q.reservations_timed_out) == (4, 2, 1, 1)
    assert q.wait_duration_until_accepted == durations(45, 10, 80, 90)
    # A waited 10 s in Support, C 20 s (it entered Support at t=100)
    assert q.wait_duration_in_queue_until_accepted == durations(15, 10, 20, 30)
    sales = run.w.task_queues(run.sales.sid).cumulative_statistics().fetch()
    assert (sales.tasks_entered, sales.tasks_moved, sales.reservations_created) == (1, 1, 0)


def test_queue_real_time(run):
    q = run.w.task_queues(run.support.sid).real_time_statistics().fetch()
    assert q.tasks_by_status == {"pending": 1, "reserved": 0, "assigned": 1, "wrapping": 0}
    assert (q.longest_task_waiting_sid, q.longest_task_waiting_age) == (run.b.sid, 130)
    assert (q.longest_relative_task_sid_in_queue, q.longest_relative_task_age_in_queue) == (run.b.sid, 130)
    assert (q.total_eligible_workers, q.total_available_workers) == (2, 1)
    assert by_name(q.activity_statistics) == {"Offline": 1, "Available": 1, "Unavailable": 0}
    assert q.tasks_by_priority == {"10": 1, "0": 1}
    sales = run.w.task_queues(run.sales.sid).real_time_statistics().fetch()
    assert (sales.total_tasks, sales.total_eligible_workers, sales.total_available_workers) == (0, 1, 0)
    assert sales.longest_task_waiting_sid is None


def test_longest_relative_age_counts_from_entering_the_queue(run, emu):
    run.w.tasks(run.b.sid).update(assignment_status="canceled")
    run.w.workers(run.carol.sid).update(activity_sid=run.acts["Offline"])
    e = run.w.tasks.create(attributes='{"type": "sales"}')  # t=140, in Sales until t=200
    emu.clock.advance(10)
    f = run.w.tasks.create(attributes='{"type": "support"}')  # t=150, straight into Support
    emu.clock.advance(65)  # t=215
    assert run.w.tasks(e.sid).fetch().task_queue_sid == run.support.sid
    q = run.w.task_queues(run.support.sid).real_time_statistics().fetch()
    assert q.tasks_by_status["pending"] == 2
    assert (q.longest_task_waiting_sid, q.longest_task_waiting_age) == (e.sid, 75)
    assert (q.longest_relative_task_sid_in_queue, q.longest_relative_task_age_in_queue) == (f.sid, 65)


def test_queue_statistics_and_the_list_of_all_queues(run):
    both = run.w.task_queues(run.support.sid).statistics().fetch(minutes=1)
    assert both.realtime["total_tasks"] == 2
    assert both.cumulative["tasks_entered"] == 1  # C entered Support at t=100
    listed = {s.task_queue_sid: s for s in run.w.task_queues.statistics.list()}
    assert set(listed) == {run.support.sid, run.sales.sid}
    assert listed[run.sales.sid].cumulative["tasks_moved"] == 1
    assert listed[run.support.sid].realtime["total_eligible_workers"] == 2
    named = run.w.task_queues.statistics.list(friendly_name="Sales")
    assert [s.task_queue_sid for s in named] == [run.sales.sid]
    voice = {s.task_queue_sid: s for s in run.w.task_queues.statistics.list(task_channel="voice")}
    assert voice[run.support.sid].realtime["total_tasks"] == 1
    assert voice[run.support.sid].cumulative["reservations_created"] == 2


def test_bulk_real_time_statistics(run):
    unknown = "WQ" + "0" * 32
    s = run.w.task_queues.bulk_real_time_statistics.create(QueueSids(run.sales.sid, run.support.sid, unknown))
    assert s.task_queue_response_count == 3
    data = s.task_queue_data
    assert [d["task_queue_sid"] for d in data] == [run.sales.sid, run.support.sid, unknown]
    assert data[1]["total_tasks"] == 2 and data[1]["longest_task_waiting_sid"] == run.b.sid
    assert data[1]["total_eligible_workers"] == 2
    # a well-formed SID of no queue here answers with zeros, as the docs say
    assert (data[2]["total_tasks"], data[2]["total_eligible_workers"], data[2]["tasks_by_priority"]) == (0, 0, {})


# --- workflows ----------------------------------------------------------------------------------------
def test_workflow_statistics(run):
    cum = run.w.workflows(run.wf.sid).cumulative_statistics().fetch()
    assert cum.workflow_sid == run.wf.sid
    assert (cum.tasks_entered, cum.tasks_canceled, cum.tasks_completed, cum.tasks_moved,
            cum.tasks_timed_out_in_workflow, cum.reservations_created, cum.avg_task_acceptance_time) == \
        (4, 1, 1, 1, 0, 4, 45)
    rt = run.w.workflows(run.wf.sid).real_time_statistics().fetch()
    assert (rt.total_tasks, rt.longest_task_waiting_sid, rt.longest_task_waiting_age) == (2, run.b.sid, 130)
    both = run.w.workflows(run.wf.sid).statistics().fetch(start_date=at(100), end_date=at(120))
    assert both.cumulative["reservations_accepted"] == 1
    assert both.realtime["tasks_by_status"]["assigned"] == 1


# --- workers --------------------------------------------------------------------------------------------
def test_workers_cumulative_activity_durations(run):
    s = run.w.workers.cumulative_statistics().fetch()
    # stints up to now (t=140): alice Available 0-40 and Offline 40-140; bob Offline 0-140;
    # carol Offline 0-60 and Available 60-140
    assert {d["friendly_name"]: {k: d[k] for k in ("avg", "min", "max", "total")} for d in s.activity_durations} == {
        "Offline": durations(100, 60, 140, 300), "Available": durations(60, 40, 80, 120),
        "Unavailable": ZERO}
    assert (s.reservations_created, s.reservations_accepted, s.reservations_rejected,
            s.reservations_timed_out) == (4, 2, 1, 1)
    clipped = run.w.workers.cumulative_statistics().fetch(start_date=at(50), end_date=at(70))
    # 50-70: alice and bob Offline 20 s each, carol Offline 50-60 and Available 60-70
    assert by_name(clipped.activity_durations, "total") == {"Offline": 50, "Available": 10, "Unavailable": 0}


def test_workers_real_time(run):
    s = run.w.workers.real_time_statistics().fetch()
    assert s.total_workers == 3
    assert by_name(s.activity_statistics) == {"Offline": 2, "Available": 1, "Unavailable": 0}
    assert run.w.workers.real_time_statistics().fetch(task_channel="voice").total_workers == 1  # bob and carol: no calls


@pytest.mark.parametrize("filters, names, reservations", [
    ({}, {"alice", "bob", "carol"}, 4),
    ({"task_queue_sid": "sales"}, {"bob"}, 0),
    ({"task_queue_name": "Support"}, {"alice", "carol"}, 4),
    ({"friendly_name": "CAROL"}, {"carol"}, 2),
])
def test_workers_statistics_filters(run, filters, names, reservations):
    if filters.get("task_queue_sid") == "sales":
        filters = {"task_queue_sid": run.sales.sid}
    s = run.w.workers.statistics().fetch(**filters)
    assert s.realtime["total_workers"] == len(names)
    assert s.cumulative["reservations_created"] == reservations
    durations_total = sum(d["total"] for d in s.cumulative["activity_durations"])
    assert durations_total == 140 * len(names)


def test_one_worker(run):
    s = run.w.workers(run.carol.sid).statistics().fetch()
    assert s.worker_sid == run.carol.sid
    c = s.cumulative
    assert (c["reservations_created"], c["reservations_accepted"], c["reservations_rejected"]) == (2, 1, 1)
    assert by_name(c["activity_durations"], "total") == {"Offline": 60, "Available": 80, "Unavailable": 0}


# --- other endings ------------------------------------------------------------------------------------------
def test_rescinded_deleted_and_workflow_timeouts(emu, client):
    w = client.taskrouter.v1.workspaces(client.taskrouter.v1.workspaces.create(friendly_name="Endings").sid)
    available = next(a.sid for a in w.activities.list() if a.friendly_name == "Available")
    queue = w.task_queues.create(friendly_name="Q", max_reserved_workers=2)
    config = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
    direct = w.workflows.create(friendly_name="Direct", configuration=json.dumps(config))
    timing = {"task_routing": {"filters": [{"expression": "1==1", "targets": [{"queue": queue.sid, "timeout": 30}]}]}}
    short = w.workflows.create(friendly_name="Short", configuration=json.dumps(timing))
    w.workers.create(friendly_name="x", activity_sid=available)
    w.workers.create(friendly_name="y", activity_sid=available)
    offered = w.tasks.create(workflow_sid=direct.sid)
    first = w.tasks(offered.sid).reservations.list()
    assert len(first) == 2
    w.tasks(offered.sid).reservations(first[0].sid).update(reservation_status="accepted")  # the other is rescinded
    doomed = w.tasks.create(workflow_sid=direct.sid)  # reserved to the free worker, then deleted
    w.tasks(doomed.sid).delete()
    for worker in w.workers.list():
        w.workers(worker.sid).update(activity_sid=next(a.sid for a in w.activities.list() if a.friendly_name == "Offline"))
    w.tasks.create(workflow_sid=short.sid)
    emu.clock.advance(30)  # nobody takes it: the workflow's last target times out
    s = w.cumulative_statistics().fetch()
    assert (s.tasks_created, s.tasks_deleted, s.tasks_timed_out_in_workflow, s.tasks_canceled) == (3, 1, 1, 1)
    assert (s.reservations_created, s.reservations_accepted, s.reservations_rescinded,
            s.reservations_canceled) == (3, 1, 1, 1)
    assert s.wait_duration_until_canceled == durations(30, 30, 30, 30)
    assert w.workflows(short.sid).cumulative_statistics().fetch().tasks_timed_out_in_workflow == 1
    assert w.workflows(direct.sid).cumulative_statistics().fetch().tasks_deleted == 1
    assert w.task_queues(queue.sid).cumulative_statistics().fetch().tasks_deleted == 1
    assert w.workers.cumulative_statistics().fetch().reservations_rescinded == 1


# --- validation ----------------------------------------------------------------------------------------------
def rest_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


@pytest.mark.parametrize("params, words", [
    ({"minutes": 0}, "Minutes"),
    ({"minutes": 30 * 24 * 60 + 1}, "Minutes"),
    ({"start_date": T0 - timedelta(days=30, seconds=1)}, "30 days"),
    ({"start_date": at(100), "end_date": at(50)}, "EndDate"),
    ({"start_date": at(300)}, "EndDate"),
    ({"start_date": "yesterday"}, "StartDate"),
    ({"end_date": "2026-13-01T00:00:00Z"}, "EndDate"),
    ({"split_by_wait_time": "ten"}, "SplitByWaitTime"),
    ({"split_by_wait_time": "10,-5"}, "SplitByWaitTime"),
    ({"task_channel": "fax"}, "TaskChannel"),
])
def test_bad_windows_are_400s(workspace, params, words):
    fetches = [workspace.cumulative_statistics().fetch, workspace.statistics().fetch,
               workspace.task_queues(workspace.task_queues.list()[0].sid).cumulative_statistics().fetch]
    if "split_by_wait_time" not in params:  # the workers' statistics have no SplitByWaitTime
        fetches.append(workspace.workers.cumulative_statistics().fetch)
    for fetch in fetches:
        error = rest_error(lambda fetch=fetch: fetch(**params))
        assert (error.status, error.code) == (400, 20001)
        assert words in error.msg


def test_thirty_days_back_is_still_allowed(workspace, emu):
    emu.clock.advance(31 * 86_400)
    s = workspace.cumulative_statistics().fetch(start_date=emu.clock.now() - timedelta(days=30))
    assert s.tasks_created == 0


@pytest.mark.parametrize("sids, words", [
    ([], "between 1 and 50"),
    (["WQ%032x" % i for i in range(51)], "51 given"),
    (["WQ123"], "invalid format"),
    (["WK" + "0" * 32], "invalid format"),
])
def test_bulk_validation(workspace, sids, words):
    error = rest_error(lambda: workspace.task_queues.bulk_real_time_statistics.create(QueueSids(*sids)))
    assert (error.status, error.code) == (400, 20001)
    assert words in error.msg


def test_fifty_queues_are_allowed_in_bulk(workspace):
    sids = ["WQ%032x" % i for i in range(50)]
    assert workspace.task_queues.bulk_real_time_statistics.create(QueueSids(*sids)).task_queue_response_count == 50


def test_unknown_owners_are_404s(workspace):
    for call in (workspace.task_queues("WQ" + "0" * 32).real_time_statistics().fetch,
                 workspace.workflows("WW" + "0" * 32).cumulative_statistics().fetch,
                 workspace.workers("WK" + "0" * 32).statistics().fetch):
        assert rest_error(call).status == 404


# --- engine rules -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("20", (20,)), ("5, 10,5", (5, 10)), ("0", (0,)), (None, ())])
def test_thresholds(text, expected):
    assert stats.thresholds(text) == expected


@pytest.mark.parametrize("values, expected", [
    ([], ZERO), ([3], durations(3, 3, 3, 3)), ([1, 2], durations(2, 1, 2, 3)), ([1, 1, 2], durations(1, 1, 2, 4)),
])
def test_durations_round_the_average_half_up(values, expected):
    assert stats.durations(values) == expected


def test_timeline_stints_are_clipped_to_the_window():
    timeline = hist.Timeline([0.0, 10.0, 30.0, 50.0], ["A", "B", "A", None])
    assert list(timeline.stints(5.0, 100.0)) == [("A", 5.0), ("B", 20.0), ("A", 20.0)]
    assert list(timeline.stints(12.0, 20.0)) == [("B", 8.0)]
    assert list(timeline.stints(60.0, 100.0)) == []


def channel_history() -> hist.History:
    """Acceptances in queue WQ1 on two channels and on none, with and without waits."""
    h = hist.History()
    for t, channel, wait, queue_wait in ((10.0, "TCa", 3, 2), (20.0, "TCb", 7, None), (30.0, None, None, None),
                                         (40.0, "TCa", None, None), (50.0, "TCb", 9, 4)):
        h._add("reservations_accepted", t, channel, True, q="WQ1", wait=wait, queue_wait=queue_wait)
    return h


@pytest.mark.parametrize("scope, channel, lo, hi, count, waits, queue_waits", [
    (("ws", None), None, 0.0, 100.0, 5, [3, 7, 9], [2, 4]),
    (("q", "WQ1"), None, 15.0, 45.0, 3, [7], []),
    (("q", "WQ1"), "TCa", 0.0, 100.0, 2, [3], [2]),
    (("ws", None), "TCb", 0.0, 20.0, 1, [7], []),
    (("ws", None), "TCc", 0.0, 100.0, 0, [], []),
    (("q", "WQ2"), None, 0.0, 100.0, 0, [], []),
])
def test_a_figure_on_all_channels_is_the_sum_of_its_channels(scope, channel, lo, hi, count, waits, queue_waits):
    series = channel_history().get("reservations_accepted", scope, channel)
    got_waits, got_queue_waits = series.waits_in(lo, hi)
    assert series.count(lo, hi) == count
    # the waits are samples (None: an instant without one)
    assert sorted(w for w in got_waits if w is not None) == waits
    assert sorted(w for w in got_queue_waits if w is not None) == queue_waits


def test_the_event_log_is_digested_once(run, emu, monkeypatch):
    run.w.cumulative_statistics().fetch()
    digested = []
    original = hist.History.digest
    monkeypatch.setattr(hist.History, "digest", lambda self, event: (digested.append(event.event_type),
                                                                      original(self, event)))
    run.w.cumulative_statistics().fetch()
    assert digested == []  # nothing new since the last query
    run.w.tasks(run.c.sid).update(assignment_status="wrapping")
    s = run.w.cumulative_statistics().fetch()
    assert digested == ["reservation.wrapup", "task.wrapup"]  # only what happened since
    assert s.tasks_completed == 1


def naive_real_time(ws, match) -> dict:
    """What the real-time figures must be, by walking every task."""
    active = [t for t in ws.tasks.values() if t.assignment_status in hist.ACTIVE and match(t)]
    waiting = [t for t in active if t.assignment_status in hist.WAITING]
    oldest = min(waiting, key=lambda t: t.date_created, default=None)
    by_priority = {}
    for t in active:
        by_priority[str(t.priority)] = by_priority.get(str(t.priority), 0) + 1
    return {"tasks_by_status": {s: sum(1 for t in active if t.assignment_status == s) for s in hist.ACTIVE},
            "tasks_by_priority": by_priority, "longest_task_waiting_sid": oldest.sid if oldest else None}


def test_live_task_figures_match_a_walk_over_every_task(run, emu):
    ws = emu.backend.get_workspace(ACCOUNT_SID, run.w._solution["sid"])
    voice = next(c.sid for c in ws.task_channels.values() if c.unique_name == "voice")
    scopes = {"workspace": (lambda: stats.workspace_realtime(ws, None), lambda t: True),
              "voice": (lambda: stats.workspace_realtime(ws, voice), lambda t: t.task_channel_sid == voice),
              "workflow": (lambda: stats.workflow_realtime(ws, run.wf.sid, None), lambda t: t.workflow_sid == run.wf.sid),
              "support": (lambda: stats.queue_realtime(ws, run.support.sid, None),
                          lambda t: t.task_queue_sid == run.support.sid),
              "sales": (lambda: stats.queue_realtime(ws, run.sales.sid, None), lambda t: t.task_queue_sid == run.sales.sid)}

    def check():
        for name, (figures, match) in scopes.items():
            got = figures()
            assert {k: got[k] for k in ("tasks_by_status", "tasks_by_priority", "longest_task_waiting_sid")} == \
                naive_real_time(ws, match), name

    check()
    tasks = [run.w.tasks.create(attributes=json.dumps({"type": kind}), priority=p)
             for kind, p in (("sales", 1), ("support", 7), ("sales", 7), ("support", 0))]
    check()
    run.w.tasks(tasks[1].sid).update(priority=9)
    run.w.tasks(tasks[3].sid).update(task_channel="voice")
    check()
    emu.clock.advance(70)  # sales tasks move on to Support, reservations time out
    check()
    run.w.tasks(tasks[0].sid).update(assignment_status="canceled")
    run.w.tasks(tasks[2].sid).delete()
    run.w.tasks(run.c.sid).update(assignment_status="completed")
    check()
    emu.clock.advance(400)  # finished tasks are deleted without events
    check()

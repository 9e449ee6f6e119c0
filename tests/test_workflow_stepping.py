"""Workflow stepping through the real client: which filter and target a task lands in, how it
steps on timeouts, skip_if, priority, order_by, known-worker routing, re-evaluation, and the
clean-up rules around them.

Reference: https://www.twilio.com/docs/taskrouter/workflow-configuration,
https://www.twilio.com/docs/taskrouter/lifecycle-task-workflows-and-assignment,
https://www.twilio.com/docs/taskrouter/worker-presence (skip_if),
https://www.twilio.com/docs/taskrouter/order-workers, and the Reservations page for instructions.
"""

from __future__ import annotations

import json

import pytest
from test_routing import activity, make_workspace, queue_workflow, reservations, worker, workflow
from twilio.base.exceptions import TwilioRestException

from emulator.engine import lifecycle


@pytest.fixture
def ws(client):
    ws = make_workspace(client)
    ws.q = {name: ws.task_queues.create(friendly_name=name, target_workers=f"team == '{name}'").sid
            for name in ("A", "B", "C")}
    ws.name_of = {sid: name for name, sid in ws.q.items()}
    return ws


def config(ws, filters, default=None) -> dict:
    """Replace queue names A/B/C by their SIDs in a routing document."""
    def fix(target):
        return {k: (ws.q[v] if k == "queue" else v) for k, v in target.items()}
    routing = {"filters": [{"expression": f["expression"], "targets": [fix(t) for t in f["targets"]],
                            **({"filter_friendly_name": f["name"]} if "name" in f else {})} for f in filters]}
    if default is not None:
        routing["default_filter"] = fix(default)
    return routing


def queue_of(ws, task_sid):
    sid = ws.tasks(task_sid).fetch().task_queue_sid
    return ws.name_of.get(sid) if sid else None


# --- which filter and target ----------------------------------------------------------------------
FILTERS = [
    {"name": "vip", "expression": "vip == true", "targets": [{"queue": "A"}]},
    {"name": "es", "expression": "lang == 'es' OR lang == 'pt'", "targets": [{"queue": "B"}]},
    {"name": "all", "expression": "1==1", "targets": [{"queue": "C"}]},
]


@pytest.mark.parametrize("attributes, default, expected, filter_name", [
    ({"vip": True, "lang": "es"}, None, "A", "vip"),  # first match wins, later matches ignored
    ({"lang": "pt"}, None, "B", "es"),
    ({"lang": "de"}, None, "C", "all"),
    ({}, None, "C", "all"),  # missing keys are NULL: vip == true is false
])
def test_first_matching_filter(ws, attributes, default, expected, filter_name):
    wf = workflow(ws, config(ws, FILTERS, default))
    task = ws.tasks.create(attributes=json.dumps(attributes), workflow_sid=wf.sid)
    assert queue_of(ws, task.sid) == expected
    matched = [e for e in ws.events.list(task_sid=task.sid) if e.event_type == "workflow.target-matched"]
    assert matched[0].event_data["workflow_filter_name"] == filter_name


@pytest.mark.parametrize("attributes, expected", [({"vip": True}, "A"), ({"vip": False}, "B"), ({}, "B")])
def test_default_filter_only_when_nothing_matches(ws, attributes, expected):
    wf = workflow(ws, config(ws, FILTERS[:1], {"queue": "B"}))
    task = ws.tasks.create(attributes=json.dumps(attributes), workflow_sid=wf.sid)
    assert queue_of(ws, task.sid) == expected


def test_no_filter_and_no_default_leaves_the_task_pending_outside_any_queue(ws):
    wf = workflow(ws, config(ws, FILTERS[:1]))
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid).fetch()
    assert (task.assignment_status, task.task_queue_sid) == ("pending", None)


# --- stepping by timeout ----------------------------------------------------------------------------
STEPS = [{"name": "steps", "expression": "1==1", "targets": [
    {"queue": "A", "timeout": 10, "priority": 3},
    {"timeout": 20},  # inherits queue A; priority stays 3
    {"queue": "B", "timeout": 30, "priority": 9},
    {"queue": "C", "timeout": 40}]}]


@pytest.mark.parametrize("elapsed, queue, priority, status", [
    (0, "A", 3, "pending"),
    (9, "A", 3, "pending"),
    (10, "A", 3, "pending"),  # second target: same (inherited) queue
    (29, "A", 3, "pending"),
    (30, "B", 9, "pending"),
    (59, "B", 9, "pending"),
    (60, "C", 9, "pending"),  # no priority on the target: the task keeps 9
    (99, "C", 9, "pending"),
    (100, "C", 9, "canceled"),  # the last target's timeout cancels the task
])
def test_targets_step_by_timeout(emu, ws, elapsed, queue, priority, status):
    wf = workflow(ws, config(ws, STEPS))
    task = ws.tasks.create(attributes="{}", priority=1, workflow_sid=wf.sid)
    emu.clock.advance(elapsed)
    fetched = ws.tasks(task.sid).fetch()
    assert (queue_of(ws, task.sid), fetched.priority, fetched.assignment_status) == (queue, priority, status)
    if status == "canceled":
        assert fetched.reason == "Workflow Timeout"
        types = [e.event_type for e in ws.events.list(task_sid=task.sid)]
        assert types.count("task-queue.timeout") == 4 and types.count("task-queue.moved") == 3
        assert types[-2:] == ["workflow.timeout", "task.canceled"]


def test_target_timeout_rescinds_offers_in_the_old_queue(emu, ws):
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [{"queue": "A", "timeout": 10},
                                                                      {"queue": "B"}]}]))
    a = worker(ws, "a", team="A")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [offer] = reservations(ws, task.sid)
    emu.clock.advance(10)
    assert ws.tasks(task.sid).reservations(offer.sid).fetch().reservation_status == "rescinded"
    assert (queue_of(ws, task.sid), ws.tasks(task.sid).fetch().assignment_status) == ("B", "pending")
    b = worker(ws, "b", team="B")
    assert [r.worker_sid for r in reservations(ws, task.sid, status="pending")] == [b.sid]
    assert a.sid != b.sid


@pytest.mark.parametrize("target_priority, task_priority, expected", [(None, 4, 4), (None, None, 0), (7, 4, 7),
                                                                       (7, None, 7)])
def test_target_priority_overrides_the_task_priority(ws, target_priority, task_priority, expected):
    target = {"queue": "A", **({"priority": target_priority} if target_priority is not None else {})}
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [target]}]))
    kwargs = {"priority": task_priority} if task_priority is not None else {}
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid, **kwargs)
    assert ws.tasks(task.sid).fetch().priority == expected


# --- skip_if --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("skip_if, a_workers, expected", [
    ("workers.available == 0", [], "B"),
    ("workers.available == 0", ["Available"], "A"),
    ("workers.available == 0", ["Offline"], "B"),  # an offline member is not available
    ("workers.unavailable > 0", ["Offline"], "B"),
    ("workers.unavailable > 0", ["Available"], "A"),
    ("workers.OFFLINE >= 2", ["Offline", "Offline"], "B"),  # count of members in that activity
    ("workers.OFFLINE >= 2", ["Offline", "Available"], "A"),
    ("1==1", [], "B"),
    ("1==2", [], "A"),
])
def test_skip_if(ws, skip_if, a_workers, expected):
    skip_if = skip_if.replace("OFFLINE", ws.offline)
    for i, name in enumerate(a_workers):
        ws.workers.create(friendly_name=f"w{i}", attributes='{"team": "A"}', activity_sid=activity(ws, name))
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [
        {"queue": "A", "skip_if": skip_if, "timeout": 100}, {"queue": "B"}]}]))
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    assert queue_of(ws, task.sid) == expected


# --- worker selection -------------------------------------------------------------------------------------
@pytest.mark.parametrize("order_by, expected", [
    ("worker.level DESC", "high"),
    ("worker.level ASC", "low"),
    ("worker.missing ASC", "low"),  # nobody has it: longest idle (first created) wins
    ("worker.rank ASC, worker.level DESC", "mid"),  # first clause ties, second decides
])
def test_order_by(emu, ws, order_by, expected):
    workers = {}
    for name, level in (("low", 1), ("mid", 5), ("high", 9)):
        workers[name] = worker(ws, name, team="A", level=level, rank=1 if name != "low" else 2).sid
        emu.clock.advance(1)
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [{"queue": "A", "order_by": order_by}]}]))
    if order_by.startswith("worker.rank"):
        ws.workers(workers["high"]).update(attributes=json.dumps({"team": "A", "level": 4, "rank": 1}))
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [offer] = reservations(ws, task.sid)
    assert offer.worker_sid == workers[expected]


def test_longest_idle_worker_first(emu, ws):
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [{"queue": "A"}]}]))
    first, second = worker(ws, "first", team="A"), worker(ws, "second", team="A")
    t1 = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [r1] = reservations(ws, t1.sid)
    assert r1.worker_sid == first.sid
    emu.clock.advance(1)
    ws.tasks(t1.sid).reservations(r1.sid).update(reservation_status="accepted")
    ws.tasks(t1.sid).update(assignment_status="completed")
    emu.clock.advance(5)
    t2 = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    assert [r.worker_sid for r in reservations(ws, t2.sid)] == [second.sid]  # first just worked


@pytest.mark.parametrize("key, attribute, expected", [
    ("known_worker_sid", "sid", "b"),
    ("known_worker_friendly_name", "name", "b"),
    ("known_worker_sid", "nobody", None),  # names no worker: the task waits in the step
])
def test_known_worker(ws, key, attribute, expected):
    a, b = worker(ws, "a", team="A"), worker(ws, "b", team="A")
    value = {"sid": b.sid, "name": "b", "nobody": "WK" + "0" * 32}[attribute]
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [{"queue": "A", key: "task.agent"}]}]))
    task = ws.tasks.create(attributes=json.dumps({"agent": value}), workflow_sid=wf.sid)
    offered = [r.worker_sid for r in reservations(ws, task.sid)]
    assert offered == ([] if expected is None else [{"a": a.sid, "b": b.sid}[expected]])


def test_target_expression_sees_task_and_worker(ws):
    wf = workflow(ws, config(ws, [{"expression": "1==1", "targets": [
        {"queue": "A", "expression": "worker.languages HAS task.lang"}]}]))
    worker(ws, "en", team="A", languages=["en"])
    es = worker(ws, "es", team="A", languages=["es", "en"])
    task = ws.tasks.create(attributes='{"lang": "es"}', workflow_sid=wf.sid)
    assert [r.worker_sid for r in reservations(ws, task.sid)] == [es.sid]


# --- re-evaluation ------------------------------------------------------------------------------------------
def test_attribute_update_reroutes_a_reserved_task_and_rescinds_its_offer(ws):
    wf = workflow(ws, config(ws, [{"expression": "lang == 'es'", "targets": [{"queue": "B"}]}], {"queue": "A"}))
    a, b = worker(ws, "a", team="A"), worker(ws, "b", team="B")
    task = ws.tasks.create(attributes='{"lang": "en"}', workflow_sid=wf.sid)
    [offer] = reservations(ws, task.sid)
    assert (offer.worker_sid, queue_of(ws, task.sid)) == (a.sid, "A")
    ws.tasks(task.sid).update(attributes='{"lang": "es"}')
    assert ws.tasks(task.sid).reservations(offer.sid).fetch().reservation_status == "rescinded"
    assert queue_of(ws, task.sid) == "B"
    assert [r.worker_sid for r in reservations(ws, task.sid, status="pending")] == [b.sid]
    assert ws.tasks(task.sid).fetch().assignment_status == "reserved"
    # an assigned task is not re-routed
    [mine] = reservations(ws, task.sid, status="pending")
    ws.tasks(task.sid).reservations(mine.sid).update(reservation_status="accepted")
    ws.tasks(task.sid).update(attributes='{"lang": "en"}')
    assert (queue_of(ws, task.sid), ws.tasks(task.sid).fetch().assignment_status) == ("B", "assigned")


@pytest.mark.parametrize("re_evaluate, expected", [(True, "B"), (False, "A")])
def test_workflow_update_reevaluates_pending_tasks_only_when_asked(ws, re_evaluate, expected):
    wf = workflow(ws, config(ws, [], {"queue": "A"}))
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    ws.workflows(wf.sid).update(configuration=json.dumps({"task_routing": config(ws, [], {"queue": "B"})}),
                                re_evaluate_tasks=re_evaluate)
    assert queue_of(ws, task.sid) == expected


# --- limits and clean-up ------------------------------------------------------------------------------------
def test_reservation_attempts_count_transitions_not_offers(ws, monkeypatch):
    """Canceled after MAX pending->reserved transitions; an offer to two workers counts once."""
    monkeypatch.setattr(lifecycle, "MAX_RESERVATION_ATTEMPTS", 3)
    queue = ws.task_queues.create(friendly_name="Multi", max_reserved_workers=2, target_workers="team == 'M'")
    wf = workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}})
    for i in range(6):
        worker(ws, f"m{i}", team="M")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    for _round in range(3):
        offers = reservations(ws, task.sid, status="pending")
        assert len(offers) == 2
        assert ws.tasks(task.sid).fetch().assignment_status == "reserved"
        for offer in offers:
            ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="rejected")
    canceled = ws.tasks(task.sid).fetch()
    assert (canceled.assignment_status, canceled.reason) == ("canceled", lifecycle.ATTEMPTS_REASON)
    assert len(reservations(ws, task.sid, status="rejected")) == 6


def test_assigned_task_is_deleted_by_the_system_after_24_hours(emu, ws):
    wf = workflow(ws, config(ws, [], {"queue": "A"}))
    a = worker(ws, "a", team="A")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    waiting = ws.tasks.create(attributes="{}", workflow_sid=wf.sid, timeout=2 * 86_400)
    [offer] = reservations(ws, task.sid)
    emu.clock.advance(60)
    ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="accepted")
    emu.clock.advance(86_399)  # 24 hours count from the acceptance
    assert ws.tasks(task.sid).fetch().assignment_status == "assigned"
    assert reservations(ws, waiting.sid) == []
    emu.clock.advance(1)
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).fetch()
    assert info.value.status == 404
    events = ws.events.list(task_sid=task.sid, minutes=60 * 25)
    assert events[-1].event_type == "task.system-deleted"
    # its capacity is freed and goes to the waiting task
    assert ws.workers(a.sid).worker_channels("default").fetch().assigned_tasks == 0
    assert [r.worker_sid for r in reservations(ws, waiting.sid)] == [a.sid]


def test_completed_task_is_not_system_deleted(emu, ws):
    wf = workflow(ws, config(ws, [], {"queue": "A"}))
    worker(ws, "a", team="A")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [offer] = reservations(ws, task.sid)
    ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="accepted")
    ws.tasks(task.sid).update(assignment_status="completed")
    emu.clock.advance(90_000)
    assert "task.system-deleted" not in [e.event_type for e in ws.events.list(minutes=60 * 26)]


# --- post-work activity -----------------------------------------------------------------------------------
@pytest.fixture
def single(client):
    ws = make_workspace(client, multi_task_enabled=False)
    ws.busy = ws.activities.create(friendly_name="Busy", available=False).sid
    ws.wrap = ws.activities.create(friendly_name="Wrap Up", available=False).sid
    queue, ws.wf = queue_workflow(ws, assignment_activity_sid=ws.busy)
    ws.w = worker(ws, "w", contact_uri="client:w")
    return ws


@pytest.mark.parametrize("instruction, params, moves_on", [
    ("conference", {"post_work_activity_sid": "WRAP", "from_": "+15550001111"}, "wrapping"),
    ("conference", {"post_work_activity_sid": "WRAP"}, "completed"),
    ("dequeue", {"dequeue_post_work_activity_sid": "WRAP", "dequeue_from": "+15550001111"}, "wrapping"),
    ("conference", {}, None),
])
def test_post_work_activity_applies_when_the_work_is_done(single, instruction, params, moves_on):
    ws = single
    params = {k: (ws.wrap if v == "WRAP" else v) for k, v in params.items()}
    task = ws.tasks.create(attributes='{"call_sid": "CA1"}', workflow_sid=ws.wf.sid)
    [offer] = reservations(ws, task.sid)
    assert ws.tasks(task.sid).reservations(offer.sid).update(instruction=instruction, **params) \
        .reservation_status == "accepted"
    assert ws.workers(ws.w.sid).fetch().activity_sid == ws.busy  # AssignmentActivity while working
    ws.tasks(task.sid).update(assignment_status=moves_on or "completed")
    expected = ws.wrap if moves_on else ws.busy
    assert ws.workers(ws.w.sid).fetch().activity_sid == expected
    if moves_on == "wrapping":
        ws.tasks(task.sid).update(assignment_status="completed")
        assert ws.workers(ws.w.sid).fetch().activity_sid == ws.wrap


def test_post_work_activity_is_refused_in_multitasking_workspaces(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws)
    worker(ws, "w")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [offer] = reservations(ws, task.sid)
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).reservations(offer.sid).update(instruction="conference", post_work_activity_sid=ws.offline)
    assert info.value.status == 400 and "multi-tasking" in info.value.msg
    assert ws.tasks(task.sid).reservations(offer.sid).fetch().reservation_status == "pending"


@pytest.mark.parametrize("params", [
    {"instruction": "dequeue", "dequeue_from": "+1", "dequeue_timeout": 1000},
    {"instruction": "dequeue", "dequeue_from": "+1", "dequeue_record": "always"},
    {"instruction": "dequeue", "dequeue_from": "+1", "dequeue_status_callback_event": ["hung-up"]},
    {"instruction": "call", "call_from": "+1", "call_url": "https://x", "call_timeout": 0},
    {"instruction": "conference", "timeout": 1000},
    {"instruction": "conference", "post_work_activity_sid": "WA" + "0" * 32},
])
def test_instruction_options_are_validated(single, params):
    ws = single
    task = ws.tasks.create(attributes="{}", workflow_sid=ws.wf.sid)
    [offer] = reservations(ws, task.sid)
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).reservations(offer.sid).update(**params)
    assert info.value.status == 400
    assert ws.tasks(task.sid).reservations(offer.sid).fetch().reservation_status == "pending"

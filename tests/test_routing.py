"""Routing: workflows, queues, reservations and their timers, through the real client."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

from emulator.engine import lifecycle
from emulator.engine.routing.index import build_index


def activity(ws, name):
    return next(a.sid for a in ws.activities.list() if a.friendly_name == name)


def make_workspace(client, **kwargs):
    instance = client.taskrouter.v1.workspaces.create(friendly_name="Routing", **kwargs)
    ws = client.taskrouter.v1.workspaces(instance.sid)
    ws.available = activity(ws, "Available")
    ws.offline = activity(ws, "Offline")
    return ws


def workflow(ws, routing, **kwargs):
    return ws.workflows.create(friendly_name="wf", configuration=json.dumps({"task_routing": routing}), **kwargs)


def queue_workflow(ws, **queue_kwargs):
    """A queue ("Q" unless named) and a workflow sending every task to it: ``(queue, workflow)``."""
    queue = ws.task_queues.create(**{"friendly_name": "Q", **queue_kwargs})
    return queue, workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}})


def worker(ws, name, available=True, **attributes):
    return ws.workers.create(friendly_name=name, attributes=json.dumps(attributes),
                             activity_sid=ws.available if available else ws.offline)


def reservations(ws, task=None, worker_sid=None, status=None):
    kwargs = {"reservation_status": status} if status else {}
    if task is not None:
        return ws.tasks(task).reservations.list(**kwargs)
    return ws.workers(worker_sid).reservations.list(**kwargs)


def res_status(ws, task_sid, reservation_sid):
    return ws.tasks(task_sid).reservations(reservation_sid).fetch().reservation_status



def drain_order(ws, worker, task_sids: list) -> list:
    """Make ``worker`` available once per task, accept and complete what it is offered, and
    return the positions (in ``task_sids``) of the tasks in the order they were offered."""
    order = []
    for _ in task_sids:
        ws.workers(worker.sid).update(activity_sid=ws.available)
        [r] = reservations(ws, worker_sid=worker.sid, status="pending")
        order.append(task_sids.index(r.task_sid))
        ws.workers(worker.sid).reservations(r.sid).update(reservation_status="accepted")
        ws.workers(worker.sid).reservations(r.sid).update(reservation_status="completed")
        ws.workers(worker.sid).update(activity_sid=ws.offline)
    return order

def test_skills_routing(client):
    ws = make_workspace(client)
    sales = ws.task_queues.create(friendly_name="Sales", target_workers="skills HAS 'sales'")
    support = ws.task_queues.create(friendly_name="Support", target_workers="skills HAS 'support'")
    wf = workflow(ws, {"filters": [{"expression": "type == 'sales'", "targets": [{"queue": sales.sid}]},
                                   {"expression": "type == 'support'", "targets": [{"queue": support.sid}]}]})
    alice = worker(ws, "alice", skills=["sales"])
    bob = worker(ws, "bob", skills=["support"])
    task = ws.tasks.create(attributes=json.dumps({"type": "support"}), workflow_sid=wf.sid)
    fetched = ws.tasks(task.sid).fetch()
    assert (fetched.task_queue_sid, fetched.assignment_status) == (support.sid, "reserved")
    [r] = reservations(ws, task.sid)
    assert (r.worker_sid, r.reservation_status) == (bob.sid, "pending")
    assert [x.sid for x in reservations(ws, worker_sid=bob.sid)] == [r.sid]
    assert reservations(ws, worker_sid=alice.sid) == []
    types = [e.event_type for e in ws.events.list(task_sid=task.sid)]
    for expected in ("workflow.entered", "workflow.target-matched", "task-queue.entered", "reservation.created"):
        assert expected in types
    # no filter matches and no default filter: pending without a queue
    lost = ws.tasks.create(attributes=json.dumps({"type": "other"}), workflow_sid=wf.sid).fetch()
    assert (lost.assignment_status, lost.task_queue_sid) == ("pending", None)
    # accept then complete
    accepted = ws.tasks(task.sid).reservations(r.sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert ws.tasks(task.sid).fetch().assignment_status == "assigned"
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).reservations(r.sid).update(reservation_status="accepted")
    assert info.value.status == 400 and "is not pending" in info.value.msg
    ws.workers(bob.sid).reservations(r.sid).update(reservation_status="completed")
    assert ws.tasks(task.sid).fetch().assignment_status == "completed"


def test_priority_and_lifo_order(emu, client):
    ws = make_workspace(client)
    fifo = ws.task_queues.create(friendly_name="FIFO")
    lifo = ws.task_queues.create(friendly_name="LIFO", task_order="LIFO", target_workers="lifo == true")
    wf = workflow(ws, {"filters": [{"expression": "lifo == true", "targets": [{"queue": lifo.sid}]}],
                       "default_filter": {"queue": fifo.sid}})
    sids = []
    for priority in (1, 5, 3):
        sids.append(ws.tasks.create(attributes="{}", priority=priority, workflow_sid=wf.sid).sid)
        emu.clock.advance(1)
    w = worker(ws, "w", available=False)
    order = drain_order(ws, w, sids)
    assert order == [1, 2, 0]
    lifo_sids = []
    for priority in (9, 1, 5):
        lifo_sids.append(ws.tasks.create(attributes='{"lifo": true}', priority=priority, workflow_sid=wf.sid).sid)
        emu.clock.advance(1)
    lifo_worker = worker(ws, "l", available=False, lifo=True)
    order = drain_order(ws, lifo_worker, lifo_sids)
    assert order == [2, 1, 0]


def test_reject_reoffers_to_another_worker(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws)
    a = worker(ws, "a")
    b = worker(ws, "b")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [r1] = reservations(ws, task.sid)
    assert r1.worker_sid == a.sid
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).reservations(r1.sid).update(reservation_status="rejected",
                                                       worker_activity_sid="WA" + "0" * 32)
    assert info.value.status == 400
    ws.tasks(task.sid).reservations(r1.sid).update(reservation_status="rejected", worker_activity_sid=ws.offline)
    assert ws.workers(a.sid).fetch().activity_sid == ws.offline
    pending = reservations(ws, task.sid, status="pending")
    assert [r.worker_sid for r in pending] == [b.sid]
    ws.tasks(task.sid).reservations(pending[0].sid).update(reservation_status="rejected")
    # b stays available, so the task is offered to her again (the real service leaves such loops
    # to its 1,000-attempt cancel); rejecting to Offline ends it, and a, back, is offered it
    [again] = reservations(ws, task.sid, status="pending")
    assert again.worker_sid == b.sid
    ws.tasks(task.sid).reservations(again.sid).update(reservation_status="rejected", worker_activity_sid=ws.offline)
    assert ws.tasks(task.sid).fetch().assignment_status == "pending"
    ws.workers(a.sid).update(activity_sid=ws.available)
    assert [r.worker_sid for r in reservations(ws, task.sid, status="pending")] == [a.sid]


def test_reservation_timeout_moves_worker_offline_and_reoffers(emu, client):
    ws = make_workspace(client)
    queue = ws.task_queues.create(friendly_name="Q")
    wf = workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}}, task_reservation_timeout=30)
    a = worker(ws, "a")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    b = worker(ws, "b")  # b is busy-free but a already holds the only reservation
    [r1] = reservations(ws, task.sid)
    assert r1.worker_sid == a.sid
    emu.clock.advance(29)
    assert res_status(ws, task.sid, r1.sid) == "pending"
    emu.clock.advance(1)
    assert res_status(ws, task.sid, r1.sid) == "timeout"
    assert ws.workers(a.sid).fetch().activity_sid == ws.offline
    [r2] = reservations(ws, task.sid, status="pending")
    assert r2.worker_sid == b.sid
    assert "reservation.timeout" in [e.event_type for e in ws.events.list(task_sid=task.sid)]


def test_target_timeout_moves_and_last_target_cancels(emu, client):
    ws = make_workspace(client)
    first = ws.task_queues.create(friendly_name="First", target_workers="tier == 1")
    second = ws.task_queues.create(friendly_name="Second", target_workers="tier == 2")
    wf = workflow(ws, {"filters": [{"expression": "1==1", "targets": [
        {"queue": first.sid, "timeout": 60}, {"queue": second.sid, "timeout": 60, "priority": 7}]}]})
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    assert ws.tasks(task.sid).fetch().task_queue_sid == first.sid
    emu.clock.advance(60)
    moved = ws.tasks(task.sid).fetch()
    assert (moved.task_queue_sid, moved.priority, moved.assignment_status) == (second.sid, 7, "pending")
    types = [e.event_type for e in ws.events.list(task_sid=task.sid)]
    assert "task-queue.timeout" in types and "task-queue.moved" in types
    emu.clock.advance(60)
    canceled = ws.tasks(task.sid).fetch()
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "Workflow Timeout")
    assert "workflow.timeout" in [e.event_type for e in ws.events.list(task_sid=task.sid)]
    # a task assigned before the timeout stays put
    worker(ws, "tier1", tier=1)
    kept = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [r] = reservations(ws, kept.sid)
    ws.tasks(kept.sid).reservations(r.sid).update(reservation_status="accepted")
    emu.clock.advance(200)
    assert ws.tasks(kept.sid).fetch().assignment_status == "assigned"


def test_ttl_cancels_a_reserved_task_and_finished_tasks_go_after_five_minutes(emu, client):
    ws = make_workspace(client)
    queue = ws.task_queues.create(friendly_name="Q")
    wf = workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}}, task_reservation_timeout=600)
    w = worker(ws, "w")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid, timeout=100)
    [r] = reservations(ws, task.sid)
    emu.clock.advance(100)
    expired = ws.tasks(task.sid).fetch()
    assert (expired.assignment_status, expired.reason) == ("canceled", "Task TTL Exceeded")
    assert res_status(ws, task.sid, r.sid) == "canceled"
    # the worker is free again: the next task is offered to it
    done = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [r2] = reservations(ws, done.sid)
    assert r2.worker_sid == w.sid
    ws.tasks(done.sid).reservations(r2.sid).update(reservation_status="accepted")
    ws.tasks(done.sid).update(assignment_status="completed")
    emu.clock.advance(299)
    assert ws.tasks(done.sid).fetch().assignment_status == "completed"
    emu.clock.advance(1)
    for fetch in (ws.tasks(done.sid).fetch, ws.tasks(done.sid).reservations(r2.sid).fetch,
                  ws.workers(w.sid).reservations(r2.sid).fetch, ws.tasks(task.sid).fetch):
        with pytest.raises(TwilioRestException) as info:
            fetch()
        assert info.value.status == 404
    assert reservations(ws, worker_sid=w.sid) == []
    # auto-deletion logs no task.deleted; the events stay
    types = [e.event_type for e in ws.events.list(task_sid=done.sid, minutes=60)]
    assert "task.completed" in types and "task.deleted" not in types


def test_multi_reservation_first_accept_rescinds_others(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws, max_reserved_workers=2)
    a, b = worker(ws, "a"), worker(ws, "b")
    task = ws.tasks.create(attributes=json.dumps({"call_sid": "CA" + "1" * 32}), workflow_sid=wf.sid)
    rs = reservations(ws, task.sid)
    assert sorted(r.worker_sid for r in rs) == sorted([a.sid, b.sid])
    ws.tasks(task.sid).reservations(rs[1].sid).update(instruction="dequeue", dequeue_from="+15550001111",
                                                      dequeue_to="client:b")
    assert res_status(ws, task.sid, rs[1].sid) == "accepted"
    assert res_status(ws, task.sid, rs[0].sid) == "rescinded"
    with pytest.raises(TwilioRestException) as info:
        ws.tasks(task.sid).reservations(rs[0].sid).update(reservation_status="accepted")
    assert info.value.status == 410


def test_instructions_validate(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws)
    worker(ws, "a")
    task = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    [r] = reservations(ws, task.sid)
    ctx = ws.tasks(task.sid).reservations(r.sid)
    for kwargs in ({"instruction": "call", "call_from": "+1"}, {"instruction": "redirect", "redirect_url": "u"},
                   {"instruction": "dequeue"}, {"instruction": "dance"}):
        with pytest.raises(TwilioRestException) as info:
            ctx.update(**kwargs)
        assert info.value.status == 400
    assert ctx.update(instruction="call", call_from="+1", call_url="https://x").reservation_status == "pending"
    assert ctx.update(instruction="call", call_from="+1", call_url="https://x",
                      call_accept=True).reservation_status == "accepted"


def test_multitasking_capacity(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws)
    w = worker(ws, "w", available=False)
    ws.workers(w.sid).worker_channels("default").update(capacity=2)
    ws.workers(w.sid).update(activity_sid=ws.available)
    tasks = [ws.tasks.create(attributes="{}", workflow_sid=wf.sid) for _ in range(3)]
    assert [len(reservations(ws, t.sid)) for t in tasks] == [1, 1, 0]
    assert ws.workers(w.sid).fetch().activity_sid == ws.available  # multitasking: activity untouched
    # complete one: the capacity goes to the waiting task
    [r] = reservations(ws, tasks[0].sid)
    ws.tasks(tasks[0].sid).reservations(r.sid).update(reservation_status="accepted")
    assert ws.workers(w.sid).worker_channels("default").fetch().assigned_tasks == 1
    assert reservations(ws, tasks[2].sid) == []
    ws.tasks(tasks[0].sid).update(assignment_status="wrapping")
    assert reservations(ws, tasks[2].sid) == []
    ws.tasks(tasks[0].sid).update(assignment_status="completed")
    assert ws.workers(w.sid).worker_channels("default").fetch().assigned_tasks == 0
    assert [r.worker_sid for r in reservations(ws, tasks[2].sid)] == [w.sid]


def test_single_tasking_activities(client):
    ws = make_workspace(client)
    ws.update(multi_task_enabled=False)
    reserved = ws.activities.create(friendly_name="Reserved", available=False)
    busy = ws.activities.create(friendly_name="Busy", available=False)
    queue = ws.task_queues.create(friendly_name="Q", reservation_activity_sid=reserved.sid,
                                  assignment_activity_sid=busy.sid)
    wf = workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}})
    w = worker(ws, "w")
    w.channel = ws.workers(w.sid).worker_channels("default")
    w.channel.update(capacity=3)
    t1 = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    t2 = ws.tasks.create(attributes="{}", workflow_sid=wf.sid)
    assert ws.workers(w.sid).fetch().activity_sid == reserved.sid
    [r] = reservations(ws, t1.sid)
    assert reservations(ws, t2.sid) == []
    ws.tasks(t1.sid).reservations(r.sid).update(reservation_status="accepted")
    assert ws.workers(w.sid).fetch().activity_sid == busy.sid
    ws.tasks(t1.sid).update(assignment_status="completed")
    ws.workers(w.sid).update(activity_sid=ws.available)
    assert [x.worker_sid for x in reservations(ws, t2.sid)] == [w.sid]


def test_routing_targets_and_known_worker(client):
    ws = make_workspace(client)
    queue = ws.task_queues.create(friendly_name="Q")
    other = ws.task_queues.create(friendly_name="Other")
    wf = workflow(ws, {"filters": [{"expression": "1==1", "targets": [
        {"queue": queue.sid, "known_worker_sid": "task.agent"}]}]})
    a, b = worker(ws, "a"), worker(ws, "b")
    task = ws.tasks.create(attributes=json.dumps({"agent": b.sid}), workflow_sid=wf.sid)
    assert [r.worker_sid for r in reservations(ws, task.sid)] == [b.sid]
    direct = ws.tasks.create(attributes="{}", routing_target=b.sid)
    assert [r.worker_sid for r in reservations(ws, direct.sid)] == [b.sid]  # capacity ignored
    queued = ws.tasks.create(attributes="{}", task_queue_sid=other.sid)
    assert ws.tasks(queued.sid).fetch().task_queue_sid == other.sid
    assert [r.worker_sid for r in reservations(ws, queued.sid)] == [a.sid]


def test_attribute_update_reevaluates_workflow(client):
    ws = make_workspace(client)
    en = ws.task_queues.create(friendly_name="EN", target_workers="lang == 'en'")
    es = ws.task_queues.create(friendly_name="ES", target_workers="lang == 'es'")
    wf = workflow(ws, {"filters": [{"expression": "lang == 'es'", "targets": [{"queue": es.sid}]}],
                       "default_filter": {"queue": en.sid}})
    task = ws.tasks.create(attributes='{"lang": "en"}', workflow_sid=wf.sid)
    assert ws.tasks(task.sid).fetch().task_queue_sid == en.sid
    ws.tasks(task.sid).update(attributes='{"lang": "es"}')
    assert ws.tasks(task.sid).fetch().task_queue_sid == es.sid
    w = worker(ws, "w", lang="es")
    assert [r.worker_sid for r in reservations(ws, task.sid)] == [w.sid]


def test_random_operations_keep_invariants(emu, client):
    rng = random.Random(20260101)
    ws = make_workspace(client)
    busy = ws.activities.create(friendly_name="Busy", available=False)
    queues = [ws.task_queues.create(friendly_name="Q0", max_reserved_workers=2, target_workers="level >= 0"),
              ws.task_queues.create(friendly_name="Q1", task_order="LIFO", target_workers="level >= 1")]
    wf = workflow(ws, {"filters": [{"expression": "vip == true", "targets": [
        {"queue": queues[1].sid, "timeout": 50}, {"queue": queues[0].sid, "timeout": 200}]}],
        "default_filter": {"queue": queues[0].sid}}, task_reservation_timeout=40)
    activities = [ws.available, ws.available, ws.available, ws.offline, busy.sid]
    workers, tasks = [], []
    engine_ws = emu.backend.get_workspace(client.account_sid, ws._solution["sid"])

    for step in range(400):
        op = rng.choice(["task", "task", "worker", "accept", "reject", "complete", "cancel", "activity",
                         "advance", "capacity", "attrs", "wrap", "delete_worker", "task_attrs", "priority",
                         "queue", "delete_task", "channel", "conference"])
        try:
            if op == "task" or not tasks:
                tasks.append(ws.tasks.create(attributes=json.dumps({"vip": rng.random() < 0.3}),
                                             priority=rng.randint(0, 5), workflow_sid=wf.sid,
                                             timeout=rng.choice([100, 1000, 86400])).sid)
            elif op == "worker" or not workers:
                workers.append(ws.workers.create(friendly_name=f"w{step}",
                                                 attributes=json.dumps({"level": rng.randint(0, 1)}),
                                                 activity_sid=rng.choice(activities)).sid)
            elif op in ("accept", "reject", "complete", "wrap"):
                # mostly live reservations, sometimes any (finished ones must be refused cleanly)
                live = [r for r in engine_ws.reservations.values()
                        if r.reservation_status in ("pending", "accepted", "wrapping")]
                rs = live if live and rng.random() < 0.85 else list(engine_ws.reservations.values())
                if rs:
                    r = rng.choice(rs)
                    sid = r.task_sid
                    status = {"accept": "accepted", "reject": "rejected", "complete": "completed",
                              "wrap": "wrapping"}[op]
                    ws.tasks(sid).reservations(r.sid).update(reservation_status=status)
            elif op == "cancel":
                ws.tasks(rng.choice(tasks)).update(assignment_status="canceled")
            elif op == "activity":
                ws.workers(rng.choice(workers)).update(activity_sid=rng.choice(activities))
            elif op == "capacity":
                ws.workers(rng.choice(workers)).worker_channels("default").update(capacity=rng.randint(0, 3))
            elif op == "attrs":
                ws.workers(rng.choice(workers)).update(attributes=json.dumps({"level": rng.randint(0, 1)}))
            elif op == "delete_worker" and len(workers) > 3:
                sid = workers.pop(rng.randrange(len(workers)))
                ws.workers(sid).delete()
            elif op == "task_attrs":
                # re-routes a pending or reserved task (its pending offers are rescinded)
                ws.tasks(rng.choice(tasks)).update(attributes=json.dumps({"vip": rng.random() < 0.5}))
            elif op == "priority":
                ws.tasks(rng.choice(tasks)).update(priority=rng.randint(0, 9))
            elif op == "queue":
                ws.task_queues(rng.choice(queues).sid).update(
                    target_workers=rng.choice(["level >= 0", "level >= 1", "level == 0"]),
                    task_order=rng.choice(["FIFO", "LIFO"]), max_reserved_workers=rng.randint(1, 3))
            elif op == "delete_task":
                ws.tasks(rng.choice(tasks)).delete()
            elif op == "channel":
                ws.workers(rng.choice(workers)).worker_channels("default").update(available=rng.random() < 0.7)
            elif op == "conference":
                live = [r for r in engine_ws.reservations.values() if r.reservation_status == "pending"]
                if live:
                    r = rng.choice(live)
                    ws.tasks(r.task_sid).reservations(r.sid).update(instruction="conference", from_="+15550001111")
            else:
                emu.clock.advance(rng.choice([1, 5, 10, 45, 45, 400]))
        except TwilioRestException as exc:
            assert exc.status in (400, 404, 410), (op, exc)
        check_invariants(engine_ws)
        check_index(engine_ws)
        check_timers(emu.clock, engine_ws)
    # the run did exercise the lifecycles (finished tasks may since have been deleted; events stay)
    done = {e.event_type for e in engine_ws.events.values()}
    assert {"reservation.accepted", "task.completed", "task.canceled"} <= done


def check_invariants(ws):
    for worker in ws.workers.values():
        for channel in worker.channels.values():
            load = sum(1 for r in ws.reservations.values()
                       if r.worker_sid == worker.sid and r.reservation_status in ("pending", "accepted", "wrapping")
                       and ws.tasks[r.task_sid].task_channel_sid == channel.task_channel_sid
                       and not ws.tasks[r.task_sid].ignore_capacity)
            assert load <= max(channel.configured_capacity, 0) or load == 0 or _grandfathered(ws, worker, channel)
            accepted = sum(1 for r in ws.reservations.values()
                           if r.worker_sid == worker.sid and r.reservation_status in ("accepted", "wrapping")
                           and ws.tasks[r.task_sid].task_channel_sid == channel.task_channel_sid)
            assert channel.assigned_tasks == accepted
    for r in ws.reservations.values():
        if r.reservation_status == "pending":
            assert r.worker_sid in ws.workers, "a pending offer to a deleted worker"
    for task in ws.tasks.values():
        statuses = [r.reservation_status for r in ws.reservations.values() if r.task_sid == task.sid]
        assert statuses.count("accepted") + statuses.count("wrapping") + statuses.count("completed") <= 1
        if task.assignment_status == "reserved":
            assert "pending" in statuses
        if task.assignment_status == "pending":
            assert "pending" not in statuses


def check_timers(clock, ws):
    """The workspace's timer registry is exactly its live entries on the clock, each about
    something that exists, and every task has the timers its status calls for."""
    pending = {id(t) for t in clock.pending(held=False) if t.workspace == ws.sid}
    assert {id(t) for t in ws.timers.entries.values()} == pending
    for (kind, subject), timer in ws.timers.entries.items():
        assert (timer.kind, timer.subject) == (kind, subject) and not timer.cancelled
        if kind == lifecycle.EVENT_EXPIRY:  # the workspace's: its oldest event turns 30 days old
            assert subject == ws.sid and timer.due == next(iter(ws.events.values())).event_date + timedelta(days=30)
            continue
        assert subject in (ws.reservations if kind == lifecycle.RESERVATION else ws.tasks), (kind, subject)
    # the deletions are batched: the clock holds the earliest pending one of the workspace
    deletions = ws.timers.deletions
    armed = [subject for kind, subject in ws.timers.entries if kind == lifecycle.DELETION]
    pending = {t.subject: (t.due, t.seq) for t in ws.timers.rows() if t.kind == lifecycle.DELETION}
    assert set(pending) == set(deletions)
    assert armed == ([min(pending, key=pending.__getitem__)] if pending else [])
    assert all(ws.tasks[sid].assignment_status in ("completed", "canceled") for sid in deletions)
    for task in ws.tasks.values():
        kinds = {kind for kind, subject in ws.timers.entries if subject == task.sid}
        if task.sid in deletions:
            kinds.add(lifecycle.DELETION)
        if task.assignment_status in ("pending", "reserved"):
            assert lifecycle.TTL in kinds, task.sid
        elif task.assignment_status in ("completed", "canceled"):
            assert kinds == {lifecycle.DELETION}, (task.sid, kinds)
    for r in ws.reservations.values():
        assert ((lifecycle.RESERVATION, r.sid) in ws.timers.entries) == (r.reservation_status == "pending"), r.sid


def _grandfathered(ws, worker, channel):
    """Capacity lowered under existing work: no new pending reservation may be over the limit."""
    pending = [r for r in ws.reservations.values() if r.worker_sid == worker.sid and r.reservation_status == "pending"
               and ws.tasks[r.task_sid].task_channel_sid == channel.task_channel_sid]
    return channel.configured_capacity < channel.assigned_tasks + len(pending) and \
        all(r.date_created <= channel.date_updated for r in pending)


def _orders(table: dict) -> dict:
    """Each non-empty ordered container as its SIDs in key order (keys' absolute values may differ)."""
    return {k: [e[1] for e in sorted(v._entries.values())] for k, v in table.items() if len(v)}


def _sets(table: dict) -> dict:
    return {k: set(v) for k, v in table.items() if v}


def check_index(ws):
    """The incrementally maintained routing index equals one rebuilt from the workspace."""
    kept = ws.index
    fresh = build_index(ws)
    assert _sets(kept.members) == _sets(fresh.members)
    assert _sets(kept.queues_of) == _sets(fresh.queues_of)
    assert _sets(kept.available) == _sets(fresh.available)
    assert _orders(kept.free) == _orders(fresh.free)
    assert {k: v[1] for k, v in kept.free_state.items()} == {k: v[1] for k, v in fresh.free_state.items()}
    assert _orders(kept.waiting) == _orders(fresh.waiting)
    assert _orders(kept.direct) == _orders(fresh.direct)
    assert _orders(kept.held) == _orders(fresh.held)
    assert _orders(kept.held_direct) == _orders(fresh.held_direct)
    assert kept.task_place == fresh.task_place
    for name in ("by_task", "by_worker", "live"):
        assert {k: list(v) for k, v in getattr(kept, name).items() if v} == \
            {k: list(v) for k, v in getattr(fresh, name).items() if v}, name


# --- changes that alter who may take waiting work -----------------------------------------------
def test_a_task_channel_cannot_change_under_an_accepted_reservation(client):
    ws = make_workspace(client)
    _, wf = queue_workflow(ws)
    w = worker(ws, "w")
    task = ws.tasks.create(workflow_sid=wf.sid, attributes="{}")
    [offer] = reservations(ws, task.sid)
    offer.update(reservation_status="accepted")
    with pytest.raises(TwilioRestException) as refused:
        ws.tasks(task.sid).update(task_channel="voice")
    assert (refused.value.status, refused.value.code) == (400, 20001)
    assert "TaskChannel cannot change" in refused.value.msg
    fetched = ws.tasks(task.sid).fetch()
    assert (fetched.task_channel_unique_name, fetched.assignment_status) == ("default", "assigned")
    assert ws.workers(w.sid).worker_channels("default").fetch().assigned_tasks == 1


def test_renaming_an_activity_routes_the_work_its_workers_now_match(client):
    ws = make_workspace(client)
    _, wf = queue_workflow(ws, target_workers="activity_name == 'Ready'")
    worker(ws, "w")
    task = ws.tasks.create(workflow_sid=wf.sid, attributes="{}")
    assert ws.tasks(task.sid).fetch().assignment_status == "pending"
    ws.activities(ws.available).update(friendly_name="Ready")
    assert ws.tasks(task.sid).fetch().assignment_status == "reserved"


def test_turning_multitasking_on_offers_the_capacity_it_frees(client):
    ws = make_workspace(client, multi_task_enabled=False)
    _, wf = queue_workflow(ws)
    w = worker(ws, "w")
    ws.workers(w.sid).worker_channels("default").update(capacity=2)
    first, second = (ws.tasks.create(workflow_sid=wf.sid, attributes="{}") for _ in range(2))
    assert [ws.tasks(t.sid).fetch().assignment_status for t in (first, second)] == ["reserved", "pending"]
    ws.update(multi_task_enabled=True)
    assert ws.tasks(second.sid).fetch().assignment_status == "reserved"


def test_queue_statistics_follow_a_task_that_re_evaluation_unqueues(client):
    ws = make_workspace(client)
    queue, wf = queue_workflow(ws)
    task = ws.tasks.create(workflow_sid=wf.sid, attributes='{"kind": "sale"}')
    assert ws.task_queues(queue.sid).real_time_statistics().fetch().tasks_by_status["pending"] == 1
    nothing_matches = {"task_routing": {"filters": [{"filter_friendly_name": "none", "expression": "kind == 'x'",
                                                     "targets": [{"queue": queue.sid}]}]}}
    ws.workflows(wf.sid).update(configuration=json.dumps(nothing_matches), re_evaluate_tasks="true")
    assert ws.tasks(task.sid).fetch().task_queue_sid is None  # no filter holds it any more
    assert ws.task_queues(queue.sid).real_time_statistics().fetch().tasks_by_status["pending"] == 0

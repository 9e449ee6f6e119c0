"""Finished tasks' deletions, batched: the workspace keeps one entry on the clock (its earliest
pending deletion) and the rest in its timer registry; they fire at the same instants, in the
same order among other timers, as one timer per task would, and snapshots still hold one row
per pending deletion."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from emulator import snapshot
from emulator.clock import MANUAL, Clock
from emulator.engine import lifecycle
from emulator.engine.backend import Backend

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ACCOUNT = "AC" + "d" * 32
RETENTION = lifecycle.FINISHED_TASK_RETENTION


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def engine():
    """A backend on a manual clock whose fired timers are recorded as (kind, subject, instant)."""
    backend = Backend(Clock(MANUAL, start=T0), seed=3)
    fired: list = []

    def dispatch(timer):
        fired.append((timer.kind, timer.subject, backend.clock.now()))
        backend._fire(timer)

    backend.clock.set_dispatch(dispatch)
    ws = backend.create_workspace(ACCOUNT, "Deletions", template="FIFO")
    return backend, ws, fired


def cancel(ws, **task_args):
    task = ws.create_task(attributes="{}", **task_args)
    ws.update_task(task.sid, assignment_status="canceled")
    return task.sid


def deletions(fired) -> list:
    return [(subject, instant) for kind, subject, instant in fired if kind == lifecycle.DELETION]


def on_clock(backend, kind=lifecycle.DELETION) -> list:
    return [(t.subject, t.due) for t in backend.clock.pending(held=False) if t.kind == kind]


def test_one_entry_on_the_clock_and_each_deletion_at_its_instant():
    backend, ws, fired = engine()
    a = cancel(ws)
    backend.clock.advance(10)
    b = cancel(ws)
    backend.clock.advance(10)
    c = cancel(ws)
    assert on_clock(backend) == [(a, at(RETENTION))]  # one entry, the earliest
    assert [r.subject for r in ws.timers.rows() if r.kind == lifecycle.DELETION] == [a, b, c]
    backend.clock.advance(1000)  # past all three at once: each fires with the clock at its due
    assert deletions(fired) == [(a, at(RETENTION)), (b, at(RETENTION + 10)), (c, at(RETENTION + 20))]
    assert not {a, b, c} & set(ws.tasks)
    assert on_clock(backend) == [] and len(ws.timers.deletions) == 0


def test_ties_fire_in_the_order_they_were_scheduled_among_other_timers():
    backend, ws, fired = engine()
    a = cancel(ws)
    c = ws.create_task(attributes="{}", timeout=RETENTION).sid  # its TTL falls due with the deletions
    b = cancel(ws)
    d = cancel(ws)
    e = ws.create_task(attributes="{}", timeout=RETENTION).sid
    backend.clock.advance(RETENTION)
    due = [(kind, subject) for kind, subject, instant in fired if instant == at(RETENTION)]
    assert due == [(lifecycle.DELETION, a), (lifecycle.TTL, c), (lifecycle.DELETION, b), (lifecycle.DELETION, d),
                   (lifecycle.TTL, e)]
    assert set(ws.tasks) == {c, e} and ws.tasks[c].assignment_status == "canceled"
    assert on_clock(backend) == [(c, at(2 * RETENTION))]


def test_a_task_deleted_or_updated_before_its_deletion():
    backend, ws, fired = engine()
    a = cancel(ws)
    backend.clock.advance(5)
    b = cancel(ws)
    backend.clock.advance(5)
    c = cancel(ws)
    ws.delete_task(a)  # the first: the next takes its place on the clock
    assert on_clock(backend) == [(b, at(RETENTION + 5))]
    ws.delete_task(c)  # one behind the first: the clock is unchanged
    assert on_clock(backend) == [(b, at(RETENTION + 5))]
    backend.clock.advance(100)
    ws.update_task(b, attributes='{"note": "late"}')  # an update does not move its deletion
    backend.clock.advance(RETENTION)
    assert deletions(fired) == [(b, at(RETENTION + 5))]
    assert ws.tasks == {}


def test_a_task_deleted_by_its_deletion_logs_what_one_timer_did():
    backend, ws, fired = engine()
    events: list = []
    backend.subscribe(lambda workspace, event: events.append((event.event_type, event.event_date)))
    ttl = ws.create_task(attributes="{}", timeout=30).sid  # canceled by its TTL
    backend.clock.advance(30 + RETENTION)
    assert ttl not in ws.tasks
    assert events[-2:] == [("task.canceled", at(30)), ("task.system-deleted", at(30 + RETENTION))]


def test_restore_keeps_one_row_per_deletion_and_the_same_firing():
    backend, ws, fired = engine()
    a = cancel(ws)
    waiting = ws.create_task(attributes="{}", timeout=RETENTION).sid
    b = cancel(ws)
    backend.clock.advance(7)
    c = cancel(ws)
    ws.delete_task(b)
    document = json.loads(json.dumps(snapshot.take(backend)))
    rows = [(t["kind"], t["subject"], t["due"]) for t in document["timers"]]
    assert [(kind, subject) for kind, subject, _ in rows if kind == lifecycle.DELETION] == \
        [(lifecycle.DELETION, a), (lifecycle.DELETION, c)]
    assert (lifecycle.TTL, waiting, at(RETENTION).isoformat()) in rows
    backend.clock.advance(1000)
    original = fired[:]

    restored, restored_ws, refired = engine()
    snapshot.restore(restored, document)
    restored_ws = restored.find_workspace(ws.sid)
    assert on_clock(restored) == [(a, at(RETENTION))]
    assert [(r.kind, r.subject, r.due.isoformat()) for r in restored_ws.timers.rows()] == rows
    assert snapshot.take(restored)["timers"] == document["timers"]  # the same rows back
    restored.clock.advance(1000)
    assert refired == original
    assert set(restored_ws.tasks) == set(ws.tasks)


def test_a_deleted_workspace_drops_its_batch():
    backend, ws, fired = engine()
    cancel(ws)
    cancel(ws)
    backend.delete_workspace(ACCOUNT, ws.sid)
    assert backend.clock.pending() == []
    backend.clock.advance(1000)
    assert deletions(fired) == []


@pytest.mark.parametrize("added, cancelled", [
    ([("a", 0, 1), ("b", 0, 2), ("c", 10, 3)], []),                 # in order: the columns
    ([("a", 10, 5), ("b", 0, 7), ("c", 0, 6), ("d", 20, 8)], ["a"]),  # out of order: the heap beside them
    ([("a", 0, 1), ("b", 5, 2), ("a", 7, 3), ("c", 5, 4)], ["b"]),    # a deletion moved, another cancelled
])
def test_pending_deletions_come_out_earliest_first(added, cancelled):
    pending = lifecycle.Deletions()
    expected = {}
    for sid, seconds, seq in added:
        pending.add(sid, at(seconds), seq)
        expected[sid] = (at(seconds), seq)
    for sid in cancelled:
        assert pending.discard(sid) and not pending.discard(sid)
        del expected[sid]
    assert sorted(pending.pending()) == sorted((due, seq, sid) for sid, (due, seq) in expected.items())
    order = []
    while (first := pending.first()) is not None:
        order.append(first)
        pending.discard(first[2])
    assert order == sorted((due, seq, sid) for sid, (due, seq) in expected.items())
    assert len(pending) == 0

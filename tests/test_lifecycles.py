"""Every Task AssignmentStatus and Reservation ReservationStatus change, legal and illegal, through
the real client: the legal ones land, the illegal ones answer 400 (410 for a rescinded
reservation) with the service's message and change nothing.

Task lifecycle: https://www.twilio.com/docs/taskrouter/lifecycle-task-state; reservation updates:
https://www.twilio.com/docs/taskrouter/api/reservations.
"""

from __future__ import annotations

import pytest
from conftest import ACCOUNT_SID
from test_routing import make_workspace, reservations, worker, workflow
from twilio.base.exceptions import TwilioRestException

from emulator import errors

TASK_STATES = ("pending", "reserved", "assigned", "wrapping", "completed", "canceled")
RESERVATION_STATES = ("pending", "accepted", "wrapping", "completed", "rejected", "timeout", "canceled",
                      "rescinded")


@pytest.fixture
def world(emu, client):
    """A workspace with one queue (two offers per task), a workflow (30 s reservation timeout)
    and two available workers."""
    ws = make_workspace(client)
    queue = ws.task_queues.create(friendly_name="Q", max_reserved_workers=2)
    ws.wf = workflow(ws, {"filters": [], "default_filter": {"queue": queue.sid}}, task_reservation_timeout=30)
    ws.a, ws.b = worker(ws, "a"), worker(ws, "b")
    ws.emu = emu
    return ws


def task_in(ws, state: str):
    """A task brought to ``state`` the way users get there."""
    if state == "pending":
        ws.workers(ws.a.sid).update(activity_sid=ws.offline)
        ws.workers(ws.b.sid).update(activity_sid=ws.offline)
    task = ws.tasks.create(attributes="{}", workflow_sid=ws.wf.sid)
    if state in ("assigned", "wrapping", "completed"):
        r = reservations(ws, task.sid)[0]
        ws.tasks(task.sid).reservations(r.sid).update(reservation_status="accepted")
    if state in ("wrapping", "completed"):
        ws.tasks(task.sid).update(assignment_status=state)
    if state == "canceled":
        ws.tasks(task.sid).update(assignment_status="canceled")
    assert ws.tasks(task.sid).fetch().assignment_status == state
    return task


LEGAL_TASK_CHANGES = {("pending", "canceled"), ("reserved", "canceled"), ("assigned", "wrapping"),
                      ("assigned", "completed"), ("wrapping", "completed")}
TASK_ERRORS = {"canceled": errors.TASK_CANNOT_CANCEL, "wrapping": errors.TASK_CANNOT_WRAP,
               "completed": errors.TASK_CANNOT_COMPLETE}


@pytest.mark.parametrize("state", TASK_STATES)
@pytest.mark.parametrize("status", ["canceled", "wrapping", "completed"])
def test_task_assignment_status_changes(world, state, status):
    task = task_in(world, state)
    if (state, status) in LEGAL_TASK_CHANGES:
        updated = world.tasks(task.sid).update(assignment_status=status, reason="because")
        assert (updated.assignment_status, updated.reason) == (status, "because")
        kinds = {"canceled": "task.canceled", "wrapping": "task.wrapup", "completed": "task.completed"}
        assert kinds[status] in [e.event_type for e in world.events.list(task_sid=task.sid)]
        return
    with pytest.raises(TwilioRestException) as info:
        world.tasks(task.sid).update(assignment_status=status)
    expected = TASK_ERRORS[status].format(task_sid=task.sid, workspace_sid=world._solution["sid"],
                                          account_sid=ACCOUNT_SID)
    assert (info.value.status, info.value.code, info.value.msg) == (400, 20001, "Unable to update record: " + expected)
    assert world.tasks(task.sid).fetch().assignment_status == state


@pytest.mark.parametrize("status", ["assigned", "reserved", "pending", "done"])
def test_task_assignment_status_outside_the_settable_ones(world, status):
    task = task_in(world, "reserved")
    with pytest.raises(TwilioRestException) as info:
        world.tasks(task.sid).update(assignment_status=status)
    assert info.value.status == 400
    assert world.tasks(task.sid).fetch().assignment_status == "reserved"


def reservation_in(ws, state: str):
    """(task sid, reservation sid) with the reservation brought to ``state``."""
    task = ws.tasks.create(attributes="{}", workflow_sid=ws.wf.sid)
    first, second = reservations(ws, task.sid)
    ctx = ws.tasks(task.sid).reservations(first.sid)
    if state in ("accepted", "wrapping", "completed"):
        ctx.update(reservation_status="accepted")
    if state in ("wrapping", "completed"):
        ctx.update(reservation_status=state)
    if state == "rejected":
        ctx.update(reservation_status="rejected")
    if state == "timeout":
        ws.emu.clock.advance(30)
    if state == "canceled":
        ws.tasks(task.sid).update(assignment_status="canceled")
    if state == "rescinded":
        ws.tasks(task.sid).reservations(second.sid).update(reservation_status="accepted")
    assert ctx.fetch().reservation_status == state
    return task.sid, first.sid


LEGAL_RESERVATION_CHANGES = {("pending", "accepted"), ("pending", "rejected"), ("accepted", "wrapping"),
                             ("accepted", "completed"), ("wrapping", "completed")}
TASK_AFTER = {"accepted": "assigned", "rejected": "reserved", "wrapping": "wrapping", "completed": "completed"}


@pytest.mark.parametrize("state", RESERVATION_STATES)
@pytest.mark.parametrize("status", ["accepted", "rejected", "wrapping", "completed"])
def test_reservation_status_changes(world, state, status):
    task_sid, sid = reservation_in(world, state)
    ctx = world.tasks(task_sid).reservations(sid)
    task_before = world.tasks(task_sid).fetch().assignment_status
    if (state, status) in LEGAL_RESERVATION_CHANGES:
        assert ctx.update(reservation_status=status).reservation_status == status
        # rejecting one of two offers leaves the task reserved by the other
        assert world.tasks(task_sid).fetch().assignment_status == TASK_AFTER[status]
        return
    with pytest.raises(TwilioRestException) as info:
        ctx.update(reservation_status=status)
    if state == "rescinded":
        expected, code = errors.RESERVATION_RESCINDED.format(sid=sid), 410
    else:
        template = {"accepted": errors.RESERVATION_NOT_PENDING, "rejected": errors.RESERVATION_NOT_PENDING,
                    "wrapping": errors.RESERVATION_CANNOT_WRAP,
                    "completed": errors.RESERVATION_CANNOT_COMPLETE}[status]
        expected, code = template.format(sid=sid, status=state), 400
    assert (info.value.status, info.value.msg) == (code, "Unable to update record: " + expected)
    assert ctx.fetch().reservation_status == state
    assert world.tasks(task_sid).fetch().assignment_status == task_before


@pytest.mark.parametrize("status", ["pending", "timeout", "canceled", "rescinded"])
def test_reservation_status_only_the_settable_ones(world, status):
    task_sid, sid = reservation_in(world, "pending")
    with pytest.raises(TwilioRestException) as info:
        world.tasks(task_sid).reservations(sid).update(reservation_status=status)
    assert info.value.status == 400
    assert world.tasks(task_sid).reservations(sid).fetch().reservation_status == "pending"


def test_reservation_events_follow_each_transition(world):
    task_sid, sid = reservation_in(world, "pending")
    ctx = world.tasks(task_sid).reservations(sid)
    ctx.update(reservation_status="accepted")
    ctx.update(reservation_status="wrapping")
    ctx.update(reservation_status="completed")
    mine = [e.event_type for e in world.events.list(reservation_sid=sid)]
    assert mine == ["reservation.created", "reservation.accepted", "reservation.wrapup", "reservation.completed"]
    other = [r.sid for r in reservations(world, task_sid) if r.sid != sid][0]
    assert [e.event_type for e in world.events.list(reservation_sid=other)] == \
        ["reservation.created", "reservation.rescinded"]

"""GET /Events and /Events/{Sid}: every filter, paging, the instance shape and the 30-day retention
(https://www.twilio.com/docs/taskrouter/api/event)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ACCOUNT_SID
from twilio.base.exceptions import TwilioException, TwilioRestException


@pytest.fixture
def scene(emu, workspace):
    """Two tasks on two channels; the first reserved, accepted and completed by alice."""
    ws = workspace
    available = next(a.sid for a in ws.activities.list() if a.friendly_name == "Available")
    alice = ws.workers.create(friendly_name="alice", activity_sid=available)
    first = ws.tasks.create(attributes=json.dumps({"n": 1}))
    (reservation,) = ws.tasks(first.sid).reservations.list()
    ws.tasks(first.sid).reservations(reservation.sid).update(reservation_status="accepted")
    emu.clock.advance(60)
    ws.tasks(first.sid).update(assignment_status="completed", reason="done")
    emu.clock.advance(60)
    second = ws.tasks.create(attributes=json.dumps({"n": 2}), task_channel="chat")
    return {"ws": ws, "alice": alice.sid, "first": first.sid, "second": second.sid, "reservation": reservation.sid,
            "queue": ws.task_queues.list()[0].sid, "workflow": ws.workflows.list()[0].sid}


def types(events) -> list[str]:
    return [e.event_type for e in events]


def test_filters_select_by_what_the_event_is_about(emu, scene):
    ws = scene["ws"]
    assert types(ws.events.list(task_sid=scene["first"])) == [
        "task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered", "reservation.created",
        "reservation.accepted", "reservation.completed", "task.completed"]
    assert types(ws.events.list(reservation_sid=scene["reservation"])) == [
        "reservation.created", "reservation.accepted", "reservation.completed"]
    # task.completed names the worker who held the task; alice is then offered the second task
    assert types(ws.events.list(worker_sid=scene["alice"])) == [
        "worker.created", "reservation.created", "reservation.accepted", "reservation.completed",
        "task.completed", "reservation.created"]
    by_queue = ws.events.list(task_queue_sid=scene["queue"])
    assert "task-queue.created" in types(by_queue) and types(by_queue).count("task-queue.entered") == 2
    by_workflow = ws.events.list(workflow_sid=scene["workflow"])
    assert types(by_workflow)[0] == "workflow.created" and types(by_workflow).count("workflow.entered") == 2
    chat = ws.events.list(task_channel="chat")
    assert {e.event_data["task_sid"] for e in chat} == {scene["second"]}
    channel_sid = chat[0].event_data["task_channel_sid"]
    assert [e.sid for e in ws.events.list(task_channel=channel_sid)] == [e.sid for e in chat]
    assert types(ws.events.list(event_type="task.completed")) == ["task.completed"]
    one = ws.events.list(task_sid=scene["second"])[0]
    assert [e.sid for e in ws.events.list(sid=one.sid)] == [one.sid]
    assert ws.events.list(task_sid="WT" + "0" * 32) == []


def test_time_window_minutes_default_start_and_end(emu, scene):
    ws = scene["ws"]
    everything = ws.events.list(minutes=60)
    assert everything[0].event_type == "workspace.created"
    # the default window is the last 15 minutes; the scene took two
    emu.clock.advance(13 * 60)
    assert [e.sid for e in ws.events.list()] == [e.sid for e in ws.events.list(minutes=60)]
    emu.clock.advance(90)  # the first minute's events fall out of the default window
    everything = ws.events.list(minutes=60)  # timers fired meanwhile (the second offer timed out)
    cutoff = emu.clock.now() - timedelta(minutes=15)
    recent = ws.events.list()
    assert [e.sid for e in recent] == [e.sid for e in everything if e.event_date >= cutoff]
    assert 0 < len(recent) < len(everything)
    assert len(ws.events.list(minutes=20)) == len(everything)
    start = datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)
    end = datetime(2026, 1, 1, 0, 1, 30, tzinfo=timezone.utc)
    windowed = ws.events.list(start_date=start, end_date=end)
    assert types(windowed) == ["reservation.completed", "task.completed"]
    assert all(start <= e.event_date <= end for e in windowed)
    later = start + timedelta(seconds=61)
    assert [e.sid for e in ws.events.list(start_date=later)] == [e.sid for e in everything if e.event_date >= later]


def test_instance_shape(emu, scene):
    ws = scene["ws"]
    event = ws.events.list(event_type="reservation.accepted")[0]
    fetched = ws.events(event.sid).fetch()
    assert fetched.sid == event.sid and fetched.sid.startswith("EV")
    assert (fetched.account_sid, fetched.workspace_sid) == (ACCOUNT_SID, ws.instance.sid)
    assert fetched.resource_type == "reservation" and fetched.resource_sid == scene["reservation"]
    assert fetched.resource_url.endswith(f"/Tasks/{scene['first']}/Reservations/{scene['reservation']}")
    assert (fetched.actor_type, fetched.actor_sid) == ("workspace", ws.instance.sid)
    assert fetched.actor_url.endswith(f"/Workspaces/{ws.instance.sid}")
    assert fetched.event_date_ms == int(fetched.event_date.timestamp() * 1000)
    assert fetched.source == "twilio" and fetched.description == f"Reservation {scene['reservation']} accepted"
    assert fetched.event_data["worker_sid"] == scene["alice"]
    assert fetched.event_data["task_assignment_status"] == "assigned"
    assert fetched.url.endswith(f"/Events/{event.sid}")


def test_paging_follows_next_page_urls(emu, scene):
    ws = scene["ws"]
    everything = [e.sid for e in ws.events.list(minutes=60)]
    assert len(everything) > 10
    page = ws.events.page(minutes=60, page_size=4)
    assert page._payload["meta"]["key"] == "events" and "Minutes=60" in page._payload["meta"]["url"]
    assert [e.sid for e in ws.events.list(minutes=60, page_size=4)] == everything


def test_retention_is_thirty_virtual_days(emu, scene):
    ws = scene["ws"]
    old = ws.events.list(minutes=60)[0]
    emu.clock.advance(29 * 86_400)
    assert ws.events(old.sid).fetch().sid == old.sid
    ws.workers.create(friendly_name="late")
    emu.clock.advance(2 * 86_400)
    with pytest.raises(TwilioRestException) as info:
        ws.events(old.sid).fetch()
    assert info.value.status == 404
    kept = ws.events.list(minutes=30 * 24 * 60)
    assert "worker.created" in types(kept) and old.sid not in [e.sid for e in kept]
    assert all(e.event_date >= emu.clock.now() - timedelta(days=30) for e in kept)
    # asking for more history than is kept is a 400
    with pytest.raises(TwilioException):
        ws.events.list(start_date=emu.clock.now() - timedelta(days=31))
    with pytest.raises(TwilioException):
        ws.events.list(minutes=30 * 24 * 60 + 1)

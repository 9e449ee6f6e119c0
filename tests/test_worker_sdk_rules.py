"""Engine rules the Worker SDK's specs rely on, through the REST API (the SDK sees the same
through the Event Bridge): a canceled task's offers end carrying the canceled task; deleting an
assigned task completes its reservation; a worker RoutingTarget with a TaskQueueSid sits in that
queue."""

from __future__ import annotations

import pytest

from emulator import TaskRouterEmulator


@pytest.fixture
def desk():
    with TaskRouterEmulator(seed="sdk-rules") as emu:
        client = emu.client()
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Agents", template="FIFO")
        ws = client.taskrouter.v1.workspaces(ws.sid)
        worker = ws.workers.create(friendly_name="alice")
        available = next(a.sid for a in ws.activities.list() if a.friendly_name == "Available")
        ws.workers(worker.sid).update(activity_sid=available)
        yield emu, ws, worker.sid


def _event(ws, event_type, task_sid):
    return next(e for e in ws.events.list(task_sid=task_sid) if e.event_type == event_type)


def test_a_canceled_task_ends_its_offers_with_the_canceled_task(desk):
    emu, ws, alice = desk
    task = ws.tasks.create(attributes="{}")
    ws.tasks(task.sid).update(assignment_status="canceled", reason="gone")
    canceled = _event(ws, "reservation.canceled", task.sid)
    assert canceled.event_data["task_assignment_status"] == "canceled"
    types = [e.event_type for e in ws.events.list(task_sid=task.sid)]  # oldest first
    assert types.index("reservation.canceled") < types.index("task.canceled")


def test_deleting_an_assigned_task_completes_its_reservation(desk):
    emu, ws, alice = desk
    task = ws.tasks.create(attributes="{}")
    [reservation] = ws.tasks(task.sid).reservations.list()
    reservation.update(reservation_status="accepted")
    ws.tasks(task.sid).delete()
    types = [e.event_type for e in ws.events.list(task_sid=task.sid)]  # oldest first
    assert types[-2:] == ["reservation.completed", "task.deleted"]
    assert ws.workers(alice).worker_channels("default").fetch().assigned_tasks == 0


def test_a_worker_routing_target_with_a_queue_sits_in_that_queue(desk):
    emu, ws, alice = desk
    queue = ws.task_queues.list()[0].sid
    workflow = ws.workflows.list()[0].sid
    task = ws.tasks.create(attributes="{}", routing_target=alice, task_queue_sid=queue, workflow_sid=workflow)
    assert (task.assignment_status, task.task_queue_sid) == ("reserved", queue)
    assert [r.worker_sid for r in ws.tasks(task.sid).reservations.list()] == [alice]

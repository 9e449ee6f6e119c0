"""Tasks through routing: reservation, accept, wrap-up and complete; reject; cancel; the Events
resource; statistics shapes."""

from __future__ import annotations

import pytest

from emulator import spec

from .conftest import activity_sid, raw


def reserve(target, ws, desk):
    task = desk.task(ws)
    [offer] = target.wait_for(lambda: ws.tasks(task.sid).reservations.list(), lambda found: len(found) == 1,
                              within=30, what="a reservation for the new task")
    return task, offer


def test_reservation_accept_wrapup_complete(taskrouter_workspace, taskrouter_target, desk):
    ws = taskrouter_workspace
    task, offer = reserve(taskrouter_target, ws, desk)
    assert (offer.reservation_status, offer.worker_sid) == ("pending", desk.worker.sid)
    fetched = ws.tasks(task.sid).fetch()
    assert fetched.assignment_status == "reserved" and fetched.task_queue_sid == desk.queue.sid
    assert fetched.workflow_sid == desk.workflow.sid and fetched.task_channel_unique_name == "default"
    assert [r.sid for r in ws.workers(desk.worker.sid).reservations.list()] == [offer.sid]
    accepted = ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert ws.tasks(task.sid).fetch().assignment_status == "assigned"
    assert ws.tasks(task.sid).update(assignment_status="wrapping").assignment_status == "wrapping"
    completed = ws.tasks(task.sid).update(assignment_status="completed", reason="resolved")
    assert (completed.assignment_status, completed.reason) == ("completed", "resolved")
    taskrouter_target.wait_for(lambda: ws.tasks(task.sid).reservations(offer.sid).fetch(),
                               lambda r: r.reservation_status == "completed", within=30,
                               what="the reservation completed with its task")


def test_a_rejected_reservation_puts_the_task_back_and_moves_the_worker(taskrouter_workspace, taskrouter_target,
                                                                       desk):
    ws = taskrouter_workspace
    task, offer = reserve(taskrouter_target, ws, desk)
    offline = activity_sid(ws, "Offline")
    rejected = ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="rejected",
                                                                 worker_activity_sid=offline)
    assert rejected.reservation_status == "rejected"
    taskrouter_target.wait_for(lambda: ws.tasks(task.sid).fetch(), lambda t: t.assignment_status == "pending",
                               within=30, what="the task back in its queue")
    assert ws.workers(desk.worker.sid).fetch().activity_name == "Offline"


def test_cancelling_a_reserved_task_cancels_its_reservation(taskrouter_workspace, taskrouter_target, desk):
    ws = taskrouter_workspace
    task, offer = reserve(taskrouter_target, ws, desk)
    canceled = ws.tasks(task.sid).update(assignment_status="canceled", reason="caller hung up")
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "caller hung up")
    taskrouter_target.wait_for(lambda: ws.tasks(task.sid).reservations(offer.sid).fetch(),
                               lambda r: r.reservation_status == "canceled", within=30,
                               what="the reservation canceled with its task")
    assert ws.workers(desk.worker.sid).fetch().available is True


def test_the_events_resource_lists_what_happened_to_a_task(taskrouter_workspace, taskrouter_target, desk):
    ws = taskrouter_workspace
    task, offer = reserve(taskrouter_target, ws, desk)
    wanted = {"task.created", "reservation.created"}
    events = taskrouter_target.wait_for(lambda: ws.events.list(task_sid=task.sid),
                                        lambda found: wanted <= {e.event_type for e in found}, within=60,
                                        what="task.created and reservation.created in the Events resource")
    created = next(e for e in events if e.event_type == "task.created")
    assert created.resource_sid == task.sid and created.resource_type == "task"
    assert created.event_data["task_sid"] == task.sid
    assert ws.events(created.sid).fetch().event_type == "task.created"
    only = ws.events.list(task_sid=task.sid, event_type="reservation.created")
    assert [e.resource_sid for e in only] == [offer.sid]


STATISTICS = [
    ("FetchWorkspaceStatistics", "Statistics"),
    ("FetchWorkspaceRealTimeStatistics", "RealTimeStatistics"),
    ("FetchWorkspaceCumulativeStatistics", "CumulativeStatistics"),
    ("FetchTaskQueueRealTimeStatistics", "TaskQueues/{queue}/RealTimeStatistics"),
    ("FetchTaskQueueCumulativeStatistics", "TaskQueues/{queue}/CumulativeStatistics"),
    ("FetchWorkflowCumulativeStatistics", "Workflows/{workflow}/CumulativeStatistics"),
    ("FetchWorkersRealTimeStatistics", "Workers/RealTimeStatistics"),
    ("FetchWorkerInstanceStatistics", "Workers/{worker}/Statistics"),
]


@pytest.mark.parametrize("operation, path", STATISTICS, ids=[op for op, _ in STATISTICS])
def test_statistics_have_the_documented_keys(taskrouter_workspace, taskrouter_target, desk, operation, path):
    url = taskrouter_workspace.instance.url + "/" + path.format(queue=desk.queue.sid, workflow=desk.workflow.sid,
                                                                worker=desk.worker.sid)
    status, body = raw(taskrouter_target, url)
    assert status == 200
    assert set(body) == set(spec.response_schema(operation)["properties"])

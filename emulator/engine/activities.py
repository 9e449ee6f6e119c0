"""Where reservations move their workers: the single-tasking activity moves (the queue's
reservation and assignment activities, and back to the previous activity when an offer ends
unaccepted) and the post-work activity of an instruction. Multitasking workspaces keep the
worker's activity (https://www.twilio.com/docs/taskrouter/multitasking)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .state import Reservation, Task, Worker

if TYPE_CHECKING:
    from .tables import WorkspaceTables


def reserved(ws: WorkspaceTables, reservation: Reservation, task: Task, worker: Worker) -> None:
    """Single-tasking: an offer moves the worker to the queue's ReservationActivitySid; the
    reservation remembers where she was (``WorkerPreviousActivitySid``)."""
    queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
    if ws.multi_task_enabled or queue is None or not queue.reservation_activity_sid or \
            queue.reservation_activity_sid not in ws.activities or worker.activity_sid == queue.reservation_activity_sid:
        return
    reservation.previous_activity_sid = worker.activity_sid
    ws.set_worker_activity(worker, queue.reservation_activity_sid)


def assigned(ws: WorkspaceTables, task: Task, worker: Worker) -> None:
    """Single-tasking: an accepted offer moves the worker to the queue's AssignmentActivitySid."""
    queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
    if ws.multi_task_enabled or queue is None or not queue.assignment_activity_sid or \
            queue.assignment_activity_sid not in ws.activities or worker.activity_sid == queue.assignment_activity_sid:
        return
    ws.set_worker_activity(worker, queue.assignment_activity_sid)


def restore(ws: WorkspaceTables, reservation: Reservation) -> None:
    """Single-tasking: an offer that ends unaccepted with no activity of its own to go to (a reject
    without WorkerActivitySid, a cancel, a rescind, a timeout with no timeout activity) returns its
    worker to the activity she had before it (``WorkerPreviousActivitySid``,
    https://www.twilio.com/docs/taskrouter/api/reservations), so she is offered the next task."""
    previous = reservation.previous_activity_sid
    worker = ws.workers.get(reservation.worker_sid)
    if ws.multi_task_enabled or previous is None or previous not in ws.activities or worker is None:
        return
    reservation.previous_activity_sid = None
    if worker.activity_sid == previous or ws.worker_available(worker) or ws.index.live.get(worker.sid):
        return  # she has moved on, or holds other work
    ws.set_worker_activity(worker, previous)


def post_work(ws: WorkspaceTables, reservations: Iterable[Reservation]) -> None:
    """The work of a reservation accepted with a post-work activity is done (wrapping or completed,
    whichever comes first): its worker moves to that activity."""
    for reservation in reservations:
        activity_sid = reservation.post_work_activity_sid
        if activity_sid is None:
            continue
        reservation.post_work_activity_sid = None
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and activity_sid in ws.activities and worker.activity_sid != activity_sid:
            ws.set_worker_activity(worker, activity_sid)

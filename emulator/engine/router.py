"""Task and Reservation lifecycles, and the hooks where routing happens.

The lifecycle rules follow https://www.twilio.com/docs/taskrouter/lifecycle-task-state: a task is
created ``pending``, is canceled from ``pending``/``reserved``, wraps up from ``assigned`` and
completes from ``assigned``/``wrapping``; finished tasks are deleted five minutes later; a task
still ``pending``/``reserved`` when its ``Timeout`` (TTL) runs out is canceled with the reason
"Task TTL Exceeded".

Matching tasks to workers (workflows, queues, reservations) is not built yet: a created task stays
``pending`` in its workflow until canceled, deleted or its TTL expires. The hooks below are where
the routing engine attaches (``task_created``, ``task_updated``, ``worker_changed``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .models import ASSIGNED, CANCELED, COMPLETED, PENDING, RESERVED, WRAPPING, Task, Worker, Workflow

if TYPE_CHECKING:
    from .backend import Backend
    from .workspace import Workspace

TTL_REASON = "Task TTL Exceeded"


class Router:
    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._ttl_timers: dict[str, object] = {}

    # --- hooks called by the workspace ---------------------------------------------------------
    def task_created(self, ws: "Workspace", task: Task) -> None:
        self._ttl_timers[task.sid] = ws.clock.call_later(
            task.timeout, lambda: self._ttl_expired(ws, task.sid), name=f"ttl {task.sid}")

    def task_updated(self, ws: "Workspace", task: Task, *, attributes_changed: bool) -> None:
        """Routing re-evaluates a pending task when its attributes change (routing engine)."""

    def worker_changed(self, ws: "Workspace", worker: Worker) -> None:
        """A worker's activity, attributes or channels changed (routing engine offers it work)."""

    def reevaluate_workflow(self, ws: "Workspace", workflow: Workflow) -> None:
        """``ReEvaluateTasks=true`` on a workflow update (routing engine re-drives its tasks)."""

    def reject_pending_reservations(self, ws: "Workspace", worker: Worker, activity_sid: str) -> None:
        for reservation in [r for r in ws.reservations.values()
                            if r.worker_sid == worker.sid and r.reservation_status == "pending"]:
            self._end_reservation(ws, reservation, "rejected")

    def worker_removed(self, ws: "Workspace", worker: Worker) -> None:
        for reservation in [r for r in ws.reservations.values()
                            if r.worker_sid == worker.sid and r.reservation_status == "pending"]:
            self._end_reservation(ws, reservation, "canceled")

    def forget_workspace(self, ws: "Workspace") -> None:
        for sid in list(ws.tasks):
            self._cancel_ttl(sid)
            ws._cancel_deletion(sid)

    # --- task status changes ----------------------------------------------------------------------
    def change_task_status(self, ws: "Workspace", task: Task, status: str, reason: str | None) -> None:
        """Apply a validated ``AssignmentStatus`` change and log its events."""
        if status == CANCELED:
            self.cancel_task(ws, task, reason)
        elif status == WRAPPING:
            task.assignment_status = WRAPPING
            for reservation in self._task_reservations(ws, task, "accepted"):
                self._set_reservation(ws, reservation, "wrapping", "reservation.wrapup", "wrapped up")
            self._task_event(ws, task, "task.wrapup", "Task wrapping up")
        elif status == COMPLETED:
            task.assignment_status = COMPLETED
            for reservation in self._task_reservations(ws, task, "accepted", "wrapping"):
                self._set_reservation(ws, reservation, "completed", "reservation.completed", "completed")
                channel = self._channel_for(ws, reservation.worker_sid, task)
                if channel is not None and channel.assigned_tasks > 0:
                    channel.assigned_tasks -= 1
            self._task_event(ws, task, "task.completed", "Task completed")
            self._finish(ws, task)

    def cancel_task(self, ws: "Workspace", task: Task, reason: str | None) -> None:
        for reservation in self._task_reservations(ws, task, "pending"):
            self._end_reservation(ws, reservation, "canceled")
        task.assignment_status = CANCELED
        if reason is not None:
            task.reason = reason
        task.date_updated = ws.now()
        self._task_event(ws, task, "task.canceled", f"Task canceled: {task.reason}" if task.reason else "Task canceled")
        self._finish(ws, task)

    def remove_task(self, ws: "Workspace", task_sid: str, *, system: bool) -> None:
        """Delete a task (API delete, or the system's clean-up of a finished task)."""
        task = ws.tasks.get(task_sid)
        if task is None:
            return
        if not system:
            for reservation in self._task_reservations(ws, task, "pending"):
                self._end_reservation(ws, reservation, "canceled")
        self._cancel_ttl(task_sid)
        for sid in [r.sid for r in ws.reservations.values() if r.task_sid == task_sid]:
            del ws.reservations[sid]
        del ws.tasks[task_sid]
        if not system:
            # task.deleted "does not include auto-deleted Tasks after cancelation/completion"
            # (https://www.twilio.com/docs/taskrouter/api/event/reference).
            self._task_event(ws, task, "task.deleted", "Task deleted")

    # --- internals --------------------------------------------------------------------------------
    def _ttl_expired(self, ws: "Workspace", task_sid: str) -> None:
        self._ttl_timers.pop(task_sid, None)
        task = ws.tasks.get(task_sid)
        if task is not None and self.backend.workspace_alive(ws) and task.assignment_status in (PENDING, RESERVED):
            self.cancel_task(ws, task, TTL_REASON)

    def _cancel_ttl(self, task_sid: str) -> None:
        timer = self._ttl_timers.pop(task_sid, None)
        if timer is not None:
            timer.cancel()

    def _finish(self, ws: "Workspace", task: Task) -> None:
        self._cancel_ttl(task.sid)
        ws.finish_task(task)

    def _task_reservations(self, ws: "Workspace", task: Task, *statuses: str) -> list:
        return [r for r in ws.reservations.values() if r.task_sid == task.sid and r.reservation_status in statuses]

    def _channel_for(self, ws: "Workspace", worker_sid: str, task: Task):
        worker = ws.workers.get(worker_sid)
        return worker.channels.get(task.task_channel_sid) if worker else None

    def _task_event(self, ws: "Workspace", task: Task, event_type: str, description: str) -> None:
        ws.record(event_type, description, "task", task.sid, f"Tasks/{task.sid}" if task.sid in ws.tasks else None,
                  {**ev.task_fields(ws, task), "TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})

    def _set_reservation(self, ws: "Workspace", reservation, status: str, event_type: str, verb: str) -> None:
        reservation.reservation_status = status
        reservation.date_updated = ws.now()
        task = ws.tasks.get(reservation.task_sid)
        worker = ws.workers.get(reservation.worker_sid)
        data = {}
        if task is not None:
            data.update(ev.task_fields(ws, task))
            data.update({"TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})
        if worker is not None:
            data.update(ev.worker_fields(ws, worker))
        data["ReservationSid"] = reservation.sid
        ws.record(event_type, f"Reservation {reservation.sid} {verb}", "reservation", reservation.sid,
                  f"Tasks/{reservation.task_sid}/Reservations/{reservation.sid}", data)

    def _end_reservation(self, ws: "Workspace", reservation, status: str) -> None:
        self._set_reservation(ws, reservation, status, f"reservation.{status}", status)

    # --- reservations ------------------------------------------------------------------------------
    def update_reservation(self, ws: "Workspace", reservation, params: dict) -> None:
        """``ReservationStatus`` / ``Instruction`` updates of a reservation (routing engine)."""
        from .. import errors
        raise errors.NotImplementedByEmulator("Reservation updates arrive with the routing engine")

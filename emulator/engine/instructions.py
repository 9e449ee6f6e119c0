"""Reservation instructions without telephony: what ``dequeue`` and ``supervise`` check and leave
behind, since the emulator places no calls (https://www.twilio.com/docs/taskrouter/api/reservations).
``accept``, ``reject``, ``call``, ``redirect`` and ``conference`` change only the reservation
(``router``); these two also read the task and the worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from . import validation as v
from .state import Reservation, ReservationStatus, Task
from .updates import ReservationUpdate

if TYPE_CHECKING:
    from .tables import WorkspaceTables

SUPERVISABLE = (ReservationStatus.ACCEPTED, ReservationStatus.WRAPPING)


def dequeue(ws: WorkspaceTables, reservation: Reservation, task: Task, update: ReservationUpdate) -> None:
    """Dequeue (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks): only for a task
    an <Enqueue> made (its ``call_sid``, error 40140), to ``to`` or the worker's ``contact_uri``
    (40131); ``from`` is optional. No call is placed: its SID is added to the task's attributes as
    ``worker_call_sid``, as for the call TaskRouter would place. The router then accepts."""
    call_sid = task.attributes_data.get("call_sid")
    if not isinstance(call_sid, str) or not call_sid:
        raise errors.InvalidParameter(errors.DEQUEUE_NO_CALL_SID, code=40140)
    worker = ws.workers.get(reservation.worker_sid)
    to = update.dequeue_to or (worker.attributes_data.get("contact_uri") if worker is not None else None)
    if not isinstance(to, str) or not to:
        raise errors.InvalidParameter(errors.DEQUEUE_NO_TO, code=40131)
    worker_call_sid = ws.new_sid("CA")
    task.attributes_data = {**task.attributes_data, "worker_call_sid": worker_call_sid}
    task.attributes = v.compact_json(task.attributes_data)
    reservation.instructions += ({"instruction": "dequeue", "to": to, "from": update.dequeue_from,
                                  "call_sid": worker_call_sid},)


def supervise(ws: WorkspaceTables, reservation: Reservation, update: ReservationUpdate) -> None:
    """Supervise (``Supervisor``: a worker SID whose attributes have a ``contact_uri``, or a contact
    URI; ``SupervisorMode`` monitor, whisper or barge) on a reservation that has been accepted
    (error 40146). Nothing is dialled; the instruction is kept on the reservation."""
    if reservation.reservation_status not in SUPERVISABLE:
        raise errors.IllegalState(errors.SUPERVISE_STATE.format(status=reservation.reservation_status), code=40146)
    supervisor = update.supervisor or ""
    if supervisor.startswith("WK"):
        worker = ws.workers.get(supervisor)
        contact_uri = worker.attributes_data.get("contact_uri") if worker is not None else None
        if not isinstance(contact_uri, str) or not contact_uri:
            raise errors.InvalidParameter(errors.SUPERVISE_CONTACT_URI, code=40147)
    reservation.instructions += ({"instruction": "supervise", "supervisor": supervisor,
                                  "supervisor_mode": update.supervisor_mode or "monitor"},)

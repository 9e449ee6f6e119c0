"""Task transfers, the Worker SDK's resource (no REST v1 operation; ``Workers/{sid}/Transfers`` on
the Event Bridge): the worker holding a task offers it to another worker or to a TaskQueue.

To a worker: while the transfer is under way the task is ``reserved`` for its target and routed
to no one else. To a queue: the task enters that queue (``pending``) and the router offers it to
the queue's workers as it offers any task; each of those reservations is the transfer's offer.
Either way the initiating worker keeps its reservation. An offer accepted completes the transfer
(COLD: the initiating worker's reservation completes, WARM: both keep working on it). A rejected
offer of a worker transfer fails it; of a queue transfer it is a failed attempt
(``task.transfer-attempt-failed``, the transfer stays ``initiated`` and the task waits in the queue
again for another of its workers). An offer that times out fails either kind, and a cancel by the
initiating worker withdraws it; then the task is ``assigned`` to the initiating worker again, in
the queue it was in (``task.updated``). Events: ``task.transfer-initiated``, ``-attempt-failed``,
``-completed``, ``-failed``, ``-canceled``, with the task and the transfer's fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import errors
from .. import lifecycle
from ..lifecycle import DEFAULT_RESERVATION_TIMEOUT
from ..state import (
    ASSIGNED,
    PENDING,
    RESERVED,
    Reservation,
    ReservationStatus,
    Route,
    Task,
    TaskRouting,
    Transfer,
    TransferStatus,
)
from ..workflow_config import Target
from . import index as idx
from . import steps

if TYPE_CHECKING:
    from ..router import Router
    from ..tables import WorkspaceTables

RS = ReservationStatus
WORKER, QUEUE = "WORKER", "QUEUE"
# the reasons the Worker SDK's own event fixtures carry for a transfer to a queue
# (twilio-taskrouter.js test/mock/Events.js, transferAttemptFailed and transferFailed)
ATTEMPT_FAILED_REASON = "Transfer attempt failed on reservation reject because there are no more pending reservations"
TIMED_OUT_REASON = "Transfer failed because the reservation timed out"


def create(router: Router, ws: WorkspaceTables, reservation: Reservation, task: Task, to: str, mode: str,
           attributes: tuple[str, dict] | None, priority: int | None) -> Transfer:
    now = ws.now()
    kind = QUEUE if to in ws.task_queues else WORKER
    transfer = Transfer(ws.new_sid("TT"), ws.account_sid, ws.sid, task.sid, kind, mode, to,
                        TransferStatus.INITIATED, reservation.sid, reservation.worker_sid,
                        task.task_queue_sid, task.workflow_sid, now, now)
    ws.transfers[transfer.sid] = transfer
    if attributes is not None:
        task.attributes, task.attributes_data = attributes
    if priority is not None:
        task.priority = priority
    task.transfer_sid = transfer.sid
    task.version += 1
    if kind == QUEUE:
        # the task waits in the target queue, and the router offers it there (``_reserve`` makes
        # each reservation the transfer's offer); a fresh routing state: nobody has passed on it there
        lifecycle.move_task(task, PENDING, now)
        _event(ws, transfer, "task.transfer-initiated")
        ws.task_routing[task.sid] = TaskRouting(Route([Target(queue_sid=to)]))
        steps.enter_step(ws, task, 0)
        return transfer
    lifecycle.move_task(task, RESERVED, now)
    idx.sync_task(ws, ws.index, task)
    _event(ws, transfer, "task.transfer-initiated")
    leg = Reservation(ws.new_sid("WR"), ws.account_sid, ws.sid, task.sid, to, RS.PENDING, now, now,
                      transfer_sid=transfer.sid)
    transfer.reservation_sid = leg.sid
    ws.reservations[leg.sid] = leg
    idx.index_reservation(ws.index, leg)
    router._set_reservation(ws, leg, RS.PENDING, "reservation.created")
    workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
    ws.timers.start(lifecycle.RESERVATION, leg.sid,
                    workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT)
    return transfer


def offered(ws: WorkspaceTables, task: Task, leg: Reservation) -> None:
    """The router reserved a worker for a task: if the task is being transferred to a queue, the
    reservation is the transfer's latest offer."""
    transfer = ws.transfers.get(task.transfer_sid) if task.transfer_sid is not None else None
    if transfer is not None:
        leg.transfer_sid = transfer.sid
        transfer.reservation_sid = leg.sid


def cancel(router: Router, ws: WorkspaceTables, transfer: Transfer) -> None:
    """The initiating worker withdraws a transfer under way: its offer is canceled."""
    if transfer.transfer_status != TransferStatus.INITIATED:
        raise errors.InvalidParameter(errors.TRANSFER_NOT_INITIATED.format(
            sid=transfer.sid, status=transfer.transfer_status))
    leg = ws.reservations.get(transfer.reservation_sid or "")
    _end(router, ws, transfer, leg, RS.CANCELED, TransferStatus.CANCELED, None)


def accepted(router: Router, ws: WorkspaceTables, leg: Reservation, task: Task) -> None:
    """A reservation was accepted (the router has assigned the task): if it is a transfer's offer,
    the transfer completes."""
    if leg.transfer_sid is None:
        return
    transfer = ws.transfers.get(leg.transfer_sid)
    if transfer is None:
        return
    task.transfer_sid = None
    transfer.transfer_status = TransferStatus.COMPLETE
    transfer.transfer_failed_reason = None  # a queue transfer's failed attempts are behind it
    transfer.date_updated = ws.now()
    _event(ws, transfer, "task.transfer-completed")
    initiating = ws.reservations.get(transfer.initiating_reservation_sid)
    if transfer.transfer_mode == "COLD" and initiating is not None and \
            initiating.reservation_status in (RS.ACCEPTED, RS.WRAPPING):
        # a cold transfer hands the task over: the first worker's part is done
        router._set_reservation(ws, initiating, RS.COMPLETED, "reservation.completed")
        router._free_assigned(ws, initiating, task)
        router.work.want_worker(ws, initiating.worker_sid)


def failed(router: Router, ws: WorkspaceTables, leg: Reservation, status: str) -> None:
    """The offer ended unaccepted (rejected, timed out, canceled)."""
    transfer = ws.transfers.get(leg.transfer_sid or "")
    if transfer is None or transfer.transfer_status != TransferStatus.INITIATED:
        router._end_reservation(ws, leg, status)
        return
    if transfer.transfer_type == QUEUE:
        if status == RS.REJECTED:
            _attempt_failed(router, ws, transfer, leg)
            return
        reason = TIMED_OUT_REASON if status == RS.TIMEOUT else None
    else:
        reason = f"Transfer reservation {leg.sid} " + {RS.REJECTED: "rejected", RS.TIMEOUT: "timed out"}.get(status, status)
    _end(router, ws, transfer, leg, status, TransferStatus.FAILED, reason)


def _attempt_failed(router: Router, ws: WorkspaceTables, transfer: Transfer, leg: Reservation) -> None:
    """A worker of the target queue rejected the offer: the task waits in the queue for another
    (the transfer stays under way) once no other offer of it is pending."""
    router._end_reservation(ws, leg, RS.REJECTED)
    if leg.worker_sid in ws.workers:
        router.work.want_worker(ws, leg.worker_sid)
    task = ws.tasks.get(transfer.task_sid)
    if task is None or task.assignment_status != RESERVED:
        return
    state = ws.task_routing.setdefault(task.sid, TaskRouting(Route([Target(queue_sid=transfer.transfer_to)])))
    state.excluded.add(leg.worker_sid)
    if router._task_reservations(ws, task, RS.PENDING):
        return
    if state.attempts >= lifecycle.MAX_RESERVATION_ATTEMPTS:
        _end(router, ws, transfer, None, RS.CANCELED, TransferStatus.FAILED, lifecycle.ATTEMPTS_REASON)
        return
    transfer.transfer_failed_reason = ATTEMPT_FAILED_REASON
    transfer.date_updated = ws.now()
    _event(ws, transfer, "task.transfer-attempt-failed")
    lifecycle.move_task(task, PENDING, ws.now())
    task.version += 1
    idx.sync_task(ws, ws.index, task)
    # the SDK's transfer specs expect the transferring worker's task ``updated`` to pending here
    ws.emit("task.updated", task=task)
    router.work.want_task(ws, task.sid)


def _end(router: Router, ws: WorkspaceTables, transfer: Transfer, leg: Reservation | None, leg_status: str,
         status: str, reason: str | None) -> None:
    """The transfer ends without its target: the offer's event carries the ended transfer, then
    the transfer's event, then the task, the initiating worker's again."""
    transfer.transfer_status = status
    transfer.transfer_failed_reason = reason
    transfer.date_updated = ws.now()
    task = ws.tasks.get(transfer.task_sid)
    offers = [(leg, leg_status)] if leg is not None else []
    if task is not None and transfer.transfer_type == QUEUE:
        # a queue transfer's other pending offers end with it
        others = RS.CANCELED if status == TransferStatus.CANCELED else RS.RESCINDED
        offers += [(r, others) for r in router._task_reservations(ws, task, RS.PENDING)
                   if r.transfer_sid == transfer.sid and r is not leg]
    for offer, offer_status in offers:
        if offer.reservation_status == RS.PENDING:
            router._end_reservation(ws, offer, offer_status)
            if offer.worker_sid in ws.workers:
                router.work.want_worker(ws, offer.worker_sid)
    _event(ws, transfer, f"task.transfer-{status}")
    if task is None or task.transfer_sid != transfer.sid:
        return
    task.transfer_sid = None
    if transfer.transfer_type == QUEUE:
        # back in the queue it was transferred from, off the target queue's routing
        ws.timers.cancel(lifecycle.TARGET, task.sid)
        task.task_queue_sid = transfer.initiating_queue_sid
        ws.task_routing[task.sid] = TaskRouting(Route([Target(queue_sid=transfer.initiating_queue_sid)]))
    if task.assignment_status in (RESERVED, PENDING):
        lifecycle.move_task(task, ASSIGNED, ws.now())
        task.version += 1
        idx.sync_task(ws, ws.index, task)
        ws.emit("task.updated", task=task)


def _event(ws: WorkspaceTables, transfer: Transfer, event_type: str) -> None:
    # the queue and workflow the transfer started from
    ws.emit(event_type, transfer=transfer, queue=ws.task_queues.get(transfer.initiating_queue_sid or ""),
            workflow=ws.workflows.get(transfer.initiating_workflow_sid or ""))

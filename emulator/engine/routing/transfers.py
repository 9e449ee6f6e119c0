"""Task transfers, the Worker SDK's resource (no REST v1 operation; ``Workers/{sid}/Transfers`` on
the Event Bridge): the worker holding a task offers it to another worker.

While a transfer is under way the task is ``reserved`` for its target and routed to no one else;
the initiating worker keeps its reservation. The target accepting completes the transfer (COLD:
the initiating worker's reservation completes, WARM: both keep working on it); a rejection or
a timeout fails it, and a cancel by the initiating worker withdraws it, and then the task is
``assigned`` to the initiating worker again (``task.updated``). Events: ``task.transfer-initiated``,
``-completed``, ``-failed``, ``-canceled``, with the task and the transfer's fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import errors
from .. import lifecycle
from ..lifecycle import DEFAULT_RESERVATION_TIMEOUT
from ..state import ASSIGNED, RESERVED, Reservation, ReservationStatus, Task, Transfer, TransferStatus
from . import index as idx

if TYPE_CHECKING:
    from ..router import Router
    from ..tables import WorkspaceTables

RS = ReservationStatus


def create(router: Router, ws: WorkspaceTables, reservation: Reservation, task: Task, to: str, mode: str,
           attributes: tuple[str, dict] | None, priority: int | None) -> Transfer:
    now = ws.now()
    transfer = Transfer(ws.new_sid("TT"), ws.account_sid, ws.sid, task.sid, "WORKER", mode, to,
                        TransferStatus.INITIATED, reservation.sid, reservation.worker_sid,
                        task.task_queue_sid, task.workflow_sid, now, now)
    ws.transfers[transfer.sid] = transfer
    if attributes is not None:
        task.attributes, task.attributes_data = attributes
    if priority is not None:
        task.priority = priority
    task.transfer_sid = transfer.sid
    task.version += 1
    lifecycle.move_task(task, RESERVED, now)
    idx.sync_task(ws, ws.index, task)
    _event(ws, transfer, "task.transfer-initiated", "initiated")
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
    transfer.date_updated = ws.now()
    _event(ws, transfer, "task.transfer-completed", "completed")
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
    reason = {RS.REJECTED: "rejected", RS.TIMEOUT: "timed out"}.get(status, status)
    _end(router, ws, transfer, leg, status, TransferStatus.FAILED, f"Transfer reservation {leg.sid} {reason}")


def _end(router: Router, ws: WorkspaceTables, transfer: Transfer, leg: Reservation | None, leg_status: str,
         status: str, reason: str | None) -> None:
    """The transfer ends without its target: the offer's event carries the ended transfer, then
    the transfer's event, then the task, the initiating worker's again."""
    transfer.transfer_status = status
    transfer.transfer_failed_reason = reason
    transfer.date_updated = ws.now()
    if leg is not None and leg.reservation_status == RS.PENDING:
        router._end_reservation(ws, leg, leg_status)
        if leg.worker_sid in ws.workers:
            router.work.want_worker(ws, leg.worker_sid)
    _event(ws, transfer, f"task.transfer-{status}", status)
    task = ws.tasks.get(transfer.task_sid)
    if task is None or task.transfer_sid != transfer.sid:
        return
    task.transfer_sid = None
    if task.assignment_status == RESERVED:
        lifecycle.move_task(task, ASSIGNED, ws.now())
        task.version += 1
        idx.sync_task(ws, ws.index, task)
        ws.emit("task.updated", task=task)


def _event(ws: WorkspaceTables, transfer: Transfer, event_type: str, verb: str) -> None:
    # the queue and workflow the transfer started from (``verb`` is in the catalogue's description)
    ws.emit(event_type, transfer=transfer, queue=ws.task_queues.get(transfer.initiating_queue_sid or ""),
            workflow=ws.workflows.get(transfer.initiating_workflow_sid or ""))

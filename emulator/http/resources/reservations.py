"""Reservations, seen from the Task and from the Worker:
/v1/Workspaces/{WorkspaceSid}/Tasks/{TaskSid}/Reservations[/{Sid}] and
/v1/Workspaces/{WorkspaceSid}/Workers/{WorkerSid}/Reservations[/{Sid}]."""

from ...engine import queries
from ...engine.updates import ReservationUpdate
from ..registry import Call, Reply, operation


@operation("ListTaskReservation")
def list_task_reservations(call: Call) -> Reply:
    ws = call.workspace()
    task = ws.get_task(call.path["TaskSid"])
    items = queries.reservations(ws, task_sid=task.sid, worker_sid=call.p("worker_sid"),
                                 status=call.p("reservation_status"))
    return call.page("reservations", items, lambda r: call.render.reservation(ws, r))


@operation("ListWorkerReservation")
def list_worker_reservations(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["WorkerSid"])
    items = queries.reservations(ws, worker_sid=worker.sid, status=call.p("reservation_status"))
    return call.page("reservations", items, lambda r: call.render.reservation(ws, r, via_worker=True))


@operation("FetchTaskReservation")
def fetch_task_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], task_sid=call.path["TaskSid"])
    return Reply(call.render.reservation(ws, reservation), headers={"ETag": str(reservation.version)})


@operation("FetchWorkerReservation")
def fetch_worker_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], worker_sid=call.path["WorkerSid"])
    return Reply(call.render.reservation(ws, reservation, via_worker=True), headers={"ETag": str(reservation.version)})


@operation("UpdateTaskReservation")
def update_task_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], task_sid=call.path["TaskSid"])
    ws.update_reservation(reservation, ReservationUpdate.from_params(call.params))
    return Reply(call.render.reservation(ws, reservation), headers={"ETag": str(reservation.version)})


@operation("UpdateWorkerReservation")
def update_worker_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], worker_sid=call.path["WorkerSid"])
    ws.update_reservation(reservation, ReservationUpdate.from_params(call.params))
    return Reply(call.render.reservation(ws, reservation, via_worker=True), headers={"ETag": str(reservation.version)})

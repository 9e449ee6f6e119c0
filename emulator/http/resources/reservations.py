"""Reservations, seen from the Task and from the Worker:
/v1/Workspaces/{WorkspaceSid}/Tasks/{TaskSid}/Reservations[/{Sid}] and
/v1/Workspaces/{WorkspaceSid}/Workers/{WorkerSid}/Reservations[/{Sid}]."""

from ..registry import Call, Reply, operation


def _status_filter(call: Call):
    status = call.p("reservation_status")
    return lambda r: status is None or r.reservation_status == status


@operation("ListTaskReservation")
def list_task_reservations(call: Call) -> Reply:
    ws = call.workspace()
    task = ws.get_task(call.path["TaskSid"])
    worker_sid, status_ok = call.p("worker_sid"), _status_filter(call)
    items = [r for r in ws.reservations.values()
             if r.task_sid == task.sid and status_ok(r) and (worker_sid is None or r.worker_sid == worker_sid)]
    return call.page("reservations", items, lambda r: call.render.reservation(ws, r))


@operation("ListWorkerReservation")
def list_worker_reservations(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["WorkerSid"])
    status_ok = _status_filter(call)
    items = [r for r in ws.reservations.values() if r.worker_sid == worker.sid and status_ok(r)]
    return call.page("reservations", items, lambda r: call.render.reservation(ws, r, via_worker=True))


@operation("FetchTaskReservation")
def fetch_task_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], task_sid=call.path["TaskSid"])
    return Reply(call.render.reservation(ws, reservation))


@operation("FetchWorkerReservation")
def fetch_worker_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], worker_sid=call.path["WorkerSid"])
    return Reply(call.render.reservation(ws, reservation, via_worker=True))


@operation("UpdateTaskReservation")
def update_task_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], task_sid=call.path["TaskSid"])
    ws.backend.router.update_reservation(ws, reservation, call.params)
    return Reply(call.render.reservation(ws, reservation))


@operation("UpdateWorkerReservation")
def update_worker_reservation(call: Call) -> Reply:
    ws = call.workspace()
    reservation = ws.get_reservation(call.path["Sid"], worker_sid=call.path["WorkerSid"])
    ws.backend.router.update_reservation(ws, reservation, call.params)
    return Reply(call.render.reservation(ws, reservation, via_worker=True))

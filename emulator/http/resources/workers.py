"""Workers and Worker Channels: /v1/Workspaces/{WorkspaceSid}/Workers[/{Sid}[/Channels[/{Sid}]]]."""

from ...engine import queries
from ..registry import Call, Reply, operation


@operation("CreateWorker")
def create_worker(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.create_worker(call.p("friendly_name"), activity_sid=call.p("activity_sid"),
                              attributes=call.p("attributes"))
    return Reply(call.render.worker(ws, worker), 201, {"ETag": str(worker.version)})


@operation("FetchWorker")
def fetch_worker(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["Sid"])
    return Reply(call.render.worker(ws, worker), headers={"ETag": str(worker.version)})


@operation("UpdateWorker")
def update_worker(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.update_worker(call.path["Sid"], activity_sid=call.p("activity_sid"), attributes=call.p("attributes"),
                              friendly_name=call.p("friendly_name"),
                              reject_pending_reservations=call.p("reject_pending_reservations"),
                              if_match=call.p("if_match"))
    return Reply(call.render.worker(ws, worker), headers={"ETag": str(worker.version)})


@operation("DeleteWorker")
def delete_worker(call: Call) -> Reply:
    call.workspace().delete_worker(call.path["Sid"], call.p("if_match"))
    return Reply(None, 204)


@operation("ListWorker")
def list_workers(call: Call) -> Reply:
    ws = call.workspace()
    items = queries.listing(ws, "workers", queries.select_workers, activity_name=call.p("activity_name"),
                            activity_sid=call.p("activity_sid"), available=call.p("available"),
                            friendly_name=call.p("friendly_name"),
                            target_workers_expression=call.p("target_workers_expression"),
                            task_queue_name=call.p("task_queue_name"), task_queue_sid=call.p("task_queue_sid"),
                            ordering=call.p("ordering"))
    return call.page("workers", items, lambda w: call.render.worker(ws, w))


@operation("ListWorkerChannel")
def list_worker_channels(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["WorkerSid"])
    return call.page("channels", list(worker.channels.values()), lambda c: call.render.worker_channel(ws, c))


@operation("FetchWorkerChannel")
def fetch_worker_channel(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["WorkerSid"])
    return Reply(call.render.worker_channel(ws, ws.get_worker_channel(worker, call.path["Sid"])))


@operation("UpdateWorkerChannel")
def update_worker_channel(call: Call) -> Reply:
    ws = call.workspace()
    worker = ws.get_worker(call.path["WorkerSid"])
    channel = ws.update_worker_channel(worker, call.path["Sid"], capacity=call.p("capacity"),
                                       available=call.p("available"))
    return Reply(call.render.worker_channel(ws, channel))

"""TaskQueues: /v1/Workspaces/{WorkspaceSid}/TaskQueues[/{Sid}]."""

from ...engine import queries
from ..registry import Call, Reply, operation

QUEUE_FIELDS = ("target_workers", "max_reserved_workers", "task_order", "reservation_activity_sid",
                "assignment_activity_sid")


@operation("CreateTaskQueue")
def create_task_queue(call: Call) -> Reply:
    ws = call.workspace()
    queue = ws.create_task_queue(call.p("friendly_name"), **{k: call.p(k) for k in QUEUE_FIELDS})
    return Reply(call.render.task_queue(ws, queue), 201)


@operation("FetchTaskQueue")
def fetch_task_queue(call: Call) -> Reply:
    ws = call.workspace()
    return Reply(call.render.task_queue(ws, ws.get_task_queue(call.path["Sid"])))


@operation("UpdateTaskQueue")
def update_task_queue(call: Call) -> Reply:
    ws = call.workspace()
    queue = ws.update_task_queue(call.path["Sid"], friendly_name=call.p("friendly_name"),
                                 **{k: call.p(k) for k in QUEUE_FIELDS})
    return Reply(call.render.task_queue(ws, queue))


@operation("DeleteTaskQueue")
def delete_task_queue(call: Call) -> Reply:
    call.workspace().delete_task_queue(call.path["Sid"])
    return Reply(None, 204)


@operation("ListTaskQueue")
def list_task_queues(call: Call) -> Reply:
    ws = call.workspace()
    items = queries.listing(ws, "task_queues", queries.select_task_queues, friendly_name=call.p("friendly_name"),
                            evaluate_worker_attributes=call.p("evaluate_worker_attributes"),
                            worker_sid=call.p("worker_sid"), ordering=call.p("ordering"))
    return call.page("task_queues", items, lambda q: call.render.task_queue(ws, q))

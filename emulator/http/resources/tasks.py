"""Tasks: /v1/Workspaces/{WorkspaceSid}/Tasks[/{Sid}]."""

from ...engine import queries
from ..registry import Call, Reply, operation

CREATE_FIELDS = ("attributes", "priority", "timeout", "task_channel", "workflow_sid", "virtual_start_time",
                 "routing_target", "ignore_capacity", "task_queue_sid")
UPDATE_FIELDS = ("attributes", "assignment_status", "reason", "priority", "task_channel", "virtual_start_time",
                 "if_match")


@operation("CreateTask")
def create_task(call: Call) -> Reply:
    ws = call.workspace()
    task = ws.create_task(**{k: call.p(k) for k in CREATE_FIELDS})
    return Reply(call.render.task(ws, task), 201, {"ETag": str(task.version)})


@operation("FetchTask")
def fetch_task(call: Call) -> Reply:
    ws = call.workspace()
    task = ws.get_task(call.path["Sid"])
    return Reply(call.render.task(ws, task), headers={"ETag": str(task.version)})


@operation("UpdateTask")
def update_task(call: Call) -> Reply:
    ws = call.workspace()
    task = ws.update_task(call.path["Sid"], **{k: call.p(k) for k in UPDATE_FIELDS})
    return Reply(call.render.task(ws, task), headers={"ETag": str(task.version)})


@operation("DeleteTask")
def delete_task(call: Call) -> Reply:
    call.workspace().delete_task(call.path["Sid"], call.p("if_match"))
    return Reply(None, 204)


@operation("ListTask")
def list_tasks(call: Call) -> Reply:
    ws = call.workspace()
    items = queries.listing(ws, "tasks", queries.select_tasks, priority=call.p("priority"),
                            assignment_status=call.p("assignment_status"), workflow_sid=call.p("workflow_sid"),
                            workflow_name=call.p("workflow_name"), task_queue_sid=call.p("task_queue_sid"),
                            task_queue_name=call.p("task_queue_name"),
                            evaluate_task_attributes=call.p("evaluate_task_attributes"),
                            routing_target=call.p("routing_target"), ordering=call.p("ordering"),
                            has_addons=call.p("has_addons"))
    return call.page("tasks", items, lambda t: call.render.task(ws, t))

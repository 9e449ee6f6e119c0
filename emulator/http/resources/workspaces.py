"""Workspaces: /v1/Workspaces[/{Sid}]."""

from ..registry import Call, Reply, operation


@operation("CreateWorkspace")
def create_workspace(call: Call) -> Reply:
    ws = call.backend.create_workspace(
        call.account_sid, call.p("friendly_name"), event_callback_url=call.p("event_callback_url"),
        events_filter=call.p("events_filter"), multi_task_enabled=call.p("multi_task_enabled"),
        template=call.p("template"), prioritize_queue_order=call.p("prioritize_queue_order"))
    return Reply(call.render.workspace(ws), 201)


@operation("FetchWorkspace")
def fetch_workspace(call: Call) -> Reply:
    return Reply(call.render.workspace(call.workspace()))


@operation("UpdateWorkspace")
def update_workspace(call: Call) -> Reply:
    ws = call.workspace()
    ws.update(friendly_name=call.p("friendly_name"), event_callback_url=call.p("event_callback_url"),
              events_filter=call.p("events_filter"), multi_task_enabled=call.p("multi_task_enabled"),
              default_activity_sid=call.p("default_activity_sid"),
              timeout_activity_sid=call.p("timeout_activity_sid"),
              prioritize_queue_order=call.p("prioritize_queue_order"))
    return Reply(call.render.workspace(ws))


@operation("DeleteWorkspace")
def delete_workspace(call: Call) -> Reply:
    call.backend.delete_workspace(call.account_sid, call.path["Sid"])
    return Reply(None, 204)


@operation("ListWorkspace")
def list_workspaces(call: Call) -> Reply:
    name = call.p("friendly_name")
    items = [ws for ws in call.backend.workspaces(call.account_sid).values()
             if name is None or ws.friendly_name == name]
    return call.page("workspaces", items, call.render.workspace)

"""Workflows: /v1/Workspaces/{WorkspaceSid}/Workflows[/{Sid}]."""

from ..registry import Call, Reply, operation

WORKFLOW_FIELDS = ("assignment_callback_url", "fallback_assignment_callback_url", "task_reservation_timeout")


@operation("CreateWorkflow")
def create_workflow(call: Call) -> Reply:
    workflow = call.workspace().create_workflow(call.p("friendly_name"), call.p("configuration"),
                                                **{k: call.p(k) for k in WORKFLOW_FIELDS})
    return Reply(call.render.workflow(workflow), 201)


@operation("FetchWorkflow")
def fetch_workflow(call: Call) -> Reply:
    return Reply(call.render.workflow(call.workspace().get_workflow(call.path["Sid"])))


@operation("UpdateWorkflow")
def update_workflow(call: Call) -> Reply:
    workflow = call.workspace().update_workflow(
        call.path["Sid"], friendly_name=call.p("friendly_name"), configuration=call.p("configuration"),
        re_evaluate_tasks=bool(call.p("re_evaluate_tasks", False)), **{k: call.p(k) for k in WORKFLOW_FIELDS})
    return Reply(call.render.workflow(workflow))


@operation("DeleteWorkflow")
def delete_workflow(call: Call) -> Reply:
    call.workspace().delete_workflow(call.path["Sid"])
    return Reply(None, 204)


@operation("ListWorkflow")
def list_workflows(call: Call) -> Reply:
    name = call.p("friendly_name")
    items = [w for w in call.workspace().workflows.values() if name is None or w.friendly_name == name]
    return call.page("workflows", items, call.render.workflow)

"""Activities: /v1/Workspaces/{WorkspaceSid}/Activities[/{Sid}]."""

from ..registry import Call, Reply, operation


@operation("CreateActivity")
def create_activity(call: Call) -> Reply:
    activity = call.workspace().create_activity(call.p("friendly_name"), call.p("available", False))
    return Reply(call.render.activity(activity), 201)


@operation("FetchActivity")
def fetch_activity(call: Call) -> Reply:
    return Reply(call.render.activity(call.workspace().get_activity(call.path["Sid"])))


@operation("UpdateActivity")
def update_activity(call: Call) -> Reply:
    # The spec does not declare Available on update; it is passed on so the engine can refuse it.
    activity = call.workspace().update_activity(call.path["Sid"], call.p("friendly_name"),
                                                available=call.form.get("Available"))
    return Reply(call.render.activity(activity))


@operation("DeleteActivity")
def delete_activity(call: Call) -> Reply:
    call.workspace().delete_activity(call.path["Sid"])
    return Reply(None, 204)


@operation("ListActivity")
def list_activities(call: Call) -> Reply:
    name, available = call.p("friendly_name"), call.p("available")
    items = [a for a in call.workspace().activities.values()
             if (name is None or a.friendly_name == name) and (available is None or a.available == available)]
    return call.page("activities", items, call.render.activity)

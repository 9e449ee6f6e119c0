"""TaskChannels: /v1/Workspaces/{WorkspaceSid}/TaskChannels[/{Sid}] (Sid may be the unique name)."""

from ..registry import Call, Reply, operation


@operation("CreateTaskChannel")
def create_task_channel(call: Call) -> Reply:
    channel = call.workspace().create_task_channel(call.p("friendly_name"), call.p("unique_name"),
                                                   call.p("channel_optimized_routing"))
    return Reply(call.render.task_channel(channel), 201)


@operation("FetchTaskChannel")
def fetch_task_channel(call: Call) -> Reply:
    return Reply(call.render.task_channel(call.workspace().get_task_channel(call.path["Sid"])))


@operation("UpdateTaskChannel")
def update_task_channel(call: Call) -> Reply:
    channel = call.workspace().update_task_channel(call.path["Sid"], call.p("friendly_name"),
                                                   call.p("channel_optimized_routing"))
    return Reply(call.render.task_channel(channel))


@operation("DeleteTaskChannel")
def delete_task_channel(call: Call) -> Reply:
    call.workspace().delete_task_channel(call.path["Sid"])
    return Reply(None, 204)


@operation("ListTaskChannel")
def list_task_channels(call: Call) -> Reply:
    return call.page("channels", list(call.workspace().task_channels.values()), call.render.task_channel)

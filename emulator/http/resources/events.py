"""Events: /v1/Workspaces/{WorkspaceSid}/Events[/{Sid}]."""

from ...engine import queries
from ..registry import Call, Reply, operation

FILTERS = ("end_date", "event_type", "minutes", "reservation_sid", "start_date", "task_queue_sid", "task_sid",
           "worker_sid", "workflow_sid", "task_channel", "sid")


@operation("FetchEvent")
def fetch_event(call: Call) -> Reply:
    return Reply(call.render.event(call.workspace().get_event(call.path["Sid"])))


@operation("ListEvent")
def list_events(call: Call) -> Reply:
    items = queries.event_listing(call.workspace(), **{k: call.p(k) for k in FILTERS})
    return call.page("events", items, call.render.event)

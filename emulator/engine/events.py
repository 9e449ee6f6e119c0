"""The event catalogue: what TaskRouter logs (the Events resource) and posts to ``EventCallbackUrl``.

Each event type is declared once (``CATALOGUE``): the type of its resource, which of its subjects
that resource is, its description and its field groups. A call site says which event happened
and to what (``ws.emit("reservation.accepted", reservation=r)``); ``render`` finds the other
subjects (the reservation's task and worker, the task's queue and workflow) and renders the
groups. The field data follows the tables of https://www.twilio.com/docs/taskrouter/api/event/reference
joined with the bodies the real service posted in recorded traffic; it is kept as the callback's
PascalCase form fields, which the Events resource shows in snake_case and the Event Bridge picks
from by group (``GROUP_FIELDS``), with the subjects' SIDs beside it (``Event.subjects``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .state import Event, ReservationStatus

if TYPE_CHECKING:
    from .tables import WorkspaceTables

# How long the Events resource keeps an event (https://www.twilio.com/docs/taskrouter/api/event).
RETENTION_DAYS = 30

# The fields every event callback carries, in this order
# (https://www.twilio.com/docs/taskrouter/api/event/reference, "Event callbacks"; ``Sid`` and
# ``TimestampMs`` are sent too, https://www.twilio.com/docs/taskrouter/changelog 2018-01-18).
CALLBACK_FIELDS = ("EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription", "ResourceType",
                   "ResourceSid", "Timestamp", "TimestampMs", "Sid")

# Every event type the reference lists (NOT_EMITTED says which the emulator never logs, and why).
EVENT_TYPES = (
    "activity.created", "activity.updated", "activity.deleted",
    "reservation.created", "reservation.accepted", "reservation.rejected", "reservation.timeout",
    "reservation.canceled", "reservation.rescinded", "reservation.completed", "reservation.failed",
    "reservation.wrapup",
    "task.created", "task.updated", "task.canceled", "task.wrapup", "task.completed", "task.deleted",
    "task.system-deleted", "task.transfer-initiated", "task.transfer-attempt-failed", "task.transfer-failed",
    "task.transfer-canceled", "task.transfer-completed",
    "task-channel.created", "task-channel.updated", "task-channel.deleted",
    "task-queue.created", "task-queue.deleted", "task-queue.entered", "task-queue.timeout", "task-queue.moved",
    "task-queue.expression.updated",
    "worker.created", "worker.activity.update", "worker.attributes.update", "worker.capacity.update",
    "worker.channel.availability.update", "worker.deleted",
    "workflow.created", "workflow.updated", "workflow.deleted", "workflow.target-matched", "workflow.entered",
    "workflow.timeout", "workflow.skipped",
    "workspace.created", "workspace.updated", "workspace.deleted",
)

# Event types of the reference the emulator never logs, and why.
NOT_EMITTED = {
    "reservation.failed": "logged when the voice call an instruction places to the worker fails; the emulator "
                          "places no calls (dequeue, call and conference are accepted as instructions only)",
}

# [I] Operating units are a Flex notion the emulator does not model: the field the reference lists
# for workers and new queues is sent, empty.
OPERATING_UNIT_SID = None
# The matched filter of a workflow's default_filter has no name or expression to send.
DEFAULT_FILTER_NAME = "Default Filter"


def snake_case(name: str) -> str:
    """``WorkerTimeInPreviousActivityMs`` -> ``worker_time_in_previous_activity_ms``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def form_value(value) -> str:
    """How a field value travels in a form-encoded callback."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


# --- the catalogue ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventKind:
    """One event type: ``ResourceType`` (lower case, as recorded), the subject whose SID is
    ``ResourceSid``, the ``EventDescription`` template (formatted with ``_names``) and its field
    groups, in the order they are sent."""

    event_type: str
    resource_type: str
    resource: str
    description: str
    groups: tuple[str, ...]


def _kinds(resource_type: str, resource: str, groups: tuple[str, ...], **descriptions: str) -> list[EventKind]:
    return [EventKind(event_type, resource_type, resource, text, groups) for event_type, text in descriptions.items()]


TASK_GROUPS = ("task", "task_queue", "task_workflow")
RESERVATION_GROUPS = (*TASK_GROUPS, "worker", "reservation")

CATALOGUE: dict[str, EventKind] = {kind.event_type: kind for kind in [
    *_kinds("activity", "activity", ("activity",), **{
        "activity.created": "Activity {activity_name} created",
        "activity.updated": "Activity {activity_name} updated",
        "activity.deleted": "Activity {activity_name} deleted"}),
    # recorded: "Reservation WR… created", "Reservation WR… accepted"
    *_kinds("reservation", "reservation", RESERVATION_GROUPS, **{
        "reservation.created": "Reservation {reservation_sid} created",
        "reservation.accepted": "Reservation {reservation_sid} accepted",
        "reservation.rejected": "Reservation {reservation_sid} rejected",
        "reservation.timeout": "Reservation {reservation_sid} timed out",
        "reservation.canceled": "Reservation {reservation_sid} canceled",
        "reservation.rescinded": "Reservation {reservation_sid} rescinded",
        "reservation.completed": "Reservation {reservation_sid} completed",
        "reservation.wrapup": "Reservation {reservation_sid} wrapping up"}),
    *_kinds("reservation", "reservation", (*TASK_GROUPS, "reservation"), **{
        "reservation.failed": "Reservation {reservation_sid} failed"}),
    # recorded: "Task WT… created", "Task WT… completed"
    *_kinds("task", "task", TASK_GROUPS, **{
        "task.created": "Task {task_sid} created",
        "task.updated": "Task {task_sid} updated",
        "task.canceled": "Task {task_sid} canceled",
        "task.deleted": "Task {task_sid} deleted",
        "task.system-deleted": "Task {task_sid} deleted by the system",
    }),
    # a transfer's events carry its task's fields (the reference's "Task TaskQueueSid WorkflowSid",
    # the queue and workflow it started from); the transfer itself is among the event's subjects
    *_kinds("task", "task", TASK_GROUPS, **{
        f"task.transfer-{kind}": "Transfer {transfer_sid} " + kind.replace("-", " ")
        for kind in ("initiated", "attempt-failed", "failed", "canceled", "completed")}),
    # plus the worker who holds the task, which consumers of these two read (recorded task.completed)
    *_kinds("task", "task", (*TASK_GROUPS, "holder"), **{
        "task.wrapup": "Task {task_sid} wrapping up",
        "task.completed": "Task {task_sid} completed"}),
    *_kinds("taskchannel", "task_channel", ("task_channel",), **{
        "task-channel.created": "TaskChannel {task_channel_name} created",
        "task-channel.updated": "TaskChannel {task_channel_name} updated",
        "task-channel.deleted": "TaskChannel {task_channel_name} deleted"}),
    *_kinds("taskqueue", "queue", ("queue", "operating_unit"), **{
        "task-queue.created": "TaskQueue {queue_name} created"}),
    *_kinds("taskqueue", "queue", ("queue",), **{"task-queue.deleted": "TaskQueue {queue_name} deleted"}),
    *_kinds("taskqueue", "queue", ("queue_expression",), **{
        "task-queue.expression.updated": "TaskQueue {queue_name} expression updated"}),
    # recorded: ResourceType "task" with the task's SID; "Task WT… entered TaskQueue English"
    *_kinds("task", "task", TASK_GROUPS, **{
        "task-queue.entered": "Task {task_sid} entered TaskQueue {queue_name}",
        "task-queue.timeout": "Task {task_sid} timed out of TaskQueue {queue_name}",
        "task-queue.moved": "Task {task_sid} moved to TaskQueue {queue_name}"}),
    # recorded: "Worker alexdlaird created", "Worker alexdlaird updated to Busy Activity"
    *_kinds("worker", "worker", ("worker",), **{
        "worker.created": "Worker {worker_name} created",
        "worker.attributes.update": "Worker {worker_name} attributes updated",
        "worker.deleted": "Worker {worker_name} deleted"}),
    *_kinds("worker", "worker", ("worker", "activity_change"), **{
        "worker.activity.update": "Worker {worker_name} updated to {worker_activity_name} Activity"}),
    *_kinds("worker", "worker", ("worker", "worker_channel"), **{
        "worker.capacity.update": "Worker {worker_name} capacity updated",
        "worker.channel.availability.update": "Worker {worker_name} channel availability updated"}),
    *_kinds("workflow", "workflow", ("workflow",), **{
        "workflow.created": "Workflow {workflow_name} created",
        "workflow.updated": "Workflow {workflow_name} updated",
        "workflow.deleted": "Workflow {workflow_name} deleted"}),
    # recorded: "Task WT… entered Workflow Default", "Task WT… matched a workflow target"
    *_kinds("task", "task", TASK_GROUPS, **{
        "workflow.entered": "Task {task_sid} entered Workflow {workflow_name}",
        "workflow.timeout": "Task {task_sid} timed out of Workflow {workflow_name}",
        "workflow.skipped": "Task {task_sid} skipped out of Workflow {workflow_name}"}),
    *_kinds("task", "task", (*TASK_GROUPS, "filter"), **{
        "workflow.target-matched": "Task {task_sid} matched a workflow target"}),
    *_kinds("workspace", "workspace", (), **{
        "workspace.created": "Workspace {workspace_name} created",
        "workspace.updated": "Workspace {workspace_name} updated",
        "workspace.deleted": "Workspace {workspace_name} deleted"}),
]}
assert set(CATALOGUE) == set(EVENT_TYPES)

_WORKER = ("WorkerSid", "WorkerName", "WorkerAttributes", "WorkerActivitySid", "WorkerActivityName", "WorkerVersion",
           "OperatingUnitSid")
_QUEUE = ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression")
_WORKFLOW = ("WorkflowSid", "WorkflowName")
# The fields each group may send; a field absent from an event is one its subject has no value for.
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "task": ("TaskSid", "TaskAttributes", "TaskAge", "TaskPriority", "TaskAssignmentStatus", "TaskChannelSid",
             "TaskChannelUniqueName", "TaskAddons", "TaskCanceledReason", "TaskCompletedReason"),
    "task_queue": _QUEUE, "task_workflow": _WORKFLOW, "worker": _WORKER, "holder": _WORKER,
    "reservation": ("ReservationSid",),
    "activity_change": ("WorkerTimeInPreviousActivity", "WorkerTimeInPreviousActivityMs", "WorkerPreviousActivitySid",
                        "WorkerPreviousActivityName"),
    "worker_channel": ("WorkerChannelAvailable", "WorkerChannelAvailableCapacity", "WorkerChannelPreviousCapacity",
                       "TaskChannelSid", "TaskChannelUniqueName", "WorkerChannelTaskCount"),
    "activity": ("ActivitySid", "ActivityName", "ActivityAvailable"),
    "task_channel": ("TaskChannelSid", "TaskChannelName", "TaskChannelUniqueName", "TaskChannelOptimizedRouting"),
    "queue": _QUEUE, "operating_unit": ("OperatingUnitSid",),
    "queue_expression": ("TaskQueueSid", "TaskQueueTargetExpression"),
    "workflow": _WORKFLOW,
    "filter": ("WorkflowFilterName", "WorkflowFilterExpression"),
}


# --- rendering ------------------------------------------------------------------------------------
def _task_group(ws: "WorkspaceTables", s: dict) -> dict:
    task = s.get("task")
    if task is None:  # a transfer of a task that is gone
        return {"TaskSid": s["transfer"].task_sid}
    channel = ws.task_channels.get(task.task_channel_sid)
    fields = {"TaskSid": task.sid, "TaskAttributes": task.attributes, "TaskAge": ws.task_age(task),
              "TaskPriority": task.priority, "TaskAssignmentStatus": task.assignment_status,
              "TaskChannelSid": task.task_channel_sid, "TaskChannelUniqueName": channel.unique_name if channel else None,
              "TaskAddons": task.addons}
    # only a task that has such a reason carries the field (recorded bodies of tasks without one have neither)
    if task.reason is not None and task.assignment_status == "canceled":
        fields["TaskCanceledReason"] = task.reason
    if task.reason is not None and task.assignment_status == "completed":
        fields["TaskCompletedReason"] = task.reason
    return fields


def _queue(queue) -> dict:
    return {"TaskQueueSid": queue.sid, "TaskQueueName": queue.friendly_name,
            "TaskQueueTargetExpression": queue.target_workers}


def _workflow(workflow) -> dict:
    return {"WorkflowSid": workflow.sid, "WorkflowName": workflow.friendly_name}


def _worker(ws: "WorkspaceTables", worker) -> dict:
    activity = ws.activities.get(worker.activity_sid)
    return {"WorkerSid": worker.sid, "WorkerName": worker.friendly_name, "WorkerAttributes": worker.attributes,
            "WorkerActivitySid": worker.activity_sid, "WorkerActivityName": activity.friendly_name if activity else None,
            "WorkerVersion": worker.version, "OperatingUnitSid": OPERATING_UNIT_SID}


def _task_workflow_group(ws: "WorkspaceTables", s: dict) -> dict:
    workflow = s.get("workflow")
    # the reference lists WorkflowSid with every task event: a task routed without a workflow
    # (RoutingTarget, TaskQueueSid) sends it empty
    return _workflow(workflow) if workflow is not None else dict.fromkeys(_WORKFLOW)


def _activity_change_group(ws: "WorkspaceTables", s: dict) -> dict:
    previous, ms = s.get("previous_activity"), int(s.get("elapsed_ms", 0))
    return {"WorkerTimeInPreviousActivity": ms // 1000, "WorkerTimeInPreviousActivityMs": ms,
            "WorkerPreviousActivitySid": previous.sid if previous else None,
            "WorkerPreviousActivityName": previous.friendly_name if previous else None}


def _worker_channel_group(ws: "WorkspaceTables", s: dict) -> dict:
    channel = s["channel"]
    task_channel = ws.task_channels.get(channel.task_channel_sid)
    return {"WorkerChannelAvailable": channel.available,
            "WorkerChannelAvailableCapacity": ws.channel_available_capacity_percentage(channel),
            "WorkerChannelPreviousCapacity": s.get("previous_capacity"),
            "TaskChannelSid": channel.task_channel_sid,
            "TaskChannelUniqueName": task_channel.unique_name if task_channel else None,
            "WorkerChannelTaskCount": channel.assigned_tasks}


def _filter_group(ws: "WorkspaceTables", s: dict) -> dict:
    matched = s.get("filter")
    if matched is None or matched.name == DEFAULT_FILTER_NAME:
        return {}
    # recorded: WorkflowFilterExpression is a JSON list of the filter's expression
    return {"WorkflowFilterName": matched.name, "WorkflowFilterExpression": json.dumps([matched.expression.text])}


_RENDER: dict[str, Callable[["WorkspaceTables", dict], dict]] = {
    "task": _task_group,
    "task_queue": lambda ws, s: _queue(s["queue"]) if s.get("queue") is not None else {},
    "task_workflow": _task_workflow_group,
    "worker": lambda ws, s: _worker(ws, s["worker"]) if s.get("worker") is not None else
    # a reservation whose worker has been deleted still names it
    ({"WorkerSid": s["reservation"].worker_sid} if s.get("reservation") is not None else {}),
    "holder": lambda ws, s: _worker(ws, s["holder"]) if s.get("holder") is not None else {},
    "reservation": lambda ws, s: {"ReservationSid": s["reservation"].sid},
    "activity_change": _activity_change_group,
    "worker_channel": _worker_channel_group,
    "activity": lambda ws, s: {"ActivitySid": s["activity"].sid, "ActivityName": s["activity"].friendly_name,
                               "ActivityAvailable": s["activity"].available},
    "task_channel": lambda ws, s: {
        "TaskChannelSid": s["task_channel"].sid, "TaskChannelName": s["task_channel"].friendly_name,
        "TaskChannelUniqueName": s["task_channel"].unique_name,
        "TaskChannelOptimizedRouting": bool(s["task_channel"].channel_optimized_routing)},
    "queue": lambda ws, s: _queue(s["queue"]),
    "operating_unit": lambda ws, s: {"OperatingUnitSid": OPERATING_UNIT_SID},
    "queue_expression": lambda ws, s: {"TaskQueueSid": s["queue"].sid,
                                       "TaskQueueTargetExpression": s["queue"].target_workers},
    "workflow": lambda ws, s: _workflow(s["workflow"]),
    "filter": _filter_group,
}
assert set(_RENDER) == set(GROUP_FIELDS)

# Where each kind of resource lives under its workspace (the Events resource's ``resource_url``).
_PATHS: dict[str, Callable[[Any], str]] = {
    "task": lambda t: f"Tasks/{t.sid}", "reservation": lambda r: f"Tasks/{r.task_sid}/Reservations/{r.sid}",
    "worker": lambda w: f"Workers/{w.sid}", "activity": lambda a: f"Activities/{a.sid}",
    "task_channel": lambda c: f"TaskChannels/{c.sid}", "queue": lambda q: f"TaskQueues/{q.sid}",
    "workflow": lambda w: f"Workflows/{w.sid}",
}
_TABLES = {"task": "tasks", "reservation": "reservations", "worker": "workers", "activity": "activities",
           "task_channel": "task_channels", "queue": "task_queues", "workflow": "workflows"}
HOLDING = (ReservationStatus.ACCEPTED, ReservationStatus.WRAPPING, ReservationStatus.COMPLETED)


def subjects_of(ws: "WorkspaceTables", kind: EventKind, given: dict) -> dict:
    """The subjects an event is about: those the call site named, and those they lead to."""
    s = dict(given)
    transfer = s.get("transfer")
    if transfer is not None:
        s.setdefault("task", ws.tasks.get(transfer.task_sid))
    reservation = s.get("reservation")
    if reservation is not None:
        s.setdefault("task", ws.tasks.get(reservation.task_sid))
        s.setdefault("worker", ws.workers.get(reservation.worker_sid))
    task = s.get("task")
    if task is not None:
        if "queue" not in s:
            s["queue"] = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
        if "workflow" not in s:
            s["workflow"] = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        if "holder" in kind.groups and "holder" not in s:
            holding = [r for r in ws.task_reservations(task.sid) if r.reservation_status in HOLDING]
            s["holder"] = ws.workers.get(holding[-1].worker_sid) if holding else None
    return s


def _names(ws: "WorkspaceTables", s: dict) -> dict:
    def attr(key: str, name: str):
        value = s.get(key)
        return getattr(value, name, "") if value is not None else ""

    worker_activity = ws.activities.get(attr("worker", "activity_sid")) if s.get("worker") is not None else None
    return {"task_sid": attr("task", "sid"), "reservation_sid": attr("reservation", "sid"),
            "worker_name": attr("worker", "friendly_name"), "queue_name": attr("queue", "friendly_name"),
            "workflow_name": attr("workflow", "friendly_name"), "activity_name": attr("activity", "friendly_name"),
            "task_channel_name": attr("task_channel", "unique_name"), "workspace_name": ws.friendly_name,
            "transfer_sid": attr("transfer", "sid"),
            "worker_activity_name": worker_activity.friendly_name if worker_activity else ""}


@dataclass
class Rendered:
    """What ``WorkspaceTables.record`` stores of one event."""

    description: str
    resource_type: str
    resource_sid: str
    resource_path: str | None
    data: dict
    subjects: dict


def render(ws: "WorkspaceTables", event_type: str, given: dict) -> Rendered:
    """One event of the catalogue about ``given`` subjects (keyword: ``task``, ``reservation``,
    ``worker``, ``queue``, ``workflow``, ``activity``, ``task_channel``, ``channel`` with
    ``previous_capacity``, ``previous_activity`` with ``elapsed_ms``, ``filter``)."""
    kind = CATALOGUE[event_type]
    s = subjects_of(ws, kind, given)
    data: dict = {}
    for group in kind.groups:
        data.update(_RENDER[group](ws, s))
    path: str | None = ""
    if kind.resource == "workspace":
        sid = ws.sid
    else:
        resource = s.get(kind.resource)
        sid = resource.sid if resource is not None else s["transfer"].task_sid
        path = _PATHS[kind.resource](resource) if sid in getattr(ws, _TABLES[kind.resource]) else None
    sids = {name: value.sid for name, value in s.items() if getattr(value, "sid", None)}
    return Rendered(kind.description.format(**_names(ws, s)), kind.resource_type, sid, path, data, sids)




def event_data(event: Event) -> dict:
    """The ``event_data`` object of the Events resource: the field data in snake_case, as strings."""
    return {snake_case(k): form_value(v) for k, v in event.data.items() if v is not None}


def events_filter_types(events_filter: str | None) -> set[str] | None:
    """The event types a workspace's ``EventsFilter`` lets through to its callback URL; None = all.
    The docs show both ``a,b`` and ``a, b`` (https://www.twilio.com/docs/taskrouter/api/workspace)."""
    if not events_filter:
        return None
    return {part.strip() for part in events_filter.split(",") if part.strip()}


def callback_params(event: Event, workspace_name: str) -> dict:
    """The form fields of the event callback POST (always-present fields first).

    A field of an event's groups that has no value (``OperatingUnitSid``) is sent empty rather than
    left out [I]: the reference lists it as part of every event of the group. Fields that apply only
    sometimes (a task's reasons, its queue) are left out of the data when they do not apply."""
    params = {
        "EventType": event.event_type,
        "AccountSid": event.account_sid,
        "WorkspaceSid": event.workspace_sid,
        "WorkspaceName": workspace_name,
        "EventDescription": event.description,
        "ResourceType": event.resource_type,
        "ResourceSid": event.resource_sid,
        "Timestamp": str(int(event.event_date.timestamp())),
        "TimestampMs": str(int(event.event_date.timestamp() * 1000)),
        "Sid": event.sid,
    }
    for key, value in event.data.items():
        if key not in params:
            params[key] = form_value(value)
    return params

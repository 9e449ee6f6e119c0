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

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .state import ORIGIN, Event, EventLayout, ReservationStatus, TextSpec

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


@functools.lru_cache(maxsize=1024)  # the catalogue's field names: an Events page renders them for every event
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
# Each group renders as (names, values): ``names`` one of these constant tuples, ``values`` a tuple.
# A task's group is two parts: what is the task's own (its SID and attributes) and the rest, which
# many tasks have alike (age, priority, status, channel, addons): shared between tasks.
_TASK_HEAD = GROUP_FIELDS["task"][:2]
_TASK_STATE = GROUP_FIELDS["task"][2:8]
_TASK_CANCELED = (*_TASK_STATE, "TaskCanceledReason")
_TASK_COMPLETED = (*_TASK_STATE, "TaskCompletedReason")
_TASK_SID = ("TaskSid",)
_WORKER_SID = ("WorkerSid",)
_NO_WORKFLOW = (None, None)
_NOTHING: tuple = ()
_NONE: tuple = ((), ())
_SECOND = timedelta(seconds=1)
_RESERVATION = GROUP_FIELDS["reservation"]
Group = tuple[tuple[str, ...], tuple]


def _task_head(ws: "WorkspaceTables", s: dict) -> Group:
    """The task's own part (render() takes the task's groups together: ``_task_groups``)."""
    key: list = []
    values: list = []
    _task_groups(ws, s, key, values)
    return key[0], values[0]


def _task_groups(ws: "WorkspaceTables", s: dict, key: list, values: list, now: datetime | None = None) -> None:
    """The groups every task event starts with (``TASK_GROUPS``: the task's two parts, its
    queue's, its workflow's), their names added to ``key`` and their values to ``values``, in one call."""
    task = s.get("task")
    if task is None:  # a transfer of a task that is gone
        key += (_TASK_SID, _NOTHING)
        values += ((s["transfer"].task_sid,), _NOTHING)
    else:
        channel = ws.task_channels.get(task.task_channel_sid)
        # (ws.task_age, without its calls; as of the event's instant)
        age = ((now or ws.ctx.clock.now()) - task.date_created) // _SECOND
        state: tuple = (age if age > 0 else 0, task.priority, task.assignment_status, task.task_channel_sid,
                        channel.unique_name if channel else None, task.addons)
        reason = task.reason
        # only a task that has such a reason carries the field (recorded bodies of tasks without one have neither)
        if reason is not None and task.assignment_status == "canceled":
            key += (_TASK_HEAD, _TASK_CANCELED)
            state = (*state, reason)
        elif reason is not None and task.assignment_status == "completed":
            key += (_TASK_HEAD, _TASK_COMPLETED)
            state = (*state, reason)
        else:
            key += (_TASK_HEAD, _TASK_STATE)
        values += ((task.sid, task.attributes), state)
    queue, workflow = s.get("queue"), s.get("workflow")
    key += (_QUEUE if queue is not None else _NOTHING, _WORKFLOW)
    values += ((queue.sid, queue.friendly_name, queue.target_workers) if queue is not None else _NOTHING,
               # the reference lists WorkflowSid with every task event: a task routed without a
               # workflow (RoutingTarget, TaskQueueSid) sends it empty
               (workflow.sid, workflow.friendly_name) if workflow is not None else _NO_WORKFLOW)


def _queue(queue) -> Group:
    return _QUEUE, (queue.sid, queue.friendly_name, queue.target_workers)


def _worker(ws: "WorkspaceTables", worker) -> Group:
    activity = ws.activities.get(worker.activity_sid)
    return _WORKER, (worker.sid, worker.friendly_name, worker.attributes, worker.activity_sid,
                     activity.friendly_name if activity else None, worker.version, OPERATING_UNIT_SID)


def _task_workflow_group(ws: "WorkspaceTables", s: dict) -> Group:
    workflow = s.get("workflow")
    # the reference lists WorkflowSid with every task event: a task routed without a workflow
    # (RoutingTarget, TaskQueueSid) sends it empty
    return _WORKFLOW, ((workflow.sid, workflow.friendly_name) if workflow is not None else _NO_WORKFLOW)


def _worker_group(ws: "WorkspaceTables", s: dict) -> Group:
    worker = s.get("worker")
    if worker is not None:
        activity = ws.activities.get(worker.activity_sid)
        return _WORKER, (worker.sid, worker.friendly_name, worker.attributes, worker.activity_sid,
                         activity.friendly_name if activity else None, worker.version, OPERATING_UNIT_SID)
    reservation = s.get("reservation")
    # a reservation whose worker has been deleted still names it
    return (_WORKER_SID, (reservation.worker_sid,)) if reservation is not None else _NONE


def _activity_change_group(ws: "WorkspaceTables", s: dict) -> Group:
    previous, ms = s.get("previous_activity"), int(s.get("elapsed_ms", 0))
    return GROUP_FIELDS["activity_change"], (ms // 1000, ms, previous.sid if previous else None,
                                             previous.friendly_name if previous else None)


def _worker_channel_group(ws: "WorkspaceTables", s: dict) -> Group:
    channel = s["channel"]
    task_channel = ws.task_channels.get(channel.task_channel_sid)
    return GROUP_FIELDS["worker_channel"], (
        channel.available, ws.channel_available_capacity_percentage(channel), s.get("previous_capacity"),
        channel.task_channel_sid, task_channel.unique_name if task_channel else None, channel.assigned_tasks)


def _filter_group(ws: "WorkspaceTables", s: dict) -> Group:
    matched = s.get("filter")
    if matched is None or matched.name == DEFAULT_FILTER_NAME:
        return _NONE
    # recorded: WorkflowFilterExpression is a JSON list of the filter's expression
    return GROUP_FIELDS["filter"], (matched.name, _expression_list(matched.expression.text))


@functools.lru_cache(maxsize=1024)
def _expression_list(text: str) -> str:
    """A filter's expression as the JSON list events carry (a workflow's few filters recur)."""
    return json.dumps([text])


def _activity_group(ws: "WorkspaceTables", s: dict) -> Group:
    a = s["activity"]
    return GROUP_FIELDS["activity"], (a.sid, a.friendly_name, a.available)


def _task_channel_group(ws: "WorkspaceTables", s: dict) -> Group:
    c = s["task_channel"]
    return GROUP_FIELDS["task_channel"], (c.sid, c.friendly_name, c.unique_name, bool(c.channel_optimized_routing))


_RENDER: dict[str, Callable[["WorkspaceTables", dict], Group]] = {
    "task": _task_head,
    "task_queue": lambda ws, s: _queue(s["queue"]) if s.get("queue") is not None else _NONE,
    "task_workflow": _task_workflow_group,
    "worker": _worker_group,
    "holder": lambda ws, s: _worker(ws, s["holder"]) if s.get("holder") is not None else _NONE,
    "reservation": lambda ws, s: (_RESERVATION, (s["reservation"].sid,)),
    "activity_change": _activity_change_group,
    "worker_channel": _worker_channel_group,
    "activity": _activity_group,
    "task_channel": _task_channel_group,
    "queue": lambda ws, s: _queue(s["queue"]),
    "operating_unit": lambda ws, s: (GROUP_FIELDS["operating_unit"], (OPERATING_UNIT_SID,)),
    "queue_expression": lambda ws, s: (GROUP_FIELDS["queue_expression"], (s["queue"].sid, s["queue"].target_workers)),
    "workflow": lambda ws, s: (_WORKFLOW, (s["workflow"].sid, s["workflow"].friendly_name)),
    "filter": _filter_group,
}
assert set(_RENDER) == set(GROUP_FIELDS)

# Where each kind of resource lives under its workspace (the Events resource's ``resource_url``),
# with the fields its path is made of.
_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "task": ("Tasks/%s", ("TaskSid",)), "reservation": ("Tasks/%s/Reservations/%s", ("TaskSid", "ReservationSid")),
    "worker": ("Workers/%s", ("WorkerSid",)), "activity": ("Activities/%s", ("ActivitySid",)),
    "task_channel": ("TaskChannels/%s", ("TaskChannelSid",)), "queue": ("TaskQueues/%s", ("TaskQueueSid",)),
    "workflow": ("Workflows/%s", ("WorkflowSid",)),
}
_PATH_OF: dict[str, Callable[[Any], str]] = {
    "task": lambda t: f"Tasks/{t.sid}", "reservation": lambda r: f"Tasks/{r.task_sid}/Reservations/{r.sid}",
    "worker": lambda w: f"Workers/{w.sid}", "activity": lambda a: f"Activities/{a.sid}",
    "task_channel": lambda c: f"TaskChannels/{c.sid}", "queue": lambda q: f"TaskQueues/{q.sid}",
    "workflow": lambda w: f"Workflows/{w.sid}",
}
_TABLES = {"task": "tasks", "reservation": "reservations", "worker": "workers", "activity": "activities",
           "task_channel": "task_channels", "queue": "task_queues", "workflow": "workflows"}
# The field holding the SID of each kind of resource, and of each subject an event names.
_SID_FIELDS = {"task": "TaskSid", "reservation": "ReservationSid", "worker": "WorkerSid", "activity": "ActivitySid",
               "task_channel": "TaskChannelSid", "queue": "TaskQueueSid", "workflow": "WorkflowSid",
               "workspace": "WorkspaceSid"}
HOLDING = (ReservationStatus.ACCEPTED, ReservationStatus.WRAPPING, ReservationStatus.COMPLETED)


def subjects_of(ws: "WorkspaceTables", kind: EventKind, given: dict) -> dict:
    """The subjects an event is about: those the call site named, and those they lead to."""
    s = dict(given)
    _complete(ws, "holder" in kind.groups, s)
    return s


def _complete(ws: "WorkspaceTables", holder: bool, s: dict) -> None:
    """``subjects_of`` in place: ``s`` gains the subjects those named lead to."""
    transfer = s.get("transfer")
    if transfer is not None and "task" not in s:
        s["task"] = ws.tasks.get(transfer.task_sid)
    reservation = s.get("reservation")
    if reservation is not None:
        if "task" not in s:
            s["task"] = ws.tasks.get(reservation.task_sid)
        if "worker" not in s:
            s["worker"] = ws.workers.get(reservation.worker_sid)
    task = s.get("task")
    if task is not None:
        if "queue" not in s:
            s["queue"] = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
        if "workflow" not in s:
            s["workflow"] = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        if holder and "holder" not in s:
            holding = [r for r in ws.task_reservations(task.sid) if r.reservation_status in HOLDING]
            s["holder"] = ws.workers.get(holding[-1].worker_sid) if holding else None


def _attr(key: str, name: str) -> Callable[["WorkspaceTables", dict], Any]:
    def value(ws: "WorkspaceTables", s: dict):
        subject = s.get(key)
        return getattr(subject, name, "") if subject is not None else ""
    return value


def _worker_activity_name(ws: "WorkspaceTables", s: dict) -> str:
    worker = s.get("worker")
    activity = ws.activities.get(worker.activity_sid) if worker is not None else None
    return activity.friendly_name if activity else ""


def _workspace_name(ws: Any, s: dict) -> str:
    return ws.friendly_name


# What each name of a description stands for: the field of the data that holds it (the same value,
# as of the event), and how to find it from the subjects when an event's data does not hold it.
_NAMES: dict[str, tuple[str | None, Callable[["WorkspaceTables", dict], Any]]] = {
    "task_sid": ("TaskSid", _attr("task", "sid")),
    "reservation_sid": ("ReservationSid", _attr("reservation", "sid")),
    "worker_name": ("WorkerName", _attr("worker", "friendly_name")),
    "queue_name": ("TaskQueueName", _attr("queue", "friendly_name")),
    "workflow_name": ("WorkflowName", _attr("workflow", "friendly_name")),
    "activity_name": ("ActivityName", _attr("activity", "friendly_name")),
    "task_channel_name": ("TaskChannelUniqueName", _attr("task_channel", "unique_name")),
    "workspace_name": ("WorkspaceName", _workspace_name),
    "transfer_sid": (None, _attr("transfer", "sid")),
    "worker_activity_name": ("WorkerActivityName", _worker_activity_name),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_NULLABLE = frozenset(("WorkflowName", "WorkerActivityName"))


def _layout(kind: EventKind, has_path: bool, groups: list[tuple[str, ...]]) -> tuple[EventLayout, tuple]:
    """The layout of ``kind``'s events with groups of these field names, and the functions ``(ws, subjects)``
    giving the values its texts need that the data does not hold (kept as the last part)."""
    names: list[str] = ["WorkspaceSid", "WorkspaceName"]
    positions: list[tuple[int, int]] = [(ORIGIN, 0), (ORIGIN, 1)]
    for part, group_names in enumerate(groups, start=ORIGIN + 1):
        names += group_names
        positions += [(part, i) for i in range(len(group_names))]
    if len(set(names)) != len(names):
        raise AssertionError(f"{kind.event_type}: a field in two groups")
    at = dict(zip(names, positions, strict=True))
    extras: list[Callable[["WorkspaceTables", dict], Any]] = []
    extra_part = ORIGIN + 1 + len(groups)

    def source(field: str | None, find: Callable[["WorkspaceTables", dict], Any]) -> tuple[int, int]:
        if field is not None and field in at:
            return at[field]
        extras.append(find)
        return (extra_part, len(extras) - 1)

    resource = kind.resource
    placeholders = _PLACEHOLDER.findall(kind.description)
    description = [source(*_NAMES[name]) for name in placeholders]
    # a name the data may hold as None (a task without a workflow, a worker's deleted activity) shows as ""
    nullable = tuple(_NAMES[name][0] in _NULLABLE and _NAMES[name][0] in at for name in placeholders)
    template = _PLACEHOLDER.sub("%s", kind.description.replace("%", "%%"))
    resource_sid = at["WorkspaceSid"] if resource == "workspace" else source(
        _SID_FIELDS[resource], lambda ws, s: s[resource].sid if s.get(resource) is not None else s["transfer"].task_sid)
    path: TextSpec | None = None  # (the resource was gone when the event was logged)
    if has_path and resource == "workspace":
        path = ("", (), ())
    elif has_path:
        path_template, fields = _PATHS[resource]
        if all(field in at for field in fields):
            path = (path_template, tuple(at[field] for field in fields), (False,) * len(fields))
        else:
            path = (None, (source(None, lambda ws, s: _PATH_OF[resource](s[resource])),), (False,))
    subjects = [(subject, at[field]) for subject, field in _SID_FIELDS.items() if field in at and subject != "workspace"]
    if kind.event_type.startswith("task.transfer-"):
        subjects.append(("transfer", source(None, _attr("transfer", "sid"))))
    layout = EventLayout(kind.event_type, kind.resource_type, tuple(names), tuple(positions),
                         description=(template, tuple(description), nullable),
                         resource_sid=(None, (resource_sid,), (False,)), resource_path=path, subjects=tuple(subjects),
                         whole=tuple(range(ORIGIN + 1, extra_part)))
    return layout, tuple(extras)


_LAYOUTS: dict[tuple, tuple[EventLayout, tuple]] = {}

# What rendering an event type takes, resolved once: its kind, whether it names the task's holder,
# its groups' renderers (None: the task's groups, ``_task_groups``, which every task event starts
# with), the table its resource is looked up in for its path (None: the workspace's own events,
# whose path is always there) and the subject that resource is.
def _plan(kind: EventKind) -> tuple[EventKind, bool, tuple, str | None, str]:
    groups: tuple = kind.groups
    renderers: tuple = ()
    if groups[:len(TASK_GROUPS)] == TASK_GROUPS:
        groups, renderers = groups[len(TASK_GROUPS):], (None,)
    assert "task" not in groups, f"{kind.event_type}: the task's groups come first"
    renderers += tuple(_RENDER[group] for group in groups)
    return (kind, "holder" in kind.groups, renderers, None if kind.resource == "workspace" else _TABLES[kind.resource],
            kind.resource)


_PLANS = {kind.event_type: _plan(kind) for kind in CATALOGUE.values()}


def render(ws: "WorkspaceTables", event_type: str, given: dict, now: datetime) -> tuple[EventLayout, list]:
    """One event of the catalogue about ``given`` subjects (keyword: ``task``, ``reservation``,
    ``worker``, ``queue``, ``workflow``, ``activity``, ``task_channel``, ``channel`` with
    ``previous_capacity``, ``previous_activity`` with ``elapsed_ms``, ``filter``, ``transfer``):
    its layout and the values of its groups (the parts after the workspace's origin), as of
    ``now`` (the event's instant). ``given`` is the caller's own dict: it is completed in place
    (``subjects_of``)."""
    kind, holder, renderers, table, resource_subject = _PLANS[event_type]
    s = given
    _complete(ws, holder, s)  # the subjects those named lead to (``subjects_of``, in place)
    key: list = [event_type]  # the event type, each group's field names, whether the path is there
    values: list = []
    for group in renderers:
        if group is None:
            _task_groups(ws, s, key, values, now)
        else:
            names, group_values = group(ws, s)
            key.append(names)
            values.append(group_values)
    if table is None:
        has_path = True
    else:
        resource = s.get(resource_subject)
        has_path = (resource.sid if resource is not None else s["transfer"].task_sid) in getattr(ws, table)
    key.append(has_path)
    found = _LAYOUTS.get(tuple(key))
    if found is None:
        found = _LAYOUTS[tuple(key)] = _layout(kind, has_path, key[1:-1])
    layout, extras = found
    if extras:
        values.append(tuple([find(ws, s) for find in extras]))
    return layout, values


def stored_layout(event_type: str, resource_type: str, names: tuple[str, ...]) -> EventLayout:
    """The layout of an event read back as stored (a snapshot's row): its data one part after the
    origin, its texts and actor a second part ``(description, resource_sid, resource_path,
    actor_type, actor_sid, actor_path)``, kept as they were written."""
    key = ("stored", event_type, resource_type, names)
    found = _LAYOUTS.get(key)
    if found is None:
        data, texts = ORIGIN + 1, ORIGIN + 2
        positions = tuple((data, i) for i in range(len(names)))
        at = dict(zip(names, positions, strict=True))
        subjects = tuple((subject, at[field]) for subject, field in _SID_FIELDS.items()
                         if field in at and subject != "workspace")
        layout = EventLayout(event_type, resource_type, names, positions,
                             description=(None, ((texts, 0),), (False,)), resource_sid=(None, ((texts, 1),), (False,)),
                             resource_path=(None, ((texts, 2),), (False,)), actor=(texts, 3), subjects=subjects,
                             whole=(data,))
        found = _LAYOUTS[key] = (layout, ())
    return found[0]


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

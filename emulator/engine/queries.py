"""The list filters of the REST resources (what ``GET .../Tasks?...`` and friends select and in what order)."""

from __future__ import annotations

import operator
from datetime import datetime, timedelta

from .. import errors
from . import events as ev
from . import validation
from .expressions import parse as parse_expression
from .listing import Items, Listing, Table
from .state import Event, Task, TaskQueue, Worker
from .workspace import Workspace

EVENTS_DEFAULT_MINUTES = 15


def listing(ws: Workspace, table: str, query, **filters) -> Listing:
    """``query(ws, **filters)`` to be read a page at a time: with no filter or ordering given, the
    table itself in creation order (a page then costs its size, not the table's)."""
    if all(value is None for value in filters.values()):
        return Table(ws, table)
    return Items(query(ws, **filters))


def _bad(name: str, reason: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason=reason))


def _ordering(text: str | None, fields: dict, name: str = "Ordering") -> list[tuple]:
    """``Attribute:Order[,Attribute:Order]`` -> [(key function, descending)]."""
    if not text:
        return []
    result = []
    for clause in text.split(","):
        attribute, _, order = clause.strip().partition(":")
        order = (order or "asc").strip().lower()
        if attribute not in fields or order not in ("asc", "desc"):
            raise _bad(name, f"'{clause.strip()}' must be Attribute:asc or Attribute:desc with Attribute one of "
                             f"{', '.join(fields)}")
        result.append((attribute, fields[attribute], order == "desc"))
    return result


def _sort(items: list, clauses: list[tuple]) -> list:
    # Stable sorts applied from the last clause to the first give a multi-key order.
    for _, key, descending in reversed(clauses):
        items.sort(key=key, reverse=descending)
    return items


def _expression(name: str, text: str):
    try:
        return parse_expression(text)
    except errors.ExpressionError as exc:
        raise errors.InvalidParameter(f"Invalid {name}: {exc.message}") from None


TASK_ORDER = {"DateCreated": lambda t: t.date_created, "Priority": lambda t: t.priority,
              "VirtualStartTime": lambda t: t.virtual_start_time}


def tasks(ws: Workspace, *, priority=None, assignment_status=None, workflow_sid=None, workflow_name=None,
          task_queue_sid=None, task_queue_name=None, evaluate_task_attributes=None, routing_target=None,
          ordering=None, has_addons=None) -> list[Task]:
    clauses = _ordering(ordering, TASK_ORDER)
    names = [c[0] for c in clauses]
    if "DateCreated" in names and "VirtualStartTime" in names:
        # "DateCreated and VirtualStartTime can't be used together" (https://www.twilio.com/docs/taskrouter/api/task)
        raise _bad("Ordering", "DateCreated and VirtualStartTime cannot be combined")
    expression = _expression("EvaluateTaskAttributes", evaluate_task_attributes) if evaluate_task_attributes else None
    workflow_sids = {w.sid for w in ws.workflows.values() if w.friendly_name == workflow_name} if workflow_name else None
    queue_sids = {q.sid for q in ws.task_queues.values() if q.friendly_name == task_queue_name} if task_queue_name else None
    statuses = set(assignment_status) if assignment_status else None
    result = []
    for task in ws.tasks.values():
        if priority is not None and task.priority != priority:
            continue
        if statuses is not None and task.assignment_status not in statuses:
            continue
        if workflow_sid is not None and task.workflow_sid != workflow_sid:
            continue
        if workflow_sids is not None and task.workflow_sid not in workflow_sids:
            continue
        if task_queue_sid is not None and task.task_queue_sid != task_queue_sid:
            continue
        if queue_sids is not None and task.task_queue_sid not in queue_sids:
            continue
        if routing_target is not None and task.routing_target != routing_target:
            continue
        if has_addons is not None and (task.addons not in ("", "{}")) != has_addons:
            continue
        if expression is not None and not expression.evaluate(task.attributes_data):
            continue
        result.append(task)
    return _sort(result, clauses)


WORKER_ORDER = {"DateCreated": lambda w: w.date_created, "DateStatusChanged": lambda w: w.date_status_changed,
                "FriendlyName": lambda w: w.friendly_name.casefold()}


def workers(ws: Workspace, *, activity_name=None, activity_sid=None, available=None, friendly_name=None,
            target_workers_expression=None, task_queue_name=None, task_queue_sid=None, ordering=None) -> list[Worker]:
    clauses = _ordering(ordering, WORKER_ORDER)
    expression = _expression("TargetWorkersExpression", target_workers_expression) if target_workers_expression else None
    queues: list | None = []
    if task_queue_sid is not None:
        queues = [ws.task_queues[task_queue_sid]] if task_queue_sid in ws.task_queues else None
    elif task_queue_name is not None:
        queues = [q for q in ws.task_queues.values() if q.friendly_name == task_queue_name] or None
    if queues is None:
        return []
    result = []
    for worker in ws.workers.values():
        activity = ws.activities.get(worker.activity_sid)
        if activity_sid is not None and worker.activity_sid != activity_sid:
            continue
        if activity_name is not None and (activity is None or activity.friendly_name != activity_name):
            continue
        if available is not None and bool(activity and activity.available) != available:
            continue
        if friendly_name is not None and worker.friendly_name.casefold() != friendly_name.casefold():
            continue
        if queues and not all(ws.queue_matches_worker(q, worker) for q in queues):
            continue
        if expression is not None and not expression.evaluate(ws.worker_document(worker)):
            continue
        result.append(worker)
    return _sort(result, clauses)


QUEUE_ORDER = {"DateCreated": lambda q: q.date_created, "DateUpdated": lambda q: q.date_updated,
               "FriendlyName": lambda q: q.friendly_name.casefold()}


def task_queues(ws: Workspace, *, friendly_name=None, evaluate_worker_attributes=None, worker_sid=None,
                ordering=None) -> list[TaskQueue]:
    clauses = _ordering(ordering, QUEUE_ORDER)
    attributes = None
    if evaluate_worker_attributes is not None:
        try:
            attributes = validation.loads(evaluate_worker_attributes)
        except (ValueError, RecursionError):
            raise errors.InvalidParameter(errors.INVALID_JSON.format(
                name="EvaluateWorkerAttributes", reason="not valid JSON")) from None
        if not isinstance(attributes, dict):
            raise errors.InvalidParameter(errors.INVALID_JSON.format(
                name="EvaluateWorkerAttributes", reason="not an object"))
    worker = None
    if worker_sid is not None:
        worker = ws.workers.get(worker_sid)
        if worker is None:
            return []
    result = []
    for queue in ws.task_queues.values():
        if friendly_name is not None and queue.friendly_name != friendly_name:
            continue
        if attributes is not None and not ws.queue_expressions[queue.sid].evaluate(attributes):
            continue
        if worker is not None and not ws.queue_matches_worker(queue, worker):
            continue
        result.append(queue)
    return _sort(result, clauses)


def events(ws: Workspace, *, end_date: datetime | None = None, event_type: str | None = None,
           minutes: int | None = None, reservation_sid=None, start_date: datetime | None = None,
           task_queue_sid=None, task_sid=None, worker_sid=None, workflow_sid=None, task_channel=None,
           sid=None) -> list[Event]:
    """Events in time order. Without StartDate the window is the last ``Minutes`` (default 15)
    (https://www.twilio.com/docs/taskrouter/api/event)."""
    start_date, end_date = _event_window(ws, end_date, minutes, start_date)
    channel_keys = None
    if task_channel is not None:
        channel = next((c for c in ws.task_channels.values() if task_channel in (c.sid, c.unique_name)), None)
        channel_keys = {channel.sid, channel.unique_name} if channel else {task_channel}
    wanted = {"ReservationSid": reservation_sid, "TaskQueueSid": task_queue_sid, "TaskSid": task_sid,
              "WorkerSid": worker_sid, "WorkflowSid": workflow_sid}
    result = []
    for event in ws.events.values():
        if event.event_date < start_date or (end_date is not None and event.event_date > end_date):
            continue
        if event_type is not None and event.event_type != event_type:
            continue
        if sid is not None and event.sid != sid:
            continue
        if any(value is not None and event.get(key) != value and event.resource_sid != value
               for key, value in wanted.items()):
            continue
        if channel_keys is not None and not ({event.get("TaskChannelSid"),
                                               event.get("TaskChannelUniqueName")} & channel_keys):
            continue
        result.append(event)
    return result


def _event_window(ws: Workspace, end_date: datetime | None, minutes: int | None,
                  start_date: datetime | None) -> tuple[datetime, datetime | None]:
    """The instants a list of events spans (``StartDate`` or ``Minutes`` back from now, to
    ``EndDate``), checked."""
    now = ws.now()
    if minutes is not None and minutes < 1:
        raise _bad("Minutes", "must be at least 1")
    if minutes is not None and minutes > ev.RETENTION_DAYS * 24 * 60:
        # also keeps timedelta() from overflowing on huge values
        raise _bad("Minutes", f"events are kept for {ev.RETENTION_DAYS} days")
    if start_date is None:
        start_date = now - timedelta(minutes=minutes or EVENTS_DEFAULT_MINUTES)
    if start_date < now - timedelta(days=ev.RETENTION_DAYS):
        raise _bad("StartDate", f"events are kept for {ev.RETENTION_DAYS} days")
    if end_date is not None and end_date < start_date:
        raise _bad("EndDate", "must not be before StartDate")
    return start_date, end_date


def event_listing(ws: Workspace, *, end_date: datetime | None = None, minutes: int | None = None,
                  start_date: datetime | None = None, **filters) -> Listing:
    """``events(ws, ...)`` to be read a page at a time: filtered by time alone, the events are one
    run of the log (it is written in time order), found by the derived order's dates."""
    if all(value is None for value in filters.values()):
        since, until = _event_window(ws, end_date, minutes, start_date)
        window = Table.window(ws, "events", _event_date, since, until)
        if window is not None:
            return window
    return Items(events(ws, end_date=end_date, minutes=minutes, start_date=start_date, **filters))


_event_date = operator.attrgetter("event_date")


def reservations(ws: Workspace, *, task_sid: str | None = None, worker_sid: str | None = None,
                 status: str | None = None) -> list:
    """A task's (or else a worker's) reservations in creation order, with ``ReservationStatus``
    and, for a task's, ``WorkerSid`` filters. Read from the router's index: the cost follows the
    task's or worker's own reservations, not the workspace's."""
    found = ws.task_reservations(task_sid) if task_sid is not None else ws.worker_reservations(worker_sid or "")
    return [r for r in found if (status is None or r.reservation_status == status)
            and (worker_sid is None or r.worker_sid == worker_sid)]

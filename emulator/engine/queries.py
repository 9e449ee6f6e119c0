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


# A selection: which records a list keeps (a test of one record, None for every record, NOTHING
# for none) and in what order (``_ordering`` clauses; none: creation order).
def NOTHING(record) -> bool:
    return False


def listing(ws: Workspace, table: str, select, **filters) -> Listing:
    """The list ``select(ws, **filters)`` chooses from ``ws``'s ``table``, to be read a page at a
    time. In creation order it is the table itself, tested record by record as a page is filled,
    so a page costs the records it looks at rather than the table's length; an ordered list is
    made whole (it has to be sorted)."""
    test, clauses = select(ws, **filters)
    if test is NOTHING:
        return Items([])
    if clauses:
        return Items(_sort(_chosen(getattr(ws, table).values(), test), clauses))
    return Table(ws, table, test)


def _chosen(records, test) -> list:
    return list(records) if test is None else [r for r in records if test(r)]


def _all_of(tests: list):
    """One test passing when every one of ``tests`` does (None when there are none)."""
    if not tests:
        return None
    combined = tests[0]
    for test in tests[1:]:
        combined = (lambda first, second: lambda r: first(r) and second(r))(combined, test)
    return combined


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


def select_tasks(ws: Workspace, *, priority=None, assignment_status=None, workflow_sid=None, workflow_name=None,
                 task_queue_sid=None, task_queue_name=None, evaluate_task_attributes=None, routing_target=None,
                 ordering=None, has_addons=None) -> tuple:
    clauses = _ordering(ordering, TASK_ORDER)
    names = [c[0] for c in clauses]
    if "DateCreated" in names and "VirtualStartTime" in names:
        # "DateCreated and VirtualStartTime can't be used together" (https://www.twilio.com/docs/taskrouter/api/task)
        raise _bad("Ordering", "DateCreated and VirtualStartTime cannot be combined")
    expression = _expression("EvaluateTaskAttributes", evaluate_task_attributes) if evaluate_task_attributes else None
    tests = []
    if priority is not None:
        tests.append(lambda t: t.priority == priority)
    if assignment_status:
        statuses = set(assignment_status)
        tests.append(lambda t: t.assignment_status in statuses)
    if workflow_sid is not None:
        tests.append(lambda t: t.workflow_sid == workflow_sid)
    if workflow_name:
        workflow_sids = {w.sid for w in ws.workflows.values() if w.friendly_name == workflow_name}
        tests.append(lambda t: t.workflow_sid in workflow_sids)
    if task_queue_sid is not None:
        tests.append(lambda t: t.task_queue_sid == task_queue_sid)
    if task_queue_name:
        queue_sids = {q.sid for q in ws.task_queues.values() if q.friendly_name == task_queue_name}
        tests.append(lambda t: t.task_queue_sid in queue_sids)
    if routing_target is not None:
        tests.append(lambda t: t.routing_target == routing_target)
    if has_addons is not None:
        tests.append(lambda t: (t.addons not in ("", "{}")) == has_addons)
    if expression is not None:
        tests.append(lambda t: expression.evaluate(t.attributes_data))
    return _all_of(tests), clauses


def tasks(ws: Workspace, **filters) -> list[Task]:
    """The tasks ``select_tasks`` keeps, in its order."""
    test, clauses = select_tasks(ws, **filters)
    return _sort(_chosen(ws.tasks.values(), test), clauses)


WORKER_ORDER = {"DateCreated": lambda w: w.date_created, "DateStatusChanged": lambda w: w.date_status_changed,
                "FriendlyName": lambda w: w.friendly_name.casefold()}


def select_workers(ws: Workspace, *, activity_name=None, activity_sid=None, available=None, friendly_name=None,
                   target_workers_expression=None, task_queue_name=None, task_queue_sid=None,
                   ordering=None) -> tuple:
    clauses = _ordering(ordering, WORKER_ORDER)
    expression = _expression("TargetWorkersExpression", target_workers_expression) if target_workers_expression else None
    queues: list | None = []
    if task_queue_sid is not None:
        queues = [ws.task_queues[task_queue_sid]] if task_queue_sid in ws.task_queues else None
    elif task_queue_name is not None:
        queues = [q for q in ws.task_queues.values() if q.friendly_name == task_queue_name] or None
    if queues is None:
        return NOTHING, clauses
    activities = ws.activities
    tests = []
    if activity_sid is not None:
        tests.append(lambda w: w.activity_sid == activity_sid)
    if activity_name is not None:
        tests.append(lambda w: (a := activities.get(w.activity_sid)) is not None and a.friendly_name == activity_name)
    if available is not None:
        tests.append(lambda w: bool((a := activities.get(w.activity_sid)) and a.available) == available)
    if friendly_name is not None:
        name = friendly_name.casefold()
        tests.append(lambda w: w.friendly_name.casefold() == name)
    if queues:
        tests.append(lambda w: all(ws.queue_matches_worker(q, w) for q in queues))
    if expression is not None:
        tests.append(lambda w: expression.evaluate(ws.worker_document(w)))
    return _all_of(tests), clauses


def workers(ws: Workspace, **filters) -> list[Worker]:
    """The workers ``select_workers`` keeps, in its order."""
    test, clauses = select_workers(ws, **filters)
    return [] if test is NOTHING else _sort(_chosen(ws.workers.values(), test), clauses)


QUEUE_ORDER = {"DateCreated": lambda q: q.date_created, "DateUpdated": lambda q: q.date_updated,
               "FriendlyName": lambda q: q.friendly_name.casefold()}


def select_task_queues(ws: Workspace, *, friendly_name=None, evaluate_worker_attributes=None, worker_sid=None,
                       ordering=None) -> tuple:
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
            return NOTHING, clauses
    tests = []
    if friendly_name is not None:
        tests.append(lambda q: q.friendly_name == friendly_name)
    if attributes is not None:
        tests.append(lambda q: ws.queue_expressions[q.sid].evaluate(attributes))
    if worker is not None:
        tests.append(lambda q: ws.queue_matches_worker(q, worker))
    return _all_of(tests), clauses


def task_queues(ws: Workspace, **filters) -> list[TaskQueue]:
    """The task queues ``select_task_queues`` keeps, in its order."""
    test, clauses = select_task_queues(ws, **filters)
    return [] if test is NOTHING else _sort(_chosen(ws.task_queues.values(), test), clauses)


def _select_events(ws: Workspace, *, end_date: datetime | None = None, event_type: str | None = None,
                   minutes: int | None = None, reservation_sid=None, start_date: datetime | None = None,
                   task_queue_sid=None, task_sid=None, worker_sid=None, workflow_sid=None, task_channel=None,
                   sid=None) -> tuple:
    """``(since, until, test)``: the instants the list spans and the test of each event in them."""
    since, until = _event_window(ws, end_date, minutes, start_date)
    tests = []
    if event_type is not None:
        tests.append(lambda e: e.event_type == event_type)
    if sid is not None:
        tests.append(lambda e: e.sid == sid)
    wanted = [(key, value) for key, value in (("ReservationSid", reservation_sid), ("TaskQueueSid", task_queue_sid),
                                              ("TaskSid", task_sid), ("WorkerSid", worker_sid),
                                              ("WorkflowSid", workflow_sid)) if value is not None]
    if wanted:
        tests.append(lambda e: all(e.get(key) == value or e.resource_sid == value for key, value in wanted))
    if task_channel is not None:
        channel = next((c for c in ws.task_channels.values() if task_channel in (c.sid, c.unique_name)), None)
        channel_keys = {channel.sid, channel.unique_name} if channel else {task_channel}
        tests.append(lambda e: bool({e.get("TaskChannelSid"), e.get("TaskChannelUniqueName")} & channel_keys))
    return since, until, _all_of(tests)


def events(ws: Workspace, **filters) -> list[Event]:
    """Events in time order. Without StartDate the window is the last ``Minutes`` (default 15)
    (https://www.twilio.com/docs/taskrouter/api/event)."""
    since, until, test = _select_events(ws, **filters)
    return [e for e in ws.events.values()
            if since <= e.event_date and (until is None or e.event_date <= until) and (test is None or test(e))]


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


def event_listing(ws: Workspace, **filters) -> Listing:
    """``events(ws, ...)`` to be read a page at a time: the events of the time window are one run
    of the log (it is written in time order), found by the derived order's dates, and tested one
    by one as a page is filled."""
    since, until, test = _select_events(ws, **filters)
    window = Table.window(ws, "events", _event_date, since, until, test)
    if window is not None:
        return window
    return Items([e for e in ws.events.values()
                  if since <= e.event_date and (until is None or e.event_date <= until) and (test is None or test(e))])


_event_date = operator.attrgetter("event_date")


def reservations(ws: Workspace, *, task_sid: str | None = None, worker_sid: str | None = None,
                 status: str | None = None) -> list:
    """A task's (or else a worker's) reservations in creation order, with ``ReservationStatus``
    and, for a task's, ``WorkerSid`` filters. Read from the router's index: the cost follows the
    task's or worker's own reservations, not the workspace's."""
    found = ws.task_reservations(task_sid) if task_sid is not None else ws.worker_reservations(worker_sid or "")
    return [r for r in found if (status is None or r.reservation_status == status)
            and (worker_sid is None or r.worker_sid == worker_sid)]

"""What the dashboard shows, read from the engine's public read paths and rendered by the one
renderer, so a record looks on the page as it does in the REST API.

Nothing here decides anything about TaskRouter: the figures of a queue are the real-time
statistics, lists are the REST list queries, timelines are the workspace's events. This module
only selects, pages and groups them for a person looking at the emulator.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from .. import errors
from ..engine import events as ev
from ..engine import queries, statistics
from ..engine.lifecycle import LOAD_STATUSES
from ..engine.state import RESERVATION_STATUSES, TASK_STATUSES
from ..http.render import Renderer, iso
from ..sids import is_sid

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200
# The whole retention window of the Events resource: a timeline shows everything still kept.
TIMELINE_MINUTES = ev.RETENTION_DAYS * 24 * 60
# Reservations that still hold a worker (the rest are history).
LIVE_RESERVATION_STATUSES = LOAD_STATUSES


def _bad(name: str, reason: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason=reason))


def _int(args, name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _bad(name, f"must be a whole number from {lo} to {hi}")
    return int(raw)


def _choice(args, name: str, allowed) -> str | None:
    value = args.get(name) or None
    if value is not None and value not in allowed:
        raise _bad(name, "must be one of " + ", ".join(allowed))
    return value


def _page(items: list, page: int, size: int, render) -> dict:
    """One page of ``items``; a page past the end shows the last one (lists shrink while a
    person looks at them)."""
    last = max(0, (len(items) - 1) // size)
    page = min(page, last)
    return {"total": len(items), "page": page, "page_size": size, "pages": last + 1,
            "items": [render(item) for item in items[page * size:(page + 1) * size]]}


def in_scope(account_sid: str, scope: str | None) -> str:
    """The account a view names, if the caller may see it (``scope`` None: every account)."""
    if scope is not None and account_sid != scope:
        raise errors.Forbidden(errors.CONTROL_OTHER_ACCOUNT.format(own=scope, other=account_sid))
    return account_sid


def workspace_of(backend, account_sid: str, workspace_sid: str):
    if not is_sid(account_sid, "AC"):
        raise errors.InvalidParameter(errors.INVALID_SID.format(value=account_sid, name="AccountSid"))
    return backend.get_workspace(account_sid, workspace_sid)


def overview(backend, clock: dict, webhooks=None, scope: str | None = None) -> dict:
    """Accounts and their workspaces with what each holds, the clock and where the inbox is; with
    a ``scope``, that account's only. ``access`` tells the page what the caller may do."""
    accounts = []
    for account_sid in sorted(backend.accounts) if scope is None else [scope]:
        workspaces = [{"sid": ws.sid, "friendly_name": ws.friendly_name, "date_created": iso(ws.date_created),
                       "tasks": len(ws.tasks), "workers": len(ws.workers), "task_queues": len(ws.task_queues),
                       "workflows": len(ws.workflows)}
                      for ws in backend.workspaces(account_sid).values()]
        if workspaces:
            accounts.append({"account_sid": account_sid, "workspaces": workspaces})
    body = {"clock": clock, "accounts": accounts, "inbox": None,
            "access": {"all_accounts": scope is None, "account_sid": scope}}
    if webhooks is not None:
        records = [r for r in webhooks.inbox.records() if scope is None or r.account_sid == scope]
        body["inbox"] = {"count": len(records), "last_id": records[-1].id if records else 0}
    return body


def workspace(backend, renderer: Renderer, account_sid: str, workspace_sid: str, args) -> dict:
    """One workspace: its queues with their real-time figures, workers with their channels and the
    reservations they hold, tasks (filtered by status and queue) and reservations, each list paged."""
    ws = workspace_of(backend, account_sid, workspace_sid)
    size = _int(args, "PageSize", PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX)
    status = _choice(args, "TaskStatus", TASK_STATUSES)
    queue_sid = args.get("TaskQueueSid") or None
    reservation_status = _choice(args, "ReservationStatus", RESERVATION_STATUSES)

    queues = queries.task_queues(ws)
    figures = statistics.queues_realtime(ws, [q.sid for q in queues], None)
    if queue_sid is not None and queue_sid not in figures:
        raise _bad("TaskQueueSid", f"TaskQueue {queue_sid} is not in workspace {ws.sid}")

    # newest first: the list query keeps creation order, which tells apart tasks of the same second
    every_task = queries.tasks(ws)[::-1]
    by_status = Counter(t.assignment_status for t in every_task)
    shown = queries.tasks(ws, assignment_status=[status] if status else None,
                          task_queue_sid=queue_sid)[::-1] if (status or queue_sid) else every_task

    def worker(w):
        held = [r for r in queries.reservations(ws, worker_sid=w.sid) if r.reservation_status in LIVE_RESERVATION_STATUSES]
        return {**renderer.worker(ws, w),
                "channels": [renderer.worker_channel(ws, c) for c in w.channels.values()],
                "reservations": [renderer.reservation(ws, r, via_worker=True) for r in held]}

    reservations = [r for r in reversed(ws.reservations.values())
                    if reservation_status is None or r.reservation_status == reservation_status]
    return {
        "workspace": renderer.workspace(ws),
        "activities": [renderer.activity(a) for a in ws.activities.values()],
        "task_queues": [{**renderer.task_queue(ws, q), "realtime": Renderer.statistics_figures(figures[q.sid])}
                        for q in queues],
        "workflows": [renderer.workflow(w) for w in ws.workflows.values()],
        "workers": _page(queries.workers(ws, ordering="FriendlyName:asc"),
                         _int(args, "WorkerPage", 0, 0, 10 ** 6), size, worker),
        "tasks": {**_page(shown, _int(args, "TaskPage", 0, 0, 10 ** 6), size, lambda t: renderer.task(ws, t)),
                  "by_status": {s: by_status.get(s, 0) for s in TASK_STATUSES}},
        "reservations": _page(reservations, _int(args, "ReservationPage", 0, 0, 10 ** 6), size,
                              lambda r: renderer.reservation(ws, r)),
    }


def _ms(instant) -> int:
    return int(instant.timestamp() * 1000)


def _timeline(renderer: Renderer, events: list) -> list[dict]:
    return [renderer.event(e) for e in events]


def task(backend, renderer: Renderer, account_sid: str, workspace_sid: str, task_sid: str) -> dict:
    """One task's life: the task (None once deleted), its reservations and its events in order."""
    ws = workspace_of(backend, account_sid, workspace_sid)
    try:
        record = ws.get_task(task_sid)
    except errors.NotFound:  # deleted: its events are kept for the retention window
        record = None
    events = queries.events(ws, task_sid=task_sid, minutes=TIMELINE_MINUTES)
    if record is None and not events:
        raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=f"/v1/Workspaces/{ws.sid}/Tasks/{task_sid}"))
    reservations = queries.reservations(ws, task_sid=task_sid) if record is not None else []
    return {"task": renderer.task(ws, record) if record is not None else None,
            "reservations": [renderer.reservation(ws, r) for r in reservations],
            "task_queue": _queue_of(ws, renderer, record) if record is not None else None,
            "events": _timeline(renderer, events), "now_ms": _ms(ws.now())}


def _queue_of(ws, renderer: Renderer, record) -> dict | None:
    """The queue a task is in, with its real-time figures and the workers its TargetWorkers take
    (each with its activity and the task's channel): what a person asks when a task waits."""
    if not record.task_queue_sid or record.task_queue_sid not in ws.task_queues:
        return None
    queue = ws.get_task_queue(record.task_queue_sid)
    members = queries.workers(ws, task_queue_sid=queue.sid, ordering="FriendlyName:asc")
    channel = record.task_channel_sid
    return {**renderer.task_queue(ws, queue),
            "realtime": Renderer.statistics_figures(statistics.queue_realtime(ws, queue.sid, None)),
            "workers_total": len(members),
            "workers": [{"sid": w.sid, "friendly_name": w.friendly_name, **_activity(renderer.worker(ws, w)),
                         "channel": renderer.worker_channel(ws, w.channels[channel]) if channel in w.channels else None}
                        for w in members[:PAGE_SIZE_DEFAULT]]}


def _activity(worker: dict) -> dict:
    return {key: worker[key] for key in ("activity_name", "available")}


def worker(backend, renderer: Renderer, account_sid: str, workspace_sid: str, worker_sid: str) -> dict:
    """One worker over time: its activity spans (from its ``worker.created`` and
    ``worker.activity.update`` events), its reservations and every event naming it."""
    ws = workspace_of(backend, account_sid, workspace_sid)
    record = ws.get_worker(worker_sid)
    events = queries.events(ws, worker_sid=worker_sid, minutes=TIMELINE_MINUTES)
    spans: list[dict] = []
    for e in events:
        if e.event_type not in ("worker.created", "worker.activity.update"):
            continue
        if not spans and e.event_type == "worker.activity.update" and e.data.get("WorkerPreviousActivityName"):
            # the creation has left the retention window: the previous span is known from its length
            began = e.event_date - timedelta(milliseconds=int(e.data.get("WorkerTimeInPreviousActivityMs") or 0))
            spans.append({"activity_sid": e.data.get("WorkerPreviousActivitySid"),
                          "activity_name": e.data["WorkerPreviousActivityName"], "start_ms": _ms(began)})
        if spans:
            spans[-1]["end_ms"] = _ms(e.event_date)
        spans.append({"activity_sid": e.data.get("WorkerActivitySid"), "activity_name": e.data.get("WorkerActivityName"),
                      "start_ms": _ms(e.event_date)})
    if spans:
        spans[-1]["end_ms"] = None  # still in it
    return {"worker": {**renderer.worker(ws, record),
                       "channels": [renderer.worker_channel(ws, c) for c in record.channels.values()]},
            "reservations": [renderer.reservation(ws, r, via_worker=True)
                             for r in queries.reservations(ws, worker_sid=worker_sid)],
            "activity_spans": spans, "events": _timeline(renderer, events), "now_ms": _ms(ws.now())}

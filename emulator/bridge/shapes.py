"""The Event Bridge's payload shapes: the same engine records as REST v1, drawn the SDK's way.

What differs from REST v1 (the SDK's descriptors throw when a listed key is missing): dates are
epoch seconds (numbers); workers, tasks and reservations carry ``version``; a reservation embeds
its whole task; a task says ``queue_sid``/``queue_name``/``workflow_name``; a worker channel has
``last_reserved_time`` (epoch milliseconds); a queue has ``lifo_queue``; lists are
``{"contents": [...], "after_sid": <last SID of the page or null>}``, paged by ``AfterSid`` in
creation order, and lists asked with ``Ordering`` add ``meta.next_token`` (sent back as ``NextToken``).

``BridgeRenderer`` has the methods of the REST renderer the v1 handlers call, so the bridge runs
those same handlers (and through them the same engine operations) and only the drawing differs.
"""

from __future__ import annotations

from datetime import datetime

from .. import errors
from ..engine import queries
from ..engine.lifecycle import LOAD_STATUSES
from ..engine.listing import Listing
from ..engine.state import Activity, Reservation, Task, TaskQueue, Transfer, Worker, WorkerChannel
from ..engine.workspace import Workspace
from ..sids import is_sid

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000

# Reservations the SDK restores on (re)connect with ``Active=true``: the ones still holding the worker.
ACTIVE_RESERVATION_STATUSES = LOAD_STATUSES

# [I] The engine counts no versions for reservations; the bridge derives one from the lifecycle
# position, which rises on every change the SDK sees (accept: +1, as its specs assert).
RESERVATION_VERSIONS = {"pending": 0, "accepted": 1, "rejected": 1, "timeout": 1, "canceled": 1, "rescinded": 1,
                        "wrapping": 2, "completed": 3}

DEFAULT_RESERVATION_TIMEOUT = 120


def epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def worker(ws: Workspace, w: Worker) -> dict:
    activity = ws.activities.get(w.activity_sid)
    return {
        "account_sid": w.account_sid, "workspace_sid": w.workspace_sid, "sid": w.sid,
        "friendly_name": w.friendly_name, "attributes": w.attributes,
        "activity_sid": w.activity_sid, "activity_name": activity.friendly_name if activity else None,
        "available": bool(activity and activity.available),
        "date_created": epoch(w.date_created), "date_updated": epoch(w.date_updated),
        "date_status_changed": epoch(w.date_status_changed), "version": w.version,
    }


def task(ws: Workspace, t: Task) -> dict:
    queue = ws.task_queues.get(t.task_queue_sid) if t.task_queue_sid else None
    workflow = ws.workflows.get(t.workflow_sid) if t.workflow_sid else None
    channel = ws.task_channels.get(t.task_channel_sid)
    return {
        "account_sid": t.account_sid, "workspace_sid": t.workspace_sid, "sid": t.sid,
        "addons": t.addons, "age": ws.task_age(t), "attributes": t.attributes,
        "assignment_status": t.assignment_status, "priority": t.priority, "reason": t.reason,
        "queue_sid": t.task_queue_sid, "queue_name": queue.friendly_name if queue else None,
        "workflow_sid": t.workflow_sid, "workflow_name": workflow.friendly_name if workflow else None,
        "task_channel_sid": t.task_channel_sid, "task_channel_unique_name": channel.unique_name if channel else None,
        "routing_target": t.routing_target, "timeout": t.timeout,
        "date_created": epoch(t.date_created), "date_updated": epoch(t.date_updated),
        "task_queue_entered_date": epoch(t.task_queue_entered_date),
        "virtual_start_time": epoch(t.virtual_start_time), "version": t.version,
    }


def reservation(ws: Workspace, r: Reservation, *, with_transfers: bool = True) -> dict:
    t = ws.tasks.get(r.task_sid)
    workflow = ws.workflows.get(t.workflow_sid) if t is not None and t.workflow_sid else None
    w = ws.workers.get(r.worker_sid)
    return {
        "account_sid": r.account_sid, "workspace_sid": r.workspace_sid, "sid": r.sid,
        "reservation_status": r.reservation_status, "task_sid": r.task_sid, "worker_sid": r.worker_sid,
        "worker_name": w.friendly_name if w else None,
        "reservation_timeout": workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT,
        "date_created": epoch(r.date_created), "date_updated": epoch(r.date_updated),
        "version": RESERVATION_VERSIONS.get(r.reservation_status, 0),
        "task": task(ws, t) if t is not None else None,
        **(_transfers_of(ws, r, t) if with_transfers else {}),
    }


def _transfers_of(ws: Workspace, r: Reservation, t: Task | None) -> dict:
    """``task_transfer`` on a transfer's offer; ``active_outgoing_task_transfer`` on the reservation
    of the worker transferring the task (both optional in the SDK)."""
    found = {}
    if r.transfer_sid is not None and r.transfer_sid in ws.transfers:
        found["task_transfer"] = transfer(ws.transfers[r.transfer_sid])
    outgoing = ws.transfers.get(t.transfer_sid) if t is not None and t.transfer_sid else None
    if outgoing is not None and outgoing.initiating_reservation_sid == r.sid:
        found["active_outgoing_task_transfer"] = transfer(outgoing)
    return found


def transfer(x: Transfer) -> dict:
    return {
        "sid": x.sid, "account_sid": x.account_sid, "workspace_sid": x.workspace_sid, "task_sid": x.task_sid,
        "transfer_type": x.transfer_type, "transfer_mode": x.transfer_mode, "transfer_to": x.transfer_to,
        "transfer_status": x.transfer_status, "transfer_failed_reason": x.transfer_failed_reason,
        "initiating_reservation_sid": x.initiating_reservation_sid, "initiating_worker_sid": x.initiating_worker_sid,
        "initiating_queue_sid": x.initiating_queue_sid, "initiating_workflow_sid": x.initiating_workflow_sid,
        "date_created": epoch(x.date_created), "date_updated": epoch(x.date_updated),
    }


def activity(a: Activity) -> dict:
    return {"account_sid": a.account_sid, "workspace_sid": a.workspace_sid, "sid": a.sid,
            "friendly_name": a.friendly_name, "available": a.available,
            "date_created": epoch(a.date_created), "date_updated": epoch(a.date_updated)}


def last_reserved_ms(ws: Workspace, c: WorkerChannel) -> int | None:
    """When the worker was last offered a task of this channel (epoch ms), None if never."""
    latest = None
    for r in queries.reservations(ws, worker_sid=c.worker_sid):
        t = ws.tasks.get(r.task_sid)
        if t is not None and t.task_channel_sid == c.task_channel_sid and (latest is None or r.date_created > latest):
            latest = r.date_created
    return int(latest.timestamp() * 1000) if latest is not None else None


def worker_channel(ws: Workspace, c: WorkerChannel) -> dict:
    task_channel = ws.task_channels.get(c.task_channel_sid)
    return {
        "account_sid": c.account_sid, "workspace_sid": c.workspace_sid, "sid": c.sid, "worker_sid": c.worker_sid,
        "task_channel_sid": c.task_channel_sid,
        "task_channel_unique_name": task_channel.unique_name if task_channel else None,
        "assigned_tasks": c.assigned_tasks, "available": c.available,
        "available_capacity_percentage": ws.channel_available_capacity_percentage(c),
        "configured_capacity": c.configured_capacity, "last_reserved_time": last_reserved_ms(ws, c),
        "date_created": epoch(c.date_created), "date_updated": epoch(c.date_updated),
    }


def task_queue(ws: Workspace, q: TaskQueue) -> dict:
    reservation_activity = ws.activities.get(q.reservation_activity_sid) if q.reservation_activity_sid else None
    assignment_activity = ws.activities.get(q.assignment_activity_sid) if q.assignment_activity_sid else None
    return {
        "account_sid": q.account_sid, "workspace_sid": q.workspace_sid, "sid": q.sid,
        "friendly_name": q.friendly_name, "target_workers": q.target_workers,
        "max_reserved_workers": q.max_reserved_workers, "task_order": q.task_order,
        "lifo_queue": q.task_order == "LIFO",
        "reservation_activity_sid": q.reservation_activity_sid,
        "reservation_activity_name": reservation_activity.friendly_name if reservation_activity else None,
        "assignment_activity_sid": q.assignment_activity_sid,
        "assignment_activity_name": assignment_activity.friendly_name if assignment_activity else None,
        "date_created": epoch(q.date_created), "date_updated": epoch(q.date_updated),
    }


class BridgeRenderer:
    """Duck-types ``emulator.http.render.Renderer`` for the REST v1 handlers the bridge runs.

    ``active_only``: the route's ``Active=true`` (EB-only): keep only reservations that still hold
    the worker. ``change``: the request changes something (POST)."""

    def __init__(self, active_only: bool = False, change: bool = False) -> None:
        self.active_only = active_only
        # the reply to a change: the SDK reads a reservation's reply ignoring its task, and a
        # ``task_transfer`` there without the task makes it fail, so changes answer without them
        self.change = change

    @staticmethod
    def worker(ws: Workspace, w: Worker) -> dict:
        return worker(ws, w)

    @staticmethod
    def task(ws: Workspace, t: Task) -> dict:
        return task(ws, t)

    def reservation(self, ws: Workspace, r: Reservation, via_worker: bool = False) -> dict:
        return reservation(ws, r, with_transfers=not self.change)

    @staticmethod
    def activity(a: Activity) -> dict:
        return activity(a)

    @staticmethod
    def worker_channel(ws: Workspace, c: WorkerChannel) -> dict:
        return worker_channel(ws, c)

    @staticmethod
    def task_queue(ws: Workspace, q: TaskQueue) -> dict:
        return task_queue(ws, q)

    def __getattr__(self, name: str):
        # A REST operation the bridge does not draw (workflows, statistics, events, ...).
        raise errors.NotImplementedByEmulator(errors.BRIDGE_NOT_DRAWN.format(resource=name))

    def page(self, path: str, query, key: str, items: list | Listing, render) -> dict:
        """``{contents, after_sid}``: ``PageSize`` items after ``AfterSid`` (or ``NextToken`` for
        lists asked with ``Ordering``, which also get ``meta.next_token``)."""
        if isinstance(items, Listing):
            items = items.all()
        if self.active_only:
            items = [r for r in items if r.reservation_status in ACTIVE_RESERVATION_STATUSES]
        size = _page_size(query.get("PageSize"))
        ordered = bool(query.get("Ordering"))
        cursor_name = "NextToken" if ordered and query.get("NextToken") else "AfterSid"
        cursor = query.get(cursor_name)
        start = 0
        if cursor:
            sids = [item.sid for item in items]
            if not is_sid(cursor) or cursor not in sids:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name=cursor_name, reason=f"'{cursor}' is not an item of this list"))
            start = sids.index(cursor) + 1
        chunk = items[start:start + size]
        more = start + size < len(items)
        after_sid = chunk[-1].sid if more and chunk else None
        body: dict = {"contents": [render(item) for item in chunk], "after_sid": after_sid}
        if ordered:
            body["meta"] = {"next_token": after_sid, "page_size": size}
        return body


def _page_size(raw) -> int:
    if raw is None or raw == "":
        return PAGE_SIZE_DEFAULT
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name="PageSize", reason=f"'{raw}' is not an integer")) from None
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name="PageSize", reason=f"must be between 1 and {PAGE_SIZE_MAX}"))
    return size

"""The one renderer of resource JSON, links and paging ``meta``.

URLs are absolute and on the host the request came in on, so the real clients can follow
``meta.next_page_url`` and ``links`` back to the emulator (https://www.twilio.com/docs/usage/twilios-response).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlencode

from .. import errors
from ..engine import events as ev
from ..engine.listing import Items, Listing
from ..engine.state import Activity, Event, Reservation, Task, TaskChannel, TaskQueue, Worker, WorkerChannel, Workflow
from ..engine.workspace import Workspace
from ..sids import is_sid

PAGE_SIZE_DEFAULT = 50
# The SID prefix of the items of each list (``meta.key``), to tell a PageToken of another list.
LIST_ITEM_PREFIXES = {"workspaces": "WS", "activities": "WA", "task_queues": "WQ", "task_queues_statistics": "WQ",
                      "workers": "WK", "workflows": "WW", "tasks": "WT", "reservations": "WR", "events": "EV"}
PAGING_KEYS = ("PageSize", "Page", "PageToken")


@lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    # Kept per instant: the virtual clock hands out few distinct ones, each rendered many times.
    return _iso(value) if value is not None else None


class Renderer:
    """Renders engine objects for one request (its base URL)."""

    def __init__(self, base_url: str) -> None:
        self.root = base_url.rstrip("/") + "/v1"

    def url(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def ws_url(self, ws_sid: str, *parts: str) -> str:
        return self.url("Workspaces", ws_sid, *parts)

    # --- resources ------------------------------------------------------------------------------
    def workspace(self, ws: Workspace) -> dict:
        default = ws.activities.get(ws.default_activity_sid)
        timeout = ws.activities.get(ws.timeout_activity_sid)
        url = self.ws_url(ws.sid)
        return {
            "account_sid": ws.account_sid,
            "date_created": iso(ws.date_created),
            "date_updated": iso(ws.date_updated),
            "default_activity_name": default.friendly_name if default else None,
            "default_activity_sid": ws.default_activity_sid or None,
            "event_callback_url": ws.event_callback_url,
            "events_filter": ws.events_filter,
            "friendly_name": ws.friendly_name,
            "multi_task_enabled": ws.multi_task_enabled,
            "sid": ws.sid,
            "timeout_activity_name": timeout.friendly_name if timeout else None,
            "timeout_activity_sid": ws.timeout_activity_sid or None,
            "prioritize_queue_order": ws.prioritize_queue_order,
            "url": url,
            "links": {
                "activities": url + "/Activities", "statistics": url + "/Statistics",
                "real_time_statistics": url + "/RealTimeStatistics",
                "cumulative_statistics": url + "/CumulativeStatistics",
                "task_queues": url + "/TaskQueues", "tasks": url + "/Tasks", "workers": url + "/Workers",
                "workflows": url + "/Workflows", "task_channels": url + "/TaskChannels", "events": url + "/Events",
            },
        }

    def activity(self, a: Activity) -> dict:
        return {
            "account_sid": a.account_sid, "available": a.available, "date_created": iso(a.date_created),
            "date_updated": iso(a.date_updated), "friendly_name": a.friendly_name, "sid": a.sid,
            "workspace_sid": a.workspace_sid, "url": self.ws_url(a.workspace_sid, "Activities", a.sid),
            "links": {"workspace": self.ws_url(a.workspace_sid)},
        }

    def task_channel(self, c: TaskChannel) -> dict:
        return {
            "account_sid": c.account_sid, "date_created": iso(c.date_created), "date_updated": iso(c.date_updated),
            "friendly_name": c.friendly_name, "sid": c.sid, "unique_name": c.unique_name,
            "workspace_sid": c.workspace_sid, "channel_optimized_routing": c.channel_optimized_routing,
            "url": self.ws_url(c.workspace_sid, "TaskChannels", c.sid),
            "links": {"workspace": self.ws_url(c.workspace_sid)},
        }

    def task_queue(self, ws: Workspace, q: TaskQueue) -> dict:
        reservation = ws.activities.get(q.reservation_activity_sid) if q.reservation_activity_sid else None
        assignment = ws.activities.get(q.assignment_activity_sid) if q.assignment_activity_sid else None
        u = lambda *p: self.ws_url(q.workspace_sid, *p)  # noqa: E731
        links = {"workspace": u(), "statistics": u("TaskQueues", q.sid, "Statistics"),
                 "real_time_statistics": u("TaskQueues", q.sid, "RealTimeStatistics"),
                 "cumulative_statistics": u("TaskQueues", q.sid, "CumulativeStatistics"),
                 "list_statistics": u("TaskQueues", "Statistics"),
                 "bulk_real_time_statistics": u("TaskQueues", "RealTimeStatistics"),
                 # kept, as null, when the queue has no such activity (recorded real bodies)
                 "assignment_activity": u("Activities", assignment.sid) if assignment else None,
                 "reservation_activity": u("Activities", reservation.sid) if reservation else None}
        return {
            "account_sid": q.account_sid,
            "assignment_activity_sid": q.assignment_activity_sid,
            "assignment_activity_name": assignment.friendly_name if assignment else None,
            "date_created": iso(q.date_created), "date_updated": iso(q.date_updated),
            "friendly_name": q.friendly_name, "max_reserved_workers": q.max_reserved_workers,
            "reservation_activity_sid": q.reservation_activity_sid,
            "reservation_activity_name": reservation.friendly_name if reservation else None,
            "sid": q.sid, "target_workers": q.target_workers, "task_order": q.task_order,
            "url": u("TaskQueues", q.sid), "workspace_sid": q.workspace_sid, "links": links,
        }

    def worker(self, ws: Workspace, w: Worker) -> dict:
        activity = ws.activities.get(w.activity_sid)
        base = self.ws_url(w.workspace_sid)
        url = base + "/Workers/" + w.sid
        # The spec says attributes show only on fetch, yet its own list examples (and the
        # clients' users) read them from lists too; the emulator shows them everywhere.
        return {
            "account_sid": w.account_sid,
            "activity_name": activity.friendly_name if activity else None,
            "activity_sid": w.activity_sid,
            "attributes": w.attributes,
            "available": bool(activity and activity.available),
            "date_created": iso(w.date_created), "date_status_changed": iso(w.date_status_changed),
            "date_updated": iso(w.date_updated), "friendly_name": w.friendly_name, "sid": w.sid,
            "workspace_sid": w.workspace_sid, "url": url,
            "links": {
                "channels": url + "/Channels", "activity": base + "/Activities/" + w.activity_sid,
                "workspace": base, "statistics": base + "/Workers/Statistics",
                "real_time_statistics": base + "/Workers/RealTimeStatistics",
                "cumulative_statistics": base + "/Workers/CumulativeStatistics",
                "worker_statistics": url + "/Statistics",
                "worker_channels": url + "/Channels",
                "reservations": url + "/Reservations",
            },
        }

    def worker_channel(self, ws: Workspace, c: WorkerChannel) -> dict:
        task_channel = ws.task_channels.get(c.task_channel_sid)
        return {
            "account_sid": c.account_sid, "assigned_tasks": c.assigned_tasks, "available": c.available,
            "available_capacity_percentage": ws.channel_available_capacity_percentage(c),
            "configured_capacity": c.configured_capacity, "date_created": iso(c.date_created),
            "date_updated": iso(c.date_updated), "sid": c.sid, "task_channel_sid": c.task_channel_sid,
            "task_channel_unique_name": task_channel.unique_name if task_channel else None,
            "worker_sid": c.worker_sid, "workspace_sid": c.workspace_sid,
            "url": self.ws_url(c.workspace_sid, "Workers", c.worker_sid, "Channels", c.sid),
        }

    def workflow(self, w: Workflow) -> dict:
        u = lambda *p: self.ws_url(w.workspace_sid, "Workflows", w.sid, *p)  # noqa: E731
        return {
            "account_sid": w.account_sid, "assignment_callback_url": w.assignment_callback_url,
            "configuration": w.configuration, "date_created": iso(w.date_created),
            "date_updated": iso(w.date_updated), "document_content_type": w.document_content_type,
            "fallback_assignment_callback_url": w.fallback_assignment_callback_url,
            "friendly_name": w.friendly_name, "sid": w.sid,
            "task_reservation_timeout": w.task_reservation_timeout, "workspace_sid": w.workspace_sid,
            "url": u(),
            "links": {"statistics": u("Statistics"), "real_time_statistics": u("RealTimeStatistics"),
                      "cumulative_statistics": u("CumulativeStatistics")},
        }

    def task(self, ws: Workspace, t: Task) -> dict:
        queue = ws.task_queues.get(t.task_queue_sid) if t.task_queue_sid else None
        workflow = ws.workflows.get(t.workflow_sid) if t.workflow_sid else None
        channel = ws.task_channels.get(t.task_channel_sid)
        base = self.ws_url(t.workspace_sid)
        url = base + "/Tasks/" + t.sid
        links = {"workspace": base, "reservations": url + "/Reservations"}
        if t.task_queue_sid:
            links["task_queue"] = base + "/TaskQueues/" + t.task_queue_sid
        if t.workflow_sid:
            links["workflow"] = base + "/Workflows/" + t.workflow_sid
        return {
            "account_sid": t.account_sid, "age": ws.task_age(t), "assignment_status": t.assignment_status,
            "attributes": t.attributes, "addons": t.addons, "date_created": iso(t.date_created),
            "date_updated": iso(t.date_updated), "task_queue_entered_date": iso(t.task_queue_entered_date),
            "priority": t.priority, "reason": t.reason, "sid": t.sid, "task_queue_sid": t.task_queue_sid,
            "task_queue_friendly_name": queue.friendly_name if queue else None,
            "task_channel_sid": t.task_channel_sid,
            "task_channel_unique_name": channel.unique_name if channel else None,
            "timeout": t.timeout, "workflow_sid": t.workflow_sid,
            "workflow_friendly_name": workflow.friendly_name if workflow else None,
            "workspace_sid": t.workspace_sid, "url": url, "links": links,
            "virtual_start_time": iso(t.virtual_start_time), "ignore_capacity": t.ignore_capacity,
            "routing_target": t.routing_target,
        }

    def reservation(self, ws: Workspace, r: Reservation, via_worker: bool = False) -> dict:
        worker = ws.workers.get(r.worker_sid)
        u = lambda *p: self.ws_url(r.workspace_sid, *p)  # noqa: E731
        url = u("Workers", r.worker_sid, "Reservations", r.sid) if via_worker else u("Tasks", r.task_sid, "Reservations", r.sid)
        return {
            "account_sid": r.account_sid, "date_created": iso(r.date_created), "date_updated": iso(r.date_updated),
            "reservation_status": r.reservation_status, "sid": r.sid, "task_sid": r.task_sid,
            "worker_name": worker.friendly_name if worker else None, "worker_sid": r.worker_sid,
            "workspace_sid": r.workspace_sid, "url": url,
            "links": {"task": u("Tasks", r.task_sid), "worker": u("Workers", r.worker_sid), "workspace": u()},
        }

    def event(self, e: Event) -> dict:
        u = lambda *p: self.ws_url(e.workspace_sid, *p)  # noqa: E731
        return {
            "account_sid": e.account_sid, "actor_sid": e.actor_sid, "actor_type": e.actor_type,
            "actor_url": u(e.actor_path) if e.actor_path else u(),
            "description": e.description, "event_data": ev.event_data(e), "event_date": iso(e.event_date),
            "event_date_ms": int(e.event_date.timestamp() * 1000), "event_type": e.event_type,
            "resource_sid": e.resource_sid, "resource_type": e.resource_type,
            "resource_url": (u(e.resource_path) if e.resource_path else u()) if e.resource_path is not None else None,
            "sid": e.sid, "source": "twilio", "source_ip_address": "127.0.0.1",
            "workspace_sid": e.workspace_sid, "url": u("Events", e.sid),
        }

    # --- paging ---------------------------------------------------------------------------------
    def page(self, path: str, query, key: str, items: list | Listing, render) -> dict:
        """One page of ``items`` (already filtered and ordered, or a ``Listing`` serving pages)
        and its ``meta``.

        ``PageToken`` is ``PA<sid>`` (the page after that item) or ``PB<sid>`` (the page before
        it), as the real service's tokens are; ``Page`` is only echoed for the client's state.
        """
        size = int(query.get("PageSize") or PAGE_SIZE_DEFAULT)
        page = int(query.get("Page") or 0)
        token = query.get("PageToken")
        kind = anchor = None
        if token:
            kind, anchor = self._token(token, key)
        elif page > 0:
            # Absolute Page jumps are not supported by TaskRouter lists since 2021-12-01
            # (warning 40153): follow next_page_url instead.
            raise errors.InvalidParameter(
                "Page parameter is not supported without a PageToken; follow meta.next_page_url instead")
        listing = items if isinstance(items, Listing) else Items(items)
        chunk, before, after = listing.page(kind, anchor, size)
        filters = [(k, ",".join(query.getlist(k))) for k in query if k not in PAGING_KEYS]
        base = self.root[:-3] + path  # root ends with /v1 and path starts with /v1

        def link(page_no: int, page_token: str | None) -> str:
            params = filters + [("PageSize", size), ("Page", page_no)]
            if page_token:
                params.append(("PageToken", page_token))
            return base + "?" + urlencode(params, quote_via=quote, safe="")

        return {
            key: [render(item) for item in chunk],
            "meta": {
                "first_page_url": link(0, None),
                "key": key,
                "next_page_url": link(page + 1, "PA" + chunk[-1].sid) if after and chunk else None,
                "page": page,
                "page_size": size,
                "previous_page_url": link(page - 1, "PB" + chunk[0].sid) if page > 0 and before and chunk else None,
                "url": link(page, token),
            },
        }

    @staticmethod
    def _token(token: str, key: str) -> tuple[str, str]:
        """``(kind, anchoring SID)`` of a ``PageToken`` of the list ``key``."""
        kind, sid = token[:2], token[2:]
        if kind not in ("PA", "PB") or not is_sid(sid):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="PageToken", reason="not a page token"))
        if sid[:2] != LIST_ITEM_PREFIXES.get(key, sid[:2]):
            # [I] a token names the item it continues after; one naming another kind of item
            # was taken from another list, which the real service refuses rather than guess.
            raise errors.InvalidParameter(errors.PAGE_TOKEN_OTHER_LIST.format(key=key))
        # (an anchoring item that is gone, deleted between pages, starts again from the top
        # rather than failing the whole listing: ``Listing.page``)
        return kind, sid

    # --- statistics -----------------------------------------------------------------------------
    # Bodies of the *Statistics operations. The engine computes the figures (emulator.engine.statistics);
    # here they get the resource's identity and URL, and instants become ISO 8601.
    @staticmethod
    def statistics_figures(figures):
        if isinstance(figures, dict):
            return {k: Renderer.statistics_figures(v) for k, v in figures.items()}
        if isinstance(figures, list):
            return [Renderer.statistics_figures(v) for v in figures]
        return iso(figures) if isinstance(figures, datetime) else figures

    def statistics(self, ws: Workspace, path: tuple, figures: dict, **ids) -> dict:
        """One statistics resource: ``account_sid``, ``workspace_sid``, the owner's SID (``ids``),
        the figures (flat, or under ``realtime`` / ``cumulative``) and ``url``."""
        return {"account_sid": ws.account_sid, "workspace_sid": ws.sid, **ids,
                **self.statistics_figures(figures), "url": self.ws_url(ws.sid, *path)}

    def task_queues_statistics_item(self, ws: Workspace, queue_sid: str, realtime: dict, cumulative: dict) -> dict:
        """One item of ``/TaskQueues/Statistics`` (the list items carry no ``url``)."""
        return {"account_sid": ws.account_sid, "workspace_sid": ws.sid, "task_queue_sid": queue_sid,
                "realtime": self.statistics_figures(realtime), "cumulative": self.statistics_figures(cumulative)}

    def task_queue_bulk_statistics(self, ws: Workspace, figures: dict[str, dict]) -> dict:
        """``POST /TaskQueues/RealTimeStatistics``: one entry per requested queue, in request order."""
        data = [{"task_queue_sid": sid, **self.statistics_figures(f)} for sid, f in figures.items()]
        return {"account_sid": ws.account_sid, "workspace_sid": ws.sid, "task_queue_data": data,
                "task_queue_response_count": len(data), "url": self.ws_url(ws.sid, "TaskQueues", "RealTimeStatistics")}

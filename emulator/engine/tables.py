"""The aggregate's state and the helpers every resource's rules share: the tables, the routing
index and timers, the event log, lookups and the checks on SID parameters.

``workspace.Workspace`` is this plus the rules of each resource (``workers.py``, ``tasks.py`` and
the configuration resources in ``workspace.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from .. import errors
from ..clock import Clock
from . import events as ev
from . import lifecycle
from .context import Context
from .expressions import Expression
from .lifecycle import EVENT_EXPIRY, Timers
from .routing.index import RoutingIndex, build_index
from .state import (
    Activity,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    TaskRouting,
    Transfer,
    Worker,
    WorkerChannel,
    Workflow,
)
from .workflow_config import WorkflowConfiguration

# How many distinct group tuples events share in one generation of the table of them (a cache: the
# tuples of the last two generations are found; dropping older ones only stops later events
# sharing with them, and what recurs, a queue's or a worker's, is carried into each generation).
EVENT_GROUPS_SHARED = 8192


class SharedValues(dict):
    """One generation of the group tuples events share (values -> the tuple kept): a value not
    seen in it is looked up in the last generation, and kept as found there (``__missing__``:
    the values an event has that were seen are found without Python code)."""

    __slots__ = ("last",)

    def __init__(self, last: dict | None = None) -> None:
        super().__init__()
        self.last: dict = last if last is not None else {}

    def __missing__(self, values: tuple) -> tuple:
        found = self[values] = self.last.get(values, values)
        return found

    def next_generation(self) -> "SharedValues":
        """The next generation, this one its last (the one before it is dropped)."""
        self.last = {}
        return SharedValues(self)


class WorkspaceTables:
    """One Workspace's records (Activities, TaskChannels, TaskQueues, Workers, Workflows, Tasks,
    Reservations, Events), its derived state, and the helpers its rules share."""

    SNAPSHOT_TRANSIENT: dict[str, Callable[[], Any]] = {
        "_index": lambda: None, "_worker_names": lambda: None, "_channel_names": dict, "_event_groups": SharedValues,
        "_event_origin": lambda: ("", "", "")}

    def __init__(self, ctx: Context, sid: str, account_sid: str, friendly_name: str, *,
                 event_callback_url: str | None = None, events_filter: str | None = None,
                 multi_task_enabled: bool = True, prioritize_queue_order: str = "FIFO") -> None:
        self.ctx = ctx
        now = ctx.clock.now()
        self.sid = sid
        self.account_sid = account_sid
        self.friendly_name = friendly_name
        self.event_callback_url = event_callback_url
        self.events_filter = events_filter
        self.multi_task_enabled = multi_task_enabled
        self.prioritize_queue_order = prioritize_queue_order
        self.date_created = now
        self.date_updated = now
        self.default_activity_sid: str = ""
        self.timeout_activity_sid: str = ""
        self.activities: OrderedDict[str, Activity] = OrderedDict()
        self.task_channels: OrderedDict[str, TaskChannel] = OrderedDict()
        self.task_queues: OrderedDict[str, TaskQueue] = OrderedDict()
        self.workers: OrderedDict[str, Worker] = OrderedDict()
        self.workflows: OrderedDict[str, Workflow] = OrderedDict()
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.reservations: OrderedDict[str, Reservation] = OrderedDict()
        self.transfers: OrderedDict[str, Transfer] = OrderedDict()
        self.events: dict[str, Event] = {}  # in the order logged (a plain dict: smaller per entry)
        # each task's routing state, and when each worker last got a task (its idle time runs from then)
        self.task_routing: dict[str, TaskRouting] = {}
        self.last_assigned: dict[str, datetime] = {}
        self.timers = Timers(ctx.clock, sid)
        # derived state, rebuilt from the records: parsed TargetWorkers of each queue, parsed
        # configuration of each workflow, the routing index
        self.queue_expressions: dict[str, Expression] = {}
        self.workflow_configurations: dict[str, WorkflowConfiguration] = {}
        self._index: RoutingIndex | None = None
        # casefolded worker name -> worker SID, so name uniqueness is a lookup, not a scan of the
        # workers (derived: built on first use, kept in step by the worker rules)
        self._worker_names: dict[str, str] | None = None
        # task channel unique name -> SID, as last found (derived, a cache checked on each use)
        self._channel_names: dict[str, str] = {}
        # what events share (see ``emit``; derived, a cache)
        self._event_origin: tuple[str, str, str] = (sid, friendly_name, account_sid)
        self._event_groups = SharedValues()

    # --- helpers ----------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    def now(self) -> datetime:
        return self.ctx.clock.now()

    def new_sid(self, prefix: str) -> str:
        return self.ctx.sids.sid(prefix)

    def task_age(self, task: Task) -> int:
        return max(0, int((self.now() - task.date_created).total_seconds()))

    def channel_available_capacity_percentage(self, channel: WorkerChannel) -> int:
        """``floor((1 - busy / configured_capacity) * 100)`` where busy counts pending, accepted
        and wrapping reservations (https://www.twilio.com/docs/taskrouter/multitasking)."""
        return lifecycle.available_capacity_percentage(channel, self.channel_load(channel))

    def channel_load(self, channel: WorkerChannel) -> int:
        """Pending, accepted and wrapping reservations of the channel's worker on its task channel."""
        live = self.index.live.get(channel.worker_sid)
        return lifecycle.channel_loads(live, self.tasks).get(channel.task_channel_sid, 0) if live else 0

    def emit(self, event_type: str, **subjects: Any) -> Event:
        """Log that ``event_type`` happened to ``subjects`` (see ``events.render``) in the Events
        resource and hand it to the backend's outbox: the catalogue says what the event carries."""
        now = self.ctx.clock.now()
        layout, groups = ev.render(self, event_type, subjects, now)
        sid = self.ctx.sids.sid("EV")
        origin = self._event_origin
        if origin[1] != self.friendly_name or origin[0] != self.sid:
            origin = self._event_origin = (self.sid, self.friendly_name, self.account_sid)
        # a group's values equal to those of an earlier event are that event's tuple (a queue's,
        # a workflow's, a worker's, a task's between its changes): kept once
        shared = self._event_groups
        if len(shared) > EVENT_GROUPS_SHARED:
            shared = self._event_groups = shared.next_generation()
        # (Event's own constructor, without its argument shuffle)
        event: Event = tuple.__new__(Event, (sid, layout, now, origin, *map(shared.__getitem__, groups)))
        self.events[sid] = event
        if (EVENT_EXPIRY, self.sid) not in self.timers.entries:
            # Events are kept 30 days; a timer drops them as they age (not the reads of the list).
            self.timers.start_at(EVENT_EXPIRY, self.sid, now + timedelta(days=ev.RETENTION_DAYS))
        self.ctx.publish(self, event)
        return event

    # --- the routing index (derived) ------------------------------------------------------------
    @property
    def index(self) -> RoutingIndex:
        """The routing index, (re)built from the records when missing or stale."""
        ix = self._index
        if ix is None or ix.dirty or ix.multi_task_enabled != self.multi_task_enabled:
            ix = self._index = build_index(self)
        return ix

    @property
    def built_index(self) -> RoutingIndex | None:
        """The index if it is built (nothing to keep in step otherwise)."""
        return self._index

    def invalidate_index(self) -> None:
        """Something the index summarises changed wholesale (task channels, an activity's name):
        rebuild it on next use."""
        if self._index is not None:
            self._index.dirty = True

    def drop_derived(self) -> None:
        self._index = None

    def task_reservations(self, task_sid: str) -> list[Reservation]:
        """A task's reservations in creation order."""
        return list(self.index.by_task.get(task_sid, {}).values())

    def worker_reservations(self, worker_sid: str) -> list[Reservation]:
        """A worker's reservations in creation order."""
        return list(self.index.by_worker.get(worker_sid, {}).values())

    # --- lookups ----------------------------------------------------------------------------------
    def _name_taken(self, items: Iterable, name: str, attr: str = "friendly_name", *, casefold: bool,
                    exclude=None) -> bool:
        key = name.casefold() if casefold else name
        for item in items:
            if item is exclude:
                continue
            other = getattr(item, attr)
            if (other.casefold() if casefold else other) == key:
                return True
        return False

    @property
    def worker_names(self) -> dict[str, str]:
        """Casefolded friendly name -> SID of every worker (derived state)."""
        names = self._worker_names
        if names is None:
            names = self._worker_names = {w.friendly_name.casefold(): w.sid for w in self.workers.values()}
        return names

    def _taken_message(self, template: str, name: str) -> str:
        return template.format(name=name, workspace_sid=self.sid, account_sid=self.account_sid)


    def activity_param(self, sid: str, name: str) -> Activity:
        """The activity named by a parameter, or 400 (a SID parameter that names nothing)."""
        activity = self.activities.get(sid)
        if activity is None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"Activity {sid} does not exist in workspace {self.sid}"))
        return activity


    def get_task_channel(self, sid_or_name: str) -> TaskChannel:
        """By SID or unique name (the API accepts both)."""
        channel = self.task_channels.get(sid_or_name)
        if channel is None:
            # by name: the channel last found by it, if it still has it (every new task names "default")
            channel = self.task_channels.get(self._channel_names.get(sid_or_name, ""))
            if channel is None or channel.unique_name != sid_or_name:
                channel = next((c for c in self.task_channels.values() if c.unique_name == sid_or_name), None)
                if channel is not None:
                    self._channel_names[sid_or_name] = channel.sid
        if channel is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{self.sid}/TaskChannels/{sid_or_name}"))
        return channel

    def task_channel_param(self, sid_or_name: str, name: str = "TaskChannel") -> TaskChannel:
        try:
            return self.get_task_channel(sid_or_name)
        except errors.NotFound:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"TaskChannel {sid_or_name} does not exist in workspace {self.sid}")) from None


    def queue_matches_worker(self, queue: TaskQueue, worker: Worker) -> bool:
        """Whether ``worker`` belongs to ``queue`` (its TargetWorkers matches the worker's attributes)."""
        return bool(self.queue_expressions[queue.sid].evaluate(self.worker_document(worker)))

    def worker_document(self, worker: Worker) -> dict:
        """What a worker-attribute expression sees: the attributes plus the worker fields the
        list filter ``TargetWorkersExpression`` may use (https://www.twilio.com/docs/taskrouter/api/worker)."""
        activity = self.activities.get(worker.activity_sid)
        doc = dict(worker.attributes_data)
        doc.setdefault("sid", worker.sid)
        doc.setdefault("friendly_name", worker.friendly_name)
        doc.setdefault("activity_sid", worker.activity_sid)
        doc.setdefault("activity_name", activity.friendly_name if activity else None)
        return doc


    def worker_available(self, worker: Worker) -> bool:
        activity = self.activities.get(worker.activity_sid)
        return bool(activity and activity.available)

    def set_worker_activity(self, worker: Worker, activity_sid: str) -> None:
        """Move a worker to another activity and log ``worker.activity.update`` with the previous-activity
        extras of the Events reference."""
        previous = self.activities.get(worker.activity_sid)
        now = self.now()
        elapsed = now - worker.date_status_changed
        worker.activity_sid = activity_sid
        worker.date_status_changed = now
        worker.date_updated = now
        worker.version += 1
        self.emit("worker.activity.update", worker=worker, previous_activity=previous,
                  elapsed_ms=int(elapsed.total_seconds() * 1000))
        self.ctx.routing.worker_changed(self, worker)

    def check_version(self, resource, if_match: str | None, kind: str) -> None:
        """``If-Match`` against the resource's ``ETag`` (https://www.twilio.com/docs/usage/mutation-and-conflict-resolution)."""
        if if_match is None:
            return
        given = if_match.strip()
        if given.startswith("W/"):
            given = given[2:]
        given = given.strip('"')
        if given != "*" and given != str(resource.version):
            raise errors.PreconditionFailed(errors.TASK_ETAG_MISMATCH.format(
                given=if_match, current=resource.version, task_sid=resource.sid).replace("Task", kind, 1))

    def _param_in(self, table: dict, sid: str, name: str, kind: str):
        if sid not in table:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"{kind} {sid} does not exist in workspace {self.sid}"))
        return table[sid]

    # --- reservations -------------------------------------------------------------------------
    def get_reservation(self, sid: str, *, task_sid: str | None = None, worker_sid: str | None = None) -> Reservation:
        reservation = self.reservations.get(sid)
        if reservation is None or (task_sid and reservation.task_sid != task_sid) or (
                worker_sid and reservation.worker_sid != worker_sid):
            owner = f"Tasks/{task_sid}" if task_sid else f"Workers/{worker_sid}"
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{self.sid}/{owner}/Reservations/{sid}"))
        return reservation

    # --- events -------------------------------------------------------------------------------
    def get_event(self, sid: str) -> Event:
        return self._get(self.events, sid, "Events")

    def expire_events(self) -> None:
        """Drop the events older than 30 days, then wait for the next oldest to turn 30 days old
        (https://www.twilio.com/docs/taskrouter/api/event: "Events are stored for 30 days")."""
        cutoff = self.now() - timedelta(days=ev.RETENTION_DAYS)
        while self.events:
            first = next(iter(self.events.values()))
            if first.event_date > cutoff:  # (one exactly 30 days old goes: the timer stands at its due)
                self.timers.start_at(EVENT_EXPIRY, self.sid, first.event_date + timedelta(days=ev.RETENTION_DAYS))
                break
            del self.events[first.sid]

    # --- shared -------------------------------------------------------------------------------
    def _get(self, table: dict, sid: str, kind: str) -> Any:
        """``kind`` is the list the lookup came through (``Workers``...), not the SID's prefix: the
        real service names the path that was asked for, whatever the SID looks like."""
        item = table.get(sid)
        if item is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=f"/v1/Workspaces/{self.sid}/{kind}/{sid}"))
        return item

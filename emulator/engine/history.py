"""The digested history statistics are read from: per workspace, for every (figure, scope, task
channel) a time-ordered ``Series`` of instants, for every worker an activity ``Timeline``, and the
live task counters (``LiveTasks``). Derived state: rebuilt from the event log whenever the
workspace object is new (a reset, a restored snapshot). See ``statistics`` for the figures.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import RETENTION_DAYS
from .state import ASSIGNED, PENDING, RESERVED, WRAPPING, Event, Task, Worker

if TYPE_CHECKING:
    from .tables import WorkspaceTables
    from .workspace import Workspace

# "Historical statistics allow you to analyze data from the past 30 days" (taskqueue-statistics).
HISTORY_DAYS = RETENTION_DAYS

# [I] real-time task figures (tasks_by_status, tasks_by_priority, total_tasks) count the tasks
# that are in the system now: pending, reserved, assigned and wrapping. Finished tasks linger five
# minutes before deletion; they are history and show in the cumulative figures instead.
ACTIVE = (PENDING, RESERVED, ASSIGNED, WRAPPING)
# "Waiting" (longest_task_waiting_*) means not yet accepted by a worker.
WAITING = (PENDING, RESERVED)

RESERVATION_FIGURES = {
    "reservation.created": "reservations_created",
    "reservation.accepted": "reservations_accepted",
    "reservation.rejected": "reservations_rejected",
    "reservation.timeout": "reservations_timed_out",
    "reservation.canceled": "reservations_canceled",
    "reservation.rescinded": "reservations_rescinded",
}
TASK_ENDINGS = {"task.canceled": "tasks_canceled", "task.completed": "tasks_completed",
                "task.deleted": "tasks_deleted"}



def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0



# --- the digested history ---------------------------------------------------------------------
@dataclass
class Series:
    """Instants (epoch seconds, ascending) of one figure in one scope, with an optional value each
    (the wait in seconds, for acceptances and cancellations) and a second one (the wait in the queue)."""

    times: list = field(default_factory=list)
    waits: list = field(default_factory=list)
    queue_waits: list = field(default_factory=list)

    def add(self, t: float, wait, queue_wait) -> None:
        self.times.append(t)
        if wait is None and queue_wait is None and not self.waits:
            return  # most figures never carry a wait: their series keep the instants only
        missing = len(self.times) - 1 - len(self.waits)
        if missing:
            self.waits.extend([None] * missing)
            self.queue_waits.extend([None] * missing)
        self.waits.append(wait)
        self.queue_waits.append(queue_wait)

    def span(self, lo: float, hi: float) -> tuple[int, int]:
        return bisect_left(self.times, lo), bisect_right(self.times, hi)

    def count(self, lo: float, hi: float) -> int:
        i, j = self.span(lo, hi)
        return j - i

    def waits_in(self, lo: float, hi: float) -> tuple[list, list]:
        """The waits and the waits in the queue of the instants in [lo, hi] (None: no wait)."""
        if not self.waits:
            return [], []
        i, j = self.span(lo, hi)
        return self.waits[i:j], self.queue_waits[i:j]

    def trim(self, cutoff: float) -> None:
        k = bisect_left(self.times, cutoff)
        if k:
            del self.times[:k], self.waits[:k], self.queue_waits[:k]


EMPTY = Series()


class Channels:
    """A figure in a scope on all task channels: its series of each channel read as one (a count
    is their sum; the waits, read as a set of samples, are theirs together)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Series]) -> None:
        self.parts = parts

    def count(self, lo: float, hi: float) -> int:
        return sum(part.count(lo, hi) for part in self.parts)

    def waits_in(self, lo: float, hi: float) -> tuple[list, list]:
        waits: list = []
        queue_waits: list = []
        for part in self.parts:
            w, q = part.waits_in(lo, hi)
            waits.extend(w)
            queue_waits.extend(q)
        return waits, queue_waits


@dataclass
class Timeline:
    """One worker's activities over time: ``activities[i]`` held from ``times[i]`` to the next
    instant (or to now); ``None`` after the worker was deleted."""

    times: list = field(default_factory=list)
    activities: list = field(default_factory=list)

    def add(self, t: float, activity_sid: str | None) -> None:
        self.times.append(t)
        self.activities.append(activity_sid)

    def stints(self, lo: float, hi: float):
        """(activity SID, seconds) of every stint, clipped to [lo, hi]."""
        times, acts = self.times, self.activities
        i = max(0, bisect_right(times, lo) - 1)
        while i < len(times) and times[i] <= hi:
            begin = max(times[i], lo)
            end = min(times[i + 1], hi) if i + 1 < len(times) else hi
            if acts[i] is not None and end > begin:
                yield acts[i], end - begin
            i += 1


class History:
    """A workspace's event log digested into series per figure, scope and task channel.

    Scopes are ``("ws", None)``, ``("wf", WorkflowSid)``, ``("q", TaskQueueSid)`` and
    ``("wk", WorkerSid)``; the channel part is the TaskChannel SID of the events (None when they
    name none). An instant is kept once, in its channel's series: the figure on all channels is
    read from the series of each (``Channels``), which costs a few more binary searches a query
    and halves what the history holds.
    """

    TRIM_EVERY = 86_400.0

    def __init__(self) -> None:
        self.last_sid: str | None = None
        self._last_instant: object = None
        self._last_seconds = 0.0
        self.series: dict[tuple, Series] = {}
        # (figure, scope) -> its series on each channel, read together for all channels
        self.channels: dict[tuple, Channels] = {}
        # (figure, workspace?, workflow, queue, worker, channel) -> the series an instant goes to
        # (derived from ``series``; bounded by the scopes that exist, not by the events)
        self.groups: dict[tuple, tuple[Series, ...]] = {}
        self.timelines: dict[str, Timeline] = {}
        # routing state needed to read later events: where each task is and since when
        self.queue_of: dict[str, str] = {}
        self.entered_at: dict[str, float] = {}
        self.workflow_of: dict[str, str] = {}
        self._ended = 0  # tasks ended since those three were last copied (see ``_task_ended``)
        self.trimmed_at = 0.0
        # queue membership cache: queue SID -> (expression object, {worker SID: (key, matches)})
        self.membership: dict[str, tuple] = {}
        # the live tasks, kept up to date from the tasks the events name (see LiveTasks)
        self.live = LiveTasks()

    # -- digesting ---------------------------------------------------------------------------
    def follow(self, ws: "WorkspaceTables", event: Event) -> None:
        """Digest one event as it is logged."""
        self.digest(event)
        task_sid = event.get("TaskSid")
        if task_sid:
            self.live.touch(task_sid, ws.tasks.get(task_sid))
        elif event.event_type == "workflow.updated" and self.live.reading:
            # ReEvaluateTasks may move or unqueue the workflow's tasks without an event naming
            # each (a task no filter matches any more leaves its queue silently)
            workflow_sid = event.resource_sid
            for task in ws.tasks.values():
                if task.workflow_sid == workflow_sid:
                    self.live.touch(task.sid, task)
        self.last_sid = event.sid

    def catch_up(self, ws: "Workspace") -> None:
        """Digest the events recorded since the last call (newest first until the last one seen):
        none when the history follows the log as it is written (``follow``)."""
        fresh = []
        for event in reversed(ws.events.values()):
            if event.sid == self.last_sid:
                break
            fresh.append(event)
        for event in reversed(fresh):
            self.follow(ws, event)
        self.live.refresh(ws)
        now = ws.now().timestamp()
        if now - self.trimmed_at > self.TRIM_EVERY:
            cutoff = now - HISTORY_DAYS * 86_400 - self.TRIM_EVERY
            for series in self.series.values():
                series.trim(cutoff)
            self.trimmed_at = now

    def _add(self, figure: str, t: float, channel: str | None, ws: bool, wf: str | None = None,
             q: str | None = None, wk: str | None = None, wait=None, queue_wait=None) -> None:
        """Add instant ``t`` to ``figure``'s series of the workspace (``ws``) and of the workflow,
        queue and worker given (None: not counted there), each for ``channel``."""
        key = (figure, ws, wf, q, wk, channel)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = self._group(key)
        if wait is None and queue_wait is None:
            for series in group:
                if series.waits:
                    series.add(t, None, None)
                else:
                    series.times.append(t)
        else:
            for series in group:
                series.add(t, wait, queue_wait)

    def _group(self, key: tuple) -> tuple[Series, ...]:
        figure, ws, wf, q, wk, channel = key
        scopes = [("ws", None)] if ws else []
        scopes.extend(scope for scope in (("wf", wf), ("q", q), ("wk", wk)) if scope[1] is not None)
        return tuple(self._series(figure, scope, channel or None) for scope in scopes)

    def _series(self, figure: str, scope: tuple, channel: str | None) -> Series:
        series = self.series.get((figure, scope, channel))
        if series is None:
            series = self.series[(figure, scope, channel)] = Series()
            merged = self.channels.get((figure, scope))
            if merged is None:
                merged = self.channels[(figure, scope)] = Channels([])
            merged.parts.append(series)
        return series

    def digest(self, event: Event) -> None:
        """Add one event to the figures it counts in."""
        handler = DIGESTS.get(event.event_type)
        if handler is not None:
            handler(self, event, self._seconds(event.event_date), event.get("TaskSid"))

    def _seconds(self, instant) -> float:
        """``instant.timestamp()``; the events of one change share their instant (one clock
        reading), so the last one is kept."""
        if instant is not self._last_instant:
            self._last_instant, self._last_seconds = instant, instant.timestamp()
        return self._last_seconds

    # (the events are read with ``Event.get``, field by field, as each kind needs)
    def _task_created(self, event: Event, t: float, task_sid: Any) -> None:
        self._add("tasks_created", t, event.get("TaskChannelSid"), True)

    def _workflow_entered(self, event: Event, t: float, task_sid: Any) -> None:
        # [I] a task counts once per workflow, even when an attribute change routes it through
        # the same workflow again.
        workflow = event.get("WorkflowSid")
        if self.workflow_of.get(task_sid) != workflow:
            self.workflow_of[task_sid] = workflow
            self._add("tasks_entered", t, event.get("TaskChannelSid"), False, wf=workflow)

    def _queue_entered(self, event: Event, t: float, task_sid: Any) -> None:
        queue = event.get("TaskQueueSid")
        previous = self.queue_of.get(task_sid)
        if previous != queue:
            channel = event.get("TaskChannelSid")
            # [I] "moved" = the task left one queue for another (a target timeout stepping to
            # the next target, or a re-evaluation landing elsewhere); it counts once for the
            # workspace and workflow, and for the queue it left, at the instant it entered the
            # new one. Stepping to a target on the same queue is neither a move nor an entry.
            if previous is not None:
                self._add("tasks_moved", t, channel, True, wf=event.get("WorkflowSid"), q=previous)
            self._add("tasks_entered", t, channel, False, q=queue)
            self.queue_of[task_sid] = queue
        self.entered_at[task_sid] = t

    def _task_ended(self, event: Event, t: float, task_sid: Any) -> None:
        kind = event.event_type
        wait = _int(event.get("TaskAge")) if kind == "task.canceled" else None
        self._add(TASK_ENDINGS[kind], t, event.get("TaskChannelSid"), True, wf=event.get("WorkflowSid"),
                  q=event.get("TaskQueueSid"), wait=wait)
        self.queue_of.pop(task_sid, None)
        self.entered_at.pop(task_sid, None)
        self.workflow_of.pop(task_sid, None)
        self._ended += 1
        if self._ended > 2 * len(self.queue_of) + 1024:
            # a dictionary keeps the table of its largest size: once a backlog has drained, they
            # are copied at the size of what is left
            self.queue_of, self.entered_at, self.workflow_of = (
                dict(self.queue_of), dict(self.entered_at), dict(self.workflow_of))
            self._ended = 0

    def _workflow_timeout(self, event: Event, t: float, task_sid: Any) -> None:
        self._add("tasks_timed_out_in_workflow", t, event.get("TaskChannelSid"), True, wf=event.get("WorkflowSid"))

    def _reservation(self, event: Event, t: float, task_sid: Any) -> None:
        kind = event.event_type
        wait = queue_wait = None
        if kind == "reservation.accepted":
            # the wait counts from the task's creation (TaskAge), and for queues also from
            # the moment it entered the queue ("wait_duration_in_queue_until_accepted")
            wait = _int(event.get("TaskAge"))
            entered = self.entered_at.get(task_sid)
            queue_wait = int(t - entered) if entered is not None else wait
        self._add(RESERVATION_FIGURES[kind], t, event.get("TaskChannelSid"), True, wf=event.get("WorkflowSid"),
                  q=event.get("TaskQueueSid"), wk=event.get("WorkerSid"), wait=wait, queue_wait=queue_wait)

    def _worker_created(self, event: Event, t: float, task_sid: Any) -> None:
        self._timeline(event.get("WorkerSid")).add(t, event.get("WorkerActivitySid"))

    def _worker_activity(self, event: Event, t: float, task_sid: Any) -> None:
        timeline = self.timelines.get(event.get("WorkerSid"))
        if timeline is None:
            # the worker's creation is older than the log: start from the previous activity
            timeline = self._timeline(event.get("WorkerSid"))
            ms = _int(event.get("WorkerTimeInPreviousActivityMs"))
            timeline.add(t - ms / 1000.0, event.get("WorkerPreviousActivitySid"))
        timeline.add(t, event.get("WorkerActivitySid"))

    def _worker_deleted(self, event: Event, t: float, task_sid: Any) -> None:
        self._timeline(event.get("WorkerSid")).add(t, None)

    def _timeline(self, worker_sid: str) -> Timeline:
        timeline = self.timelines.get(worker_sid)
        if timeline is None:
            timeline = self.timelines[worker_sid] = Timeline()
        return timeline

    # -- reading -------------------------------------------------------------------------------
    def get(self, figure: str, scope: tuple, channel: str | None) -> Series | Channels:
        """``figure``'s instants in ``scope`` on ``channel`` (None: on all channels)."""
        if channel is None:
            return self.channels.get((figure, scope), EMPTY)
        return self.series.get((figure, scope, channel), EMPTY)

    def members(self, ws: "Workspace", queue_sid: str) -> list[Worker]:
        """The workers a queue's TargetWorkers matches now, evaluating only changed workers."""
        expression = ws.queue_expressions[queue_sid]
        cached = self.membership.get(queue_sid)
        if cached is None or cached[0] is not expression:
            cached = (expression, {})
            self.membership[queue_sid] = cached
        memo = cached[1]
        result = []
        for worker in ws.workers.values():
            activity = ws.activities.get(worker.activity_sid)
            # the worker document shows the activity's name, which a rename changes without
            # touching the worker's version
            key = (worker.version, worker.activity_sid, activity.friendly_name if activity else None)
            hit = memo.get(worker.sid)
            if hit is None or hit[0] != key:
                hit = (key, bool(expression.evaluate(ws.worker_document(worker))))
                memo[worker.sid] = hit
            if hit[1]:
                result.append(worker)
        return result


# event type -> what digesting it adds (types not named add nothing)
DIGESTS: dict[str, Callable[[History, Event, float, Any], None]] = {
    "task.created": History._task_created,
    "workflow.entered": History._workflow_entered,
    "task-queue.entered": History._queue_entered,
    **dict.fromkeys(TASK_ENDINGS, History._task_ended),
    "workflow.timeout": History._workflow_timeout,
    **dict.fromkeys(RESERVATION_FIGURES, History._reservation),
    "worker.created": History._worker_created,
    "worker.activity.update": History._worker_activity,
    "worker.deleted": History._worker_deleted,
}


class LiveTasks:
    """The active tasks (pending, reserved, assigned, wrapping), counted per scope and channel.

    Every change of a task (status, priority, queue, workflow, channel) is logged with an event
    naming it, in the same API call; the tasks those events name are read again from the live
    state after the call, so real-time figures cost what changed since the last query, not the
    size of the workspace. The longest waiting tasks come from heaps with lazy deletion.
    Until the first refresh nothing is counted and no change is noted: that refresh reads every
    task of the workspace (in creation order, the order their first changes would have had).
    """

    def __init__(self) -> None:
        self.reading = False  # refreshed once: changes are noted from then on
        self.views: dict[str, tuple] = {}
        # first sighting = creation order, breaks ties of age (of the active tasks: a finished
        # task is never active again). Numbered at the refresh that first reads a task, in the
        # order ``dirty`` keeps, which is the order of the tasks' first touch since the last one.
        self.order: dict[str, int] = {}
        self.sightings = itertools.count()
        self.dirty: dict[str, None] = {}
        self._forgotten = 0  # tasks forgotten since ``order`` and ``dirty`` were last copied
        self.status: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(ACTIVE, 0))
        self.priority: dict[tuple, dict] = defaultdict(dict)
        self.heaps: dict[tuple, list] = defaultdict(list)
        self.pushes = itertools.count()

    def touch(self, task_sid: str, task: Task | None) -> None:
        """``task`` (``task_sid``'s record now, None when deleted) changed: read it again at the
        next refresh. A finished or deleted task that the counts do not hold has nothing to read:
        it is forgotten now (between queries, the tasks that came and went leave nothing here)."""
        if not self.reading:
            return
        if task_sid not in self.views and (task is None or task.assignment_status not in ACTIVE):
            self.dirty.pop(task_sid, None)
            if self.order.pop(task_sid, None) is not None:
                self._forgot()
            return
        self.dirty[task_sid] = None

    @staticmethod
    def _keys(view: tuple):
        status, priority, channel, workflow, queue, created, entered = view
        for scope in (("ws", None), ("wf", workflow), ("q", queue)):
            if scope[0] == "ws" or scope[1] is not None:
                yield scope, None
                yield scope, channel

    def refresh(self, ws: "Workspace") -> None:
        if not self.reading:
            self.reading = True
            for sid, record in ws.tasks.items():
                self.touch(sid, record)
        for sid in self.dirty:
            old = self.views.pop(sid, None)
            if old is not None:
                self._count(old, -1)
            task = ws.tasks.get(sid)
            if task is None or task.assignment_status not in ACTIVE:
                if self.order.pop(sid, None) is not None:
                    self._forgot()
                continue
            entered = task.task_queue_entered_date
            view = (task.assignment_status, task.priority, task.task_channel_sid, task.workflow_sid,
                    task.task_queue_sid, task.date_created.timestamp(), entered.timestamp() if entered else None)
            self.views[sid] = view
            self._count(view, 1)
            order = self.order.get(sid)
            if order is None:
                order = self.order[sid] = next(self.sightings)
            if view[0] in WAITING:
                for key in self._keys(view):
                    heapq.heappush(self.heaps[("age", *key)], (view[5], order, next(self.pushes), sid, view))
                    if key[0][0] == "q" and view[6] is not None:
                        heapq.heappush(self.heaps[("rel", *key)], (view[6], order, next(self.pushes), sid, view))
        self.dirty.clear()

    def _forgot(self) -> None:
        self._forgotten += 1
        if self._forgotten > 2 * len(self.order) + 1024:
            # copied at the size of what is left once a backlog has drained (see ``_task_ended``)
            self.order, self.dirty = dict(self.order), dict(self.dirty)
            self._forgotten = 0

    def _count(self, view: tuple, sign: int) -> None:
        for key in self._keys(view):
            self.status[key][view[0]] += sign
            by_priority = self.priority[key]
            left = by_priority.get(view[1], 0) + sign
            if left:
                by_priority[view[1]] = left
            else:
                by_priority.pop(view[1], None)

    def oldest(self, kind: str, scope: tuple, channel: str | None) -> tuple | None:
        """(instant, task SID) of the waiting task of the scope that was created (``age``) or
        entered its queue (``rel``) first; stale heap entries are dropped on the way."""
        heap = self.heaps.get((kind, scope, channel))
        if not heap:
            return None
        valid = lambda entry: self.views.get(entry[3]) is entry[4]  # noqa: E731
        while heap and not valid(heap[0]):
            heapq.heappop(heap)
        waiting = sum(self.status[(scope, channel)][s] for s in WAITING)
        if len(heap) > 4 * waiting + 64:
            heap[:] = [entry for entry in heap if valid(entry)]
            heapq.heapify(heap)
        return (heap[0][0], heap[0][3]) if heap else None


_HISTORIES: "weakref.WeakKeyDictionary[WorkspaceTables, History]" = weakref.WeakKeyDictionary()


# the workspace that logged the last event, and its history: events come in runs of one
# workspace, and this spares each a look-up in the weak dictionary (a weak reference: a deleted
# workspace is not kept alive by it)
_last_followed: tuple = (lambda: None, None)


def follow(ws: "WorkspaceTables", event: Event) -> None:
    """Digest ``event`` as the workspace logs it, so that no statistics query replays the log.
    A workspace is followed from its first event; one that arrives with events already logged (a
    restored snapshot) is digested once, on its first query, and followed from then on."""
    global _last_followed
    last, found = _last_followed
    if last() is not ws:
        found = _HISTORIES.get(ws)
        if found is None:
            if len(ws.events) != 1:
                return
            found = _HISTORIES[ws] = History()
        _last_followed = (weakref.ref(ws), found)
    found.follow(ws, event)


def history(ws: "Workspace") -> History:
    """The workspace's digested history, brought up to date. Derived data only: it is rebuilt from
    the event log whenever the workspace object is new (a reset, a restored snapshot)."""
    found = _HISTORIES.get(ws)
    if found is None:
        found = _HISTORIES[ws] = History()
    found.catch_up(ws)
    return found



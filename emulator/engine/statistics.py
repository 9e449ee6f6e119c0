"""TaskRouter statistics, computed from the workspace's real history and live state.

Three kinds of figures (https://www.twilio.com/docs/taskrouter/api/workspace-statistics,
https://www.twilio.com/docs/taskrouter/api/workflow-statistics,
https://www.twilio.com/docs/taskrouter/api/taskqueue-statistics,
https://www.twilio.com/docs/taskrouter/api/worker-statistics):

* real-time: what is true now (tasks by status and priority, the longest waiting task, workers
  by activity), read from the live tasks and workers;
* cumulative: what happened in a window (tasks created, canceled, ...; reservations created,
  accepted, ...; wait durations; time workers spent in each activity), read from the event log;
* combined ("Statistics"): both, under ``realtime`` and ``cumulative``.

Cost. The event log is digested once, incrementally, into a ``History`` per workspace: for every
(figure, scope, task channel) a time-ordered ``Series``, and for every worker an activity
timeline. A window is two binary searches in a series, so counts cost O(log n) and duration
figures grow with the events inside the window for that scope, never with the whole history.
Real-time task figures are kept as counters per scope (``LiveTasks``), updated from the tasks the
new events name; worker figures walk the workers, with queue membership (TargetWorkers against each
worker) cached per worker version, so repeated queries do not evaluate expressions again.

Rules where the documentation is silent or vague are marked [I] where they live.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from ..sids import is_sid
from . import queries
from .events import RETENTION_DAYS
from .models import ASSIGNED, PENDING, RESERVED, WRAPPING, Event, Worker

if TYPE_CHECKING:
    from .workspace import Workspace

# "Historical statistics allow you to analyze data from the past 30 days" (taskqueue-statistics).
HISTORY_DAYS = RETENTION_DAYS
MINUTES_DEFAULT = 15
MINUTES_MAX = HISTORY_DAYS * 24 * 60
# "Fetch ... real time statistics in bulk for the array of TaskQueue SIDs, support upto 50 in a
# request" (taskqueue-statistics, bulk retrieval).
BULK_QUEUES_MAX = 50

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


# --- the query window -------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """What a statistics request asks about: an interval, a task channel, wait-time thresholds."""

    start: datetime
    end: datetime
    now: datetime
    channel_sid: str | None = None
    thresholds: tuple[int, ...] = ()

    @property
    def lo(self) -> float:
        return self.start.timestamp()

    @property
    def hi(self) -> float:
        return self.end.timestamp()


def channel_of(ws: "Workspace", task_channel: str | None) -> str | None:
    """The TaskChannel SID a ``TaskChannel`` parameter names (SID or unique name), or 400."""
    if task_channel is None:
        return None
    return ws.task_channel_param(task_channel).sid


def window(ws: "Workspace", *, minutes: int | None = None, start_date: datetime | None = None,
           end_date: datetime | None = None, task_channel: str | None = None,
           split_by_wait_time: str | None = None) -> Window:
    """Validate the window parameters of a cumulative query.

    ``StartDate`` wins over ``Minutes`` (default 15, counted back from now); ``EndDate`` defaults
    to now. Both ends are inclusive, like the Events resource's window ("from this date and time
    and later" / "and earlier"). Only the last 30 days can be asked about.
    """
    now = ws.now()
    if minutes is not None and not 1 <= minutes <= MINUTES_MAX:
        raise errors.InvalidParameter(errors.STATISTICS_MINUTES.format(value=minutes, maximum=MINUTES_MAX))
    start = start_date if start_date is not None else now - timedelta(minutes=minutes or MINUTES_DEFAULT)
    end = end_date if end_date is not None else now
    if start < now - timedelta(days=HISTORY_DAYS):
        raise errors.InvalidParameter(errors.STATISTICS_TOO_OLD.format(name="StartDate", days=HISTORY_DAYS))
    if end < start:
        raise errors.InvalidParameter(errors.STATISTICS_END_BEFORE_START)
    return Window(start, end, now, channel_of(ws, task_channel), thresholds(split_by_wait_time))


def thresholds(text: str | None) -> tuple[int, ...]:
    """``SplitByWaitTime``: a comma-separated list of whole seconds, e.g. ``20,60``."""
    if text is None:
        return ()
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or len(part) > 9:
            raise errors.InvalidParameter(errors.SPLIT_BY_WAIT_TIME_INVALID.format(value=text))
        if int(part) not in values:
            values.append(int(part))
    if not values:
        raise errors.InvalidParameter(errors.SPLIT_BY_WAIT_TIME_INVALID.format(value=text))
    return tuple(values)


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
        self.waits.append(wait)
        self.queue_waits.append(queue_wait)

    def span(self, lo: float, hi: float) -> tuple[int, int]:
        return bisect_left(self.times, lo), bisect_right(self.times, hi)

    def count(self, lo: float, hi: float) -> int:
        i, j = self.span(lo, hi)
        return j - i

    def trim(self, cutoff: float) -> None:
        k = bisect_left(self.times, cutoff)
        if k:
            del self.times[:k], self.waits[:k], self.queue_waits[:k]


EMPTY = Series()


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
    ``("wk", WorkerSid)``; the channel part is ``None`` (all channels) or a TaskChannel SID.
    """

    TRIM_EVERY = 86_400.0

    def __init__(self) -> None:
        self.last_sid: str | None = None
        self.series: dict[tuple, Series] = defaultdict(Series)
        self.timelines: dict[str, Timeline] = {}
        # routing state needed to read later events: where each task is and since when
        self.queue_of: dict[str, str] = {}
        self.entered_at: dict[str, float] = {}
        self.workflow_of: dict[str, str] = {}
        self.trimmed_at = 0.0
        # queue membership cache: queue SID -> (expression object, {worker SID: (key, matches)})
        self.membership: dict[str, tuple] = {}
        # the live tasks, kept up to date from the tasks the events name (see LiveTasks)
        self.live = LiveTasks()

    # -- digesting ---------------------------------------------------------------------------
    def catch_up(self, ws: "Workspace") -> None:
        """Digest the events recorded since the last call (newest first until the last one seen)."""
        fresh = []
        for event in reversed(ws.events.values()):
            if event.sid == self.last_sid:
                break
            fresh.append(event)
        for event in reversed(fresh):
            self.digest(event)
            task_sid = event.data.get("TaskSid")
            if task_sid:
                self.live.touch(task_sid)
            elif event.event_type == "workflow.updated":
                # ReEvaluateTasks may move or unqueue the workflow's tasks without an event naming
                # each (a task no filter matches any more leaves its queue silently)
                workflow_sid = event.resource_sid
                for task in ws.tasks.values():
                    if task.workflow_sid == workflow_sid:
                        self.live.touch(task.sid)
        if fresh:
            self.last_sid = fresh[0].sid
        self.live.refresh(ws)
        now = ws.now().timestamp()
        if now - self.trimmed_at > self.TRIM_EVERY:
            cutoff = now - HISTORY_DAYS * 86_400 - self.TRIM_EVERY
            for series in self.series.values():
                series.trim(cutoff)
            self.trimmed_at = now

    def _add(self, figure: str, t: float, scopes: Iterable[tuple], channel: str | None,
             wait=None, queue_wait=None) -> None:
        for scope in scopes:
            if scope[1] is None and scope[0] != "ws":
                continue
            self.series[(figure, scope, None)].add(t, wait, queue_wait)
            if channel:
                self.series[(figure, scope, channel)].add(t, wait, queue_wait)

    def digest(self, event: Event) -> None:
        kind = event.event_type
        data = event.data
        t = event.event_date.timestamp()
        task_sid: Any = data.get("TaskSid")
        channel = data.get("TaskChannelSid")
        ws_scope = ("ws", None)
        wf_scope: tuple[str, Any] = ("wf", data.get("WorkflowSid"))
        q_scope: tuple[str, Any] = ("q", data.get("TaskQueueSid"))
        if kind == "task.created":
            self._add("tasks_created", t, (ws_scope,), channel)
        elif kind == "workflow.entered":
            # [I] a task counts once per workflow, even when an attribute change routes it through
            # the same workflow again.
            if self.workflow_of.get(task_sid) != wf_scope[1]:
                self.workflow_of[task_sid] = wf_scope[1]
                self._add("tasks_entered", t, (wf_scope,), channel)
        elif kind == "task-queue.entered":
            previous = self.queue_of.get(task_sid)
            queue = q_scope[1]
            if previous != queue:
                # [I] "moved" = the task left one queue for another (a target timeout stepping to
                # the next target, or a re-evaluation landing elsewhere); it counts once for the
                # workspace and workflow, and for the queue it left, at the instant it entered the
                # new one. Stepping to a target on the same queue is neither a move nor an entry.
                if previous is not None:
                    self._add("tasks_moved", t, (ws_scope, wf_scope, ("q", previous)), channel)
                self._add("tasks_entered", t, (q_scope,), channel)
                self.queue_of[task_sid] = queue
            self.entered_at[task_sid] = t
        elif kind in TASK_ENDINGS:
            wait = _int(data.get("TaskAge")) if kind == "task.canceled" else None
            self._add(TASK_ENDINGS[kind], t, (ws_scope, wf_scope, q_scope), channel, wait)
            self.queue_of.pop(task_sid, None)
            self.entered_at.pop(task_sid, None)
            self.workflow_of.pop(task_sid, None)
        elif kind == "workflow.timeout":
            self._add("tasks_timed_out_in_workflow", t, (ws_scope, wf_scope), channel)
        elif kind in RESERVATION_FIGURES:
            wait = queue_wait = None
            if kind == "reservation.accepted":
                # the wait counts from the task's creation (TaskAge), and for queues also from
                # the moment it entered the queue ("wait_duration_in_queue_until_accepted")
                wait = _int(data.get("TaskAge"))
                entered = self.entered_at.get(task_sid)
                queue_wait = int(t - entered) if entered is not None else wait
            self._add(RESERVATION_FIGURES[kind], t, (ws_scope, wf_scope, q_scope, ("wk", data.get("WorkerSid"))),
                      channel, wait, queue_wait)
        elif kind == "worker.created":
            self._timeline(data["WorkerSid"]).add(t, data.get("WorkerActivitySid"))
        elif kind == "worker.activity.update":
            timeline = self.timelines.get(data["WorkerSid"])
            if timeline is None:
                # the worker's creation is older than the log: start from the previous activity
                timeline = self._timeline(data["WorkerSid"])
                ms = _int(data.get("WorkerTimeInPreviousActivityMs"))
                timeline.add(t - ms / 1000.0, data.get("WorkerPreviousActivitySid"))
            timeline.add(t, data.get("WorkerActivitySid"))
        elif kind == "worker.deleted":
            self._timeline(data["WorkerSid"]).add(t, None)

    def _timeline(self, worker_sid: str) -> Timeline:
        timeline = self.timelines.get(worker_sid)
        if timeline is None:
            timeline = self.timelines[worker_sid] = Timeline()
        return timeline

    # -- reading -------------------------------------------------------------------------------
    def get(self, figure: str, scope: tuple, channel: str | None) -> Series:
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


class LiveTasks:
    """The active tasks (pending, reserved, assigned, wrapping), counted per scope and channel.

    Every change of a task (status, priority, queue, workflow, channel) is logged with an event
    naming it, in the same API call; the tasks those events name are read again from the live
    state after the call, so real-time figures cost what changed since the last query, not the
    size of the workspace. The longest waiting tasks come from heaps with lazy deletion.
    """

    def __init__(self) -> None:
        self.views: dict[str, tuple] = {}
        self.order: dict[str, int] = {}  # first sighting = creation order, breaks ties of age
        self.dirty: dict[str, None] = {}
        self.status: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(ACTIVE, 0))
        self.priority: dict[tuple, dict] = defaultdict(dict)
        self.heaps: dict[tuple, list] = defaultdict(list)
        self.pushes = itertools.count()

    def touch(self, task_sid: str) -> None:
        self.dirty[task_sid] = None
        self.order.setdefault(task_sid, len(self.order))

    @staticmethod
    def _keys(view: tuple):
        status, priority, channel, workflow, queue, created, entered = view
        for scope in (("ws", None), ("wf", workflow), ("q", queue)):
            if scope[0] == "ws" or scope[1] is not None:
                yield scope, None
                yield scope, channel

    def refresh(self, ws: "Workspace") -> None:
        for sid in self.dirty:
            old = self.views.pop(sid, None)
            if old is not None:
                self._count(old, -1)
            task = ws.tasks.get(sid)
            if task is None or task.assignment_status not in ACTIVE:
                if task is None:
                    self.order.pop(sid, None)
                continue
            entered = task.task_queue_entered_date
            view = (task.assignment_status, task.priority, task.task_channel_sid, task.workflow_sid,
                    task.task_queue_sid, task.date_created.timestamp(), entered.timestamp() if entered else None)
            self.views[sid] = view
            self._count(view, 1)
            if view[0] in WAITING:
                order = self.order.setdefault(sid, len(self.order))
                for key in self._keys(view):
                    heapq.heappush(self.heaps[("age", *key)], (view[5], order, next(self.pushes), sid, view))
                    if key[0][0] == "q" and view[6] is not None:
                        heapq.heappush(self.heaps[("rel", *key)], (view[6], order, next(self.pushes), sid, view))
        self.dirty.clear()

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


_HISTORIES: "weakref.WeakKeyDictionary[Workspace, History]" = weakref.WeakKeyDictionary()


def history(ws: "Workspace") -> History:
    """The workspace's digested history, brought up to date. Derived data only: it is rebuilt from
    the event log whenever the workspace object is new (a reset, a restored snapshot)."""
    found = _HISTORIES.get(ws)
    if found is None:
        found = _HISTORIES[ws] = History()
        for sid in ws.tasks:
            found.live.touch(sid)
    found.catch_up(ws)
    return found


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- figures ------------------------------------------------------------------------------------
def durations(values: list) -> dict:
    """``{avg, min, max, total}`` in whole seconds (avg rounded half up); zeros when nothing happened."""
    values = [v for v in values if v is not None]
    if not values:
        return {"avg": 0, "min": 0, "max": 0, "total": 0}
    total = sum(values)
    return {"avg": int(total / len(values) + 0.5), "min": min(values), "max": max(values), "total": total}


def split_by_wait_time(canceled_waits: list, accepted_waits: list, limits: tuple[int, ...]) -> dict:
    """For each threshold T: tasks canceled and reservations accepted with a wait ``below`` (at most
    T seconds) and ``above`` (more than T), keyed by T as a string, as Twilio's example shows
    (``{"5": {"above": {...}, "below": {...}}}``). [I] A wait of exactly T counts as below: it met
    a service level of T seconds."""
    result = {}
    for limit in limits:
        result[str(limit)] = {
            "above": {"tasks_canceled": sum(1 for w in canceled_waits if w is not None and w > limit),
                      "reservations_accepted": sum(1 for w in accepted_waits if w is not None and w > limit)},
            "below": {"tasks_canceled": sum(1 for w in canceled_waits if w is not None and w <= limit),
                      "reservations_accepted": sum(1 for w in accepted_waits if w is not None and w <= limit)},
        }
    return result


def _cumulative(h: History, scope: tuple, win: Window, figures: tuple[str, ...]) -> dict:
    """The counters and wait figures of one scope in the window."""
    lo, hi, ch = win.lo, win.hi, win.channel_sid
    out: dict = {"start_time": win.start, "end_time": win.end}
    for figure in figures:
        out[figure] = h.get(figure, scope, ch).count(lo, hi)
    for figure in RESERVATION_FIGURES.values():
        out[figure] = h.get(figure, scope, ch).count(lo, hi)
    accepted = h.get("reservations_accepted", scope, ch)
    i, j = accepted.span(lo, hi)
    accepted_waits = accepted.waits[i:j]
    canceled = h.get("tasks_canceled", scope, ch)
    k, m = canceled.span(lo, hi)
    canceled_waits = canceled.waits[k:m]
    until_accepted = durations(accepted_waits)
    # "The average time in seconds between Task creation and acceptance"
    out["avg_task_acceptance_time"] = until_accepted["avg"]
    out["wait_duration_until_accepted"] = until_accepted
    out["wait_duration_until_canceled"] = durations(canceled_waits)
    if scope[0] == "q":
        out["wait_duration_in_queue_until_accepted"] = durations(accepted.queue_waits[i:j])
    out["split_by_wait_time"] = split_by_wait_time(canceled_waits, accepted_waits, win.thresholds) \
        if win.thresholds else None
    return out


WORKSPACE_TASK_FIGURES = ("tasks_created", "tasks_canceled", "tasks_completed", "tasks_deleted", "tasks_moved",
                          "tasks_timed_out_in_workflow")
WORKFLOW_TASK_FIGURES = ("tasks_entered", "tasks_canceled", "tasks_completed", "tasks_deleted", "tasks_moved",
                         "tasks_timed_out_in_workflow")
QUEUE_TASK_FIGURES = ("tasks_entered", "tasks_canceled", "tasks_completed", "tasks_deleted", "tasks_moved")


def workspace_cumulative(ws: "Workspace", win: Window) -> dict:
    return _cumulative(history(ws), ("ws", None), win, WORKSPACE_TASK_FIGURES)


def workflow_cumulative(ws: "Workspace", workflow_sid: str, win: Window) -> dict:
    ws.get_workflow(workflow_sid)
    return _cumulative(history(ws), ("wf", workflow_sid), win, WORKFLOW_TASK_FIGURES)


def queue_cumulative(ws: "Workspace", queue_sid: str, win: Window) -> dict:
    ws.get_task_queue(queue_sid)
    return _cumulative(history(ws), ("q", queue_sid), win, QUEUE_TASK_FIGURES)


# --- real time -----------------------------------------------------------------------------------
def _task_figures(h: History, scope: tuple, channel_sid: str | None, now: datetime, in_queue: bool = False) -> dict:
    live = h.live
    by_status = dict(live.status[(scope, channel_sid)]) if (scope, channel_sid) in live.status \
        else dict.fromkeys(ACTIVE, 0)
    by_priority = live.priority.get((scope, channel_sid), {})
    oldest = live.oldest("age", scope, channel_sid)
    now_ts = now.timestamp()
    out = {
        "longest_task_waiting_age": max(0, int(now_ts - oldest[0])) if oldest else 0,
        "longest_task_waiting_sid": oldest[1] if oldest else None,
        # keys are the priorities as strings, highest first: {"10": 2, "0": 5}
        "tasks_by_priority": {str(p): by_priority[p] for p in sorted(by_priority, reverse=True)},
        "tasks_by_status": by_status,
        "total_tasks": sum(by_status.values()),
    }
    if in_queue:
        first = live.oldest("rel", scope, channel_sid)
        out["longest_relative_task_age_in_queue"] = max(0, int(now_ts - first[0])) if first else 0
        out["longest_relative_task_sid_in_queue"] = first[1] if first else None
    return out


def _staffed(worker: Worker, channel_sid: str | None) -> bool:
    """[I] With a TaskChannel, worker figures count the workers who can take that channel's work
    (their WorkerChannel is available with some capacity); without one, every worker."""
    if channel_sid is None:
        return True
    channel = worker.channels.get(channel_sid)
    return channel is not None and channel.available and channel.configured_capacity > 0


def activity_statistics(ws: "Workspace", workers: Iterable[Worker]) -> list[dict]:
    """Workers per activity, every activity of the workspace listed (zeros included), in order."""
    counts = dict.fromkeys(ws.activities, 0)
    for worker in workers:
        if worker.activity_sid in counts:
            counts[worker.activity_sid] += 1
    return [{"sid": a.sid, "friendly_name": a.friendly_name, "workers": counts[a.sid]}
            for a in ws.activities.values()]


def workspace_realtime(ws: "Workspace", channel_sid: str | None) -> dict:
    workers = [w for w in ws.workers.values() if _staffed(w, channel_sid)]
    return {**_task_figures(history(ws), ("ws", None), channel_sid, ws.now()),
            "activity_statistics": activity_statistics(ws, workers), "total_workers": len(workers)}


def workflow_realtime(ws: "Workspace", workflow_sid: str, channel_sid: str | None) -> dict:
    ws.get_workflow(workflow_sid)
    return _task_figures(history(ws), ("wf", workflow_sid), channel_sid, ws.now())


def queues_realtime(ws: "Workspace", queue_sids: list[str], channel_sid: str | None) -> dict[str, dict]:
    """Real-time figures of several queues, in the order asked; a well-formed SID of no queue of
    the workspace gets zero figures (see ``empty_queue_realtime``)."""
    figures = QueueFigures(ws, channel_sid)
    return {sid: figures(sid) if sid in ws.task_queues else empty_queue_realtime(ws) for sid in queue_sids}


class QueueFigures:
    """Real-time figures of any queue of a workspace (for lists and bulk requests of many queues)."""

    def __init__(self, ws: "Workspace", channel_sid: str | None) -> None:
        self.ws = ws
        self.channel_sid = channel_sid
        self.history = history(ws)
        self.now = ws.now()

    def __call__(self, queue_sid: str) -> dict:
        ws, channel_sid = self.ws, self.channel_sid
        members = [w for w in self.history.members(ws, queue_sid) if _staffed(w, channel_sid)]
        return {
            **_task_figures(self.history, ("q", queue_sid), channel_sid, self.now, in_queue=True),
            "activity_statistics": activity_statistics(ws, members),
            # "independent of their Activity state" / "with an available status"
            "total_eligible_workers": len(members),
            "total_available_workers": sum(1 for w in members if ws.worker_available(w)),
        }


def queue_realtime(ws: "Workspace", queue_sid: str, channel_sid: str | None) -> dict:
    ws.get_task_queue(queue_sid)
    return queues_realtime(ws, [queue_sid], channel_sid)[queue_sid]


def empty_queue_realtime(ws: "Workspace") -> dict:
    """Bulk retrieval: "valid TaskQueueSIDs that are not part of this account ... are included in
    the response but with zero values for all statistics" (taskqueue-statistics)."""
    return {**_task_figures(History(), ("q", None), None, ws.now(), in_queue=True),
            "activity_statistics": activity_statistics(ws, ()),
            "total_eligible_workers": 0, "total_available_workers": 0}


def bulk_queue_sids(values) -> list[str]:
    """The ``QueueSids`` of a bulk real-time request: 1 to 50 TaskQueue SIDs, each well formed."""
    if not isinstance(values, list) or not 1 <= len(values) <= BULK_QUEUES_MAX:
        count = len(values) if isinstance(values, list) else 0
        raise errors.InvalidParameter(errors.BULK_QUEUE_COUNT.format(count=count, maximum=BULK_QUEUES_MAX))
    for value in values:
        if not isinstance(value, str) or not is_sid(value, "WQ"):
            raise errors.InvalidParameter(errors.INVALID_SID.format(value=value, name="QueueSids"))
    return list(dict.fromkeys(values))


# --- workers -------------------------------------------------------------------------------------
def workers_realtime(ws: "Workspace", channel_sid: str | None, workers: list[Worker] | None = None) -> dict:
    chosen = [w for w in (ws.workers.values() if workers is None else workers) if _staffed(w, channel_sid)]
    return {"activity_statistics": activity_statistics(ws, chosen), "total_workers": len(chosen)}


def workers_cumulative(ws: "Workspace", win: Window, workers: list[Worker] | None = None) -> dict:
    """Reservation counters and time in each activity of all workers (``workers`` None), or of some.

    [I] activity_durations: every stint (an unbroken period a worker spent in one activity, clipped
    to the window and to now) is one sample; per activity ``min``/``max``/``avg`` are over stints
    and ``total`` is their sum, so a worker who went Available three times contributes three
    samples. Task channels do not apply to activities; TaskChannel filters the reservations only.
    """
    h = history(ws)
    lo, hi = win.lo, min(win.hi, win.now.timestamp())
    scopes = [("ws", None)] if workers is None else [("wk", w.sid) for w in workers]
    out: dict = {"start_time": win.start, "end_time": win.end}
    for figure in RESERVATION_FIGURES.values():
        out[figure] = sum(h.get(figure, scope, win.channel_sid).count(win.lo, win.hi) for scope in scopes)
    samples: dict[str, list] = {sid: [] for sid in ws.activities}
    sids = list(dict.fromkeys([*h.timelines, *ws.workers])) if workers is None else [w.sid for w in workers]
    for sid in sids:
        timeline = h.timelines.get(sid)
        if timeline is None:
            worker = ws.workers.get(sid)
            if worker is None:
                continue
            # no logged history (older than the log): the current stint is all that is known
            timeline = Timeline([worker.date_status_changed.timestamp()], [worker.activity_sid])
        for activity_sid, seconds in timeline.stints(lo, hi):
            if activity_sid in samples:
                samples[activity_sid].append(int(seconds))
    out["activity_durations"] = [{"sid": a.sid, "friendly_name": a.friendly_name, **durations(samples[a.sid])}
                                 for a in ws.activities.values()]
    return out


def worker_cumulative(ws: "Workspace", worker_sid: str, win: Window) -> dict:
    return workers_cumulative(ws, win, [ws.get_worker(worker_sid)])


def select_workers(ws: "Workspace", *, friendly_name=None, task_queue_sid=None, task_queue_name=None) -> list[Worker] | None:
    """The workers the ``FriendlyName``, ``TaskQueueSid`` and ``TaskQueueName`` filters of
    ``/Workers/Statistics`` select (the rules of the Worker list), or None when none is given."""
    if friendly_name is None and task_queue_sid is None and task_queue_name is None:
        return None
    return queries.workers(ws, friendly_name=friendly_name, task_queue_sid=task_queue_sid,
                           task_queue_name=task_queue_name)

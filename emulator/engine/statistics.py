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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import errors
from ..sids import is_sid
from . import queries
from .events import RETENTION_DAYS
from .history import ACTIVE, RESERVATION_FIGURES, History, Timeline, history
from .state import Worker

if TYPE_CHECKING:
    from .workspace import Workspace

# "Historical statistics allow you to analyze data from the past 30 days" (taskqueue-statistics).
HISTORY_DAYS = RETENTION_DAYS
MINUTES_DEFAULT = 15
MINUTES_MAX = HISTORY_DAYS * 24 * 60
# "Fetch ... real time statistics in bulk for the array of TaskQueue SIDs, support upto 50 in a
# request" (taskqueue-statistics, bulk retrieval).
BULK_QUEUES_MAX = 50

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
    accepted_waits, queue_waits = h.get("reservations_accepted", scope, ch).waits_in(lo, hi)
    canceled_waits = h.get("tasks_canceled", scope, ch).waits_in(lo, hi)[0]
    until_accepted = durations(accepted_waits)
    # "The average time in seconds between Task creation and acceptance"
    out["avg_task_acceptance_time"] = until_accepted["avg"]
    out["wait_duration_until_accepted"] = until_accepted
    out["wait_duration_until_canceled"] = durations(canceled_waits)
    if scope[0] == "q":
        out["wait_duration_in_queue_until_accepted"] = durations(queue_waits)
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

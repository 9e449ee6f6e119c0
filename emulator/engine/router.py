"""Task and Reservation lifecycles, and the routing engine that matches tasks to workers.

The lifecycle rules follow https://www.twilio.com/docs/taskrouter/lifecycle-task-state: a task is
created ``pending``, is canceled from ``pending``/``reserved``, wraps up from ``assigned`` and
completes from ``assigned``/``wrapping``; finished tasks are deleted five minutes later; a task
still ``pending``/``reserved`` when its ``Timeout`` (TTL) runs out is canceled with the reason
"Task TTL Exceeded"; a task left ``assigned`` (or ``wrapping``) for 24 hours is deleted by the
system (``task.system-deleted``).

Routing (https://www.twilio.com/docs/taskrouter/workflow-configuration): a task enters the first
target of the first workflow filter its attributes match (or the default filter), i.e. a queue;
workers of that queue who are available, have free capacity on the task's channel and match the
target's expression get Reservations (up to the queue's ``MaxReservedWorkers``). A target's
``timeout`` moves the task on to the next target; the last target's timeout cancels the task.

Work is driven by hooks the workspace calls (``task_created``, ``worker_changed``, ...). Routing
that a hook triggers is queued and run when the outermost hook returns, so nested changes (a
reservation moving a worker to another activity, which is itself a hook) never re-enter a pass.

Costs grow with what changed, not with the size of the workspace. Each workspace has a
``RoutingIndex`` kept up to date by the hooks: queue membership (queue -> workers, worker ->
queues), the members free to take a task on each channel (ordered longest idle first), the
waiting tasks of each queue and channel (in queue order) and each task's and worker's
reservations. A task entering a queue looks only at that queue's free workers; a worker becoming
free looks only at the waiting tasks of the queues it belongs to.
"""

from __future__ import annotations

import heapq
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from .. import errors
from ..clock import Timer
from . import events as ev
from .expressions import time_variables
from .models import ASSIGNED, CANCELED, COMPLETED, PENDING, RESERVED, WRAPPING, Reservation, Task, Worker, Workflow
from .workflow_config import Target

if TYPE_CHECKING:
    from .backend import Backend
    from .workspace import Workspace

TTL_REASON = "Task TTL Exceeded"
# "If the final target's timeout expires the task is canceled" (https://www.twilio.com/docs/taskrouter/workflow-configuration)
WORKFLOW_TIMEOUT_REASON = "Workflow Timeout"
# [I] the reason a task gets when skip_if makes it leave the final target of its workflow
# ("workflow.skipped ... is removed from the workspace", https://www.twilio.com/docs/taskrouter/api/event/reference).
WORKFLOW_SKIPPED_REASON = "Workflow Skipped"
DEFAULT_FILTER_NAME = "Default Filter"
# "Tasks are automatically canceled after 1,000 rejections"
# (https://www.twilio.com/docs/taskrouter/api/reservations); the lifecycle page counts them as
# pending -> reserved transitions, so a multi-reservation offer counts once
# (https://www.twilio.com/docs/taskrouter/lifecycle-task-state).
MAX_RESERVATION_ATTEMPTS = 1000
ATTEMPTS_REASON = "Task reservation attempts exceeded"
DEFAULT_RESERVATION_TIMEOUT = 120
# Assigned tasks that are not completed within 24 hours are deleted by the system and logged as
# ``task.system-deleted`` (https://www.twilio.com/docs/taskrouter/lifecycle-task-state,
# https://www.twilio.com/docs/taskrouter/api/event/reference). [I] The docs do not say from which
# instant the 24 hours run; the emulator counts from the acceptance that made the task
# ``assigned`` (a task cannot be assigned before it was created, so this never deletes earlier
# than counting from creation would), and a ``wrapping`` task is still not completed.
ASSIGNED_TASK_LIFETIME = 86_400
LOAD_STATUSES = ("pending", "accepted", "wrapping")
# Instruction call timeouts: "Default is 60 seconds, the maximum is 999 seconds"
# (https://www.twilio.com/docs/taskrouter/api/reservations).
INSTRUCTION_TIMEOUT_MAX = 999
RECORD_VALUES = ("record-from-answer", "do-not-record")
DEQUEUE_STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass
class Route:
    """Where a task is in its routing: the targets it walks and the current step."""

    targets: list
    workflow_sid: str | None = None
    filter_name: str | None = None
    index: int = 0
    worker_sid: str | None = None  # RoutingTarget = a worker


@dataclass
class _TaskState:
    route: Route | None = None
    target_timer: Timer | None = None
    assigned_timer: Timer | None = None
    excluded: set = field(default_factory=set)  # workers who rejected the task
    attempts: int = 0  # pending -> reserved transitions


class _Ordered:
    """SIDs kept in key order: a heap with lazy deletion.

    ``in_order()`` yields live entries ``[key, sid, alive]`` smallest first without removing
    them (they are popped while iterating and pushed back when the iteration ends), so looking
    at the first k costs O(k log n) whatever n is.
    """

    __slots__ = ("_heap", "_entries", "_busy")

    def __init__(self) -> None:
        self._heap: list = []
        self._entries: dict = {}
        self._busy = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sid) -> bool:
        return sid in self._entries

    def __iter__(self):
        return iter(list(self._entries))

    def add(self, sid: str, key: tuple) -> None:
        entry = self._entries.get(sid)
        if entry is not None:
            if entry[0] == key:
                return
            entry[2] = False
        entry = [key, sid, True]
        self._entries[sid] = entry
        heapq.heappush(self._heap, entry)
        if not self._busy and len(self._heap) > 2 * len(self._entries) + 64:
            self._heap = [e for e in self._heap if e[2]]
            heapq.heapify(self._heap)

    def discard(self, sid: str) -> None:
        entry = self._entries.pop(sid, None)
        if entry is not None:
            entry[2] = False

    def in_order(self):
        heap = self._heap
        popped = []
        self._busy += 1
        try:
            while heap:
                entry = heapq.heappop(heap)
                if entry[2]:
                    popped.append(entry)
                    yield entry
        finally:
            self._busy -= 1
            for entry in popped:
                if entry[2]:
                    heapq.heappush(heap, entry)


class RoutingIndex:
    """What the router needs to look up without scanning the workspace (see the module docstring).

    Holds SIDs and reservations only; rebuilt from the workspace whenever it is marked dirty."""

    def __init__(self, multi_task_enabled: bool) -> None:
        self.multi_task_enabled = multi_task_enabled
        self.dirty = False
        self.worker_seq: dict[str, int] = {}  # creation order, the last tie-breaker between workers
        self.task_seq: dict[str, int] = {}  # creation order, the last tie-breaker between tasks
        self.members: dict[str, set] = {}  # queue -> workers its TargetWorkers match
        self.queues_of: dict[str, set] = {}  # worker -> queues it belongs to
        self.activity_queues: set = set()  # queues whose TargetWorkers read the worker's activity
        self.worker_doc_key: dict[str, tuple] = {}  # what membership was computed from
        self.available: dict[str, set] = {}  # queue -> members in an available activity
        self.free: dict[tuple, _Ordered] = {}  # (queue, channel) -> members free for a task, longest idle first
        self.free_state: dict[str, tuple] = {}  # worker -> (idle key, frozenset of free channels)
        # Waiting tasks that may take one more reservation, in queue order: (queue, channel) -> tasks,
        # and worker -> tasks routed straight to it (RoutingTarget). Tasks holding as many pending
        # reservations as they may have wait aside in ``held`` / ``held_direct`` (same keys), so a
        # worker looking for work never walks past offers still out with other workers.
        self.waiting: dict[tuple, _Ordered] = {}
        self.direct: dict[str, _Ordered] = {}
        self.held: dict[tuple, _Ordered] = {}
        self.held_direct: dict[str, _Ordered] = {}
        self.queue_order: dict[str, str] = {}  # queue -> TaskOrder its waiting keys were built with
        self.task_place: dict[str, tuple] = {}  # task -> (container key, sort key)
        self.by_task: dict[str, dict] = {}  # task -> {reservation sid: Reservation}, creation order
        self.by_worker: dict[str, dict] = {}  # worker -> {reservation sid: Reservation}, creation order
        self.live: dict[str, dict] = {}  # worker -> its pending/accepted/wrapping reservations


class Router:
    # The routing indexes are derived from the workspaces (``index`` rebuilds a missing one), so a
    # snapshot leaves them out and a restored router starts without them.
    SNAPSHOT_TRANSIENT = {"_indexes": weakref.WeakKeyDictionary, "_last_index": lambda: None}

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._ttl_timers: dict[str, Timer] = {}
        self._state: dict[str, _TaskState] = {}
        self._reservation_timers: dict[str, Timer] = {}
        self._last_assigned: dict[str, object] = {}
        self._work: OrderedDict = OrderedDict()
        self._depth = 0
        self._indexes: "weakref.WeakKeyDictionary[Workspace, RoutingIndex]" = weakref.WeakKeyDictionary()
        self._last_index: tuple | None = None  # (weak ref to a workspace, its index): the common case

    # --- batching -------------------------------------------------------------------------------
    @contextmanager
    def _batch(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._drain()

    def _drain(self) -> None:
        self._depth += 1
        try:
            while self._work:
                (kind, sid), ws = self._work.popitem(last=False)
                if not self.backend.workspace_alive(ws):
                    continue
                if kind == "task":
                    task = ws.tasks.get(sid)
                    if task is not None:
                        self._assign_task(ws, task)
                else:
                    worker = ws.workers.get(sid)
                    if worker is not None:
                        self._offer_worker(ws, worker)
        finally:
            self._depth -= 1

    def _want_task(self, ws: "Workspace", task_sid: str) -> None:
        self._work[("task", task_sid)] = ws

    def _want_worker(self, ws: "Workspace", worker_sid: str) -> None:
        self._work[("worker", worker_sid)] = ws

    # --- the index --------------------------------------------------------------------------------
    def index(self, ws: "Workspace") -> RoutingIndex:
        """The workspace's routing index, (re)built from the workspace when missing or stale."""
        last = self._last_index
        if last is not None and last[0]() is ws:
            ix = last[1]
        else:
            ix = self._indexes.get(ws)
        if ix is None or ix.dirty or ix.multi_task_enabled != ws.multi_task_enabled:
            ix = self._build_index(ws)
        self._last_index = (weakref.ref(ws), ix)
        return ix

    def invalidate(self, ws: "Workspace") -> None:
        """Something the index summarises changed wholesale (task channels, an activity's name):
        rebuild it on next use."""
        ix = self._indexes.get(ws)
        if ix is not None:
            ix.dirty = True

    def _build_index(self, ws: "Workspace") -> RoutingIndex:
        ix = RoutingIndex(ws.multi_task_enabled)
        self._indexes[ws] = ix
        ix.worker_seq = {sid: i for i, sid in enumerate(ws.workers)}
        ix.task_seq = {sid: i for i, sid in enumerate(ws.tasks)}
        for worker in ws.workers.values():
            ix.queues_of[worker.sid] = set()
            ix.worker_doc_key[worker.sid] = self._doc_key(ws, worker)
        for queue in ws.task_queues.values():
            self._compute_members(ws, ix, queue.sid)
        for reservation in ws.reservations.values():
            self._index_reservation(ix, reservation)
        for worker in ws.workers.values():
            self._refresh_worker(ws, ix, worker)
        for task in ws.tasks.values():
            self._sync_task(ws, ix, task)
        return ix

    def _doc_key(self, ws: "Workspace", worker: Worker) -> tuple:
        activity = ws.activities.get(worker.activity_sid)
        return (worker.attributes, worker.friendly_name, worker.activity_sid,
                activity.friendly_name if activity else None)

    def _compute_members(self, ws: "Workspace", ix: RoutingIndex, queue_sid: str) -> None:
        """Evaluate one queue's TargetWorkers against every worker (its TargetWorkers changed)."""
        expression = ws.queue_expressions[queue_sid]
        if expression.roots() & {"activity_sid", "activity_name"}:
            ix.activity_queues.add(queue_sid)
        else:
            ix.activity_queues.discard(queue_sid)
        ix.queue_order[queue_sid] = ws.task_queues[queue_sid].task_order
        ix.members.setdefault(queue_sid, set())
        ix.available.setdefault(queue_sid, set())
        for worker in ws.workers.values():
            self._set_member(ws, ix, queue_sid, worker, bool(expression.evaluate(ws.worker_document(worker))))

    def _set_member(self, ws: "Workspace", ix: RoutingIndex, queue_sid: str, worker: Worker, member: bool) -> None:
        members = ix.members.setdefault(queue_sid, set())
        queues = ix.queues_of.setdefault(worker.sid, set())
        if member and worker.sid not in members:
            members.add(worker.sid)
            queues.add(queue_sid)
            self._place_worker_in_queue(ws, ix, queue_sid, worker)
        elif not member and worker.sid in members:
            members.discard(worker.sid)
            queues.discard(queue_sid)
            ix.available.get(queue_sid, set()).discard(worker.sid)
            _, free = ix.free_state.get(worker.sid, (None, frozenset()))
            for channel_sid in free:
                pool = ix.free.get((queue_sid, channel_sid))
                if pool is not None:
                    pool.discard(worker.sid)

    def _place_worker_in_queue(self, ws: "Workspace", ix: RoutingIndex, queue_sid: str, worker: Worker) -> None:
        if worker.sid not in ix.free_state:
            return  # placed by the worker's first refresh
        key, free = ix.free_state[worker.sid]
        if ws.worker_available(worker):
            ix.available.setdefault(queue_sid, set()).add(worker.sid)
        for channel_sid in free:
            ix.free.setdefault((queue_sid, channel_sid), _Ordered()).add(worker.sid, key)

    def _update_membership(self, ws: "Workspace", ix: RoutingIndex, worker: Worker) -> None:
        """Recompute the queues a worker belongs to when what TargetWorkers see of it changed."""
        doc_key = self._doc_key(ws, worker)
        old = ix.worker_doc_key.get(worker.sid)
        if old == doc_key:
            return
        ix.worker_doc_key[worker.sid] = doc_key
        if old is not None and old[:2] == doc_key[:2]:
            # only the activity moved: only queues whose TargetWorkers read it can change
            queue_sids = list(ix.activity_queues)
        else:
            queue_sids = list(ws.task_queues)
        if not queue_sids:
            return
        doc = ws.worker_document(worker)
        for queue_sid in queue_sids:
            self._set_member(ws, ix, queue_sid, worker, bool(ws.queue_expressions[queue_sid].evaluate(doc)))

    def _free_channels(self, ws: "Workspace", ix: RoutingIndex, worker: Worker) -> frozenset:
        """The task channels on which ``worker`` may take one more reservation now."""
        if not ws.worker_available(worker):
            return frozenset()
        live = ix.live.get(worker.sid)
        if not ws.multi_task_enabled:
            # single-tasking: one reservation or task at a time
            if live:
                return frozenset()
            return frozenset(c.task_channel_sid for c in worker.channels.values()
                             if c.available and c.configured_capacity > 0)
        loads: dict = {}
        if live:
            for reservation in live.values():
                task = ws.tasks.get(reservation.task_sid)
                if task is not None:
                    loads[task.task_channel_sid] = loads.get(task.task_channel_sid, 0) + 1
        return frozenset(c.task_channel_sid for c in worker.channels.values()
                         if c.available and c.configured_capacity > 0
                         and loads.get(c.task_channel_sid, 0) < c.configured_capacity)

    def _refresh_worker(self, ws: "Workspace", ix: RoutingIndex, worker: Worker) -> None:
        """Put a worker in (or take it out of) its queues' available and free sets."""
        sid = worker.sid
        if sid not in ix.worker_seq:
            ix.worker_seq[sid] = len(ix.worker_seq)
        if sid not in ix.worker_doc_key:
            ix.queues_of.setdefault(sid, set())
            ix.worker_doc_key[sid] = self._doc_key(ws, worker)
            doc = ws.worker_document(worker)
            for queue_sid in ws.task_queues:
                if ws.queue_expressions[queue_sid].evaluate(doc):
                    ix.members.setdefault(queue_sid, set()).add(sid)
                    ix.queues_of[sid].add(queue_sid)
        key = (self._last_assigned.get(sid, worker.date_status_changed), ix.worker_seq[sid])
        free = self._free_channels(ws, ix, worker)
        available = ws.worker_available(worker)
        old_key, old_free = ix.free_state.get(sid, (None, frozenset()))
        ix.free_state[sid] = (key, free)
        gone = old_free - free
        # channels whose pools need this worker (re)placed: all of them when its idle key moved
        added = free if key != old_key else free - old_free
        queues = ix.queues_of.get(sid, ())
        for queue_sid in queues:
            if available:
                ix.available.setdefault(queue_sid, set()).add(sid)
            else:
                ix.available.get(queue_sid, set()).discard(sid)
        if not gone and not added:
            return
        for queue_sid in queues:
            for channel_sid in gone:
                pool = ix.free.get((queue_sid, channel_sid))
                if pool is not None:
                    pool.discard(sid)
            for channel_sid in added:
                pool = ix.free.get((queue_sid, channel_sid))
                if pool is None:
                    pool = ix.free[(queue_sid, channel_sid)] = _Ordered()
                pool.add(sid, key)

    def _drop_worker(self, ix: RoutingIndex, worker_sid: str) -> None:
        _, free = ix.free_state.pop(worker_sid, (None, frozenset()))
        for queue_sid in ix.queues_of.pop(worker_sid, set()):
            ix.members.get(queue_sid, set()).discard(worker_sid)
            ix.available.get(queue_sid, set()).discard(worker_sid)
            for channel_sid in free:
                pool = ix.free.get((queue_sid, channel_sid))
                if pool is not None:
                    pool.discard(worker_sid)
        ix.worker_doc_key.pop(worker_sid, None)

    def _task_key(self, ix: RoutingIndex, task: Task, order: str) -> tuple:
        """Position in a queue: FIFO queues by priority then oldest, LIFO newest first with priority
        ignored (https://www.twilio.com/docs/taskrouter/queue-ordering-last-first-out-lifo); ties
        in creation order."""
        stamp = task.virtual_start_time.timestamp()
        if order == "LIFO":
            return (0, -stamp, ix.task_seq[task.sid])
        return (-task.priority, stamp, ix.task_seq[task.sid])

    def _sync_task(self, ws: "Workspace", ix: RoutingIndex, task: Task) -> None:
        """Keep a task in the waiting set that matches its status, step and channel."""
        if task.sid not in ix.task_seq:
            ix.task_seq[task.sid] = len(ix.task_seq)
        state = self._state.get(task.sid)
        place: tuple | None = None
        key = None
        if task.assignment_status in (PENDING, RESERVED) and state is not None and state.route is not None:
            rows = ix.by_task.get(task.sid)
            pending = sum(1 for r in rows.values() if r.reservation_status == "pending") if rows else 0
            full = pending >= self._max_reservations(ws, task, state)
            if state.route.worker_sid:
                place = ("held-direct" if full else "direct", state.route.worker_sid)
                key = self._task_key(ix, task, "FIFO")
            elif task.task_queue_sid and task.task_queue_sid in ws.task_queues:
                place = ("held" if full else "queue", task.task_queue_sid, task.task_channel_sid)
                key = self._task_key(ix, task, ix.queue_order.get(task.task_queue_sid, "FIFO"))
        old = ix.task_place.get(task.sid)
        if old is not None and place is not None and old[0] == place:
            if old[1] != key:
                self._container(ix, place).add(task.sid, key)
                ix.task_place[task.sid] = (place, key)
            return
        if old is not None:
            container = self._container(ix, old[0], create=False)
            if container is not None:
                container.discard(task.sid)
            del ix.task_place[task.sid]
        if place is not None:
            self._container(ix, place).add(task.sid, key)
            ix.task_place[task.sid] = (place, key)

    @staticmethod
    def _container(ix: RoutingIndex, place: tuple, create: bool = True):
        kind = place[0]
        table: dict
        if kind == "direct":
            table, key = ix.direct, place[1]
        elif kind == "held-direct":
            table, key = ix.held_direct, place[1]
        else:
            table, key = (ix.waiting if kind == "queue" else ix.held), (place[1], place[2])
        container = table.get(key)
        if container is None and create:
            container = table[key] = _Ordered()
        return container

    def _index_reservation(self, ix: RoutingIndex, reservation: Reservation) -> None:
        ix.by_task.setdefault(reservation.task_sid, {})[reservation.sid] = reservation
        ix.by_worker.setdefault(reservation.worker_sid, {})[reservation.sid] = reservation
        if reservation.reservation_status in LOAD_STATUSES:
            ix.live.setdefault(reservation.worker_sid, {})[reservation.sid] = reservation

    def _unindex_reservation(self, ix: RoutingIndex, reservation: Reservation) -> None:
        for table, owner in ((ix.by_task, reservation.task_sid), (ix.by_worker, reservation.worker_sid),
                             (ix.live, reservation.worker_sid)):
            rows = table.get(owner)
            if rows is not None:
                rows.pop(reservation.sid, None)
                if not rows:
                    del table[owner]

    def channel_load(self, ws: "Workspace", channel) -> int:
        """Pending, accepted and wrapping reservations of the channel's worker on its task channel."""
        live = self.index(ws).live.get(channel.worker_sid)
        if not live:
            return 0
        return sum(1 for r in live.values()
                   if (t := ws.tasks.get(r.task_sid)) is not None and t.task_channel_sid == channel.task_channel_sid)

    def worker_reservations(self, ws: "Workspace", worker_sid: str) -> list:
        """A worker's reservations in creation order."""
        return list(self.index(ws).by_worker.get(worker_sid, {}).values())

    def task_reservations(self, ws: "Workspace", task_sid: str) -> list:
        """A task's reservations in creation order."""
        return list(self.index(ws).by_task.get(task_sid, {}).values())

    # --- hooks called by the workspace ---------------------------------------------------------
    def task_created(self, ws: "Workspace", task: Task) -> None:
        with self._batch():
            ix = self.index(ws)
            if task.sid not in ix.task_seq:
                ix.task_seq[task.sid] = len(ix.task_seq)
            self._ttl_timers[task.sid] = ws.clock.call_later(
                task.timeout, partial(self._ttl_expired, ws, task.sid), name=f"ttl {task.sid}")
            self._start_routing(ws, task)

    def task_updated(self, ws: "Workspace", task: Task, *, attributes_changed: bool) -> None:
        """A waiting task whose attributes change goes through its workflow again (age kept).

        "Updating a pending task's attributes re-drives it through its workflow"
        (https://www.twilio.com/docs/taskrouter/api/task; re-evaluation on attribute change:
        https://www.twilio.com/docs/taskrouter/lifecycle-task-workflows-and-assignment). [I] A
        ``reserved`` task is re-evaluated too: its pending offers were made for the old attributes,
        so they are rescinded (withdrawn from the workers, as a multi-reservation offer another
        worker won is) and the task is routed again from the first step.
        """
        with self._batch():
            ix = self.index(ws)
            # a changed TaskChannel moves the load of the task's reservations to another channel
            for reservation in list(ix.by_task.get(task.sid, {}).values()):
                if reservation.reservation_status in LOAD_STATUSES and reservation.worker_sid in ws.workers:
                    self._refresh_worker(ws, ix, ws.workers[reservation.worker_sid])
                    self._want_worker(ws, reservation.worker_sid)
            if task.assignment_status not in (PENDING, RESERVED):
                self._sync_task(ws, ix, task)
                return
            if attributes_changed and task.workflow_sid and not task.routing_target and not task.requested_queue_sid:
                for reservation in self._task_reservations(ws, task, "pending"):
                    self._end_reservation(ws, reservation, "rescinded")
                    self._want_worker(ws, reservation.worker_sid)
                if task.assignment_status == RESERVED:
                    task.assignment_status = PENDING
                self._start_routing(ws, task)
            else:
                self._sync_task(ws, ix, task)
                self._want_task(ws, task.sid)

    def worker_changed(self, ws: "Workspace", worker: Worker) -> None:
        """A worker's activity, attributes, name or channels changed: offer it waiting work."""
        with self._batch():
            ix = self.index(ws)
            if worker.sid in ix.worker_doc_key:
                self._update_membership(ws, ix, worker)
            self._refresh_worker(ws, ix, worker)
            self._want_worker(ws, worker.sid)

    def queue_changed(self, ws: "Workspace", queue) -> None:
        """A queue was created, or its TargetWorkers, MaxReservedWorkers or TaskOrder changed:
        membership is recomputed and its waiting tasks look again."""
        with self._batch():
            ix = self.index(ws)
            self._compute_members(ws, ix, queue.sid)
            waiting = [sid for table in (ix.waiting, ix.held) for (queue_sid, _), tasks in list(table.items())
                       if queue_sid == queue.sid for sid in tasks]
            waiting.sort(key=lambda sid: ix.task_seq.get(sid, -1))
            for sid in waiting:
                task = ws.tasks.get(sid)
                if task is None:
                    continue
                self._sync_task(ws, ix, task)  # its order or its reservation limit may have changed
                self._want_task(ws, sid)

    def queue_removed(self, ws: "Workspace", queue_sid: str) -> None:
        ix = self._indexes.get(ws)
        if ix is None:
            return
        for worker_sid in ix.members.pop(queue_sid, set()):
            ix.queues_of.get(worker_sid, set()).discard(queue_sid)
        ix.available.pop(queue_sid, None)
        ix.activity_queues.discard(queue_sid)
        ix.queue_order.pop(queue_sid, None)
        for key in [k for k in ix.free if k[0] == queue_sid]:
            del ix.free[key]

    def reevaluate_workflow(self, ws: "Workspace", workflow: Workflow) -> None:
        """``ReEvaluateTasks=true``: the workflow's pending tasks are routed again from the start."""
        with self._batch():
            for task in list(ws.tasks.values()):
                if task.workflow_sid == workflow.sid and task.assignment_status == PENDING \
                        and not task.routing_target and not task.requested_queue_sid:
                    self._start_routing(ws, task)

    def reject_pending_reservations(self, ws: "Workspace", worker: Worker, activity_sid: str) -> None:
        with self._batch():
            for reservation in self.worker_reservations(ws, worker.sid):
                if reservation.reservation_status == "pending":
                    self._release(ws, reservation, "rejected", exclude=True)

    def cancel_reservation(self, ws: "Workspace", reservation) -> None:
        """A pending reservation whose assignment callback and fallback both failed is canceled
        (https://www.twilio.com/docs/taskrouter/api/workflow); the task goes back to routing.
        [I] The worker is passed over for this task from then on, as after a rejection, so an
        unreachable callback does not re-offer the same worker in a loop."""
        with self._batch():
            if reservation.reservation_status == "pending":
                self._release(ws, reservation, "canceled", exclude=True)

    def worker_removed(self, ws: "Workspace", worker: Worker) -> None:
        with self._batch():
            for reservation in self.worker_reservations(ws, worker.sid):
                if reservation.reservation_status == "pending":
                    self._release(ws, reservation, "canceled", exclude=True)
            self._last_assigned.pop(worker.sid, None)
            self._drop_worker(self.index(ws), worker.sid)
            # the worker is deleted right after this hook: nothing may be offered to it any more
            self._work.pop(("worker", worker.sid), None)

    def forget_workspace(self, ws: "Workspace") -> None:
        for sid in list(ws.tasks):
            self._cancel_ttl(sid)
            self._forget_task(sid)
            ws._cancel_deletion(sid)
        for sid in list(ws.reservations):
            self._cancel_reservation_timer(sid)
        for sid in ws.workers:
            self._last_assigned.pop(sid, None)
        self._indexes.pop(ws, None)
        self._last_index = None

    # --- task status changes ----------------------------------------------------------------------
    def change_task_status(self, ws: "Workspace", task: Task, status: str, reason: str | None) -> None:
        """Apply a validated ``AssignmentStatus`` change and log its events."""
        with self._batch():
            if status == CANCELED:
                self.cancel_task(ws, task, reason)
            elif status == WRAPPING:
                task.assignment_status = WRAPPING
                for reservation in self._task_reservations(ws, task, "accepted"):
                    self._set_reservation(ws, reservation, "wrapping", "reservation.wrapup", "wrapped up")
                self._task_event(ws, task, "task.wrapup", "Task wrapping up")
                self._post_work(ws, task)
            elif status == COMPLETED:
                task.assignment_status = COMPLETED
                finished = self._task_reservations(ws, task, "accepted", "wrapping")
                for reservation in finished:
                    self._set_reservation(ws, reservation, "completed", "reservation.completed", "completed")
                    channel = self._channel_for(ws, reservation.worker_sid, task)
                    if channel is not None and channel.assigned_tasks > 0:
                        channel.assigned_tasks -= 1
                    # the freed capacity is offered to waiting work
                    self._want_worker(ws, reservation.worker_sid)
                self._task_event(ws, task, "task.completed", "Task completed")
                self._post_work(ws, task)
                self._finish(ws, task)

    def cancel_task(self, ws: "Workspace", task: Task, reason: str | None) -> None:
        with self._batch():
            for reservation in self._task_reservations(ws, task, "pending"):
                self._end_reservation(ws, reservation, "canceled")
                self._want_worker(ws, reservation.worker_sid)
            task.assignment_status = CANCELED
            if reason is not None:
                task.reason = reason
            task.date_updated = ws.now()
            self._sync_task(ws, self.index(ws), task)
            self._task_event(ws, task, "task.canceled",
                             f"Task canceled: {task.reason}" if task.reason else "Task canceled")
            self._finish(ws, task)

    def remove_task(self, ws: "Workspace", task_sid: str, *, system: bool, event_type: str | None = None) -> None:
        """Delete a task: an API delete (``task.deleted``), the system's clean-up of a finished task
        (no event) or of a task left assigned for 24 hours (``task.system-deleted``)."""
        with self._batch():
            task = ws.tasks.get(task_sid)
            if task is None:
                return
            ix = self.index(ws)
            if not system:
                for reservation in self._task_reservations(ws, task, "pending"):
                    self._end_reservation(ws, reservation, "canceled")
            for reservation in self._task_reservations(ws, task, "accepted", "wrapping"):
                # [I] deleting an assigned task frees the worker's capacity
                channel = self._channel_for(ws, reservation.worker_sid, task)
                if channel is not None and channel.assigned_tasks > 0:
                    channel.assigned_tasks -= 1
            # https://www.twilio.com/docs/taskrouter/api/event/reference: task.deleted is an API delete and
            # "does not include auto-deleted Tasks after cancelation/completion"; task.system-deleted is
            # "deleted via the system, after the task reaches its TTL". [I] So the system's clean-up logs
            # it for a task that ended by its TTL, or one still assigned, and not for the ordinary
            # clean-up of tasks canceled or completed otherwise.
            if event_type is None and not system:
                event_type = "task.deleted"
            elif event_type is None and (task.reason == TTL_REASON or task.assignment_status in (ASSIGNED, WRAPPING)):
                event_type = "task.system-deleted"
            self._cancel_ttl(task_sid)
            self._forget_task(task_sid)
            for reservation in list(ix.by_task.get(task_sid, {}).values()):
                ws.reservations.pop(reservation.sid, None)
                self._unindex_reservation(ix, reservation)
                self._cancel_reservation_timer(reservation.sid)
                worker = ws.workers.get(reservation.worker_sid)
                if worker is not None:
                    self._refresh_worker(ws, ix, worker)
                    self._want_worker(ws, reservation.worker_sid)
            place = ix.task_place.pop(task_sid, None)
            if place is not None:
                container = self._container(ix, place[0], create=False)
                if container is not None:
                    container.discard(task_sid)
            del ws.tasks[task_sid]
            if event_type is not None:
                self._task_event(ws, task, event_type,
                                 "Task deleted" if event_type == "task.deleted" else "Task deleted by the system")

    # --- routing: where a task goes ------------------------------------------------------------------
    def _start_routing(self, ws: "Workspace", task: Task) -> None:
        """Choose the task's targets (RoutingTarget, TaskQueueSid or its workflow) and enter the first."""
        state = self._state.setdefault(task.sid, _TaskState())
        self._cancel_target_timer(state)
        route = None
        target = task.routing_target
        if target and target.startswith("WK") and target in ws.workers:
            route = Route([Target(queue_sid=None)], worker_sid=target)
        elif target and target.startswith("WQ") and target in ws.task_queues:
            route = Route([Target(queue_sid=target)])
        elif task.requested_queue_sid and task.requested_queue_sid in ws.task_queues:
            route = Route([Target(queue_sid=task.requested_queue_sid)])
        elif task.workflow_sid and task.workflow_sid in ws.workflows:
            route = self._workflow_route(ws, task)
        state.route = route
        if route is None:
            task.task_queue_sid = None
            self._sync_task(ws, self.index(ws), task)
            return
        if route.workflow_sid:
            workflow = ws.workflows[route.workflow_sid]
            self._routing_event(ws, task, "workflow.entered", f"Task {task.sid} entered workflow {workflow.friendly_name}",
                                None)
        self._enter_step(ws, task, 0)

    def _workflow_route(self, ws: "Workspace", task: Task) -> Route | None:
        config = ws.workflow_configurations.get(task.workflow_sid or "")
        if config is None:
            return None
        root = {**task.attributes_data, **time_variables(ws.now())}
        for flt in config.filters:
            if flt.expression.evaluate(root):
                return Route(list(flt.targets), workflow_sid=task.workflow_sid, filter_name=flt.name)
        if config.default_target is not None:
            return Route([config.default_target], workflow_sid=task.workflow_sid, filter_name=DEFAULT_FILTER_NAME)
        return None

    def _enter_step(self, ws: "Workspace", task: Task, index: int) -> None:
        state = self._state[task.sid]
        route = state.route
        assert route is not None
        self._cancel_target_timer(state)
        target = route.targets[index]
        # skip_if: move past a target whose condition holds (e.g. "workers.available == 0")
        while target.skip_if is not None and index + 1 < len(route.targets) and \
                target.skip_if.evaluate(self._skip_root(ws, task, target)):
            index += 1
            target = route.targets[index]
        if route.workflow_sid and target.skip_if is not None and index + 1 == len(route.targets) and \
                target.skip_if.evaluate(self._skip_root(ws, task, target)):
            self._skip_out(ws, task, route)
            return
        route.index = index
        now = ws.now()
        task.task_queue_sid = target.queue_sid
        task.task_queue_entered_date = now if target.queue_sid else None
        if target.priority is not None:
            task.priority = target.priority
        self._sync_task(ws, self.index(ws), task)
        if route.workflow_sid:
            self._routing_event(ws, task, "workflow.target-matched",
                                f"Task {task.sid} matched a workflow target", route.filter_name)
        if target.queue_sid:
            queue = ws.task_queues.get(target.queue_sid)
            self._routing_event(ws, task, "task-queue.entered",
                                f"Task {task.sid} entered TaskQueue {queue.friendly_name if queue else ''}", None)
        if target.timeout:
            state.target_timer = ws.clock.call_later(
                target.timeout, partial(self._target_expired, ws, task.sid, index), name=f"target {task.sid}")
        self._want_task(ws, task.sid)

    def _skip_out(self, ws: "Workspace", task: Task, route: Route) -> None:
        """skip_if held on the final target: a skipped filter counts as not matched, so the
        default_filter applies (https://www.twilio.com/docs/taskrouter/worker-presence); skipping out
        of the default filter (or with none) logs ``workflow.skipped`` and removes the task."""
        config = ws.workflow_configurations.get(route.workflow_sid or "")
        if route.filter_name != DEFAULT_FILTER_NAME and config is not None and config.default_target is not None:
            self._state[task.sid].route = Route([config.default_target], workflow_sid=route.workflow_sid,
                                                filter_name=DEFAULT_FILTER_NAME)
            self._enter_step(ws, task, 0)
            return
        self._routing_event(ws, task, "workflow.skipped", f"Task {task.sid} skipped out of its workflow", None)
        self.cancel_task(ws, task, WORKFLOW_SKIPPED_REASON)

    def _skip_root(self, ws: "Workspace", task: Task, target: Target) -> dict:
        """What ``skip_if`` sees: ``workers.available``, ``workers.unavailable`` and ``workers.<ActivitySid>``
        counts of the target queue's workers (https://www.twilio.com/docs/taskrouter/worker-presence)."""
        ix = self.index(ws)
        queue_sid = target.queue_sid or ""
        members = ix.members.get(queue_sid, set()) if queue_sid in ws.task_queues else set()
        available = len(ix.available.get(queue_sid, ())) if members else 0
        workers = {"available": available, "unavailable": len(members) - available}
        assert target.skip_if is not None
        wanted = {p[1] for p in target.skip_if.key_paths()
                  if len(p) > 1 and p[0] == "workers" and isinstance(p[1], str) and p[1].startswith("WA")}
        for activity_sid in wanted:
            workers[activity_sid] = sum(1 for sid in members
                                        if (w := ws.workers.get(sid)) is not None and w.activity_sid == activity_sid)
        return {"task": task.attributes_data, "workers": workers, **time_variables(ws.now())}

    def _target_expired(self, ws: "Workspace", task_sid: str, index: int) -> None:
        with self._batch():
            task = ws.tasks.get(task_sid)
            state = self._state.get(task_sid)
            if task is None or state is None or state.route is None or not self.backend.workspace_alive(ws):
                return
            state.target_timer = None
            if state.route.index != index or task.assignment_status not in (PENDING, RESERVED):
                return
            route = state.route
            self._routing_event(ws, task, "task-queue.timeout", f"Task {task.sid} timed out of its TaskQueue", None)
            # [I] offers still pending in the old queue are withdrawn when the task moves on
            for reservation in self._task_reservations(ws, task, "pending"):
                self._end_reservation(ws, reservation, "rescinded")
                self._want_worker(ws, reservation.worker_sid)
            task.assignment_status = PENDING
            if index + 1 < len(route.targets):
                self._routing_event(ws, task, "task-queue.moved", f"Task {task.sid} moved to the next target", None)
                self._enter_step(ws, task, index + 1)
            else:
                if route.workflow_sid:
                    self._routing_event(ws, task, "workflow.timeout", f"Task {task.sid} timed out of its workflow",
                                        None)
                self.cancel_task(ws, task, WORKFLOW_TIMEOUT_REASON)

    def _routing_event(self, ws: "Workspace", task: Task, event_type: str, description: str,
                       filter_name: str | None) -> None:
        queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
        workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        data = {**ev.task_fields(ws, task), "TaskQueueSid": task.task_queue_sid,
                "TaskQueueName": queue.friendly_name if queue else None,
                "WorkflowSid": task.workflow_sid, "WorkflowName": workflow.friendly_name if workflow else None}
        if filter_name is not None:
            data["WorkflowFilterName"] = filter_name
        resource = ("taskqueue", queue.sid, f"TaskQueues/{queue.sid}") if event_type.startswith("task-queue") and queue \
            else ("task", task.sid, f"Tasks/{task.sid}")
        ws.record(event_type, description, resource[0], resource[1], resource[2], data)

    # --- routing: matching ----------------------------------------------------------------------------
    def _current(self, task: Task):
        state = self._state.get(task.sid)
        if state is None or state.route is None:
            return None, None
        return state, state.route.targets[state.route.index]

    def _max_reservations(self, ws: "Workspace", task: Task, state: _TaskState) -> int:
        if state.route is not None and state.route.worker_sid:
            return 1
        queue = ws.task_queues.get(task.task_queue_sid or "")
        return queue.max_reserved_workers if queue else 0

    def _worker_free(self, ws: "Workspace", ix: RoutingIndex, worker: Worker, task: Task) -> bool:
        state = ix.free_state.get(worker.sid)
        return state is not None and task.task_channel_sid in state[1]

    def _worker_root(self, ws: "Workspace", worker: Worker, task: Task, target: Target) -> dict:
        doc = ws.worker_document(worker)
        if not target.reads_worker_channels:
            # worker.channel.* costs a look at every channel's load: only built when read
            return {"task": task.attributes_data, "worker": doc, **time_variables(ws.now())}
        channels = {}
        for channel in worker.channels.values():
            task_channel = ws.task_channels.get(channel.task_channel_sid)
            if task_channel is not None:
                channels[task_channel.unique_name] = {
                    "configured_capacity": channel.configured_capacity,
                    "assigned_tasks": channel.assigned_tasks,
                    "available_capacity_percentage": ws.channel_available_capacity_percentage(channel),
                }
        doc["channel"] = channels
        return {"task": task.attributes_data, "worker": doc, **time_variables(ws.now())}

    @staticmethod
    def _lookup(root: dict, path) -> object:
        value: object = root
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                return None
        return value

    def _known_worker(self, task: Task, spec: str):
        parts = spec.split(".")
        if parts[0] == "task" and len(parts) > 1:
            return self._lookup({"task": task.attributes_data}, parts)
        return spec

    def _eligible(self, ws: "Workspace", ix: RoutingIndex, task: Task, state: _TaskState, target: Target,
                  worker: Worker) -> bool:
        """Whether ``worker`` may get a reservation for ``task`` at its current target now."""
        if worker.sid in state.excluded:
            return False
        for r in ix.by_task.get(task.sid, {}).values():
            if r.worker_sid == worker.sid and r.reservation_status in LOAD_STATUSES:
                return False
        assert state.route is not None
        if state.route.worker_sid:
            if worker.sid != state.route.worker_sid:
                return False
            return bool(task.ignore_capacity) or self._worker_free(ws, ix, worker, task)
        if task.task_queue_sid not in ws.task_queues:
            return False
        if worker.sid not in ix.members.get(task.task_queue_sid or "", ()) or not self._worker_free(ws, ix, worker, task):
            return False
        if target.known_worker_sid is not None and self._known_worker(task, target.known_worker_sid) != worker.sid:
            return False
        if target.known_worker_friendly_name is not None and \
                self._known_worker(task, target.known_worker_friendly_name) != worker.friendly_name:
            return False
        if target.expression is not None and not target.expression.evaluate(self._worker_root(ws, worker, task, target)):
            return False
        return True

    def _worker_order(self, ws: "Workspace", ix: RoutingIndex, task: Task, target: Target, workers: list) -> list:
        """order_by clauses first (missing values last), then longest idle, then creation order
        (https://www.twilio.com/docs/taskrouter/order-workers)."""

        def key(worker: Worker):
            parts: list[tuple[int, float]] = []
            if target.order_by:
                root = self._worker_root(ws, worker, task, target)
                for clause in target.order_by:
                    value = self._lookup(root, clause.path)
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        try:
                            value = float(value) if isinstance(value, str) else None
                        except ValueError:
                            value = None
                    if value is None:
                        parts.append((1, 0))
                    else:
                        parts.append((0, -value if clause.descending else value))
            idle_since = self._last_assigned.get(worker.sid, worker.date_status_changed)
            return (*parts, idle_since, ix.worker_seq.get(worker.sid, 0))

        return sorted(workers, key=key)

    def _assign_task(self, ws: "Workspace", task: Task) -> None:
        """Give ``task`` reservations with the best eligible workers of its current target, looking
        only at the workers free to take it in its queue."""
        if task.assignment_status not in (PENDING, RESERVED):
            return
        state, target = self._current(task)
        if target is None:
            return
        ix = self.index(ws)
        pending = len(self._task_reservations(ws, task, "pending"))
        need = self._max_reservations(ws, task, state) - pending
        if need <= 0:
            return
        if state.route.worker_sid:
            worker = ws.workers.get(state.route.worker_sid)
            if worker is not None and self._eligible(ws, ix, task, state, target, worker):
                self._reserve(ws, task, worker)
            return
        pool = ix.free.get((task.task_queue_sid, task.task_channel_sid))
        if not pool:
            return
        if target.known_worker_sid is not None:
            sid = self._known_worker(task, target.known_worker_sid)
            candidates = [ws.workers[sid]] if isinstance(sid, str) and sid in pool and sid in ws.workers else []
        elif target.order_by or target.known_worker_friendly_name is not None:
            candidates = [ws.workers[sid] for sid in pool if sid in ws.workers]
        else:
            # no order_by: the pool's own order (longest idle first) is the answer; stop at `need`
            chosen = []
            entries = pool.in_order()
            try:
                for entry in entries:
                    worker = ws.workers.get(entry[1])
                    if worker is not None and self._eligible(ws, ix, task, state, target, worker):
                        chosen.append(worker)
                        if len(chosen) == need:
                            break
            finally:
                entries.close()
            for worker in chosen:
                self._reserve(ws, task, worker)
            return
        eligible = [w for w in candidates if self._eligible(ws, ix, task, state, target, w)]
        for worker in self._worker_order(ws, ix, task, target, eligible)[:need]:
            self._reserve(ws, task, worker)

    def _offer_worker(self, ws: "Workspace", worker: Worker) -> None:
        """Offer a worker who may have capacity the waiting tasks of its queues, best first: FIFO
        queues by priority then age, LIFO queues newest first; between queues of both kinds the
        workspace's PrioritizeQueueOrder decides which kind goes first
        (https://www.twilio.com/docs/taskrouter/queue-ordering-last-first-out-lifo)."""
        ix = self.index(ws)
        direct = ix.direct.get(worker.sid)
        if not ws.worker_available(worker):
            # only tasks routed to this worker ignoring capacity can still reach it
            if direct:
                for sid in sorted(direct, key=lambda sid: ix.task_seq.get(sid, -1)):
                    task = ws.tasks.get(sid)
                    if task is not None and task.ignore_capacity and task.routing_target == worker.sid:
                        self._assign_task(ws, task)
            return
        streams = []
        if direct:
            streams.append((0 if ws.prioritize_queue_order == "FIFO" else 1, direct, None))
        _, free = ix.free_state.get(worker.sid, (None, frozenset()))
        for queue_sid in ix.queues_of.get(worker.sid, ()):
            queue = ws.task_queues.get(queue_sid)
            if queue is None:
                continue
            rank = 0 if queue.task_order == ws.prioritize_queue_order else 1
            for channel_sid in free:
                tasks = ix.waiting.get((queue_sid, channel_sid))
                if tasks:
                    streams.append((rank, tasks, channel_sid))
        if not streams:
            return
        iterators = [stream[1].in_order() for stream in streams]
        heap = []
        try:
            for i, entries in enumerate(iterators):
                entry = next(entries, None)
                if entry is not None:
                    heap.append(((streams[i][0], *entry[0]), i, entry[1]))
            heapq.heapify(heap)
            while heap:
                _, i, sid = heapq.heappop(heap)
                channel_sid = streams[i][2]
                if channel_sid is not None and not (worker.sid in ix.free_state and
                                                    channel_sid in ix.free_state[worker.sid][1]):
                    continue  # the worker is full on this channel: the rest of this stream cannot have it
                self._offer(ws, ix, worker, sid)
                entry = next(iterators[i], None)
                if entry is not None:
                    heapq.heappush(heap, ((streams[i][0], *entry[0]), i, entry[1]))
        finally:
            for entries in iterators:
                entries.close()

    def _offer(self, ws: "Workspace", ix: RoutingIndex, worker: Worker, task_sid: str) -> None:
        task = ws.tasks.get(task_sid)
        if task is None or task.assignment_status not in (PENDING, RESERVED) or worker.sid not in ws.workers:
            return
        state, target = self._current(task)
        if target is None:
            return
        if len(self._task_reservations(ws, task, "pending")) >= self._max_reservations(ws, task, state):
            return
        if self._eligible(ws, ix, task, state, target, worker):
            self._reserve(ws, task, worker)

    def _reserve(self, ws: "Workspace", task: Task, worker: Worker) -> None:
        now = ws.now()
        reservation = Reservation(ws.new_sid("WR"), ws.account_sid, ws.sid, task.sid, worker.sid, "pending", now, now)
        ws.reservations[reservation.sid] = reservation
        self._index_reservation(self.index(ws), reservation)
        state = self._state[task.sid]
        if task.assignment_status == PENDING:
            state.attempts += 1
        task.assignment_status = RESERVED
        task.date_updated = now
        self._set_reservation(ws, reservation, "pending", "reservation.created", "created")
        workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        seconds = workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT
        self._reservation_timers[reservation.sid] = ws.clock.call_later(
            seconds, partial(self._reservation_expired, ws, reservation.sid), name=f"reservation {reservation.sid}")
        if not ws.multi_task_enabled:
            queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
            if queue is not None and queue.reservation_activity_sid and \
                    queue.reservation_activity_sid in ws.activities and \
                    worker.activity_sid != queue.reservation_activity_sid:
                ws.set_worker_activity(worker, queue.reservation_activity_sid)

    # --- reservations ending ----------------------------------------------------------------------------
    def _release(self, ws: "Workspace", reservation, status: str, *, exclude: bool) -> None:
        """A pending reservation ends without acceptance: the task goes back to routing."""
        self._end_reservation(ws, reservation, status)
        task = ws.tasks.get(reservation.task_sid)
        if reservation.worker_sid in ws.workers:
            self._want_worker(ws, reservation.worker_sid)
        if task is None or task.assignment_status != RESERVED:
            return
        state = self._state.setdefault(task.sid, _TaskState())
        if exclude:
            state.excluded.add(reservation.worker_sid)
        if self._task_reservations(ws, task, "pending"):
            return
        task.assignment_status = PENDING
        task.date_updated = ws.now()
        if state.attempts >= MAX_RESERVATION_ATTEMPTS:
            self.cancel_task(ws, task, ATTEMPTS_REASON)
            return
        self._want_task(ws, task.sid)

    def _reservation_expired(self, ws: "Workspace", reservation_sid: str) -> None:
        with self._batch():
            self._reservation_timers.pop(reservation_sid, None)
            reservation = ws.reservations.get(reservation_sid)
            if reservation is None or reservation.reservation_status != "pending" or \
                    not self.backend.workspace_alive(ws):
                return
            self._release(ws, reservation, "timeout", exclude=False)
            # the worker did not answer: it moves to the workspace's TimeoutActivity
            # (https://www.twilio.com/docs/taskrouter/api/workspace)
            worker = ws.workers.get(reservation.worker_sid)
            if worker is not None and ws.timeout_activity_sid in ws.activities and \
                    worker.activity_sid != ws.timeout_activity_sid:
                ws.set_worker_activity(worker, ws.timeout_activity_sid)

    # --- internals --------------------------------------------------------------------------------
    def _ttl_expired(self, ws: "Workspace", task_sid: str) -> None:
        with self._batch():
            self._ttl_timers.pop(task_sid, None)
            task = ws.tasks.get(task_sid)
            if task is not None and self.backend.workspace_alive(ws) and \
                    task.assignment_status in (PENDING, RESERVED):
                self.cancel_task(ws, task, TTL_REASON)

    def _assigned_expired(self, ws: "Workspace", task_sid: str) -> None:
        with self._batch():
            state = self._state.get(task_sid)
            if state is not None:
                state.assigned_timer = None
            task = ws.tasks.get(task_sid)
            if task is not None and self.backend.workspace_alive(ws) and \
                    task.assignment_status in (ASSIGNED, WRAPPING):
                ws._cancel_deletion(task_sid)
                self.remove_task(ws, task_sid, system=True, event_type="task.system-deleted")

    def _cancel_ttl(self, task_sid: str) -> None:
        timer = self._ttl_timers.pop(task_sid, None)
        if timer is not None:
            timer.cancel()

    @staticmethod
    def _cancel_target_timer(state: _TaskState) -> None:
        if state.target_timer is not None:
            state.target_timer.cancel()
            state.target_timer = None

    @staticmethod
    def _cancel_assigned_timer(state: _TaskState) -> None:
        if state.assigned_timer is not None:
            state.assigned_timer.cancel()
            state.assigned_timer = None

    def _cancel_reservation_timer(self, reservation_sid: str) -> None:
        timer = self._reservation_timers.pop(reservation_sid, None)
        if timer is not None:
            timer.cancel()

    def _forget_task(self, task_sid: str) -> None:
        state = self._state.pop(task_sid, None)
        if state is not None:
            self._cancel_target_timer(state)
            self._cancel_assigned_timer(state)

    def _finish(self, ws: "Workspace", task: Task) -> None:
        self._cancel_ttl(task.sid)
        state = self._state.get(task.sid)
        if state is not None:
            self._cancel_target_timer(state)
            self._cancel_assigned_timer(state)
        self._sync_task(ws, self.index(ws), task)
        ws.finish_task(task)

    def _task_reservations(self, ws: "Workspace", task: Task, *statuses: str) -> list:
        rows = self.index(ws).by_task.get(task.sid)
        if not rows:
            return []
        return [r for r in rows.values() if r.reservation_status in statuses]

    def _channel_for(self, ws: "Workspace", worker_sid: str, task: Task):
        worker = ws.workers.get(worker_sid)
        return worker.channels.get(task.task_channel_sid) if worker else None

    def _task_event(self, ws: "Workspace", task: Task, event_type: str, description: str) -> None:
        ws.record(event_type, description, "task", task.sid, f"Tasks/{task.sid}" if task.sid in ws.tasks else None,
                  {**ev.task_fields(ws, task), "TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})

    def _set_reservation(self, ws: "Workspace", reservation, status: str, event_type: str, verb: str) -> None:
        reservation.reservation_status = status
        reservation.date_updated = ws.now()
        if status != "pending":
            self._cancel_reservation_timer(reservation.sid)
        task = ws.tasks.get(reservation.task_sid)
        worker = ws.workers.get(reservation.worker_sid)
        ix = self.index(ws)
        live = ix.live.setdefault(reservation.worker_sid, {})
        if status in LOAD_STATUSES:
            live[reservation.sid] = reservation
        else:
            live.pop(reservation.sid, None)
        if not live:
            del ix.live[reservation.worker_sid]
        if worker is not None:
            self._refresh_worker(ws, ix, worker)
        if task is not None:
            self._sync_task(ws, ix, task)  # it may take more (or no more) reservations
        data = {}
        if task is not None:
            data.update(ev.task_fields(ws, task))
            data.update({"TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})
        if worker is not None:
            data.update(ev.worker_fields(ws, worker))
        data["ReservationSid"] = reservation.sid
        ws.record(event_type, f"Reservation {reservation.sid} {verb}", "reservation", reservation.sid,
                  f"Tasks/{reservation.task_sid}/Reservations/{reservation.sid}", data)

    def _end_reservation(self, ws: "Workspace", reservation, status: str) -> None:
        self._set_reservation(ws, reservation, status, f"reservation.{status}", status)

    def _post_work(self, ws: "Workspace", task: Task) -> None:
        """The work of a reservation accepted with a post-work activity is done (wrapping or
        completed, whichever comes first): its worker moves to that activity."""
        for reservation in self._task_reservations(ws, task, "wrapping", "completed"):
            activity_sid = reservation.post_work_activity_sid
            if activity_sid is None:
                continue
            reservation.post_work_activity_sid = None
            worker = ws.workers.get(reservation.worker_sid)
            if worker is not None and activity_sid in ws.activities and worker.activity_sid != activity_sid:
                ws.set_worker_activity(worker, activity_sid)

    # --- reservation updates ---------------------------------------------------------------------------
    def update_reservation(self, ws: "Workspace", reservation, params: dict) -> None:
        """``ReservationStatus`` / ``Instruction`` updates of a reservation
        (https://www.twilio.com/docs/taskrouter/api/reservations)."""
        with self._batch():
            self._update_reservation(ws, reservation, params)

    def _update_reservation(self, ws: "Workspace", reservation, params: dict) -> None:
        status = params.get("reservation_status")
        instruction = params.get("instruction")
        for name, key in (("WorkerActivitySid", "worker_activity_sid"),
                          ("PostWorkActivitySid", "post_work_activity_sid"),
                          ("DequeuePostWorkActivitySid", "dequeue_post_work_activity_sid")):
            if params.get(key) is not None:
                ws.activity_param(params[key], name)
        if status is not None and instruction is not None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Instruction", reason="cannot be combined with ReservationStatus"))
        if status is None and instruction is None:
            if params.get("worker_activity_sid") is not None:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="WorkerActivitySid", reason="is only used with ReservationStatus or Instruction"))
            return
        task = ws.tasks.get(reservation.task_sid)
        if task is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{ws.sid}/Tasks/{reservation.task_sid}"))
        if reservation.reservation_status == "rescinded":
            raise errors.Gone(errors.RESERVATION_RESCINDED.format(sid=reservation.sid))
        if instruction is not None:
            self._instruction(ws, reservation, task, instruction.lower(), params)
            return
        if status == "accepted":
            self._require_pending(reservation)
            self._accept(ws, reservation, task)
        elif status == "rejected":
            self._require_pending(reservation)
            self._reject(ws, reservation, params.get("worker_activity_sid"))
        elif status == "wrapping":
            if reservation.reservation_status != "accepted" or task.assignment_status != ASSIGNED:
                raise errors.IllegalState(errors.RESERVATION_CANNOT_WRAP.format(
                    sid=reservation.sid, status=reservation.reservation_status))
            self.change_task_status(ws, task, WRAPPING, None)
        elif status == "completed":
            if reservation.reservation_status not in ("accepted", "wrapping") or \
                    task.assignment_status not in (ASSIGNED, WRAPPING):
                raise errors.IllegalState(errors.RESERVATION_CANNOT_COMPLETE.format(
                    sid=reservation.sid, status=reservation.reservation_status))
            self.change_task_status(ws, task, COMPLETED, None)
        else:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="ReservationStatus", reason=f"cannot be set to {status}; use accepted, rejected, wrapping "
                                                 "or completed"))

    @staticmethod
    def _require_pending(reservation) -> None:
        if reservation.reservation_status != "pending":
            raise errors.IllegalState(errors.RESERVATION_NOT_PENDING.format(
                sid=reservation.sid, status=reservation.reservation_status))

    @staticmethod
    def _require(params: dict, *pairs) -> None:
        for name, key in pairs:
            if not params.get(key):
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name=name, reason="is required for this Instruction"))

    @staticmethod
    def _check_call_options(params: dict, timeout: tuple, record: tuple | None = None,
                            events: tuple | None = None) -> None:
        """Ring timeout 1..999 s, record mode and status callback events of an instruction's call."""
        name, key = timeout
        value = params.get(key)
        if value is not None and not (isinstance(value, int) and 1 <= value <= INSTRUCTION_TIMEOUT_MAX):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"must be between 1 and {INSTRUCTION_TIMEOUT_MAX} seconds"))
        if record is not None and params.get(record[1]) is not None and params[record[1]] not in RECORD_VALUES:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=record[0], reason=f"must be one of {', '.join(RECORD_VALUES)}"))
        if events is not None:
            for value in params.get(events[1]) or ():
                if value not in DEQUEUE_STATUS_CALLBACK_EVENTS:
                    raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                        name=events[0], reason=f"'{value}' is not one of {', '.join(DEQUEUE_STATUS_CALLBACK_EVENTS)}"))

    def _instruction(self, ws: "Workspace", reservation, task: Task, instruction: str, params: dict) -> None:
        # Instructions and their parameters: https://www.twilio.com/docs/taskrouter/api/reservations
        post_work = None
        if instruction == "dequeue":
            self._require(params, ("DequeueFrom", "dequeue_from"))
            self._check_call_options(params, ("DequeueTimeout", "dequeue_timeout"), ("DequeueRecord", "dequeue_record"),
                                     ("DequeueStatusCallbackEvent", "dequeue_status_callback_event"))
            post_work = params.get("dequeue_post_work_activity_sid")
            accept = True
        elif instruction == "call":
            self._require(params, ("CallFrom", "call_from"), ("CallUrl", "call_url"))
            self._check_call_options(params, ("CallTimeout", "call_timeout"), ("CallRecord", "call_record"))
            accept = bool(params.get("call_accept"))
        elif instruction == "redirect":
            self._require(params, ("RedirectCallSid", "redirect_call_sid"), ("RedirectUrl", "redirect_url"))
            accept = bool(params.get("redirect_accept"))
        elif instruction == "conference":
            self._check_call_options(params, ("Timeout", "timeout"))
            post_work = params.get("post_work_activity_sid")
            if post_work is not None and ws.multi_task_enabled:
                # "(Deprecated) ... Not valid in multi-tasking workspaces."
                raise errors.InvalidParameter(errors.POST_WORK_ACTIVITY_MULTITASKING)
            accept = True
        else:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Instruction", reason=f"'{instruction}' is not one of dequeue, call, redirect, conference"))
        self._require_pending(reservation)
        if post_work is not None:
            # the worker moves there once the work is done (the reservation wraps up or completes)
            reservation.post_work_activity_sid = post_work
        if accept:
            self._accept(ws, reservation, task)

    def _accept(self, ws: "Workspace", reservation, task: Task) -> None:
        # the task is assigned before the event is logged: a recorded real reservation.accepted
        # callback carries TaskAssignmentStatus=assigned
        task.assignment_status = ASSIGNED
        task.date_updated = ws.now()
        self._set_reservation(ws, reservation, "accepted", "reservation.accepted", "accepted")
        ix = self.index(ws)
        self._sync_task(ws, ix, task)
        state = self._state.get(task.sid)
        if state is not None:
            self._cancel_target_timer(state)
            self._cancel_assigned_timer(state)
            state.assigned_timer = ws.clock.call_later(
                ASSIGNED_TASK_LIFETIME, partial(self._assigned_expired, ws, task.sid), name=f"assigned {task.sid}")
        for other in self._task_reservations(ws, task, "pending"):
            self._end_reservation(ws, other, "rescinded")
            self._want_worker(ws, other.worker_sid)
        channel = self._channel_for(ws, reservation.worker_sid, task)
        if channel is not None:
            channel.assigned_tasks += 1
        self._last_assigned[reservation.worker_sid] = ws.now()
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None:
            self._refresh_worker(ws, ix, worker)  # its idle time restarts now
        if worker is not None and not ws.multi_task_enabled:
            queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
            if queue is not None and queue.assignment_activity_sid and \
                    queue.assignment_activity_sid in ws.activities and \
                    worker.activity_sid != queue.assignment_activity_sid:
                ws.set_worker_activity(worker, queue.assignment_activity_sid)

    def _reject(self, ws: "Workspace", reservation, activity_sid: str | None) -> None:
        self._release(ws, reservation, "rejected", exclude=True)
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and activity_sid and worker.activity_sid != activity_sid:
            ws.set_worker_activity(worker, activity_sid)

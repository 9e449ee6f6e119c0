"""The routing index of a workspace: what the router looks up without scanning the workspace.

Costs grow with what changed, not with the size of the workspace. The index holds queue
membership (queue -> workers, worker -> queues), the members free to take a task on each channel
(ordered longest idle first), the waiting tasks of each queue and channel (in queue order) and
each task's and worker's reservations. A task entering a queue looks only at that queue's free
workers; a worker becoming free looks only at the waiting tasks of the queues it belongs to.

The index is derived state: ``build_index`` makes it from the workspace's records at any time
(after a restore, or when something it summarises changed wholesale); the functions below keep
it in step with each change.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

from .. import lifecycle
from ..lifecycle import LOAD_STATUSES, max_reservations
from ..state import PENDING, RESERVED, Reservation, ReservationStatus, Task, Worker

if TYPE_CHECKING:
    from ..tables import WorkspaceTables

RS = ReservationStatus


class Ordered:
    """SIDs kept in key order: a heap with lazy deletion.

    ``in_order()`` yields live entries ``(key, sid)`` smallest first without removing
    them (they are popped while iterating and pushed back when the iteration ends), so looking
    at the first k costs O(k log n) whatever n is. An entry in the heap is live while it is the
    SID's entry in ``_entries`` (one tuple an entry, no flag to change).
    """

    __slots__ = ("_heap", "_entries", "_busy", "_dropped")

    def __init__(self) -> None:
        self._heap: list = []
        self._entries: dict = {}
        self._busy = 0
        self._dropped = 0  # entries discarded since ``_entries`` was last copied

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sid) -> bool:
        return sid in self._entries

    def __iter__(self):
        return iter(list(self._entries))

    def add(self, sid: str, key: tuple) -> None:
        entries = self._entries
        entry = entries.get(sid)
        if entry is not None and entry[0] == key:
            return
        entry = entries[sid] = (key, sid)
        heapq.heappush(self._heap, entry)
        if not self._busy and len(self._heap) > 2 * len(entries) + 64:
            self._heap = [e for e in self._heap if entries.get(e[1]) is e]
            heapq.heapify(self._heap)

    def discard(self, sid: str) -> None:
        if self._entries.pop(sid, None) is not None:
            self._dropped += 1
            if self._dropped > 2 * len(self._entries) + 64:
                # a dictionary keeps the table of its largest size: a drained backlog's is let go
                self._entries = dict(self._entries)
                self._dropped = 0

    def in_order(self):
        heap = self._heap
        popped = []
        self._busy += 1
        try:
            while heap and self._entries.get(heap[0][1]) is not heap[0]:
                heapq.heappop(heap)
            if not heap:
                return
            # Most lookers want the first only (a worker takes one task, a task one worker): it
            # is yielded where it stands, and taken out only when more are asked for.
            first = heap[0]
            yield first
            if heap and heap[0] is first:
                heapq.heappop(heap)
                popped.append(first)
            else:  # the looker's changes moved it (a smaller key was added), or took it out
                for i, entry in enumerate(heap):
                    if entry is first:
                        heap[i] = heap[-1]
                        heap.pop()
                        heapq.heapify(heap)
                        popped.append(first)
                        break
            while heap:
                entry = heapq.heappop(heap)
                if self._entries.get(entry[1]) is entry:
                    popped.append(entry)
                    yield entry
        finally:
            self._busy -= 1
            for entry in popped:
                if self._entries.get(entry[1]) is entry:
                    heapq.heappush(heap, entry)


class RoutingIndex:
    """What the router needs to look up without scanning the workspace (see the module docstring).

    Holds SIDs and reservations only; rebuilt from the workspace whenever it is marked dirty."""

    def __init__(self, multi_task_enabled: bool) -> None:
        self.multi_task_enabled = multi_task_enabled
        self.dirty = False
        self.worker_seq: dict[str, int] = {}  # creation order, the last tie-breaker between workers
        # creation order, the last tie-breaker between tasks (of the tasks that may still wait: a
        # finished or deleted task's number goes, and numbers are never given twice)
        self.task_seq: dict[str, int] = {}
        self.task_numbers = itertools.count()
        self.numbers_dropped = 0  # since ``task_seq`` was last copied (see ``drop_number``)
        self.members: dict[str, set] = {}  # queue -> workers its TargetWorkers match
        self.queues_of: dict[str, set] = {}  # worker -> queues it belongs to
        self.activity_queues: set = set()  # queues whose TargetWorkers read the worker's activity
        self.worker_doc_key: dict[str, tuple] = {}  # what membership was computed from
        self.available: dict[str, set] = {}  # queue -> members in an available activity
        self.free: dict[tuple, Ordered] = {}  # (queue, channel) -> members free for a task, longest idle first
        self.free_state: dict[str, tuple] = {}  # worker -> (idle key, frozenset of free channels)
        # Waiting tasks that may take one more reservation, in queue order: (queue, channel) -> tasks,
        # and worker -> tasks routed straight to it (RoutingTarget). Tasks holding as many pending
        # reservations as they may have wait aside in ``held`` / ``held_direct`` (same keys), so a
        # worker looking for work never walks past offers still out with other workers.
        self.waiting: dict[tuple, Ordered] = {}
        self.direct: dict[str, Ordered] = {}
        self.held: dict[tuple, Ordered] = {}
        self.held_direct: dict[str, Ordered] = {}
        self.queue_order: dict[str, str] = {}  # queue -> TaskOrder its waiting keys were built with
        self.task_place: dict[str, tuple] = {}  # task -> its place (container key, see ``container``)
        self.places: dict[tuple, tuple] = {}  # each place, as the one tuple the tasks there share
        self.places_dropped = 0  # since ``task_place`` was last copied (see ``drop_place``)
        self.by_task: dict[str, TaskReservations] = {}  # task -> its reservations, creation order
        self.by_worker: dict[str, dict] = {}  # worker -> {reservation sid: Reservation}, creation order
        self.live: dict[str, dict] = {}  # worker -> its pending/accepted/wrapping reservations



class TaskReservations(tuple):
    """A task's reservations in creation order: a tuple (a task has few, and keeps them until it
    is deleted), read through ``values()`` as a dictionary of them would be."""

    __slots__ = ()

    def values(self) -> "TaskReservations":
        return self


def build_index(ws: WorkspaceTables) -> RoutingIndex:
    ix = RoutingIndex(ws.multi_task_enabled)
    ix.worker_seq = {sid: i for i, sid in enumerate(ws.workers)}
    ix.task_seq = {sid: i for i, sid in enumerate(ws.tasks) if ws.tasks[sid].assignment_status not in lifecycle.FINISHED}
    ix.task_numbers = itertools.count(len(ws.tasks))
    for worker in ws.workers.values():
        ix.queues_of[worker.sid] = set()
        ix.worker_doc_key[worker.sid] = doc_key(ws, worker)
    for queue in ws.task_queues.values():
        compute_members(ws, ix, queue.sid)
    for reservation in ws.reservations.values():
        index_reservation(ix, reservation)
    for worker in ws.workers.values():
        refresh_worker(ws, ix, worker)
    for task in ws.tasks.values():
        sync_task(ws, ix, task)
    return ix

def doc_key(ws: WorkspaceTables, worker: Worker) -> tuple:
    activity = ws.activities.get(worker.activity_sid)
    return (worker.attributes, worker.friendly_name, worker.activity_sid,
            activity.friendly_name if activity else None)

def compute_members(ws: WorkspaceTables, ix: RoutingIndex, queue_sid: str) -> None:
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
        set_member(ws, ix, queue_sid, worker, bool(expression.evaluate(ws.worker_document(worker))))

def set_member(ws: WorkspaceTables, ix: RoutingIndex, queue_sid: str, worker: Worker, member: bool) -> None:
    members = ix.members.setdefault(queue_sid, set())
    queues = ix.queues_of.setdefault(worker.sid, set())
    if member and worker.sid not in members:
        members.add(worker.sid)
        queues.add(queue_sid)
        place_worker_in_queue(ws, ix, queue_sid, worker)
    elif not member and worker.sid in members:
        members.discard(worker.sid)
        queues.discard(queue_sid)
        ix.available.get(queue_sid, set()).discard(worker.sid)
        _, free = ix.free_state.get(worker.sid, (None, frozenset()))
        for channel_sid in free:
            pool = ix.free.get((queue_sid, channel_sid))
            if pool is not None:
                pool.discard(worker.sid)

def place_worker_in_queue(ws: WorkspaceTables, ix: RoutingIndex, queue_sid: str, worker: Worker) -> None:
    if worker.sid not in ix.free_state:
        return  # placed by the worker's first refresh
    key, free = ix.free_state[worker.sid]
    if ws.worker_available(worker):
        ix.available.setdefault(queue_sid, set()).add(worker.sid)
    for channel_sid in free:
        ix.free.setdefault((queue_sid, channel_sid), Ordered()).add(worker.sid, key)

def update_membership(ws: WorkspaceTables, ix: RoutingIndex, worker: Worker) -> None:
    """Recompute the queues a worker belongs to when what TargetWorkers see of it changed."""
    key = doc_key(ws, worker)
    old = ix.worker_doc_key.get(worker.sid)
    if old == key:
        return
    ix.worker_doc_key[worker.sid] = key
    if old is not None and old[:2] == key[:2]:
        # only the activity moved: only queues whose TargetWorkers read it can change
        queue_sids = list(ix.activity_queues)
    else:
        queue_sids = list(ws.task_queues)
    if not queue_sids:
        return
    doc = ws.worker_document(worker)
    for queue_sid in queue_sids:
        set_member(ws, ix, queue_sid, worker, bool(ws.queue_expressions[queue_sid].evaluate(doc)))

def refresh_worker(ws: WorkspaceTables, ix: RoutingIndex, worker: Worker) -> None:
    """Put a worker in (or take it out of) its queues' available and free sets."""
    sid = worker.sid
    if sid not in ix.worker_seq:
        ix.worker_seq[sid] = len(ix.worker_seq)
    if sid not in ix.worker_doc_key:
        ix.queues_of.setdefault(sid, set())
        ix.worker_doc_key[sid] = doc_key(ws, worker)
        doc = ws.worker_document(worker)
        for queue_sid in ws.task_queues:
            if ws.queue_expressions[queue_sid].evaluate(doc):
                ix.members.setdefault(queue_sid, set()).add(sid)
                ix.queues_of[sid].add(queue_sid)
    key = (ws.last_assigned.get(sid, worker.date_status_changed), ix.worker_seq[sid])
    free = lifecycle.free_channels(worker, ws.worker_available(worker), ws.multi_task_enabled,
                                   ix.live.get(sid), ws.tasks)
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
                pool = ix.free[(queue_sid, channel_sid)] = Ordered()
            pool.add(sid, key)

def drop_worker(ix: RoutingIndex, worker_sid: str) -> None:
    _, free = ix.free_state.pop(worker_sid, (None, frozenset()))
    for queue_sid in ix.queues_of.pop(worker_sid, set()):
        ix.members.get(queue_sid, set()).discard(worker_sid)
        ix.available.get(queue_sid, set()).discard(worker_sid)
        for channel_sid in free:
            pool = ix.free.get((queue_sid, channel_sid))
            if pool is not None:
                pool.discard(worker_sid)
    ix.worker_doc_key.pop(worker_sid, None)

def number_task(ix: RoutingIndex, task_sid: str) -> None:
    """Give a task its place in creation order, once."""
    if task_sid not in ix.task_seq:
        ix.task_seq[task_sid] = next(ix.task_numbers)

def drop_number(ix: RoutingIndex, task_sid: str) -> None:
    if ix.task_seq.pop(task_sid, None) is not None:
        ix.numbers_dropped += 1
        if ix.numbers_dropped > 2 * len(ix.task_seq) + 1024:
            # a dictionary keeps the table of its largest size: a drained backlog's is let go
            ix.task_seq = dict(ix.task_seq)
            ix.numbers_dropped = 0

def task_key(ix: RoutingIndex, task: Task, order: str) -> tuple:
    """Position in a queue: FIFO queues by priority then oldest, LIFO newest first with priority
    ignored (https://www.twilio.com/docs/taskrouter/queue-ordering-last-first-out-lifo); ties
    in creation order."""
    stamp = task.virtual_start_time.timestamp()
    if order == "LIFO":
        return (0, -stamp, ix.task_seq[task.sid])
    return (-task.priority, stamp, ix.task_seq[task.sid])

def held_for_worker(ws: WorkspaceTables, task: Task) -> bool:
    """A task being transferred to a worker waits for that worker only; one transferred to a
    queue is routed there like any task."""
    if task.transfer_sid is None:
        return False
    transfer = ws.transfers.get(task.transfer_sid)
    return transfer is None or transfer.transfer_type != "QUEUE"


def sync_task(ws: WorkspaceTables, ix: RoutingIndex, task: Task) -> None:
    """Keep a task in the waiting set that matches its status, step and channel."""
    if task.assignment_status in lifecycle.FINISHED:
        drop_number(ix, task.sid)
    else:
        number_task(ix, task.sid)
    state = ws.task_routing.get(task.sid)
    place: tuple | None = None
    key = None
    if task.assignment_status in (PENDING, RESERVED) and state is not None and state.route is not None \
            and not held_for_worker(ws, task):
        rows = ix.by_task.get(task.sid)
        pending = sum(1 for r in rows.values() if r.reservation_status == RS.PENDING) if rows else 0
        full = pending >= max_reservations(ws, task, state)
        if state.route.worker_sid:
            place = ("held-direct" if full else "direct", state.route.worker_sid)
            key = task_key(ix, task, "FIFO")
        elif task.task_queue_sid and task.task_queue_sid in ws.task_queues:
            place = ("held" if full else "queue", task.task_queue_sid, task.task_channel_sid)
            key = task_key(ix, task, ix.queue_order.get(task.task_queue_sid, "FIFO"))
    old = ix.task_place.get(task.sid)
    if old is not None and place is not None and old == place:
        container(ix, old).add(task.sid, key)  # (nothing to do when the key is the same)
        return
    if old is not None:
        pool = container(ix, old, create=False)
        if pool is not None:
            pool.discard(task.sid)
        drop_place(ix, task.sid)
    if place is not None:
        # one tuple per place, shared by the tasks waiting there
        place = ix.places.setdefault(place, place)
        container(ix, place).add(task.sid, key)
        ix.task_place[task.sid] = place

def drop_place(ix: RoutingIndex, task_sid: str) -> tuple | None:
    place = ix.task_place.pop(task_sid, None)
    if place is not None:
        ix.places_dropped += 1
        if ix.places_dropped > 2 * len(ix.task_place) + 1024:
            # a dictionary keeps the table of its largest size: a drained backlog's is let go
            ix.task_place = dict(ix.task_place)
            ix.places_dropped = 0
    return place

def container(ix: RoutingIndex, place: tuple, create: bool = True):
    kind = place[0]
    table: dict
    if kind == "direct":
        table, key = ix.direct, place[1]
    elif kind == "held-direct":
        table, key = ix.held_direct, place[1]
    else:
        table, key = (ix.waiting if kind == "queue" else ix.held), (place[1], place[2])
    pool = table.get(key)
    if pool is None and create:
        pool = table[key] = Ordered()
    return pool

def index_reservation(ix: RoutingIndex, reservation: Reservation) -> None:
    rows = ix.by_task.get(reservation.task_sid, ())
    for i, row in enumerate(rows):
        if row.sid == reservation.sid:
            ix.by_task[reservation.task_sid] = TaskReservations((*rows[:i], reservation, *rows[i + 1:]))
            break
    else:
        ix.by_task[reservation.task_sid] = TaskReservations((*rows, reservation))
    ix.by_worker.setdefault(reservation.worker_sid, {})[reservation.sid] = reservation
    if reservation.reservation_status in LOAD_STATUSES:
        ix.live.setdefault(reservation.worker_sid, {})[reservation.sid] = reservation

def unindex_reservation(ix: RoutingIndex, reservation: Reservation) -> None:
    mine = ix.by_task.get(reservation.task_sid)
    if mine is not None:
        left = TaskReservations(row for row in mine if row.sid != reservation.sid)
        if left:
            ix.by_task[reservation.task_sid] = left
        else:
            del ix.by_task[reservation.task_sid]
    for table, owner in ((ix.by_worker, reservation.worker_sid), (ix.live, reservation.worker_sid)):
        rows = table.get(owner)
        if rows is not None:
            rows.pop(reservation.sid, None)
            if not rows:
                del table[owner]


def drop_queue(ix: RoutingIndex, queue_sid: str) -> None:
    for worker_sid in ix.members.pop(queue_sid, set()):
        ix.queues_of.get(worker_sid, set()).discard(queue_sid)
    ix.available.pop(queue_sid, None)
    ix.activity_queues.discard(queue_sid)
    ix.queue_order.pop(queue_sid, None)
    for key in [k for k in ix.free if k[0] == queue_sid]:
        del ix.free[key]


def drop_task(ix: RoutingIndex, task_sid: str) -> None:
    drop_number(ix, task_sid)
    place = drop_place(ix, task_sid)
    if place is not None:
        pool = container(ix, place, create=False)
        if pool is not None:
            pool.discard(task_sid)

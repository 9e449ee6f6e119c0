"""Task and Reservation lifecycles: the state machines as transition tables, the one capacity
rule, and the one registry of task timers.

Task (https://www.twilio.com/docs/taskrouter/lifecycle-task-state): a task is created
``pending``, is ``reserved`` while it holds offers, ``assigned`` once a worker accepts, then
``wrapping`` and ``completed``; it is canceled from ``pending``/``reserved``. Finished tasks are
deleted five minutes later; a task still waiting when its ``Timeout`` (TTL) runs out is canceled
with the reason "Task TTL Exceeded"; a task left assigned (or wrapping) for 24 hours is deleted
by the system (``task.system-deleted``).

Reservation (https://www.twilio.com/docs/taskrouter/api/reservations): created ``pending``; it
ends ``accepted`` (then ``wrapping`` and ``completed``), ``rejected``, ``timeout``, ``canceled``
or ``rescinded``.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .. import errors
from ..clock import Clock, Timer
from .state import (
    ASSIGNED,
    CANCELED,
    COMPLETED,
    HELD,
    PENDING,
    RESERVED,
    WAITING,
    WRAPPING,
    Reservation,
    ReservationStatus,
    Task,
    TaskRouting,
    Worker,
    WorkerChannel,
)

if TYPE_CHECKING:
    from .tables import WorkspaceTables

RS = ReservationStatus

# --- the Task state machine ---------------------------------------------------------------------
# Every change of ``Task.assignment_status`` the engine makes: status -> the statuses it may come from.
TASK_TRANSITIONS: dict[str, tuple[str, ...]] = {
    # created, or its offers ended without acceptance (of an assigned task: transferred to a queue)
    PENDING: (PENDING, RESERVED, ASSIGNED),
    RESERVED: (PENDING, RESERVED, ASSIGNED),  # an offer is out (of an assigned task: a transfer)
    ASSIGNED: (RESERVED, PENDING),  # a worker accepted (from pending: a transfer to a queue ended)
    WRAPPING: (ASSIGNED,),
    COMPLETED: (ASSIGNED, WRAPPING),
    CANCELED: (PENDING, RESERVED),
}
# The changes a client may ask for (``AssignmentStatus``), with the error for a task not in a
# status it may come from.
TASK_UPDATES: dict[str, tuple[tuple[str, ...], str]] = {
    CANCELED: (WAITING, errors.TASK_CANNOT_CANCEL),
    WRAPPING: ((ASSIGNED,), errors.TASK_CANNOT_WRAP),
    COMPLETED: (HELD, errors.TASK_CANNOT_COMPLETE),
}

TTL_REASON = "Task TTL Exceeded"
# "Tasks are automatically canceled after 1,000 rejections"
# (https://www.twilio.com/docs/taskrouter/api/reservations); the lifecycle page counts them as
# pending -> reserved transitions, so a multi-reservation offer counts once
# (https://www.twilio.com/docs/taskrouter/lifecycle-task-state).
MAX_RESERVATION_ATTEMPTS = 1000
ATTEMPTS_REASON = "Task reservation attempts exceeded"


# a task in one of these is over: it never changes status again
FINISHED = (COMPLETED, CANCELED)


def move_task(task: Task, status: str, now: datetime | None = None) -> None:
    """Set a task's status along the table (an engine bug otherwise)."""
    if task.assignment_status not in TASK_TRANSITIONS[status]:
        raise AssertionError(f"task {task.sid}: {task.assignment_status} -> {status} is not a transition")
    task.assignment_status = status
    if status in FINISHED:
        task.parsed_attributes = None  # parsed again if read: see ``Task.parsed_attributes``
    if now is not None:
        task.date_updated = now


def check_task_update(ws: WorkspaceTables, task: Task, status: str) -> None:
    """Whether a client may set ``AssignmentStatus`` to ``status`` now
    (https://www.twilio.com/docs/taskrouter/lifecycle-task-state)."""
    rule = TASK_UPDATES.get(status)
    if rule is None:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name="AssignmentStatus", reason=f"cannot be set to {status}; use canceled, wrapping or completed"))
    sources, message = rule
    if task.assignment_status not in sources:
        raise errors.IllegalState(message.format(task_sid=task.sid, workspace_sid=ws.sid, account_sid=ws.account_sid))


# --- the Reservation state machine --------------------------------------------------------------
RESERVATION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    RS.PENDING: (RS.PENDING,),  # created
    RS.ACCEPTED: (RS.PENDING,),
    RS.REJECTED: (RS.PENDING,),
    RS.TIMEOUT: (RS.PENDING,),
    RS.CANCELED: (RS.PENDING,),
    RS.RESCINDED: (RS.PENDING,),
    RS.WRAPPING: (RS.ACCEPTED,),
    RS.COMPLETED: (RS.ACCEPTED, RS.WRAPPING),
}
# The changes a client may ask for (``ReservationStatus``): status -> (reservation statuses it may
# come from, task statuses it needs (None: any), the error otherwise).
RESERVATION_UPDATES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None, str]] = {
    RS.ACCEPTED: ((RS.PENDING,), None, errors.RESERVATION_NOT_PENDING),
    RS.REJECTED: ((RS.PENDING,), None, errors.RESERVATION_NOT_PENDING),
    RS.WRAPPING: ((RS.ACCEPTED,), (ASSIGNED,), errors.RESERVATION_CANNOT_WRAP),
    RS.COMPLETED: ((RS.ACCEPTED, RS.WRAPPING), HELD, errors.RESERVATION_CANNOT_COMPLETE),
}
# The reservations that hold a share of their worker's capacity.
LOAD_STATUSES = (RS.PENDING, RS.ACCEPTED, RS.WRAPPING)


def move_reservation(reservation: Reservation, status: str, now: datetime) -> None:
    """Set a reservation's status along the table (an engine bug otherwise)."""
    if reservation.reservation_status not in RESERVATION_TRANSITIONS[status]:
        raise AssertionError(f"reservation {reservation.sid}: {reservation.reservation_status} -> {status} "
                             "is not a transition")
    if reservation.reservation_status != status:
        reservation.version += 1
    reservation.reservation_status = status
    reservation.date_updated = now


def check_reservation_update(reservation: Reservation, task: Task, status: str) -> None:
    """Whether a client may set ``ReservationStatus`` to ``status`` now."""
    rule = RESERVATION_UPDATES.get(status)
    if rule is None:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name="ReservationStatus", reason=f"cannot be set to {status}; use accepted, rejected, wrapping or completed"))
    sources, task_statuses, message = rule
    if reservation.reservation_status not in sources or (
            task_statuses is not None and task.assignment_status not in task_statuses):
        raise errors.IllegalState(message.format(sid=reservation.sid, status=reservation.reservation_status))


def require_pending(reservation: Reservation) -> None:
    if reservation.reservation_status != RS.PENDING:
        raise errors.IllegalState(errors.RESERVATION_NOT_PENDING.format(
            sid=reservation.sid, status=reservation.reservation_status))


# --- capacity -----------------------------------------------------------------------------------
def channel_loads(live: Mapping[str, Reservation] | None, tasks: Mapping[str, Task]) -> dict[str, int]:
    """A worker's load per task channel: its pending, accepted and wrapping reservations
    (``live``, the worker's reservations in LOAD_STATUSES) counted by their task's channel
    (https://www.twilio.com/docs/taskrouter/multitasking)."""
    loads: dict[str, int] = {}
    if live:
        for reservation in live.values():
            task = tasks.get(reservation.task_sid)
            if task is not None:
                loads[task.task_channel_sid] = loads.get(task.task_channel_sid, 0) + 1
    return loads


def available_capacity_percentage(channel: WorkerChannel, load: int) -> int:
    """``floor((1 - busy / configured_capacity) * 100)``."""
    if channel.configured_capacity <= 0:
        return 0
    return max(0, (100 * (channel.configured_capacity - load)) // channel.configured_capacity)


def free_channels(worker: Worker, available: bool, multi_task_enabled: bool,
                  live: Mapping[str, Reservation] | None, tasks: Mapping[str, Task]) -> frozenset:
    """The task channels on which ``worker`` may take one more reservation now."""
    if not available:
        return frozenset()
    if not multi_task_enabled:
        # single-tasking: one reservation or task at a time
        if live:
            return frozenset()
        return frozenset(c.task_channel_sid for c in worker.channels.values()
                         if c.available and c.configured_capacity > 0)
    loads = channel_loads(live, tasks)
    return frozenset([c.task_channel_sid for c in worker.channels.values()
                      if c.available and c.configured_capacity > 0
                      and loads.get(c.task_channel_sid, 0) < c.configured_capacity])


def max_reservations(ws: WorkspaceTables, task: Task, routing: TaskRouting) -> int:
    """How many pending offers a task may hold at once: one when routed straight to a worker, else
    its queue's ``MaxReservedWorkers``."""
    if routing.route is not None and routing.route.worker_sid:
        return 1
    queue = ws.task_queues.get(task.task_queue_sid or "")
    return queue.max_reserved_workers if queue else 0


# --- timers -------------------------------------------------------------------------------------
# The kinds of timer, each with its subject: a task SID, or a reservation SID.
TTL = "task-ttl"  # the task's Timeout runs out while it waits
TARGET = "target-timeout"  # the workflow target's timeout moves the task on
RESERVATION = "reservation-timeout"  # the offer's TaskReservationTimeout runs out
ASSIGNED_LIFETIME = "assigned-lifetime"  # 24 hours assigned: the system deletes the task
DELETION = "finished-deletion"  # a finished task goes five minutes after it ended
EVENT_EXPIRY = "event-expiry"  # the workspace's oldest event turns 30 days old (subject: the workspace SID)
TIMER_KINDS = (TTL, TARGET, RESERVATION, ASSIGNED_LIFETIME, DELETION, EVENT_EXPIRY)
TASK_TIMER_KINDS = (TTL, TARGET, ASSIGNED_LIFETIME, DELETION)

# Finished tasks disappear "five minutes" after they end (https://www.twilio.com/docs/taskrouter/lifecycle-task-state).
FINISHED_TASK_RETENTION = 300
# Assigned tasks that are not completed within 24 hours are deleted by the system and logged as
# ``task.system-deleted`` (https://www.twilio.com/docs/taskrouter/lifecycle-task-state,
# https://www.twilio.com/docs/taskrouter/api/event/reference). [I] The docs do not say from which
# instant the 24 hours run; the emulator counts from the acceptance that made the task
# ``assigned`` (a task cannot be assigned before it was created, so this never deletes earlier
# than counting from creation would), and a ``wrapping`` task is still not completed.
ASSIGNED_TASK_LIFETIME = 86_400
DEFAULT_RESERVATION_TIMEOUT = 120


class Timers:
    """Every pending timer of one workspace, by ``(kind, subject)``: at most one of each.

    The entries on the clock are data (due, kind, workspace SID, subject); the router's one table
    from kind to handler gives them meaning when they fire.

    Finished-task deletions are batched: a busy workspace has one pending for every task that
    ended in the last five minutes, and only the earliest needs to be on the clock. The others
    wait here (their due instant and place in the scheduling order, in ``deletions``); the one on
    the clock is an ordinary ``(DELETION, task)`` entry, and when it fires (or is cancelled) the
    next is put on the clock in its place, with the place in the scheduling order it was given
    when its task ended, so deletions fire at the same instants and in the same order, between
    the same other timers, as if each had been on the clock all along. Snapshots still write one
    ``(DELETION, task)`` row per pending deletion (``rows``) and restore them through ``adopt``.
    """

    __slots__ = ("clock", "workspace_sid", "entries", "deletions", "_armed")

    def __init__(self, clock: Clock, workspace_sid: str) -> None:
        self.clock = clock
        self.workspace_sid = workspace_sid
        self.entries = TimerTable()
        self.deletions = Deletions()
        self._armed: Timer | None = None  # the deletion on the clock: the earliest pending

    def start(self, kind: str, subject: str, seconds: float) -> None:
        self.start_at(kind, subject, self.clock.now() + timedelta(seconds=seconds))

    def start_at(self, kind: str, subject: str, due: datetime) -> None:
        self.cancel(kind, subject)
        if kind == DELETION:
            self._add_deletion(subject, due, self.clock.next_seq())
            return
        self.entries[(kind, subject)] = self.clock.call_at(due, kind, self.workspace_sid, subject)

    def adopt(self, timer: Timer) -> None:
        """Register an entry the clock already holds (a restored checkpoint's). A deletion joins
        the batch, keeping its place in the scheduling order (the clock holds only the first)."""
        if timer.kind == DELETION:
            timer.cancel()
            self._add_deletion(timer.subject, timer.due, timer.seq)
            return
        self.entries[(timer.kind, timer.subject)] = timer

    def cancel(self, kind: str, subject: str) -> None:
        if kind == DELETION:
            if not self.deletions.discard(subject):
                return
        timer = self.entries.pop((kind, subject), None)
        if timer is not None:
            timer.cancel()
            if kind == DELETION:
                self._arm_next_deletion()

    def cancel_task(self, task_sid: str) -> None:
        """Every timer of the task (its reservations' timers are cancelled with them)."""
        for kind in TASK_TIMER_KINDS:
            self.cancel(kind, task_sid)

    def cancel_all(self) -> None:
        for timer in list(self.entries.values()):
            timer.cancel()
        self.entries.clear()
        self.deletions.clear()
        self._armed = None

    def take(self, timer: Timer) -> bool:
        """``timer`` fired: forget it. False when it is not this registry's current entry (it was
        cancelled or replaced and must do nothing)."""
        key = (timer.kind, timer.subject)
        if self.entries.get(key) is not timer:
            return False
        del self.entries[key]
        if timer.kind == DELETION:
            self.deletions.discard(timer.subject)
            self._arm_next_deletion()
        return True

    def held(self) -> list[Timer]:
        """The pending deletions kept off the clock (all but the earliest), as the clock's entries
        they stand for."""
        armed = self._armed
        return [Timer(due, seq, DELETION, self.workspace_sid, sid) for due, seq, sid in self.deletions.pending()
                if armed is None or sid != armed.subject]

    def rows(self) -> list[Timer]:
        """Every pending timer, one entry per pending deletion (what a snapshot writes), in the
        order they fire."""
        rows = [timer for (kind, _), timer in self.entries.items() if kind != DELETION]
        rows.extend(Timer(due, seq, DELETION, self.workspace_sid, sid) for due, seq, sid in self.deletions.pending())
        rows.sort()
        return rows

    # --- the batch of deletions ----------------------------------------------------------------
    def _add_deletion(self, task_sid: str, due: datetime, seq: int) -> None:
        self.deletions.add(task_sid, due, seq)
        armed = self._armed
        if armed is None or (due, seq) < (armed.due, armed.seq):
            if armed is not None:
                armed.cancel()
                del self.entries[(DELETION, armed.subject)]
            self._arm(task_sid, due, seq)

    def _arm(self, task_sid: str, due: datetime, seq: int) -> None:
        self._armed = self.entries[(DELETION, task_sid)] = self.clock.call_at(
            due, DELETION, self.workspace_sid, task_sid, seq)

    def _arm_next_deletion(self) -> None:
        """Put the earliest pending deletion on the clock (the one there fired or was cancelled)."""
        self._armed = None
        first = self.deletions.first()
        if first is not None:
            due, seq, sid = first
            self._arm(sid, due, seq)


class TimerTable:
    """Timers by ``(kind, subject)``, read as a dictionary of them; kept as one dictionary per
    kind, keyed by subject, so a timer costs no key tuple of its own (a waiting task has one)."""

    __slots__ = ("_kinds",)

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Timer]] = {}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        timers = self._kinds.get(key[0])
        return timers is not None and key[1] in timers

    def get(self, key: tuple[str, str], default: Timer | None = None) -> Timer | None:
        timers = self._kinds.get(key[0])
        return default if timers is None else timers.get(key[1], default)

    def __setitem__(self, key: tuple[str, str], timer: Timer) -> None:
        timers = self._kinds.get(key[0])
        if timers is None:
            timers = self._kinds[key[0]] = {}
        timers[key[1]] = timer

    def pop(self, key: tuple[str, str], default: Timer | None = None) -> Timer | None:
        timers = self._kinds.get(key[0])
        return default if timers is None else timers.pop(key[1], default)

    def __delitem__(self, key: tuple[str, str]) -> None:
        del self._kinds[key[0]][key[1]]

    def __len__(self) -> int:
        return sum(len(timers) for timers in self._kinds.values())

    def __iter__(self):
        return ((kind, subject) for kind, timers in self._kinds.items() for subject in timers)

    def items(self):
        return (((kind, subject), timer) for kind, timers in self._kinds.items() for subject, timer in timers.items())

    def values(self):
        return (timer for timers in self._kinds.values() for timer in timers.values())

    def clear(self) -> None:
        self._kinds.clear()


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class Deletions:
    """The pending deletions of a workspace's finished tasks, earliest first (by due instant, then
    place in the scheduling order).

    Tasks end in that order (each is due five minutes after an instant of a clock that only moves
    forward), so the deletions are columns appended at the end: the task SID, its due instant in
    microseconds and its place, 24 bytes a deletion, with the task's current place in ``seqs`` (a
    cancelled deletion is skipped when it reaches the front). One that comes out of order (from a
    restored snapshot) waits in a small heap beside them.
    """

    __slots__ = ("seqs", "_sids", "_dues", "_places", "_head", "_late")

    def __init__(self) -> None:
        self.seqs: dict[str, int] = {}  # task SID -> place of its pending deletion
        self._sids: list[str] = []
        self._dues = array("q")  # microseconds since the epoch
        self._places = array("q")
        self._head = 0  # entries before it have fired or been cancelled
        self._late: list[tuple[datetime, int, str]] = []  # (due, place, task SID)

    def __len__(self) -> int:
        return len(self.seqs)

    def __iter__(self):
        return iter(self.seqs)

    def __contains__(self, task_sid: object) -> bool:
        return task_sid in self.seqs

    def add(self, task_sid: str, due: datetime, seq: int) -> None:
        self.seqs[task_sid] = seq
        micros = (due - _EPOCH) // _MICROSECOND
        if len(self._sids) > self._head and (micros, seq) < (self._dues[-1], self._places[-1]):
            late = self._late
            heapq.heappush(late, (due, seq, task_sid))
            if len(late) > 2 * len(self.seqs) + 64:  # drop what cancellations left behind
                late[:] = [e for e in late if self.seqs.get(e[2]) == e[1]]
                heapq.heapify(late)
            return
        self._sids.append(task_sid)
        self._dues.append(micros)
        self._places.append(seq)

    def discard(self, task_sid: str) -> bool:
        """Forget the task's pending deletion; False when it had none."""
        return self.seqs.pop(task_sid, None) is not None

    def clear(self) -> None:
        self.seqs.clear()
        del self._sids[:], self._dues[:], self._places[:]
        self._head = 0
        self._late.clear()

    def first(self) -> tuple[datetime, int, str] | None:
        """(due, place, task SID) of the earliest pending deletion (what went is dropped on the way)."""
        seqs, sids, places = self.seqs, self._sids, self._places
        head = self._head
        while head < len(sids) and seqs.get(sids[head]) != places[head]:
            head += 1
        if head > 1024 and 2 * head > len(sids):
            del sids[:head], self._dues[:head], places[:head]
            head = 0
        self._head = head
        late = self._late
        while late and seqs.get(late[0][2]) != late[0][1]:
            heapq.heappop(late)
        first = (_EPOCH + self._dues[head] * _MICROSECOND, places[head], sids[head]) if head < len(sids) else None
        if late and (first is None or late[0][:2] < first[:2]):
            first = late[0]
        return first

    def pending(self):
        """(due, place, task SID) of every pending deletion."""
        seqs, sids, dues, places = self.seqs, self._sids, self._dues, self._places
        for i in range(self._head, len(sids)):
            if seqs.get(sids[i]) == places[i]:
                yield _EPOCH + dues[i] * _MICROSECOND, places[i], sids[i]
        yield from (e for e in self._late if seqs.get(e[2]) == e[1])

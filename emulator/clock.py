"""The virtual clock: the emulator's one source of time, with a heap of timers.

Every timestamp, ``age``, timeout and statistic reads this clock. Two modes:

- ``manual``: time moves only when told (``advance`` / ``set``); ``advance`` fires every due timer
  in time order, each with the clock standing at its own due time, and returns when none is due.
- ``real``: time follows the wall clock from the instant the mode was entered; a background thread
  fires timers as they fall due.

Timers are data: ``(due, kind, workspace, subject)``, e.g. ``(10:02, "reservation-timeout",
"WS..", "WR..")``. Nothing on the heap is code; the clock hands each due timer to one dispatcher
(the engine's table from kind to handler), so the pending timers can be saved and restored as plain
data, and a test can move time by hours in microseconds.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

log = logging.getLogger("emulator.clock")

MANUAL = "manual"
REAL = "real"
MODES = (MANUAL, REAL)
# The clock stops short of datetime's last year so that every timeout scheduled from any instant
# it can stand at (30 days at most in TaskRouter) is still a representable datetime.
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)
COMPACT_MINIMUM = 1024  # the heap is never compacted below this many entries


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (naive values are taken to be UTC, as Twilio's clients do)."""
    if dt.tzinfo is timezone.utc:
        return dt
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant (``2026-01-01T00:00:00Z``, offsets and fractions allowed)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return utc(datetime.fromisoformat(value))


@dataclass(order=True, slots=True)
class Timer:
    """``kind`` of thing due at ``due`` for ``subject`` in ``workspace``; ``cancel()`` keeps it
    from firing. Ties in ``due`` fire in scheduling order (``seq``)."""

    due: datetime
    seq: int
    kind: str = field(compare=False)
    workspace: str = field(compare=False)
    subject: str = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.kind} {self.subject}"

    def cancel(self) -> None:
        self.cancelled = True


Dispatcher = Callable[[Timer], None]


def _nothing(timer: Timer) -> None:
    log.warning("timer %s fired with no dispatcher", timer.name)


class Clock:
    """Virtual time with a timer heap. Thread-safe."""

    def __init__(self, mode: str = MANUAL, start: datetime | str | None = None,
                 wall: Callable[[], float] = time.time, lock: threading.RLock | None = None,
                 dispatch: Dispatcher | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"clock mode must be one of {MODES}, not {mode!r}")
        self._wall = wall  # the only place the wall clock is read
        # The engine shares this lock: timers run under it, and one lock for state and time
        # means a timer firing and a request can never wait on each other in opposite order.
        self._lock = lock if lock is not None else threading.RLock()
        self._wake = threading.Condition(self._lock)
        # the heap holds (due, seq, timer): tuples compare in C, where Timer's own ordering would
        # run Python code for every comparison the heap makes
        self._timers: list[tuple[datetime, int, Timer]] = []
        self._dispatch: Dispatcher = dispatch or _nothing
        self._compact_at = COMPACT_MINIMUM
        self._seq = itertools.count()
        if start is None:
            start = datetime.fromtimestamp(int(self._wall()), tz=timezone.utc)
        elif isinstance(start, str):
            start = parse_instant(start)
        self._anchor_virtual = utc(start)
        self._anchor_wall = self._wall()
        self._mode = mode
        # what now() reads, replaced as one tuple under the lock, so reading needs no lock
        self._reading = (mode, self._anchor_virtual, self._anchor_wall)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._settle_hooks: list[Callable[[], None]] = []
        self._move_hooks: list[Callable[[datetime], None]] = []
        self._held_sources: list[Callable[[], Iterable[Timer]]] = []
        if mode == REAL:
            self._start_thread()

    # --- reading --------------------------------------------------------------------------
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def mode(self) -> str:
        return self._mode

    def now(self) -> datetime:
        """The current virtual instant (aware UTC, microsecond precision)."""
        mode, virtual, wall = self._reading
        if mode == MANUAL:
            return virtual
        return virtual + timedelta(seconds=self._wall() - wall)

    def now_ms(self) -> int:
        now = self.now()
        return int(now.timestamp() * 1000)

    # --- timers ---------------------------------------------------------------------------
    def set_dispatch(self, dispatch: Dispatcher) -> None:
        """Who is handed each timer as it falls due (the engine's table from kind to handler)."""
        with self._lock:
            self._dispatch = dispatch

    def next_seq(self) -> int:
        """A place in the scheduling order, for an entry scheduled later with ``call_at(seq=)``:
        a registry that keeps many due instants off the heap (the batched deletions) puts each
        on the clock in its turn, ordered as if it had been scheduled when it was made."""
        with self._lock:
            return next(self._seq)

    def call_at(self, due: datetime, kind: str, workspace: str = "", subject: str = "",
                seq: int | None = None) -> Timer:
        """Schedule ``kind`` for ``subject`` at the virtual instant ``due`` (ties in ``due`` fire
        in the order of ``seq``: by default, now)."""
        with self._lock:
            timer = Timer(utc(due), next(self._seq) if seq is None else seq, kind, workspace, subject)
            heapq.heappush(self._timers, (timer.due, timer.seq, timer))
            if len(self._timers) >= self._compact_at:
                self._compact()
            if self._mode == REAL and self._timers[0][2] is timer:
                self._wake.notify_all()  # the real-mode thread sleeps until the earliest timer
            return timer

    def call_later(self, seconds: float, kind: str, workspace: str = "", subject: str = "") -> Timer:
        """Schedule ``kind`` for ``subject`` ``seconds`` from now."""
        return self.call_at(self.now() + timedelta(seconds=seconds), kind, workspace, subject)

    def pending(self, *, held: bool = True) -> list[Timer]:
        """The timers not yet fired nor cancelled, in due order: those on the heap and (unless
        ``held=False``) those their owners hold off it (``hold``)."""
        with self._lock:
            timers = [t for _, _, t in self._timers if not t.cancelled]
            if held:
                for source in self._held_sources:
                    timers.extend(source())
            return sorted(timers)

    def hold(self, source: Callable[[], Iterable[Timer]]) -> None:
        """``source()`` gives the pending timers its owner keeps off the heap until they are next
        (a workspace's finished-task deletions: only the earliest is on the clock), so that
        ``pending()`` still lists every one."""
        with self._lock:
            self._held_sources.append(source)

    def on_move(self, hook: Callable[[datetime], None]) -> Callable[[], None]:
        """Call ``hook(instant)`` (under the lock, so it must be quick) whenever the virtual instant
        is set: advance, set, each fired timer, reset, restore. Returns a function removing it.
        The bridge to the application's clock (``emulator.apptime``) hangs here."""
        with self._lock:
            self._move_hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._move_hooks:
                    self._move_hooks.remove(hook)
        return remove

    def on_settle(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` after each fired timer, with the lock released (webhook delivery hangs
        here: what a timer caused is delivered, and its answers applied, before time moves on)."""
        with self._lock:
            self._settle_hooks.append(hook)

    def _settle(self) -> None:
        for hook in list(self._settle_hooks):
            try:
                hook()
            except Exception:  # a failing hook must not stop time
                log.exception("clock settle hook failed")

    def replace_timers(self, instant: datetime, timers: list[Timer]) -> None:
        """Stand at ``instant`` with exactly ``timers`` pending (restoring a checkpoint; the
        instant may be earlier than now, since a checkpoint is a rewind)."""
        with self._lock:
            self._timers = [(timer.due, timer.seq, timer) for timer in timers if not timer.cancelled]
            heapq.heapify(self._timers)
            self._seq = itertools.count(max((seq for _, seq, _ in self._timers), default=-1) + 1)
            self._move_to(utc(instant))
            self._wake.notify_all()

    def rewind(self, instant: datetime, timers: Sequence[tuple[datetime, str, str, str]] = ()) -> list[Timer]:
        """Drop every timer and stand at ``instant``, which may be earlier than now, with exactly
        ``timers`` (``(due, kind, workspace, subject)``, in firing order) pending: restoring a
        checkpoint. The new entries, in the same order."""
        with self._lock:
            self._seq = itertools.count()
            made = [Timer(utc(due), next(self._seq), kind, workspace, subject)
                    for due, kind, workspace, subject in timers]
            self._timers = [(timer.due, timer.seq, timer) for timer in made]
            heapq.heapify(self._timers)
            self._compact_at = max(COMPACT_MINIMUM, 2 * len(self._timers))
            self._move_to(utc(instant))
            self._wake.notify_all()
            return made

    def reset(self, instant: datetime | str | None = None) -> None:
        """Drop every timer and stand at ``instant`` (by default the current wall-clock second),
        as if just made; the mode, the lock and the settle hooks stay."""
        with self._lock:
            if isinstance(instant, str):
                instant = parse_instant(instant)
            if instant is None:
                instant = datetime.fromtimestamp(int(self._wall()), tz=timezone.utc)
            self._timers.clear()
            self._seq = itertools.count()
            self._move_to(utc(instant))
            self._wake.notify_all()

    def clear(self) -> None:
        """Drop every timer (used by a full reset)."""
        with self._lock:
            self._timers.clear()

    # --- moving time ----------------------------------------------------------------------
    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds``, firing every timer due on the way, in order."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        return self.set(self.now() + timedelta(seconds=seconds))

    def set(self, instant: datetime | str) -> datetime:
        """Move time to ``instant`` (not backwards), firing due timers in order."""
        if isinstance(instant, str):
            instant = parse_instant(instant)
        target = utc(instant)
        if target > LATEST:
            raise ValueError(f"the clock cannot go past {LATEST.isoformat()}")
        with self._lock:
            if target < self.now():
                raise ValueError("the clock cannot go backwards")
        # One timer at a time under the lock, then the settle hooks outside it, so that
        # callbacks a timer caused are delivered (and their answers applied) before the next.
        while self._fire_next(target):
            self._settle()
        with self._lock:
            if target > self.now():
                self._move_to(target)
            self._wake.notify_all()
            return self.now()

    def fire_due(self) -> datetime:
        """Fire every timer already due, in order, and return the instant they were due by. The
        real-mode thread does this on its own; a caller that must know that nothing due is left
        pending before it acts (the server's journal, under the lock) calls it first."""
        with self._lock:
            limit = self.now()
        while self._fire_next(limit):
            self._settle()
        return limit

    def set_mode(self, mode: str) -> None:
        """Switch between ``manual`` and ``real``; the virtual instant is kept."""
        if mode not in MODES:
            raise ValueError(f"clock mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            now = self.now()
            self._mode = mode
            self._move_to(now)  # (publishes the new mode to now())
            if mode == REAL:
                self._start_thread()
            self._wake.notify_all()

    def stop(self) -> None:
        """Stop the real-mode thread (the clock still answers ``now``)."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    # --- internals ------------------------------------------------------------------------
    def _move_to(self, instant: datetime) -> None:
        self._anchor_virtual = instant
        self._anchor_wall = self._wall()
        self._reading = (self._mode, instant, self._anchor_wall)
        for hook in self._move_hooks:
            hook(instant)

    def _compact(self) -> None:
        # A cancelled timer stays in the heap until its due time (cancelling is just a flag), and
        # a busy workspace cancels most of what it schedules (reservation timeouts, target
        # timeouts, TTLs); dropping them when the heap doubles keeps memory to the live ones at
        # an amortised constant cost per timer.
        self._timers = [entry for entry in self._timers if not entry[2].cancelled]
        heapq.heapify(self._timers)
        self._compact_at = max(COMPACT_MINIMUM, 2 * len(self._timers))

    def _pop_due(self, limit: datetime) -> Timer | None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if timers and timers[0][0] <= limit:
            return heapq.heappop(timers)[2]
        return None

    def _fire_next(self, limit: datetime) -> bool:
        # Each timer runs with the clock standing at its own due time, so anything it
        # schedules or stamps is placed exactly; timers it adds before ``limit`` fire too.
        with self._lock:
            timer = self._pop_due(limit)
            if timer is None:
                return False
            if timer.due > self.now():
                self._move_to(timer.due)
            self._dispatch(timer)
            return True

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="taskrouter-emulator-clock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped or self._mode != REAL:
                    return
                now = self.now()
                timer = self._pop_due(now)
                if timer is None:
                    wait = None
                    if self._timers:
                        wait = max(0.0, (self._timers[0][0] - now).total_seconds())
                    self._wake.wait(timeout=min(wait, 1.0) if wait is not None else 1.0)
                    continue
                try:
                    self._dispatch(timer)
                except Exception:  # a failing timer must not stop the clock
                    log.exception("timer %s failed", timer.name)
            self._settle()

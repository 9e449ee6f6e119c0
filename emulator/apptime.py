"""The bridge from the virtual clock to the application's clock (opt-in).

An application that reads ``datetime.now()`` or ``time.time()`` and the emulator's virtual clock
drift apart: the test moves the emulator by hours while the application still lives in the wall
clock's present. While the bridge is on, the application's notion of now *is* the virtual
clock's: it starts at the virtual instant and moves exactly when the virtual clock moves
(``clock.advance``, ``clock.set``, each timer fired on the way, ``reset``, ``restore``).

It uses time-machine when installed, else freezegun (``library=`` chooses). Its limits:

- Manual clock only: in real mode the virtual clock follows the wall clock, which the bridge
  would freeze.
- Time stands still between moves of the virtual clock, for the application and for the test.
- Process-wide: every thread and library sees the frozen time, while the bridge is on.
- time-machine patches ``datetime.now()``/``utcnow()``, ``date.today()``, ``time.time()``,
  ``time.gmtime()``, ``time.localtime()``, ``time.strftime()`` but not ``time.monotonic()`` or
  ``time.perf_counter()``. freezegun patches those too (timeouts measured with them stand still),
  except in the emulator's own code and in threading, which it is told to ignore.
- Neither reaches code that reads the time outside Python (a database's ``now()``, another
  process such as a Node application).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from .clock import MANUAL, Clock

LIBRARIES = ("time_machine", "freezegun")


def available() -> list[str]:
    """The time libraries installed, in the order the bridge prefers them."""
    return [name for name in LIBRARIES if importlib.util.find_spec(name) is not None]


class AppTime:
    """Keeps the application's now equal to ``clock``'s virtual instant while it is on.

    A context manager (``with emu.app_time():``); ``start()`` / ``stop()`` do the same."""

    def __init__(self, clock: Clock, library: str | None = None) -> None:
        if library is not None and library not in LIBRARIES:
            raise ValueError(f"library must be one of {', '.join(LIBRARIES)}, not {library!r}")
        self.clock = clock
        self.library = library
        self._stop: Callable[[], None] | None = None
        self._remove_hook: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        return self._stop is not None

    def start(self) -> AppTime:
        if self._stop is not None:
            return self
        if self.clock.mode != MANUAL:
            raise ValueError("the application clock follows only a manual virtual clock: in real mode the virtual "
                             "clock follows the wall clock, which the bridge would freeze")
        library = self.library or next(iter(available()), None)
        if library is None:
            raise RuntimeError("keeping the application's now on the virtual clock needs time-machine or freezegun: "
                               "pip install time-machine (or freezegun)")
        now = self.clock.now()
        move: Callable[[datetime], object]
        if library == "time_machine":
            import time_machine

            traveller = time_machine.travel(now, tick=False)
            coordinates = traveller.start()
            move, stop = coordinates.move_to, traveller.stop
        else:
            import freezegun

            # the emulator's own deadlines and threading keep the real monotonic time
            freezer = freezegun.freeze_time(now, tick=False, ignore=["emulator", "threading"])
            factory = freezer.start()
            move, stop = factory.move_to, freezer.stop
        self.library = library
        self._remove_hook = self.clock.on_move(move)
        self._stop = stop
        return self

    def stop(self) -> None:
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()

    def __enter__(self) -> AppTime:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

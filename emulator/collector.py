"""The cyclic garbage collector and the emulator's long-lived state: where the choice lives.

A routed task leaves records behind for as long as the workspace keeps them (the task for five
minutes after it ends, its reservations with it, its events for 30 days). Every full pass of
CPython's cyclic collector scans every tracked object of the process, and full passes come each
time the tracked objects grow by a quarter, so a workspace that keeps 100,000 tasks' records pays
for their rescanning again and again: the routing cost per task grows with what is kept.

The engine is a library and runs inside other programs (a test suite, an application's own load
test): it never changes the collector's settings, which are the whole process's. What it does is
give the collector less to scan: records name one another by SID rather than hold one another,
hold no per-record empty containers (a reservation's instructions are a shared empty tuple until
it gets one), and the finished tasks' deletions are one clock entry per workspace rather than one
per task.

The collector's settings belong to whoever owns the process:

- the standalone server (``taskrouter-emulator serve``) owns its process and calls
  ``tune_garbage_collector`` at start-up;
- a program that runs the emulator in-process and builds a large state (a load test, the
  benchmarks) may call it itself, once its setup is built, knowing it is process-wide;
- the pytest plugin and ``TaskRouterEmulator`` never call it (a test suite's emulators are small
  and short-lived, and the suite's process is not theirs to tune).
"""

from __future__ import annotations

import gc

# The youngest generation's threshold (Python's default is 700): a busy workspace allocates records
# by the thousand, and each young collection that survives pushes the older generations towards a
# full scan of every long-lived record.
GC_YOUNG_THRESHOLD = 100_000


def tune_garbage_collector() -> None:
    """Process-wide, for a process that is the emulator's (or that says so): every object alive
    now (modules, a restored state, a built workspace, and the calling program's own objects) is
    moved out of the cyclic collector's reach for good (``gc.freeze``), and young collections run
    less often, so a large workspace is not rescanned again and again. The collector still runs,
    just less often. (``make bench`` measures routing with and without this.)"""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)

"""Routing engine benchmark (``make bench``): N tasks routed to M workers with skill expressions,
every reservation accepted and its task completed, driving the engine directly (Backend and
Workspace API, no HTTP: the point is the engine's own cost).

The workspace has 10 skill queues (``TargetWorkers: skills HAS 'skillK'``); each worker has two
skills, so it belongs to two queues; the workflow sends a task to the queue of its ``skill``
attribute through one filter per skill, and each target also evaluates a worker expression
(``worker.level >= task.min_level``, which every member passes: a target expression that turns
away the tasks at the head of a queue costs one look per task turned away, in TaskRouter's
model as here). All tasks are created first, so most of them wait (the backlog reaches N - M);
then each offer is accepted and its task completed, which frees the worker for the next task of
its queues.

Printed per size (best of two runs by CPU): time per task (µs wall and CPU, creation to completion,
everything included: events too), resident memory each finished task keeps (KB/task) and peak
memory (the run's peak RSS, and its growth over the process before the workspace was built).
Then two growth checks, each against a baseline of the same N x M: (a) with many extra tasks
waiting in an unrelated queue, (b) with many extra available workers outside the tasks'
queues (best of two interleaved runs each). A per-task ratio near 1.0 means the cost per task
does not grow with them.

Each measurement runs in a fresh interpreter so peak memory belongs to it alone.

Usage: python benchmarks/routing.py [--quick] [--sizes 1000x100,10000x1000]
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import resource
import subprocess
import sys
import time

SKILLS = 10
ACCOUNT = "AC" + "b" * 32
FULL_SIZES = ((1_000, 100), (10_000, 100), (10_000, 1_000), (100_000, 1_000))
QUICK_SIZES = ((1_000, 100), (10_000, 100))
GROWTH_BASE = (10_000, 100)
PARKED_TASKS = 50_000
OUTSIDE_WORKERS = 5_000
GROWTH_REPEATS = 2
SIZE_REPEATS = 2


def rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def current_rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(tasks: int, workers: int, parked: int, outside: int, callbacks: bool = False,
            server_gc: bool = False) -> dict:
    """Build the workspace, route and accept ``tasks`` tasks; return the figures.

    With ``callbacks`` the workspace has an EventCallbackUrl and every event callback is
    captured in a webhooks inbox, as the ``taskrouter`` fixture does."""
    from emulator.engine.backend import Backend
    from emulator.engine.updates import ReservationUpdate

    before = rss_mb()
    backend = Backend(seed=7)
    webhooks = None
    if callbacks:
        from emulator.webhooks import Webhooks
        webhooks = Webhooks(backend)
    ws = backend.create_workspace(ACCOUNT, "Routing benchmark",
                                  event_callback_url="https://example.com/events" if callbacks else None)
    available = next(a.sid for a in ws.activities.values() if a.available)
    queues = [ws.create_task_queue(f"Skill {k}", target_workers=f"skills HAS 'skill{k}'") for k in range(SKILLS)]
    parked_queue = ws.create_task_queue("Parked", target_workers="skills HAS 'parked'")
    filters = [{"filter_friendly_name": f"skill{k}", "expression": f"skill == 'skill{k}'",
                "targets": [{"queue": q.sid, "expression": "worker.level >= task.min_level"}]}
               for k, q in enumerate(queues)]
    filters.append({"filter_friendly_name": "parked", "expression": "skill == 'parked'",
                    "targets": [{"queue": parked_queue.sid}]})
    workflow = ws.create_workflow("Skills", json.dumps({"task_routing": {"filters": filters}}))
    for i in range(workers):
        ws.create_worker(f"agent{i}", activity_sid=available, attributes=json.dumps(
            {"skills": [f"skill{i % SKILLS}", f"skill{(i + 1) % SKILLS}"], "level": i % 5}))
    for i in range(outside):
        ws.create_worker(f"outsider{i}", activity_sid=available, attributes='{"skills": ["other"], "level": 4}')
    for _ in range(parked):
        ws.create_task(attributes='{"skill": "parked"}', workflow_sid=workflow.sid)

    offers: collections.deque = collections.deque()

    def on_event(workspace, event) -> None:
        if event.event_type == "reservation.created":
            offers.append(event.resource_sid)

    backend.subscribe(on_event)
    # What setup built (workers, parked tasks) stays out of the cyclic collector's way, so the
    # figures are the engine's cost and not the interpreter's scanning of the setup's objects.
    gc.collect()
    gc.freeze()
    if server_gc:  # the collector as the standalone server tunes it
        from emulator.collector import tune_garbage_collector
        tune_garbage_collector()
    resident = current_rss_mb() if os.path.exists("/proc/self/statm") else 0.0
    accept = ReservationUpdate(reservation_status="accepted")
    start = time.perf_counter()
    cpu = time.process_time()
    created = [ws.create_task(attributes=json.dumps({"skill": f"skill{i % SKILLS}", "min_level": 0}),
                              workflow_sid=workflow.sid).sid for i in range(tasks)]
    done = 0
    while offers:
        reservation = ws.reservations[offers.popleft()]
        ws.update_reservation(reservation, accept)
        ws.update_task(reservation.task_sid, assignment_status="completed")
        if webhooks is not None:
            webhooks.flush()
        done += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    unfinished = sum(1 for sid in created if ws.tasks[sid].assignment_status != "completed")
    if done != tasks or unfinished:
        raise SystemExit(f"routing went wrong: {done} accepted, {unfinished} of {tasks} not completed")
    peak = rss_mb()
    # what the finished tasks keep (tasks, reservations, events, callbacks): resident memory now
    # over resident memory before the first task, per task
    retained = (current_rss_mb() - resident) if resident else 0.0
    return {"tasks": tasks, "workers": workers, "parked": parked, "outside": outside, "callbacks": callbacks,
            "us_per_task": elapsed / tasks * 1e6, "cpu_us_per_task": cpu / tasks * 1e6, "seconds": elapsed,
            "peak_mb": peak, "growth_mb": peak - before, "kb_per_task": retained * 1024 / tasks}


def run_child(tasks: int, workers: int, parked: int = 0, outside: int = 0, callbacks: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", f"{tasks},{workers},{parked},{outside},{int(callbacks)}"],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             p for p in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         os.environ.get("PYTHONPATH")) if p)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        n, _, m = part.strip().lower().partition("x")
        sizes.append((int(n.replace("_", "")), int(m.replace("_", ""))))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the two smallest sizes")
    parser.add_argument("--sizes", help="comma-separated NxM list, e.g. 1000x100,10000x1000")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        parts = [int(x) for x in args.one.split(",")]
        tasks, workers, parked, outside, callbacks, server_gc = parts + [0] * (6 - len(parts))
        print(json.dumps(measure(tasks, workers, parked, outside, bool(callbacks), bool(server_gc))))
        return
    sizes = parse_sizes(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    print(f"Routing engine: N tasks x M workers, {SKILLS} skill queues, accept and complete each task")
    print(f"{'N tasks':>9} {'M workers':>10} {'us/task':>9} {'CPU us':>7} {'total s':>8} {'peak MB':>8} "
          f"{'growth MB':>10} {'KB/task':>8}")
    for tasks, workers in sizes:
        r = min((run_child(tasks, workers) for _ in range(SIZE_REPEATS)), key=lambda r: r["cpu_us_per_task"])
        print(f"{tasks:>9,} {workers:>10,} {r['us_per_task']:>9.1f} {r['cpu_us_per_task']:>7.1f} {r['seconds']:>8.2f} "
              f"{r['peak_mb']:>8.0f} {r['growth_mb']:>10.0f} {r['kb_per_task']:>8.3f}", flush=True)
    tasks, workers = GROWTH_BASE
    # interleaved repeats, best of each, so a busy machine skews the ratios less
    runs: dict = {"base": [], "parked": [], "outside": []}
    for _ in range(GROWTH_REPEATS):
        runs["base"].append(run_child(tasks, workers))
        runs["parked"].append(run_child(tasks, workers, parked=PARKED_TASKS))
        runs["outside"].append(run_child(tasks, workers, outside=OUTSIDE_WORKERS))
    base, parked, outside = (min(runs[k], key=lambda r: r["us_per_task"]) for k in ("base", "parked", "outside"))
    print(f"Growth checks at {tasks:,} x {workers:,} (per-task time vs. the baseline's "
          f"{base['us_per_task']:.1f} us; ~1.0 = no growth):")
    print(f"  (a) {PARKED_TASKS:>6,} extra tasks waiting in an unrelated queue: "
          f"{parked['us_per_task']:.1f} us/task, ratio {parked['us_per_task'] / base['us_per_task']:.2f}")
    print(f"  (b) {OUTSIDE_WORKERS:>6,} extra available workers outside the queues: "
          f"{outside['us_per_task']:.1f} us/task, ratio {outside['us_per_task'] / base['us_per_task']:.2f}")


if __name__ == "__main__":
    main()

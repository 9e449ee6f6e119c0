"""Snapshot benchmark: for N tasks with their events, the time to take a snapshot, to restore it,
and how long the engine lock was held by each, beside a floor measured in the same run (the
document's own ``json.dumps`` + ``json.loads``: moving the same data, with no emulator in between).

Scenario: 100 workers in one queue; N tasks created, each offered, accepted and completed, the
clock standing still, so every task, reservation and event is still there (and a deletion timer
per task pending) when the snapshot is taken.

Usage: python benchmarks/snapshot.py [--tasks N] [--json]
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator import snapshot
from emulator.clock import MANUAL, Clock
from emulator.engine.backend import Backend
from emulator.engine.updates import ReservationUpdate

ACCOUNT = "AC" + "d" * 32


def build(tasks: int) -> Backend:
    backend = Backend(clock=Clock(MANUAL, start="2026-01-01T00:00:00Z"), seed=11)
    ws = backend.create_workspace(ACCOUNT, "Snapshot bench")
    available = next(a.sid for a in ws.activities.values() if a.available)
    queue = ws.create_task_queue("All", target_workers="1==1")
    workflow = ws.create_workflow("Flow", json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}))
    for i in range(100):
        ws.create_worker(f"agent{i}", activity_sid=available, attributes=json.dumps({"n": i}))
    offers: collections.deque = collections.deque()
    backend.subscribe(lambda w, e: offers.append(e.resource_sid) if e.event_type == "reservation.created" else None)
    accept = ReservationUpdate(reservation_status="accepted")
    for i in range(tasks):
        ws.create_task(attributes=json.dumps({"n": i, "topic": "billing"}), workflow_sid=workflow.sid)
        while offers:
            reservation = ws.reservations[offers.popleft()]
            ws.update_reservation(reservation, accept)
            ws.update_task(reservation.task_sid, assignment_status="completed")
    return backend


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def best(fn, runs: int = 3):
    results = [timed(fn) for _ in range(runs)]
    return min(results, key=lambda r: r[2])


def measure(tasks: int) -> dict:
    backend = build(tasks)
    ws = next(iter(backend.workspaces(ACCOUNT).values()))
    gc.collect()
    take_lock: dict = {}
    document, take_ms, take_cpu = best(lambda: snapshot.take(backend, timings=take_lock))
    text, dumps_ms, dumps_cpu = best(lambda: json.dumps(document))
    _, loads_ms, loads_cpu = best(lambda: json.loads(text))
    _, check_ms, check_cpu = best(lambda: snapshot.check(document), runs=1)
    target = Backend(clock=Clock(MANUAL, start="2030-01-01T00:00:00Z"), seed=1)
    restore_lock: dict = {}
    _, restore_ms, restore_cpu = best(lambda: snapshot.restore(target, document, timings=restore_lock), runs=2)
    restored = next(iter(target.workspaces(ACCOUNT).values()))
    if (len(restored.tasks), len(restored.events), len(target.clock.pending())) != \
            (len(ws.tasks), len(ws.events), len(backend.clock.pending())):
        raise SystemExit("the restored state differs from the original")
    return {"tasks": len(ws.tasks), "events": len(ws.events), "reservations": len(ws.reservations),
            "timers": len(backend.clock.pending()), "document_mb": len(text) / 2**20,
            "take_ms": take_ms, "take_cpu_ms": take_cpu, "take_lock_ms": take_lock["lock_ms"],
            "restore_ms": restore_ms, "restore_cpu_ms": restore_cpu, "restore_lock_ms": restore_lock["lock_ms"],
            "schema_check_ms": check_ms, "floor_dumps_ms": dumps_ms, "floor_dumps_cpu_ms": dumps_cpu,
            "floor_loads_ms": loads_ms, "floor_loads_cpu_ms": loads_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="one JSON line (for run.py)")
    args = parser.parse_args()
    r = measure(args.tasks)
    if args.json:
        print(json.dumps(r))
        return
    print(f"Snapshot of {r['tasks']:,} tasks with their {r['events']:,} events, {r['reservations']:,} reservations "
          f"and {r['timers']:,} timers ({r['document_mb']:.1f} MB of JSON); best of runs, wall / CPU:")
    print(f"  take     {r['take_ms']:8.1f} / {r['take_cpu_ms']:8.1f} ms   engine lock held {r['take_lock_ms']:6.2f} ms"
          f"   floor json.dumps {r['floor_dumps_ms']:.1f} / {r['floor_dumps_cpu_ms']:.1f} ms"
          f"   ratio {r['take_cpu_ms'] / r['floor_dumps_cpu_ms']:.2f} (CPU)")
    print(f"  restore  {r['restore_ms']:8.1f} / {r['restore_cpu_ms']:8.1f} ms   engine lock held "
          f"{r['restore_lock_ms']:6.2f} ms   floor json.loads {r['floor_loads_ms']:.1f} / {r['floor_loads_cpu_ms']:.1f} ms"
          f"   ratio {r['restore_cpu_ms'] / r['floor_loads_cpu_ms']:.2f} (CPU)")
    print(f"  of which the schema check {r['schema_check_ms']:.1f} ms")


if __name__ == "__main__":
    main()

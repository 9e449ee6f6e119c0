"""Statistics benchmark (``make bench``): how long the *Statistics operations take on a big workspace.

The workspace: 10 queues, 1,000 workers, a 10,000-task backlog (pending, reserved and assigned), and
behind it a week of history (by default 20,000 tasks created, reserved, accepted and completed, one
every 30 s of virtual time: about 160,000 events). Each figure is the median of repeated calls, in
the engine alone and through the real twilio client in-process (HTTP layer, strict schema off); the
first query after the history was written is shown apart (it digests the event log once).

Usage: python benchmarks/statistics.py [--history N] [--backlog N] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator.clock import MANUAL, Clock
from emulator.engine import statistics as stats
from emulator.engine.backend import Backend
from emulator.engine.updates import ReservationUpdate
from emulator.http import create_app
from emulator.mock import InProcessAdapter

ACCOUNT = "AC" + "a" * 32
ACCEPT = ReservationUpdate(reservation_status="accepted")
QUEUES = 10


def build(history: int, backlog: int, workers: int):
    clock = Clock(MANUAL, start="2026-01-01T00:00:00Z")
    backend = Backend(clock=clock, seed=7)
    ws = backend.create_workspace(ACCOUNT, "Bench")
    acts = {a.friendly_name: a.sid for a in ws.activities.values()}
    queues = [ws.create_task_queue(f"q{i}", target_workers=f"skills HAS 'q{i}'") for i in range(QUEUES)]
    config = {"task_routing": {"filters": [{"expression": f"queue == 'q{i}'", "targets": [{"queue": q.sid}]}
                                           for i, q in enumerate(queues)],
                               "default_filter": {"queue": queues[0].sid}}}
    wf = ws.create_workflow("Main", json.dumps(config))

    def attrs(i: int) -> str:
        return json.dumps({"skills": [f"q{i % QUEUES}"]})

    # a week of history: few agents, tasks answered one by one
    agents = [ws.create_worker(f"agent{i}", attributes=attrs(i), activity_sid=acts["Available"]) for i in range(20)]
    for n in range(history):
        task = ws.create_task(attributes=json.dumps({"queue": f"q{n % QUEUES}"}), workflow_sid=wf.sid,
                              task_channel="voice" if n % 3 == 0 else None)
        clock.advance(10)
        reservation = next((r for r in ws.reservations.values()
                            if r.task_sid == task.sid and r.reservation_status == "pending"), None)
        if reservation is not None:
            ws.update_reservation(reservation, ACCEPT)
            clock.advance(15)
            ws.update_task(task.sid, assignment_status="completed")
        else:
            ws.update_task(task.sid, assignment_status="canceled")
        clock.advance(5)
    for agent in agents:
        ws.update_worker(agent.sid, activity_sid=acts["Offline"])
    # the backlog waits while everybody is offline, then 100 workers log in and take some
    for n in range(backlog):
        ws.create_task(attributes=json.dumps({"queue": f"q{n % QUEUES}"}), workflow_sid=wf.sid, priority=n % 5)
    more = [ws.create_worker(f"worker{i}", attributes=attrs(i)) for i in range(workers - len(agents))]
    for i, worker in enumerate(more[:100]):
        ws.update_worker(worker.sid, activity_sid=acts["Available"])
        if i % 2 == 0:
            reservation = next((r for r in ws.reservations.values()
                                if r.worker_sid == worker.sid and r.reservation_status == "pending"), None)
            if reservation is not None:
                ws.update_reservation(reservation, ACCEPT)
        clock.advance(1)
    return backend, ws, queues, wf, more


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000  # (this file shadows the statistics module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=20_000, help="tasks in the week of history")
    parser.add_argument("--backlog", type=int, default=10_000, help="tasks in the system now")
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="only the first and a later query, as JSON")
    args = parser.parse_args()
    if args.json:
        backend, ws, *_ = build(args.history, args.backlog, args.workers)
        events = len(ws.events)
        wall, cpu = time.perf_counter(), time.process_time()
        stats.history(ws)
        first = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
        later = median_ms(lambda: stats.workspace_cumulative(ws, stats.window(ws, start_date=ws.now() - timedelta(days=7))),
                          args.repeat)
        print(json.dumps({"events": events, "first_ms": first[0], "first_cpu_ms": first[1], "later_ms": later}))
        return

    started = time.perf_counter()
    backend, ws, queues, wf, workers = build(args.history, args.backlog, args.workers)
    built = time.perf_counter() - started
    now = ws.now()
    print(f"workspace: {len(ws.tasks)} tasks, {len(ws.workers)} workers, {len(ws.events)} events "
          f"over {(now - ws.date_created).days} days (built in {built:.1f} s)")
    cold = time.perf_counter()
    stats.history(ws)
    print(f"first query: digesting the event log once: {(time.perf_counter() - cold) * 1000:.1f} ms")
    print(f"tasks now: {stats.workspace_realtime(ws, None)['tasks_by_status']}")
    week = stats.window(ws, start_date=now - timedelta(days=7))
    recent = stats.window(ws)

    engine = [
        ("workspace real-time", lambda: stats.workspace_realtime(ws, None)),
        ("task queue real-time", lambda: stats.queue_realtime(ws, queues[3].sid, None)),
        ("bulk real-time, 10 queues", lambda: stats.queues_realtime(ws, [q.sid for q in queues], None)),
        ("workers real-time", lambda: stats.workers_realtime(ws, None)),
        ("workspace cumulative, 15 min", lambda: stats.workspace_cumulative(ws, recent)),
        ("workspace cumulative, 7 days", lambda: stats.workspace_cumulative(ws, week)),
        ("task queue cumulative, 7 days", lambda: stats.queue_cumulative(ws, queues[3].sid, week)),
        ("workers cumulative, 7 days", lambda: stats.workers_cumulative(ws, week)),
        ("one worker cumulative, 7 days", lambda: stats.worker_cumulative(ws, workers[0].sid, week)),
    ]
    print(f"\nengine (median of {args.repeat}):")
    for name, fn in engine:
        print(f"  {name:34s} {median_ms(fn, args.repeat):8.2f} ms")

    app = create_app(backend)
    http_client = TwilioHttpClient()
    http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(app))
    w = Client(ACCOUNT, "token", http_client=http_client).taskrouter.v1.workspaces(ws.sid)
    start = now - timedelta(days=7)
    through = [
        ("workspace real-time", lambda: w.real_time_statistics().fetch()),
        ("task queue real-time", lambda: w.task_queues(queues[3].sid).real_time_statistics().fetch()),
        ("workspace statistics (both), 15 min", lambda: w.statistics().fetch()),
        ("workspace cumulative, 7 days", lambda: w.cumulative_statistics().fetch(start_date=start)),
        ("task queue statistics, 7 days", lambda: w.task_queues(queues[3].sid).statistics().fetch(start_date=start)),
        ("workers statistics, 7 days", lambda: w.workers.statistics().fetch(start_date=start)),
        ("list of task queue statistics", lambda: w.task_queues.statistics.list()),
    ]
    print(f"\nthrough the twilio client, in-process (median of {args.repeat}):")
    for name, fn in through:
        print(f"  {name:34s} {median_ms(fn, args.repeat):8.2f} ms")


if __name__ == "__main__":
    main()

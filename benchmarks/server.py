"""Server benchmarks: write throughput with the ``--state-file`` journal off and on, and callback
delivery lag at a steady rate of task creates with a slow receiver beside a healthy one.

Each figure comes from a real ``python -m emulator serve`` process driven over loopback HTTP with
keep-alive connections; the server process's CPU time (from /proc) is reported beside wall time.

- writes: ``THREADS`` clients create tasks as fast as the server answers for ``--seconds``;
  journal off (the floor), ``--state-sync everysec`` and ``--state-sync always``.
- lag: tasks are created at ``--rate`` a second (paced) in a workspace whose callbacks go to a
  healthy receiver, while a second workspace sends its callbacks to a receiver that answers each
  one after ``--slow`` seconds; lag is the time from the create's answer to the healthy receiver
  getting its ``task.created`` callback. The floor is the same run with no slow receiver.

Usage: python benchmarks/server.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics as stats_module  # noqa: F401  (the standard module; this folder has a statistics.py)
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import requests  # noqa: E402
from flask import Flask, request  # noqa: E402

from emulator.server import Server  # noqa: E402

ACCOUNT = "AC" + "a" * 32
AUTH = (ACCOUNT, "token")
THREADS = 4
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _serve(*options: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--clock", "real", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start")
        if line.startswith("TaskRouter emulator "):
            return proc, line.split(" serving on ")[1].split()[0]


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def _workspace(url: str, name: str, callback: str | None = None) -> str:
    data = {"FriendlyName": name, "Template": "FIFO"}
    if callback:
        data["EventCallbackUrl"] = callback
    return requests.post(f"{url}/v1/Workspaces", data=data, auth=AUTH, timeout=10).json()["sid"]


def writes(seconds: float, *options: str) -> dict:
    """Task creates a second by THREADS keep-alive clients, and server CPU ms per write."""
    proc, url = _serve("--webhooks", "capture", *options)
    try:
        ws = _workspace(url, "Writes")
        counts = [0] * THREADS
        stop = threading.Event()

        def client(n: int) -> None:
            session = requests.Session()
            while not stop.is_set():
                answer = session.post(f"{url}/v1/Workspaces/{ws}/Tasks", data={"Attributes": '{"n": 1}'},
                                      auth=AUTH, timeout=30)
                assert answer.status_code == 201, answer.text
                counts[n] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # warm: connections open, code paths run once
        done0, cpu0, wall0 = sum(counts), _cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(seconds)
        total = sum(counts) - done0
        wall, cpu = time.perf_counter() - wall0, _cpu_seconds(proc.pid) - cpu0
        stop.set()
        for thread in threads:
            thread.join()
        return {"writes": total, "per_second": total / wall, "cpu_ms_per_write": cpu * 1e3 / total}
    finally:
        _stop(proc)


class _Receiver:
    """A callback receiver that notes when each task's ``task.created`` arrived."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.arrivals: dict[str, float] = {}
        self.count = 0
        app = Flask("receiver")

        @app.post("/events")
        def events():
            self.count += 1
            if request.form.get("EventType") == "task.created":
                self.arrivals[request.form["TaskSid"]] = time.perf_counter()
            if self.delay:
                time.sleep(self.delay)
            return "", 204

        self.server = Server(app, "127.0.0.1", 0).start()


def lag(rate: float, seconds: float, slow: float | None) -> dict:
    """Callback lag (ms) of a healthy receiver at ``rate`` creates a second, with a receiver that
    answers in ``slow`` seconds getting a tenth as many tasks' callbacks beside it."""
    healthy = _Receiver()
    slow_receiver = _Receiver(slow) if slow else None
    proc, url = _serve("--webhooks", "http")
    try:
        ws = _workspace(url, "Healthy", healthy.server.url + "/events")
        slow_ws = _workspace(url, "Slow", slow_receiver.server.url + "/events") if slow_receiver else None
        sent: dict[str, float] = {}
        total = int(rate * seconds)
        next_index = iter(range(total))
        lock = threading.Lock()
        start = time.perf_counter() + 0.2

        def client() -> None:
            session = requests.Session()
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                due = start + i / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                target = slow_ws if slow_ws and i % 10 == 0 else ws
                answer = session.post(f"{url}/v1/Workspaces/{target}/Tasks", data={"Attributes": "{}"},
                                      auth=AUTH, timeout=30)
                if target == ws:
                    sent[answer.json()["sid"]] = time.perf_counter()

        cpu0 = _cpu_seconds(proc.pid)
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        achieved = total / (time.perf_counter() - start)
        deadline = time.perf_counter() + 30
        while len(healthy.arrivals) < len(sent) and time.perf_counter() < deadline:
            time.sleep(0.05)
        cpu = _cpu_seconds(proc.pid) - cpu0
        lags = sorted(max(0.0, healthy.arrivals[sid] - at) * 1e3 for sid, at in sent.items() if sid in healthy.arrivals)
        return {"rate": achieved, "tasks": len(sent), "delivered": len(lags),
                "p50_ms": lags[len(lags) // 2] if lags else None,
                "p95_ms": lags[int(len(lags) * 0.95)] if lags else None, "max_ms": lags[-1] if lags else None,
                "server_cpu_s": cpu, "slow_received": slow_receiver.count if slow_receiver else 0}
    finally:
        _stop(proc)
        healthy.server.stop()
        if slow_receiver:
            slow_receiver.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON line of figures (for run.py)")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per write measure (default 4; quick 2)")
    parser.add_argument("--rate", type=float, default=200.0, help="task creates a second in the lag measure")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds the slow receiver takes per callback")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 4.0)
    # each configuration twice, interleaved, the better run kept (the machine is shared)
    runs: dict[str, list[dict]] = {"off": [], "everysec": [], "always": []}
    with tempfile.TemporaryDirectory() as folder:
        for n in range(1 if args.quick else 2):
            runs["off"].append(writes(seconds))
            for sync in ("everysec", "always"):
                runs[sync].append(writes(seconds, "--state-file", os.path.join(folder, f"{sync}{n}.json"),
                                         "--state-sync", sync))
    off, everysec, always = (max(runs[name], key=lambda r: r["per_second"]) for name in ("off", "everysec", "always"))
    lag_seconds = 3.0 if args.quick else 5.0
    floor = lag(args.rate, lag_seconds, None)
    slowed = lag(args.rate, lag_seconds, args.slow)
    figures = {"off": off, "everysec": everysec, "always": always, "lag_floor": floor, "lag_slow": slowed,
               "rate": args.rate, "slow": args.slow}
    if args.json:
        print(json.dumps(figures))
        return
    for name in ("off", "everysec", "always"):
        f = figures[name]
        print(f"writes, journal {name:8}: {f['per_second']:7.0f}/s  server CPU {f['cpu_ms_per_write']:.2f} ms/write")
    for name in ("lag_floor", "lag_slow"):
        f = figures[name]
        print(f"callback lag, {name}: {f['rate']:.0f} creates/s, {f['delivered']}/{f['tasks']} delivered, "
              f"p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms, max {f['max_ms']:.0f} ms, "
              f"server CPU {f['server_cpu_s']:.1f} s; slow receiver got {f['slow_received']}")


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    main()

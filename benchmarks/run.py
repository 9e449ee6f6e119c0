"""Benchmarks (``make bench``): request latency through the real twilio client, in-process (a
mounted adapter, and the ``responses`` path of ``mock()``) and over loopback HTTP, each beside its
floor (a bare Flask route reached the same way), measured in one run so the ratios hold on a noisy
machine; the per-test cost of the pytest fixture (a TaskRouterEmulator made, mock() entered,
reset, left and closed) beside a bare Flask app with a bare responses mock; server start-up time
and idle memory.

Usage: python benchmarks/run.py [--requests N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time

import requests
import responses
from flask import Flask
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator import TaskRouterEmulator
from emulator.engine.backend import Backend
from emulator.http import create_app
from emulator.mock import EmulatorMock, InProcessAdapter
from emulator.server import Server

ACCOUNT = "AC" + "a" * 32


def floor_app() -> Flask:
    """The cheapest route the same path can reach: the floor under every figure."""
    app = Flask("floor")
    body = json.dumps({"sid": "WS" + "0" * 32})

    @app.route("/v1/Workspaces/<sid>", methods=["GET", "POST"])
    def fetch(sid):
        return app.response_class(body, content_type="application/json")

    return app


def per_call(fn, n: int) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def in_process_client(app) -> Client:
    http_client = TwilioHttpClient()
    http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(app))
    return Client(ACCOUNT, "token", http_client=http_client)


def latency(n: int) -> list[tuple[str, float, float | None]]:
    rows = []
    emulator_client = in_process_client(create_app(Backend(seed=1)))
    floor_client = in_process_client(floor_app())
    ws = emulator_client.taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO")
    ctx = emulator_client.taskrouter.v1.workspaces(ws.sid)
    floor_ctx = floor_client.taskrouter.v1.workspaces("WS" + "0" * 32)
    counter = iter(range(10 ** 9))
    rows.append(("in-process fetch workspace", per_call(ctx.fetch, n), per_call(floor_ctx.fetch, n)))
    rows.append(("in-process create worker",
                 per_call(lambda: ctx.workers.create(friendly_name=f"w{next(counter)}"), n),
                 per_call(lambda: floor_ctx.update(friendly_name="x"), n)))
    # mock(): a plain Client, intercepted by responses; the floor goes through the same EmulatorMock.
    with TaskRouterEmulator(seed=1) as emu, emu.mock():
        client = Client(ACCOUNT, "token")
        ws = client.taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO")
        ctx = client.taskrouter.v1.workspaces(ws.sid)
        fetch = per_call(ctx.fetch, n)
        create = per_call(lambda: ctx.workers.create(friendly_name=f"w{next(counter)}"), n)
    with EmulatorMock(floor_app()):
        floor_ctx = Client(ACCOUNT, "token").taskrouter.v1.workspaces("WS" + "0" * 32)
        rows.append(("mock() fetch workspace", fetch, per_call(floor_ctx.fetch, n)))
        rows.append(("mock() create worker", create, per_call(lambda: floor_ctx.update(friendly_name="x"), n)))
    with Server(create_app(Backend(seed=1)), "127.0.0.1", 0) as server, Server(floor_app(), "127.0.0.1", 0) as floor:
        http_client = Client(ACCOUNT, "token")
        http_client.taskrouter.base_url = server.url
        floor_http = Client(ACCOUNT, "token")
        floor_http.taskrouter.base_url = floor.url
        ws = http_client.taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO")
        ctx = http_client.taskrouter.v1.workspaces(ws.sid)
        floor_ctx = floor_http.taskrouter.v1.workspaces("WS" + "0" * 32)
        rows.append(("loopback fetch workspace", per_call(ctx.fetch, n), per_call(floor_ctx.fetch, n)))
        rows.append(("loopback create worker",
                     per_call(lambda: ctx.workers.create(friendly_name=f"w{next(counter)}"), n),
                     per_call(lambda: floor_ctx.update(friendly_name="x"), n)))
    return rows


def fixture_cost(n: int) -> list[tuple[str, float, float | None]]:
    """What the ``taskrouter`` fixture costs a test: construct, enter mock(), reset, leave, close;
    beside the floor of a bare Flask app and a bare responses mock started and stopped."""

    def emulator_fixture() -> None:
        emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed="bench")
        with emu.mock():
            emu.reset()
        emu.close()

    def floor_fixture() -> None:
        floor_app()
        with responses.RequestsMock(assert_all_requests_are_fired=False):
            pass

    emu = TaskRouterEmulator(seed="bench")

    def reset_only() -> None:
        emu.reset()

    def mock_only() -> None:
        with emu.mock():
            pass

    rows = [("fixture: create+mock+reset+close", per_call(emulator_fixture, n), per_call(floor_fixture, n))]
    rows.append(("  of which create_app()", per_call(lambda: create_app(Backend()), n), per_call(floor_app, n)))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        bare = per_call(lambda: rsps.stop(allow_assert=False) or rsps.start(), n * 10)
    rows.append(("  of which mock() enter+exit", per_call(mock_only, n * 10), bare))
    rows.append(("  of which reset()", per_call(reset_only, n * 10), None))
    emu.close()
    return rows


def startup() -> tuple[float, float]:
    """Seconds from spawning ``python -m emulator serve`` to a healthy answer, and its idle RSS in MiB."""
    port = 18787
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port), "--log-level", "WARNING"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                if time.perf_counter() - start > 30:
                    raise RuntimeError("server did not start in 30 s") from None
                time.sleep(0.01)
        elapsed = time.perf_counter() - start
        time.sleep(0.5)
        with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
            rss_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        return elapsed, rss_kb / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="calls per measurement (default 300)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines in the figures
    print(f"{'measure':34} {'emulator':>12} {'floor':>12} {'ratio':>7}")
    for name, value, floor in latency(args.requests) + fixture_cost(max(20, args.requests // 10)):
        if floor is None:
            print(f"{name:34} {value * 1e3:10.3f}ms")
        else:
            print(f"{name:34} {value * 1e3:10.3f}ms {floor * 1e3:10.3f}ms {value / floor:7.2f}")
    if os.path.exists("/proc/self/status"):
        seconds, mib = startup()
        print(f"server start-up {seconds:.3f} s, idle RSS {mib:.1f} MiB")


if __name__ == "__main__":
    main()

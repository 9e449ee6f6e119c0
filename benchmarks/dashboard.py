"""Dashboard benchmark (``make bench``): what the page costs the emulator, and the browser, as a
workspace grows to 1,000 and 10,000 tasks.

Server side, in-process through the app (the page polls these once a second): the workspace view
(queues with their real-time figures, a page of workers, tasks and reservations) and the state
overview, each beside a floor measured in the same run on the same workspace: the REST list of one
page of 50 tasks (``GET /v1/Workspaces/{ws}/Tasks``), which a person would otherwise poll. The
median of rounds of per-call means, wall and CPU time.

Browser side, when Debian's headless Chromium, its driver and Selenium are installed: the time the
page takes to fetch and to render the workspace view (``window.dashboardTimings``), against the same
page on a 10-task workspace.

Usage: python benchmarks/dashboard.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the browser launch the tests use

from headless_chromium import chromium, installed

from emulator import TaskRouterEmulator


def build(tasks: int, workers: int = 20) -> tuple[TaskRouterEmulator, str]:
    """A workspace with ``workers`` available workers and ``tasks`` tasks (most waiting)."""
    emu = TaskRouterEmulator(seed="dashboard-bench", start="2026-01-01T09:00:00Z")
    client = emu.client()
    created = client.taskrouter.v1.workspaces.create(friendly_name="Bench", template="FIFO")
    ws = client.taskrouter.v1.workspaces(created.sid)
    available = next(a.sid for a in ws.activities.list() if a.friendly_name == "Available")
    workflow = ws.workflows.list()[0].sid
    for n in range(workers):
        ws.workers.create(friendly_name=f"worker {n:04d}", activity_sid=available)
    for n in range(tasks):
        ws.tasks.create(workflow_sid=workflow, attributes=json.dumps({"n": n}))
    emu.clock.advance(5)
    return emu, created.sid


def timed(calls: dict, n: int, rounds: int) -> dict[str, tuple[float, float]]:
    """For each named call, the median over rounds of the mean wall and CPU seconds per call; the
    calls take turns round by round, so a busy moment of the machine falls on all of them."""
    walls: dict[str, list[float]] = {name: [] for name in calls}
    cpus: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                call()
            walls[name].append((time.perf_counter() - wall) / n)
            cpus[name].append((time.process_time() - cpu) / n)
    return {name: (sorted(walls[name])[rounds // 2], sorted(cpus[name])[rounds // 2]) for name in calls}


def server_side(tasks: int, n: int, rounds: int) -> dict:
    emu, ws_sid = build(tasks)
    http = emu.app.test_client()
    view = f"/_emulator/dashboard/accounts/{emu.account_sid}/workspaces/{ws_sid}"
    floor = f"/v1/Workspaces/{ws_sid}/Tasks?PageSize=50"
    auth = {"Authorization": "Basic QUNhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYTp0b2tlbg=="}

    def get(path, headers=None):
        response = http.get(path, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:200]

    figures: dict = {"tasks": tasks, **timed({"view": lambda: get(view),
                                               "state": lambda: get("/_emulator/dashboard/state"),
                                               "floor": lambda: get(floor, auth)}, n, rounds)}
    emu.close()
    return figures


def browser_side(tasks: int, loads: int) -> dict | None:
    try:
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if not installed():
        return None
    results = {}
    with chromium() as driver:
        for size in (10, tasks):
            emu, _ = build(size)
            url = emu.serve().url
            fetches, renders = [], []
            for _ in range(loads):
                driver.get(url + "/")
                timings = WebDriverWait(driver, 30, poll_frequency=0.02).until(lambda d: d.execute_script(
                    "const t = window.dashboardTimings; return t && t.workspaceRenderMs !== null ? t : null"))
                fetches.append(timings["workspaceFetchMs"] / 1e3)
                renders.append(timings["workspaceRenderMs"] / 1e3)
            results[size] = (sorted(fetches)[loads // 2], sorted(renders)[loads // 2])
            emu.close()
    return {"small": 10, "big": tasks, "fetch": (results[tasks][0], results[10][0]),
            "render": (results[tasks][1], results[10][1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 tasks only, fewer rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON line (for benchmarks/run.py)")
    args = parser.parse_args()
    n, rounds = (10, 3) if args.quick else (30, 5)
    sizes = (1000,) if args.quick else (1000, 10000)
    out = {"server": [server_side(size, n, rounds) for size in sizes],
           "browser": browser_side(1000, 3 if args.quick else 5)}
    if args.json:
        print(json.dumps(out))
        return
    for row in out["server"]:
        for name in ("view", "state"):
            wall, cpu = row[name]
            fwall, fcpu = row["floor"]
            print(f"dashboard {name}, {row['tasks']:,} tasks: {wall * 1e3:.2f} ms (CPU {cpu * 1e3:.2f}); "
                  f"floor REST page of 50 tasks {fwall * 1e3:.2f} ms (CPU {fcpu * 1e3:.2f}); "
                  f"ratio {wall / fwall:.2f} (CPU {cpu / fcpu:.2f})")
    if out["browser"]:
        b = out["browser"]
        for name in ("fetch", "render"):
            big, small = b[name]
            print(f"page {name}, {b['big']:,} tasks: {big * 1e3:.1f} ms; {b['small']} tasks: {small * 1e3:.1f} ms; "
                  f"growth {big / small:.2f}")
    else:
        print("page timings: no headless Chromium (make browser) or Selenium; skipped")


if __name__ == "__main__":
    main()

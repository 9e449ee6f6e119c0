"""Benchmarks (``make bench``): one table of the emulator's figures, each beside a floor measured in
the same run, wall time and CPU time side by side (the machine is shared, so CPU time is the
steadier of the two).

Floors:
- in-process: a bare Flask app (one route answering a fixed body: the emulator's own answer to the
  same call, taken from it once at start, so the client parses the same bytes) reached the same way: a
  ``requests`` adapter mounted on the twilio client's session (``client()``), and a bare
  ``responses`` mock calling it (``mock()``); the per-test fixture beside a bare Flask app made and a
  bare ``responses`` mock started and stopped;
- over HTTP: every server runs in a process of its own, started as its users start it, on a free
  port: the emulator through its CLI (``python -m emulator serve``), the floor (``floor.py``: the same
  bare Flask app behind the same server class, started the same way) and Prism (Twilio's
  recommended mock server, ``@stoplight/prism-cli`` through ``npx``, serving the project's copy of
  the OpenAPI description) when ``npx`` is available (``--no-prism`` skips it). The load comes from
  the twilio client in this process (one call at a time for latency; ``THREADS`` threads, each
  with its own client, for throughput) and, when ``wrk`` is installed, from ``wrk`` (C, two
  threads, ``THREADS`` keep-alive connections, the better of two runs), a load generator cheap
  enough that the server, not the client, is what is measured;
- list paging, routing, memory and statistics have no floor: they are shown against their own
  smaller size (growth: a page of 50 tasks at 1,000 tasks against the same page at 10,000 or
  50,000) or as they are.

Every latency is the median over rounds of per-call means, emulator and floor interleaved round by
round. CPU time in-process is the process's; over HTTP it is the client process's plus the server
process tree's (Prism's node processes included), and the throughput rows also show each side
alone. Routing, statistics, the dashboard and the server's write and callback figures run in fresh
interpreters (``routing.py``, ``statistics.py``, ``dashboard.py``, ``server.py``).

Usage: python benchmarks/run.py [--quick] [--requests N] [--rounds N] [--no-prism] [--only PART ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import requests  # noqa: E402
import responses  # noqa: E402
from floor import FLOOR_SID, floor_app  # noqa: E402
from twilio.http.http_client import TwilioHttpClient  # noqa: E402
from twilio.rest import Client  # noqa: E402
from werkzeug.test import Client as WerkzeugClient  # noqa: E402

from emulator import TaskRouterEmulator  # noqa: E402
from emulator.mock import InProcessAdapter  # noqa: E402

ACCOUNT = "AC" + "a" * 32
SPEC = HERE.parent / "emulator" / "openapi" / "twilio_taskrouter_v1.json"
PRISM = "@stoplight/prism-cli@5"
THREADS = 8
BASIC_AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:token".encode()).decode()


# --- floors -----------------------------------------------------------------------------------
def floor_responses(app) -> responses.RequestsMock:
    """A bare ``responses`` mock handing TaskRouter URLs to ``app`` (the floor of ``mock()``)."""
    rsps = responses.RequestsMock(assert_all_requests_are_fired=False)
    client = WerkzeugClient(app)

    def callback(request):
        url = requests.utils.urlparse(request.url)
        answer = client.open(url.path, query_string=url.query, method=request.method,
                             headers=dict(request.headers), data=request.body or b"")
        return answer.status_code, dict(answer.headers), answer.get_data()

    for method in ("GET", "POST"):
        rsps.add_callback(method, re.compile(r"https://taskrouter\.twilio\.com/.*"), callback=callback,
                          content_type=None)
    return rsps


def mounted_client(app) -> Client:
    http_client = TwilioHttpClient()
    http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(app))
    return Client(ACCOUNT, "token", http_client=http_client)


def http_client(base_url: str) -> Client:
    client = Client(ACCOUNT, "token")
    client.region = client.edge = None
    client.taskrouter.base_url = base_url
    return client


# --- timing -----------------------------------------------------------------------------------
class Cpu:
    """CPU seconds of this process, plus those of an external process tree (Prism) when given."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid

    def __call__(self) -> float:
        return time.process_time() + (tree_cpu(self.pid) if self.pid else 0.0)


def tree_cpu(root: int) -> float:
    """User+system CPU seconds of ``root`` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def interleaved(pairs, n: int, rounds: int) -> list[tuple[float, float]]:
    """Per call (wall, CPU) medians for each ``(fn, cpu_clock)`` of ``pairs``, run round-robin."""
    for fn, _ in pairs:
        fn()  # warm
    samples: list[list[tuple[float, float]]] = [[] for _ in pairs]
    for _ in range(rounds):
        for i, (fn, clock) in enumerate(pairs):
            wall, cpu = time.perf_counter(), clock()
            for _ in range(n):
                fn()
            samples[i].append(((time.perf_counter() - wall) / n, (clock() - cpu) / n))
    return [(median([w for w, _ in s]), median([c for _, c in s])) for s in samples]


def median(values: list[float]) -> float:
    # (statistics.median: this folder's statistics.py shadows the standard module)
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def throughput(make_call, per_thread: int, server_pid: int) -> tuple[float, float, float]:
    """Requests per second from THREADS threads of this process, each with its own client; CPU
    seconds per request of this process (the clients) and of the server's process tree."""
    calls = [make_call() for _ in range(THREADS)]
    for call in calls:
        call()
    barrier = threading.Barrier(THREADS + 1)

    def worker(call) -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    wall, client_cpu, server_cpu = time.perf_counter(), time.process_time(), tree_cpu(server_pid)
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - wall
    total = THREADS * per_thread
    return total / elapsed, (time.process_time() - client_cpu) / total, (tree_cpu(server_pid) - server_cpu) / total


def wrk_rate(url: str, seconds: float, server_pid: int) -> tuple[float, float, int]:
    """``wrk`` (C, two threads, THREADS keep-alive connections) fetching ``url`` for ``seconds``:
    requests per second, the server tree's CPU seconds per request, and non-2xx answers."""
    command = ["wrk", "-t2", f"-c{THREADS}", f"-d{seconds:g}s", "-H", f"Authorization: {BASIC_AUTH}", url]
    subprocess.run([*command[:3], "-d1s", *command[4:]], check=True, capture_output=True)  # warm
    server_cpu = tree_cpu(server_pid)
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    used = tree_cpu(server_pid) - server_cpu
    done = int(re.search(r"(\d+) requests in", out).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)), used / max(done, 1), \
        int(failed.group(1)) if failed else 0


# --- servers in their own processes -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server started as its users start it, in a process (group) of its own on a free port;
    ready once ``probe`` answers at all."""

    def __init__(self, name: str, command: list[str], probe: str, port: int, start_timeout: float = 30) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                         p for p in (str(HERE.parent), os.environ.get("PYTHONPATH")) if p)})
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                requests.get(self.url + probe, auth=(ACCOUNT, "token"), timeout=2)
                return
            except requests.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def emulator_process() -> ServerProcess:
    port = free_port()
    return ServerProcess("the emulator", [sys.executable, "-m", "emulator", "serve", "--host", "127.0.0.1",
                                          "--port", str(port)], "/_emulator/health", port)


def floor_process() -> ServerProcess:
    port = free_port()
    return ServerProcess("the floor", [sys.executable, str(HERE / "floor.py"), "--port", str(port)],
                         f"/v1/Workspaces/{FLOOR_SID}", port)


def prism_process() -> ServerProcess:
    """``prism mock`` of the project's OpenAPI description; the first run downloads Prism."""
    port = free_port()
    return ServerProcess("Prism", ["npx", "--yes", PRISM, "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
                         f"/v1/Workspaces/{FLOOR_SID}", port, start_timeout=180)


# --- the measurements -------------------------------------------------------------------------
Row = tuple  # (measure, unit, wall, cpu, floor name, floor wall, floor cpu, aim)


def ms_row(name: str, figures: tuple[float, float], floor_name: str, floor: tuple[float, float] | None,
           aim: str) -> Row:
    """A latency row: seconds measured, milliseconds shown."""
    return (name, "ms", figures[0] * 1e3, figures[1] * 1e3, floor_name,
            floor[0] * 1e3 if floor else None, floor[1] * 1e3 if floor else None, aim)


def fixture_rows(n: int, rounds: int) -> list[Row]:
    def emulator_fixture() -> None:
        emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed="bench")
        with emu.mock():
            emu.reset()
        emu.close()

    def floor_fixture() -> None:
        floor_app()
        with responses.RequestsMock(assert_all_requests_are_fired=False):
            pass

    emu, floor = interleaved([(emulator_fixture, time.process_time), (floor_fixture, time.process_time)], n, rounds)
    return [ms_row("fixture per test (create, mock(), reset, close)", emu, "bare Flask + responses", floor,
                   "<= 1.5")]


def in_process_rows(n: int, rounds: int) -> list[Row]:
    rows: list[Row] = []
    clock = time.process_time
    counter = iter(range(10 ** 9))
    emu = TaskRouterEmulator(seed=1)
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO")
    mounted = client.taskrouter.v1.workspaces(ws.sid)
    floor_mounted = mounted_client(floor_app()).taskrouter.v1.workspaces(FLOOR_SID)
    floor_rsps = floor_responses(floor_app())
    plain = Client(ACCOUNT, "token").taskrouter.v1.workspaces
    mock = emu.mock()

    # each mock is started around a batch of n calls (entering it is the fixture's cost, not a call's)
    def batch(fn, start, stop):
        def run():
            start()
            try:
                for _ in range(n):
                    fn()
            finally:
                stop()
        return run

    def mock_pair(emu_call, floor_call):
        a, b = interleaved([(batch(emu_call, mock.__enter__, lambda: mock.__exit__(None, None, None)), clock),
                            (batch(floor_call, floor_rsps.start, lambda: floor_rsps.stop(allow_assert=False)),
                             clock)], 1, rounds)
        return (a[0] / n, a[1] / n), (b[0] / n, b[1] / n)

    fetch = interleaved([(mounted.fetch, clock), (floor_mounted.fetch, clock)], n, rounds)
    rows.append(ms_row("in-process fetch, client()", fetch[0], "bare Flask, mounted adapter", fetch[1], "<= 1.1"))
    emu_fetch, floor_fetch = mock_pair(lambda: plain(ws.sid).fetch(), lambda: plain(FLOOR_SID).fetch())
    rows.append(ms_row("in-process fetch, mock()", emu_fetch, "bare Flask behind responses", floor_fetch, "<= 1.1"))
    create = interleaved([(lambda: mounted.workers.create(friendly_name=f"w{next(counter)}"), clock),
                          (lambda: floor_mounted.workers.create(friendly_name="x"), clock)], n, rounds)
    rows.append(ms_row("in-process create worker, client()", create[0], "bare Flask, mounted adapter", create[1],
                       "<= 1.2"))
    emu_create, floor_create = mock_pair(lambda: plain(ws.sid).workers.create(friendly_name=f"w{next(counter)}"),
                                         lambda: plain(FLOOR_SID).workers.create(friendly_name="x"))
    rows.append(ms_row("in-process create worker, mock()", emu_create, "bare Flask behind responses", floor_create,
                       "<= 1.2"))
    emu.close()
    return rows


def paging_figures(size: int, calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) per call of the first page, a PageToken page and filtered pages of 50 tasks (a
    filter every task passes, one none does: a page looks at the tasks until it is full), and of the
    first page of events (all of them in the default window), through ``client()``, in a workspace of
    ``size`` tasks."""
    emu = TaskRouterEmulator(seed=1, start="2026-01-01T09:00:00Z")
    try:
        client = emu.client()
        created = client.taskrouter.v1.workspaces.create(friendly_name="paging", template="FIFO")
        tasks = client.taskrouter.v1.workspaces(created.sid).tasks
        events = client.taskrouter.v1.workspaces(created.sid).events
        backend = emu.backend
        ws = backend.get_workspace(created.account_sid, created.sid)
        workflow = next(iter(ws.workflows))
        with backend.lock:  # made through the engine: the figures are the pages, not the making
            for i in range(size):
                ws.create_task(attributes=f'{{"n":{i}}}', workflow_sid=workflow)
        middle = "PA" + list(ws.tasks)[size // 2]
        assert len(list(tasks.page(page_size=50, page_token=middle))) == 50
        measured = interleaved([(lambda: tasks.page(page_size=50), time.process_time),
                                (lambda: tasks.page(page_size=50, page_token=middle), time.process_time),
                                (lambda: tasks.page(page_size=50, assignment_status="pending"), time.process_time),
                                (lambda: tasks.page(page_size=50, assignment_status="canceled"), time.process_time),
                                (lambda: events.page(page_size=50), time.process_time)],
                               calls, rounds)
        return dict(zip(("first", "token", "filtered", "unmatched", "events"), measured, strict=True))
    finally:
        emu.close()


def paging_rows(n: int, rounds: int, quick: bool) -> list[Row]:
    """A list page of 50 tasks through ``client()`` in a workspace of 1,000 tasks and of a bigger
    one (10,000; 50,000 in a full run): the first page, a page keyed by a PageToken in the middle,
    filtered pages and a page of events, each as growth over the small size."""
    small, big = 1_000, 10_000 if quick else 50_000
    calls = max(5, n // 5)
    figures = {size: paging_figures(size, calls, rounds) for size in (small, big)}
    rows: list[Row] = []
    for key, name, aim in (("first", "list page of 50 tasks, first page", "growth <= 1.2"),
                           ("token", "list page of 50 tasks, by PageToken (middle)", "growth <= 1.2"),
                           ("filtered", "list page of 50 tasks, AssignmentStatus=pending (all are)", "growth <= 1.2"),
                           ("unmatched", "list page of tasks, AssignmentStatus=canceled (none are)", ""),
                           ("events", "list page of 50 events (last 15 minutes)", "growth <= 1.2")):
        rows.append(ms_row(f"{name}, {small:,} tasks", figures[small][key], "", None, ""))
        rows.append(ms_row(f"{name}, {big:,} tasks", figures[big][key], f"{small:,} tasks (growth)",
                           figures[small][key], aim))
    return rows


def http_rows(n: int, rounds: int, use_prism: bool) -> tuple[list[Row], list[str]]:
    """Each server in a process of its own, started as its users start it: the emulator through its
    CLI (``python -m emulator serve``), the floor (``floor.py``: a bare Flask app behind the same
    server class, started the same way) and Prism (``npx prism mock``). The clients are the twilio
    client in this process; CPU is this process's plus the server's process tree's."""
    rows: list[Row] = []
    notes: list[str] = ["HTTP rows: every server in its own process (emulator: python -m emulator serve; floor: "
                        "benchmarks/floor.py, bare Flask behind the same server class; Prism: npx prism mock); "
                        "CPU = the client process + the server's process tree, unless a row says otherwise"]
    counter = iter(range(10 ** 9))
    servers: list[ServerProcess] = []
    try:
        servers.append(emulator_process())
        servers.append(floor_process())
        if use_prism:
            if shutil.which("npx") is None:
                notes.append("Prism: skipped (npx not found)")
            else:
                try:
                    servers.append(prism_process())
                except (RuntimeError, OSError) as exc:
                    notes.append(f"Prism: skipped ({exc})")
        emu = servers[0]
        prism = servers[2] if len(servers) > 2 else None
        ws = http_client(emu.url).taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO").sid
        sids = [ws] + [FLOOR_SID] * (len(servers) - 1)
        handles = [http_client(s.url).taskrouter.v1.workspaces(sid) for s, sid in zip(servers, sids, strict=True)]
        clocks = [Cpu(s.pid) for s in servers]
        fetch = interleaved([(h.fetch, c) for h, c in zip(handles, clocks, strict=True)], n, rounds)
        create = interleaved([(lambda: handles[0].workers.create(friendly_name=f"w{next(counter)}"), clocks[0])]
                             + [((lambda h=h: h.workers.create(friendly_name="x")), c)
                                for h, c in zip(handles[1:], clocks[1:], strict=True)], n, rounds)
        for name, figures, aim in (("HTTP fetch workspace", fetch, "<= 0.7 Prism"),
                                   ("HTTP create worker", create, "<= 0.7 Prism")):
            rows.append(ms_row(name, figures[0], "bare Flask, same server", figures[1], ""))
            if prism is not None:
                rows.append(ms_row(name, figures[0], "Prism", figures[2], aim))

        # throughput: rounds interleaved server by server, medians
        def fetcher(url, sid):
            return lambda: http_client(url).taskrouter.v1.workspaces(sid).fetch

        per_thread = max(20, n)
        samples: list[list[tuple[float, float, float]]] = [[] for _ in servers]
        for _ in range(max(3, rounds // 2)):
            for i, (server, sid) in enumerate(zip(servers, sids, strict=True)):
                samples[i].append(throughput(fetcher(server.url, sid), per_thread, server.pid))
        rates = [tuple(median([s[k] for s in runs]) for k in range(3)) for runs in samples]
        name = f"{THREADS}-thread fetch throughput, twilio client (CPU: ms/req)"
        names = ["bare Flask, same server", "Prism"]
        for floor_name, (rate, client_cpu, server_cpu), aim in zip(names, rates[1:], ("", ">= 1.5 Prism"),
                                                                   strict=False):
            rows.append((name, "req/s", rates[0][0], (rates[0][1] + rates[0][2]) * 1e3, floor_name, rate,
                         (client_cpu + server_cpu) * 1e3, aim))
        for floor_name, (_, _, server_cpu) in zip(names, rates[1:], strict=False):
            rows.append(("  server process CPU per request", "ms", rates[0][2] * 1e3, None, floor_name,
                         server_cpu * 1e3, None, ""))
        for floor_name, (_, client_cpu, _) in zip(names, rates[1:], strict=False):
            rows.append((f"  client process CPU per request ({THREADS} twilio clients)", "ms", rates[0][1] * 1e3,
                         None, floor_name, client_cpu * 1e3, None, ""))

        if shutil.which("wrk") is None:
            notes.append("wrk: skipped (not installed; Debian: apt-get install wrk)")
        else:
            seconds = 2 if n < 100 else 4
            paths = [f"/v1/Workspaces/{sid}" for sid in sids]
            wrk = [[] for _ in servers]
            for _ in range(2):
                for i, (server, path) in enumerate(zip(servers, paths, strict=True)):
                    wrk[i].append(wrk_rate(server.url + path, seconds, server.pid))
            best = [max(runs) for runs in wrk]
            name = f"{THREADS}-connection fetch throughput, wrk (CPU: server ms/req)"
            for floor_name, (rate, server_cpu, _), aim in zip(names, best[1:], ("", ">= 1.5 Prism"), strict=False):
                rows.append((name, "req/s", best[0][0], best[0][1] * 1e3, floor_name, rate, server_cpu * 1e3, aim))
            for server, (_, _, failed) in zip(servers, best, strict=True):
                if failed:
                    notes.append(f"wrk: {server.name} answered {failed} requests with a non-2xx status")
    finally:
        for server in servers:
            server.stop()
    return rows, notes


def child(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / script), *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             p for p in (str(HERE.parent), os.environ.get("PYTHONPATH")) if p)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def routing_rows(quick: bool) -> list[Row]:
    small = min((child("routing.py", "--one", "1000,100") for _ in range(2)), key=lambda r: r["cpu_us_per_task"])
    big_size = "10000,1000" if quick else "100000,1000"
    big = child("routing.py", "--one", big_size)
    tuned = child("routing.py", "--one", big_size + ",0,0,0,1")
    callbacks = child("routing.py", "--one", "10000,100,0,0,1")

    label = f"{big['tasks']:,}x{big['workers']:,}"
    return [
        ("routing per task, 1,000x100", "us", small["us_per_task"], small["cpu_us_per_task"], "", None, None,
         "<= 100"),
        (f"routing per task, {label}", "us", big["us_per_task"], big["cpu_us_per_task"], "1,000x100 (growth)",
         small["us_per_task"], small["cpu_us_per_task"], "<= 100; growth <= 1.2"),
        (f"routing per task, {label}, server's GC tuning", "us", tuned["us_per_task"], tuned["cpu_us_per_task"],
         "1,000x100 (growth)", small["us_per_task"], small["cpu_us_per_task"], "<= 100; growth <= 1.2"),
        (f"memory per finished task, {label}", "KB", big["kb_per_task"], None, "", None, None, "<= 4"),
        ("memory per finished task, callbacks captured, 10,000x100", "KB", callbacks["kb_per_task"], None, "", None,
         None, "<= 4"),
        (f"routing peak RSS, {label}", "MB", big["peak_mb"], None, "", None, None, ""),
    ]


def statistics_rows(quick: bool) -> list[Row]:
    args = ["--json"] + (["--history", "5000", "--backlog", "2000"] if quick else [])
    r = child("statistics.py", *args)
    return [(f"statistics, first query on {r['events']:,} events", "ms", r["first_ms"], r["first_cpu_ms"],
             "(a later query)", r["later_ms"], None, "<= 100")]


def snapshot_rows(quick: bool) -> list[Row]:
    """Snapshot and restore of 10,000 tasks with their events (2,000 with --quick), each beside
    the document's own json.dumps / json.loads, and how long each held the engine lock."""
    r = child("snapshot.py", "--json", "--tasks", "2000" if quick else "10000")
    size = f"{r['tasks']:,} tasks, {r['events']:,} events, {r['document_mb']:.0f} MB"
    return [
        (f"snapshot take, {size}", "ms", r["take_ms"], r["take_cpu_ms"], "json.dumps of it", r["floor_dumps_ms"],
         r["floor_dumps_cpu_ms"], "< 100"),
        ("  engine lock held by take", "ms", r["take_lock_ms"], None, "", None, None, "< 10"),
        (f"snapshot restore, {size}", "ms", r["restore_ms"], r["restore_cpu_ms"], "json.loads of it",
         r["floor_loads_ms"], r["floor_loads_cpu_ms"], ""),
        ("  of which the schema check", "ms", r["schema_check_ms"], None, "", None, None, ""),
        ("  engine lock held by restore", "ms", r["restore_lock_ms"], None, "", None, None, "< 10"),
    ]


def dashboard_rows(quick: bool) -> list[Row]:
    r = child("dashboard.py", "--json", *(["--quick"] if quick else []))
    rows: list[Row] = []
    for figures in r["server"]:
        for name in ("view", "state"):
            rows.append(ms_row(f"dashboard {name}, {figures['tasks']:,} tasks", figures[name],
                               "REST page of 50 tasks", figures["floor"], "<= 3" if name == "view" else "<= 1"))
    if r["browser"]:
        b = r["browser"]
        for name in ("fetch", "render"):
            big, small = b[name]
            rows.append((f"dashboard page {name}, {b['big']:,} tasks", "ms", big * 1e3, None,
                         f"{b['small']} tasks (growth)", small * 1e3, None, "growth <= 2"))
    return rows


def server_rows(quick: bool) -> list[Row]:
    """The standalone server: writes with the --state-file journal against none, and callback lag
    with a slow receiver against none (``server.py``)."""
    r = child("server.py", "--json", *(["--quick"] if quick else []))
    off = r["off"]
    rows: list[Row] = [(f"server writes/s, journal {sync}", "req/s", r[sync]["per_second"], r[sync]["cpu_ms_per_write"],
                        "journal off (CPU: ms/write)", off["per_second"], off["cpu_ms_per_write"], "")
                       for sync in ("everysec", "always")]
    floor, slow = r["lag_floor"], r["lag_slow"]
    for name in ("p50_ms", "p95_ms", "max_ms"):
        rows.append((f"callback lag {name[:-3]}, {r['rate']:.0f} creates/s, a {r['slow']:g} s receiver beside",
                     "ms", slow[name], None, "no slow receiver", floor[name], None, ""))
    return rows


def startup_row() -> Row:
    """Seconds from spawning ``python -m emulator serve`` to a healthy answer, and its idle RSS in MiB."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port)],
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
        return ("server start-up; idle RSS (MB) as floor", "ms", elapsed * 1e3, None, "(idle RSS, MB)", rss_kb / 1024,
                None, "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- the table --------------------------------------------------------------------------------
def print_table(rows: list[Row]) -> None:
    header = ("measure", "unit", "emulator", "CPU", "floor", "floor", "CPU", "ratio", "CPU ratio", "aim")
    lines = [header]
    for name, unit, wall, cpu, floor_name, floor_wall, floor_cpu, aim in rows:
        ratio = f"{wall / floor_wall:.2f}" if floor_wall and not floor_name.startswith("(") else ""
        cpu_ratio = f"{cpu / floor_cpu:.2f}" if cpu and floor_cpu else ""
        lines.append((name, unit, _num(wall), _num(cpu), floor_name, _num(floor_wall), _num(floor_cpu), ratio,
                      cpu_ratio, aim))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        cells = [c.ljust(w) if j in (0, 1, 4, 9) else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths, strict=True))]
        print(" | ".join(cells).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


SECTIONS = ("in-process", "paging", "http", "routing", "statistics", "snapshot", "dashboard", "server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, smaller routing and statistics sizes")
    parser.add_argument("--requests", type=int, default=None, help="calls per round (default 100; quick 30)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measure (default 7; quick 3)")
    parser.add_argument("--no-prism", action="store_true", help="do not start Prism")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this part of the table (repeatable; default: all)")
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    n = args.requests or (30 if args.quick else 100)
    rounds = args.rounds or (3 if args.quick else 7)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log lines in the figures
    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    if "in-process" in only:
        rows += fixture_rows(max(20, n // 2), rounds)
        rows += in_process_rows(n, rounds)
    if "paging" in only:
        rows += paging_rows(n, rounds, args.quick)
    if "http" in only:
        http, notes = http_rows(n, rounds, not args.no_prism)
        rows += http
    if "routing" in only:
        rows += routing_rows(args.quick)
    if "statistics" in only:
        rows += statistics_rows(args.quick)
    if "snapshot" in only:
        rows += snapshot_rows(args.quick)
    if "dashboard" in only:
        rows += dashboard_rows(args.quick)
    if "server" in only:
        rows += server_rows(args.quick)
        if os.path.exists("/proc/self/status"):
            rows.append(startup_row())
    print(f"TaskRouter emulator benchmarks ({'quick' if args.quick else 'full'}: {n} calls x {rounds} rounds; "
          f"medians; ratio = emulator / floor, wall and CPU; throughput ratio = emulator / floor req/s)")
    print_table(rows)
    for note in notes:
        print(note)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

"""The standalone server: the real client over loopback HTTP, and the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import ACCOUNT_SID
from twilio.rest import Client

from emulator import cli
from emulator.cli import build_parser
from emulator.facade import TaskRouterEmulator
from emulator.server import Server


def test_real_client_over_loopback_follows_pages_on_the_server_host():
    with Server(TaskRouterEmulator(seed=3, strict_schema=True).app, "127.0.0.1", 0) as server:
        client = Client(ACCOUNT_SID, "token")
        client.taskrouter.base_url = server.url
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Loopback", template="FIFO")
        assert ws.url.startswith(server.url + "/v1/Workspaces/")
        workers = client.taskrouter.v1.workspaces(ws.sid).workers
        made = [workers.create(friendly_name=f"w{i}").sid for i in range(5)]
        assert [w.sid for w in workers.list(page_size=2)] == made
        assert requests.get(server.url + "/_emulator/health", timeout=5).json()["status"] == "ok"


def test_concurrent_clients_are_served():
    with Server(TaskRouterEmulator().app, "127.0.0.1", 0) as server:
        client = Client(ACCOUNT_SID, "token")
        client.taskrouter.base_url = server.url
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Busy")
        failures = []

        def make(n: int) -> None:
            try:
                for i in range(10):
                    client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name=f"t{n}-{i}")
            except Exception as exc:  # collected and asserted below
                failures.append(exc)

        threads = [threading.Thread(target=make, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert len(client.taskrouter.v1.workspaces(ws.sid).workers.list()) == 80


def test_cli_help_explains_every_option():
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for option in ("--host", "--port", "--clock", "--start", "--seed", "--auth-token", "--credentials",
                   "--public-url", "--strict-schema", "--webhooks", "--blueprint", "--state-file", "--state-interval"):
        assert option in help_text
    result = subprocess.run([sys.executable, "-m", "emulator", "serve", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "--port" in result.stdout


def _start(state: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--clock", "manual",
                             "--start", "2026-01-01T00:00:00Z", "--seed", "9", "--webhooks", "capture",
                             "--state-file", str(state), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = proc.stdout.readline()
        assert line, "the server exited before serving"
        if line.startswith("TaskRouter emulator "):
            return proc, line.split(" serving on ")[1].split()[0]


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 0


# A signal that lands before the serving loop gets going (just after the start line, when a
# supervisor or a test stops the server at once) interrupts serve_forever() before it has run.
EARLY_SIGNAL = """
import signal, sys
from emulator import cli
from emulator.server import Server
serve = Server.serve_forever
def interrupted(self):
    signal.raise_signal(getattr(signal, sys.argv[1]))
    serve(self)
Server.serve_forever = interrupted
sys.exit(cli.main(["serve", "--port", "0"]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_before_the_serving_loop_starts_stops_the_server(sig):
    done = subprocess.run([sys.executable, "-c", EARLY_SIGNAL, sig], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_restarted_server_with_a_state_file_loses_nothing(tmp_path, sig):
    state = tmp_path / "state.json"
    proc, url = _start(state, "--state-interval", "0")
    try:
        client = Client("AC" + "a" * 32, "token")
        client.taskrouter.base_url = url
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Kept", template="FIFO",
                                                     event_callback_url="https://app.test/events")
        task = client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}", timeout=120)
        requests.post(f"{url}/_emulator/clock/advance", data={"Seconds": 30}, timeout=5)
        inbox = requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["webhooks"]
    finally:
        _stop(proc, sig)
    assert json.loads(state.read_text())["format"] == "taskrouter-emulator-state"

    proc, url = _start(state, "--blueprint", "helpdesk")  # a restored state skips the blueprints
    try:
        client.taskrouter.base_url = url
        assert [w.friendly_name for w in client.taskrouter.v1.workspaces.list()] == ["Kept"]
        assert requests.get(f"{url}/_emulator/clock", timeout=5).json()["now"] == "2026-01-01T00:00:30.000Z"
        assert requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["webhooks"] == inbox
        # the task's TTL timer came back too: it fires on the restored clock
        requests.post(f"{url}/_emulator/clock/advance", data={"Seconds": 90}, timeout=5)
        fetched = client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch()
        assert fetched.assignment_status == "canceled"
    finally:
        _stop(proc)


def test_the_journal_is_compacted_into_the_state_file_on_a_timer(tmp_path):
    state = tmp_path / "state.json"
    proc, url = _start(state, "--state-interval", "0.2")
    try:
        requests.post(f"{url}/v1/Workspaces", data={"FriendlyName": "Timed"}, auth=("AC" + "a" * 32, "t"),
                      timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Timed" not in (state.read_text() if state.exists() else ""):
            time.sleep(0.05)
        assert "Timed" in state.read_text()
    finally:
        _stop(proc)


def test_a_broken_state_file_stops_the_server_with_a_message(tmp_path, capsys):
    state = tmp_path / "state.json"
    state.write_text('{"format": "something else"}')
    assert cli.main(["serve", "--port", "0", "--state-file", str(state)]) == 2
    assert f"--state-file {state}: not a TaskRouter emulator snapshot" in capsys.readouterr().err

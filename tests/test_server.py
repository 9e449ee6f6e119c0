"""The standalone server: the real client over loopback HTTP, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading

import requests
from twilio.rest import Client

from emulator.cli import build_parser
from emulator.engine.backend import Backend
from emulator.http import create_app
from emulator.server import Server

from conftest import ACCOUNT_SID


def test_real_client_over_loopback_follows_pages_on_the_server_host():
    with Server(create_app(Backend(seed=3), strict_schema=True), "127.0.0.1", 0) as server:
        client = Client(ACCOUNT_SID, "token")
        client.taskrouter.base_url = server.url
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Loopback", template="FIFO")
        assert ws.url.startswith(server.url + "/v1/Workspaces/")
        workers = client.taskrouter.v1.workspaces(ws.sid).workers
        made = [workers.create(friendly_name=f"w{i}").sid for i in range(5)]
        assert [w.sid for w in workers.list(page_size=2)] == made
        assert requests.get(server.url + "/_emulator/health", timeout=5).json()["status"] == "ok"


def test_concurrent_clients_are_served():
    with Server(create_app(Backend()), "127.0.0.1", 0) as server:
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
                   "--public-url", "--strict-schema"):
        assert option in help_text
    result = subprocess.run([sys.executable, "-m", "emulator", "serve", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "--port" in result.stdout

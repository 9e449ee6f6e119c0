"""The control API's owner: credentials in strict mode, one account's scope, no CORS, only the
server's own Host."""

from __future__ import annotations

import pytest
import requests
from conftest import ACCOUNT_SID, OTHER_ACCOUNT_SID
from twilio.rest import Client

from emulator.facade import TaskRouterEmulator
from emulator.http import Credentials
from emulator.server import Server

TOKENS = {ACCOUNT_SID: "token-a", OTHER_ACCOUNT_SID: "token-b"}
ADMIN = "admin-secret"
A = (ACCOUNT_SID, "token-a")
B = (OTHER_ACCOUNT_SID, "token-b")
BEARER = {"Authorization": f"Bearer {ADMIN}"}


def _serve(credentials: Credentials) -> Server:
    return Server(TaskRouterEmulator(seed=5, credentials=credentials).app, "127.0.0.1", 0).start()


@pytest.fixture(scope="module")
def strict():
    server = _serve(Credentials(tokens=dict(TOKENS), admin_token=ADMIN))
    for sid, token in TOKENS.items():
        client = Client(sid, token)
        client.taskrouter.base_url = server.url
        client.taskrouter.v1.workspaces.create(friendly_name=f"ws of {sid[-1]}", event_callback_url="https://app.test/e")
    yield server
    server.stop()


def test_strict_mode_refuses_the_control_api_without_credentials(strict):
    for method, path in [("get", "/webhooks"), ("post", "/snapshot"), ("post", "/reset"), ("get", "/clock"),
                         ("post", "/clock/advance")]:
        answer = requests.request(method, f"{strict.url}/_emulator{path}", data={"Seconds": 1}, timeout=5)
        assert answer.status_code == 401 and answer.json()["code"] == 20003, path
        wrong = requests.request(method, f"{strict.url}/_emulator{path}", auth=(ACCOUNT_SID, "token-b"), timeout=5)
        assert wrong.status_code == 401, path
    assert requests.get(f"{strict.url}/_emulator/health", timeout=5).status_code == 200  # for health checks


def test_an_account_reads_its_own_inbox_only(strict):
    own = requests.get(f"{strict.url}/_emulator/webhooks", auth=A, timeout=5)
    assert own.status_code == 200 and own.json()["webhooks"]
    assert {r["account_sid"] for r in own.json()["webhooks"]} == {ACCOUNT_SID}
    everything = requests.get(f"{strict.url}/_emulator/webhooks", headers=BEARER, timeout=5).json()["webhooks"]
    assert {r["account_sid"] for r in everything} == {ACCOUNT_SID, OTHER_ACCOUNT_SID}


SCOPED_REFUSALS = [
    ("post", "/snapshot", {}),
    ("post", "/restore", {}),
    ("post", "/clock/advance", {"Seconds": "10"}),
    ("post", "/clock", {"Mode": "manual"}),
    ("post", "/reset", {"AccountSid": OTHER_ACCOUNT_SID}),
]


@pytest.mark.parametrize("method, path, data", SCOPED_REFUSALS, ids=[p for _, p, _ in SCOPED_REFUSALS])
def test_an_account_cannot_act_on_another_or_on_all(strict, method, path, data):
    before = requests.get(f"{strict.url}/_emulator/webhooks", headers=BEARER, timeout=5).json()
    answer = requests.request(method, f"{strict.url}/_emulator{path}", data=data, auth=A, timeout=5)
    assert answer.status_code == 403 and answer.json()["code"] == 20403
    assert requests.get(f"{strict.url}/_emulator/webhooks", headers=BEARER, timeout=5).json() == before


def test_an_accounts_delete_and_reset_touch_its_own_data_only(strict):
    requests.delete(f"{strict.url}/_emulator/webhooks", auth=B, timeout=5).raise_for_status()
    assert requests.get(f"{strict.url}/_emulator/webhooks", auth=B, timeout=5).json()["webhooks"] == []
    assert requests.get(f"{strict.url}/_emulator/webhooks", auth=A, timeout=5).json()["webhooks"]
    assert requests.post(f"{strict.url}/_emulator/reset", auth=B, timeout=5).json()["reset"] == OTHER_ACCOUNT_SID
    assert requests.get(f"{strict.url}/v1/Workspaces", auth=B, timeout=5).json()["workspaces"] == []
    assert len(requests.get(f"{strict.url}/v1/Workspaces", auth=A, timeout=5).json()["workspaces"]) == 1


def test_the_admin_token_acts_on_everything(strict):
    assert requests.post(f"{strict.url}/_emulator/snapshot", headers=BEARER, timeout=5).status_code == 200
    assert requests.post(f"{strict.url}/_emulator/clock/advance", data={"Seconds": "1"}, auth=("admin", ADMIN),
                         timeout=5).status_code == 200
    assert requests.post(f"{strict.url}/_emulator/snapshot", auth=("admin", "guess"), timeout=5).status_code == 401


def test_no_cors_on_the_control_api(strict):
    control = requests.get(f"{strict.url}/_emulator/webhooks", auth=A, headers={"Origin": "https://evil.test"}, timeout=5)
    assert not any(h.lower().startswith("access-control-") for h in control.headers)
    api = requests.get(f"{strict.url}/v1/Workspaces", auth=A, timeout=5)
    assert api.headers["Access-Control-Allow-Origin"] == "*"  # the REST API keeps the real service's header


@pytest.mark.parametrize("host, allowed", [("evil.test", False), ("evil.test:80", False), ("127.0.0.1.nip.io", False),
                                           ("localhost", True), ("127.0.0.1", True), ("[::1]:9", True)])
def test_only_the_servers_own_host_reaches_the_control_api(host, allowed):
    server = _serve(Credentials())  # lenient: open, but still only to its own host names
    try:
        answer = requests.get(f"{server.url}/_emulator/clock", headers={"Host": host}, timeout=5)
        assert answer.status_code == (200 if allowed else 403)
        if not allowed:
            assert answer.json()["code"] == 20403
    finally:
        server.stop()


def test_allowed_hosts_and_the_public_url_are_the_servers_own():
    app = TaskRouterEmulator(public_url="https://taskrouter.dev.test").app
    with Server(app, "127.0.0.1", 0, public_hosts=["emulator"]) as server:
        for host in ("taskrouter.dev.test", "emulator:8787"):
            assert requests.get(f"{server.url}/_emulator/clock", headers={"Host": host}, timeout=5).status_code == 200


def test_lenient_mode_keeps_the_control_api_open():
    server = _serve(Credentials())
    try:
        assert requests.post(f"{server.url}/_emulator/snapshot", timeout=5).status_code == 200
        assert requests.post(f"{server.url}/_emulator/clock/advance", data={"Seconds": "5"}, timeout=5).ok
    finally:
        server.stop()

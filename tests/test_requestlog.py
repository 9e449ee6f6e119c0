"""The request log: emu.requests, GET /_emulator/requests, one log line per request; and inbox
assertions that explain themselves."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import TaskRouterEmulator
from emulator.requestlog import RequestLog, path_matches

ACCOUNT = "AC" + "a" * 32
OTHER = "AC" + "b" * 32


@pytest.fixture
def emu():
    with TaskRouterEmulator(start="2026-01-01T00:00:00Z") as emulator:
        yield emulator


def test_every_request_is_recorded_with_what_a_test_needs(emu):
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO")
    emu.clock.advance(90)
    with pytest.raises(TwilioRestException):
        client.taskrouter.v1.workspaces(ws.sid).workers("WK" + "0" * 32).fetch()
    list(client.taskrouter.v1.workspaces(ws.sid).workers.list(friendly_name="Alice", page_size=5))
    created, missing, listed = emu.requests
    assert (created.method, created.path, created.status, created.account_sid) == ("POST", "/v1/Workspaces", 201,
                                                                                   ACCOUNT)
    assert created.parameters == {"FriendlyName": "Desk", "Template": "FIFO"}
    assert created.timestamp == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert (missing.status, missing.error_code) == (404, 20404) and missing.error_message
    assert missing.timestamp == datetime(2026, 1, 1, 0, 1, 30, tzinfo=timezone.utc)     # virtual time
    assert listed.parameters == {"FriendlyName": "Alice", "PageSize": "5"}
    assert [r.id for r in emu.requests.records(errors_only=True)] == [missing.id]
    assert [r.id for r in emu.requests.records(path="/v1/Workspaces/*/Workers")] == [listed.id]
    assert emu.requests[-1] is listed and len(emu.requests) == 3
    emu.reset()
    assert len(emu.requests) == 0


def test_the_log_is_bounded_and_ids_keep_growing():
    log = RequestLog(size=3)
    for n in range(5):
        log.add(method="GET", path=f"/v1/{n}", host="h", parameters={}, account_sid=None, status=200,
                timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert [r.id for r in log] == [3, 4, 5]
    log.clear()
    assert len(log) == 0 and log.add(method="GET", path="/", host="h", parameters={}, account_sid=None, status=200,
                                     timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc)).id == 6


@pytest.mark.parametrize("pattern, path, hit", [
    ("/v1/Workspaces", "/v1/Workspaces", True),
    ("/v1/Workspaces", "/v1/Workspaces/", True),
    ("/v1/Workspaces/*/Tasks", "/v1/Workspaces/WS1/Tasks", True),
    ("/v1/Workspaces/*/Tasks", "/v1/Workspaces/WS1/Tasks/WT1", False),
    ("/v1/Workspaces/*/Tasks*", "/v1/Workspaces/WS1/Tasks/WT1", False),
    ("/v1/Workspaces/**/Reservations", "/v1/Workspaces/WS1/Tasks/WT1/Reservations", True),
    ("^/v1/Workspaces/WS[0-9]+$", "/v1/Workspaces/WS12", True),
    ("^/v1/Workspaces/WS[0-9]+$", "/v1/Workspaces/WS12/Tasks", False),
])
def test_path_patterns(pattern, path, hit):
    assert path_matches(pattern, path) is hit


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def test_the_control_api_lists_filters_and_clears_them(emu):
    server = emu.serve()
    client = server.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk")
    client.taskrouter.v1.workspaces(ws.sid).fetch()
    other = server.client(OTHER, "t")
    with pytest.raises(TwilioRestException):
        other.taskrouter.v1.workspaces(ws.sid).fetch()   # another account's: 404
    everything = _get(server.url + "/_emulator/requests")
    assert [(r["method"], r["status"]) for r in everything["requests"]] == [("POST", 201), ("GET", 200), ("GET", 404)]
    assert everything["size"] == 1000
    first = everything["requests"][0]
    assert first["parameters"] == {"FriendlyName": "Desk"} and first["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert [r["account_sid"] for r in _get(server.url + f"/_emulator/requests?AccountSid={OTHER}")["requests"]] == [OTHER]
    assert len(_get(server.url + "/_emulator/requests?Method=GET&Path=/v1/Workspaces/*")["requests"]) == 2
    assert [r["error_code"] for r in _get(server.url + "/_emulator/requests?Errors=true")["requests"]] == [20404]
    assert [r["id"] for r in _get(server.url + f"/_emulator/requests?After={first['id']}")["requests"]] == [2, 3]
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(server.url + "/_emulator/requests?Status=abc")
    body = json.loads(caught.value.read())
    assert (caught.value.code, body["code"]) == (400, 20001) and "Status" in body["message"]
    request = urllib.request.Request(server.url + "/_emulator/requests", method="DELETE")
    assert urllib.request.urlopen(request, timeout=10).status == 204
    assert _get(server.url + "/_emulator/requests")["requests"] == []   # control requests are not logged


def test_one_log_line_per_request_at_info_and_the_bodies_at_debug(emu, caplog):
    client = emu.client()
    with caplog.at_level(logging.INFO, logger="emulator.requests"):
        client.taskrouter.v1.workspaces.create(friendly_name="Desk")
    [line] = [r.getMessage() for r in caplog.records if r.name == "emulator.requests"]
    assert line.startswith("POST /v1/Workspaces 201 account=" + ACCOUNT + " at=2026-01-01T00:00:00.000Z")
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="emulator.requests"):
        with pytest.raises(TwilioRestException):
            client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="NOPE")   # 400
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.requests"]
    assert lines[0].startswith("POST /v1/Workspaces 400 ")
    assert "request body: FriendlyName=Desk&Template=NOPE" in lines[1]
    assert '"code": 20001' in lines[2] or '"code":20001' in lines[2]


def test_the_server_writes_one_line_per_request_at_log_level_info(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--log-level", "INFO",
                                "--clock", "manual", "--start", "2026-01-01T00:00:00Z"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        url = banner.split("serving on ")[1].split()[0]
        client = Client(ACCOUNT, "token")
        client.region = client.edge = None
        client.taskrouter.base_url = url
        client.taskrouter.v1.workspaces.create(friendly_name="Desk")
        with pytest.raises(TwilioRestException):
            client.taskrouter.v1.workspaces("WS" + "0" * 32).fetch()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
    lines = [line for line in errors.splitlines() if " emulator.requests " in line]
    assert len(lines) == 2, errors
    assert "POST /v1/Workspaces 201" in lines[0] and "GET /v1/Workspaces/WS" in lines[1] and " 404 20404 " in lines[1]
    assert "werkzeug" not in errors                   # no second, access-log line


def test_requests_the_guard_stopped_are_in_the_log(emu):
    from emulator.mock import RealTwilioBlocked

    with emu.mock(), pytest.raises(RealTwilioBlocked):
        Client(ACCOUNT, "token").messages.list()
    [record] = emu.requests
    assert record.blocked and record.status is None and record.host == "api.twilio.com"
    assert "blocked" in record.line()


# --- inbox assertions -------------------------------------------------------------------------------
def _desk(emu):
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO",
                                                event_callback_url="https://app.test/events")
    worker = client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="Alice")
    return client, ws, worker


def test_assert_sent_returns_the_record_or_lists_the_nearest_with_what_differed(emu):
    client, ws, worker = _desk(emu)
    record = emu.inbox.assert_sent("event", "worker.created", params={"WorkerSid": worker.sid})
    assert record.params["WorkerName"] == "Alice"
    emu.inbox.assert_sent(event_type="worker.created", count=1, url=lambda url: url.startswith("https://app.test/"))
    emu.inbox.assert_not_sent(event_type="task.created")
    with pytest.raises(AssertionError) as caught:
        emu.inbox.assert_sent("event", "worker.created", params={"WorkerName": "Bob"})
    message = str(caught.value)
    assert "no webhook matching kind='event', event_type='worker.created', params={'WorkerName': \"'Bob'\"}" in message \
        or "no webhook matching kind='event', event_type='worker.created'" in message
    assert "the nearest:" in message and "worker.created to https://app.test/events" in message
    assert "params['WorkerName']: expected 'Bob', got 'Alice'" in message
    with pytest.raises(AssertionError, match=r"expected no webhook matching event_type='worker.created', found 1"):
        emu.inbox.assert_not_sent(event_type="worker.created")
    with pytest.raises(AssertionError, match="expected 2 webhook"):
        emu.inbox.assert_sent(event_type="worker.created", count=2)
    with pytest.raises(TypeError, match="unknown webhook record field"):
        emu.inbox.assert_sent(colour="red")


def test_an_empty_inbox_says_where_to_look():
    with TaskRouterEmulator() as emu:
        emu.client().taskrouter.v1.workspaces.create(friendly_name="Desk")
        with pytest.raises(AssertionError, match="the inbox is empty.*EventCallbackUrl"):
            emu.inbox.assert_sent(event_type="task.created")


def test_wait_for_timing_out_lists_the_nearest_records(emu):
    client, ws, worker = _desk(emu)
    assert emu.inbox.wait_for(event_type="worker.created", params={"WorkerSid": worker.sid}, timeout=1).id >= 1
    with pytest.raises(TimeoutError) as caught:
        emu.inbox.wait_for(event_type="worker.deleted", timeout=0.05)
    message = str(caught.value)
    assert "no finished webhook matching event_type='worker.deleted' within 0.05s" in message
    assert "event_type: expected 'worker.deleted', got 'worker.created'" in message
    with pytest.raises(TimeoutError, match="the predicate: expected True, got False"):
        emu.inbox.wait_for(lambda r: False, event_type="worker.created", timeout=0.05)

"""Fault injection through the real client: API errors and latency, failing callbacks, from
Python, the pytest marker and the control API."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

import pytest
from twilio.base.exceptions import TwilioRestException

from emulator import TaskRouterEmulator, errors

ACCOUNT = "AC" + "a" * 32
OTHER = "AC" + "b" * 32
pytest_plugins = ["pytester"]


@pytest.fixture
def emu():
    with TaskRouterEmulator(start="2026-01-01T00:00:00Z") as emulator:
        yield emulator


def test_the_next_matching_requests_answer_429_and_change_nothing(emu, caplog):
    client = emu.client()
    ws = client.taskrouter.v1.workspaces(client.taskrouter.v1.workspaces.create(friendly_name="Desk",
                                                                               template="FIFO").sid)
    fault = emu.faults.api(429, method="POST", path="/v1/Workspaces/*/Tasks", times=2)
    ws.workers.list()                                   # another path: untouched
    with caplog.at_level(logging.INFO, logger="emulator.requests"):
        for _ in range(2):
            with pytest.raises(TwilioRestException) as caught:
                ws.tasks.create(attributes="{}")
            assert (caught.value.status, caught.value.code) == (429, 20429)
            assert caught.value.msg.endswith("Too Many Requests")
    assert ws.tasks.list() == []                         # the refused creates left nothing
    assert ws.tasks.create(attributes="{}").sid.startswith("WT")   # the third goes through
    assert (fault.hits, fault.remaining) == (2, 0)
    faulted = emu.requests.records(status=429)
    assert [r.fault for r in faulted] == ["injected 429 20429 (fault 1, 1 of 2)", "injected 429 20429 (fault 1, 2 of 2)"]
    warnings = [r for r in caplog.records if r.name == "emulator.requests" and r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "[fault: injected 429 20429" in warnings[0].getMessage()


@pytest.mark.parametrize("status, code, message", [(500, 20500, "Internal Server Error"),
                                                   (503, 20503, "Service Unavailable"),
                                                   (429, 20429, "Too Many Requests")])
def test_server_errors_have_twilios_shape(emu, status, code, message):
    client = emu.client()
    emu.faults.api(status)
    with pytest.raises(TwilioRestException) as caught:
        client.taskrouter.v1.workspaces.create(friendly_name="Desk")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.msg.endswith(message)
    assert client.taskrouter.v1.workspaces.list() == []     # nothing created; times=1 by default


def test_faults_match_by_method_and_account_and_can_carry_latency(emu):
    emu.faults.api(503, account_sid=OTHER, times=None)
    emu.faults.api(500, method="DELETE")
    slow = emu.faults.api(latency=0.05, path="^/v1/Workspaces$")
    mine, theirs = emu.client(), emu.client(OTHER, "t")
    ws = mine.taskrouter.v1.workspaces.create(friendly_name="Desk")        # slowed, then served
    for _ in range(2):
        with pytest.raises(TwilioRestException, match="Service Unavailable"):
            theirs.taskrouter.v1.workspaces(ws.sid).fetch()
    with pytest.raises(TwilioRestException) as caught:
        mine.taskrouter.v1.workspaces(ws.sid).delete()
    assert caught.value.status == 500
    assert mine.taskrouter.v1.workspaces(ws.sid).delete() is True
    assert slow.hits == 1
    [created] = emu.requests.records(method="POST")
    assert created.status == 201 and created.duration_ms >= 50 and created.fault.startswith("injected latency 0.05s")


@pytest.mark.parametrize("kwargs, problem", [
    ({}, "needs a status"),
    ({"status": 200}, "HTTP error status"),
    ({"status": 429, "times": 0}, "positive number"),
    ({"status": 429, "method": "PATCH"}, "method must be"),
    ({"latency": -1}, "latency must be"),
    ({"status": 429, "path": "^(unclosed"}, "path must be"),
])
def test_bad_faults_are_refused(emu, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        emu.faults.api(**kwargs)
    assert len(emu.faults) == 0


def _assignment_desk(emu, url="https://app.test/assign"):
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO",
                                                event_callback_url="https://app.test/events")
    ctx = client.taskrouter.v1.workspaces(ws.sid)
    workflow = ctx.workflows.list()[0]
    ctx.workflows(workflow.sid).update(assignment_callback_url=url)
    available = [a.sid for a in ctx.activities.list() if a.friendly_name == "Available"][0]
    worker = ctx.workers.create(friendly_name="Alice", activity_sid=available)
    return ctx, worker


@pytest.mark.parametrize("fault, error, outcome", [
    ({"timeout": True}, "read timed out: injected timeout", "no answer within 5 s"),
    ({}, "connection refused: injected connection refused", "no answer"),
    ({"status": 500, "body": "oops"}, None, "answered HTTP 500"),
])
def test_failing_assignment_callbacks_cancel_the_reservation(emu, fault, error, outcome):
    ctx, worker = _assignment_desk(emu)
    emu.faults.callback("https://app.test/assign", times=1, **fault)
    task = ctx.tasks.create(attributes="{}")
    record = emu.inbox.assert_sent("assignment", delivery="fault")
    assert record.error == (error + " (fault 1, 1 of 1)" if error else None)
    assert outcome in record.outcome and "the reservation is canceled" in record.outcome
    [reservation] = ctx.tasks(task.sid).reservations.list()
    assert reservation.reservation_status == "canceled"
    [logged] = emu.requests.records(path="/assign")            # the faulted callback is in the request log too
    assert (logged.direction, logged.host, logged.account_sid) == ("callback", "app.test", record.account_sid)
    assert logged.fault.startswith("injected ") and logged.fault.endswith("(fault 1, 1 of 1)")
    emu.inbox.assert_sent("event", "reservation.canceled")


def test_a_callback_fault_can_answer_a_given_body(emu):
    ctx, worker = _assignment_desk(emu)
    emu.faults.callback("https://app.test/", body={"instruction": "accept"})
    task = ctx.tasks.create(attributes="{}")
    record = emu.inbox.assert_sent("assignment", delivery="fault")
    assert record.response["status"] == 200 and record.response["headers"]["X-Emulator-Fault"].startswith("injected")
    assert ctx.tasks(task.sid).fetch().assignment_status == "assigned"
    # event callbacks under the prefix are answered by the fault too, every one (times=None)
    assert {r.delivery for r in emu.inbox.events(task_sid=task.sid)} == {"fault"}


def test_the_pytest_marker(pytester):
    pytester.makepyfile(test_marked="""
        import pytest
        from twilio.base.exceptions import TwilioRestException

        @pytest.mark.taskrouter_fault(status=503, path="/v1/Workspaces", times=1)
        @pytest.mark.taskrouter_fault(callback="https://app.test/", timeout=True)
        def test_marked(taskrouter, taskrouter_client):
            with pytest.raises(TwilioRestException) as caught:
                taskrouter_client.taskrouter.v1.workspaces.create(friendly_name="D")
            assert caught.value.status == 503
            taskrouter_client.taskrouter.v1.workspaces.create(friendly_name="D", event_callback_url="https://app.test/e")
            assert taskrouter.inbox.events()[0].error.startswith("read timed out: injected timeout")

        @pytest.mark.taskrouter_fault(status=429)
        def test_on_the_server(taskrouter_server):
            with pytest.raises(TwilioRestException) as caught:
                taskrouter_server.client().taskrouter.v1.workspaces.create(friendly_name="D")
            assert caught.value.code == 20429

        def test_the_server_has_no_fault_left(taskrouter_server):
            assert taskrouter_server.client().taskrouter.v1.workspaces.list() == []

        @pytest.mark.taskrouter_fault(status=200)
        def test_bad(taskrouter):
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*taskrouter_fault*status must be an HTTP error status*"])


def _call(url: str, method: str = "GET", data: dict | None = None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_control_api(emu):
    server = emu.serve()
    status, fault = _call(server.url + "/_emulator/faults", "POST",
                          {"Status": "503", "Method": "GET", "Path": "/v1/Workspaces/*", "Times": "2"})
    assert status == 201 and (fault["status"], fault["code"], fault["times"], fault["remaining"]) == (503, 20503, 2, 2)
    status, slow = _call(server.url + "/_emulator/faults", "POST", {"Latency": "0.01", "Times": "all"})
    assert status == 201 and slow["times"] is None
    status, hook = _call(server.url + "/_emulator/faults", "POST",
                         {"CallbackUrl": "https://app.test/", "Status": "502", "Body": "bad gateway"})
    assert status == 201 and (hook["action"], hook["status"], hook["content_type"]) == ("answer", 502, "text/plain")
    client = server.client()
    with pytest.raises(TwilioRestException) as caught:
        client.taskrouter.v1.workspaces("WS" + "0" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (503, 20503)
    assert [f["hits"] for f in _call(server.url + "/_emulator/faults")[1]["faults"]] == [1, 1, 0]
    requests = _call(server.url + "/_emulator/requests")[1]["requests"]
    assert requests[-1]["fault"] == "injected latency 0.01s (fault 2, 1); injected 503 20503 (fault 1, 1 of 2)"
    for bad, name in (({"Status": "abc"}, "Status"), ({"Status": "200"}, "HTTP error status"),
                      ({"Latency": "nan"}, "Latency"), ({"CallbackUrl": "https://x/", "Timeout": "maybe"}, "Timeout")):
        status, error = _call(server.url + "/_emulator/faults", "POST", bad)
        assert (status, error["code"]) == (400, 20001) and name in error["message"], bad
    assert _call(server.url + "/_emulator/faults/99", "DELETE")[0] == 404
    assert _call(server.url + f"/_emulator/faults/{slow['id']}", "DELETE")[0] == 204
    assert _call(server.url + "/_emulator/faults", "DELETE")[0] == 204
    assert _call(server.url + "/_emulator/faults")[1] == {"faults": []}
    assert client.taskrouter.v1.workspaces.list() == []
    _call(server.url + "/_emulator/faults", "POST", {"Status": "429"})
    assert _call(server.url + "/_emulator/reset", "POST", {})[0] == 200     # a full reset removes faults and the log
    assert _call(server.url + "/_emulator/faults")[1] == {"faults": []}
    assert _call(server.url + "/_emulator/requests")[1]["requests"] == []


BAD_CONTROL_INPUTS = [
    ("POST", "/_emulator/faults", {"Status": "429", "AccountSid": "nope"},
     errors.INVALID_SID.format(value="nope", name="AccountSid")),
    ("POST", "/_emulator/faults", {"Status": "429", "AccountSid": "WS" + "a" * 32},
     errors.INVALID_SID.format(value="WS" + "a" * 32, name="AccountSid")),
    ("POST", "/_emulator/faults", {"CallbackUrl": "ftp://app.test/hooks"},
     errors.INVALID_URL.format(name="CallbackUrl", value="ftp://app.test/hooks", reason=errors.CALLBACK_FAULT_URL)),
    ("POST", "/_emulator/faults", {"CallbackUrl": "app.test/hooks", "Timeout": "true"},
     errors.INVALID_URL.format(name="CallbackUrl", value="app.test/hooks", reason=errors.CALLBACK_FAULT_URL)),
    ("POST", "/_emulator/faults", {"Status": "200"},
     errors.INVALID_FAULT.format(reason="status must be an HTTP error status (400-599), not 200")),
    ("GET", "/_emulator/requests?Errors=maybe", None, errors.INVALID_BOOLEAN.format(name="Errors")),
    ("GET", "/_emulator/requests?Method=PATCH", None,
     errors.INVALID_METHOD.format(name="Method", methods="GET, POST, DELETE")),
    ("GET", "/_emulator/requests?AccountSid=nope", None, errors.INVALID_SID.format(value="nope", name="AccountSid")),
    ("GET", "/_emulator/requests?Status=500&Sattus=404", None, errors.CONTROL_UNKNOWN_PARAMETER.format(
        name="Sattus", path="/_emulator/requests", known="Method, Path, Status, AccountSid, After, Errors")),
]


@pytest.mark.parametrize("method, path, form, message", BAD_CONTROL_INPUTS,
                         ids=[f"{m} {p.split('?')[0]} {f or p.split('?')[1]}" for m, p, f, _ in BAD_CONTROL_INPUTS])
def test_bad_control_inputs_are_refused_and_change_nothing(emu, method, path, form, message):
    emu.client().taskrouter.v1.workspaces.list()  # one request in the log
    http = emu.app.test_client()
    before = http.get("/_emulator/faults").get_json(), http.get("/_emulator/requests").get_json()
    answer = http.open(path, method=method, data=form)
    assert answer.status_code == 400
    assert answer.get_json() == {"code": 20001, "message": message, "status": 400,
                                 "more_info": "https://www.twilio.com/docs/errors/20001"}
    assert (http.get("/_emulator/faults").get_json(), http.get("/_emulator/requests").get_json()) == before


def test_an_account_caller_adds_faults_for_its_own_account_only():
    from emulator import Credentials

    with TaskRouterEmulator(credentials=Credentials(tokens={ACCOUNT: "a-token", OTHER: "b-token"},
                                                    admin_token="admin")) as emu:
        server = emu.serve()
        import base64

        def call(method, path, data=None, user=ACCOUNT, password="a-token"):
            body = urllib.parse.urlencode(data).encode() if data else None
            request = urllib.request.Request(server.url + path, data=body, method=method)
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status, json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        status, fault = call("POST", "/_emulator/faults", {"Status": "429"})
        assert status == 201 and fault["account_sid"] == ACCOUNT
        assert call("POST", "/_emulator/faults", {"Status": "429", "AccountSid": OTHER})[0] == 403
        assert call("POST", "/_emulator/faults", {"CallbackUrl": "https://x/"})[0] == 403
        assert call("GET", "/_emulator/faults", user=OTHER, password="b-token")[1] == {"faults": []}
        assert server.client(OTHER, "b-token").taskrouter.v1.workspaces.list() == []   # not B's fault
        with pytest.raises(TwilioRestException):
            server.client(ACCOUNT, "a-token").taskrouter.v1.workspaces.create(friendly_name="Desk")

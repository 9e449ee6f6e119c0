"""Wire details as the real service sends them, and the validation real traffic needs, through the
real twilio client: each bad request is a Twilio-shaped 400 that changes nothing."""

from __future__ import annotations

import json

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from emulator import errors
from emulator.engine import validation

# The CORS headers of every recorded real answer (a 2019 recorded session of twilio-python 6.30.0).
RECORDED_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, "
                                    "If-None-Match, If-Unmodified-Since",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Expose-Headers": "ETag",
}


@pytest.fixture
def answers(client):
    """Every raw HTTP answer the client receives, newest last."""
    seen = []
    client.http_client.session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    return seen


def rejected(call, *args, status=400, code=20001, mentions=None, **kwargs) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert (error.status, error.code) == (status, code), error.msg
    if mentions:
        assert mentions in error.msg
    return error


# --- wire details ----------------------------------------------------------------------------------
def test_every_answer_carries_the_recorded_cors_headers(client, answers):
    client.taskrouter.v1.workspaces.list()
    rejected(client.taskrouter.v1.workspaces("WS" + "0" * 32).fetch, status=404, code=20404)
    assert len(answers) == 2
    for answer in answers:
        for name, value in RECORDED_CORS.items():
            assert answer.headers[name] == value, name


def test_a_delete_answers_204_with_content_length_zero(client, answers):
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Doomed")
    assert client.taskrouter.v1.workspaces(ws.sid).delete() is True
    answer = answers[-1]
    assert answer.status_code == 204
    assert answer.content == b""
    assert answer.headers["Content-Length"] == "0"
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"


def test_a_delete_over_a_socket_answers_content_length_zero():
    from emulator import TaskRouterEmulator
    with TaskRouterEmulator() as emu:
        server = emu.serve(port=0)
        try:
            client = server.client()
            seen = []
            client.http_client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
            ws = client.taskrouter.v1.workspaces.create(friendly_name="Doomed")
            client.taskrouter.v1.workspaces(ws.sid).delete()
            assert (seen[-1].status_code, seen[-1].headers.get("Content-Length")) == (204, "0")
        finally:
            server.stop()


def test_a_queue_without_a_reservation_activity_keeps_the_link_as_null(workspace):
    """Recorded: a queue created without ReservationActivitySid has ``reservation_activity: null``
    in ``links`` (the key is there)."""
    queue = workspace.task_queues.create(friendly_name="Plain", target_workers="1==1")
    assert "reservation_activity" in queue.links and queue.links["reservation_activity"] is None
    assert queue.reservation_activity_sid is None
    busy = workspace.activities.create(friendly_name="Busy", available=False)
    queue = workspace.task_queues(queue.sid).update(assignment_activity_sid=busy.sid)
    assert queue.links["assignment_activity"].endswith(f"/Activities/{busy.sid}")
    assert queue.links["reservation_activity"] is None


# --- callback URLs ----------------------------------------------------------------------------------
BAD_URLS = [
    pytest.param("https://app.example.com/events\r\nX-Injected: 1", id="crlf"),
    pytest.param("https://app.example.com/ev ents", id="space"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("/taskrouter/events", id="relative"),
    pytest.param("app.example.com/events", id="no-scheme"),
    pytest.param("https://app.example.com:99999/events", id="port-out-of-range"),
    pytest.param("https://app.example.com:http/events", id="port-not-a-number"),
    pytest.param("https:///events", id="no-host"),
    pytest.param("ftp://app.example.com/events", id="ftp"),
]
GOOD_URLS = ["http://example.com/events/", "https://app.example.com:8443/cb?x=1#ct=1000&rc=2",
             "HTTPS://APP.EXAMPLE.COM/EVENTS"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_callback_urls_must_be_absolute_http_urls(client, workspace, url):
    workflow = workspace.workflows.list()[0]
    before = (workspace.fetch().event_callback_url, workspace.workflows(workflow.sid).fetch().assignment_callback_url)
    rejected(client.taskrouter.v1.workspaces.create, friendly_name="Hooked", event_callback_url=url,
             mentions="EventCallbackUrl")
    rejected(workspace.update, event_callback_url=url, mentions="EventCallbackUrl")
    rejected(workspace.workflows(workflow.sid).update, assignment_callback_url=url, mentions="AssignmentCallbackUrl")
    rejected(workspace.workflows.create, friendly_name="Hooked", configuration=workflow.configuration,
             fallback_assignment_callback_url=url, mentions="FallbackAssignmentCallbackUrl")
    assert [w.friendly_name for w in client.taskrouter.v1.workspaces.list()] == ["Test Workspace"]
    assert len(workspace.workflows.list()) == 1
    assert (workspace.fetch().event_callback_url,
            workspace.workflows(workflow.sid).fetch().assignment_callback_url) == before


@pytest.mark.parametrize("url", GOOD_URLS)
def test_absolute_http_urls_are_kept_as_given(workspace, url):
    assert workspace.update(event_callback_url=url).event_callback_url == url
    assert workspace.update(event_callback_url="").event_callback_url is None  # empty clears it


def test_url_rule_table():
    for param in BAD_URLS:
        with pytest.raises(errors.InvalidParameter):
            validation.callback_url("Url", param.values[0])
    assert [validation.callback_url("Url", url) for url in GOOD_URLS] == GOOD_URLS


# --- EventsFilter --------------------------------------------------------------------------------------
def test_unknown_events_filter_types_are_refused(client, workspace):
    rejected(workspace.update, events_filter="task.created, task.exploded", mentions="task.exploded")
    rejected(client.taskrouter.v1.workspaces.create, friendly_name="Filtered", events_filter="reservation.create",
             mentions="reservation.create")
    assert workspace.fetch().events_filter is None
    assert len(client.taskrouter.v1.workspaces.list()) == 1
    ws = workspace.update(events_filter="task.created, workflow.entered,task-queue.entered")
    assert ws.events_filter == "task.created, workflow.entered,task-queue.entered"


# --- MaxParticipants ----------------------------------------------------------------------------------
def pending_reservation(workspace):
    available = next(a.sid for a in workspace.activities.list() if a.friendly_name == "Available")
    workspace.workers.create(friendly_name="alice", activity_sid=available,
                             attributes=json.dumps({"contact_uri": "client:alice"}))
    task = workspace.tasks.create(attributes=json.dumps({"call_sid": "CA" + "1" * 32}))
    (reservation,) = workspace.tasks(task.sid).reservations.list()
    return workspace.tasks(task.sid).reservations(reservation.sid)


@pytest.mark.parametrize("value", [0, 1, 251, 1000])
def test_conference_max_participants_outside_2_to_250_is_refused(workspace, value):
    reservation = pending_reservation(workspace)
    rejected(reservation.update, instruction="conference", from_="+15005550006", max_participants=value,
             mentions="MaxParticipants")
    assert reservation.fetch().reservation_status == "pending"


def test_conference_max_participants_inside_the_range_is_accepted(workspace):
    reservation = pending_reservation(workspace)
    assert reservation.update(instruction="conference", from_="+15005550006", max_participants=250) \
        .reservation_status == "accepted"


# --- PageToken ---------------------------------------------------------------------------------------
def test_a_page_token_of_another_list_is_refused(workspace):
    for name in ("a", "b", "c"):
        workspace.workers.create(friendly_name=name)
        workspace.tasks.create(attributes="{}")
    workers_page = workspace.workers.page(page_size=2)
    token = workers_page.next_page_url.split("PageToken=")[1].split("&")[0]
    assert token.startswith("PAWK")
    with pytest.raises(TwilioException) as caught:  # the client's pager wraps the 400 answer
        workspace.tasks.page(page_size=2, page_token=token)
    answer = caught.value.args[1]
    assert answer.status_code == 400
    body = json.loads(answer.text)
    assert body["code"] == 20001 and "PageToken" in body["message"]
    # the token continues its own list
    assert len(list(workspace.workers.page(page_size=2, page_token=token))) == 1


# --- encoding ----------------------------------------------------------------------------------------
def test_form_bytes_that_are_not_utf8_are_refused(client, workspace):
    rejected(workspace.workers.create, friendly_name=b"caf\xe9", mentions="UTF-8")
    rejected(client.taskrouter.v1.workspaces.create, friendly_name=b"\xff\xfe", mentions="UTF-8")
    assert workspace.workers.list() == []
    # UTF-8 itself is fine, in the body and in a query
    assert workspace.workers.create(friendly_name="café").friendly_name == "café"
    assert [w.friendly_name for w in workspace.workers.list(friendly_name="café")] == ["café"]


# --- rules of the engine -------------------------------------------------------------------------------
def test_ignore_capacity_needs_a_worker_routing_target(workspace):
    queue = workspace.task_queues.list()[0].sid
    rejected(workspace.tasks.create, attributes="{}", ignore_capacity=True, mentions="IgnoreCapacity")
    rejected(workspace.tasks.create, attributes="{}", routing_target=queue, ignore_capacity=True,
             mentions="IgnoreCapacity")
    assert workspace.tasks.list() == []
    worker = workspace.workers.create(friendly_name="alice")
    task = workspace.tasks.create(attributes="{}", routing_target=worker.sid, ignore_capacity=False)
    assert (task.routing_target, task.ignore_capacity) == (worker.sid, False)


def test_reason_needs_a_status_change(workspace):
    task = workspace.tasks.create(attributes="{}")
    rejected(workspace.tasks(task.sid).update, reason="just because", mentions="Reason")
    rejected(workspace.tasks(task.sid).update, reason="why", priority=5, mentions="Reason")
    fetched = workspace.tasks(task.sid).fetch()
    assert (fetched.reason, fetched.priority, fetched.assignment_status) == (None, 0, task.assignment_status)
    assert workspace.tasks(task.sid).update(assignment_status="canceled", reason="gone").reason == "gone"


# (kind, how to make one more through the client, how to count them); the limits themselves are
# Twilio's (https://www.twilio.com/docs/taskrouter/limits), lowered here so a test stays fast
LIMITED = {
    "workers": (lambda c, ws, i: ws.workers.create(friendly_name=f"w{i}"), lambda c, ws: len(ws.workers.list())),
    "task_queues": (lambda c, ws, i: ws.task_queues.create(friendly_name=f"q{i}"),
                    lambda c, ws: len(ws.task_queues.list())),
    "workflows": (lambda c, ws, i: ws.workflows.create(friendly_name=f"f{i}", configuration=json.dumps(
        {"task_routing": {"default_filter": {"queue": ws.task_queues.list()[0].sid}}})),
        lambda c, ws: len(ws.workflows.list())),
    "tasks": (lambda c, ws, i: ws.tasks.create(attributes="{}"), lambda c, ws: len(ws.tasks.list())),
    "workspaces": (lambda c, ws, i: c.taskrouter.v1.workspaces.create(friendly_name=f"ws{i}"),
                   lambda c, ws: len(c.taskrouter.v1.workspaces.list())),
}


def test_the_documented_limits():
    assert validation.LIMITS == {"workers": 15_000, "task_queues": 5_000, "workflows": 1_000, "tasks": 500_000,
                                 "task_channels": 15, "workspaces": 5_000, "activities": 100}


@pytest.mark.parametrize("kind", list(LIMITED))
def test_resource_limits_answer_the_service_error(monkeypatch, client, workspace, kind):
    make, count = LIMITED[kind]
    existing = count(client, workspace)
    monkeypatch.setitem(validation.LIMITS, kind, existing + 2)
    make(client, workspace, 1)
    make(client, workspace, 2)
    rejected(make, client, workspace, 3, mentions="Maximum number")
    assert count(client, workspace) == existing + 2


def test_fifteen_task_channels_per_workspace_the_default_ones_included(workspace):
    assert len(workspace.task_channels.list()) == 5
    for i in range(10):
        workspace.task_channels.create(friendly_name=f"Channel {i}", unique_name=f"channel{i}")
    rejected(workspace.task_channels.create, friendly_name="One too many", unique_name="extra",
             mentions="Maximum number")
    assert len(workspace.task_channels.list()) == 15

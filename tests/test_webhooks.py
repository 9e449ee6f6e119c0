"""The webhooks' Python surface: signing, the inbox, delivery by URL prefix (capture, Python
handler, WSGI app in-process), assignment answers from Python, the clock settling them, the
credentials that sign, and ``/_emulator/webhooks``."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import ACCOUNT_SID, START
from twilio.request_validator import RequestValidator
from webhook_app import create_webhook_app
from werkzeug.datastructures import MultiDict

from emulator import errors
from emulator.engine.backend import Backend
from emulator.facade import TaskRouterEmulator
from emulator.http import Credentials, create_app
from emulator.webhooks import DEFAULT_AUTH_TOKEN, Answer, signature
from emulator.webhooks.assignment import instruction_form, judge
from emulator.webhooks.delivery import Result, Timeouts

APP = "https://myapp.example.com"


def setup(client, *, assign: str | None = APP + "/taskrouter/assignment", events: str | None = APP + "/taskrouter/events",
          fallback: str | None = None, workers: int = 1):
    info = client.taskrouter.v1.workspaces.create(friendly_name="Hooks", template="FIFO", event_callback_url=events)
    ws = client.taskrouter.v1.workspaces(info.sid)
    ws.sid = info.sid
    activities = {a.friendly_name: a.sid for a in ws.activities.list()}
    ws.available, ws.offline = activities["Available"], activities["Offline"]
    workflow = ws.workflows.list()[0]
    ws.workflows(workflow.sid).update(assignment_callback_url=assign or "", fallback_assignment_callback_url=fallback or "")
    ws.workers_made = [ws.workers.create(friendly_name=f"agent{i}", activity_sid=ws.available) for i in range(workers)]
    return ws


def status_of(ws, task) -> tuple[str, list[str]]:
    return (ws.tasks(task.sid).fetch().assignment_status,
            [r.reservation_status for r in ws.tasks(task.sid).reservations.list()])


# --- signing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, params", [
    ("https://app.example.com/events", {"EventType": "task.created", "TaskAttributes": '{"a":"é ü"}'}),
    ("https://app.example.com:8443/cb?x=1&y=two", {"B": "2", "A": "1", "a": "0"}),
    ("http://127.0.0.1:5000/", {}),
    ("https://app.example.com/multi", MultiDict([("Event", "b"), ("Event", "a"), ("Event", "b"), ("Z", "last")])),
])
def test_signature_is_the_one_twilios_validator_accepts(url, params):
    sig = signature("s3cret", url, params.items(multi=True) if isinstance(params, MultiDict) else params)
    assert RequestValidator("s3cret").validate(url, params, sig)
    assert not RequestValidator("other").validate(url, params, sig)
    assert sig == RequestValidator("s3cret").compute_signature(url, params)


# --- capture (the fixture's default) ----------------------------------------------------------------
def test_capture_records_without_answering(emu, client):
    ws = setup(client)
    task = ws.tasks.create(attributes="{}")
    (record,) = emu.webhooks.inbox.records(kind="assignment")
    assert record.delivery == "capture" and record.attempts == 0 and record.response is None and record.done
    assert "stays pending" in record.outcome
    assert status_of(ws, task) == ("reserved", ["pending"])
    assert RequestValidator("token").validate(record.url, record.params, record.headers["X-Twilio-Signature"])


# --- the Flask application under test, in-process ------------------------------------------------------
def test_users_flask_app_handles_callbacks_in_process(emu, client):
    app = create_webhook_app("token", emu.client())
    emu.webhooks.route_wsgi(APP, app)
    ws = setup(client)
    by_answer = ws.tasks.create(attributes=json.dumps({"handling": "instruction"}))
    assert status_of(ws, by_answer) == ("assigned", ["accepted"])
    second = ws.workers.create(friendly_name="second", activity_sid=ws.available)
    by_rest = ws.tasks.create(attributes=json.dumps({"handling": "rest"}))
    assert status_of(ws, by_rest) == ("assigned", ["accepted"])
    assert ws.tasks(by_rest.sid).reservations.list()[0].worker_sid == second.sid
    # every callback reached the app, signature checked (a bad one would be a 403)
    assignments = emu.webhooks.inbox.records(kind="assignment")
    assert [r.response["status"] for r in assignments] == [200, 200]
    assert "no instruction" in assignments[1].outcome  # the app accepted over REST, then answered {}
    assert [a["TaskSid"] for a in app.config["ASSIGNMENTS"]] == [by_answer.sid, by_rest.sid]
    events = emu.webhooks.inbox.events()
    assert events and all(r.response["status"] == 204 and r.delivery == "wsgi" for r in events)
    assert [e["EventType"] for e in app.config["EVENTS"]] == [r.event_type for r in events]
    got = [e["EventType"] for e in app.config["EVENTS"] if e.get("TaskSid") == by_rest.sid]
    assert got == ["task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered",
                   "reservation.created", "reservation.accepted"]


def test_flask_app_rejects_a_bad_signature(emu, client):
    app = create_webhook_app("not-the-token", emu.client())
    emu.webhooks.route_wsgi(APP, app)
    ws = setup(client, fallback=None)
    task = ws.tasks.create(attributes=json.dumps({"handling": "instruction"}))
    (record,) = emu.webhooks.inbox.records(kind="assignment")
    assert record.response["status"] == 403 and "canceled" in record.outcome
    assert status_of(ws, task) == ("pending", ["canceled"])


# --- Python handlers ----------------------------------------------------------------------------------
def test_on_assignment_answers_every_assignment_callback(emu, client):
    seen = []

    def handler(record):
        seen.append(record)
        return {"instruction": "accept"} if json.loads(record.params["TaskAttributes"]).get("vip") else None

    emu.webhooks.on_assignment(handler)
    ws = setup(client, workers=2)
    vip = ws.tasks.create(attributes=json.dumps({"vip": True}))
    plain = ws.tasks.create(attributes="{}")
    assert status_of(ws, vip) == ("assigned", ["accepted"])
    assert status_of(ws, plain) == ("reserved", ["pending"])
    assert [r.kind for r in seen] == ["assignment", "assignment"]
    emu.webhooks.on_assignment(None)
    ws.tasks(plain.sid).update(assignment_status="canceled")
    ws.workers(ws.workers_made[1].sid).update(activity_sid=ws.offline)
    ws.workers(ws.workers_made[1].sid).update(activity_sid=ws.available)
    ws.tasks.create(attributes=json.dumps({"vip": True}))
    assert len(seen) == 2  # removed: the next one was only captured


def test_respond_by_url_prefix_longest_wins(emu, client):
    calls = []
    emu.webhooks.respond(APP, lambda r: calls.append(("app", r.kind)))
    emu.webhooks.respond(APP + "/taskrouter/assignment", lambda r: calls.append(("assign", r.kind)) or
                         {"instruction": "reject", "activity_sid": ws.offline})
    ws = setup(client)
    task = ws.tasks.create(attributes="{}")
    assert ("assign", "assignment") in calls and ("app", "event") in calls and ("app", "assignment") not in calls
    assert status_of(ws, task) == ("pending", ["rejected"])
    assert ws.workers(ws.workers_made[0].sid).fetch().activity_sid == ws.offline


# answers that are no HTTP answer: as if the receiver broke
NOT_HTTP_ANSWERS = ((200, 12345), (999, "{}"))


@pytest.mark.parametrize("answer, status", [
    (Answer(500, "boom"), "canceled"),
    ((200, "<xml/>", {"Content-Type": "text/xml"}), "canceled"),
    (TimeoutError("slow"), "canceled"),
    (RuntimeError("handler crashed"), "canceled"),
    *((answer, "canceled") for answer in NOT_HTTP_ANSWERS),
    ((204, ""), "pending"),
    ({"instruction": "accept"}, "accepted"),
])
def test_failing_handler_answers_cancel_without_fallback(emu, client, answer, status):
    def handler(record):
        if isinstance(answer, Exception):
            raise answer
        return answer

    emu.webhooks.on_assignment(handler)
    ws = setup(client)
    task = ws.tasks.create(attributes="{}")
    assert status_of(ws, task)[1] == [status]
    (record,) = emu.webhooks.inbox.records(kind="assignment")
    if isinstance(answer, Exception):
        assert record.response is None and type(answer).__name__ in record.error or "timed out" in record.error
    if answer in NOT_HTTP_ANSWERS:
        assert record.response is None and record.error.startswith("TypeError")
    assert record.done  # whatever the handler did, the record is finished and the API call answered


def test_fallback_answered_by_prefix_handler(emu, client):
    emu.webhooks.respond(APP + "/primary", lambda r: Answer(502, "bad gateway"))
    emu.webhooks.respond(APP + "/fallback", lambda r: {"instruction": "accept"})
    ws = setup(client, assign=APP + "/primary", fallback=APP + "/fallback")
    task = ws.tasks.create(attributes="{}")
    assert status_of(ws, task) == ("assigned", ["accepted"])
    kinds = [(r.kind, r.response["status"]) for r in emu.webhooks.inbox.records() if r.kind != "event"]
    assert kinds == [("assignment", 502), ("fallback_assignment", 200)]
    primary, fallback = emu.webhooks.inbox.records(task_sid=task.sid, kind="assignment") + \
        emu.webhooks.inbox.records(task_sid=task.sid, kind="fallback_assignment")
    assert fallback.id > primary.id and fallback.params == primary.params
    assert RequestValidator("token").validate(fallback.url, fallback.params, fallback.headers["X-Twilio-Signature"])


def test_clock_advance_settles_assignment_answers(emu, client):
    """A reservation created by a timer is answered, and what the answer causes is delivered,
    before advance returns."""
    ws = setup(client, workers=2)
    first, second = ws.workers_made
    ws.workers(second.sid).update(activity_sid=ws.offline)
    task = ws.tasks.create(attributes="{}")
    # from now on the app accepts every offer
    emu.webhooks.on_assignment(lambda r: {"instruction": "accept"})
    ws.workers(second.sid).update(activity_sid=ws.available)
    emu.clock.advance(120)  # first's offer times out; second is offered the task and accepts it
    assert status_of(ws, task) == ("assigned", ["timeout", "accepted"])
    types = emu.webhooks.inbox.event_types(task_sid=task.sid)
    assert types[-3:] == ["reservation.timeout", "reservation.created", "reservation.accepted"]


# --- judging an answer (table) -------------------------------------------------------------------------
@pytest.mark.parametrize("result, kind, note", [
    (Result(attempts=1, status=200, headers={"Content-Type": "application/json"}, body='{"instruction":"accept"}'),
     "instruction", "instruction accept"),
    (Result(attempts=1, status=200, headers={}, body=""), "none", "no instruction"),
    (Result(attempts=1, status=200, headers={"Content-Type": "application/json"}, body="{}"), "none", "no instruction"),
    (Result(attempts=1, status=200, headers={"Content-Type": "text/plain"}, body="accept"), "failed", "40000"),
    (Result(attempts=1, status=200, headers={"content-type": "application/json"}, body="{nope"), "alert", "40001"),
    (Result(attempts=1, status=200, headers={"Content-Type": "application/json"}, body="[1]"), "alert", "40001"),
    (Result(attempts=1, status=200, headers={"Content-Type": "application/json"}, body='{"to":"x"}'), "alert", "40005"),
    (Result(attempts=1, status=200, headers={"Content-Type": "application/json"}, body='{"instruction":"x"}'),
     "alert", "55555"),
    (Result(attempts=1, status=302, headers={}, body=""), "failed", "HTTP 302"),
    (Result(attempts=1, error="read timed out", timed_out=True), "failed", "no answer within"),
    (Result(attempts=2, error="connection refused"), "failed", "connection refused"),
])
def test_judge_reads_answers_as_taskrouter_does(result, kind, note):
    verdict = judge(result)
    assert verdict.kind == kind and note in verdict.note


def test_instruction_form_maps_json_keys_to_rest_parameters():
    assert instruction_form({"instruction": "reject", "activity_sid": "WA1"}) == [
        ("ReservationStatus", "rejected"), ("WorkerActivitySid", "WA1")]
    assert instruction_form({"instruction": "dequeue", "from": "+1", "to": "client:a", "status_callback_events":
                             ["answered", "completed"]}) == [
        ("Instruction", "dequeue"), ("DequeueFrom", "+1"), ("DequeueTo", "client:a"),
        ("DequeueStatusCallbackEvent", "answered"), ("DequeueStatusCallbackEvent", "completed")]
    assert instruction_form({"instruction": "conference", "end_conference_on_exit": False}) == [
        ("Instruction", "conference"), ("EndConferenceOnExit", "false")]
    assert instruction_form({"instruction": "fly"}) is None
    # a key naming the instruction itself cannot turn a conference into something else
    assert instruction_form({"instruction": "conference", "Instruction": "dequeue", "reservation_status": "x"}) == [
        ("Instruction", "conference")]


def test_connection_overrides_from_the_url_fragment():
    default = Timeouts.for_url("https://a.example.com/cb")
    assert (default.connect, default.read, default.total, default.retries) == (5.0, 15.0, 15.0, 1)
    t = Timeouts.for_url("https://a.example.com/cb#ct=1000&rt=2500&rc=3&rp=all", deadline=5.0)
    assert (t.connect, t.read, t.retries, t.policy) == (1.0, 2.5, 3, frozenset({"all"}))
    assert Timeouts.for_url("https://a.example.com/cb#rt=9000", deadline=5.0).read == 5.0


# --- credentials that sign ---------------------------------------------------------------------------
def test_lenient_mode_signs_with_the_token_the_account_last_used(emu):
    client = emu.client(token="my-own-token")
    setup(client).tasks.create(attributes="{}")
    record = emu.webhooks.inbox.records(kind="assignment")[0]
    assert RequestValidator("my-own-token").validate(record.url, record.params, record.headers["X-Twilio-Signature"])


def test_strict_mode_signs_with_the_configured_token():
    emulator = TaskRouterEmulator(seed=5, start=START, credentials=Credentials(tokens={ACCOUNT_SID: "configured"}))
    setup(emulator.client(ACCOUNT_SID, "configured")).tasks.create(attributes="{}")
    record = emulator.webhooks.inbox.records(kind="event")[0]
    assert RequestValidator("configured").validate(record.url, record.params, record.headers["X-Twilio-Signature"])


def test_an_account_never_seen_signs_with_the_documented_default():
    emulator = TaskRouterEmulator(seed=5, start=START)
    backend, webhooks = emulator.backend, emulator.webhooks
    with backend.lock:
        backend.create_workspace(ACCOUNT_SID, "Direct", event_callback_url=APP + "/events")
    webhooks.flush()
    (record,) = webhooks.inbox.records()
    assert RequestValidator(DEFAULT_AUTH_TOKEN).validate(record.url, record.params,
                                                        record.headers["X-Twilio-Signature"])


# --- the inbox ------------------------------------------------------------------------------------------
def test_inbox_filters_cursor_and_clear(emu, client):
    ws = setup(client)
    task = ws.tasks.create(attributes="{}")
    inbox = emu.webhooks.inbox
    records = list(inbox)
    assert len(inbox) == len(records) and [r.id for r in records] == sorted(r.id for r in records)
    assert {r.kind for r in inbox.records(kind="event")} == {"event"}
    assert [r.event_type for r in inbox.records(event_type="task.created")] == ["task.created"]
    assert all(r.task_sid == task.sid for r in inbox.records(task_sid=task.sid))
    assert inbox.records(workspace_sid=ws.sid) == records
    cursor = records[-3].id
    assert inbox.records(after=cursor) == records[-2:]
    inbox.clear()
    assert len(inbox) == 0
    ws.tasks(task.sid).update(assignment_status="canceled")
    assert all(r.id > records[-1].id for r in inbox)  # ids keep growing after a clear


def test_wait_for_sees_records_finished_on_another_thread():
    emulator = TaskRouterEmulator(seed=5, start=START)
    backend, webhooks = emulator.backend, emulator.webhooks
    results = []
    waiter = threading.Thread(target=lambda: results.append(webhooks.inbox.wait_for(event_type="workspace.created",
                                                                                    timeout=5)))
    waiter.start()
    with backend.lock:
        backend.create_workspace(ACCOUNT_SID, "Late", event_callback_url=APP + "/events")
    webhooks.flush()
    waiter.join(5)
    assert results and results[0].event_type == "workspace.created"
    with pytest.raises(TimeoutError):
        webhooks.inbox.wait_for(lambda r: False, timeout=0.05)


def test_control_api_lists_filters_and_clears(emu, client):
    ws = setup(client)
    task = ws.tasks.create(attributes="{}")
    everything = emu.http.get("/_emulator/webhooks").get_json()["webhooks"]
    assert [w["id"] for w in everything] == [r.id for r in emu.webhooks.inbox]
    one = everything[0]
    assert set(one) >= {"id", "kind", "url", "method", "params", "headers", "timestamp", "attempts", "response",
                        "error"}
    assert one["timestamp"] == "2026-01-01T00:00:00.000Z" and one["method"] == "POST"
    by_task = emu.http.get(f"/_emulator/webhooks?TaskSid={task.sid}&Kind=event").get_json()["webhooks"]
    assert by_task and all(w["params"]["TaskSid"] == task.sid and w["kind"] == "event" for w in by_task)
    typed = emu.http.get("/_emulator/webhooks?EventType=reservation.created").get_json()["webhooks"]
    assert [w["event_type"] for w in typed] == ["reservation.created"]
    after = emu.http.get(f"/_emulator/webhooks?After={everything[-2]['id']}").get_json()["webhooks"]
    assert [w["id"] for w in after] == [everything[-1]["id"]]
    assert emu.http.get(f"/_emulator/webhooks?WorkspaceSid={ws.sid}").get_json()["webhooks"] == everything
    for query, name in (("Kind=nope", "Kind"), ("After=abc", "After"), ("After=%C2%B2", "After")):
        answer = emu.http.get("/_emulator/webhooks?" + query)
        assert answer.status_code == 400 and name in answer.get_json()["message"]
        assert answer.get_json()["code"] == 20001
    assert emu.http.delete("/_emulator/webhooks").status_code == 204
    assert emu.http.get("/_emulator/webhooks").get_json()["webhooks"] == []


def test_control_api_without_webhooks_says_so():
    app = create_app(Backend(seed=1))
    answer = app.test_client().get("/_emulator/webhooks")
    assert answer.status_code == 501 and answer.get_json()["message"] == errors.NO_INBOX


def test_cli_delivers_over_http_by_default_and_can_capture():
    from emulator.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve"]).webhooks == "http"
    assert parser.parse_args(["serve", "--webhooks", "capture"]).webhooks == "capture"
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--webhooks", "carrier-pigeon"])

"""End to end over loopback: the emulator served by ``emulator.server.Server`` POSTs real HTTP
callbacks to a receiver on 127.0.0.1, which answers assignment callbacks with each instruction,
fails, times out, and checks every signature with twilio's own RequestValidator."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from conftest import ACCOUNT_SID, START
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from emulator.facade import TaskRouterEmulator

TOKEN = "loopback-secret"
# short, so timeouts are tested in a fraction of a second (the real service waits 5 s)
ANSWER_TIMEOUT = 0.3


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each path as told, records every request and
    whether its X-Twilio-Signature is valid."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: dict[str, tuple] = {}
        self.slow_left: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, body="", status: int = 200, content_type: str = "application/json",
               delay: float = 0.0, slow_times: int | None = None) -> str:
        """Answer ``path`` so; ``delay`` seconds late (only the next ``slow_times`` requests, if given)."""
        self.answers[path] = (status, json.dumps(body) if isinstance(body, dict) else body, content_type, delay)
        self.slow_left[path] = slow_times
        return self.url + path

    @Request.application
    def app(self, request: Request) -> Response:
        form = request.form.to_dict()
        valid = RequestValidator(TOKEN).validate(request.url, form, request.headers.get("X-Twilio-Signature", ""))
        with self._lock:
            self.requests.append({"path": request.path, "form": form, "valid": valid,
                                  "user_agent": request.headers.get("User-Agent"),
                                  "content_type": request.headers.get("Content-Type")})
        status, body, content_type, delay = self.answers.get(request.path, (204, "", "application/json", 0.0))
        with self._lock:
            left = self.slow_left.get(request.path)
            if left is not None:
                delay = delay if left > 0 else 0.0
                self.slow_left[request.path] = left - 1
        if delay:
            time.sleep(delay)
        return Response(body, status=status, content_type=content_type)

    def received(self, path_prefix: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="module")
def served():
    emu = TaskRouterEmulator(start=START, seed=99, webhooks="http", strict_schema=True,
                             assignment_timeout=ANSWER_TIMEOUT)
    server = emu.serve()
    client = Client(ACCOUNT_SID, TOKEN)
    client.taskrouter.base_url = server.url
    yield client, emu.webhooks
    emu.close()


class Scene:
    """A workspace whose callbacks go to the receiver, one available worker, and a workflow."""

    count = 0

    def __init__(self, client, webhooks, receiver, assign_url: str, fallback_url: str | None = None) -> None:
        Scene.count += 1
        self.webhooks = webhooks
        self.events_path = f"/events/{Scene.count}"
        ws = client.taskrouter.v1.workspaces.create(friendly_name=f"Loopback {Scene.count}", template="FIFO",
                                                    event_callback_url=receiver.url + self.events_path)
        self.ws = client.taskrouter.v1.workspaces(ws.sid)
        self.sid = ws.sid
        activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.available, self.offline = activities["Available"], activities["Offline"]
        workflow = self.ws.workflows.list()[0]
        self.ws.workflows(workflow.sid).update(assignment_callback_url=assign_url,
                                               fallback_assignment_callback_url=fallback_url or "")
        self.worker = self.ws.workers.create(friendly_name="alice", activity_sid=self.available,
                                             attributes=json.dumps({"contact_uri": "client:alice"}))

    def route_task(self):
        started = time.monotonic()
        task = self.ws.tasks.create(attributes=json.dumps({"call_sid": "CA" + "1" * 32}))
        self.create_seconds = time.monotonic() - started
        return task

    def reservation(self, task):
        (reservation,) = self.ws.tasks(task.sid).reservations.list()
        return reservation


def wait_assignment(webhooks, task_sid: str, kind: str = "assignment"):
    return webhooks.inbox.wait_for(kind=kind, task_sid=task_sid, timeout=10)


# instruction answers: (JSON answer, reservation status after it, words the outcome carries)
INSTRUCTIONS = [
    ("accept", {"instruction": "accept"}, "accepted", "instruction accept"),
    ("reject", {"instruction": "reject", "activity_sid": "OFFLINE"}, "rejected", "instruction reject"),
    ("dequeue", {"instruction": "dequeue", "from": "+15005550006", "post_work_activity_sid": "OFFLINE"},
     "accepted", "instruction dequeue"),
    ("call-accept", {"instruction": "call", "from": "+15005550006", "url": "https://app.example.com/twiml",
                     "accept": True}, "accepted", "instruction call"),
    ("call", {"instruction": "call", "from": "+15005550006", "url": "https://app.example.com/twiml"},
     "pending", "instruction call"),
    ("redirect-accept", {"instruction": "redirect", "call_sid": "CA" + "2" * 32,
                         "url": "https://app.example.com/next", "accept": "true"}, "accepted", "instruction redirect"),
    ("redirect", {"instruction": "redirect", "call_sid": "CA" + "2" * 32, "url": "https://app.example.com/next"},
     "pending", "instruction redirect"),
    ("conference", {"instruction": "conference", "from": "+15005550006", "to": "client:alice",
                    "end_conference_on_exit": True}, "accepted", "instruction conference"),
    ("ACCEPT-any-case", {"instruction": "Accept"}, "accepted", "instruction accept"),
    ("empty-object", {}, "pending", "no instruction"),
    ("unknown", {"instruction": "teleport"}, "pending", "55555"),
    ("no-instruction", {"to": "client:alice"}, "pending", "40005"),
    ("call-without-url", {"instruction": "call", "from": "+15005550006"}, "pending", "refused"),
    ("reject-bad-activity", {"instruction": "reject", "activity_sid": "WA" + "0" * 32}, "pending", "refused"),
]


@pytest.mark.parametrize("name, answer, status, outcome", INSTRUCTIONS, ids=[row[0] for row in INSTRUCTIONS])
def test_assignment_answer_drives_the_reservation(served, receiver, name, answer, status, outcome):
    client, webhooks = served
    path = f"/assign/{name}"
    scene = Scene(client, webhooks, receiver, receiver.url + path)
    answer = {k: (scene.offline if v == "OFFLINE" else v) for k, v in answer.items()}
    receiver.answer(path, answer)
    task = scene.route_task()
    record = wait_assignment(webhooks, task.sid)
    assert outcome in record.outcome
    assert record.response["status"] == 200 and record.attempts == 1 and record.delivery == "http"
    assert scene.reservation(task).reservation_status == status
    expected_task = {"accepted": "assigned", "rejected": "pending", "pending": "reserved"}[status]
    assert scene.ws.tasks(task.sid).fetch().assignment_status == expected_task
    if name == "reject":
        assert scene.ws.workers(scene.worker.sid).fetch().activity_sid == scene.offline
    if name == "reject-without-activity":
        # from a callback, no activity_sid means the worker stays where it is (handle-assignment-callbacks)
        assert scene.ws.workers(scene.worker.sid).fetch().activity_sid == scene.available
    # what the receiver got: the documented parameters, signed with the account's token
    (got,) = [r for r in receiver.received(path) if r["form"]["TaskSid"] == task.sid]
    assert got["valid"] and got["user_agent"] == "TwilioProxy/1.1"
    assert got["content_type"].startswith("application/x-www-form-urlencoded")
    assert set(got["form"]) == {"Timestamp", "AccountSid", "WorkspaceSid", "WorkflowSid", "TaskQueueSid", "WorkerSid",
                                "WorkerAttributes", "TaskSid", "TaskAttributes", "TaskAge", "TaskPriority",
                                "ReservationSid"}
    assert got["form"] == record.params
    assert (got["form"]["WorkerSid"], got["form"]["WorkerAttributes"]) == (scene.worker.sid,
                                                                            '{"contact_uri":"client:alice"}')


# failures: (primary answer, fallback answer or None, reservation status, outcome words)
FAILURES = [
    ("500-then-fallback-accepts", dict(status=500, body="oops", content_type="text/plain"),
     dict(body={"instruction": "accept"}), "accepted"),
    ("html-then-fallback-accepts", dict(body="<p>ok</p>", content_type="text/html"),
     dict(body={"instruction": "accept"}), "accepted"),
    ("timeout-then-fallback-accepts", dict(body={"instruction": "accept"}, delay=ANSWER_TIMEOUT + 0.4),
     dict(body={"instruction": "accept"}), "accepted"),
    ("500-then-fallback-500", dict(status=500), dict(status=503), "canceled"),
    ("404-no-fallback", dict(status=404), None, "canceled"),
    ("timeout-no-fallback", dict(body={"instruction": "accept"}, delay=ANSWER_TIMEOUT + 0.4), None, "canceled"),
]


@pytest.mark.parametrize("name, primary, fallback, status", FAILURES, ids=[row[0] for row in FAILURES])
def test_failed_assignment_goes_to_the_fallback_then_cancels(served, receiver, name, primary, fallback, status):
    client, webhooks = served
    primary_url = receiver.answer(f"/assign/{name}", **primary)
    fallback_url = receiver.answer(f"/fallback/{name}", **fallback) if fallback is not None else None
    scene = Scene(client, webhooks, receiver, primary_url, fallback_url)
    task = scene.route_task()
    first = wait_assignment(webhooks, task.sid)
    if fallback is not None:
        assert "FallbackAssignmentCallbackUrl is tried next" in first.outcome
        last = wait_assignment(webhooks, task.sid, kind="fallback_assignment")
        assert last.url == fallback_url and last.params == first.params
        assert [r["valid"] for r in receiver.received(f"/fallback/{name}")] == [True]
    else:
        last = first
    if "timeout" in name:
        assert first.error.startswith("read timed out") and first.response is None
    reservation = scene.reservation(task)
    assert reservation.reservation_status == status
    if status == "canceled":
        assert "the reservation is canceled" in last.outcome
        # the task goes back to waiting; the worker whose callback failed is not offered it again
        assert scene.ws.tasks(task.sid).fetch().assignment_status == "pending"
        webhooks.wait_idle()
        assert "reservation.canceled" in [e.event_type for e in scene.ws.events.list(task_sid=task.sid)]
        assert len(scene.ws.tasks(task.sid).reservations.list()) == 1


def test_unreachable_callback_is_retried_once_then_kept_with_its_error(served, receiver):
    client, webhooks = served
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/assign"
    scene = Scene(client, webhooks, receiver, dead)
    task = scene.route_task()
    record = wait_assignment(webhooks, task.sid)
    assert record.attempts == 2  # Twilio retries once when the connection cannot be made
    assert record.response is None and "connection" in record.error
    assert scene.reservation(task).reservation_status == "canceled"


def test_event_callbacks_are_signed_and_never_block_the_api(served, receiver):
    client, webhooks = served
    assign = receiver.answer("/assign/slow-events", {"instruction": "accept"})
    scene = Scene(client, webhooks, receiver, assign)
    receiver.answer(scene.events_path, "", status=204, delay=0.8, slow_times=1)
    task = scene.route_task()
    # the receiver holds the next event 0.8 s: the API call did not wait for it
    assert scene.create_seconds < 0.6
    accepted = webhooks.inbox.wait_for(lambda r: r.params.get("TaskSid") == task.sid, event_type="reservation.accepted",
                                       timeout=20)
    assert accepted.response["status"] == 204 and accepted.error is None
    received = receiver.received(scene.events_path)
    assert received and all(r["valid"] for r in received)
    types = [r["form"]["EventType"] for r in received if r["form"].get("TaskSid") == task.sid]
    assert types == ["task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered",
                     "reservation.created", "reservation.accepted"]
    (sent,) = [r for r in received if r["form"]["EventType"] == "reservation.accepted"]
    assert sent["form"] == accepted.params


def test_http_inbox_over_the_control_api(served, receiver):
    import requests

    client, webhooks = served
    scene = Scene(client, webhooks, receiver, receiver.answer("/assign/inbox", {"instruction": "accept"}))
    task = scene.route_task()
    webhooks.inbox.wait_for(event_type="reservation.accepted", task_sid=task.sid, timeout=10)
    base = client.taskrouter.base_url + "/_emulator/webhooks"
    body = requests.get(base, params={"TaskSid": task.sid, "Kind": "assignment"}, timeout=5).json()
    (record,) = body["webhooks"]
    assert record["kind"] == "assignment" and record["params"]["TaskSid"] == task.sid
    assert record["response"]["status"] == 200 and "X-Twilio-Signature" in record["headers"]
    assert record["timestamp"] == "2026-01-01T00:00:00.000Z" and record["attempts"] == 1
